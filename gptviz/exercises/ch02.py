"""Chapter 02's exercises: write the RNN step, predict the gradient at radius 1, size the forget gate, read a sweep."""

from __future__ import annotations

import math

import numpy as np
import torch

from .. import bptt, rnn
from .core import Exercise, Wrong, register
from .kinds import describe, function, near, number, prediction

# 02.1 · write the RNN step

def reference_step(x, h, W_ih, W_hh, b_ih, b_hh):
    return torch.tanh(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)  # (B, H)


def step_inputs() -> list[tuple]:
    """Batches of 2 and 1, a zero start state, and an input size unlike the hidden size (so W_ih.T matters)."""
    generator = torch.Generator().manual_seed(0)
    cases = []
    for batch, inputs, hidden, zero in ((2, 3, 4, False), (1, 5, 4, False), (3, 3, 6, True)):
        def draw(*shape):
            return torch.randn(*shape, generator=generator)
        h = torch.zeros(batch, hidden) if zero else draw(batch, hidden)
        cases.append((draw(batch, inputs), h, draw(hidden, inputs), draw(hidden, hidden), draw(hidden), draw(hidden)))
    return cases


def same_tensor(got, expected) -> bool:
    if not isinstance(got, torch.Tensor):
        raise Wrong(f"expected a tensor of shape {tuple(expected.shape)}, got {describe(got)}")
    if got.shape != expected.shape:
        raise Wrong(f"expected shape {tuple(expected.shape)} (batch, hidden), got {tuple(got.shape)}")
    return torch.allclose(got.float(), expected, atol=1e-5, rtol=1e-4)


def no_tanh(x, h, W_ih, W_hh, b_ih, b_hh):
    return x @ W_ih.T + b_ih + h @ W_hh.T + b_hh


def sigmoid_step(x, h, W_ih, W_hh, b_ih, b_hh):
    return torch.sigmoid(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)


def untransposed_recurrence(x, h, W_ih, W_hh, b_ih, b_hh):
    return torch.tanh(x @ W_ih.T + b_ih + h @ W_hh + b_hh)


def one_bias(x, h, W_ih, W_hh, b_ih, b_hh):
    return torch.tanh(x @ W_ih.T + b_ih + h @ W_hh.T)


def no_memory(x, h, W_ih, W_hh, b_ih, b_hh):
    return torch.tanh(x @ W_ih.T + b_ih + b_hh)


register(Exercise(
    id="02.1",
    title="Write one step of the tanh RNN",
    check=function(
        reference_step, step_inputs, name="my_rnn_step", same=same_tensor,
        why="your step matches gptviz's (and so torch.nn.RNN's) on every batch, a zero start state included: "
            "the same weights serve every step, and h is all the network carries forward.",
        mistakes=[
            (no_tanh, "The tanh is missing: without it the state can grow without bound."),
            (sigmoid_step, "That squashes with a sigmoid; the Elman RNN here uses tanh (outputs from -1 to 1)."),
            (untransposed_recurrence, "PyTorch stores W_hh as (out, in): a batch of row vectors h is multiplied "
                                      "by W_hh.T, as with W_ih."),
            (one_bias, "One bias is missing: PyTorch keeps two, b_ih and b_hh, and adds both."),
            (no_memory, "The previous state h does not enter: without W_hh h the network forgets everything at once."),
        ],
        hint="h_t = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh), with the batch in the rows.",
    ),
    code="""def my_rnn_step(x, h, W_ih, W_hh, b_ih, b_hh):
    return torch.tanh(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)  # (B, H)""",
    explanation="x is (B, E) and h is (B, H), one row per sequence; PyTorch stores W_ih as (H, E) and W_hh as (H, H), "
                "so each is applied as x @ W.T. The tanh keeps every unit between -1 and 1, and its slope, at most "
                "1, is one of the two factors the backward pass multiplies by at each step.",
    reference=lambda: reference_step,
    wrong=lambda: [no_tanh, sigmoid_step, untransposed_recurrence, one_bias, no_memory, "my_rnn_step",
                   lambda x, h, *weights: h],
    answer_name="my_rnn_step",
))


# 02.2 · predict before measuring

OUTCOMES = ("vanishes", "survives", "explodes")
PREDICT_RADIUS, PREDICT_DISTANCE = 1.0, 100


def one_outcome(guess) -> str:
    if not isinstance(guess, str) or guess.strip().lower() not in OUTCOMES:
        raise Wrong(f"a prediction here is one of {', '.join(map(repr, OUTCOMES))}, got {describe(guess)}")
    return guess.strip().lower()


