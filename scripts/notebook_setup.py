"""The set-up cell that opens every notebook of the course, kept in this one place.

Every notebook under ``chapters/``, ``exercises/`` and ``solutions/`` starts with the
code cell ``SETUP_CELL``: in Colab it installs nodelib with its ``course`` extra (the
notebooks' plotting, training and grading dependencies) from the course repository
(pinned to the course branch); everywhere it imports torch and nodelib, picks the
device and fixes the seed. Edit the cell here, never in a notebook, then run::

    python scripts/notebook_setup.py --write   # make the first cell of every notebook SETUP_CELL
    python scripts/notebook_setup.py --check   # exit 1, listing each notebook that differs

``tests/test_book_structure.py`` runs the same check. If you fork the course, change
``REPOSITORY_URL`` and ``COURSE_BRANCH`` below (and the same two values in
``_config.yml``), then run ``--write``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

REPOSITORY_URL = "https://github.com/neural-odes-course/neural-odes-from-first-principles"
COURSE_BRANCH = "main"

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIRS = ("chapters", "exercises", "solutions")

# The cell id and tags every set-up cell carries. "remove-cell" keeps the cell off the
# website (the book still executes it); Colab and Jupyter show and run it as usual.
SETUP_CELL_ID = "course-setup"
SETUP_TAGS = ["course-setup", "remove-cell"]

SETUP_CELL = f"""\
# Course set-up, the same in every notebook (edit scripts/notebook_setup.py, not this cell).
import sys

if "google.colab" in sys.modules:  # in Colab, install nodelib[course] from the course repository
    %pip install -q "nodelib[course] @ git+{REPOSITORY_URL}@{COURSE_BRANCH}"

import torch

import nodelib

device = nodelib.choose_device()  # CUDA if there is one, else Apple's MPS, else the CPU
# Every random choice below derives from SEED; NODELIB_SEED=k reruns the notebook with seed k.
SEED = nodelib.seed_everything(default=0)
print(f"nodelib {{nodelib.__version__}}, torch {{torch.__version__}}, device: {{device}}, seed: {{SEED}}")"""  # noqa: E501


def notebook_paths(root: Path = ROOT) -> list[Path]:
    """All notebooks the set-up cell applies to, sorted, skipping checkpoint copies."""
    paths: list[Path] = []
    for folder in NOTEBOOK_DIRS:
        paths.extend(
            path
            for path in (root / folder).rglob("*.ipynb")
            if ".ipynb_checkpoints" not in path.parts
        )
    return sorted(paths)


def has_setup_cell(nb: nbformat.NotebookNode) -> bool:
    """Whether the notebook's first cell is the canonical set-up cell, tags included."""
    if not nb.cells:
        return False
    first = nb.cells[0]
    return (
        first.cell_type == "code"
        and first.source == SETUP_CELL
        and first.get("metadata", {}).get("tags", []) == SETUP_TAGS
    )


def _new_setup_cell() -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source=SETUP_CELL, metadata={"tags": list(SETUP_TAGS)})
    cell.id = SETUP_CELL_ID
    return cell


def write_setup_cell(nb: nbformat.NotebookNode) -> bool:
    """Make the first cell the set-up cell; return whether the notebook changed.

    An existing set-up cell (recognised by its id or tag) is replaced in place; otherwise
    the set-up cell is inserted before the first cell.
    """
    if has_setup_cell(nb):
        return False
    first = nb.cells[0] if nb.cells else None
    is_old_setup = first is not None and (
        first.get("id") == SETUP_CELL_ID
        or "course-setup" in first.get("metadata", {}).get("tags", [])
    )
    if is_old_setup:
        nb.cells[0] = _new_setup_cell()
    else:
        nb.cells.insert(0, _new_setup_cell())
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="report notebooks that differ")
    mode.add_argument("--write", action="store_true", help="rewrite the first cell in place")
    args = parser.parse_args(argv)

    paths = notebook_paths()
    if not paths:
        print("no notebooks found under " + ", ".join(NOTEBOOK_DIRS), file=sys.stderr)
        return 1
    wrong: list[Path] = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        if args.write:
            if write_setup_cell(nb):
                nbformat.write(nb, path)
                print(f"updated {path.relative_to(ROOT)}")
        elif not has_setup_cell(nb):
            wrong.append(path)
    for path in wrong:
        print(f"first cell is not the set-up cell: {path.relative_to(ROOT)}", file=sys.stderr)
    if wrong:
        print("fix with: python scripts/notebook_setup.py --write", file=sys.stderr)
        return 1
    if args.check:
        print(f"{len(paths)} notebooks start with the set-up cell")
    return 0


if __name__ == "__main__":
    sys.exit(main())
