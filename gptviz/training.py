"""Training: one loop (`fit`) for every model here, and `train` for a GPT: AdamW, warm-up then cosine decay,
periodic validation, a progress bar, checkpoints as it goes.

Ctrl-C stops training cleanly after the current step. With a directory to save in, a checkpoint is written
there every few steps and on Ctrl-C, and a stopped run continues (`resume=True`) to exactly the weights an
unstopped run would reach: the checkpoint holds the optimizer state, the random state and the progress so far.
"""

from __future__ import annotations

import csv
import json
import math
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from .checkpoint import STATE, check_out
from .checks import check_float, check_int, check_seed
from .data import Corpus, as_ids, random_batch
from .device import pick_device
from .train_state import (
    LoopState,
    RunSaver,
    corpus_digest,
    load_weights,
    read_state,
    restore,
    state_tensors,
)

HISTORY_COLUMNS = ("step", "train_loss", "val_loss", "lr", "seconds", "tokens_per_s")
FREE_ON_RESUME = ("device", "save_every")  # settings a resumed run may change without changing its result


@dataclass
class TrainConfig:
    steps: int = 2000  # optimisation steps
    batch_size: int = 32  # sequences per step
    lr: float = 1e-3  # peak learning rate
    warmup_steps: int = 100  # linear warm-up from 0 to lr
    min_lr_ratio: float = 0.1  # cosine decay ends at lr * min_lr_ratio
    weight_decay: float = 0.1
    grad_clip: float = 1.0  # largest gradient norm; 0 turns clipping off
    eval_every: int = 250  # steps between validation measurements
    eval_batches: int = 20  # batches averaged for each validation loss
    seed: int = 1337  # fixes batch order (and, in the CLI, the initial weights)
    device: str | None = None  # None: cuda, mps or cpu, whichever is there
    save_every: int = 250  # steps between checkpoints, when train() is given a directory to save in

    def __post_init__(self):
        for name in ("steps", "batch_size", "eval_every", "eval_batches", "save_every"):
            setattr(self, name, check_int(name, getattr(self, name), low=1))
        self.warmup_steps = check_int("warmup_steps", self.warmup_steps, low=0)
        self.lr = check_float("lr", self.lr, low=0, low_open=True)
        self.min_lr_ratio = check_float("min_lr_ratio", self.min_lr_ratio, 0, 1)
        self.weight_decay = check_float("weight_decay", self.weight_decay, low=0)
        self.grad_clip = check_float("grad_clip", self.grad_clip, low=0)
        self.seed = check_seed("seed", self.seed)
        if isinstance(self.device, torch.device):
            self.device = str(self.device)
        if self.device is not None and not isinstance(self.device, str):
            raise ValueError(f"device must be 'cpu', 'cuda', 'mps' or None, got {self.device!r}")


@dataclass
class History:
    """One row per validation: step, train_loss, val_loss, lr, seconds, tokens_per_s.

    `train` measures train_loss and val_loss the same way at the same step (eval mode, fixed windows of each text);
    `fit`'s default rows hold the mean training loss of the steps since the previous row.
    """

    rows: list[dict] = field(default_factory=list)
    stopped_at: int | None = None  # the step where Ctrl-C stopped training (the last row is there); None: finished

    def __getitem__(self, column: str) -> list:
        return [row[column] for row in self.rows]

    def to_csv(self, path) -> Path:
        path = Path(path)
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=HISTORY_COLUMNS)
            writer.writeheader()
            writer.writerows(self.rows)
        return path


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; `history` holds the rows measured before."""

    def __init__(self, message: str, history: History):
        super().__init__(message)
        self.history = history


def learning_rate(step: int, config: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to lr * min_lr_ratio at the last step."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return config.lr * (config.min_lr_ratio + (1 - config.min_lr_ratio) * cosine)


@torch.no_grad()
def estimate_loss(model, ids: torch.Tensor, batch_size: int, batches: int, seed: int) -> float:
    """Mean loss on `batches` fixed random windows of `ids` (the same windows every call)."""
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(batches):
        x, y = random_batch(ids, model.config.block_size, batch_size, gen)
        losses.append(model(x.to(model.device), y.to(model.device))[1].item())
    model.train(was_training)
    return sum(losses) / len(losses)


def make_optimizer(model, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on the matrices only (not on biases, norms).

    The fused kernel updates every parameter in one call; on a CPU it makes the optimizer step
    about four times cheaper than the per-tensor loop (bench/train_speed.py measures it).
    """
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    try:
        return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.99), fused=True)
    except RuntimeError:  # older torch, or a device without the fused kernel
        return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.99), foreach=True)


