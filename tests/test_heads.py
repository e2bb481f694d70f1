"""Head-role scores, attention reach, head ablation and the softmax-saturation measurement."""

import copy

import numpy as np
import pytest
import torch
from torch.nn import functional as F

import gptviz
from gptviz import head_jobs, heads
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


def test_role_masks_pick_the_right_keys_and_keep_positional_roles_apart():
    tokens = list("abcdef gh\nijklmn")
    masks = heads.role_masks(tokens)
    assert masks["previous token"][4, 3] and not masks["previous token"][4, 2]
    assert masks["word start"][4, 0] and masks["word start"][6, 0]  # 'e' -> 'a'; the space still in that word
    assert not masks["word start"][1].any() and not masks["word start"][3].any()  # within 3 back: positional
    assert masks["line start"][15, 9] and not masks["line start"][11].any() and not masks["line start"][8].any()
    assert masks["first position"][4:, 0].all() and not masks["first position"][3].any()
    same = heads.role_masks(list("abcdab"))["same character"]
    assert same[4, 0] and same[5, 1] and not same[0].any()  # copies four back count
    assert not heads.role_masks(list("abcab"))["same character"].any()  # three back: that is "three back"
    near = sum(masks[r].astype(int) for r in ("previous token", "two back", "three back", "same token"))
    far = sum(masks[r].astype(int) for r in ("same character", "word start", "line start", "first position"))
    assert near.max() == 1 and not (near & far).any()  # no key counts for a positional role and another


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
    assert roles.called_role(0, 0) == "previous token" and roles.called_role(0, 1) == heads.NO_ROLE
    assert roles.called_roles() == {(0, 0): "previous token", (0, 1): heads.NO_ROLE}
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


def damage_of(profiles) -> head_jobs.PositionDamage:
    """A PositionDamage with the given per-head damage profiles (one layer)."""
    damage = np.array(profiles, dtype=float)[None]  # (1, H, n_class)
    n = len(head_jobs.POSITION_CLASSES)
    return head_jobs.PositionDamage(head_jobs.POSITION_CLASSES, np.full(n, 1 / n), np.ones(n), damage,
                                    damage.mean(-1), "zero")


def test_distinct_jobs_needs_a_double_dissociation():
    inside, deep, line_end = [1.0, 2, 1, 1, 1, 1, 1], [0.1, 0.1, 0.2, 0.5, 0.2, 0.2, 0.05], [0, 0, 0, 0, 0, 0.1, 0.4]
    jobs = head_jobs.distinct_jobs(damage_of([inside, deep, line_end]))
    assert jobs.heads == [(0, 0), (0, 1), (0, 2)] and len(jobs.witness) == 3
    same_job = [[2 * x for x in deep], deep, [0.5 * x for x in deep]]  # one profile, three sizes
    assert len(head_jobs.distinct_jobs(damage_of(same_job)).heads) == 1
    too_small = [[x / 100 for x in p] for p in (inside, deep, line_end)]  # the same shapes, all below 0.05 nats
    assert len(head_jobs.distinct_jobs(damage_of(too_small)).heads) <= 1
    assert len(head_jobs.distinct_jobs(damage_of([inside, deep, line_end]), among=[(0, 0), (0, 2)]).heads) == 2
    with pytest.raises(ValueError, match="min_ratio"):
        head_jobs.distinct_jobs(damage_of([inside]), min_ratio=1)


def test_position_classes_cover_every_prediction_once(tok, text):
    ids = heads.text_windows(text, tok, 3, 40)
    classes = head_jobs.position_classes(ids, tok)
    total = sum(m.astype(int) for m in classes.values())
    assert total.shape == (3, 39) and (total == 1).all()
    row = [tok.chars[i] for i in ids[0].tolist()]
    for t in range(39):
        target = row[t + 1]
        if target == "\n":
            assert classes["line end"][0, t]
        elif target.isalpha() and not row[t].isalpha():
            assert classes["1st letter"][0, t]


def jobs_of(model, tok, corpus, ids):
    """The chapter's check: heads with a called attention role whose ablations hurt different predictions."""
    named = heads.head_roles(model, tok, corpus.val_text, windows=8, length=128).named_heads()
    return head_jobs.distinct_jobs(head_jobs.ablation_by_position(model, tok, ids), among=named)


