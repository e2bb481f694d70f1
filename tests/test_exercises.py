"""gptviz.exercises: every registered exercise says ✓ to its solution, ✗ to typical slips, and waits on a blank."""

import re
from collections import defaultdict
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

import gptviz
from gptviz import exercises
from gptviz.exercises import core

EXERCISES = exercises.catalog()
IDS = [e.id for e in EXERCISES]
ROOT = Path(__file__).resolve().parents[1]
CHECK_CALL = re.compile(r"""exercises\.check\(\s*["'](?P<id>[^"']+)["']""")
ODD_ANSWERS = ["text", None, object(), float("nan"), [1, 2, 3], {"a": 1}, True, lambda *args: 1 / 0]


def notebook_namespace() -> dict:
    """The names a chapter's first cell makes, with a model of its own (a solution may change it)."""
    model, tok = gptviz.load_pretrained()
    return {"np": np, "torch": torch, "gptviz": gptviz, "model": model, "tok": tok, "exercises": exercises}


def test_every_chapter_has_three_exercises_one_asking_for_code():
    assert IDS and len(set(IDS)) == len(IDS)
    by_chapter = defaultdict(list)
    for exercise in EXERCISES:
        by_chapter[exercise.id[:2]].append(exercise)
    assert "00" in by_chapter
    for chapter, chosen in by_chapter.items():
        assert len(chosen) >= 3, f"chapter {chapter} has {len(chosen)} exercises; it needs at least 3"
        assert any(e.kind == "function" for e in chosen), f"no exercise of chapter {chapter} asks for code"
    assert any(e.kind == "prediction" for e in by_chapter["00"])


@pytest.mark.parametrize("exercise_id", IDS)
def test_reference_answer_gets_a_tick(exercise_id, capsys):
    exercise = exercises.get(exercise_id)
    result = exercises.check(exercise_id, exercise.reference())
    line = capsys.readouterr().out
    assert result.passed is True, line
    assert line.startswith(f"✓ {exercise_id}: ") and len(line.strip()) > len(exercise_id) + 10


@pytest.mark.parametrize("exercise_id", IDS)
def test_typical_wrong_answers_get_a_cross_and_a_hint(exercise_id, capsys):
    wrong = exercises.get(exercise_id).wrong()
    assert wrong, f"{exercise_id} registers no typical wrong answer: a checker that cannot say ✗ is a defect"
    for answer in wrong:
        result = exercises.check(exercise_id, answer)
        line = capsys.readouterr().out
        assert result.passed is False, f"{exercise_id} accepted the wrong answer {answer!r}: {line}"
        assert line.startswith(f"✗ {exercise_id}: ") and result.message.strip(), line


@pytest.mark.parametrize("exercise_id", IDS)
def test_blank_is_not_answered_yet_and_prints_the_same_every_time(exercise_id, capsys):
    first = exercises.check(exercise_id, ...)
    exercises.check(exercise_id, ...)
    out = capsys.readouterr().out
    assert first.passed is None and not first
    assert out == 2 * f"{first.line}\n" and f"… {exercise_id}: not answered yet" in out
    assert exercises.verdict(exercise_id, (..., 3)).passed is None  # a tuple with a blank left in


@pytest.mark.parametrize("odd", ODD_ANSWERS, ids=lambda a: type(a).__name__)
@pytest.mark.parametrize("exercise_id", IDS)
def test_odd_answers_get_a_cross_never_an_exception(exercise_id, odd, capsys):
    result = exercises.check(exercise_id, odd)
    assert result.passed is False and capsys.readouterr().out.startswith(f"✗ {exercise_id}: ")


@pytest.mark.parametrize("exercise_id", IDS)
def test_printed_solution_runs_and_its_answer_gets_a_tick(exercise_id, capsys):
    exercise = exercises.get(exercise_id)
    exercises.solution(exercise_id)
    printed = capsys.readouterr().out
    assert exercise.title in printed and exercise.code.strip() in printed and exercise.explanation.strip() in printed
    answer = exercises.run_solution(exercise_id, notebook_namespace())
    assert exercises.verdict(exercise_id, answer).passed is True
    text = exercises.solution_text(exercise_id)
    assert text.startswith("```python\n") and exercise.code.strip() in text


def test_unknown_or_malformed_ids_are_value_errors_listing_the_chapter():
    with pytest.raises(ValueError, match=r"no exercise '00\.99'; chapter 00 has 00\.1, 00\.2, 00\.3"):
        exercises.check("00.99", 1)
    with pytest.raises(ValueError, match="chapter 97 has no exercises yet"):
        exercises.solution("97.1")
    for bad in ["0.1", "00", "00.0", 0.1, None]:
        with pytest.raises(ValueError, match="must look like '03.2'"):
            exercises.get(bad)
    with pytest.raises(ValueError, match="two digits"):
        exercises.catalog("0")
    chapter_00 = [e.id for e in exercises.catalog("00")]
    assert chapter_00 == [f"00.{k}" for k in range(1, len(chapter_00) + 1)]


def toy(check, exercise_id="99.1") -> core.Exercise:
    return core.Exercise(id=exercise_id, title="toy", check=check, code="answer = 2", explanation="two",
                         reference=lambda: 2, wrong=lambda: [3])