def encode_ids(text: str, tokenizer) -> torch.Tensor:
    """`as_ids(text, tokenizer)`, but a whole-corpus ASCII text is looked up byte by byte in numpy (~1000x faster)."""
    data = text.encode("utf-8")
    if len(data) == len(text) and hasattr(tokenizer, "stoi"):  # one byte per character: plain ASCII
        table = np.full(128, -1, dtype=np.int64)
        for char, i in tokenizer.stoi.items():
            if ord(char) < 128:
                table[ord(char)] = i
        ids = table[np.frombuffer(data, dtype=np.uint8)]
        if len(ids) == 0 or ids.min() >= 0:
            return torch.from_numpy(ids)
    return as_ids(text, tokenizer)  # the tokenizer's own path: it names any unknown characters


def split_ids(corpus: Corpus | str, tokenizer) -> tuple[torch.Tensor, torch.Tensor]:
    """Training and validation token ids; a plain string is split 90/10."""
    if isinstance(corpus, str):
        cut = int(len(corpus) * 0.9)
        corpus = Corpus("text", corpus[:cut], corpus[cut:])
    return encode_ids(corpus.train_text, tokenizer), encode_ids(corpus.val_text, tokenizer)


def _settings(config: TrainConfig | None, overrides: dict) -> TrainConfig:
    """`config` with keyword overrides applied, every field checked."""
    if config is not None and not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig or None, got {type(config).__name__}")
    unknown = overrides.keys() - {f.name for f in fields(TrainConfig)}
    if unknown:
        raise TypeError(f"unknown training options: {sorted(unknown)}")
    return TrainConfig(**{**(config or TrainConfig()).__dict__, **overrides})


class _StopOnCtrlC:
    """While active, a first Ctrl-C asks training to stop after the current step; a second stops it at once."""

    def __init__(self):
        self.requested = False
        self.previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is not None:
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nCtrl-C: training stops after this step (press again to stop at once, without saving)",
              file=sys.stderr, flush=True)

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)



