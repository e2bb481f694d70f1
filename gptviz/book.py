"""The notebooks as a static HTML book, read in a browser without Python: `gptviz book OUTDIR`.

Each chapter is exported by nbconvert with its saved outputs (nothing is executed), images embedded so every page
stands alone, links between chapters, and an index page listing the chapters in order. Interactive controls cannot
run without a kernel, so the book shows a note where one was; each chapter's static figures carry its point.
Formulas are turned into MathML while the book is built (`latex2mathml`), which browsers draw themselves: the pages
load no script from elsewhere and read the same offline.
"""

from __future__ import annotations

import copy
import html
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

CHAPTER_PATTERN = "[0-9][0-9]_*.ipynb"  # notebooks/NN_title.ipynb, in the order of their numbers
BOOK_TITLE = "How does ChatGPT work?"

# nbconvert's JupyterLab template, plus navigation between chapters, author-hidden code folded behind a "show the
# code" switch, and each exercise's solution folded under it (see with_solutions).
TEMPLATE = r"""{%- extends 'lab/index.html.j2' -%}
{% block extra_css %}
{{ super() }}
<style type="text/css">
nav.book-nav { display: flex; justify-content: space-between; gap: 1em; margin: 0.8em 0;
  padding: 0.6em 1em; font: 15px/1.4 system-ui, sans-serif; border: 1px solid #d0d0d0; border-radius: 6px;
  background: #f7f7f7; }
nav.book-nav a { color: #0b5cad; text-decoration: none; }
nav.book-nav a:hover { text-decoration: underline; }
nav.book-nav .book-nav-slot { flex: 1; }
nav.book-nav .book-nav-contents { text-align: center; }
nav.book-nav .book-nav-next { text-align: right; }
.book-widget-note { margin: 0.3em 0; padding: 0.5em 0.8em; border-left: 4px solid #e69f00; background: #fff8e6;
  font: 14px/1.4 system-ui, sans-serif; }
math { font-size: 1.12em; }  /* MathML from tex_to_mathml: the browser's maths font runs small beside the text */
math[display="block"] { margin: 0.6em 0; }
details.book-hidden-code > summary { cursor: pointer; color: #0b5cad; font: 14px system-ui, sans-serif;
  padding: 0.3em 0; }
details.book-solution pre { font: 13px/1.4 var(--jp-code-font-family, monospace); padding: 0.5em 0.8em;
  background: var(--jp-cell-editor-background, #f7f7f7); border-radius: 4px; }
</style>
{% endblock extra_css %}

{%- macro book_nav(book) -%}
{%- if book -%}
<nav class="book-nav" aria-label="chapters">
  <span class="book-nav-slot book-nav-prev">
    {%- if book.prev %}<a rel="prev" href="{{ book.prev.href }}">&larr; {{ book.prev.title | escape_html }}</a>
    {%- endif %}</span>
  <span class="book-nav-slot book-nav-contents"><a rel="contents" href="{{ book.index }}">Contents</a>
    {%- if book.position %} &middot; {{ book.position }}{% endif %}</span>
  <span class="book-nav-slot book-nav-next">
    {%- if book.next %}<a rel="next" href="{{ book.next.href }}">{{ book.next.title | escape_html }} &rarr;</a>
    {%- endif %}</span>
</nav>
{%- endif -%}
{%- endmacro -%}

{%- block body_header -%}
{{ super() }}
{{ book_nav(resources.book) }}
{%- endblock body_header -%}

{% block body_footer %}
{{ book_nav(resources.book) }}
{{ super() }}
{% endblock body_footer %}

{% block input_group -%}
{%- if cell.metadata.get('jupyter', {}).get('source_hidden') -%}
<details class="book-hidden-code"><summary>Show the code</summary>
{{ super() }}
</details>
{%- else -%}
{{ super() }}
{%- endif -%}
{% endblock input_group %}

{#- Only widgets need require.js, and the book replaces every widget with a note: no script from elsewhere. -#}
{%- block html_head_js_requirejs -%}
{%- endblock html_head_js_requirejs -%}

{#- Formulas are MathML already (see `tex_to_mathml`): no MathJax from a CDN, so they show offline. No chapter
    draws a Mermaid diagram, so neither is its loader (also from a CDN) needed. -#}
{%- block html_head_js_mathjax -%}
{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}
{%- endblock html_head_js_mermaidjs -%}
"""
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = ('<div class="book-widget-note">Interactive control: open this chapter in Jupyter to use it. '
               "The figures on this page make the same point.</div>")

