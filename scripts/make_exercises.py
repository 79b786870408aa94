"""Derive the exercise notebooks from the solution notebooks: one source for both.

Each ``solutions/chNN_<topic>.ipynb`` is written with its solutions marked; this script
writes ``exercises/chNN_<topic>.ipynb`` from it::

    python scripts/make_exercises.py            # (re)write every exercise notebook
    python scripts/make_exercises.py --check    # exit 1, listing exercise notebooks out of date
    python scripts/make_exercises.py --execute  # first re-execute the solution notebooks in
                                                # place (their stored outputs), then write

The markers in a solution notebook:

- Code: the lines from ``# BEGIN SOLUTION`` to ``# END SOLUTION`` become one line,
  ``raise NotImplementedError("not implemented yet: open the hints above this cell")``, at
  the marker's indentation. The BEGIN line carries nothing else: the hints are written in
  the Markdown cell just above the exercise's cell, as folded HTML blocks
  (``<details>`` / ``<summary>Hint 1: the idea</summary>``, a blank line, the hint in
  Markdown, a blank line, ``</details>``: folded in JupyterLab, Colab and on the website),
  the idea first and a more specific step next, never
  a line of the solution (tests/test_hints.py checks both). A region that is not indented
  raises when its cell runs: the cell gets the tag ``raises-exception``.
- Markdown: ``<!-- BEGIN SOLUTION -->`` ... ``<!-- END SOLUTION -->`` is removed, and
  ``<!-- BEGIN EXERCISE`` ... ``END EXERCISE -->`` (hidden in the solution notebook) is
  shown in the exercise notebook.
- Cell tags: ``solution`` drops the cell; ``check`` (the check cells) and ``uses-solution``
  (cells that call the reader's functions) get ``raises-exception``, since they raise until
  the exercise is solved (Jupyter Book and ``pytest --nbval-lax`` then accept the error).
  Every cell tagged ``raises-exception`` also gets ``remove-output``: the book's exercise
  pages show the task, the stub and the check call, not a traceback or a failing report.
  (The notebooks are still executed and tested; only the rendered page hides the output.)
- Labels: both notebooks are pages of the book, and a label must be unique: every MyST
  target ``(sol-...)=`` and ``:label: sol-...`` of the solution notebook, and each use of
  it, becomes ``ex-...`` in the exercise notebook.

Outputs and execution counts are cleared. tests/test_grading_notebooks.py fails when an
exercise notebook differs from what this script writes.
"""

from __future__ import annotations

import argparse
import copy
import re
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS, EXERCISES = ROOT / "solutions", ROOT / "exercises"
BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION(?P<rest>.*)$")
END = re.compile(r"^[ \t]*# END SOLUTION\s*$")
MD_SOLUTION = re.compile(r"<!-- BEGIN SOLUTION -->.*?<!-- END SOLUTION -->\n?", re.DOTALL)
MD_EXERCISE = re.compile(r"<!-- BEGIN EXERCISE\n(.*?)END EXERCISE -->\n?", re.DOTALL)
LABEL = re.compile(r"^\((sol-[\w-]+)\)=|^:label: (sol-[\w-]+)", re.MULTILINE)
RAISING_TAGS = ("check", "uses-solution")
STUB_MESSAGE = "not implemented yet: open the hints above this cell"
HIDDEN_OUTPUT_TAG = "remove-output"  # Jupyter Book: show the cell, not what it printed


