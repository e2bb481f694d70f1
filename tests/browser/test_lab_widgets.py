"""Chapters run in JupyterLab in a real browser: the widgets render, no error shows, and a slider redraws the figure.

nbval runs the kernel but never renders a widget; these tests catch what a class sees instead: "Error displaying
widget", a traceback, a figure shown as text, a slider that moves nothing. To check another chapter, add a
`Chapter` below. Run with `make browser` or `python -m pytest tests/browser`.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

NOTEBOOKS = Path(os.environ.get("GPTVIZ_NOTEBOOKS", Path(__file__).resolve().parents[2] / "notebooks"))
RUN_TIMEOUT_S = float(os.environ.get("GPTVIZ_BROWSER_TIMEOUT", 480))  # a chapter runs in < 60 s alone; CI is slower
REDRAW_TIMEOUT_S = 90
RENDER_TIMEOUT_S = 60
START_TIMEOUT_S = 60
SETTLE_MS = 2000
KERNEL_TIMEOUT_S = 180  # JupyterLab and a kernel start slowly on a busy machine


@dataclass(frozen=True)
class Chapter:
    notebook: str  # file name in notebooks/
    slider: str  # the description (label) of the slider to move
    nth: int = 0  # which slider with that label, when the chapter has several
    steps: int = 1  # arrow-key steps to move it


CHAPTERS = [
    Chapter("00_overview.ipynb", slider="head"),
    Chapter("03_self_attention.ipynb", slider="head"),
    Chapter("08_decoding_and_softmax.ipynb", slider="temperature"),
]

# What the page shows: each code cell's prompt, error outputs, widget errors, and whether the kernel is idle.
PAGE_STATE_JS = r"""() => {
  const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
      .map(e => e.textContent.trim());
  const errors = [...document.querySelectorAll(
      '.jp-Notebook .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
      .map(e => e.innerText)
      .filter(t => /Traceback \(most recent call last\)|\b\w*(Error|Exception)\b/.test(t));
  // A widget the page cannot show: "Error displaying widget: ..." or ipywidgets' error view (a broken-file icon).
  const widgetErrors = [...document.querySelectorAll('.jp-Notebook .jp-OutputArea-output')]
      .map(e => e.innerText).filter(t => t.includes('Error displaying widget'))
      .concat([...document.querySelectorAll('.jp-Notebook .jupyter-widgets-error-widget')]
      .map(e => 'ipywidgets error view: ' + e.innerText.trim()));
  const indicator = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator');
  return {prompts, errors, widgetErrors, status: indicator ? indicator.getAttribute('data-status') : null};
}"""


def page_state(page) -> dict:
    return page.evaluate(PAGE_STATE_JS)


def assert_no_errors(page, when: str) -> None:
    state = page_state(page)
    if state["widgetErrors"]:
        console = [m for m in page.console_messages if m.startswith(("error", "page error"))]
        pytest.fail(f"{when}: a widget failed to display: {state['widgetErrors'][0][:1000]}\n"
                    f"browser console errors:\n" + "\n".join(m[:500] for m in console[-5:]))
    if state["errors"]:
        pytest.fail(f"{when}: the notebook shows a Python error:\n{state['errors'][0][-3000:]}")


def log_console_errors(page) -> str:
    """The errors in JupyterLab's log console, where output with no cell to go to (a widget callback's) ends up."""
    item = page.locator(".jp-LogConsoleStatusItem:not(.lm-mod-hidden)")
    if not item.count() or not item.inner_text().strip():
        return ""
    item.click()  # opens the log console, as a learner who noticed the counter would
    panel = page.locator(".jp-LogConsolePanel")
    panel.wait_for()
    page.wait_for_timeout(500)
    text = panel.inner_text()
    return text if re.search(r"Traceback|Error|Exception", text) else ""


def run_all_cells(page) -> dict:
    """Click Run > Run All Cells and wait until every code cell has run or an error stopped the run."""
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    started = time.monotonic()
    deadline, settled = started + RUN_TIMEOUT_S, 0
    while True:
        state = page_state(page)
        kernel_dialog = page.locator(".jp-Dialog").filter(has_text="Select Kernel")
        if kernel_dialog.count():  # what a learner does too: accept the notebook's Python kernel
            kernel_dialog.get_by_role("button", name="Select", exact=True).click()
        if time.monotonic() - started > START_TIMEOUT_S and all(p == "[ ]:" for p in state["prompts"]):
            pytest.fail(f"Run All Cells started nothing within {START_TIMEOUT_S} s; prompts: {state['prompts']}")
        running = any(p == "[*]:" for p in state["prompts"])
        all_ran = state["prompts"] and all(re.fullmatch(r"\[\d+\]:", p) for p in state["prompts"])
        settled = settled + 1 if not running and state["status"] == "idle" and (all_ran or state["errors"]) else 0
        if settled >= 2:
            return state
        if time.monotonic() > deadline:
            pytest.fail(f"the notebook did not finish within {RUN_TIMEOUT_S:.0f} s; prompts: {state['prompts']}")
        page.wait_for_timeout(500)


def figure_sources(cell) -> list[str]:
    """The `src` of every image the explorer's output area shows (data URIs: they change with the picture)."""
    return cell.locator(".widget-output img").evaluate_all("imgs => imgs.map(i => i.complete ? i.src : '')")


def wait_for_new_figure(cell, before: list[str]) -> list[str]:
    deadline = time.monotonic() + REDRAW_TIMEOUT_S
    while time.monotonic() < deadline:
        after = figure_sources(cell)
        if after and all(after) and after != before:
            return after
        cell.page.wait_for_timeout(250)
    return figure_sources(cell)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.notebook.removesuffix(".ipynb"))
