"""One training loop (`fit`) under every trainer: pre-training, chat fine-tuning and the chapter toy tasks."""

import copy
import random
import signal

import pytest
import torch
from faults import nan_at, sigint_at

from gptviz import chat, positions, rnn
from gptviz.training import TrainConfig, TrainingDiverged, fit


def test_fit_minimises_any_loss_on_any_batches():
    torch.manual_seed(0)
    model = torch.nn.Linear(1, 1)
    gen = torch.Generator().manual_seed(0)

    def batch(step):
        x = torch.randn(16, 1, generator=gen)
        return x, 3 * x - 1

    config = TrainConfig(steps=200, lr=0.05, warmup_steps=0, min_lr_ratio=1.0, eval_every=50, weight_decay=0.0)
    history = fit(model, batch, lambda m, b: torch.nn.functional.mse_loss(m(b[0]), b[1]), config, progress=False)
    assert history["step"] == [50, 100, 150, 200] and history.stopped_at is None
    assert history["train_loss"][-1] < 0.01 * history["train_loss"][0]
    assert abs(model.weight.item() - 3) < 0.05 and not model.training


def test_fit_reports_a_progress_bar(capsys):
    model = torch.nn.Linear(1, 1)
    fit(model, lambda step: torch.ones(2, 1), lambda m, b: m(b).pow(2).mean(), TrainConfig(steps=3, warmup_steps=0),
        desc="toy run")
    assert "toy run" in capsys.readouterr().err


def test_rnn_training_stops_on_ctrl_c_with_the_losses_so_far(capsys):
    model = sigint_at(rnn.make_model("lstm", 5), 4)  # Ctrl-C during step 4: it finishes, then training stops
    losses = rnn.train_on_memory_task(model, 5, steps=50)
    assert len(losses) == 4 and not model.training
    assert "stopped at step 4 of 50" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_rnn_training_stops_on_a_nan_loss_with_a_clear_error():
    model = nan_at(rnn.make_model("rnn", 5), 3)
    with pytest.raises(TrainingDiverged, match="step 3.*lower lr") as err:
        rnn.train_on_memory_task(model, 5, steps=20)
    assert err.value.history["step"] == [1, 2] and not model.training


def test_order_task_training_stops_on_ctrl_c_with_a_row_for_that_step(monkeypatch):
    build = positions.task_model
    monkeypatch.setattr(positions, "task_model", lambda *args, **kwargs: sigint_at(build(*args, **kwargs), 7))
    run = positions.train_which_first("learned", steps=40, log_every=5)
    assert run.steps == [5, 7] and len(run.losses) == 2 and not run.model.training


def test_order_task_training_stops_on_a_nan_loss(monkeypatch):
    build = positions.task_model
    monkeypatch.setattr(positions, "task_model", lambda *args, **kwargs: nan_at(build(*args, **kwargs), 2))
    with pytest.raises(TrainingDiverged, match="step 2"):
        positions.train_which_first("learned", steps=10)


@pytest.fixture(scope="module")
def chat_dataset():
    return chat.build_dataset()


def chat_ready(pretrained):
    """A copy of the shipped model with the chat tokens added, and their tokenizer."""
    return chat.add_chat_tokens(copy.deepcopy(pretrained[0]), pretrained[1])


def test_finetune_shows_a_progress_bar_and_returns_every_steps_loss(pretrained, chat_dataset, capsys):
    model, tok = chat_ready(pretrained)
    losses = chat.finetune(model, tok, chat_dataset, steps=3, batch_size=2, progress=True)
    assert len(losses) == 3 and all(isinstance(loss, float) for loss in losses) and not model.training
    out = capsys.readouterr()
    assert "fine-tuning" in out.err and out.out == ""


def test_finetune_stops_on_ctrl_c_with_the_losses_so_far(pretrained, chat_dataset):
    model, tok = chat_ready(pretrained)
    losses = chat.finetune(sigint_at(model, 2), tok, chat_dataset, steps=30, batch_size=2)
    assert len(losses) == 2 and not model.training


def test_finetune_stops_on_a_nan_loss(pretrained, chat_dataset):
    model, tok = chat_ready(pretrained)
    with pytest.raises(TrainingDiverged, match="step 2"):
        chat.finetune(nan_at(model, 2), tok, chat_dataset, steps=5, batch_size=2)


def test_the_toy_tasks_repeat_exactly_for_a_seed():
    a = rnn.train_on_memory_task(rnn.make_model("rnn", 5, seed=1), 5, steps=5, seed=3)
    b = rnn.train_on_memory_task(rnn.make_model("rnn", 5, seed=1), 5, steps=5, seed=3)
    assert a == b and len(a) == 5
    random.seed(0)  # the global Python generator plays no part
    assert positions.train_which_first("none", steps=6, log_every=3).losses == \
        positions.train_which_first("none", steps=6, log_every=3).losses


def test_train_measures_training_and_validation_loss_the_same_way_at_the_same_step(tiny_config, tok, text):
    import gptviz
    from gptviz.training import estimate_loss, split_ids

    torch.manual_seed(0)
    model = gptviz.GPT(tiny_config)
    history = gptviz.train(model, tok, text, steps=6, batch_size=4, eval_every=3, eval_batches=2, seed=5,
                           progress=False)
    train_ids, _ = split_ids(text, tok)
    # the last row's training loss is the final model's loss on fixed training windows, not a lagged average
    assert history["train_loss"][-1] == round(estimate_loss(model, train_ids, 4, 2, seed=5 + 2), 4)
