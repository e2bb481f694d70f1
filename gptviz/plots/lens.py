"""Pictures of what `gptviz.lens` measures inside a block: where the parameters are, the logit lens,
single neurons, and the loss with feed-forward networks switched off."""

from __future__ import annotations

import numpy as np
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from .style import PALETTE, REFERENCE, labelled_barh, new_figure, styled, token_label


@styled
def parameter_share_bars(groups: dict[str, int], title="Where the parameters are", ax=None) -> Figure:
    """Horizontal bars: parameters in each part of the model, with counts and shares."""
    if not groups or min(groups.values()) < 0:
        raise ValueError("groups must map part names to non-negative parameter counts")
    names, counts = list(groups), np.array(list(groups.values()), dtype=float)
    total = counts.sum()
    fig, ax = new_figure(7.5, 0.55 * len(names) + 1.4, ax=ax)
    colours = [PALETTE[1] if "MLP" in name else PALETTE[0] for name in names]
    labelled_barh(ax, names, counts, [f"{c:,.0f}  ({c / total:.0%})" for c in counts], colours)
    ax.set_xlim(0, counts.max() * 1.45)
    ax.set(xlabel="parameters", title=f"{title} ({total:,.0f} in all)")
    return fig


@styled
def logit_lens_grid(lens, vocabulary, title="Logit lens: the prediction after each block", ax=None) -> Figure:
    """Rows = stages (embedding, block 0, ...), columns = positions; colour = probability given to the
    character that really comes next; text = the stage's favourite next character."""
    probs = np.asarray(lens.probs)  # (stages, T, V)
    stages, T, V = probs.shape
    if V != len(vocabulary):
        raise ValueError(f"lens has {V} vocabulary entries, vocabulary has {len(vocabulary)}")
    target = np.full((stages, T), np.nan)
    target[:, : T - 1] = lens.target_probs
    fig, ax = new_figure(min(16.0, 2.5 + 0.42 * T), 1.0 + 0.55 * stages + 1.2, ax=ax)
    image = ax.imshow(target, vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    best = probs.argmax(-1)
    for s in range(stages):
        for t in range(T):
            value = target[s, t]
            colour = "black" if (not np.isnan(value) and value > 0.6) else "white"
            ax.text(t, s, token_label(vocabulary[best[s, t]]), ha="center", va="center", color=colour,
                    family="monospace")
    ax.set_xticks(range(T), [token_label(c) for c in lens.tokens], family="monospace")
    ax.set_yticks(range(stages), ["embedding"] + [f"after block {i}" for i in range(stages - 1)])
    ax.set(xlabel="input character (each column predicts the one to its right)", title=title)
    fig.colorbar(image, ax=ax, shrink=0.9, label="p(true next char)")
    return fig


@styled
def lens_loss_bars(losses, baseline: float | None = None, title="Loss of the prediction read after each stage",
                   labels=None, ax=None) -> Figure:
    """Bars of the logit-lens loss at each stage (embedding, after block 0, ...), lower is better."""
    losses = np.asarray(losses, dtype=float)
    labels = ["embedding"] + [f"block {i}" for i in range(len(losses) - 1)] if labels is None else list(labels)
    if len(labels) != len(losses):
        raise ValueError(f"labels must have one entry per loss ({len(losses)}), got {len(labels)}")
    fig, ax = new_figure(7.0, 4.0, ax=ax)
    bars = ax.bar(range(len(losses)), losses, color=PALETTE[0])
    ax.bar_label(bars, [f"{v:.2f}" for v in losses], padding=3)
    if baseline is not None:
        ax.axhline(baseline, **REFERENCE, label=f"bigram counts {baseline:.2f}")
        ax.legend()
    ax.set_xticks(range(len(losses)), labels)
    ax.set(ylabel="cross-entropy (nats per char)", ylim=(0, losses.max() * 1.15), title=title)
    return fig


@styled
def neuron_text(text: str, activation, title="Neuron activation", width: int = 60, ax=None) -> Figure:
    """The text laid out in a monospace grid, each character on a patch coloured by the neuron's activation."""
    activation = np.asarray(activation, dtype=float)
    if len(activation) != len(text):
        raise ValueError(f"activation must have one value per character ({len(text)}), got {len(activation)}")
    rows, cols = [[]], [[]]  # characters and activations per display row (break at newlines and width)
    for char, value in zip(text, activation, strict=True):
        rows[-1].append(char)
        cols[-1].append(value)
        if char == "\n" or len(rows[-1]) == width:
            rows.append([])
            cols.append([])
    if not rows[-1]:
        rows.pop()
        cols.pop()
    grid = np.full((len(rows), width), np.nan)
    for r, values in enumerate(cols):
        grid[r, : len(values)] = values
    fig, ax = new_figure(0.16 * width + 1.6, 0.3 * len(rows) + 1.2, ax=ax)
    norm = Normalize(vmin=min(0.0, np.nanmin(grid)), vmax=max(np.nanmax(grid), 1e-6))
    image = ax.imshow(grid, norm=norm, aspect="auto", interpolation="nearest")
    for r, chars in enumerate(rows):
        for c, char in enumerate(chars):
            colour = "black" if norm(grid[r, c]) > 0.6 else "white"
            shown = " " if char == " " else token_label(char)  # plain spaces read better in prose
            ax.text(c, r, shown, ha="center", va="center", color=colour, family="monospace")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    fig.colorbar(image, ax=ax, shrink=0.8, label="activation")
    return fig


@styled
def neuron_histogram(in_context, elsewhere, context: str, auc: float | None = None,
                     title: str | None = None, ax=None) -> Figure:
    """Distributions of one neuron's activation inside a context and at comparable positions outside it."""
    in_context, elsewhere = np.asarray(in_context, dtype=float), np.asarray(elsewhere, dtype=float)
    fig, ax = new_figure(6.5, 3.8, ax=ax)
    bins = np.linspace(min(in_context.min(), elsewhere.min()), max(in_context.max(), elsewhere.max()), 40)
    ax.hist(elsewhere, bins=bins, density=True, alpha=0.6, color=PALETTE[0], label="elsewhere")
    ax.hist(in_context, bins=bins, density=True, alpha=0.6, color=PALETTE[1], label=context)
    score = "" if auc is None else f" (AUC {auc:.2f})"
    ax.set(xlabel="activation after GELU", ylabel="density", title=(title or f"Neuron for '{context}'") + score)
    ax.legend()
    return fig


@styled
def ablation_bars(losses: dict[str, float], title="Validation loss with feed-forward networks switched off",
                  ax=None, references: dict[str, float] | None = None, compare: dict[str, float] | None = None,
                  modes: tuple[str, str] = ("zero-ablated", "mean-ablated")) -> Figure:
    """Horizontal bars of loss per condition; the first entry (the full model) is the reference line.

    `references` = {name: loss} adds labelled dashed lines (e.g. bigram counts, uniform guessing); `compare` gives
    a second set of losses for the same conditions (another ablation mode), drawn as a second bar per condition,
    the two named by `modes`."""
    names, values = list(losses), np.array(list(losses.values()), dtype=float)
    if compare is not None and list(compare) != names:
        raise ValueError(f"compare must have the same conditions as losses, {names}, got {list(compare)}")
    fig, ax = new_figure(8.0, (0.8 if compare else 0.55) * len(names) + 1.7, ax=ax)
    if compare is None:
        colours = [PALETTE[2]] + [PALETTE[3] if "all" in n else PALETTE[1] for n in names[1:]]
        labelled_barh(ax, names, values, [f"{v:.2f}" for v in values], colours)
        highest = values.max()
    else:
        other = np.array(list(compare.values()), dtype=float)
        rows = np.arange(len(names))
        for shift, series, colour, label in ((-0.2, values, PALETTE[1], modes[0]), (0.2, other, PALETTE[0], modes[1])):
            bars = ax.barh(rows + shift, series, height=0.4, color=colour, label=label)
            ax.bar_label(bars, [f"{v:.2f}" for v in series], padding=3)
        ax.set_yticks(rows, names)
        ax.invert_yaxis()
        highest = max(values.max(), other.max())
    ax.axvline(values[0], **REFERENCE)
    for i, (name, loss) in enumerate((references or {}).items()):
        ax.axvline(loss, color=PALETTE[4 + i % 3], linestyle=":", linewidth=2, label=f"{name} ({loss:.2f})")
    if references or compare is not None:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)  # below the axes: no bar hidden
    ax.set_xlim(0, max(highest, *(references or {0: 0}).values()) * 1.18)
    ax.set(xlabel="cross-entropy on held-out plays (nats per char)", title=title)
    return fig


__all__ = ["ablation_bars", "lens_loss_bars", "logit_lens_grid", "neuron_histogram", "neuron_text",
           "parameter_share_bars"]
