"""Chapter 03's exercises: a safe softmax, the causal mask, a prediction about reach, the word-start head."""

from __future__ import annotations

import functools

import numpy as np
import torch

from ..heads import head_roles
from ..reach import context_loss, heldout_windows
from .core import Exercise, Wrong, register
from .kinds import as_number, choice, describe, function, prediction, pretrained


def _same_array(got, expected) -> bool:
    got = torch.as_tensor(np.asarray(got.detach().cpu() if hasattr(got, "detach") else got))
    if got.shape != expected.shape:
        raise Wrong(f"the result has shape {tuple(got.shape)}; it should be {tuple(expected.shape)}")
    if got.dtype == torch.bool or expected.dtype == torch.bool:
        return bool(torch.equal(got.bool(), expected.bool()))
    return bool(torch.allclose(got.double(), expected.double(), atol=1e-6, equal_nan=True))


# 03.1 · write the softmax of each row

def safe_softmax(scores):
    shifted = scores - scores.max(dim=-1, keepdim=True).values  # exp of at most 0: never overflows
    e = shifted.exp()
    return e / e.sum(dim=-1, keepdim=True)


def softmax_inputs() -> list[tuple]:
    """Ordinary scores, scores in the hundreds (exp overflows without the shift), one row, a -inf from the mask."""
    gen = torch.Generator().manual_seed(1)
    masked = torch.randn(3, 3, generator=gen).masked_fill(torch.ones(3, 3, dtype=torch.bool).triu(1), float("-inf"))
    return [(torch.randn(5, 7, generator=gen),), (100 * torch.randn(4, 6, generator=gen),),
            (torch.tensor([[1.0, 2.0, 3.0]]),), (masked,)]


def no_shift(scores):
    e = scores.exp()
    return e / e.sum(dim=-1, keepdim=True)


def over_columns(scores):
    return torch.softmax(scores, dim=0)


def divide_by_scores(scores):
    return scores / scores.sum(dim=-1, keepdim=True)


register(Exercise(
    id="03.1",
    title="Write the softmax of each row (safely)",
    check=function(
        lambda scores: torch.softmax(scores, dim=-1), softmax_inputs, name="my_softmax", same=_same_array,
        why="equal to torch.softmax on every row, scores in the hundreds and masked (-inf) entries included: "
            "subtracting the row's maximum changes nothing mathematically and keeps exp from overflowing.",
        mistakes=[
            (no_shift, "Scores in the hundreds overflow exp (inf / inf = nan): subtract each row's maximum first."),
            (over_columns, "Each ROW must sum to 1: reduce over the last dimension (dim=-1), not dim=0."),
            (divide_by_scores, "Apply exp before normalising: dividing the scores by their sum is not a softmax."),
        ],
        hint="exp of (scores minus the row maximum), divided by its row sum (keepdim=True keeps the shapes aligned).",
    ),
    code='''def my_softmax(scores):
    shifted = scores - scores.max(dim=-1, keepdim=True).values  # the largest entry becomes 0
    e = shifted.exp()
    return e / e.sum(dim=-1, keepdim=True)''',
    explanation="softmax(s) = exp(s) / sum(exp(s)) does not change when the same number is subtracted from every "
                "entry of a row. Subtracting the row's maximum makes every exponent at most 0, so exp never "
                "overflows; a masked -inf still becomes a weight of exactly 0.",
    reference=lambda: safe_softmax,
    wrong=lambda: [no_shift, over_columns, divide_by_scores, torch.softmax],
    answer_name="my_softmax",
))


# 03.2 · the causal mask without triu

def future_mask(T):
    positions = torch.arange(T)
    return positions[None, :] > positions[:, None]  # key (column) after query (row)


def mask_inputs() -> list[tuple]:
    return [(4,), (1,), (6,), (9,)]


register(Exercise(
    id="03.2",
    title="Build the causal mask with torch.arange",
    check=function(
        lambda T: torch.ones(T, T, dtype=torch.bool).triu(1), mask_inputs, name="causal_mask", same=_same_array,
        why="True exactly where the key (column) comes after the query (row): those scores become -inf.",
        mistakes=[
            (lambda T: torch.arange(T)[None, :] < torch.arange(T)[:, None],
             "Transposed: row = the query (the token looking), column = the key; mark the keys AFTER the query."),
            (lambda T: torch.arange(T)[None, :] >= torch.arange(T)[:, None],
             "The diagonal is marked: a token may look at itself; only later positions are hidden."),
            (lambda T: torch.arange(T)[None, :] <= torch.arange(T)[:, None],
             "That is the allowed part (the past and the token itself); the mask marks the hidden future."),
        ],
        hint="Compare a row of positions torch.arange(T)[None, :] with a column torch.arange(T)[:, None].",
    ),
    code='''def causal_mask(T):
    positions = torch.arange(T)
    return positions[None, :] > positions[:, None]  # [i, j] True when key j comes after query i''',
    explanation="Broadcasting a row of positions against a column of positions compares every (query i, key j) "
                "pair at once; j > i is the future that the mask hides.",
    reference=lambda: future_mask,
    wrong=lambda: [lambda T: torch.arange(T)[None, :] < torch.arange(T)[:, None],
                   lambda T: torch.arange(T)[None, :] >= torch.arange(T)[:, None],
                   lambda T: torch.ones(T, T)],
    answer_name="causal_mask",
))


