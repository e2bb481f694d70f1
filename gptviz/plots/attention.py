"""Pictures for chapters 01, 03, 04 and 05: attention, heads, tokens, embeddings and positions.

The single attention heatmap and the bar charts live in `core`; here are the pictures built
around them: every head at once, one token's attention painted on the text, head-by-head
score tables, the softmax-saturation curves, the embedding map and the positional encodings.
"""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.layout_engine import PlaceHolderLayoutEngine
from matplotlib.patches import Rectangle

from .core import DIVERGING, FONT_SIZE, PALETTE, SEQUENTIAL, attention_heatmap, new_figure, token_label


def _check_square(name: str, matrix, n: int | None = None) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim < 2 or matrix.shape[-1] != matrix.shape[-2] or (n is not None and matrix.shape[-1] != n):
        expected = f"(..., {n}, {n})" if n is not None else "(..., T, T)"
        raise ValueError(f"{name} must have shape {expected}, got {matrix.shape}")
    return matrix


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
    fig = Figure(figsize=(2.3 * n_head + 1.6, 2.55 * n_layer + 1.0), layout="constrained")
    ax = fig.add_subplot(111)
    cmap = colormaps[SEQUENTIAL].with_extremes(bad=(1.0, 1.0, 1.0, 0.0))  # gaps transparent: titles show through
    image = ax.imshow(mosaic, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    for layer in range(n_layer):
        for head in range(n_head):
            name = f"L{layer} H{head}"
            if subtitles and (layer, head) in subtitles:
                name += f": {subtitles[layer, head]}"
            ax.text(head * cell + T / 2, layer * cell - 0.4, name, ha="center", va="bottom", fontsize=FONT_SIZE - 1)
    ax.set_xticks([(h + 0.5) * cell - gap / 2 for h in range(n_head)], [f"head {h}" for h in range(n_head)],
                  fontsize=FONT_SIZE)
    ax.set_yticks([(lay + 0.5) * cell - gap / 2 for lay in range(n_layer)], [f"layer {lay}" for lay in range(n_layer)],
                  fontsize=FONT_SIZE)
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_xlabel(f"in each panel: key (attended to) →, query ↓; {T} tokens", fontsize=FONT_SIZE - 1)
    ax.set_title(title, fontsize=FONT_SIZE + 2, pad=18)
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
        ax.text(x + width * 0.47, y, token_label(token), ha="center", va="center", fontsize=FONT_SIZE + 1,
                color=(text_colors[i] if text_colors else "black"), family="monospace")
        x, col = x + width, col + 1
        if token == "\n":
            x, y, col = 0.0, y - 1.25, 0
    ax.set_xlim(-0.2, per_line + 0.2)
    ax.set_ylim(y - 0.8, 0.8)
    ax.set_aspect("equal")
    ax.axis("off")


def query_attention_text(weights_row, tokens, query: int, title=None, ax=None, per_line: int = 32) -> Figure:
    """The text with every token shaded by how much attention the token at `query` gives it (outlined in red)."""
    weights_row = np.asarray(weights_row, dtype=float)
    if weights_row.shape != (len(tokens),):
        raise ValueError(f"weights_row must have one weight per token ({len(tokens)}), got {weights_row.shape}")
    if not 0 <= query < len(tokens):
        raise ValueError(f"query must be a token position in 0..{len(tokens) - 1}, got {query}")
    lines = 1 + sum(t == "\n" for t in tokens) + len(tokens) // per_line
    fig, ax = new_figure(per_line * 0.32 + 0.6, 0.42 * lines + 0.9) if ax is None else (ax.figure, ax)
    cmap, norm = colormaps[SEQUENTIAL], Normalize(0, max(weights_row.max(), 1e-9))
    colors = [cmap(norm(w)) if j <= query else (0.93, 0.93, 0.93, 1.0) for j, w in enumerate(weights_row)]
    text_colors = ["white" if j <= query and norm(w) < 0.55 else "black" for j, w in enumerate(weights_row)]
    _token_boxes(ax, tokens, colors, text_colors, per_line, outline=query)
    ax.set_title(title or f"Where {token_label(tokens[query])!r} (position {query}) looks; grey = future, masked",
                 fontsize=FONT_SIZE)
    return fig


def attention_view(weights, tokens, query: int, title="Attention weights") -> Figure:
    """One head's heatmap with the followed token's row framed, above that row painted on the text."""
    weights = _check_square("weights", weights, len(tokens))
    if not 0 <= query < len(tokens):
        raise ValueError(f"query must be a token position in 0..{len(tokens) - 1}, got {query}")
    T = len(tokens)
    size = min(7.5, 2.5 + 0.17 * T)
    fig = Figure(figsize=(max(9.0, size + 2.0), size + 2.2), layout="constrained")
    top, bottom = fig.subplots(2, 1, height_ratios=[size, 2.0])
    attention_heatmap(weights, tokens, title, ax=top)
    top.add_patch(Rectangle((-0.5, query - 0.5), T, 1, fill=False, edgecolor=PALETTE[3], linewidth=2.5))
    query_attention_text(weights[query], tokens, query, ax=bottom, per_line=min(T, 40))
    return fig


def update_attention_view(fig, weights, tokens, query: int, title="Attention weights") -> Figure:
    """Redraw an `attention_view` figure for new weights or a new followed token, in place when the tokens are
    the same (much faster than building a new figure); otherwise build a new one."""
    if fig is None or getattr(fig, "gptviz_tokens", None) != tuple(tokens):
        fig = attention_view(weights, tokens, query, title)
        fig.gptviz_tokens = tuple(tokens)
        return fig
    weights = _check_square("weights", weights, len(tokens))
    if not 0 <= query < len(tokens):
        raise ValueError(f"query must be a token position in 0..{len(tokens) - 1}, got {query}")
    top, bottom = fig.axes[0], fig.axes[1]
    top.images[0].set_data(weights)
    top.set_title(title, fontsize=FONT_SIZE + 1)
    frame = top.patches[-1]
    frame.set_y(query - 0.5)
    cmap, norm = colormaps[SEQUENTIAL], Normalize(0, max(weights[query].max(), 1e-9))
    for j, (box, label) in enumerate(zip(bottom.patches, bottom.texts, strict=True)):
        w = weights[query, j]
        box.set_facecolor(cmap(norm(w)) if j <= query else (0.93, 0.93, 0.93, 1.0))
        box.set_edgecolor(PALETTE[3] if j == query else "none")
        label.set_color("white" if j <= query and norm(w) < 0.55 else "black")
    bottom.set_title(f"Where {token_label(tokens[query])!r} (position {query}) looks; grey = future, masked",
                     fontsize=FONT_SIZE)
    if fig.get_layout_engine() is not None and not isinstance(fig.get_layout_engine(), PlaceHolderLayoutEngine):
        fig.set_layout_engine("none")  # keep the positions found at the first drawing; skip re-layout
    return fig


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
    fig, ax = new_figure(1.15 * cols + 2.6, 0.62 * rows + 1.6) if ax is None else (ax.figure, ax)
    limit = np.nanmax(np.abs(values)) if symmetric else None
    vmin, vmax = (-limit, limit) if symmetric else (np.nanmin(values), np.nanmax(values))
    image = ax.imshow(values, cmap=DIVERGING if symmetric else cmap, vmin=vmin, vmax=vmax, aspect="auto")
    norm = Normalize(vmin, vmax if vmax > vmin else vmin + 1)
    for (i, j), value in np.ndenumerate(values):
        shade = norm(value)
        dark = shade < 0.5 if not symmetric else abs(shade - 0.5) > 0.3
        ax.text(j, i, fmt.format(value), ha="center", va="center", fontsize=FONT_SIZE - 1,
                color="white" if dark and not symmetric else "black")
    ax.set_xticks(range(cols), col_labels, fontsize=FONT_SIZE - 1, rotation=90 if cols > 6 else 0)
    ax.set_yticks(range(rows), row_labels, fontsize=FONT_SIZE - 1)
    ax.set_title(title, fontsize=FONT_SIZE + 1)
    fig.colorbar(image, ax=ax, shrink=0.8, label=colorbar_label)
    return fig


def role_scores_figure(roles, title="What each head does: share of attention on each role's token") -> Figure:
    """Roles × heads table of role scores (a gptviz.heads.HeadRoles), with the even-spread chance level per role."""
    from ..heads import ROLES  # local import: plots do not otherwise depend on measurements

    n_layer, n_head = roles.scores[ROLES[0]].shape
    values = np.array([roles.scores[r].reshape(-1) for r in ROLES]) * 100  # (roles, heads)
    col_labels = [f"L{layer}H{head}" for layer in range(n_layer) for head in range(n_head)]
    row_labels = [f"{r} ({100 * roles.chance[r]:.0f}%)" for r in ROLES]
    fig = head_matrix(values, title, "{:.0f}", row_labels, col_labels, colorbar_label="% of attention")
    fig.set_size_inches(0.62 * len(col_labels) + 4.2, 0.6 * len(ROLES) + 2.0)
    fig.axes[0].set_xlabel("head (L = layer, H = head); in brackets: chance level", fontsize=FONT_SIZE)
    return fig


def softmax_saturation_figure(result) -> Figure:
    """Two panels from gptviz.heads.softmax_saturation: largest weight and gradient size against dimension d."""
    fig = Figure(figsize=(11.0, 4.2), layout="constrained")
    left, right = fig.subplots(1, 2)
    dims = result["dims"]
    for ax, key, label in ((left, "max_weight", "largest attention weight"),
                           (right, "grad", "size of softmax gradient")):
        ax.plot(dims, result[f"{key}_raw"], "-o", color=PALETTE[3], label="q·k  (not scaled)", linewidth=2.5)
        ax.plot(dims, result[f"{key}_scaled"], "-s", color=PALETTE[0], label="q·k / √d", linewidth=2.5)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("dimension d of queries and keys", fontsize=FONT_SIZE)
        ax.set_ylabel(label, fontsize=FONT_SIZE)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=FONT_SIZE - 1)
    left.set_ylim(0, 1.02)
    left.set_title("Without scaling, softmax picks one key", fontsize=FONT_SIZE + 1)
    right.set_ylim(0, None)
    right.set_title("…and the gradient through it shrinks", fontsize=FONT_SIZE + 1)
    return fig


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
        ax.plot(offsets[1:], curve[1:], color=PALETTE[layer % len(PALETTE)], linewidth=2, label=f"layer {layer}")
    if far is not None:
        ax.axvspan(far, offsets[-1], color=PALETTE[6], alpha=0.2, label=f"{far} or more back")
    ax.set_xscale("log")
    ax.set_yscale("log")
    positive = curves[:, 1:][curves[:, 1:] > 0]
    if positive.size:
        ax.set_ylim(max(positive.min(), 1e-5) / 1.5, min(1.0, positive.max() * 1.5))
    ax.set_xlabel("distance back (query position − key position)", fontsize=FONT_SIZE)
    ax.set_ylabel("mean attention weight", fontsize=FONT_SIZE)
    ax.set_title(title, fontsize=FONT_SIZE + 1)
    ax.grid(alpha=0.3, which="major")
    ax.legend(fontsize=FONT_SIZE - 1)
    return fig


