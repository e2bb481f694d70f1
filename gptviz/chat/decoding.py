"""Answering: greedy decoding of a batch of prompts at once, through the model's own key/value cache.

Prompts of different lengths are padded on the left so that their last tokens line up; the model's
`key_valid` mask hides the padding and every row counts its positions from its own first token, so
each reply is exactly what `gptviz.generate(..., temperature=0)` gives for that prompt alone.
"""

from __future__ import annotations

import numpy as np
import torch

from ..model import KVCache, evaluating
from .template import END, MAX_ANSWER, SYSTEM, format_prompt, parse_reply


def prompt_ids(tokenizer, text: str) -> list[int]:
    """Token ids of a prompt: chat tokens written out in it become special tokens if the tokenizer has them."""
    return tokenizer.encode(text, allowed_special=True) if tokenizer.specials else tokenizer.encode(text)


@torch.no_grad()
def first_token_probs(model, tokenizer, prompt: str) -> np.ndarray:
    """Probability (vocab_size,) of every token as the first token of the reply to `prompt`."""
    ids = torch.tensor([prompt_ids(tokenizer, prompt)[-model.config.block_size :]], device=model.device)
    with evaluating(model):
        logits, _ = model(ids)
    return torch.softmax(logits[0, -1].double(), -1).cpu().numpy()


@torch.no_grad()
def greedy_replies(model, tokenizer, prompts: list[str], max_new_tokens: int = MAX_ANSWER + 1,
                   stop: str | None = END) -> list[str]:
    """The most likely continuation of every prompt, all at once (left padding, a key/value cache).

    A continuation ends with the first `stop` (default <|end|>, one token); None: exactly max_new_tokens tokens."""
    if not prompts:
        raise ValueError("prompts must not be empty")
    block = model.config.block_size
    if not isinstance(max_new_tokens, int) or not 1 <= max_new_tokens < block:
        raise ValueError(f"max_new_tokens must be an integer in 1..{block - 1}, got {max_new_tokens!r}")
    device = model.device
    rows = [prompt_ids(tokenizer, p or "\n")[-(block - max_new_tokens) :] for p in prompts]
    width = max(len(r) for r in rows)
    pad = torch.tensor([width - len(r) for r in rows], device=device)  # (B,) padding tokens before each prompt
    ids = torch.tensor([[0] * (width - len(r)) + r for r in rows], device=device)  # (B, width)
    key_valid = torch.arange(width, device=device)[None] >= pad[:, None]  # (B, width): False at the padding
    positions = (torch.arange(width, device=device)[None] - pad[:, None]).clamp(min=0)  # each row from 0
    cache = KVCache.empty(model.config.n_layer)
    new = []
    with evaluating(model):
        logits, _ = model(ids, cache=cache, key_valid=key_valid, positions=positions)
        for _ in range(max_new_tokens):
            next_ids = logits[:, -1].argmax(-1)  # (B,)
            new.append(next_ids)
            texts = [tokenizer.decode(col) for col in torch.stack(new, 1).tolist()]
            if stop is not None and all(stop in t for t in texts):
                break
            positions = positions[:, -1:] + 1
            logits, _ = model(next_ids[:, None], cache=cache, positions=positions)  # the cache keeps the padding
    texts = [tokenizer.decode(col) for col in torch.stack(new, 1).tolist()]
    return texts if stop is None else [t[: t.index(stop) + len(stop)] if stop in t else t for t in texts]


def reply(model, tokenizer, question: str, history: tuple[tuple[str, str], ...] = (), system: str | None = SYSTEM
          ) -> str:
    """The model's reply (its first line) to `question` after the earlier turns `history`."""
    prompt = format_prompt(question, history, system)
    return parse_reply(greedy_replies(model, tokenizer, [prompt])[0])[0]
