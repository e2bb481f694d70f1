"""Training: the loss falls, runs repeat exactly, bad input is refused, the CLI works."""

import csv

import pytest
import torch

import gptviz
from gptviz.cli import main
from gptviz.training import TrainConfig, learning_rate


def fresh(tiny_config, seed=0):
    torch.manual_seed(seed)
    return gptviz.GPT(tiny_config)


def test_a_short_run_lowers_the_loss(tiny_config, tok, text):
    history = gptviz.train(fresh(tiny_config), tok, text, steps=60, batch_size=8, eval_every=30,
                           eval_batches=4, lr=3e-3, progress=False)
    assert history["step"] == [0, 30, 60]
    assert history["val_loss"][-1] < history["val_loss"][0] - 0.8


def test_same_seed_same_run(tiny_config, tok, text):
    runs = [gptviz.train(fresh(tiny_config), tok, text, steps=10, batch_size=4, eval_every=5, eval_batches=2,
                         progress=False, seed=3) for _ in range(2)]
    assert runs[0]["val_loss"] == runs[1]["val_loss"]
    other = gptviz.train(fresh(tiny_config), tok, text, steps=10, batch_size=4, eval_every=5, eval_batches=2,
                         progress=False, seed=4)
    assert other["val_loss"][1:] != runs[0]["val_loss"][1:]


def test_text_shorter_than_a_block_is_refused(tiny_config, tok, text):
    with pytest.raises(ValueError, match="block_size"):
        gptviz.train(fresh(tiny_config), tok, text[:30], steps=2, progress=False)


def test_bad_training_options(tiny_config, tok, text):
    with pytest.raises(ValueError, match="steps"):
        gptviz.train(fresh(tiny_config), tok, text, steps=0, progress=False)
    with pytest.raises(TypeError, match="stepz"):
        gptviz.train(fresh(tiny_config), tok, text, stepz=3, progress=False)


def test_learning_rate_warms_up_then_decays():
    cfg = TrainConfig(steps=100, lr=1e-3, warmup_steps=10, min_lr_ratio=0.1)
    rates = [learning_rate(s, cfg) for s in range(100)]
    assert rates[0] == pytest.approx(1e-4) and rates[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(rates[10:], rates[11:], strict=False))
    assert rates[-1] == pytest.approx(1e-4, rel=0.01)


def test_cli_trains_saves_and_generates(tmp_path, capsys, text):
    path = tmp_path / "text.txt"
    path.write_text(text, encoding="utf-8")
    out = tmp_path / "run"
    args = ["train", "--text", str(path), "--steps", "20", "--out", str(out), "--n-layer", "1", "--n-head", "2",
            "--n-embd", "16", "--block-size", "16", "--batch-size", "4", "--eval-every", "10", "--device", "cpu"]
    assert main(args) == 0
    rows = list(csv.DictReader(open(out / "history.csv")))
    assert [r["step"] for r in rows] == ["0", "10", "20"]
    assert {"step", "train_loss", "val_loss", "seconds", "tokens_per_s"} <= rows[0].keys()
    assert main(["generate", str(out), "--prompt", "ROMEO", "--max-new-tokens", "12", "--seed", "1"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("ROMEO") and len(printed.strip()) >= 12


def test_cli_reports_bad_arguments_without_a_traceback(tmp_path, capsys):
    assert main(["generate", "--pretrained", "--temperature", "-1"]) == 2
    assert "temperature" in capsys.readouterr().err
    assert main(["generate", str(tmp_path / "none")]) == 2
