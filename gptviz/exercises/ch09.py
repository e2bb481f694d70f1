"""Chapter 09's exercises: the reply format, the chat template's token count, a template the model never saw,
and a head switched off on a question it was not measured on."""

from __future__ import annotations

import functools

from .core import Exercise, Wrong, register
from .kinds import describe, function, near, number, prediction


@functools.cache
def chat_model():
    """The shipped chat model and its tokenizer, loaded once for all checks."""
    from ..chat import load_chat_model

    return load_chat_model()


@functools.cache
def held_out():
    from ..chat import build_dataset

    return build_dataset()


# 09.1 · write a function: does a continuation follow the reply format?

def follows_format(continuation: str) -> bool:
    from ..chat import parse_reply

    return parse_reply(continuation)[1]


def old_blank_line(continuation):  # the format before chat tokens: a blank line ended the turn
    line = continuation.split("\n", 1)[0]
    return continuation.startswith(line + "\n\n") and 1 <= len(line) <= 32 and line == line.strip()


def no_length_limit(continuation):
    line = continuation.split("<|end|>", 1)[0]
    return "<|end|>" in continuation and "\n" not in line and len(line) >= 1 and line == line.strip()


def spaces_allowed(continuation):
    line = continuation.split("<|end|>", 1)[0]
    return "<|end|>" in continuation and "\n" not in line and 1 <= len(line.strip()) and len(line) <= 32


def end_anywhere(continuation):
    return "<|end|>" in continuation and 1 <= len(continuation.split("\n", 1)[0].split("<|end|>")[0]) <= 32


FORMAT_CASES = ["HAMLET<|end|>", "HAMLET<|end|><|user|>Who?", "HAMLET\nO, my lord!<|end|>", "<|end|>",
                " VIOLA<|end|>", "A" * 32 + "<|end|>", "A" * 33 + "<|end|>", "MARIA", "HAMLET\n\n", "First Lord<|end|>"]


def same_bool(got, expected) -> bool:
    if not isinstance(got, bool):
        raise Wrong(f"return True or False, not {describe(got)}")
    return got == expected


register(Exercise(
    id="09.1",
    title="Your own format check: one line of 1 to 32 characters, then <|end|>",
    check=function(
        follows_format, lambda: [(c,) for c in FORMAT_CASES], name="follows_format", same=same_bool,
        why="right on every case: the reply is the text before <|end|>, one line of 1 to 32 characters with no "
            "space at either end, and the turn really ends.",
        mistakes=[
            (old_blank_line, "A blank line no longer ends a turn: the chat template ends it with the <|end|> token."),
            (no_length_limit, "A reply of 33 characters or more does not count: the limit is 32."),
            (spaces_allowed, "A reply with a space at either end does not count: compare the line with its strip()."),
            (end_anywhere, "The <|end|> must come right after the one line: a second line before it is a speech, "
                           "not a reply."),
        ],
        hint="Take the text before the first <|end|>; it must exist, hold no newline, have 1..32 characters and no "
             "spaces at its ends.",
    ),
    code='''def follows_format(continuation):
    line, _, rest = continuation.partition("<|end|>")
    ended = "<|end|>" in continuation and "\\n" not in line
    return ended and 1 <= len(line) <= 32 and line == line.strip()''',
    explanation="The template ends every turn with the special token <|end|>, so the reply is what comes before it. "
                "It follows the format when it is a single line (no newline), 1 to 32 characters long, with no "
                "space at either end. `gptviz.chat.parse_reply` is the package's version.",
    reference=lambda: follows_format,
    wrong=lambda: [old_blank_line, no_length_limit, spaces_allowed, end_anywhere, "follows_format"],
    answer_name="follows_format",
))


# 09.2 · a number: how many tokens is a chat prompt?

def first_prompt():
    return held_out().test_of("first")[0].prompt


def prompt_tokens() -> int:
    from ..chat import encode_chat

    return len(encode_chat(chat_model()[1], first_prompt()))


register(Exercise(
    id="09.2",
    title="How many tokens does the model read for the first held-out question?",
    check=number(
        prompt_tokens,
        why="{truth:.0f} tokens: every character is one token, and each chat token (<|system|>, <|user|>, "
            "<|end|>, <|assistant|>) is ONE token although it prints as several characters.",
        mistakes=[
            (lambda value, truth: near(value, len(first_prompt())), "That is the number of characters of the "
             "printed prompt: '<|end|>' prints as 7 characters but is one token. Encode it with chat.encode_chat."),
            (lambda value, truth: near(value, truth - 1) or near(value, truth + 1), "Off by one: count every "
             "token of the prompt, the final <|assistant|> included, and nothing of the reply."),
        ],
        hint="Encode the prompt with chat.encode_chat(chat_tok, prompt) and count the ids.",
        rel=0, abs_=0.5,
    ),
    code="from gptviz import chat\n"
         "tuned, chat_tok = chat.load_chat_model()\n"
         "prompt = chat.build_dataset().test_of('first')[0].prompt\n"
         "answer = len(chat.encode_chat(chat_tok, prompt))",
    explanation="`encode_chat` turns each written-out chat token into its one special id, and every other "
                "character into its own id. `len(prompt)` counts the characters of the printed names instead.",
    reference=prompt_tokens,
    wrong=lambda: [len(first_prompt()), prompt_tokens() + 1, prompt_tokens() - 1, "200"],
))


