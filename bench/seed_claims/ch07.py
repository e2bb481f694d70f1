"""Chapter 07's live training: 500 steps of a 2-block GPT."""

from __future__ import annotations

import math

import numpy as np
import torch

import gptviz
from gptviz import baselines
from gptviz.data import known_word_fraction


def claims(seed: int, shared: dict) -> dict[str, tuple[float, float | None]]:
    """Chapter 07's live training: 500 steps of a 2-block GPT."""
    corpus, tok = shared["corpus"], shared["tok"]
    bigram = baselines.bigram_loss(corpus.train_text, corpus.val_text, tok)
    reference = corpus.train_text[:300_000]
    torch.manual_seed(seed)
    student = gptviz.GPT(gptviz.GPTConfig(vocab_size=tok.vocab_size, block_size=64, n_layer=2, n_head=4, n_embd=64))
    samples = baselines.CheckpointSamples(tok, prompt="\n", length=150, temperature=0.8, seed=0, echo=False)
    history = gptviz.train(student, tok, corpus, steps=500, batch_size=32, lr=6e-3, warmup_steps=30, eval_every=100,
                           eval_batches=4, seed=seed, on_eval=samples, progress=False)
    before = known_word_fraction(samples.samples[0], reference)
    after = np.mean([known_word_fraction(gptviz.generate(student, tok, "\n", 300, 0.8, seed=s), reference)
                     for s in range(3)])
    return {
        "|initial loss - ln 77| < 0.15": (-abs(history["val_loss"][0] - math.log(tok.vocab_size)), -0.15),
        "final validation loss < bigram - 0.15": (-history["val_loss"][-1], -(bigram - 0.15)),
        "real words after - before > 0.15": (after - before, 0.15),
    }