def token_strip(tokens, title="", ax=None, per_line: int = 36, max_lines: int = 14) -> Figure:
    """Tokens in alternating colours, so you can see where one ends and the next begins.

    At most `max_lines` lines are drawn (the first tokens), with "showing N of M tokens" in the title.
    """
    if not tokens:
        raise ValueError("tokens must not be empty")
    if max_lines < 1:
        raise ValueError(f"max_lines must be >= 1, got {max_lines}")
    placed, x, line = [], 0.0, 0  # (x, line, label) of each token that fits
    for token in tokens:
        shown = token_label(token) if len(token) == 1 else token.replace("\n", "⏎").replace(" ", "␣")
        if x + len(shown) > per_line and x > 0:
            x, line = 0.0, line + 1
        if line >= max_lines:
            break
        placed.append((x, line, shown))
        x += len(shown)
        if token.endswith("\n"):
            x, line = 0.0, line + 1
    lines = 1 + max(line for _, line, _ in placed)
    fig, ax = new_figure(per_line * 0.3 + 0.6, 0.5 * lines + 0.9) if ax is None else (ax.figure, ax)
    shades = [PALETTE[5], PALETTE[1]]
    for i, (x, line, shown) in enumerate(placed):
        y = -1.3 * line
        ax.add_patch(Rectangle((x + 0.04, y - 0.5), len(shown) - 0.08, 1.0, facecolor=shades[i % 2], alpha=0.75))
        ax.text(x + len(shown) / 2, y, shown, ha="center", va="center", fontsize=FONT_SIZE + 1, family="monospace")
    ax.set_xlim(-0.2, per_line + 0.2)
    ax.set_ylim(-1.3 * (lines - 1) - 0.8, 0.8)
    ax.axis("off")
    title = title or f"{len(tokens)} tokens"
    if len(placed) < len(tokens):
        title += f" (showing {len(placed):,} of {len(tokens):,} tokens)"
    ax.set_title(title, fontsize=FONT_SIZE + 1, loc="left")
    return fig


