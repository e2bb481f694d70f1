"""The wiring every explorer shares, and the overview explorer of chapter 00."""

from __future__ import annotations

import html
import numbers
import traceback
from collections.abc import Callable

import ipywidgets as widgets
from matplotlib.figure import Figure

from ..plots import PALETTE, attention_heatmap, new_panels, next_token_bars, readable_tokens, token_label
from ..trace import inspect


def check_int(name: str, value, low: int, high: int | None = None) -> int:
    """`value` as an int (numpy integers too), or a ValueError naming the argument and the allowed range."""
    allowed = f"an integer >= {low}" if high is None else f"an integer in {low}..{high}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    if value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return int(value)


def check_float(name: str, value, low: float, high: float) -> float:
    """`value` as a float in low..high (numpy numbers too), or a ValueError naming the argument and the range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not low <= value <= high:
        raise ValueError(f"{name} must be a number in {low:g}..{high:g}, got {value!r}")
    return float(value)


def check_text(name: str, value) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {type(value).__name__} {value!r}")
    return value


class Message:
    """One line an explorer shows instead of a figure; an error's `details` (a traceback) are folded away under it."""

    def __init__(self, text: str, details: str = "", error: bool = False):
        self.text = " ".join(str(text).split())  # one line, however the error was worded
        self.details, self.error = details, error or bool(details)

    def _repr_mimebundle_(self, include=None, exclude=None):
        line = html.escape(self.text)
        style = f"color: {PALETTE[3]}" if self.error else ""
        if self.details:
            body = (f"<details><summary style='{style}'>{line} (click for the traceback)</summary>"
                    f"<pre style='font-size: 11px'>{html.escape(self.details)}</pre></details>")
        else:
            body = f"<div style='{style}'>{line}</div>"
        return {"text/plain": self.text, "text/html": body}

    def __repr__(self) -> str:
        return self.text


def error_message(err: Exception) -> Message:
    """What an explorer shows for an error: bad input in one line; anything else with its type and traceback."""
    if isinstance(err, ValueError):  # the input cannot be shown (e.g. a character the model does not know)
        return Message(f"Can't show this: {err}", error=True)
    details = "".join(traceback.format_exception(err))
    return Message(f"Error (a bug, please report it): {type(err).__name__}: {err}", details)


def show(output: widgets.Output, *items) -> None:
    """Replace what `output` shows with `items` (figures, widgets; a string is shown as a one-line message)."""
    output.outputs = ()  # set the widget's state rather than sending display messages, so nbval sees no stray output
    for item in items:
        output.append_display_data(Message(item) if isinstance(item, str) else item)


def explorer(controls: dict[str, widgets.ValueWidget], render: Callable[..., object]) -> widgets.VBox:
    """Controls above an output; any change calls render(**values) and shows what it returns.

    Building the explorer raises render's error (the cell fails); afterwards an error replaces the figure
    with one line under the controls (`error_message`), so no earlier figure stays up as if it were current.
    """
    output = widgets.Output()

    def update(_change=None):
        try:
            result = render(**{name: control.value for name, control in controls.items()})
            box.error = None
        except Exception as err:
            if _change is None:  # building the explorer: fail the cell, where nbval and the learner see it
                raise
            result, box.error = error_message(err), err  # kept for a test or a curious learner
        show(output, *(result if isinstance(result, (list, tuple)) else [result]))

    box = widgets.VBox([widgets.HBox(list(controls.values()), layout={"flex_flow": "row wrap"}), output])
    box.update = update  # lets a test or the notebook force a redraw
    box.error = None
    update()
    for control in controls.values():  # observed only once built: a failed build leaves nothing listening
        control.observe(update, names="value")
    return box


def overview_figure(model, tokenizer, prompt: str, layer: int = 0, head: int = 0, top: int = 10,
                    shown: int = 48) -> Figure:
    """One head's attention on the prompt beside the model's next-token probabilities.

    The model reads the last block_size characters; the heatmap shows the last `shown` of them, so it stays legible.
    """
    cfg = model.config
    check_int("layer", layer, 0, cfg.n_layer - 1)
    check_int("head", head, 0, cfg.n_head - 1)
    check_int("shown", shown, 2)
    trace = inspect(model, tokenizer, check_text("prompt", prompt)[-cfg.block_size:])
    T = len(trace.tokens)
    fig, (left, right) = new_panels(12.5, 5.2, 1, 2, width_ratios=[1.25, 1])
    n = min(shown, T, readable_tokens(fig.get_figheight() * left.get_position().height))  # every token labelled
    title = f"Layer {layer}, head {head}: who looks at whom"
    if n < T:
        title += f"\n(the last {n} of {T} tokens; weights to earlier ones not shown)"
    attention_heatmap(trace.attention[layer, head][-n:, -n:], trace.tokens[-n:], title, ax=left)
    tail = "".join(token_label(t) for t in trace.tokens[-14:])
    next_token_bars(trace.probs[-1], tokenizer.chars, top, f"What comes after “…{tail}”?", ax=right)
    return fig


def overview_explorer(model, tokenizer, prompt: str = "ROMEO:\nBut soft, what light") -> widgets.VBox:
    """Type a prompt, pick a layer and head: see the attention and the next-token probabilities."""
    cfg = model.config
    controls = {
        "prompt": widgets.Textarea(value=check_text("prompt", prompt), description="prompt", continuous_update=False,
                                   layout={"width": "420px", "height": "70px"}),  # keeps newlines
        "layer": widgets.IntSlider(0, 0, cfg.n_layer - 1, description="layer"),
        "head": widgets.IntSlider(0, 0, cfg.n_head - 1, description="head"),
    }

    def render(prompt, layer, head):
        if not prompt:
            return "Type at least one character."
        return overview_figure(model, tokenizer, prompt, layer, head)

    return explorer(controls, render)


__all__ = ["Message", "check_float", "check_int", "check_text", "error_message", "explorer", "overview_explorer",
           "overview_figure", "show"]
