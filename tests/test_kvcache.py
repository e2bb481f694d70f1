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


def test_kv_cache_size_formula_matches_the_cache_tensors(tiny_model, tok, text, pretrained):
    from gptviz.decoding import cache_tensor_bytes, filled_cache, kv_cache_bytes
    c = tiny_model.config
    full = filled_cache(tiny_model, tok, text[: c.block_size])
    assert len(full) == c.block_size
    assert cache_tensor_bytes(full) == kv_cache_bytes(c.n_layer, c.block_size, c.n_embd, 4)
    assert cache_tensor_bytes(filled_cache(tiny_model, tok, text[:8])) == kv_cache_bytes(c.n_layer, 8, c.n_embd)
    model, ptok = pretrained
    m = model.config
    assert cache_tensor_bytes(filled_cache(model, ptok, text[:300])) == kv_cache_bytes(m.n_layer, 256, m.n_embd)
    assert kv_cache_bytes(4, 256, 192) == 1_572_864  # this model: 1.5 MiB
    assert kv_cache_bytes(96, 2048, 12288, 2) == 9_663_676_416  # GPT-3 175B in 16-bit: about 9.7 GB a sequence
    with pytest.raises(ValueError, match="d_model"):
        kv_cache_bytes(4, 256, 0)


def test_prefill_reads_the_prompt_far_cheaper_per_token_than_decoding(pretrained):
    from gptviz.baselines import prefill_decode_seconds
    model, tok = pretrained
    split = prefill_decode_seconds(model, tok, "ROMEO:\n" + "But soft, what light through yonder window? " * 3, 20, 2)
    assert split["prompt_tokens"] == 7 + 44 * 3 and split["new_tokens"] == 20
    assert split["prefill_per_token"] * 3 < split["decode_per_token"]  # measured ~25x; one thread, CPU time
    with pytest.raises(ValueError, match="block_size"):
        prefill_decode_seconds(model, tok, "a" * 250, 20)


# --------------------------------------------------------------------------- left padding: one batch, many lengths

PROMPTS = ["ROMEO:\nBut", "soft", "ROMEO:\nBut soft, what light", "w", "But soft, what"]


def left_padded(tok, prompts, fill):
    rows = [tok.encode(p) for p in prompts]
    width = max(len(r) for r in rows)
    ids = torch.tensor([[fill] * (width - len(r)) + r for r in rows])
    key_valid = torch.tensor([[False] * (width - len(r)) + [True] * len(r) for r in rows])
    return rows, ids, key_valid


@pytest.mark.parametrize("pos", ["learned", "sinusoidal", "none"])
def test_left_padded_batch_gives_every_prompt_its_own_logits(tiny_config, tok, pos):
    torch.manual_seed(0)
    model = gptviz.GPT(gptviz.GPTConfig(**{**tiny_config.to_dict(), "pos_encoding": pos})).eval()
    rows, ids, key_valid = left_padded(tok, PROMPTS, fill=tok.encode("y")[0])
    width = ids.size(1)
    cache = KVCache.empty(model.config.n_layer)
    with torch.no_grad():
        logits, _ = model(ids, cache=cache, key_valid=key_valid)
        next_ids = logits[:, -1].argmax(-1)
        step, _ = model(next_ids[:, None], cache=cache)  # the cache remembers where the padding is
        for i, row in enumerate(rows):
            alone, _ = model(torch.tensor([row + [int(next_ids[i])]]))
            torch.testing.assert_close(logits[i, width - len(row):], alone[0, :-1], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(step[i, -1], alone[0, -1], atol=1e-5, rtol=1e-5)
        # what the padding holds does not matter, and the default positions are the explicit ones
        _, other_fill, _ = left_padded(tok, PROMPTS, fill=tok.encode("R")[0])
        pad = (~key_valid).sum(1, keepdim=True)
        positions = (torch.arange(width)[None] - pad).clamp(min=0)
        again, _ = model(other_fill, key_valid=key_valid, positions=positions)
    torch.testing.assert_close(again[key_valid], logits[key_valid], atol=1e-5, rtol=1e-5)
    assert cache.key_valid.shape == (len(PROMPTS), width + 1) and len(cache) == width + 1


def test_explicit_path_hides_the_padding_too(tiny_model, tok):
    _, ids, key_valid = left_padded(tok, PROMPTS, fill=0)
    with torch.no_grad():
        fast, _ = tiny_model(ids, key_valid=key_valid)
        explicit, attention, _ = tiny_model.forward_traced(ids, key_valid=key_valid)
    torch.testing.assert_close(explicit[key_valid], fast[key_valid], atol=1e-5, rtol=1e-5)
    for row, valid in zip(attention, key_valid, strict=True):  # row (L, nh, T, T)
        on_padding = row[..., valid, :][..., ~valid]  # real queries' weights on the padding
        assert on_padding.numel() == 0 or on_padding.abs().max() == 0
    assert (~key_valid).sum() > 0


@pytest.mark.parametrize("pos", ["learned", "sinusoidal"])
def test_batched_greedy_decoding_equals_greedy_generate_per_prompt(tiny_config, tok, pos):
    from gptviz.chat import greedy_replies

    torch.manual_seed(1)
    model = gptviz.GPT(gptviz.GPTConfig(**{**tiny_config.to_dict(), "pos_encoding": pos})).eval()
    # 27 + 5 tokens fit in block_size=32: no prompt is cut and generate's window never slides
    replies = greedy_replies(model, tok, PROMPTS, max_new_tokens=5, stop=None)
    assert replies == [gptviz.generate(model, tok, p, 5, temperature=0, use_cache=False) for p in PROMPTS]
    assert len(set(replies)) > 1  # the prompts really lead to different replies


def test_padding_and_positions_are_checked(tiny_model, tok):
    ids = torch.tensor([tok.encode("ROMEO")])
    with pytest.raises(ValueError, match="key_valid"):
        tiny_model(ids, key_valid=torch.ones(1, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="positions"):
        tiny_model(ids, positions=torch.arange(5)[None] + 30)
    with pytest.raises(ValueError, match="positions"):
        tiny_model(ids, positions=torch.arange(4)[None])
