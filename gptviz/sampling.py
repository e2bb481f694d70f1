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
