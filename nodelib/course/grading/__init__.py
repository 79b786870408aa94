"""The course's autograder: check your answers to the coding exercises.

In a notebook::

    from nodelib.course.grading import check
    check("C1.1", euler_step)     # prints each test, pass or fail, with feedback

An exercise that is not implemented yet (its stub raises NotImplementedError) gets one
message: it is not implemented yet, and its hints are in the Markdown cell above its cell.
No message of the grader contains a line of a solution (tests/test_hints.py checks it).

From a terminal (executes a copy of the notebook in a fresh kernel, never changes it)::

    python -m nodelib.course.grading exercises/ch01_one_step_methods.ipynb [--json report.json]
    nodelib-grade exercises/ch01_one_step_methods.ipynb            # the same, as a script

How it is organised:

- `core`: questions, tests, results, the chapter registry, `grade` and `grade_namespace`;
- `ids`: question ids, "C1.3" (C for a coding exercise; the old "1.3" is read the same way);
- `runner`: runs each test under a time limit (a forked worker on Linux CPU, a SIGALRM
  timer on CUDA and macOS, a thread elsewhere) and shows the reader's traceback, not ours;
- `expect`: checks that explain what is wrong ("did you multiply by h?");
- `answers`: reading an experiment's dict of measurements and answers (numbers, letters) as
  plain values; each chapter's experiment (C1.8, C2.9, ...) is re-run by the grader and its
  answers judged on that run (`_chNN_experiment`);
- `report`: the printed reports and the score table;
- `notebook` and `__main__`: the command line (execute a copy, grade, report; only its own
  grading cell, with the grader imported afresh, counts);
- one module per chapter with its questions: `ch01`.

Tests of the grader (tests/test_grading*.py) execute each solution notebook once, check
full marks *and* its stored outputs in that same run (nbval's comparison, with the sanitising
rules of solutions/nbval_sanitize.cfg), and execute each exercise notebook once, checking
zero marks and that only cells marked ``raises-exception`` raise. So pytest executes each
notebook once and the book build once more; ``pytest --nbval solutions/`` and
``pytest --nbval-lax exercises/`` also pass, for those who want nbval's own report.
"""

from __future__ import annotations

from nodelib.course.grading.api import ChecksFailed, check
from nodelib.course.grading.core import (
    CheckFailed,
    Question,
    QuestionResult,
    chapter_questions,
    get_question,
    grade,
    grade_namespace,
)

__all__ = [
    "CheckFailed",
    "ChecksFailed",
    "Question",
    "QuestionResult",
    "chapter_questions",
    "check",
    "get_question",
    "grade",
    "grade_namespace",
]
