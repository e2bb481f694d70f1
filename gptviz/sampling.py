"""From logits to the next token: softmax, temperature, top-k, top-p, and the generation loop."""

from __future__ import annotations

import numpy as np
import torch


def check_sampling_args(temperature=1.0, top_k=None, top_p=None, max_new_tokens=0):
    """Raise a ValueError naming the first argument outside its allowed range."""
    if not isinstance(temperature, (int, float)) or not temperature >= 0:
        raise ValueError(f"temperature must be >= 0 (0 means greedy), got {temperature!r}")
    if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be an integer >= 1 or None, got {top_k!r}")
    if top_p is not None and (not isinstance(top_p, (int, float)) or not 0 < top_p <= 1):
        raise ValueError(f"top_p must be in (0, 1] or None, got {top_p!r}")
    if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}")


def filter_probs(logits: torch.Tensor, temperature=1.0, top_k=None, top_p=None) -> torch.Tensor:
    """The distribution sampling draws from: softmax(logits / T), cut to the top-k and the top-p nucleus."""
    check_sampling_args(temperature, top_k, top_p)
    logits = logits.double()
    if temperature == 0:  # greedy: all the mass on the most likely token
        probs = torch.zeros_like(logits)
        return probs.scatter_(-1, logits.argmax(-1, keepdim=True), 1.0)
    logits = logits / temperature
    if top_k is not None and top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if top_p is not None and top_p < 1:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        mass_before = sorted_probs.cumsum(-1) - sorted_probs  # mass of the tokens ranked above each one
        sorted_probs[mass_before >= top_p] = 0.0  # keep the smallest set whose mass reaches top_p
        probs = torch.zeros_like(probs).scatter_(-1, order, sorted_probs)
        probs = probs / probs.sum(-1, keepdim=True)
    return probs


def prompt_ids(model, tokenizer, text: str) -> torch.Tensor:
    """The prompt as (1, T) ids on the model's device: an empty prompt is a newline, a long one keeps its end."""
    ids = tokenizer.encode(text or "\n")[-model.config.block_size :]
    return torch.tensor([ids], dtype=torch.long, device=model.device)


@torch.no_grad()
def next_token_logits(model, idx: torch.Tensor) -> torch.Tensor:
    """Logits (vocab_size,) for the token that follows the ids `idx` (1, T)."""
    logits, _ = model(idx[:, -model.config.block_size :])
    return logits[0, -1]


def next_token_probs(model, tokenizer, text: str) -> np.ndarray:
    """Probability of every vocabulary token coming next after `text`, shape (vocab_size,)."""
    was_training = model.training
    model.eval()
    try:
        logits = next_token_logits(model, prompt_ids(model, tokenizer, text))
    finally:
        model.train(was_training)
    probs = torch.softmax(logits.double(), dim=-1)
    return probs.cpu().numpy()


@torch.no_grad()
def generate(
    model, tokenizer, prompt: str = "", max_new_tokens: int = 200, temperature: float = 1.0,
    top_k: int | None = None, top_p: float | None = None, seed: int | None = None,
) -> str:
    """Continue `prompt` one token at a time and return only the new text."""
    check_sampling_args(temperature, top_k, top_p, max_new_tokens)
    idx = prompt_ids(model, tokenizer, prompt)
    rng = None
    if seed is not None:
        rng = torch.Generator(device="cpu").manual_seed(seed)
    was_training = model.training
    model.eval()
    new_ids = []
    try:
        for _ in range(max_new_tokens):
            probs = filter_probs(next_token_logits(model, idx), temperature, top_k, top_p).cpu()
            next_id = torch.multinomial(probs.float(), 1, generator=rng)
            new_ids.append(int(next_id))
            idx = torch.cat([idx, next_id.view(1, 1).to(idx.device)], dim=1)[:, -model.config.block_size :]
    finally:
        model.train(was_training)
    return tokenizer.decode(new_ids)
