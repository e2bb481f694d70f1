"""Save and load models as safetensors weights plus a JSON config: loading never runs code."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .model import GPT, GPTConfig
from .tokenizer import CharTokenizer

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
TIED = "lm_head.weight"  # the same tensor as wte.weight; stored once


def save(model: GPT, tokenizer: CharTokenizer, directory, dtype: torch.dtype = torch.float32,
         extra: dict | None = None) -> Path:
    """Write `directory/model.safetensors` and `directory/config.json`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in model.state_dict().items() if k != TIED}
    save_file(tensors, str(directory / WEIGHTS))
    config = {"format": "gptviz-1", "model": model.config.to_dict(), "tokenizer": tokenizer.to_dict()}
    config.update(extra or {})
    (directory / CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return directory


def read_config(directory) -> dict:
    """The parsed config.json of a checkpoint directory, with clear errors."""
    path = Path(directory) / CONFIG
    if not Path(directory).is_dir():
        raise FileNotFoundError(f"no checkpoint directory at {directory}")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint is missing its config file: {path}")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from err
    if not isinstance(config, dict) or "model" not in config or "tokenizer" not in config:
        raise ValueError(f"{path} must hold 'model' and 'tokenizer' entries")
    return config


def load(directory, device: str | torch.device = "cpu") -> tuple[GPT, CharTokenizer]:
    """The model (in eval mode) and tokenizer saved in `directory`."""
    config = read_config(directory)
    weights_path = Path(directory) / WEIGHTS
    try:
        model_config = GPTConfig(**config["model"])
    except TypeError as err:
        raise ValueError(f"{Path(directory) / CONFIG}: bad model config: {err}") from err
    tokenizer = CharTokenizer.from_dict(config["tokenizer"])
    if tokenizer.vocab_size != model_config.vocab_size:
        raise ValueError(f"{directory}: tokenizer has {tokenizer.vocab_size} tokens "
                         f"but the model config says vocab_size={model_config.vocab_size}")
    if not weights_path.is_file():
        raise FileNotFoundError(f"checkpoint is missing its weights: {weights_path}")
    try:
        tensors = load_file(str(weights_path))  # parses a JSON header and raw bytes; never unpickles
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"{weights_path} is not a valid safetensors file ({err})") from err
    model = GPT(model_config)
    expected = {k: v for k, v in model.state_dict().items() if k != TIED}
    missing, unexpected = expected.keys() - tensors.keys(), tensors.keys() - expected.keys()
    wrong = [k for k in expected.keys() & tensors.keys() if tensors[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        raise ValueError(
            f"{weights_path} does not match its config: missing {sorted(missing)}, "
            f"unexpected {sorted(unexpected)}, wrong shape {sorted(wrong)}"
        )
    model.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=False)
    return model.to(device).eval(), tokenizer


def pretrained_dir() -> Path:
    """Where the shipped checkpoint lies inside the installed package."""
    return Path(str(resources.files("gptviz") / "pretrained"))


def load_pretrained(device: str | torch.device = "cpu") -> tuple[GPT, CharTokenizer]:
    """The model shipped with gptviz, trained on Shakespeare's plays (see README for the command)."""
    return load(pretrained_dir(), device)