def radius_outcome(radius: float = PREDICT_RADIUS, distance: int = PREDICT_DISTANCE) -> tuple[str, float]:
    """What an untrained tanh RNN's gradient does over `distance` steps: the verdict and the ratio far / at the loss."""
    profile = bptt.random_rnn_gradient(radius, distance)
    ratio = float(profile[distance] / profile[0])
    return ("vanishes" if ratio < 1e-3 else "explodes" if ratio > 1e3 else "survives"), ratio


def reveal_radius(guess: str) -> str:
    truth, ratio = radius_outcome()
    verdict = "as you predicted" if guess == truth else f"you predicted that it {guess}"
    return (f"measured: {PREDICT_DISTANCE} steps back, the gradient is {ratio:.0e} of its size at the loss: it "
            f"{truth} ({verdict}). A radius of 1 is the edge only for a linear network: tanh's slope is below 1 "
            f"wherever a unit is not exactly at 0, so every step shrinks the signal a little more.")


register(Exercise(
    id="02.2",
    title="Spectral radius exactly 1: does the gradient vanish, survive or explode over 100 steps?",
    check=prediction(one_outcome, reveal_radius),
    code='prediction = "survives"  # or "vanishes", "explodes": your guess, before measuring\n'
         "profile = gptviz.bptt.random_rnn_gradient(1.0, 100)\n"
         'print(f"measured: gradient 100 steps back / at the loss = {profile[100] / profile[0]:.0e}")',
    explanation="Any of the three is a valid prediction; the check then measures an untrained tanh RNN whose "
                "recurrent matrix has spectral radius 1. Linear theory says radius 1 keeps the size; tanh only "
                "ever flattens, so the real network still loses the signal.",
    reference=lambda: "vanishes",
    wrong=lambda: ["maybe", "", 1.0, ["vanishes"]],
    answer_name="prediction",
))


# 02.3 · how open must the forget gate be?

KEEP, STEPS = 0.1, 400


def bias_for_memory(keep: float = KEEP, steps: int = STEPS) -> float:
    """The forget-gate bias b with sigmoid(b)**steps = keep (the rest of the gate's input zero)."""
    f = keep ** (1 / steps)
    return math.log(f / (1 - f))


register(Exercise(
    id="02.3",
    title="Which forget-gate bias keeps 10 % of the memory over 400 steps?",
    check=number(
        bias_for_memory,
        why="b = {truth:.2f}: then f = sigmoid(b) = 0.1^(1/400) = 0.9943, and 0.9943^400 = 0.1. This chapter "
            "starts its LSTM at b = 4 (f = 0.982, which keeps 0.1 % over 400 steps).",
        mistakes=[
            (lambda value, truth: near(value, KEEP ** (1 / STEPS)), "That is the gate f itself; the question asks "
             "for the bias b with sigmoid(b) = f: invert the sigmoid, b = ln(f / (1 - f))."),
            (lambda value, truth: near(value, math.log10(KEEP ** (1 / STEPS) / (1 - KEEP ** (1 / STEPS)))),
             "That used log10; the sigmoid's inverse uses the natural log."),
            (lambda value, truth: near(value, math.log(KEEP / (1 - KEEP))), "That gives f = 0.1 at every step; "
             "the 10 % is what is left after 400 steps, f^400 = 0.1."),
        ],
        hint="First f with f^400 = 0.1, then b with 1 / (1 + e^-b) = f.",
        rel=5e-3,
    ),
    code="f = 0.1 ** (1 / 400)  # f ** 400 = 0.1\n"
         "answer = np.log(f / (1 - f))  # the inverse of the sigmoid",
    explanation="A unit whose forget gate is f keeps f^d of its cell state after d steps (when nothing is "
                "written). f^400 = 0.1 gives f = 0.1^(1/400) = 0.9943, and the sigmoid's inverse, the logit "
                "ln(f / (1 - f)), gives the bias: about 5.2.",
    reference=bias_for_memory,
    wrong=lambda: [KEEP ** (1 / STEPS), math.log(KEEP / (1 - KEEP)), 4.0, 0.1, "5.2"],
))


# 02.4 · where does each model give out?

def gaps_at_chance(sweep, kind, margin=0.1):
    """Every gap whose mean accuracy (over seeds) is below chance + margin, in order (gaps not run are skipped)."""
    return [gap for gap, accs in zip(sweep["gaps"], sweep["accuracy"][kind], strict=True)
            if accs is not None and np.mean(accs) < sweep["chance"] + margin]


