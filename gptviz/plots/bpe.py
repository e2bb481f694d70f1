"""Pictures of tokens (`gptviz.bpe`): where a tokenizer cuts a text, and how many tokens each scheme needs."""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .style import PALETTE, new_figure, styled, token_label


@styled
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
    fig, ax = new_figure(per_line * 0.3 + 0.6, 0.5 * lines + 0.9, ax=ax)
    shades = [PALETTE[5], PALETTE[1]]
    for i, (x, line, shown) in enumerate(placed):
        y = -1.3 * line
        ax.add_patch(Rectangle((x + 0.04, y - 0.5), len(shown) - 0.08, 1.0, facecolor=shades[i % 2], alpha=0.75))
        # larger than the style's other text: here the tokens are the picture
        ax.text(x + len(shown) / 2, y, shown, ha="center", va="center", fontsize="large", family="monospace")
    ax.set_xlim(-0.2, per_line + 0.2)
    ax.set_ylim(-1.3 * (lines - 1) - 0.8, 0.8)
    ax.axis("off")
    title = title or f"{len(tokens)} tokens"
    if len(placed) < len(tokens):
        title += f" (showing {len(placed):,} of {len(tokens):,} tokens)"
    ax.set_title(title, loc="left")
    return fig


@styled
def token_count_bars(counts: dict, text_name="the text", ax=None) -> Figure:
    """Horizontal bars: how many tokens each scheme needs for the same text."""
    if not counts:
        raise ValueError("counts must name at least one scheme")
    names, values = list(counts), [counts[k] for k in counts]
    fig, ax = new_figure(7.5, 0.55 * len(names) + 1.5, ax=ax)
    bars = ax.barh(range(len(names))[::-1], values, color=[PALETTE[i % len(PALETTE)] for i in range(len(names))])
    ax.set_yticks(range(len(names))[::-1], names)
    ax.bar_label(bars, [f"{v:,}" for v in values], padding=3)
    ax.set_xlim(0, max(values) * 1.18)
    ax.set(xlabel=f"tokens needed for {text_name}", title="Fewer, longer tokens: the sequence gets shorter")
    return fig


__all__ = ["token_strip", "token_count_bars"]