# A relative link to a notebook, in Markdown or HTML: (05_positional_encoding.ipynb#anchor) or href="x.ipynb".
NOTEBOOK_LINK = re.compile(r"""(?P<open>\]\(\s*<?|href=["'])(?P<target>(?![a-z][a-z0-9+.-]*:)[^)"'>\s]*?)\.ipynb\b""",
                           re.IGNORECASE)
TEST_DIRECTIVE = re.compile(r"^\s*#\s*NBVAL_\w+\s*\n?", re.MULTILINE)  # nbval's markers mean nothing to a reader
EXERCISE_CHECK = re.compile(r"""exercises\.check\(\s*["'](?P<id>[^"']+)["']""")  # a cell that checks an exercise


@dataclass(frozen=True)
class Chapter:
    """One notebook of the book: where it is, its title, and the page it becomes."""

    notebook: Path
    title: str

    @property
    def page(self) -> str:
        return self.notebook.stem + ".html"


def chapter_title(nb: nbformat.NotebookNode, fallback: str) -> str:
    """The text of the notebook's first Markdown heading, or `fallback` when it has none."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            heading = re.match(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", line)
            if heading:
                return re.sub(r"[*_`]", "", heading.group(1)).strip()
    return fallback


def find_chapters(notebooks_dir: str | Path) -> list[Chapter]:
    """The chapters in `notebooks_dir` (files named NN_title.ipynb), in order, with their titles."""
    folder = Path(notebooks_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"notebooks_dir: no folder {folder}")
    paths = sorted(folder.glob(CHAPTER_PATTERN))
    if not paths:
        raise FileNotFoundError(f"notebooks_dir: no chapter notebooks ({CHAPTER_PATTERN}) in {folder}")
    chapters = []
    for path in paths:
        fallback = path.stem.split("_", 1)[-1].replace("_", " ").capitalize()
        chapters.append(Chapter(path, chapter_title(nbformat.read(path, as_version=4), fallback)))
    return chapters


def default_notebooks_dir() -> Path:
    """notebooks/ in the current folder if there is one, else the one beside the gptviz package (a source checkout)."""
    here = Path("notebooks")
    return here if here.is_dir() else Path(__file__).resolve().parents[1] / "notebooks"


def _for_readers(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of `nb` for reading: links to other notebooks point at their pages, widgets become a note, and
    test-only markers are gone."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = NOTEBOOK_LINK.sub(lambda m: f"{m['open']}{m['target']}.html", cell.source)
        elif cell.cell_type == "code":
            cell.source = TEST_DIRECTIVE.sub("", cell.source)
            for output in cell.outputs:  # a saved widget is only its id: a note tells the reader what was there
                if WIDGET_VIEW in output.get("data", {}):
                    output.data = nbformat.from_dict({"text/html": WIDGET_NOTE})
    return with_solutions(nb)


def with_solutions(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Fold each exercise's reference solution under the cell that checks it (in place), for a teacher's book."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    from .exercises import solution_text

    for cell in nb.cells:
        if cell.cell_type == "code":
            for exercise_id in EXERCISE_CHECK.findall(cell.source):  # an output, so no Markdown parser splits it
                html = markdown2html_mistune(solution_text(exercise_id))
                cell.outputs.append(nbformat.v4.new_output("display_data", data={"text/html": (
                    f'<details class="book-hidden-code book-solution"><summary>Solution {exercise_id}</summary>'
                    f"{html}</details>")}))
    return nb


def tex_to_mathml(tex: str, display: bool = False) -> str:
    """A TeX formula as MathML, which browsers draw without a script (as TeX in <code> if it will not convert)."""
    from latex2mathml.converter import convert

    try:
        return convert(tex.strip(), display="block" if display else "inline")
    except Exception:  # a formula latex2mathml cannot read still shows, as its source
        return f'<code class="book-tex">{html.escape(tex)}</code>'


def _exporter():
    import jinja2
    from nbconvert import HTMLExporter
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    class MathMLRenderer(IPythonRenderer):
        """nbconvert's Markdown renderer, with formulas written as MathML instead of left for MathJax."""

        def inline_math(self, body: str) -> str:
            return tex_to_mathml(body)

        def block_math(self, body: str) -> str:
            return tex_to_mathml(body, display=True)

        def latex_environment(self, name: str, body: str) -> str:
            return tex_to_mathml(f"\\begin{{{name}}}{body}\\end{{{name}}}", display=True)

    class BookExporter(HTMLExporter):
        """The HTML exporter with `MathMLRenderer` for Markdown cells (same arguments as nbconvert's own)."""

        @jinja2.pass_context
        def markdown2html(self, context, source):
            cell = context.get("cell", {})
            path = context.get("resources", {}).get("metadata", {}).get("path", "")
            renderer = MathMLRenderer(escape=False, attachments=cell.get("attachments", {}),
                                      embed_images=self.embed_images, path=path,
                                      anchor_link_text=self.anchor_link_text,
                                      exclude_anchor_links=self.exclude_anchor_links, **self.lexer_options)
            return MarkdownWithMath(renderer=renderer).render(source)

    return BookExporter(template_name="lab", template_file="book.html.j2", embed_images=True,
                        extra_loaders=[jinja2.DictLoader({"book.html.j2": TEMPLATE})])


