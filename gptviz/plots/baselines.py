"""Pictures of what `gptviz.baselines` times: a slow way against a fast way (a loop over the steps against
one attention pass; generation without and with a key/value cache)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .style import PALETTE, REFERENCE, new_panels, styled


@styled
def slow_vs_fast_figure(lengths, slow_seconds, fast_seconds, *, slow_label: str, fast_label: str, xlabel: str,
                        ratio_label: str, left_title: str, ratio_title: str, title: str, log: bool = False,
                        middle_seconds=None, middle_label: str | None = None) -> Figure:
    """Left: the time of a slow and a fast way against length (and optionally a third, `middle`). Right: how many
    times slower than the fast way the slow one (and the middle one) is."""
    lengths = np.asarray(lengths)
    ratio = np.asarray(slow_seconds) / np.asarray(fast_seconds)
    fig, (left, right) = new_panels(12.0, 4.4, 1, 2)
    draw = left.loglog if log else left.plot
    draw_ratio = right.semilogx if log else right.plot
    draw(lengths, np.asarray(slow_seconds) * 1e3, "-o", color=PALETTE[3], label=slow_label)
    draw_ratio(lengths, ratio, "-o", color=PALETTE[3], label=slow_label)
    top = ratio.max()
    if middle_seconds is not None:
        middle = np.asarray(middle_seconds) / np.asarray(fast_seconds)
        draw(lengths, np.asarray(middle_seconds) * 1e3, "-^", color=PALETTE[2], label=middle_label)
        draw_ratio(lengths, middle, "-^", color=PALETTE[2], label=middle_label)
        top = max(top, middle.max())
        right.legend()
    draw(lengths, np.asarray(fast_seconds) * 1e3, "-s", color=PALETTE[0], label=fast_label)
    left.set(ylabel="CPU time (ms)", title=left_title)
    left.legend()
    right.axhline(1.0, **REFERENCE)
    right.set(ylim=(0, top * 1.15), ylabel=ratio_label, title=ratio_title)
    for ax in (left, right):
        ax.set_xlabel(xlabel)
        ax.grid(True, which="both")
        if log:  # label the measured lengths themselves, not powers of ten
            ax.set_xticks(lengths, [str(n) for n in lengths])
            ax.minorticks_off()
    fig.suptitle(title)
    return fig


def loop_vs_parallel_figure(timings: dict, title="Step by step (RNN) vs all at once (attention)") -> Figure:
    """Left: time against sequence length (log-log) for the RNN as a Python loop, as torch's C++ `nn.RNN` (when
    timed), and one attention pass. Right: how many times slower than attention each RNN is."""
    return slow_vs_fast_figure(
        timings["lengths"], timings["loop_seconds"], timings["parallel_seconds"],
        slow_label="RNN: a Python loop over the steps", fast_label="masked attention: one pass",
        middle_seconds=timings.get("native_seconds"), middle_label="RNN: torch's nn.RNN (loop in C++)",
        xlabel="sequence length (tokens)", ratio_label="RNN time / attention time",
        left_title="Time to process one batch", ratio_title="How many times slower than attention", title=title,
        log=True)


def kv_cache_figure(timings: dict, title="Generation with and without a key/value cache") -> Figure:
    """Left: time to generate n tokens, with and without the cache. Right: the speed-up."""
    return slow_vs_fast_figure(
        timings["lengths"], timings["no_cache_seconds"], timings["cache_seconds"],
        slow_label="no cache: the whole text every step", fast_label="KV cache: only the new token",
        xlabel="tokens generated", ratio_label="time without / time with cache",
        left_title="Time to generate", ratio_title="Speed-up", title=title)


__all__ = ["slow_vs_fast_figure", "loop_vs_parallel_figure", "kv_cache_figure"]
