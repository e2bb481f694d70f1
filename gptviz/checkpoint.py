"""Save and load models as safetensors weights plus a JSON config: loading never runs code.

A checkpoint is written whole or not at all: into a temporary directory beside the target, then renamed into
place, so a reader sees the old checkpoint or the new one, never half of one. Loading is strict: the format,
every model setting, and every tensor's shape are checked, and the weights file records the config it was saved
with, so an edited config.json (say a different n_head, which changes no shape) is refused.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import uuid
import warnings
from collections.abc import Callable
from dataclasses import fields
from importlib import resources
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .device import pick_device
from .model import GPT, GPTConfig
from .tokenizer import CharTokenizer

FORMAT = "gptviz-2"  # the weights record their config (and tokenizer) in the safetensors header
FORMATS = ("gptviz-1", FORMAT)  # gptviz-1: written before that record existed; still read
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
HISTORY = "history.csv"
STATE = "train_state.safetensors"  # optimizer, random state and progress of an unfinished training run
TIED = "lm_head.weight"  # the same tensor as wte.weight; stored once
RECORD = "gptviz_config"  # safetensors metadata key: the model and tokenizer entries of config.json, as saved
RESERVED = ("format", "model", "tokenizer")


def config_record(model_config: GPTConfig, tokenizer: CharTokenizer) -> str:
    """The model and tokenizer settings as one canonical JSON string (stored inside the weights file)."""
    return json.dumps({"model": model_config.to_dict(), "tokenizer": tokenizer.to_dict()}, sort_keys=True)


def write_checkpoint(directory, model: GPT, tokenizer: CharTokenizer, dtype: torch.dtype = torch.float32,
                     extra: dict | None = None) -> None:
    """Write `model.safetensors` and `config.json` into the existing `directory` (no atomicity: see `save`)."""
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point torch dtype such as torch.float16, got {dtype!r}")
    clash = sorted(set(extra or {}) & set(RESERVED))
    if clash:
        raise ValueError(f"extra may not set the checkpoint's own entries {clash}")
    directory = Path(directory)
    tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in model.state_dict().items() if k != TIED}
    metadata = {"format": "pt", "gptviz_format": FORMAT, RECORD: config_record(model.config, tokenizer)}
    save_file(tensors, str(directory / WEIGHTS), metadata=metadata)
    config = {"format": FORMAT, "model": model.config.to_dict(), "tokenizer": tokenizer.to_dict(), **(extra or {})}
    (directory / CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def save(model: GPT, tokenizer: CharTokenizer, directory, dtype: torch.dtype = torch.float32,
         extra: dict | None = None, overwrite: bool = True) -> Path:
    """Write `directory/model.safetensors` and `directory/config.json`, atomically.

    An existing checkpoint there is replaced whole (no stray files stay) unless overwrite=False;
    a directory that holds anything else is never touched.
    """
    target = check_out(directory, overwrite, name="directory")
    return publish(target, lambda tmp: write_checkpoint(tmp, model, tokenizer, dtype, extra),
                   may_replace=is_checkpoint if overwrite else None)


# --------------------------------------------------------------------------- writing a directory atomically


def is_checkpoint(directory) -> bool:
    """Whether `directory` holds a gptviz checkpoint (a config.json whose format is gptviz-N)."""
    try:
        config = json.loads((Path(directory) / CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and str(config.get("format", "")).startswith("gptviz-")


def _hint(name: str, option: str) -> str:
    """How to spell an option for the CLI (`--overwrite`) or for Python (`overwrite=True`)."""
    return f"--{option}" if name.startswith("--") else f"{option}=True"


def check_out(path, overwrite: bool = False, name: str = "out") -> Path:
    """Check, before any work is done, that a checkpoint can be written at `path`; returns it as a Path.

    Refused with a ValueError naming `name`: a file at `path`, a directory that holds anything but a
    checkpoint, an existing checkpoint without `overwrite`, and a place that cannot be written.
    """
    if not isinstance(path, (str, os.PathLike)) or os.fspath(path) in ("", b"") or "\0" in str(os.fspath(path)):
        raise ValueError(f"{name} must be a directory path, got {path!r}")
    path = Path(path).expanduser()
    try:  # any OSError (permissions, a file in the way, a name too long) becomes one clear message
        if path.exists() and not path.is_dir():
            raise ValueError(f"{name} {str(path)!r} is a file, not a directory: choose another {name}")
        if path.is_dir() and any(path.iterdir()):
            if not is_checkpoint(path):
                raise ValueError(f"{name} {str(path)!r} already holds files that are not a gptviz checkpoint: "
                                 f"choose a new directory for {name}")
            if not overwrite:
                unfinished = f"; or continue the unfinished run in it with {_hint(name, 'resume')}"
                raise ValueError(f"{name} {str(path)!r} already holds a checkpoint: pass {_hint(name, 'overwrite')} "
                                 f"to replace it{unfinished if (path / STATE).is_file() else ''}")
        _probe(path)
    except OSError as err:
        raise ValueError(f"{name} {str(path)!r} cannot be written: {err.strerror or err}") from None
    return path


def _probe(path: Path) -> None:
    """Create and remove a directory where the checkpoint's temporary directory will go: proof it can be written."""
    created = []
    for parent in reversed([path, *path.parents]):
        if not parent.exists():
            created.append(parent)
    probe = path.parent / f".{path.name}.probe-{uuid.uuid4().hex[:8]}"
    try:
        for directory in created:
            directory.mkdir()  # the target itself too: its name must be legal where it goes
        probe.mkdir()
    finally:
        if probe.is_dir():
            probe.rmdir()
        for directory in reversed(created):
            if directory.is_dir():
                directory.rmdir()


