"""RoPE (pos_encoding="rope"): q·k depends only on the offset, and the model works with every path it shares."""

import pytest
import torch

import gptviz
from gptviz import positions
from gptviz.model import KVCache, apply_rope, sinusoidal_encoding

PROMPTS = ["ROMEO:\nBut", "ROMEO:\nBut soft, what light", "w"]


def rope_model(tiny_config, seed=0, **changes):
    torch.manual_seed(seed)
    return gptviz.GPT(gptviz.GPTConfig(**{**tiny_config.to_dict(), "pos_encoding": "rope", **changes})).eval()


def test_rope_needs_an_even_head_size():
    with pytest.raises(ValueError, match="head size"):
        gptviz.GPTConfig(n_embd=30, n_head=2, pos_encoding="rope")  # head size 15
    assert gptviz.GPTConfig(n_embd=32, n_head=2, pos_encoding="rope").pos_encoding == "rope"


def test_rotation_keeps_lengths_and_position_zero_is_the_identity():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 7, 16)
    rotated = apply_rope(x, torch.arange(7))
    torch.testing.assert_close(rotated.norm(dim=-1), x.norm(dim=-1))
    torch.testing.assert_close(apply_rope(x, torch.zeros(7, dtype=torch.long)), x)
    assert not torch.allclose(rotated, x, atol=1e-3)


def test_rope_scores_depend_only_on_the_offset_and_added_codes_do_not():
    torch.manual_seed(0)
    q, k = torch.randn(16), torch.randn(16)
    starts = range(0, 100, 7)
    for offset in (0, 1, 5, 30):
        assert positions.score_spread_by_offset(positions.rope_score, q, k, offset, starts) < 1e-4
    # the same check fails for codes added to the input (sinusoidal, or a random table like a learned one)
    for table in (sinusoidal_encoding(140, 16), torch.randn(140, 16)):
        assert positions.score_spread_by_offset(positions.added_score(table), q, k, 3, starts) > 0.1
    assert positions.rope_score(q, k, 10, 7) != pytest.approx(positions.rope_score(q, k, 10, 3), abs=1e-3)


def test_sinusoid_dot_products_depend_only_on_the_offset_and_a_random_table_fails():
    sinusoid = sinusoidal_encoding(128, 64).numpy()
    assert all(positions.dot_spread_by_offset(sinusoid, k) < 1e-4 for k in (0, 1, 3, 40))
    torch.manual_seed(0)
    assert positions.dot_spread_by_offset(torch.randn(128, 64).numpy(), 3) > 0.5
    with pytest.raises(ValueError, match="offset"):
        positions.dot_spread_by_offset(sinusoid, 127)


def test_a_rope_model_sees_only_relative_positions(tiny_config, tok):
    ids = torch.tensor([tok.encode(PROMPTS[1])])
    assert positions.shift_logit_gap(rope_model(tiny_config), ids, 5) < 1e-4
    learned = gptviz.GPT(tiny_config).eval()  # absolute positions: moving the text changes the logits
    assert positions.shift_logit_gap(learned, ids, 5) > 1e-3


def test_rope_fast_and_explicit_paths_agree(tiny_config, tok):
    model = rope_model(tiny_config)
    ids = torch.tensor([tok.encode(PROMPTS[1])])
    with torch.no_grad():
        fast, _ = model(ids)
        explicit, attention, _ = model.forward_traced(ids)
    torch.testing.assert_close(explicit, fast, atol=1e-5, rtol=1e-5)
    assert attention.shape[-1] == ids.size(1)
    # the rotation changes the model: the same weights without it give other logits
    model.config.pos_encoding = "none"
    for block in model.blocks:
        block.attn.rope = False
    with torch.no_grad():
        assert not torch.allclose(model(ids)[0], fast, atol=1e-4)


def test_rope_cache_matches_a_full_pass_and_generation(tiny_config, tok):
    model = rope_model(tiny_config)
    ids = torch.tensor([tok.encode(PROMPTS[1])])
    with torch.no_grad():
        full, _ = model(ids)
        cache = KVCache.empty(model.config.n_layer)
        first, _ = model(ids[:, :10], cache=cache)
        steps = [model(ids[:, t : t + 1], cache=cache)[0] for t in range(10, ids.size(1))]
    torch.testing.assert_close(torch.cat([first, *steps], dim=1), full, atol=1e-5, rtol=1e-5)
    for seed in range(2):
        kwargs = dict(max_new_tokens=40, temperature=1.0, seed=seed)
        assert gptviz.generate(model, tok, "ROMEO:", use_cache=True, **kwargs) == \
            gptviz.generate(model, tok, "ROMEO:", use_cache=False, **kwargs)


def test_rope_left_padding_and_explicit_positions(tiny_config, tok):
    model = rope_model(tiny_config)
    rows = [tok.encode(p) for p in PROMPTS]
    width = max(len(r) for r in rows)
    fill = tok.encode("y")[0]
    ids = torch.tensor([[fill] * (width - len(r)) + r for r in rows])
    key_valid = torch.tensor([[False] * (width - len(r)) + [True] * len(r) for r in rows])
    cache = KVCache.empty(model.config.n_layer)
    with torch.no_grad():
        logits, _ = model(ids, cache=cache, key_valid=key_valid)
        next_ids = logits[:, -1].argmax(-1)
        step, _ = model(next_ids[:, None], cache=cache)
        traced, _, _ = model.forward_traced(ids, key_valid=key_valid)
        for i, row in enumerate(rows):
            alone, _ = model(torch.tensor([row + [int(next_ids[i])]]))
            torch.testing.assert_close(logits[i, width - len(row):], alone[0, :-1], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(step[i, -1], alone[0, -1], atol=1e-5, rtol=1e-5)
        pad = (~key_valid).sum(1, keepdim=True)
        explicit = (torch.arange(width)[None] - pad).clamp(min=0)
        again, _ = model(ids, key_valid=key_valid, positions=explicit)
    torch.testing.assert_close(again[key_valid], logits[key_valid], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(traced[key_valid], logits[key_valid], atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="positions"):
        model(ids[:1, :5], positions=torch.arange(5)[None] + 30)


def test_rope_checkpoint_round_trip(tiny_config, tok, tmp_path):
    model = rope_model(tiny_config)
    gptviz.save(model, tok, tmp_path / "rope")
    loaded, _ = gptviz.load(tmp_path / "rope")
    ids = torch.tensor([tok.encode(PROMPTS[0])])
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids)[0], model(ids)[0])
    assert loaded.config.pos_encoding == "rope"


def test_rope_learns_the_order_task():
    run = positions.train_which_first("rope", n_layer=1, seed=0, steps=300)
    assert run.accuracy > 0.9
    assert positions.reorder_gap(run.model) > 1.0
