"""generate and next_token_probs: the rules of the public API."""

import numpy as np
import pytest
import torch

import gptviz
import gptviz.decoding
import gptviz.sampling
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


# --------------------------------------------------------------------------- repetition penalty and stop sequence

def test_penalty_and_stop_are_off_by_default(tiny_model, tok):
    for kwargs in (dict(temperature=0), dict(temperature=1.0, seed=3)):
        plain = gptviz.generate(tiny_model, tok, "ROMEO:", 40, **kwargs)
        assert gptviz.generate(tiny_model, tok, "ROMEO:", 40, repetition_penalty=None, stop=None, **kwargs) == plain
        assert gptviz.generate(tiny_model, tok, "ROMEO:", 40, repetition_penalty=1.0, **kwargs) == plain


def test_penalize_repeats_pushes_seen_tokens_down_whatever_their_sign():
    from gptviz.sampling import penalize_repeats
    logits = torch.tensor([2.0, -1.0, 0.5, -3.0])
    out = penalize_repeats(logits, [0, 1], 2.0)
    assert torch.equal(out, torch.tensor([1.0, -2.0, 0.5, -3.0]))  # CTRL's plain division would raise -1 to -0.5
    assert torch.equal(logits, torch.tensor([2.0, -1.0, 0.5, -3.0]))  # the input is left alone
    assert torch.equal(penalize_repeats(logits, [0, 1], None), logits)


def test_repetition_penalty_picks_the_favourite_of_the_penalized_logits(tiny_model, tok):
    from gptviz.sampling import next_token_logits, penalize_repeats
    plain = gptviz.generate(tiny_model, tok, "ROMEO:", 30, temperature=0)
    steps = gptviz.sampling.generation_steps(tiny_model, tok, "ROMEO:", 30, temperature=0, repetition_penalty=3.0)
    assert "".join(s.token for s in steps) != plain
    text = "ROMEO:"
    for step in steps:  # greedy on the penalized logits, with every token of the text so far pushed down
        logits = next_token_logits(tiny_model, torch.tensor([tok.encode(text)]))
        assert step.id == int(penalize_repeats(logits, tok.encode(text), 3.0).argmax())
        text += step.token
    assert any(s.rank > 1 for s in steps)  # the penalty really overruled the model's favourite somewhere


def test_stop_sequence_ends_generation_there(tiny_model, tok):
    full = gptviz.generate(tiny_model, tok, "ROMEO:", 60, temperature=1.0, seed=0)
    stop = full[10:12]
    at = full.index(stop) + len(stop)
    stopped = gptviz.generate(tiny_model, tok, "ROMEO:", 60, temperature=1.0, seed=0, stop=stop)
    assert stopped == full[:at] and stopped.endswith(stop) and len(stopped) < 60
    steps = gptviz.sampling.generation_steps(tiny_model, tok, "ROMEO:", 60, temperature=1.0, seed=0, stop=stop)
    assert "".join(s.token for s in steps) == stopped


@pytest.mark.parametrize("kwargs, name", [
    (dict(repetition_penalty=0.5), "repetition_penalty"), (dict(repetition_penalty=float("nan")), "repetition_penalty"),
    (dict(repetition_penalty="1.2"), "repetition_penalty"), (dict(stop=""), "stop"), (dict(stop=7), "stop"),
    (dict(stop="@"), "stop"),
])
def test_bad_penalty_and_stop_name_themselves(tiny_model, tok, kwargs, name):
    with pytest.raises(ValueError, match=name):
        gptviz.sampling.stream_steps(tiny_model, tok, "ROMEO", 5, **kwargs)


def test_generation_runs_on_one_thread_and_gives_the_threads_back(tiny_model, tok):
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        gptviz.generate(tiny_model, tok, "ROMEO:", 5, seed=0)
        gptviz.decoding.sample_texts(tiny_model, tok, "ROMEO:", 2, 5, seed=0)
        gptviz.decoding.beam_search(tiny_model, tok, "ROMEO:", 5, 2)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
