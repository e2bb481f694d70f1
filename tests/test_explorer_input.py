"""Every explorer survives whatever a learner types: é, a curly quote, a tab, an emoji, nothing, 5,000 characters.

Each explorer with a text box is built on the shipped model (the chat box on the chat model) and every input is
typed into every text box. Nothing may escape as an exception; the output shows a figure or one line that says
why not (naming the characters the model does not know), never a traceback and never the previous figure.
"""

import json
import re
from pathlib import Path

import ipywidgets
import numpy as np
import pytest
from matplotlib.figure import Figure

import gptviz
from gptviz import bpe, chat, lens
from gptviz import widgets as W
from gptviz.plots import logit_lens_grid

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
GOOD = "ROMEO:\nBut soft, what light"
LONG = ("JULIET:\nO Romeo, Romeo, wherefore art thou Romeo?\n" * 120)[:5000]
UNKNOWN = ["é", "’", "\t", "😀", "café ’tis"]  # characters the shipped model never saw, alone and inside a text
INPUTS = [*UNKNOWN, "", LONG]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def text_boxes(widget) -> list:
    """Every Text and Textarea inside `widget`, in layout order."""
    if isinstance(widget, ipywidgets.Text | ipywidgets.Textarea):
        return [widget]
    return [box for child in getattr(widget, "children", ()) for box in text_boxes(child)]


def output_of(widget) -> ipywidgets.Output:
    if isinstance(widget, ipywidgets.Output):
        return widget
    found = [out for child in getattr(widget, "children", ()) if (out := _maybe_output(child)) is not None]
    assert found, "the explorer has no Output"
    return found[0]


def _maybe_output(widget):
    try:
        return output_of(widget)
    except AssertionError:
        return None


def shown(output: ipywidgets.Output) -> list[tuple[str, str]]:
    """What the Output shows, as (kind, text/plain) with kind 'figure', 'widget' or 'message'."""
    items = []
    for item in output.outputs:
        data = item.get("data", {})
        plain = str(data.get("text/plain", ""))
        if "image/png" in data or plain.startswith("<Figure"):
            items.append(("figure", plain))
        elif WIDGET_VIEW in data:
            items.append(("widget", plain))
        else:
            items.append(("message", plain))
    return items


def unknown_to(tok, text: str) -> list[str]:
    return sorted(set(text) - set(tok.chars))


def check_answer(output, text: str, expect: str, tok=None) -> str:
    """The Output answers `text` with a figure (expect='figure'), one line ('message') or either ('any')."""
    items = shown(output)
    assert items, f"nothing shown for {text[:20]!r}"
    assert not any("Traceback" in plain or "File \"" in plain for _, plain in items), items
    kinds = [kind for kind, _ in items]
    if kinds[0] == "message":
        assert kinds == ["message"], f"a message must replace the figure, not sit beside it: {kinds}"
        message = items[0][1]
        assert message.strip() and "\n" not in message.strip(), f"not one line: {message!r}"
        assert expect in ("message", "any"), f"{text[:20]!r} should show a figure, got {message!r}"
        for char in unknown_to(tok, text) if tok is not None else []:
            assert f"U+{ord(char):04X}" in message, f"the message does not name {char!r}: {message!r}"
        return message
    assert expect in ("figure", "any"), f"{text[:20]!r} should be refused with a message, got {kinds}"
    assert kinds[0] == "figure", kinds
    return ""


def type_everything(box, expectations, tok=None):
    """Type every input into every text box of `box`; after each, a good text brings a figure back."""
    output = output_of(box)
    for control in text_boxes(box):
        for text in INPUTS:
            control.value = text
            check_answer(output, text, expectations(text), tok)
            control.value = GOOD
            check_answer(output, GOOD, "figure", tok)


def model_expectations(text: str) -> str:
    return "figure" if text == LONG else "message"


@pytest.fixture(scope="module")
def shipped(pretrained):
    return pretrained


def test_overview_attention_and_head_grid_explorers(shipped):
    model, tok = shipped
    for box in (W.overview_explorer(model, tok, GOOD), W.attention_explorer(model, tok, GOOD),
                W.head_grid_explorer(model, tok, GOOD, last=24)):
        type_everything(box, model_expectations, tok)


