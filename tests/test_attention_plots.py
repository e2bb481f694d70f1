"""Plots and explorers of chapters 01, 03, 04, 05: figures come back, bad input is named, redraws work."""

import numpy as np
import pytest
from IPython.display import Image
from matplotlib.figure import Figure

import gptviz
from gptviz import heads, plots, positions
from gptviz.model import sinusoidal_encoding
from gptviz.widgets import attention as W

TOKENS = list("to be or not")


def causal(T, seed=0):
    rng = np.random.default_rng(seed)
    a = np.tril(rng.random((T, T)))
    return a / a.sum(-1, keepdims=True)


def test_attention_grid_draws_every_head_in_one_image():
    attention = np.stack([np.stack([causal(len(TOKENS), s + 4 * l) for s in range(4)]) for l in range(3)])
    fig = plots.attention_grid(attention, TOKENS, subtitles={(0, 0): "previous token"})
    assert isinstance(fig, Figure)
    mosaic = fig.axes[0].images[0].get_array()
    assert np.allclose(mosaic[: len(TOKENS), : len(TOKENS)], attention[0, 0])
    assert any("previous token" in t.get_text() for t in fig.axes[0].texts)
    with pytest.raises(ValueError, match="attention"):
        plots.attention_grid(attention[0], TOKENS)


def test_attention_view_updates_in_place_for_the_same_tokens():
    a, b = causal(len(TOKENS), 1), causal(len(TOKENS), 2)
    fig = plots.update_attention_view(None, a, TOKENS, 5)
    same = plots.update_attention_view(fig, b, TOKENS, 7, "other head")
    assert same is fig
    assert np.allclose(fig.axes[0].images[0].get_array(), b)
    assert fig.axes[0].patches[-1].get_y() == pytest.approx(6.5)
    other = plots.update_attention_view(fig, causal(5), TOKENS[:5], 2)
    assert other is not fig
    with pytest.raises(ValueError, match="query"):
        plots.attention_view(a, TOKENS, len(TOKENS))


@pytest.mark.parametrize("make", [
    lambda: plots.query_attention_text(causal(len(TOKENS))[4], TOKENS, 4),
    lambda: plots.head_matrix(np.arange(6).reshape(2, 3), "numbers", symmetric=True),
    lambda: plots.softmax_saturation_figure(heads.softmax_saturation(dims=(2, 8), trials=10)),
    lambda: plots.attention_by_offset_figure(np.random.default_rng(0).random((2, 2, 10)), far=4),
    lambda: plots.token_strip(["to", " be", "\n", "or"]),
    lambda: plots.token_count_bars({"characters": 100, "BPE": 40, "words": 20}),
    lambda: plots.embedding_map(np.random.default_rng(0).random((3, 2)), "aB.", ["vowels", "capitals", "punct"]),
    lambda: plots.positional_heatmap(sinusoidal_encoding(16, 8).numpy(), mark=3),
    lambda: plots.similarity_by_offset_figure({"sin": positions.offset_similarity(sinusoidal_encoding(16, 8), 8)}),
])
def test_plot_functions_return_figures(make):
    assert isinstance(make(), Figure)


