"""Chapter 09: the chat dataset, masked fine-tuning, cached greedy decoding, evaluation, pictures and the chat box."""

import copy
import random

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from torch.nn import functional as F

import gptviz
from gptviz import chat
from gptviz.ablation import ablated
from gptviz.data import HELD_OUT_PLAYS, markdown_to_play_text, play_files
from gptviz.plots import chat as chat_plots
from gptviz.widgets import chat as chat_widgets


@pytest.fixture(scope="module")
def dataset():
    return chat.build_dataset()


@pytest.fixture(scope="module")
def play_texts():
    return {slug: markdown_to_play_text(path.read_text(encoding="utf-8")) for slug, path in play_files().items()}


@pytest.fixture(scope="module")
def chat_model():
    return chat.load_chat_model()


# --------------------------------------------------------------------------- the dataset


def test_every_fact_is_in_the_corpus(dataset, play_texts):
    rng = random.Random(3)
    for example in dataset.test + dataset.sample(40, rng, invent=0.0):
        text = play_texts[example.play]
        if example.kind == "play":
            name = example.question.split("named ")[1][:-1]
            assert f"\n{name}:\n" in "\n" + text
            assert chat.load_plays()[example.play].title == example.answer
            continue
        assert example.answer in example.candidates
        lines = example.question.split("\n")[:-1]
        assert len(lines) == chat.PASSAGE_SPEECHES
        for line in lines:
            speaker, said = line.split(": ", 1)
            assert f"{speaker}:\n{said}" in text  # the speech's first line, as the play has it
        if example.kind == "first":
            assert lines[0].startswith(example.answer + ": ")
        elif example.kind == "last":
            assert lines[-1].startswith(example.answer + ": ")
        else:
            quote = example.question.split('"')[1]
            assert [line.split(": ", 1)[0] for line in lines if quote in line.split(": ", 1)[1]] == [example.answer]


def test_invented_names_keep_the_question_and_move_the_answer(dataset):
    rng = random.Random(0)
    for example in dataset.sample(60, random.Random(2), invent=0.0):
        if example.kind == "play":
            continue
        renamed = chat.with_invented_names(example, rng)
        old_lines, new_lines = example.question.split("\n"), renamed.question.split("\n")
        assert [line.split(": ", 1)[-1] for line in old_lines] == [line.split(": ", 1)[-1] for line in new_lines]
        assert renamed.candidates.index(renamed.answer) == example.candidates.index(example.answer)
        assert len(set(renamed.candidates)) == len(renamed.candidates)
        pairs = zip(renamed.candidates, example.candidates, strict=True)
        assert all(new.isupper() for new, old in pairs if old.isupper())
    assert chat.invented_name("KING HENRY V", random.Random(1)).startswith("KING ")
    assert chat.invented_name("Clown", random.Random(1)) == "Clown"  # roles are kept
    with pytest.raises(ValueError, match="invent"):
        dataset.sample(4, random.Random(0), invent=2.0)
    with pytest.raises(ValueError, match="new"):
        chat.rename_speaker(example, example.answer, "bad~name")


def test_split_holds_out_plays_and_characters(dataset):
    kinds = {kind: dataset.test_of(kind) for kind in chat.QUESTION_KINDS}
    assert all(len(v) == 40 for v in kinds.values())
    assert all(e.play in HELD_OUT_PLAYS for kind in chat.IN_CONTEXT_KINDS for e in kinds[kind])
    assert not set(HELD_OUT_PLAYS) & set(dataset.train_plays)
    assert all(e.play not in HELD_OUT_PLAYS for e in dataset.sample(200, random.Random(0)) if e.kind != "play")
    train_questions = {e.question for e in dataset.train_characters}
    assert not train_questions & {e.question for e in kinds["play"]}
    assert len({e.question for e in dataset.test}) == len(dataset.test)


def test_dataset_is_reproducible(dataset):
    again = chat.build_dataset()
    assert [e.text for e in again.test] == [e.text for e in dataset.test]
    drawn = [[e.text for e in d.sample(20, random.Random(5))] for d in (again, dataset)]
    assert drawn[0] == drawn[1]


def test_chat_format_stays_in_the_shipped_vocabulary(dataset, pretrained):
    _, tok = pretrained
    for example in dataset.test + dataset.sample(200, random.Random(1)):
        assert tok.decode(tok.encode(example.text)) == example.text
        assert len(example.prompt) <= chat.MAX_PROMPT
        assert example.text.startswith(chat.USER) and example.text.endswith(chat.ASSISTANT + example.answer + chat.END)
        assert len(example.answer) <= chat.MAX_ANSWER


def test_chance_level():
    a = chat.ChatExample("first", "q", "A", ("A", "B", "C"), "x")
    b = chat.ChatExample("play", "q", "A", tuple("ABCD"), "x")
    assert chat.chance_accuracy([a, b]) == pytest.approx((1 / 3 + 1 / 4) / 2)
    with pytest.raises(ValueError, match="examples"):
        chat.chance_accuracy([])


