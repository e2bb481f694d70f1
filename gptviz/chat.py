"""From a next-token predictor to a chat assistant: a chat dataset built from the plays, fine-tuning, evaluation.

The chat format is a two-character play: the user's turn and the assistant's turn are speeches
(`User:` / `Assistant:`), each followed by a blank line, written with the shipped tokenizer's
characters only. Every question is generated from facts the corpus really contains:

- "first", "last", "says": a three-speech passage is part of the question, so the answer (a speaker)
  can be read from the context, that is from earlier tokens of the same sequence;
- "play": "Which play has a character named X?" needs a fact the pre-training text never held
  (the plays' titles were stripped): fine-tuning teaches it for the training characters only.

Test questions of the first three kinds come from the plays held out of pre-training
(`gptviz.data.HELD_OUT_PLAYS`); those of the "play" kind from a fixed quarter of the characters.
In most training passages the speakers get invented names, so that the model learns to copy the
name it is shown rather than recall a familiar one (see `ChatDataset.sample`).

Reproduce the shipped fine-tuned model with: `python -m gptviz.chat finetune --out gptviz/data/chat_model`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from .checkpoint import load, pretrained_dir, save
from .data import HELD_OUT_PLAYS, markdown_to_play_text, play_files
from .training import TrainConfig, learning_rate, make_optimizer

USER = "User:\n"  # the user's turn starts like a speech in the plays...
ASSISTANT = "Assistant:\n"  # ...and so does the assistant's
END = "\n\n"  # a blank line ends a turn, as it ends a speech in the corpus
KINDS = ("first", "last", "says", "play")
QUESTIONS = {
    "first": "Who speaks first?",
    "last": "Who speaks last?",
    "says": 'Who says "{quote}"?',
    "play": "Which play has a character named {name}?",
}
KIND_NAMES = {"first": "who speaks first", "last": "who speaks last", "says": "who says ...",
              "play": "which play (a fact)"}
IN_CONTEXT_KINDS = ("first", "last", "says")  # the answer is written in the question's passage
MAX_ANSWER = 32  # longest reply, in characters, that still counts as following the format
LINE_CHARS = 40  # each passage line is cut to at most this many characters (at a word boundary)
PASSAGE_SPEECHES = 3
MAX_PROMPT = 200  # longest question prompt, in characters: room is left for the reply inside block_size
MIN_SPEECHES = 2  # a speaker tag must be used this often in a play to count as a character
INVENT_SHARE = 0.75  # share of training passages whose speakers get invented names (see ChatDataset.sample)
FINETUNE_STEPS, FINETUNE_BATCH, FINETUNE_LR = 1200, 16, 1e-3  # the settings of the shipped chat model
CHAT_MODEL_DIR = "chat_model"
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


# --------------------------------------------------------------------------- the chat format


def format_prompt(question: str, history: tuple[tuple[str, str], ...] = ()) -> str:
    """The conversation so far as one text ending where the assistant's reply starts."""
    for name, text in (("question", question), *((f"history[{i}]", t) for i, turn in enumerate(history) for t in turn)):
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{name} must be a non-empty string, got {text!r}")
    turns = "".join(USER + q.strip() + END + ASSISTANT + a.strip() + END for q, a in history)
    return turns + USER + question.strip() + END + ASSISTANT


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
        """The whole exchange, as the model is fine-tuned on it."""
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
    return example if len(example.prompt) <= MAX_PROMPT else None


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
    return renamed if len(renamed.prompt) <= MAX_PROMPT else example


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
            kind = KINDS[len(examples) % len(KINDS)]
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


# --------------------------------------------------------------------------- fine-tuning


def encode_examples(examples: list[ChatExample], tokenizer) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (B, T) and targets (B, T) for next-token training; every target outside the answer is -100 (ignored)."""
    rows = [tokenizer.encode(e.text) for e in examples]
    width = max(len(r) for r in rows) - 1
    x = torch.zeros(len(rows), width, dtype=torch.long)
    y = torch.full((len(rows), width), -100, dtype=torch.long)  # cross_entropy's ignore_index
    for i, (row, e) in enumerate(zip(rows, examples, strict=True)):
        start = len(e.prompt) - 1  # the position whose target is the answer's first character
        x[i, : len(row) - 1] = torch.tensor(row[:-1])
        y[i, start : len(row) - 1] = torch.tensor(row[start + 1 :])
    return x, y


@torch.no_grad()
def answer_loss(model, tokenizer, examples: list[ChatExample], batch_size: int = 64) -> float:
    """Mean cross-entropy on the answer characters (and the end of the turn) only."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(examples), batch_size):
        x, y = encode_examples(examples[i : i + batch_size], tokenizer)
        logits, _ = model(x.to(model.device))
        total += F.cross_entropy(logits.flatten(0, 1), y.flatten().to(model.device), reduction="sum").item()
        count += int((y != -100).sum())
    model.train(was_training)
    return total / count


