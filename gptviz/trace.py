"""`inspect`: one forward pass that returns everything a picture of the model needs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .model import evaluating


@dataclass
class Trace:
    """What the model saw and computed for one text."""

    text: str
    tokens: list[str]  # the T tokens, as strings
    ids: np.ndarray  # (T,) token ids
    attention: np.ndarray  # (n_layer, n_head, T, T): row i = how position i spreads its attention
    hidden: np.ndarray  # (n_layer + 1, T, n_embd): residual stream after embedding and after each block
    logits: np.ndarray  # (T, vocab_size)
    probs: np.ndarray  # (T, vocab_size): next-token distribution at every position

    def stages(self) -> list[tuple[str, tuple[int, ...], str]]:
        """The pipeline from text to next-token probabilities: (stage, array shape, what it holds)."""
        L, H, T, _ = self.attention.shape
        rows = [("text", (len(self.text),), "the characters typed"),
                ("token ids", self.ids.shape, "one integer per token"),
                ("embeddings", self.hidden[0].shape, "a vector per token, plus its position")]
        rows += [(f"block {i}", self.hidden[i + 1].shape, f"after {H} attention heads and the MLP of block {i}")
                 for i in range(L)]
        rows += [("final norm", self.hidden[-1].shape, "ln_f: the last block's vectors, normalised"),
                 ("logits", self.logits.shape, "normed vectors times the embedding table: a score per token"),
                 ("probabilities", self.probs.shape, "softmax of the logits: each row sums to 1")]
        return rows


def describe_characters(chars) -> str:
    """Characters as a learner can read them, with their code points: 'é' (U+00E9), '\\t' (U+0009)."""
    chars = sorted(set(chars))
    named = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in chars[:6])
    return named + (f" and {len(chars) - 6} more" if len(chars) > 6 else "")


def check_characters(tokenizer, text: str) -> str:
    """`text` itself, or a one-line ValueError naming each character the model does not know."""
    unknown = set(text) - set(tokenizer.chars)
    if unknown:
        raise ValueError(f"the model does not know {describe_characters(unknown)}")
    return text


@torch.no_grad()
def inspect(model, tokenizer, text: str) -> Trace:
    """Run `text` through the model on the explicit attention path and record every stage."""
    if not text:
        raise ValueError("text must contain at least one character")
    block_size = model.config.block_size
    if len(text) > block_size:
        raise ValueError(f"text is {len(text)} tokens long; inspect takes at most block_size={block_size}")
    ids = tokenizer.encode(check_characters(tokenizer, text))
    idx = torch.tensor([ids], dtype=torch.long, device=model.device)
    with evaluating(model):
        logits, attention, hidden = model.forward_traced(idx)
    probs = torch.softmax(logits[0].double(), dim=-1)
    return Trace(
        text=text,
        tokens=[tokenizer.chars[i] for i in ids],
        ids=np.asarray(ids),
        attention=attention[0].double().cpu().numpy(),
        hidden=hidden[0].cpu().numpy(),
        logits=logits[0].cpu().numpy(),
        probs=probs.cpu().numpy(),
    )
