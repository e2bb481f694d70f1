"""What training is measured against: a bigram model, and the step-by-step RNN that attention replaced.

- `bigram_loss`: the loss of predicting each character from the previous one only, by counting.
- `rnn_loop` / `attention_pass` and `loop_vs_parallel_timings`: an RNN must walk the sequence one
  step at a time; masked attention reads every position in one pass. Their times against length.
- `one_pass_vs_prefixes`: one forward pass over T tokens gives the same T predictions as T passes
  over the prefixes, so every position of a training sequence is a training example.
- `CheckpointSamples`: a callback for `gptviz.train` that writes a sample at every validation.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .model import evaluating
from .sampling import generate
from .sampling import single_thread as one_thread  # timings then measure work, not the core count
from .training import encode_ids

# ---------------------------------------------------------------- bigram


def bigram_counts(ids, vocab_size: int) -> np.ndarray:
    """(vocab_size, vocab_size) matrix: how often token j follows token i."""
    ids = np.asarray(ids, dtype=np.int64)
    pairs = ids[:-1] * vocab_size + ids[1:]  # one number per (previous, next) pair
    return np.bincount(pairs, minlength=vocab_size * vocab_size).reshape(vocab_size, vocab_size)


def bigram_probs(text: str, tokenizer, smoothing: float = 1.0) -> np.ndarray:
    """Next-token probabilities given only the previous token, estimated by counting pairs in `text`."""
    if not smoothing > 0:
        raise ValueError(f"smoothing must be > 0 (it keeps unseen pairs possible), got {smoothing}")
    counts = bigram_counts(encode_ids(text, tokenizer).numpy(), tokenizer.vocab_size) + smoothing
    return counts / counts.sum(axis=1, keepdims=True)


def bigram_loss(train_text: str, val_text: str, tokenizer, smoothing: float = 1.0) -> float:
    """Cross-entropy (nats per character) on `val_text` of the bigram model counted on `train_text`."""
    if len(val_text) < 2:
        raise ValueError("val_text must have at least 2 characters")
    probs = bigram_probs(train_text, tokenizer, smoothing)
    ids = encode_ids(val_text, tokenizer).numpy()
    return float(-np.log(probs[ids[:-1], ids[1:]]).mean())


def unigram_loss(train_text: str, val_text: str, tokenizer, smoothing: float = 1.0) -> float:
    """Cross-entropy (nats per character) on `val_text` of guessing every character by its frequency in
    `train_text`, ignoring all context."""
    if not smoothing > 0:
        raise ValueError(f"smoothing must be > 0 (it keeps unseen characters possible), got {smoothing}")
    if not val_text:
        raise ValueError("val_text must have at least 1 character")
    counts = np.bincount(encode_ids(train_text, tokenizer).numpy(), minlength=tokenizer.vocab_size) + smoothing
    ids = encode_ids(val_text, tokenizer).numpy()
    return float(-np.log(counts[ids] / counts.sum()).mean())


def bigram_sample(train_text: str, tokenizer, length: int = 200, seed: int = 0, start: str = "\n") -> str:
    """Text written by the bigram model: each character drawn given only the one before."""
    probs = bigram_probs(train_text, tokenizer)
    rng = np.random.default_rng(seed)
    current = tokenizer.encode(start)[-1]
    out = []
    for _ in range(length):
        current = rng.choice(tokenizer.vocab_size, p=probs[current])
        out.append(current)
    return tokenizer.decode(out)


# ---------------------------------------------------------------- step by step vs all at once


def rnn_loop(x: torch.Tensor, rnn: nn.RNN) -> torch.Tensor:
    """An Elman RNN written as the loop it is: h_t = tanh(W x_t + U h_(t-1) + b), one step after another.

    x: (B, T, C) -> all hidden states (B, T, H). Uses the weights of a one-layer batch_first `torch.nn.RNN`.
    """
    inputs = x @ rnn.weight_ih_l0.T + rnn.bias_ih_l0 + rnn.bias_hh_l0  # every x_t at once: no dependency
    h = x.new_zeros(x.size(0), rnn.hidden_size)
    states = []
    for t in range(x.size(1)):  # step t needs h from step t-1: this loop cannot be parallelised
        h = torch.tanh(inputs[:, t] + h @ rnn.weight_hh_l0.T)
        states.append(h)
    return torch.stack(states, dim=1)


class AttentionPass(nn.Module):
    """One masked (causal) self-attention layer: every position computed in the same pass."""

    def __init__(self, width: int, n_head: int = 1):
        super().__init__()
        if width % n_head:
            raise ValueError(f"n_head must divide width={width}, got {n_head}")
        self.n_head = n_head
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


def cpu_seconds(fn, repeats: int = 5, min_seconds: float = 0.002) -> float:
    """Fastest CPU time of one call of `fn`, over `repeats` measurements of enough calls to last min_seconds.

    CPU time of this thread (not the wall clock): while another program has the core, it does not tick,
    so a busy, shared machine gives the same figure as an idle one. Run `fn` inside `one_thread()`.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    fn()  # warm-up
    start = time.thread_time()
    fn()
    calls = max(1, int(min_seconds / max(time.thread_time() - start, 1e-6)))
    best = float("inf")
    for _ in range(repeats):
        start = time.thread_time()
        for _ in range(calls):
            fn()
        best = min(best, (time.thread_time() - start) / calls)
    return best