def strip_code(source: str, where: str) -> tuple[str, bool]:
    """Replace each solution region of a code cell by a stub.

    Returns:
        (new source, whether a region sits at the top level, so the cell raises).

    Raises:
        ValueError: unbalanced or nested markers, or text after ``# BEGIN SOLUTION`` (an
            old-style hint, which belongs in the Markdown cell above); where names the cell.
    """
    out: list[str] = []
    inside, top_level = False, False
    for line in source.splitlines():
        begin = BEGIN.match(line)
        if begin:
            if inside:
                raise ValueError(f"{where}: nested # BEGIN SOLUTION")
            if begin.group("rest").strip():
                raise ValueError(
                    f"{where}: text after # BEGIN SOLUTION ({begin.group('rest').strip()!r}): "
                    "write hints as folded <details> blocks in the Markdown cell above the exercise"
                )
            inside = True
            out.append(f'{begin.group("indent")}raise NotImplementedError("{STUB_MESSAGE}")')
            top_level = top_level or begin.group("indent") == ""
        elif END.match(line):
            if not inside:
                raise ValueError(f"{where}: # END SOLUTION without # BEGIN SOLUTION")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{where}: # BEGIN SOLUTION without # END SOLUTION")
    return "\n".join(out), top_level


def strip_markdown(source: str, labels: list[str]) -> str:
    """Drop the solution regions, show the exercise regions, rename sol- labels to ex-."""
    source = MD_EXERCISE.sub(lambda m: m.group(1), MD_SOLUTION.sub("", source))
    for label in labels:
        source = re.sub(rf"(?<![\w-]){re.escape(label)}(?![\w-])", "ex-" + label[4:], source)
    return source


def make_exercise(solution: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """The exercise notebook derived from a solution notebook (which is not changed)."""
    nb = copy.deepcopy(solution)
    labels = sorted(
        {
            a or b
            for cell in nb.cells
            if cell.cell_type == "markdown"
            for a, b in LABEL.findall(cell.source)
        },
        key=len,
        reverse=True,
    )
    cells = []
    for index, cell in enumerate(nb.cells):
        tags = list(cell.get("metadata", {}).get("tags", []))
        if "solution" in tags:
            continue
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.source, raises = strip_code(cell.source, f"{name}, cell {index + 1}")
            cell.outputs, cell.execution_count = [], None
            if (raises or any(t in tags for t in RAISING_TAGS)) and "raises-exception" not in tags:
                tags.append("raises-exception")
            if "raises-exception" in tags and HIDDEN_OUTPUT_TAG not in tags:
                tags.append(HIDDEN_OUTPUT_TAG)
        elif cell.cell_type == "markdown":
            cell.source = strip_markdown(cell.source, labels)
        if tags:
            cell.metadata["tags"] = tags
        cells.append(cell)
    nb.cells = cells
    return nb


def execute_in_place(path: Path) -> None:
    """Execute a solution notebook in a fresh kernel and store its outputs."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        record_timing=False,  # no timestamps in the stored notebook
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute(stderr=subprocess.DEVNULL)  # the kernel's own start-up notices
    nbformat.write(nb, path)


def exercise_path(solution: Path) -> Path:
    return EXERCISES / solution.name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="report stale exercise notebooks")
    mode.add_argument(
        "--execute",
        action="store_true",
        help="re-execute the solution notebooks first (stores their outputs)",
    )
    parser.add_argument(
        "notebooks",
        nargs="*",
        type=Path,
        help="solution notebooks to process (default: every solutions/ch*.ipynb)",
    )
    args = parser.parse_args(argv)
    stale = []
    chosen = [p.resolve() for p in args.notebooks] or sorted(SOLUTIONS.glob("ch*.ipynb"))
    for solution in chosen:
        if args.execute:
            execute_in_place(solution)
            print(f"executed {solution.relative_to(ROOT)}")
        text = nbformat.writes(make_exercise(nbformat.read(solution, as_version=4), solution.name))
        target = exercise_path(solution)
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if args.check:
            if current != text + "\n" and current != text:
                stale.append(target)
        elif current not in (text, text + "\n"):
            target.write_text(text + "\n", encoding="utf-8")
            print(f"wrote {target.relative_to(ROOT)}")
    for target in stale:
        print(f"out of date: {target.relative_to(ROOT)}", file=sys.stderr)
    if stale:
        print("regenerate with: python scripts/make_exercises.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
