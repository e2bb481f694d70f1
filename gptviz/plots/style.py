"""One look for every picture: the matplotlib settings each plot function draws inside, and the shared helpers.

Every public plot function is wrapped in `@styled`, which runs it inside `matplotlib.rc_context(rc())`: the
figure, its axes, titles, labels, ticks and legends all take their sizes from one dictionary below, and the
global `matplotlib.rcParams` are left as they were. `use(name)` switches every later picture to another set
(a larger one for a projector, say) in one call.
"""

from __future__ import annotations

import functools

import matplotlib as mpl
from cycler import cycler
from matplotlib.axes import Axes
from matplotlib.figure import Figure

try:  # in Jupyter, loading the inline backend is what makes a Figure display as a PNG (no pyplot needed)
    import matplotlib_inline.backend_inline  # noqa: F401
except ImportError:  # plain Python: figures are saved, not displayed
    pass

SEQUENTIAL = "viridis"  # perceptually uniform, colour-blind safe, survives a projector
DIVERGING = "PuOr_r"  # colour-blind safe for signed values
# Okabe & Ito (2008) colour-blind-safe palette, for lines and bars
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
REFERENCE = {"color": PALETTE[7], "linestyle": "--", "linewidth": 1.2}  # baselines, chance levels, "no change"

STYLES = {
    "notebook": {  # a laptop screen, figures about 7 inches wide; sizes in points (numbers, not "large")
        "figure.dpi": 100,
        "font.size": 11,  # any other text: annotations, bar values, numbers in cells
        "axes.titlesize": 13,
        "axes.labelsize": 12,
        "xtick.labelsize": 11,
        "ytick.labelsize": 11,
        "legend.fontsize": 11,
        "legend.title_fontsize": 11,
        "figure.titlesize": 14,
        "lines.linewidth": 2.2,
        "lines.markersize": 6,
        "grid.alpha": 0.3,
        "image.cmap": SEQUENTIAL,
        "axes.prop_cycle": cycler(color=PALETTE),
    },
}
_current = ["notebook"]  # the style `styled` applies; a list so `use` can change it without `global`


def use(name: str) -> None:
    """Draw every later picture in the style `name` (one of `STYLES`)."""
    if name not in STYLES:
        raise ValueError(f"style must be one of {sorted(STYLES)}, got {name!r}")
    _current[0] = name


def rc(name: str | None = None) -> dict:
    """The matplotlib settings of style `name` (default: the one in use)."""
    return dict(STYLES[name or _current[0]])


def styled(plot):
    """Run `plot` inside the current style's rc context, so all it creates takes the style's sizes and colours."""

    @functools.wraps(plot)
    def draw(*args, **kwargs):
        with mpl.rc_context(STYLES[_current[0]]):
            return plot(*args, **kwargs)

    return draw


@styled
def new_figure(width=7.0, height=4.5, ax: Axes | None = None, **kwargs) -> tuple[Figure, Axes]:
    """A figure sized for a laptop screen, not registered with pyplot; or, given `ax`, that axes and its figure.

    An axes made outside the style (e.g. by `Figure.subplots` in a notebook) gets the style's tick and label sizes.
    """
    if ax is not None:
        ax.tick_params(labelsize=mpl.rcParams["xtick.labelsize"])
        for label in (ax.xaxis.label, ax.yaxis.label):
            label.set_fontsize(mpl.rcParams["axes.labelsize"])
        return ax.figure, ax
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.add_subplot(111, **kwargs)


@styled
def new_panels(width: float, height: float, rows: int = 1, cols: int = 1, **subplots_kwargs):
    """A figure with a rows × cols grid of axes, in the style: (figure, axes) as `Figure.subplots` returns them."""
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.subplots(rows, cols, **subplots_kwargs)


def labelled_barh(ax: Axes, names, values, labels, colours) -> None:
    """Horizontal bars, the first name on top, each with its label (e.g. its value) written at its end."""
    bars = ax.barh(range(len(names)), values, color=colours)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.bar_label(bars, labels, padding=3)


def token_label(token: str) -> str:
    """A visible label for a token: newline as ⏎, space as ␣."""
    return {"\n": "⏎", " ": "␣", "\t": "⇥"}.get(token, token)


__all__ = ["SEQUENTIAL", "DIVERGING", "PALETTE", "REFERENCE", "new_figure", "new_panels", "token_label"]
