"""The figures of chapter 6's offline experiments, beside the paper's (Chen et al. 2018).

- `plot_flow_grid`: target, planar flows with K layers and planar CNFs with M units, as
  densities and samples (the layout of the paper's Fig. 4), rebuilt from the parameters an
  experiment `nodelib.course.experiments.ch06_flows` stored;
- `plot_flow_losses`: the measured loss against M = K for both families, over seeds;
- `plot_latent_paths`: test spirals, their observations and each model's interpolation and
  extrapolation (the layout of the paper's Fig. 8 a-b), from `ch06_latent`;
- `plot_latent_rmse`: the RMSE against the number of observed points over seeds, beside the
  paper's Table 2; `plot_latent_horizon`: the error against the time since the window began;
  `plot_latent_training`: the test errors during training.

`runs` is the list of a experiment's per-seed results (the outputs of its ``run``), or a
mapping from seed to result. Every function returns its Figure and never calls ``plt.show``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from nodelib.course.plotting.curves import plot_spread
from nodelib.course.plotting.fields import plot_density_2d, plot_samples
from nodelib.data import energy_2d, log_density_2d, log_normaliser_2d, sample_2d
from nodelib.data.densities import EXACT_DENSITIES_2D

__all__ = [
    "plot_flow_grid",
    "plot_flow_losses",
    "plot_latent_horizon",
    "plot_latent_paths",
    "plot_latent_rmse",
    "plot_latent_training",
]

_LABELS = {
    "cnf": "planar CNF (M units)",
    "nf": "planar flow (K = M layers)",
    "latent_ode": "latent ODE",
    "rnn": "RNN",
}
_TASK_LOSS = {"density_matching": "KL(q ‖ p) (nats)", "max_likelihood": "test NLL (nats)"}


def _runs(runs: Sequence[dict] | Mapping[Any, dict]) -> list[dict]:
    out = list(runs.values()) if isinstance(runs, Mapping) else list(runs)
    if not out:
        raise ValueError("no results: pass the per-seed results of the experiment.")
    return out


def _target_log_density(task: str, target: str):
    if task == "density_matching":
        log_z = log_normaliser_2d(target)
        return lambda x: -energy_2d(target, x) - log_z
    if target in EXACT_DENSITIES_2D:
        return lambda x: log_density_2d(target, x)
    return None


def plot_flow_grid(
    run: dict,
    settings: dict,
    task: str,
    *,
    lim: float = 4.0,
    n: int = 70,
    n_samples: int = 1500,
    seed: int = 0,
) -> Figure:
    """Densities (first row of a target) and samples (second row) of every trained model.

    Args:
        run: one seed's result of ``ch06_flows.run``; settings: the settings it ran with.
        task: "density_matching" or "max_likelihood".
        lim: the plotted square is [-lim, lim]².
        n: grid points per axis of the densities.
        n_samples: samples drawn from every model (and from a data set).
        seed: for those samples.

    Returns:
        The Figure: 2 rows per target; columns target, K = each width, M = each width.
    """
    from nodelib.course.experiments.ch06_flows import evaluation_cnf, load_model

    targets, widths = list(run[task]), settings["widths"]
    cols = 1 + 2 * len(widths)
    fig, axes = plt.subplots(2 * len(targets), cols, figsize=(1.9 * cols, 3.9 * len(targets)))
    axes = np.atleast_2d(axes)
    box = (-lim, lim)
    for r, target in enumerate(targets):
        top, bottom = axes[2 * r], axes[2 * r + 1]
        log_p = _target_log_density(task, target)
        g = torch.Generator().manual_seed(seed)
        data = sample_2d(target, n_samples, generator=g) if task == "max_likelihood" else None
        if log_p is not None:
            plot_density_2d(log_p, xlim=box, ylim=box, n=n, ax=top[0])
        else:
            plot_samples(data, ax=top[0], xlim=box, ylim=box, bins=n)
        if data is not None:
            plot_samples(data, ax=bottom[0], xlim=box, ylim=box, s=1)
        else:
            bottom[0].axis("off")
        top[0].set_title(f"target: {target}", fontsize=8)
        for c, (kind, width) in enumerate([(k, w) for k in ("nf", "cnf") for w in widths], 1):
            entry = run[task][target][str(width)][kind]
            model = load_model(kind, width, entry["state"], settings, task)
            model = evaluation_cnf(model, settings) if kind == "cnf" else model
            plot_density_2d(model.log_prob, xlim=box, ylim=box, n=n, ax=top[c])
            with torch.no_grad():
                x = model.sample(n_samples, torch.Generator().manual_seed(seed))
            plot_samples(x, ax=bottom[c], xlim=box, ylim=box, s=1)
            name = "K" if kind == "nf" else "M"
            top[c].set_title(
                f"{'NF' if kind == 'nf' else 'CNF'} {name}={width}\nloss {entry['loss']:.3f}",
                fontsize=8,
            )
    for ax in axes.flat:
        ax.set(xticks=[], yticks=[])
    fig.tight_layout()
    return fig


def plot_flow_losses(runs: Sequence[dict] | Mapping[Any, dict], task: str) -> Figure:
    """The measured loss against M = K, one panel per target: mean, min-max band, seeds.

    Args:
        runs: per-seed results of ``ch06_flows.run``.
        task: "density_matching" (KL(q ‖ p)) or "max_likelihood" (test NLL).

    Returns:
        The Figure, widths on a log axis.
    """
    runs = _runs(runs)
    targets = list(runs[0][task])
    fig, axes = plt.subplots(1, len(targets), figsize=(4.2 * len(targets), 3.4), squeeze=False)
    for ax, target in zip(axes[0], targets, strict=True):
        widths = sorted(int(w) for w in runs[0][task][target])
        for kind, marker in (("nf", "s"), ("cnf", "o")):
            values = np.array(
                [[r[task][target][str(w)][kind]["loss"] for r in runs] for w in widths]
            )
            plot_spread(ax, widths, values, label=_LABELS[kind], marker=marker)
            for w, v in zip(widths, values, strict=True):
                ax.plot([w] * len(v), v, marker, ms=3, alpha=0.5, color=ax.lines[-1].get_color())
        ax.set(
            xscale="log",
            xticks=widths,
            xticklabels=[str(w) for w in widths],
            xlabel="M = K",
            ylabel=_TASK_LOSS[task],
            title=f"{target} ({len(runs)} seeds)",
        )
        if task == "density_matching":
            ax.set_yscale("log")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_latent_paths(run: dict, n_observed: int, *, window: int = 100) -> Figure:
    """Test spirals with both models' predictions, a panel per model (the paper's Fig. 8).

    Args:
        run: one seed's result of ``ch06_latent.run``.
        n_observed: which setting (a key of the result).
        window: the points of the observation window (the rest are extrapolated).

    Returns:
        The Figure: per panel the true spirals (grey), observations (black dots), the
        prediction inside the window (blue) and beyond it (red).
    """
    series = run[str(n_observed)]["figure"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2), sharex=True, sharey=True)
    for ax, kind in zip(axes, ("rnn", "latent_ode"), strict=True):
        for k, s in enumerate(series):
            truth, obs, pred = (
                np.asarray(s["y_true"]),
                np.asarray(s["observed"]),
                np.asarray(s[kind]),
            )
            first = k == 0
            ax.plot(*truth.T, color="0.75", lw=3, label="true spiral" if first else None)
            ax.plot(*obs.T, "k.", ms=3, label="observations" if first else None)
            ax.plot(*pred[:window].T, color="C0", label="prediction" if first else None)
            ax.plot(*pred[window - 1 :].T, color="C3", label="extrapolation" if first else None)
        err = run[str(n_observed)][kind]["errors"]["extrapolation"]
        ax.set(
            title=f"{_LABELS[kind]}: extrapolation RMSE {err:.3f}",
            xlabel="$y_1$",
            ylabel="$y_2$",
            aspect="equal",
        )
    axes[0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def plot_latent_rmse(
    runs: Sequence[dict] | Mapping[Any, dict], *, paper: Mapping[str, Mapping[str, float]]
) -> Figure:
    """Extrapolation and interpolation RMSE against the observed points, over seeds.

    Args:
        runs: per-seed results of ``ch06_latent.run``.
        paper: the paper's Table 2, {model: {str(n): RMSE}}: open markers on the left panel.

    Returns:
        The Figure: left extrapolation (with the paper's values), right interpolation.
    """
    runs = _runs(runs)
    ns = sorted(int(n) for n in runs[0])
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for kind, marker in (("rnn", "s"), ("latent_ode", "o")):
        for ax, metric in zip(axes, ("extrapolation", "interpolation"), strict=True):
            have = [n for n in ns if metric in runs[0][str(n)][kind]["errors"]]
            if not have:
                continue
            values = np.array([[r[str(n)][kind]["errors"][metric] for r in runs] for n in have])
            plot_spread(ax, have, values, label=f"{_LABELS[kind]} (here)", marker=marker)
            if metric == "extrapolation" and kind in paper:
                xs = [n for n in ns if str(n) in paper[kind]]
                ax.plot(
                    xs,
                    [paper[kind][str(n)] for n in xs],
                    marker,
                    mfc="none",
                    ls=":",
                    color=ax.lines[-1].get_color(),
                    label=f"{_LABELS[kind]} (paper)",
                )
    for ax, metric in zip(axes, ("extrapolation", "interpolation"), strict=True):
        ax.set(
            xlabel="observed points of 100",
            ylabel=f"{metric} RMSE",
            xticks=ns,
            yscale="log",
            title=f"{metric} ({len(runs)} seeds)",
        )
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_latent_training(runs: Sequence[dict] | Mapping[Any, dict], n_observed: int) -> Figure:
    """Test RMSE during training, both models, over seeds: was training long enough?

    Returns:
        The Figure: extrapolation (left) and interpolation (right) against the iteration.
    """
    runs = _runs(runs)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for kind in ("rnn", "latent_ode"):
        curves = [r[str(n_observed)][kind]["curve"] for r in runs]
        its = [c["iteration"] for c in curves[0]]
        for ax, metric in zip(axes, ("extrapolation", "interpolation"), strict=True):
            if metric not in curves[0][0]:
                continue
            values = np.array([[c[i][metric] for c in curves] for i in range(len(its))])
            plot_spread(ax, its, values, label=_LABELS[kind])
            ax.set(xlabel="iteration", ylabel=f"test {metric} RMSE", yscale="log")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{n_observed} observed points, {len(runs)} seeds", fontsize=9)
    fig.tight_layout()
    return fig


def plot_latent_horizon(
    runs: Sequence[dict] | Mapping[Any, dict], n_observed: int, *, window: int = 100
) -> Figure:
    """The RMSE at each grid time, inside the window and beyond it, both models over seeds.

    Returns:
        The Figure: one line and min-max band per model, a dotted line where the window ends.
    """
    runs = _runs(runs)
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    for kind in ("rnn", "latent_ode"):
        values = np.array([r[str(n_observed)][kind]["rmse_by_time"] for r in runs]).T
        plot_spread(ax, np.arange(len(values)), values, label=_LABELS[kind])
    ax.axvline(window - 0.5, color="k", ls=":", label="end of the observed window")
    ax.set(
        xlabel="grid time index",
        ylabel="RMSE",
        yscale="log",
        title=f"{n_observed} observed points, {len(runs)} seeds",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
