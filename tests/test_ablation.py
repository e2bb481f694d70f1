"""Ablation by forward hooks: zero or mean, nested blocks, any iterable, clear errors, nothing left behind."""

import pytest
import torch

from gptviz.ablation import MeanActivations, ablated, mean_activations
from gptviz.model import causal_attention


@pytest.fixture()
def ids(tok, text):
    return torch.tensor([tok.encode(text[:24]), tok.encode(text[30:54])])


def logits(model, ids):
    with torch.no_grad():
        return model(ids)[0]


def no_hooks(model):
    return not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_nested_blocks_combine_and_each_exit_restores_the_state_before_it(tiny_model, ids):
    clean = logits(tiny_model, ids)
    with ablated(tiny_model, heads=[(0, 1)], mlps=[1]):
        both = logits(tiny_model, ids)
    with ablated(tiny_model, heads=[(0, 1)]):
        heads_only = logits(tiny_model, ids)
        with ablated(tiny_model, mlps=[1]):  # must not cancel the outer head ablation
            assert torch.equal(logits(tiny_model, ids), both)
        assert torch.equal(logits(tiny_model, ids), heads_only)  # back to the outer state, not to the default
        with pytest.raises(RuntimeError, match="inside"), ablated(tiny_model, mlps=[0]):
            raise RuntimeError("inside")
        assert torch.equal(logits(tiny_model, ids), heads_only)
    assert torch.equal(logits(tiny_model, ids), clean) and no_hooks(tiny_model)
    assert not torch.allclose(heads_only, clean, atol=1e-4) and not torch.allclose(both, heads_only, atol=1e-4)


def test_inner_ablation_of_the_same_head_wins_then_gives_way(tiny_model, ids):
    with ablated(tiny_model, heads=[(1, 0)]):
        zeroed = logits(tiny_model, ids)
        with ablated(tiny_model, heads=[(1, 0)], mode="mean", reference=ids):
            inner = logits(tiny_model, ids)
        assert torch.equal(logits(tiny_model, ids), zeroed)
    with ablated(tiny_model, heads=[(1, 0)], mode="mean", reference=mean_activations(tiny_model, ids)):
        assert torch.equal(logits(tiny_model, ids), inner)
    assert not torch.allclose(inner, zeroed, atol=1e-4)


def test_means_are_measured_without_the_ablations_around_them(tiny_model, ids):
    clean = mean_activations(tiny_model, ids)
    with ablated(tiny_model, heads=[(0, 0), (1, 1)], mlps=[0]):
        before = logits(tiny_model, ids)
        inside = mean_activations(tiny_model, ids)
        assert torch.equal(logits(tiny_model, ids), before)  # the ablation is back once measured
    assert not torch.allclose(before, logits(tiny_model, ids), atol=1e-4)
    assert torch.equal(inside.heads, clean.heads) and torch.equal(inside.mlps, clean.mlps)


def test_any_iterable_works_and_is_read_once(tiny_model, ids):
    with ablated(tiny_model, heads=[(0, 0), (1, 1)], mlps=[0]):
        expected = logits(tiny_model, ids)
    heads = ((layer, head) for layer, head in [(0, 0), (1, 1)])
    with ablated(tiny_model, heads=heads, mlps=(layer for layer in [0])):
        assert torch.equal(logits(tiny_model, ids), expected)
    with ablated(tiny_model, heads={(0, 0): "", (1, 1): ""}, mlps=range(1)):
        assert torch.equal(logits(tiny_model, ids), expected)
    assert not torch.allclose(expected, logits(tiny_model, ids), atol=1e-4)


def watch(module, seen, name, pre=True):
    """Record what `module` reads (pre) or returns; registered inside `ablated`, so it runs after its hooks."""
    if pre:
        return module.register_forward_pre_hook(lambda _m, args: seen.update({name: args[0]}))
    return module.register_forward_hook(lambda _m, _args, out: seen.update({name: out}))


def test_zero_ablation_of_a_head_zeroes_its_slice_of_the_attention_output(tiny_model, ids):
    c_proj = tiny_model.blocks[1].attn.c_proj
    seen = {}
    with ablated(tiny_model, heads=[(1, 1)]):
        hook = watch(c_proj, seen, "ablated")
        logits(tiny_model, ids)
        hook.remove()
    hook = watch(c_proj, seen, "clean")
    logits(tiny_model, ids)
    hook.remove()
    head_size = tiny_model.config.n_embd // tiny_model.config.n_head
    assert seen["ablated"][..., head_size:].abs().max() == 0 < seen["clean"][..., head_size:].abs().max()
    assert torch.equal(seen["ablated"][..., :head_size], seen["clean"][..., :head_size])  # the other head is untouched


