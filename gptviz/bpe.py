"""Subword tokens: byte-level byte-pair encoding (BPE), by hand on a toy sentence and for real with `tokenizers`.

BPE (Sennrich et al., 2016) starts from single symbols and repeatedly glues together the pair of
neighbouring tokens that occurs most often, adding the glued pair to the vocabulary. GPT-2 and its
successors run it on the UTF-8 *bytes* of the text (Radford et al., 2019): the 256 possible bytes are
the starting vocabulary, so any text at all (é, ’, emoji) can be encoded and decoded back exactly, with
no unknown token and nothing dropped.

`bpe_merges` does the merging in plain Python so every step can be printed; `train_bpe` trains the same
algorithm with the Hugging Face `tokenizers` library; a test checks that the two pick the same merges.
Both first cut the text into pieces with GPT-2's rule (the `ByteLevel` pre-tokenizer: a word with the
space before it, a number, a run of punctuation, a run of whitespace), so a token never spans two words.
Inside the library each byte is stored as one printable character (GPT-2's `bytes_to_unicode`): a space
is "Ġ", a newline "Ċ", the two bytes of "é" are "Ã©". `readable` turns a token back into its text; a
picture draws a space as "␣" (SPACE_SHOWN).
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from dataclasses import dataclass, field

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

SPACE = "Ġ"  # how the byte of a space is stored inside a byte-level BPE token (GPT-2's convention)
SPACE_SHOWN = "␣"  # how a space is drawn in this chapter's pictures and printouts


@functools.cache
def byte_to_char() -> dict[int, str]:
    """GPT-2's map from each of the 256 bytes to a printable character (printable ASCII and Latin-1 map to
    themselves; the others, space and newline included, move to U+0100 and up)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    moved = [b for b in range(256) if b not in keep]
    return {**{b: chr(b) for b in keep}, **{b: chr(256 + n) for n, b in enumerate(moved)}}


@functools.cache
def char_to_byte() -> dict[str, int]:
    return {c: b for b, c in byte_to_char().items()}


def token_bytes(token: str) -> bytes:
    """The bytes a byte-level token stands for ("Ġthe" -> b" the", "Ã" -> b"\\xc3")."""
    try:
        return bytes(char_to_byte()[c] for c in token)
    except KeyError as err:
        raise ValueError(f"token must be written in the 256 byte characters, got {token!r}") from err


def bytes_text(raw: bytes) -> str:
    """Bytes as text, or in hex ("‹c3›") when they hold only part of a character: alone, that is no character."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "".join(f"‹{b:02x}›" for b in raw)


def readable(token: str) -> str:
    """A byte-level token as text ("Ġthe" -> " the"; "Ã", half of "é", -> "‹c3›")."""
    return bytes_text(token_bytes(token))


def shown(token: str) -> str:
    """A byte-level token as printed in this chapter: its text with a space drawn "␣" and a newline "⏎"."""
    return readable(token).replace(" ", SPACE_SHOWN).replace("\n", "⏎")


@functools.cache
def _pre_tokenizer() -> pre_tokenizers.ByteLevel:
    return pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)


def pre_tokenize(text: str) -> list[str]:
    """Cut text into the pieces BPE works inside, by GPT-2's rule, each written in byte characters."""
    return [piece for piece, _ in _pre_tokenizer().pre_tokenize_str(text)]


@dataclass
class MergeStep:
    """One BPE step: the pair glued together, how often it occurred, the text's tokens afterwards, and the
    other pairs that occurred just as often (the tie the rule of `bpe_merges` broke)."""

    pair: tuple[str, str]
    count: int
    tokens: list[str]
    tied: list[tuple[str, str]] = field(default_factory=list)

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


def pair_counts(pieces, split: dict | None = None) -> Counter:
    """How often each pair of neighbouring tokens occurs inside the pieces (never across two pieces)."""
    counts: Counter = Counter()
    for piece, n in Counter(pieces).items():
        tokens = tuple(piece) if split is None else split[piece]
        for pair in zip(tokens, tokens[1:], strict=False):
            counts[pair] += n
    return counts


