"""Chapter 07's training-based checks: one step by hand, the live 500-step run, three learning rates, overfitting."""

from __future__ import annotations

import math

import numpy as np
import torch

import gptviz
from gptviz import baselines, train_lab
from gptviz.data import known_word_fraction
from gptviz.training import encode_ids


def claims(seed: int, shared: dict) -> dict[str, tuple[float, float | None]]:
    """Chapter 07's checks, with the notebook's settings and thresholds."""
    corpus, tok = shared["corpus"], shared["tok"]
    bigram = baselines.bigram_loss(corpus.train_text, corpus.val_text, tok)
    reference = corpus.train_text[:300_000]
    before_step, after_step = train_lab.one_step(tok, encode_ids(corpus.train_text, tok), seed)
    torch.manual_seed(seed)
    student = gptviz.GPT(gptviz.GPTConfig(vocab_size=tok.vocab_size, block_size=64, n_layer=2, n_head=4, n_embd=64))
    samples = baselines.CheckpointSamples(tok, prompt="\n", length=150, temperature=0.8, seed=0, echo=False,
                                          every=100)
    history = gptviz.train(student, tok, corpus, steps=500, batch_size=32, lr=6e-3, warmup_steps=30, eval_every=25,
                           eval_batches=4, seed=seed, on_eval=samples, progress=False)
    before = known_word_fraction(samples.samples[0], reference)
    after = np.mean([known_word_fraction(gptviz.generate(student, tok, "\n", 300, 0.8, seed=s), reference)
                     for s in range(3)])
    trials = {name: train_lab.lr_outcome(train_lab.lr_trial(tok, corpus, lr, seed=seed))
              for name, lr in train_lab.LEARNING_RATES.items()}
    margins = train_lab.lr_verdict(trials)
    gap = train_lab.overfit_gap(train_lab.overfit_run(tok, corpus, seed=seed))
    return {
        "step: |loss before - ln 77| < 0.15": (-abs(before_step - math.log(tok.vocab_size)), -0.15),
        "step: loss after < before - 0.1": (before_step - after_step, 0.1),
        "|initial loss - ln 77| < 0.15": (-abs(history["val_loss"][0] - math.log(tok.vocab_size)), -0.15),
        "final validation loss < bigram - 0.15": (-history["val_loss"][-1], -(bigram - 0.15)),
        "|final validation - training loss| < 0.3": (-abs(history["val_loss"][-1] - history["train_loss"][-1]), -0.3),
        "real words after - before > 0.15": (after - before, 0.15),
        "lr: small - right (final) > 0.4": (margins["small - right (final)"], 0.4),
        "lr: large highest - start > 1": (margins["large: highest - start"], 1.0),
        "lr: large - right (final) > 1": (margins["large - right (final)"], 1.0),
        "overfit: validation - training > 2": (gap["gap"], 2.0),
        "overfit: validation climb from its lowest > 0.5": (gap["val climb"], 0.5),
    }
