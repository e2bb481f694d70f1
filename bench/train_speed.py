"""How fast does gptviz train on this machine, compared with what the machine can do?

Trains nanoGPT's documented CPU configuration (4 layers, 4 heads, 128 wide, block 64, batch 12;
see nanoGPT's README, "I only have a macbook") on the Shakespeare plays with `gptviz.train`, and
prints tokens per second and the fraction of this machine's fp32 matrix-multiply peak that the
training reaches ("model FLOPs utilisation", counted as nanoGPT's `estimate_mfu` counts it).

The peak is measured in the same run, between stretches of training, by timing a large fp32
matrix product on the same threads. On a machine shared with other programs, wall-clock speed
drops whenever they take the cores; with `--threads 1` the script also reports the same figures
in CPU time of the training thread, which other programs do not affect.

    PYTHONPATH=. python bench/train_speed.py                # 300 steps, all cores torch uses
    PYTHONPATH=. python bench/train_speed.py --threads 1 --reference

`--reference` also times the same model with a loop written like nanoGPT's CPU path (AdamW
without the fused kernel, the default gradient clipping), in the same run, for comparison.
A benchmark, not a test: it prints numbers and asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import gptviz
from gptviz.data import random_batch
from gptviz.model import GPT, GPTConfig
from gptviz.training import encode_ids, train

NANOGPT_CPU = dict(n_layer=4, n_head=4, n_embd=128, block_size=64, dropout=0.0)
BATCH_SIZE = 12


def matmul_peak(n: int = 1024, repeats: int = 8, clock=time.perf_counter) -> float:
    """Best fp32 FLOP/s of an n x n x n matrix product on the current threads, timed with `clock`."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up: the library picks its kernel and allocates
    best = float("inf")
    for _ in range(repeats):
        start = clock()
        a @ b
        best = min(best, clock() - start)
    return 2 * n**3 / best


def flops_per_token(model: GPT) -> float:
    """Training FLOPs per token as nanoGPT counts them: 6 per weight, plus attention's T-long dot products."""
    cfg = model.config
    weights = model.num_params() - (model.wpe.weight.numel() if cfg.pos_encoding == "learned" else 0)
    return 6 * weights + 12 * cfg.n_layer * cfg.n_head * (cfg.n_embd // cfg.n_head) * cfg.block_size


def reference_loop(model: GPT, ids: torch.Tensor, steps: int, seed: int = 0) -> tuple[float, float]:
    """Tokens/s (wall clock, CPU time) of a plain loop like nanoGPT's on a CPU: per-tensor AdamW, default clipping."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1, foreach=False)
    gen = torch.Generator().manual_seed(seed)
    block = model.config.block_size
    model.train()
    wall = cpu = 0.0
    for step in range(steps):
        start, start_cpu = time.perf_counter(), time.thread_time()
        x, y = random_batch(ids, block, BATCH_SIZE, gen)
        _, loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        loss.item()
        if step >= 10:  # skip the warm-up steps, as the gptviz figure does
            wall += time.perf_counter() - start
            cpu += time.thread_time() - start_cpu
    tokens = (steps - 10) * BATCH_SIZE * block
    return tokens / wall, tokens / cpu


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--reference", action="store_true", help="also time a nanoGPT-style loop")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    corpus = gptviz.load_corpus()
    tokenizer = gptviz.CharTokenizer.from_text(corpus.text)
    torch.manual_seed(1337)
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, **NANOGPT_CPU))
    fpt = flops_per_token(model)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; model {model.num_params() / 1e6:.2f}M "
          f"parameters, {fpt / 1e6:.2f} MFLOP per training token")

    one_thread = torch.get_num_threads() == 1
    peaks, cpu_peaks = [matmul_peak()], [matmul_peak(clock=time.thread_time)]
    marks = []  # CPU time of the training thread at each validation, minus the time spent measuring peaks
    interval = max(1, args.steps // 6)

    def measure_peak(_model, _row):  # between stretches of training, in the same conditions
        marks.append(time.thread_time())
        peaks.append(matmul_peak())
        cpu_peaks.append(matmul_peak(clock=time.thread_time))
        marks.append(time.thread_time())

    history = train(model, tokenizer, corpus, steps=args.steps, batch_size=BATCH_SIZE, warmup_steps=20,
                    eval_every=interval, eval_batches=2, progress=False, on_eval=measure_peak)
    rows = history.rows[2:]  # skip the step-0 evaluation and the first stretch (warm-up)
    tokens_per_step = BATCH_SIZE * NANOGPT_CPU["block_size"]
    train_tokens = (history.rows[-1]["step"] - history.rows[1]["step"]) * tokens_per_step
    train_seconds = sum(r["seconds"] - p["seconds"] for p, r in zip(history.rows[1:], rows, strict=False))
    tokens_per_s = train_tokens / train_seconds
    peak = statistics.median(peaks)
    print(f"fp32 matmul peak: median {peak / 1e9:.0f} GFLOP/s, best {max(peaks) / 1e9:.0f} "
          f"(over {len(peaks)} measurements)")
    print(f"gptviz.train: {tokens_per_s:,.0f} tokens/s = {tokens_per_s * fpt / 1e9:.1f} GFLOP/s = "
          f"{tokens_per_s * fpt / peak:.2f} of the median peak; val loss {history['val_loss'][-1]:.3f} "
          f"after {args.steps} steps")
    if one_thread:  # stretches between the 2nd and last validation; they include two small validations each
        # marks = [before, after] the peak measurement at each validation: add up the gaps between them
        cpu_seconds = sum(marks[i] - marks[i - 1] for i in range(4, len(marks), 2))
        cpu_tokens_per_s = train_tokens / cpu_seconds
        cpu_peak = statistics.median(cpu_peaks)
        print(f"  in CPU time: {cpu_tokens_per_s:,.0f} tokens/s = {cpu_tokens_per_s * fpt / cpu_peak:.2f} of the "
              f"peak in CPU time ({cpu_peak / 1e9:.0f} GFLOP/s)")
    if args.reference:
        torch.manual_seed(1337)
        reference = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, **NANOGPT_CPU))
        ids = encode_ids(corpus.train_text, tokenizer)
        ref_wall, ref_cpu = reference_loop(reference, ids, args.steps)
        ref_peak = statistics.median([matmul_peak() for _ in range(3)])
        print(f"nanoGPT-style loop: {ref_wall:,.0f} tokens/s = {ref_wall * fpt / ref_peak:.2f} "
              f"of the peak measured after it ({ref_peak / 1e9:.0f} GFLOP/s)")
        if one_thread:
            cpu_peak = statistics.median([matmul_peak(clock=time.thread_time) for _ in range(3)])
            print(f"  in CPU time: {ref_cpu:,.0f} tokens/s = {ref_cpu * fpt / cpu_peak:.2f} of the peak in CPU time")


if __name__ == "__main__":
    main()
