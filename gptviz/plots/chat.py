"""Pictures for `gptviz.chat` (chapter 09): encoder-decoder vs decoder-only, attention on the question,
before/after fine-tuning, the RLHF pipeline."""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from .sampling import next_token_bars
from .style import PALETTE, SEQUENTIAL, new_figure, new_panels, styled, token_label
from .training import loss_axes

ATTENTION_COLOUR = PALETTE[0]
FFN_COLOUR = PALETTE[2]
CROSS_COLOUR = PALETTE[3]
IO_COLOUR = "#DDDDDD"


def _box(ax: Axes, x, y, w, h, text, colour, text_colour="white", alpha=1.0):
    """A rounded box with centred text; (x, y) is its lower-left corner."""
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.08", linewidth=1.2,
                                facecolor=colour, edgecolor="black", alpha=alpha))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", color=text_colour, wrap=True)


def _arrow(ax: Axes, start, end, colour="black", width=1.5, style="-|>", **kwargs):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=14, color=colour, linewidth=width,
                                 **kwargs))


def _stack(ax: Axes, x, y, layers, title, repeat="N x", repeat_right=False):
    """A transformer stack drawn bottom-up, its title inside the dashed frame; returns the frame's top y."""
    w, h, gap = 2.6, 0.55, 0.18
    height = len(layers) * (h + gap) + gap + 0.45
    ax.add_patch(FancyBboxPatch((x - 0.15, y), w + 0.3, height, boxstyle="round,pad=0.02,rounding_size=0.1",
                                facecolor="none", edgecolor="#777777", linestyle="--", linewidth=1.2))
    ax.text(x + w + 0.3 if repeat_right else x - 0.3, y + height / 2, repeat, ha="left" if repeat_right else "right",
            va="center", color="#555555")
    for i, (label, colour) in enumerate(layers):
        _box(ax, x, y + gap + i * (h + gap), w, h, label, colour)
    ax.text(x + w / 2, y + height - 0.25, title, ha="center", va="center", weight="bold", fontsize="large")  # heading
    return y + height


@styled
def architecture_diagram() -> Figure:
    """The original transformer (encoder-decoder) beside GPT (decoder-only): GPT has no encoder, no cross-attention."""
    fig, (left, right) = new_panels(13.0, 5.4, 1, 2, width_ratios=[1.45, 1])
    for ax in (left, right):
        ax.set_xlim(0, 10 if ax is left else 6.2)
        ax.set_ylim(-0.2, 5.6)
        ax.set_axis_off()
    left.set_title("Transformer of Vaswani et al. (2017): encoder + decoder\n(translation: French in, English out)")
    right.set_title("GPT: decoder only\n(one sequence: prompt, then its continuation)")

    # encoder: bidirectional self-attention over the source sentence
    _box(left, 0.9, 0.0, 2.6, 0.6, "source: « le chat dort »", IO_COLOUR, text_colour="black")
    _arrow(left, (2.2, 0.6), (2.2, 1.05))
    encoder_layers = [("self-attention\n(sees all words)", ATTENTION_COLOUR), ("feed-forward", FFN_COLOUR)]
    top = _stack(left, 0.9, 1.05, encoder_layers, "encoder")
    # decoder: masked self-attention, cross-attention onto the encoder, feed-forward
    _box(left, 6.0, 0.0, 2.6, 0.6, "target so far: « the cat »", IO_COLOUR, text_colour="black")
    _arrow(left, (7.3, 0.6), (7.3, 1.05))
    dec_top = _stack(left, 6.0, 1.05, [("masked self-attention", ATTENTION_COLOUR),
                                       ("cross-attention\n(reads the encoder)", CROSS_COLOUR),
                                       ("feed-forward", FFN_COLOUR)], "decoder", repeat_right=True)
    _arrow(left, (3.65, top - 0.35), (5.95, 1.05 + 0.18 + 0.55 + 0.18 + 0.27), colour=CROSS_COLOUR, width=3,
           connectionstyle="arc3,rad=-0.25")
    left.text(4.75, 3.55, "the decoder uses\nthe encoder's\ninformation HERE", ha="center", color=CROSS_COLOUR,
              weight="bold")
    _box(left, 6.0, dec_top + 0.45, 2.6, 0.6, "softmax: « sleeps »", IO_COLOUR, text_colour="black")
    _arrow(left, (7.3, dec_top + 0.02), (7.3, dec_top + 0.45))

    # GPT: one stack, masked self-attention only
    _box(right, 1.7, 0.0, 3.0, 0.6, "User: ... Assistant:", IO_COLOUR, text_colour="black")
    _arrow(right, (3.2, 0.6), (3.2, 1.05))
    gpt_top = _stack(right, 1.9, 1.05, [("masked self-attention\n(earlier tokens only)", ATTENTION_COLOUR),
                                        ("feed-forward", FFN_COLOUR)], "decoder block", repeat="4 x")
    _box(right, 1.7, gpt_top + 0.45, 3.0, 0.6, "softmax: next token", IO_COLOUR, text_colour="black")
    _arrow(right, (3.2, gpt_top + 0.02), (3.2, gpt_top + 0.45))
    right.text(3.2, gpt_top + 1.35, "no encoder, no cross-attention:\nthe 'context' is the earlier tokens\n"
               "of the same sequence", ha="center", color="black")
    return fig


