"""Tests of chapter 6's paper experiments (nodelib.course.experiments.ch06_flows, ch06_latent).

Checked: the experiment contract (NAME, DESCRIPTION, JSON-serialisable SETTINGS, importable
DEPENDS, the `run` signature); every number a deterministic function of the seed (two runs
of a tiny configuration agree exactly, another seed differs); the stored parameters rebuild
models that reproduce the stored loss; the summaries' statistics; the figures draw.
"""

from __future__ import annotations

import copy
import inspect
import json
import math

import matplotlib
import pytest
import torch

from nodelib.course.experiments import ch06_flows, ch06_latent, fingerprint
from nodelib.course.plotting import paper_results

matplotlib.use("Agg")
pytestmark = pytest.mark.usefixtures("one_thread")

_CPU = torch.device("cpu")


def _tiny_flows() -> dict:
    s = copy.deepcopy(ch06_flows.SETTINGS)
    s["widths"] = [2, 3]
    for task, target in (("density_matching", "ring_two_modes"), ("max_likelihood", "two_circles")):
        s[task] |= {
            "targets": [target],
            "cnf_steps": 6,
            "nf_steps": 8,
            "batch_size": 32,
            "eval_samples": 300,
        }
    return s


def _tiny_latent() -> dict:
    s = copy.deepcopy(ch06_latent.SETTINGS)
    return s | {
        "n_observed": [20, 100],
        "n_train": 12,
        "n_test": 8,
        "iterations": 6,
        "eval_every": 3,
        "refit_z0": {"steps": 5, "lr": 0.05},
    }


def _without_cpu_time(result: dict) -> dict:
    """A copy of a flows result without the CPU times (the only numbers a rerun may change)."""
    out = copy.deepcopy(result)
    for task in ("density_matching", "max_likelihood"):
        for per_width in out[task].values():
            for entry in per_width.values():
                for e in entry.values():
                    e.pop("cpu_s")
    return out


@pytest.fixture(scope="module")
def flow_runs() -> tuple[dict, dict, dict]:
    s = _tiny_flows()
    return s, ch06_flows.run(0, s, device=_CPU), ch06_flows.run(1, s, device=_CPU)


@pytest.fixture(scope="module")
def latent_runs() -> tuple[dict, dict, dict]:
    s = _tiny_latent()
    return s, ch06_latent.run(0, s, device=_CPU), ch06_latent.run(1, s, device=_CPU)


@pytest.mark.parametrize("module", [ch06_flows, ch06_latent])
def test_contract(module) -> None:
    assert module.__name__.rsplit(".", 1)[1] == module.NAME
    assert isinstance(module.DESCRIPTION, str) and "\n" not in module.DESCRIPTION
    assert json.loads(json.dumps(module.SETTINGS)) == module.SETTINGS
    assert fingerprint(module.NAME)  # every DEPENDS entry (module or module:object) exists
    params = inspect.signature(module.run).parameters
    assert list(params)[:2] == ["seed", "settings"]
    assert params["device"].kind is inspect.Parameter.KEYWORD_ONLY


def test_flows_deterministic_and_models_rebuild(flow_runs) -> None:
    s, first, other = flow_runs
    again = ch06_flows.run(0, s, device=_CPU)
    assert _without_cpu_time(first) == _without_cpu_time(again)
    assert first["density_matching"] != other["density_matching"]
    entry = first["density_matching"]["ring_two_modes"]["3"]
    assert entry["cnf"]["params"] == 7 * 3 and entry["nf"]["params"] == 5 * 3
    # The stored parameters give back the measured KL on the same evaluation samples.
    for kind in ("cnf", "nf"):
        model = ch06_flows.load_model(kind, 3, entry[kind]["state"], s, "density_matching")
        model = ch06_flows.evaluation_cnf(model, s) if kind == "cnf" else model
        seed = ch06_flows._seed(0, 0, 0, 1, 9)
        measured = ch06_flows._measure("density_matching", "ring_two_modes", model, 300, seed)
        assert measured["loss"] == pytest.approx(entry[kind]["loss"], rel=1e-5)
    ml = first["max_likelihood"]["two_circles"]["2"]["nf"]
    assert ml["kl"] >= -4 * ml["kl_se"] and math.isfinite(ml["loss"])