def test_decoding_explorers(shipped):
    model, tok = shipped

    def expectations(text):  # an empty prompt may be "start from nothing" or a message, never a traceback
        return "any" if text == "" else model_expectations(text)

    sampling = W.sampling_explorer(model, tok, GOOD)
    type_everything(sampling, expectations, tok)
    pick = W.pick_token_explorer(model, tok, GOOD)
    choice = pick.children[1]
    type_everything(pick, expectations, tok)
    pick.children[0].children[0].children[0].value = "é"
    assert [value for _, value in choice.options] == [""], "the choices must not be the previous text's"


def test_token_explorer_for_characters_and_bpe(text):
    small_bpe = bpe.train_bpe(text, vocab_size=300)  # byte-level: é, ’, emoji need no alphabet of their own
    schemes = {"characters": list, "BPE": lambda t: bpe.encoded_bytes(small_bpe, t)}
    box = W.token_explorer(schemes, GOOD)
    type_everything(box, lambda t: "message" if t == "" else "figure")  # any character is a character token
    box.children[0].children[1].value = "BPE"
    type_everything(box, lambda t: "message" if t == "" else "figure")  # and any text is bytes: nothing dropped
    for typed in UNKNOWN:
        title = box.render(typed, "BPE").axes[0].get_title(loc="left")
        assert f"{len(typed):,} characters" in title
    with pytest.raises(ValueError, match="does not give back the text"):  # a scheme that drops bytes is refused
        W.token_view("café", "lossy", {"lossy": lambda t: [b for b in bpe.encoded_bytes(small_bpe, t) if b.isascii()]})


def test_token_explorer_caps_the_figure_for_a_long_text():
    box = W.token_explorer({"characters": list}, GOOD)
    fig = box.render(LONG, "characters")
    width, height = fig.get_size_inches() * fig.dpi
    assert height <= 900, f"a {height:.0f}-pixel-tall figure for {len(LONG)} characters"
    assert re.search(r"showing [\d,]+ of 5,000 tokens", fig.axes[0].get_title(loc="left"))
    short = box.render(GOOD, "characters")
    assert "showing" not in short.axes[0].get_title(loc="left")  # a text that fits is shown whole
    box.children[0].children[0].value = LONG
    assert shown(output_of(box))[0][0] == "figure"


def test_the_lens_explorer_of_chapter_06(shipped):
    """The explorer chapter 06 builds in the notebook, from its saved source."""
    model, tok = shipped
    nb = json.loads((NOTEBOOKS / "06_feed_forward_and_blocks.ipynb").read_text(encoding="utf-8"))
    sources = ["".join(cell["source"]) for cell in nb["cells"] if cell["cell_type"] == "code"]
    (source,) = [s for s in sources if "lens_explorer = explorer(" in s]
    scope = {"model": model, "tok": tok, "explorer": W.explorer, "widgets": ipywidgets, "lens": lens,
             "logit_lens_grid": logit_lens_grid}
    exec(source, scope)
    type_everything(scope["lens_explorer"], lambda t: "figure" if len(t) > 1 and not unknown_to(tok, t)
                    else "message")


@pytest.fixture(scope="module")
def chat_model():
    return chat.load_chat_model()


def test_chat_box_answers_every_input_with_a_reply_or_one_line(chat_model):
    model, tok = chat_model
    box = W.chat_box(model, tok, "", "Who speaks first?")
    passage, question = text_boxes(box)
    assert bytes(box.odds.value).startswith(b"\x89PNG")
    for typed in INPUTS:
        before = box.state["history"]
        question.value = typed
        if typed == "":
            box.send()  # the send button with an empty box
        status = re.sub(r"<[^>]+>", "", box.status.value)
        assert status.strip() and "\n" not in status.strip() and "Traceback" not in status
        for char in unknown_to(tok, typed) if typed.strip() else []:  # a lone tab is an empty question
            assert f"U+{ord(char):04X}" in status, status
        assert box.state["history"] is before, "a refused question must not enter the conversation"
        assert bytes(box.odds.value) == b"", "the last reply's odds must not stay as if they answered this"
        question.value = "Who speaks first?"
        assert box.status.value == "" and box.state["history"][-1][0] == "Who speaks first?"
        assert box.state["history"] is not before
        assert bytes(box.odds.value).startswith(b"\x89PNG")
    for typed in INPUTS:
        passage.value = typed
        question.value = "Who speaks last?"
        status = re.sub(r"<[^>]+>", "", box.status.value)
        if not typed.strip():  # no passage (a lone tab is none either): the question is answered
            assert status == "" and box.state["history"][-1][0] == "Who speaks last?"
            continue
        assert status.strip() and "\n" not in status.strip(), status
        for char in unknown_to(tok, typed):
            assert f"U+{ord(char):04X}" in status, status
        passage.value = ""
        question.value = "Who speaks first?"
        assert box.status.value == ""


