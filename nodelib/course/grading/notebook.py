"""Grade a whole notebook: execute a copy in a fresh kernel, then grade every question.

`grade_notebook(path)` never writes to the notebook. It reads it, executes a copy cell by
cell with nbclient (a time limit per cell; a cell that raises does not stop the others),
and then runs one extra cell in the same kernel that calls
`nodelib.course.grading.grade_namespace(chapter, globals())`, so each question grades the
function the notebook defined, under the per-test time limits of `nodelib.course.grading.runner`.

Robustness, as the reader's notebook may be broken in any way:

- a cell that raises fails only the questions whose names it should have defined; a cell
  tagged ``question:C1.3`` (the exercise's solution cell) is named in that question's
  feedback when the question fails;
- a cell that runs past its limit is interrupted (like the stop button) and execution goes
  on; a cell that ignores the interrupt for as long again is stopped by killing the
  kernel, and execution stops there, as it does when the kernel dies;
- only the extra cell's grading counts, and its results travel through a file whose name
  is chosen after the notebook's own cells ran, so a cell cannot write results for it
  (what the notebook's own ``check`` calls print or record earns nothing);
- when the kernel dies or a cell has to be killed, the cells before that one are run again
  in a fresh kernel and graded there: questions answered before the crash keep their
  results, the others have no answer and fail.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import re
import secrets
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import nbformat

from nodelib.course.grading.core import (
    NOT_IMPLEMENTED_ADVICE,
    RECORD_ENV,
    QuestionResult,
    TestResult,
    chapter_number,
    chapter_questions,
    normalise_id,
)

__all__ = ["CellRun", "NotebookReport", "chapter_of", "grade_notebook"]


@dataclass
class CellRun:
    """How one code cell of the executed copy ran (index counts all cells from 0)."""

    index: int
    status: Literal["ok", "error", "timeout", "not run"]
    ename: str = ""
    evalue: str = ""
    questions: list[str] = field(default_factory=list)  # from the tags question:<id>, as "C1.3"
    expected_error: bool = False  # tagged raises-exception

    def describe(self, source: str) -> str:
        """A sentence about what went wrong in this cell, naming it by its first line."""
        first = source.strip().splitlines()[0][:50] if source.strip() else ""
        where = f"Cell {self.index + 1} ({first!r})"
        if self.status == "error" and self.ename == "NotImplementedError":
            return (
                f"{where} stops at NotImplementedError: the exercise is not implemented yet. "
                f"Write its code there; {NOT_IMPLEMENTED_ADVICE.split('; ', 1)[1]}"
            )
        if self.status == "error":
            return f"{where} raised {self.ename}: {self.evalue}"
        if self.status == "timeout":
            return f"{where} was stopped: it ran past the time limit"
        return f"{where} did not run"


@dataclass
class NotebookReport:
    """The grading of one notebook."""

    notebook: str
    chapter: int
    questions: list[QuestionResult]
    cells: list[CellRun]
    stopped: str = ""  # why execution ended early, if it did
    executed: nbformat.NotebookNode | None = None  # the executed copy (not in to_dict)

    @property
    def passed(self) -> bool:
        return all(q.passed for q in self.questions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "notebook": self.notebook,
            "chapter": self.chapter,
            "score": sum(q.points for q in self.questions),
            "max_score": sum(q.max_points for q in self.questions),
            "passed": self.passed,
            "stopped": self.stopped,
            "questions": [q.to_dict() for q in self.questions],
            "cells": [asdict(c) for c in self.cells],
        }


def chapter_of(nb: nbformat.NotebookNode, path: Path) -> int:
    """The chapter from the notebook's metadata (nodelib.chapter) or its name (chNN_...)."""
    meta = nb.metadata.get("nodelib", {}).get("chapter")
    if meta is not None:
        return chapter_number(meta)
    match = re.match(r"ch(\d+)", path.name)
    if match is None:
        raise ValueError(
            f"cannot tell the chapter of {path.name}: name it chNN_<topic>.ipynb or pass --chapter."
        )
    return int(match.group(1))


