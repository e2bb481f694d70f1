"""generate and next_token_probs: the rules of the public API."""

import numpy as np
import pytest
import torch

import gptviz
from gptviz.sampling import filter_probs


def test_next_token_probs_is_a_distribution(tiny_model, tok):
    probs = gptviz.next_token_probs(tiny_model, tok, "ROMEO")
    assert probs.shape == (tok.vocab_size,)
    assert probs.sum() == pytest.approx(1.0, abs=1e-9)
    assert (probs >= 0).all()


def test_same_seed_same_text_without_touching_the_global_rng(tiny_model, tok):
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = gptviz.generate(tiny_model, tok, "ROMEO:", 40, seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    b = gptviz.generate(tiny_model, tok, "ROMEO:", 40, seed=7)
    c = gptviz.generate(tiny_model, tok, "ROMEO:", 40, seed=8)
    assert a == b and a != c
    assert len(a) == 40


def test_temperature_zero_is_greedy(tiny_model, tok):
    text = gptviz.generate(tiny_model, tok, "ROMEO:", 5, temperature=0)
    probs = gptviz.next_token_probs(tiny_model, tok, "ROMEO:")
    assert text[0] == tok.chars[int(np.argmax(probs))]
    assert text == gptviz.generate(tiny_model, tok, "ROMEO:", 5, temperature=0, seed=99)


def test_empty_prompt_starts_from_a_newline(tiny_model, tok):
    assert gptviz.generate(tiny_model, tok, "", 10, seed=1) == gptviz.generate(tiny_model, tok, "\n", 10, seed=1)
    assert np.allclose(gptviz.next_token_probs(tiny_model, tok, ""), gptviz.next_token_probs(tiny_model, tok, "\n"))


def test_long_prompt_keeps_its_last_block(tiny_model, tok):
    tail = "But soft, what light through you"
    assert len(tail) == 32  # block_size of the tiny model
    long = "ROMEO:\n" * 20 + tail
    assert np.allclose(gptviz.next_token_probs(tiny_model, tok, long), gptviz.next_token_probs(tiny_model, tok, tail))
    assert len(gptviz.generate(tiny_model, tok, long, 50, seed=0)) == 50


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(temperature=-0.1), "temperature"),
        (dict(top_k=0), "top_k"),
        (dict(top_p=0.0), "top_p"),
        (dict(top_p=1.5), "top_p"),
        (dict(max_new_tokens=-1), "max_new_tokens"),
    ],
)
def test_bad_sampling_arguments_name_themselves(tiny_model, tok, kwargs, name):
    with pytest.raises(ValueError, match=name):
        gptviz.generate(tiny_model, tok, "ROMEO", **kwargs)


def test_unknown_prompt_characters_are_refused(tiny_model, tok):
    with pytest.raises(ValueError, match="'@'"):
        gptviz.generate(tiny_model, tok, "hi @", 5)


def test_top_k_and_top_p_cut_the_distribution():
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    assert torch.allclose(filter_probs(logits, top_k=2), torch.tensor([0.625, 0.375, 0, 0], dtype=torch.float64))
    # the nucleus: the smallest set of top tokens whose mass reaches top_p
    assert torch.allclose(filter_probs(logits, top_p=0.8), torch.tensor([0.625, 0.375, 0, 0], dtype=torch.float64))
    nucleus = torch.tensor([0.5, 0.3, 0.15, 0], dtype=torch.float64) / 0.95
    assert torch.allclose(filter_probs(logits, top_p=0.81), nucleus)
    assert torch.equal(filter_probs(logits, temperature=0), torch.tensor([1.0, 0, 0, 0], dtype=torch.float64))
    sharper = filter_probs(logits, temperature=0.5)
    assert sharper[0] > 0.5 and torch.isclose(sharper.sum(), torch.tensor(1.0, dtype=torch.float64))
