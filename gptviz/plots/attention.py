"""Pictures of the attention weights that `trace.inspect` returns: one head as a heatmap, every head at once,
and one token's attention painted on the text."""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.layout_engine import PlaceHolderLayoutEngine
from matplotlib.patches import Rectangle

from .style import PALETTE, SEQUENTIAL, new_figure, new_panels, rc, styled, token_label


def _check_square(name: str, matrix, n: int | None = None) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim < 2 or matrix.shape[-1] != matrix.shape[-2] or (n is not None and matrix.shape[-1] != n):
        expected = f"(..., {n}, {n})" if n is not None else "(..., T, T)"
        raise ValueError(f"{name} must have shape {expected}, got {matrix.shape}")
    return matrix


def _check_query(query: int, tokens) -> None:
    if not 0 <= query < len(tokens):
        raise ValueError(f"query must be a token position in 0..{len(tokens) - 1}, got {query}")


LABEL_PITCH = 1.3  # a tick label needs this many times its font size of height, or it overlaps the next one
MAX_HEATMAP_INCHES = 7.5  # the tallest heatmap that still fits a laptop screen with its title and labels


def readable_tokens(height_inches: float) -> int:
    """How many token labels fit, one per row, along `height_inches` at the style's tick label size."""
    return max(2, int(height_inches * 72 / (rc()["ytick.labelsize"] * LABEL_PITCH)))


def readable_window(T: int, query: int, n: int) -> tuple[int, int]:
    """The rows start..end (end excluded, at most n of them) of a T-token heatmap that show `query`: the last n
    tokens when the query is among them, otherwise the block of n that holds it (steady while a slider moves)."""
    if T <= n:
        return 0, T
    if query >= T - n:
        return T - n, T
    start = (query // n) * n
    return start, start + n


def _cropped_title(title: str, start: int, end: int, T: int) -> str:
    if end - start == T:
        return title
    where = f"the last {end - start}" if end == T else f"tokens {start}..{end - 1}"
    return f"{title}\n({where} of {T} tokens; weights to the others not shown)"


@styled
def attention_heatmap(weights, tokens, title="Attention weights", ax=None, max_tokens: int | None = None) -> Figure:
    """Heatmap of a (T, T) attention matrix: row = the token attending, column = the token attended to.

    Every row and column is labelled with its token. When more tokens are given than labels fit (at most about
    36 rows in a standalone figure, fewer in a small `ax`; or more than `max_tokens`), the heatmap shows the last
    ones and says so.
    """
    weights = np.asarray(weights)
    labels = [token_label(t) for t in tokens]
    T = len(labels)
    if weights.shape != (T, T):
        raise ValueError(f"weights must be ({T}, {T}) for {T} tokens, got {weights.shape}")
    if ax is None:
        pitch = rc()["ytick.labelsize"] * LABEL_PITCH / 72  # inches per labelled row
        n = min(T, readable_tokens(MAX_HEATMAP_INCHES))
        side = max(2.0, n * pitch)
        fig, ax = new_figure(side + 2.4, side + 1.9)
    else:
        fig = ax.figure
        n = min(T, readable_tokens(fig.get_figheight() * ax.get_position().height))
    if max_tokens is not None:
        n = min(T, max(1, int(max_tokens))) if ax is not None else min(n, max(1, int(max_tokens)))
    start = T - n
    image = ax.imshow(weights[start:, start:], vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks(np.arange(n), labels[start:])
    ax.set_yticks(np.arange(n), labels[start:])
    ax.tick_params(length=2, pad=2)
    ax.set(xlabel="attends to (key position)", ylabel="token attending (query position)",
           title=_cropped_title(title, start, T, T))
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
    """One head's heatmap with the followed token's row framed, above that row painted on the whole text.

    The heatmap labels every token, so a long text shows a readable window of it that holds the followed token.
    """
    weights = _check_square("weights", weights, len(tokens))
    _check_query(query, tokens)
    T = len(tokens)
    pitch = rc()["ytick.labelsize"] * LABEL_PITCH / 72  # inches per labelled row
    start, end = readable_window(T, query, readable_tokens(MAX_HEATMAP_INCHES - 0.3))
    n = end - start
    size = max(2.5, n * pitch + 1.6)
    per_line = min(T, 40)
    text_rows = 1 + sum(t == "\n" for t in tokens) + T // per_line
    text_height = 0.45 * text_rows + 0.9
    fig, (top, bottom) = new_panels(max(9.0, size + 2.4), size + text_height, 2, 1,
                                    height_ratios=[size, text_height])
    attention_heatmap(weights[start:end, start:end], tokens[start:end], _cropped_title(title, start, end, T), ax=top,
                      max_tokens=n)
    top.add_patch(Rectangle((-0.5, query - start - 0.5), n, 1, fill=False, edgecolor=PALETTE[3], linewidth=2.5))
    query_attention_text(weights[query], tokens, query, ax=bottom, per_line=per_line)
    fig.gptviz_window, fig.gptviz_tokens = (start, end), tuple(tokens)  # what update_attention_view reuses
    return fig


@styled
def update_attention_view(fig, weights, tokens, query: int, title="Attention weights") -> Figure:
    """Redraw an `attention_view` figure for new weights or a new followed token, in place when the tokens and the
    heatmap's window are the same (much faster than building a new figure); otherwise build a new one."""
    weights = _check_square("weights", weights, len(tokens))
    _check_query(query, tokens)
    window = getattr(fig, "gptviz_window", None)
    if (fig is None or getattr(fig, "gptviz_tokens", None) != tuple(tokens)
            or window is None or not window[0] <= query < window[1]):
        return attention_view(weights, tokens, query, title)
    start, end = window
    top, bottom = fig.axes[0], fig.axes[1]
    top.images[0].set_data(weights[start:end, start:end])
    top.set_title(_cropped_title(title, start, end, len(tokens)))
    frame = top.patches[-1]
    frame.set_y(query - start - 0.5)
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


__all__ = ["readable_tokens", "readable_window", "attention_heatmap", "attention_grid", "query_attention_text",
           "attention_view", "update_attention_view"]
