"""Pictures of the learned character embeddings (`gptviz.embeddings`)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .style import PALETTE, new_figure, styled, token_label


def spread_labels(points, min_gap: float = 0.06, steps: int = 600, seed: int = 0) -> np.ndarray:
    """Label positions near `points` (n, 2) but at least about `min_gap` apart, in units of the plot's extent.

    A few hundred rounds of pushing overlapping labels apart while a spring pulls each back to its point:
    deterministic, so the picture is the same on every machine.
    """
    points = np.asarray(points, dtype=float)
    low, span = points.min(0), np.ptp(points, 0).clip(1e-12)
    anchor = (points - low) / span  # the extent becomes the unit square
    rng = np.random.default_rng(seed)
    pos = anchor + rng.normal(scale=1e-3, size=anchor.shape)  # separates labels on the same spot
    for _ in range(steps):
        diff = pos[:, None, :] - pos[None, :, :]  # (n, n, 2)
        dist = np.linalg.norm(diff, axis=-1) + np.eye(len(pos))
        overlap = np.clip(min_gap - dist, 0, None)  # > 0 where two labels are too close
        push = (diff / dist[..., None] * overlap[..., None]).sum(1) * 0.5
        pos += push + 0.05 * (anchor - pos)
    return pos * span + low


@styled
def embedding_map(coords, chars, groups, explained=None, title="Learned character embeddings, projected to 2-D",
                  ax=None) -> Figure:
    """Each character written near its 2-D position (a dot), coloured by its group (vowel, capital, ...).

    Labels in a crowd are pushed apart so each can be read; a thin line joins a moved label to its dot.
    """
    coords = np.asarray(coords, dtype=float)
    if coords.shape != (len(chars), 2) or len(groups) != len(chars):
        raise ValueError(f"coords must be ({len(chars)}, 2) and groups one per character; got {coords.shape}, "
                         f"{len(groups)} groups")
    fig, ax = new_figure(9.0, 7.5, ax=ax)
    names = list(dict.fromkeys(groups))
    color = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(names)}
    placed = spread_labels(coords)
    span = np.ptp(coords, 0).clip(1e-12)
    for (x, y), (lx, ly), char, group in zip(coords, placed, chars, groups, strict=True):
        ax.plot([x], [y], "o", color=color[group], markersize=3.5)
        if np.hypot(*((lx - x, ly - y) / span)) > 0.012:
            ax.plot([x, lx], [y, ly], color=color[group], linewidth=0.6, alpha=0.6)
        ax.text(lx, ly, token_label(char), color=color[group], fontsize="large",  # the characters are the markers
                ha="center", va="center", fontweight="bold", family="monospace",
                bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.7})
    for g in names:
        ax.scatter([], [], color=color[g], label=g, s=60)
    both = np.vstack([coords, placed])
    pad = 0.06 * (both.max(0) - both.min(0))
    ax.set_xlim(both[:, 0].min() - pad[0], both[:, 0].max() + pad[0])
    ax.set_ylim(both[:, 1].min() - pad[1], both[:, 1].max() + pad[1])
    share = ["", ""] if explained is None else [f" ({100 * e:.0f}% of variance)" for e in explained[:2]]
    ax.set(xlabel="first principal direction" + share[0], ylabel="second principal direction" + share[1], title=title)
    ax.legend(loc="best", framealpha=0.85)
    ax.grid(True)
    return fig


@styled
def neighbour_table(rows, groups: dict, title="Nearest characters in the full 192-dimensional space",
                    ax=None) -> Figure:
    """A table of nearest neighbours: one row per query character, its k nearest characters (by cosine) beside it,
    each coloured by its group and shaded by the similarity.

    rows: [(query, [(neighbour, cosine), ...]), ...] as `embeddings.neighbour_table` gives; groups: char -> group.
    """
    if not rows or not all(len(r) == 2 and r[1] for r in rows):
        raise ValueError("rows must be a non-empty list of (query, [(neighbour, similarity), ...])")
    k = max(len(near) for _, near in rows)
    per_column = int(np.ceil(len(rows) / 2)) if len(rows) > 14 else len(rows)
    blocks = int(np.ceil(len(rows) / per_column))
    names = list(dict.fromkeys(groups.values()))
    color = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(names)}
    fig, ax = new_figure(1.1 + blocks * (1.0 + 1.05 * k), 0.42 * per_column + 1.4, ax=ax)
    width = 1.0 + 1.05 * k + 0.6
    for n, (query, near) in enumerate(rows):
        left, y = (n // per_column) * width, -(n % per_column)
        ax.text(left + 0.4, y, token_label(query), ha="center", va="center", fontsize="large", fontweight="bold",
                family="monospace", color=color.get(groups.get(query), PALETTE[7]))
        ax.text(left + 0.85, y, "→", ha="center", va="center")
        for j, (char, sim) in enumerate(near):
            x = left + 1.3 + 1.05 * j
            ax.add_patch(_cell(x, y, sim))
            ax.text(x + 0.2, y, token_label(char), ha="center", va="center", fontsize="large", fontweight="bold",
                    family="monospace", color=color.get(groups.get(char), PALETTE[7]))
            ax.text(x + 0.62, y, f"{sim:.2f}", ha="center", va="center", fontsize="small", color="#444444")
    for g in names:
        ax.scatter([], [], color=color[g], label=g, s=60, marker="s")
    ax.set_xlim(-0.1, blocks * width)
    ax.set_ylim(-per_column + 0.4, 1.0)
    ax.text(0.0, 0.75, "char   nearest (cosine)", ha="left", va="center", fontsize="small", color="#444444")
    if blocks > 1:
        ax.text(width, 0.75, "char   nearest (cosine)", ha="left", va="center", fontsize="small", color="#444444")
    ax.axis("off")
    ax.set_title(title, loc="left")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), framealpha=0.85)
    return fig


def _cell(x, y, sim):
    from matplotlib.patches import Rectangle

    shade = float(np.clip(sim, 0, 1))
    return Rectangle((x - 0.05, y - 0.38), 0.95, 0.76, facecolor=(0.85, 0.88, 0.95, 0.25 + 0.6 * shade),
                     edgecolor="none")


__all__ = ["embedding_map", "neighbour_table"]
