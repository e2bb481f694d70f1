"""Chapter 04's exercises: predict what a head is needed for, write a role's mask, measure two heads switched off."""

from __future__ import annotations

import functools

import numpy as np

from ..ablation import ablated
from ..data import load_corpus
from .core import Exercise, Wrong, register
from .kinds import describe, function, near, number, prediction, pretrained

THREE_BACK = (0, 1)  # the shipped model's three-back head (its called role, chapter 04 section 3)
PAIR = [(0, 1), (0, 3)]  # the three-back and two-back heads


@functools.cache
def windows():
    """The fixed held-out windows every chapter-04 check measures on: 8 windows of 129 characters."""
    from ..heads import text_windows

    _, tok = pretrained()
    return text_windows(load_corpus().val_text, tok, 8, 129, seed=0)


# 04.1 · predict before measuring

def one_class(guess) -> str:
    from ..head_jobs import POSITION_CLASSES

    if not isinstance(guess, str) or guess not in POSITION_CLASSES:
        raise Wrong(f"a prediction here is one of {list(POSITION_CLASSES)}; got {describe(guess)}")
    return guess


@functools.cache
def three_back_damage() -> dict[str, float]:
    from ..head_jobs import POSITION_CLASSES, ablation_by_position

    model, tok = pretrained()
    damage = ablation_by_position(model, tok, windows()).damage[THREE_BACK]
    return dict(zip(POSITION_CLASSES, damage.tolist(), strict=True))


def reveal_three_back(guess: str) -> str:
    damage = three_back_damage()
    order = sorted(damage, key=damage.get, reverse=True)
    rank = order.index(guess) + 1
    verdict = "right: that is where it hurts most" if rank == 1 else f"it is number {rank} of {len(order)}"
    return (f"measured, switching off L0H1 costs {damage[order[0]]:+.2f} nats on the {order[0]!r} and "
            f"{damage['2nd letter']:+.2f} on the '2nd letter'; your {guess!r}: {verdict}. A head that looks three "
            "characters back helps most where three letters of the word are already written.")


register(Exercise(
    id="04.1",
    title="Predict where the three-back head is needed",
    check=prediction(one_class, reveal_three_back),
    code='prediction = "4th+ letter"  # any class of head_jobs.POSITION_CLASSES; then measure:\n'
         "from gptviz import head_jobs, heads\n"
         "corpus = gptviz.load_corpus()\n"
         "damage = head_jobs.ablation_by_position(model, tok, heads.text_windows(corpus.val_text, tok, 8, 129))\n"
         "print(dict(zip(head_jobs.POSITION_CLASSES, damage.damage[0, 1].round(2))))",
    explanation="Head L0H1 puts half its attention on the character three back. Inside a long word that character "
                "is a letter of the same word, which narrows the next letter down; on a word's first or second "
                "letter it is in the previous word, or a space, and tells little.",
    reference=lambda: "4th+ letter",
    wrong=lambda: ["fourth letter", 4, None, ["4th+ letter"]],
    answer_name="prediction",
))


# 04.2 · write a role's mask

def k_back(T: int, k: int) -> np.ndarray:
    """(T, T) booleans: True at [i, j] when key j is exactly k positions before query i."""
    i, j = np.indices((T, T))
    return j == i - k


def k_back_inputs() -> list[tuple[int, int]]:
    return [(3, 1), (4, 2), (5, 3), (10, 4), (5, 0), (4, 4), (1, 0)]


