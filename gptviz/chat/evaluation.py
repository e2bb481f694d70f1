"""Scoring replies (format and correctness, per question kind), and where the answer's attention goes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..model import evaluating
from .dataset import KIND_NAMES, QUESTION_KINDS, ChatExample, chance_accuracy
from .decoding import greedy_replies, prompt_ids
from .template import parse_reply, token_count


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
            raise ValueError(f"no test questions of kind {kind!r}; kinds are {QUESTION_KINDS}")
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
        for kind in (*QUESTION_KINDS, None):
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



# --------------------------------------------------------------------------- where the answer comes from


def answer_span(example: ChatExample) -> tuple[int, int]:
    """Token positions [start, end) in the prompt of the answer's first mention in the passage."""
    start = example.prompt.find(example.answer + ": ")
    if start < 0:
        raise ValueError(f"the answer {example.answer!r} is not written in the question's passage")
    first = token_count(example.prompt[:start])
    return first, first + len(example.answer)


@torch.no_grad()
def prompt_attention(model, tokenizer, prompt: str) -> np.ndarray:
    """Attention (n_layer, n_head, T) of the prompt's last position (it predicts the reply) onto the prompt."""
    ids = torch.tensor([prompt_ids(tokenizer, prompt)], device=model.device)
    if ids.size(1) > model.config.block_size:
        raise ValueError(f"prompt is {ids.size(1)} tokens; the model reads at most {model.config.block_size}")
    with evaluating(model):
        _, attention, _ = model.forward_traced(ids)  # (1, L, nh, T, T)
    return attention[0, :, :, -1, :].double().cpu().numpy()


def answer_attention(trace) -> np.ndarray:
    """Attention (n_layer, n_head, T) of a trace's last position onto the text (see `gptviz.inspect`)."""
    return trace.attention[:, :, -1, :]


def attention_on_answer(model, tokenizer, examples: list[ChatExample]) -> tuple[np.ndarray, float]:
    """Mean share (n_layer, n_head) of the last prompt position's attention that lands on the answer's name in
    the passage, and the share a uniform spread would give (the name's length over the prompt's)."""
    shares, uniform = [], []
    for example in examples:
        start, end = answer_span(example)
        weights = prompt_attention(model, tokenizer, example.prompt)
        shares.append(weights[:, :, start:end].sum(-1))
        uniform.append((end - start) / weights.shape[-1])
    return np.mean(shares, axis=0), float(np.mean(uniform))


# --------------------------------------------------------------------------- the causal check: switch a head off


def accuracy_without_heads(model, tokenizer, examples: list[ChatExample], heads=()) -> float:
    """Accuracy on `examples` with the given (layer, head) outputs set to zero (none: the whole model)."""
    from ..ablation import ablated

    with ablated(model, heads=list(heads)):
        return evaluate(model, tokenizer, examples).accuracy()


def head_ablation(model, tokenizer, examples: list[ChatExample], heads) -> dict[str, float]:
    """Accuracy with nothing switched off, then with each of `heads` switched off alone: {"none" | "L.H": acc}."""
    result = {"none": accuracy_without_heads(model, tokenizer, examples)}
    for layer, head in heads:
        result[f"{layer}.{head}"] = accuracy_without_heads(model, tokenizer, examples, [(layer, head)])
    return result


def is_causal_head(accuracies: dict[str, float], head, neighbour, drop: float = 0.5, keep: float = 0.15) -> bool:
    """Whether switching `head` off costs at least `drop` accuracy while switching `neighbour` off costs at most `keep`.

    `accuracies` is what `head_ablation` returns for both heads."""
    full = accuracies["none"]
    cost = {name: full - accuracies["{}.{}".format(*heads)] for name, heads in (("head", head), ("other", neighbour))}
    return cost["head"] >= drop and cost["other"] <= keep
