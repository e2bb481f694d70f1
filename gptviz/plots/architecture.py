"""The architecture of this suite's GPT, drawn from its config: every stage from text to probabilities, with the
shape of the array that flows along each arrow (chapter 00)."""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch, Rectangle

from .style import PALETTE, new_figure, styled

COLOURS = {"io": "#EEEEEE", "embed": "#BFE1F5", "norm": "#DDDDDD", "attention": "#F7D9A0", "mlp": "#A9DCCB",
           "out": "#EBC3DA"}
STREAM = PALETTE[0]
TIED = PALETTE[3]


def _box(ax, x, y, w, h, text, colour):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0,rounding_size=0.1",
                                facecolor=colour, edgecolor="#333333", linewidth=1.0, zorder=2))
    ax.text(x, y, text, ha="center", va="center", zorder=3)


def _arrow(ax, start, end, colour="#333333", style="-"):
    ax.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": "-|>", "color": colour, "linewidth": 1.4,
                                                      "linestyle": style, "shrinkA": 0, "shrinkB": 0}, zorder=1)


def _shape(ax, x, y, text):
    """An array shape written beside an arrow."""
    ax.text(x, y, text, ha="left", va="center", family="monospace", color="#333333", fontsize="small")


def _plus(ax, x, y):
    """The residual add: a circle with a plus (a marker, so it stays round whatever the axes' aspect)."""
    ax.plot([x], [y], marker="o", markersize=15, markerfacecolor="white", markeredgecolor="#333333",
            markeredgewidth=1.3, zorder=3)
    ax.text(x, y, "+", ha="center", va="center", zorder=4, fontweight="bold")


