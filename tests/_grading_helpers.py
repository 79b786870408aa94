"""Helpers shared by the grader's tests: a solution notebook's functions without a kernel, and
the feedback a wrong answer gets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
from _scripts import ROOT

SOLUTION = ROOT / "solutions" / "ch01_one_step_methods.ipynb"
EXERCISE = ROOT / "exercises" / "ch01_one_step_methods.ipynb"


def solution_namespace(path: Path = SOLUTION) -> dict[str, Any]:
    """Run a notebook's answer cells (tagged question:<id>) and untagged cells, here.

    The set-up cell (tagged course-setup), the check cells and the demonstrations (tagged
    check, uses-solution) are skipped, so this is fast and needs no kernel. `SEED` is what
    the set-up cell defines when ``NODELIB_SEED`` is unset (as in the tests).
    """
    namespace: dict[str, Any] = {"__name__": "solution_notebook", "SEED": 0}
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.cell_type == "code" and (not tags or any(t.startswith("question:") for t in tags)):
            exec(compile(cell.source, f"<solution cell {index + 1}>", "exec"), namespace)
    return namespace


def wrong_answer_feedback(question_id: str, answer: Any) -> str:
    """Grade a wrong answer, which must fail; return the feedback the reader gets for it.

    The feedback is the question's own (e.g. "raised ...") and that of each failed test.
    """
    from nodelib.course.grading import grade

    result = grade(question_id, answer)
    assert not result.passed and result.points == 0, f"{question_id} accepted a wrong answer"
    return "\n".join([result.feedback, *(t.feedback for t in result.tests if not t.passed)])


class LyingFloat(float):
    """A number that says it equals, and lies within, whatever it is compared with."""

    def __eq__(self, other: object) -> bool:
        return True

    __le__ = __ge__ = __lt__ = __gt__ = __eq__
    __hash__ = float.__hash__

    def __sub__(self, other: object) -> float:
        return 0.0

    __rsub__ = __sub__


class LyingStr(str):
    """A string that says it equals every other string."""

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = str.__hash__

    def strip(self, *args: object) -> LyingStr:  # type: ignore[override]
        return self

    lower = strip
