"""From logits to the next token: softmax, temperature, top-k, top-p, and the generation loop."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from .checks import check_float, check_int, check_seed
from .model import KVCache, evaluating

MAX_NEW_TOKENS = 100_000  # minutes of generation on a CPU; a larger request is almost surely a typo


@contextmanager
def single_thread():
    """Torch on one thread inside the block: a step's matrices are tiny, and on a busy machine a second thread
    only adds waiting (measured: a batch of 8 samples took minutes with 2 threads under load, seconds with 1)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def check_sampling_args(temperature=1.0, top_k=None, top_p=None, max_new_tokens=0, seed=None):
    """The arguments as Python numbers (numpy ones welcome), or a ValueError naming the first one out of range."""
    return (check_float("temperature", temperature, low=0),  # 0 means greedy
            check_int("top_k", top_k, low=1, none_ok=True),
            check_float("top_p", top_p, 0, 1, low_open=True, none_ok=True),
            check_int("max_new_tokens", max_new_tokens, 0, MAX_NEW_TOKENS),
            check_seed("seed", seed, none_ok=True))


def check_decoding_options(tokenizer, repetition_penalty=None, stop=None):
    """The repetition penalty (None or 1: off) and the stop sequence (None: off), checked; a ValueError otherwise."""
    repetition_penalty = check_float("repetition_penalty", repetition_penalty, low=1, none_ok=True)
    if stop is not None:
        if not isinstance(stop, str) or stop == "":
            raise ValueError(f"stop must be a non-empty string or None, got {stop!r}")
        unknown = sorted(set(stop) - set(tokenizer.chars))
        if unknown:  # the model could never write it, so generation would never stop there
            raise ValueError(f"stop must be made of characters the model knows; {stop!r} has {unknown[0]!r}")
    return (None if repetition_penalty == 1 else repetition_penalty), stop


def penalize_repeats(logits: torch.Tensor, seen_ids, penalty: float | None) -> torch.Tensor:
    """Logits with every token in `seen_ids` made less likely (Keskar et al. 2019, CTRL; None or 1: unchanged).

    A positive logit is divided by `penalty`, a negative one multiplied by it, so both move down (CTRL divided
    every logit, which makes a negative one rise; Hugging Face's version, used here, fixes that).
    """
    if penalty is None or penalty == 1:
        return logits
    seen = torch.as_tensor(sorted(set(int(i) for i in seen_ids)), dtype=torch.long, device=logits.device)
    if seen.numel() == 0:
        return logits
    picked = logits[..., seen]
    penalized = logits.clone()
    penalized[..., seen] = torch.where(picked > 0, picked / penalty, picked * penalty)
    return penalized


def filter_probs(logits: torch.Tensor, temperature=1.0, top_k=None, top_p=None) -> torch.Tensor:
    """The distribution sampling draws from: softmax(logits / T), cut to the top-k and the top-p nucleus."""
    temperature, top_k, top_p, _, _ = check_sampling_args(temperature, top_k, top_p)
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


START = "\n"  # what an empty prompt starts from: in the training text every line, speech and play begins after one


def prompt_ids(model, tokenizer, text: str) -> torch.Tensor:
    """The prompt as (1, T) ids on the model's device; a long prompt keeps its last block_size tokens.

    An empty prompt means "start from nothing": the model reads a single newline, the start of a line in its
    training text. A vocabulary without a newline has no such start, so an empty prompt is then an error.
    """
    if not isinstance(text, str):
        raise ValueError(f"prompt must be a string, got {type(text).__name__}")
    if text == "":
        try:
            ids = tokenizer.encode(START)
        except ValueError:
            raise ValueError("an empty prompt starts after a newline, but this model's vocabulary has no newline "
                             "(its training text had none): give a prompt of at least one character") from None
    else:
        ids = tokenizer.encode(text)[-model.config.block_size :]
    return torch.tensor([ids], dtype=torch.long, device=model.device)


