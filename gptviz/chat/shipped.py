"""The shipped fine-tuned chat model: where it lives, how it was made, and how to make it again."""

from __future__ import annotations

import hashlib
import json
import time
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import load, load_pretrained, pretrained_dir, save
from .dataset import INVENT_SHARE, build_dataset
from .evaluation import evaluate
from .finetuning import FINETUNE_BATCH, FINETUNE_LR, FINETUNE_STEPS, finetune
from .template import add_chat_tokens

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


def chat_ready_pretrained(device="cpu"):
    """The shipped pre-trained model and tokenizer with the chat tokens added (new embedding rows = the mean row)."""
    return add_chat_tokens(*load_pretrained(device))


def make_chat_model(out, steps: int = FINETUNE_STEPS, batch_size: int = FINETUNE_BATCH, lr: float = FINETUNE_LR,
                    seed: int = 0, progress: bool = True, invent: float = INVENT_SHARE, device: str = "cpu") -> dict:
    """Add the chat tokens to the shipped pre-trained model, fine-tune it, evaluate before and after, save in fp16."""
    torch.manual_seed(seed)
    pretrained_digest = weights_digest(load_pretrained()[0])
    model, tokenizer = chat_ready_pretrained(device)
    dataset = build_dataset()
    before = evaluate(model, tokenizer, dataset.test)
    before_train = evaluate(model, tokenizer, dataset.train_sample())
    started = time.perf_counter()
    losses = finetune(model, tokenizer, dataset, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                      progress=progress, invent=invent)
    seconds = time.perf_counter() - started
    after = evaluate(model, tokenizer, dataset.test)
    after_train = evaluate(model, tokenizer, dataset.train_sample())
    info = {"pretrained_digest": pretrained_digest, "pretrained_dir": str(pretrained_dir().name),
            "steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed, "invent": invent,
            "device": str(device), "seconds": round(seconds, 1), "torch": torch.__version__,
            "loss_first_50": round(float(np.mean(losses[:50])), 4),
            "loss_last_50": round(float(np.mean(losses[-50:])), 4),
            "losses": [round(float(np.mean(losses[i : i + 10])), 4) for i in range(0, len(losses), 10)],
            "before": before.table(), "after": after.table(),
            "before_train": before_train.table(), "after_train": after_train.table()}
    save(model.cpu(), tokenizer, out, dtype=torch.float16, extra={"chat": info})
    return info