@styled
def attention_on_text(text, weights, title: str = "Where the answer's first token looks", highlight=None,
                      width: float = 11.0) -> Figure:
    """The text laid out as written, each token's background coloured by the attention it receives.

    `text` is a string (one token a character) or a list of tokens (a special token such as `<|end|>` gets a
    wider box); `weights` has one entry per token; `highlight` is an optional [start, end) span of tokens."""
    tokens = list(text)
    weights = np.asarray(weights, dtype=float)
    if weights.shape != (len(tokens),):
        raise ValueError(f"weights must have one entry per token ({len(tokens)}), got shape {weights.shape}")
    if highlight is not None and not (0 <= highlight[0] < highlight[1] <= len(tokens)):
        raise ValueError(f"highlight must be a span [start, end) inside 0..{len(tokens)}, got {highlight}")
    cells, row, col = [], 0, 0  # (row, column, width, label) of every token
    for token in tokens:
        label = token_label(token) if token == "\n" else token
        cells.append((row, col, len(label), label))
        row, col = (row + 1, 0) if token == "\n" else (row, col + len(label))
    columns = max(c + w for _, c, w, _ in cells) + 1
    fig, ax = new_figure(width, 0.42 * (cells[-1][0] + 1) + 1.3)
    ax.set_xlim(-0.5, columns + 0.5)
    ax.set_ylim(cells[-1][0] + 0.5, -0.5)
    ax.set_axis_off()
    cmap = mpl.colormaps[SEQUENTIAL]
    norm = mpl.colors.Normalize(vmin=0, vmax=max(weights.max(), 1e-9))
    for position, (row, col, size, label) in enumerate(cells):
        value = norm(weights[position])
        inside = highlight is not None and highlight[0] <= position < highlight[1]
        ax.add_patch(mpl.patches.Rectangle((col - 0.5, row - 0.5), size, 1, facecolor=cmap(value),
                                           edgecolor=PALETTE[1] if inside else "none", linewidth=2 if inside else 0))
        ax.text(col + (size - 1) / 2, row, label, ha="center", va="center", family="monospace",
                color="black" if value > 0.55 else "white", weight="bold" if inside else "normal")
    fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, shrink=0.8, label="attention weight",
                 location="right")
    ax.set_title(title)
    return fig


@styled
def before_after_bars(tables: dict[str, dict], kinds=None, kind_names: dict | None = None,
                      title: str = "Held-out questions: before and after fine-tuning") -> Figure:
    """Two panels (follows the format, answer right), grouped bars per question kind, chance as black ticks.

    `tables` maps a model name to `Evaluation.table()` ({kind: {"format", "accuracy", "chance"}})."""
    if not tables:
        raise ValueError("tables must name at least one model")
    kinds = list(kinds or next(iter(tables.values())).keys())
    kind_names = kind_names or {}
    fig, axes = new_panels(12.5, 4.8, 1, 2, sharey=True)
    x = np.arange(len(kinds))
    width = 0.8 / len(tables)
    for ax, metric, label in zip(axes, ("format", "accuracy"), ("follows the chat format", "answer is right"),
                                 strict=True):
        for i, (name, table) in enumerate(tables.items()):
            values = [table[k][metric] for k in kinds]
            bars = ax.bar(x - 0.4 + width * (i + 0.5), values, width, color=PALETTE[i % len(PALETTE)], label=name)
            ax.bar_label(bars, [f"{v:.0%}" for v in values], padding=2, fontsize="small")  # narrow grouped bars
        if metric == "accuracy":
            chance = [next(iter(tables.values()))[k]["chance"] for k in kinds]
            ax.scatter(x, chance, marker="_", s=900, color=PALETTE[7], linewidths=3, label="chance", zorder=2.5)
        ax.set_xticks(x, [kind_names.get(k, k) for k in kinds], rotation=15)
        ax.set(ylim=(0, 1.12), title=label)
        ax.grid(True, axis="y")
    axes[0].set_ylabel("share of held-out questions")
    axes[1].legend(loc="upper right")
    fig.suptitle(title)
    return fig


