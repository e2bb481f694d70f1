"""The exercise registry and what a learner calls: `check(id, answer)`, `solution(id)`, `catalog(chapter)`."""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ID_PATTERN = re.compile(r"^(\d\d)\.([1-9]\d*)$")  # "NN.k": the chapter's number, then the exercise's
MARKS = {True: "✓", False: "✗", None: "…"}


class Wrong(Exception):
    """An answer of the wrong type or shape: `check` says ✗ with this message instead of stopping the notebook."""


@dataclass(frozen=True, repr=False)
class Exercise:
    """One exercise: how to judge an answer, the reference solution, and the typical wrong answers."""

    id: str  # "NN.k"
    title: str  # one line
    check: Callable[[Any], tuple[bool | None, str]]  # answer (never `...`) -> (passed, why or hint; None: blank)
    code: str  # the reference solution as a learner would write it; it binds `answer_name`
    explanation: str  # why that is the answer, in a sentence or two
    reference: Callable[[], Any]  # the answer `code` computes, computed here: the tests feed it to `check`
    wrong: Callable[[], list]  # typical wrong answers: `check` must say ✗ to each (the tests make sure)
    answer_name: str = "answer"  # the name the notebook cell and `code` give the answer

    @property
    def kind(self) -> str:
        """What the learner gives: a number, a choice, a function, a prediction (tagged by kinds.py), or custom."""
        return getattr(self.check, "kind", "custom")

    def __repr__(self) -> str:
        return f"{self.id} · {self.title} ({self.kind})"


@dataclass(frozen=True)
class Verdict:
    """What `check` said: passed is True (✓), False (✗) or None (not answered yet)."""

    id: str
    passed: bool | None
    message: str

    @property
    def line(self) -> str:
        return f"{MARKS[self.passed]} {self.id}: {self.message}"

    def __bool__(self) -> bool:
        return self.passed is True

    def _ipython_display_(self) -> None:
        """Show nothing: `check` has printed the verdict already, so a notebook cell shows no Out[n] below it."""


_REGISTRY: dict[str, Exercise] = {}
_loaded = False


def register(exercise: Exercise) -> Exercise:
    """Add `exercise` to the registry (each chapter module calls this for its exercises)."""
    if not ID_PATTERN.match(exercise.id):
        raise ValueError(f"exercise id must look like '03.2' (chapter.number), got {exercise.id!r}")
    if exercise.id in _REGISTRY:
        raise ValueError(f"exercise {exercise.id} is registered twice")
    _REGISTRY[exercise.id] = exercise
    return exercise


def _load_chapters() -> None:
    """Import every chapter module (ch00.py, ch01.py, ...) once, so their exercises are registered."""
    global _loaded
    if not _loaded:
        _loaded = True
        for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
            if re.fullmatch(r"ch\d\d", module.name):
                importlib.import_module(f"{__package__}.{module.name}")


def catalog(chapter: str | None = None) -> list[Exercise]:
    """The exercises of `chapter` ("03"), or of every chapter, in order."""
    _load_chapters()
    if chapter is not None and not re.fullmatch(r"\d\d", str(chapter)):
        raise ValueError(f"chapter must be two digits such as '03', got {chapter!r}")
    chosen = [e for e in _REGISTRY.values() if chapter is None or e.id.startswith(f"{chapter}.")]
    return sorted(chosen, key=lambda e: tuple(int(n) for n in e.id.split(".")))


def get(exercise_id: str) -> Exercise:
    """The exercise registered as `exercise_id`; a ValueError lists the chapter's ids if there is none."""
    _load_chapters()
    if exercise_id in _REGISTRY:
        return _REGISTRY[exercise_id]
    match = ID_PATTERN.match(exercise_id) if isinstance(exercise_id, str) else None
    if not match:
        raise ValueError(f"exercise id must look like '03.2' (chapter.number), got {exercise_id!r}")
    known = [e.id for e in catalog(match[1])]
    raise ValueError(f"no exercise {exercise_id!r}; chapter {match[1]} has "
                     + (", ".join(known) if known else "no exercises yet"))


def _blank(answer) -> bool:
    """True while the `...` of the saved notebook is still in the answer (alone or in a tuple or list)."""
    return answer is Ellipsis or (isinstance(answer, (tuple, list)) and any(a is Ellipsis for a in answer))


def verdict(exercise_id: str, answer) -> Verdict:
    """Judge `answer` without printing anything."""
    exercise = get(exercise_id)
    if _blank(answer):
        return Verdict(exercise.id, None, f"not answered yet: replace the ... with your answer "
                                          f'(exercises.solution("{exercise.id}") shows one)')
    try:
        passed, message = exercise.check(answer)
    except Wrong as err:
        passed, message = False, str(err)
    except Exception as err:  # a checker must answer ✗, never stop the notebook
        passed, message = False, f"could not check this answer ({type(err).__name__}: {err})"
    return Verdict(exercise.id, passed, message)


def check(exercise_id: str, answer) -> Verdict:
    """Print ✓ and why, ✗ and a hint, or "not answered yet" for a blank `...`; return the Verdict."""
    result = verdict(exercise_id, answer)
    print(result.line)
    return result


def solution_text(exercise_id: str) -> str:
    """The reference solution as Markdown: its code, then why it is right."""
    exercise = get(exercise_id)
    return f"```python\n{exercise.code.strip()}\n```\n\n{exercise.explanation.strip()}\n"


def solution(exercise_id: str) -> None:
    """Print the reference solution: the code to type, then why it is right."""
    exercise = get(exercise_id)
    print(f"Solution {exercise.id} · {exercise.title}\n\n{exercise.code.strip()}\n\n{exercise.explanation.strip()}")


def run_solution(exercise_id: str, namespace: dict) -> Any:
    """Run the solution's code in `namespace` (a chapter's names: np, torch, gptviz, model, tok) and return the
    answer it binds."""
    exercise = get(exercise_id)
    exec(exercise.code, namespace)
    return namespace[exercise.answer_name]
