"""Characters to integers and back: the simplest tokenizer, and the one the shipped model uses.

A tokenizer may also hold *special tokens* (e.g. `<|end|>` for a chat model): ids after the characters' ids
that ordinary text never encodes to. `encode(text)` refuses a text that spells one out, so a user who types
`<|end|>` cannot end a turn; only code that builds a chat prompt asks for them (`allowed_special=True`).
"""

from __future__ import annotations

import re


class CharTokenizer:
    """One token per character; the vocabulary is the sorted set of characters seen, then any special tokens."""

    def __init__(self, chars: str | list[str], specials=()):
        chars = sorted(set(chars))
        if not chars or any(len(c) != 1 for c in chars):
            raise ValueError("chars must be a non-empty collection of single characters")
        specials = list(specials)
        for s in specials:
            if not isinstance(s, str) or not re.fullmatch(r"<\|[a-z_]+\|>", s):
                raise ValueError(f"special tokens must look like '<|name|>' (lower-case letters), got {s!r}")
        if len(set(specials)) != len(specials):
            raise ValueError(f"special tokens must be distinct, got {specials}")
        self.chars = chars
        self.specials = specials
        self.stoi = {c: i for i, c in enumerate(chars)}
        self.special_ids = {s: len(chars) + i for i, s in enumerate(specials)}
        self._split = re.compile("(" + "|".join(re.escape(s) for s in specials) + ")") if specials else None

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        """The tokenizer whose vocabulary is every character of `text`."""
        return cls(list(set(text)))

    def with_specials(self, specials) -> CharTokenizer:
        """The same characters with `specials` added after any special tokens this one has."""
        return CharTokenizer(self.chars, [*self.specials, *(s for s in specials if s not in self.special_ids)])

    @property
    def vocab_size(self) -> int:
        return len(self.chars) + len(self.specials)

    @property
    def tokens(self) -> list[str]:
        """What every id stands for, in id order: the characters, then the special tokens."""
        return [*self.chars, *self.specials]

    def _encode_plain(self, text: str) -> list[int]:
        unknown = sorted(set(text) - self.stoi.keys())
        if unknown:
            raise ValueError(
                f"text contains characters the tokenizer does not know: {unknown!r}; "
                f"use only these: {''.join(self.chars)!r}"
            )
        return [self.stoi[c] for c in text]

    def encode(self, text: str, allowed_special: bool = False) -> list[int]:
        """Token ids of `text`; a ValueError lists any character outside the vocabulary.

        A special token written out in `text` is an error unless `allowed_special`: ordinary text (what a user
        types) never encodes to a special token."""
        if self._split is None:
            return self._encode_plain(text)
        parts = self._split.split(text)  # odd positions hold the special tokens
        if not allowed_special and len(parts) > 1:
            raise ValueError(f"text spells out the special token {parts[1]!r}; ordinary text cannot contain "
                             f"special tokens {self.specials}")
        ids: list[int] = []
        for i, part in enumerate(parts):
            ids += [self.special_ids[part]] if i % 2 else self._encode_plain(part)
        return ids

    def decode(self, ids) -> str:
        """The text of a sequence of token ids; special tokens are written out as their names (`<|end|>`)."""
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"token ids must be in 0..{self.vocab_size - 1}, got {bad[:5]}")
        tokens = self.tokens
        return "".join(tokens[i] for i in ids)

    def to_dict(self) -> dict:
        data = {"type": "char", "chars": "".join(self.chars)}
        if self.specials:  # absent for a plain tokenizer, so older checkpoints keep their exact entry
            data["specials"] = list(self.specials)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> CharTokenizer:
        if (not isinstance(data, dict) or data.get("type") != "char" or not isinstance(data.get("chars"), str)
                or set(data) - {"type", "chars", "specials"}
                or not isinstance(data.get("specials", []), list)):
            raise ValueError("tokenizer entry must be {'type': 'char', 'chars': '...'} "
                             "with an optional 'specials': ['<|name|>', ...]")
        return cls(data["chars"], data.get("specials", ()))

    def __repr__(self) -> str:
        extra = f", specials={self.specials}" if self.specials else ""
        return f"CharTokenizer(vocab_size={self.vocab_size}{extra})"
