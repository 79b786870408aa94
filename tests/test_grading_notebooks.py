"""The exercise generator and the grader's command line, on the real notebooks.

Execution budget: each notebook is executed once, here, for every chapter. A solution
notebook's one run gives full marks *and* is compared with its stored outputs, cell by cell,
with the rules of solutions/nbval_sanitize.cfg (what ``pytest --nbval solutions/`` compares:
streams, text results and errors, not images); an exercise notebook's one run gives zero
marks without a crash, and only its cells tagged ``raises-exception`` raise (what
``pytest --nbval-lax`` requires). Both runs are then stored in the book's execution cache
(tests/_notebooks.py), so the book build that follows in CI does not execute them again.
A small broken notebook (a raising cell, a hanging cell, a dying kernel) is one more kernel.
"""

from __future__ import annotations

import copy
import json
import re
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import nbformat
import pytest
from _grading_helpers import EXERCISE, ROOT, SOLUTION
from _notebooks import TIMES, store_in_book_cache
from _scripts import load_script

import nodelib.course.grading.notebook as grading_notebook
from nodelib.course.grading.__main__ import main
from nodelib.course.grading.core import chapter_questions
from nodelib.course.grading.notebook import NotebookReport

SANITIZE = ROOT / "solutions" / "nbval_sanitize.cfg"
SOLUTION_NOTEBOOKS = sorted((ROOT / "solutions").glob("ch*.ipynb"))


@pytest.fixture(scope="module")
def make_exercises() -> ModuleType:
    return load_script("make_exercises")


def _run_cli(args: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, NotebookReport]:
    """Run the command line in this process, keeping the report (and the executed copy)."""
    reports: list[NotebookReport] = []
    original = grading_notebook.grade_notebook

    def keep(*a: Any, **k: Any) -> NotebookReport:
        reports.append(original(*a, **k))
        return reports[-1]

    monkeypatch.setattr(grading_notebook, "grade_notebook", keep)
    code = main(args)
    return code, reports[0]


# --- the generator --------------------------------------------------------------------------


def test_there_is_a_solution_notebook_and_its_exercise() -> None:
    assert SOLUTION in SOLUTION_NOTEBOOKS and EXERCISE.is_file()
    for solution in SOLUTION_NOTEBOOKS:
        assert (ROOT / "exercises" / solution.name).is_file(), solution.name


@pytest.mark.parametrize("solution", SOLUTION_NOTEBOOKS, ids=lambda p: p.name)
def test_exercise_notebook_is_up_to_date(solution: Path, make_exercises: ModuleType) -> None:
    expected = nbformat.writes(make_exercises.make_exercise(nbformat.read(solution, as_version=4)))
    stored = make_exercises.exercise_path(solution).read_text(encoding="utf-8")
    assert stored.rstrip("\n") == expected, (
        f"exercises/{solution.name} is out of date: run python scripts/make_exercises.py"
    )


STUB = 'raise NotImplementedError("not implemented yet: open the hints above this cell")'


@pytest.mark.parametrize("solution", SOLUTION_NOTEBOOKS, ids=lambda p: p.name)
def test_exercise_pages_hide_only_what_raises_until_solved(solution: Path) -> None:
    """Exercise pages show no traceback or failing report; solution pages keep their reports."""
    exercise = nbformat.read(ROOT / "exercises" / solution.name, as_version=4)
    tagged = [c.metadata.get("tags", []) for c in exercise.cells if c.cell_type == "code"]
    raising = [t for t in tagged if "raises-exception" in t]
    assert raising and all("remove-output" in t for t in raising)
    assert all("raises-exception" in t for t in tagged if "remove-output" in t)
    solved = nbformat.read(solution, as_version=4).cells
    checks = [c for c in solved if "check" in c.get("metadata", {}).get("tags", [])]
    assert checks and not any("remove-output" in c.metadata["tags"] for c in checks)
    assert all("[pass]" in "".join(o.get("text", "") for o in c.outputs) for c in checks)


