"""Before transformers: a tanh RNN and an LSTM, a long-range memory task, and gradients through time.

The cells are written out by hand (`rnn_step`, `lstm_step`, in `gptviz.cells`) so that every hidden
state and every LSTM gate can be recorded; `RecurrentModel.forward` runs PyTorch's fused `nn.RNN` /
`nn.LSTM` on the same weights for speed, and a test checks the two agree.

The task: read a few random digits, one letter, then `gap` random digits, then "?", and answer the letter::

    1 3 C 2 0 3 1 1 0 2 ... 3 ?   ->  C        (chance: 1 in 8)

The number of digits before the letter (its `start`, 0 to MAX_START) is drawn afresh for every batch, so the
letter is not always at the same position: a transformer with learned absolute positions cannot solve the
task by looking at one fixed place. The `gap` is always the distance from the letter to the "?" minus one.

`gptviz.bptt` measures ||dloss/dh_t|| for every step t, the loss being taken at the end.

The accuracy-against-gap sweep shipped in `gptviz/data/rnn_sweep.json` was made with::

    OMP_NUM_THREADS=1 python -m gptviz.rnn

which calls `sweep()` with the defaults below and writes the file with `save_sweep()`: each model trained for
SWEEP_STEPS = 300 Adam steps from each of SWEEP_SEEDS = (0, 1) at every gap of SWEEP_GAPS (the RNN only up to 50,
the transformer up to 200: both are at chance there already), then its accuracy on 1000 test sequences with the
letter at every start. On a shared machine (2 cores, load about 20) the RNN and LSTM took 24 minutes and the
transformer 28, run as two processes; most of it goes to the longest gaps. Every run is seeded on its own, so the
kinds can be run in parallel processes (`sweep(kinds=...)`) and merged: the numbers are the same.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from torch.nn import functional as F

from .cells import LSTMCell, TanhRNNCell, lstm_step, rnn_step
from .data import load_result, save_result
from .model import GPT, GPTConfig, evaluating
from .training import TrainConfig, fit

SYMBOLS = "ABCDEFGH"  # what must be remembered: chance is 1 / len(SYMBOLS)
DISTRACTORS = "0123"  # the noise in between
QUERY = "?"  # "now answer"
VOCAB = SYMBOLS + DISTRACTORS + QUERY
CHANCE = 1 / len(SYMBOLS)
MAX_START = 16  # up to this many digits come before the letter: its position varies from batch to batch
MODEL_KINDS = ("rnn", "lstm", "transformer")
GATES = ("input", "forget", "output")
SWEEP_PATH = Path(__file__).parent / "data" / "rnn_sweep.json"


def _check_int(name: str, value, low: int, high: int | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low or (high is not None and value > high):
        allowed = f">= {low}" if high is None else f"between {low} and {high}"
        raise ValueError(f"{name} must be an integer {allowed}, got {value!r}")


def _check_kind(kind: str, allowed=MODEL_KINDS) -> None:
    if kind not in allowed:
        raise ValueError(f"kind must be one of {allowed}, got {kind!r}")


# --- the task ---------------------------------------------------------------------------------

def memory_task(batch_size: int, gap: int, generator: torch.Generator | None = None, start: int | None = None):
    """`batch_size` sequences "`start` digits, letter, `gap` digits, ?": ids (B, start + gap + 2), letters (B,).

    start=None draws it from 0..MAX_START with `generator` (one start for the whole batch, so the "?" is always
    last); the letter then sits at position `start`, gap + 1 steps before the "?".
    """
    _check_int("batch_size", batch_size, 1)
    _check_int("gap", gap, 0)
    if start is None:
        start = int(torch.randint(0, MAX_START + 1, (1,), generator=generator))
    _check_int("start", start, 0)
    first = torch.randint(0, len(SYMBOLS), (batch_size, 1), generator=generator)
    noise = torch.randint(len(SYMBOLS), len(SYMBOLS) + len(DISTRACTORS), (batch_size, start + gap),
                          generator=generator)
    query = torch.full((batch_size, 1), VOCAB.index(QUERY))
    ids = torch.cat([noise[:, :start], first, noise[:, start:], query], dim=1)
    return ids, first[:, 0]  # (B, T), (B,)


def letter_position(ids, gap: int) -> int:
    """Where the letter sits in a batch from `memory_task`: gap + 1 steps before the "?" at the end."""
    position = torch.as_tensor(ids).size(-1) - gap - 2
    if position < 0:
        raise ValueError(f"gap must be at most the sequence length - 2 = {torch.as_tensor(ids).size(-1) - 2}, "
                         f"got {gap}")
    return position


def decode(ids) -> str:
    """Token ids back to text, e.g. "C2031?"."""
    return "".join(VOCAB[i] for i in torch.as_tensor(ids).tolist())


# --- the sequence models ----------------------------------------------------------------------

@dataclass
class Unrolled:
    """Everything one explicit run records, step by step (T steps, batch B, H units)."""

    logits: torch.Tensor  # (B, n_classes), read from the last step
    hidden: list[torch.Tensor]  # T tensors (B, H): h_t, kept in the graph for gradients
    cells: list[torch.Tensor] = field(default_factory=list)  # LSTM only: c_t
    gates: dict[str, torch.Tensor] = field(default_factory=dict)  # LSTM only: name -> (B, T, H)


class RecurrentModel(nn.Module):
    """Embedding -> tanh RNN or LSTM -> linear read-out of the last hidden state into len(SYMBOLS) classes.

    `forward` is the fast fused path (training); `unroll` is the same maths step by step (inspection).
    """

    def __init__(self, kind: str = "lstm", hidden_size: int = 32, embed_size: int = 16, forget_bias: float = 4.0):
        super().__init__()
        _check_kind(kind, ("rnn", "lstm"))
        _check_int("hidden_size", hidden_size, 1)
        _check_int("embed_size", embed_size, 1)
        self.kind = kind
        self.embed = nn.Embedding(len(VOCAB), embed_size)
        core = nn.RNN if kind == "rnn" else nn.LSTM
        self.core = core(embed_size, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, len(SYMBOLS))
        if kind == "lstm":
            # start with the forget gate open, sigmoid(4) = 0.98 (Gers et al. 2000; Jozefowicz et al. 2015 use 1)
            with torch.no_grad():
                self.core.bias_ih_l0[hidden_size:2 * hidden_size] += forget_bias

    @property
    def hidden_size(self) -> int:
        return self.core.hidden_size

    def weights(self):
        """(W_ih, W_hh, b_ih, b_hh) of the recurrent layer, in PyTorch's layout."""
        c = self.core
        return c.weight_ih_l0, c.weight_hh_l0, c.bias_ih_l0, c.bias_hh_l0

    def forward(self, ids):
        """Fast path: ids (B, T) -> logits (B, n_classes) from the last step."""
        states, _ = self.core(self.embed(ids))  # (B, T, H)
        return self.head(states[:, -1])

    def unroll(self, ids) -> Unrolled:
        """Explicit path: the hand-written cell, one step at a time, recording every state (and gate)."""
        x = self.embed(ids)  # (B, T, E)
        B, T, _ = x.shape
        h = x.new_zeros(B, self.hidden_size)
        c = x.new_zeros(B, self.hidden_size)
        out = Unrolled(logits=None, hidden=[])
        gates = {name: [] for name in GATES}
        for t in range(T):
            if self.kind == "rnn":
                h = rnn_step(x[:, t], h, *self.weights())
            else:
                h, c, step_gates = lstm_step(x[:, t], h, c, *self.weights())
                out.cells.append(c)
                for name, value in zip(GATES, step_gates, strict=True):
                    gates[name].append(value)
            out.hidden.append(h)
        out.logits = self.head(h)
        if self.kind == "lstm":
            out.gates = {name: torch.stack(values, dim=1) for name, values in gates.items()}  # (B, T, H)
        return out


