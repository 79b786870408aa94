"""Results of offline experiments: running them, writing them to JSON, loading them back.

One file per experiment, ``results/<name>.json`` beside this module (shipped as package
data, so Colab reads them without the repository): the fingerprint of the code and settings
that made it, the settings, each seed's result and wall time, the machine and the package
versions. A result may carry trained weights under the key ``"checkpoints"``
(``{label: state_dict}``); they are written to ``results/<name>/seed<k>_<label>.pt`` and
their SHA-256 recorded in the JSON file.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from nodelib.course.experiments import _registry
from nodelib.course.experiments._provenance import machine_info, package_versions

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DIR_VARIABLE = "NODELIB_RESULTS_DIR"  # read results from (and write them to) another folder
STRICT_VARIABLE = "NODELIB_CLAIMS"  # the same switch as the chapters' claims

STALE_NOTE = (
    "**These shipped results are stale.** The code or settings of experiment `{name}` changed "
    "since its results were computed (fingerprint {stored}, today's code {today}), so the "
    "numbers below may not be what today's code gives. Regenerate them with "
    "`python scripts/run_experiments.py {chapter} {name}`, or recompute them in this notebook."
)


class StaleResultsError(RuntimeError):
    """Shipped results no longer match the code and settings that should produce them.

    Raised by `load` in strict mode (``NODELIB_CLAIMS=strict``: the book build and the
    tests). Regenerate the results with ``python scripts/run_experiments.py``.
    """


@dataclass
class Results:
    """One experiment's results over seeds, as run or as loaded from its file.

    Attributes:
        name, fingerprint, settings: the experiment, the fingerprint of the code and
            settings that made the results, and the settings.
        per_seed: each seed's result (the dict its ``run`` returned, without checkpoints).
        seconds: each seed's wall time.
        machine: where each seed was computed (CPU or GPU model, threads), by seed.
        versions: the package versions of the run that wrote the file.
        created: when (ISO 8601, UTC).
        stale: the fingerprint differs from today's code (set by `load`).
        checkpoints: trained weights by seed and label (those of a run in memory).
        checkpoint_hashes: SHA-256 of each checkpoint file, by "seed<k>_<label>".
    """

    name: str
    fingerprint: str
    settings: dict[str, Any]
    per_seed: dict[int, dict[str, Any]]
    seconds: dict[int, float]
    machine: dict[int, dict[str, Any]]
    versions: dict[str, Any]
    created: str
    stale: bool = False
    checkpoints: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False)
    checkpoint_hashes: dict[str, str] = field(default_factory=dict)
    directory: Path = field(default_factory=lambda: results_dir(), repr=False)

    @property
    def seeds(self) -> list[int]:
        """The seeds, in increasing order."""
        return sorted(self.per_seed)

    def values(self, *keys: str | int) -> list[Any]:
        """``per_seed[s][k1][k2]...`` for every seed s, in the order of `seeds`."""
        out = []
        for seed in self.seeds:
            value: Any = self.per_seed[seed]
            for key in keys:
                value = value[key]
            out.append(value)
        return out

    def checkpoint(self, seed: int, label: str) -> dict[str, Any]:
        """The state_dict `label` trained with `seed` (from memory, else from its file).

        Raises:
            FileNotFoundError: no such checkpoint was shipped.
            ValueError: the file's hash differs from the one recorded with the results.
        """
        if label in self.checkpoints.get(seed, {}):
            return self.checkpoints[seed][label]
        key = f"seed{seed}_{label}"
        path = self.directory / self.name / f"{key}.pt"
        if key not in self.checkpoint_hashes or not path.is_file():
            raise FileNotFoundError(f"experiment {self.name} shipped no checkpoint {key}.")
        raw = path.read_bytes()
        if hashlib.sha256(raw).hexdigest() != self.checkpoint_hashes[key]:
            raise ValueError(f"{path} is not the checkpoint of these results: regenerate them.")
        return torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)

    def to_json(self) -> dict[str, Any]:
        """The JSON form of the file (seeds become strings, checkpoints stay out)."""
        return {
            "name": self.name,
            "fingerprint": self.fingerprint,
            "settings": self.settings,
            "seeds": self.seeds,
            "per_seed": {str(s): self.per_seed[s] for s in self.seeds},
            "seconds": {str(s): self.seconds[s] for s in self.seeds},
            "machine": {str(s): self.machine[s] for s in self.seeds},
            "versions": self.versions,
            "created": self.created,
            "checkpoint_hashes": self.checkpoint_hashes,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Results:
        """The inverse of `to_json`."""
        return cls(
            name=data["name"],
            fingerprint=data["fingerprint"],
            settings=data["settings"],
            per_seed={int(s): r for s, r in data["per_seed"].items()},
            seconds={int(s): float(v) for s, v in data["seconds"].items()},
            machine={int(s): m for s, m in data["machine"].items()},
            versions=data["versions"],
            created=data["created"],
            checkpoint_hashes=data.get("checkpoint_hashes", {}),
        )


def results_dir() -> Path:
    """The folder of the results: ``NODELIB_RESULTS_DIR`` if set, else the shipped ones."""
    return Path(os.environ.get(DIR_VARIABLE) or RESULTS_DIR)


def run_seed(
    name: str,
    seed: int,
    settings: dict[str, Any] | None,
    device: str,
    threads: int | None,
    progress: bool,
) -> tuple[dict[str, Any], float, dict[str, Any]]:
    """One seed of one experiment (in this process): (result, seconds, machine)."""
    if threads is not None:
        torch.set_num_threads(threads)
    module = _registry.get(name)
    chosen = dict(module.SETTINGS if settings is None else settings)
    dev = torch.device(device)
    start, cpu = time.perf_counter(), time.process_time()
    result = module.run(seed, chosen, device=dev, progress=progress)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    json.dumps({k: v for k, v in result.items() if k != "checkpoints"})  # fails early if not JSON
    # The CPU time is what the seed costs on an idle machine (one thread); the wall time
    # also counts the waiting on a busy one.
    return result, seconds, {**machine_info(dev), "cpu_seconds": round(cpu, 1)}


def assemble(name: str, settings: dict[str, Any] | None,
             runs: dict[int, tuple[dict[str, Any], float, dict]]) -> Results:  # fmt: skip
    """The `Results` of `run_seed`'s outputs, by seed."""
    module = _registry.get(name)
    chosen = dict(module.SETTINGS if settings is None else settings)
    per_seed, checkpoints = {}, {}
    for seed, (result, _, _) in runs.items():
        result = dict(result)
        checkpoints[seed] = result.pop("checkpoints", {})
        per_seed[seed] = result
    return Results(
        name=name, fingerprint=_registry.fingerprint(name, chosen), settings=chosen,
        per_seed=per_seed, seconds={s: r[1] for s, r in runs.items()},
        machine={s: r[2] for s, r in runs.items()},
        versions=package_versions(),
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        checkpoints=checkpoints,
    )  # fmt: skip


