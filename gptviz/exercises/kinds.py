"""The kinds of exercise: a number, a choice, a function the learner writes, a prediction stated before measuring.

Each builder returns the `check` of an Exercise: answer -> (passed, message). A value that depends on the model is
measured on the shipped model when the answer is checked, never written down here.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..checkpoint import load_pretrained
from .core import Wrong

Mistake = tuple[Callable[..., bool], str]  # (does the answer look like this mistake?, the hint aimed at it)


@functools.cache
def pretrained():
    """The shipped model and its tokenizer, loaded once for all checks (the learner's own copy stays theirs)."""
    return load_pretrained()


def describe(value: Any) -> str:
    """A short description of a value for a hint: its type and the start of its repr."""
    text = repr(value)
    return f"the {type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def as_number(answer: Any) -> float:
    """`answer` as a float (a Python or NumPy number, or a one-element array or tensor); Wrong otherwise."""
    if isinstance(answer, (str, bytes)):
        quoted = re.fullmatch(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*", str(answer)) is not None
        raise Wrong(f"expected a number, got {describe(answer)}" + (": write it without quotes" if quoted else ""))
    if hasattr(answer, "detach"):  # a torch tensor
        answer = answer.detach().cpu().numpy()
    try:
        array = np.asarray(answer)
        if array.dtype.kind not in "iuf":
            raise TypeError
        array = array.astype(float)
    except (TypeError, ValueError):
        raise Wrong(f"expected a number, got {describe(answer)}") from None
    if array.size != 1:
        raise Wrong(f"expected one number, got {array.size} of them")
    value = float(array.reshape(()))
    if not math.isfinite(value):
        raise Wrong(f"expected a finite number, got {value}")
    return value


def near(value: float, truth: float, rel: float = 1e-2, abs_: float = 1e-9) -> bool:
    """True when `value` is within `rel` (relative) or `abs_` of `truth`."""
    return math.isclose(value, truth, rel_tol=rel, abs_tol=abs_)


def _first_mistake(mistakes: Sequence[Mistake], *args) -> str | None:
    """The hint of the first mistake whose test matches `args`."""
    for looks_like, hint in mistakes:
        try:
            if looks_like(*args):
                return hint
        except Exception:  # a test that cannot judge this answer does not match it
            continue
    return None


def number(measure: Callable[[], float], why: str, mistakes: Sequence[Mistake] = (), hint: str = "",
           rel: float = 1e-2, abs_: float = 1e-9):
    """A number measured at check time: ✓ within `rel`/`abs_`; else the hint of the first matching mistake.

    `why` and the hints may use {value} (the answer) and {truth} (the measurement); a mistake's test is called as
    test(value, truth).
    """
    def check(answer):
        value = as_number(answer)
        truth = float(measure())
        if near(value, truth, rel, abs_):
            return True, why.format(value=value, truth=truth)
        found = _first_mistake(mistakes, value, truth)
        return False, (found if found is not None else hint).format(value=value, truth=truth)

    check.kind = "number"
    return check


def choice(correct: Callable[[], Any], why: str, mistakes: Sequence[Mistake] = (), hint: str = "",
           normalise: Callable[[Any], Any] = lambda answer: answer):
    """One right value (a character, a tuple, a name), known at check time: ✓ when normalise(answer) equals it.

    `normalise` raises Wrong for an answer of the wrong form; a mistake's test is called as test(answer, truth);
    `why` and the hints may use {answer} and {truth}.
    """
    def check(answer):
        answer = normalise(answer)
        truth = correct()
        if answer == truth:
            return True, why.format(answer=answer, truth=truth)
        found = _first_mistake(mistakes, answer, truth)
        return False, (found if found is not None else hint).format(answer=answer, truth=truth)

    check.kind = "choice"
    return check


def _gives(fn: Callable, args: tuple, got: Any, same: Callable[[Any, Any], bool]) -> bool:
    """True when fn(*args) gives the same as `got` (False when fn cannot run on args)."""
    try:
        return bool(same(got, fn(*args)))
    except Exception:
        return False


def _show(value: Any) -> str:
    """A number to 5 significant digits, anything else by its repr."""
    try:
        return f"{as_number(value):.5g}"
    except Wrong:
        return repr(value)


def _call_text(name: str, args: tuple) -> str:
    shown = [repr(a) if len(repr(a)) <= 30 else repr(a)[:27] + "..." for a in args]
    return f"{name}({', '.join(shown)})"


def function(reference: Callable, inputs: Callable[[], list[tuple]], why: str, name: str,
             mistakes: Sequence[tuple[Callable, str]] = (), hint: str = "",
             same: Callable[[Any, Any], bool] = lambda got, expected: near(as_number(got), expected, 1e-4, 1e-3)):
    """A function the learner writes: called on every argument tuple of `inputs()` (edge cases included) and
    compared with `reference` by `same(got, expected)`.

    A mistake is a typical wrong implementation and its hint: when the learner's result equals the mistake's, that
    hint is given. A stub that returns None (a `...` body) on the first input is "not answered yet".
    """
    def check(fn):
        if not callable(fn):
            raise Wrong(f"expected a function (def {name}(...): ...), got {describe(fn)}")
        for i, args in enumerate(inputs()):
            call = _call_text(name, args)
            try:
                got = fn(*args)
            except Exception as err:
                return False, f"{call} raised {type(err).__name__}: {err}"
            if got is None or got is Ellipsis:
                if i == 0:
                    return None, f"not answered yet: {name} returns {got!r}; write its body and `return` the result"
                return False, f"{call} returned {got!r}: every input needs an answer"
            expected = reference(*args)
            try:
                if same(got, expected):
                    continue
            except Wrong as err:
                return False, f"{call}: {err}"
            found = next((text for wrong, text in mistakes if _gives(wrong, args, got, same)), hint)
            return False, f"{call} returned {_show(got)}, not {_show(expected)}. {found}".strip()
        return True, why

    check.kind = "function"
    return check


def prediction(validate: Callable[[Any], Any], reveal: Callable[[Any], str]):
    """A guess stated before measuring: ✗ only when it is not a possible guess (validate raises Wrong); otherwise
    ✓, and `reveal(guess)` measures the truth and says whether the guess matched it and why."""
    def check(guess):
        return True, reveal(validate(guess))

    check.kind = "prediction"
    return check
