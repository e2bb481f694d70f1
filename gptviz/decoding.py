"""Decoding beyond one sample at a time: top-p's adaptivity, beam search, many samples at once, and what a
key/value cache costs in memory. Each measurement is a small function the chapter asserts on (tests show each
check fails on a model without the property)."""

from __future__ import annotations

import numpy as np
import torch

from .checks import check_int
from .model import KVCache, evaluating
from .sampling import (
    MAX_NEW_TOKENS,
    Step,
    check_decoding_options,
    check_sampling_args,
    entropy_bits,
    filter_probs,
    generate,
    next_token_probs,
    prompt_ids,
    single_thread,
)

# ---------------------------------------------------------------- top-p on a confident and a hesitant context

def nucleus_size(probs, top_p: float) -> int:
    """How many tokens top-p keeps: the smallest set of favourites whose probabilities reach `top_p`."""
    kept = filter_probs(torch.log(torch.as_tensor(probs, dtype=torch.float64)), 1.0, top_p=top_p)
    return int((kept > 0).sum())


def confident_vs_hesitant(model, tokenizer, confident: str, hesitant: str, top_p: float = 0.9) -> dict:
    """Entropy (bits) and top-p nucleus size after two prompts: {prompt: {"entropy": .., "nucleus": ..}}.

    A trained model is sure of some next characters and unsure of others, so top-p keeps few in one case
    and many in the other; a model that has learnt nothing is equally unsure everywhere.
    """
    found = {}
    for text in (confident, hesitant):
        probs = next_token_probs(model, tokenizer, text)
        found[text] = {"entropy": float(entropy_bits(probs)), "nucleus": nucleus_size(probs, top_p)}
    return found


def surprise_entropy(steps: list[Step]) -> tuple[float, float]:
    """Mean entropy (bits) at the steps that took the favourite, and at the steps that took a less likely token.

    Sampling from the model's own distribution picks outsiders mostly where that distribution is spread out.
    """
    favourite = [s.entropy for s in steps if s.rank == 1]
    outsider = [s.entropy for s in steps if s.rank > 1]
    if not favourite or not outsider:
        raise ValueError(f"steps must hold both kinds of pick; got {len(favourite)} favourites, "
                         f"{len(outsider)} others")
    return float(np.mean(favourite)), float(np.mean(outsider))


# ---------------------------------------------------------------- beam search

@torch.no_grad()
def sequence_logprob(model, tokenizer, prompt: str, continuation: str) -> float:
    """Natural-log probability the model gives `continuation` after `prompt` (one pass; both within block_size)."""
    start = prompt_ids(model, tokenizer, prompt)
    new = tokenizer.encode(continuation)
    if not new:
        return 0.0
    if start.size(1) + len(new) > model.config.block_size:
        raise ValueError(f"prompt and continuation must fit in block_size={model.config.block_size} tokens, "
                         f"got {start.size(1)} + {len(new)}")
    ids = torch.cat([start, torch.tensor([new], device=start.device)], dim=1)
    with evaluating(model):
        logits, _ = model(ids)
    logp = torch.log_softmax(logits[0, start.size(1) - 1 : -1].double(), dim=-1)  # row t guesses token t + 1
    return float(logp[torch.arange(len(new)), torch.tensor(new, device=logp.device)].sum())


@torch.no_grad()
def beam_search(model, tokenizer, prompt: str = "", max_new_tokens: int = 100,
                beam_width: int = 4) -> tuple[str, float]:
    """The continuation of exactly max_new_tokens tokens with the highest log-probability a beam finds, and it.

    Every step extends each of the `beam_width` best partial texts by every token and keeps the best
    `beam_width` of them, scored by the sum of log-probabilities. Width 1 is greedy decoding.
    The prompt and the new tokens must fit in block_size (no sliding window here).
    """
    max_new_tokens = check_int("max_new_tokens", max_new_tokens, 1, MAX_NEW_TOKENS)
    beam_width = check_int("beam_width", beam_width, 1, tokenizer.vocab_size)
    idx = prompt_ids(model, tokenizer, prompt)
    if idx.size(1) + max_new_tokens > model.config.block_size:
        raise ValueError(f"max_new_tokens must be at most {model.config.block_size - idx.size(1)} here (the prompt "
                         f"has {idx.size(1)} tokens, block_size is {model.config.block_size}), got {max_new_tokens}")
    with evaluating(model), single_thread():
        cache = KVCache.empty(model.config.n_layer)
        logits = model(idx, cache=cache)[0][:, -1]  # (1, V): the prompt, read once
        scores = torch.zeros(1, dtype=torch.float64, device=idx.device)  # (B,) log-probability of each beam
        texts = torch.empty(1, 0, dtype=torch.long, device=idx.device)  # (B, t) the tokens each beam added
        for step in range(max_new_tokens):
            total = scores[:, None] + torch.log_softmax(logits.double(), dim=-1)  # (B, V) every extension
            best = total.flatten().topk(min(beam_width, total.numel()))
            beam, token = best.indices // total.size(1), best.indices % total.size(1)
            scores, texts = best.values, torch.cat([texts[beam], token[:, None]], dim=1)
            if step + 1 == max_new_tokens:
                break
            for layer in cache.layers:  # each surviving beam carries on from its parent's keys and values
                layer.keys, layer.values = layer.keys[beam], layer.values[beam]
            logits = model(token[:, None], cache=cache)[0][:, -1]
    return tokenizer.decode(texts[0].tolist()), float(scores[0])