def test_zero_ablation_of_an_mlp_skips_it(tiny_model, ids):
    with torch.no_grad(), ablated(tiny_model, mlps=[0, 1]):
        _, _, hidden = tiny_model.forward_traced(ids)
    block = tiny_model.blocks[0]
    with torch.no_grad():
        expected = hidden[:, 0] + block.attn(block.ln_1(hidden[:, 0]))[0]  # attention only, no MLP
    torch.testing.assert_close(hidden[:, 1], expected)


def test_mean_activations_are_the_averages_computed_by_hand(tiny_model, ids, tok, text):
    means = mean_activations(tiny_model, ids)
    cfg = tiny_model.config
    assert means.heads.shape == (cfg.n_layer, cfg.n_head, cfg.n_embd // cfg.n_head)
    assert means.mlps.shape == (cfg.n_layer, cfg.n_embd)
    with torch.no_grad():
        _, _, hidden = tiny_model.forward_traced(ids)
        for layer, block in enumerate(tiny_model.blocks):
            x = hidden[:, layer]
            B, T, C = x.shape
            q, k, v = block.attn.c_attn(block.ln_1(x)).split(C, dim=2)
            q, k, v = (t.view(B, T, cfg.n_head, -1).transpose(1, 2) for t in (q, k, v))
            heads_out, _ = causal_attention(q, k, v)  # (B, nh, T, hs)
            torch.testing.assert_close(means.heads[layer], heads_out.mean(dim=(0, 2)), atol=1e-5, rtol=1e-4)
            attn_out = block.attn(block.ln_1(x))[0]
            mlp_out = hidden[:, layer + 1] - x - attn_out
            torch.testing.assert_close(means.mlps[layer], mlp_out.mean(dim=(0, 1)), atol=1e-5, rtol=1e-4)
    windows = torch.tensor(tok.encode(text[:64])).view(2, 32)
    long = mean_activations(tiny_model, windows.flatten())  # one long text, read in block_size windows
    torch.testing.assert_close(long.heads, mean_activations(tiny_model, windows).heads)


def test_mean_ablation_puts_the_mean_in_place_of_the_output(tiny_model, ids, tok, text):
    means = mean_activations(tiny_model, torch.tensor(tok.encode(text[:200])))
    seen = {}
    with ablated(tiny_model, heads=[(1, 0)], mlps=[0], mode="mean", reference=means):
        hooks = [watch(tiny_model.blocks[1].attn.c_proj, seen, "heads"),
                 watch(tiny_model.blocks[0].mlp, seen, "mlp", pre=False)]
        mean_logits = logits(tiny_model, ids)
        for hook in hooks:
            hook.remove()
    head_size = tiny_model.config.n_embd // tiny_model.config.n_head
    assert torch.equal(seen["heads"][..., :head_size], means.heads[1, 0].expand(2, 24, head_size))
    assert torch.equal(seen["mlp"], means.mlps[0].expand(2, 24, -1))
    with ablated(tiny_model, heads=[(1, 0)], mlps=[0]):
        assert not torch.allclose(logits(tiny_model, ids), mean_logits, atol=1e-4)  # zero is not mean


def test_ablation_holds_on_every_path(tiny_model, ids):
    from gptviz.model import KVCache

    with torch.no_grad(), ablated(tiny_model, heads=[(0, 0)], mlps=[1], mode="mean", reference=ids):
        fast = tiny_model(ids)[0]
        explicit = tiny_model.forward_traced(ids)[0]
        cache = KVCache.empty(tiny_model.config.n_layer)
        cached = torch.cat([tiny_model(ids[:, t : t + 1], cache=cache)[0] for t in range(ids.size(1))], dim=1)
    torch.testing.assert_close(explicit, fast, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(cached, fast, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kwargs, message", [
    (dict(heads=[(0, 5)]), "head < 2"),
    (dict(heads=[(2, 0)]), "layer < 2"),
    (dict(heads=(0, 1)), "pairs"),  # one pair instead of a list of pairs
    (dict(heads=[(0, 1, 2)]), "pairs"),
    (dict(heads=[(0, True)]), "pairs"),
    (dict(heads=5), "heads must be an iterable"),
    (dict(mlps=[2]), "mlps entries must be layers in 0..1"),
    (dict(mlps=["0"]), "mlps must hold layer numbers"),
    (dict(mlps=1), "mlps must be an iterable"),
    (dict(mode="half"), "mode must be one of"),
    (dict(mode="zero", reference=[1, 2]), "reference is only used"),
    (dict(mode="mean"), "needs a reference"),
    (dict(mode="mean", reference=torch.rand(2, 5)), "integer tensor"),
    (dict(mode="mean", reference=MeanActivations(torch.zeros(3, 2, 16), torch.zeros(3, 32))), "shapes"),
])
def test_bad_arguments_are_clear_errors_and_leave_no_hooks(tiny_model, kwargs, message):
    with pytest.raises(ValueError, match=message), ablated(tiny_model, **kwargs):
        pass
    assert no_hooks(tiny_model)

