"""What a stopped training run keeps so that it can continue: its checkpoints, optimizer and random state, progress.

A resumed run reaches exactly the weights an unstopped one would: the checkpoint holds the optimizer moments,
the random generators' states and the loop's progress (step, rows, the losses of the unfinished interval).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import save_file

from .checkpoint import (
    CONFIG,
    HISTORY,
    STATE,
    WEIGHTS,
    is_checkpoint,
    load,
    publish,
    read_safetensors,
    write_checkpoint,
)

STATE_KEY = "gptviz_train_state"  # safetensors metadata key of the progress record in train_state.safetensors


@dataclass
class LoopState:
    """Where the training loop is: the last finished step, and the losses and time since the last history row."""

    step: int = 0
    interval_losses: list[float] = field(default_factory=list)
    interval_time: float = 0.0
    total_time: float = 0.0


def corpus_digest(train_ids: torch.Tensor, val_ids: torch.Tensor) -> str:
    """A fingerprint of the token ids trained and validated on (a resumed run must see the same ones)."""
    digest = hashlib.sha256(train_ids.numpy().tobytes())
    digest.update(b"|")
    digest.update(val_ids.numpy().tobytes())
    return digest.hexdigest()


def run_of(directory) -> str | None:
    """The id of the training run that wrote the checkpoint in `directory` (None if none did)."""
    try:
        return json.loads((Path(directory) / CONFIG).read_text(encoding="utf-8"))["training"]["run"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


class RunSaver:
    """Writes one run's checkpoints into `out`, atomically, replacing only what it may.

    `expect` says what may already be there: nothing (None), any checkpoint ("overwrite"), or the checkpoint of
    the run being resumed (its id). After the first save, only this run's own checkpoint: if another writer
    put something there meanwhile, saving fails instead of silently replacing it.
    """

    def __init__(self, out: Path, expect: str | None):
        self.out, self.expect, self.run = out, expect, uuid.uuid4().hex

    @property
    def saved(self) -> bool:
        """Whether this run has written a checkpoint yet."""
        return self.expect == self.run

    def may_replace(self, target: Path) -> bool:
        if self.expect == "overwrite":
            return is_checkpoint(target)
        return self.expect is not None and run_of(target) == self.expect

    def save(self, model, tokenizer, history, info: dict, state: tuple[dict, dict] | None,
             dtype: torch.dtype = torch.float32) -> None:
        def fill(tmp: Path) -> None:
            write_checkpoint(tmp, model, tokenizer, dtype, extra={"training": {"run": self.run, **info}})
            history.to_csv(tmp / HISTORY)
            if state is not None:
                tensors, progress = state
                save_file(tensors, str(tmp / STATE), metadata={STATE_KEY: json.dumps(progress)})

        publish(self.out, fill, self.may_replace)
        self.expect = self.run


def read_state(directory) -> tuple[dict, dict[str, torch.Tensor]]:
    """The progress record (its config still a dict) and tensors of the unfinished run saved in `directory`."""
    directory = Path(directory)
    if not (directory / STATE).is_file():
        if not (directory / WEIGHTS).is_file():
            raise ValueError(f"{directory} holds no checkpoint to resume")
        finished = (json.loads((directory / CONFIG).read_text(encoding="utf-8")).get("training") or {}) \
            if (directory / CONFIG).is_file() else {}
        if finished.get("finished"):
            raise ValueError(f"{directory} holds a finished run ({finished.get('steps')} steps): nothing to resume")
        raise ValueError(f"{directory} holds no unfinished training run ({STATE} is missing): nothing to resume")
    tensors, metadata = read_safetensors(directory / STATE)
    try:
        progress = json.loads(metadata[STATE_KEY])
        progress["config"] = dict(progress["config"])
    except (KeyError, ValueError, TypeError) as err:
        raise ValueError(f"{directory / STATE}: its progress record is unreadable ({err})") from err
    if progress.get("run") != run_of(directory):
        raise ValueError(f"{directory / STATE} belongs to another run than {directory / CONFIG}")
    return progress, tensors


def load_weights(model, tokenizer, out: Path, same_text: bool) -> None:
    """Put the weights saved in `out` into `model`, once sure that model, tokenizer and text are the run's own."""
    saved_model, saved_tokenizer = load(out)
    if saved_model.config != model.config or saved_tokenizer.to_dict() != tokenizer.to_dict():
        raise ValueError(f"the model or tokenizer given differs from the one saved in {out}")
    if not same_text:
        raise ValueError(f"the training text differs from the one the run in {out} was trained on")
    model.load_state_dict(saved_model.state_dict())


def state_tensors(optimizer, gen: torch.Generator, device: torch.device) -> dict[str, torch.Tensor]:
    """Optimizer moments and step counts, and the random states, as named CPU tensors."""
    tensors = {}
    for i, state in optimizer.state_dict()["state"].items():
        for key, value in state.items():
            tensors[f"optimizer.{i}.{key}"] = torch.as_tensor(value).detach().to("cpu").contiguous().clone()
    tensors["random.batches"] = gen.get_state()
    tensors["random.torch"] = torch.get_rng_state()
    if device.type == "cuda":
        tensors["random.cuda"] = torch.cuda.get_rng_state(device)
    return tensors


def restore(optimizer, gen: torch.Generator, tensors: dict[str, torch.Tensor], device: torch.device) -> None:
    """Put back what `state_tensors` saved."""
    state = optimizer.state_dict()
    saved: dict[int, dict] = {}
    for name, tensor in tensors.items():
        if name.startswith("optimizer."):
            _, i, key = name.split(".", 2)
            saved.setdefault(int(i), {})[key] = tensor
    state["state"] = saved
    optimizer.load_state_dict(state)
    gen.set_state(tensors["random.batches"])
    torch.set_rng_state(tensors["random.torch"])
    if device.type == "cuda" and "random.cuda" in tensors:
        torch.cuda.set_rng_state(tensors["random.cuda"], device)
