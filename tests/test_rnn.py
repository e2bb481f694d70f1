"""Chapter 02: hand-written RNN/LSTM cells against PyTorch's, the memory task, gradients through time."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from gptviz import bptt, plots, rnn, widgets


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# --- the cells against PyTorch -----------------------------------------------------------------

def same_weights(cell, reference):
    """`reference` (torch's nn.RNN or nn.LSTM) with the hand-written cell's weights copied in."""
    with torch.no_grad():
        for ours, theirs in zip(cell.weights(), (reference.weight_ih_l0, reference.weight_hh_l0,
                                                 reference.bias_ih_l0, reference.bias_hh_l0), strict=True):
            theirs.copy_(ours)
    return reference


def test_tanh_cell_matches_torch_rnn():
    cell = rnn.TanhRNNCell(5, 7)
    reference = same_weights(cell, torch.nn.RNN(5, 7, batch_first=True))
    x = torch.randn(3, 9, 5)
    h = torch.zeros(3, 7)
    states = []
    for t in range(9):
        h = cell(x[:, t], h)
        states.append(h)
    expected, last = reference(x)
    torch.testing.assert_close(torch.stack(states, dim=1), expected, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(h, last[0])


def test_lstm_cell_matches_torch_lstm():
    cell = rnn.LSTMCell(4, 6)
    reference = same_weights(cell, torch.nn.LSTM(4, 6, batch_first=True))
    x = torch.randn(2, 11, 4)
    h, c = torch.zeros(2, 6), torch.zeros(2, 6)
    states = []
    for t in range(11):
        h, c, gates = cell(x[:, t], (h, c))
        states.append(h)
        for gate in gates:
            assert gate.shape == (2, 6) and bool(((gate > 0) & (gate < 1)).all())
    expected, (last_h, last_c) = reference(x)
    torch.testing.assert_close(torch.stack(states, dim=1), expected, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(c, last_c[0], atol=1e-6, rtol=1e-5)


def test_lstm_cell_matches_torch_lstm_cell_single_step():
    cell = rnn.LSTMCell(3, 5)
    reference = torch.nn.LSTMCell(3, 5)
    reference.load_state_dict(cell.state_dict())  # same parameter names and layout
    x, h, c = torch.randn(4, 3), torch.randn(4, 5), torch.randn(4, 5)
    ours_h, ours_c, _ = cell(x, (h, c))
    theirs_h, theirs_c = reference(x, (h, c))
    torch.testing.assert_close(ours_h, theirs_h)
    torch.testing.assert_close(ours_c, theirs_c)


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_fast_path_matches_hand_written_unroll(kind):
    model = rnn.RecurrentModel(kind, hidden_size=12)
    ids, _ = rnn.memory_task(5, 8, torch.Generator().manual_seed(1))
    run = model.unroll(ids)
    torch.testing.assert_close(run.logits, model(ids), atol=1e-5, rtol=1e-4)
    assert len(run.hidden) == ids.size(1)
    if kind == "lstm":
        assert set(run.gates) == set(rnn.GATES)
        for value in run.gates.values():
            assert value.shape == (5, ids.size(1), 12)
        assert len(run.cells) == ids.size(1)
    else:
        assert run.gates == {} and run.cells == []


def test_lstm_forget_bias_opens_the_forget_gate():
    model = rnn.RecurrentModel("lstm", hidden_size=16, forget_bias=4.0)
    ids, _ = rnn.memory_task(8, 5)
    forget = model.unroll(ids).gates["forget"]
    assert forget.mean().item() > 0.9
    closed = rnn.RecurrentModel("lstm", hidden_size=16, forget_bias=0.0).unroll(ids).gates["forget"]
    assert 0.3 < closed.mean().item() < 0.7


# --- the task --------------------------------------------------------------------------------------

def test_memory_task_layout():
    ids, targets = rnn.memory_task(50, 7, torch.Generator().manual_seed(3), start=4)
    assert ids.shape == (50, 4 + 9) and targets.shape == (50,)
    assert rnn.letter_position(ids, 7) == 4
    assert torch.equal(ids[:, 4], targets)
    assert bool((targets < len(rnn.SYMBOLS)).all())
    noise = torch.cat([ids[:, :4], ids[:, 5:-1]], dim=1)
    assert bool(((noise >= len(rnn.SYMBOLS)) & (noise < len(rnn.SYMBOLS) + len(rnn.DISTRACTORS))).all())
    assert bool((ids[:, -1] == rnn.VOCAB.index(rnn.QUERY)).all())
    text = rnn.decode(ids[0])
    assert text[4] in rnn.SYMBOLS and text[-1] == "?" and set(text[:4] + text[5:-1]) <= set(rnn.DISTRACTORS)
    again, _ = rnn.memory_task(50, 7, torch.Generator().manual_seed(3), start=4)
    assert torch.equal(ids, again)
    assert rnn.CHANCE == pytest.approx(1 / 8)


def test_the_letter_moves_but_the_gap_does_not():
    generator = torch.Generator().manual_seed(0)
    starts = set()
    for _ in range(200):
        ids, targets = rnn.memory_task(3, 6, generator)
        position = rnn.letter_position(ids, 6)
        starts.add(position)
        assert torch.equal(ids[:, position], targets)  # the letter is gap + 1 steps before the "?" ...
        assert bool((ids[:, :position] >= len(rnn.SYMBOLS)).all())  # ... and only digits come before it
    assert starts == set(range(rnn.MAX_START + 1))  # ... at every start from 0 to MAX_START


def test_a_model_that_reads_one_fixed_position_is_at_chance():
    """The confound the random start removes: reading the letter where it used to be (position 0) no longer works."""
    class FixedPosition(torch.nn.Module):
        def forward(self, ids):
            return torch.nn.functional.one_hot(ids[:, 0].clamp(max=len(rnn.SYMBOLS) - 1), len(rnn.SYMBOLS)).float()

    fixed = FixedPosition()
    assert rnn.accuracy(fixed, 20) < 2 * rnn.CHANCE
    generator = torch.Generator().manual_seed(0)
    ids, targets = rnn.memory_task(500, 20, generator, start=0)
    assert (fixed(ids).argmax(1) == targets).float().mean() == 1  # with the letter always first it was perfect


def test_untrained_model_is_at_chance():
    model = rnn.make_model("lstm", 5, seed=0)
    assert abs(rnn.accuracy(model, 5, n=2000) - rnn.CHANCE) < 0.08


def test_rnn_learns_a_short_gap():
    result = rnn.run("rnn", 2, steps=150, seed=0)
    assert result.accuracy > 4 * rnn.CHANCE  # a run can stall with 6 of 8 letters right; still far above chance
    assert np.mean(result.losses[-10:]) < 0.5 * math.log(8)


def test_transformer_final_logits_are_the_letters():
    model = rnn.make_model("transformer", 6)
    ids, _ = rnn.memory_task(3, 6, start=rnn.MAX_START)  # the longest sequence it must read
    assert rnn.final_logits(model, ids).shape == (3, len(rnn.SYMBOLS))
    with pytest.raises(ValueError, match="gap"):
        rnn.train_on_memory_task(model, 7, steps=1)


# --- gradients through time ------------------------------------------------------------------------

def test_gradient_matches_autograd_on_the_last_state():
    model = rnn.RecurrentModel("rnn", hidden_size=8)
    ids, targets = rnn.memory_task(4, 3, torch.Generator().manual_seed(0), start=2)
    profile = bptt.gradient_through_time(model, ids, targets)
    assert profile.shape == (7,)
    # dloss/dh_T for the last state is W_head^T (softmax - one-hot), per example
    run = model.unroll(ids)
    probs = torch.softmax(run.logits, dim=1)
    delta = probs - torch.nn.functional.one_hot(targets, len(rnn.SYMBOLS))
    expected = (delta @ model.head.weight).norm(dim=1).mean().item()
    assert profile[-1] == pytest.approx(expected, rel=1e-5)


def test_rnn_gradient_vanishes_and_lstm_gradient_survives_at_init():
    rnn_profile = bptt.gradient_by_distance(rnn.make_model("rnn", 50, seed=0), 50, n=64)
    lstm_profile = bptt.gradient_by_distance(rnn.make_model("lstm", 50, seed=0), 50, n=64)
    assert rnn_profile[50] < 1e-6 * rnn_profile[0]
    assert lstm_profile[50] > 1e-2 * lstm_profile[1]
    assert lstm_profile[50] > 1e4 * rnn_profile[50]


def test_transformer_gradient_does_not_decay_with_distance():
    profile = bptt.gradient_by_distance(rnn.make_model("transformer", 40, seed=0), 40, n=32)
    earlier = profile[1:]  # distance 0 also has the direct residual path
    assert earlier.min() > 0.2 * earlier.max()


def test_spectral_radius_sets_the_gradient_regime():
    model = rnn.RecurrentModel("rnn", hidden_size=20)
    rnn.set_spectral_radius(model, 0.7)
    assert torch.linalg.eigvals(model.core.weight_hh_l0).abs().max().item() == pytest.approx(0.7, rel=1e-4)
    small = bptt.random_rnn_gradient(0.5, 60, n=8)
    large = bptt.random_rnn_gradient(2.0, 60, n=8)
    assert small[60] < 1e-10 * small[0]
    assert large[60] > 1e3 * large[0]


def test_letter_memory_fades_in_the_rnn_and_not_in_the_lstm():
    rnn_memory = rnn.letter_memory(rnn.make_model("rnn", 40, seed=0), 40)
    lstm_memory = rnn.letter_memory(rnn.make_model("lstm", 40, seed=0), 40)
    assert rnn_memory.shape == (42, 32)  # from the letter to the "?", whatever the start
    assert rnn_memory[0].mean() > 0.01  # row 0 is the letter itself
    assert rnn_memory[-1].mean() < 1e-4 * rnn_memory[0].mean()
    assert lstm_memory[-1].mean() > 0.1 * lstm_memory[0].mean()
    with pytest.raises(ValueError, match="RecurrentModel"):
        rnn.letter_memory(rnn.make_model("transformer", 5), 5)


def test_gradient_through_time_rejects_bad_shapes():
    model = rnn.RecurrentModel("rnn")
    with pytest.raises(ValueError, match="ids must be"):
        bptt.gradient_through_time(model, torch.zeros(5, dtype=torch.long), torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="targets"):
        bptt.gradient_through_time(model, torch.zeros(2, 4, dtype=torch.long), torch.zeros(3, dtype=torch.long))


def test_gradient_through_time_restores_training_mode_after_an_error():
    model = rnn.RecurrentModel("rnn").train()
    with pytest.raises(IndexError):  # a target outside the classes fails inside the loss
        bptt.gradient_through_time(model, torch.zeros(2, 4, dtype=torch.long), torch.full((2,), 99))
    assert model.training


@pytest.mark.parametrize("call, match", [
    (lambda: rnn.memory_task(0, 5), "batch_size"),
    (lambda: rnn.memory_task(4, -1), "gap"),
    (lambda: rnn.memory_task(4, 2.5), "gap"),
    (lambda: rnn.memory_task(4, 3, start=-1), "start"),
    (lambda: rnn.letter_position(torch.zeros(2, 5), 4), "gap"),
    (lambda: bptt.letter_vs_digits(np.ones(5), 4), "profile"),
    (lambda: rnn.attention_on_letter(rnn.RecurrentModel("rnn"), 5), "GPT"),
    (lambda: rnn.forget_gate_memory(rnn.RecurrentModel("rnn"), 5), "LSTM"),
    (lambda: rnn.RecurrentModel("gru"), "kind"),
    (lambda: rnn.RecurrentModel("rnn", hidden_size=0), "hidden_size"),
    (lambda: rnn.make_model("cnn", 5), "kind"),
    (lambda: rnn.set_spectral_radius(rnn.RecurrentModel("rnn"), -1.0), "radius"),
    (lambda: rnn.train_on_memory_task(rnn.RecurrentModel("rnn"), 5, steps=0), "steps"),
    (lambda: rnn.train_on_memory_task(rnn.RecurrentModel("rnn"), 5, steps=1, lr=0), "lr"),
    (lambda: rnn.accuracy(rnn.RecurrentModel("rnn"), 5, n=0), "n"),
    (lambda: bptt.random_rnn_gradient(0.9, 0), "length"),
    (lambda: rnn.TanhRNNCell(0, 4), "input_size"),
])
def test_bad_inputs_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --- the shipped sweep -----------------------------------------------------------------------------

def test_sweep_structure_and_round_trip(tmp_path):
    result = rnn.sweep(gaps=(1, 2), kinds=("rnn",), steps=2, seeds=(0,), log=None)
    assert result["gaps"] == [1, 2] and len(result["accuracy"]["rnn"]) == 2
    path = rnn.save_sweep(result, tmp_path / "s.json")
    assert rnn.load_sweep(path) == result


def test_shipped_sweep_shows_the_claims():
    result = rnn.load_sweep()
    gaps = result["gaps"]
    assert set(result["accuracy"]) == set(rnn.MODEL_KINDS)
    assert result.get("max_start") == rnn.MAX_START  # made with the letter at a random position

    def mean_at(kind, gap):
        return float(np.mean(result["accuracy"][kind][gaps.index(gap)]))

    assert mean_at("rnn", 5) > 0.9  # the RNN solves short gaps
    assert mean_at("rnn", 50) < rnn.CHANCE + 0.1  # and fails long ones
    assert mean_at("lstm", 50) > 0.6  # the LSTM learns gap 50 ...
    assert mean_at("lstm", 100) < rnn.CHANCE + 0.1  # ... but not 100, with the same budget
    assert mean_at("lstm", 400) < mean_at("lstm", 50) - 0.3  # the LSTM, too, gives out in the end
    assert mean_at("transformer", 100) > 0.9  # the transformer solves 100 ...
    assert mean_at("transformer", 200) < rnn.CHANCE + 0.1  # ... and, with 300 steps, not 200


# --- the checks fail where the property is missing ---------------------------------------------------

def test_vanishing_check_fails_on_an_lstm_and_holds_on_an_rnn():
    """The notebook asserts that the RNN's gradient 50 steps back is < 1e-6 of its size at the loss."""
    rnn_profile = bptt.gradient_by_distance(rnn.make_model("rnn", 50, seed=0), 50, n=32)
    lstm_profile = bptt.gradient_by_distance(rnn.make_model("lstm", 50, seed=0), 50, n=32)
    assert rnn_profile[50] < 1e-6 * rnn_profile[0]
    assert not lstm_profile[50] < 1e-6 * lstm_profile[0]


def test_lstm_gradient_check_fails_with_a_shut_forget_gate():
    """The notebook asserts that the LSTM keeps > 1e-3 of its gradient over 50 steps; with f = 0.5 it does not."""
    shut = bptt.gradient_by_distance(rnn.make_model("lstm", 50, seed=0, forget_bias=0.0), 50, n=32)
    assert not shut[50] > 1e-3 * shut[1]


def test_forget_gate_check_fails_with_a_shut_forget_gate():
    """The notebook asserts mean forget gate > 0.95 and > 10 % of the memory kept; f near 0.5 fails both."""
    shut = rnn.forget_gate_memory(rnn.make_model("lstm", 30, seed=0, forget_bias=0.0), 30)
    assert not shut[0] > 0.95 and not shut[1] > 0.1
    assert len(rnn.forget_gate_memory(rnn.make_model("lstm", 30, seed=0), 30)) == 2


def test_letter_memory_check_fails_on_an_lstm_that_forgets():
    """The notebook asserts the LSTM's letter memory at the "?" > 0.1; an LSTM with f = 0.02 forgets."""
    forgetful = rnn.letter_memory(rnn.make_model("lstm", 50, seed=0, forget_bias=-4.0), 50).mean(axis=1)
    assert not forgetful[-1] > 0.1


def test_transformer_checks_fail_on_an_untrained_transformer():
    """Letter vs digits (> 10x) and attention from "?" to the letter (> 0.5): an untrained, near-uniform model
    fails both; uniform attention would give the letter 1/T."""
    model = rnn.make_model("transformer", 50, seed=0)
    profile = bptt.gradient_by_distance(model, 50, n=32)
    assert not bptt.letter_vs_digits(profile, 50) > 10
    on_letter = rnn.attention_on_letter(model, 50, n=17)
    assert on_letter.shape == (2,) and not on_letter.max() > 0.5
    assert on_letter.max() < 3 / (50 + 2)


def test_dilution_check_fails_on_an_rnn():
    """The notebook asserts that the untrained transformer's gradient at the letter falls with the gap, but by
    less than 100x from gap 10 to 200 (like 1/T); an RNN's falls exponentially and fails the second part."""
    transformer = bptt.letter_gradient_at_init("transformer", (10, 200))
    assert 1e-2 * transformer[10] < transformer[200] < 0.5 * transformer[10]
    recurrent = bptt.letter_gradient_at_init("rnn", (10, 200))
    assert not recurrent[200] > 1e-2 * recurrent[10]


def test_transformer_checks_hold_on_a_transformer_trained_briefly():
    run = rnn.run("transformer", 12, steps=150, seed=0)
    assert run.accuracy > 0.9
    assert bptt.letter_vs_digits(bptt.gradient_by_distance(run.model, 12, n=32), 12) > 10
    assert rnn.attention_on_letter(run.model, 12, n=17).max() > 0.5


# --- pictures and explorers ------------------------------------------------------------------------

def test_plots_return_figures_without_pyplot():
    before = plt.get_fignums()
    profiles = {"rnn": np.logspace(0, -12, 30), "lstm": np.full(30, 0.1), "transformer": np.full(30, 0.02)}
    figures = [
        plots.gradient_vs_distance(profiles, mark=28),
        plots.gradient_panels(profiles, profiles, mark=28),
        plots.accuracy_vs_gap({"gaps": [5, 50], "chance": 0.125, "steps": 3,
                               "accuracy": {"rnn": [[1.0, 0.9], [0.1, 0.2]], "lstm": [[1, 1], [1, 1]]}},
                              live={"rnn": {50: 0.12}}),
        plots.task_losses({"rnn gap 50": np.linspace(2, 1, 40)}, chance_loss=math.log(8)),
        plots.lstm_gates({g: np.random.rand(6, 4) for g in rnn.GATES}, "A0123?", cell=np.random.randn(6, 4)),
        plots.spectral_radius_plot(np.logspace(0, -5, 20), 0.6),
        plots.letter_memory_curves({"rnn": np.logspace(0, -8, 20), "lstm": np.full(20, 0.5)}),
    ]
    assert all(isinstance(f, Figure) for f in figures)
    assert plt.get_fignums() == before


def test_plots_reject_bad_data():
    with pytest.raises(ValueError, match="profiles"):
        plots.gradient_vs_distance({})
    with pytest.raises(ValueError, match="gate"):
        plots.lstm_gates({"input": np.zeros((3, 2))}, "A0123?")
    with pytest.raises(ValueError, match="gaps"):
        plots.accuracy_vs_gap({"gaps": [5, 50], "chance": 0.1, "accuracy": {"rnn": [[1.0]]}})
    with pytest.raises(ValueError, match="smooth"):
        plots.task_losses({"rnn": [1.0, 2.0]}, smooth=0)


def test_explorers_render():
    box = widgets.vanishing_gradient_explorer(radius=0.8, gap=20)
    radius, gap = box.children[0].children
    radius.value = 1.6  # a change redraws without error
    assert isinstance(widgets.radius_figure(1.2, 10), Figure)
    lstm = rnn.make_model("lstm", 10)
    assert isinstance(widgets.gates_figure(lstm, 10, example=2), Figure)
    box = widgets.gate_explorer(lstm, gap=8, max_gap=30)
    box.children[0].children[0].value = 12
