"""The grader's model: questions and their tests, results, the chapter registry, grading.

A chapter module (``nodelib.course.grading.ch01``, ...) defines ``QUESTIONS``, a tuple of
`Question`s. A question grades one object of the reader's notebook (a function, or a value
such as a dict of measured orders) by its name, with a tuple of `Test`s. A test is a
function ``run(answer, device) -> str | None`` that raises `CheckFailed` with feedback that
teaches when the answer is wrong, and may return a short note when it is right ("measured
order 1.00"). `grade` runs each test under a time limit (`nodelib.course.grading.runner`) and
collects a `QuestionResult`; `grade_namespace` grades a whole chapter from a notebook's
global variables (what the command line does inside the notebook's kernel).

Every result `grade_namespace` computes is also appended as one JSON line to the file it is
given (``record_to``; the command line names one that the notebook could not know while its
cells ran), and, when the environment variable ``NODELIB_GRADING_RECORD`` names a file, every
graded question goes there too (for tools that watch a session; the command line does not
trust it).
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

import torch

from nodelib.course.grading.ids import chapter_number, normalise_id
from nodelib.course.grading.runner import Outcome, choose_backend, run_limited

__all__ = [
    "CHAPTER_MODULES",
    "RECORD_ENV",
    "CheckFailed",
    "Question",
    "QuestionResult",
    "Test",
    "TestResult",
    "chapter_number",
    "chapter_questions",
    "get_question",
    "grade",
    "grade_namespace",
    "normalise_id",
    "record",
]

# Each chapter's questions live in a module nodelib/course/grading/chNN.py (QUESTIONS): found here.
CHAPTER_MODULES: dict[int, str] = {
    int(_path.stem[2:]): f"nodelib.course.grading.{_path.stem}"
    for _path in sorted(Path(__file__).resolve().parent.glob("ch[0-9][0-9].py"))
}
RECORD_ENV = "NODELIB_GRADING_RECORD"
DEFAULT_TIMEOUT = 10.0  # seconds per test
NOT_IMPLEMENTED_ADVICE = (
    "write it in place of the line that raises NotImplementedError; if you are stuck, "
    "open the hints in the Markdown cell just above that cell."
)
TestStatus = Literal["passed", "failed", "error", "timeout", "not run"]
QuestionStatus = Literal["passed", "failed", "not run"]


class CheckFailed(AssertionError):  # noqa: N818 (reads as "a check failed")
    """A grader test failed; the message is the feedback shown to the reader."""


@dataclass(frozen=True)
class Test:
    """One test of a question: a description and ``run(answer, device) -> note | None``."""

    __test__ = False  # not a pytest test class
    description: str
    run: Callable[[Any, torch.device], str | None]
    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True)
class Question:
    """A graded question: its id ("C1.3"), the notebook name it grades, points and tests."""

    id: str
    name: str
    title: str
    points: int
    tests: tuple[Test, ...]
    kind: Literal["function", "value"] = "function"
    # The grader's own reference computation, shared by the tests (e.g. an experiment re-run),
    # run once in this process before them so that forked tests inherit its cached result.
    prepare: Callable[[], None] | None = None


@dataclass
class TestResult:
    """The result of one test."""

    __test__ = False
    description: str
    status: TestStatus
    feedback: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass
class QuestionResult:
    """The result of one question: all tests pass, or it scores nothing."""

    question: str
    name: str
    title: str
    max_points: int
    status: QuestionStatus
    tests: list[TestResult] = field(default_factory=list)
    feedback: str = ""  # about the question as a whole (e.g. "not defined")
    not_implemented: bool = False  # a stub raised NotImplementedError: nothing to grade yet

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def points(self) -> int:
        return self.max_points if self.passed else 0

    def summary(self) -> str:
        """One line: the question's own feedback, else the first failing test's."""
        for text in [self.feedback, *(t.feedback for t in self.tests if not t.passed)]:
            if text.strip():
                return text.strip().splitlines()[0]
        return ""

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "points": self.points}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QuestionResult:
        tests = [TestResult(**t) for t in data.get("tests", [])]
        keys = ("question", "name", "title", "max_points", "status", "feedback", "not_implemented")
        return cls(**{k: data[k] for k in keys if k in data}, tests=tests)


def chapter_questions(chapter: str | int) -> tuple[Question, ...]:
    """The questions of a chapter, given as 1, "1", "ch01" or a question id like "C1.3".

    Raises:
        ValueError: the chapter has no graded questions.
    """
    number = chapter_number(chapter)
    if number not in CHAPTER_MODULES:
        known = ", ".join(str(n) for n in CHAPTER_MODULES)
        raise ValueError(f"chapter {number} has no graded questions (chapters with some: {known}).")
    return importlib.import_module(CHAPTER_MODULES[number]).QUESTIONS


def get_question(question_id: str) -> Question:
    """The question with this id, e.g. "C1.3" (the old "1.3" is read as "C1.3").

    Raises:
        ValueError: no such question (the message lists the chapter's questions).
    """
    questions = chapter_questions(question_id)
    wanted = normalise_id(question_id)
    for question in questions:
        if question.id == wanted:
            return question
    ids = ", ".join(f"{q.id} ({q.name})" for q in questions)
    raise ValueError(f"there is no question {question_id!r}; this chapter has: {ids}.")


def _test_result(test: Test, outcome: Outcome, limit: float, name: str) -> TestResult:
    if outcome.status == "ok":
        return TestResult(test.description, "passed", str(outcome.value or ""))
    if outcome.status == "timeout":
        text = (
            f"stopped after {limit:g} s: {name} did not return in time. Look for a loop "
            "that never ends (a Newton iteration that never meets its tolerance?)."
        )
        if not outcome.stopped:
            text += (
                " It could not be stopped and keeps running in the background: restart "
                "the kernel if the notebook becomes slow."
            )
        return TestResult(test.description, "timeout", text)
    if outcome.status == "crashed":
        text = f"{outcome.exc_message}: your code crashed the process that ran the test."
        return TestResult(test.description, "error", text)
    if not outcome.failed_check and outcome.exc_type == "NotImplementedError":
        # Name the function whose stub raised: it may be a helper of the graded one. The
        # stub's own message is not repeated: the hints are in the notebook, above the stub.
        where = outcome.origin if outcome.origin.isidentifier() else name
        return TestResult(
            test.description, "failed", f"{where} is not implemented yet: {NOT_IMPLEMENTED_ADVICE}"
        )
    if outcome.failed_check:
        text = outcome.exc_message
    elif outcome.internal:
        text = (
            f"the grader itself failed ({outcome.exc_type}: {outcome.exc_message}). This is "
            "a bug in nodelib.course.grading, not in your code: please report it."
        )
    else:
        text = f"your code raised {outcome.exc_type}: {outcome.exc_message}\n{outcome.traceback}"
    if outcome.output.strip():
        lines = outcome.output.strip().splitlines()[-10:]
        text += "\nyour code printed:\n" + "\n".join("  " + line for line in lines)
    status: TestStatus = "failed" if outcome.failed_check else "error"
    return TestResult(test.description, status, text.rstrip())


def grade(
    question: str | Question,
    answer: Any,
    *,
    device: str | torch.device = "cpu",
    timeout: float | None = None,
    backend: str = "auto",
) -> QuestionResult:
    """Run every test of a question on the reader's answer; print nothing.

    Args:
        question: a question id such as "C1.3", or the Question.
        answer: the reader's function (or value) that the question grades.
        device: where the tests put their tensors ("cpu", "cuda").
        timeout: seconds per test; None: each test's own limit (10 s by default).
        backend: how tests are isolated (`nodelib.course.grading.runner.run_limited`); "auto"
            picks the safest for the device.

    Returns:
        The QuestionResult. After a test times out, or finds the answer not implemented,
        the question's remaining tests are "not run"; an answer not implemented yet is
        flagged (`QuestionResult.not_implemented`) and its feedback says so, and only that.

    Raises:
        ValueError: unknown question, or a device that is not available.
    """
    q = get_question(question) if isinstance(question, str) else question
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for, but torch.cuda.is_available() is False.")
    result = QuestionResult(q.id, q.name, q.title, q.points, "failed")
    if q.kind == "function" and not callable(answer):
        result.feedback = f"{q.name} should be a function, but it is a {type(answer).__name__}."
        result.tests = [TestResult(t.description, "not run") for t in q.tests]
        return result
    chosen = choose_backend(device) if backend == "auto" else backend
    if q.prepare is not None:
        q.prepare()
    skip_reason, tracebacks = "", set()
    for test in q.tests:
        if skip_reason:
            result.tests.append(TestResult(test.description, "not run", skip_reason))
            continue
        limit = timeout if timeout is not None else test.timeout
        outcome = run_limited(partial(test.run, answer, device), limit, backend=chosen)
        test_result = _test_result(test, outcome, limit, q.name)
        if outcome.traceback:  # show the same traceback once per question
            if outcome.traceback in tracebacks:
                test_result.feedback = test_result.feedback.replace(
                    outcome.traceback.rstrip(), "(the same traceback as above)"
                )
            tracebacks.add(outcome.traceback)
        if outcome.exc_type == "NotImplementedError":
            skip_reason = "not run: implement the missing function first"
            result.not_implemented, result.feedback = True, test_result.feedback
        elif outcome.status == "timeout":
            skip_reason = "not run: an earlier test of this question did not finish in time"
        result.tests.append(test_result)
    result.status = "passed" if all(t.passed for t in result.tests) else "failed"
    return result


def record(result: QuestionResult, source: str, path: str | None = None) -> None:
    """Append the result as a JSON line to `path`, else to $NODELIB_GRADING_RECORD if set."""
    path = path or os.environ.get(RECORD_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as file:
            file.write(json.dumps({"source": source, **result.to_dict()}) + "\n")


def grade_namespace(
    chapter: str | int,
    namespace: Mapping[str, Any],
    *,
    device: str | torch.device = "cpu",
    timeout: float | None = None,
    record_to: str | None = None,
) -> list[QuestionResult]:
    """Grade every question of a chapter, taking each answer from `namespace` by name.

    This is what the command line runs inside the notebook's kernel, after the notebook's
    cells: ``grade_namespace(1, globals(), record_to=...)``. Each result is also `record`ed,
    to `record_to` (else to $NODELIB_GRADING_RECORD, if set).

    Returns:
        One QuestionResult per question, in the chapter's order.
    """
    results = []
    for q in chapter_questions(chapter):
        if q.name in namespace:
            result = grade(q, namespace[q.name], device=device, timeout=timeout)
        else:
            result = QuestionResult(
                q.id, q.name, q.title, q.points, "failed",
                [TestResult(t.description, "not run") for t in q.tests],
                f"{q.name} is not defined when the notebook ends: run the cell that defines "
                "it, and check that cell for errors.",
            )  # fmt: skip
        record(result, "final", record_to)
        results.append(result)
    return results
