"""Explorers for chapters 01, 03, 04 and 05: one head's attention, every head at once, positional encodings, tokens.

Each explorer is `explorer(controls, render)` from `core`; the `render` functions are built by
`*_renderer` factories so tests and `bench/widget_redraw.py` can call them without a browser.

Speed: moving a slider should feel instant. Rebuilding a figure with dozens of tick labels takes
a few hundred milliseconds, so the explorers draw a figure's fixed parts (axes, labels, colour
bar) once and, for each change, repaint only the parts that moved (`BlitRenderer`, the blitting
trick of matplotlib's animations), then send the picture as a PNG.
"""

from __future__ import annotations

import io
from collections import OrderedDict

import ipywidgets as widgets
import numpy as np
from IPython.display import Image
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image as PILImage

from ..bpe import bytes_text
from ..model import sinusoidal_encoding
from ..plots import PALETTE, positional_heatmap, token_strip, update_attention_view
from ..plots.heads import head_grid
from ..plots.style import new_panels, styled
from ..positions import similarity_to, sin_then_cos
from ..trace import describe_characters, inspect
from .core import check_int, check_text, explorer


class BlitRenderer:
    """Draw a figure's fixed parts once; afterwards repaint only the `dynamic` artists and return a PNG."""

    def __init__(self, fig: Figure, dynamic):
        self.fig, self.dynamic = fig, list(dynamic)
        for artist in self.dynamic:
            artist.set_animated(True)  # left out of the full drawing, painted by png()
        self.canvas = FigureCanvasAgg(fig)
        self.canvas.draw()  # runs the layout once and paints everything fixed
        if fig.get_layout_engine() is not None:
            fig.set_layout_engine("none")  # keep those positions
        self.background = self.canvas.copy_from_bbox(fig.bbox)

    def png(self) -> bytes:
        """The figure as PNG bytes, repainting only the dynamic artists over the saved background."""
        self.canvas.restore_region(self.background)
        renderer = self.canvas.get_renderer()
        for artist in self.dynamic:
            artist.draw(renderer)
        pixels = np.asarray(self.canvas.buffer_rgba())
        out = io.BytesIO()
        PILImage.fromarray(pixels).convert("RGB").save(out, format="png", compress_level=1)
        return out.getvalue()

    def image(self) -> Image:
        return Image(data=self.png(), format="png")


class TraceCache:
    """The last few `inspect` results, by text, so moving a slider does not rerun the model."""

    def __init__(self, model, tokenizer, size: int = 8):
        self.model, self.tokenizer, self.size = model, tokenizer, size
        self._traces: OrderedDict = OrderedDict()

    def __call__(self, text: str):
        if text not in self._traces:
            self._traces[text] = inspect(self.model, self.tokenizer, text)
            if len(self._traces) > self.size:
                self._traces.popitem(last=False)
        self._traces.move_to_end(text)
        return self._traces[text]


def _check_layer_head(model, layer: int, head: int) -> None:
    check_int("layer", layer, 0, model.config.n_layer - 1)
    check_int("head", head, 0, model.config.n_head - 1)


# --- one head: heatmap plus the followed token's attention painted on the text ---------------------------------

def attention_explorer_figure(model, tokenizer, text: str, layer: int, head: int, token: int = -1,
                              fig: Figure | None = None, traces: TraceCache | None = None,
                              max_tokens: int | None = None) -> Figure:
    """One head's attention on `text` with the row of `token` (default: the last) framed and painted on the text.

    The model reads the last block_size characters; the picture shows the last `max_tokens` of them (None: all),
    and `token` counts within the picture.
    """
    if not text:
        raise ValueError("text must contain at least one character")
    _check_layer_head(model, layer, head)
    trace = (traces or TraceCache(model, tokenizer))(text[-model.config.block_size:])
    T = len(trace.tokens)
    n = T if max_tokens is None else min(check_int("max_tokens", max_tokens, 1), T)
    token = n - 1 if token == -1 else token
    if not 0 <= token < n:
        raise ValueError(f"token must be a position in 0..{n - 1} (or -1 for the last), got {token}")
    title = f"Layer {layer}, head {head}" + (f" (last {n} of {T} tokens; weights to earlier ones not shown)"
                                             if n < T else "")
    return update_attention_view(fig, trace.attention[layer, head][-n:, -n:], trace.tokens[-n:], token, title)