def set_spectral_radius(model: RecurrentModel, radius: float) -> RecurrentModel:
    """Rescale the recurrent matrix W_hh (each gate's block, for an LSTM) so its spectral radius is `radius`."""
    if not (isinstance(radius, (int, float)) and 0 <= radius <= 10):
        raise ValueError(f"radius must be a number between 0 and 10, got {radius!r}")
    with torch.no_grad():
        w = model.core.weight_hh_l0
        H = model.hidden_size
        for block in w.split(H, dim=0):  # (H, H) each
            current = torch.linalg.eigvals(block).abs().max()
            block.mul_(radius / current)
    return model


def transformer_for_task(gap: int, n_layer: int = 1, n_embd: int = 32, n_head: int = 2) -> GPT:
    """The compact GPT, sized for the memory task: it reads the whole sequence, up to MAX_START + gap + 2 tokens."""
    _check_int("gap", gap, 0)
    config = GPTConfig(vocab_size=len(VOCAB), block_size=MAX_START + gap + 2, n_layer=n_layer, n_head=n_head,
                       n_embd=n_embd)
    return GPT(config)


def make_model(kind: str, gap: int, seed: int = 0, **kwargs) -> nn.Module:
    """A fresh RNN, LSTM or transformer for the task at this gap, its weights drawn from `seed`."""
    _check_kind(kind)
    _check_int("gap", gap, 0)
    torch.manual_seed(seed)
    if kind == "transformer":
        return transformer_for_task(gap, **kwargs)
    return RecurrentModel(kind, **kwargs)


