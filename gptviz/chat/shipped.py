"""The shipped fine-tuned chat model: where it lives, how it was made, and how to make it again."""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import load, load_pretrained, pretrained_dir, save
from .dataset import INVENT_SHARE, build_dataset
from .evaluation import evaluate
from .finetuning import FINETUNE_BATCH, FINETUNE_LR, FINETUNE_STEPS, finetune

CHAT_MODEL_DIR = "chat_model"


def chat_model_dir() -> Path:
    """Where the fine-tuned chat model ships: gptviz/data/chat_model (package data)."""
    return Path(str(resources.files("gptviz") / "data" / CHAT_MODEL_DIR))


def weights_digest(model) -> str:
    """A short fingerprint of a model's weights (to tell which pre-trained model a fine-tune started from)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float16).numpy().tobytes())
    return digest.hexdigest()[:16]


def chat_model_info(directory=None) -> dict:
    """The settings and measured results stored with the fine-tuned model."""
    config = json.loads((Path(directory or chat_model_dir()) / "config.json").read_text(encoding="utf-8"))
    return config["chat"]


def load_chat_model(directory=None, device="cpu"):
    """The shipped fine-tuned chat model and its tokenizer (remade by `python -m gptviz.chat finetune`)."""
    return load(directory or chat_model_dir(), device)


def make_chat_model(out, steps: int = FINETUNE_STEPS, batch_size: int = FINETUNE_BATCH, lr: float = FINETUNE_LR,
                    seed: int = 0, progress: bool = True, invent: float = INVENT_SHARE) -> dict:
    """Fine-tune the shipped pre-trained model, evaluate before and after, save in fp16 to `out`."""
    torch.manual_seed(seed)
    model, tokenizer = load_pretrained()
    dataset = build_dataset()
    before = evaluate(model, tokenizer, dataset.test)
    pretrained_digest = weights_digest(model)
    losses = finetune(model, tokenizer, dataset, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                      progress=progress, invent=invent)
    after = evaluate(model, tokenizer, dataset.test)
    info = {"pretrained_digest": pretrained_digest, "pretrained_dir": str(pretrained_dir().name),
            "steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed, "invent": invent,
            "loss_first_50": round(float(np.mean(losses[:50])), 4),
            "loss_last_50": round(float(np.mean(losses[-50:])), 4),
            "losses": [round(float(np.mean(losses[i : i + 10])), 4) for i in range(0, len(losses), 10)],
            "before": before.table(), "after": after.table()}
    save(model, tokenizer, out, dtype=torch.float16, extra={"chat": info})
    return info
