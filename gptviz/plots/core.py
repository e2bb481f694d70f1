"""Shared look and the basic pictures: attention heatmap, next-token bars, loss curves."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

try:  # in Jupyter, loading the inline backend is what makes a Figure display as a PNG (no pyplot needed)
    import matplotlib_inline.backend_inline  # noqa: F401
except ImportError:  # plain Python: figures are saved, not displayed
    pass

SEQUENTIAL = "viridis"  # perceptually uniform, colour-blind safe, survives a projector
DIVERGING = "PuOr_r"  # colour-blind safe for signed values
# Okabe & Ito (2008) colour-blind-safe palette, for lines and bars
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
FONT_SIZE = 12


def new_figure(width=7.0, height=4.5, **kwargs) -> tuple[Figure, Axes]:
    """A figure sized for a laptop screen, with the suite's fonts; not registered with pyplot."""
    fig = Figure(figsize=(width, height), layout="constrained")
    ax = fig.add_subplot(111, **kwargs)
    return fig, ax


def token_label(token: str) -> str:
    """A visible label for a token: newline as ⏎, space as ␣."""
    return {"\n": "⏎", " ": "␣", "\t": "⇥"}.get(token, token)


def attention_heatmap(weights, tokens, title="Attention weights", ax=None) -> Figure:
    """Heatmap of a (T, T) attention matrix: row = the token attending, column = the token attended to."""
    weights = np.asarray(weights)
    labels = [token_label(t) for t in tokens]
    if weights.shape != (len(labels), len(labels)):
        n = len(labels)
        raise ValueError(f"weights must be ({n}, {n}) for {n} tokens, got {weights.shape}")
    size = min(9.0, 2.5 + 0.22 * len(labels))
    fig, ax = new_figure(size + 1.2, size) if ax is None else (ax.figure, ax)
    image = ax.imshow(weights, cmap=SEQUENTIAL, vmin=0, vmax=1, interpolation="nearest")
    height_inches = fig.get_figheight() * ax.get_position().height
    fits = max(2, int(height_inches * 72 / (FONT_SIZE * 1.2)))  # labels that fit without overlapping
    step = -(-len(labels) // fits)
    ticks = np.arange(0, len(labels), step)
    ax.set_xticks(ticks, [labels[i] for i in ticks], fontsize=FONT_SIZE - 1)
    ax.set_yticks(ticks, [labels[i] for i in ticks], fontsize=FONT_SIZE - 1)
    ax.set_xlabel("attends to (key position)", fontsize=FONT_SIZE)
    ax.set_ylabel("token attending (query position)", fontsize=FONT_SIZE)
    ax.set_title(title, fontsize=FONT_SIZE + 1)
    fig.colorbar(image, ax=ax, shrink=0.8, label="weight")
    return fig


def next_token_bars(probs, vocabulary, top=10, title="Next-token probabilities", ax=None) -> Figure:
    """Horizontal bars of the `top` most likely next tokens, most likely on top."""
    probs = np.asarray(probs, dtype=float)
    if probs.shape != (len(vocabulary),):
        raise ValueError(f"probs must have one entry per vocabulary token ({len(vocabulary)}), got {probs.shape}")
    if not 1 <= top <= len(vocabulary):
        raise ValueError(f"top must be between 1 and {len(vocabulary)}, got {top}")
    order = np.argsort(-probs, kind="stable")[:top][::-1]
    fig, ax = new_figure(6.0, 0.35 * top + 1.4) if ax is None else (ax.figure, ax)
    bars = ax.barh(range(top), probs[order], color=PALETTE[0])
    ax.set_yticks(range(top), [repr(token_label(vocabulary[i]))[1:-1] for i in order], fontsize=FONT_SIZE)
    ax.bar_label(bars, [f"{p:.1%}" for p in probs[order]], padding=3, fontsize=FONT_SIZE - 2)
    ax.set_xlim(0, min(1.0, probs[order].max() * 1.25 + 0.02))
    ax.set_xlabel("probability", fontsize=FONT_SIZE)
    ax.set_title(title, fontsize=FONT_SIZE + 1)
    return fig


def loss_curves(history, baseline: float | None = None, title="Loss while training", ax=None) -> Figure:
    """Training and validation loss against step, with an optional horizontal baseline."""
    fig, ax = new_figure(7.0, 4.2) if ax is None else (ax.figure, ax)
    ax.plot(history["step"], history["train_loss"], "-o", color=PALETTE[0], label="training", markersize=3)
    ax.plot(history["step"], history["val_loss"], "-s", color=PALETTE[1], label="validation", markersize=3)
    if baseline is not None:
        ax.axhline(baseline, color=PALETTE[7], linestyle="--", linewidth=1, label=f"baseline {baseline:.2f}")
    ax.set_xlabel("step", fontsize=FONT_SIZE)
    ax.set_ylabel("cross-entropy (nats per token)", fontsize=FONT_SIZE)
    ax.set_title(title, fontsize=FONT_SIZE + 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=FONT_SIZE - 1)
    return fig


def slow_vs_fast_figure(lengths, slow_seconds, fast_seconds, *, slow_label: str, fast_label: str, xlabel: str,
                        ratio_label: str, left_title: str, ratio_title: str, title: str, log: bool = False) -> Figure:
    """Left: the time of a slow and a fast way against length. Right: how many times slower the slow one is."""
    lengths = np.asarray(lengths)
    ratio = np.asarray(slow_seconds) / np.asarray(fast_seconds)
    fig = Figure(figsize=(12.0, 4.4), layout="constrained")
    left, right = fig.subplots(1, 2)
    draw = left.loglog if log else left.plot
    draw(lengths, np.asarray(slow_seconds) * 1e3, "-o", color=PALETTE[3], label=slow_label)
    draw(lengths, np.asarray(fast_seconds) * 1e3, "-s", color=PALETTE[0], label=fast_label)
    left.set_ylabel("CPU time (ms)", fontsize=FONT_SIZE)
    left.set_title(left_title, fontsize=FONT_SIZE + 1)
    left.legend(fontsize=FONT_SIZE - 1)
    (right.semilogx if log else right.plot)(lengths, ratio, "-o", color=PALETTE[2])
    right.axhline(1.0, color=PALETTE[7], linestyle="--", linewidth=1)
    right.set_ylim(0, ratio.max() * 1.15)
    right.set_ylabel(ratio_label, fontsize=FONT_SIZE)
    right.set_title(ratio_title, fontsize=FONT_SIZE + 1)
    for ax in (left, right):
        ax.set_xlabel(xlabel, fontsize=FONT_SIZE)
        ax.grid(alpha=0.3, which="both")
        if log:  # label the measured lengths themselves, not powers of ten
            ax.set_xticks(lengths, [str(n) for n in lengths])
            ax.minorticks_off()
    fig.suptitle(title, fontsize=FONT_SIZE + 2)
    return fig


__all__ = ["SEQUENTIAL", "DIVERGING", "PALETTE", "new_figure", "token_label", "attention_heatmap",
           "next_token_bars", "loss_curves", "slow_vs_fast_figure"]
