"""The offline experiments (nodelib.course.experiments) and their shipped results.

- Every experiment follows the contract, and its shipped results were computed by today's
  code and settings: a changed experiment (or a changed module it DEPENDS on) without
  regenerated results fails here, as it fails the book build.
- The fingerprint sees code and settings, not comments or docstrings; stale results raise in
  strict mode and show a note otherwise; results and checkpoints survive a round trip.
- The runner script writes and merges result files.
- The cheapest experiment, rerun on one seed at its shipped settings, gives its shipped
  numbers (this also catches a result that depends on code outside its DEPENDS).
"""

from __future__ import annotations

import fnmatch
import inspect
import json
import shutil
import warnings
from pathlib import Path

import pytest
import torch
from _scripts import ROOT, load_script

from nodelib.course import experiments
from nodelib.course.experiments import Results, StaleResultsError, fingerprint, normalised_source

NAMES = experiments.names()


def test_the_chapter_six_experiments_exist() -> None:
    assert {"ch06_classifiers", "ch06_odenet_solvers"} <= set(experiments.names("ch06"))
    assert experiments.names("6") == experiments.names("ch06")
    with pytest.raises(ValueError, match="no experiment"):
        experiments.get("ch06_nothing")


@pytest.mark.parametrize("name", NAMES)
def test_every_experiment_follows_the_contract(name: str) -> None:
    module = experiments.get(name)
    assert name == module.NAME and isinstance(module.DESCRIPTION, str) and module.DESCRIPTION
    assert json.loads(json.dumps(module.SETTINGS)) == module.SETTINGS  # JSON as it is
    assert isinstance(module.DEPENDS, tuple) and all(
        m.startswith("nodelib.") for m in module.DEPENDS
    )
    assert fingerprint(name)  # every DEPENDS entry exists
    params = inspect.signature(module.run).parameters
    assert list(params)[:2] == ["seed", "settings"]
    assert params["device"].kind is inspect.Parameter.KEYWORD_ONLY
    assert params["progress"].kind is inspect.Parameter.KEYWORD_ONLY
    for upstream in getattr(module, "USES", ()):
        assert upstream in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_shipped_results_come_from_todays_code(name: str) -> None:
    results = experiments.load(name, strict=False)
    assert not results.stale, (
        f"{name}: the code or settings changed since its results were computed; regenerate "
        f"them with `python scripts/run_experiments.py {name.split('_')[0]} {name}`"
    )
    assert len(results.seeds) >= 3, results.seeds
    assert results.settings == experiments.get(name).SETTINGS
    for key in results.checkpoint_hashes:  # every checkpoint is there and is the right one
        seed, label = key.split("_", 1)
        assert results.checkpoint(int(seed.removeprefix("seed")), label)


def test_results_are_package_data() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["nodelib.course.experiments"]
    package = ROOT / "nodelib" / "course" / "experiments"
    shipped = [p.relative_to(package).as_posix() for p in (package / "results").rglob("*.*")]
    assert shipped
    for path in shipped:
        assert any(fnmatch.fnmatch(path, pattern) for pattern in patterns), path


def test_fingerprint_ignores_comments_and_docstrings_but_not_code() -> None:
    source = '"""Module doc."""\n\nx = 1  # one\n\n\ndef f():\n    """Doc."""\n    return x\n'
    edited = '"""Other doc,\n on two lines."""\nx = 1  # uno\r\ndef f():\n    return x   \n'
    assert (
        normalised_source(source) == normalised_source(edited) == ("x = 1\ndef f():\n    return x")
    )
    assert normalised_source(source) != normalised_source(source.replace("x = 1", "x = 2"))
    # A string that is not a docstring, and a "#" inside a string, are code.
    assert normalised_source('y = "a # b"\n"not a doc" + y\n') == 'y = "a # b"\n"not a doc" + y'


def test_fingerprint_follows_settings_and_upstream(monkeypatch: pytest.MonkeyPatch) -> None:
    name = "ch06_classifiers"
    base = fingerprint(name)
    assert fingerprint(name, dict(experiments.get(name).SETTINGS)) == base
    assert fingerprint(name, {**experiments.get(name).SETTINGS, "epochs": 1}) != base
    downstream = fingerprint("ch06_odenet_solvers")
    # Retraining the upstream models makes the experiment that reads them stale.
    monkeypatch.setitem(experiments.get(name).SETTINGS, "epochs", 1)
    assert fingerprint(name) != base
    assert fingerprint("ch06_odenet_solvers") != downstream


@pytest.fixture
def copied_results(tmp_path: Path) -> Path:
    """The shipped results of ch06_classifiers, copied to a folder of their own."""
    source = experiments.RESULTS_DIR
    shutil.copy(source / "ch06_classifiers.json", tmp_path)
    shutil.copytree(source / "ch06_classifiers", tmp_path / "ch06_classifiers")
    return tmp_path