def test_format_prompt_and_bad_input():
    prompt = chat.format_prompt("Who?", (("Hi", "Hello"),))
    assert prompt == "User:\nHi\n\nAssistant:\nHello\n\nUser:\nWho?\n\nAssistant:\n"
    with pytest.raises(ValueError, match="question"):
        chat.format_prompt("  ")
    with pytest.raises(ValueError, match="test_per_kind"):
        chat.build_dataset(test_per_kind=0)
    with pytest.raises(ValueError, match="kind"):
        chat.passage_example("play", chat.load_plays()["macbeth"], 0)


# --------------------------------------------------------------------------- fine-tuning


def test_targets_are_the_answer_only(dataset, pretrained):
    _, tok = pretrained
    examples = dataset.test[::37]
    x, y = chat.encode_examples(examples, tok)
    for row, e in enumerate(examples):
        kept = y[row][y[row] != -100].tolist()
        assert tok.decode(kept) == e.answer + chat.END
        assert tok.decode(x[row, : len(e.text) - 1].tolist()) == e.text[:-1]


def test_masked_loss_equals_the_mean_over_answer_characters(dataset, pretrained):
    tok = pretrained[1]
    torch.manual_seed(0)
    model = gptviz.GPT(gptviz.GPTConfig(vocab_size=tok.vocab_size, n_layer=1, n_head=2, n_embd=16)).eval()
    x, y = chat.encode_examples(dataset.test[:5], tok)
    logits, loss = model(x, y)
    by_hand = [F.cross_entropy(logits[i, j], y[i, j]) for i in range(len(y)) for j in range(y.size(1)) if y[i, j] >= 0]
    assert loss.item() == pytest.approx(torch.stack(by_hand).mean().item(), rel=1e-5)
    assert chat.answer_loss(model, tok, dataset.test[:5]) == pytest.approx(loss.item(), rel=1e-5)


def test_a_few_steps_of_finetuning_lower_the_answer_loss(dataset, pretrained):
    model = copy.deepcopy(pretrained[0])
    tok = pretrained[1]
    held_out = dataset.test[::4]
    before = chat.answer_loss(model, tok, held_out)
    losses = chat.finetune(model, tok, dataset, steps=12, batch_size=8, lr=1e-3, seed=0)
    assert len(losses) == 12
    assert chat.answer_loss(model, tok, held_out) < before - 0.3
    with pytest.raises(ValueError, match="steps"):
        chat.finetune(model, tok, dataset, steps=0)


def test_answer_loss_restores_training_mode_after_an_error(tiny_model, tok):
    tiny_model.train()
    with pytest.raises(ValueError, match="characters"):  # "~" is not in the tiny tokenizer
        chat.answer_loss(tiny_model, tok, [chat.ChatExample("first", "Who~", "ROMEO", ("ROMEO",), "x")])
    assert tiny_model.training


# --------------------------------------------------------------------------- answering


def test_cached_greedy_decoding_matches_generate(tiny_model, tok):
    prompts = ["ROMEO:\nBut", "soft", "ROMEO:\nBut soft, what light", "w"]
    cached = chat.greedy_replies(tiny_model, tok, prompts, max_new_tokens=12, stop=None)
    assert cached == [gptviz.generate(tiny_model, tok, p, 12, temperature=0) for p in prompts]
    with ablated(tiny_model, heads=[(0, 0)], mlps=[1]):  # ablation hooks are honoured too
        cached = chat.greedy_replies(tiny_model, tok, prompts, max_new_tokens=6, stop=None)
        assert cached == [gptviz.generate(tiny_model, tok, p, 6, temperature=0) for p in prompts]
    with pytest.raises(ValueError, match="max_new_tokens"):
        chat.greedy_replies(tiny_model, tok, prompts, max_new_tokens=0)


def test_cached_decoding_matches_on_the_shipped_model(dataset, pretrained):
    model, tok = pretrained
    prompts = [e.prompt for e in dataset.test[::53]]
    assert chat.greedy_replies(model, tok, prompts, 8, stop=None) == [
        gptviz.generate(model, tok, p, 8, temperature=0) for p in prompts]


def test_parse_reply():
    assert chat.parse_reply("HAMLET\n\nUser:") == ("HAMLET", True)
    assert chat.parse_reply("HAMLET\nO, my lord\n\n") == ("HAMLET", False)  # two lines: a speech, not a reply
    assert chat.parse_reply("\n\nHAMLET") == ("", False)
    assert chat.parse_reply(" HAMLET\n\n") == (" HAMLET", False)
    assert chat.parse_reply("A" * (chat.MAX_ANSWER + 1) + "\n\n")[1] is False
    assert chat.parse_reply("HAMLET") == ("HAMLET", False)  # never ended its turn


def test_evaluation_scores_format_and_answer_separately():
    examples = [chat.ChatExample("first", "q", "HAMLET", ("HAMLET", "B", "C"), "hamlet"),
                chat.ChatExample("play", "q", "Hamlet", ("Hamlet", "Othello"), "hamlet")]
    scores = chat.Evaluation(examples, ["HAMLET", "Othello"], [False, True], [True, False])
    assert scores.format_rate() == 0.5 and scores.accuracy("first") == 1.0 and scores.accuracy("play") == 0.0
    assert scores.table()["all"] == {"format": 0.5, "accuracy": 0.5, "chance": round((1 / 3 + 1 / 2) / 2, 3)}
    with pytest.raises(ValueError, match="kind"):
        scores.accuracy("last")


