"""Head-role scores, attention reach, head ablation and the softmax-saturation measurement."""

import numpy as np
import pytest
import torch
from torch.nn import functional as F

import gptviz
from gptviz import heads
from gptviz.model import causal_attention


def causal_uniform(T):
    a = np.tril(np.ones((T, T)))
    return a / a.sum(1, keepdims=True)


def previous_token(T):
    a = np.zeros((T, T))
    a[0, 0] = 1
    a[np.arange(1, T), np.arange(T - 1)] = 1
    return a


def test_hand_attention_matches_torch_scaled_dot_product_attention():
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 9, 8) for _ in range(3))
    out, weights = causal_attention(q, k, v)
    assert torch.allclose(out, F.scaled_dot_product_attention(q, k, v, is_causal=True), atol=1e-5)
    assert torch.all(weights.triu(1) == 0) and torch.allclose(weights.sum(-1), torch.ones(2, 3, 9))


def test_role_masks_pick_the_right_keys():
    tokens = list("ab cd\nef")
    masks = heads.role_masks(tokens)
    assert masks["previous token"][4, 3] and not masks["previous token"][4, 2]
    assert masks["word start"][4, 3] and masks["word start"][1, 0]  # 'd' -> 'c', 'b' -> 'a'
    assert masks["word start"][2, 0]  # the space still belongs to the last word begun
    assert masks["line start"][7, 5] and not masks["line start"][4].any()
    assert masks["first position"][:, 0].all()
    same = heads.role_masks(list("abab"))["same character"]
    assert same[2, 0] and same[3, 1] and not same[2, 2] and not same[0].any()


def test_role_scores_of_a_previous_token_head_and_of_even_attention():
    T = 40
    tokens = [list("the cat sat on the mat\nand the dog sat up")[:T]]
    attention = np.stack([previous_token(T), causal_uniform(T)])[None, None]  # (1, 1, 2, T, T)
    roles = heads.role_scores(attention, tokens, skip=4)
    assert roles.scores["previous token"][0, 0] == pytest.approx(1.0)
    assert roles.scores["first position"][0, 0] == pytest.approx(0.0)
    for role in heads.ROLES:  # attention spread evenly scores exactly the chance level
        assert roles.scores[role][0, 1] == pytest.approx(roles.chance[role])
    assert roles.best_role(0, 0)[0] == "previous token"
    assert roles.best_role(0, 1)[0] == "spread out"
    assert "previous token" in roles.table()


def test_attention_reach_on_known_patterns():
    T = 32
    attention = np.stack([previous_token(T), causal_uniform(T)])[None, None]
    reach = heads.attention_reach(attention, far=8)
    assert reach.mean_distance[0, 0] == pytest.approx(1.0)
    assert reach.far_mass[0, 0] == pytest.approx(0.0)
    rows = np.arange(8, T)
    assert reach.far_mass[0, 1] == pytest.approx(np.mean((rows - 7) / (rows + 1)))
    assert reach.by_offset[0, 0, 1] == pytest.approx(1.0) and reach.by_offset[0, 0, 5] == 0


@pytest.mark.parametrize("call, name", [
    (lambda t: heads.text_windows("abc" * 50, t, 0, 10), "windows"),
    (lambda t: heads.text_windows("abc" * 50, t, 2, 1), "length"),
    (lambda t: heads.text_windows("abc" * 5, t, 2, 100), "length"),
    (lambda t: heads.role_scores(np.zeros((2, 2, 4, 4)), [list("abcd")]), "attention"),
    (lambda t: heads.attention_reach(np.zeros((1, 1, 1, 4, 4)), far=9), "far"),
    (lambda t: heads.softmax_saturation(dims=[0]), "dims"),
    (lambda t: heads.softmax_saturation(n_keys=1), "n_keys"),
])
def test_bad_arguments_are_named(call, name):
    tok = gptviz.CharTokenizer("abc")
    with pytest.raises(ValueError, match=name):
        call(tok)


def test_head_ablation_measures_each_head_and_restores_the_model(tiny_model, tok, text):
    ablation = heads.head_ablation(tiny_model, tok, text, windows=4, length=24)
    assert ablation.loss.shape == (2, 2) and np.isfinite(ablation.loss).all()
    ids = heads.text_windows(text, tok, 4, 25)
    assert ablation.base_loss == pytest.approx(heads.windows_loss(tiny_model, ids))
    assert np.abs(ablation.delta).max() > 0  # removing a head changes the loss
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in tiny_model.modules())  # all hooks removed
    head_size = tiny_model.config.n_embd // tiny_model.config.n_head
    by_hand = tiny_model.blocks[1].attn.c_proj.register_forward_pre_hook(  # zero layer 1, head 1's output
        lambda _m, args: (torch.cat([args[0][..., :head_size], torch.zeros_like(args[0][..., head_size:])], -1),))
    try:
        assert heads.windows_loss(tiny_model, ids) == pytest.approx(ablation.loss[1, 1], abs=1e-6)
    finally:
        by_hand.remove()


def test_softmax_saturates_without_the_square_root_scaling():
    result = heads.softmax_saturation(dims=(4, 64, 512), trials=300)
    raw, scaled = result["max_weight_raw"], result["max_weight_scaled"]
    assert raw[0] < raw[1] < raw[2] and raw[2] > 0.85
    assert max(scaled) - min(scaled) < 0.05  # scaled: the same spread whatever d
    assert result["grad_raw"][2] < 0.5 * result["grad_scaled"][2]


def test_shipped_model_has_measurable_head_roles(pretrained):
    model, tok = pretrained
    corpus = gptviz.load_corpus()
    roles = heads.head_roles(model, tok, corpus.val_text, windows=4, length=96)
    # some head is a previous-token head: far above the 2-3% that even attention would give
    assert roles.scores["previous token"].max() > 0.5
    assert roles.lift("word start").max() > 4 and roles.lift("line start").max() > 4
