"""Exercises with checked answers: `check(id, answer)` says ✓ or ✗ with a hint, `solution(id)` shows the reference.

In a notebook the learner replaces the `...` and runs the cell:

    from gptviz import exercises
    answer = ...
    exercises.check("00.2", answer)   # prints "✓ 00.2: why", "✗ 00.2: hint" or "… 00.2: not answered yet"

Each chapter registers its exercises in its own module, chNN.py, found and imported on first use:

    register(Exercise(id="03.1", title="...", check=number(measure, why="...", mistakes=[(test, hint)]),
                      code="answer = ...", explanation="...", reference=measure, wrong=lambda: [...]))

ch00.py shows every kind: a prediction, a number, a function the learner writes, a choice.
"""

from .core import (
    Exercise,
    Verdict,
    Wrong,
    catalog,
    check,
    get,
    register,
    run_solution,
    solution,
    solution_text,
    verdict,
)
from .kinds import as_number, choice, describe, function, near, number, prediction, pretrained

__all__ = [
    "Exercise", "Verdict", "Wrong", "as_number", "catalog", "check", "choice", "describe", "function", "get", "near",
    "number", "prediction", "pretrained", "register", "run_solution", "solution", "solution_text", "verdict",
]