def test_generator_replaces_regions_by_stubs_and_tags_raising_cells(
    make_exercises: ModuleType,
) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "def f(x):\n    # BEGIN SOLUTION\n    y = x * x\n    return y\n    # END SOLUTION",
            metadata={"tags": ["question:C9.1"]},
        ),
        nbformat.v4.new_code_cell("a = 1\n# BEGIN SOLUTION\nb = 2\n# END SOLUTION\nprint(a)"),
        nbformat.v4.new_code_cell("check('C9.1', f)", metadata={"tags": ["check"]}),
        nbformat.v4.new_code_cell("secret = 42", metadata={"tags": ["solution"]}),
        nbformat.v4.new_markdown_cell(
            "(sol-top)=\n<!-- BEGIN SOLUTION -->\nworked\n<!-- END SOLUTION -->\n"
            "<!-- BEGIN EXERCISE\ntry it\nEND EXERCISE -->\n"
            ":label: sol-ex\nsee {ref}`sol-ex` and sol-exact"
        ),
    ]
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="x")]
    nb.cells[0].execution_count = 3
    out = make_exercises.make_exercise(nb)
    assert len(out.cells) == 4
    assert out.cells[0].source == "def f(x):\n    " + STUB
    assert out.cells[0].outputs == [] and out.cells[0].execution_count is None
    # A stub inside a function does not raise when its cell runs: the output stays.
    assert out.cells[0].metadata["tags"] == ["question:C9.1"]
    assert out.cells[1].source == f"a = 1\n{STUB}\nprint(a)"
    # Cells that raise until the exercise is solved: no traceback or [FAIL] on the page.
    assert out.cells[1].metadata["tags"] == ["raises-exception", "remove-output"]
    assert out.cells[2].metadata["tags"] == ["check", "raises-exception", "remove-output"]
    assert out.cells[3].source == "(ex-top)=\ntry it\n:label: ex-ex\nsee {ref}`ex-ex` and sol-exact"
    assert nb.cells[0].outputs, "the solution notebook itself is not changed"


@pytest.mark.parametrize(
    "source",
    [
        "# BEGIN SOLUTION\nx = 1",
        "x = 1\n# END SOLUTION",
        "# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION",
        "# BEGIN SOLUTION hint: x = 1\nx = 1\n# END SOLUTION",  # hints go above the cell
    ],
)
def test_generator_rejects_unbalanced_markers(source: str, make_exercises: ModuleType) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    with pytest.raises(ValueError, match="cell 1"):
        make_exercises.make_exercise(nb, "x.ipynb")


# --- the command line on the real notebooks -------------------------------------------------


def _sanitize_rules() -> list[tuple[str, str]]:
    text = SANITIZE.read_text(encoding="utf-8")
    return re.findall(r"^regex: (.*)$\n^replace: (.*)$", text, flags=re.MULTILINE)


def _comparable(cell: nbformat.NotebookNode, rules: list[tuple[str, str]]) -> dict[str, str]:
    """A cell's outputs as nbval compares them: streams, text results, errors; no images."""
    found: dict[str, list[str]] = {}
    for output in cell.get("outputs", []):
        kind = output["output_type"]
        if kind == "stream":
            found.setdefault(output["name"], []).append(output["text"])
        elif kind in ("execute_result", "display_data") and "text/plain" in output["data"]:
            found.setdefault("text/plain", []).append(output["data"]["text/plain"])
        elif kind == "error":
            found.setdefault("error", []).append(f"{output['ename']}: {output['evalue']}")
    out = {}
    for key, parts in found.items():
        text = "".join(parts)
        for regex, replace in rules:
            text = re.sub(regex, replace, text)
        out[key] = text
    return out


def _ignores_output(cell: nbformat.NotebookNode) -> bool:
    tags = cell.get("metadata", {}).get("tags", [])
    return (
        "nbval-ignore-output" in tags
        or "nbval-skip" in tags
        or "NBVAL_IGNORE_OUTPUT" in cell.source
    )


