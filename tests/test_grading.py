"""The grader in-process: full marks for the solutions, time limits, tracebacks, `check`.

The solution functions are taken from solutions/ch01_one_step_methods.ipynb itself (its
code cells that define answers are executed here, without a kernel), so the tests grade
exactly the code the book shows. tests/test_grading_ch01.py checks that wrong answers fail
with the right feedback; tests/test_grading_notebooks.py runs the command line.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest
import torch
from _grading_helpers import solution_namespace

from nodelib.course.grading import ChecksFailed, chapter_questions, check, get_question, grade
from nodelib.course.grading.core import RECORD_ENV, CheckFailed, Question, Test, grade_namespace
from nodelib.course.grading.notebook import CellRun, _question_tags
from nodelib.course.grading.runner import choose_backend, run_limited
from nodelib.theory.analysis import picard_iteration

BACKENDS = ["signal", "thread"] + (["fork"] if sys.platform.startswith("linux") else [])


@pytest.fixture(scope="session")
def solutions() -> dict[str, Any]:
    return solution_namespace()


@pytest.mark.parametrize("question", [q.id for q in chapter_questions(1)])
def test_solution_scores_full_marks(question: str, solutions: dict[str, Any]) -> None:
    q = get_question(question)
    result = grade(q, solutions[q.name])
    assert result.passed, [t.feedback for t in result.tests]
    assert result.points == q.points > 0


def test_grade_namespace_grades_every_question_and_records(
    solutions: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = tmp_path / "record.jsonl"
    monkeypatch.setenv(RECORD_ENV, str(record))
    partial = {k: v for k, v in solutions.items() if k != "picard_iteration"}
    results = grade_namespace("ch01", partial)
    assert [r.question for r in results] == [q.id for q in chapter_questions(1)]
    assert [r.passed for r in results] == [True] * 6 + [False, True]
    assert "picard_iteration is not defined" in results[6].feedback
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert [(d["source"], d["question"], d["points"]) for d in lines][-2] == ("final", "C1.7", 0)
    # The command line names its own file, which takes the place of the environment's.
    mine = tmp_path / "mine.jsonl"
    grade_namespace("ch01", {"euler_step": solutions["euler_step"]}, record_to=str(mine))
    assert len(mine.read_text().splitlines()) == len(results)
    assert len(record.read_text().splitlines()) == len(lines)


def _not_implemented(*args: object) -> None:
    raise NotImplementedError("not implemented yet: open the hints above this cell")


def _helper_not_implemented(f: Any, t: Any, y: Any, h: float) -> Any:
    return _not_implemented()


def test_unimplemented_answer_points_to_the_hints_and_skips_the_rest(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = grade("C1.1", _not_implemented)
    assert not result.passed and result.points == 0 and result.not_implemented
    assert (
        result.feedback
        == result.tests[0].feedback
        == (
            "_not_implemented is not implemented yet: write it in place of the line that raises "
            "NotImplementedError; if you are stuck, open the hints in the Markdown cell just above "
            "that cell."
        )
    )
    assert [t.status for t in result.tests[1:]] == ["not run"] * (len(result.tests) - 1)
    # The function whose stub raised is named, even when it is a helper of the graded one.
    assert grade("C1.1", _helper_not_implemented).feedback.startswith("_not_implemented is")
    # check prints two lines: the question, and where to start; no list of tests, no [FAIL].
    with pytest.raises(ChecksFailed, match="is not implemented yet"):
        check("C1.1", _not_implemented)
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0] == (
        "Question C1.1, euler_step (one explicit Euler step): not implemented yet, 0/2 points."
    )
    assert len(out) == 2 and "hints" in out[1] and "[FAIL]" not in "".join(out)


def test_old_question_ids_are_read_with_the_c_prefix(solutions: dict[str, Any]) -> None:
    """Notebooks saved before the renumbering call check("1.5", ...): still graded."""
    assert get_question("1.5") is get_question("C1.5") is get_question("c1.5")
    assert get_question(" 1.5 ").id == "C1.5"
    assert grade("1.5", solutions["empirical_order"]).question == "C1.5"
    assert [q.id for q in chapter_questions("C2.3")] == [f"C2.{i}" for i in range(1, 10)]
    assert chapter_questions("1.1") == chapter_questions("ch01") == chapter_questions(1)
    # The command line reads the tags of old notebooks (question:1.3) the same way.
    cell = nbformat.v4.new_code_cell("", metadata={"tags": ["question:1.3", "check"]})
    assert _question_tags(cell) == ["C1.3"]
    run = CellRun(4, "error", "NotImplementedError", "not implemented yet: open the hints")
    assert run.describe("def f():").startswith("Cell 5 ('def f():') stops at NotImplementedError")
    assert "hints in the Markdown cell just above" in run.describe("x")


def test_answers_are_read_as_plain_values() -> None:
    """An experiment's answers: a number is a float, a choice a str, a table a dict (no
    subclass that could lie about itself), and a wrong choice says why."""
    from _grading_helpers import LyingFloat, LyingStr

    from nodelib.course.grading.answers import answer_dict, choice, expect_choice, number

    assert number(torch.tensor(2.5), "x") == 2.5 and number(np.float32(2.0), "x") == 2.0
    for bad, phrase in [(LyingFloat(1.0), "LyingFloat"), (True, "bool"), ("2", "str"),
                        (float("nan"), "finite"), (torch.ones(2), "shape (2,)")]:  # fmt: skip
        with pytest.raises(CheckFailed, match=re.escape(phrase)):
            number(bad, "x")
    assert choice(" (B) ", "x", ["a", "b"]) == "b"
    with pytest.raises(CheckFailed, match="LyingStr"):
        choice(LyingStr("b"), "x", ["a", "b"])
    with pytest.raises(CheckFailed, match=r"not right\. Because"):
        expect_choice("a", "x", "b", {"a": "Because."})
    with pytest.raises(CheckFailed, match="should be a dict"):
        answer_dict(type("D", (dict,), {})(a=1), "x", ["a"])
    with pytest.raises(CheckFailed, match="no entry 'b'"):
        answer_dict({"a": 1}, "x", ["a", "b"])


def test_value_question_rejects_a_function_and_function_question_a_value() -> None:
    assert "should be a function" in grade("C1.1", 3.0).feedback
    assert "should be a dict" in grade("C1.6", _not_implemented).tests[0].feedback


# --- time limits ----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_hanging_function_is_stopped_and_the_process_goes_on(backend: str) -> None:
    stop = threading.Event()

    def spin() -> None:  # an endless loop (that a test can end, for the thread backend)
        while not stop.is_set():
            pass

    start = time.monotonic()
    outcome = run_limited(spin, 0.5, backend=backend)
    elapsed = time.monotonic() - start
    stop.set()
    assert outcome.status == "timeout"
    assert outcome.stopped == (backend != "thread")
    assert elapsed < 3
    assert run_limited(lambda: 2 + 2, 5, backend=backend).value == 4


def test_check_stops_a_hanging_answer_and_reports_it(capsys: pytest.CaptureFixture[str]) -> None:
    def euler_step(f, t, y, h):
        while True:
            pass

    start = time.monotonic()
    with pytest.raises(ChecksFailed):
        check("C1.1", euler_step, timeout=0.5)
    assert time.monotonic() - start < 5
    out = capsys.readouterr().out
    assert "[TIMEOUT]" in out and "stopped after 0.5 s" in out
    assert "not run: an earlier test of this question did not finish in time" in out


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_readers_traceback_is_shown_not_the_graders(backend: str) -> None:
    def helper(y):
        return y / 0 if isinstance(y, int) else [][1]

    def euler_step(f, t, y, h):
        return helper(y)

    result = grade("C1.1", euler_step, backend=backend)
    feedback = result.tests[0].feedback
    assert result.tests[0].status == "error"
    assert feedback.startswith("your code raised IndexError: list index out of range")
    assert "in euler_step" in feedback and "in helper" in feedback
    assert "nodelib/course/grading" not in feedback and "nodelib\\course\\grading" not in feedback
    assert "(the same traceback as above)" in result.tests[1].feedback


def test_a_fork_worker_that_dies_is_reported() -> None:
    if "fork" not in BACKENDS:
        pytest.skip("fork backend is Linux only")
    outcome = run_limited(lambda: os._exit(3), 5, backend="fork")
    assert outcome.status == "crashed" and "exit code 3" in outcome.exc_message


def test_a_bug_in_the_grader_is_not_blamed_on_the_reader() -> None:
    # A "test" that calls nodelib wrongly: no frame of the reader's code is on the stack.
    question = Question("9.9", "thing", "a broken test", 1, (Test("broken", picard_iteration),))
    result = grade(question, lambda: None)
    assert "the grader itself failed" in result.tests[0].feedback


def test_failed_check_message_is_the_feedback() -> None:
    def failing(answer: Any, device: torch.device) -> None:
        raise CheckFailed("did you multiply by h?")

    question = Question("9.8", "thing", "a failing test", 1, (Test("fails", failing),))
    result = grade(question, lambda: None, backend="signal")
    assert (result.tests[0].status, result.tests[0].feedback) == (
        "failed",
        "did you multiply by h?",
    )


def test_auto_backend_avoids_fork_for_cuda() -> None:
    assert choose_backend("cuda") in ("signal", "thread")
    if sys.platform.startswith("linux") and not torch.cuda.is_initialized():
        assert choose_backend("cpu") == "fork"


# --- check ----------------------------------------------------------------------------------


def test_check_prints_each_test_and_returns_when_all_pass(
    solutions: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert check("C1.5", solutions["empirical_order"]) is None
    out = capsys.readouterr().out
    assert (
        out.startswith("Question C1.5, empirical_order") and "[pass]" in out and "2/2 points" in out
    )


def test_check_raises_with_a_one_line_notebook_rendering(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(ChecksFailed) as info:
        check("C1.5", lambda hs, errors: 1.0)
    assert "[FAIL]" in capsys.readouterr().out
    assert info.value._render_traceback_() == [f"ChecksFailed: {info.value}"]


def test_check_looks_the_answer_up_by_name_in_the_callers_globals(
    solutions: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    namespace = {"check": check, "picard_iteration": solutions["picard_iteration"]}
    exec("check('C1.7')", namespace)
    assert "passed" in capsys.readouterr().out
    with pytest.raises(ChecksFailed):
        exec("check('C1.1')", {"check": check})
    assert "euler_step is not defined yet" in capsys.readouterr().out


def test_check_rejects_unknown_questions_and_extra_answers() -> None:
    with pytest.raises(ValueError, match=r"C1\.1 \(euler_step\)"):
        check("C1.99", len)
    with pytest.raises(ValueError, match="no graded questions"):
        check("7.1", len)
    with pytest.raises(TypeError, match="grades one object"):
        check("C1.1", len, len)


@pytest.mark.gpu
@pytest.mark.parametrize("question", [q.id for q in chapter_questions(1)])
def test_solutions_pass_on_cuda(question: str, solutions: dict[str, Any]) -> None:
    q = get_question(question)
    result = grade(q, solutions[q.name], device="cuda")
    assert result.passed, [t.feedback for t in result.tests]
