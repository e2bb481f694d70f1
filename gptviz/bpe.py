"""Subword tokens: byte-pair encoding (BPE) by hand on a toy sentence, and for real with Hugging Face `tokenizers`.

BPE (Sennrich et al., 2016) starts from single characters and repeatedly glues together the
pair of neighbouring tokens that occurs most often, adding the glued pair to the vocabulary.
`bpe_merges` does this in plain Python so every step can be printed; `train_bpe` trains the
same algorithm on the whole corpus with the `tokenizers` library; a test checks that the two
pick the same merges.

Both cut the text into pieces at spaces first (a space is written "▁" and sticks to the word
after it) and at newlines, so a token never spans two words.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

SPACE = "▁"  # how a space is written inside BPE tokens
_PIECE = re.compile(r"\n|▁[^▁\n]*|[^▁\n]+")


def pre_tokenize(text: str) -> list[str]:
    """Cut text into the pieces BPE works inside: newlines alone, each space glued to the word after it."""
    return _PIECE.findall(text.replace(" ", SPACE))


@dataclass
class MergeStep:
    """One BPE step: the pair glued together, how often it occurred, and the text's tokens afterwards."""

    pair: tuple[str, str]
    count: int
    tokens: list[str]

    @property
    def merged(self) -> str:
        return self.pair[0] + self.pair[1]


def _merge_word(word: tuple[str, ...], pair: tuple[str, str]) -> tuple[str, ...]:
    out, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
            out.append(word[i] + word[i + 1])
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


def bpe_merges(text: str, n_merges: int) -> list[MergeStep]:
    """Run `n_merges` steps of BPE on `text` by hand (stops early when no pair is left).

    Ties between equally frequent pairs go to the pair whose tokens entered the vocabulary first
    (characters in sorted order, then merged tokens in the order they were made): the rule
    the `tokenizers` library follows, so both give the same merges.
    """
    if not isinstance(n_merges, int) or n_merges < 0:
        raise ValueError(f"n_merges must be an integer >= 0, got {n_merges!r}")
    if not text:
        raise ValueError("text must not be empty")
    pieces = pre_tokenize(text)
    split = {p: tuple(p) for p in pieces}  # each distinct piece, as its current tokens
    freq = Counter(pieces)
    rank = {c: i for i, c in enumerate(sorted(set("".join(pieces))))}  # vocabulary order
    steps: list[MergeStep] = []
    for _ in range(n_merges):
        pairs: Counter = Counter()
        for piece, tokens in split.items():
            for pair in zip(tokens, tokens[1:], strict=False):
                pairs[pair] += freq[piece]
        if not pairs:
            break
        pair = min(pairs, key=lambda p: (-pairs[p], rank[p[0]], rank[p[1]]))
        rank.setdefault(pair[0] + pair[1], len(rank))
        split = {piece: _merge_word(tokens, pair) for piece, tokens in split.items()}
        steps.append(MergeStep(pair, pairs[pair], [t for p in pieces for t in split[p]]))
    return steps


def train_bpe(text: str, vocab_size: int = 1000, alphabet: str | None = None) -> Tokenizer:
    """A BPE tokenizer with `vocab_size` tokens trained on `text` by the Hugging Face `tokenizers` library.

    `alphabet`: characters to keep as tokens even if `text` lacks them (pass the corpus's characters so
    any text of the corpus can be encoded and decoded back exactly).
    """
    if not isinstance(vocab_size, int) or vocab_size < 2:
        raise ValueError(f"vocab_size must be an integer >= 2, got {vocab_size!r}")
    if not text:
        raise ValueError("text must not be empty")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\n"), behavior="isolated"),
        pre_tokenizers.Metaspace(prepend_scheme="never"),
    ])
    tokenizer.decoder = decoders.Metaspace(prepend_scheme="never")
    chars = sorted((set(text) | set(alphabet or "") | {SPACE}) - {" "})  # a space is always written "▁"
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False, initial_alphabet=chars)
    tokenizer.train_from_iterator([text], trainer=trainer)
    return tokenizer


def merges_of(tokenizer: Tokenizer) -> list[tuple[str, str]]:
    """The merges a trained BPE tokenizer learned, in the order it learned them."""
    merges = json.loads(tokenizer.to_str())["model"]["merges"]
    return [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in merges]


def bpe_tokens(tokenizer: Tokenizer, text: str) -> list[str]:
    """The tokens of `text`, with "▁" turned back into a space so they read as text."""
    return [t.replace(SPACE, " ") for t in tokenizer.encode(text).tokens]


def token_counts(text: str, bpe: dict[str, Tokenizer] | None = None) -> dict[str, int]:
    """How many tokens `text` takes: one per character, one per BPE token for each named tokenizer, one per word."""
    counts = {"characters": len(text)}
    for name, tokenizer in (bpe or {}).items():
        counts[name] = len(tokenizer.encode(text).ids)
    counts["words"] = len(text.split())
    return counts


__all__ = ["SPACE", "MergeStep", "pre_tokenize", "bpe_merges", "train_bpe", "merges_of", "bpe_tokens",
           "token_counts"]
