"""Chapter 01's exercises: predict a nearest character, write BPE's pair count, measure a cosine, build the input."""

from __future__ import annotations

from collections import Counter

import numpy as np
import torch

from .. import bpe
from ..embeddings import cosine_similarity, embedding_matrix, nearest_characters, project
from .core import Exercise, Wrong, register
from .kinds import describe, function, near, number, prediction, pretrained

QUERY = "\n"  # the newline


# 01.1 · predict before measuring

def other_character(guess) -> str:
    """`guess` if it is one character of the vocabulary other than the query; Wrong otherwise."""
    _, tok = pretrained()
    if not isinstance(guess, str):
        raise Wrong(f"a prediction here is one character in quotes, such as '!' (a space is ' '), not "
                    f"{type(guess).__name__}")
    if len(guess) != 1:
        raise Wrong(f"a prediction here is exactly one character, such as '!'; {guess!r} has {len(guess)}")
    if guess == QUERY:
        raise Wrong(f"every vector is closest to itself: guess the character nearest to {QUERY!r} other than it")
    if guess not in tok.stoi:
        raise Wrong(f"the model has no vector for {guess!r}: its {tok.vocab_size} characters are "
                    f"{''.join(tok.chars)!r}")
    return guess


def reveal_neighbour(guess: str) -> str:
    model, tok = pretrained()
    vectors = embedding_matrix(model)
    ranked = [c for c, _ in nearest_characters(vectors, tok.chars, QUERY, tok.vocab_size - 1)]
    rank = ranked.index(guess) + 1
    top = ", ".join(repr(c) for c in ranked[:3])
    verdict = ("your guess is the nearest." if rank == 1 else
               f"your guess {guess!r} comes {rank}th of {len(ranked)}." if rank > 3 else
               f"your guess {guess!r} is among the three nearest (number {rank}).")
    return (f"measured by cosine in all {vectors.shape[1]} dimensions, the three nearest to the newline: {top}; "
            f"{verdict} A newline and a space both end a word: they stand in the same places and are followed "
            f"by the same kinds of characters, so their vectors end up alike.")


register(Exercise(
    id="01.1",
    title="Predict the character whose vector is nearest to the newline's, then measure",
    check=prediction(other_character, reveal_neighbour),
    code='prediction = " "  # any character you believe in; the check then measures\n'
         "from gptviz import embeddings as emb\n"
         'print(emb.nearest_characters(emb.embedding_matrix(model), tok.chars, "\\n", 3))',
    explanation="A prediction is yours to make: any character of the vocabulary (other than the newline) is accepted, "
                "and the check ranks it among all 76 by cosine similarity in the full 192-dimensional space, "
                "not in the 2-D picture.",
    reference=lambda: " ",
    wrong=lambda: ["\n", "!!", 3, "é"],
    answer_name="prediction",
))


# 01.2 · write the heart of BPE

def most_frequent_pair(text: str) -> tuple[str, str]:
    """BPE's first merge on `text`: the most frequent neighbouring pair inside the pieces, ties to the first pair."""
    pairs = Counter()
    for piece in bpe.pre_tokenize(text):
        pairs.update(zip(piece, piece[1:], strict=False))
    return min(pairs, key=lambda p: (-pairs[p], p))  # most frequent; a tie goes to the pair that sorts first


# Typical wrong versions, each with the hint aimed at it.
def across_pieces(text):
    joined = "".join(bpe.pre_tokenize(text))
    pairs = Counter(zip(joined, joined[1:], strict=False))
    return min(pairs, key=lambda p: (-pairs[p], p))


def last_of_a_tie(text):
    pairs = Counter()
    for piece in bpe.pre_tokenize(text):
        pairs.update(zip(piece, piece[1:], strict=False))
    return max(pairs, key=lambda p: (pairs[p], p))


def first_seen_of_a_tie(text):
    pairs = Counter()
    for piece in bpe.pre_tokenize(text):
        pairs.update(zip(piece, piece[1:], strict=False))
    return max(pairs, key=pairs.get)


def raw_characters(text):
    pairs = Counter()
    for word in text.split(" "):
        pairs.update(zip(word, word[1:], strict=False))
    return min(pairs, key=lambda p: (-pairs[p], p))


def pair_inputs() -> list[tuple[str]]:
    """Texts whose first merge differs between the right count and each slip: a tie, a pair across two words, é."""
    return [("the cat sat on the mat, the rat sat on the hat",),
            ("she sells sea shells by the sea shore",),
            ("ha.ha.ha.ha.",),  # across pieces, ('a', '.') would tie with ('h', 'a') and win
            ("ab ab ba ba",),  # a tie between ('a', 'b') and ('b', 'a'): the first in sort order wins
            ("xa ax xa ax",),
            ("zy zy yz yz ",),
            ("café café naïve",)]