register(Exercise(
    id="04.2",
    title="Write the mask of a role: the key k characters back",
    check=function(
        k_back, k_back_inputs, name="k_back",
        why="right for every T and k, k = 0 (the token itself) and k = T (no key: an empty mask) included. With "
            "k = 1, 2, 3 it is the package's previous-token, two-back and three-back masks (heads.role_masks).",
        mistakes=[
            (lambda T, k: np.indices((T, T))[1] == np.indices((T, T))[0] + k,
             "That is k positions AFTER the query: the future, which the causal mask hides. Use j == i - k."),
            (lambda T, k: np.indices((T, T))[1] == np.indices((T, T))[0] - k + 1,
             "Off by one: that is k - 1 back. For k = 1 the key is the previous token, j = i - 1."),
            (lambda T, k: np.indices((T, T))[1] <= np.indices((T, T))[0] - k,
             "That marks every key at least k back; the role is exactly k back (==, not <=)."),
            (lambda T, k: (np.indices((T, T))[1] == np.indices((T, T))[0] - k).astype(int),
             "Return booleans (True/False), not numbers: masks are indexed and combined with & and ~."),
        ],
        hint="i, j = np.indices((T, T)) gives every query index i and key index j; compare them.",
        same=lambda got, expected: isinstance(got, np.ndarray) and got.dtype == bool and np.array_equal(got, expected),
    ),
    code="def k_back(T, k):\n    i, j = np.indices((T, T))  # query and key index of every cell\n    return j == i - k",
    explanation="Row i is the query, column j the key. The key k places back sits at j = i - k, on the k-th "
                "diagonal below the main one; a head with this role puts its weight on that diagonal. Rows with "
                "i < k have no such key, so they stay False.",
    reference=lambda: k_back,
    wrong=lambda: [lambda T, k: np.indices((T, T))[1] == np.indices((T, T))[0] + k,
                   lambda T, k: np.indices((T, T))[1] <= np.indices((T, T))[0] - k,
                   lambda T, k: np.tril(np.ones((T, T), dtype=bool), -k), "j == i - k"],
    answer_name="k_back",
))


# 04.3 · two heads off at once

@functools.cache
def losses() -> dict[str, float]:
    from ..heads import windows_loss

    model, _ = pretrained()
    ids = windows()
    out = {"base": windows_loss(model, ids)}
    for name, heads in (("pair", PAIR), ("first", PAIR[:1]), ("second", PAIR[1:])):
        with ablated(model, heads=heads):
            out[name] = windows_loss(model, ids)
    return out


def pair_increase() -> float:
    found = losses()
    return found["pair"] - found["base"]


register(Exercise(
    id="04.3",
    title="Switch off the two-back and three-back heads at once: is the damage the sum of the two?",
    check=number(
        pair_increase,
        why="both heads off cost {truth:+.2f} nats per character. Compare with the sum of the two one at a time "
            "(section 4's table): equal means independent jobs; more means each covers part of the other's job "
            "when it is missing; less means one head's work reaches the output through the other.",
        mistakes=[
            (lambda value, truth: near(value, losses()["first"] - losses()["base"] + losses()["second"]
                                       - losses()["base"], 0.02),
             "That is the sum of the two single increases; switch both off in ONE `ablated(model, heads=[...])`."),
            (lambda value, truth: near(value, losses()["pair"], 0.02),
             "That is the loss itself; the question asks for the increase over the loss with every head on."),
            (lambda value, truth: near(value, losses()["first"] - losses()["base"], 0.02)
             or near(value, losses()["second"] - losses()["base"], 0.02),
             "That is one head alone; pass both pairs, heads=[(0, 1), (0, 3)]."),
        ],
        hint="Measure heads.windows_loss on the windows with every head, then inside "
             "`with ablated(model, heads=[(0, 1), (0, 3)]):`, and subtract.",
        rel=0.02,
    ),
    code="from gptviz import heads\n"
         "from gptviz.ablation import ablated\n"
         "corpus = gptviz.load_corpus()\n"
         "ids = heads.text_windows(corpus.val_text, tok, 8, 129, seed=0)\n"
         "base = heads.windows_loss(model, ids)\n"
         "with ablated(model, heads=[(0, 1), (0, 3)]):\n"
         "    answer = heads.windows_loss(model, ids) - base",
    explanation="`ablated` zeroes the listed heads' outputs for the length of the `with` block. The increase with "
                "both off is compared with the single increases to see whether the heads' contributions add up.",
    reference=pair_increase,
    wrong=lambda: [losses()["pair"], losses()["first"] - losses()["base"],
                   losses()["first"] + losses()["second"] - 2 * losses()["base"], "1.9"],
))
