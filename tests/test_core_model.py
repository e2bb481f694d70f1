"""The GPT itself: configuration checks, causality, the two attention paths, inspect."""

import numpy as np
import pytest
import torch
from torch.nn import functional as F

import gptviz
from gptviz.model import causal_attention, sinusoidal_encoding


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(n_embd=30, n_head=4), "n_head"),
        (dict(n_layer=0), "n_layer"),
        (dict(vocab_size=-1), "vocab_size"),
        (dict(block_size=0), "block_size"),
        (dict(dropout=1.5), "dropout"),
        (dict(pos_encoding="rotary"), "pos_encoding"),
    ],
)
def test_config_rejects_bad_values_naming_the_field(kwargs, name):
    with pytest.raises(ValueError, match=name):
        gptviz.GPTConfig(**kwargs)


@pytest.mark.parametrize("pos", ["learned", "sinusoidal", "none"])
def test_changing_a_later_token_never_changes_an_earlier_prediction(tiny_config, pos):
    torch.manual_seed(0)
    model = gptviz.GPT(gptviz.GPTConfig(**{**tiny_config.to_dict(), "pos_encoding": pos})).eval()
    idx = torch.randint(0, tiny_config.vocab_size, (1, 20))
    changed = idx.clone()
    changed[0, 12:] = (changed[0, 12:] + 1) % tiny_config.vocab_size
    with torch.no_grad():
        a, _ = model(idx)
        b, _ = model(changed)
    assert torch.allclose(a[0, :12], b[0, :12], atol=1e-6)
    assert not torch.allclose(a[0, 12:], b[0, 12:], atol=1e-4)


def test_fast_and_explicit_attention_paths_agree(tiny_model, tiny_config):
    idx = torch.randint(0, tiny_config.vocab_size, (3, 25))
    with torch.no_grad():
        fast, _ = tiny_model(idx)
        explicit, attention, hidden = tiny_model.forward_traced(idx)
    assert torch.allclose(fast, explicit, atol=1e-5)
    assert attention.shape == (3, 2, 2, 25, 25)
    assert hidden.shape == (3, 3, 25, 32)


def test_hand_written_attention_matches_torch():
    torch.manual_seed(1)
    q, k, v = torch.randn(3, 2, 4, 9, 8).unbind(0)
    ours, weights = causal_attention(q, k, v)
    assert torch.allclose(ours, F.scaled_dot_product_attention(q, k, v, is_causal=True), atol=1e-6)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 4, 9))
    assert torch.all(weights.triu(1) == 0)


def test_sinusoidal_encoding_matches_the_formula():
    pe = sinusoidal_encoding(50, 16)
    pos, i = 37, 3
    assert pe[pos, 2 * i].item() == pytest.approx(np.sin(pos / 10000 ** (2 * i / 16)), abs=1e-5)
    assert pe[pos, 2 * i + 1].item() == pytest.approx(np.cos(pos / 10000 ** (2 * i / 16)), abs=1e-5)


def test_weights_are_tied(tiny_model):
    assert tiny_model.lm_head.weight.data_ptr() == tiny_model.wte.weight.data_ptr()


def test_too_long_input_is_a_clear_error(tiny_model, tiny_config):
    with pytest.raises(ValueError, match="block_size"):
        tiny_model(torch.zeros(1, tiny_config.block_size + 1, dtype=torch.long))


def test_inspect_returns_every_stage(tiny_model, tok):
    text = "But soft, what light"
    tr = gptviz.inspect(tiny_model, tok, text)
    T = len(text)
    assert tr.tokens == list(text)
    assert tr.attention.shape == (2, 2, T, T)
    assert np.allclose(tr.attention.sum(-1), 1.0)
    assert np.all(np.triu(tr.attention, 1) == 0)
    assert tr.probs.shape == (T, tok.vocab_size)
    assert np.allclose(tr.probs.sum(-1), 1.0)
    assert tr.hidden.shape == (3, T, 32)
    # the last position's distribution is what next_token_probs reports
    assert np.allclose(tr.probs[-1], gptviz.next_token_probs(tiny_model, tok, text), atol=1e-6)


def test_inspect_rejects_text_longer_than_the_block(tiny_model, tok):
    with pytest.raises(ValueError, match="block_size=32"):
        gptviz.inspect(tiny_model, tok, "a" * 33)
    with pytest.raises(ValueError, match="at least one"):
        gptviz.inspect(tiny_model, tok, "")


def test_ablation_changes_the_output_and_is_undone(tiny_model, tiny_config):
    from gptviz.ablation import ablated

    idx = torch.randint(0, tiny_config.vocab_size, (1, 16))
    with torch.no_grad():
        before = tiny_model(idx)[0]
        with ablated(tiny_model, heads=[(1, 0)], mlps=[0]):
            during = tiny_model(idx)[0]
        after = tiny_model(idx)[0]
    assert not torch.allclose(before, during, atol=1e-5)
    assert torch.equal(before, after)
    with pytest.raises(ValueError, match="head"):
        with ablated(tiny_model, heads=[(0, 5)]):
            pass


def test_dropout_is_the_same_on_both_attention_paths(tiny_config):
    torch.manual_seed(0)
    model = gptviz.GPT(gptviz.GPTConfig(**{**tiny_config.to_dict(), "dropout": 0.3})).train()
    idx = torch.randint(0, tiny_config.vocab_size, (2, 20))
    with torch.no_grad():
        torch.manual_seed(5)
        fast, _ = model(idx)
        torch.manual_seed(5)  # the same random draws: the same dropped weights on both paths
        explicit, attention, _ = model.forward_traced(idx)
        evaluated, _ = model.eval()(idx)
    torch.testing.assert_close(explicit, fast, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(fast, evaluated, atol=1e-3)  # dropout really was on
    seen = attention[..., torch.ones(20, 20, dtype=torch.bool).tril()]  # weights a query may use
    assert (seen == 0).float().mean() > 0.2  # about 30% dropped: the explicit path drops attention weights too


def test_evaluating_restores_every_module_mode_even_after_an_error(tiny_model):
    from gptviz.model import evaluating

    tiny_model.train()
    tiny_model.blocks[0].eval()  # a mixed state must come back as it was, not as "all train"
    with pytest.raises(RuntimeError, match="inside"), evaluating(tiny_model) as model:
        assert model is tiny_model and not any(m.training for m in tiny_model.modules())
        raise RuntimeError("inside")
    assert tiny_model.training and tiny_model.blocks[1].training
    assert not any(m.training for m in tiny_model.blocks[0].modules())
    tiny_model.eval()
    with evaluating(tiny_model):
        pass
    assert not tiny_model.training


def test_helpers_that_switch_to_eval_restore_training_mode(tiny_model, tok, text):
    from gptviz import chat

    tiny_model.train()
    gptviz.next_token_probs(tiny_model, tok, "ROMEO")
    gptviz.inspect(tiny_model, tok, "ROMEO")
    gptviz.generate(tiny_model, tok, "ROMEO", max_new_tokens=3)
    chat.greedy_replies(tiny_model, tok, ["ROMEO", "But"], max_new_tokens=3)
    assert all(m.training for m in tiny_model.modules())
