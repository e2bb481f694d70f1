"""The chat dataset: questions about the plays, with answers the corpus really contains.

Every question is generated from facts of the corpus:

- "first", "last", "says": a three-speech passage is part of the question, so the answer (a speaker)
  can be read from the context, that is from earlier tokens of the same sequence;
- "play": "Which play has a character named X?" needs a fact the pre-training text never held
  (the plays' titles were stripped): fine-tuning teaches it for the training characters only.

Test questions of the first three kinds come from the plays held out of pre-training
(`gptviz.data.HELD_OUT_PLAYS`); those of the "play" kind from a fixed quarter of the characters.
In most training passages the speakers get invented names, so that the model learns to copy the
name it is shown rather than recall a familiar one (see `ChatDataset.sample`).
"""

from __future__ import annotations

import random
import re
import zlib
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ..data import HELD_OUT_PLAYS, markdown_to_play_text, play_files
from .template import END, format_prompt, token_count

QUESTION_KINDS = ("first", "last", "says", "play")
QUESTIONS = {
    "first": "Who speaks first?",
    "last": "Who speaks last?",
    "says": 'Who says "{quote}"?',
    "play": "Which play has a character named {name}?",
}
KIND_NAMES = {"first": "who speaks first", "last": "who speaks last", "says": "who says ...",
              "play": "which play (a fact)"}
IN_CONTEXT_KINDS = ("first", "last", "says")  # the answer is written in the question's passage
LINE_CHARS = 40  # each passage line is cut to at most this many characters (at a word boundary)
PASSAGE_SPEECHES = 3
MAX_PROMPT = 220  # longest question prompt, in tokens (system line included): room is left for the reply
MIN_SPEECHES = 2  # a speaker tag must be used this often in a play to count as a character
INVENT_SHARE = 0.75  # share of training passages whose speakers get invented names (see ChatDataset.sample)
_NAME = re.compile(r"[A-Za-z][A-Za-z' .-]{0,28}")


# --------------------------------------------------------------------------- the facts


@dataclass(frozen=True)
class Speech:
    speaker: str
    line: str  # the speech's first line, cut to LINE_CHARS


@dataclass
class Play:
    slug: str
    title: str
    speeches: list[Speech]

    @property
    def characters(self) -> list[str]:
        """Speakers with at least MIN_SPEECHES speeches, most talkative first."""
        counts: dict[str, int] = {}
        for s in self.speeches:
            counts[s.speaker] = counts.get(s.speaker, 0) + 1
        return sorted((n for n, c in counts.items() if c >= MIN_SPEECHES), key=lambda n: (-counts[n], n))


def cut_line(line: str, limit: int = LINE_CHARS) -> str:
    """`line` cut at the last word boundary before `limit` characters."""
    line = line.strip()
    if len(line) <= limit:
        return line
    return line[: line.rfind(" ", 0, limit + 1)].rstrip(" ,;:-") if " " in line[:limit] else line[:limit]


def title_of(slug: str, markdown: str) -> str:
    """The play's title: its Markdown heading, or the slug in title case where the file has none."""
    first = markdown.lstrip().splitlines()[0]
    if first.startswith("# "):
        return re.sub(r"Part I$", "Part 1", first[2:].strip())
    small = {"a", "an", "and", "for", "of", "the", "that"}
    words = slug.split("-")
    return " ".join(w if (w in small and i) else w.capitalize() for i, w in enumerate(words))


def parse_play(slug: str, markdown: str) -> Play:
    """The speeches of one play (speaker and first line) in order, from its Markdown text."""
    speeches = []
    for block in markdown_to_play_text(markdown).split("\n\n"):
        lines = block.split("\n")
        if len(lines) < 2 or not lines[0].endswith(":") or not _NAME.fullmatch(lines[0][:-1]):
            continue
        line = cut_line(lines[1])
        if line:
            speeches.append(Speech(lines[0][:-1].strip(), line))
    counts: dict[str, int] = {}
    for s in speeches:
        counts[s.speaker] = counts.get(s.speaker, 0) + 1
    # a verse line that happens to end with ':' is not a speaker: real tags come back
    speeches = [s for s in speeches if counts[s.speaker] >= MIN_SPEECHES]
    return Play(slug, title_of(slug, markdown), speeches)


@lru_cache(maxsize=1)
def load_plays() -> dict[str, Play]:
    """Every play of the corpus, parsed, by slug."""
    return {slug: parse_play(slug, path.read_text(encoding="utf-8")) for slug, path in play_files().items()}


# --------------------------------------------------------------------------- the questions


