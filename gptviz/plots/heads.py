"""Pictures of what `gptviz.heads` measures: score tables per head, how far attention looks back, and why
attention scores are divided by √d."""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .style import DIVERGING, PALETTE, SEQUENTIAL, new_figure, new_panels, styled, token_label


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


@styled
def role_lift_figure(roles, min_lift: float = 5.0, min_share: float = 0.2,
                     title="What each head does: how many times chance each role gets") -> Figure:
    """Roles × heads map coloured by lift over chance (log scale), each cell giving the share of attention;
    the roles called (lift >= min_lift and share >= min_share) framed. `roles`: a gptviz.heads.HeadRoles."""
    from ..heads import ROLES  # local import: plots do not otherwise depend on measurements

    n_layer, n_head = roles.scores[ROLES[0]].shape
    lift = np.array([roles.lift(r).reshape(-1) for r in ROLES])  # (roles, heads)
    share = np.array([roles.scores[r].reshape(-1) for r in ROLES])
    fig, ax = new_figure(0.62 * n_layer * n_head + 4.4, 0.6 * len(ROLES) + 2.2)
    norm = LogNorm(0.5, 50)
    image = ax.imshow(np.clip(lift, 0.5, 50), cmap=SEQUENTIAL, norm=norm, aspect="auto")
    for (i, j), value in np.ndenumerate(share):
        light = norm(np.clip(lift[i, j], 0.5, 50)) > 0.6  # the upper part of viridis is light: write in black
        ax.text(j, i, f"{100 * value:.0f}", ha="center", va="center", color="black" if light else "white")
        if lift[i, j] >= min_lift and value >= min_share:
            ax.add_patch(Rectangle((j - 0.47, i - 0.45), 0.94, 0.9, fill=False, edgecolor=PALETTE[3], linewidth=2.5))
    ax.set_xticks(range(n_layer * n_head), [f"L{la}H{h}" for la in range(n_layer) for h in range(n_head)],
                  rotation=90)
    ax.set_yticks(range(len(ROLES)), [f"{r} ({100 * roles.chance[r]:.0f}%)" for r in ROLES])
    ax.set_xlabel(f"head (L = layer, H = head). Numbers: % of attention; framed: a role "
                  f"(≥ {min_lift:.0f}× chance and ≥ {100 * min_share:.0f}%)")
    ax.set_ylabel("role (chance share)")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, shrink=0.85, label="× chance (log scale)")
    return fig


