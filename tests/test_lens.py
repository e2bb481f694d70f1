"""Chapter 06: parameter shares, the logit lens, MLP neurons and MLP ablation."""

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from torch.nn import functional as F

import gptviz
from gptviz import lens, plots


def test_parameter_groups_add_up_and_the_mlp_share_follows_the_formula(tiny_model, tiny_config):
    groups = lens.parameter_groups(tiny_model)
    assert sum(groups.values()) == tiny_model.num_params()
    C, L = tiny_config.n_embd, tiny_config.n_layer
    assert groups["feed-forward (MLP)"] == L * (8 * C * C + 5 * C)  # C->4C->C weights and biases
    assert groups["attention"] == L * (4 * C * C + 4 * C)
    assert lens.mlp_share(tiny_model) == pytest.approx(groups["feed-forward (MLP)"] / tiny_model.num_params())


def test_last_lens_stage_is_the_models_own_prediction(tiny_model, tok):
    text = "ROMEO:\nBut soft"
    result = lens.logit_lens(tiny_model, tok, text)
    trace = gptviz.inspect(tiny_model, tok, text)
    assert result.probs.shape == (tiny_model.config.n_layer + 1, len(text), tok.vocab_size)
    np.testing.assert_allclose(result.probs[-1], trace.probs, atol=1e-6)
    np.testing.assert_allclose(result.probs.sum(-1), 1.0, atol=1e-9)
    manual = -np.log(trace.probs[np.arange(len(text) - 1), trace.ids[1:]]).mean()
    assert result.losses[-1] == pytest.approx(manual, rel=1e-6)


def test_lens_losses_windows_a_long_text(tiny_model, tok, text):
    losses = lens.lens_losses(tiny_model, tok, text[:100])
    assert losses.shape == (tiny_model.config.n_layer + 1,)
    with pytest.raises(ValueError, match="2 characters"):
        lens.lens_losses(tiny_model, tok, "R")


def test_each_block_improves_the_shipped_models_prediction(pretrained):
    model, tok = pretrained
    text = gptviz.load_corpus().val_text[5000:6000]
    losses = lens.lens_losses(model, tok, text)
    assert losses[-1] < 1.8  # the full model, on held-out Shakespeare
    assert np.all(np.diff(losses) < 0)  # every block lowers the loss read off the residual stream


def test_mlp_activations_match_a_manual_forward(tiny_model, tok):
    text = "ROMEO:\nBut"
    acts = lens.mlp_activations(tiny_model, tok, text)
    assert acts.shape == (tiny_model.config.n_layer, len(text), 4 * tiny_model.config.n_embd)
    with torch.no_grad():
        x = tiny_model.embed(torch.tensor([tok.encode(text)]))
        block = tiny_model.blocks[0]
        x = x + block.attn(block.ln_1(x))[0]
        manual = F.gelu(block.mlp.c_fc(block.ln_2(x)))[0]
    np.testing.assert_allclose(acts[0], manual.numpy(), atol=1e-5)


def test_mlp_activations_read_long_texts_in_windows(tiny_model, tok, text):
    acts = lens.mlp_activations(tiny_model, tok, text[:70])  # block_size 32: windows of 32, 32, 6
    assert acts.shape[1] == 70
    np.testing.assert_allclose(acts[:, 32:64], lens.mlp_activations(tiny_model, tok, text[32:64]), atol=1e-6)


def test_auc_scores_against_counting_pairs():
    rng = np.random.default_rng(0)
    acts = rng.normal(size=(60, 3))
    positive = rng.random(60) < 0.3
    acts[positive, 0] += 10  # unit 0 separates perfectly
    scores = lens.auc_scores(acts, positive)
    pairs = (acts[positive][:, None, :] > acts[~positive][None, :, :]).mean(axis=(0, 1))
    np.testing.assert_allclose(scores, pairs)
    assert scores[0] == 1.0
    with pytest.raises(ValueError, match="both True and False"):
        lens.auc_scores(acts, np.ones(60, dtype=bool))


