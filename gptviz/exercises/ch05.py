"""Chapter 05's exercises: one sinusoidal entry by its formula, a rotary rotation written by hand, and a prediction
about moving a text along the positions."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..model import GPT, GPTConfig, apply_rope, sinusoidal_encoding
from ..positions import shift_logit_gap
from .core import Exercise, Wrong, register
from .kinds import describe, function, near, number, prediction, pretrained

POSITION, DIMENSION, SHIFT = 5, 6, 5


# 05.1 · one entry of the sinusoidal code

def sinusoid_entry(p: int = POSITION, dim: int = DIMENSION) -> float:
    model, _ = pretrained()
    return float(sinusoidal_encoding(p + 1, model.config.n_embd)[p, dim])


def width() -> int:
    return pretrained()[0].config.n_embd


register(Exercise(
    id="05.1",
    title=f"Compute PE[{POSITION}, {DIMENSION}] of the sinusoidal code by its formula",
    check=number(
        sinusoid_entry,
        why="sin(5 · 10000^(−6/192)) = {truth:.4f}: dimension 6 is the sine of pair i = 3, whose frequency is "
            "10000^(−2i/d) = 10000^(−6/192).",
        mistakes=[
            (lambda value, truth: near(value, math.cos(POSITION * 10000 ** (-DIMENSION / width()))),
             "That is the cosine: even dimensions (0, 2, 4, 6, ...) hold the sines, odd ones the cosines."),
            (lambda value, truth: near(value, math.sin(POSITION * 10000 ** (-2 * DIMENSION / width()))),
             "Dimension 6 belongs to pair i = 3, so the exponent is −2i/d = −6/d, not −12/d."),
            (lambda value, truth: near(value, math.sin(POSITION * 10000 ** (DIMENSION / width()))),
             "The exponent is negative: the frequencies fall from 1 towards 1/10000."),
            (lambda value, truth: near(value, math.sin(math.radians(POSITION * 10000 ** (-DIMENSION / width())))),
             "math.sin takes radians already: no conversion from degrees."),
        ],
        hint="PE[p, 2i] = sin(p · 10000^(−2i/d)) with d = model.config.n_embd; dimension 6 is 2i with i = 3.",
        rel=1e-3, abs_=1e-4,
    ),
    code="import math\n"
         f"p, dim, d = {POSITION}, {DIMENSION}, model.config.n_embd\n"
         "answer = math.sin(p * 10000 ** (-dim / d))  # dim = 2i is even: a sine",
    explanation="Pair i of the code holds sin(p·ωᵢ) in dimension 2i and cos(p·ωᵢ) in dimension 2i + 1, with "
                "ωᵢ = 10000^(−2i/d). Dimension 6 is the sine of pair 3: sin(5 · 10000^(−6/192)).",
    reference=sinusoid_entry,
    wrong=lambda: [math.cos(POSITION * 10000 ** (-DIMENSION / width())),
                   math.sin(POSITION * 10000 ** (-2 * DIMENSION / width())), "-0.57", 6],
))


# 05.2 · the rotation of RoPE, by hand

def rope_reference(x, p):
    """RoPE's rotation of one vector x (hs,) to position p, as the model applies it."""
    x = torch.as_tensor(x, dtype=torch.float32)
    return apply_rope(x.view(1, 1, 1, -1), torch.tensor([p])).view(-1)


def _rotated(x, p, theta, pairs="halves", sign=1.0):
    x = torch.as_tensor(x, dtype=torch.float32)
    half = x.numel() // 2
    angle = sign * p * theta
    if pairs == "halves":
        a, b = x[:half], x[half:]
        return torch.cat([a * angle.cos() - b * angle.sin(), a * angle.sin() + b * angle.cos()])
    a, b = x[0::2], x[1::2]  # neighbours (0, 1), (2, 3), ...
    out = torch.empty_like(x)
    out[0::2], out[1::2] = a * angle.cos() - b * angle.sin(), a * angle.sin() + b * angle.cos()
    return out


