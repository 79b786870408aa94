"""`check`, the one call a reader makes in a notebook: grade a question and print why.

    from nodelib.course.grading import check
    check("C1.1", euler_step)

prints one line per test, pass or fail with feedback, and raises `ChecksFailed` when a test
fails, so that "Run all" stops at the first exercise that is not solved yet and the
exercise notebooks can mark their check cells as expected to raise. In IPython the
exception shows as one line, not as a traceback of the grader. (Printing is the purpose of
`check`; the rest of nodelib never prints.)
"""

from __future__ import annotations

import sys
from typing import Any

import torch

from nodelib.course.grading.core import get_question, grade, record
from nodelib.course.grading.report import format_question

__all__ = ["ChecksFailed", "check"]


class ChecksFailed(AssertionError):  # noqa: N818 (the name the reader sees)
    """Some tests of a checked question failed; the report above says which and why."""

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of a traceback
        return [f"ChecksFailed: {self}"]


def check(
    question: str,
    *answer: Any,
    device: str | torch.device = "cpu",
    timeout: float | None = None,
) -> None:
    """Grade the reader's answer to a question and print the result of every test.

    Args:
        question: the question's id, e.g. "C1.3" (the old form "1.3" is accepted too).
        answer: the function (or value) the question grades. Left out, it is looked up by
            the question's name (e.g. `euler_step`) in the caller's global variables.
        device: where the tests run: "cpu" (default) or "cuda".
        timeout: seconds per test; None: each test's own limit (10 s by default). A test
            that runs longer is stopped and reported; the kernel stays usable.

    Raises:
        ChecksFailed: a test failed (after the report is printed).
        TypeError: more than one answer was passed.
        ValueError: unknown question, or an unavailable device.
    """
    q = get_question(question)
    if len(answer) > 1:
        raise TypeError(
            f"check({question!r}, ...) grades one object, {q.name}: "
            f"call check({question!r}, {q.name})."
        )
    if answer:
        value = answer[0]
    else:
        namespace = sys._getframe(1).f_globals
        if q.name not in namespace:
            print(
                f"Question {q.id}: {q.name} is not defined yet; run the cell that defines it. "
                "If that cell stops at NotImplementedError, the exercise is not implemented "
                "yet: the hints are in the Markdown cell just above it."
            )
            raise ChecksFailed(f"question {q.id}: {q.name} is not defined")
        value = namespace[q.name]
    result = grade(q, value, device=device, timeout=timeout)
    print(format_question(result))
    record(result, "check")
    if result.not_implemented:
        raise ChecksFailed(f"question {q.id} ({q.name}) is not implemented yet.")
    if not result.passed:
        n_bad = sum(not t.passed for t in result.tests)
        raise ChecksFailed(
            f"question {q.id} ({q.name}): {n_bad} of {len(result.tests)} tests do not pass "
            "yet; the report above says why."
        )
