"""Do the notebooks' training-based checks hold for every seed, not just the one the notebook runs?

Another CPU, BLAS or thread count changes floating-point sums, and a few hundred training steps amplify
that into a different run: to the checks, another machine is much like another seed. So every assert that
rests on training in a notebook is re-run here for several seeds, with the notebook's own settings and
thresholds, and the margin of each is printed. A check that fails for any seed is a check the notebook
cannot make; loosen it (with the measured margin) or change the experiment until it holds.

Each chapter with such checks has a module `bench/seed_claims/chNN.py` with
`claims(seed, shared) -> {name: (value, threshold)}`: the check is value > threshold (write a "<" check
with both sides negated), and a threshold of None marks a number the chapter shows but does not assert.
`shared` holds the shipped model, its tokenizer and the corpus, loaded once.

Run: PYTHONPATH=. python bench/seed_sweep.py [--seeds 0 1 2 3 4] [--chapters 02 05]
Also try it under another float path, e.g. ATEN_CPU_CAPABILITY=default OMP_NUM_THREADS=1.
No asserts: it prints a table and exits 1 if a check failed for some seed.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

import torch

import gptviz

CLAIMS = Path(__file__).resolve().parent / "seed_claims"


def chapters() -> list[str]:
    """The chapters that have a claims module, in order."""
    return sorted(p.stem[2:] for p in CLAIMS.glob("ch[0-9][0-9].py"))


def report(chapter: str, results: list[dict]) -> int:
    """Print one chapter's table; returns how many checks failed for some seed."""
    failed = 0
    print(f"  {'check':48s} {'threshold':>10s} {'worst':>10s} {'margin':>9s}  per seed")
    for name in results[0]:
        values = [r[name][0] for r in results]
        threshold, worst = results[0][name][1], min(values)
        per_seed = " ".join(f"{v:.3g}" for v in values)
        if threshold is None:  # a number the chapter shows but does not assert: it varies too much by seed
            print(f"  {name:48s} {'-':>10s} {worst:10.3g} {'-':>9s}  {per_seed}")
            continue
        ok = worst > threshold
        failed += not ok
        print(f"  {name:48s} {threshold:10.3g} {worst:10.3g} {worst - threshold:+9.3g}  {per_seed}  "
              f"{'ok' if ok else 'FAILS'}")
    return failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--chapters", nargs="+", default=chapters())
    args = parser.parse_args()
    print(f"torch {torch.__version__}, kernels {torch.backends.cpu.get_cpu_capability()}, "
          f"{torch.get_num_threads()} threads; seeds {args.seeds}")
    sys.path.insert(0, str(CLAIMS.parent))
    model, tok = gptviz.load_pretrained()
    shared = {"model": model, "tok": tok, "corpus": gptviz.load_corpus()}
    failed = 0
    for chapter in args.chapters:
        claims = importlib.import_module(f"seed_claims.ch{chapter}").claims
        threads, start = torch.get_num_threads(), time.perf_counter()
        results = [claims(seed, shared) for seed in args.seeds]
        torch.set_num_threads(threads)  # a chapter may pin its own thread count, as its notebook does
        print(f"\nchapter {chapter} ({time.perf_counter() - start:.0f} s)")
        failed += report(chapter, results)
    print(f"\n{failed} check(s) failed for some seed" if failed else "\nevery check held for every seed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
