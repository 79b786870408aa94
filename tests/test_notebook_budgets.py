"""Every notebook executed in this session ran within its chapter's budget on 2 CPU cores.

The issues' limits: chapters 1–2 under 2 minutes, 3–4 under 3, 5–6 under 5, for the lecture,
the solution and the exercise notebook alike. pytest runs test modules in name order, so this
one comes after tests/test_chapter_NN.py and tests/test_grading_notebooks.py, which execute the
notebooks and record their times in tests/_notebooks.TIMES (a machine shared with other work is
slower: the limits are upper bounds).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _notebooks import TIMES

BUDGET_SECONDS = {1: 120, 2: 120, 3: 180, 4: 180, 5: 300, 6: 300}


def test_every_executed_notebook_is_within_its_budget() -> None:
    if not TIMES:
        pytest.skip("no notebook was executed in this session")
    over = []
    for path, seconds in sorted(TIMES.items()):
        budget = BUDGET_SECONDS[int(Path(path).name[2:4])]
        if seconds >= budget:
            over.append(f"{path}: {seconds:.0f} s (budget {budget} s)")
    assert not over, "over budget:\n" + "\n".join(over)
