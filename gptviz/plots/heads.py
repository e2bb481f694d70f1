"""Pictures of what `gptviz.heads` measures: score tables per head, how far attention looks back, and why
attention scores are divided by √d."""

from __future__ import annotations

import numpy as np
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from .style import DIVERGING, PALETTE, SEQUENTIAL, new_figure, new_panels, styled


@styled
def head_matrix(values, title, fmt="{:.2f}", row_labels=None, col_labels=None, cmap=SEQUENTIAL,
                symmetric=False, colorbar_label="", ax=None) -> Figure:
    """A small matrix (e.g. layers × heads) as coloured cells with the number written in each."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"values must be a 2-D array, got shape {values.shape}")
    rows, cols = values.shape
    row_labels = row_labels or [f"layer {i}" for i in range(rows)]
    col_labels = col_labels or [f"head {j}" for j in range(cols)]
    if len(row_labels) != rows or len(col_labels) != cols:
        raise ValueError(f"need {rows} row labels and {cols} column labels")
    fig, ax = new_figure(1.15 * cols + 2.6, 0.62 * rows + 1.6, ax=ax)
    limit = np.nanmax(np.abs(values)) if symmetric else None
    vmin, vmax = (-limit, limit) if symmetric else (np.nanmin(values), np.nanmax(values))
    image = ax.imshow(values, cmap=DIVERGING if symmetric else cmap, vmin=vmin, vmax=vmax, aspect="auto")
    norm = Normalize(vmin, vmax if vmax > vmin else vmin + 1)
    for (i, j), value in np.ndenumerate(values):
        shade = norm(value)
        dark = shade < 0.5 if not symmetric else abs(shade - 0.5) > 0.3
        ax.text(j, i, fmt.format(value), ha="center", va="center", color="white" if dark and not symmetric else "black")
    ax.set_xticks(range(cols), col_labels, rotation=90 if cols > 6 else 0)
    ax.set_yticks(range(rows), row_labels)
    ax.set_title(title)
    fig.colorbar(image, ax=ax, shrink=0.8, label=colorbar_label)
    return fig


@styled
def role_scores_figure(roles, title="What each head does: share of attention on each role's token") -> Figure:
    """Roles × heads table of role scores (a gptviz.heads.HeadRoles), with the even-spread chance level per role."""
    from ..heads import ROLES  # local import: plots do not otherwise depend on measurements

    n_layer, n_head = roles.scores[ROLES[0]].shape
    values = np.array([roles.scores[r].reshape(-1) for r in ROLES]) * 100  # (roles, heads)
    col_labels = [f"L{layer}H{head}" for layer in range(n_layer) for head in range(n_head)]
    row_labels = [f"{r} ({100 * roles.chance[r]:.0f}%)" for r in ROLES]
    fig = head_matrix(values, title, "{:.0f}", row_labels, col_labels, colorbar_label="% of attention")
    fig.set_size_inches(0.62 * len(col_labels) + 4.2, 0.6 * len(ROLES) + 2.0)
    fig.axes[0].set_xlabel("head (L = layer, H = head); in brackets: chance level")
    return fig


@styled
def softmax_saturation_figure(result) -> Figure:
    """Two panels from gptviz.heads.softmax_saturation: largest weight and gradient size against dimension d."""
    fig, (left, right) = new_panels(11.0, 4.2, 1, 2)
    dims = result["dims"]
    for ax, key, label in ((left, "max_weight", "largest attention weight"),
                           (right, "grad", "size of softmax gradient")):
        ax.plot(dims, result[f"{key}_raw"], "-o", color=PALETTE[3], label="q·k  (not scaled)")
        ax.plot(dims, result[f"{key}_scaled"], "-s", color=PALETTE[0], label="q·k / √d")
        ax.set_xscale("log", base=2)
        ax.set(xlabel="dimension d of queries and keys", ylabel=label)
        ax.grid(True)
        ax.legend()
    left.set(ylim=(0, 1.02), title="Without scaling, softmax picks one key")
    right.set(ylim=(0, None), title="…and the gradient through it shrinks")
    return fig


@styled
def attention_by_offset_figure(by_offset, far: int | None = None, title="How far back attention looks") -> Figure:
    """Mean attention weight against distance (query - key), one line per layer, log scale; by_offset (L, H, T).

    Only the first three quarters of the distances are drawn: the longest ones rest on a handful of positions.
    """
    by_offset = np.asarray(by_offset, dtype=float)
    if by_offset.ndim != 3:
        raise ValueError(f"by_offset must be (n_layer, n_head, T), got shape {by_offset.shape}")
    fig, ax = new_figure(7.5, 4.5)
    shown = max(2, 3 * by_offset.shape[-1] // 4)
    offsets = np.arange(shown)
    curves = by_offset.mean(1)[:, :shown]
    for layer, curve in enumerate(curves):
        ax.plot(offsets[1:], curve[1:], label=f"layer {layer}")
    if far is not None:
        ax.axvspan(far, offsets[-1], color=PALETTE[6], alpha=0.2, label=f"{far} or more back")
    ax.set_xscale("log")
    ax.set_yscale("log")
    positive = curves[:, 1:][curves[:, 1:] > 0]
    if positive.size:
        ax.set_ylim(max(positive.min(), 1e-5) / 1.5, min(1.0, positive.max() * 1.5))
    ax.set(xlabel="distance back (query position − key position)", ylabel="mean attention weight", title=title)
    ax.grid(True, which="major")
    ax.legend()
    return fig


__all__ = ["head_matrix", "role_scores_figure", "softmax_saturation_figure", "attention_by_offset_figure"]
