"""Why word order needs a positional encoding: an order-sensitive toy task and small models trained on it.

The task ("which came first?"): a row of filler letters hides one `a` and one `b`; after the
final `?` the model must answer with whichever of the two came first. Both orders contain
exactly the same letters, so only position tells them apart.

Attention with no positional encoding treats what it looks at as a bag: the last position of
a one-layer model gives exactly the same output for a sequence and any reordering of its
earlier tokens (`reorder_gap` measures it). Stacking causal layers lets a little order leak back
in through the mask (Haviv et al., 2022), which is why the lesson uses one layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from .model import GPT, GPTConfig, evaluating
from .tokenizer import CharTokenizer
from .training import TrainConfig, fit

FILLER = "cdefghij"
TASK_TOKENS = CharTokenizer(FILLER + "ab?")
TWO_LAYER_STEPS = 600  # two layers without positions need longer: at 300 steps one seed in ten is still guessing


def _check_length(length) -> None:
    if not isinstance(length, int) or isinstance(length, bool) or length < 2:
        raise ValueError(f"length must be an integer >= 2 (room for a and b), got {length!r}")


def which_first_batch(batch_size: int, length: int = 8, generator: torch.Generator | None = None):
    """`batch_size` task sequences (B, length + 1) ending in '?', and the answers (B,) as token ids."""
    _check_length(length)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    stoi = TASK_TOKENS.stoi
    filler = torch.tensor([stoi[c] for c in FILLER])
    seq = filler[torch.randint(len(filler), (batch_size, length), generator=generator)]
    slots = torch.rand(batch_size, length, generator=generator).argsort(dim=1)[:, :2]  # two distinct positions
    pos_a, pos_b = slots[:, 0], slots[:, 1]
    rows = torch.arange(batch_size)
    seq[rows, pos_a] = stoi["a"]
    seq[rows, pos_b] = stoi["b"]
    seq = torch.cat([seq, torch.full((batch_size, 1), stoi["?"])], dim=1)
    answer = torch.where(pos_a < pos_b, stoi["a"], stoi["b"])
    return seq, answer


def swap_markers(seq: torch.Tensor) -> torch.Tensor:
    """The same sequences with `a` and `b` exchanged: the same bag of tokens, the opposite answer."""
    stoi = TASK_TOKENS.stoi
    out = seq.clone()
    out[seq == stoi["a"]] = stoi["b"]
    out[seq == stoi["b"]] = stoi["a"]
    return out


def task_model(pos_encoding: str, length: int = 8, n_layer: int = 1, n_embd: int = 32, seed: int = 0) -> GPT:
    """A small GPT sized for the task, freshly initialised with `seed`."""
    _check_length(length)
    torch.manual_seed(seed)
    config = GPTConfig(vocab_size=TASK_TOKENS.vocab_size, block_size=length + 1, n_layer=n_layer, n_head=2,
                       n_embd=n_embd, pos_encoding=pos_encoding)
    return GPT(config)


@dataclass
class WhichFirstRun:
    """A model trained on the task, with its loss curve and final accuracy."""

    pos_encoding: str
    model: GPT
    steps: list[int]
    losses: list[float]
    accuracy: float

    @property
    def label(self) -> str:
        layers = self.model.config.n_layer
        return f"{self.pos_encoding!r} positions, {layers} layer{'s' if layers > 1 else ''}"


def task_accuracy(model: GPT, n: int = 2000, seed: int = 123) -> float:
    """Share of `n` fresh task sequences the model answers right (argmax over the whole vocabulary)."""
    length = model.config.block_size - 1
    seq, answer = which_first_batch(n, length, torch.Generator().manual_seed(seed))
    with torch.no_grad(), evaluating(model):
        logits, _ = model(seq)
    return float((logits[:, -1].argmax(-1) == answer).float().mean())


def train_which_first(pos_encoding: str, length: int = 8, steps: int = 300, batch_size: int = 128, lr: float = 3e-3,
                  n_layer: int = 1, n_embd: int = 32, seed: int = 0, log_every: int = 20) -> WhichFirstRun:
    """Train a small model on 'which came first?' (loss only on the answer); deterministic for a given seed."""
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    model = task_model(pos_encoding, length, n_layer=n_layer, n_embd=n_embd, seed=seed)
    gen = torch.Generator().manual_seed(seed + 1)
    config = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, warmup_steps=0, min_lr_ratio=1.0, grad_clip=0,
                         eval_every=log_every)
    history = fit(model, lambda step: which_first_batch(batch_size, length, gen),
                  lambda model, batch: F.cross_entropy(model(batch[0])[0][:, -1], batch[1]), config,
                  optimizer=torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0), progress=False)
    logged_steps, losses = history["step"], history["train_loss"]
    return WhichFirstRun(pos_encoding, model, logged_steps, losses, task_accuracy(model))




@torch.no_grad()
def reorder_gap(model: GPT, n: int = 256, seed: int = 7) -> float:
    """Largest change of the final position's logits when `a` and `b` swap places (0 = order is invisible)."""
    seq, _ = which_first_batch(n, model.config.block_size - 1, torch.Generator().manual_seed(seed))
    with evaluating(model):
        a, _ = model(seq)
        b, _ = model(swap_markers(seq))
    return float((a[:, -1] - b[:, -1]).abs().max())


def offset_similarity(encoding, max_offset: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean cosine similarity between position codes k apart, for k = 0..max_offset; encoding (T, n_embd)."""
    encoding = torch.as_tensor(np.asarray(encoding, dtype=float))
    if encoding.ndim != 2 or encoding.shape[0] < 2:
        raise ValueError(f"encoding must be (positions, n_embd) with at least 2 positions, got {tuple(encoding.shape)}")
    T = encoding.shape[0]
    max_offset = T - 1 if max_offset is None else max_offset
    if not isinstance(max_offset, int) or not 0 <= max_offset < T:
        raise ValueError(f"max_offset must be an integer in 0..{T - 1}, got {max_offset!r}")
    unit = F.normalize(encoding, dim=1)
    sim = unit @ unit.T  # (T, T)
    offsets = np.arange(max_offset + 1)
    return offsets, np.array([sim.diagonal(k).mean().item() for k in offsets])


def similarity_to(encoding, position: int) -> np.ndarray:
    """Cosine similarity of one position's code to every position's code, shape (T,)."""
    encoding = torch.as_tensor(np.asarray(encoding, dtype=float))
    if not isinstance(position, int) or not 0 <= position < encoding.shape[0]:
        raise ValueError(f"position must be an integer in 0..{encoding.shape[0] - 1}, got {position!r}")
    unit = F.normalize(encoding, dim=1)
    return (unit @ unit[position]).numpy()


def shuffle_prefix(seq: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each sequence with every token but the last shuffled (the last one is the '?' that asks)."""
    order = torch.rand(seq.shape[0], seq.shape[1] - 1, generator=generator).argsort(dim=1)
    return torch.cat([seq[:, :-1].gather(1, order), seq[:, -1:]], dim=1)


__all__ = ["FILLER", "TASK_TOKENS", "TWO_LAYER_STEPS", "which_first_batch", "swap_markers", "task_model",
           "WhichFirstRun", "task_accuracy", "train_which_first", "reorder_gap", "offset_similarity",
           "similarity_to", "shuffle_prefix"]