@styled
def model_diagram(config, T: int | None = None, ax=None) -> Figure:
    """The GPT of `config` as a flow chart: token and position embeddings, n_layer pre-norm blocks (LayerNorm →
    attention → add, LayerNorm → MLP → add), the final LayerNorm, the unembedding tied to the token embedding
    (no bias), the softmax; each arrow labelled with its array shape for a text of T tokens (None: "T")."""
    if T is not None and (isinstance(T, bool) or not isinstance(T, int) or not 1 <= T <= config.block_size):
        raise ValueError(f"T must be an integer in 1..{config.block_size} (block_size) or None, got {T!r}")
    t = "T" if T is None else str(T)
    last = "T-1" if T is None else str(T - 1)
    C, V, H = config.n_embd, config.vocab_size, config.n_head
    units = 7.6 + 2 * config.n_layer
    fig, ax = new_figure(9.5, 0.62 * units + 0.6, ax=ax)
    xs, xb, wb = 3.3, 7.0, 4.3  # the residual stream's x; the sublayer boxes' centre and width
    y = 0.0
    _box(ax, xs, y, 3.6, 0.5, f"text ({t} characters)", COLOURS["io"])
    _arrow(ax, (xs, y - 0.25), (xs, y - 0.75))
    _shape(ax, xs + 0.1, y - 0.5, "tokenizer (chapter 01)")
    y -= 1.0
    _box(ax, xs, y, 3.6, 0.5, f"token ids ({t},)", COLOURS["io"])
    y_emb = y - 1.05
    x_wte = 1.5
    _arrow(ax, (xs - 0.6, y - 0.25), (x_wte, y_emb + 0.3))
    _box(ax, x_wte, y_emb, 2.7, 0.6, f"token embedding\nwte: {V} × {C}", COLOURS["embed"])
    _box(ax, xb, y_emb, wb, 0.6, f"position embedding\nwpe: rows 0..{last} of {config.block_size} × {C}",
         COLOURS["embed"])
    y_add = y_emb - 1.0
    _arrow(ax, (x_wte, y_emb - 0.3), (xs - 0.17, y_add))
    _arrow(ax, (xb, y_emb - 0.3), (xs + 0.17, y_add))
    _shape(ax, x_wte - 0.9, y_add + 0.25, f"({t}, {C})")
    _shape(ax, xb - 1.3, y_add + 0.25, f"({t}, {C})")
    _plus(ax, xs, y_add)
    y = y_add
    ax.text(xs - 0.3, y - 0.45, "residual stream", ha="right", va="center", color=STREAM, fontweight="bold")
    subs = [("LayerNorm → attention\n" + f"{H} heads, each ({t}, {C // H}) → proj",
             COLOURS["attention"]),
            ("LayerNorm → MLP\n" + f"({t}, {4 * C}) inside, GELU", COLOURS["mlp"])]
    for layer in range(config.n_layer):
        top = y - 0.2
        for text, colour in subs:
            y_next = y - 1.0
            fork, box_y = y - 0.38, y - 0.5
            ax.plot([xs, xs], [y, y_next], color=STREAM, linewidth=3, zorder=1)
            ax.plot([xs, xb - wb / 2 - 0.4, xb - wb / 2 - 0.4], [fork, fork, box_y], color="#333333", linewidth=1.4)
            _arrow(ax, (xb - wb / 2 - 0.4, box_y), (xb - wb / 2, box_y))
            _box(ax, xb, box_y, wb, 0.62, text, colour)
            ax.plot([xb, xb], [box_y - 0.31, y_next], color="#333333", linewidth=1.4)
            _arrow(ax, (xb, y_next), (xs + 0.17, y_next))
            _shape(ax, xb - 1.4, y_next - 0.14, f"({t}, {C})")
            _plus(ax, xs, y_next)
            y = y_next
        ax.add_patch(Rectangle((0.6, y - 0.3), 9.3, top - y + 0.3 - 0.06, facecolor="none", edgecolor="#999999",
                               linestyle="--", linewidth=1.0, zorder=0))
        ax.text(0.75, (top + y) / 2 - 0.1, f"block {layer}", ha="left", va="center", fontweight="bold")
        _shape(ax, xs - 1.45, y + 0.5, f"({t}, {C})")
    y_norm = y - 0.95
    ax.plot([xs, xs], [y - 0.17, y_norm + 0.25], color=STREAM, linewidth=3, zorder=1)
    _box(ax, xs, y_norm, 3.6, 0.5, "final LayerNorm (ln_f)", COLOURS["norm"])
    y_logits = y_norm - 1.05
    _arrow(ax, (xs, y_norm - 0.25), (xs, y_logits + 0.32))
    _shape(ax, xs + 0.1, (y_norm + y_logits) / 2, f"({t}, {C})")
    _box(ax, xs, y_logits, 3.6, 0.64, f"unembedding: × wteᵀ ({C} × {V})\nno bias", COLOURS["out"])
    # weight tying: the output layer is the token embedding table itself
    x_tie = 0.3
    ax.plot([x_wte - 1.35, x_tie], [y_emb, y_emb], color=TIED, linewidth=1.4, linestyle="--")
    ax.plot([x_tie, x_tie], [y_emb, y_logits], color=TIED, linewidth=1.4, linestyle="--")
    _arrow(ax, (x_tie, y_logits), (xs - 1.8, y_logits), colour=TIED, style="--")
    ax.text(x_tie - 0.12, (y_emb + y_logits) / 2, "weight tying: the output layer is the same table wte",
            ha="right", va="center", rotation=90, color=TIED, fontweight="bold")
    y_probs = y_logits - 1.05
    _arrow(ax, (xs, y_logits - 0.32), (xs, y_probs + 0.25))
    _shape(ax, xs + 0.1, (y_logits + y_probs) / 2, f"logits ({t}, {V})")
    _box(ax, xs, y_probs, 3.6, 0.5, f"softmax → probabilities ({t}, {V})", COLOURS["io"])
    ax.text(xs + 2.0, y_probs, "row t guesses token t + 1:\nthe last row, the next character", ha="left",
            va="center")
    ax.set_xlim(-0.4, 10.0)
    ax.set_ylim(y_probs - 0.45, 0.4)
    ax.axis("off")
    ax.set_title(f"This model: {config.n_layer} blocks of {H} heads, width {C}, {V} characters "
                 f"(shapes for a text of {t} tokens)", loc="left")
    return fig


__all__ = ["model_diagram"]