def _question_tags(cell: nbformat.NotebookNode) -> list[str]:
    tags = cell.get("metadata", {}).get("tags", [])
    # Notebooks saved before the "C" numbering are tagged question:1.3: read as C1.3.
    return [normalise_id(t.split(":", 1)[1]) for t in tags if t.startswith("question:")]


def _error_of(cell: nbformat.NotebookNode) -> tuple[str, str] | None:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return output.get("ename", ""), output.get("evalue", "")
    return None


def _run_cell(client: Any, cell: nbformat.NotebookNode, index: int, timeout: float) -> str:
    """Execute one cell; return "ok", "error", "timeout" (interrupted), "hung" or "dead".

    nbclient interrupts a cell that runs past `timeout` (as the stop button does) and keeps
    waiting for it to finish; a cell that ignores the interrupt for as long again is
    stopped by killing the kernel ("hung").
    """
    from nbclient.exceptions import DeadKernelError

    client.timeout = max(1, math.ceil(timeout))  # nbclient reads 0 as "no limit"
    killed = threading.Event()

    def kill() -> None:
        killed.set()
        pid = getattr(client.km.provisioner, "pid", None)
        if pid:
            os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))

    watchdog = threading.Timer(2 * timeout + 5, kill)
    watchdog.start()
    start = time.monotonic()
    try:
        client.execute_cell(cell, index)
    except DeadKernelError:
        return "hung" if killed.is_set() else "dead"
    finally:
        watchdog.cancel()
    error = _error_of(cell)
    if error and error[0] == "KeyboardInterrupt" and time.monotonic() - start >= timeout:
        return "timeout"
    return "error" if error else "ok"


def _execute(
    nb: nbformat.NotebookNode,
    folder: Path,
    env: dict[str, str],
    cell_timeout: float,
    grading_source: str,
    grading_timeout: float,
    *,
    before: int | None = None,
) -> tuple[list[CellRun], str, int | None, dict[str, QuestionResult]]:
    """Run the code cells (those before index `before`, if given), then the grading cell.

    Returns:
        The cell runs, why execution stopped early ("" if it did not), the index of the
        cell where it stopped, and the grading cell's results by question id.
    """
    from nbclient import NotebookClient

    kernel = nb.metadata.get("kernelspec", {}).get("name", "python3")
    quiet = logging.getLogger("nodelib.course.grading.nbclient")
    quiet.setLevel(logging.CRITICAL)  # timeouts are reported in the score table instead
    client = NotebookClient(
        nb,
        timeout=max(1, math.ceil(cell_timeout)),
        allow_errors=True,
        interrupt_on_timeout=True,
        kernel_name=kernel,
        shutdown_kernel="immediate",
        log=quiet,
        resources={"metadata": {"path": str(folder)}},
    )
    runs: list[CellRun] = []
    stopped, stopped_at, results = "", None, {}
    # The kernel's own stderr carries only start-up notices, not the cells' output.
    with client.setup_kernel(env=env, stderr=subprocess.DEVNULL):
        for index, cell in enumerate(list(nb.cells)):
            if cell.cell_type != "code" or (before is not None and index >= before):
                continue
            tags = cell.get("metadata", {}).get("tags", [])
            run = CellRun(
                index,
                "not run",
                questions=_question_tags(cell),
                expected_error="raises-exception" in tags,
            )
            runs.append(run)
            if stopped:
                continue
            status = _run_cell(client, cell, index, cell_timeout)
            run.status = {"hung": "timeout", "dead": "error"}.get(status, status)  # type: ignore[assignment]
            if status == "error":
                run.ename, run.evalue = _error_of(cell) or ("", "")
            elif status == "dead":
                run.ename, run.evalue = "DeadKernelError", "the kernel died"
                stopped, stopped_at = f"the kernel died while running cell {index + 1}", index
            elif status == "hung":
                stopped = (
                    f"cell {index + 1} did not stop when interrupted, so the kernel was stopped"
                )
                stopped_at = index
        if not stopped:
            # Named only now, after the notebook's cells ran: none of them could write to it.
            with tempfile.TemporaryDirectory() as tmp:
                record = Path(tmp) / f"final-{secrets.token_hex(8)}.jsonl"
                nb.cells.append(
                    nbformat.v4.new_code_cell(grading_source.format(record=str(record)))
                )
                if _run_cell(client, nb.cells[-1], len(nb.cells) - 1, grading_timeout) != "ok":
                    stopped = "the grading cell did not finish"
                results = _read_records(record)
    return runs, stopped, stopped_at, results