def passage_text(speeches) -> str:
    """A passage as one `SPEAKER: line` per line."""
    return "\n".join(f"{s.speaker}: {s.line}" for s in speeches)


@dataclass
class ChatExample:
    kind: str
    question: str  # the user's whole turn (passage included)
    answer: str
    candidates: tuple[str, ...]  # the answers a guesser would choose from (for the chance level)
    play: str  # slug of the play the fact comes from

    @property
    def prompt(self) -> str:
        return format_prompt(self.question)

    @property
    def text(self) -> str:
        """The whole exchange, as the model is fine-tuned on it (the reply ends with <|end|>)."""
        return self.prompt + self.answer + END


def quote_of(line: str, words: int = 3) -> str:
    """The first few words of a line, without trailing punctuation."""
    return " ".join(line.split()[:words]).rstrip(",;:.!?-'")


def passage_example(kind: str, play: Play, start: int) -> ChatExample | None:
    """A question of an in-context kind on the PASSAGE_SPEECHES speeches from `start`, or None if unusable."""
    speeches = play.speeches[start : start + PASSAGE_SPEECHES]
    speakers = [s.speaker for s in speeches]
    if len(speeches) < PASSAGE_SPEECHES or len(set(speakers)) < PASSAGE_SPEECHES:
        return None  # three different speakers: a guess is right one time in three
    if kind == "first":
        target = speeches[0]
    elif kind == "last":
        target = speeches[-1]
    elif kind == "says":
        target = speeches[start % PASSAGE_SPEECHES]
        quote = quote_of(target.line)
        if len(quote) < 6 or sum(quote in s.line for s in speeches) != 1 or '"' in quote:
            return None
    else:
        raise ValueError(f"kind must be one of {IN_CONTEXT_KINDS}, got {kind!r}")
    question = QUESTIONS[kind].format(quote=quote) if kind == "says" else QUESTIONS[kind]
    example = ChatExample(kind, passage_text(speeches) + "\n" + question, target.speaker, tuple(speakers), play.slug)
    return example if token_count(example.prompt) <= MAX_PROMPT else None


def is_eponymous(name: str, title: str) -> bool:
    """Whether a character's name is in the play's title (then the title gives the answer away)."""
    skip = {"KING", "QUEEN", "LADY", "DUKE", "PRINCE", "EARL", "LORD", "OF", "THE", "AND"}
    return any(len(w) > 2 and w.upper() not in skip and w.lower() in title.lower() for w in name.split())


def is_test_character(name: str) -> bool:
    """The fixed quarter of characters whose "play" questions are held out."""
    return zlib.crc32(name.encode()) % 4 == 0


def character_examples() -> tuple[list[ChatExample], list[ChatExample]]:
    """'Which play has a character named X?' for every character of exactly one play: (train, test)."""
    plays = load_plays()
    titles = tuple(p.title for p in plays.values())
    where: dict[str, list[str]] = {}
    for play in plays.values():
        for name in play.characters:
            where.setdefault(name, []).append(play.slug)
    train, test = [], []
    for name, slugs in sorted(where.items()):
        if len(slugs) != 1 or name != name.upper() or is_eponymous(name, plays[slugs[0]].title):
            continue  # "Messenger" is in many plays, "First Lord" is no name, "HAMLET" gives its play away
        example = ChatExample("play", QUESTIONS["play"].format(name=name), plays[slugs[0]].title, titles, slugs[0])
        (test if is_test_character(name) else train).append(example)
    return train, test


def rename_speaker(example: ChatExample, old: str, new: str) -> ChatExample:
    """The same question with speaker `old` called `new` in the passage (and in the answer)."""
    if not _NAME.fullmatch(new):
        raise ValueError(f"new must be a name of letters, spaces, ' . or -, got {new!r}")
    lines = example.question.split("\n")
    if not any(line.startswith(old + ": ") for line in lines):
        raise ValueError(f"{old!r} does not speak in the question's passage")
    lines = [new + line[len(old):] if line.startswith(old + ": ") else line for line in lines]
    candidates = tuple(new if c == old else c for c in example.candidates)
    return ChatExample(example.kind, "\n".join(lines), new if example.answer == old else example.answer, candidates,
                       example.play)


_KEEP = {"KING", "QUEEN", "SIR", "LORD", "LADY", "DUKE", "DUCHESS", "PRINCE", "PRINCESS", "EARL", "OF", "THE", "AND",
         "FRIAR", "CARDINAL", "BISHOP", "MISTRESS", "MASTER", "YOUNG", "OLD", "DE", "LA", "LE", "DU", "MARK"}


