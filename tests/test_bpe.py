"""Byte-level byte-pair encoding: the hand-written merges agree with Hugging Face `tokenizers`; any text round-trips."""

import pytest
from tokenizers import pre_tokenizers

from gptviz import bpe

TOY = "the cat sat on the mat, the rat sat on the hat"
VERSE = ("To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n"
         "The slings and arrows of outrageous fortune,\nOr to take arms against a sea of troubles\n") * 3
ANY_TEXT = "café, naïve — it’s “quoted” 🙂 日本語\ttab\r\n  two spaces"


def test_byte_map_is_the_librarys():
    assert sorted(bpe.byte_to_char().values()) == sorted(pre_tokenizers.ByteLevel.alphabet())
    for char in ANY_TEXT:  # the library's pre-tokenizer writes each byte as our map does
        piece = "".join(bpe.pre_tokenize(char))
        assert piece == "".join(bpe.byte_to_char()[b] for b in char.encode("utf-8")), char
    assert bpe.byte_to_char()[ord(" ")] == bpe.SPACE == "Ġ"


def test_pre_tokenize_keeps_every_byte_and_glues_spaces_to_the_next_word():
    pieces = bpe.pre_tokenize("Hello there,\n  my friend")
    assert pieces == ["Hello", "Ġthere", ",", "ĊĠ", "Ġmy", "Ġfriend"]
    assert b"".join(bpe.token_bytes(p) for p in pieces) == b"Hello there,\n  my friend"


def test_readable_shows_text_or_the_bytes_of_a_split_character():
    assert bpe.readable("Ġthe") == " the" and bpe.shown("Ġthe") == "␣the" and bpe.shown("Ċ") == "⏎"
    assert bpe.readable("Ã©") == "é" and bpe.readable("Ã") == "‹c3›"
    with pytest.raises(ValueError, match="token"):
        bpe.token_bytes("日")  # not one of the 256 byte characters


def test_first_merge_is_the_most_frequent_pair_and_ties_are_listed():
    steps = bpe.bpe_merges(TOY, 3)
    assert steps[0].pair == ("a", "t") and steps[0].count == 6  # cat sat mat rat sat hat
    # 'he' and 'th' both occur 4 times: the tie goes to the pair whose first token comes first
    assert steps[1].pair == ("h", "e") and steps[1].tied == [("t", "h")] and steps[1].count == 4
    assert "at" in steps[0].tokens
    assert b"".join(bpe.token_bytes(t) for t in steps[-1].tokens) == TOY.encode()  # merging never loses text
    assert len(steps[2].tokens) < len(steps[1].tokens) < len(steps[0].tokens) < len(TOY)


def test_pair_counts_stay_inside_pieces():
    counts = bpe.pair_counts(bpe.pre_tokenize("ab ab"))
    assert counts == {("a", "b"): 2, ("Ġ", "a"): 1}
    assert ("b", "Ġ") not in counts  # never across two pieces


@pytest.mark.parametrize("text, n", [(TOY, 17), (VERSE, 40), (ANY_TEXT * 2, 12)])
def test_hand_written_merges_match_the_tokenizers_library(text, n):
    hand = [step.pair for step in bpe.bpe_merges(text, n)]
    library = bpe.merges_of(bpe.train_bpe(text, vocab_size=256 + n))
    assert hand == library


def test_any_text_round_trips_exactly_with_nothing_dropped():
    tokenizer = bpe.train_bpe(VERSE * 4, vocab_size=300)  # trained on plain English only
    for text in [ANY_TEXT, "é", "’", "🙂", "\x00\x7f", VERSE]:
        assert tokenizer.decode(tokenizer.encode(text).ids) == text
        assert b"".join(bpe.encoded_bytes(tokenizer, text)) == text.encode("utf-8")
    assert len(bpe.encoded_bytes(tokenizer, "🙂")) == 4  # unseen: one token per byte


def test_trained_tokenizer_shortens_text():
    tokenizer = bpe.train_bpe(VERSE * 4, vocab_size=300)
    sample = "Whether to suffer the slings, or to take arms:\n"
    assert "".join(bpe.bpe_tokens(tokenizer, sample)) == sample
    bigger = bpe.train_bpe(VERSE * 4, vocab_size=400)
    counts = bpe.token_counts(VERSE, {"small": tokenizer, "big": bigger})
    assert counts["characters"] > counts["small"] > counts["big"] >= counts["words"]
    assert list(counts) == ["characters", "small", "big", "words"]


def test_alphabet_is_accepted_and_unseen_characters_get_through():
    tokenizer = bpe.train_bpe("aaa bbb", vocab_size=260, alphabet="xyz")
    assert tokenizer.decode(tokenizer.encode("zax é").ids) == "zax é"


@pytest.mark.parametrize("call, name", [
    (lambda: bpe.bpe_merges(TOY, -1), "n_merges"),
    (lambda: bpe.bpe_merges("", 3), "text"),
    (lambda: bpe.train_bpe(TOY, vocab_size=255), "vocab_size"),
    (lambda: bpe.train_bpe(TOY, vocab_size=True), "vocab_size"),
    (lambda: bpe.train_bpe("", vocab_size=300), "text"),
    (lambda: bpe.train_bpe(TOY, vocab_size=300, alphabet=3), "alphabet"),
])
def test_bad_arguments_are_named(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_merge_lines_show_the_tie_and_one_space_symbol():
    lines = bpe.merge_lines(TOY, 2)
    assert lines[1].startswith("merge 2: h + e") and "(4×, tied with t + h)" in lines[1]
    assert "␣" in lines[0] and bpe.SPACE not in "".join(lines)
