"""`gptviz book` folds each exercise's reference solution under the cell that checks it."""

import shutil
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from gptviz import exercises
from gptviz.book import build_book, with_solutions

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


class Solutions(HTMLParser):
    """The text inside each <details class="... book-solution">, keyed by its summary."""

    def __init__(self, html: str):
        super().__init__()
        self.found: dict[str, str] = {}
        self._depth, self._summary, self._text, self._in_summary = 0, "", [], False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "details" and ("book-solution" in (dict(attrs).get("class") or "").split() or self._depth):
            self._depth += 1
        elif tag == "summary" and self._depth:
            self._in_summary = True

    def handle_endtag(self, tag):
        if tag == "summary":
            self._in_summary = False
        elif tag == "details" and self._depth:
            self._depth -= 1
            if not self._depth:
                self.found[self._summary] = "".join(self._text)
                self._summary, self._text = "", []

    def handle_data(self, data):
        if self._in_summary:
            self._summary += data
        elif self._depth:
            self._text.append(data)


def exercise_notebook(*sources: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 00 · A chapter")]
                                  + [nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def test_each_checked_exercise_gets_its_solution_as_an_output_below_the_check():
    nb = with_solutions(exercise_notebook("x = 1", 'answer = ...\nexercises.check("00.2", answer)',
                                          "exercises.check('00.3', f)\nexercises.check( \"00.4\", a)"))
    plain, one, two = nb.cells[1:]
    assert plain.outputs == []
    htmls = [[o.data["text/html"] for o in cell.outputs] for cell in (one, two)]
    assert [len(h) for h in htmls] == [1, 2]
    for html, exercise_id in [(htmls[0][0], "00.2"), (htmls[1][0], "00.3"), (htmls[1][1], "00.4")]:
        assert html.startswith('<details class="book-hidden-code book-solution">')
        solution = Solutions(html).found
        assert list(solution) == [f"Solution {exercise_id}"]
        code_words = exercises.get(exercise_id).code.split()[:3]
        assert all(word in solution[f"Solution {exercise_id}"] for word in code_words)


def test_a_notebook_checking_an_unknown_exercise_is_an_error():
    with pytest.raises(ValueError, match="no exercise '00.99'"):
        with_solutions(exercise_notebook('exercises.check("00.99", answer)'))


def test_chapter_00_page_folds_every_solution_under_its_exercise(tmp_path):
    src = tmp_path / "nbs"
    src.mkdir()
    shutil.copy(NOTEBOOKS / "00_overview.ipynb", src)
    build_book(tmp_path / "book", src)
    html = (tmp_path / "book" / "00_overview.html").read_text(encoding="utf-8")
    found = Solutions(html).found
    expected = [f"Solution {e.id}" for e in exercises.catalog("00")]
    assert list(found) == expected, "one folded solution per exercise, in the chapter's order"
    for exercise in exercises.catalog("00"):
        text = " ".join(found[f"Solution {exercise.id}"].split())
        assert " ".join(exercise.explanation.replace("`", "").split()[:6]) in text  # Markdown rendered
        assert exercise.code.splitlines()[0].split("#")[0].strip() in text
    starts = [html.index(f"<strong>{e.id} ·") for e in exercises.catalog("00")] + [len(html)]
    for k, exercise in enumerate(exercises.catalog("00")):  # under its own exercise, before the next one
        assert starts[k] < html.index(f"Solution {exercise.id}<") < starts[k + 1]