def test_flows_summary(flow_runs) -> None:
    _, first, other = flow_runs
    rows = ch06_flows.summary([first, other])
    assert len(rows) == 2 * 2 * 2  # tasks x widths x models (one target each)
    row = next(
        r
        for r in rows
        if r["model"] == "cnf" and r["width"] == 2 and r["task"] == "density_matching"
    )
    losses = [r["density_matching"]["ring_two_modes"]["2"]["cnf"]["loss"] for r in (first, other)]
    assert row["mean"] == pytest.approx(sum(losses) / 2)
    assert row["std"] == pytest.approx(abs(losses[0] - losses[1]) / math.sqrt(2))
    assert row["min"] == min(losses) and row["seeds"] == 2 and 0 <= row["cnf_below_nf"] <= 2


def test_latent_deterministic_errors_and_summary(latent_runs) -> None:
    s, first, other = latent_runs
    again = ch06_latent.run(0, s, device=_CPU)
    for n in ("20", "100"):
        for kind in ("latent_ode", "rnn"):
            assert first[n][kind]["errors"] == again[n][kind]["errors"]
            assert first[n][kind]["curve"] == again[n][kind]["curve"]
    assert first["20"]["rnn"]["errors"] != other["20"]["rnn"]["errors"]
    assert "interpolation" in first["20"]["latent_ode"]["errors"]
    assert "interpolation" not in first["100"]["latent_ode"]["errors"]  # nothing unobserved
    rows = ch06_latent.summary([first, other])
    row = next(
        r
        for r in rows
        if r["model"] == "latent_ode" and r["n_observed"] == 20 and r["error"] == "extrapolation"
    )
    assert row["paper"] == 0.1642 or row["paper"] is None
    assert row["seeds"] == 2 and row["min"] <= row["mean"] <= row["max"]


def test_errors_against_hand_computed_rmse() -> None:
    data = ch06_latent.make_spiral_windows(
        4, n_window=10, n_extrapolate=5, n_observed=4, n_total=30, seed=0
    )
    pred = data.y_true + 0.5  # every coordinate off by 0.5: every RMSE is 0.5
    errs = ch06_latent.errors(pred, data)
    assert all(v == pytest.approx(0.5) for v in errs.values())
    pred = data.y_true.clone()
    pred[:, 10:] += 2.0  # only the points after the window
    errs = ch06_latent.errors(pred, data)
    assert errs["extrapolation"] == pytest.approx(2.0) and errs["interpolation"] == 0.0
    assert ch06_latent.rmse_by_time(pred, data)[:10] == [0.0] * 10


def test_figures_draw(flow_runs, latent_runs) -> None:
    s, first, other = flow_runs
    for task in ("density_matching", "max_likelihood"):
        fig = paper_results.plot_flow_grid(first, s, task, n=12, n_samples=50)
        assert len(fig.axes) == 2 * (1 + 2 * 2)
        assert len(paper_results.plot_flow_losses([first, other], task).axes) == 1
    _, lat, lat_other = latent_runs
    runs = {0: lat, 1: lat_other}
    assert len(paper_results.plot_latent_paths(lat, 20).axes) == 2
    assert len(paper_results.plot_latent_rmse(runs, paper=ch06_latent.PAPER_TABLE2).axes) == 2
    assert len(paper_results.plot_latent_training(runs, 20).axes) == 2
    assert len(paper_results.plot_latent_horizon(runs, 20).axes) == 1
    with pytest.raises(ValueError, match="no results"):
        paper_results.plot_latent_rmse([], paper={})


def test_refit_initial_state_lowers_the_map_objective() -> None:
    s = _tiny_latent()
    train = ch06_latent.make_spiral_windows(40, n_extrapolate=0, n_observed=30, seed=0)
    torch.manual_seed(0)
    model = ch06_latent.make_model("latent_ode", s)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(30):
        opt.zero_grad()
        model.elbo(train.t, train.y, train.mask, noise_std=0.3)[0].backward()
        opt.step()
    before = [p.detach().clone() for p in model.parameters()]

    def objective(z0: torch.Tensor) -> float:
        with torch.no_grad():
            pred = model.decode(z0, train.t)
            m = train.mask.unsqueeze(-1)
            sq = ((torch.where(m, train.y, pred) - pred) ** 2 * m).sum()
            return float(0.5 * sq / 0.3**2 + 0.5 * z0.pow(2).sum())

    with torch.no_grad():
        mu = model.encode(train.t, train.y, train.mask)[0]
    z0 = ch06_latent.refit_initial_state(model, train, steps=100, lr=0.05, noise=0.3)
    assert objective(z0) < 0.9 * objective(mu)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert all(p.requires_grad for p in model.parameters())  # the model is left trainable
