"""Chapter 07's experiments on training itself: the learning rate, overfitting, perplexity, a recurrent LM's T terms.

- `lr_trial` / `lr_outcome`: short live runs of a small GPT at one learning rate, and what each run did
  (still slow, learning, or blown up) measured on its validation loss.
- `overfit_run` / `overfit_gap`: a GPT trained on a tiny slice of text, validated on unseen plays; the gap
  between the two losses, and how far validation has climbed from its best.
- `perplexity`: exp(loss), the number of equally likely choices that would give the same loss.
- `rnn_lm_one_pass_vs_prefixes`: a recurrent LM also makes one prediction per position in one pass.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .data import Corpus, random_batch
from .model import GPT, GPTConfig
from .training import History, train

LR_STEPS, LR_EVAL_EVERY = 100, 10  # a live learning-rate trial: about two seconds on one core
LEARNING_RATES = {"too small": 1e-4, "about right": 1e-2, "too large": 3.0}  # for the trial model below
OVERFIT_CHARS, OVERFIT_STEPS = 500, 250  # a tiny slice of the plays, trained on until it is memorised


def perplexity(loss: float) -> float:
    """exp(loss in nats): the number of equally likely characters that would give this loss."""
    return math.exp(loss)


def small_gpt(vocab_size: int, seed: int = 0, block_size: int = 32, n_layer: int = 1, n_embd: int = 32) -> GPT:
    """A small GPT (2 heads) for the chapter's quick runs, initialised from `seed`."""
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=n_layer, n_head=2, n_embd=n_embd))


def one_step(tokenizer, train_ids: torch.Tensor, seed: int = 0, lr: float = 1e-2,
             maximize: bool = False) -> tuple[float, float]:
    """Chapter 07's step by hand, as a function: a batch's loss before and after one AdamW step on it
    (`maximize` steps uphill, the sign error a check must catch)."""
    x, y = random_batch(train_ids, block_size=32, batch_size=16, generator=torch.Generator().manual_seed(seed))
    tiny = small_gpt(tokenizer.vocab_size, seed=seed)
    optimizer = torch.optim.AdamW(tiny.parameters(), lr=lr, maximize=maximize)
    _, loss = tiny(x, y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        return loss.item(), tiny(x, y)[1].item()


def lr_trial(tokenizer, corpus: Corpus, lr: float, steps: int = LR_STEPS, seed: int = 0) -> History:
    """A small GPT trained at a constant `lr` (no warm-up, no gradient clipping, so too large shows); its History."""
    model = small_gpt(tokenizer.vocab_size, seed)
    return train(model, tokenizer, corpus, steps=steps, batch_size=16, lr=lr, warmup_steps=0, min_lr_ratio=1.0,
                 grad_clip=0.0, eval_every=LR_EVAL_EVERY, eval_batches=4, seed=seed, progress=False)


def lr_comparison(tokenizer, corpus: Corpus, lr: float, known: dict[float, History]) -> dict[str, History]:
    """The 'about right' run beside a run at `lr` (taken from `known`, lr -> History, when it was run already):
    what the learning-rate slider shows."""
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    right = LEARNING_RATES["about right"]
    if right not in known:
        known[right] = lr_trial(tokenizer, corpus, right)
    if lr not in known:
        known[lr] = lr_trial(tokenizer, corpus, lr)
    return {f"about right (lr = {right:g})": known[right], f"your choice (lr = {lr:.2g})": known[lr]}


def lr_outcome(history: History) -> dict[str, float]:
    """What a trial did, from its validation losses: start, lowest, final, and the highest after the start."""
    val = history["val_loss"]
    return {"start": val[0], "lowest": min(val), "final": val[-1], "highest": max(val[1:], default=val[0])}


def lr_verdict(outcomes: dict[str, dict[str, float]]) -> dict[str, float]:
    """The margins the chapter checks: how much lower the right rate ends than the small one, and how far the
    large one climbed above the loss it started from (positive: it blew up) and ends above the right one."""
    small, right, large = (outcomes[k] for k in LEARNING_RATES)
    return {"small - right (final)": small["final"] - right["final"],
            "large: highest - start": large["highest"] - large["start"],
            "large - right (final)": large["final"] - right["final"]}


def overfit_run(tokenizer, corpus: Corpus, chars: int = OVERFIT_CHARS, steps: int = OVERFIT_STEPS,
                seed: int = 0, eval_every: int = 10) -> History:
    """A GPT trained on the first `chars` characters of the training plays only, validated on the unseen plays."""
    if chars < 65:
        raise ValueError(f"chars must be at least 65 (two windows of 32), got {chars}")
    tiny = Corpus(f"first {chars} characters", corpus.train_text[:chars], corpus.val_text[:20_000])
    model = small_gpt(tokenizer.vocab_size, seed, n_embd=64)
    return train(model, tokenizer, tiny, steps=steps, batch_size=16, lr=1e-2, warmup_steps=10,
                 eval_every=eval_every, eval_batches=4, seed=seed, progress=False)


def overfit_gap(history: History) -> dict[str, float]:
    """At the end: validation minus training loss, and how far validation has climbed above its lowest point."""
    train_loss, val = history["train_loss"], history["val_loss"]
    return {"gap": val[-1] - train_loss[-1], "val climb": val[-1] - min(val), "best step": history["step"][
        int(np.argmin(val))]}


@torch.no_grad()
def rnn_lm_one_pass_vs_prefixes(tokenizer, text: str, width: int = 32, seed: int = 0, bidirectional: bool = False):
    """A (random) recurrent language model: embedding, `nn.RNN`, a linear read-out. Its next-character logits at
    every position from one call over `text`, and from one call per prefix: (T, vocab_size) each, the same.

    One call, T predictions, T loss terms, as for the GPT; but inside `nn.RNN` the T states are computed one after
    another, and for the GPT all at once. `bidirectional=True` also reads the text backwards: then position t sees
    the future, and the two tables differ (what the chapter's check must catch).
    """
    torch.manual_seed(seed)
    embed = nn.Embedding(tokenizer.vocab_size, width)
    rnn = nn.RNN(width, width, batch_first=True, bidirectional=bidirectional)
    head = nn.Linear(2 * width if bidirectional else width, tokenizer.vocab_size)
    ids = torch.tensor([tokenizer.encode(text)])
    if ids.size(1) < 1:
        raise ValueError("text must not be empty")
    one_pass = head(rnn(embed(ids))[0])[0]
    prefixes = torch.stack([head(rnn(embed(ids[:, : t + 1]))[0])[0, -1] for t in range(ids.size(1))])
    return one_pass.numpy(), prefixes.numpy()


def recurrence_growth(timings: dict, short: int = 8, long: int = 128) -> dict[str, float]:
    """How many times longer each way takes at `long` tokens than at `short`: the recurrence (`nn.RNN`, C++) must
    grow in proportion to the length, one attention pass much less at short lengths."""
    lengths = list(np.asarray(timings["lengths"]).tolist())
    if short not in lengths or long not in lengths:
        raise ValueError(f"timings must include lengths {short} and {long}, got {lengths}")
    i, j = lengths.index(short), lengths.index(long)
    return {"nn.RNN": float(timings["native_seconds"][j] / timings["native_seconds"][i]),
            "attention": float(timings["parallel_seconds"][j] / timings["parallel_seconds"][i])}
