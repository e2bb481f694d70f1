"""Nothing lost, nothing silently wrong: checked arguments, atomic checkpoints, Ctrl-C, resume, strict loading."""

import csv
import json
import os
import signal
import warnings

import numpy as np
import pytest
import torch
from faults import sigint_at
from safetensors.torch import load_file, save_file

import gptviz
import gptviz.cli
from gptviz.checkpoint import CONFIG, HISTORY, STATE, WEIGHTS, read_config, upgrade
from gptviz.cli import main
from gptviz.sampling import MAX_NEW_TOKENS, check_sampling_args, stream_steps
from gptviz.training import TrainConfig, TrainingDiverged

FAST = dict(batch_size=4, eval_batches=2, progress=False)


def fresh(config, seed=0):
    torch.manual_seed(seed)
    return gptviz.GPT(config)


@pytest.fixture()
def drop_config(tok):
    """A tiny model with dropout, so a resumed run must also restore the global random state to match."""
    return gptviz.GPTConfig(vocab_size=tok.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=16, dropout=0.1)


def entries(directory):
    return sorted(p.name for p in directory.iterdir())


def same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k].cpu(), sb[k].cpu()) for k in sa)


def stop_at(step):
    """An on_eval callback that raises KeyboardInterrupt (as a notebook's interrupt would) at `step`."""

    def on_eval(model, row):
        if row["step"] == step:
            raise KeyboardInterrupt

    return on_eval


# --------------------------------------------------------------------------- numbers: numpy welcome, clear messages


def test_numpy_numbers_are_accepted_by_sampling(tiny_model, tok):
    plain = gptviz.generate(tiny_model, tok, "ROMEO:", 8, temperature=0.8, top_k=5, top_p=0.9, seed=3)
    numpy = gptviz.generate(tiny_model, tok, "ROMEO:", np.int64(8), temperature=np.float32(0.8), top_k=np.int64(5),
                            top_p=np.float64(0.9), seed=np.int64(3))
    assert numpy == plain and len(plain) == 8
    assert gptviz.sampling.repetition_rate("abcabc", n=np.int64(3)) == pytest.approx(0.25)


def test_numpy_numbers_are_accepted_by_the_configs(tok, tmp_path):
    config = gptviz.GPTConfig(vocab_size=np.int64(tok.vocab_size), block_size=np.int32(16), n_layer=np.int64(1),
                              n_head=np.int64(2), n_embd=np.int64(16), dropout=np.float32(0.0))
    assert type(config.n_embd) is int and type(config.dropout) is float
    model = gptviz.GPT(config)
    gptviz.save(model, tok, tmp_path / "m")  # the config must be JSON-safe
    assert gptviz.load(tmp_path / "m")[0].config == config
    run = TrainConfig(steps=np.int64(3), batch_size=np.int32(4), lr=np.float32(1e-3), seed=np.int64(2),
                      eval_every=np.int64(3), eval_batches=np.int64(1), min_lr_ratio=np.float64(0.5))
    json.dumps(run.__dict__)
    assert type(run.seed) is int and run.lr == pytest.approx(1e-3)


@pytest.mark.parametrize("kwargs, name, shown", [
    (dict(top_k=np.int64(0)), "top_k", "got 0"),
    (dict(top_k=1.5), "top_k", "got 1.5"),
    (dict(temperature=np.float32(-1.0)), "temperature", "got -1.0"),
    (dict(temperature=float("nan")), "temperature", "got nan"),
    (dict(top_p=np.float64(1.5)), "top_p", "got 1.5"),
    (dict(seed=2**70), "seed", str(2**70)),
    (dict(seed=-1), "seed", "got -1"),
    (dict(max_new_tokens=10**9), "max_new_tokens", str(10**9)),
])
def test_messages_name_the_argument_the_value_and_the_range(kwargs, name, shown):
    with pytest.raises(ValueError) as err:
        check_sampling_args(**kwargs)
    message = str(err.value)
    assert message.startswith(name) and shown in message and "np." not in message
    assert any(word in message for word in ("[", "(", ">=", ">")), message  # the allowed range is there