# 03.3 · predict, then measure: what does the model lose with only 32 characters?

@functools.cache
def cut_gain() -> tuple[float, float]:
    """Held-out loss with 32 characters minus the loss with 256, on fixed windows: (mean, standard error)."""
    model, tok = pretrained()
    from ..data import load_corpus

    ids = heldout_windows(load_corpus().val_text, tok, 96, 256, seed=5)
    return context_loss(model, ids, contexts=(32, 256)).gain(32, 256)


def nats_guess(guess) -> float:
    if isinstance(guess, (bool, np.bool_)):
        raise Wrong("guess a number of nats (such as 0.3), not True or False")
    value = as_number(guess)
    if not -1 <= value <= 5:
        raise Wrong(f"a loss difference here lies between -1 and 5 nats; {value} is not a possible guess")
    return value


def reveal_cut(guess: float) -> str:
    gain, se = cut_gain()
    if abs(guess - gain) <= max(0.05, 2 * se):
        verdict = "your guess is within the measurement's noise"
    else:
        verdict = f"your guess was {'too high' if guess > gain else 'too low'}"
    return (f"measured: with 32 characters instead of 256 the loss is {gain:+.3f} ± {se:.3f} nats higher; {verdict}. "
            "Far characters do change the prediction (section 4b) but, for this small model, carry little that "
            "the last 32 do not.")


register(Exercise(
    id="03.3",
    title="Predict: how much does the loss rise when the model may read 32 characters instead of 256?",
    check=prediction(nats_guess, reveal_cut),
    code='''prediction = 0.3  # your guess, in nats per character; then measure:
from gptviz import reach
ids = reach.heldout_windows(gptviz.load_corpus().val_text, tok, 96, 256, seed=5)
curve = reach.context_loss(model, ids, contexts=(32, 256))
print("loss rise with 32 characters instead of 256: %+.3f ± %.3f nats" % curve.gain(32, 256))''',
    explanation="Any number of nats is a guess you may make; the check measures the same held-out targets read "
                "with 256 and with 32 characters and reports the difference with its standard error.",
    reference=lambda: 0.3,
    wrong=lambda: ["0.3", True, 42.0, None],
    answer_name="prediction",
))


# 03.4 · find the word-start head

@functools.cache
def _roles():
    model, tok = pretrained()
    from ..data import load_corpus

    return head_roles(model, tok, load_corpus().val_text, windows=8, length=128, seed=0)


def word_start_head() -> tuple[int, int]:
    lift = _roles().lift("word start")
    return tuple(int(i) for i in np.unravel_index(lift.argmax(), lift.shape))


def as_layer_head(answer) -> tuple[int, int]:
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise Wrong(f"give a pair (layer, head), counted from 0; got {describe(answer)}")
    if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in answer):
        raise Wrong(f"layer and head are whole numbers; got {answer!r}")
    return int(answer[0]), int(answer[1])


def previous_token_head() -> tuple[int, int]:
    scores = _roles().scores["previous token"]
    return tuple(int(i) for i in np.unravel_index(scores.argmax(), scores.shape))


register(Exercise(
    id="03.4",
    title="Which head looks at the first letter of the current word?",
    check=choice(
        word_start_head, normalise=as_layer_head,
        why="head {truth[1]} of layer {truth[0]} gives the first letter of the current word the most attention "
            "relative to spreading evenly (its lift); chapter 04 measures every head's roles this way.",
        mistakes=[
            (lambda answer, truth: answer == (truth[0] + 1, truth[1] + 1), "Count layers and heads from 0, as the "
                                                                          "sliders do."),
            (lambda answer, truth: answer == previous_token_head(), "That head looks at the previous character; "
             "the word-start head looks further back, to the letter after the last space."),
        ],
        hint="In the explorer, follow a letter late in a long word; or compute roles.lift('word start') and take its "
             "argmax with np.unravel_index.",
    ),
    code='''from gptviz import heads
roles = heads.head_roles(model, tok, gptviz.load_corpus().val_text, windows=8, length=128, seed=0)
lift = roles.lift("word start")  # (layers, heads): attention on the word's first letter / chance
answer = tuple(int(i) for i in np.unravel_index(lift.argmax(), lift.shape))''',
    explanation="`head_roles` measures, for every head, the share of its attention on a key picked by a rule (here "
                "the first letter of the current word) and divides it by what even spreading would give.",
    reference=word_start_head,
    wrong=lambda: [(2, 4), (0, 0), (9, 9), "1,3"],
))
