"""Pictures of `gptviz.sampling`, from logits to the next token: the next-token distribution, temperature,
top-k, top-p, and generation step by step."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .style import PALETTE, REFERENCE, labelled_barh, new_figure, new_panels, styled, token_label


def _label(token: str) -> str:
    return repr(token_label(token))[1:-1]


def _check_top(top: int, vocabulary) -> None:
    if not 1 <= top <= len(vocabulary):
        raise ValueError(f"top must be between 1 and {len(vocabulary)}, got {top}")


@styled
def next_token_bars(probs, vocabulary, top=10, title="Next-token probabilities", ax=None) -> Figure:
    """Horizontal bars of the `top` most likely next tokens, most likely on top."""
    probs = np.asarray(probs, dtype=float)
    if probs.shape != (len(vocabulary),):
        raise ValueError(f"probs must have one entry per vocabulary token ({len(vocabulary)}), got {probs.shape}")
    _check_top(top, vocabulary)
    order = np.argsort(-probs, kind="stable")[:top]
    fig, ax = new_figure(6.0, 0.35 * top + 1.4, ax=ax)
    labelled_barh(ax, [_label(vocabulary[i]) for i in order], probs[order], [f"{p:.1%}" for p in probs[order]],
                  PALETTE[0])
    ax.set_xlim(0, min(1.0, probs[order].max() * 1.25 + 0.02))
    ax.set(xlabel="probability", title=title)
    return fig


@styled
def sampling_bars(model_probs, sampling_probs, vocabulary, top: int = 15,
                  title="What the model says, and what sampling draws from", ax=None) -> Figure:
    """The model's top tokens: its own probability (outline) and the probability sampling uses (filled).

    Tokens that top-k or top-p removed keep their outline but have no fill.
    """
    model_probs, sampling_probs = np.asarray(model_probs, dtype=float), np.asarray(sampling_probs, dtype=float)
    if model_probs.shape != (len(vocabulary),) or sampling_probs.shape != model_probs.shape:
        raise ValueError(f"both distributions must have one entry per vocabulary token ({len(vocabulary)})")
    _check_top(top, vocabulary)
    order = np.argsort(-model_probs, kind="stable")[:top]
    fig, ax = new_figure(8.0, 4.2, ax=ax)
    x = np.arange(top)
    ax.bar(x, model_probs[order], width=0.8, fill=False, edgecolor=PALETTE[7], linewidth=1.2,
           label="model (temperature 1)")
    kept = sampling_probs[order] > 0
    ax.bar(x[kept], sampling_probs[order][kept], width=0.55, color=PALETTE[1], label="sampled from")
    ax.bar(x[~kept], model_probs[order][~kept], width=0.55, color="none", hatch="//", edgecolor=PALETTE[3],
           label="cut off")
    ax.set_xticks(x, [_label(vocabulary[i]) for i in order])
    ax.set(xlabel="next character (model's favourites first)", ylabel="probability", title=title,
           ylim=(0, min(1.05, max(model_probs[order].max(), sampling_probs.max()) * 1.15 + 0.02)))
    ax.legend()
    return fig


@styled
def temperature_panels(logits, vocabulary, temperatures=(0.5, 1.0, 2.0), top: int = 12,
                       title="The same logits at three temperatures") -> Figure:
    """One bar chart per temperature: softmax(logits / T) for the model's top tokens, with the entropy."""
    logits = np.asarray(logits, dtype=float)
    if logits.shape != (len(vocabulary),):
        raise ValueError(f"logits must have one entry per vocabulary token ({len(vocabulary)}), got {logits.shape}")
    if not temperatures or min(temperatures) <= 0:
        raise ValueError(f"temperatures must be positive, got {temperatures}")
    order = np.argsort(-logits, kind="stable")[:top]
    fig, axes = new_panels(4.0 * len(temperatures), 3.9, 1, len(temperatures), sharey=True, squeeze=False)
    for ax, T, colour in zip(axes[0], temperatures, PALETTE, strict=False):
        scaled = logits / T
        probs = np.exp(scaled - scaled.max())
        probs /= probs.sum()
        entropy = -(probs * np.log2(np.where(probs > 0, probs, 1))).sum()
        ax.bar(range(top), probs[order], color=colour)
        ax.set_xticks(range(top), [_label(vocabulary[i]) for i in order])
        ax.set(title=f"T = {T:g}: entropy {entropy:.2f} bits", xlabel="next character")
    axes[0, 0].set_ylabel("probability")
    fig.suptitle(title)
    return fig