def test_max_new_tokens_has_an_upper_bound_checked_at_once(tiny_model, tok):
    with pytest.raises(ValueError, match=f"max_new_tokens.*{MAX_NEW_TOKENS}"):
        stream_steps(tiny_model, tok, "ROMEO", max_new_tokens=MAX_NEW_TOKENS + 1)
    assert len(gptviz.generate(tiny_model, tok, "ROMEO", 3, seed=np.int64(1))) == 3


def test_an_overflowing_seed_is_a_clear_error(tiny_model, tok, tiny_config, text):
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 9223372036854775807\]"):
        gptviz.generate(tiny_model, tok, "ROMEO", 3, seed=2**70)
    with pytest.raises(ValueError, match="seed"):
        gptviz.train(fresh(tiny_config), tok, text, steps=2, seed=2**70, progress=False)


@pytest.mark.parametrize("lr", [float("inf"), float("nan"), -1.0, 0.0])
def test_a_learning_rate_that_is_not_finite_and_positive_is_refused(lr):
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        TrainConfig(lr=lr)


def test_a_loss_that_becomes_nan_stops_training_with_a_clear_error(tiny_config, tok, text, tmp_path):
    model = fresh(tiny_config)
    calls = {"n": 0}

    def poison(module, inputs, output):  # the 5th training step's loss is NaN, as after a too-large update
        if module.training and output[1] is not None:
            calls["n"] += 1
            if calls["n"] == 5:
                return output[0], output[1] * float("nan")

    model.register_forward_hook(poison)
    with pytest.raises(TrainingDiverged, match="step 5.*lower lr") as err:
        gptviz.train(model, tok, text, steps=10, eval_every=2, save_every=2, out=tmp_path / "run", **FAST)
    assert err.value.history["step"] == [0, 2, 4]
    assert not model.training
    saved, _ = gptviz.load(tmp_path / "run")  # the step-4 checkpoint is untouched by the NaN
    assert all(torch.isfinite(p).all() for p in saved.parameters())
    assert json.loads((tmp_path / "run" / CONFIG).read_text())["training"]["step"] == 4


# --------------------------------------------------------------------------- Ctrl-C in a notebook


def test_keyboard_interrupt_returns_the_history_so_far_in_eval_mode(tiny_config, tok, text, capsys):
    model = fresh(tiny_config)
    history = gptviz.train(model, tok, text, steps=20, eval_every=4, on_eval=stop_at(8), **FAST)
    assert history["step"] == [0, 4, 8] and history.stopped_at == 8
    assert not model.training
    assert "stopped at step 8 of 20" in capsys.readouterr().err


def test_ctrl_c_mid_interval_stops_after_that_step_with_a_row_for_it(tiny_config, tok, text):
    model = sigint_at(fresh(tiny_config), 6)  # Ctrl-C during step 6: that step finishes, then training stops
    history = gptviz.train(model, tok, text, steps=20, eval_every=4, **FAST)
    assert history["step"] == [0, 4, 6] and history.stopped_at == 6
    assert not model.training
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Ctrl-C works as usual again


# --------------------------------------------------------------------------- periodic checkpoints and resume