def test_register_refuses_a_bad_or_repeated_id(monkeypatch):
    monkeypatch.setattr(core, "_REGISTRY", dict(core._REGISTRY))
    with pytest.raises(ValueError, match="must look like"):
        exercises.register(toy(lambda a: (True, ""), "9.1"))
    exercises.register(toy(lambda a: (True, "")))
    with pytest.raises(ValueError, match="registered twice"):
        exercises.register(toy(lambda a: (True, "")))


def test_a_checker_that_crashes_says_cross_instead_of_stopping_the_notebook(monkeypatch, capsys):
    monkeypatch.setattr(core, "_REGISTRY", dict(core._REGISTRY))

    def broken(answer):
        raise RuntimeError("checker bug")

    exercises.register(toy(broken))
    assert exercises.check("99.1", 2).passed is False
    assert "RuntimeError: checker bug" in capsys.readouterr().out


def test_function_kind_calls_every_input_and_aims_its_hint(monkeypatch):
    monkeypatch.setattr(core, "_REGISTRY", dict(core._REGISTRY))
    check = exercises.function(lambda n: 2 * n, lambda: [(1,), (0,), (-3,)], why="doubles", name="double",
                               mistakes=[(lambda n: n * n + 1, "squared, plus one")], hint="multiply by 2")
    exercises.register(toy(check))
    assert exercises.verdict("99.1", lambda n: n * 2).passed is True
    squared = exercises.verdict("99.1", lambda n: n * n + 1)  # right on the first input, wrong on the edge case 0
    assert squared.passed is False and "double(0) returned 1, not 0. squared, plus one" in squared.message
    assert "multiply by 2" in exercises.verdict("99.1", lambda n: 2 * n if n else 5).message
    assert "raised ZeroDivisionError" in exercises.verdict("99.1", lambda n: 2 / n * n * n).message
    stub = exercises.verdict("99.1", lambda n: None)  # a body of `...` returns None: not answered yet
    assert stub.passed is None and "not answered yet" in stub.message
    assert exercises.verdict("99.1", lambda n: 2 * n if n else None).passed is False  # None later is an error
    assert "double(1): expected a number, got the str 'x'" == exercises.verdict("99.1", lambda n: "x").message


def test_numbers_come_in_any_numeric_type_and_two_digits_are_enough():
    truth = float(exercises.get("00.2").reference())
    for answer in [truth, np.float32(truth), torch.tensor(truth), np.array([truth]), round(truth, 2)]:
        assert exercises.verdict("00.2", answer).passed is True, repr(answer)
    assert exercises.verdict("00.2", torch.tensor([truth, truth])).passed is False
    assert "without quotes" in exercises.verdict("00.2", f"{truth:.2f}").message


def test_a_prediction_is_accepted_and_then_compared_with_the_measurement():
    model, tok = exercises.pretrained()
    probs = gptviz.next_token_probs(model, tok, "ROMEO:\nO, Juli")
    favourite, unlikely = tok.chars[int(np.argmax(probs))], tok.chars[int(np.argmin(probs))]
    right, off = exercises.verdict("00.1", favourite), exercises.verdict("00.1", unlikely)
    assert right.passed is True and "is the model's favourite" in right.message
    assert off.passed is True and f"top three: {favourite!r}," in off.message
    assert f"choice number {tok.vocab_size} of {tok.vocab_size}" in off.message
    assert "%" not in right.message + off.message  # the probabilities are 00.2's answer


def test_a_verdict_adds_no_out_cell_in_a_notebook():
    from IPython.core.formatters import DisplayFormatter

    result = exercises.verdict("00.2", ...)
    assert DisplayFormatter().format(result) == ({}, {})  # empty: ipykernel sends no execute_result
    assert not exercises.verdict("00.2", 3.0) and exercises.verdict("00.2", exercises.get("00.2").reference())


def test_notebooks_hold_a_blank_for_every_registered_exercise():
    used, problems = {}, []
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            for exercise_id in CHECK_CALL.findall(cell.source) if cell.cell_type == "code" else []:
                used[exercise_id] = path.name
                if not exercise_id.startswith(path.name[:2] + "."):
                    problems.append(f"{path.name} checks {exercise_id}, an exercise of another chapter")
                if exercise_id not in IDS:
                    problems.append(f"{path.name} checks {exercise_id}, which is not registered")
                if "..." not in cell.source:
                    problems.append(f"{path.name}: the cell checking {exercise_id} has no blank (...): pre-solved?")
    problems += [f"{i} is registered but no notebook checks it" for i in IDS if i not in used]
    assert not problems, "\n".join(problems)


def test_blanks_print_one_line_and_no_out_cell_in_a_real_kernel():
    nbclient = pytest.importorskip("nbclient")
    cells = [f"import sys; sys.path.insert(0, {str(ROOT)!r})\nfrom gptviz import exercises\nanswer = ...\n"
             'exercises.check("00.2", answer)',
             'answer = (..., ...)\nexercises.check("00.4", answer)',
             'def text_logprob(text):\n    ...\n\nexercises.check("00.3", text_logprob)',
             'exercises.check("00.2", "0.4")']
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    marks = []
    for cell in nb.cells:
        assert [o.output_type for o in cell.outputs] == ["stream"], cell.outputs
        marks.append(cell.outputs[0].text[:7])
    assert marks == ["… 00.2:", "… 00.4:", "… 00.3:", "✗ 00.2:"]
