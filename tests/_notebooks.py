"""Execute a course notebook once per test session, and share that run with the book build.

`execute_notebook(path)` runs the notebook in a fresh kernel exactly as the book build does
(jupyter-cache's executor, the notebook's folder as working directory, cells tagged
``raises-exception`` may raise) and stores the executed notebook in the book's execution
cache, ``_build/.jupyter_cache``. The README's build command then finds it there and does
not execute the notebook again: in CI every notebook is executed once, by the tests.

The tests always execute the current notebook with the current nodelib (they never read an
old result from the cache), so a change to nodelib that breaks a chapter fails the tests.

Each execution records its wall time (`TIMES`) and the CPU time of the kernel process
(`CPU_TIMES`, from `children_cpu_seconds`): a busy machine stretches the first, not the second,
so tests/test_notebook_budgets.py checks the budgets on the CPU time.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

try:
    import resource
except ImportError:  # Windows: no CPU times of child processes
    resource = None

import nbformat
from _scripts import ROOT

from nodelib.course.book import claims, glued_values

__all__ = [
    "CACHE",
    "CPU_TIMES",
    "TIMES",
    "assert_claims",
    "children_cpu_seconds",
    "execute_notebook",
    "glued_floats",
    "store_in_book_cache",
]

CACHE = ROOT / "_build" / ".jupyter_cache"
TIMEOUT = 300  # seconds per cell, as in _config.yml
TIMES: dict[str, float] = {}  # seconds each notebook took, by path relative to the repo
CPU_TIMES: dict[str, float] = {}  # CPU seconds of its kernel (user + system), by the same path
_EXECUTED: dict[Path, nbformat.NotebookNode] = {}


def children_cpu_seconds() -> float | None:
    """User + system CPU seconds of this process's finished child processes (None on Windows).

    A kernel is such a child once it has shut down, so the difference of two readings around
    an execution is the kernel's CPU time: on a busy machine it stays what it is on an idle
    one, while the wall time grows.
    """
    if resource is None:
        return None
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def store_in_book_cache(path: Path, executed: nbformat.NotebookNode, seconds: float) -> None:
    """Put an executed copy of the notebook at `path` into the book's execution cache.

    `executed` must have the same cells as the file. Only its outputs are taken: the cache
    matches a notebook by its code cells *and their metadata*, which an executor may change
    (nbclient records timings there), so they are copied into the file's own cells.
    """
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    merged = nbformat.read(path, as_version=4)
    assert len(merged.cells) == len(executed.cells), f"{path.name}: the cells differ"
    for cell, run in zip(merged.cells, executed.cells, strict=True):
        assert cell.cell_type == run.cell_type and cell.source == run.source, path.name
        if cell.cell_type == "code":
            cell.outputs = copy.deepcopy(run.outputs)
            cell.execution_count = run.get("execution_count")
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    cache = get_cache(str(CACHE))
    bundle = CacheBundleIn(merged, str(path), data={"execution_seconds": seconds})
    cache.cache_notebook_bundle(bundle, check_validity=False, overwrite=True)


def execute_notebook(path: str | Path) -> nbformat.NotebookNode:
    """The notebook at `path` (relative to the repository root), executed; once per session.

    Raises:
        AssertionError: a cell not tagged ``raises-exception`` raised (the message holds the
            traceback), so the calling test fails with it.
    """
    from jupyter_cache.executors.utils import single_nb_execution

    path = (ROOT / path).resolve()
    if path not in _EXECUTED:
        nb = nbformat.read(path, as_version=4)
        start, cpu_start = time.perf_counter(), children_cpu_seconds()
        result = single_nb_execution(
            nb, cwd=str(path.parent), allow_errors=False, timeout=TIMEOUT, meta_override=True
        )
        seconds, cpu_end = time.perf_counter() - start, children_cpu_seconds()
        TIMES[str(path.relative_to(ROOT))] = seconds
        if cpu_start is not None and cpu_end is not None:
            CPU_TIMES[str(path.relative_to(ROOT))] = cpu_end - cpu_start
        assert result.err is None, f"{path.name} failed:\n{result.exc_string}"
        store_in_book_cache(path, nb, seconds)
        _EXECUTED[path] = nb
    return _EXECUTED[path]


def glued_floats(nb: nbformat.NotebookNode) -> dict[str, float]:
    """Every glued value of an executed notebook that is a number, as a float."""
    out: dict[str, float] = {}
    for name, text in glued_values(nb).items():
        try:
            out[name] = float(text.strip().strip("'\""))
        except ValueError:
            continue
    return out


def assert_claims(nb: nbformat.NotebookNode, count: int) -> None:
    """The executed notebook checked exactly `count` distinct claims, and every one held.

    The tests run notebooks with ``NODELIB_CLAIMS=strict``, so a false claim has already
    failed the execution; the count catches claims lost by an edit (change it on purpose).
    """
    found = claims(nb)
    statements = [c["statement"] for c in found]
    assert len(statements) == count, statements
    assert len(set(statements)) == count, "two claims share a sentence"
    assert all(c["holds"] for c in found), [c for c in found if not c["holds"]]