@styled
def head_grid(attention, tokens, title="Every head of every layer", subtitles=None) -> Figure:
    """Layers × heads grid of attention maps (attention: (n_layer, n_head, T, T)) with every token written along
    the left of each row of panels (queries) and under each column (keys); drawn as one image to stay fast.

    subtitles: optional {(layer, head): text} shown after each panel's name (e.g. the head's measured role).
    """
    attention = np.asarray(attention, dtype=float)
    if attention.ndim != 4 or attention.shape[-1] != attention.shape[-2] or attention.shape[-1] != len(tokens):
        raise ValueError(f"attention must be (n_layer, n_head, T, T) with T = {len(tokens)} tokens, "
                         f"got shape {attention.shape}")
    n_layer, n_head, T, _ = attention.shape
    gap = max(2, T // 6)
    cell = T + gap
    mosaic = np.full((n_layer * cell - gap, n_head * cell - gap), np.nan)
    for layer, head in np.ndindex(n_layer, n_head):
        mosaic[layer * cell:layer * cell + T, head * cell:head * cell + T] = attention[layer, head]
    fig, ax = new_figure(max(11.0, 0.115 * n_head * cell + 2.0), max(9.0, 0.12 * n_layer * cell + 1.6))
    cmap = colormaps[SEQUENTIAL].with_extremes(bad=(1.0, 1.0, 1.0, 0.0))  # gaps transparent: names show through
    image = ax.imshow(mosaic, cmap=cmap, vmin=0, vmax=1, interpolation="nearest", aspect="auto")
    labels = [token_label(t) for t in tokens]
    ax.set_xticks([h * cell + i for h in range(n_head) for i in range(T)], labels * n_head, family="monospace")
    ax.set_yticks([la * cell + i for la in range(n_layer) for i in range(T)], labels * n_layer,
                  family="monospace")
    ax.tick_params(length=0, pad=1)
    for side in ax.spines.values():
        side.set_visible(False)
    for layer, head in np.ndindex(n_layer, n_head):
        name = f"L{layer} H{head}" + (f": {subtitles[layer, head]}" if subtitles and (layer, head) in subtitles
                                      else "")
        ax.text(head * cell + T / 2 - 0.5, layer * cell - 0.6, name, ha="center", va="bottom")
    ax.set_xlabel("key: the token attended to (each column of panels is one head)")
    ax.set_ylabel("query: the token attending (each row of panels is one layer)")
    ax.set_title(title, pad=16)
    fig.colorbar(image, ax=ax, shrink=0.6, label="attention weight")
    return fig


@styled
def position_damage_figure(results, heads, labels=None,
                           title="Loss increase when one head is switched off, by character predicted") -> Figure:
    """One panel per ablation mode: rows = the given (layer, head), columns = classes of predicted character,
    colour and number = mean loss increase in nats. results: gptviz.head_jobs.PositionDamage objects."""
    results = list(results)
    fig, axes = new_panels(7.2 * len(results), 0.55 * len(heads) + 2.6, 1, len(results), squeeze=False)
    limit = max(float(np.nanmax(r.damage[tuple(np.array(heads).T)])) for r in results)
    for ax, result in zip(axes[0], results, strict=True):
        values = np.array([result.damage[la, h] for la, h in heads])  # (heads, classes)
        image = ax.imshow(np.clip(values, 0.003, None), cmap=SEQUENTIAL, norm=LogNorm(0.003, limit), aspect="auto")
        for (i, j), value in np.ndenumerate(values):
            light = value > limit ** 0.5 * 0.003 ** 0.5 * 3
            ax.text(j, i, f"{value:+.2f}", ha="center", va="center", color="black" if light else "white")
        ax.set_xticks(range(len(result.classes)), result.classes, rotation=30, ha="right")
        names = [f"L{la}H{h}" + (f" {labels[la, h]}" if labels and (la, h) in labels else "") for la, h in heads]
        ax.set_yticks(range(len(heads)), names)
        ax.set_title(f"{result.mode}-ablation")
        ax.set_xlabel("the character to predict")
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.85, label="Δ loss, nats (log scale)")
    fig.suptitle(title)
    return fig


@styled
def head_count_figure(result, title="One head or four, at the same width and size") -> Figure:
    """Validation loss of each seed's model with each head count (from gptviz.heads.head_count_sweep), one line
    per seed joining its runs (same initial-weight seed and batch order)."""
    counts = [int(n) for n in result["n_heads"]]
    losses = np.array([result["val_loss"][str(n)] for n in counts])  # (counts, seeds)
    fig, ax = new_figure(6.0, 4.4)
    for s, seed in enumerate(result["seeds"]):
        ax.plot(range(len(counts)), losses[:, s], "-o", color=PALETTE[s % len(PALETTE)], label=f"seed {seed}")
    ax.set_xticks(range(len(counts)), [f"{n} head{'s' if n > 1 else ''} of {result['model']['n_embd'] // n}"
                                       for n in counts])
    ax.set_xlim(-0.4, len(counts) - 0.6)
    ax.set(ylabel="validation loss (nats per character)", title=title)
    ax.grid(True, axis="y")
    ax.legend(ncol=2)
    return fig


__all__ = ["head_matrix", "role_scores_figure", "softmax_saturation_figure", "attention_by_offset_figure",
           "role_lift_figure", "head_grid", "position_damage_figure", "head_count_figure"]