def _theta(hs, two=2):
    return 10000.0 ** (-two * torch.arange(hs // 2, dtype=torch.float32) / hs)


def rope_neighbours(x, p):
    return _rotated(x, p, _theta(len(x)), pairs="neighbours")


def rope_backwards(x, p):
    return _rotated(x, p, _theta(len(x)), sign=-1.0)


def rope_slow_theta(x, p):
    theta = 10000.0 ** (-torch.arange(len(x) // 2, dtype=torch.float32) / len(x))
    return _rotated(x, p, theta)


def rope_degrees(x, p):
    return _rotated(x, p, torch.deg2rad(_theta(len(x))))


def rope_inputs() -> list[tuple]:
    """Vectors of the task models' head size (16) and a small one, at position 0, near and far positions."""
    gen = torch.Generator().manual_seed(5)
    x16, x4 = torch.randn(16, generator=gen), torch.randn(4, generator=gen)
    return [(x16, 3), (x16, 0), (x4, 1), (x16, 100), (x4, 7)]


def same_vector(got, expected) -> bool:
    if hasattr(got, "detach"):
        got = got.detach().cpu().numpy()
    try:
        got = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        raise Wrong(f"expected a vector, got {describe(got)}") from None
    if got.shape != tuple(expected.shape):
        raise Wrong(f"expected a vector of shape {tuple(expected.shape)}, got shape {got.shape}")
    return bool(np.allclose(got, expected.numpy(), atol=1e-4))


register(Exercise(
    id="05.2",
    title="Write RoPE's rotation of one query or key vector",
    check=function(
        rope_reference, rope_inputs, name="rope_rotate", same=same_vector,
        why="your rotation is the model's: pair (i, i + hs/2) turned by p·θᵢ. Lengths are kept, position 0 is "
            "left alone, and q·k after rotation depends only on the offset (section 4 checks it).",
        mistakes=[
            (rope_neighbours, "You rotated neighbouring dimensions (0, 1), (2, 3), ... — the layout of the RoFormer "
                              "paper. This model pairs dimension i with i + hs/2, as LLaMA's code does."),
            (rope_backwards, "The rotation goes the wrong way: the first half becomes x1·cos − x2·sin, the second "
                             "x1·sin + x2·cos."),
            (rope_slow_theta, "The frequencies: θᵢ = 10000^(−2i/hs) for i = 0 .. hs/2 − 1, not 10000^(−i/hs)."),
            (rope_degrees, "torch.cos and torch.sin take radians: the angle is p·θᵢ as it stands."),
        ],
        hint="Split x into halves x1, x2; with θᵢ = 10000^(−2i/hs) and angles p·θᵢ return "
             "cat(x1·cos − x2·sin, x1·sin + x2·cos).",
    ),
    code='''def rope_rotate(x, p):
    half = x.numel() // 2
    theta = 10000.0 ** (-torch.arange(half) * 2 / x.numel())  # one frequency per pair (i, i + half)
    angle = p * theta
    x1, x2 = x[:half], x[half:]
    return torch.cat([x1 * angle.cos() - x2 * angle.sin(), x1 * angle.sin() + x2 * angle.cos()])''',
    explanation="RoPE treats dimensions i and i + hs/2 as the two coordinates of a point and turns it by the "
                "angle p·θᵢ: the fast pairs (small i) spin quickly with the position, the slow ones barely move. "
                "`gptviz.model.apply_rope` does the same for every head and position at once.",
    reference=lambda: rope_reference,
    wrong=lambda: [rope_neighbours, rope_backwards, rope_slow_theta, rope_degrees, lambda x, p: x, "rope_rotate"],
    answer_name="rope_rotate",
))


# 05.3 · predict, then measure: move a text along the positions

TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?"


def as_two_bools(guess):
    if not isinstance(guess, (tuple, list)) or len(guess) != 2 or not all(isinstance(g, bool) for g in guess):
        raise Wrong(f"answer with two booleans, (learned model changes?, RoPE model changes?), such as "
                    f"(True, False); got {describe(guess)}")
    return tuple(guess)


def rope_twin() -> GPT:
    """A model shaped like the shipped one but with pos_encoding='rope' (untrained: the property is structural)."""
    model, _ = pretrained()
    torch.manual_seed(0)
    return GPT(GPTConfig(**{**model.config.to_dict(), "pos_encoding": "rope"})).eval()


def measured_changes() -> tuple[float, float]:
    model, tok = pretrained()
    ids = torch.tensor([tok.encode(TEXT)])
    return shift_logit_gap(model, ids, SHIFT), shift_logit_gap(rope_twin(), ids, SHIFT)


def reveal_shift(guess) -> str:
    learned, rope = measured_changes()
    truth = (learned > 1e-3, rope > 1e-3)
    verdict = "your prediction matches both" if guess == truth else "the measurement differs from your prediction"
    return (f"moved {SHIFT} places along, the shipped model's logits change by up to {learned:.2g} and the RoPE "
            f"model's by {rope:.1g}: {verdict}. Learned codes are added per absolute position, so new positions "
            f"mean new inputs; RoPE only ever compares offsets, and moving every token keeps every offset.")


register(Exercise(
    id="05.3",
    title="Move a whole text 5 positions along: which model notices?",
    check=prediction(as_two_bools, reveal_shift),
    code="prediction = (True, False)  # (learned model's logits change?, RoPE model's logits change?)",
    explanation="The shipped model adds a learned vector per absolute position, so the same text at positions "
                "5..T+4 is a different input. RoPE rotates queries and keys so that every score depends on the "
                "offset between two tokens only; shifting all tokens together leaves every offset, every score "
                "and so every output as it was (`gptviz.positions.shift_logit_gap` measures both).",
    reference=lambda: (True, False),
    wrong=lambda: [(True,), "True, False", (1, 0), None],
    answer_name="prediction",
))
