"""Few-shot prompting: the pre-trained model, unchanged, shown solved examples in its prompt instead of fine-tuned.

GPT-3 (Brown et al., 2020) showed that a large enough base model often answers from a handful of solved
examples written before the question ("in-context learning"). Our model reads only 256 characters, so the
examples are short (each line cut to a few words) and at most as many as fit before the question.
"""

from __future__ import annotations

import random

import numpy as np

from .dataset import QUESTIONS, ChatDataset, ChatExample, cut_line, load_plays, passage_example
from .decoding import greedy_replies

SHOT_LINE_CHARS = 14  # each line of a solved example is cut to this many characters
ANSWER_ROOM = 24  # tokens kept free after the prompt for the answer


def shot_text(example: ChatExample) -> str:
    """A solved example, compact: the passage with short lines, the question, the answer, then a blank line."""
    passage, question = example.question.rsplit("\n", 1)
    lines = [f"{name}: {cut_line(line, SHOT_LINE_CHARS)}" for name, line in
             (row.split(": ", 1) for row in passage.split("\n"))]
    return "\n".join(lines) + "\n" + question + "\n" + example.answer + "\n\n"


def solved_examples(dataset: ChatDataset, kind: str, n: int, seed: int = 0) -> list[ChatExample]:
    """`n` training questions of `kind` (training plays, names as written), to show before the question."""
    rng, plays, shots = random.Random(seed), load_plays(), []
    while len(shots) < n:
        slug = rng.choice(dataset.train_plays)
        example = passage_example(kind, plays[slug], rng.choice(dataset.starts[slug]))
        if example is not None and example not in shots:
            shots.append(example)
    return shots


def few_shot_prompt(example: ChatExample, shots: list[ChatExample], budget: int) -> tuple[str, int]:
    """The question after as many of `shots` as fit in `budget` characters; returns (prompt, shots used)."""
    question = example.question + "\n"
    used = 0
    while used < len(shots) and len("".join(shot_text(s) for s in shots[: used + 1]) + question) <= budget:
        used += 1
    return "".join(shot_text(s) for s in shots[:used]) + question, used


def first_line(continuation: str) -> str:
    """The first non-empty line of a continuation, without a trailing colon (a speaker tag counts as a name)."""
    lines = [line.strip() for line in continuation.split("\n") if line.strip()]
    return lines[0].removesuffix(":").strip() if lines else ""


def few_shot_accuracy(model, tokenizer, dataset: ChatDataset, examples: list[ChatExample], shots: int,
                      seed: int = 0) -> tuple[float, float]:
    """Accuracy of the base model on `examples` with up to `shots` solved examples of the same kind each,
    and the mean number of solved examples that fit. Scored leniently: the first non-empty line of the
    continuation, without a trailing colon, must be the answer."""
    if not isinstance(shots, int) or shots < 0:
        raise ValueError(f"shots must be a non-negative integer, got {shots!r}")
    if not examples:
        raise ValueError("examples must not be empty")
    budget = model.config.block_size - ANSWER_ROOM
    prompts, used = [], []
    for example in examples:
        if example.question.rsplit("\n", 1)[-1] != QUESTIONS.get(example.kind, None) and example.kind != "says":
            raise ValueError(f"few-shot prompting needs passage questions, got kind {example.kind!r}")
        prompt, n = few_shot_prompt(example, solved_examples(dataset, example.kind, shots, seed), budget)
        prompts.append(prompt)
        used.append(n)
    replies = greedy_replies(model, tokenizer, prompts, max_new_tokens=ANSWER_ROOM, stop=None)
    right = [first_line(r) == e.answer for r, e in zip(replies, examples, strict=True)]
    return float(np.mean(right)), float(np.mean(used))