def token_count_bars(counts: dict, text_name="the text", ax=None) -> Figure:
    """Horizontal bars: how many tokens each scheme needs for the same text."""
    if not counts:
        raise ValueError("counts must name at least one scheme")
    names, values = list(counts), [counts[k] for k in counts]
    fig, ax = new_figure(7.5, 0.55 * len(names) + 1.5) if ax is None else (ax.figure, ax)
    bars = ax.barh(range(len(names))[::-1], values, color=[PALETTE[i % len(PALETTE)] for i in range(len(names))])
    ax.set_yticks(range(len(names))[::-1], names, fontsize=FONT_SIZE)
    ax.bar_label(bars, [f"{v:,}" for v in values], padding=3, fontsize=FONT_SIZE - 1)
    ax.set_xlim(0, max(values) * 1.18)
    ax.set_xlabel(f"tokens needed for {text_name}", fontsize=FONT_SIZE)
    ax.set_title("Fewer, longer tokens: the sequence gets shorter", fontsize=FONT_SIZE + 1)
    return fig


def embedding_map(coords, chars, groups, explained=None, title="Learned character embeddings, projected to 2-D",
                  ax=None) -> Figure:
    """Each character written at its 2-D position, coloured by its group (vowel, capital, ...)."""
    coords = np.asarray(coords, dtype=float)
    if coords.shape != (len(chars), 2) or len(groups) != len(chars):
        raise ValueError(f"coords must be ({len(chars)}, 2) and groups one per character; got {coords.shape}, "
                         f"{len(groups)} groups")
    fig, ax = new_figure(8.0, 7.0) if ax is None else (ax.figure, ax)
    names = list(dict.fromkeys(groups))
    color = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(names)}
    for (x, y), char, group in zip(coords, chars, groups, strict=True):
        ax.text(x, y, token_label(char), color=color[group], fontsize=FONT_SIZE + 3, ha="center", va="center",
                fontweight="bold", family="monospace")
    for g in names:
        ax.scatter([], [], color=color[g], label=g, s=60)
    pad = 0.08 * (coords.max(0) - coords.min(0))
    ax.set_xlim(coords[:, 0].min() - pad[0], coords[:, 0].max() + pad[0])
    ax.set_ylim(coords[:, 1].min() - pad[1], coords[:, 1].max() + pad[1])
    share = ["", ""] if explained is None else [f" ({100 * e:.0f}% of variance)" for e in explained[:2]]
    ax.set_xlabel("first principal direction" + share[0], fontsize=FONT_SIZE)
    ax.set_ylabel("second principal direction" + share[1], fontsize=FONT_SIZE)
    ax.set_title(title, fontsize=FONT_SIZE + 1)
    ax.legend(fontsize=FONT_SIZE - 1, loc="best", framealpha=0.85)
    ax.grid(alpha=0.2)
    return fig


