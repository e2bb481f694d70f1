"""Pictures for chapters 06 and 07: inside a block (parameters, logit lens, neurons, ablation),
and step-by-step versus all-at-once processing."""

from __future__ import annotations

import numpy as np
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from .core import FONT_SIZE, PALETTE, SEQUENTIAL, new_figure, slow_vs_fast_figure, token_label


def parameter_share_bars(groups: dict[str, int], title="Where the parameters are", ax=None) -> Figure:
    """Horizontal bars: parameters in each part of the model, with counts and shares."""
    if not groups or min(groups.values()) < 0:
        raise ValueError("groups must map part names to non-negative parameter counts")
    names, counts = list(groups), np.array(list(groups.values()), dtype=float)
    total = counts.sum()
    fig, ax = new_figure(7.5, 0.55 * len(names) + 1.4) if ax is None else (ax.figure, ax)
    colours = [PALETTE[1] if "MLP" in name else PALETTE[0] for name in names]
    bars = ax.barh(range(len(names)), counts, color=colours)
    ax.set_yticks(range(len(names)), names, fontsize=FONT_SIZE)
    ax.invert_yaxis()
    ax.bar_label(bars, [f"{c:,.0f}  ({c / total:.0%})" for c in counts], padding=4, fontsize=FONT_SIZE - 1)
    ax.set_xlim(0, counts.max() * 1.45)
    ax.set_xlabel("parameters", fontsize=FONT_SIZE)
    ax.set_title(f"{title} ({total:,.0f} in all)", fontsize=FONT_SIZE + 1)
    return fig


def logit_lens_grid(lens, vocabulary, title="Logit lens: the prediction after each block", ax=None) -> Figure:
    """Rows = stages (embedding, block 0, ...), columns = positions; colour = probability given to the
    character that really comes next; text = the stage's favourite next character."""
    probs = np.asarray(lens.probs)  # (stages, T, V)
    stages, T, V = probs.shape
    if V != len(vocabulary):
        raise ValueError(f"lens has {V} vocabulary entries, vocabulary has {len(vocabulary)}")
    target = np.full((stages, T), np.nan)
    target[:, : T - 1] = lens.target_probs
    fig, ax = new_figure(min(16.0, 2.5 + 0.42 * T), 1.0 + 0.55 * stages + 1.2) if ax is None else (ax.figure, ax)
    image = ax.imshow(target, cmap=SEQUENTIAL, vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    best = probs.argmax(-1)
    for s in range(stages):
        for t in range(T):
            value = target[s, t]
            colour = "black" if (not np.isnan(value) and value > 0.6) else "white"
            ax.text(t, s, token_label(vocabulary[best[s, t]]), ha="center", va="center", fontsize=FONT_SIZE - 2,
                    color=colour, family="monospace")
    ax.set_xticks(range(T), [token_label(c) for c in lens.tokens], fontsize=FONT_SIZE - 1, family="monospace")
    ax.set_yticks(range(stages), ["embedding"] + [f"after block {i}" for i in range(stages - 1)],
                  fontsize=FONT_SIZE - 1)
    ax.set_xlabel("input character (each column predicts the one to its right)", fontsize=FONT_SIZE)
    ax.set_title(title, fontsize=FONT_SIZE + 1)
    fig.colorbar(image, ax=ax, shrink=0.9, label="p(true next char)")
    return fig


def lens_loss_bars(losses, baseline: float | None = None, title="Loss of the prediction read after each stage",
                   labels=None, ax=None) -> Figure:
    """Bars of the logit-lens loss at each stage (embedding, after block 0, ...), lower is better."""
    losses = np.asarray(losses, dtype=float)
    labels = ["embedding"] + [f"block {i}" for i in range(len(losses) - 1)] if labels is None else list(labels)
    if len(labels) != len(losses):
        raise ValueError(f"labels must have one entry per loss ({len(losses)}), got {len(labels)}")
    fig, ax = new_figure(7.0, 4.0) if ax is None else (ax.figure, ax)
    bars = ax.bar(range(len(losses)), losses, color=PALETTE[0])
    ax.bar_label(bars, [f"{v:.2f}" for v in losses], padding=3, fontsize=FONT_SIZE - 1)
    if baseline is not None:
        ax.axhline(baseline, color=PALETTE[7], linestyle="--", linewidth=1.2, label=f"bigram counts {baseline:.2f}")
        ax.legend(fontsize=FONT_SIZE - 1)
    ax.set_xticks(range(len(losses)), labels, fontsize=FONT_SIZE - 1)
    ax.set_ylabel("cross-entropy (nats per char)", fontsize=FONT_SIZE)
    ax.set_ylim(0, losses.max() * 1.15)
    ax.set_title(title, fontsize=FONT_SIZE + 1)
    return fig


def neuron_text(text: str, activation, title="Neuron activation", width: int = 60, ax=None) -> Figure:
    """The text laid out in a monospace grid, each character on a patch coloured by the neuron's activation."""
    activation = np.asarray(activation, dtype=float)
    if len(activation) != len(text):
        raise ValueError(f"activation must have one value per character ({len(text)}), got {len(activation)}")
    rows, cols = [[]], [[]]  # characters and activations per display row (break at newlines and width)
    for char, value in zip(text, activation, strict=True):
        rows[-1].append(char)
        cols[-1].append(value)
        if char == "\n" or len(rows[-1]) == width:
            rows.append([])
            cols.append([])
    if not rows[-1]:
        rows.pop()
        cols.pop()
    grid = np.full((len(rows), width), np.nan)
    for r, values in enumerate(cols):
        grid[r, : len(values)] = values
    fig, ax = new_figure(0.16 * width + 1.6, 0.3 * len(rows) + 1.2) if ax is None else (ax.figure, ax)
    norm = Normalize(vmin=min(0.0, np.nanmin(grid)), vmax=max(np.nanmax(grid), 1e-6))
    image = ax.imshow(grid, cmap=SEQUENTIAL, norm=norm, aspect="auto", interpolation="nearest")
    for r, chars in enumerate(rows):
        for c, char in enumerate(chars):
            colour = "black" if norm(grid[r, c]) > 0.6 else "white"
            shown = " " if char == " " else token_label(char)  # plain spaces read better in prose
            ax.text(c, r, shown, ha="center", va="center", fontsize=FONT_SIZE - 1, color=colour, family="monospace")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=FONT_SIZE + 1)
    fig.colorbar(image, ax=ax, shrink=0.8, label="activation")
    return fig


