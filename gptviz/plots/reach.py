"""Pictures of how far back the model reaches (claim C7), each with the uniform head as the reference line."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .style import PALETTE, REFERENCE, new_figure, styled


@styled
def attention_distance_figure(by_offset, uniform_by_offset, far: int | None = None,
                              title="Attention weight against distance") -> Figure:
    """Mean attention weight on the key k back, one line per layer (by_offset (L, H, T)), and a head that spreads
    its weight evenly (uniform_by_offset (T,)) as the dashed reference; log-log."""
    by_offset = np.asarray(by_offset, dtype=float)
    uniform_by_offset = np.asarray(uniform_by_offset, dtype=float)
    if by_offset.ndim != 3:
        raise ValueError(f"by_offset must be (n_layer, n_head, T), got shape {by_offset.shape}")
    if uniform_by_offset.shape != by_offset.shape[-1:]:
        raise ValueError(f"uniform_by_offset must have shape {by_offset.shape[-1:]}, got {uniform_by_offset.shape}")
    fig, ax = new_figure(7.5, 4.6)
    shown = max(2, 3 * by_offset.shape[-1] // 4)  # the longest distances rest on a handful of positions
    offsets = np.arange(1, shown)
    for layer, curve in enumerate(by_offset.mean(1)):
        ax.plot(offsets, curve[1:shown], label=f"layer {layer}")
    ax.plot(offsets, uniform_by_offset[1:shown], **REFERENCE, label="uniform head (even weights)")
    if far is not None:
        ax.axvspan(far, offsets[-1], color=PALETTE[6], alpha=0.2, label=f"{far} or more back")
    ax.set(xscale="log", yscale="log", xlabel="distance back k (query − key position)",
           ylabel="mean attention weight", title=title)
    ax.grid(True)
    ax.legend(ncols=2)
    return fig


@styled
def context_loss_figure(contexts, curves: dict, title="Held-out loss as the context is cut") -> Figure:
    """Loss against the number of characters the model may read; curves: {name: (losses, standard errors)}.

    The first curve is drawn solid, the others (references: uniform attention, local attention) dashed.
    """
    contexts = np.asarray(contexts)
    if not curves:
        raise ValueError("curves must hold at least one {name: (losses, errors)}")
    fig, ax = new_figure(7.5, 4.6)
    for n, (name, (loss, error)) in enumerate(curves.items()):
        loss, error = np.asarray(loss, dtype=float), np.asarray(error, dtype=float)
        if loss.shape != contexts.shape or error.shape != contexts.shape:
            raise ValueError(f"curves[{name!r}] must hold two arrays of shape {contexts.shape}")
        style = {"marker": "o"} if n == 0 else {**REFERENCE, "color": PALETTE[n % len(PALETTE)], "marker": "s"}
        ax.errorbar(contexts, loss, yerr=error, capsize=3, label=name, **style)
    ax.set_xscale("log", base=2)
    ax.set_xticks(contexts, [str(c) for c in contexts])
    ax.set(xlabel="characters the model may read (context length)", ylabel="loss on the next character (nats)",
           title=title)
    ax.grid(True)
    ax.legend()
    return fig


@styled
def perturbation_figure(offsets, effects: dict, far: int | None = None,
                        title="Change one token k back: how much does the prediction move?") -> Figure:
    """Mean total variation distance against k; effects: {name: (means, standard errors)}, the first solid, the
    rest (e.g. the uniform-attention model) dashed; log-log."""
    offsets = np.asarray(offsets)
    if not effects:
        raise ValueError("effects must hold at least one {name: (means, errors)}")
    fig, ax = new_figure(7.5, 4.6)
    for n, (name, (mean, error)) in enumerate(effects.items()):
        mean, error = np.asarray(mean, dtype=float), np.asarray(error, dtype=float)
        if mean.shape != offsets.shape or error.shape != offsets.shape:
            raise ValueError(f"effects[{name!r}] must hold two arrays of shape {offsets.shape}")
        style = {"marker": "o"} if n == 0 else {**REFERENCE, "color": PALETTE[7], "marker": "s"}
        ax.errorbar(offsets, mean, yerr=error, capsize=3, label=name, **style)
    if far is not None:
        ax.axvspan(far, offsets.max(), color=PALETTE[6], alpha=0.2, label=f"{far} or more back")
    ax.set(xscale="log", yscale="log", xlabel="the replaced token is k positions back",
           ylabel="total variation distance", title=title)
    ax.set_xticks(offsets, [str(k) for k in offsets])
    ax.grid(True)
    ax.legend()
    return fig


__all__ = ["attention_distance_figure", "context_loss_figure", "perturbation_figure"]