def test_distinct_jobs_of_the_shipped_model_and_of_broken_ones(pretrained):
    model, tok = pretrained
    corpus = gptviz.load_corpus()
    ids = heads.text_windows(corpus.val_text, tok, 8, 129, seed=0)
    assert len(jobs_of(model, tok, corpus, ids).heads) >= 3
    torch.manual_seed(0)
    untrained = gptviz.GPT(model.config).eval()  # the same architecture, heads with no job yet
    assert len(jobs_of(untrained, tok, corpus, ids).heads) < 3
    assert len(head_jobs.distinct_jobs(head_jobs.ablation_by_position(untrained, tok, ids)).heads) < 3  # even among all
    shuffled = gptviz.GPT(model.config).eval()  # the trained weights, each matrix's entries shuffled
    shuffled.load_state_dict({k: v.flatten()[torch.randperm(v.numel())].view_as(v) if v.dim() > 1 else v
                              for k, v in model.state_dict().items()})
    assert len(jobs_of(shuffled, tok, corpus, ids).heads) < 3


def test_direct_and_total_effects(tiny_model, tok, text):
    ids = heads.text_windows(text, tok, 4, 25)
    effects = head_jobs.direct_and_total(tiny_model, ids, [(0, 0), (1, 1)])
    assert set(effects) == {(0, 0), (1, 1)} and all(np.isfinite(v).all() for v in effects.values())
    model = copy.deepcopy(tiny_model)
    hs = model.config.n_embd // model.config.n_head
    with torch.no_grad():
        model.blocks[1].attn.c_proj.weight[:, hs:] = 0  # head (1, 1) now writes nothing
    direct, total = head_jobs.direct_and_total(model, ids, [(1, 1)])[1, 1]
    assert direct == pytest.approx(0, abs=1e-6) and total == pytest.approx(0, abs=1e-6)
    mean = head_jobs.direct_and_total(tiny_model, ids, [(1, 1)], mode="mean", reference=ids)[1, 1]
    assert mean != effects[1, 1]  # the mean output is not zero
    with pytest.raises(ValueError, match="mode"):
        head_jobs.direct_and_total(tiny_model, ids, [(0, 0)], mode="half")


def test_head_count_sweep_keeps_width_and_size(monkeypatch):
    result = heads.head_count_sweep(n_heads=(1, 2), seeds=(0,), model={"n_layer": 1, "n_embd": 16, "block_size": 16},
                                    train={"steps": 2, "eval_batches": 1, "warmup_steps": 1}, log=None)
    assert result["params"]["1"] == result["params"]["2"]
    assert len(result["val_loss"]["1"]) == 1 and np.isfinite(result["val_loss"]["2"][0])
    with pytest.raises(ValueError, match="n_heads"):
        heads.head_count_sweep(n_heads=(3,), seeds=(0,), log=None)


def test_head_grid_labels_every_token():
    from gptviz.plots import head_grid

    tokens = list("to be\nor")
    attention = np.tile(causal_uniform(len(tokens)), (2, 3, 1, 1))
    fig = head_grid(attention, tokens, subtitles={(0, 0): "previous token"})
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["t", "o", "␣", "b", "e", "⏎", "o", "r"] * 3
    assert len(ax.get_yticklabels()) == 2 * len(tokens)
    assert any("previous token" in t.get_text() for t in ax.texts)
    with pytest.raises(ValueError, match="attention"):
        head_grid(attention[0], tokens)


def test_head_grid_explorer_takes_lines_runs_the_whole_text_and_keeps_each_picture(tiny_model, tok):
    import ipywidgets

    from gptviz.widgets import attention as W

    box = W.head_grid_explorer(tiny_model, tok, "ROMEO:\nBut soft", last=8)
    assert isinstance(box.children[0].children[0], ipywidgets.Textarea)
    text = "ROMEO:\nBut soft, what light"
    fig = W.head_grid_figure(tiny_model, tok, text, last=6)
    whole = gptviz.inspect(tiny_model, tok, text).attention[:, :, -6:, -6:]
    np.testing.assert_allclose(fig.axes[0].images[0].get_array()[:6, :6], whole[0, 0], atol=1e-6)  # not re-run
    render = box.render
    first = render(text, 6).data
    assert render(text, 8).data != first and render(text, 6).data == first
