"""Byte-pair encoding: the hand-written merges agree with Hugging Face `tokenizers`; counts; round trips."""

import pytest

from gptviz import bpe

TOY = "the cat sat on the mat, the rat sat on the hat"
VERSE = ("To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n"
         "The slings and arrows of outrageous fortune,\nOr to take arms against a sea of troubles\n") * 3


def test_pre_tokenize_keeps_every_character_and_glues_spaces_to_the_next_word():
    pieces = bpe.pre_tokenize("Hello there,\n  my friend")
    assert pieces == ["Hello", "▁there,", "\n", "▁", "▁my", "▁friend"]
    assert "".join(pieces).replace(bpe.SPACE, " ") == "Hello there,\n  my friend"


def test_first_merge_is_the_most_frequent_pair():
    steps = bpe.bpe_merges(TOY, 3)
    assert steps[0].pair == ("a", "t") and steps[0].count == 6  # cat sat mat rat sat hat
    assert steps[1].merged == "he" and "at" in steps[0].tokens
    assert "".join(steps[-1].tokens).replace(bpe.SPACE, " ") == TOY  # merging never loses text
    assert len(steps[2].tokens) < len(steps[1].tokens) < len(steps[0].tokens) < len(TOY)


@pytest.mark.parametrize("text, n", [(TOY, 17), (VERSE, 40)])
def test_hand_written_merges_match_the_tokenizers_library(text, n):
    hand = [step.pair for step in bpe.bpe_merges(text, n)]
    alphabet = len(set(text.replace(" ", bpe.SPACE)))
    library = bpe.merges_of(bpe.train_bpe(text, vocab_size=alphabet + n))
    assert hand == library


def test_trained_tokenizer_round_trips_and_shortens_text():
    tokenizer = bpe.train_bpe(VERSE * 4, vocab_size=120)
    sample = "Whether to suffer the slings, or to take arms:\n"
    assert tokenizer.decode(tokenizer.encode(sample).ids) == sample
    assert "".join(bpe.bpe_tokens(tokenizer, sample)) == sample
    bigger = bpe.train_bpe(VERSE * 4, vocab_size=200)
    counts = bpe.token_counts(VERSE, {"small": tokenizer, "big": bigger})
    assert counts["characters"] > counts["small"] > counts["big"] >= counts["words"]
    assert list(counts) == ["characters", "small", "big", "words"]


def test_alphabet_lets_unseen_characters_through():
    tokenizer = bpe.train_bpe("aaa bbb", vocab_size=20, alphabet="xyz")
    assert tokenizer.decode(tokenizer.encode("zax").ids) == "zax"


@pytest.mark.parametrize("call, name", [
    (lambda: bpe.bpe_merges(TOY, -1), "n_merges"),
    (lambda: bpe.bpe_merges("", 3), "text"),
    (lambda: bpe.train_bpe(TOY, vocab_size=1), "vocab_size"),
    (lambda: bpe.train_bpe("", vocab_size=10), "text"),
])
def test_bad_arguments_are_named(call, name):
    with pytest.raises(ValueError, match=name):
        call()
