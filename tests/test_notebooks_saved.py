"""The saved notebooks are the learner's copy: test plumbing stays in metadata, and CI runs another float path."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def code_cells(path):
    return [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]


def test_there_are_chapters():
    assert len(NOTEBOOKS) >= 10


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_nbval_markers_in_learner_code(path):
    marked = [i for i, c in enumerate(code_cells(path)) if "NBVAL" in "".join(c["source"])]
    assert not marked, f"code cells {marked} carry an NBVAL comment: use the cell tag (e.g. nbval-ignore-output)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_only_known_nbval_tags(path):
    known = {"nbval-ignore-output", "nbval-check-output", "nbval-skip", "raises-exception"}
    tags = {t for c in code_cells(path) for t in c.get("metadata", {}).get("tags", [])}
    assert not {t for t in tags if t.startswith("nbval") or "exception" in t} - known


def test_the_ordinary_run_pins_no_thread_count():
    """Saved outputs must compare at any thread count, so neither `make notebooks` nor re-execution forces one."""
    makefile = (ROOT / "Makefile").read_text()
    nbval = re.search(r"^NBVAL = .*\n", makefile, re.M).group(0)
    ordinary = nbval + re.search(r"^notebooks:\n(\t.*\n)+", makefile, re.M).group(0)
    execute = (ROOT / "tools/execute_notebooks.py").read_text()
    for name, text in (("make notebooks", ordinary), ("execute_notebooks.py", execute)):
        assert "OMP_NUM_THREADS" not in text and "set_num_threads" not in text, name


def test_ci_runs_nbval_on_another_float_path():
    makefile = (ROOT / "Makefile").read_text()
    target = re.search(r"^notebooks-other-cpu:\n((?:\t.*\n)+)", makefile, re.M)
    assert target and "ATEN_CPU_CAPABILITY=default" in target.group(1) and "OMP_NUM_THREADS=" in target.group(1)
    assert "make notebooks-other-cpu" in (ROOT / ".ci" / "run").read_text()
