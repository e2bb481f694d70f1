"""Rebuild gptviz/data/order_task_sweep.json: chapter 05's order task trained from ten seeds in every setting.

Run: PYTHONPATH=. python3 bench/order_task_sweep.py [--seeds 0 1 ...] [--jobs N]   (minutes on one core)
The chapter shows this table (how many seeds learn the task, how fast) instead of retraining ten models.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from gptviz import positions


def one_seed(seed: int) -> dict:
    torch.set_num_threads(1)
    return positions.order_task_sweep([seed], log=lambda line: print(line, flush=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", default=str(positions.SWEEP_PATH))
    args = parser.parse_args()
    with ProcessPoolExecutor(args.jobs) as pool:
        parts = list(pool.map(one_seed, args.seeds))
    result = {"seeds": args.seeds, "settings": parts[0]["settings"],
              "runs": {name: [p["runs"][name][0] for p in parts] for name in parts[0]["runs"]},
              "torch": torch.__version__, "kernels": torch.backends.cpu.get_cpu_capability()}
    Path(args.out).write_text(json.dumps(result, indent=1))
    for row in positions.sweep_table(result):
        print(row)


if __name__ == "__main__":
    main()