@styled
def entropy_curve(temperatures, entropies, vocab_size: int | None = None,
                  title="Temperature controls how spread out the choice is", ax=None) -> Figure:
    """Entropy of the next-token distribution (bits) against temperature."""
    fig, ax = new_figure(6.5, 4.0, ax=ax)
    ax.plot(temperatures, entropies, "-o", color=PALETTE[0], markersize=4)
    if vocab_size:
        ax.axhline(np.log2(vocab_size), **REFERENCE, label=f"uniform over {vocab_size} characters")
        ax.legend()
    ax.axvline(1.0, color=PALETTE[3], linestyle=":", linewidth=1)
    ax.set(xlabel="temperature", ylabel="entropy (bits)", title=title)
    ax.grid(True)
    return fig


@styled
def generation_steps_figure(steps, title="Generation, one token at a time") -> Figure:
    """Two rows over the generated tokens: the probability the model gave each pick, and the entropy at that step.

    Blue: the model's favourite was picked; orange: a less likely token.
    """
    if not steps:
        raise ValueError("steps must contain at least one generated token")
    probs = np.array([s.prob for s in steps])
    entropies = np.array([s.entropy for s in steps])
    fig, (top, bottom) = new_panels(min(16.0, 2.0 + 0.32 * len(steps)), 5.6, 2, 1, sharex=True)
    colours = [PALETTE[0] if s.rank == 1 else PALETTE[3] for s in steps]
    top.bar(range(len(steps)), probs, color=colours)
    top.set(ylabel="probability of the pick", ylim=(0, 1.05),
            title=f"{title} (blue: the favourite, orange: a less likely pick)")
    bottom.bar(range(len(steps)), entropies, color=colours)
    bottom.set(ylabel="entropy (bits)", xlabel="generated character", ylim=(0, max(1.0, entropies.max() * 1.1)))
    bottom.set_xticks(range(len(steps)), [_label(s.token) for s in steps], family="monospace")
    return fig


@styled
def repetition_bars(rates: dict, title="How often generated text repeats itself", ax=None) -> Figure:
    """Per decoding setting, the share of repeated 10-character pieces: a bar at the mean, a dot per text, and a
    line from the lowest to the highest text. A setting maps to one rate or to a list (one per sample)."""
    names = list(rates)
    values = [np.atleast_1d(np.asarray(rates[name], dtype=float)) for name in names]
    if not names or any(v.size == 0 for v in values):
        raise ValueError("rates must map each setting to at least one rate")
    means = np.array([v.mean() for v in values])
    fig, ax = new_figure(7.5, 0.6 * len(names) + 1.6, ax=ax)
    labels = [f"{m:.0%}" if v.size == 1 else f"{m:.0%} (mean of {v.size})" for m, v in zip(means, values, strict=True)]
    ax.barh(range(len(names)), means, color=[PALETTE[i % 6] for i in range(len(names))])
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    right = max(0.6, max(v.max() for v in values) * 1.5)
    for row, (v, label) in enumerate(zip(values, labels, strict=True)):
        if v.size > 1:
            ax.plot([v.min(), v.max()], [row, row], color=PALETTE[7], linewidth=1.2)
            ax.plot(v, np.full(v.size, row), "o", color=PALETTE[7], markersize=3.5, alpha=0.8)
        ax.text(v.max() + 0.01 * right, row, label, va="center")  # right of the bar and of every dot
    ax.set_xlim(0, right)
    ax.set(xlabel="share of 10-character pieces seen before in the same text", title=title)
    return fig


@styled
def cumulative_mass_figure(distributions: dict, top_p: float = 0.9, vocabulary=None, top: int = 40,
                           title="Top-p keeps the favourites until their mass reaches p", ax=None) -> Figure:
    """Cumulative probability of the favourites (sorted) for each named distribution, with the line at `top_p`
    and the size of each nucleus marked. With `vocabulary`, the legend names each context's favourite."""
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    fig, ax = new_figure(7.5, 4.4, ax=ax)
    for i, (name, probs) in enumerate(distributions.items()):
        probs = np.sort(np.asarray(probs, dtype=float))[::-1]
        mass = np.cumsum(probs)
        kept = int(np.searchsorted(mass, top_p - 1e-12) + 1)  # the smallest set whose mass reaches top_p
        n = min(top, len(probs))
        ranks = np.arange(1, n + 1)
        ax.step(ranks, mass[:n], where="post", color=PALETTE[i], label=f"{name}: top-p keeps {kept}")
        ax.plot([kept], [mass[kept - 1]], "o", color=PALETTE[i], markersize=8)
    ax.axhline(top_p, **REFERENCE, label=f"p = {top_p:g}")
    ax.set(xlabel="number of favourites kept (most likely first)", ylabel="their total probability",
           ylim=(0, 1.03), xlim=(0.5, top + 0.5), title=title)
    ax.legend(loc="lower right")
    ax.grid(True)
    return fig


__all__ = ["next_token_bars", "sampling_bars", "temperature_panels", "entropy_curve", "generation_steps_figure",
           "repetition_bars", "cumulative_mass_figure"]