@torch.no_grad()
def loop_vs_parallel_timings(lengths=(16, 32, 64, 128, 256, 512), width: int = 64, batch: int = 4,
                             repeats: int = 3, seed: int = 0) -> dict[str, np.ndarray]:
    """CPU seconds to process sequences of each length: the RNN as a Python loop, the same RNN as torch's C++
    `nn.RNN` (the loop without the interpreter's overhead), and one masked attention pass.

    Returns arrays: lengths, loop_seconds, native_seconds, parallel_seconds, ratio (loop / parallel) and
    native_ratio (nn.RNN / parallel). All run on one thread and are timed in CPU time, in turn, so the ratios do
    not depend on how busy the machine is.
    """
    lengths = [int(n) for n in lengths]
    if not lengths or min(lengths) < 1:
        raise ValueError(f"lengths must be positive integers, got {lengths}")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    torch.manual_seed(seed)
    rnn, attention = nn.RNN(width, width, batch_first=True), AttentionPass(width)
    loop_s, native_s, parallel_s = [], [], []
    with one_thread():
        for T in lengths:
            x = torch.randn(batch, T, width)
            loop_s.append(cpu_seconds(lambda x=x: rnn_loop(x, rnn), repeats))
            native_s.append(cpu_seconds(lambda x=x: rnn(x), repeats))
            parallel_s.append(cpu_seconds(lambda x=x: attention(x), repeats))
    loop_s, native_s, parallel_s = np.array(loop_s), np.array(native_s), np.array(parallel_s)
    return {"lengths": np.array(lengths), "loop_seconds": loop_s, "native_seconds": native_s,
            "parallel_seconds": parallel_s, "ratio": loop_s / parallel_s, "native_ratio": native_s / parallel_s}


def kv_cache_timings(model, tokenizer, lengths=(32, 64, 128, 256), prompt: str = "\n",
                     repeats: int = 2) -> dict[str, np.ndarray]:
    """CPU seconds to generate n tokens (greedy) with and without the key/value cache, for each n in `lengths`.

    Returns arrays: lengths, no_cache_seconds, cache_seconds, speedup, and same_text (True where both
    produced the same characters). One thread, CPU time: see `cpu_seconds`.
    """
    lengths = [int(n) for n in lengths]
    if not lengths or min(lengths) < 1:
        raise ValueError(f"lengths must be positive integers, got {lengths}")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    no_cache, cache, same = [], [], []
    with one_thread():
        generate(model, tokenizer, prompt, 4, temperature=0)  # warm-up
        for n in lengths:
            texts = {}
            best = {False: float("inf"), True: float("inf")}
            for _ in range(repeats):
                for use_cache in (False, True):
                    start = time.thread_time()
                    texts[use_cache] = generate(model, tokenizer, prompt, n, temperature=0, use_cache=use_cache)
                    best[use_cache] = min(best[use_cache], time.thread_time() - start)
            no_cache.append(best[False])
            cache.append(best[True])
            same.append(texts[False] == texts[True])
    no_cache, cache = np.array(no_cache), np.array(cache)
    return {"lengths": np.array(lengths), "no_cache_seconds": no_cache, "cache_seconds": cache,
            "speedup": no_cache / cache, "same_text": np.array(same)}


