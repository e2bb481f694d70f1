"""Does the model USE far-away tokens? Measured by intervention, not read off the attention weights (claim C7).

Attention weights alone cannot prove it: a head that spreads its weight evenly over 256 characters puts about
70 % of it 32 or more positions back, more than the trained model does. So we change the input or the model
and measure the effect on the prediction:

- `context_loss`: the held-out loss on the same next characters when the model may read only the last
  c characters (c = 8 ... 256). If far tokens help, the loss keeps falling as c grows.
- `perturbation_effect`: replace the one token k places back by another character; how far does the
  next-character distribution move (total variation distance)? As a function of k.
- `repeat_gain`: a random string, then the same string again: is the second copy easier to predict?
  Copying a string read 40+ characters earlier needs attention that reaches that far (an induction test).
- References: `uniform_attention(model)` (every head spreads its weight evenly) and
  `local_attention(model, width)` (every head sees only the last `width` tokens, itself included); the checks
  `far_context_helps` and `far_tokens_matter` fail on the second, as a unit test shows.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from .heads import text_windows
from .model import KVCache, LayerCache, evaluating

CONTEXTS = (8, 16, 32, 64, 128, 256)
OFFSETS = (1, 2, 4, 8, 16, 32, 64, 128, 255)


def _positive_int(name: str, value, low: int = 1, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low or (
            high is not None and value > high):
        allowed = f"{low}..{high}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be an integer {allowed}, got {value!r}")
    return int(value)


def heldout_windows(text: str, tokenizer, windows: int, length: int, seed: int = 0) -> torch.Tensor:
    """`windows` fixed random stretches of `length` + 1 token ids of `text` (the last one is the target)."""
    return text_windows(text, tokenizer, windows, length + 1, seed)


@torch.no_grad()
def _last_logits(model, ids: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """The next-token logits after each row of `ids` (B, T): shape (B, vocab_size), float64."""
    out = []
    with evaluating(model):
        for start in range(0, len(ids), batch_size):
            logits, _ = model(ids[start:start + batch_size].to(model.device))
            out.append(logits[:, -1].double().cpu())
    return torch.cat(out)


@dataclass
class ContextCurve:
    """Held-out loss on the same targets when the model reads only the last c characters."""

    contexts: np.ndarray  # (n,) the context lengths c
    losses: np.ndarray  # (n, windows): -log p(target) with context c, one column per target

    @property
    def loss(self) -> np.ndarray:
        """Mean loss at each context length, (n,)."""
        return self.losses.mean(1)

    def gain(self, short: int, long: int) -> tuple[float, float]:
        """How much lower the loss is with `long` characters than with `short`: (mean, standard error), paired."""
        index = {int(c): i for i, c in enumerate(self.contexts)}
        for name, c in (("short", short), ("long", long)):
            if c not in index:
                raise ValueError(f"{name} must be one of the measured contexts {sorted(index)}, got {c}")
        diff = self.losses[index[short]] - self.losses[index[long]]
        return float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(len(diff)))


def context_loss(model, ids: torch.Tensor, contexts=CONTEXTS, batch_size: int = 64) -> ContextCurve:
    """Loss of predicting ids[:, -1] from only the c tokens before it, for each c in `contexts`; ids (B, L)."""
    if ids.ndim != 2 or ids.size(1) < 2:
        raise ValueError(f"ids must be (windows, length >= 2), got shape {tuple(ids.shape)}")
    contexts = [_positive_int("context", c, 1, min(ids.size(1) - 1, model.config.block_size)) for c in contexts]
    targets = ids[:, -1]
    losses = []
    for c in contexts:
        logits = _last_logits(model, ids[:, -1 - c:-1], batch_size)
        losses.append(F.cross_entropy(logits, targets, reduction="none").numpy())
    return ContextCurve(np.array(contexts), np.stack(losses))


@dataclass
class Perturbation:
    """How far the next-character distribution moves when the one token k places back is replaced."""

    offsets: np.ndarray  # (n,) k: 1 = the token just before the one being read... see `perturbation_effect`
    effects: np.ndarray  # (n, windows) total variation distance for each window

    @property
    def effect(self) -> np.ndarray:
        """Mean total variation distance at each offset, (n,)."""
        return self.effects.mean(1)

    def far(self, far: int = 32) -> np.ndarray:
        """Per-window mean effect over the offsets at least `far` back, (windows,)."""
        chosen = self.offsets >= far
        if not chosen.any():
            raise ValueError(f"far must be at most the largest offset {self.offsets.max()}, got {far}")
        return self.effects[chosen].mean(0)


def total_variation(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Half the L1 distance between distributions along the last axis: the most probability any outcome can move."""
    return 0.5 * (p - q).abs().sum(-1)


