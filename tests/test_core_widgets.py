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
    assert [o["data"]["text/plain"] for o in output.outputs] == ["'n=2'"]  # replaced, not appended


def test_an_error_while_building_is_raised_not_swallowed():
    def render(n):
        raise RuntimeError("broken render")

    with pytest.raises(RuntimeError, match="broken render"):
        explorer({"n": widgets.IntSlider(0, 0, 3)}, render)


def test_overview_explorer_builds_with_its_controls(tiny_model, tok):
    box = overview_explorer(tiny_model, tok, "ROMEO:\nBut")
    names = [c.description for c in box.children[0].children]
    assert names == ["prompt", "layer", "head"]
    box.children[0].children[2].value = 1  # moving the head slider runs the update without error