def beam_vs_greedy(model, tokenizer, prompt: str, beam_text: str) -> tuple[float, float]:
    """Log-probabilities of `beam_text` and of greedy's text of the same length after `prompt`, both rescored."""
    greedy = generate(model, tokenizer, prompt, len(tokenizer.encode(beam_text)), temperature=0)
    return sequence_logprob(model, tokenizer, prompt, beam_text), sequence_logprob(model, tokenizer, prompt, greedy)


# ---------------------------------------------------------------- the key/value cache's size

def kv_cache_bytes(n_layer: int, n_ctx: int, d_model: int, bytes_per_value: int = 4) -> int:
    """Bytes of a full key/value cache for one sequence: a key and a value of d_model numbers per layer and position."""
    for name, value in (("n_layer", n_layer), ("n_ctx", n_ctx), ("d_model", d_model),
                        ("bytes_per_value", bytes_per_value)):
        check_int(name, value, low=1)
    return 2 * n_layer * n_ctx * d_model * bytes_per_value


@torch.no_grad()
def filled_cache(model, tokenizer, text: str) -> KVCache:
    """The key/value cache after the model has read `text` (its last block_size tokens)."""
    cache = KVCache.empty(model.config.n_layer)
    with evaluating(model):
        model(prompt_ids(model, tokenizer, text), cache=cache)
    return cache


def cache_tensor_bytes(cache: KVCache) -> int:
    """Bytes the cache's key and value tensors really occupy."""
    return sum(t.numel() * t.element_size() for layer in cache.layers for t in (layer.keys, layer.values)
               if t is not None)


# ---------------------------------------------------------------- many samples at once

@torch.no_grad()
def sample_texts(model, tokenizer, prompt: str = "", n_samples: int = 8, max_new_tokens: int = 200,
                 temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None, seed: int = 0,
                 repetition_penalty: float | None = None) -> list[str]:
    """`n_samples` independent continuations of `prompt`, drawn side by side in one batch (one run per step).

    The same distribution as `generate` with the same settings, but not the same texts for a given seed.
    The prompt and the new tokens must fit in block_size.
    """
    temperature, top_k, top_p, max_new_tokens, seed = check_sampling_args(
        temperature, top_k, top_p, max_new_tokens, seed)
    n_samples = check_int("n_samples", n_samples, 1, 1024)
    repetition_penalty, _ = check_decoding_options(tokenizer, repetition_penalty)
    idx = prompt_ids(model, tokenizer, prompt).expand(n_samples, -1)  # (B, P)
    if idx.size(1) + max_new_tokens > model.config.block_size:
        raise ValueError(f"max_new_tokens must be at most {model.config.block_size - idx.size(1)} here (the prompt "
                         f"has {idx.size(1)} tokens, block_size is {model.config.block_size}), got {max_new_tokens}")
    rng = torch.Generator(device="cpu").manual_seed(0 if seed is None else seed)
    seen = torch.zeros(n_samples, tokenizer.vocab_size, dtype=torch.bool)  # (B, V) tokens already in each text
    seen[:, idx[0].tolist()] = True
    new = []
    with evaluating(model), single_thread():
        cache = KVCache.empty(model.config.n_layer)
        logits = model(idx, cache=cache)[0][:, -1].double().cpu()  # (B, V)
        for step in range(max_new_tokens):
            if repetition_penalty is not None:
                logits = torch.where(seen, torch.where(logits > 0, logits / repetition_penalty,
                                                       logits * repetition_penalty), logits)
            probs = filter_probs(logits, temperature, top_k, top_p)
            next_ids = torch.multinomial(probs.float(), 1, generator=rng)  # (B, 1)
            new.append(next_ids)
            seen.scatter_(1, next_ids, True)
            if step + 1 < max_new_tokens:
                logits = model(next_ids.to(idx.device), cache=cache)[0][:, -1].double().cpu()
    if not new:
        return [""] * n_samples
    return [tokenizer.decode(row) for row in torch.cat(new, dim=1).tolist()]


def top_p_adapts(found: dict, ratio: float = 5.0, entropy_gap: float = 2.0) -> bool:
    """True when `confident_vs_hesitant`'s second prompt is far less certain than its first: `entropy_gap` more
    bits, and a nucleus at least `ratio` times as large."""
    sure, unsure = found.values()
    return unsure["entropy"] - sure["entropy"] >= entropy_gap and unsure["nucleus"] >= ratio * sure["nucleus"]


def outsiders_where_unsure(steps: list[Step], margin: float = 1.0) -> bool:
    """True when the less likely picks came at steps whose entropy was on average `margin` bits above the others."""
    favourite, outsider = surprise_entropy(steps)
    return outsider - favourite >= margin
