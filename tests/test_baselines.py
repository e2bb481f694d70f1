"""Chapter 07: the bigram baseline, step by step vs all at once, samples while training, training speed."""

import numpy as np
import pytest
import torch
from torch.nn import functional as F

import gptviz
from gptviz import baselines
from gptviz.data import as_ids
from gptviz.model import causal_attention
from gptviz.training import TrainConfig, encode_ids, make_optimizer


def test_bigram_counts_and_probs(tok):
    ids = tok.encode("abab")
    counts = baselines.bigram_counts(ids, tok.vocab_size)
    assert counts.sum() == 3 and counts[tok.stoi["a"], tok.stoi["b"]] == 2
    probs = baselines.bigram_probs("abab", tok)
    np.testing.assert_allclose(probs.sum(1), 1.0)
    with pytest.raises(ValueError, match="smoothing"):
        baselines.bigram_probs("abab", tok, smoothing=0)


def test_bigram_loss_counts_by_hand(tok, text):
    probs = baselines.bigram_probs(text, tok)
    ids = tok.encode("ROMEO:")
    manual = -np.mean([np.log(probs[a, b]) for a, b in zip(ids[:-1], ids[1:], strict=True)])
    assert baselines.bigram_loss(text, "ROMEO:", tok) == pytest.approx(manual)
    with pytest.raises(ValueError, match="val_text"):
        baselines.bigram_loss(text, "R", tok)


def test_bigram_baseline_on_shakespeare(pretrained):
    _, tok = pretrained
    corpus = gptviz.load_corpus()
    loss = baselines.bigram_loss(corpus.train_text[:1_000_000], corpus.val_text, tok)
    assert 2.3 < loss < 2.7  # about 2.5 nats per character
    assert len(baselines.bigram_sample(corpus.train_text[:100_000], tok, 50, seed=1)) == 50


def test_rnn_loop_is_torchs_rnn():
    torch.manual_seed(0)
    rnn = torch.nn.RNN(8, 16, batch_first=True)
    x = torch.randn(3, 11, 8)
    with torch.no_grad():
        torch.testing.assert_close(baselines.rnn_loop(x, rnn), rnn(x)[0], atol=1e-5, rtol=1e-5)


def test_attention_pass_is_the_lesson_attention():
    torch.manual_seed(0)
    layer = baselines.AttentionPass(16, n_head=2)
    x = torch.randn(2, 9, 16)
    q, k, v = layer.qkv(x).split(16, dim=2)
    q, k, v = (t.view(2, 9, 2, 8).transpose(1, 2) for t in (q, k, v))
    expected = layer.proj(causal_attention(q, k, v)[0].transpose(1, 2).reshape(2, 9, 16))
    torch.testing.assert_close(layer(x), expected, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="n_head"):
        baselines.AttentionPass(10, n_head=3)


def test_loop_falls_behind_attention_as_sequences_grow():
    timings = baselines.loop_vs_parallel_timings(lengths=(8, 128), width=32, batch=1, repeats=3)
    assert set(timings) == {"lengths", "loop_seconds", "native_seconds", "parallel_seconds", "ratio", "native_ratio"}
    assert (timings["loop_seconds"] > 0).all() and (timings["parallel_seconds"] > 0).all()
    assert (timings["native_seconds"] > 0).all()
    np.testing.assert_allclose(timings["native_ratio"], timings["native_seconds"] / timings["parallel_seconds"])
    assert timings["ratio"][1] > 2 * timings["ratio"][0]  # measured ~2 at 8 tokens, ~15 at 128 (CPU time)
    with pytest.raises(ValueError, match="lengths"):
        baselines.loop_vs_parallel_timings(lengths=(0, 4))


def test_one_pass_gives_every_prefix_prediction(tiny_model, tok):
    one_pass, prefixes = baselines.one_pass_vs_prefixes(tiny_model, tok, "ROMEO:\nBut soft")
    assert one_pass.shape == (len("ROMEO:\nBut soft"), tok.vocab_size)
    np.testing.assert_allclose(one_pass, prefixes, atol=1e-5)
    with pytest.raises(ValueError, match="block_size"):
        baselines.one_pass_vs_prefixes(tiny_model, tok, "R" * 40)


def test_checkpoint_samples_records_one_sample_per_validation(tiny_model, tok, text, capsys):
    recorder = baselines.CheckpointSamples(tok, "ROMEO:", length=12)
    history = gptviz.train(tiny_model, tok, text, steps=4, batch_size=2, eval_every=2, eval_batches=1,
                           progress=False, on_eval=recorder)
    assert list(recorder.samples) == history["step"] == [0, 2, 4]
    assert all(len(s) == 12 for s in recorder.samples.values())
    assert "--- step 4" in capsys.readouterr().out
    sparse = baselines.CheckpointSamples(tok, "ROMEO:", length=5, echo=False, every=4)
    gptviz.train(tiny_model, tok, text, steps=4, batch_size=2, eval_every=2, eval_batches=1, progress=False,
                 on_eval=sparse)
    assert list(sparse.samples) == [0, 4]  # every row still measured, a sample only every 4 steps
    with pytest.raises(ValueError, match="every"):
        baselines.CheckpointSamples(tok, every=0)


def test_encode_ids_is_the_tokenizer_fast():
    corpus_text = "ROMEO:\nWhat, ho! 'Tis I.\n" * 50
    tok = gptviz.CharTokenizer.from_text(corpus_text)
    assert torch.equal(encode_ids(corpus_text, tok), as_ids(corpus_text, tok))
    with pytest.raises(ValueError, match=r"\['~'\]"):
        encode_ids("ROMEO~", tok)
    accented = gptviz.CharTokenizer.from_text("café")  # not ASCII: the tokenizer's own path
    assert encode_ids("éa", accented).tolist() == accented.encode("éa")


def test_optimizer_is_fused_adamw(tiny_model):
    optimizer = make_optimizer(tiny_model, TrainConfig())
    assert isinstance(optimizer, torch.optim.AdamW)
    assert optimizer.defaults["fused"] is True
    decay, no_decay = optimizer.param_groups
    assert all(p.dim() >= 2 for p in decay["params"]) and all(p.dim() < 2 for p in no_decay["params"])


def test_fused_step_matches_the_reference_adamw(tiny_model, tok, text):
    ids = torch.tensor([tok.encode(text[:33])])
    reference = type(tiny_model)(tiny_model.config)
    reference.load_state_dict(tiny_model.state_dict())
    start = [p.detach().clone() for p in tiny_model.parameters()]
    for model, fused in ((tiny_model, True), (reference, False)):
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, fused=fused, foreach=None if fused else False)
        for _ in range(3):
            loss = F.cross_entropy(model(ids[:, :-1])[0].view(-1, tok.vocab_size), ids[0, 1:])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    moved = max((a - b).abs().max().item() for a, b in zip(tiny_model.parameters(), start, strict=True))
    assert moved > 0.02  # three steps of lr 1e-2 move the weights by about 3e-2 ...
    for a, b in zip(tiny_model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=5e-4, rtol=0)  # ... and both optimizers agree to 2% of that