@pytest.mark.parametrize("call, name", [
    (lambda: plots.query_attention_text(np.ones(3), TOKENS, 1), "weights_row"),
    (lambda: plots.head_matrix(np.ones(3), "x"), "values"),
    (lambda: plots.token_strip([]), "tokens"),
    (lambda: plots.embedding_map(np.ones((2, 2)), "abc", ["a", "b", "c"]), "coords"),
    (lambda: plots.positional_heatmap(np.ones(4)), "encoding"),
    (lambda: plots.attention_by_offset_figure(np.ones((2, 3))), "by_offset"),
])
def test_plot_functions_name_bad_input(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def png_pixels(image):
    from io import BytesIO

    from PIL import Image as PILImage
    return np.asarray(PILImage.open(BytesIO(image.data)))


def test_attention_renderer_redraws_only_what_changes(tiny_model, tok):
    render = W.attention_renderer(tiny_model, tok)
    first = render("But soft, what light", 0, 0, 5)
    assert isinstance(first, Image)
    again = render("But soft, what light", 0, 0, 5)
    assert np.array_equal(png_pixels(first), png_pixels(again))
    moved = render("But soft, what light", 1, 1, 9)
    assert png_pixels(moved).shape == png_pixels(first).shape
    assert not np.array_equal(png_pixels(moved), png_pixels(first))
    assert isinstance(render("", 0, 0, 0), str)
    assert isinstance(render("ROMEO", 0, 0, 99), Image)  # a token past the end is clamped


def test_attention_explorer_figure_checks_its_arguments(tiny_model, tok):
    fig = W.attention_explorer_figure(tiny_model, tok, "But soft", 1, 0)
    assert fig.axes[0].patches[-1].get_y() == pytest.approx(6.5)  # the last token is followed by default
    for kwargs, name in ((dict(layer=5, head=0), "layer"), (dict(layer=0, head=9), "head"),
                         (dict(layer=0, head=0, token=40), "token")):
        with pytest.raises(ValueError, match=name):
            W.attention_explorer_figure(tiny_model, tok, "But soft", **kwargs)


def test_explorers_build_and_respond_without_a_browser(tiny_model, tok):
    box = W.attention_explorer(tiny_model, tok, "ROMEO:\nBut soft")
    text, layer, head, token = box.children[0].children
    assert token.max == len("ROMEO:\nBut soft") - 1
    text.value = "But soft, what light"
    assert token.max == len("But soft, what light") - 1 and token.value == token.max
    layer.value = 1
    grid = W.head_grid_explorer(tiny_model, tok, "ROMEO:\nBut soft", last=8)
    assert isinstance(grid.render("ROMEO:\nBut soft, what", 8), Image)
    assert isinstance(grid.render("ROMEO:\nBut soft, what", 6), Image)
    pos = W.positional_explorer(tiny_model, positions=16)
    assert isinstance(pos.render("learned (shipped model)", 3), Image)
    assert isinstance(pos.render("sinusoidal", 40), Image)  # clamped to the last position
    schemes = {"characters": list, "words": lambda t: t.split(" ")}
    tokens = W.token_explorer(schemes, "to be or not")
    assert isinstance(tokens.render("to be or not", "words"), Figure)
    with pytest.raises(ValueError, match="scheme"):
        W.token_view("to be", "bytes", schemes)


def test_positional_figure_and_encodings(tiny_model):
    codes = W.encodings_of(tiny_model, positions=20)
    assert set(codes) == {"sinusoidal", "learned (shipped model)"}
    assert codes["sinusoidal"].shape == (20, tiny_model.config.n_embd)
    assert isinstance(W.positional_figure(codes["sinusoidal"], 4), Figure)
    with pytest.raises(ValueError, match="position"):
        W.positional_figure(codes["sinusoidal"], 20)


def test_shipped_model_in_the_explorer(pretrained):
    model, tok = pretrained
    fig = W.head_grid_figure(model, tok, "ROMEO:\nBut soft, what light", last=12)
    assert fig.axes[0].images[0].get_array().shape[0] > 4 * 12
    assert gptviz.inspect(model, tok, "ab").attention.shape[:2] == (model.config.n_layer, model.config.n_head)


def test_heatmaps_label_every_token_and_crop_long_texts_to_a_readable_window():
    fig = plots.attention_heatmap(causal(len(TOKENS)), TOKENS)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == [plots.token_label(t) for t in TOKENS]
    assert [t.get_text() for t in ax.get_xticklabels()] == [plots.token_label(t) for t in TOKENS]
    long = list("HAMLET:\nTo be, or not to be: that is the question:\n")
    fig = plots.attention_heatmap(causal(len(long)), long)
    shown = fig.axes[0].images[0].get_array()
    n = shown.shape[0]
    assert n < len(long) and f"last {n} of {len(long)}" in fig.axes[0].get_title()
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == [plots.token_label(t) for t in long[-n:]]
    np.testing.assert_allclose(shown, causal(len(long))[-n:, -n:])
    # the labels do not overlap: each row is at least as tall as the tick font
    height = fig.get_figheight() * fig.axes[0].get_position().height * 72 / n
    assert height >= plots.style.rc()["ytick.labelsize"]


def test_readable_window_holds_the_query_and_stays_put_while_it_moves():
    assert plots.readable_window(10, 3, 36) == (0, 10)
    assert plots.readable_window(100, 99, 36) == (64, 100)
    assert plots.readable_window(100, 70, 36) == (64, 100)
    assert plots.readable_window(100, 5, 36) == (0, 36) == plots.readable_window(100, 35, 36)
    assert plots.readable_window(100, 40, 36) == (36, 72)


def test_attention_view_on_a_long_text_frames_the_query_inside_its_window():
    long = list("ROMEO:\nBut soft, what light through yonder window breaks?")
    weights = causal(len(long))
    fig = plots.attention_view(weights, long, 5)
    start, end = fig.gptviz_window
    assert start <= 5 < end and end - start < len(long)
    assert fig.axes[0].patches[-1].get_y() == pytest.approx(5 - start - 0.5)
    assert len(fig.axes[1].texts) == len(long)  # the text below shows the whole line
    same = plots.update_attention_view(fig, weights, long, 6)
    assert same is fig  # same window: redrawn in place
    moved = plots.update_attention_view(fig, weights, long, len(long) - 1)
    assert moved is not fig and moved.gptviz_window[1] == len(long)


def test_attention_explorer_takes_several_lines(tiny_model, tok):
    import ipywidgets
    box = W.attention_explorer(tiny_model, tok, "ROMEO:\nBut soft")
    text = box.children[0].children[0]
    assert isinstance(text, ipywidgets.Textarea) and "\n" in text.value