def _attention_dynamic(fig: Figure) -> list:
    top, bottom = fig.axes[0], fig.axes[1]
    return [top.images[0], top.patches[-1], top.title, *bottom.patches, *bottom.texts, bottom.title]


def attention_renderer(model, tokenizer, max_tokens: int = 64):
    """render(text, layer, head, token) -> PNG image, for the attention explorer (keeps the last figure)."""
    max_tokens = min(check_int("max_tokens", max_tokens, 1), model.config.block_size)
    traces = TraceCache(model, tokenizer)
    state = {"fig": None, "blit": None}

    def render(text, layer, head, token):
        if not text:
            return "Type at least one character."
        token = min(token, len(text) - 1, max_tokens - 1)
        fig = attention_explorer_figure(model, tokenizer, text, layer, head, token, state["fig"], traces, max_tokens)
        if fig is not state["fig"]:
            state["fig"], state["blit"] = fig, BlitRenderer(fig, _attention_dynamic(fig))
        return state["blit"].image()

    return render


def attention_explorer(model, tokenizer, text: str = "ROMEO:\nBut soft, what light through yonder window breaks?",
                       layer: int = 0, head: int = 0, max_tokens: int = 64) -> widgets.VBox:
    """Type a text (several lines if you like); pick a layer, a head and a token to follow: see where that token's
    attention goes.

    The model reads the whole text (its last block_size characters); only the picture is cropped, to the last
    `max_tokens` tokens, and its heatmap to a window of them whose every token is labelled.
    """
    cfg = model.config
    _check_layer_head(model, layer, head)
    max_tokens = min(check_int("max_tokens", max_tokens, 1), cfg.block_size)
    shown = check_text("text", text)[-max_tokens:]
    controls = {
        "text": widgets.Textarea(value=text, description="text", continuous_update=False,
                                 layout={"width": "520px", "height": "80px"}),  # several lines: keeps newlines
        "layer": widgets.IntSlider(int(layer), 0, cfg.n_layer - 1, description="layer"),
        "head": widgets.IntSlider(int(head), 0, cfg.n_head - 1, description="head"),
        "token": widgets.IntSlider(len(shown) - 1, 0, max(len(shown) - 1, 0), description="follow token"),
    }

    def fit_token_slider(change):
        n = max(len(change["new"][-max_tokens:]) - 1, 0)
        controls["token"].max = max(n, controls["token"].min)
        controls["token"].value = n

    controls["text"].observe(fit_token_slider, names="value")  # registered first, so it runs before the redraw
    render = attention_renderer(model, tokenizer, max_tokens)
    box = explorer(controls, render)
    box.render = render
    return box


# --- every head at once -----------------------------------------------------------------------------------------

def head_grid_figure(model, tokenizer, text: str, last: int = 24, subtitles=None,
                     traces: TraceCache | None = None) -> Figure:
    """Every head's attention among the last `last` tokens of `text`, every token labelled.

    The model reads the whole text (its last block_size tokens); only the picture is cropped, so weights to
    earlier tokens are not shown but still shape the ones that are.
    """
    if not text:
        raise ValueError("text must contain at least one character")
    check_int("last", last, 2)
    trace = (traces or TraceCache(model, tokenizer))(text[-model.config.block_size:])
    T = len(trace.tokens)
    n = min(last, T)
    window = trace.attention[:, :, -n:, -n:]
    shown = "" if n == T else f" (last {n} of {T} tokens; weights to earlier ones not shown)"
    return head_grid(window, trace.tokens[-n:], f"Every head of every layer{shown}", subtitles)


