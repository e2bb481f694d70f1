"""Tokenizer and corpus."""

import pytest
import torch

import gptviz
from gptviz.data import HELD_OUT_PLAYS, markdown_to_play_text, play_files, random_batch, text_file


def test_round_trip(tok):
    text = "But soft, what light?\n"
    assert tok.decode(tok.encode(text)) == text


def test_unknown_characters_are_listed(tok):
    with pytest.raises(ValueError, match=r"\['#', '@'\]"):
        tok.encode("hi @ # there")


def test_decode_rejects_ids_outside_the_vocabulary(tok):
    with pytest.raises(ValueError, match="token ids"):
        tok.decode([0, tok.vocab_size])


def test_tokenizer_survives_serialisation(tok):
    again = gptviz.CharTokenizer.from_dict(tok.to_dict())
    assert again.chars == tok.chars


def test_markdown_becomes_plain_play_text():
    md = (
        "# Play\n\n## ACT I\n\n### SCENE I. A room.\n\n_Enter ROMEO_\n\n"
        "**ROMEO**  \nBut _soft_, what light\\--  \nIt is the east.\n\n_\\[Aside]_  \n**JULIET**  \nAy me!\n"
    )
    text = markdown_to_play_text(md)
    assert text == "ROMEO:\nBut soft, what light--\nIt is the east.\n\nJULIET:\nAy me!\n"


def test_shakespeare_splits_by_whole_plays():
    corpus = gptviz.load_corpus()
    assert len(play_files()) == 38
    assert set(HELD_OUT_PLAYS) <= set(play_files())
    assert 0.08 < len(corpus.val_text) / len(corpus.text) < 0.15
    # Hamlet is held out: its prince speaks in validation only
    assert "HAMLET:" in corpus.val_text and "HAMLET:" not in corpus.train_text
    assert not set("*_#") & set(corpus.text)


def test_text_file_keeps_its_last_tenth_for_validation(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("abcdefghij" * 10, encoding="utf-8")
    corpus = text_file(path)
    assert corpus.train_text == ("abcdefghij" * 10)[:90] and len(corpus.val_text) == 10
    with pytest.raises(FileNotFoundError):
        text_file(tmp_path / "missing.txt")


def test_random_batch_targets_are_inputs_shifted_by_one():
    ids = torch.arange(100)
    x, y = random_batch(ids, 8, 4, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 8)
    assert torch.equal(x[:, 1:], y[:, :-1])
    with pytest.raises(ValueError, match="block_size"):
        random_batch(torch.arange(8), 8, 4, torch.Generator())