def passing_gaps(sweep, kind, margin=0.1):
    return [gap for gap, accs in zip(sweep["gaps"], sweep["accuracy"][kind], strict=True)
            if accs is not None and np.mean(accs) >= sweep["chance"] + margin]


def failing_indices(sweep, kind, margin=0.1):
    return [i for i, accs in enumerate(sweep["accuracy"][kind])
            if accs is not None and np.mean(accs) < sweep["chance"] + margin]


def every_seed_fails(sweep, kind, margin=0.1):
    return [gap for gap, accs in zip(sweep["gaps"], sweep["accuracy"][kind], strict=True)
            if accs is not None and max(accs) < sweep["chance"] + margin]


def one_seed_fails(sweep, kind, margin=0.1):
    return [gap for gap, accs in zip(sweep["gaps"], sweep["accuracy"][kind], strict=True)
            if accs is not None and min(accs) < sweep["chance"] + margin]


def below_margin(sweep, kind, margin=0.1):
    return [gap for gap, accs in zip(sweep["gaps"], sweep["accuracy"][kind], strict=True)
            if accs is not None and np.mean(accs) < margin]


def sweep_inputs() -> list[tuple]:
    """The shipped sweep for every kind, and small made-up sweeps: a gap not run, seeds that disagree, no failure."""
    shipped = rnn.load_sweep()
    toy = {"gaps": [5, 10, 20, 50], "chance": 0.125,
           "accuracy": {"a": [[1.0, 1.0], [0.9, 0.1], [0.2, 0.1], None],
                        "b": [[1.0], [0.95], [0.9], [0.5]],
                        "c": [None, [0.15, 0.16], [0.9, 0.9], [0.1, 0.1]],
                        "d": [[1.0, 1.0], [0.3, 0.1], [0.1, 0.1], None]}}
    return [(shipped, kind) for kind in shipped["accuracy"]] + [(toy, k) for k in "abcd"] + [(toy, "a", 0.5)]


def same_gaps(got, expected) -> bool:
    if not isinstance(got, (list, tuple)) or any(isinstance(g, bool) or not isinstance(g, (int, np.integer))
                                                 for g in got):
        raise Wrong(f"expected a list of gaps (whole numbers), got {describe(got)}")
    return list(got) == expected


register(Exercise(
    id="02.4",
    title="The gaps at which each model is at chance, from the shipped sweep",
    check=function(
        gaps_at_chance, sweep_inputs, name="gaps_at_chance", same=same_gaps,
        why="right on the shipped sweep and on made-up ones (a gap that was not run, seeds that disagree, a model "
            "that never fails): the mean over the seeds decides, and a gap not run is skipped.",
        mistakes=[
            (passing_gaps, "Those are the gaps the model still solves; the question asks for the gaps where its "
                           "mean accuracy is within the margin of chance."),
            (failing_indices, "Those are positions in the list; give the gaps themselves, sweep['gaps'][i]."),
            (every_seed_fails, "That waits until every seed fails (the max); use the mean over the seeds."),
            (one_seed_fails, "That counts a gap as soon as one seed fails (the min); use the mean over the seeds."),
            (below_margin, "Compare with chance + margin, not with the margin alone: chance is 1/8 here."),
        ],
        hint="Walk through zip(sweep['gaps'], sweep['accuracy'][kind]), skip None (a gap not run), and keep the gaps "
             "where np.mean(accs) < sweep['chance'] + margin.",
    ),
    code='''def gaps_at_chance(sweep, kind, margin=0.1):
    at_chance = []
    for gap, accs in zip(sweep["gaps"], sweep["accuracy"][kind]):
        if accs is not None and np.mean(accs) < sweep["chance"] + margin:
            at_chance.append(gap)
    return at_chance''',
    explanation="Each entry of sweep['accuracy'][kind] holds one accuracy per seed, or None where that gap was not "
                "run. A gap whose mean is below chance + margin is one where the model has given out; an empty list "
                "means it never did within the sweep.",
    reference=lambda: gaps_at_chance,
    wrong=lambda: [passing_gaps, failing_indices, every_seed_fails, one_seed_fails, below_margin,
                   lambda sweep, kind, margin=0.1: [20]],
    answer_name="gaps_at_chance",
))


__all__ = ["gaps_at_chance", "bias_for_memory", "radius_outcome", "reference_step"]
