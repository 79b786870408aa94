"""The figures of chapter 6's ODE-Net results (Chen et al. 2018, Table 1 and Fig. 3), drawn
from the offline experiments `ch06_classifiers` and `ch06_odenet_solvers` or from a live run:
test error over training, the solver's error against its evaluations, and the backward
solve's evaluations against the forward's. Results over seeds have shape (seeds, n).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from nodelib.course.plotting._common import _np
from nodelib.course.plotting.curves import plot_spread

__all__ = ["plot_backward_forward", "plot_classifier_training", "plot_error_against_nfe"]

_MARKERS = ("o", "s", "^", "D", "v", "P")


def _seeds_by_n(values: Any, name: str) -> np.ndarray:
    v = np.asarray(_np(values), dtype=float)
    if v.ndim != 2:
        raise ValueError(f"{name} must have shape (seeds, n), got {v.shape}.")
    return v


def plot_classifier_training(test_error: Mapping[str, Any]) -> Figure:
    """Test error over the epochs for each network, and each seed's final test error.

    Args:
        test_error: by network name, the test error (a fraction) after each epoch, shape
            (seeds, epochs); the networks must share the number of seeds.

    Returns:
        The Figure. Left: the mean over the seeds in percent against the epoch, with its
        min-max band (log y-axis). Right: each seed's final test error, one column per
        network, with the mean as a bar.

    Raises:
        ValueError: a result is not (seeds, epochs), or the networks differ in their seeds.
    """
    errors = {name: 100 * _seeds_by_n(v, name) for name, v in test_error.items()}
    if len({e.shape[0] for e in errors.values()}) != 1:
        raise ValueError("every network needs the same number of seeds.")
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.6), gridspec_kw={"width_ratios": [3, 2]})
    n_seeds = next(iter(errors.values())).shape[0]
    for k, (name, err) in enumerate(errors.items()):
        epochs = np.arange(1, err.shape[1] + 1)
        plot_spread(axes[0], epochs, err, seed_dim=0, color=f"C{k}", label=name)
        axes[1].bar(k, err[:, -1].mean(), color=f"C{k}", alpha=0.35)
        axes[1].plot(np.full(n_seeds, k), err[:, -1], _MARKERS[k % 6], color=f"C{k}")
    axes[0].set(yscale="log", xlabel="epoch", ylabel="test error (%)",
                title=f"Test error during training ({n_seeds} seeds)")  # fmt: skip
    axes[0].legend()
    axes[1].set(xticks=range(len(errors)), xticklabels=list(errors), ylabel="test error (%)",
                title="After the last epoch (each seed)")  # fmt: skip
    fig.tight_layout()
    return fig


def plot_error_against_nfe(
    tols: Sequence[float], sweeps: Mapping[str, Mapping[str, Any]]
) -> Figure:
    """What each tolerance costs (NFE) and buys (the solve's error, the test accuracy).

    Args:
        tols: the tolerances (rtol = atol), shape (n,).
        sweeps: by solver name, ``{"nfe": ..., "error": ..., "accuracy": ...}``, each of shape
            (seeds, n): the evaluations of the solve, its relative error against a reference
            solve, and the test accuracy (a fraction) at each tolerance.

    Returns:
        The Figure. Left: error against NFE (log-log; each seed's points and the mean over
        the seeds, the loosest and tightest tolerance labelled). Right: test error (%)
        against NFE, each seed's points.

    Raises:
        ValueError: a result is not (seeds, len(tols)).
    """
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.6))
    for k, (solver, sweep) in enumerate(sweeps.items()):
        nfe, err, acc = (_seeds_by_n(sweep[key], key) for key in ("nfe", "error", "accuracy"))
        if not nfe.shape == err.shape == acc.shape or nfe.shape[1] != len(tols):
            raise ValueError(f"{solver}: need (seeds, {len(tols)}), got {nfe.shape}.")
        style = {"color": f"C{k}", "marker": _MARKERS[k % 6]}
        axes[0].plot(nfe.T, err.T, ls="none", alpha=0.35, **style)
        axes[0].plot(nfe.mean(0), np.exp(np.log(err).mean(0)), label=solver, **style)
        for i in (0, len(tols) - 1):
            axes[0].annotate(f"tol {tols[i]:g}", (nfe[:, i].mean(), err[:, i].max()),
                             textcoords="offset points", xytext=(4, 4), fontsize=8)  # fmt: skip
        axes[1].plot(nfe.T, 100 * (1 - acc.T), ls="none", alpha=0.6, **style)
        axes[1].plot([], [], ls="none", label=solver, **style)
    axes[0].set(xscale="log", yscale="log", xlabel="NFE (one solve of the test set)",
                ylabel="relative error of y(1)",
                title="The solver's error against its cost")  # fmt: skip
    axes[0].legend()
    axes[1].set(xscale="log", xlabel="NFE (one solve of the test set)", ylabel="test error (%)",
                title="Test error at each tolerance")  # fmt: skip
    axes[1].margins(y=0.3)
    axes[1].legend()
    fig.tight_layout()
    return fig


def plot_backward_forward(pairs: Mapping[str, Mapping[str, tuple[Any, Any]]]) -> Figure:
    """The adjoint's backward NFE against the forward NFE of the same training step.

    Args:
        pairs: by solver name, then by tolerance label, ``(forward, backward)``: the NFE of
            each measured training step (any shape, flattened; the two alike).

    Returns:
        The Figure. Left: backward against forward NFE (log-log), one colour per solver and
        one marker per tolerance, with the lines backward = forward and backward = forward / 2.
        Right: the ratio backward / forward for each solver and tolerance (each step's point,
        and the mean as a bar).

    Raises:
        ValueError: a forward and a backward count differ in size.
    """
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.6))
    labels, low, high = [], np.inf, 0.0
    for k, (solver, by_tol) in enumerate(pairs.items()):
        for j, (tol, (forward, backward)) in enumerate(by_tol.items()):
            f, b = np.ravel(_np(forward)).astype(float), np.ravel(_np(backward)).astype(float)
            if f.shape != b.shape:
                raise ValueError(f"{solver} at {tol}: forward {f.shape}, backward {b.shape}.")
            axes[0].plot(f, b, _MARKERS[j % 6], color=f"C{k}", alpha=0.7,
                         label=f"{solver}, tol {tol}")  # fmt: skip
            x = len(labels)
            axes[1].bar(x, (b / f).mean(), color=f"C{k}", alpha=0.35)
            axes[1].plot(np.full(len(f), x), b / f, _MARKERS[j % 6], color=f"C{k}")
            labels.append(f"{solver}\n{tol}")
            low, high = min(low, f.min(), b.min()), max(high, f.max(), b.max())
    line = np.array([low / 2, 2 * high])
    axes[0].plot(line, line, "k:", label="backward = forward")
    axes[0].plot(line, line / 2, "k--", label="backward = forward / 2")
    axes[0].set(xscale="log", yscale="log", xlabel="forward NFE", ylabel="backward NFE",
                title="One training step's solves")  # fmt: skip
    axes[0].legend(fontsize=7)
    axes[1].axhline(1.0, color="k", ls=":")
    axes[1].axhline(0.5, color="k", ls="--")
    axes[1].set(xticks=range(len(labels)), ylabel="backward / forward NFE",
                title="Ratio per solver and tolerance")  # fmt: skip
    axes[1].set_xticklabels(labels, fontsize=7)
    fig.tight_layout()
    return fig
