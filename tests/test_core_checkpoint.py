"""Checkpoints: safetensors + JSON, round trip, and every way a file can be wrong."""

import json
import pickle
import time

import numpy as np
import pytest
import torch

import gptviz
from gptviz.checkpoint import CONFIG, WEIGHTS


def test_round_trip(tiny_model, tok, tmp_path):
    gptviz.save(tiny_model, tok, tmp_path)
    model, tok2 = gptviz.load(tmp_path)
    assert tok2.chars == tok.chars
    assert model.config == tiny_model.config
    idx = torch.tensor([tok.encode("ROMEO")])
    with torch.no_grad():
        assert torch.equal(model(idx)[0], tiny_model(idx)[0])
    assert model.lm_head.weight.data_ptr() == model.wte.weight.data_ptr()  # tying survives loading


def test_half_precision_round_trip_is_close(tiny_model, tok, tmp_path):
    gptviz.save(tiny_model, tok, tmp_path, dtype=torch.float16)
    model, _ = gptviz.load(tmp_path)
    a = gptviz.next_token_probs(model, tok, "ROMEO")
    b = gptviz.next_token_probs(tiny_model, tok, "ROMEO")
    assert np.abs(a - b).max() < 1e-3


def test_missing_directory_and_files(tiny_model, tok, tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        gptviz.load(tmp_path / "nowhere")
    gptviz.save(tiny_model, tok, tmp_path)
    (tmp_path / WEIGHTS).unlink()
    with pytest.raises(FileNotFoundError, match=WEIGHTS):
        gptviz.load(tmp_path)
    (tmp_path / CONFIG).unlink()
    with pytest.raises(FileNotFoundError, match=CONFIG):
        gptviz.load(tmp_path)


def test_truncated_weights_are_a_clear_error(tiny_model, tok, tmp_path):
    gptviz.save(tiny_model, tok, tmp_path)
    data = (tmp_path / WEIGHTS).read_bytes()
    (tmp_path / WEIGHTS).write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=str(tmp_path / WEIGHTS)):
        gptviz.load(tmp_path)


def test_weights_that_do_not_match_the_config(tiny_model, tok, tmp_path):
    gptviz.save(tiny_model, tok, tmp_path)
    config = json.loads((tmp_path / CONFIG).read_text())
    config["model"]["n_embd"] = 64
    (tmp_path / CONFIG).write_text(json.dumps(config))
    with pytest.raises(ValueError, match="does not match"):
        gptviz.load(tmp_path)


def test_bad_json_is_a_clear_error(tiny_model, tok, tmp_path):
    gptviz.save(tiny_model, tok, tmp_path)
    (tmp_path / CONFIG).write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        gptviz.load(tmp_path)


class _Trap:
    """Unpickling this would create a marker file: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_in_place_of_the_weights_is_refused_without_running_it(tiny_model, tok, tmp_path):
    gptviz.save(tiny_model, tok, tmp_path)
    marker = tmp_path / "pwned"
    (tmp_path / WEIGHTS).write_bytes(pickle.dumps({"wte.weight": _Trap(str(marker))}))
    with pytest.raises(ValueError, match="not a valid safetensors"):
        gptviz.load(tmp_path)
    assert not marker.exists()
    # the same bytes really would have run code if unpickled
    pickle.loads((tmp_path / WEIGHTS).read_bytes())
    assert marker.exists()


def test_pretrained_model_loads_offline_and_fast():
    start = time.perf_counter()
    model, tok = gptviz.load_pretrained()
    assert time.perf_counter() - start < 5  # < 1 s on a laptop; generous for a busy CI core
    assert tok.vocab_size == model.config.vocab_size
    assert not model.training


def test_pretrained_model_is_small_enough_to_ship():
    from gptviz.checkpoint import pretrained_dir

    assert (pretrained_dir() / WEIGHTS).stat().st_size <= 4 * 1024 * 1024
