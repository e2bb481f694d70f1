"""Pictures of positional encodings and the order-sensitive toy task (`gptviz.positions`)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .style import DIVERGING, PALETTE, REFERENCE, SEQUENTIAL, new_figure, new_panels, styled
from .training import loss_axes


@styled
def positional_heatmap(encoding, title="Positional encoding", ax=None, mark: int | None = None,
                       blocks: tuple[str, str] | None = None) -> Figure:
    """A (positions, n_embd) encoding as an image: one row per position, one column per dimension.

    `blocks` = (left name, right name) labels the two halves of the columns, e.g. ("sin", "cos") for a table
    rearranged by `gptviz.positions.sin_then_cos`, with a line between them."""
    encoding = np.asarray(encoding, dtype=float)
    if encoding.ndim != 2:
        raise ValueError(f"encoding must be (positions, n_embd), got shape {encoding.shape}")
    fig, ax = new_figure(8.0, 5.0, ax=ax)
    limit = np.percentile(np.abs(encoding), 99) or 1.0  # a few outliers should not wash out the rest
    image = ax.imshow(encoding, cmap=DIVERGING, vmin=-limit, vmax=limit, aspect="auto", interpolation="nearest")
    if mark is not None:
        ax.axhline(mark, color=PALETTE[7], linewidth=2.5)
    xlabel = "embedding dimension"
    if blocks is not None:
        half = encoding.shape[1] / 2
        ax.axvline(half - 0.5, color=PALETTE[7], linewidth=2)
        ax.set_xticks([half / 2, 1.5 * half], [f"{blocks[0]}: fast → slow", f"{blocks[1]}: fast → slow"])
        xlabel = "dimension pair i (the frequency ωᵢ falls from left to right in each half)"
    ax.set(xlabel=xlabel, ylabel="position in the sequence", title=title)
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
def similarity_matrices_figure(matrices: dict, title="Cosine similarity of every position's code to every other's"
                               ) -> Figure:
    """Position × position similarity matrices side by side: matrices = {name: (T, T) array}."""
    if not matrices:
        raise ValueError("matrices must map at least one name to a (T, T) array")
    fig, axes = new_panels(5.2 * len(matrices) + 0.8, 4.8, 1, len(matrices), squeeze=False)
    for ax, (name, matrix) in zip(axes[0], matrices.items(), strict=True):
        matrix = np.asarray(matrix, dtype=float)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"{name}: a similarity matrix must be square, got shape {matrix.shape}")
        image = ax.imshow(matrix, cmap=SEQUENTIAL, vmin=-0.2, vmax=1, interpolation="nearest")
        ax.set(xlabel="position", ylabel="position", title=name)
    fig.colorbar(image, ax=axes[0], shrink=0.85, label="cosine similarity", extend="min")
    fig.suptitle(title)
    return fig


@styled
def sweep_curves_figure(sweep: dict, settings, chance: float | None = None,
                        title="Every seed of the sweep: loss on the answer") -> Figure:
    """One panel per setting of an order-task sweep (gptviz.positions.order_task_sweep), one thin line per seed."""
    settings = list(settings)
    unknown = [name for name in settings if name not in sweep["runs"]]
    if unknown or not settings:
        raise ValueError(f"settings must be some of {list(sweep['runs'])}, got {settings!r}")
    fig, axes = new_panels(5.0 * len(settings) + 0.5, 4.0, 1, len(settings), squeeze=False, sharey=True)
    for ax, name in zip(axes[0], settings, strict=True):
        runs = sweep["runs"][name]
        for i, run in enumerate(runs):
            ax.plot(run["steps"], run["losses"], color=PALETTE[i % 6], linewidth=1.3, alpha=0.8)
        if chance is not None:
            ax.axhline(chance, **REFERENCE, label=f"guessing ({chance:.2f})")
            ax.legend(loc="upper right")
        learned = sum(run["accuracy"] > 0.9 for run in runs)
        ax.set(xlabel="training step", title=f"{name}: {learned} of {len(runs)} seeds learn it")
        ax.grid(True)
    axes[0][0].set_ylabel("loss on the answer (nats)")
    fig.suptitle(title)
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


__all__ = ["positional_heatmap", "similarity_by_offset_figure", "similarity_matrices_figure", "sweep_curves_figure",
           "task_curves_figure"]