def positional_heatmap(encoding, title="Positional encoding", ax=None, mark: int | None = None) -> Figure:
    """A (positions, n_embd) encoding as an image: one row per position, one column per dimension."""
    encoding = np.asarray(encoding, dtype=float)
    if encoding.ndim != 2:
        raise ValueError(f"encoding must be (positions, n_embd), got shape {encoding.shape}")
    fig, ax = new_figure(8.0, 5.0) if ax is None else (ax.figure, ax)
    limit = np.percentile(np.abs(encoding), 99) or 1.0  # a few outliers should not wash out the rest
    image = ax.imshow(encoding, cmap=DIVERGING, vmin=-limit, vmax=limit, aspect="auto", interpolation="nearest")
    if mark is not None:
        ax.axhline(mark, color=PALETTE[7], linewidth=2.5)
    ax.set_xlabel("embedding dimension", fontsize=FONT_SIZE)
    ax.set_ylabel("position in the sequence", fontsize=FONT_SIZE)
    ax.set_title(title, fontsize=FONT_SIZE + 1)
    fig.colorbar(image, ax=ax, shrink=0.8, label="value added", extend="both")
    return fig


def similarity_by_offset_figure(curves: dict, title="How alike are two positions k apart?", ax=None) -> Figure:
    """Lines of mean cosine similarity against offset k: curves = {name: (offsets, similarity)}."""
    fig, ax = new_figure(7.5, 4.3) if ax is None else (ax.figure, ax)
    for i, (name, (offsets, sims)) in enumerate(curves.items()):
        ax.plot(offsets, sims, color=PALETTE[i % len(PALETTE)], linewidth=2.5, label=name)
    ax.axhline(0, color=PALETTE[7], linewidth=0.8)
    ax.set_xlabel("offset k between the two positions", fontsize=FONT_SIZE)
    ax.set_ylabel("cosine similarity", fontsize=FONT_SIZE)
    ax.set_title(title, fontsize=FONT_SIZE + 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=FONT_SIZE - 1)
    return fig


