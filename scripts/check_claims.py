"""Execute the lecture notebooks under several seeds and tabulate every claim their text makes.

Each sentence of a chapter that rests on computed numbers is checked in the cell that
computes them with `nodelib.course.book.claim`. This script runs each chosen chapter once per seed
(``NODELIB_SEED``), collects the verdicts and prints a table: each claim, its numbers per
seed, and whether it held on every run::

    python scripts/check_claims.py --seeds 0 1 2 3 4                 # every chapter
    python scripts/check_claims.py --seeds 0 1 2 3 4 --threads 1 --jobs 2 ch03 ch06
    python scripts/check_claims.py --seeds 0 1 --markdown report.md --json report.json

Chapters are named by number (``3``, before ``--seeds``), prefix (``ch03``) or path; a
path may name any notebook, e.g. ``solutions/ch03_resnets.ipynb``.
``--threads N`` sets ``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` for the kernels (PyTorch reads
them at start-up; a notebook that sets its own thread count keeps it);
``--jobs`` runs that many notebooks at once (use it with ``--threads 1``). Claims are
recorded, not enforced, so one false claim does not hide the others; the exit code is 1 when
a claim is false on some run or a notebook fails, else 0.

``--lint`` executes nothing: it reads the lecture and solution notebooks (all of them, or
those named: ``ch03`` names both ``chapters/ch03_*`` and ``solutions/ch03_*``) and lists
every comparative or universal sentence that no claim of its section covers and no marker
explains (the rules: ``scripts/claims_lint.py``), with a summary per notebook; the exit code
is 1 when it finds one::

    python scripts/check_claims.py --lint              # every lecture and solution notebook
    python scripts/check_claims.py --lint ch03 solutions/ch06_neural_odes.ipynb
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"
SOLUTIONS = ROOT / "solutions"

sys.path.insert(0, str(ROOT / "scripts"))  # the lint's module sits beside this script
from claims_lint import Finding, Report, lint_notebook  # noqa: E402

__all__ = ["Finding", "Report", "chapter_paths", "lint", "lint_notebook", "lint_paths", "table"]
CELL_TIMEOUT = 900  # seconds; a hung cell ends the run instead of the script


def chapter_paths(names: list[str]) -> list[Path]:
    """The lecture notebooks named by number, prefix or path (all of them for none)."""
    every = sorted(CHAPTERS.glob("ch[0-9][0-9]_*.ipynb"))
    if not names:
        return every
    chosen = []
    for name in names:
        path = Path(name)
        if path.suffix == ".ipynb":
            chosen.append(path.resolve())
            continue
        prefix = f"ch{int(name):02d}" if name.isdigit() else name
        matches = [p for p in every if p.name.startswith(prefix)]
        if len(matches) != 1:
            raise SystemExit(f"no single lecture notebook matches {name!r}: use 1-6 or ch01")
        chosen.extend(matches)
    return chosen


def lint_paths(names: list[str]) -> list[Path]:
    """The notebooks the lint reads: every lecture and solution notebook, or those named."""
    every = sorted(CHAPTERS.glob("ch[0-9][0-9]_*.ipynb")) + sorted(SOLUTIONS.glob("ch*.ipynb"))
    chosen: list[Path] = []
    for name in names or [""]:
        if name.endswith(".ipynb"):
            chosen.append(Path(name).resolve())
            continue
        prefix = f"ch{int(name):02d}" if name.isdigit() else name
        matches = [p for p in every if p.name.startswith(prefix)]
        if not matches:
            raise SystemExit(f"no lecture or solution notebook matches {name!r}: use 1-6 or ch01")
        chosen.extend(matches)
    return chosen


def lint(paths: list[Path]) -> tuple[str, list[Report]]:
    """Lint each notebook; the text to print (findings, then a summary per notebook)."""
    reports = [lint_notebook(path, root=ROOT) for path in paths]
    lines = [str(finding) for report in reports for finding in report.findings]
    lines += ["", *(report.summary() for report in reports)]
    total = sum(len(report.findings) for report in reports)
    lines.append(f"{total} unchecked or unreadable sentence(s) in {len(reports)} notebook(s).")
    return "\n".join(lines), reports


def _execute(path: Path, seed: int, threads: int | None) -> dict[str, Any]:
    """Run one notebook under one seed in a fresh kernel; its claims, time and error."""
    import nbformat
    from nbclient import NotebookClient

    from nodelib.course.book import claims

    os.environ["NODELIB_SEED"] = str(seed)
    os.environ["NODELIB_CLAIMS"] = "record"
    if threads is not None:
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=CELL_TIMEOUT, resources={"metadata": {"path": str(path.parent)}}
    )
    start = time.perf_counter()
    error = None
    try:
        client.execute()
    except Exception as err:  # a failed notebook is reported, the other runs go on
        error = f"{type(err).__name__}: {str(err).strip().splitlines()[-1][:300]}"
    return {
        # a lecture by its name; another notebook (a solution) with its folder
        "chapter": path.stem if path.parent == CHAPTERS else f"{path.parent.name}/{path.stem}",
        "seed": seed,
        "seconds": time.perf_counter() - start,
        "error": error,
        "claims": claims(nb),
    }


def _short(value: Any) -> str:
    if isinstance(value, list):
        flat = [v for v in value if isinstance(v, (int, float))]
        if len(flat) == len(value) and len(flat) > 3:
            return f"[{min(flat):.3g}..{max(flat):.3g}]"
        return "[" + ",".join(_short(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _escape(text: str) -> str:
    return text.replace("|", "\\|")  # a "|R|" in a sentence must not split the cell


def table(runs: list[dict[str, Any]], seeds: list[int]) -> tuple[str, int]:
    """A Markdown table of every claim by chapter and seed, and the number of false ones."""
    rows = ["| chapter | claim | " + " | ".join(f"seed {s}" for s in seeds) + " | verdict |"]
    rows.append("|" + "---|" * (len(seeds) + 3))
    false = 0
    for chapter in sorted({run["chapter"] for run in runs}):
        by_seed = {run["seed"]: run for run in runs if run["chapter"] == chapter}
        statements: list[str] = []
        for seed in seeds:
            for item in by_seed[seed]["claims"]:
                if item["statement"] not in statements:
                    statements.append(item["statement"])
        for statement in statements:
            cells, failed = [], []
            for seed in seeds:
                found = [c for c in by_seed[seed]["claims"] if c["statement"] == statement]
                if not found:
                    cells.append("not reached")
                    failed.append(seed)
                    continue
                numbers = ", ".join(f"{k}={_short(v)}" for k, v in found[0]["numbers"].items())
                cells.append(("" if found[0]["holds"] else "**FALSE** ") + numbers)
                if not found[0]["holds"]:
                    failed.append(seed)
            verdict = "true" if not failed else "FALSE on seed " + ",".join(map(str, failed))
            false += bool(failed)
            cells = [_escape(statement), *(_escape(cell) for cell in cells)]
            label = chapter.split("_")[0]  # ch03, or solutions/ch03
            rows.append(f"| {label} | " + " | ".join(cells) + f" | {verdict} |")
    return "\n".join(rows), false


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="*", help="chapters to run (default: all)")
    parser.add_argument("--seeds", nargs="+", default=["0", "1", "2", "3", "4"])
    parser.add_argument("--threads", type=int, default=None, help="threads per kernel")
    parser.add_argument("--jobs", type=int, default=1, help="notebooks executed at once")
    parser.add_argument("--markdown", type=Path, help="also write the tables to this file")
    parser.add_argument("--json", type=Path, help="also write every run as JSON")
    parser.add_argument("--lint", action="store_true", help="lint the text; execute nothing")
    args = parser.parse_args(argv)
    if args.lint:
        text, reports = lint(lint_paths(args.chapters))
        print(text)
        return int(any(report.findings for report in reports))
    # "--seeds 0 1 ch03" takes ch03 as a seed: what is not a number is a chapter.
    args.chapters += [value for value in args.seeds if not value.isdigit()]
    args.seeds = [int(value) for value in args.seeds if value.isdigit()]
    if not args.seeds:
        parser.error("give at least one seed, e.g. --seeds 0 1 2")
    paths = chapter_paths(args.chapters)
    tasks = [(path, seed, args.threads) for path in paths for seed in args.seeds]
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        runs = list(pool.map(_execute, *zip(*tasks, strict=True)))
    claims_table, false = table(runs, args.seeds)
    times = ["| chapter | seed | seconds | error |", "|---|---|---|---|"]
    times += [
        f"| {r['chapter']} | {r['seed']} | {r['seconds']:.1f} | {r['error'] or ''} |" for r in runs
    ]
    threads = args.threads if args.threads is not None else "default"
    report = (
        f"## Claims (seeds {args.seeds}, threads: {threads})\n\n{claims_table}\n\n"
        f"## Execution times\n\n" + "\n".join(times) + "\n"
    )
    print(report)
    failed_runs = [r for r in runs if r["error"]]
    print(f"{false} claim(s) false on some run; {len(failed_runs)} notebook run(s) failed.")
    if args.markdown:
        args.markdown.write_text(report)
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1))
    return int(bool(false or failed_runs))


if __name__ == "__main__":
    sys.exit(main())