def final_logits(model: nn.Module, ids) -> torch.Tensor:
    """Any of the three models: ids (B, T) -> logits (B, len(SYMBOLS)) for the answer after "?"."""
    if isinstance(model, GPT):
        return model(ids)[0][:, -1, : len(SYMBOLS)]  # the GPT predicts over its vocabulary: keep the letters
    return model(ids)


# --- training ---------------------------------------------------------------------------------

LEARNING_RATES = {"rnn": 3e-3, "lstm": 3e-3, "transformer": 3e-3}


@dataclass
class MemoryRun:
    """One model trained at one gap: its final accuracy, loss curve and time."""

    kind: str
    gap: int
    accuracy: float
    losses: list[float]
    seconds: float
    model: nn.Module | None = None


def train_on_memory_task(model: nn.Module, gap: int, steps: int = 250, batch_size: int = 64, lr: float | None = None,
                  seed: int = 0) -> list[float]:
    """Adam on fresh random batches, loss at the last step only; returns the loss of every step."""
    _check_int("gap", gap, 0)
    _check_int("steps", steps, 1)
    _check_int("batch_size", batch_size, 1)
    if isinstance(model, GPT) and model.config.block_size < MAX_START + gap + 2:
        raise ValueError(f"gap must be at most block_size - MAX_START - 2 = "
                         f"{model.config.block_size - MAX_START - 2}, got {gap}")
    kind = "transformer" if isinstance(model, GPT) else model.kind
    lr = LEARNING_RATES[kind] if lr is None else lr
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    generator = torch.Generator().manual_seed(seed)
    config = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, warmup_steps=0, min_lr_ratio=1.0, eval_every=1,
                         grad_clip=1.0)  # the RNN's rare exploding step stays bounded
    history = fit(model, lambda step: memory_task(batch_size, gap, generator),
                  lambda model, batch: F.cross_entropy(final_logits(model, batch[0]), batch[1]), config,
                  optimizer=torch.optim.Adam(model.parameters(), lr=lr), progress=False, desc=f"{kind}, gap {gap}")
    return history["train_loss"]


@torch.no_grad()
def accuracy(model: nn.Module, gap: int, n: int = 1000, seed: int = 1234) -> float:
    """Share of `n` fixed test sequences whose letter the model recalls, the letter's start spread over 0..MAX_START."""
    _check_int("n", n, 1)
    generator = torch.Generator().manual_seed(seed)
    right = 0
    for start, size in enumerate(np.array_split(np.arange(n), MAX_START + 1)):  # every start, in equal shares
        if len(size):
            ids, targets = memory_task(len(size), gap, generator, start=start)
            right += (final_logits(model, ids).argmax(dim=1) == targets).sum().item()
    return right / n


def run(kind: str, gap: int, steps: int = 250, seed: int = 0, keep_model: bool = True, **train_kwargs) -> MemoryRun:
    """Build a fresh model, train it at this gap, and measure its accuracy."""
    model = make_model(kind, gap, seed)
    start = time.perf_counter()
    losses = train_on_memory_task(model, gap, steps=steps, seed=seed, **train_kwargs)
    seconds = time.perf_counter() - start
    return MemoryRun(kind, gap, accuracy(model, gap), losses, seconds, model if keep_model else None)


def letter_memory(model: RecurrentModel, gap: int, example: int = 0) -> np.ndarray:
    """How much each unit still depends on the letter: the spread of h_t over the eight letters, from the letter on.

    The eight sequences share the same digits (drawn from `example`) and differ only in the letter. The spread is
    the standard deviation, over the eight, of each unit's value: (gap + 2, H), row 0 at the letter, the last row
    at the "?". A unit that has forgotten the letter reads the same whatever it was: spread 0.
    """
    if not isinstance(model, RecurrentModel):
        raise ValueError(f"model must be a RecurrentModel (an RNN or LSTM), got {type(model).__name__}")
    ids, position = every_letter(gap, example)
    with torch.no_grad():
        hidden = torch.stack(model.unroll(ids).hidden, dim=1)  # (8, T, H)
    return hidden[:, position:].std(dim=0).numpy()


def every_letter(gap: int, example: int = 0):
    """One task sequence (drawn from seed `example`) written with each of the eight letters: ids (8, T) and the
    letter's position."""
    ids, _ = memory_task(1, gap, torch.Generator().manual_seed(example))
    position = letter_position(ids, gap)
    ids = ids.repeat(len(SYMBOLS), 1)
    ids[:, position] = torch.arange(len(SYMBOLS))  # every letter, same digits
    return ids, position