@torch.no_grad()
def perturbation_effect(model, ids: torch.Tensor, offsets=OFFSETS, seed: int = 0,
                        batch_size: int = 64) -> Perturbation:
    """Read each row of ids (B, T) and predict what follows; then replace the token k places before the last one
    (k = 0 would be the last token itself) by a random other character and measure the total variation distance
    between the two next-character distributions.

    The tokens before the replaced one are unchanged, so their keys and values come from a cache (`KVCache`) and
    only the last k + 1 positions are recomputed: the same numbers as a full pass, several times faster.
    """
    if ids.ndim != 2:
        raise ValueError(f"ids must be (windows, T), got shape {tuple(ids.shape)}")
    T = ids.size(1)
    if not 2 <= T <= model.config.block_size:
        raise ValueError(f"ids must have 2..block_size={model.config.block_size} columns, got {T}")
    offsets = [_positive_int("offset", k, 1, T - 1) for k in offsets]
    vocab = model.config.vocab_size
    gen = torch.Generator().manual_seed(seed)
    shifts = torch.randint(1, vocab, (len(offsets), len(ids)), generator=gen)  # never 0: always another character
    effects = np.zeros((len(offsets), len(ids)))
    with evaluating(model):
        for start in range(0, len(ids), batch_size):
            rows = ids[start:start + batch_size].to(model.device)
            cache = KVCache.empty(model.config.n_layer)
            base = torch.softmax(model(rows, cache=cache)[0][:, -1].double(), -1)
            for n, k in enumerate(offsets):
                column = T - 1 - k
                changed = rows[:, column:].clone()
                changed[:, 0] = (changed[:, 0] + shifts[n, start:start + len(rows)].to(rows.device)) % vocab
                prefix = KVCache([LayerCache(layer.keys[:, :, :column], layer.values[:, :, :column])
                                  for layer in cache.layers])
                probs = torch.softmax(model(changed, cache=prefix)[0][:, -1].double(), -1)
                effects[n, start:start + len(rows)] = total_variation(base, probs).cpu().numpy()
    return Perturbation(np.array(offsets), effects)