def _index_notebook(chapters: list[Chapter]) -> nbformat.NotebookNode:
    items = "\n".join(f"- [{chapter.title}]({chapter.page})" for chapter in chapters)  # titles carry their numbers
    text = (f"# {BOOK_TITLE}\n\n"
            "A compact GPT, trained on Shakespeare, taken apart one idea at a time. These pages are the chapter "
            "notebooks with the outputs they had when they were last run: every figure and number is there, but "
            "the sliders and text boxes need a running notebook. To use them, open the chapters in Jupyter "
            "(`make lab` in the repository).\n\n"
            f"## Chapters\n\n{items}\n")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text)])
    nb.metadata["title"] = BOOK_TITLE
    return nb


def build_book(outdir: str | Path, notebooks_dir: str | Path | None = None) -> list[Path]:
    """Write index.html and one page per chapter into `outdir`; return the pages written, index first."""
    chapters = find_chapters(notebooks_dir if notebooks_dir is not None else default_notebooks_dir())
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    exporter = _exporter()

    def link(chapter: Chapter | None) -> dict | None:
        return None if chapter is None else {"href": chapter.page, "title": chapter.title}

    index = out / "index.html"
    first = {"index": "index.html", "prev": None, "next": link(chapters[0]), "position": ""}
    body, _ = exporter.from_notebook_node(_index_notebook(chapters), resources={"book": first,
                                                                                 "metadata": {"name": BOOK_TITLE}})
    index.write_text(body, encoding="utf-8")
    pages = [index]
    for i, chapter in enumerate(chapters):
        nb = nbformat.read(chapter.notebook, as_version=4)
        nb.metadata["title"] = chapter.title
        book = {"index": "index.html", "position": f"chapter {i + 1} of {len(chapters)}",
                "prev": link(chapters[i - 1] if i > 0 else None),
                "next": link(chapters[i + 1] if i + 1 < len(chapters) else None)}
        resources = {"book": book, "metadata": {"name": chapter.title, "path": str(chapter.notebook.parent)}}
        body, _ = exporter.from_notebook_node(_for_readers(nb), resources=resources)
        page = out / chapter.page
        page.write_text(body, encoding="utf-8")
        pages.append(page)
    return pages


__all__ = ["Chapter", "build_book", "chapter_title", "default_notebooks_dir", "find_chapters", "tex_to_mathml",
           "with_solutions"]
