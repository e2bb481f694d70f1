"""Gradients through time: how much the loss at the end of a sequence reaches back to each earlier step.

Backpropagation through time multiplies one Jacobian per step, so in a tanh RNN the gradient shrinks (or grows)
geometrically with distance; an LSTM's forget gate and a transformer's direct attention paths keep it alive.
These functions measure it on the models and the memory task of `gptviz.rnn`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
from torch.nn import functional as F

from .model import GPT, evaluating
from .rnn import RecurrentModel, _check_int, _check_kind, final_logits, make_model, memory_task, set_spectral_radius


def gradient_through_time(model: nn.Module, ids, targets) -> np.ndarray:
    """||dloss/dh_t|| for t = 0..T-1 (mean over the batch), the loss being cross-entropy at the last step.

    h_t is the RNN's or LSTM's hidden state after reading token t; for the transformer it is token t's
    vector as it enters the first block (embedding plus position). Index T-1-t is the distance from the loss.
    """
    ids = torch.as_tensor(ids)
    targets = torch.as_tensor(targets)
    if ids.dim() != 2 or targets.shape != (ids.size(0),):
        raise ValueError(f"ids must be (B, T) and targets (B,), got {tuple(ids.shape)} and {tuple(targets.shape)}")
    with evaluating(model):
        if isinstance(model, GPT):
            captured = []
            hook = model.drop.register_forward_hook(lambda _m, _i, out: captured.append(out))
            try:
                logits = final_logits(model, ids)
            finally:
                hook.remove()
            states = [captured[0]]  # (B, T, C)
        else:
            out = model.unroll(ids)
            logits, states = out.logits, out.hidden
        loss = F.cross_entropy(logits, targets, reduction="sum")  # sum: each example's own gradient
        grads = torch.autograd.grad(loss, states)
    if isinstance(model, GPT):
        norms = grads[0].norm(dim=-1)  # (B, T)
    else:
        norms = torch.stack([g.norm(dim=-1) for g in grads], dim=1)  # (B, T)
    return norms.mean(dim=0).detach().numpy()


def gradient_by_distance(model: nn.Module, gap: int, n: int = 256, seed: int = 4321) -> np.ndarray:
    """||dloss/dh|| against distance from the loss: entry d is the step d tokens before the "?", for d = 0 (the
    "?") to gap + 1 (the letter)."""
    _check_int("n", n, 1)
    ids, targets = memory_task(n, gap, torch.Generator().manual_seed(seed))
    return gradient_through_time(model, ids, targets)[::-1][: gap + 2].copy()


def random_rnn(radius: float, hidden_size: int = 64, seed: int = 0) -> RecurrentModel:
    """An untrained tanh RNN with a random Gaussian recurrent matrix (the textbook picture) of spectral radius
    `radius`."""
    model = make_model("rnn", 0, seed, hidden_size=hidden_size)
    with torch.no_grad():
        model.core.weight_hh_l0.normal_(0, 1 / math.sqrt(hidden_size))
    return set_spectral_radius(model, radius)


def matrix_sizes(model: RecurrentModel) -> tuple[float, float]:
    """(spectral radius, largest singular value) of the recurrent matrix W_hh (the whole matrix, all gates)."""
    w = model.core.weight_hh_l0.detach().double()
    return float(torch.linalg.eigvals(w).abs().max()), float(torch.linalg.matrix_norm(w, ord=2))


def random_rnn_gradient(radius: float, length: int, hidden_size: int = 64, seed: int = 0, n: int = 64) -> np.ndarray:
    """Gradient against distance for an untrained tanh RNN whose recurrent matrix has spectral radius `radius`."""
    _check_int("length", length, 1, 1000)
    model = random_rnn(radius, hidden_size, seed)
    return gradient_by_distance(model.double(), length, n=n)  # float64: 0.5**100 would underflow float32


def letter_vs_digits(profile, gap: int) -> float:
    """Gradient at the letter (distance gap + 1) over the median gradient at the digits between (1..gap)."""
    profile = np.asarray(profile, dtype=float)
    if profile.shape != (gap + 2,):
        raise ValueError(f"profile must have gap + 2 = {gap + 2} entries, got shape {profile.shape}")
    return float(profile[gap + 1] / np.median(profile[1:gap + 1]))


def letter_gradient_at_init(kind: str, gaps, seed: int = 0, n: int = 32) -> dict[int, float]:
    """{gap: ||dloss/dh|| at the letter} for a fresh, untrained model of this kind at each gap (float64 for the RNN,
    whose values underflow float32)."""
    _check_kind(kind)
    result = {}
    for gap in gaps:
        model = make_model(kind, gap, seed)
        model = model.double() if kind == "rnn" else model
        result[gap] = float(gradient_by_distance(model, gap, n=n)[gap + 1])
    return result


__all__ = ["gradient_through_time", "gradient_by_distance", "random_rnn", "matrix_sizes", "random_rnn_gradient",
           "letter_vs_digits", "letter_gradient_at_init"]
