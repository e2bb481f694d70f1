"""Chapter 00: the architecture diagram follows the config, the loss baselines, the previous-character head check."""

from types import SimpleNamespace

import numpy as np
import pytest

import gptviz
from gptviz import heads
from gptviz.baselines import bigram_loss, unigram_loss
from gptviz.heads import role_scores
from gptviz.plots import model_diagram


def texts_of(fig) -> str:
    return "\n".join(t.get_text() for ax in fig.axes for t in ax.texts) + fig.axes[0].get_title(loc="left")


def test_the_diagram_is_drawn_from_the_config():
    config = SimpleNamespace(n_layer=3, n_head=2, n_embd=16, vocab_size=11, block_size=32)
    text = texts_of(model_diagram(config, T=7))
    for expected in ["(7, 16)", "(7, 11)", "wte: 11 × 16", "rows 0..6 of 32 × 16", "2 heads, each (7, 8)",
                     "(7, 64) inside", "block 2", "final LayerNorm", "weight tying", "no bias"]:
        assert expected in text, expected
    fig = model_diagram(config, T=7)
    adds = [t for t in fig.axes[0].texts if t.get_text() == "+"]
    assert "block 3" not in text and text.count("LayerNorm → attention") == 3
    assert len(adds) == 1 + 2 * 3  # embeddings + positions, then two residual adds per block
    assert "(T, 16)" in texts_of(model_diagram(config))  # no text: the shapes say T
    for bad in (0, 33, 2.0, True):
        with pytest.raises(ValueError, match="T must be"):
            model_diagram(config, T=bad)


def test_the_shipped_model_diagram(pretrained):
    model, _ = pretrained
    text = texts_of(model_diagram(model.config, T=27))
    assert "wte: 77 × 192" in text and "4 heads, each (27, 48)" in text and "(27, 768) inside" in text
    assert model.lm_head.weight is model.wte.weight and model.lm_head.bias is None  # what the diagram draws


def test_unigram_loss_is_the_entropy_of_the_counts(tok):
    text = "ab" * 50 + "a" * 100
    loss = unigram_loss(text, text, tok, smoothing=1e-9)
    p = np.array([150, 50]) / 200
    assert loss == pytest.approx(-(p * np.log(p)).sum(), rel=1e-6)
    assert bigram_loss(text, text, tok, smoothing=1e-9) < loss  # the previous character helps on this text
    with pytest.raises(ValueError, match="smoothing"):
        unigram_loss(text, text, tok, smoothing=0)


def previous_character_head(roles, layer=0, head=0) -> bool:
    """Chapter 00's check on fig 1's head: most of its attention on the previous character, far above chance."""
    return roles.scores["previous token"][layer, head] > 0.5 and roles.lift("previous token")[layer, head] > 10


def test_the_previous_character_check_holds_for_l0h0_and_fails_for_even_attention(pretrained):
    model, tok = pretrained
    corpus = gptviz.load_corpus()
    roles = heads.head_roles(model, tok, corpus.val_text, windows=4, length=128)
    assert previous_character_head(roles)
    B, L, H, T = 2, 1, 1, 64
    even = np.tril(np.ones((T, T))) / np.arange(1, T + 1)[:, None]  # every earlier position weighted alike
    tokens = [list(corpus.val_text[i * T:(i + 1) * T]) for i in range(B)]
    uniform = role_scores(np.broadcast_to(even, (B, L, H, T, T)), tokens)
    assert not previous_character_head(uniform)
    diagonal = role_scores(np.broadcast_to(np.eye(T), (B, L, H, T, T)), tokens)  # looks at itself only
    assert not previous_character_head(diagonal)


def test_the_loss_check_fails_for_an_untrained_model(pretrained):
    import torch

    from gptviz.data import as_ids
    from gptviz.training import estimate_loss

    model, tok = pretrained
    corpus = gptviz.load_corpus()
    bigram = bigram_loss(corpus.train_text, corpus.val_text, tok)
    torch.manual_seed(0)
    untrained = gptviz.GPT(model.config)
    loss = estimate_loss(untrained, as_ids(corpus.val_text, tok), batch_size=8, batches=2, seed=0)
    assert not loss < bigram - 0.5  # the chapter's assert, on a model that has learned nothing
