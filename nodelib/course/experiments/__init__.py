"""Experiments too long for the book build: run offline, shipped as small result files.

Each experiment is a module of this package named after its chapter, e.g.
`nodelib.course.experiments.ch06_classifiers`, with ``NAME``, ``DESCRIPTION``, ``SETTINGS``,
``DEPENDS`` and ``run(seed, settings, *, device, progress) -> dict`` (see `_registry`). One
command regenerates their results::

    python scripts/run_experiments.py ch06 [name ...] [--seeds 0 1 2 3 4] [--device cuda]

and writes ``results/<name>.json`` here, with a fingerprint of the code and settings that
made them. A chapter loads them with `load` (stale results raise `StaleResultsError` in the
book build and the tests, and show a note in a reader's run), or recomputes them with
`load_or_run(name, recompute=True)`.

- `names(chapter)`, `get(name)`, `fingerprint(name)`: the registry;
- `load(name)`, `run(name, seeds=...)`, `load_or_run(name, recompute=...)`, `save(results)`:
  results as a `Results` (per-seed dicts, wall times, machine, versions, checkpoints).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from nodelib.course.experiments._registry import fingerprint, get, names, normalised_source
from nodelib.course.experiments._results import (
    RESULTS_DIR,
    Results,
    StaleResultsError,
    assemble,
    load,
    run_seed,
    save,
)

__all__ = [
    "RESULTS_DIR",
    "Results",
    "StaleResultsError",
    "fingerprint",
    "get",
    "load",
    "load_or_run",
    "names",
    "normalised_source",
    "run",
    "save",
]


def run(
    name: str,
    *,
    seeds: Sequence[int],
    settings: dict | None = None,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> Results:
    """Run experiment `name` here, seed after seed, and return its `Results` (not saved).

    Args:
        name: the experiment.
        seeds: the seeds to run.
        settings: default the experiment's ``SETTINGS`` (other settings give another
            fingerprint: such results are stale against the shipped ones).
        device: where to run.
        progress: show the experiment's progress bars.

    Raises:
        ValueError: unknown experiment, or no seeds.
    """
    if not seeds:
        raise ValueError("give at least one seed.")
    runs = {int(s): run_seed(name, int(s), settings, str(device), None, progress) for s in seeds}
    return assemble(name, settings, runs)


def load_or_run(
    name: str,
    *,
    recompute: bool = False,
    seeds: Sequence[int] | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> Results:
    """The shipped results of `name` (`load`), or, with `recompute`, a fresh `run`.

    Args:
        name: the experiment.
        recompute: run it now instead of loading (a chapter's ``RECOMPUTE`` switch).
        seeds: the seeds of a recomputation; default those of the shipped results.
        device, progress: as for `run`.
    """
    if not recompute:
        return load(name)
    if seeds is None:
        seeds = load(name, strict=False).seeds
    return run(name, seeds=seeds, device=device, progress=progress)
