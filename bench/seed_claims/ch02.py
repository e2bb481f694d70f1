"""Chapter 02's training-based checks: memory task at gaps 5 and 50, gradients through time."""

from __future__ import annotations

import math

import torch

from gptviz import bptt, rnn

GAP, SHORT_GAP = 50, 5  # the chapter's gaps
STEPS = {"rnn": 200, "lstm": 400, "transformer": 300}  # the notebook's training steps at gap 50 (300 at gap 5)


def claims(seed: int, shared: dict) -> dict[str, tuple[float, float | None]]:
    """Chapter 02's checks as (value, threshold): the check is value > threshold (None: shown, not asserted)."""
    torch.set_num_threads(1)  # as the notebook does
    fresh = {kind: rnn.make_model(kind, GAP, seed=seed) for kind in rnn.MODEL_KINDS}
    before = {kind: bptt.gradient_by_distance(m, GAP) for kind, m in fresh.items()}
    runs = {"rnn": rnn.run("rnn", GAP, steps=STEPS["rnn"], seed=seed),
            "lstm": rnn.run("lstm", GAP, steps=STEPS["lstm"], seed=seed),
            "transformer": rnn.run("transformer", GAP, steps=STEPS["transformer"], seed=seed)}
    short = {kind: rnn.run(kind, SHORT_GAP, steps=300, seed=seed) for kind in ("rnn", "lstm")}
    after = {kind: bptt.gradient_by_distance(r.model, GAP) for kind, r in runs.items()}
    memory = {kind: rnn.letter_memory(runs[kind].model, GAP).mean(axis=1) for kind in ("rnn", "lstm")}
    trained = after["transformer"]
    forget, kept = rnn.forget_gate_memory(runs["lstm"].model, GAP)
    ids, _ = rnn.memory_task(64, GAP, torch.Generator().manual_seed(0))
    with torch.no_grad():
        cell = torch.stack(runs["lstm"].model.unroll(ids).cells, dim=1)  # (B, T, H)
    on_letter = rnn.attention_on_letter(runs["transformer"].model, GAP)
    log = math.log10
    return {  # logs where the quantities span orders of magnitude: the margin is then in decades
        "log10 RNN/LSTM gradient at 50, init < -4": (-log(before["rnn"][GAP] / before["lstm"][GAP]), 4),
        "log10 RNN/LSTM gradient at 50, trained < -4": (-log(after["rnn"][GAP] / after["lstm"][GAP]), 4),
        "log10 RNN gradient 50 / 0, trained < -6": (-log(after["rnn"][GAP] / after["rnn"][0]), 6),
        "LSTM gradient 50 / 1, init > 1e-3 (log10)": (log(before["lstm"][GAP] / before["lstm"][1]), -3),
        "LSTM gradient 50 / 1, trained > 1e-3 (log10)": (log(after["lstm"][GAP] / after["lstm"][1]), -3),
        "RNN letter memory end/start < 1e-3 (log10)": (-log(max(memory["rnn"][-1], 1e-30) / memory["rnn"][0]), 3),
        "LSTM letter memory at the end > 0.1": (memory["lstm"][-1], 0.1),
        "transformer gradient letter/last > 1": (trained[GAP + 1] / trained[0], 1),
        "transformer gradient letter / median digit > 10": (bptt.letter_vs_digits(trained, GAP), 10),
        "RNN accuracy gap 5 > 4x chance": (short["rnn"].accuracy, 4 * rnn.CHANCE),
        "LSTM accuracy gap 5 > 4x chance": (short["lstm"].accuracy, 4 * rnn.CHANCE),
        "RNN accuracy gap 50 < chance + 0.1": (-runs["rnn"].accuracy, -(rnn.CHANCE + 0.1)),
        "LSTM accuracy gap 50 > 3x chance": (runs["lstm"].accuracy, 3 * rnn.CHANCE),
        "transformer accuracy gap 50 > 0.9": (runs["transformer"].accuracy, 0.9),
        "LSTM mean forget gate of memory units > 0.95": (forget, 0.95),
        "LSTM memory kept over the gap > 0.1": (kept, 0.1),
        "transformer attention '?' -> letter > 0.5": (float(on_letter.max()), 0.5),
        "LSTM max |c| (shown: the cell state is unbounded)": (float(cell.abs().max()), None),
        "LSTM share of |c| > 3 (shown: tanh(c) saturated)": (float((cell.abs() > 3).float().mean()), None),
    }