def test_a_resumed_run_ends_exactly_where_an_unstopped_run_ends(drop_config, tok, text, tmp_path):
    whole = fresh(drop_config)
    full = gptviz.train(whole, tok, text, steps=12, eval_every=4, save_every=5, out=tmp_path / "whole", **FAST)
    assert entries(tmp_path / "whole") == [CONFIG, HISTORY, WEIGHTS]  # a finished run keeps no resume data

    for stop, out in ((stop_at(8), "on_eval"), (None, "sigint")):
        model = fresh(drop_config)
        if stop is None:
            sigint_at(model, 7)
        part = gptviz.train(model, tok, text, steps=12, eval_every=4, save_every=5, on_eval=stop,
                            out=tmp_path / out, **FAST)
        assert part.stopped_at == (8 if stop else 7)
        assert STATE in entries(tmp_path / out)
        resumed = gptviz.load(tmp_path / out)[0]
        rest = gptviz.train(resumed, tok, text, out=tmp_path / out, resume=True, **FAST)
        assert same_weights(resumed, whole)  # bitwise
        assert rest["val_loss"] == full["val_loss"] and rest["train_loss"] == full["train_loss"]
        assert rest["step"] == [0, 4, 8, 12] and rest.stopped_at is None
        assert entries(tmp_path / out) == [CONFIG, HISTORY, WEIGHTS]
        assert same_weights(gptviz.load(tmp_path / out)[0], whole)


def test_periodic_checkpoints_are_loadable_while_training(tiny_config, tok, text, tmp_path):
    seen = []

    def look(model, row):
        if row["step"] in (4, 8):
            loaded, _ = gptviz.load(tmp_path / "run")  # the checkpoint of step 3, then 6
            seen.append(json.loads((tmp_path / "run" / CONFIG).read_text())["training"]["step"])
            assert loaded.config == model.config

    gptviz.train(fresh(tiny_config), tok, text, steps=10, eval_every=4, save_every=3, out=tmp_path / "run",
                 on_eval=look, **FAST)
    assert seen == [3, 6]


def test_resume_refuses_other_settings_and_finished_runs(tiny_config, tok, text, tmp_path):
    gptviz.train(fresh(tiny_config), tok, text, steps=8, eval_every=4, on_eval=stop_at(4), out=tmp_path / "r",
                 **FAST)
    model = gptviz.load(tmp_path / "r")[0]
    with pytest.raises(ValueError, match="lr: saved 0.001, given 0.5"):
        gptviz.train(model, tok, text, out=tmp_path / "r", resume=True, lr=0.5, **FAST)
    with pytest.raises(ValueError, match="training text differs"):
        gptviz.train(model, tok, text[::-1], out=tmp_path / "r", resume=True, **FAST)
    gptviz.train(model, tok, text, out=tmp_path / "r", resume=True, **FAST)
    with pytest.raises(ValueError, match="finished run"):
        gptviz.train(model, tok, text, out=tmp_path / "r", resume=True, **FAST)


# --------------------------------------------------------------------------- where checkpoints go


def test_train_refuses_an_existing_checkpoint_unless_overwrite(tiny_config, tok, text, tmp_path):
    out = tmp_path / "run"
    gptviz.train(fresh(tiny_config), tok, text, steps=2, eval_every=2, out=out, **FAST)
    before = (out / WEIGHTS).read_bytes()
    with pytest.raises(ValueError, match="already holds a checkpoint.*overwrite=True"):
        gptviz.train(fresh(tiny_config), tok, text, steps=2, out=out, **FAST)
    assert (out / WEIGHTS).read_bytes() == before


def test_a_second_writer_fails_clearly_and_leaves_the_first_ones_checkpoint(tiny_config, tok, text, tmp_path):
    out = tmp_path / "run"
    other = fresh(tiny_config, seed=5)

    def meanwhile(model, row):  # while this run trains, another one finishes in the same directory
        if row["step"] == 0:
            gptviz.train(other, tok, text, steps=2, eval_every=2, out=out, **FAST)

    with pytest.raises(FileExistsError, match="another writer"):
        gptviz.train(fresh(tiny_config), tok, text, steps=4, eval_every=2, out=out, on_eval=meanwhile, **FAST)
    assert same_weights(gptviz.load(out)[0], other)
    assert entries(tmp_path) == ["run"]  # no temporary directories left beside it