def bpe_merges(text: str, n_merges: int) -> list[MergeStep]:
    """Run `n_merges` steps of byte-level BPE on `text` by hand (stops early when no pair is left).

    Ties between equally frequent pairs go to the pair whose first token entered the vocabulary first,
    then whose second did (the 256 bytes in the order of their characters, then merged tokens in the order
    they were made): the rule the `tokenizers` library follows, so both give the same merges.
    """
    if not isinstance(n_merges, int) or isinstance(n_merges, bool) or n_merges < 0:
        raise ValueError(f"n_merges must be an integer >= 0, got {n_merges!r}")
    if not text:
        raise ValueError("text must not be empty")
    pieces = pre_tokenize(text)
    split = {p: tuple(p) for p in pieces}  # each distinct piece, as its current tokens
    rank = {c: i for i, c in enumerate(sorted(byte_to_char().values()))}  # vocabulary order: the bytes first
    steps: list[MergeStep] = []
    for _ in range(n_merges):
        pairs = pair_counts(pieces, split)
        if not pairs:
            break
        order = sorted(pairs, key=lambda p: (-pairs[p], rank[p[0]], rank[p[1]]))
        pair = order[0]
        rank.setdefault(pair[0] + pair[1], len(rank))
        split = {piece: _merge_word(tokens, pair) for piece, tokens in split.items()}
        tied = [p for p in order[1:] if pairs[p] == pairs[pair]]
        steps.append(MergeStep(pair, pairs[pair], [t for p in pieces for t in split[p]], tied))
    return steps


def merge_lines(text: str, n_merges: int) -> list[str]:
    """The first `n_merges` merges of `text` as lines to print: the pair, its count, the pairs it tied with, and
    the text's tokens afterwards (a space drawn ␣)."""
    lines = []
    for n, step in enumerate(bpe_merges(text, n_merges), start=1):
        pair = f"{shown(step.pair[0])} + {shown(step.pair[1])}"
        tied = f", tied with {', '.join(shown(a) + ' + ' + shown(b) for a, b in step.tied)}" if step.tied else ""
        lines.append(f"merge {n}: {pair:10} ({step.count}×{tied}) -> {len(step.tokens)} tokens: "
                     + "|".join(shown(t) for t in step.tokens))
    return lines


def train_bpe(text: str, vocab_size: int = 1000, alphabet: str | None = None) -> Tokenizer:
    """A byte-level BPE tokenizer with `vocab_size` tokens (the 256 bytes, then merges) trained on `text` by the
    Hugging Face `tokenizers` library, pre-tokenized as GPT-2 does. Any text encodes and decodes back exactly.

    `alphabet` is accepted for older code and changes nothing: every byte is in the vocabulary already.
    """
    if not isinstance(vocab_size, int) or isinstance(vocab_size, bool) or vocab_size < 256:
        raise ValueError(f"vocab_size must be an integer >= 256 (the bytes come first), got {vocab_size!r}")
    if not text:
        raise ValueError("text must not be empty")
    if alphabet is not None and not isinstance(alphabet, str):
        raise ValueError(f"alphabet must be a string or None, got {alphabet!r}")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = _pre_tokenizer()
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator([text], trainer=trainer)
    return tokenizer


def merges_of(tokenizer: Tokenizer) -> list[tuple[str, str]]:
    """The merges a trained BPE tokenizer learned, in the order it learned them."""
    merges = json.loads(tokenizer.to_str())["model"]["merges"]
    return [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in merges]


def encoded_bytes(tokenizer: Tokenizer, text: str) -> list[bytes]:
    """The tokens of `text` as the bytes each stands for: joined, they are exactly text.encode('utf-8')."""
    return [token_bytes(t) for t in tokenizer.encode(text).tokens]


def bpe_tokens(tokenizer: Tokenizer, text: str) -> list[str]:
    """The tokens of `text` as readable strings (a space is a space; a piece of a character shows its bytes)."""
    return [readable(t) for t in tokenizer.encode(text).tokens]


def token_counts(text: str, bpe: dict[str, Tokenizer] | None = None) -> dict[str, int]:
    """How many tokens `text` takes: one per character, one per BPE token for each named tokenizer, one per word."""
    counts = {"characters": len(text)}
    for name, tokenizer in (bpe or {}).items():
        counts[name] = len(tokenizer.encode(text).ids)
    counts["words"] = len(text.split())
    return counts


__all__ = ["SPACE", "SPACE_SHOWN", "MergeStep", "byte_to_char", "token_bytes", "bytes_text", "readable", "shown",
           "pre_tokenize", "pair_counts", "bpe_merges", "merge_lines", "train_bpe", "merges_of", "encoded_bytes",
           "bpe_tokens", "token_counts"]