# 09.3 · a number: a question template the model never saw

def second_speaker_questions():
    from ..chat import ChatExample

    questions = []
    for e in held_out().test_of("first"):
        passage = e.question.rsplit("\n", 1)[0]
        middle = passage.split("\n")[1].split(": ", 1)[0]
        questions.append(ChatExample("first", passage + "\nWho speaks second?", middle, e.candidates, e.play))
    return questions


@functools.cache
def second_accuracy() -> float:
    from ..chat import evaluate

    return evaluate(*chat_model(), second_speaker_questions()).accuracy()


def second_wrong_answers() -> list:
    """The typical slips for 09.3, leaving out any that happen to equal the measured value (e.g. 100 x 0 % is 0)."""
    truth = second_accuracy()
    slips = [100 * truth, first_accuracy(), 1 / 3]
    return [v for v in slips if abs(v - truth) > 0.05] + ["0.2" if abs(truth - 0.2) > 0.05 else "0.6"]


@functools.cache
def first_accuracy() -> float:
    from ..chat import evaluate

    return evaluate(*chat_model(), held_out().test_of("first")).accuracy()


register(Exercise(
    id="09.3",
    title="A template it never saw: 'Who speaks second?'",
    check=number(
        second_accuracy,
        why="{truth:.0%} right, against 33 % for a guess among the three speakers: the skill it learned is tied to "
            "the four question templates of its fine-tuning data.",
        mistakes=[
            (lambda value, truth: near(value, 100 * truth), "That looks like a percentage: give a share between "
                                                           "0 and 1."),
            (lambda value, truth: near(value, first_accuracy()), "That is the accuracy on 'Who speaks first?': "
             "build the new questions (the answer is the speaker of the middle line) and evaluate those."),
            (lambda value, truth: near(value, 1 / 3), "That is chance; measure the model."),
        ],
        hint="For each held-out 'first' question, keep its passage, ask 'Who speaks second?', make the middle "
             "speaker the answer (chat.ChatExample), then chat.evaluate(tuned, chat_tok, questions).accuracy().",
        rel=0, abs_=0.02,
    ),
    code='''from gptviz import chat
tuned, chat_tok = chat.load_chat_model()
questions = []
for e in chat.build_dataset().test_of("first"):
    passage = e.question.rsplit("\\n", 1)[0]
    middle = passage.split("\\n")[1].split(": ", 1)[0]
    questions.append(chat.ChatExample("first", passage + "\\nWho speaks second?", middle, e.candidates, e.play))
answer = chat.evaluate(tuned, chat_tok, questions).accuracy()''',
    explanation="The passage and the names are the same as for 'Who speaks first?'; only the question changes, and "
                "the answer becomes the middle speaker. Fine-tuning on four templates did not teach the model what "
                "'second' means.",
    reference=second_accuracy,
    wrong=lambda: second_wrong_answers(),
))


# 09.4 · predict, then measure: the copying head and "who speaks last?"

def as_share(guess) -> float:
    if isinstance(guess, bool) or not isinstance(guess, (int, float)):
        raise Wrong(f"a prediction here is a share between 0 and 1, such as 0.5, not {describe(guess)}")
    if not 0 <= guess <= 1:
        raise Wrong(f"a share is between 0 and 1; {guess!r} is not (write 0.5 for 50 %)")
    return float(guess)


def copying_head():
    import numpy as np

    from ..chat import attention_on_answer

    shares, _ = attention_on_answer(*chat_model(), held_out().test_of("first")[:20])
    return tuple(int(i) for i in np.unravel_index(shares.argmax(), shares.shape))


def reveal_last(guess: float) -> str:
    from ..chat import accuracy_without_heads

    questions = held_out().test_of("last")
    head = copying_head()
    full = accuracy_without_heads(*chat_model(), questions)
    cut = accuracy_without_heads(*chat_model(), questions, [head])
    verdict = "close" if abs(guess - cut) <= 0.15 else ("too high" if guess > cut else "too low")
    reading = ("the same head reads the last speaker's name too: one copying circuit for both questions"
               if full - cut >= 0.5 else
               "'who speaks last?' does not rest on this head alone: another head (or several) can read that name")
    return (f"measured: {cut:.0%} right with head {head[0]}.{head[1]} off ({full:.0%} with the whole model); "
            f"your prediction {guess:.0%} is {verdict}. So {reading}.")


register(Exercise(
    id="09.4",
    title="Predict: the copying head switched off, on 'who speaks last?'",
    check=prediction(as_share, reveal_last),
    code="prediction = 0.0  # your share between 0 and 1; the check then measures",
    explanation="A prediction is yours to make. Section 5 found the head by the 'first' questions only; whether the "
                "'last' questions rest on the same head is measured by switching it off "
                "(`chat.accuracy_without_heads`).",
    reference=lambda: 0.0,
    wrong=lambda: [1.5, -0.1, "half", True],
    answer_name="prediction",
))

