"""Pictures of the attention weights that `trace.inspect` returns: one head as a heatmap, every head at once,
and one token's attention painted on the text."""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.layout_engine import PlaceHolderLayoutEngine
from matplotlib.patches import Rectangle

from .style import PALETTE, SEQUENTIAL, new_figure, new_panels, styled, token_label


def _check_square(name: str, matrix, n: int | None = None) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim < 2 or matrix.shape[-1] != matrix.shape[-2] or (n is not None and matrix.shape[-1] != n):
        expected = f"(..., {n}, {n})" if n is not None else "(..., T, T)"
        raise ValueError(f"{name} must have shape {expected}, got {matrix.shape}")
    return matrix


def _check_query(query: int, tokens) -> None:
    if not 0 <= query < len(tokens):
        raise ValueError(f"query must be a token position in 0..{len(tokens) - 1}, got {query}")


@styled
def attention_heatmap(weights, tokens, title="Attention weights", ax=None) -> Figure:
    """Heatmap of a (T, T) attention matrix: row = the token attending, column = the token attended to."""
    weights = np.asarray(weights)
    labels = [token_label(t) for t in tokens]
    if weights.shape != (len(labels), len(labels)):
        n = len(labels)
        raise ValueError(f"weights must be ({n}, {n}) for {n} tokens, got {weights.shape}")
    size = min(9.0, 2.5 + 0.22 * len(labels))
    fig, ax = new_figure(size + 1.2, size, ax=ax)
    image = ax.imshow(weights, vmin=0, vmax=1, interpolation="nearest")
    height_inches = fig.get_figheight() * ax.get_position().height
    fits = max(2, int(height_inches * 72 / (mpl.rcParams["ytick.labelsize"] * 1.3)))  # labels that do not overlap
    step = -(-len(labels) // fits)
    ticks = np.arange(0, len(labels), step)
    ax.set_xticks(ticks, [labels[i] for i in ticks])
    ax.set_yticks(ticks, [labels[i] for i in ticks])
    ax.set(xlabel="attends to (key position)", ylabel="token attending (query position)", title=title)
    fig.colorbar(image, ax=ax, shrink=0.8, label="weight")
    return fig


@styled
def attention_grid(attention, tokens, title="Every head of every layer", subtitles=None) -> Figure:
    """Layers × heads grid of attention maps (attention: (n_layer, n_head, T, T)), drawn as one image to stay fast.

    subtitles: optional {(layer, head): text} shown under each panel's name (e.g. the head's measured role).
    """
    attention = _check_square("attention", attention, len(tokens))
    if attention.ndim != 4:
        raise ValueError(f"attention must be (n_layer, n_head, T, T), got shape {attention.shape}")
    n_layer, n_head, T, _ = attention.shape
    gap = max(1, T // 8)
    cell = T + gap
    mosaic = np.full((n_layer * cell - gap, n_head * cell - gap), np.nan)
    for layer in range(n_layer):
        for head in range(n_head):
            mosaic[layer * cell:layer * cell + T, head * cell:head * cell + T] = attention[layer, head]
    fig, ax = new_figure(2.3 * n_head + 1.6, 2.55 * n_layer + 1.0)
    cmap = colormaps[SEQUENTIAL].with_extremes(bad=(1.0, 1.0, 1.0, 0.0))  # gaps transparent: titles show through
    image = ax.imshow(mosaic, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    for layer in range(n_layer):
        for head in range(n_head):
            name = f"L{layer} H{head}"
            if subtitles and (layer, head) in subtitles:
                name += f": {subtitles[layer, head]}"
            ax.text(head * cell + T / 2, layer * cell - 0.4, name, ha="center", va="bottom")
    ax.set_xticks([(h + 0.5) * cell - gap / 2 for h in range(n_head)], [f"head {h}" for h in range(n_head)])
    ax.set_yticks([(lay + 0.5) * cell - gap / 2 for lay in range(n_layer)], [f"layer {lay}" for lay in range(n_layer)])
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_xlabel(f"in each panel: key (attended to) →, query ↓; {T} tokens")
    ax.set_title(title, pad=18)
    fig.colorbar(image, ax=ax, shrink=0.6, label="attention weight")
    return fig


def _token_boxes(ax, tokens, colors, text_colors=None, per_line: int = 32, outline: int | None = None) -> None:
    """Write tokens left to right in coloured boxes, wrapping after newlines and every `per_line` tokens."""
    x, y, col = 0.0, 0.0, 0
    width = 1.0
    for i, token in enumerate(tokens):
        if col >= per_line:
            x, y, col = 0.0, y - 1.25, 0
        ax.add_patch(Rectangle((x, y - 0.5), width * 0.94, 1.0, facecolor=colors[i],
                               edgecolor=PALETTE[3] if i == outline else "none", linewidth=3))
        # larger than the style's other text: here the tokens are the picture
        ax.text(x + width * 0.47, y, token_label(token), ha="center", va="center", fontsize="large",
                color=(text_colors[i] if text_colors else "black"), family="monospace")
        x, col = x + width, col + 1
        if token == "\n":
            x, y, col = 0.0, y - 1.25, 0
    ax.set_xlim(-0.2, per_line + 0.2)
    ax.set_ylim(y - 0.8, 0.8)
    ax.set_aspect("equal")
    ax.axis("off")


def _looks_title(tokens, query: int) -> str:
    return f"Where {token_label(tokens[query])!r} (position {query}) looks; grey = future, masked"


@styled
def query_attention_text(weights_row, tokens, query: int, title=None, ax=None, per_line: int = 32) -> Figure:
    """The text with every token shaded by how much attention the token at `query` gives it (outlined in red)."""
    weights_row = np.asarray(weights_row, dtype=float)
    if weights_row.shape != (len(tokens),):
        raise ValueError(f"weights_row must have one weight per token ({len(tokens)}), got {weights_row.shape}")
    _check_query(query, tokens)
    lines = 1 + sum(t == "\n" for t in tokens) + len(tokens) // per_line
    fig, ax = new_figure(per_line * 0.32 + 0.6, 0.42 * lines + 0.9, ax=ax)
    cmap, norm = colormaps[SEQUENTIAL], Normalize(0, max(weights_row.max(), 1e-9))
    colors = [cmap(norm(w)) if j <= query else (0.93, 0.93, 0.93, 1.0) for j, w in enumerate(weights_row)]
    text_colors = ["white" if j <= query and norm(w) < 0.55 else "black" for j, w in enumerate(weights_row)]
    _token_boxes(ax, tokens, colors, text_colors, per_line, outline=query)
    ax.set_title(title or _looks_title(tokens, query))
    return fig


@styled
def attention_view(weights, tokens, query: int, title="Attention weights") -> Figure:
    """One head's heatmap with the followed token's row framed, above that row painted on the text."""
    weights = _check_square("weights", weights, len(tokens))
    _check_query(query, tokens)
    T = len(tokens)
    size = min(7.5, 2.5 + 0.17 * T)
    fig, (top, bottom) = new_panels(max(9.0, size + 2.0), size + 2.2, 2, 1, height_ratios=[size, 2.0])
    attention_heatmap(weights, tokens, title, ax=top)
    top.add_patch(Rectangle((-0.5, query - 0.5), T, 1, fill=False, edgecolor=PALETTE[3], linewidth=2.5))
    query_attention_text(weights[query], tokens, query, ax=bottom, per_line=min(T, 40))
    return fig


@styled
def update_attention_view(fig, weights, tokens, query: int, title="Attention weights") -> Figure:
    """Redraw an `attention_view` figure for new weights or a new followed token, in place when the tokens are
    the same (much faster than building a new figure); otherwise build a new one."""
    if fig is None or getattr(fig, "gptviz_tokens", None) != tuple(tokens):
        fig = attention_view(weights, tokens, query, title)
        fig.gptviz_tokens = tuple(tokens)
        return fig
    weights = _check_square("weights", weights, len(tokens))
    _check_query(query, tokens)
    top, bottom = fig.axes[0], fig.axes[1]
    top.images[0].set_data(weights)
    top.set_title(title)
    frame = top.patches[-1]
    frame.set_y(query - 0.5)
    cmap, norm = colormaps[SEQUENTIAL], Normalize(0, max(weights[query].max(), 1e-9))
    for j, (box, label) in enumerate(zip(bottom.patches, bottom.texts, strict=True)):
        w = weights[query, j]
        box.set_facecolor(cmap(norm(w)) if j <= query else (0.93, 0.93, 0.93, 1.0))
        box.set_edgecolor(PALETTE[3] if j == query else "none")
        label.set_color("white" if j <= query and norm(w) < 0.55 else "black")
    bottom.set_title(_looks_title(tokens, query))
    if fig.get_layout_engine() is not None and not isinstance(fig.get_layout_engine(), PlaceHolderLayoutEngine):
        fig.set_layout_engine("none")  # keep the positions found at the first drawing; skip re-layout
    return fig


__all__ = ["attention_heatmap", "attention_grid", "query_attention_text", "attention_view", "update_attention_view"]
