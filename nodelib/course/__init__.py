"""The machinery of the course's notebooks, apart from the solver core.

Needs the course's extra dependencies: ``pip install "nodelib[course]"`` (matplotlib,
scikit-learn, tqdm, ipywidgets, and nbformat, nbclient and ipykernel for the grader).

- `train`: the `fit` loop of the notebooks (a tqdm progress bar, NFE per epoch, one process or
  several under DistributedDataParallel) and its `History`;
- `plotting`: the figures of every chapter (matplotlib), one module per chapter;
- `book`: numbers glued into the chapter text, claims checked against them, interactive
  figures (`interactive`: live ipywidgets controls in a kernel, precomputed states in the
  book);
- `timing`: the notebooks' clock and the timings of chapter 4; `profiling`: the bytes autograd saves
  and peak memory (chapters 3, 5 and 6);
- `experiments`: experiments too long for a page build (chapter 6), run offline by
  ``scripts/run_experiments.py`` and shipped as small result files that the chapters load;
- `grading`: the autograder of the exercises (``check("C1.1", fn)`` in a notebook,
  ``nodelib-grade NOTEBOOK`` or ``python -m nodelib.course.grading NOTEBOOK`` in a terminal).

Each module loads on first use: ``nodelib.course.plotting`` works after ``import nodelib``.
"""

import importlib
from types import ModuleType

_SUBMODULES = (
    "book",
    "experiments",
    "grading",
    "interactive",
    "plotting",
    "profiling",
    "timing",
    "train",
)


def __getattr__(name: str) -> ModuleType:
    if name in _SUBMODULES:
        return importlib.import_module(f"nodelib.course.{name}")
    raise AttributeError(f"module 'nodelib.course' has no attribute {name!r}")


__all__ = list(_SUBMODULES)
