"""Pictures for chapter 08: from logits to the next token (temperature, top-k, top-p, generation, KV cache)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .core import FONT_SIZE, PALETTE, new_figure, slow_vs_fast_figure, token_label


def _label(token: str) -> str:
    return repr(token_label(token))[1:-1]


def sampling_bars(model_probs, sampling_probs, vocabulary, top: int = 15,
                  title="What the model says, and what sampling draws from", ax=None) -> Figure:
    """The model's top tokens: its own probability (outline) and the probability sampling uses (filled).

    Tokens that top-k or top-p removed keep their outline but have no fill.
    """
    model_probs, sampling_probs = np.asarray(model_probs, dtype=float), np.asarray(sampling_probs, dtype=float)
    if model_probs.shape != (len(vocabulary),) or sampling_probs.shape != model_probs.shape:
        raise ValueError(f"both distributions must have one entry per vocabulary token ({len(vocabulary)})")
    if not 1 <= top <= len(vocabulary):
        raise ValueError(f"top must be between 1 and {len(vocabulary)}, got {top}")
    order = np.argsort(-model_probs, kind="stable")[:top]
    fig, ax = new_figure(8.0, 4.2) if ax is None else (ax.figure, ax)
    x = np.arange(top)
    ax.bar(x, model_probs[order], width=0.8, fill=False, edgecolor=PALETTE[7], linewidth=1.2,
           label="model (temperature 1)")
    kept = sampling_probs[order] > 0
    ax.bar(x[kept], sampling_probs[order][kept], width=0.55, color=PALETTE[1], label="sampled from")
    ax.bar(x[~kept], model_probs[order][~kept], width=0.55, color="none", hatch="//", edgecolor=PALETTE[3],
           label="cut off")
    ax.set_xticks(x, [_label(vocabulary[i]) for i in order], fontsize=FONT_SIZE)
    ax.set_xlabel("next character (model's favourites first)", fontsize=FONT_SIZE)
    ax.set_ylabel("probability", fontsize=FONT_SIZE)
    ax.set_ylim(0, min(1.05, max(model_probs[order].max(), sampling_probs.max()) * 1.15 + 0.02))
    ax.set_title(title, fontsize=FONT_SIZE + 1)
    ax.legend(fontsize=FONT_SIZE - 1)
    return fig


def temperature_panels(logits, vocabulary, temperatures=(0.5, 1.0, 2.0), top: int = 12,
                       title="The same logits at three temperatures") -> Figure:
    """One bar chart per temperature: softmax(logits / T) for the model's top tokens, with the entropy."""
    logits = np.asarray(logits, dtype=float)
    if logits.shape != (len(vocabulary),):
        raise ValueError(f"logits must have one entry per vocabulary token ({len(vocabulary)}), got {logits.shape}")
    if not temperatures or min(temperatures) <= 0:
        raise ValueError(f"temperatures must be positive, got {temperatures}")
    order = np.argsort(-logits, kind="stable")[:top]
    fig = Figure(figsize=(4.0 * len(temperatures), 3.9), layout="constrained")
    axes = fig.subplots(1, len(temperatures), sharey=True)
    for ax, T, colour in zip(np.atleast_1d(axes), temperatures, PALETTE, strict=False):
        scaled = logits / T
        probs = np.exp(scaled - scaled.max())
        probs /= probs.sum()
        entropy = -(probs * np.log2(np.where(probs > 0, probs, 1))).sum()
        ax.bar(range(top), probs[order], color=colour)
        ax.set_xticks(range(top), [_label(vocabulary[i]) for i in order], fontsize=FONT_SIZE - 1)
        ax.set_title(f"T = {T:g}: entropy {entropy:.2f} bits", fontsize=FONT_SIZE)
        ax.set_xlabel("next character", fontsize=FONT_SIZE - 1)
    np.atleast_1d(axes)[0].set_ylabel("probability", fontsize=FONT_SIZE)
    fig.suptitle(title, fontsize=FONT_SIZE + 1)
    return fig


def entropy_curve(temperatures, entropies, vocab_size: int | None = None,
                  title="Temperature controls how spread out the choice is", ax=None) -> Figure:
    """Entropy of the next-token distribution (bits) against temperature."""
    fig, ax = new_figure(6.5, 4.0) if ax is None else (ax.figure, ax)
    ax.plot(temperatures, entropies, "-o", color=PALETTE[0], markersize=4)
    if vocab_size:
        ax.axhline(np.log2(vocab_size), color=PALETTE[7], linestyle="--", linewidth=1,
                   label=f"uniform over {vocab_size} characters")
        ax.legend(fontsize=FONT_SIZE - 1)
    ax.axvline(1.0, color=PALETTE[3], linestyle=":", linewidth=1)
    ax.set_xlabel("temperature", fontsize=FONT_SIZE)
    ax.set_ylabel("entropy (bits)", fontsize=FONT_SIZE)
    ax.set_title(title, fontsize=FONT_SIZE + 1)
    ax.grid(alpha=0.3)
    return fig


def generation_steps_figure(steps, title="Generation, one token at a time", ax=None) -> Figure:
    """One bar per generated token: the probability the model gave the token that was chosen."""
    if not steps:
        raise ValueError("steps must contain at least one generated token")
    probs = np.array([s.prob for s in steps])
    fig, ax = new_figure(min(16.0, 2.0 + 0.32 * len(steps)), 4.0) if ax is None else (ax.figure, ax)
    colours = [PALETTE[0] if s.rank == 1 else PALETTE[3] for s in steps]
    ax.bar(range(len(steps)), probs, color=colours)
    ax.set_xticks(range(len(steps)), [_label(s.token) for s in steps], fontsize=FONT_SIZE - 1, family="monospace")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("generated character", fontsize=FONT_SIZE)
    ax.set_ylabel("model's probability", fontsize=FONT_SIZE)
    ax.set_title(f"{title} (blue: the favourite, orange: a less likely pick)", fontsize=FONT_SIZE + 1)
    return fig


def repetition_bars(rates: dict[str, float], title="How often generated text repeats itself", ax=None) -> Figure:
    """Bars: fraction of repeated n-character pieces for each decoding setting."""
    names, values = list(rates), np.array(list(rates.values()), dtype=float)
    fig, ax = new_figure(7.0, 0.55 * len(names) + 1.5) if ax is None else (ax.figure, ax)
    bars = ax.barh(range(len(names)), values, color=[PALETTE[i % len(PALETTE)] for i in range(len(names))])
    ax.set_yticks(range(len(names)), names, fontsize=FONT_SIZE)
    ax.invert_yaxis()
    ax.bar_label(bars, [f"{v:.0%}" for v in values], padding=3, fontsize=FONT_SIZE - 1)
    ax.set_xlim(0, 1.1)
    ax.set_xlabel("share of 10-character pieces seen before in the same text", fontsize=FONT_SIZE)
    ax.set_title(title, fontsize=FONT_SIZE + 1)
    return fig


def kv_cache_figure(timings: dict, title="Generation with and without a key/value cache") -> Figure:
    """Left: time to generate n tokens, with and without the cache. Right: the speed-up."""
    return slow_vs_fast_figure(
        timings["lengths"], timings["no_cache_seconds"], timings["cache_seconds"],
        slow_label="no cache: the whole text every step", fast_label="KV cache: only the new token",
        xlabel="tokens generated", ratio_label="time without / time with cache",
        left_title="Time to generate", ratio_title="Speed-up", title=title)


__all__ = ["entropy_curve", "generation_steps_figure", "kv_cache_figure", "repetition_bars", "sampling_bars",
           "temperature_panels"]
