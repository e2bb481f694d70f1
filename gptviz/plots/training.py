"""Pictures of training (`gptviz.training`): the loss curves."""

from __future__ import annotations

from matplotlib.figure import Figure

from .style import PALETTE, REFERENCE, new_figure, styled


@styled
def loss_curves(history, baseline: float | None = None, title="Loss while training", ax=None,
                baseline_label: str = "bigram") -> Figure:
    """Training and validation loss against step (both measured at the same steps), with an optional baseline."""
    fig, ax = new_figure(7.0, 4.2, ax=ax)
    ax.plot(history["step"], history["train_loss"], "-o", color=PALETTE[0], label="training text", markersize=3)
    ax.plot(history["step"], history["val_loss"], "-s", color=PALETTE[1], label="validation (unseen plays)",
            markersize=3)
    level_label = None if baseline is None else f"{baseline_label} {baseline:.2f}"
    loss_axes(ax, title, "cross-entropy (nats per character)", baseline, level_label, xlabel="step",
              from_zero=False)
    return fig


@styled
def lr_curves(histories: dict, start: float | None = None, title="Three learning rates, the same model",
              ax=None) -> Figure:
    """Validation loss against step for each run (label -> History), on a log scale so a blow-up fits."""
    fig, ax = new_figure(7.0, 4.2, ax=ax)
    for i, (label, history) in enumerate(histories.items()):
        ax.semilogy(history["step"], history["val_loss"], "-o", color=PALETTE[i % len(PALETTE)], label=label,
                    markersize=3)
    loss_axes(ax, title, "validation loss (nats per character, log scale)", start,
              None if start is None else f"uniform guess {start:.2f}", xlabel="step", from_zero=False)
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


__all__ = ["loss_curves", "lr_curves"]