def test_builders_refuse_arguments_out_of_range(shipped):
    model, tok = shipped
    cfg = model.config
    cases = [
        (lambda: W.positional_explorer(model, positions=0), "positions", f"2..{cfg.block_size}"),
        (lambda: W.positional_explorer(model, positions=cfg.block_size + 1), "positions", f"2..{cfg.block_size}"),
        (lambda: W.positional_renderer(model, positions=1), "positions", f"2..{cfg.block_size}"),
        (lambda: W.encodings_of(model, positions=-3), "positions", f"2..{cfg.block_size}"),
        (lambda: W.attention_explorer(model, tok, GOOD, layer=cfg.n_layer), "layer", f"0..{cfg.n_layer - 1}"),
        (lambda: W.attention_explorer(model, tok, GOOD, head=-1), "head", f"0..{cfg.n_head - 1}"),
        (lambda: W.attention_explorer(model, tok, GOOD, max_tokens=0), "max_tokens", ">= 1"),
        (lambda: W.attention_explorer(model, tok, GOOD, max_tokens=2.5), "max_tokens", ">= 1"),
        (lambda: W.head_grid_explorer(model, tok, GOOD, last=3), "last", "4..64"),
        (lambda: W.head_grid_explorer(model, tok, GOOD, last=65), "last", "4..64"),
        (lambda: W.vanishing_gradient_explorer(radius=5.0), "radius", "0.3..2"),
        (lambda: W.vanishing_gradient_explorer(radius=float("nan")), "radius", "0.3..2"),
        (lambda: W.vanishing_gradient_explorer(gap=0), "gap", "5..200"),
        (lambda: W.gate_explorer(None, gap=0), "gap", "1..150"),
        (lambda: W.gate_explorer(None, gap=20, max_gap=10), "gap", "1..10"),
        (lambda: W.gate_explorer(None, gap=1, max_gap=0), "max_gap", ">= 1"),
        (lambda: W.pick_token_explorer(model, tok, GOOD, k=0), "k", f"1..{tok.vocab_size}"),
        (lambda: W.pick_token_explorer(model, tok, GOOD, seed=-1), "seed", ">= 0"),
        (lambda: W.sampling_explorer(model, tok, GOOD, seed=-1), "seed", ">= 0"),
        (lambda: W.token_explorer({}), "schemes", "at least one"),
        (lambda: W.overview_explorer(model, tok, 5), "prompt", "string"),
    ]
    for build, name, allowed in cases:
        with pytest.raises(ValueError) as caught:
            build()
        assert name in str(caught.value) and allowed in str(caught.value), str(caught.value)


def test_builders_take_numpy_numbers(shipped):
    model, tok = shipped
    assert isinstance(W.positional_explorer(model, positions=np.int64(64)), ipywidgets.VBox)
    assert isinstance(W.head_grid_explorer(model, tok, GOOD, last=np.int32(8)), ipywidgets.VBox)
    assert isinstance(W.vanishing_gradient_explorer(radius=np.float32(0.9), gap=np.int64(20)), ipywidgets.VBox)


def test_long_texts_run_the_model_on_the_last_block_and_crop_only_the_picture(shipped):
    model, tok = shipped
    block = model.config.block_size
    trace = gptviz.inspect(model, tok, LONG[-block:])
    fig = W.attention_explorer_figure(model, tok, LONG, 1, 2, max_tokens=16)
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), trace.attention[1, 2][-16:, -16:])
    assert f"last 16 of {block}" in fig.axes[0].get_title()
    fig = W.overview_figure(model, tok, LONG, layer=1, head=2)
    shown_weights = fig.axes[0].images[0].get_array()
    assert shown_weights.shape[0] < block  # a readable window of the last tokens
    np.testing.assert_allclose(shown_weights, trace.attention[1, 2][-len(shown_weights):, -len(shown_weights):])
    assert f"of {block}" in fig.axes[0].get_title()
    grid = W.head_grid_figure(model, tok, LONG, last=8)
    assert isinstance(grid, Figure)