def _png(fig: Figure) -> bytes:
    out = io.BytesIO()
    FigureCanvasAgg(fig).print_png(out)
    return out.getvalue()


def head_grid_renderer(model, tokenizer, subtitles=None, cache_size: int = 64):
    """render(text, last) -> PNG image of every head. Each (text, last) is drawn once and kept (the tick labels
    change with both), so going back to a slider position is instant."""
    traces = TraceCache(model, tokenizer)
    pictures: OrderedDict = OrderedDict()

    def render(text, last):
        if not text:
            return "Type at least one character."
        key = (text[-model.config.block_size:], min(last, len(text)))
        if key not in pictures:
            pictures[key] = _png(head_grid_figure(model, tokenizer, text, last, subtitles, traces))
            if len(pictures) > cache_size:
                pictures.popitem(last=False)
        pictures.move_to_end(key)
        return Image(data=pictures[key], format="png")

    return render


def head_grid_explorer(model, tokenizer, text: str = "ROMEO:\nBut soft, what light through yonder window breaks?",
                       last: int = 24, subtitles=None) -> widgets.VBox:
    """Type a text (several lines welcome) and choose how many of its last tokens to show: every head of every
    layer, side by side. The model reads the whole text; only the picture is cropped."""
    controls = {
        "text": widgets.Textarea(value=check_text("text", text), description="text", continuous_update=False,
                                 layout={"width": "520px", "height": "70px"}),
        "last": widgets.IntSlider(check_int("last", last, 4, 64), 4, 64, description="last tokens"),
    }
    render = head_grid_renderer(model, tokenizer, subtitles)
    box = explorer(controls, render)
    box.render = render
    return box


# --- positional encodings ---------------------------------------------------------------------------------------

def encodings_of(model, positions: int | None = None) -> dict[str, np.ndarray]:
    """The sinusoidal code of Vaswani et al. at the model's width (all sines, then all cosines, so the picture reads
    as two sets of waves), and the model's own (if it learned one).

    `positions`: how many, 2..block_size (None: 128 or block_size if smaller). Reordering the columns changes no
    similarity between positions.
    """
    block_size = model.config.block_size
    positions = min(128, block_size) if positions is None else check_int("positions", positions, 2, block_size)
    out = {"sinusoidal": sin_then_cos(sinusoidal_encoding(positions, model.config.n_embd).numpy())}
    own = model.position_encoding(positions)
    if own is not None and model.config.pos_encoding == "learned":
        out["learned (shipped model)"] = own.detach().cpu().numpy()
    return out


def _scaled(encoding) -> np.ndarray:
    """The encoding divided by its 99th-percentile size, so both encodings share one colour scale."""
    return encoding / (np.percentile(np.abs(encoding), 99) or 1.0)


@styled
def positional_figure(encoding, position: int, name: str = "sinusoidal") -> Figure:
    """Left: the encoding with one position marked; right: how similar that position's code is to every other."""
    encoding = np.asarray(encoding, dtype=float)
    T = encoding.shape[0]
    position = check_int("position", position, 0, T - 1)
    fig, (left, right) = new_panels(12.0, 4.6, 1, 2, width_ratios=[1.2, 1])
    positional_heatmap(_scaled(encoding), f"{name} encoding (scaled)", ax=left, mark=position)
    right.plot(np.arange(T), similarity_to(encoding, position), color=PALETTE[0], linewidth=2.5)
    right.axvline(position, color=PALETTE[3], linewidth=1.5)
    right.axhline(0, color=PALETTE[7], linewidth=0.8)
    right.set(xlim=(0, T - 1), ylim=(-1.05, 1.05), xlabel="other position", ylabel="cosine similarity",
              title=f"How alike is position {position} to the others?")
    right.grid(True)
    return fig