def publish(target: Path, fill: Callable[[Path], None], may_replace: Callable[[Path], bool] | None = None) -> Path:
    """Write a directory atomically: `fill` a fresh temporary directory beside `target`, then rename it into place.

    An existing, non-empty `target` is replaced only if `may_replace(target)` says so; otherwise (another writer
    got there first) a FileExistsError, and `target` is left as it is. Nothing stray stays behind either way.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        fill(tmp)
        _move_into_place(tmp, target, may_replace)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _move_into_place(tmp: Path, target: Path, may_replace) -> None:
    """Rename `tmp` to `target`; an existing target goes aside first, and only if `may_replace` allows it."""
    try:
        os.rename(tmp, target)  # atomic; replaces nothing but an empty directory
        return
    except OSError as err:
        if not target.is_dir():
            raise FileExistsError(f"{target} is a file, not a directory: not replaced") from None
        if err.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            raise
    if may_replace is None or not may_replace(target):
        raise FileExistsError(f"{target} was written by another writer meanwhile: left as it is, and this "
                              "checkpoint was not saved (replace it on purpose with overwrite)")
    old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
    os.rename(target, old)
    try:
        os.rename(tmp, target)
    except OSError:
        if not target.exists():
            os.rename(old, target)  # put the previous one back
        else:
            shutil.rmtree(old, ignore_errors=True)
        raise FileExistsError(f"{target} was written by another writer meanwhile: this checkpoint was not saved") \
            from None
    shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------- reading, strictly


def read_config(directory) -> dict:
    """The parsed config.json of a checkpoint directory: format, model and tokenizer entries checked."""
    path = Path(directory) / CONFIG
    if not Path(directory).is_dir():
        raise FileNotFoundError(f"no checkpoint directory at {directory}")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint is missing its config file: {path}")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from err
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict) or "tokenizer" not in config:
        raise ValueError(f"{path} must hold 'format', 'model' and 'tokenizer' entries")
    fmt = config.get("format")
    if fmt not in FORMATS:
        why = "written by a newer gptviz?" if str(fmt).startswith("gptviz-") else "not a gptviz checkpoint"
        raise ValueError(f"{path}: format {fmt!r} is not one this gptviz reads ({', '.join(FORMATS)}): {why}")
    expected = {f.name for f in fields(GPTConfig)}
    missing, unknown = sorted(expected - config["model"].keys()), sorted(config["model"].keys() - expected)
    if missing or unknown:
        raise ValueError(f"{path}: the 'model' entry must give exactly {sorted(expected)}; "
                         f"missing {missing}, unknown {unknown}")
    return config


def read_safetensors(path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and the metadata of a safetensors file (parses a JSON header and raw bytes; never unpickles)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint is missing {path.name}: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"{path} is not a valid safetensors file ({err})") from err


def _check_record(record: str, config: dict, weights_path: Path) -> None:
    """The config.json entries must be the ones recorded in the weights when they were saved."""
    try:
        saved = json.loads(record)
        saved_model, saved_tokenizer = saved["model"], saved["tokenizer"]
    except (ValueError, TypeError, KeyError) as err:
        raise ValueError(f"{weights_path}: its record of the config it was saved with is unreadable ({err})") from err
    diffs = [f"{k}={config['model'].get(k)!r} but the weights were saved with {k}={saved_model.get(k)!r}"
             for k in sorted(set(saved_model) | set(config["model"])) if config["model"].get(k) != saved_model.get(k)]
    if config["tokenizer"] != saved_tokenizer:
        diffs.append("its tokenizer differs from the one the weights were saved with")
    if diffs:
        raise ValueError(f"{weights_path.parent / CONFIG} does not match its weights: " + "; ".join(diffs) +
                         " (was config.json edited? restore it, or save the model again)")


def load(directory, device: str | torch.device = "cpu") -> tuple[GPT, CharTokenizer]:
    """The model (in eval mode) and tokenizer saved in `directory`."""
    device = pick_device(device)  # first: a clear error for 'cuda' on a machine without it
    config = read_config(directory)
    config_path, weights_path = Path(directory) / CONFIG, Path(directory) / WEIGHTS
    try:
        model_config = GPTConfig(**config["model"])
        tokenizer = CharTokenizer.from_dict(config["tokenizer"])
    except ValueError as err:
        raise ValueError(f"{config_path}: {err}") from err
    if tokenizer.vocab_size != model_config.vocab_size:
        raise ValueError(f"{directory}: tokenizer has {tokenizer.vocab_size} tokens "
                         f"but the model config says vocab_size={model_config.vocab_size}")
    tensors, metadata = read_safetensors(weights_path)
    if RECORD in metadata:
        _check_record(metadata[RECORD], config, weights_path)
    elif config["format"] != "gptviz-1":
        raise ValueError(f"{weights_path} does not record the config it was saved with, "
                         f"which format {config['format']} requires")
    else:
        warnings.warn(f"{directory} is an old checkpoint (format gptviz-1) whose weights do not record their config, "
                      "so an edit to config.json cannot be detected; gptviz.checkpoint.upgrade(directory) upgrades it",
                      stacklevel=2)
    model = GPT(model_config)
    expected = {k: v for k, v in model.state_dict().items() if k != TIED}
    missing, unexpected = expected.keys() - tensors.keys(), tensors.keys() - expected.keys()
    wrong = [k for k in expected.keys() & tensors.keys()
             if tensors[k].shape != expected[k].shape or not tensors[k].is_floating_point()]
    if missing or unexpected or wrong:
        raise ValueError(
            f"{weights_path} does not match its config: missing {sorted(missing)}, "
            f"unexpected {sorted(unexpected)}, wrong shape or type {sorted(wrong)}"
        )
    model.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=False)
    return model.to(device).eval(), tokenizer


def upgrade(directory) -> Path:
    """Rewrite a gptviz-1 checkpoint as gptviz-2: the same tensor bytes, now with the config recorded beside them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load(directory)  # refuse to upgrade anything that does not load
    directory, config = Path(directory), read_config(directory)
    tensors, _ = read_safetensors(Path(directory) / WEIGHTS)
    record = config_record(GPTConfig(**config["model"]), CharTokenizer.from_dict(config["tokenizer"]))

    def fill(tmp: Path) -> None:
        for other in directory.iterdir():
            if other.name not in (WEIGHTS, CONFIG) and other.is_file():
                shutil.copy2(other, tmp / other.name)
        save_file(tensors, str(tmp / WEIGHTS), metadata={"format": "pt", "gptviz_format": FORMAT, RECORD: record})
        (tmp / CONFIG).write_text(json.dumps({**config, "format": FORMAT}, indent=2) + "\n", encoding="utf-8")

    return publish(directory, fill, may_replace=is_checkpoint)


def pretrained_dir() -> Path:
    """Where the shipped checkpoint lies inside the installed package."""
    return Path(str(resources.files("gptviz") / "pretrained"))


def load_pretrained(device: str | torch.device = "cpu") -> tuple[GPT, CharTokenizer]:
    """The model shipped with gptviz, trained on Shakespeare's plays (see README for the command)."""
    return load(pretrained_dir(), device)