def _read_records(path: Path) -> dict[str, QuestionResult]:
    """The grading cell's results, by question (the last line per question counts)."""
    found: dict[str, QuestionResult] = {}
    if not path.exists():
        return {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a dying kernel
        if data.pop("source", None) == "final":
            result = QuestionResult.from_dict(data)
            found[result.question] = result
    return found


def grade_notebook(
    path: str | Path,
    *,
    cell_timeout: float = 120.0,
    check_timeout: float | None = None,
    device: str = "cpu",
    chapter: int | str | None = None,
) -> NotebookReport:
    """Execute a copy of the notebook in a fresh kernel and grade every question.

    Args:
        path: the notebook; it is only read.
        cell_timeout: seconds each cell may run before it is interrupted.
        check_timeout: seconds per grader test (None: the tests' own limits).
        device: where the final grading runs its tests ("cpu" or "cuda").
        chapter: the chapter; None: from the notebook's metadata or name.

    Returns:
        The NotebookReport.

    Raises:
        FileNotFoundError, nbformat.ValidationError: the notebook cannot be read.
        ValueError: the chapter cannot be told, or has no graded questions.
    """
    path = Path(path).resolve()
    nb = nbformat.read(path, as_version=4)
    number = chapter_number(chapter) if chapter is not None else chapter_of(nb, path)
    questions = chapter_questions(number)
    # The grader's modules are imported afresh, from their files: a notebook that replaced
    # one of their functions in its kernel does not grade itself with it.
    source = (
        "import sys as _nodelib_sys\n"
        "for _nodelib_name in [m for m in _nodelib_sys.modules\n"
        "                      if m.startswith('nodelib.course.grading')]:\n"
        "    del _nodelib_sys.modules[_nodelib_name]\n"
        "from nodelib.course.grading import grade_namespace as _nodelib_grade\n"
        f"_nodelib_results = _nodelib_grade({number}, globals(), device={device!r}, "
        f"timeout={check_timeout!r}, record_to={{record!r}})"
    )
    per_test = [check_timeout or t.timeout for q in questions for t in q.tests]
    # The notebook's own check calls record nothing the grader reads: no path in its env.
    env = {k: v for k, v in os.environ.items() if k != RECORD_ENV}
    executed = copy.deepcopy(nb)
    grading_timeout = sum(per_test) + 60
    runs, stopped, stopped_at, recorded = _execute(
        executed, path.parent, env, cell_timeout, source, grading_timeout
    )
    if stopped_at is not None:
        # Grade what the cells before the fatal one defined, in a fresh kernel.
        _, again, _, recorded = _execute(
            copy.deepcopy(nb), path.parent, env, cell_timeout, source, grading_timeout,
            before=stopped_at,
        )  # fmt: skip
        if again:
            stopped += f"; run again without it, {again}"
    results = [_result_for(q, recorded.get(q.id), runs, nb, stopped) for q in questions]
    return NotebookReport(str(path), number, results, runs, stopped, executed)


def _result_for(
    q: Any,
    result: QuestionResult | None,
    runs: list[CellRun],
    nb: nbformat.NotebookNode,
    stopped: str,
) -> QuestionResult:
    """The question's result, with what went wrong in the cells tagged question:<id>."""
    if result is None:
        why = f"It was not graded: {stopped}." if stopped else "It was not graded."
        result = QuestionResult(
            q.id,
            q.name,
            q.title,
            q.points,
            "not run",
            [TestResult(t.description, "not run") for t in q.tests],
            why,
        )
    if not result.passed:
        notes = [
            run.describe(nb.cells[run.index].source) + "."
            for run in runs
            if q.id in run.questions and run.status != "ok"
        ]
        result.feedback = " ".join([*notes, result.feedback]).strip()
    return result
