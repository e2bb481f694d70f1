"""Chapter 00's exercises: predict the next character, measure its probability, score a text, count the passes."""

from __future__ import annotations

import numpy as np

from ..sampling import next_token_probs
from ..trace import inspect
from .core import Exercise, Wrong, register
from .kinds import choice, describe, function, near, number, prediction, pretrained

PROMPT = "ROMEO:\nO, Juli"


def probs_after(text: str) -> np.ndarray:
    """The shipped model's next-character probabilities after `text`."""
    model, tok = pretrained()
    return next_token_probs(model, tok, text)


# 00.1 · predict before measuring

def one_character(guess) -> str:
    """`guess` if it is one character the model knows; Wrong otherwise."""
    _, tok = pretrained()
    if not isinstance(guess, str):
        raise Wrong(f"a prediction here is one character in quotes, such as 'x', not {type(guess).__name__}")
    if len(guess) != 1:
        raise Wrong(f"a prediction here is exactly one character, such as 'x'; {guess!r} has {len(guess)}")
    if guess not in tok.stoi:
        raise Wrong(f"the model cannot produce {guess!r}: its {tok.vocab_size} characters are {''.join(tok.chars)!r}")
    return guess


def reveal_next_character(guess: str) -> str:
    probs = probs_after(PROMPT)
    _, tok = pretrained()
    order = np.argsort(-probs)
    top = ", ".join(repr(tok.chars[i]) for i in order[:3])  # no probabilities: 00.2 asks for one
    rank = int(np.flatnonzero(order == tok.stoi[guess])[0]) + 1
    if rank == 1:
        verdict = f"your prediction {guess!r} is the model's favourite."
    else:
        verdict = f"your prediction {guess!r} is its choice number {rank} of {tok.vocab_size}."
    names = ""
    if {tok.chars[i] for i in order[:3]} == {"a", "e", "u"}:
        names = (" It spreads its bet over names from the plays (Julia, Juliet, Julius): for this small model, the "
                 "speaker 'ROMEO' does not settle which.")
    return f"measured, the model's top three: {top}; {verdict}{names}"


register(Exercise(
    id="00.1",
    title="Predict the next character, then measure it",
    check=prediction(one_character, reveal_next_character),
    code=f'prediction = "a"  # any one character you believe in; the check then measures\n'
         f"probs = gptviz.next_token_probs(model, tok, {PROMPT!r})\n"
         f'print("measured favourite:", repr(tok.chars[int(np.argmax(probs))]))',
    explanation="A prediction is yours to make: any character the model knows is accepted, and the check tells you "
                "how the model ranked it. `next_token_probs` gives one probability per vocabulary character; "
                "the largest is the model's favourite.",
    reference=lambda: "a",
    wrong=lambda: ["Juliet", 5, "é", ""],
    answer_name="prediction",
))


# 00.2 · an expression over the real model

def p_e(text: str = PROMPT) -> float:
    _, tok = pretrained()
    return float(probs_after(text)[tok.stoi["e"]])


def logit_e() -> float:
    import torch

    model, tok = pretrained()
    with torch.no_grad():
        logits, _ = model(torch.tensor([tok.encode(PROMPT)]))
    return float(logits[0, -1, tok.stoi["e"]])


register(Exercise(
    id="00.2",
    title="The probability of 'e' (Juliet) after 'O, Juli'",
    check=number(
        p_e,
        why="the softmax of the last position gives 'e' {truth:.3f}: one entry of the distribution over all "
            "characters, which sums to 1.",
        mistakes=[
            (lambda value, truth: value < 0, "That is negative: a log-probability? Give the probability itself, "
                                             "between 0 and 1."),
            (lambda value, truth: near(value, 100 * truth), "That looks like a percentage: give a probability "
                                                            "between 0 and 1."),
            (lambda value, truth: near(value, probs_after(PROMPT).max()), "That is the favourite's probability; "
             "look up the entry for 'e' with tok.stoi['e']."),
            (lambda value, truth: near(value, p_e(PROMPT[:-1])), "Off by one position: that is the probability of "
             "'e' after '...Jul'. Use the whole prompt, ending in 'Juli'."),
            (lambda value, truth: near(value, logit_e()), "That is the score (logit) of 'e'; the softmax turns the "
                                                          "scores into probabilities."),
            (lambda value, truth: near(value, pretrained()[1].stoi["e"]), "That is the index of 'e' in the "
             "vocabulary, not its probability."),
        ],
        hint="Use gptviz.next_token_probs(model, tok, prompt), and pick the entry of 'e' with tok.stoi['e'].",
        rel=0.02,  # two significant digits are enough
    ),
    code=f"probs = gptviz.next_token_probs(model, tok, {PROMPT!r})  # one probability per character\n"
         'answer = probs[tok.stoi["e"]]',
    explanation="`next_token_probs` runs the model once and applies the softmax to the last position's logits: an "
                "array with one probability per vocabulary character. `tok.stoi` maps a character to its index.",
    reference=p_e,
    wrong=lambda: [probs_after(PROMPT).max(), 100 * p_e(), np.log(p_e()), p_e(PROMPT[:-1]), logit_e(), "e", "0.4"],
))


# 00.3 · write a function

def scored(text: str) -> tuple[np.ndarray, np.ndarray]:
    """The model's guesses at every position of `text` (T, vocab_size) and its token ids (T,)."""
    model, tok = pretrained()
    trace = inspect(model, tok, text)
    return trace.probs, trace.ids


def text_logprob(text: str) -> float:
    """The model's log-probability (natural log) of every character of `text` after the first, summed."""
    probs, ids = scored(text)
    return float(np.log(probs[np.arange(len(ids) - 1), ids[1:]]).sum())  # row t guesses the token at t + 1