def same_pair(got, expected) -> bool:
    if not isinstance(got, (tuple, list)) or len(got) != 2 or not all(isinstance(t, str) for t in got):
        raise Wrong(f"return the pair as a tuple of two tokens, such as ('a', 't'); got {describe(got)}")
    return tuple(got) == tuple(expected)


register(Exercise(
    id="01.2",
    title="Write BPE's heart: the most frequent pair inside the pieces",
    check=function(
        most_frequent_pair, pair_inputs, name="most_frequent_pair", same=same_pair,
        why="your pair is BPE's first merge on every text, the ties and the accented letters included. Counting "
            "only inside pieces is what keeps a token from spanning two words.",
        mistakes=[
            (across_pieces, "You counted pairs across the pieces: the last byte of one word and the first of the "
                            "next (or a space) are never merged. Count inside each piece of bpe.pre_tokenize(text)."),
            (last_of_a_tie, "A tie went to the wrong pair: among equally frequent pairs, BPE takes the one that "
                            "sorts FIRST (min over (-count, pair)), not the last."),
            (first_seen_of_a_tie, "A tie went to the pair seen first in the text; BPE's rule (here and in the "
                                  "tokenizers library) takes the pair that sorts first."),
            (raw_characters, "You split the raw text at spaces: BPE works on the pieces of bpe.pre_tokenize, "
                             "where a space (Ġ) sticks to the word after it and é is two bytes."),
        ],
        hint="Loop over bpe.pre_tokenize(text), count zip(piece, piece[1:]) with a Counter, and return "
             "min(pairs, key=lambda p: (-pairs[p], p)).",
    ),
    code='''from collections import Counter
from gptviz import bpe

def most_frequent_pair(text):
    pairs = Counter()
    for piece in bpe.pre_tokenize(text):  # pieces in byte characters: a space is Ġ, é is two bytes
        pairs.update(zip(piece, piece[1:]))  # neighbours inside the piece only
    return min(pairs, key=lambda p: (-pairs[p], p))  # most frequent; a tie goes to the pair that sorts first''',
    explanation="BPE never merges across the pieces the pre-tokenizer cut, so pairs are counted inside each piece. "
                "Among equally frequent pairs, the `tokenizers` library takes the one whose tokens entered the "
                "vocabulary first; for single bytes that is the sort order of their characters, so "
                "min over (-count, pair) gives the same first merge as `bpe.bpe_merges(text, 1)`.",
    reference=lambda: most_frequent_pair,
    wrong=lambda: [across_pieces, last_of_a_tie, first_seen_of_a_tie, raw_characters, ("a", "b")],
    answer_name="most_frequent_pair",
))


# 01.3 · a number measured on the real model

def case_cosine(lower: str = "a", upper: str = "A") -> float:
    model, tok = pretrained()
    sim = cosine_similarity(embedding_matrix(model))
    return float(sim[tok.stoi[lower], tok.stoi[upper]])


def case_dot() -> float:
    model, tok = pretrained()
    table = embedding_matrix(model)
    return float(table[tok.stoi["a"]] @ table[tok.stoi["A"]])


def case_distance() -> float:
    model, tok = pretrained()
    table = embedding_matrix(model)
    return float(np.linalg.norm(table[tok.stoi["a"]] - table[tok.stoi["A"]]))


def case_cosine_2d() -> float:
    model, tok = pretrained()
    coords = project(embedding_matrix(model), 2).coords
    a, b = coords[tok.stoi["a"]], coords[tok.stoi["A"]]
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


register(Exercise(
    id="01.3",
    title="How similar are the vectors of 'a' and 'A'?",
    check=number(
        case_cosine,
        why="cosine {truth:.2f}: well above the about 0 of two random directions in 192 dimensions, and 'A' is "
            "the nearest of all 76 other characters to 'a'.",
        mistakes=[
            (lambda value, truth: near(value, case_dot()), "That is the dot product; divide by both lengths "
                                                           "(np.linalg.norm) to get the cosine."),
            (lambda value, truth: near(value, case_distance()), "That is the distance between the vectors, not "
                                                                "the cosine of their angle."),
            (lambda value, truth: near(value, case_cosine_2d()), "That cosine is measured in the 2-D picture; use "
                                                                 "the full 192-dimensional rows of the table."),
            (lambda value, truth: near(value, case_cosine("a", "b")), "That is 'a' with 'b'; compare 'a' with the "
                                                                      "capital 'A'."),
            (lambda value, truth: near(value, 1.0), "A cosine of 1 is a vector with itself: index the table with "
                                                    "tok.stoi['a'] and tok.stoi['A']."),
        ],
        hint="Take the rows model.wte.weight[tok.stoi['a']] and [tok.stoi['A']] and compute "
             "a·b / (|a| |b|).",
        rel=0.02,
    ),
    code='table = model.wte.weight.detach()  # (77, 192)\n'
         'a, A = table[tok.stoi["a"]], table[tok.stoi["A"]]\n'
         "answer = float(a @ A / (a.norm() * A.norm()))",
    explanation="The cosine compares directions and ignores lengths: 1 for the same direction, about 0 for "
                "unrelated directions (random vectors in 192 dimensions). The model was never told that 'a' and "
                "'A' are one letter; their vectors point alike because they predict alike.",
    reference=case_cosine,
    wrong=lambda: [case_dot(), case_distance(), case_cosine_2d(), case_cosine("a", "b"), 1.0, "0.4"],
))


