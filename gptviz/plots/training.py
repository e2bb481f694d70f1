"""Pictures of training (`gptviz.training`): the loss curves."""

from __future__ import annotations

from matplotlib.figure import Figure

from .style import PALETTE, REFERENCE, new_figure, styled


@styled
def loss_curves(history, baseline: float | None = None, title="Loss while training", ax=None) -> Figure:
    """Training and validation loss against step, with an optional horizontal baseline."""
    fig, ax = new_figure(7.0, 4.2, ax=ax)
    ax.plot(history["step"], history["train_loss"], "-o", color=PALETTE[0], label="training", markersize=3)
    ax.plot(history["step"], history["val_loss"], "-s", color=PALETTE[1], label="validation", markersize=3)
    level_label = None if baseline is None else f"baseline {baseline:.2f}"
    loss_axes(ax, title, "cross-entropy (nats per token)", baseline, level_label, xlabel="step", from_zero=False)
    return fig


def loss_axes(ax, title: str, ylabel: str, level: float | None = None, level_label: str | None = None,
              xlabel: str = "training step", from_zero: bool = True) -> None:
    """Label an axes of loss against step, with an optional dashed reference level (a baseline, or guessing)."""
    if level is not None:
        ax.axhline(level, **REFERENCE, label=level_label)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    if from_zero:
        ax.set_ylim(0, None)
    ax.grid(True)
    ax.legend()


__all__ = ["loss_curves"]
