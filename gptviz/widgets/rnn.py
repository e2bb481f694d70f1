"""Chapter 02 explorers: drag the recurrent weight scale and the gap, watch the gradient and the gates."""

from __future__ import annotations

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure

from ..bptt import random_rnn_gradient
from ..plots.rnn import lstm_gates, spectral_radius_plot
from ..rnn import SYMBOLS, decode, every_letter, letter_memory, memory_task
from .core import check_float, check_int, explorer


def radius_figure(radius: float, gap: int, hidden_size: int = 64, seed: int = 0) -> Figure:
    """Gradient against distance for a random tanh RNN with this spectral radius, over gap + 2 steps."""
    profile = random_rnn_gradient(radius, gap, hidden_size=hidden_size, seed=seed)
    return spectral_radius_plot(profile, radius)


def vanishing_gradient_explorer(radius: float = 0.9, gap: int = 60) -> widgets.VBox:
    """Sliders for the recurrent matrix's spectral radius and the gap; the measured gradient through time."""
    radius, gap = check_float("radius", radius, 0.3, 2.0), check_int("gap", gap, 5, 200)  # the sliders' ranges
    controls = {
        "radius": widgets.FloatSlider(value=radius, min=0.3, max=2.0, step=0.05, description="spectral radius",
                                      continuous_update=False, style={"description_width": "initial"}),
        "gap": widgets.IntSlider(value=gap, min=5, max=200, step=5, description="gap", continuous_update=False),
    }
    return explorer(controls, radius_figure)


def gates_figure(lstm, gap: int, example: int = 0) -> Figure:
    """The trained LSTM's gates on one memory-task sequence of this gap, with its answer, and the part of its cell
    state that depends on the letter: c minus the mean of c over the same digits with each of the eight letters.

    Units are sorted so that those whose state depends most on the letter at the end are on top.
    """
    ids, position = every_letter(gap, example)  # (8, T): the sequence written with each letter
    target = memory_task(1, gap, torch.Generator().manual_seed(example))[1].item()  # the sequence's own letter
    with torch.no_grad():
        run = lstm.unroll(ids)
    answer = SYMBOLS[run.logits[target].argmax().item()]
    verdict = "right" if answer == SYMBOLS[target] else "wrong"
    gates = {name: value[target] for name, value in run.gates.items()}  # (T, H) each
    cells = torch.stack(run.cells, dim=1)  # (8, T, H)
    letter_part = cells[target] - cells.mean(dim=0)  # (T, H): zero before the letter
    order = letter_memory(lstm, gap, example)[-1].argsort()[::-1]
    text = decode(ids[target])
    shown = text[: position + 12] + ("…" if len(text) > position + 13 else "") + "?"
    title = f"LSTM on '{shown}'  gap {gap}: answers {answer} ({verdict})"
    return lstm_gates(gates, text, cell=letter_part, order=order.copy(), title=title,
                      cell_title="cell state c minus its mean over the 8 letters: the part that depends on the letter")


def gate_explorer(lstm, gap: int = 50, max_gap: int = 150) -> widgets.VBox:
    """Sliders for the gap and the example: the LSTM's gates over time (does it still hold the letter?)."""
    max_gap = check_int("max_gap", max_gap, 1)
    gap = check_int("gap", gap, 1, max_gap)
    controls = {
        "gap": widgets.IntSlider(value=gap, min=1, max=max_gap, step=1, description="gap", continuous_update=False),
        "example": widgets.IntSlider(value=0, min=0, max=20, description="example", continuous_update=False),
    }
    return explorer(controls, lambda gap, example: gates_figure(lstm, gap, example))


__all__ = ["radius_figure", "vanishing_gradient_explorer", "gates_figure", "gate_explorer"]