def test_context_labels():
    text = "ROMEO:\nBut I am here.\n\nJULIET:\nAh"
    name, capitals = lens.context_labels(text, "speaker name")
    assert "".join(np.array(list(text))[name]) == "ROMEOJULIET"
    assert "".join(np.array(list(text))[capitals & ~name]) == "BIA"
    newline, newlines = lens.context_labels(text, "end of a speaker line")
    assert np.flatnonzero(newline).tolist() == [6, 30] and newlines.sum() == 4
    start, lower = lens.context_labels(text, "start of a word")
    assert "".join(np.array(list(text))[start]) == "ah"  # "am", "here"
    with pytest.raises(ValueError, match="context must be one of"):
        lens.context_labels(text, "sonnets")


def test_speaker_lines_in_mixed_case_but_not_verse_ending_in_a_colon():
    text = "x.\n\nGhost:\nMark me.\n\nFirst Clown:\nAy.\n\nI talk of you:\nno\n\nKING OF FRANCE:\nGo"
    name, _ = lens.context_labels(text, "speaker name")
    assert "".join(np.array(list(text))[name]) == "GFCKINGOFFRANCE"  # the old rule missed Ghost and First Clown
    ends, _ = lens.context_labels(text, "end of a speaker line")
    assert [text[i - 1] for i in np.flatnonzero(ends)] == [":", ":", ":"]


def test_rule_auc_and_what_a_detector_adds_beyond_the_rule():
    positive = np.array([1, 1, 1, 0, 0, 0, 0, 0], dtype=bool)
    among = np.ones(8, dtype=bool)
    rule = np.array([1, 1, 0, 0, 0, 0, 0, 1], dtype=bool)  # 2 of 3 hits, 1 of 5 false alarms
    assert lens.rule_auc(rule, positive, among) == pytest.approx((1 + 2 / 3 - 1 / 5) / 2)
    perfect = positive.astype(float)
    assert lens.auc_where_rule_ties(perfect, rule, positive, among) == pytest.approx(1.0)
    assert lens.auc_where_rule_ties(-perfect, rule, positive, among) == pytest.approx(0.0)
    assert lens.auc_where_rule_ties(perfect, positive, positive, among) is None  # a perfect rule ties no pair
    with pytest.raises(ValueError, match="positive"):
        lens.rule_auc(rule, np.zeros(8, dtype=bool), among)


def test_neurons_beat_their_rules_and_shuffled_activations_do_not(pretrained):
    model, tok = pretrained
    val = gptviz.load_corpus().val_text
    search, check = val[:4000], val[30000:34000]
    found = lens.find_context_neurons(model, tok, search, check)
    acts = lens.mlp_activations(model, tok, check)
    for row in lens.compare_with_rules(found, acts, check):  # the chapter's check passes on the real neurons...
        assert row.neuron_auc >= row.rule_auc - 0.01 and row.neuron_auc_on_ties > 0.7, row
        assert 0.9 < row.rule_auc < 1.0  # measured 0.97-0.99: the rule alone is strong
    shuffled = acts[:, np.random.default_rng(0).permutation(acts.shape[1])]  # ...and fails on shuffled activations
    rows = lens.compare_with_rules(found, shuffled, check)
    assert all(row.neuron_auc_on_ties < 0.7 or row.neuron_auc < row.rule_auc - 0.01 for row in rows)


def test_parameter_formula_matches_the_model_and_gpt2_small(tiny_model, tiny_config):
    c = tiny_config
    groups = lens.parameter_groups_for(c.vocab_size, c.block_size, c.n_embd, c.n_layer)
    assert groups == lens.parameter_groups(tiny_model)
    gpt2 = lens.parameter_groups_for(50257, 1024, 768, 12)
    assert sum(gpt2.values()) == 124_439_808  # GPT-2 small's published count
    assert 0.30 < gpt2["token embedding"] / sum(gpt2.values()) < 0.32


def test_permutation_gap_passes_the_mlp_and_fails_attention(tiny_model):
    torch.manual_seed(0)
    x, perm = torch.randn(1, 12, tiny_model.config.n_embd), torch.randperm(12)
    assert lens.permutation_gap(tiny_model.blocks[0].mlp, x, perm) < 1e-5
    assert lens.permutation_gap(tiny_model.blocks[0].attn, x, perm) > 1e-3  # attention mixes positions


def test_context_neurons_are_found_and_hold_on_fresh_text(pretrained):
    model, tok = pretrained
    val = gptviz.load_corpus().val_text
    found = lens.find_context_neurons(model, tok, val[:4000], val[30000:34000])
    assert len(found) == len(lens.CONTEXTS)
    for neuron in found:
        assert neuron.auc_check > 0.9, neuron  # measured 0.99-1.0 on the shipped model