@torch.no_grad()
def next_token_logits(model, idx: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
    """Logits (vocab_size,) for the token that follows the ids `idx` (1, T).

    With a `cache` that already holds the earlier tokens, `idx` is only the new ones.
    """
    if cache is not None:
        return model(idx, cache=cache)[0][0, -1]
    logits, _ = model(idx[:, -model.config.block_size :])
    return logits[0, -1]


def next_token_probs(model, tokenizer, text: str) -> np.ndarray:
    """Probability of every vocabulary token coming next after `text`, shape (vocab_size,)."""
    with evaluating(model):
        logits = next_token_logits(model, prompt_ids(model, tokenizer, text))
    probs = torch.softmax(logits.double(), dim=-1)
    return probs.cpu().numpy()


@dataclass
class Step:
    """One generated token and how the model felt about it."""

    token: str
    id: int
    prob: float  # probability the model gave it (plain softmax of the logits)
    sampled_prob: float  # its probability in the distribution it was drawn from (after temperature, top-k, top-p)
    rank: int  # 1 = the model's favourite, 2 = runner-up, ...
    entropy: float  # entropy of the model's distribution at this step, in bits


def entropy_bits(probs) -> np.ndarray:
    """Entropy in bits of a distribution (or of each row): 0 = certain, log2(n) = n equal choices."""
    p = np.asarray(probs, dtype=float)
    return -(p * np.log2(np.where(p > 0, p, 1.0))).sum(axis=-1)


def stream_steps(
    model, tokenizer, prompt: str = "", max_new_tokens: int = 200, temperature: float = 1.0,
    top_k: int | None = None, top_p: float | None = None, seed: int | None = None, use_cache: bool = True,
    repetition_penalty: float | None = None, stop: str | None = None,
) -> Iterator[Step]:
    """Generate like `generate`, yielding each Step as soon as it is drawn (the CLI prints them as they come).

    The arguments and the prompt are checked at once, before the first token is asked for.
    """
    temperature, top_k, top_p, max_new_tokens, seed = check_sampling_args(
        temperature, top_k, top_p, max_new_tokens, seed)
    repetition_penalty, stop = check_decoding_options(tokenizer, repetition_penalty, stop)
    idx = prompt_ids(model, tokenizer, prompt)
    return _steps(model, tokenizer, idx, max_new_tokens, temperature, top_k, top_p, seed, use_cache,
                  repetition_penalty, stop)


@torch.no_grad()
def _steps(model, tokenizer, idx, max_new_tokens, temperature, top_k, top_p, seed, use_cache,
           repetition_penalty=None, stop=None) -> Iterator[Step]:
    """The generation loop behind `stream_steps` (arguments already checked)."""
    block_size = model.config.block_size
    rng = None
    if seed is not None:
        rng = torch.Generator(device="cpu").manual_seed(seed)
    with evaluating(model), single_thread():  # both restored also when the caller stops early (Ctrl-C, a break)
        cache = KVCache.empty(model.config.n_layer) if use_cache else None
        logits = next_token_logits(model, idx, cache) if max_new_tokens else None
        seen = set(idx[0].tolist())  # the tokens a repetition penalty pushes down: the prompt and what follows
        written = ""
        for step in range(max_new_tokens):
            probs = filter_probs(penalize_repeats(logits, seen, repetition_penalty), temperature, top_k, top_p).cpu()
            next_id = torch.multinomial(probs.float(), 1, generator=rng).view(1, 1).to(idx.device)
            i = int(next_id)
            model_probs = torch.softmax(logits.double(), dim=-1).cpu()
            yield Step(tokenizer.decode([i]), i, float(model_probs[i]), float(probs[i]),
                       int((model_probs > model_probs[i]).sum()) + 1, float(entropy_bits(model_probs.numpy())))
            seen.add(i)
            written += tokenizer.decode([i])
            if step + 1 == max_new_tokens or (stop is not None and written.endswith(stop)):
                break
            if cache is not None and len(cache) < block_size:
                logits = next_token_logits(model, next_id, cache)  # only the new token goes through the model
                idx = torch.cat([idx, next_id], dim=1)
            else:  # the window slides: positions shift, so the cache no longer applies
                cache = None
                idx = torch.cat([idx, next_id], dim=1)[:, -block_size:]
                logits = next_token_logits(model, idx)


def generation_steps(
    model, tokenizer, prompt: str = "", max_new_tokens: int = 200, temperature: float = 1.0,
    top_k: int | None = None, top_p: float | None = None, seed: int | None = None, use_cache: bool = True,
    repetition_penalty: float | None = None, stop: str | None = None,
) -> list[Step]:
    """Generate like `generate` (same arguments, same tokens) and return every step with its probabilities.

    `use_cache` keeps every layer's keys and values (a KV cache) so each step processes one token
    instead of the whole context; the text is the same either way. Once the text outgrows
    block_size, the window slides, every position shifts, and each step recomputes the window.
    At most MAX_NEW_TOKENS tokens; an empty prompt starts after a newline (see `prompt_ids`).
    """
    return list(stream_steps(model, tokenizer, prompt, max_new_tokens, temperature, top_k, top_p, seed, use_cache,
                             repetition_penalty, stop))


def generate(
    model, tokenizer, prompt: str = "", max_new_tokens: int = 200, temperature: float = 1.0,
    top_k: int | None = None, top_p: float | None = None, seed: int | None = None, use_cache: bool = True,
    repetition_penalty: float | None = None, stop: str | None = None,
) -> str:
    """Continue `prompt` one token at a time and return only the new text.

    temperature=0 is greedy (always the most likely token); `seed` makes sampling repeatable without
    touching the global random state; `use_cache` (a KV cache) makes it faster, not different.
    `repetition_penalty` > 1 pushes down every token already in the text (see `penalize_repeats`); with
    `stop`, generation ends as soon as the new text ends with it (the stop sequence is kept at its end).
    Both are off by default.
    """
    steps = generation_steps(model, tokenizer, prompt, max_new_tokens, temperature, top_k, top_p, seed, use_cache,
                             repetition_penalty, stop)
    return "".join(step.token for step in steps)


def repetition_rate(text: str, n: int = 10) -> float:
    """Fraction of the n-character pieces of `text` that already appeared earlier in it (0 = no repeats)."""
    n = check_int("n", n, low=1)
    pieces = [text[i : i + n] for i in range(len(text) - n + 1)]
    if not pieces:
        return 0.0
    seen, repeats = set(), 0
    for piece in pieces:
        repeats += piece in seen
        seen.add(piece)
    return repeats / len(pieces)


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
