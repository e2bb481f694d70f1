"""`gptviz book`: every chapter becomes a standalone page with its figures, in order, linked to its neighbours."""

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from gptviz.book import WIDGET_NOTE, build_book, chapter_title, find_chapters, tex_to_mathml
from gptviz.cli import main

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
PNG_1x1 = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQ"
                           "AAAABJRU5ErkJggg==")


class Page(HTMLParser):
    """The parts of a page the tests look at: image sources, links by rel, all hrefs, scripts, visible text."""

    def __init__(self, path: Path):
        super().__init__()
        self.images, self.hrefs, self.scripts, self.text = [], [], [], []
        self.script_code, self.stylesheets, self.math = [], [], []
        self.rel: dict[str, str] = {}
        self._in = ""
        self.feed(path.read_text(encoding="utf-8"))

    def handle_endtag(self, tag):
        if tag in ("script", "math"):
            self._in = ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        elif tag == "a" and "href" in attrs:
            self.hrefs.append(attrs["href"])
            if attrs.get("rel"):
                self.rel.setdefault(attrs["rel"], attrs["href"])
        elif tag == "script":
            self._in = "script"
            if attrs.get("src"):
                self.scripts.append(attrs["src"])
        elif tag == "link" and "stylesheet" in (attrs.get("rel") or ""):
            self.stylesheets.append(attrs.get("href", ""))
        elif tag == "math":
            self._in = "math"
            self.math.append(attrs.get("display", "inline"))

    def handle_data(self, data):
        if self._in == "script":
            self.script_code.append(data)
        elif self._in != "math":  # the formula's own letters are not prose
            self.text.append(data)


def saved_images(nb) -> int:
    return sum(1 for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs
               if {"image/png", "image/jpeg"} & set(output.get("data", {})))


