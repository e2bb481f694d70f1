"""The key/value cache: generation with it gives exactly what generation without it gives."""

import pytest
import torch

import gptviz
from gptviz.ablation import ablated
from gptviz.model import KVCache, causal_attention


def test_cached_logits_match_a_full_pass_token_by_token(tiny_model, tok, text):
    ids = torch.tensor([tok.encode(text[:30])])
    full, _ = tiny_model(ids)
    cache = KVCache.empty(tiny_model.config.n_layer)
    step_logits = torch.cat([tiny_model(ids[:, t : t + 1], cache=cache)[0] for t in range(ids.size(1))], dim=1)
    assert len(cache) == ids.size(1)
    torch.testing.assert_close(step_logits, full, atol=1e-5, rtol=1e-5)


def test_cache_accepts_several_new_tokens_at_once(tiny_model, tok, text):
    ids = torch.tensor([tok.encode(text[:30])])
    full, _ = tiny_model(ids)
    cache = KVCache.empty(tiny_model.config.n_layer)
    first, _ = tiny_model(ids[:, :12], cache=cache)
    rest, _ = tiny_model(ids[:, 12:], cache=cache)  # 18 new queries against 30 keys: needs the shifted mask
    torch.testing.assert_close(torch.cat([first, rest], dim=1), full, atol=1e-5, rtol=1e-5)


def test_causal_attention_lines_up_short_queries_with_the_end():
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 10, 8) for _ in range(3))
    out, weights = causal_attention(q, k, v)
    tail_out, tail_weights = causal_attention(q[:, :, -4:], k, v)
    torch.testing.assert_close(tail_out, out[:, :, -4:])
    torch.testing.assert_close(tail_weights, weights[:, :, -4:])


@pytest.mark.parametrize("temperature, top_k, top_p",
                         [(1.0, None, None), (0.7, 5, None), (1.3, None, 0.8), (0, None, None)])
def test_generate_is_the_same_with_and_without_cache(tiny_model, tok, temperature, top_k, top_p):
    # 70 new tokens from a 6-token prompt crosses block_size=32: the window slides and the cache is dropped
    for seed in range(3):
        kwargs = dict(max_new_tokens=70, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed)
        assert gptviz.generate(tiny_model, tok, "ROMEO:", use_cache=True, **kwargs) == \
            gptviz.generate(tiny_model, tok, "ROMEO:", use_cache=False, **kwargs)


def test_cache_respects_ablation(tiny_model, tok, text):
    ids = torch.tensor([tok.encode(text[:20])])
    with ablated(tiny_model, heads=[(0, 1)], mlps=[1]):
        full, _ = tiny_model(ids)
        cache = KVCache.empty(tiny_model.config.n_layer)
        steps = torch.cat([tiny_model(ids[:, t : t + 1], cache=cache)[0] for t in range(20)], dim=1)
    torch.testing.assert_close(steps, full, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(full, tiny_model(ids)[0], atol=1e-4)  # the ablation did change something


def test_cache_cannot_grow_past_block_size(tiny_model, tok, text):
    cache = KVCache.empty(tiny_model.config.n_layer)
    tiny_model(torch.tensor([tok.encode(text[:32])]), cache=cache)
    with pytest.raises(ValueError, match="block_size"):
        tiny_model(torch.tensor([tok.encode("a")]), cache=cache)


def test_kv_cache_is_faster_and_equal_on_the_shipped_model(pretrained):
    from gptviz.baselines import kv_cache_timings
    model, tok = pretrained
    timings = kv_cache_timings(model, tok, lengths=(16, 128), repeats=1)
    assert timings["same_text"].all()
    assert timings["speedup"][-1] > 1.3  # measured ~2.5-4x for 128 tokens; one thread, CPU time
