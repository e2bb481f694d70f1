"""Chapter 05's checks on the order task ('which came first?')."""

from __future__ import annotations

from gptviz import positions


def claims(seed: int, shared: dict) -> dict[str, tuple[float, float | None]]:
    """Chapter 05's checks on the order task."""
    runs = {pos: positions.train_which_first(pos, n_layer=1, seed=seed)
            for pos in ("none", "sinusoidal", "learned", "rope")}
    two = positions.train_which_first("none", n_layer=2, steps=positions.TWO_LAYER_STEPS, seed=seed)
    reached = positions.steps_to_learn(two)
    return {
        "1 layer, no positions: accuracy < 0.6": (-runs["none"].accuracy, -0.6),
        "1 layer, no positions: loss > 0.6": (runs["none"].losses[-1], 0.6),
        "1 layer, no positions: reorder gap < 1e-4": (-positions.reorder_gap(runs["none"].model), -1e-4),
        "1 layer, learned: accuracy > 0.9": (runs["learned"].accuracy, 0.9),
        "1 layer, learned: reorder gap > 1": (positions.reorder_gap(runs["learned"].model), 1.0),
        "1 layer, sinusoidal: accuracy (shown, not asserted)": (runs["sinusoidal"].accuracy, None),
        # RoPE at this size: 7 of 10 seeds learn in 300 steps, the rest stay at guessing (seeds 3, 4, 8):
        # the chapter shows it and does not assert on it
        "1 layer, rope: accuracy (shown, not asserted)": (runs["rope"].accuracy, None),
        "1 layer, rope: final loss (shown, not asserted)": (runs["rope"].losses[-1], None),
        "2 layers, no positions: accuracy > 0.9": (two.accuracy, 0.9),
        "2 layers, no positions: final loss < 0.1": (-two.losses[-1], -0.1),
        "2 layers, no positions: reorder gap > 0.1": (positions.reorder_gap(two.model), 0.1),
        "2 layers, no positions: step loss < 0.1 (shown)": (reached if reached is not None else float("inf"), None),
    }
