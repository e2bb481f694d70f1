"""Chapter 07's experiments: each check the chapter makes passes on the real run and fails where its claim is false."""

import math

import numpy as np
import pytest

import gptviz
from gptviz import baselines, train_lab
from gptviz.data import Corpus
from gptviz.training import encode_ids


@pytest.fixture(scope="module")
def corpus():
    return gptviz.load_corpus()


def test_one_step_lowers_its_batchs_loss_and_a_step_uphill_fails_the_check(corpus, pretrained):
    tok = pretrained[1]
    before, after = train_lab.one_step(tok, encode_ids(corpus.train_text[:50_000], tok), maximize=False)
    assert abs(before - math.log(tok.vocab_size)) < 0.15 and after < before - 0.1
    before, after = train_lab.one_step(tok, encode_ids(corpus.train_text[:50_000], tok), maximize=True)
    assert not after < before - 0.1


def test_a_recurrent_lm_predicts_every_position_in_one_call_and_a_bidirectional_one_fails_the_check(tok):
    one, prefixes = train_lab.rnn_lm_one_pass_vs_prefixes(tok, "ROMEO:\nBut soft")
    assert one.shape == (len("ROMEO:\nBut soft"), tok.vocab_size) and np.allclose(one, prefixes, atol=1e-5)
    one, prefixes = train_lab.rnn_lm_one_pass_vs_prefixes(tok, "ROMEO:\nBut soft", bidirectional=True)
    assert not np.allclose(one, prefixes, atol=1e-5)  # reading ahead: position t sees the future
    with pytest.raises(ValueError, match="empty"):
        train_lab.rnn_lm_one_pass_vs_prefixes(tok, "")


def test_the_timing_check_passes_on_measurements_and_fails_if_the_recurrence_were_parallel():
    timings = baselines.loop_vs_parallel_timings(lengths=(8, 128), width=32, batch=1, repeats=3)
    growth = train_lab.recurrence_growth(timings)
    assert growth["nn.RNN"] > 4 and growth["attention"] < growth["nn.RNN"] / 2  # the notebook's check
    parallel = {**timings, "native_seconds": timings["parallel_seconds"]}  # an "RNN" as flat as one attention pass
    flat = train_lab.recurrence_growth(parallel)
    assert not (flat["nn.RNN"] > 4 and flat["attention"] < flat["nn.RNN"] / 2)
    with pytest.raises(ValueError, match="lengths"):
        train_lab.recurrence_growth(timings, short=16)


def test_the_learning_rate_check_fails_when_the_three_rates_are_the_same(pretrained, corpus, monkeypatch):
    tok = pretrained[1]
    steps = 30
    runs = {name: train_lab.lr_outcome(train_lab.lr_trial(tok, corpus, lr, steps=steps))
            for name, lr in train_lab.LEARNING_RATES.items()}
    margins = train_lab.lr_verdict(runs)
    assert margins["small - right (final)"] > 0.4 and margins["large: highest - start"] > 1
    assert margins["large - right (final)"] > 1
    same = train_lab.lr_outcome(train_lab.lr_trial(tok, corpus, train_lab.LEARNING_RATES["about right"], steps=steps))
    flat = train_lab.lr_verdict({name: same for name in train_lab.LEARNING_RATES})
    assert not (flat["small - right (final)"] > 0.4 or flat["large: highest - start"] > 1)


def test_the_overfitting_check_fails_when_validation_is_the_training_text(pretrained, corpus):
    tok = pretrained[1]
    gap = train_lab.overfit_gap(train_lab.overfit_run(tok, corpus, steps=150))
    assert gap["gap"] > 2.0 and gap["val climb"] > 0.5
    slice_ = corpus.train_text[:train_lab.OVERFIT_CHARS]
    same = train_lab.overfit_gap(train_lab.overfit_run(tok, Corpus("same", slice_, slice_), steps=150))
    assert not same["gap"] > 2.0 and not same["val climb"] > 0.5
    with pytest.raises(ValueError, match="chars"):
        train_lab.overfit_run(tok, corpus, chars=10)


def test_the_lr_slider_reuses_runs_and_refuses_a_bad_rate(pretrained, corpus, monkeypatch):
    tok = pretrained[1]
    calls = []
    monkeypatch.setattr(train_lab, "lr_trial", lambda tok, corpus, lr: calls.append(lr) or {"lr": lr})
    known = {1e-2: {"lr": 1e-2}}
    shown = train_lab.lr_comparison(tok, corpus, 0.1, known)
    assert calls == [0.1] and list(shown.values()) == [{"lr": 1e-2}, {"lr": 0.1}]
    train_lab.lr_comparison(tok, corpus, 0.1, known)
    assert calls == [0.1]  # the second time, no new run
    for bad in (0, -1.0, float("nan"), "0.1"):
        with pytest.raises(ValueError, match="lr must be"):
            train_lab.lr_comparison(tok, corpus, bad, known)


def test_perplexity_is_exp_of_the_loss():
    assert train_lab.perplexity(0.0) == 1.0
    assert train_lab.perplexity(math.log(77)) == pytest.approx(77)
