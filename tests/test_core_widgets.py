"""The overview explorer and the wiring shared by every explorer, without a browser."""

import ipywidgets as widgets
import pytest
from matplotlib.figure import Figure

from gptviz.widgets import explorer, overview_explorer, overview_figure


def test_overview_figure_has_the_heatmap_and_the_bars(tiny_model, tok):
    fig = overview_figure(tiny_model, tok, "ROMEO:\nBut", layer=1, head=1)
    assert isinstance(fig, Figure) and len(fig.axes) == 3  # heatmap, its colour bar, the bars
    assert "Layer 1, head 1" in fig.axes[0].get_title()


def test_explorer_redraws_when_a_control_moves():
    calls = []
    slider = widgets.IntSlider(0, 0, 3)
    box = explorer({"n": slider}, lambda n: calls.append(n) or f"n={n}")
    slider.value = 2
    assert calls == [0, 2]
    output = box.children[1]
    assert isinstance(output, widgets.Output)
    assert [o["data"]["text/plain"] for o in output.outputs] == ["n=2"]  # replaced, not appended; text as a line


def test_an_error_while_building_is_raised_not_swallowed():
    def render(n):
        raise RuntimeError("broken render")

    with pytest.raises(RuntimeError, match="broken render"):
        explorer({"n": widgets.IntSlider(0, 0, 3)}, render)


def figure_or_fail(n):
    if n == 2:
        raise ValueError("two is\n  not allowed")
    if n == 3:
        raise RuntimeError("broken render")
    fig = Figure()
    fig.subplots()
    return fig


def test_bad_input_replaces_the_figure_with_one_line():
    slider = widgets.IntSlider(0, 0, 3)
    box = explorer({"n": slider}, figure_or_fail)
    output = box.children[1]
    assert output.outputs[0]["data"]["text/plain"].startswith("<Figure")
    slider.value = 2  # no exception escapes the callback, and the old figure is gone
    (shown,) = output.outputs
    assert shown["data"]["text/plain"] == "Can't show this: two is not allowed"
    assert isinstance(box.error, ValueError)
    slider.value = 1
    assert output.outputs[0]["data"]["text/plain"].startswith("<Figure") and box.error is None


def test_an_unexpected_error_is_shown_in_one_line_with_its_traceback_folded():
    slider = widgets.IntSlider(0, 0, 3)
    box = explorer({"n": slider}, figure_or_fail)
    slider.value = 3
    (shown,) = box.children[1].outputs
    line = shown["data"]["text/plain"]
    assert "RuntimeError: broken render" in line and "\n" not in line and "Traceback" not in line
    page = shown["data"]["text/html"]
    assert "<details>" in page and "Traceback" in page and "figure_or_fail" in page  # there when wanted
    assert isinstance(box.error, RuntimeError)


def test_the_overview_shows_the_last_tokens_of_a_long_prompt(pretrained):
    model, tok = pretrained
    fig = overview_figure(model, tok, "ROMEO:\nBut soft! " * 100, shown=20)
    assert fig.axes[0].images[0].get_array().shape == (20, 20)
    with pytest.raises(ValueError, match=r"layer must be an integer in 0\.\.3, got 4"):
        overview_figure(model, tok, "ROMEO", layer=4)


def test_overview_explorer_builds_with_its_controls(tiny_model, tok):
    box = overview_explorer(tiny_model, tok, "ROMEO:\nBut")
    names = [c.description for c in box.children[0].children]
    assert names == ["prompt", "layer", "head"]
    box.children[0].children[2].value = 1  # moving the head slider runs the update without error