def positional_renderer(model, positions: int | None = None):
    """render(encoding, position) -> PNG image; repaints the heatmap, the marks and the curve only."""
    codes = encodings_of(model, positions)
    state = {"blit": None, "fig": None}

    def render(encoding, position):
        code = codes[encoding]
        position = min(position, len(code) - 1)
        if state["fig"] is None:
            fig = positional_figure(code, position, encoding)
            left, right = fig.axes[0], fig.axes[1]
            dynamic = [left.images[0], left.lines[-1], left.title, right.lines[0], right.lines[1], right.title]
            state.update(fig=fig, blit=BlitRenderer(fig, dynamic))
        else:
            left, right = state["fig"].axes[0], state["fig"].axes[1]
            left.images[0].set_data(_scaled(code))
            left.lines[-1].set_ydata([position, position])
            left.title.set_text(f"{encoding} encoding (scaled)")
            right.lines[0].set_ydata(similarity_to(code, position))
            right.lines[1].set_xdata([position, position])
            right.title.set_text(f"How alike is position {position} to the others?")
        return state["blit"].image()

    return render


def positional_explorer(model, positions: int | None = None) -> widgets.VBox:
    """Pick an encoding and a position: see its code and how alike it is to every other position."""
    codes = encodings_of(model, positions)
    controls = {
        "encoding": widgets.Dropdown(options=list(codes), value="sinusoidal", description="encoding"),
        "position": widgets.IntSlider(10, 0, len(codes["sinusoidal"]) - 1, description="position"),
    }
    render = positional_renderer(model, positions)
    box = explorer(controls, render)
    box.render = render
    return box


# --- tokens (chapter 01) ----------------------------------------------------------------------------------------

def token_view(text: str, scheme: str, schemes: dict) -> Figure:
    """`text` cut into tokens by one of `schemes` ({name: function text -> list of tokens}).

    A scheme gives its tokens as strings or as bytes (a byte-level BPE, `bpe.encoded_bytes`, whose tokens may
    hold part of a character: drawn as their bytes in hex). A scheme may drop spaces (a split into words) but
    nothing else: one that loses text is refused, naming what it lost, rather than shown silently short. The
    whole text is tokenized and counted; a long one shows its first tokens (see `token_strip`).
    """
    if scheme not in schemes:
        raise ValueError(f"scheme must be one of {list(schemes)}, got {scheme!r}")
    if not text:
        raise ValueError("text must contain at least one character")
    tokens = list(schemes[scheme](text))
    if tokens and all(isinstance(t, bytes) for t in tokens):
        joined = b"".join(tokens)
        if joined != text.encode("utf-8"):
            raise ValueError(f"{scheme} does not give back the text: {len(joined)} bytes instead of "
                             f"{len(text.encode('utf-8'))}")
        tokens = [bytes_text(t) for t in tokens]
    else:
        lost = set(text) - set("".join(tokens)) - {" "}
        if lost:
            raise ValueError(f"{scheme} does not know {describe_characters(lost)}")
    return token_strip(tokens, f"{scheme}: {len(tokens):,} tokens for {len(text):,} characters")


def token_explorer(schemes: dict, text: str = "ROMEO:\nBut soft, what light through yonder window breaks?"):
    """Type a text and pick a tokenizer: see where the token boundaries fall and how many tokens it takes."""
    if not isinstance(schemes, dict) or not schemes or not all(callable(f) for f in schemes.values()):
        raise ValueError(f"schemes must map at least one name to a function text -> tokens, got {schemes!r}")
    controls = {
        "text": widgets.Textarea(value=check_text("text", text), description="text", continuous_update=False,
                                 layout={"width": "520px", "height": "70px"}),
        "scheme": widgets.Dropdown(options=list(schemes), value=list(schemes)[0], description="tokens"),
    }

    def render(text, scheme):
        return token_view(text, scheme, schemes) if text else "Type at least one character."

    box = explorer(controls, render)
    box.render = render
    return box


__all__ = ["BlitRenderer", "TraceCache", "attention_explorer_figure", "attention_renderer", "attention_explorer",
           "head_grid_figure", "head_grid_renderer", "head_grid_explorer", "encodings_of", "positional_figure",
           "positional_renderer", "positional_explorer", "token_view", "token_explorer"]
