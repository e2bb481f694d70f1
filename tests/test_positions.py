"""The order-sensitive toy task, order blindness without positions, and position-code similarity."""

import numpy as np
import pytest
import torch

from gptviz import positions as P
from gptviz.model import sinusoidal_encoding

STOI = P.TASK_TOKENS.stoi


def test_task_sequences_hide_one_a_and_one_b_and_the_answer_is_the_first():
    seq, answer = P.which_first_batch(500, 8, torch.Generator().manual_seed(0))
    assert seq.shape == (500, 9) and (seq[:, -1] == STOI["?"]).all()
    assert ((seq == STOI["a"]).sum(1) == 1).all() and ((seq == STOI["b"]).sum(1) == 1).all()
    first_a = (seq == STOI["a"]).int().argmax(1) < (seq == STOI["b"]).int().argmax(1)
    assert torch.equal(answer == STOI["a"], first_a)
    assert 0.4 < first_a.float().mean() < 0.6  # both answers equally common: guessing gets 50%


def test_swapping_markers_keeps_the_bag_of_tokens_and_flips_the_answer():
    seq, answer = P.which_first_batch(50, 8, torch.Generator().manual_seed(1))
    swapped = P.swap_markers(seq)
    assert torch.equal(seq.sort(1).values, swapped.sort(1).values)
    assert not torch.equal(seq, swapped)
    shuffled = P.shuffle_prefix(seq, torch.Generator().manual_seed(2))
    assert torch.equal(shuffled.sort(1).values, seq.sort(1).values) and (shuffled[:, -1] == STOI["?"]).all()


def bold(model, seed=0):
    """Give every weight a size of 0.5 (the gentle initialisation makes attention nearly even, hiding effects)."""
    torch.manual_seed(seed)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.5)
    return model.eval()


@pytest.mark.parametrize("seed", [0, 1])
def test_one_layer_without_positions_is_blind_to_order(seed):
    blind = bold(P.task_model("none", seed=seed), seed)
    assert P.reorder_gap(blind) < 1e-4  # exactly the same output, up to float rounding
    seq, _ = P.which_first_batch(64, 8, torch.Generator().manual_seed(seed))
    with torch.no_grad():
        a = blind(seq)[0][:, -1]
        b = blind(P.shuffle_prefix(seq, torch.Generator().manual_seed(5)))[0][:, -1]
    assert torch.allclose(a, b, atol=1e-4)
    for pos in ("learned", "sinusoidal"):
        assert P.reorder_gap(bold(P.task_model(pos, seed=seed), seed)) > 1e-2


def test_two_causal_layers_let_order_leak_in_without_positions():
    assert P.reorder_gap(bold(P.task_model("none", n_layer=2))) > 1e-2


def test_training_learns_with_positions_and_fails_without():
    learned = P.train_which_first("learned", steps=300, seed=0)
    blind = P.train_which_first("none", steps=150, seed=0)
    assert learned.accuracy > 0.95
    assert blind.accuracy < 0.6
    assert learned.losses[-1] < 0.2 < blind.losses[-1]
    assert "learned" in learned.label and "1 layer" in learned.label


def test_offset_similarity_of_sinusoidal_codes():
    pe = sinusoidal_encoding(64, 32)
    offsets, sims = P.offset_similarity(pe, 16)
    assert offsets.tolist() == list(range(17)) and sims[0] == pytest.approx(1.0)
    assert np.all(np.diff(sims[:5]) < 0) and sims[1] > sims[16]  # nearby positions are more alike
    row = P.similarity_to(pe, 10)
    assert row.shape == (64,) and row[10] == pytest.approx(1.0) and row.argmax() == 10


@pytest.mark.parametrize("call, name", [
    (lambda: P.which_first_batch(4, 1), "length"),
    (lambda: P.which_first_batch(0, 8), "batch_size"),
    (lambda: P.train_which_first("none", steps=0), "steps"),
    (lambda: P.offset_similarity(np.ones((1, 4))), "encoding"),
    (lambda: P.offset_similarity(np.ones((5, 4)), 9), "max_offset"),
    (lambda: P.similarity_to(np.ones((5, 4)), 5), "position"),
])
def test_bad_arguments_are_named(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_sin_then_cos_rearranges_the_interleaved_table():
    pe = sinusoidal_encoding(10, 8).numpy()
    blocks = P.sin_then_cos(pe)
    assert np.array_equal(blocks[:, :4], pe[:, 0::2]) and np.array_equal(blocks[:, 4:], pe[:, 1::2])
    with pytest.raises(ValueError, match="even"):
        P.sin_then_cos(np.ones((3, 5)))


def test_similarity_matrix_and_nearest_neighbour_check_fails_on_shuffled_codes():
    pe = sinusoidal_encoding(64, 32).numpy()
    matrix = P.similarity_matrix(pe)
    assert matrix.shape == (64, 64) and np.allclose(np.diag(matrix), 1, atol=1e-6)
    assert P.nearest_is_neighbour(pe) > 0.9
    shuffled = pe[np.random.default_rng(0).permutation(64)]  # the same codes, in no order: the check must fail
    assert P.nearest_is_neighbour(shuffled) < 0.2


def test_strongest_periods_find_a_planted_wave():
    t = np.arange(120)[:, None]
    table = np.sin(2 * np.pi * t / 6.0) * np.ones((1, 4)) + 0.01 * np.random.default_rng(0).normal(size=(120, 4))
    period, share = P.strongest_periods(table, 1)[0]
    assert period == pytest.approx(6.0) and share > 0.9


def test_steps_to_learn_and_the_shipped_sweep():
    assert P.steps_to_learn({"steps": [20, 40, 60], "losses": [0.7, 0.09, 0.01]}) == 40
    assert P.steps_to_learn({"steps": [20, 40], "losses": [0.7, 0.69]}) is None
    sweep = P.load_order_task_sweep()
    rows = {row["setting"]: row for row in P.sweep_table(sweep)}
    assert set(rows) == set(P.SWEEP_SETTINGS) and all(row["runs"] >= 5 for row in rows.values())
    assert rows["none, 1 layer"]["learned"] == 0
    assert rows["learned, 1 layer"]["learned"] == rows["learned, 1 layer"]["runs"]
    assert rows["none, 2 layers"]["worst final loss"] < 0.1  # the chapter's section 6 asserts this on the sweep


def test_order_task_sweep_records_every_seed():
    sweep = P.order_task_sweep([0, 1], settings={"none, 1 layer": ("none", 1, 20)}, log=lambda line: None)
    runs = sweep["runs"]["none, 1 layer"]
    assert [r["seed"] for r in runs] == [0, 1] and runs[0]["steps"][-1] == 20
    assert P.sweep_table(sweep)[0]["learned"] == 0


def test_position_plots_return_figures_and_check_their_input():
    from matplotlib.figure import Figure

    from gptviz import plots
    pe = sinusoidal_encoding(16, 8).numpy()
    assert isinstance(plots.positional_heatmap(P.sin_then_cos(pe), blocks=("sin", "cos")), Figure)
    assert isinstance(plots.similarity_matrices_figure({"sinusoidal": P.similarity_matrix(pe)}), Figure)
    sweep = {"runs": {"x": [{"steps": [1, 2], "losses": [0.7, 0.1], "accuracy": 0.95}]}}
    assert isinstance(plots.sweep_curves_figure(sweep, ["x"], chance=0.69), Figure)
    with pytest.raises(ValueError, match="settings"):
        plots.sweep_curves_figure(sweep, ["y"])
    with pytest.raises(ValueError, match="square"):
        plots.similarity_matrices_figure({"bad": np.ones((3, 4))})
