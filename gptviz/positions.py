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
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from .data import load_result
from .model import GPT, GPTConfig, apply_rope, evaluating
from .tokenizer import CharTokenizer
from .training import TrainConfig, fit

FILLER = "cdefghij"
TASK_TOKENS = CharTokenizer(FILLER + "ab?")
TWO_LAYER_STEPS = 600  # two layers without positions need longer: at 300 steps one seed in ten is still guessing
SWEEP_PATH = Path(__file__).parent / "data" / "order_task_sweep.json"
SWEEP_SETTINGS = {  # name: (pos_encoding, n_layer, steps), as the chapter trains them
    "none, 1 layer": ("none", 1, 300),
    "sinusoidal, 1 layer": ("sinusoidal", 1, 300),
    "learned, 1 layer": ("learned", 1, 300),
    "rope, 1 layer": ("rope", 1, 300),
    "none, 2 layers": ("none", 2, TWO_LAYER_STEPS),
}


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




def steps_to_learn(run: WhichFirstRun | dict, below: float = 0.1) -> int | None:
    """The first logged step whose mean loss is under `below` (None: never): how fast a run learned the task."""
    steps, losses = (run["steps"], run["losses"]) if isinstance(run, dict) else (run.steps, run.losses)
    return next((step for step, loss in zip(steps, losses, strict=True) if loss < below), None)


def order_task_sweep(seeds=range(10), settings=SWEEP_SETTINGS, log=print) -> dict:
    """Every setting of the chapter trained from every seed: accuracy, final loss and loss curve of each run."""
    result = {"seeds": list(seeds), "settings": {k: list(v) for k, v in settings.items()}, "runs": {}}
    for name, (pos_encoding, n_layer, steps) in settings.items():
        result["runs"][name] = []
        for seed in seeds:
            run = train_which_first(pos_encoding, n_layer=n_layer, steps=steps, seed=seed)
            result["runs"][name].append({"seed": seed, "accuracy": round(run.accuracy, 4),
                                         "final_loss": round(run.losses[-1], 4), "steps": run.steps,
                                         "losses": [round(x, 4) for x in run.losses]})
            log(f"{name:22s} seed {seed}: accuracy {run.accuracy:.3f}, final loss {run.losses[-1]:.3f}")
    return result


def load_order_task_sweep(path=SWEEP_PATH) -> dict:
    """The shipped sweep (rebuild: PYTHONPATH=. python3 bench/order_task_sweep.py): see `order_task_sweep`."""
    return load_result(path)


def sweep_table(sweep: dict) -> list[dict]:
    """One row per setting of a sweep: runs, how many learned the task (accuracy > 0.9), worst and best accuracy,
    worst final loss, and the slowest step at which a run's loss fell under 0.1 (None: some run never did)."""
    rows = []
    for name, runs in sweep["runs"].items():
        reached = [steps_to_learn(r) for r in runs]
        rows.append({"setting": name, "runs": len(runs), "learned": sum(r["accuracy"] > 0.9 for r in runs),
                     "worst accuracy": min(r["accuracy"] for r in runs),
                     "best accuracy": max(r["accuracy"] for r in runs),
                     "worst final loss": max(r["final_loss"] for r in runs),
                     "slowest step to loss < 0.1": None if None in reached else max(reached)})
    return rows


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


def sin_then_cos(encoding) -> np.ndarray:
    """A sinusoidal table (T, d) whose columns alternate sin, cos, rearranged as all sines then all cosines."""
    encoding = np.asarray(encoding)
    if encoding.ndim != 2 or encoding.shape[1] % 2:
        raise ValueError(f"encoding must be (positions, even n_embd), got shape {encoding.shape}")
    return np.concatenate([encoding[:, 0::2], encoding[:, 1::2]], axis=1)


def similarity_matrix(encoding) -> np.ndarray:
    """Cosine similarity of every position's code to every other's, (T, T)."""
    encoding = torch.as_tensor(np.asarray(encoding, dtype=float))
    if encoding.ndim != 2:
        raise ValueError(f"encoding must be (positions, n_embd), got shape {tuple(encoding.shape)}")
    unit = F.normalize(encoding, dim=1)
    return (unit @ unit.T).numpy()


def nearest_is_neighbour(encoding) -> float:
    """Share of positions whose most similar *other* code belongs to a neighbour (p − 1 or p + 1).

    A table whose rows were shuffled scores about 2/T: a high share means the codes are ordered, not noise."""
    matrix = similarity_matrix(encoding)
    T = matrix.shape[0]
    if T < 3:
        raise ValueError(f"encoding needs at least 3 positions, got {T}")
    np.fill_diagonal(matrix, -np.inf)  # every code is most similar to itself: leave that out
    nearest = matrix.argmax(1)
    return float(np.mean(np.abs(nearest - np.arange(T)) == 1))