def save(results: Results, directory: Path | None = None) -> Path:
    """Write `results` (and its checkpoints) to ``<directory>/<name>.json``; return the path.

    The default directory is `results_dir()` (the shipped results unless
    ``NODELIB_RESULTS_DIR`` names another folder).
    """
    directory = results_dir() if directory is None else Path(directory)
    folder = directory / results.name
    results.checkpoint_hashes = {}
    for seed, states in sorted(results.checkpoints.items()):
        for label, state in states.items():
            buffer = io.BytesIO()
            torch.save({k: v.detach().cpu() for k, v in state.items()}, buffer)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"seed{seed}_{label}.pt").write_bytes(buffer.getvalue())
            key = f"seed{seed}_{label}"
            results.checkpoint_hashes[key] = hashlib.sha256(buffer.getvalue()).hexdigest()
    path = directory / f"{results.name}.json"
    directory.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results.to_json(), indent=1) + "\n", encoding="utf-8")
    return path


def _strict(strict: bool | None) -> bool:
    if strict is not None:
        return strict
    return os.environ.get(STRICT_VARIABLE, "").strip().lower() == "strict"


def _note(message: str) -> None:
    """Show a note in a notebook's kernel (as `claim` does), else issue a warning."""
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:
        get_ipython = None
    shell = get_ipython() if get_ipython is not None else None
    if getattr(shell, "kernel", None) is not None:  # a notebook's kernel, not any IPython shell
        display(Markdown(message))
    else:
        warnings.warn(message, stacklevel=3)


def load(
    name: str,
    *,
    strict: bool | None = None,
    directory: Path | None = None,
    any_settings: bool = False,
) -> Results:
    """The shipped results of experiment `name`, checked against today's code.

    Args:
        name: the experiment (e.g. "ch06_classifiers").
        strict: raise on stale results; default: when ``NODELIB_CLAIMS=strict`` (the book
            build and the tests), else a note is shown and the stale results are returned.
        directory: where to read from (default: `results_dir()`).
        any_settings: check the code only, accepting results computed with other settings
            than ``SETTINGS`` (an experiment reading another's trained models uses this).

    Returns:
        The `Results`, with ``stale`` set when the fingerprint differs from today's.

    Raises:
        FileNotFoundError: the experiment has no results file.
        StaleResultsError: the results are stale and the mode is strict.
    """
    module = _registry.get(name)
    path = (results_dir() if directory is None else Path(directory)) / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"no results of experiment {name} at {path}: run "
            f"`python scripts/run_experiments.py {name.split('_')[0]} {name}`."
        )
    results = Results.from_json(json.loads(path.read_text(encoding="utf-8")))
    results.directory = path.parent
    today = _registry.fingerprint(name, results.settings if any_settings else module.SETTINGS)
    results.stale = results.fingerprint != today
    if results.stale:
        message = STALE_NOTE.format(name=name, chapter=name.split("_")[0],
                                    stored=results.fingerprint, today=today)  # fmt: skip
        if _strict(strict):
            raise StaleResultsError(message.replace("**", ""))
        _note(message)
    return results
