"""Command line of the grader: ``python -m nodelib.course.grading NOTEBOOK`` (or ``nodelib-grade``).

Executes a copy of the notebook in a fresh kernel (the notebook itself is never changed),
grades every question of its chapter and prints a score table with feedback. With
``--json`` the report is written as JSON (to a file, or to standard output with
``--json -``). The exit code is 0 exactly when every question passes, 1 when one does not,
and 2 when the notebook cannot be graded at all (missing file, unknown chapter).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m nodelib.course.grading",
        description="Grade a course notebook: run a copy in a fresh kernel and check every "
        "coding exercise. The notebook itself is never modified.",
    )
    parser.add_argument("notebook", type=Path, help="the notebook, e.g. exercises/ch01_....ipynb")
    parser.add_argument(
        "--json",
        metavar="PATH",
        nargs="?",
        const="-",
        default=None,
        help="write the report as JSON to PATH ('-' or no PATH: standard "
        "output, instead of the table)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="time limit per notebook cell (default 120)",
    )
    parser.add_argument(
        "--check-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="time limit per grader test (default: each test's own, 10 s)",
    )
    parser.add_argument("--device", default="cpu", help="where the checks run: cpu or cuda")
    parser.add_argument(
        "--chapter", default=None, help="the chapter (default: from the notebook's name, chNN_...)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code (0: every question passes)."""
    args = _parser().parse_args(argv)
    if hasattr(sys.stdout, "reconfigure"):  # θ and friends on a terminal that lacks them
        sys.stdout.reconfigure(errors="replace")
    try:
        from nodelib.course.grading.notebook import grade_notebook
    except ImportError as err:  # nbclient, nbformat and ipykernel come with Jupyter
        print(
            f"the grader needs Jupyter's nbclient and ipykernel ({err}): pip install "
            "nbclient ipykernel",
            file=sys.stderr,
        )
        return 2
    from nodelib.course.grading.report import format_table

    if not args.notebook.is_file():
        print(f"no such notebook: {args.notebook}", file=sys.stderr)
        return 2
    try:
        report = grade_notebook(
            args.notebook,
            cell_timeout=args.timeout,
            check_timeout=args.check_timeout,
            device=args.device,
            chapter=args.chapter,
        )
    except (ValueError, OSError) as err:
        print(f"cannot grade {args.notebook}: {err}", file=sys.stderr)
        return 2
    if args.json is not None:
        text = json.dumps(report.to_dict(), indent=2, ensure_ascii=False)
        if args.json == "-":
            print(text)
            return 0 if report.passed else 1
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    title = f"{args.notebook} (chapter {report.chapter})"
    print(format_table(report.questions, title=title))
    unexpected = [c for c in report.cells if c.status == "error" and not c.expected_error]
    if unexpected:
        listed = ", ".join(f"cell {c.index + 1} ({c.ename})" for c in unexpected)
        print(f"\nCells that raised: {listed}.")
    if report.stopped:
        print(f"\nExecution stopped early: {report.stopped}.")
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