def task_curves_figure(runs, chance: float | None = None, title="Learning 'which came first?'") -> Figure:
    """Loss against step for models trained on the toy task (gptviz.positions.TaskRun), one line each."""
    fig, ax = new_figure(7.5, 4.3)
    for i, run in enumerate(runs):
        label = f"{run.label}: {100 * run.accuracy:.0f}% right"
        ax.plot(run.steps, run.losses, color=PALETTE[i % len(PALETTE)], linewidth=2.5, label=label)
    if chance is not None:
        ax.axhline(chance, color=PALETTE[7], linestyle="--", linewidth=1.2, label=f"guessing ({chance:.2f})")
    ax.set_xlabel("training step", fontsize=FONT_SIZE)
    ax.set_ylabel("loss on the answer (nats)", fontsize=FONT_SIZE)
    ax.set_title(title, fontsize=FONT_SIZE + 1)
    ax.set_ylim(0, None)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=FONT_SIZE - 1)
    return fig


__all__ = ["attention_grid", "query_attention_text", "attention_view", "update_attention_view", "head_matrix",
           "role_scores_figure",
           "softmax_saturation_figure", "attention_by_offset_figure", "token_strip", "token_count_bars",
           "embedding_map", "positional_heatmap", "similarity_by_offset_figure", "task_curves_figure"]
