"""Explorers for chapter 08: drag temperature, top-k and top-p and watch the distribution change;
pick the next token yourself."""

from __future__ import annotations

import html
from functools import lru_cache

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure

from ..model import evaluating
from ..plots import next_token_bars, sampling_bars, token_label
from ..sampling import entropy_bits, filter_probs, generate, next_token_logits, prompt_ids
from ..trace import check_characters
from .core import check_int, check_text, explorer


def _logits_function(model, tokenizer):
    """A memoised prompt -> next-token logits, so moving a slider does not rerun the model."""

    @lru_cache(maxsize=64)
    def logits(prompt: str) -> torch.Tensor:
        with evaluating(model):
            ids = prompt_ids(model, tokenizer, check_characters(tokenizer, prompt))
            return next_token_logits(model, ids).double().cpu()

    return logits


def sampling_view(model, tokenizer, prompt: str, temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None, sample_length: int = 60, seed: int = 0, logits=None):
    """The model's next-token distribution beside the one sampling draws from, and a sample with those settings.

    top_k=0 or None and top_p=1 or None mean "off". Returns (Figure, sample text).
    """
    top_k = None if not top_k else int(top_k)
    top_p = None if top_p is None or top_p >= 1 else float(top_p)
    raw = logits(prompt) if logits is not None else _logits_function(model, tokenizer)(prompt)
    model_probs = torch.softmax(raw, dim=-1).numpy()
    sampling_probs = filter_probs(raw, temperature, top_k, top_p).numpy()
    kept = int((sampling_probs > 0).sum())
    title = (f"T={temperature:g}, top-k={top_k or 'off'}, top-p={top_p or 'off'}: "
             f"{kept} candidates, entropy {float(entropy_bits(sampling_probs)):.2f} bits")
    fig = sampling_bars(model_probs, sampling_probs, tokenizer.chars, top=15, title=title)
    sample = generate(model, tokenizer, prompt, sample_length, temperature, top_k, top_p, seed=seed)
    return fig, sample


def sampling_explorer(model, tokenizer, prompt: str = "ROMEO:\nWhat light is ", seed: int = 0) -> widgets.VBox:
    """Sliders for temperature, top-k and top-p; the distribution redraws as they move, with a fresh sample."""
    seed = check_int("seed", seed, 0)
    logits = _logits_function(model, tokenizer)
    slider = {"continuous_update": True, "style": {"description_width": "initial"}}
    controls = {
        "prompt": widgets.Textarea(value=check_text("prompt", prompt), description="prompt", continuous_update=False,
                                   layout={"width": "360px", "height": "60px"}),
        "temperature": widgets.FloatSlider(1.0, min=0.0, max=2.0, step=0.05, description="temperature", **slider),
        "top_k": widgets.IntSlider(0, min=0, max=tokenizer.vocab_size, description="top-k (0 = off)", **slider),
        "top_p": widgets.FloatSlider(1.0, min=0.05, max=1.0, step=0.05, description="top-p (1 = off)", **slider),
    }

    def render(prompt, temperature, top_k, top_p):  # bad input (e.g. é) raises; the explorer shows it in one line
        fig, sample = sampling_view(model, tokenizer, prompt, temperature, top_k, top_p, seed=seed, logits=logits)
        return [fig, widgets.HTML(f"<pre>sample: {html.escape(prompt[-40:])}<b>{html.escape(sample)}</b></pre>")]

    return explorer(controls, render)


def candidates(model, tokenizer, text: str, k: int = 8) -> list[tuple[str, float]]:
    """The k most likely next characters after `text`, with their probabilities, most likely first."""
    if not 1 <= k <= tokenizer.vocab_size:
        raise ValueError(f"k must be between 1 and {tokenizer.vocab_size}, got {k}")
    probs = torch.softmax(_logits_function(model, tokenizer)(text), dim=-1).numpy()
    order = np.argsort(-probs, kind="stable")[:k]
    return [(tokenizer.chars[i], float(probs[i])) for i in order]


def pick_view(model, tokenizer, text: str, top: int = 10) -> Figure:
    """The next-token bars for the text written so far."""
    probs = torch.softmax(_logits_function(model, tokenizer)(text), dim=-1).numpy()
    return next_token_bars(probs, tokenizer.chars, top, f"What comes after …{text[-15:]!r}?")


def pick_token_explorer(model, tokenizer, prompt: str = "ROMEO:\n", k: int = 8, seed: int = 0) -> widgets.VBox:
    """Write with the model: choose each next character from its top candidates, or let it sample one."""
    k = check_int("k", k, 1, tokenizer.vocab_size)
    seed = check_int("seed", seed, 0)
    text = widgets.Textarea(value=check_text("prompt", prompt), description="text", continuous_update=False,
                            layout={"width": "520px", "height": "110px"})
    choice = widgets.ToggleButtons(options=[("…", "")], description="your pick", style={"button_width": "70px"})
    add = widgets.Button(description="add my pick", button_style="primary")
    sample = widgets.Button(description="let the model sample")
    undo = widgets.Button(description="undo")
    rng = torch.Generator().manual_seed(seed)
    logits = _logits_function(model, tokenizer)

    def render(text):
        try:
            options = candidates(model, tokenizer, text, k)
        except ValueError:
            choice.options = [("…", "")]  # no choices left over from the previous text
            raise
        choice.options = [(f"{token_label(c)} {p:.0%}", c) for c, p in options]
        return pick_view(model, tokenizer, text)

    def add_pick(_button):
        text.value = text.value + choice.value

    def add_sample(_button):
        try:
            probs = torch.softmax(logits(text.value), dim=-1).float()
        except ValueError:
            return
        text.value = text.value + tokenizer.chars[int(torch.multinomial(probs, 1, generator=rng))]

    def remove_last(_button):
        if text.value:
            text.value = text.value[:-1]

    add.on_click(add_pick)
    sample.on_click(add_sample)
    undo.on_click(remove_last)
    box = explorer({"text": text}, render)
    return widgets.VBox([box, choice, widgets.HBox([add, sample, undo])])


__all__ = ["candidates", "pick_token_explorer", "pick_view", "sampling_explorer", "sampling_view"]