def finetune(model, tokenizer, dataset: ChatDataset, steps: int = FINETUNE_STEPS, batch_size: int = FINETUNE_BATCH,
             lr: float = FINETUNE_LR, seed: int = 0, progress: bool = False,
             invent: float = INVENT_SHARE) -> list[float]:
    """Supervised fine-tuning in place, with the loss on the answers only; returns the loss of every step."""
    for name, value in (("steps", steps), ("batch_size", batch_size)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    config = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, warmup_steps=min(50, steps // 10))
    optimizer = make_optimizer(model, config)
    rng = random.Random(seed)
    torch.manual_seed(seed)
    model.train()
    losses = []
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, config)
        x, y = encode_examples(dataset.sample(batch_size, rng, invent), tokenizer)
        _, loss = model(x.to(model.device), y.to(model.device))  # cross_entropy skips the -100 targets
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        losses.append(loss.item())
        if progress and (step + 1) % 50 == 0:
            print(f"step {step + 1}/{steps}  answer loss {np.mean(losses[-50:]):.3f}", flush=True)
    model.eval()
    return losses


# --------------------------------------------------------------------------- answering and scoring


def _attention_with_cache(block, x, cache, allowed):
    """One attention layer over the new positions `x` (B, T, C), appending their keys and values to `cache`."""
    attn = block.attn
    B, T, C = x.shape
    q, k, v = attn.c_attn(block.ln_1(x)).split(C, dim=2)
    q, k, v = (t.view(B, T, attn.n_head, C // attn.n_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
    if cache:
        k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
    cache[:] = [k, v]
    y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed[:, None])  # (B, nh, T, hs)
    if attn.head_mask is not None:
        y = y * attn.head_mask.view(1, -1, 1, 1).to(y)
    return attn.c_proj(y.transpose(1, 2).reshape(B, T, C))


def _forward_cached(model, ids, positions, key_valid, caches):
    """Logits (B, T, V) for new tokens `ids` (B, T) at `positions`, reusing the keys/values of earlier ones.

    Unlike the model's own forward, every row has its own positions: prompts of different lengths are
    left-padded into one batch, and `key_valid` (B, total) hides the padding."""
    x = model.wte(ids)
    pe = model.position_encoding(model.config.block_size)
    if pe is not None:
        x = x + pe[positions]
    T, total = ids.size(1), key_valid.size(1)
    query_at = torch.arange(total - T, total, device=ids.device)[:, None]
    key_at = torch.arange(total, device=ids.device)[None]
    # causal mask, minus the left padding; a position may always see itself (keeps padded rows finite)
    allowed = ((key_at <= query_at)[None] & key_valid[:, None, :]) | (key_at == query_at)[None]  # (B, T, total)
    for block, cache in zip(model.blocks, caches, strict=True):
        x = x + _attention_with_cache(block, x, cache, allowed)
        if block.use_mlp:
            x = x + block.mlp(block.ln_2(x))
    return model.lm_head(model.ln_f(x))


@torch.no_grad()
def greedy_replies(model, tokenizer, prompts: list[str], max_new_tokens: int = MAX_ANSWER + len(END),
                   stop: str | None = END) -> list[str]:
    """The most likely continuation of every prompt, all at once (left padding, a key/value cache).

    Decoding stops early once every continuation contains `stop` (None: never)."""
    if not prompts:
        raise ValueError("prompts must not be empty")
    block = model.config.block_size
    if not isinstance(max_new_tokens, int) or not 1 <= max_new_tokens < block:
        raise ValueError(f"max_new_tokens must be an integer in 1..{block - 1}, got {max_new_tokens!r}")
    was_training = model.training
    model.eval()
    device = model.device
    rows = [tokenizer.encode(p or "\n")[-(block - max_new_tokens) :] for p in prompts]
    width = max(len(r) for r in rows)
    pad = torch.tensor([width - len(r) for r in rows], device=device)
    ids = torch.tensor([[0] * (width - len(r)) + r for r in rows], device=device)
    positions = (torch.arange(width, device=device)[None] - pad[:, None]).clamp(min=0)
    key_valid = positions.new_ones(positions.shape, dtype=torch.bool) & (torch.arange(width, device=device)[None]
                                                                          >= pad[:, None])
    caches: list[list] = [[] for _ in model.blocks]
    try:
        logits = _forward_cached(model, ids, positions, key_valid, caches)
        new = []
        for _ in range(max_new_tokens):
            next_ids = logits[:, -1].argmax(-1)  # (B,)
            new.append(next_ids)
            texts = [tokenizer.decode(col) for col in torch.stack(new, 1).tolist()]
            if stop is not None and all(stop in t for t in texts):
                break
            positions = positions[:, -1:] + 1
            key_valid = torch.cat([key_valid, key_valid.new_ones(len(rows), 1)], dim=1)
            logits = _forward_cached(model, next_ids[:, None], positions, key_valid, caches)
    finally:
        model.train(was_training)
    return [tokenizer.decode(col) for col in torch.stack(new, 1).tolist()]


def parse_reply(continuation: str) -> tuple[str, bool]:
    """The reply's first line, and whether the reply follows the format: one line of 1..MAX_ANSWER chars, then END."""
    line = continuation.split("\n", 1)[0]
    follows = continuation.startswith(line + END) and 1 <= len(line.strip()) == len(line) <= MAX_ANSWER
    return line, follows


@dataclass
class Evaluation:
    """How a model answered a list of test questions."""

    examples: list[ChatExample]
    replies: list[str]  # the reply's first line
    follows_format: list[bool]
    correct: list[bool]

    def _rate(self, values, kind=None) -> float:
        chosen = [v for v, e in zip(values, self.examples, strict=True) if kind in (None, e.kind)]
        if not chosen:
            raise ValueError(f"no test questions of kind {kind!r}; kinds are {KINDS}")
        return float(np.mean(chosen))

    def format_rate(self, kind: str | None = None) -> float:
        """Share of replies that follow the chat format (of one kind, or all)."""
        return self._rate(self.follows_format, kind)

    def accuracy(self, kind: str | None = None) -> float:
        """Share of replies whose first line is exactly the right answer."""
        return self._rate(self.correct, kind)

    def table(self) -> dict[str, dict[str, float]]:
        """{kind: {"format", "accuracy", "chance"}} rounded to 3 decimals, for every kind and "all"."""
        rows = {}
        for kind in (*KINDS, None):
            chosen = [e for e in self.examples if kind in (None, e.kind)]
            if chosen:
                rows[kind or "all"] = {"format": round(self.format_rate(kind), 3),
                                       "accuracy": round(self.accuracy(kind), 3),
                                       "chance": round(chance_accuracy(chosen), 3)}
        return rows


def comparison_table(evaluations: dict[str, Evaluation]) -> str:
    """A text table: for each question kind, format-following and accuracy of every model, and chance."""
    tables = {name: ev.table() for name, ev in evaluations.items()}
    kinds = list(next(iter(tables.values())))
    head = f"{'question kind':<22}" + "".join(f"{name + ' format':>22}{name + ' right':>21}" for name in tables)
    lines = [head + f"{'chance':>9}"]
    for kind in kinds:
        cells = "".join(f"{t[kind]['format']:>22.0%}{t[kind]['accuracy']:>21.0%}" for t in tables.values())
        chance = next(iter(tables.values()))[kind]["chance"]
        lines.append(f"{KIND_NAMES.get(kind, kind):<22}" + cells + f"{chance:>9.0%}")
    return "\n".join(lines)


def compare_replies(evaluations: dict[str, Evaluation], indices) -> str:
    """The right answer and every model's reply, one question a line."""
    first = next(iter(evaluations.values()))
    lines = [f"{'question kind':<20}{'right answer':<22}" + "".join(f"{name:<28}" for name in evaluations)]
    for i in indices:
        e = first.examples[i]
        lines.append(f"{KIND_NAMES[e.kind]:<20}{e.answer:<22}"
                     + "".join(f"{ev.replies[i][:22]!r:<28}" for ev in evaluations.values()))
    return "\n".join(lines)


def evaluate(model, tokenizer, examples: list[ChatExample], batch_size: int = 64) -> Evaluation:
    """Ask every question (greedy decoding) and score format and correctness."""
    if not examples:
        raise ValueError("examples must not be empty")
    continuations = []
    for i in range(0, len(examples), batch_size):
        continuations += greedy_replies(model, tokenizer, [e.prompt for e in examples[i : i + batch_size]])
    parsed = [parse_reply(c) for c in continuations]
    return Evaluation(examples, [p[0] for p in parsed], [p[1] for p in parsed],
                      [p[0] == e.answer for p, e in zip(parsed, examples, strict=True)])


def reply(model, tokenizer, question: str, history: tuple[tuple[str, str], ...] = ()) -> str:
    """The model's reply (its first line) to `question` after the earlier turns `history`."""
    prompt = format_prompt(question, history)
    return parse_reply(greedy_replies(model, tokenizer, [prompt])[0])[0]


def fit_history(question: str, history, budget: int) -> tuple[tuple[str, str], ...]:
    """The most recent earlier turns that fit in `budget` characters together with the question."""
    kept: list[tuple[str, str]] = []
    for turn in reversed(list(history)):
        if len(format_prompt(question, (turn, *kept))) > budget:
            break
        kept.insert(0, turn)
    return tuple(kept)


# --------------------------------------------------------------------------- where the answer comes from


def answer_span(example: ChatExample) -> tuple[int, int]:
    """Character positions [start, end) in the prompt of the answer's first mention in the passage."""
    start = example.prompt.find(example.answer + ": ")
    if start < 0:
        raise ValueError(f"the answer {example.answer!r} is not written in the question's passage")
    return start, start + len(example.answer)


def answer_attention(trace) -> np.ndarray:
    """Attention (n_layer, n_head, T) of the last position (the one that predicts the answer) onto the prompt."""
    return trace.attention[:, :, -1, :]


def attention_on_answer(model, tokenizer, examples: list[ChatExample]) -> tuple[np.ndarray, float]:
    """Mean share (n_layer, n_head) of the last prompt position's attention that lands on the answer's name in
    the passage, and the share a uniform spread would give (the name's length over the prompt's)."""
    from .trace import inspect

    shares, uniform = [], []
    for example in examples:
        start, end = answer_span(example)
        weights = answer_attention(inspect(model, tokenizer, example.prompt))
        shares.append(weights[:, :, start:end].sum(-1))
        uniform.append((end - start) / len(example.prompt))
    return np.mean(shares, axis=0), float(np.mean(uniform))



# --------------------------------------------------------------------------- the shipped fine-tuned model


def chat_model_dir() -> Path:
    return Path(str(resources.files("gptviz") / "data" / CHAT_MODEL_DIR))


def weights_digest(model) -> str:
    """A short fingerprint of a model's weights (to tell which pre-trained model a fine-tune started from)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float16).numpy().tobytes())
    return digest.hexdigest()[:16]


def chat_model_info(directory=None) -> dict:
    """The settings and measured results stored with the fine-tuned model."""
    config = json.loads((Path(directory or chat_model_dir()) / "config.json").read_text(encoding="utf-8"))
    return config["chat"]


def load_chat_model(directory=None, device="cpu"):
    """The shipped fine-tuned chat model and its tokenizer (see the module docstring for the command)."""
    return load(directory or chat_model_dir(), device)


def make_chat_model(out, steps: int = FINETUNE_STEPS, batch_size: int = FINETUNE_BATCH, lr: float = FINETUNE_LR,
                    seed: int = 0, progress: bool = True, invent: float = INVENT_SHARE) -> dict:
    """Fine-tune the shipped pre-trained model, evaluate before and after, save in fp16 to `out`."""
    from .checkpoint import load_pretrained

    torch.manual_seed(seed)
    model, tokenizer = load_pretrained()
    dataset = build_dataset()
    before = evaluate(model, tokenizer, dataset.test)
    pretrained_digest = weights_digest(model)
    losses = finetune(model, tokenizer, dataset, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                      progress=progress, invent=invent)
    after = evaluate(model, tokenizer, dataset.test)
    info = {"pretrained_digest": pretrained_digest, "pretrained_dir": str(pretrained_dir().name),
            "steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed, "invent": invent,
            "loss_first_50": round(float(np.mean(losses[:50])), 4),
            "loss_last_50": round(float(np.mean(losses[-50:])), 4),
            "losses": [round(float(np.mean(losses[i : i + 10])), 4) for i in range(0, len(losses), 10)],
            "before": before.table(), "after": after.table()}
    save(model, tokenizer, out, dtype=torch.float16, extra={"chat": info})
    return info


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gptviz.chat", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ft = sub.add_parser("finetune", help="fine-tune the shipped model on the chat dataset and save it")
    ft.add_argument("--out", default=str(chat_model_dir()))
    ft.add_argument("--steps", type=int, default=FINETUNE_STEPS)
    ft.add_argument("--batch-size", type=int, default=FINETUNE_BATCH)
    ft.add_argument("--lr", type=float, default=FINETUNE_LR)
    ft.add_argument("--seed", type=int, default=0)
    ft.add_argument("--invent", type=float, default=INVENT_SHARE, help="share of passages with invented names")
    sub.add_parser("evaluate", help="score the pre-trained and the shipped fine-tuned model on the test questions")
    args = parser.parse_args(argv)
    if args.command == "finetune":
        info = make_chat_model(args.out, args.steps, args.batch_size, args.lr, args.seed, invent=args.invent)
        print(json.dumps({k: info[k] for k in ("before", "after")}, indent=1))
    else:
        from .checkpoint import load_pretrained

        test = build_dataset().test
        for name, (model, tokenizer) in (("pre-trained", load_pretrained()), ("fine-tuned", load_chat_model())):
            print(name, json.dumps(evaluate(model, tokenizer, test).table()))


if __name__ == "__main__":
    main()