# --------------------------------------------------------------------------- the shipped fine-tuned model


def test_shipped_chat_model_comes_from_the_shipped_pretrained_model(chat_model, pretrained):
    info = chat.chat_model_info()
    assert info["pretrained_digest"] == chat.weights_digest(pretrained[0]), (
        "the pre-trained model changed: regenerate with `python -m gptviz.chat finetune`")
    assert chat_model[0].config == pretrained[0].config
    assert info["after"]["all"]["format"] > info["before"]["all"]["format"]


def test_finetuning_helps_on_held_out_questions(dataset, chat_model, pretrained):
    questions = dataset.test_of("first")[:12] + dataset.test_of("last")[:12] + dataset.test_of("play")[:8]
    before = chat.evaluate(*pretrained, questions)
    after = chat.evaluate(*chat_model, questions)
    assert after.format_rate() >= 0.8 and after.format_rate() >= before.format_rate() + 0.5
    for kind in ("first", "last"):  # the answer is in the passage: copy it
        assert after.accuracy(kind) >= 1 / 3 + 0.3 and after.accuracy(kind) >= before.accuracy(kind) + 0.5


def test_answer_span_and_attention(dataset, chat_model):
    model, tok = chat_model
    example = dataset.test_of("first")[0]
    start, end = chat.answer_span(example)
    assert example.prompt[start:end] == example.answer
    trace = gptviz.inspect(model, tok, example.prompt)
    weights = chat.answer_attention(trace)
    assert weights.shape == (model.config.n_layer, model.config.n_head, len(example.prompt))
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="answer"):
        chat.answer_span(dataset.test_of("play")[0])


# --------------------------------------------------------------------------- pictures and the chat box


def test_plots_return_figures():
    table = {"first": {"format": 1.0, "accuracy": 0.8, "chance": 0.333}}
    for fig in (chat_plots.architecture_diagram(), chat_plots.preference_pipeline(),
                chat_plots.before_after_bars({"a": table, "b": table}),
                chat_plots.answer_loss_curve([3.0, 2.0, 1.5]),
                chat_plots.attention_on_text("ab\nc", [0.1, 0.2, 0.3, 0.4], highlight=(0, 2)),
                chat_plots.first_token_comparison({"m": np.full(3, 1 / 3)}, ["a", "b", "c"], top=2)):
        assert isinstance(fig, Figure)
    with pytest.raises(ValueError, match="weights"):
        chat_plots.attention_on_text("abc", [0.5, 0.5])
    with pytest.raises(ValueError, match="highlight"):
        chat_plots.attention_on_text("abc", [0.2, 0.3, 0.5], highlight=(2, 9))
    with pytest.raises(ValueError, match="losses"):
        chat_plots.answer_loss_curve([])
    with pytest.raises(ValueError, match="tables"):
        chat_plots.before_after_bars({})


def test_chat_step_and_box(dataset, chat_model):
    model, tok = chat_model
    example = dataset.test_of("first")[1]
    passage, question = example.question.rsplit("\n", 1)
    reply, follows, history, prompt, probs = chat_widgets.chat_step(model, tok, question, passage)
    assert prompt == example.prompt and history == ((example.question, reply or "..."),)
    assert probs.shape == (tok.vocab_size,) and probs.sum() == pytest.approx(1.0)
    assert tok.chars[int(probs.argmax())] == (reply[:1] or "\n")
    second = chat_widgets.chat_step(model, tok, "Who speaks last?", "", history)
    assert second[3].startswith(prompt + reply)  # the earlier turn is part of the new prompt
    third = chat_widgets.chat_step(model, tok, "Who speaks last?", passage, second[2])
    assert third[3].endswith(chat.format_prompt(chat_widgets.user_turn("Who speaks last?", passage)))
    assert third[3].count(passage) == 1  # the oldest turn no longer fits and is dropped
    assert len(third[3]) <= model.config.block_size - chat.MAX_ANSWER - len(chat.END)
    with pytest.raises(ValueError, match="question"):
        chat_widgets.chat_step(model, tok, " ")
    with pytest.raises(ValueError, match=r"does not know '~' \(U\+007E\)"):
        chat_widgets.chat_step(model, tok, "Who speaks first? ~")
    with pytest.raises(ValueError, match="context"):
        chat_widgets.chat_step(model, tok, "Who? " * 60)
    box = chat_widgets.chat_box(model, tok, passage, question)
    assert len(box.state["history"]) == 1 and "Model:" in chat_widgets.transcript(box.state["history"])
    assert box.children[0].value == ""  # the passage went into the conversation
    assert "Model:" in box.conversation.value and bytes(box.odds.value).startswith(b"\x89PNG")
    box.children[1].children[0].value = "Who speaks first? ~"  # an error is shown, not swallowed
    assert "Can't send this" in box.status.value and len(box.state["history"]) == 1
    box.clear()
    assert box.state["history"] == () and box.status.value == ""