def invented_name(name: str, rng: random.Random) -> str:
    """`name` with every proper name in it replaced by invented syllables of about the same length.

    Titles ("KING", "SIR"), numerals and roles written in lower case ("Clown") are kept."""
    words = []
    for word in name.split(" "):
        if not word.isupper() or not word.isalpha() or word in _KEEP or set(word) <= set("IVX"):
            words.append(word)
            continue
        made = ""
        while len(made) < max(3, len(word) - 1):
            made += rng.choice("BCDFGHKLMNPRSTVWZ") + rng.choice("AEIOU") + rng.choice(["", "", "N", "R", "S", "L"])
        words.append(made)
    return " ".join(words)


def with_invented_names(example: ChatExample, rng: random.Random) -> ChatExample:
    """The same passage question with every speaker renamed to an invented name (the answer follows)."""
    renamed = example
    for old in dict.fromkeys(example.candidates):
        new = invented_name(old, rng)
        if new != old and new not in renamed.candidates:
            renamed = rename_speaker(renamed, old, new)
    return renamed if token_count(renamed.prompt) <= MAX_PROMPT else example


@dataclass
class ChatDataset:
    """Training questions (drawn fresh each batch) and a fixed held-out test set."""

    train_plays: list[str]
    train_characters: list[ChatExample]
    test: list[ChatExample]
    starts: dict[str, list[int]] = field(default_factory=dict)  # usable passage starts per training play

    def sample(self, n: int, rng: random.Random, invent: float = INVENT_SHARE) -> list[ChatExample]:
        """`n` training questions, the kinds in turn, from the training plays and characters.

        In a share `invent` of the passages the speakers get invented names: the model knows every name of the
        training plays from pre-training, and would otherwise answer by recalling a familiar name from its
        first letters instead of copying the name it is shown."""
        if not 0 <= invent <= 1:
            raise ValueError(f"invent must be between 0 and 1, got {invent}")
        examples = []
        while len(examples) < n:
            kind = QUESTION_KINDS[len(examples) % len(QUESTION_KINDS)]
            if kind == "play":
                examples.append(rng.choice(self.train_characters))
                continue
            slug = rng.choice(self.train_plays)
            example = passage_example(kind, load_plays()[slug], rng.choice(self.starts[slug]))
            if example is not None:
                examples.append(with_invented_names(example, rng) if rng.random() < invent else example)
        return examples

    def test_of(self, kind: str) -> list[ChatExample]:
        return [e for e in self.test if e.kind == kind]

    def train_sample(self, per_kind: int = 40, seed: int = 0) -> list[ChatExample]:
        """A fixed sample of training questions of every kind, names as written (to compare with the test)."""
        rng, plays = random.Random(seed), load_plays()
        chosen: list[ChatExample] = []
        for kind in IN_CONTEXT_KINDS:
            of_kind: list[ChatExample] = []
            while len(of_kind) < per_kind:
                slug = rng.choice(self.train_plays)
                example = passage_example(kind, plays[slug], rng.choice(self.starts[slug]))
                if example is not None and example not in of_kind:
                    of_kind.append(example)
            chosen += of_kind
        return chosen + rng.sample(self.train_characters, min(per_kind, len(self.train_characters)))


def build_dataset(test_per_kind: int = 40, seed: int = 0) -> ChatDataset:
    """The chat dataset: passages of the training plays for training, of the held-out plays for testing."""
    if not isinstance(test_per_kind, int) or test_per_kind < 1:
        raise ValueError(f"test_per_kind must be a positive integer, got {test_per_kind!r}")
    plays = load_plays()
    rng = random.Random(seed)
    train_plays = [s for s in plays if s not in HELD_OUT_PLAYS]
    starts = {s: [i for i in range(len(plays[s].speeches)) if passage_example("first", plays[s], i)]
              for s in plays}
    test = []
    for kind in IN_CONTEXT_KINDS:
        chosen: list[ChatExample] = []
        while len(chosen) < test_per_kind:
            slug = HELD_OUT_PLAYS[len(chosen) % len(HELD_OUT_PLAYS)]
            example = passage_example(kind, plays[slug], rng.choice(starts[slug]))
            if example is not None and example.question not in {e.question for e in chosen}:
                chosen.append(example)
        test += chosen
    train_characters, test_characters = character_examples()
    test += random.Random(seed).sample(test_characters, min(test_per_kind, len(test_characters)))
    return ChatDataset(train_plays, train_characters, test, {s: starts[s] for s in train_plays})


def chance_accuracy(examples: list[ChatExample]) -> float:
    """Expected accuracy of answering with one of each question's candidates at random."""
    if not examples:
        raise ValueError("examples must not be empty")
    return float(np.mean([1 / len(set(e.candidates)) for e in examples]))

