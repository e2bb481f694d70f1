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
def generation_steps_figure(steps, title="Generation, one token at a time", ax=None) -> Figure:
    """One bar per generated token: the probability the model gave the token that was chosen."""
    if not steps:
        raise ValueError("steps must contain at least one generated token")
    probs = np.array([s.prob for s in steps])
    fig, ax = new_figure(min(16.0, 2.0 + 0.32 * len(steps)), 4.0, ax=ax)
    colours = [PALETTE[0] if s.rank == 1 else PALETTE[3] for s in steps]
    ax.bar(range(len(steps)), probs, color=colours)
    ax.set_xticks(range(len(steps)), [_label(s.token) for s in steps], family="monospace")
    ax.set(xlabel="generated character", ylabel="model's probability", ylim=(0, 1.05),
           title=f"{title} (blue: the favourite, orange: a less likely pick)")
    return fig


@styled
def repetition_bars(rates: dict[str, float], title="How often generated text repeats itself", ax=None) -> Figure:
    """Bars: fraction of repeated n-character pieces for each decoding setting."""
    names, values = list(rates), np.array(list(rates.values()), dtype=float)
    fig, ax = new_figure(7.0, 0.55 * len(names) + 1.5, ax=ax)
    labelled_barh(ax, names, values, [f"{v:.0%}" for v in values], PALETTE[: len(names)])
    ax.set_xlim(0, 1.1)
    ax.set(xlabel="share of 10-character pieces seen before in the same text", title=title)
    return fig


__all__ = ["next_token_bars", "sampling_bars", "temperature_panels", "entropy_curve", "generation_steps_figure",
           "repetition_bars"]