# --- the checks the chapter asserts (each fails on a model without the property: see tests/test_rnn.py) ------

@torch.no_grad()
def attention_on_letter(model: GPT, gap: int, n: int = 64, seed: int = 0) -> np.ndarray:
    """Mean attention weight from the "?" to the letter, per head of the first block, over `n` sequences (each
    start of the letter in turn, so the letter's position varies)."""
    if not isinstance(model, GPT):
        raise ValueError(f"model must be a GPT, got {type(model).__name__}")
    _check_int("n", n, 1)
    generator = torch.Generator().manual_seed(seed)
    weights = []
    with evaluating(model):
        for start in range(n):
            ids, _ = memory_task(1, gap, generator, start=start % (MAX_START + 1))
            _, attention, _ = model.forward_traced(ids)  # (1, layers, heads, T, T)
            weights.append(attention[0, 0, :, -1, letter_position(ids, gap)])  # (heads,)
    return torch.stack(weights).mean(dim=0).numpy()


@torch.no_grad()
def forget_gate_memory(lstm: RecurrentModel, gap: int, units: int = 4, n: int = 64, seed: int = 0):
    """The LSTM's `units` units whose final state depends most on the letter: their mean forget gate after the
    letter, and the share of their cell state that survives from the letter to the "?" (product of f, averaged)."""
    if not (isinstance(lstm, RecurrentModel) and lstm.kind == "lstm"):
        raise ValueError(f"lstm must be an LSTM RecurrentModel, got {type(lstm).__name__}")
    _check_int("units", units, 1, lstm.hidden_size)
    order = np.argsort(-letter_memory(lstm, gap)[-1], kind="stable")[:units].copy()
    ids, _ = memory_task(n, gap, torch.Generator().manual_seed(seed))
    forget = lstm.unroll(ids).gates["forget"][:, letter_position(ids, gap) + 1:, order]  # (n, gap + 1, units)
    return float(forget.mean()), float(forget.prod(dim=1).mean())


# --- the sweep shipped with the package --------------------------------------------------------

SWEEP_GAPS = (5, 10, 20, 50, 100, 200, 400)
SWEEP_MAX_GAP = {"rnn": 50, "lstm": 400, "transformer": 200}  # RNN at chance from 20 on, transformer at 200
SWEEP_STEPS = 300
SWEEP_SEEDS = (0, 1)


def sweep(gaps=SWEEP_GAPS, kinds=MODEL_KINDS, steps: int = SWEEP_STEPS, seeds=SWEEP_SEEDS, max_gap=None,
          log=print) -> dict:
    """Accuracy of every kind at every gap, each trained `steps` steps from each seed (None: gap not run)."""
    max_gap = SWEEP_MAX_GAP if max_gap is None else max_gap
    result = {"gaps": list(gaps), "steps": steps, "seeds": list(seeds), "chance": CHANCE, "max_start": MAX_START,
              "accuracy": {}}
    for kind in kinds:
        _check_kind(kind)
        result["accuracy"][kind] = []
        for gap in gaps:
            if gap > max_gap.get(kind, gap):
                result["accuracy"][kind].append(None)
                continue
            runs = [run(kind, gap, steps, seed, keep_model=False) for seed in seeds]
            result["accuracy"][kind].append([round(r.accuracy, 4) for r in runs])
            if log:
                seconds = sum(r.seconds for r in runs) / len(runs)
                log(f"{kind:12s} gap {gap:4d}: {result['accuracy'][kind][-1]}  {seconds:.1f} s/run")
    return result


def save_sweep(result: dict, path=SWEEP_PATH) -> Path:
    """Write the result where the package ships it."""
    return save_result(result, path)


def load_sweep(path=SWEEP_PATH) -> dict:
    """The shipped sweep: {"gaps", "steps", "seeds", "chance", "accuracy": {kind: [[acc per seed] per gap]}}."""
    return load_result(path)


__all__ = [
    "SYMBOLS", "DISTRACTORS", "QUERY", "VOCAB", "CHANCE", "MODEL_KINDS", "GATES", "memory_task", "decode",
    "rnn_step", "lstm_step", "TanhRNNCell", "LSTMCell", "Unrolled", "RecurrentModel", "set_spectral_radius",
    "transformer_for_task", "make_model", "final_logits", "MemoryRun", "train_on_memory_task", "accuracy", "run",
    "letter_memory", "every_letter",
    "letter_position", "MAX_START", "attention_on_letter",
    "forget_gate_memory",
    "sweep", "save_sweep", "load_sweep",
]

if __name__ == "__main__":
    torch.set_num_threads(1)
    print("wrote", save_sweep(sweep()))
