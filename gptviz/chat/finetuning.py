"""Supervised fine-tuning on the chat dataset: the usual next-token loss, counted on the answers only."""

from __future__ import annotations

import random

import torch
from torch.nn import functional as F

from ..model import evaluating
from ..training import TrainConfig, fit
from .dataset import INVENT_SHARE, ChatDataset, ChatExample
from .template import encode_chat

FINETUNE_STEPS, FINETUNE_BATCH, FINETUNE_LR = 500, 16, 1e-3  # the settings of the shipped chat model


def encode_examples(examples: list[ChatExample], tokenizer) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (B, T) and targets (B, T) for next-token training; every target outside the reply is -100 (ignored).

    The reply is the answer and its <|end|> token: the model learns what to say and when to stop."""
    rows = [encode_chat(tokenizer, e.text) for e in examples]
    width = max(len(r) for r in rows) - 1
    x = torch.zeros(len(rows), width, dtype=torch.long)
    y = torch.full((len(rows), width), -100, dtype=torch.long)  # cross_entropy's ignore_index
    for i, (row, e) in enumerate(zip(rows, examples, strict=True)):
        start = len(encode_chat(tokenizer, e.prompt)) - 1  # the position whose target is the answer's first token
        x[i, : len(row) - 1] = torch.tensor(row[:-1])
        y[i, start : len(row) - 1] = torch.tensor(row[start + 1 :])
    return x, y



@torch.no_grad()
def answer_loss(model, tokenizer, examples: list[ChatExample], batch_size: int = 64) -> float:
    """Mean cross-entropy on the answer characters (and the end of the turn) only."""
    total, count = 0.0, 0
    with evaluating(model):
        for i in range(0, len(examples), batch_size):
            x, y = encode_examples(examples[i : i + batch_size], tokenizer)
            logits, _ = model(x.to(model.device))
            total += F.cross_entropy(logits.flatten(0, 1), y.flatten().to(model.device), reduction="sum").item()
            count += int((y != -100).sum())
    return total / count


def finetune(model, tokenizer, dataset: ChatDataset, steps: int = FINETUNE_STEPS, batch_size: int = FINETUNE_BATCH,
             lr: float = FINETUNE_LR, seed: int = 0, progress: bool = False,
             invent: float = INVENT_SHARE) -> list[float]:
    """Supervised fine-tuning in place, with the loss on the answers only; returns the loss of every step."""
    for name, value in (("steps", steps), ("batch_size", batch_size)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    config = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, warmup_steps=min(50, steps // 10), eval_every=1)
    rng = random.Random(seed)
    torch.manual_seed(seed)
    history = fit(model, lambda step: encode_examples(dataset.sample(batch_size, rng, invent), tokenizer),
                  lambda model, batch: model(batch[0].to(model.device), batch[1].to(model.device))[1],  # skips -100
                  config, progress=progress, desc="fine-tuning")
    return history["train_loss"]
