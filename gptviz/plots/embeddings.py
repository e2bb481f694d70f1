"""Pictures of the learned character embeddings (`gptviz.embeddings`)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .style import PALETTE, new_figure, styled, token_label


@styled
def embedding_map(coords, chars, groups, explained=None, title="Learned character embeddings, projected to 2-D",
                  ax=None) -> Figure:
    """Each character written at its 2-D position, coloured by its group (vowel, capital, ...)."""
    coords = np.asarray(coords, dtype=float)
    if coords.shape != (len(chars), 2) or len(groups) != len(chars):
        raise ValueError(f"coords must be ({len(chars)}, 2) and groups one per character; got {coords.shape}, "
                         f"{len(groups)} groups")
    fig, ax = new_figure(8.0, 7.0, ax=ax)
    names = list(dict.fromkeys(groups))
    color = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(names)}
    for (x, y), char, group in zip(coords, chars, groups, strict=True):
        ax.text(x, y, token_label(char), color=color[group], fontsize="x-large",  # the characters are the markers
                ha="center", va="center", fontweight="bold", family="monospace")
    for g in names:
        ax.scatter([], [], color=color[g], label=g, s=60)
    pad = 0.08 * (coords.max(0) - coords.min(0))
    ax.set_xlim(coords[:, 0].min() - pad[0], coords[:, 0].max() + pad[0])
    ax.set_ylim(coords[:, 1].min() - pad[1], coords[:, 1].max() + pad[1])
    share = ["", ""] if explained is None else [f" ({100 * e:.0f}% of variance)" for e in explained[:2]]
    ax.set(xlabel="first principal direction" + share[0], ylabel="second principal direction" + share[1], title=title)
    ax.legend(loc="best", framealpha=0.85)
    ax.grid(True)
    return fig


__all__ = ["embedding_map"]