def neuron_histogram(in_context, elsewhere, context: str, auc: float | None = None,
                     title: str | None = None, ax=None) -> Figure:
    """Distributions of one neuron's activation inside a context and at comparable positions outside it."""
    in_context, elsewhere = np.asarray(in_context, dtype=float), np.asarray(elsewhere, dtype=float)
    fig, ax = new_figure(6.5, 3.8) if ax is None else (ax.figure, ax)
    bins = np.linspace(min(in_context.min(), elsewhere.min()), max(in_context.max(), elsewhere.max()), 40)
    ax.hist(elsewhere, bins=bins, density=True, alpha=0.6, color=PALETTE[0], label="elsewhere")
    ax.hist(in_context, bins=bins, density=True, alpha=0.6, color=PALETTE[1], label=context)
    ax.set_xlabel("activation after GELU", fontsize=FONT_SIZE)
    ax.set_ylabel("density", fontsize=FONT_SIZE)
    score = "" if auc is None else f" (AUC {auc:.2f})"
    ax.set_title((title or f"Neuron for '{context}'") + score, fontsize=FONT_SIZE + 1)
    ax.legend(fontsize=FONT_SIZE - 1)
    return fig


def ablation_bars(losses: dict[str, float], title="Validation loss with feed-forward networks switched off",
                  ax=None) -> Figure:
    """Horizontal bars of loss per condition; the first entry (the full model) is the reference line."""
    names, values = list(losses), np.array(list(losses.values()), dtype=float)
    fig, ax = new_figure(7.5, 0.55 * len(names) + 1.5) if ax is None else (ax.figure, ax)
    colours = [PALETTE[2]] + [PALETTE[3] if "all" in n else PALETTE[1] for n in names[1:]]
    bars = ax.barh(range(len(names)), values, color=colours)
    ax.set_yticks(range(len(names)), names, fontsize=FONT_SIZE)
    ax.invert_yaxis()
    ax.axvline(values[0], color=PALETTE[7], linestyle="--", linewidth=1)
    ax.bar_label(bars, [f"{v:.2f}" for v in values], padding=3, fontsize=FONT_SIZE - 1)
    ax.set_xlim(0, values.max() * 1.18)
    ax.set_xlabel("cross-entropy on held-out plays (nats per char)", fontsize=FONT_SIZE)
    ax.set_title(title, fontsize=FONT_SIZE + 1)
    return fig


def loop_vs_parallel_figure(timings: dict, title="Step by step (RNN) vs all at once (attention)") -> Figure:
    """Left: time against sequence length for both (log-log). Right: how many times slower the loop is."""
    return slow_vs_fast_figure(
        timings["lengths"], timings["loop_seconds"], timings["parallel_seconds"],
        slow_label="RNN: a loop over the steps", fast_label="masked attention: one pass",
        xlabel="sequence length (tokens)", ratio_label="loop time / attention time",
        left_title="Time to process one batch", ratio_title="How many times slower the loop is", title=title, log=True)


__all__ = ["ablation_bars", "lens_loss_bars", "logit_lens_grid", "loop_vs_parallel_figure", "neuron_histogram",
           "neuron_text", "parameter_share_bars"]