# 01.4 · write the model's input

def embed(text: str) -> np.ndarray:
    """What the first block receives for `text`: token embedding plus position embedding, (T, n_embd)."""
    model, tok = pretrained()
    ids = torch.tensor(tok.encode(text))
    with torch.no_grad():
        return (model.wte.weight[ids] + model.wpe.weight[: len(ids)]).numpy()


def tokens_only(text):
    model, tok = pretrained()
    return model.wte.weight.detach()[tok.encode(text)].numpy()


def positions_late(text):
    model, tok = pretrained()
    ids = tok.encode(text)
    with torch.no_grad():
        return (model.wte.weight[ids] + model.wpe.weight[1: len(ids) + 1]).numpy()


def positions_reversed(text):
    model, tok = pretrained()
    ids = tok.encode(text)
    with torch.no_grad():
        return (model.wte.weight[ids] + model.wpe.weight[: len(ids)].flip(0)).numpy()


def embed_inputs() -> list[tuple[str]]:
    model, _ = pretrained()
    longest = ("To be, or not to be: that is the question.\n" * 7)[: model.config.block_size]
    return [("To be",), ("a",), (longest,)]


def as_array(value) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise Wrong(f"return an array or tensor of numbers, got {describe(value)}") from None


class Rows:
    """A function's (T, n_embd) result, shown in a hint by its shape and first numbers rather than in full."""

    def __init__(self, array: np.ndarray):
        self.array = array

    def __repr__(self) -> str:
        start = ", ".join(f"{x:.3f}" for x in self.array.ravel()[:3])
        return f"a {self.array.shape} array starting {start}"


def rows_of(fn):
    """`fn` with its result wrapped in Rows (None and ... pass through: a stub is 'not answered yet')."""
    def wrapped(text):
        got = fn(text)
        return got if got is None or got is Ellipsis else Rows(as_array(got))
    return wrapped


def same_vectors(got: Rows, expected: Rows) -> bool:
    if got.array.shape != expected.array.shape:
        raise Wrong(f"expected shape {expected.array.shape} (one row of {expected.array.shape[-1]} numbers per "
                    f"character), got {got.array.shape}")
    return bool(np.allclose(got.array, expected.array, atol=1e-5))


_check_embed = function(
    rows_of(embed), embed_inputs, name="embed", same=same_vectors,
    why="equal to what the model feeds its first block (model.embed), on a one-character text and a full "
        "256-character window too. The same character gets a different input at each position.",
    mistakes=[
        (rows_of(tokens_only), "You looked up the characters but forgot where they stand: add the rows 0..T-1 "
                               "of the position table model.wpe.weight."),
        (rows_of(positions_late), "Off by one: the first character sits at position 0, so add rows 0..T-1 of "
                                  "model.wpe.weight."),
        (rows_of(positions_reversed), "The positions run backwards: row 0 of model.wpe.weight belongs to the "
                                      "first character."),
    ],
    hint="ids = tok.encode(text); return model.wte.weight[ids] + model.wpe.weight[:len(ids)].",
)


def check_embed(fn):
    if not callable(fn):
        raise Wrong(f"expected a function (def embed(text): ...), got {describe(fn)}")
    return _check_embed(rows_of(fn))


check_embed.kind = "function"


register(Exercise(
    id="01.4",
    title="Build the model's input: token vectors plus position vectors",
    check=check_embed,
    code='''def embed(text):
    ids = tok.encode(text)  # T integers
    with torch.no_grad():
        return model.wte.weight[ids] + model.wpe.weight[: len(ids)]  # (T, 192) + (T, 192)''',
    explanation="Indexing the table with the ids is the lookup (the same as a one-hot vector times the table); "
                "the model then adds the learned vector of each position, so the first block sees what a "
                "character is and where it stands.",
    reference=lambda: embed,
    wrong=lambda: [tokens_only, positions_late, positions_reversed, "embed"],
    answer_name="embed",
))
