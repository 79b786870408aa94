"""Plain-text reports of grading results: one question (for `check`), or a score table.

Plain ASCII markers ([pass], [FAIL]) so that the reports print in any terminal, notebook
and log, and compare equal in the stored outputs of the solution notebooks.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from nodelib.course.grading.core import QuestionResult

__all__ = ["format_question", "format_table"]

_MARK = {"passed": "[pass]", "failed": "[FAIL]", "error": "[ERROR]", "timeout": "[TIMEOUT]",
         "not run": "[not run]"}  # fmt: skip


def _indent(text: str, prefix: str) -> str:
    return textwrap.indent(text.rstrip(), prefix, lambda line: True)


def format_question(result: QuestionResult) -> str:
    """A multi-line report: the question, then each test with its feedback.

    An answer that is not implemented yet gets two lines: the question, and where to start.
    """
    if result.not_implemented:
        return "\n".join([
            f"Question {result.question}, {result.name} ({result.title}): not implemented "
            f"yet, {result.points}/{result.max_points} points.",
            _indent(result.feedback, "  "),
        ])  # fmt: skip
    n_pass = sum(t.passed for t in result.tests)
    verdict = "passed" if result.passed else "not passed yet"
    lines = [
        f"Question {result.question}, {result.name} ({result.title}): {verdict}, "
        f"{n_pass} of {len(result.tests)} tests pass, {result.points}/{result.max_points} points."
    ]
    if result.feedback:
        lines.append(_indent(result.feedback, "  "))
    for test in result.tests:
        note = f" ({test.feedback})" if test.passed and test.feedback else ""
        lines.append(f"  {_MARK[test.status]} {test.description}{note}")
        if not test.passed and test.feedback:
            lines.append(_indent(test.feedback, "      "))
    return "\n".join(lines)


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3].rstrip() + "..."


def format_table(
    results: Sequence[QuestionResult], *, title: str = "", feedback_width: int = 72
) -> str:
    """The score table: question, name, points, result, the first line of feedback.

    The full feedback of every question that did not pass follows the table.
    """
    rows = [("Question", "Name", "Points", "Result", "Feedback")]
    for r in results:
        status = "passed" if r.passed else r.status
        rows.append(
            (
                r.question,
                r.name,
                f"{r.points}/{r.max_points}",
                status,
                _shorten(r.summary(), feedback_width),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [title] if title else []
    for row in rows:
        lines.append(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[4]
        )
    score, total = sum(r.points for r in results), sum(r.max_points for r in results)
    n_pass = sum(r.passed for r in results)
    lines.append(f"Score: {score}/{total} points; {n_pass} of {len(results)} questions pass.")
    details = [format_question(r) for r in results if not r.passed]
    if details:
        lines += ["", "Feedback on the questions that do not pass yet:", ""]
        lines.append("\n\n".join(details))
    return "\n".join(line.rstrip() for line in lines)