def test_a_failed_save_leaves_the_old_checkpoint_whole(tiny_model, tok, tmp_path):
    out = tmp_path / "m"
    gptviz.save(tiny_model, tok, out)
    before = {name: (out / name).read_bytes() for name in entries(out)}
    changed = gptviz.GPT(tiny_model.config)
    with pytest.raises(TypeError):  # fails after the weights are written: {1, 2} is not JSON
        gptviz.save(changed, tok, out, extra={"note": {1, 2}})
    assert {name: (out / name).read_bytes() for name in entries(out)} == before
    assert entries(tmp_path) == ["m"]


def test_save_never_replaces_a_directory_that_is_not_a_checkpoint(tiny_model, tok, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a gptviz checkpoint"):
        gptviz.save(tiny_model, tok, tmp_path)
    assert entries(tmp_path) == ["notes.txt"]


# --------------------------------------------------------------------------- the CLI


def tiny_args(text_path, out, steps=8):
    return ["train", "--text", str(text_path), "--steps", str(steps), "--out", str(out), "--n-layer", "1",
            "--n-head", "2", "--n-embd", "16", "--block-size", "16", "--batch-size", "4", "--eval-every", "4",
            "--device", "cpu"]


@pytest.fixture()
def text_path(tmp_path, text):
    path = tmp_path / "text.txt"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture()
def no_corpus(monkeypatch):
    """Fail if the CLI gets as far as reading the training text."""

    def refuse(path=None):
        raise AssertionError("the corpus was read before the options were checked")

    monkeypatch.setattr(gptviz.cli, "load_corpus", refuse)


def unwritable_dir(tmp_path):
    """A directory this process cannot write in: a read-only one, or (as root) a read-only mount; None if none."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    for candidate in (locked, "/sys"):
        try:
            os.mkdir(os.path.join(candidate, "gptviz-probe"))
        except OSError:
            return candidate
        os.rmdir(os.path.join(candidate, "gptviz-probe"))
    return None


def test_cli_checks_out_before_reading_or_training(tmp_path, text_path, capsys, no_corpus):
    (tmp_path / "file").write_text("x")
    cases = [(tmp_path / "file", "is a file"), (tmp_path / "file" / "sub", "cannot be written"),
             (tmp_path / ("x" * 300), "cannot be written")]
    locked = unwritable_dir(tmp_path)
    if locked is not None:
        cases.append((os.path.join(locked, "run"), "cannot be written"))
    for out, why in cases:
        before = entries(tmp_path)
        assert main(tiny_args(text_path, out)) == 2
        err = capsys.readouterr().err
        assert "--out" in err and why in err and "Traceback" not in err
        assert entries(tmp_path) == before  # nothing stray


@pytest.mark.parametrize("option, value, name", [("--seed", str(2**70), "seed"), ("--lr", "inf", "lr"),
                                                 ("--lr", "nan", "lr"), ("--steps", "0", "steps"),
                                                 ("--n-head", "3", "n_head"), ("--dropout", "1", "dropout"),
                                                 ("--save-every", "0", "save_every")])
def test_cli_checks_every_number_before_reading_or_training(tmp_path, text_path, capsys, no_corpus, option, value,
                                                            name):
    assert main(tiny_args(text_path, tmp_path / "run") + [option, value]) == 2
    err = capsys.readouterr().err
    assert f"error: {name}" in err and value.replace("inf", "inf") in err
    assert not (tmp_path / "run").exists()


def test_cli_refuses_to_overwrite_and_replaces_whole_with_overwrite(tmp_path, text_path, capsys, monkeypatch):
    out = tmp_path / "run"
    real_gpt = gptviz.cli.GPT
    monkeypatch.setattr(gptviz.cli, "GPT", lambda config: sigint_at(real_gpt(config), 3))
    assert main(tiny_args(text_path, out)) == 130  # stopped by a Ctrl-C: a resumable checkpoint is left
    assert f"--resume {out}" in capsys.readouterr().err
    assert STATE in entries(out)
    monkeypatch.setattr(gptviz.cli, "GPT", real_gpt)
    before = (out / WEIGHTS).read_bytes()
    assert main(tiny_args(text_path, out)) == 2
    err = capsys.readouterr().err
    assert "--overwrite" in err and "--resume" in err
    assert (out / WEIGHTS).read_bytes() == before
    assert main(tiny_args(text_path, out) + ["--overwrite", "--n-embd", "32"]) == 0  # another architecture
    assert entries(out) == [CONFIG, HISTORY, WEIGHTS]  # the old run's resume data is gone with it
    assert read_config(out)["model"]["n_embd"] == 32
    assert entries(tmp_path) == ["run", "text.txt"]


def test_cli_resume_gives_the_same_model_as_an_unstopped_run(tmp_path, text_path, capsys, monkeypatch):
    assert main(tiny_args(text_path, tmp_path / "whole", steps=10) + ["--fp16"]) == 0
    real_gpt = gptviz.cli.GPT
    monkeypatch.setattr(gptviz.cli, "GPT", lambda config: sigint_at(real_gpt(config), 6))
    assert main(tiny_args(text_path, tmp_path / "part", steps=10) + ["--fp16", "--save-every", "3"]) == 130
    assert main(["train", "--resume", str(tmp_path / "part"), "--steps", "12"]) == 2
    assert "drop --steps" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "part")]) == 0
    whole, part = load_file(str(tmp_path / "whole" / WEIGHTS)), load_file(str(tmp_path / "part" / WEIGHTS))
    assert whole.keys() == part.keys() and all(torch.equal(whole[k], part[k]) for k in whole)
    assert next(iter(part.values())).dtype == torch.float16  # --fp16 kept through the resume
    rows = [list(csv.DictReader(open(tmp_path / run / HISTORY))) for run in ("whole", "part")]
    assert [r["val_loss"] for r in rows[0]] == [r["val_loss"] for r in rows[1]]


def test_cli_names_an_empty_or_non_utf8_text_file(tmp_path, capsys):
    empty, latin = tmp_path / "empty.txt", tmp_path / "latin.txt"
    empty.write_text("")
    latin.write_bytes("café crème\n".encode("latin-1") * 50)
    for path, why in ((empty, "is empty"), (latin, "not UTF-8")):
        assert main(tiny_args(path, tmp_path / "run")) == 2
        err = capsys.readouterr().err
        assert str(path) in err and why in err
    assert entries(tmp_path) == ["empty.txt", "latin.txt"]


class _StopAfter:
    """A stdout that takes `n` characters after the prompt, then raises KeyboardInterrupt (a Ctrl-C while printing)."""

    def __init__(self, prompt, n):
        self.text, self.limit = "", len(prompt) + n

    def write(self, s):
        if len(self.text) >= self.limit and s and s != "\n":
            raise KeyboardInterrupt
        self.text += s
        return len(s)

    def flush(self):
        pass


def test_cli_generate_streams_and_stops_on_ctrl_c_with_what_it_has(tiny_model, tok, tmp_path, capsys, monkeypatch):
    gptviz.save(tiny_model, tok, tmp_path / "m")
    fake = _StopAfter("ROMEO", 5)
    monkeypatch.setattr("sys.stdout", fake)
    assert main(["generate", str(tmp_path / "m"), "--prompt", "ROMEO", "--max-new-tokens", "50", "--seed", "1"]) == 130
    expected = "ROMEO" + gptviz.generate(tiny_model, tok, "ROMEO", 5, temperature=0.8, seed=1)
    assert fake.text.rstrip("\n") == expected  # the first five characters were out before the sixth was drawn
    assert "stopped by Ctrl-C after 5 of 50" in capsys.readouterr().err


# --------------------------------------------------------------------------- the empty prompt


def test_an_empty_prompt_without_a_newline_in_the_vocabulary_is_a_clear_error(tmp_path, capsys):
    tok = gptviz.CharTokenizer.from_text("abc def")
    torch.manual_seed(0)
    model = gptviz.GPT(gptviz.GPTConfig(vocab_size=tok.vocab_size, block_size=8, n_layer=1, n_head=1, n_embd=8))
    for call in (lambda: gptviz.generate(model, tok, "", 5), lambda: gptviz.next_token_probs(model, tok, "")):
        with pytest.raises(ValueError, match="empty prompt.*no newline"):
            call()
    assert len(gptviz.generate(model, tok, "a", 5, seed=0)) == 5
    gptviz.save(model, tok, tmp_path / "m")
    assert main(["generate", str(tmp_path / "m"), "--max-new-tokens", "5"]) == 2
    err = capsys.readouterr().err
    assert "empty prompt" in err and "Traceback" not in err


def test_cli_says_where_an_empty_prompt_starts(tiny_model, tok, tmp_path, capsys):
    gptviz.save(tiny_model, tok, tmp_path / "m")
    assert main(["generate", str(tmp_path / "m"), "--max-new-tokens", "5", "--seed", "0"]) == 0
    assert "empty prompt: the model starts after a newline" in capsys.readouterr().err


# --------------------------------------------------------------------------- strict loading


def edit_config(directory, change):
    config = json.loads((directory / CONFIG).read_text())
    change(config)
    (directory / CONFIG).write_text(json.dumps(config))


@pytest.mark.parametrize("change, message", [
    (lambda c: c.update(format="gptviz-9"), "format 'gptviz-9'.*newer"),
    (lambda c: c.update(format="something"), "format 'something'.*not a gptviz checkpoint"),
    (lambda c: c.pop("format"), "format None"),
    (lambda c: c["model"].pop("n_head"), r"missing \['n_head'\]"),
    (lambda c: c["model"].update(n_heads=2), r"unknown \['n_heads'\]"),
    (lambda c: c["model"].update(n_head=4), "n_head=4 but the weights were saved with n_head=2"),
    (lambda c: c["tokenizer"].update(chars=c["tokenizer"]["chars"][::-1]), "tokenizer differs"),
])
def test_an_edited_config_is_refused(tiny_model, tok, tmp_path, change, message):
    gptviz.save(tiny_model, tok, tmp_path / "m")
    edit_config(tmp_path / "m", change)
    with pytest.raises(ValueError, match=message):
        gptviz.load(tmp_path / "m")


def test_old_checkpoints_still_load_and_upgrade_keeps_their_weights(tiny_model, tok, tmp_path):
    old = tmp_path / "old"
    gptviz.save(tiny_model, tok, old, dtype=torch.float16)
    tensors = load_file(str(old / WEIGHTS))
    save_file(tensors, str(old / WEIGHTS))  # as gptviz-1 wrote it: no record of the config
    edit_config(old, lambda c: c.update(format="gptviz-1"))
    with pytest.warns(UserWarning, match="old checkpoint"):
        model, _ = gptviz.load(old)
    assert torch.allclose(model.wte.weight, tiny_model.wte.weight, atol=1e-3)
    upgrade(old)
    after = load_file(str(old / WEIGHTS))
    assert all(after[k].dtype == torch.float16 and torch.equal(after[k], tensors[k]) for k in tensors)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gptviz.load(old)
    edit_config(old, lambda c: c["model"].update(n_head=1))
    with pytest.raises(ValueError, match="n_head"):
        gptviz.load(old)


def test_shipped_checkpoints_load_strictly_without_warnings():
    from gptviz.chat import chat_model_dir
    from gptviz.checkpoint import FORMAT, pretrained_dir

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for directory in (pretrained_dir(), chat_model_dir()):
            assert read_config(directory)["format"] == FORMAT
            gptviz.load(directory)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asking_for_cuda_without_it_says_so(tmp_path, tiny_model, tok):
    gptviz.save(tiny_model, tok, tmp_path / "m")
    for call in (lambda: gptviz.load(tmp_path / "m", device="cuda"), lambda: gptviz.pick_device("cuda")):
        with pytest.raises(ValueError, match="CUDA is not available.*device='cpu'"):
            call()