def _cache_for_the_book(path: Path, report: NotebookReport) -> None:
    """Hand this run to the book build (tests/_notebooks.py), without the grading cell."""
    if report.executed is None or report.stopped:
        return
    if any(c.status != "ok" and not c.expected_error for c in report.cells):
        return  # the build must execute it and fail loudly itself
    executed = copy.deepcopy(report.executed)
    executed.cells = executed.cells[:-1]  # the grading cell the grader appended
    store_in_book_cache(path, executed, TIMES.get(str(path.relative_to(ROOT)), 0.0))


@pytest.mark.parametrize("solution", SOLUTION_NOTEBOOKS, ids=lambda p: p.name)
def test_solution_notebook_scores_full_marks_and_reproduces_its_outputs(
    solution: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    before = solution.read_bytes()
    start = time.perf_counter()
    code, report = _run_cli([str(solution), "--json", str(tmp_path / "r.json")], monkeypatch)
    TIMES[str(solution.relative_to(ROOT))] = time.perf_counter() - start
    table = capsys.readouterr().out
    questions = chapter_questions(report.chapter)
    points = sum(q.points for q in questions)
    assert code == 0 and report.passed and not report.stopped, table
    n = len(questions)
    expected = rf"^Score: {points}/{points} points; {n} of {n} questions pass\.$"
    assert re.search(expected, table, re.MULTILINE), table
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["score"] == data["max_score"] == points and data["passed"] is True
    assert solution.read_bytes() == before, "the grader must not modify the notebook"
    stored = nbformat.read(solution, as_version=4)
    assert report.executed is not None
    rules = _sanitize_rules()
    compared = 0
    for index, (old, new) in enumerate(zip(stored.cells, report.executed.cells, strict=False)):
        if old.cell_type != "code" or _ignores_output(old):
            continue
        assert _comparable(new, rules) == _comparable(old, rules), (
            f"{solution.name}: cell {index + 1}'s output differs from the stored one: if the "
            f"change is intended, run python scripts/make_exercises.py --execute {solution}"
        )
        compared += bool(old.outputs)
    assert compared >= len(questions), f"{solution.name} is stored without outputs"
    _cache_for_the_book(solution, report)


@pytest.mark.parametrize("solution", SOLUTION_NOTEBOOKS, ids=lambda p: p.name)
def test_exercise_notebook_scores_zero_without_crashing(
    solution: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    exercise = ROOT / "exercises" / solution.name
    before = exercise.read_bytes()
    start = time.perf_counter()
    code, report = _run_cli([str(exercise)], monkeypatch)
    TIMES[str(exercise.relative_to(ROOT))] = time.perf_counter() - start
    table = capsys.readouterr().out
    questions = chapter_questions(report.chapter)
    points = sum(q.points for q in questions)
    assert code == 1 and not report.stopped, table
    assert f"Score: 0/{points} points; 0 of {len(questions)} questions pass." in table
    assert all(q.status == "failed" and q.points == 0 for q in report.questions)
    raised = [c for c in report.cells if c.status != "ok"]
    assert raised and all(c.status == "error" and c.expected_error for c in raised), raised
    assert exercise.read_bytes() == before
    stubs = [c for c in nbformat.read(exercise, as_version=4).cells if STUB in c.source]
    for question in report.questions:  # each points to the hints, none gives code away
        assert "not implemented yet" in question.feedback, (question.question, question.feedback)
        assert "hints" in question.feedback, question.feedback
    assert stubs and all("hint:" not in c.source for c in stubs)
    if solution == SOLUTION:
        assert report.questions[0].not_implemented
        assert report.questions[0].feedback.startswith("euler_step is not implemented yet")
        # measured_orders: its cell stops at the stub, so the name is never defined
        assert "is not implemented yet" in report.questions[5].feedback
        assert "is not defined when the notebook ends" in report.questions[5].feedback
    _cache_for_the_book(exercise, report)


# A cell may run 15 s before it is interrupted (a busy machine needs several seconds for the
# set-up cell's imports); a grader test, 120 s: these tests are about hangs, not about speed.
TIMEOUTS = ["--timeout", "15", "--check-timeout", "120", "--json", "-"]


def _notebook_with(cells: list[str], chosen: set[str], tmp_path: Path, name: str) -> Path:
    """Chapter 1's set-up, title, introduction and imports, the cells tagged `chosen` and their
    checks, then `cells`: a small notebook to grade."""
    nb = nbformat.read(SOLUTION, as_version=4)
    keep = nb.cells[:4]  # set-up, title, introduction, imports
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if chosen & set(tags) or cell.source.strip() in (
            'check("C1.1", euler_step)',
            'check("C1.5", empirical_order)',
        ):
            keep.append(cell)
    keep += [nbformat.v4.new_code_cell(source) for source in cells]
    nb.cells = keep
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


def test_broken_notebook_keeps_what_was_graded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A raising cell fails only its question, a hang is stopped, a dead kernel ends the run:
    the cells before the fatal one run again in a fresh kernel and are graded there."""
    chosen = {"question:C1.1", "question:C1.2", "question:C1.5"}
    cells = ["while True:\n    pass", "import os\nos._exit(1)", "print('never')"]
    path = _notebook_with(cells, chosen, tmp_path, "ch01_broken.ipynb")
    nb = nbformat.read(path, as_version=4)
    solve = next(c for c in nb.cells if "question:C1.2" in c.metadata.get("tags", []))
    solve.source = 'raise ValueError("a typo")\n' + solve.source
    nbformat.write(nb, path)
    code, report = _run_cli([*TIMEOUTS, str(path)], monkeypatch)
    data = json.loads(capsys.readouterr().out)
    statuses = {q["question"]: q["status"] for q in data["questions"]}
    assert code == 1 and data["score"] == 4
    assert statuses == {q: "passed" if q in ("C1.1", "C1.5") else "failed" for q in statuses}
    assert "raised ValueError: a typo" in report.questions[1].feedback
    assert "is not defined when the notebook ends" in report.questions[2].feedback
    assert "the kernel died while running cell" in report.stopped
    assert [c.status for c in report.cells[-3:]] == ["timeout", "error", "not run"]


HOSTILE = """
import json, os, signal
import nodelib.course.grading as grading
import nodelib.course.grading.core as core
forged = {"question": "C1.3", "name": "backward_euler_step", "title": "forged",
          "max_points": 3, "status": "passed", "tests": [], "source": "final"}
leaked = os.environ.get(core.RECORD_ENV)  # the grader gives the notebook no record file
if leaked:
    with open(leaked, "a") as file:
        file.write(json.dumps(forged) + "\\n")

def everything_passes(question, answer, **kwargs):
    q = core.get_question(question) if isinstance(question, str) else question
    return core.QuestionResult(q.id, q.name, q.title, q.points, "passed")

core.grade = everything_passes  # what the grading cell would call, were it not reloaded
grading.grade_namespace = lambda chapter, namespace, **kw: [
    core.record(everything_passes(q, None), "final", kw.get("record_to"))
    for q in core.chapter_questions(1)]
backward_euler_step = "not a function"
"""


def test_hostile_notebook_cannot_grant_itself_marks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A notebook that replaces the grader's functions in its kernel, writes results where it
    hopes the grader reads them, and then hangs ignoring interrupts, earns C1.1's 2 points."""
    ignores_interrupts = "signal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
    path = _notebook_with([HOSTILE, ignores_interrupts], {"question:C1.1"}, tmp_path,
                          "ch01_hostile.ipynb")  # fmt: skip
    code, report = _run_cli([*TIMEOUTS, str(path)], monkeypatch)
    data = json.loads(capsys.readouterr().out)
    statuses = {q["question"]: q["status"] for q in data["questions"]}
    assert code == 1 and data["score"] == 2, data
    assert statuses == {q: "passed" if q == "C1.1" else "failed" for q in statuses}
    assert "did not stop when interrupted" in report.stopped
    assert "should be a function" in report.questions[2].feedback


def test_command_line_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "missing.ipynb")]) == 2
    odd = tmp_path / "notes.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), odd)
    assert main([str(odd)]) == 2
    assert "cannot tell the chapter" in capsys.readouterr().err


def test_console_script_is_declared() -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'nodelib-grade = "nodelib.course.grading.__main__:main"' in text