def fit(model, batches: Callable[[int], Any], loss: Callable[[Any, Any], torch.Tensor], config: TrainConfig, *,
        optimizer: torch.optim.Optimizer | None = None, report: Callable[..., dict] | None = None,
        first_row: bool = False, on_eval: Callable[[Any, dict], None] | None = None,
        checkpoint: Callable[[int, bool], str] | None = None, history: History | None = None,
        state: LoopState | None = None, progress: bool = True, desc: str = "training") -> History:
    """The training loop every model here uses: `loss(model, batches(step))` minimised for `config.steps` steps.

    Each step sets the learning rate (`learning_rate(step - 1, config)`), takes a batch, backpropagates, clips the
    gradient norm to `config.grad_clip` (0: no clipping) and steps the optimizer (default: `make_optimizer`).
    Every `config.eval_every` steps and at the last, `report(step, losses, interval_seconds, total_seconds)` turns
    the losses since the last row into a History row (default: step, mean train_loss, lr, seconds), then
    `on_eval(model, row)` sees it; `first_row` adds a row for step 0 first. `checkpoint(step, finished)` saves
    every `config.save_every` steps, on a clean stop and at the end, and returns where it saved.
    A loss that is NaN or infinite raises TrainingDiverged. Ctrl-C (or a KeyboardInterrupt from `on_eval`) stops
    after the current step: the History so far comes back with `stopped_at` set. The model ends in eval mode.
    `history` and `state` continue a run (resume); `state` is updated in place as training goes.
    """
    history = History() if history is None else history
    state = LoopState() if state is None else state
    optimizer = make_optimizer(model, config) if optimizer is None else optimizer
    report = report or (lambda step, losses, seconds, total: dict(
        step=step, train_loss=sum(losses) / len(losses), lr=learning_rate(step - 1, config), seconds=round(total, 2)))

    def add_row(step: int, callback: bool = True) -> dict:
        losses, seconds = state.interval_losses, state.interval_time
        state.interval_losses, state.interval_time = [], 0.0  # before on_eval: a stop there leaves a clean state
        history.rows.append(report(step, losses, seconds, state.total_time))
        if on_eval is not None and callback:
            on_eval(model, history.rows[-1])
        return history.rows[-1]

    mid_step, interrupted = False, False
    model.train()
    bar = tqdm(range(state.step + 1, config.steps + 1), desc=desc, disable=not progress, mininterval=0.5,
               initial=state.step, total=config.steps)
    with _StopOnCtrlC() as stop:
        try:
            try:
                if first_row:
                    add_row(0)
                for step in bar:
                    if stop.requested:
                        break
                    mid_step = True
                    begin = time.perf_counter()
                    for group in optimizer.param_groups:
                        group["lr"] = learning_rate(step - 1, config)
                    value = loss(model, batches(step))
                    optimizer.zero_grad(set_to_none=True)
                    value.backward()
                    if config.grad_clip:
                        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                    optimizer.step()
                    value = value.item()
                    if not math.isfinite(value):
                        raise TrainingDiverged(_diverged(value, step, config), history)
                    elapsed = time.perf_counter() - begin
                    state.step, mid_step = step, False
                    state.interval_losses.append(value)
                    state.interval_time += elapsed
                    state.total_time += elapsed
                    if step % config.eval_every == 0 or step == config.steps:
                        row = add_row(step)
                        bar.set_postfix({k: f"{row[k]:.3f}" for k in ("train_loss", "val_loss") if k in row},
                                        refresh=False)
                    if checkpoint is not None and step % config.save_every == 0 and step < config.steps:
                        checkpoint(step, False)
            except KeyboardInterrupt:
                if stop.requested:  # a second Ctrl-C: stop at once, as asked
                    raise
                interrupted = True
            finally:
                bar.close()
            step = state.step
            if step == config.steps:
                if checkpoint is not None:
                    checkpoint(step, True)
            elif interrupted or stop.requested:
                history.stopped_at = step
                note = f"training stopped at step {step} of {config.steps}"
                if mid_step:
                    note += f", in the middle of step {step + 1}, so the model may be part-way through it: not saved"
                elif checkpoint is not None:
                    note += f"; saved in {checkpoint(step, False)}, to continue with resume"
                print(note, file=sys.stderr, flush=True)
                if state.interval_losses and not mid_step:  # a row for where it stopped
                    add_row(step, callback=False)
        finally:
            model.eval()
    return history


