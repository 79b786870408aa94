"""Helpers shared by the grader's tests: the solution notebook's functions, without a kernel."""

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
    check, uses-solution) are skipped, so this is fast and needs no kernel.
    """
    namespace: dict[str, Any] = {"__name__": "solution_notebook"}
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.cell_type == "code" and (not tags or any(t.startswith("question:") for t in tags)):
            exec(compile(cell.source, f"<solution cell {index + 1}>", "exec"), namespace)
    return namespace