# Typical wrong versions of text_logprob, each with the hint aimed at it below.
def same_position(text):
    probs, ids = scored(text)
    return float(np.log(probs[np.arange(len(ids) - 1), ids[:-1]]).sum())


def rows_one_late(text):
    probs, ids = scored(text)
    return float(np.log(probs[np.arange(1, len(ids)), ids[1:]]).sum())


def probability_of_text(text):
    return float(np.exp(text_logprob(text)))


def sum_of_probabilities(text):
    probs, ids = scored(text)
    return float(probs[np.arange(len(ids) - 1), ids[1:]].sum())


def loss_of_text(text):
    return -text_logprob(text)


def mean_logprob(text):
    return text_logprob(text) / (len(text) - 1) if len(text) > 1 else float("nan")


def log2_logprob(text):
    return text_logprob(text) / np.log(2)


def logprob_inputs() -> list[tuple[str]]:
    """Texts to score: a name, a line of verse, the shortest texts (one character scores 0), the longest."""
    model, _ = pretrained()
    longest = ("KING HENRY:\nOnce more unto the breach, dear friends, once more;\n" * 5)[: model.config.block_size]
    return [(f"{PROMPT}et",), ("KING HENRY:\nOnce more unto the breach",), ("\n\n",), ("a",), (longest,)]


register(Exercise(
    id="00.3",
    title="Score a whole text: its log-probability under the model",
    check=function(
        text_logprob, logprob_inputs, name="text_logprob",
        why="right on every text, the one-character one (nothing to predict: 0) and a full 256-character window "
            "included. Row t of trace.probs is the guess for the token at t + 1; the mean of -text_logprob per "
            "predicted character is the loss printed in this chapter's checks.",
        mistakes=[
            (same_position, "Off by one: row t of trace.probs is the guess for the NEXT token, "
                                     "trace.ids[t + 1], not trace.ids[t]."),
            (rows_one_late, "Off by one: row t guesses token t + 1, so the first row (t = 0) guesses "
                                    "trace.ids[1]; you started one row late."),
            (probability_of_text, "That is the probability of the text (a product of the guesses); the "
                                  "log-probability is the sum of their logs."),
            (sum_of_probabilities, "You added probabilities; add their logarithms (np.log) instead."),
            (loss_of_text, "Sign: log-probabilities are at most 0. That is the loss (the negative)."),
            (mean_logprob, "That is the average per character; the question asks for the sum."),
            (log2_logprob, "That is in bits (log2); use the natural log, np.log, as the loss does."),
        ],
        hint="gptviz.inspect(model, tok, text) gives trace.probs (one row per position) and trace.ids.",
    ),
    code='''def text_logprob(text):
    trace = gptviz.inspect(model, tok, text)
    targets = trace.ids[1:]  # position t guesses the token at t + 1
    guesses = trace.probs[np.arange(len(targets)), targets]  # the probability each guess gave its target
    return float(np.log(guesses).sum())''',
    explanation="The model outputs one distribution per position, and the one at position t is its guess for the "
                "token at t + 1. So the first character is never scored, and each later one is scored by the row "
                "before it. Summing logs instead of multiplying probabilities keeps the number readable: 50 "
                "guesses of 0.3 multiply to about 1e-26.",
    reference=lambda: text_logprob,
    wrong=lambda: [same_position, rows_one_late, probability_of_text, sum_of_probabilities, loss_of_text,
                   mean_logprob, log2_logprob, "text_logprob"],
    answer_name="text_logprob",
))


# 00.4 · a choice that depends on the model's size

def as_pair(answer) -> tuple:
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise Wrong(f"give two numbers, (runs of the model, characters read on the last run); got {describe(answer)}")
    if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in answer):
        raise Wrong(f"both are whole numbers; got {answer!r}")
    return int(answer[0]), int(answer[1])


def runs_and_last_read() -> tuple[int, int]:
    model, _ = pretrained()
    return 300, min(20 + 299, model.config.block_size)


register(Exercise(
    id="00.4",
    title="How many runs of the model, and how much does the last one read?",
    check=choice(
        runs_and_last_read, normalise=as_pair,
        why="one run per new character, and the last run reads only the last {truth[1]} characters: the text "
            "(20 + 299 = 319 characters by then) is longer than the model's context, so the window slides.",
        mistakes=[
            (lambda answer, truth: answer[0] == 1, "One run gives the distribution for one next character; each new "
                                                   "character needs a run of its own."),
            (lambda answer, truth: answer[0] in (299, 301), "Off by one in the runs: the loop runs once per new "
                                                            "character, 300 times."),
            (lambda answer, truth: answer[0] == truth[0] and answer[1] > truth[1], "The model reads at most "
             "model.config.block_size characters; a longer text is cut to its end."),
            (lambda answer, truth: answer[0] == truth[0] and answer[1] in (truth[1] - 1, truth[1] + 1),
             "Off by one in the characters read: count the prompt and the 299 characters added before the last run."),
        ],
        hint="Reread the loop of Stage 5 and the recap's last line.",
    ),
    code="block_size = model.config.block_size  # the longest text the model reads at once\n"
         "answer = (300, min(20 + 299, block_size))",
    explanation="The loop runs the model once per new character: 300 runs. Before the last run the text holds the "
                "20-character prompt and 299 new characters, 319 in all; the model reads at most block_size = 256 "
                "of them, so `next_token_probs` passes it the last 256.",
    reference=runs_and_last_read,
    wrong=lambda: [(300, 319), (301, 256), (1, 256), (300, 255), 300, ("300", "256")],
))
