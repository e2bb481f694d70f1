"""Argument checks shared by the package: numpy numbers count as numbers, errors name the argument, value and range."""

from __future__ import annotations

import math
import numbers

import numpy as np

SEED_MAX = 2**63 - 1  # torch seeds are 64-bit; training adds 1 and 2 to its seed, so stay well inside


def _shown(value) -> str:
    """The value as a learner typed it: np.int64(3) shows as 3, anything else by its repr."""
    if isinstance(value, (np.integer, np.floating)):
        return repr(value.item())
    return repr(value)


def _range(kind: str, low, high, low_open: bool, high_open: bool, none_ok: bool) -> str:
    """'an integer >= 1', 'a number in (0, 1]', ... (with ' or None' where None is allowed)."""
    if low is not None and high is not None:
        text = f"{kind} in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    elif low is not None:
        text = f"{kind} {'>' if low_open else '>='} {low}"
    elif high is not None:
        text = f"{kind} {'<' if high_open else '<='} {high}"
    else:
        text = kind
    return text + (" or None" if none_ok else "")


def _of_type(name: str, value, kind, allowed: str):
    """`value` if it is a number of `kind` (bools are not numbers here), else a ValueError saying what is allowed."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, kind):
        raise ValueError(f"{name} must be {allowed}, got {_shown(value)} ({type(value).__name__})")
    return value


def check_int(name: str, value, low: int | None = None, high: int | None = None, none_ok: bool = False) -> int | None:
    """`value` as a Python int (numpy integers welcome), or a ValueError naming `name`, the value and the range."""
    if value is None and none_ok:
        return None
    allowed = _range("an integer", low, high, False, False, none_ok)
    value = int(_of_type(name, value, numbers.Integral, allowed))
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be {allowed}, got {value}")
    return value


def check_float(name: str, value, low: float | None = None, high: float | None = None, low_open: bool = False,
                high_open: bool = False, none_ok: bool = False) -> float | None:
    """`value` as a finite Python float (ints and numpy numbers welcome), or a ValueError naming argument and range."""
    if value is None and none_ok:
        return None
    allowed = _range("a finite number", low, high, low_open, high_open, none_ok)
    value = float(_of_type(name, value, numbers.Real, allowed))
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if not math.isfinite(value) or too_low or too_high:
        raise ValueError(f"{name} must be {allowed}, got {value}")
    return value


def check_seed(name: str, value, none_ok: bool = False) -> int | None:
    """A random seed: an integer in [0, SEED_MAX]."""
    return check_int(name, value, 0, SEED_MAX, none_ok)