def strongest_periods(encoding, k: int = 3, shortest: float = 2.0) -> list[tuple[float, float]]:
    """The k strongest waves along the positions of a table (T, d): (period in positions, share of the power).

    Summed over dimensions, after removing each dimension's mean; periods of T or more are left out."""
    encoding = np.asarray(encoding, dtype=float)
    if encoding.ndim != 2 or encoding.shape[0] < 4:
        raise ValueError(f"encoding must be (positions >= 4, n_embd), got shape {encoding.shape}")
    T = encoding.shape[0]
    power = (np.abs(np.fft.rfft(encoding - encoding.mean(0), axis=0)) ** 2).sum(1)
    periods = np.divide(T, np.arange(len(power)), out=np.full(len(power), np.inf), where=np.arange(len(power)) > 0)
    keep = (periods < T) & (periods >= shortest)
    share = power / power[1:].sum()
    order = [i for i in np.argsort(-power) if keep[i]][:k]
    return [(float(periods[i]), float(share[i])) for i in order]


def dot_spread_by_offset(encoding, offset: int) -> float:
    """How much PE(p)·PE(p + offset) varies with p (max − min over every p), relative to PE(p)·PE(p).

    0 when the dot product depends only on the offset, as it does for the sinusoids: then attention can
    score "k positions apart" the same way wherever the two tokens are."""
    encoding = np.asarray(encoding, dtype=float)
    T = encoding.shape[0] if encoding.ndim == 2 else 0
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset < T - 1:
        raise ValueError(f"offset must be an integer in 0..{T - 2} for {T} positions, got {offset!r}")
    dots = (encoding[: T - offset] * encoding[offset:]).sum(1)  # PE(p)·PE(p + offset) for every p
    scale = (encoding * encoding).sum(1).mean()
    return float((dots.max() - dots.min()) / scale)


def rope_score(q: torch.Tensor, k: torch.Tensor, query_pos: int, key_pos: int) -> float:
    """Score q·k after RoPE rotates the query to `query_pos` and the key to `key_pos`; q, k of shape (hs,)."""
    rq = apply_rope(q.view(1, 1, 1, -1), torch.tensor([query_pos]))
    rk = apply_rope(k.view(1, 1, 1, -1), torch.tensor([key_pos]))
    return float((rq * rk).sum())


def added_score(encoding):
    """A scorer like `rope_score` for codes added to the input: (q + PE[query_pos])·(k + PE[key_pos])."""
    table = torch.as_tensor(np.asarray(encoding, dtype=np.float32))

    def score(q, k, query_pos, key_pos):
        return float((q + table[query_pos]) @ (k + table[key_pos]))

    return score


def score_spread_by_offset(score, q: torch.Tensor, k: torch.Tensor, offset: int, starts) -> float:
    """max − min of score(q, k, p + offset, p) over key positions p in `starts`: the same query and key contents,
    the same distance apart, moved along the sequence. 0 means the score depends only on the offset."""
    values = [score(q, k, p + offset, p) for p in starts]
    return float(max(values) - min(values))


def shift_logit_gap(model: GPT, ids: torch.Tensor, shift: int) -> float:
    """Largest change of the logits when every token of `ids` (B, T) is moved `shift` positions along.

    0 for a model that sees only relative positions (RoPE); not for one that adds absolute codes."""
    B, T = ids.shape
    start = torch.arange(T).expand(B, T)
    with torch.no_grad(), evaluating(model):
        at_zero, _ = model(ids, positions=start)
        shifted, _ = model(ids, positions=start + shift)
    return float((at_zero - shifted).abs().max())


def shuffle_prefix(seq: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each sequence with every token but the last shuffled (the last one is the '?' that asks)."""
    order = torch.rand(seq.shape[0], seq.shape[1] - 1, generator=generator).argsort(dim=1)
    return torch.cat([seq[:, :-1].gather(1, order), seq[:, -1:]], dim=1)


__all__ = ["FILLER", "TASK_TOKENS", "TWO_LAYER_STEPS", "which_first_batch", "swap_markers", "task_model",
           "WhichFirstRun", "task_accuracy", "train_which_first", "reorder_gap", "offset_similarity",
           "similarity_to", "shuffle_prefix", "sin_then_cos", "similarity_matrix", "nearest_is_neighbour",
           "strongest_periods", "dot_spread_by_offset", "rope_score", "added_score", "score_spread_by_offset",
           "shift_logit_gap", "SWEEP_PATH", "SWEEP_SETTINGS", "steps_to_learn", "order_task_sweep",
           "load_order_task_sweep", "sweep_table"]
