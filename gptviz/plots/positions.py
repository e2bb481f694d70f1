"""Pictures of positional encodings and the order-sensitive toy task (`gptviz.positions`)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .style import DIVERGING, PALETTE, new_figure, styled
from .training import loss_axes


@styled
def positional_heatmap(encoding, title="Positional encoding", ax=None, mark: int | None = None) -> Figure:
    """A (positions, n_embd) encoding as an image: one row per position, one column per dimension."""
    encoding = np.asarray(encoding, dtype=float)
    if encoding.ndim != 2:
        raise ValueError(f"encoding must be (positions, n_embd), got shape {encoding.shape}")
    fig, ax = new_figure(8.0, 5.0, ax=ax)
    limit = np.percentile(np.abs(encoding), 99) or 1.0  # a few outliers should not wash out the rest
    image = ax.imshow(encoding, cmap=DIVERGING, vmin=-limit, vmax=limit, aspect="auto", interpolation="nearest")
    if mark is not None:
        ax.axhline(mark, color=PALETTE[7], linewidth=2.5)
    ax.set(xlabel="embedding dimension", ylabel="position in the sequence", title=title)
    fig.colorbar(image, ax=ax, shrink=0.8, label="value added", extend="both")
    return fig


@styled
def similarity_by_offset_figure(curves: dict, title="How alike are two positions k apart?", ax=None) -> Figure:
    """Lines of mean cosine similarity against offset k: curves = {name: (offsets, similarity)}."""
    fig, ax = new_figure(7.5, 4.3, ax=ax)
    for name, (offsets, sims) in curves.items():
        ax.plot(offsets, sims, label=name)
    ax.axhline(0, color=PALETTE[7], linewidth=0.8)
    ax.set(xlabel="offset k between the two positions", ylabel="cosine similarity", title=title)
    ax.grid(True)
    ax.legend()
    return fig


@styled
def task_curves_figure(runs, chance: float | None = None, title="Learning 'which came first?'") -> Figure:
    """Loss against step for models trained on the toy task (gptviz.positions.WhichFirstRun), one line each."""
    fig, ax = new_figure(7.5, 4.3)
    for run in runs:
        ax.plot(run.steps, run.losses, label=f"{run.label}: {100 * run.accuracy:.0f}% right")
    guessing = None if chance is None else f"guessing ({chance:.2f})"
    loss_axes(ax, title, "loss on the answer (nats)", chance, guessing)
    return fig


__all__ = ["positional_heatmap", "similarity_by_offset_figure", "task_curves_figure"]