@torch.no_grad()
def repeat_gain(model, tokenizer, length: int = 48, strings: int = 32, seed: int = 0,
                alphabet: str = "abcdefghijklmnopqrstuvwxyz ") -> dict:
    """Random strings of `length` characters, each written twice: the mean loss on the first and on the second
    copy (every character but the first of each copy). A model that reaches `length` back can copy."""
    length = _positive_int("length", length, 2, model.config.block_size // 2)
    strings = _positive_int("strings", strings)
    alphabet = "".join(c for c in alphabet if c in tokenizer.stoi)
    if len(alphabet) < 2:
        raise ValueError("alphabet must hold at least two characters the tokenizer knows")
    rng = np.random.default_rng(seed)
    texts = ["".join(rng.choice(list(alphabet), length)) for _ in range(strings)]
    ids = torch.tensor([tokenizer.encode(t + t) for t in texts])
    with evaluating(model):
        logits, _ = model(ids[:, :-1].to(model.device))
    nll = F.cross_entropy(logits.double().cpu().transpose(1, 2), ids[:, 1:], reduction="none")  # (B, 2L - 1)
    first = nll[:, : length - 1]  # targets 1..L-1: the first copy
    second = nll[:, length:]  # targets L+1..2L-1: the second copy, after its first character
    return {"length": length, "first": float(first.mean()), "second": float(second.mean()),
            "per_string": (first.mean(1) - second.mean(1)).numpy()}


# --- reference models ---------------------------------------------------------------------------------------------

def _attention_layers(model):
    return [block.attn for block in model.blocks]


@contextmanager
def uniform_attention(model):
    """Inside the block, every head of `model` spreads its attention evenly over the tokens it may see.

    Zeroing the queries makes every score 0, so the softmax gives each visible key the same weight.
    """
    def zero_queries(module, inputs, output):
        output = output.clone()
        output[..., : output.size(-1) // 3] = 0  # c_attn's output is [queries | keys | values]
        return output

    handles = [attn.c_attn.register_forward_hook(zero_queries) for attn in _attention_layers(model)]
    try:
        yield model
    finally:
        for handle in handles:
            handle.remove()


def band_mask(T: int, S: int, width: int, device=None) -> torch.Tensor:
    """(T, S) mask for the last T of S positions: each query sees itself and the width - 1 tokens before it."""
    query = torch.arange(S - T, S, device=device)[:, None]
    key = torch.arange(S, device=device)[None, :]
    return (key <= query) & (key > query - width)


@contextmanager
def local_attention(model, width: int):
    """Inside the block, every head of `model` sees only the last `width` tokens (itself included): a model that
    cannot use anything further back, to show that a reach check fails when the reach is missing."""
    width = _positive_int("width", width)
    originals = []
    for attn in _attention_layers(model):
        original = attn.forward

        def forward(x, return_weights=False, cache=None, mask=None, positions=None, *, _original=original):
            T = x.size(1)
            past = 0 if cache is None or cache.keys is None else cache.keys.size(2)
            band = band_mask(T, past + T, width, x.device)[None, None]  # (1, 1, T, S)
            return _original(x, return_weights, cache, band if mask is None else mask & band, positions)

        originals.append((attn, original))
        attn.forward = forward
    try:
        yield model
    finally:
        for attn, _ in originals:
            del attn.forward  # back to the class's method


def uniform_reach(T: int, far: int) -> dict:
    """Mean distance and share of weight at least `far` back for a head that spreads its attention evenly over a
    window of T tokens, counted as `heads.attention_reach` counts (queries with at least `far` keys behind)."""
    _positive_int("T", T, 2)
    _positive_int("far", far, 1, T - 1)
    i = np.arange(far, T)  # query positions
    mean_distance = (i / 2).mean()  # offsets 0..i, evenly
    far_mass = ((i - far + 1) / (i + 1)).mean()  # offsets far..i of i + 1
    by_offset = np.array([np.mean(1.0 / (np.arange(k, T) + 1)) for k in range(T)])
    return {"mean_distance": float(mean_distance), "far_mass": float(far_mass), "by_offset": by_offset}


# --- the checks the notebook asserts (each fails on a model without far reach: tests/test_reach.py) ----------------

def far_context_helps(curve: ContextCurve, short: int = 8, long: int = 64, min_gain: float = 0.05,
                      z: float = 2.0) -> tuple[bool, str]:
    """True when reading `long` characters instead of `short` lowers the loss by more than `min_gain` nats AND by
    more than `z` standard errors of the paired difference: the tokens between `short` and `long` back help."""
    gain, se = curve.gain(short, long)
    ok = gain > min_gain and gain > z * se
    return ok, f"loss with {long} characters is {gain:+.2f} ± {se:.2f} nats below the loss with {short}"


def far_tokens_matter(effect: Perturbation, far: int = 32, min_effect: float = 0.003,
                      z: float = 3.0) -> tuple[bool, str]:
    """True when replacing one token at least `far` back moves the next-character distribution by more than
    `min_effect` (total variation) on average, and by more than `z` standard errors."""
    per_window = effect.far(far)
    mean, se = float(per_window.mean()), float(per_window.std(ddof=1) / np.sqrt(len(per_window)))
    ok = mean > min_effect and mean > z * se
    return ok, f"one token {far}+ back moves the prediction by {mean:.1g} ± {se:.1g} (total variation)"


def copies_from_far(result: dict, min_gain: float = 0.5) -> tuple[bool, str]:
    """True when the second copy of a random string is easier than the first by more than `min_gain` nats per
    character: the model finds the earlier copy `length` characters back and reads what followed it."""
    gain = result["first"] - result["second"]
    return gain > min_gain, f"second copy {gain:+.2f} nats per character easier ({result['length']} back)"


__all__ = ["CONTEXTS", "OFFSETS", "ContextCurve", "Perturbation", "heldout_windows", "context_loss",
           "perturbation_effect", "total_variation", "repeat_gain", "uniform_attention", "local_attention",
           "band_mask", "uniform_reach", "far_context_helps", "far_tokens_matter", "copies_from_far"]
