"""Every notebook executed in this session stayed within its chapter's budget, in CPU time.

The issues' budgets are wall-clock times on an idle 2-core machine: chapters 1–2 under 2
minutes, 3–4 under 3, chapter 5 under 5, chapter 6 under 1 (its long experiments run offline:
scripts/run_experiments.py), for the lecture, the solution and the exercise notebook alike.
A test cannot measure an idle machine's wall time on a busy or slower one, so it never fails
on wall-clock time: it compares the CPU time of each notebook's kernel (user + system, which
a busy machine does not stretch) with twice the budget. The factor 2 leaves room for a machine
twice as slow as the one the budgets were set on, or a notebook that uses both cores; what it
catches is a notebook grown several times heavier. The wall times are listed in the test
summary (tests/conftest.py) as a report, not as a test.

pytest runs test modules in name order, so this one comes after tests/test_chapter_NN.py and
tests/test_grading_notebooks.py, which execute the notebooks and record their times in
tests/_notebooks.TIMES and CPU_TIMES.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _notebooks import CPU_TIMES, TIMES

BUDGET_SECONDS = {1: 120, 2: 120, 3: 180, 4: 180, 5: 300, 6: 60}  # wall, idle 2-core machine
CPU_FACTOR = 2.0  # the CPU-time limit: CPU_FACTOR times the budget


def cpu_limit(path: str) -> float:
    """The CPU seconds the notebook at `path` (chapters/ch06_..., solutions/...) may take."""
    return CPU_FACTOR * BUDGET_SECONDS[int(Path(path).name[2:4])]


def test_every_executed_notebook_is_within_its_cpu_budget() -> None:
    if not TIMES:
        pytest.skip("no notebook was executed in this session")
    if not CPU_TIMES:
        pytest.skip("no CPU times of the kernels on this system (Windows): nothing to compare")
    over = [
        f"{path}: {cpu:.0f} s of CPU (limit {cpu_limit(path):.0f} s: {CPU_FACTOR:g} x the "
        f"{BUDGET_SECONDS[int(Path(path).name[2:4])]} s budget; wall time {TIMES[path]:.0f} s)"
        for path, cpu in sorted(CPU_TIMES.items())
        if cpu >= cpu_limit(path)
    ]
    assert not over, "over budget:\n" + "\n".join(over)


def test_the_limit_is_not_a_wall_clock() -> None:
    # A notebook that waited for a busy machine (long wall time, little CPU) passes; one that
    # computed for longer than the limit fails.
    assert cpu_limit("chapters/ch06_neural_odes.ipynb") == 120
    assert cpu_limit("solutions/ch01_one_step_methods.ipynb") == 240
