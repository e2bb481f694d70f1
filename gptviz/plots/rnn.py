"""Pictures for `gptviz.rnn` (chapter 02): gradients through time, accuracy against the gap, LSTM gates,
spectral radius."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from .style import DIVERGING, PALETTE, REFERENCE, new_figure, new_panels, styled, token_label
from .training import loss_axes

# one colour per model, the same in every picture of the chapter
KIND_COLOURS = {"rnn": PALETTE[3], "lstm": PALETTE[0], "transformer": PALETTE[2]}
KIND_LABELS = {"rnn": "tanh RNN", "lstm": "LSTM", "transformer": "transformer"}
KIND_MARKERS = {"rnn": "o", "lstm": "s", "transformer": "^"}


EXTRA_COLOURS = [PALETTE[4], PALETTE[1], PALETTE[5], PALETTE[7]]  # for lines that are not one of the three models


def _style(key: str, index: int):
    colour = KIND_COLOURS.get(key, EXTRA_COLOURS[index % len(EXTRA_COLOURS)])
    return colour, KIND_LABELS.get(key, key), KIND_MARKERS.get(key, "D")


@styled
def gradient_vs_distance(profiles: dict, title="How far back the error signal reaches", mark: int | None = None,
                         ylim=None, colours: dict | None = None, ax=None) -> Figure:
    """Log-scale ||dloss/dh|| against distance from the loss, one line per model.

    profiles: {kind or label: array (D,)}, entry d the gradient d steps before the loss.
    mark: a distance to draw as a dotted vertical line (where the letter to recall sits).
    colours: optional {key: colour} for keys that are not "rnn", "lstm" or "transformer".
    """
    if not profiles:
        raise ValueError("profiles must hold at least one gradient profile")
    fig, ax = new_figure(7.0, 4.4, ax=ax)
    for index, (key, values) in enumerate(profiles.items()):
        values = np.asarray(values, dtype=float)
        if values.ndim != 1:
            raise ValueError(f"profile {key!r} must be one-dimensional, got shape {values.shape}")
        colour, label, _ = _style(key, index)
        colour = (colours or {}).get(key, colour)
        ax.plot(np.arange(len(values)), np.where(values > 0, values, np.nan), color=colour, label=label)
    if mark is not None:
        ax.axvline(mark, color=PALETTE[7], linestyle=":", linewidth=1.2)
        ax.annotate("the letter", (mark, 1), xycoords=("data", "axes fraction"), xytext=(-4, -14),
                    textcoords="offset points", ha="right")
    ax.set_yscale("log")
    if ylim is not None:
        ax.set_ylim(*ylim)
    _gradient_axes(ax, title)
    return fig


def _gradient_axes(ax, title: str) -> None:
    ax.set(xlabel="distance from the loss (steps back)", ylabel="‖∂loss/∂h‖  (log scale)", title=title)
    ax.grid(True, which="major")
    ax.legend(loc="lower left")


@styled
def gradient_panels(before: dict, after: dict, mark: int | None = None) -> Figure:
    """Gradient against distance at initialisation (left) and after training (right), same log axis."""
    fig, (left, right) = new_panels(12.5, 4.6, 1, 2, sharey=True)
    gradient_vs_distance(before, "At initialisation", mark=mark, ax=left)
    gradient_vs_distance(after, "After training", mark=mark, ax=right)
    right.set_ylabel("")
    return fig


@styled
def accuracy_vs_gap(sweep: dict, live: dict | None = None, title="Recall the letter after a gap") -> Figure:
    """Accuracy against the gap (log axis) for each model: the shipped sweep's mean and seed range, chance drawn.

    sweep: {"gaps": [...], "chance": float, "steps": int, "accuracy": {kind: [[acc per seed] or None per gap]}}.
    live: optional {kind: {gap: accuracy}} from this session, drawn as large open markers.
    """
    gaps = np.asarray(sweep["gaps"], dtype=float)
    fig, ax = new_figure(9.0, 4.6)
    for index, (kind, per_gap) in enumerate(sweep["accuracy"].items()):
        if len(per_gap) != len(gaps):
            raise ValueError(f"sweep accuracy for {kind!r} has {len(per_gap)} gaps, expected {len(gaps)}")
        ran = [i for i, accs in enumerate(per_gap) if accs is not None]  # None: that gap was not run
        accs = np.asarray([per_gap[i] for i in ran], dtype=float)  # (n_run, n_seeds)
        colour, label, marker = _style(kind, index)
        ax.fill_between(gaps[ran], accs.min(axis=1), accs.max(axis=1), color=colour, alpha=0.15, linewidth=0)
        ax.plot(gaps[ran], accs.mean(axis=1), marker=marker, color=colour, label=label)
    for index, (kind, points) in enumerate((live or {}).items()):
        colour, label, marker = _style(kind, index)
        xs = sorted(points)
        ax.plot(xs, [points[g] for g in xs], linestyle="none", marker=marker, markersize=13, markerfacecolor="none",
                markeredgewidth=2, color=colour)
    if live:
        ax.plot([], [], linestyle="none", marker="o", markersize=13, markerfacecolor="none", markeredgewidth=2,
                color=PALETTE[7], label="large open marker:\ntrained just now")
    chance = sweep["chance"]
    ax.axhline(chance, **REFERENCE)
    ax.annotate(f"chance = 1/{round(1 / chance)}", (gaps[0], chance), xytext=(0, 4), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xticks(gaps, [str(int(g)) for g in gaps])
    ax.minorticks_off()
    steps = f"\n{sweep['steps']} training steps per run; band = range over seeds" if "steps" in sweep else ""
    ax.set(xlabel="gap (distractor steps between the letter and the question)", ylabel="accuracy", ylim=(0, 1.05),
           title=title + steps)
    ax.grid(True)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


@styled
def task_losses(losses: dict, chance_loss: float | None = None, title="Training loss on the memory task",
                smooth: int = 10) -> Figure:
    """Training loss against step for several runs ({label: losses}), smoothed over `smooth` steps."""
    if not isinstance(smooth, int) or smooth < 1:
        raise ValueError(f"smooth must be a positive integer, got {smooth!r}")
    fig, ax = new_figure(7.0, 4.2)
    for index, (key, values) in enumerate(losses.items()):
        values = np.asarray(values, dtype=float)
        width = min(smooth, len(values))
        smoothed = np.convolve(values, np.ones(width) / width, mode="valid")
        colour, label, _ = _style(key.split()[0] if isinstance(key, str) else key, index)
        ax.plot(np.arange(width, len(values) + 1), smoothed, color=colour, label=label)
    guessing = None if chance_loss is None else f"guessing: {chance_loss:.2f}"
    loss_axes(ax, title, "cross-entropy (nats)", chance_loss, guessing)
    return fig


@styled
def lstm_gates(gates: dict, tokens: str, cell=None, order=None, title="What the LSTM keeps and forgets",
               cell_title="cell state c (the memory)") -> Figure:
    """Heatmaps (units x steps) of the input, forget and output gates for one sequence, and a cell-state panel.

    gates: {"input", "forget", "output": array (T, H)}; cell: optional (T, H) array drawn under `cell_title`;
    order: optional unit order (default: the units that keep most, highest mean forget gate, on top).
    """
    names = [name for name in ("input", "forget", "output") if name in gates]
    if not names:
        raise ValueError("gates must contain at least one of 'input', 'forget', 'output'")
    arrays = {name: np.asarray(gates[name], dtype=float) for name in names}
    T, H = arrays[names[0]].shape
    if len(tokens) != T or any(a.shape != (T, H) for a in arrays.values()):
        raise ValueError(f"every gate must be (len(tokens), H) = ({len(tokens)}, H)")
    if order is None:
        order = np.argsort(-arrays.get("forget", arrays[names[0]]).mean(axis=0), kind="stable")
    panels = names + (["cell"] if cell is not None else [])
    fig, axes = new_panels(min(14.0, 3.5 + 0.17 * T), 1.0 + 2.0 * len(panels), len(panels), 1, sharex=True,
                           squeeze=False)
    axes = axes[:, 0]
    labels = [token_label(t) for t in tokens]
    step = max(1, math.ceil(T / 60))
    for ax, name in zip(axes, panels, strict=True):
        if name == "cell":
            values = np.asarray(cell, dtype=float)[:, order].T
            bound = max(1e-6, float(np.abs(values).max()))
            image = ax.imshow(values, aspect="auto", cmap=DIVERGING, vmin=-bound, vmax=bound, interpolation="nearest")
            ax.set_title(cell_title, loc="left")
        else:
            image = ax.imshow(arrays[name][:, order].T, aspect="auto", vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(f"{name} gate (0 = shut, 1 = open)", loc="left")
        ax.set_ylabel("unit")
        ax.set_yticks([])
        fig.colorbar(image, ax=ax, pad=0.01, aspect=8)
    ticks = np.arange(0, T, step)
    axes[-1].set_xticks(ticks, [labels[i] for i in ticks])
    axes[-1].set_xlabel("input token (time →)")
    fig.suptitle(title)
    return fig


@styled
def letter_memory_curves(memories: dict, title="Does the state still know the first letter?", ax=None) -> Figure:
    """Log-scale spread of the hidden state over the eight possible letters, against the step ({kind: (T,)}).

    The spread at a step: the standard deviation of each unit over the eight letters (same digits), averaged over units.
    """
    if not memories:
        raise ValueError("memories must hold at least one curve")
    fig, ax = new_figure(7.0, 4.2, ax=ax)
    for index, (key, values) in enumerate(memories.items()):
        values = np.asarray(values, dtype=float)
        colour, label, _ = _style(key, index)
        ax.plot(np.arange(len(values)), np.where(values > 0, values, np.nan), color=colour, label=label)
    ax.set_yscale("log")
    ax.set(xlabel="steps after the letter (0 = the letter, last = the question mark)",
           ylabel="spread of h: std over the 8 letters,\nmean over units (log scale)", title=title)
    ax.grid(True)
    ax.legend(loc="lower left")
    return fig


@styled
def spectral_radius_plot(profile, radius: float, ylim=(1e-20, 1e8), ax=None) -> Figure:
    """One random tanh RNN's gradient against distance, beside the linear prediction radius**d."""
    profile = np.asarray(profile, dtype=float)
    fig, ax = new_figure(7.0, 4.4, ax=ax)
    distance = np.arange(len(profile))
    ax.plot(distance, np.where(profile > 0, profile, np.nan), color=KIND_COLOURS["rnn"], label="tanh RNN, measured")
    with np.errstate(divide="ignore", over="ignore"):
        ax.plot(distance, profile[0] * float(radius) ** distance, **REFERENCE,
                label=f"{radius:.2f}^d: linear theory (no tanh)")
    ax.axhline(profile[0], color=PALETTE[5], linewidth=1.2, label="size at the loss (no decay)")
    ax.set_yscale("log")
    ax.set_ylim(*ylim)
    verdict = "vanishes" if profile[-1] < 1e-3 * profile[0] else "explodes" if profile[-1] > 1e3 * profile[0] else \
        "survives"
    _gradient_axes(ax, f"Spectral radius {radius:.2f}: the gradient {verdict}")
    return fig


__all__ = ["KIND_COLOURS", "KIND_LABELS", "gradient_vs_distance", "gradient_panels", "accuracy_vs_gap",
           "task_losses", "lstm_gates", "letter_memory_curves", "spectral_radius_plot"]