@pytest.fixture(scope="module")
def repo_book(tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    return out, build_book(out, NOTEBOOKS)


def test_every_chapter_is_a_page_with_its_figures(repo_book):
    out, pages = repo_book
    chapters = find_chapters(NOTEBOOKS)
    assert [p.name for p in pages] == ["index.html"] + [c.notebook.stem + ".html" for c in chapters]
    problems = []
    for chapter in chapters:
        page = Page(out / chapter.page)
        expected = saved_images(nbformat.read(chapter.notebook, as_version=4))
        embedded = [src for src in page.images if src.startswith("data:image/")]
        text = "".join(page.text)
        if not embedded:
            problems.append(f"{chapter.page} shows no figure (is {chapter.notebook.name} saved with its outputs?)")
        if len(embedded) < expected:
            problems.append(f"{chapter.page} shows {len(embedded)} of its {expected} figures")
        if len(embedded) != len(page.images):
            problems.append(f"{chapter.page} links an image instead of embedding it")
        if "<Figure size" in text:
            problems.append(f"{chapter.notebook.name} saved a figure as text, not as an image")
        if chapter.title not in text:
            problems.append(f"{chapter.page} does not show its title {chapter.title!r}")
    assert not problems, "a chapter's point must survive without a kernel:\n" + "\n".join(problems)


def test_index_lists_chapters_in_order_and_pages_link_to_neighbours(repo_book):
    out, pages = repo_book
    chapters = find_chapters(NOTEBOOKS)
    index = Page(out / "index.html")
    listed = [href for href in index.hrefs if href.endswith(".html") and href != "index.html"]
    assert [c.page for c in chapters] == list(dict.fromkeys(listed)), "the index must list every chapter in order"
    assert index.rel.get("next") == chapters[0].page
    broken = []
    for i, chapter in enumerate(chapters):
        page = Page(out / chapter.page)
        assert page.rel.get("contents") == "index.html"
        assert page.rel.get("prev") == (chapters[i - 1].page if i else None)
        assert page.rel.get("next") == (chapters[i + 1].page if i + 1 < len(chapters) else None)
        for href in page.hrefs:
            target = href.split("#")[0]
            if not target or href.startswith(("http:", "https:", "mailto:")):
                continue
            if target.endswith(".ipynb") or not (out / target).is_file():
                broken.append(f"{chapter.page} -> {href}")
    assert not broken, "links to pages the book does not have:\n" + "\n".join(broken)


def write_notebook(path: Path, cells: list) -> Path:
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def widget_output():
    return nbformat.v4.new_output("display_data", data={
        "text/plain": "VBox(children=(IntSlider(value=0),))",
        "application/vnd.jupyter.widget-view+json": {"version_major": 2, "version_minor": 0, "model_id": "abc"}})


def test_pages_are_standalone_and_read_well_without_a_kernel(tmp_path):
    src = tmp_path / "nbs"
    src.mkdir()
    (src / "diagram.png").write_bytes(PNG_1x1)
    figure = nbformat.v4.new_output("display_data", data={"image/png": base64.b64encode(PNG_1x1).decode(),
                                                          "text/plain": "<Figure>"})
    write_notebook(src / "00_first.ipynb", [
        nbformat.v4.new_markdown_cell("Some words before the title.\n\n## The *first* chapter\n\n"
                                      "![a diagram](diagram.png)\n\n"
                                      "Inline $x^2$, a price of `$5`, and\n\n$$\\sum_j e^{z_j}$$\n\n"
                                      "\\begin{equation}a = b\\end{equation}\n\n"
                                      "Next: [chapter one](01_second.ipynb#part) or [elsewhere](https://x.org/a.ipynb)"),
        nbformat.v4.new_code_cell("# NBVAL_IGNORE_OUTPUT\nshow()", outputs=[figure]),
        nbformat.v4.new_code_cell("explorer()", outputs=[widget_output()]),
        nbformat.v4.new_code_cell("answer = 42", metadata={"jupyter": {"source_hidden": True}}),
    ])
    write_notebook(src / "01_second.ipynb", [nbformat.v4.new_code_cell("1 + 1")])
    write_notebook(src / "notes.ipynb", [nbformat.v4.new_markdown_cell("# Not a chapter")])

    out = tmp_path / "book"
    assert main(["book", str(out), "--notebooks", str(src)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["00_first.html", "01_second.html", "index.html"]
    first = Page(out / "00_first.html")
    html = (out / "00_first.html").read_text(encoding="utf-8")
    assert len(first.images) == 2 and all(s.startswith("data:image/png;base64,") for s in first.images)
    assert "01_second.html#part" in first.hrefs and "https://x.org/a.ipynb" in first.hrefs
    assert first.rel == {"contents": "index.html", "next": "01_second.html"}
    assert WIDGET_NOTE in html and "VBox(children" not in html
    assert "NBVAL" not in html
    assert '<details class="book-hidden-code">' in html
    assert not [s for s in first.scripts if "require" in s], "the book needs no require.js: it has no live widgets"
    assert first.math == ["inline", "block", "block"] and "<code>$5</code>" in html  # code is not maths
    assert "<title>The first chapter</title>" in html
    second = Page(out / "01_second.html")
    assert "Second" in "".join(second.text)  # no heading: the title comes from the file name
    assert second.rel == {"prev": "00_first.html", "contents": "index.html"}


def test_pages_need_nothing_from_the_network(repo_book):
    """No script or stylesheet from elsewhere (the book is read offline), nor code that would fetch one."""
    out, pages = repo_book
    remote = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
    for page_path in pages:
        page = Page(page_path)
        assert not [src for src in page.scripts + page.stylesheets if remote.match(src)], page_path.name
        assert not re.search(r"https?://", "".join(page.script_code)), f"{page_path.name} fetches code at run time"


def test_formulas_are_mathml_drawn_without_a_script(repo_book):
    """Chapter 02's formulas (and the others') are written as MathML at build time, not left as TeX for MathJax."""
    out, pages = repo_book
    page = Page(out / "02_rnn_lstm_vanishing_gradients.html")
    source = "".join(cell.source for cell in nbformat.read(NOTEBOOKS / "02_rnn_lstm_vanishing_gradients.ipynb",
                                                            as_version=4).cells if cell.cell_type == "markdown")
    formulas = len(re.findall(r"(?<!\$)\$(?!\$)", source)) // 2 + source.count("$$") // 2
    assert len(page.math) == formulas > 20, f"{len(page.math)} MathML formulas for {formulas} in the notebook"
    assert "block" in page.math and "inline" in page.math
    text = "".join(page.text)
    assert not re.search(r"\$[^$]*\\(frac|tanh|partial|approx)", text), "TeX left for a script to typeset"
    assert "book-tex" not in (out / "02_rnn_lstm_vanishing_gradients.html").read_text(encoding="utf-8")
    for other in ("06_feed_forward_and_blocks.html", "08_decoding_and_softmax.html"):
        assert Page(out / other).math == ["block"], other


def test_tex_becomes_mathml():
    inline = tex_to_mathml(r"h_t = \tanh(W_{hh}\,h_{t-1})")
    assert inline.startswith("<math") and 'display="inline"' in inline and "<msub>" in inline and "tanh" in inline
    assert 'display="block"' in tex_to_mathml(r"\frac{a}{b}", display=True)


def test_titles_come_from_the_first_heading():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("# a comment, not a heading"),
                                         nbformat.v4.new_markdown_cell("intro\n### From prompt to `next` token ###")])
    assert chapter_title(nb, "fallback") == "From prompt to next token"
    assert chapter_title(nbformat.v4.new_notebook(), "fallback") == "fallback"


def test_missing_or_empty_notebook_folder_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="notebooks_dir"):
        build_book(tmp_path / "out", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no chapter notebooks"):
        build_book(tmp_path / "out", tmp_path)
    assert main(["book", str(tmp_path / "out"), "--notebooks", str(tmp_path / "nowhere")]) == 2
    assert "notebooks_dir" in capsys.readouterr().err