@torch.no_grad()
def prefill_decode_seconds(model, tokenizer, prompt: str, new_tokens: int = 64, repeats: int = 3) -> dict[str, float]:
    """CPU seconds to read `prompt` in one pass (prefill) and then to write `new_tokens` one by one (decode).

    Returns prefill_seconds, decode_seconds (all the steps), prompt_tokens, new_tokens, and per token:
    prefill_per_token and decode_per_token. The fastest of `repeats` runs, on one thread (see `cpu_seconds`).
    """
    from .model import KVCache
    from .sampling import prompt_ids

    ids = prompt_ids(model, tokenizer, prompt)
    if ids.size(1) + new_tokens > model.config.block_size:
        raise ValueError(f"prompt ({ids.size(1)} tokens) and new_tokens ({new_tokens}) must fit in "
                         f"block_size={model.config.block_size}")
    if new_tokens < 1 or repeats < 1:
        raise ValueError(f"new_tokens and repeats must be >= 1, got {new_tokens} and {repeats}")
    prefill, decode = float("inf"), float("inf")
    with one_thread(), evaluating(model):
        model(ids)  # warm-up
        for _ in range(repeats):
            cache = KVCache.empty(model.config.n_layer)
            start = time.thread_time()
            logits = model(ids, cache=cache)[0][:, -1]
            middle = time.thread_time()
            for _ in range(new_tokens):
                next_id = logits.argmax(-1, keepdim=True)  # (1, 1)
                logits = model(next_id, cache=cache)[0][:, -1]
            end = time.thread_time()
            prefill, decode = min(prefill, middle - start), min(decode, end - middle)
    return {"prefill_seconds": prefill, "decode_seconds": decode, "prompt_tokens": int(ids.size(1)),
            "new_tokens": int(new_tokens), "prefill_per_token": prefill / ids.size(1),
            "decode_per_token": decode / new_tokens}


@torch.no_grad()
def one_pass_vs_prefixes(model, tokenizer, text: str) -> tuple[np.ndarray, np.ndarray]:
    """Next-token logits at every position from one pass over `text`, and from a separate pass per prefix.

    Both are (T, vocab_size); they agree because of the causal mask, so one pass yields T training examples.
    """
    ids = torch.tensor([tokenizer.encode(text)], device=model.device)
    if not 1 <= ids.size(1) <= model.config.block_size:
        raise ValueError(f"text must have 1..block_size={model.config.block_size} characters, got {ids.size(1)}")
    with evaluating(model):
        one_pass = model(ids)[0][0]
        prefixes = torch.stack([model(ids[:, : t + 1])[0][0, -1] for t in range(ids.size(1))])
    return one_pass.cpu().numpy(), prefixes.cpu().numpy()


# ---------------------------------------------------------------- samples while training


class CheckpointSamples:
    """A callback for `gptviz.train(on_eval=...)`: writes (and prints) a short sample at every validation."""

    def __init__(self, tokenizer, prompt: str = "\n", length: int = 100, temperature: float = 0.8,
                 seed: int = 0, echo: bool = True, every: int = 1):
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}")
        self.every = every  # a sample at every `every`-th step divisible by it (1: at every validation)
        self.tokenizer, self.prompt, self.length = tokenizer, prompt, length
        self.temperature, self.seed, self.echo = temperature, seed, echo
        self.samples: dict[int, str] = {}  # step -> generated text
        self.val_loss: dict[int, float] = {}

    def __call__(self, model, row: dict) -> None:
        if row["step"] % self.every:
            return
        text = generate(model, self.tokenizer, self.prompt, self.length, self.temperature, seed=self.seed)
        self.samples[row["step"]] = text
        self.val_loss[row["step"]] = row["val_loss"]
        if self.echo:
            print(f"--- step {row['step']}, validation loss {row['val_loss']:.2f} ---\n{self.prompt}{text}\n")


__all__ = [
    "AttentionPass", "CheckpointSamples", "bigram_counts", "bigram_loss", "bigram_probs", "bigram_sample",
    "cpu_seconds", "kv_cache_timings", "loop_vs_parallel_timings", "one_thread", "one_pass_vs_prefixes", "rnn_loop",
    "unigram_loss",
]