def test_widgets_render_and_slider_redraws_figure(chapter, lab, fresh_kernels, page, artifact_path):
    # (fixtures: the page is closed, and its failure screenshot taken, before the kernels are shut down)
    source = NOTEBOOKS / chapter.notebook
    assert source.is_file(), f"{source} is missing"
    notebook = lab.add_notebook(source)
    # A workspace of its own per notebook, so JupyterLab does not reopen the previous test's notebook.
    page.goto(lab.notebook_url(notebook).replace("/lab/tree/", f"/lab/workspaces/{notebook.stem}/tree/"))
    # Wait until the kernel is connected and idle, as the status bar shows it ("Python 3 (ipykernel) | Idle").
    kernel_status = page.locator(".jp-StatusBar-TextItem[title^='Change kernel']").filter(
        has_text=re.compile(r"^(?!No Kernel).*\|\s*Idle\s*$"))
    kernel_status.first.wait_for(timeout=KERNEL_TIMEOUT_S * 1000)

    state = run_all_cells(page)
    assert_no_errors(page, "after Run All")
    unrun = [i for i, p in enumerate(state["prompts"]) if not re.fullmatch(r"\[\d+\]:", p)]
    assert not unrun, f"code cells {unrun} did not run; prompts: {state['prompts']}"

    label = page.locator("label.widget-label").filter(has_text=re.compile(rf"^\s*{re.escape(chapter.slider)}\s*$"))
    slider = page.locator(".widget-slider").filter(has=label).nth(chapter.nth)
    slider.wait_for(state="visible", timeout=RENDER_TIMEOUT_S * 1000)
    cell = page.locator(".jp-CodeCell").filter(has=slider)
    cell.scroll_into_view_if_needed()
    images = cell.locator(".widget-output img")
    try:
        images.first.wait_for(state="visible", timeout=RENDER_TIMEOUT_S * 1000)
    except Exception:
        shown = cell.locator(".widget-output").first.inner_text()
        pytest.fail(f"the explorer around slider {chapter.slider!r} shows no figure; it shows: {shown[:1000]!r}")
    page.wait_for_timeout(SETTLE_MS)  # a widget whose code fails to load turns into an error view a moment later
    assert_no_errors(page, "after the widgets rendered")

    before = figure_sources(cell)
    cell.screenshot(path=artifact_path(f"{chapter.notebook}", "-before.png"))
    log_offset = lab.log_size()
    handle = slider.locator("[role=slider]")
    value_before = handle.get_attribute("aria-valuenow")
    handle.focus()
    for _ in range(chapter.steps):
        handle.press("ArrowRight")
    value_after = handle.get_attribute("aria-valuenow")
    assert value_after != value_before, f"slider {chapter.slider!r} did not move from {value_before}"

    after = wait_for_new_figure(cell, before)
    cell.screenshot(path=artifact_path(f"{chapter.notebook}", "-after.png"))
    moved = f"after moving {chapter.slider!r} from {value_before} to {value_after}"
    assert_no_errors(page, moved)
    hidden = log_console_errors(page) or "\n".join(line for line in lab.log_since(log_offset).splitlines()
                                                   if re.search(r"Traceback|Error|Exception", line))
    if hidden:
        pytest.fail(f"{moved}, the kernel raised an error that the notebook does not show (it went to JupyterLab's "
                    f"log console); the explorer should display it in its output:\n{hidden[-3000:]}")
    if not after:
        pytest.fail(f"{moved}, the figure disappeared")
    if after == before:
        pytest.fail(f"{moved}, the figure did not change within {REDRAW_TIMEOUT_S} s")