@styled
def answer_loss_curve(losses, title: str = "Fine-tuning: loss on the answer characters", ax=None,
                      smooth: int = 10) -> Figure:
    """Loss of every fine-tuning step (thin) and its running mean over `smooth` steps (thick)."""
    losses = np.asarray(losses, dtype=float)
    if losses.ndim != 1 or len(losses) == 0:
        raise ValueError("losses must be a non-empty 1-D sequence")
    if not isinstance(smooth, int) or smooth < 1:
        raise ValueError(f"smooth must be a positive integer, got {smooth!r}")
    fig, ax = new_figure(7.0, 4.0, ax=ax)
    steps = np.arange(1, len(losses) + 1)
    ax.plot(steps, losses, color=PALETTE[5], linewidth=1, alpha=0.6, label="each step")
    k = min(smooth, len(losses))
    running = np.convolve(losses, np.ones(k) / k, mode="valid")
    ax.plot(steps[k - 1 :], running, color=PALETTE[0], label=f"mean of {k} steps")
    loss_axes(ax, title, "cross-entropy (nats per character)", xlabel="fine-tuning step", from_zero=False)
    return fig


@styled
def first_token_comparison(probs_by_model: dict[str, np.ndarray], vocabulary, top: int = 8,
                           title: str = "The reply's first character") -> Figure:
    """Next-token bars side by side, one panel per model, for the position where the reply starts."""
    if not probs_by_model:
        raise ValueError("probs_by_model must name at least one model")
    fig, axes = new_panels(5.0 * len(probs_by_model), 0.4 * top + 1.8, 1, len(probs_by_model), squeeze=False)
    for ax, (name, probs) in zip(axes[0], probs_by_model.items(), strict=True):
        next_token_bars(probs, vocabulary, top, name, ax=ax)
    fig.suptitle(title)
    return fig


@styled
def preference_pipeline(plays: int | None = None, characters: float | None = None,
                        demonstrations: int | None = None) -> Figure:
    """From pre-training to a chat assistant: the three steps, and where this chapter's model stops.

    `plays`, `characters` and `demonstrations` describe our model's pre-training text and fine-tuning data
    (measured by the caller; left out, the boxes say so without numbers)."""
    corpus = ("ours: the plays" if plays is None or characters is None
              else f"ours: {plays} plays,\n{characters / 1e6:.1f} million characters")
    tuned = "ours: generated\nquestions about the plays" if demonstrations is None else \
        f"ours: {demonstrations:,} generated\nquestions about the plays"
    fig, ax = new_figure(13.0, 5.2)
    ax.set_xlim(0, 13)
    ax.set_ylim(0, 5.2)
    ax.set_axis_off()
    steps = [
        (0.2, "1. pre-training", "next-token prediction\non a mountain of text", PALETTE[0],
         corpus),
        (4.6, "2. supervised fine-tuning", "the same next-token loss,\non the replies of\ndemonstration chats",
         PALETTE[2], tuned),
        (9.0, "3. preference tuning\n(RLHF, DPO)", "people rank replies;\nthe model is pushed\ntowards the preferred",
         PALETTE[4], "NOT done here:\nour model never saw\na human preference"),
    ]
    for x, name, what, colour, ours in steps:
        _box(ax, x, 2.6, 3.8, 2.2, f"{name}\n\n{what}", colour)
        _box(ax, x + 0.3, 0.35, 3.2, 1.3, ours, "white", text_colour="black")
    _arrow(ax, (4.0, 3.7), (4.6, 3.7), width=2.5)
    _arrow(ax, (8.4, 3.7), (9.0, 3.7), width=2.5)
    ax.plot([8.7, 8.7], [0.15, 5.05], color=PALETTE[3], linestyle="--", linewidth=2.5)
    ax.text(8.6, 2.05, "this chapter's\nmodel stops here", ha="right", va="center", color=PALETTE[3], weight="bold")
    ax.set_title("From a text predictor to a chat assistant")
    return fig


@styled
def head_ablation_bars(accuracies: dict[str, float], chance: float,
                  title: str = "Who speaks first? Held-out questions, one head switched off") -> Figure:
    """Accuracy with each named head ablated (and none), chance as a dashed line."""
    if not accuracies:
        raise ValueError("accuracies must name at least one condition")
    fig, ax = new_figure(7.5, 4.0)
    names = list(accuracies)
    bars = ax.bar(names, [accuracies[n] for n in names], color=[PALETTE[i % len(PALETTE)] for i in range(len(names))])
    ax.bar_label(bars, [f"{accuracies[n]:.0%}" for n in names], padding=2)
    ax.axhline(chance, color=PALETTE[7], linestyle="--", label=f"chance ({chance:.0%})")
    ax.set(ylim=(0, 1.12), ylabel="answer is right", title=title)
    ax.legend(loc="upper right")
    ax.grid(True, axis="y")
    return fig


__all__ = ["architecture_diagram", "attention_on_text", "before_after_bars", "answer_loss_curve",
           "first_token_comparison", "preference_pipeline"]
