"""The wiring every explorer shares, and the overview explorer of chapter 00."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as widgets
from matplotlib.figure import Figure

from ..plots import attention_heatmap, new_panels, next_token_bars, token_label
from ..trace import inspect


def show(output: widgets.Output, *items) -> None:
    """Replace what `output` shows with `items` (figures, text)."""
    output.outputs = ()  # set the widget's state rather than sending display messages, so nbval sees no stray output
    for item in items:
        output.append_display_data(item)


def explorer(controls: dict[str, widgets.ValueWidget], render: Callable[..., object]) -> widgets.VBox:
    """Controls above an output; any change calls render(**values) and shows what it returns."""
    output = widgets.Output()

    def update(_change=None):
        try:
            result = render(**{name: control.value for name, control in controls.items()})
        except Exception:
            if _change is None:  # building the explorer: fail the cell, where nbval and the learner see it
                raise
            with output:  # a control moved: the Output shows the traceback under the controls
                output.clear_output(wait=True)
                raise
        show(output, *(result if isinstance(result, (list, tuple)) else [result]))

    for control in controls.values():
        control.observe(update, names="value")
    box = widgets.VBox([widgets.HBox(list(controls.values()), layout={"flex_flow": "row wrap"}), output])
    box.update = update  # lets a test or the notebook force a redraw
    update()
    return box


def overview_figure(model, tokenizer, prompt: str, layer: int = 0, head: int = 0, top: int = 10) -> Figure:
    """One head's attention on the prompt beside the model's next-token probabilities."""
    trace = inspect(model, tokenizer, prompt)
    fig, (left, right) = new_panels(12.5, 5.2, 1, 2, width_ratios=[1.25, 1])
    title = f"Layer {layer}, head {head}: who looks at whom"
    attention_heatmap(trace.attention[layer, head], trace.tokens, title, ax=left)
    tail = "".join(token_label(t) for t in trace.tokens[-14:])
    next_token_bars(trace.probs[-1], tokenizer.chars, top, f"What comes after “…{tail}”?", ax=right)
    return fig


def overview_explorer(model, tokenizer, prompt: str = "ROMEO:\nBut soft, what light") -> widgets.VBox:
    """Type a prompt, pick a layer and head: see the attention and the next-token probabilities."""
    cfg = model.config
    controls = {
        "prompt": widgets.Textarea(value=prompt, description="prompt", continuous_update=False,
                                   layout={"width": "420px", "height": "70px"}),  # keeps newlines
        "layer": widgets.IntSlider(0, 0, cfg.n_layer - 1, description="layer"),
        "head": widgets.IntSlider(0, 0, cfg.n_head - 1, description="head"),
    }

    def render(prompt, layer, head):
        if not prompt:
            return "Type at least one character."
        return overview_figure(model, tokenizer, prompt[-cfg.block_size:], layer, head)

    return explorer(controls, render)


__all__ = ["show", "explorer", "overview_figure", "overview_explorer"]


