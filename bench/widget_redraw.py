"""Median redraw time per control change of the chapter 01/03/04/05 explorers (goal: under 100 ms).

Run: OMP_NUM_THREADS=1 PYTHONPATH=. python bench/widget_redraw.py

Each explorer's `render` is called the way a slider or text box calls it, and the time includes making the
PNG the notebook receives (for explorers that return a Figure: a PNG with bbox_inches="tight", as Jupyter's
inline backend does). Wall-clock and CPU time are both printed: on a shared machine the wall time includes
waiting for a core.
"""

from __future__ import annotations

import io
import statistics
import time

from matplotlib.figure import Figure

import gptviz
from gptviz import bpe
from gptviz.widgets import attention as W

TEXT = "HAMLET:\nTo be, or not to be: that is the question:\nWhether 'tis"
OTHER = "ROMEO:\nBut soft, what light through yonder window breaks? It is"


def deliver(result) -> None:
    """Turn what render returned into the bytes the browser gets."""
    if isinstance(result, Figure):
        result.savefig(io.BytesIO(), format="png", bbox_inches="tight")


def measure(render, changes: list[dict], warm: dict) -> tuple[float, float]:
    """Median wall and CPU milliseconds of render(**values) over the control changes (after one warm-up draw)."""
    deliver(render(**warm))
    walls, cpus = [], []
    for values in changes:
        wall, cpu = time.perf_counter(), time.process_time()
        deliver(render(**values))
        walls.append(1000 * (time.perf_counter() - wall))
        cpus.append(1000 * (time.process_time() - cpu))
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    model, tok = gptviz.load_pretrained()
    corpus = gptviz.load_corpus()
    rows = []

    attention = W.attention_renderer(model, tok)
    base = dict(text=TEXT, layer=0, head=0, token=40)
    rows.append(("attention: layer/head slider", measure(
        attention, [dict(base, layer=layer, head=head) for layer in range(4) for head in range(4)], base)))
    rows.append(("attention: follow-token slider", measure(
        attention, [dict(base, token=t) for t in range(10, 60, 3)], base)))
    rows.append(("attention: new text (runs the model)", measure(
        attention, [dict(base, text=TEXT[:-i]) for i in range(1, 9)], base)))

    grid = W.head_grid_renderer(model, tok)
    rows.append(("head grid: new text", measure(
        grid, [dict(text=(TEXT, OTHER)[i % 2][: 50 + i], last=24) for i in range(8)], dict(text=TEXT, last=24))))
    rows.append(("head grid: 'last tokens' slider", measure(
        grid, [dict(text=TEXT, last=n) for n in range(12, 44, 4)], dict(text=TEXT, last=24))))

    positional = W.positional_renderer(model, 128)
    rows.append(("positions: position slider", measure(
        positional, [dict(encoding="sinusoidal", position=p) for p in range(0, 128, 8)],
        dict(encoding="sinusoidal", position=10))))
    rows.append(("positions: encoding menu", measure(
        positional, [dict(encoding=e, position=10) for e in ("learned (shipped model)", "sinusoidal") * 4],
        dict(encoding="sinusoidal", position=10))))

    bpe_1000 = bpe.train_bpe(corpus.train_text[:300_000], vocab_size=1000)
    schemes = {"characters": list, "BPE": lambda t: bpe.encoded_bytes(bpe_1000, t)}  # as chapter 01 does

    def tokens(text, scheme):  # the token explorer's render, without building the widget
        return W.token_view(text, scheme, schemes)

    rows.append(("tokens: scheme menu / text", measure(
        tokens, [dict(text=TEXT[: 40 + i], scheme=("characters", "BPE")[i % 2]) for i in range(8)],
        dict(text=TEXT, scheme="characters"))))

    print(f"{'control change':40s} {'wall ms':>8s} {'CPU ms':>8s}   (median; goal < 100 ms)")
    for name, (wall, cpu) in rows:
        print(f"{name:40s} {wall:8.0f} {cpu:8.0f}")


if __name__ == "__main__":
    main()