def train(model, tokenizer, corpus: Corpus | str, config: TrainConfig | None = None,
          progress: bool = True, on_eval=None, *, out=None, overwrite: bool = False, resume: bool = False,
          save_dtype: torch.dtype = torch.float32, notes: dict | None = None, **overrides) -> History:
    """Train `model` in place on `corpus`; returns the History. Keyword overrides set TrainConfig fields.

    Ctrl-C (or a KeyboardInterrupt raised by `on_eval`) stops training after the current step: the History so far
    comes back, with a row for the step where it stopped and `stopped_at` set, and the model is in eval mode.
    With `out`, a checkpoint goes there every `save_every` steps (float32, with everything needed to resume), on
    Ctrl-C, and at the end (weights in `save_dtype`, no resume data); an existing checkpoint there is refused
    unless `overwrite`. `resume=True` continues the unfinished run saved in `out` to the same weights as a run
    that was never stopped. `notes` (JSON-safe) are stored with every checkpoint.
    """
    given, config = config, _settings(config, overrides)
    device = pick_device(config.device)
    if resume and out is None:
        raise ValueError("resume=True needs out=: the directory of the run to continue")
    if out is not None:
        json.dumps(notes)  # a TypeError now rather than at the first save
        out = Path(out) if resume else check_out(out, overwrite, name="out")
    block = model.config.block_size
    train_ids, val_ids = split_ids(corpus, tokenizer)
    for name, ids in (("training", train_ids), ("validation", val_ids)):
        if len(ids) < block + 1:
            raise ValueError(f"{name} text has {len(ids)} tokens; it needs at least block_size + 1 = {block + 1}")
    digest = corpus_digest(train_ids, val_ids) if out is not None else None
    history, state, saved_state = History(), LoopState(), None
    if resume:
        saved_state, tensors = read_train_state(out)
        config = _resumed_settings(saved_state["config"], given, overrides)
        device = pick_device(config.device)
        load_weights(model, tokenizer, out, saved_state["corpus"] == digest)
        notes = saved_state.get("notes") if notes is None else notes
        state = LoopState(saved_state["step"], saved_state["interval_losses"], saved_state["interval_time"],
                          saved_state["total_time"])
        history.rows = saved_state["rows"]
    model.to(device)
    optimizer = make_optimizer(model, config)
    gen = torch.Generator().manual_seed(config.seed)
    if resume:
        restore(optimizer, gen, tensors, device)
    saver = None if out is None else RunSaver(out, saved_state["run"] if resume else
                                             ("overwrite" if overwrite else None))

    def report(step, losses, seconds, total):
        val = estimate_loss(model, val_ids, config.batch_size, config.eval_batches, config.seed + 1)
        # measured like val, at this step: an average over the steps since the last row would lag behind it
        train_loss = estimate_loss(model, train_ids, config.batch_size, config.eval_batches, config.seed + 2)
        rate = len(losses) * config.batch_size * block / max(seconds, 1e-9)
        return dict(step=step, train_loss=round(train_loss, 4), val_loss=round(val, 4),
                    lr=round(learning_rate(max(step - 1, 0), config), 7), seconds=round(total, 2),
                    tokens_per_s=round(rate))

    def checkpoint(step, finished):
        info = dict(step=step, steps=config.steps, finished=finished, config=asdict(config), notes=notes)
        saved = None
        if not finished:
            record = dict(run=saver.run, step=step, rows=history.rows, interval_losses=state.interval_losses,
                          interval_time=state.interval_time, total_time=state.total_time, config=asdict(config),
                          corpus=digest, notes=notes)
            saved = (state_tensors(optimizer, gen, device), record)
        saver.save(model, tokenizer, history, info, saved, save_dtype if finished else torch.float32)
        return out

    try:
        return fit(model, lambda step: random_batch(train_ids, block, config.batch_size, gen),
                   lambda model, batch: model(batch[0].to(device), batch[1].to(device))[1], config,
                   optimizer=optimizer, report=report, first_row=not resume, on_eval=on_eval,
                   checkpoint=None if saver is None else checkpoint, history=history, state=state,
                   progress=progress)
    except TrainingDiverged as err:
        if saver is not None and saver.saved:
            raise TrainingDiverged(f"{err}; the last checkpoint in {out} is from before and intact", err.history) \
                from None
        raise


def read_train_state(directory) -> tuple[dict, dict[str, torch.Tensor]]:
    """The progress record and tensors (optimizer and random state) of the unfinished run saved in `directory`."""
    progress, tensors = read_state(directory)
    try:
        progress["config"] = TrainConfig(**progress["config"])
    except (ValueError, TypeError) as err:
        raise ValueError(f"{Path(directory) / STATE}: its progress record is unreadable ({err})") from err
    return progress, tensors


def _resumed_settings(saved: TrainConfig, config: TrainConfig | None, overrides: dict) -> TrainConfig:
    """The saved settings, with only those that cannot change the result (device, save_every) open to change."""
    requested = _settings(config or saved, overrides)
    changed = [f"{f.name}: saved {getattr(saved, f.name)!r}, given {getattr(requested, f.name)!r}"
               for f in fields(TrainConfig)
               if f.name not in FREE_ON_RESUME and getattr(saved, f.name) != getattr(requested, f.name)]
    if changed:
        raise ValueError("a resumed run keeps the settings it was started with; these differ: " + "; ".join(changed))
    return requested


def _diverged(loss_value: float, step: int, config: TrainConfig) -> str:
    """The message for a loss that became NaN or infinite."""
    rate = learning_rate(step - 1, config)
    return (f"the training loss became {loss_value} at step {step} (learning rate {rate:.3g}, peak lr={config.lr:g})"
            f": training diverged; try a lower lr, e.g. lr={config.lr / 10:g}")