def test_top_contexts(tok):
    text = "abcdefghijklmnop"
    activation = np.arange(len(text), dtype=float)
    top = lens.top_contexts(text, activation, k=2, width=4)
    assert top[0] == ("mnop", 15.0) and len(top) == 2
    among = np.zeros(len(text), dtype=bool)
    among[3] = True
    assert lens.top_contexts(text, activation, k=3, width=2, among=among) == [("cd", 3.0)]
    with pytest.raises(ValueError, match="one value per character"):
        lens.top_contexts(text, activation[:-1])


def test_text_loss_and_mlp_ablation(tiny_model, tok, text):
    ids = torch.tensor([tok.encode(text[:33])])
    expected = tiny_model(ids[:, :-1], ids[:, 1:])[1].item()
    assert lens.text_loss(tiny_model, tok, text[:33], windows=1) == pytest.approx(expected, rel=1e-6)
    losses = lens.mlp_ablation_losses(tiny_model, tok, text, windows=4)
    assert list(losses) == ["full model", "no MLP in block 0", "no MLP in block 1", "no MLPs at all"]
    assert not any(m._forward_hooks for m in tiny_model.modules())  # switched back on afterwards
    assert lens.text_loss(tiny_model, tok, text, windows=4) == losses["full model"]
    with pytest.raises(ValueError, match="windows"):
        lens.text_loss(tiny_model, tok, text, windows=0)
    with pytest.raises(ValueError, match="block_size"):
        lens.text_loss(tiny_model, tok, text[:10])
    ids = torch.tensor(tok.encode(text[:200]))
    mean = lens.mlp_ablation_losses(tiny_model, tok, text, windows=4, mode="mean", reference=ids)
    assert mean["full model"] == losses["full model"] and mean["no MLPs at all"] != losses["no MLPs at all"]


def test_removing_the_mlps_hurts_the_shipped_model(pretrained):
    model, tok = pretrained
    losses = lens.mlp_ablation_losses(model, tok, gptviz.load_corpus().val_text, windows=4)
    assert losses["no MLPs at all"] > losses["full model"] + 1.0  # measured 1.45 -> 4.2 nats


def test_ablation_bars_with_baselines_and_a_second_mode():
    zero = {"full model": 1.4, "no MLP in block 0": 5.9, "no MLPs at all": 4.2}
    mean = {"full model": 1.4, "no MLP in block 0": 4.5, "no MLPs at all": 4.9}
    fig = plots.ablation_bars(zero, compare=mean, references={"bigram": 2.5, "uniform": 4.34})
    assert isinstance(fig, Figure) and len(fig.axes[0].patches) == 6
    with pytest.raises(ValueError, match="same conditions"):
        plots.ablation_bars(zero, compare={"full model": 1.4})


def test_block_plots_return_figures(tiny_model, tok):
    assert isinstance(plots.parameter_share_bars(lens.parameter_groups(tiny_model)), Figure)
    result = lens.logit_lens(tiny_model, tok, "ROMEO:")
    assert isinstance(plots.logit_lens_grid(result, tok.chars), Figure)
    assert isinstance(plots.lens_loss_bars(result.losses, 2.5), Figure)
    acts = lens.mlp_activations(tiny_model, tok, "ROMEO:\nBut")
    assert isinstance(plots.neuron_text("ROMEO:\nBut", acts[0, :, 0]), Figure)
    assert isinstance(plots.neuron_histogram(acts[0, :3, 0], acts[0, 3:, 0], "speaker name", 0.9), Figure)
    assert isinstance(plots.ablation_bars({"full model": 1.5, "no MLPs at all": 4.0}), Figure)
    timings = {"lengths": np.array([8, 16]), "loop_seconds": np.array([2.0, 4.0]),
               "parallel_seconds": np.array([1.0, 1.0]), "ratio": np.array([2.0, 4.0])}
    assert isinstance(plots.loop_vs_parallel_figure(timings), Figure)
    with pytest.raises(ValueError, match="vocabulary"):
        plots.logit_lens_grid(result, tok.chars[:-1])
    with pytest.raises(ValueError, match="one value per character"):
        plots.neuron_text("ROMEO", acts[0, :3, 0])
