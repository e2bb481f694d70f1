"""Chapter 07's exercises: the bigram model's choices, perplexity, the pair table, the loss of a uniform guess."""

from __future__ import annotations

import functools
import math

from .. import baselines
from ..data import load_corpus
from .core import Exercise, Wrong, register
from .kinds import as_number, function, near, number, prediction, pretrained


@functools.cache
def bigram_loss() -> float:
    """The bigram model's validation loss (nats per character), counted on the training plays."""
    corpus = load_corpus()
    return baselines.bigram_loss(corpus.train_text, corpus.val_text, pretrained()[1])


@functools.cache
def q_row():
    """The bigram model's probabilities of each character after 'q'."""
    _, tok = pretrained()
    return baselines.bigram_probs(load_corpus().train_text, tok)[tok.stoi["q"]]


# 07.1 · predict before measuring

def choices(guess) -> float:
    """`guess` as a number of equally likely characters, 1 to the vocabulary size; Wrong otherwise."""
    value = as_number(guess)
    size = pretrained()[1].vocab_size
    if not 1 <= value <= size:
        raise Wrong(f"a number of characters to choose among is between 1 (certain) and {size} (every one), "
                    f"got {value:g}")
    return value


def reveal_choices(guess: float) -> str:
    loss = bigram_loss()
    truth = math.exp(loss)
    if abs(math.log(guess / truth)) < math.log(1.5):
        verdict = "within a factor 1.5: well judged."
    else:
        factor = max(guess, truth) / min(guess, truth)
        verdict = f"{'too many' if guess > truth else 'too few'}: off by a factor {factor:.1f}."
    return (f"measured: the bigram model's loss is {loss:.2f} nats, so its perplexity is exp({loss:.2f}) = "
            f"{truth:.1f}: as unsure as a fair choice among about {round(truth)} characters. You guessed {guess:g}, "
            f"{verdict}")


register(Exercise(
    id="07.1",
    title="Among how many characters does the bigram model effectively choose?",
    check=prediction(choices, reveal_choices),
    code="answer = 12  # your guess, then the check measures exp(bigram loss)",
    explanation="A loss of L nats per character is what a model would score if, at every position, it chose "
                "fairly among exp(L) characters: that number is the perplexity. The bigram model's loss of about "
                "2.5 nats makes about 12 characters, against 77 for a uniform guess.",
    reference=lambda: 12,
    wrong=lambda: [0, 100, "twelve", -3],
))


# 07.2 · write a function

def perplexity(loss):
    """exp(loss): the perplexity of a loss in nats."""
    return math.exp(loss)


def loss_inputs() -> list[tuple[float]]:
    """Losses to convert: a perfect model, the uniform guess over the vocabulary, the bigram's, the shipped model's."""
    return [(0.0,), (math.log(pretrained()[1].vocab_size),), (2.5,), (1.47,)]


register(Exercise(
    id="07.2",
    title="Perplexity from a loss",
    check=function(
        perplexity, loss_inputs, name="perplexity",
        why="right on every loss: exp(0) = 1 (a certain model), exp(ln 77) = 77 (the uniform guess), and the "
            "shipped model's 1.47 nats make about 4.3 characters.",
        mistakes=[
            (lambda loss: 2 ** loss, "2 ** loss is the perplexity of a loss in bits; this loss is in nats "
                                     "(natural log), so use math.exp."),
            (lambda loss: math.exp(-loss), "Sign: exp(-loss) is the geometric mean probability of the right "
                                           "character; its inverse, exp(loss), is the perplexity."),
            (lambda loss: math.log(loss), "That is a logarithm; the perplexity undoes the logarithm: exp."),
            (lambda loss: 10 ** loss, "10 ** loss would undo a base-10 log; the loss uses the natural log: exp."),
        ],
        hint="The loss is the mean of -ln p(right character); the perplexity undoes the log.",
    ),
    code="import math\n\ndef perplexity(loss):\n    return math.exp(loss)",
    explanation="The loss is the mean of -ln p over the characters, so exp(loss) is 1 / (the geometric mean of "
                "p): the number of characters a fair choice would pick among to be that unsure.",
    reference=lambda: perplexity,
    wrong=lambda: [lambda loss: 2 ** loss, lambda loss: math.exp(-loss), lambda loss: 1 / loss, "exp"],
    answer_name="perplexity",
))


# 07.3 · a number from the pair counts

register(Exercise(
    id="07.3",
    title="How likely is 'u' after 'q', in the bigram table?",
    check=number(
        lambda: float(q_row()[pretrained()[1].stoi["u"]]),
        why="after 'q' the pair counts give 'u' {truth:.3f}: nearly certain, as in English spelling. That is the "
            "kind of rule the bigram model knows, and all it knows.",
        mistakes=[
            (lambda value, truth: near(value, 100 * truth), "That looks like a percentage; give a probability "
                                                            "between 0 and 1."),
            (lambda value, truth: value > 1, "A probability is at most 1: divide the count by the row's total."),
            (lambda value, truth: near(value, float(q_row().max())) and not near(value, truth),
             "That is the row's largest entry, but not the one for 'u'."),
        ],
        hint="Row tok.stoi['q'] of baselines.bigram_probs(corpus.train_text, tok) holds the probabilities after "
             "'q'; pick column tok.stoi['u'].",
        rel=0.02,
    ),
    code="from gptviz import baselines\n\n"
         "probs = baselines.bigram_probs(gptviz.load_corpus().train_text, tok)  # row: previous, column: next\n"
         'answer = probs[tok.stoi["q"], tok.stoi["u"]]',
    explanation="Row i of the table is the bigram model's distribution of the next character after character i, "
                "counted in the training plays (plus one for every pair, so nothing is impossible).",
    reference=lambda: float(q_row()[pretrained()[1].stoi["u"]]),
    wrong=lambda: [100 * float(q_row()[pretrained()[1].stoi["u"]]), 2.0, "u"],
))


# 07.4 · the first loss of every run

def uniform_loss() -> float:
    return math.log(pretrained()[1].vocab_size)


register(Exercise(
    id="07.4",
    title="The loss of a model that gives every character the same probability",
    check=number(
        uniform_loss,
        why="-ln(1/77) = ln 77 = {truth:.2f} nats: where every run starts, since random weights give nearly equal "
            "scores to every character.",
        mistakes=[
            (lambda value, truth: near(value, truth / math.log(2)), "That is in bits (log2); the loss uses the "
                                                                    "natural log."),
            (lambda value, truth: near(value, -truth), "Sign: the loss is minus the log-probability, so it is "
                                                       "positive."),
            (lambda value, truth: near(value, math.exp(-truth)), "That is the probability of each character; the "
                                                                 "loss is -ln of it."),
            (lambda value, truth: near(value, truth / math.log(10)), "That is a base-10 log; use the natural log."),
        ],
        hint="Each of the tok.vocab_size characters gets probability 1 / tok.vocab_size; the loss is -ln of the "
             "probability of the right one.",
    ),
    code="import math\n\nanswer = -math.log(1 / tok.vocab_size)",
    explanation="Whatever the right character is, the uniform model gave it 1/77, so every position costs "
                "-ln(1/77) = ln 77 nats; the mean is the same.",
    reference=uniform_loss,
    wrong=lambda: [math.log2(77), -math.log(77), 1 / 77, math.log10(77)],
))