def test_stale_results_raise_when_strict_and_warn_otherwise(copied_results: Path) -> None:
    path = copied_results / "ch06_classifiers.json"
    data = json.loads(path.read_text())
    data["fingerprint"] = "0" * 16
    path.write_text(json.dumps(data))
    with pytest.raises(StaleResultsError, match=r"run_experiments\.py ch06 ch06_classifiers"):
        experiments.load("ch06_classifiers", strict=True, directory=copied_results)
    with pytest.warns(UserWarning, match="stale"):
        results = experiments.load("ch06_classifiers", strict=False, directory=copied_results)
    assert results.stale
    with pytest.raises(FileNotFoundError, match=r"run_experiments\.py"):
        experiments.load("ch06_odenet_solvers", directory=copied_results / "ch06_classifiers")


def test_results_and_checkpoints_round_trip(copied_results: Path, tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # fresh results: no note
        results = experiments.load("ch06_classifiers", strict=True, directory=copied_results)
    seed = results.seeds[0]
    state = results.checkpoint(seed, "odenet")
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    again = Results.from_json(json.loads(json.dumps(results.to_json())))
    assert again.per_seed == results.per_seed and again.seeds == results.seeds
    # Saved elsewhere with its checkpoint, it loads back the same.
    results.checkpoints = {seed: {"odenet": state}}
    out = tmp_path / "out"
    experiments.save(results, out)
    back = experiments.load("ch06_classifiers", strict=True, directory=out)
    assert torch.equal(back.checkpoint(seed, "odenet")["stem.0.weight"], state["stem.0.weight"])
    # A checkpoint file that is not the one the results recorded is refused.
    (out / "ch06_classifiers" / f"seed{seed}_odenet.pt").write_bytes(b"not it")
    with pytest.raises(ValueError, match="not the checkpoint"):
        back.checkpoint(seed, "odenet")


def test_runner_writes_and_merges_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The runner points NODELIB_RESULTS_DIR at --out for its workers: undone after this test.
    monkeypatch.setenv("NODELIB_RESULTS_DIR", str(tmp_path))
    runner = load_script("run_experiments")
    small = [
        "--set",
        "epochs=1",
        "--set",
        "width=4",
        "--set",
        "mlp_hidden=8",
        "--out",
        str(tmp_path),
    ]
    assert runner.main(["ch06", "ch06_classifiers", "--seeds", "3", *small]) == 0
    assert runner.main(["ch06", "ch06_classifiers", "--seeds", "4", *small]) == 0
    results = experiments.load("ch06_classifiers", directory=tmp_path, any_settings=True)
    assert results.seeds == [3, 4] and results.settings["epochs"] == 1
    assert results.fingerprint == fingerprint("ch06_classifiers", results.settings)
    assert set(results.per_seed[3]["test_error"]) == {"ResNet", "RK-Net", "ODE-Net", "MLP"}
    assert results.machine[3]["torch_threads"] == 1 and results.versions["torch"]
    assert results.checkpoint(4, "odenet")["stem.0.weight"].shape[0] == 4
    with pytest.raises(SystemExit):  # other settings than the shipped ones need --out
        runner.main(["ch06", "ch06_classifiers", "--set", "epochs=1"])


def test_a_shipped_model_trains_again_to_its_shipped_numbers() -> None:
    """The shipped results are a function of today's code: one of their models, trained again.

    Rerunning a whole experiment takes 20 minutes or more per seed; the planar flow with two
    layers that ch06_flows fits to its first target takes seconds, with the seeds `run` gives
    it, on one thread as the runner uses.
    """
    from nodelib.course.experiments import ch06_flows

    shipped = experiments.load("ch06_flows", strict=True)
    seed, settings = shipped.seeds[0], shipped.settings
    task, target, width = "density_matching", settings["density_matching"]["targets"][0], 2
    i, j, k = 0, 0, settings["widths"].index(width)
    assert ch06_flows._TASKS[i] == task
    m = ch06_flows._KINDS.index("nf")
    seeds = tuple(ch06_flows._seed(seed, i, j, k, part) for part in (2 * m, 2 * m + 1, 9))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        got = ch06_flows._one(
            task, target, "nf", width, settings, seeds, torch.device("cpu"), False
        )
    finally:
        torch.set_num_threads(threads)
    want = shipped.per_seed[seed][task][target][str(width)]["nf"]
    assert got["state"] == want["state"]
    assert got["loss"] == pytest.approx(want["loss"], rel=1e-9)
    assert got["train_curve"] == pytest.approx(want["train_curve"], rel=1e-9)
