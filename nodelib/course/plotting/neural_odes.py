"""The figures of chapter 6 (Neural ODEs): memory against depth, NFE during training and
against the tolerance, Hutchinson's trace errors, CNF and planar density fits, latent-ODE and
RNN spirals, plain against augmented Neural ODEs. Each function takes the numbers a chapter
cell computed (tensors, arrays or lists; a result over seeds has shape (seeds, n)), draws them
and returns the Axes or the Figure; it never calls ``plt.show``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from nodelib.course.plotting._common import Limits, _axes, _np, _running_mean
from nodelib.course.plotting.curves import plot_spread
from nodelib.course.plotting.fields import plot_density_2d

__all__ = [
    "plot_augmentation",
    "plot_density_fits",
    "plot_memory_growth",
    "plot_nfe_training",
    "plot_spiral_predictions",
    "plot_tolerance_sweep",
    "plot_trace_errors",
]


def _per_seed(values: Any) -> np.ndarray:
    """A result over seeds as a float array of shape (seeds, n)."""
    v = np.asarray(_np(values), dtype=float)
    if v.ndim != 2:
        raise ValueError(f"a result over seeds must have shape (seeds, n), got {v.shape}.")
    return v


def plot_memory_growth(
    layers: Sequence[int], memory: Mapping[str, Any], *, ax: Axes | None = None
) -> Axes:
    """Bytes saved for backward against the number of blocks or steps, one line per network.

    Args:
        layers: the numbers of residual blocks or solver steps, shape (n,).
        memory: bytes saved for backward by network name, each of shape (n,); drawn in MiB.
        ax: the Axes to draw into (a new figure when None).

    Returns:
        The Axes, with one labelled line per network, its x-ticks at `layers`, and a legend.
    """
    ax = _axes(ax)
    for name, values in memory.items():
        ax.plot(list(layers), _np(values) / 2**20, "o-", label=name)
    ax.set(
        xlabel="residual blocks L, or RK4 steps",
        ylabel="saved for backward (MiB)",
        title="Training memory against depth (one batch)",
        xticks=list(layers),
    )
    ax.legend()
    return ax


def plot_nfe_training(forward: Any, backward: Any, *, seeds: Sequence[int]) -> Figure:
    """The NFE per training batch over the epochs, and the backward NFE against the forward.

    Args:
        forward, backward: evaluations per training batch of the forward solve and of the
            adjoint's backward solve, averaged over each epoch; shape (seeds, epochs).
        seeds: the seeds, in the order of the rows, for the legend.

    Returns:
        The Figure. Left: the mean over the seeds against the epoch with its min-max band, for
        the forward and the backward solve. Right: one point per epoch and seed, and the
        lines backward = forward and backward = forward / 2.

    Raises:
        ValueError: `forward` and `backward` differ in shape, or are not (seeds, epochs).
    """
    f, b = _per_seed(forward), _per_seed(backward)
    if f.shape != b.shape or len(f) != len(seeds):
        raise ValueError(f"forward {f.shape} and backward {b.shape}: need ({len(seeds)}, epochs).")
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    epochs = np.arange(1, f.shape[1] + 1)
    plot_spread(axes[0], epochs, f, seed_dim=0, marker="o", color="C0", label="forward")
    plot_spread(axes[0], epochs, b, seed_dim=0, marker="s", ls="--", color="C1",
                label="backward (adjoint)")  # fmt: skip
    axes[0].set(xlabel="epoch", ylabel="NFE per training batch",
                title=f"NFE during training (mean, range: {len(f)} seeds)")  # fmt: skip
    axes[0].legend()
    for k, seed in enumerate(seeds):
        axes[1].plot(f[k], b[k], "o", color=f"C{k + 2}", label=f"seed {seed}")
    lim = 1.1 * max(f.max(), b.max())
    axes[1].plot([0, lim], [0, lim], "k:", label="backward = forward")
    axes[1].plot([0, lim], [0, lim / 2], "k--", label="backward = forward / 2")
    axes[1].set(xlabel="forward NFE", ylabel="backward NFE", xlim=(0, lim), ylim=(0, lim),
                title="Backward against forward (per epoch)")  # fmt: skip
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_tolerance_sweep(
    tols: Sequence[float], nfe: Any, accuracy: Any, *, seeds: Sequence[int]
) -> Figure:
    """What a tighter tolerance costs (NFE) and buys (test error), at test time.

    Args:
        tols: the tolerances (rtol = atol), shape (n,).
        nfe, accuracy: the evaluations for the whole test set and the test accuracy (a
            fraction) at each tolerance, shape (seeds, n).
        seeds: the seeds, in the order of the rows, for the legend.

    Returns:
        The Figure. Left: NFE against the tolerance (mean and min-max band over the seeds;
        log x-axis, tightest tolerance on the right). Right: test error (%) against NFE, one
        line per seed, the first seed's points annotated with their tolerance.

    Raises:
        ValueError: `nfe` or `accuracy` is not (len(seeds), len(tols)).
    """
    n, acc = _per_seed(nfe), _per_seed(accuracy)
    if n.shape != acc.shape or n.shape != (len(seeds), len(tols)):
        raise ValueError(f"nfe {n.shape}, accuracy {acc.shape}: need ({len(seeds)}, {len(tols)}).")
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    plot_spread(axes[0], list(tols), n, seed_dim=0, marker="o")
    axes[0].set(xscale="log", xlabel="tolerance (rtol = atol)", ylabel="NFE (whole test set)",
                title=f"Evaluations against tolerance ({len(seeds)} seeds)")  # fmt: skip
    axes[0].invert_xaxis()
    for k, seed in enumerate(seeds):
        axes[1].plot(n[k], 100 * (1 - acc[k]), "o-", label=f"seed {seed}")
    for tol, x, a in zip(tols, n[0], acc[0], strict=True):
        axes[1].annotate(f"{tol:g}", (x, 100 * (1 - a)), textcoords="offset points", xytext=(4, 4))
    axes[1].set(xlabel="NFE", ylabel="test error (%)", title="Accuracy for speed at test time")
    axes[1].margins(x=0.1, y=0.15)  # room for the tolerance labels
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_trace_errors(errors: Mapping[str, Any], *, bins: int = 60, ax: Axes | None = None) -> Axes:
    """Histograms of the errors of a trace estimator, one per kind of probe.

    Args:
        errors: probe name -> estimate minus exact trace, one per point, shape (m,).
        bins: the number of bins of each histogram.
        ax: the Axes to draw into (a new figure when None).

    Returns:
        The Axes, with one labelled histogram per probe and a legend.
    """
    ax = _axes(ax)
    for name, values in errors.items():
        ax.hist(_np(values).ravel(), bins=bins, alpha=0.6, label=name)
    ax.set(xlabel="estimate − exact trace", ylabel="count",
           title="Hutchinson's estimator, one probe per point")  # fmt: skip
    ax.legend()
    return ax


def plot_density_fits(
    densities: Mapping[str, Any],
    losses: Mapping[str, Any],
    *,
    entropy: float,
    lim: Limits = (-3.2, 3.2),
    n: int | Sequence[int] = 120,
    window: int = 20,
) -> Figure:
    """Densities side by side, then the training loss of each model over the seeds.

    Args:
        densities: panel title -> a log-density function ((m, 2) -> (m,)) or a grid of
            log-densities, as for `plot_density_2d`.
        losses: model name -> training loss (NLL) per step, shape (seeds, steps).
        entropy: the target's entropy, the lowest NLL a model can reach: a dotted line.
        lim: the plotted range of both coordinates.
        n: grid points per axis, for every density panel or one per panel.
        window: the losses are drawn as running means over this many steps.

    Returns:
        The Figure: an image per density, then a mean line and min-max band per model.

    Raises:
        ValueError: `n` has not one entry per density, or a loss is not (seeds, steps).
    """
    ns = [n] * len(densities) if isinstance(n, int) else list(n)
    if len(ns) != len(densities):
        raise ValueError(f"{len(ns)} grid sizes for {len(densities)} densities.")
    fig, axes = plt.subplots(1, len(densities) + 1, figsize=(3.25 * len(densities) + 3.25, 3.2))
    for ax, (title, density), points in zip(axes[:-1], densities.items(), ns, strict=True):
        plot_density_2d(density, xlim=lim, ylim=lim, n=points, ax=ax)
        ax.set(title=title, xlabel="$x_1$", ylabel="$x_2$")
    for name, values in losses.items():
        smooth = _running_mean(_per_seed(values), window)  # (seeds, steps)
        plot_spread(axes[-1], np.arange(smooth.shape[1]), smooth, seed_dim=0, label=name)
    axes[-1].axhline(entropy, color="k", ls=":", label="true entropy")
    axes[-1].set(xlabel="training step", ylabel=f"NLL (running mean of {window})",
                 title=f"Training loss ({len(smooth)} seeds)",
                 ylim=(entropy - 0.3, entropy + 2.5))  # fmt: skip
    axes[-1].legend()
    fig.tight_layout()
    return fig


def plot_spiral_predictions(
    y_true: Any,
    y_obs: Any,
    mask: Any,
    predictions: Mapping[str, Any],
    *,
    n_obs: int,
    spirals: Sequence[int] = (0, 1, 2),
    seed: int | None = None,
) -> Figure:
    """True spirals, their observations and each model's reconstruction, a panel per spiral.

    Args:
        y_true: the noiseless spirals on the whole time grid, shape (N, T, 2).
        y_obs, mask: the noisy values in the observed window, (N, n_obs, 2), and which of
            them are observed, (N, n_obs).
        predictions: model name -> its predictions on the whole grid, (N, T, 2): drawn solid
            in the window (the first `n_obs` times) and dashed after it.
        n_obs: the number of grid times in the observed window.
        spirals: the indices of the spirals to draw.
        seed: the seed of the run, for the titles.

    Returns:
        The Figure: per panel the true spiral (grey), the observations and two lines a model.
    """
    truth, obs, seen = _np(y_true), _np(y_obs), _np(mask).astype(bool)
    preds = {name: _np(p) for name, p in predictions.items()}
    fig, axes = plt.subplots(1, len(spirals), figsize=(4 * len(spirals), 4), squeeze=False)
    for ax, i in zip(axes[0], spirals, strict=True):
        ax.plot(*truth[i].T, color="0.7", lw=3, label="true spiral")
        ax.plot(*obs[i][seen[i]].T, "k.", label="observations")
        for k, (name, p) in enumerate(preds.items()):
            ax.plot(*p[i, :n_obs].T, "-", color=f"C{3 * k}", label=name)
            ax.plot(*p[i, n_obs - 1 :].T, "--", color=f"C{3 * k}", label=f"{name} (extrapolation)")
        title = f"spiral {i}" if seed is None else f"spiral {i} (seed {seed})"
        ax.set(xlabel="$y_1$", ylabel="$y_2$", title=title, aspect="equal")
    axes[0, 0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def plot_augmentation(
    accuracy: Mapping[str, Any],
    nfe: Mapping[str, Any],
    *,
    ceiling: Any,
    x: Any,
    labels: Any,
    flowed: Any,
    lifted: Any,
    seed: int | None = None,
) -> Figure:
    """A plain against an augmented Neural ODE classifier on the line, in four panels.

    Args:
        accuracy, nfe: model name -> test accuracy and NFE per training batch after each
            epoch, shape (seeds, epochs).
        ceiling: the best threshold's test accuracy per seed, (seeds,): a grey band.
        x, labels: the test points, (m, 1), and their classes, (m,).
        flowed: the plain model's y(1) at the test points, (m, 1).
        lifted: the augmented model's (y(1), a(1)) at the test points, (m, 2).
        seed: the seed of the last two panels, for their titles.

    Returns:
        The Figure: accuracy and NFE against the epoch (a mean line and min-max band per
        model), the plain model's flow map y(1) against x, the augmented model's features.
    """
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.4))
    for name in accuracy:
        acc, evals = _per_seed(accuracy[name]), _per_seed(nfe[name])
        epochs = np.arange(1, acc.shape[1] + 1)
        plot_spread(axes[0], epochs, acc, seed_dim=0, label=name)
        plot_spread(axes[1], epochs, evals, seed_dim=0, label=name)
    best = _np(ceiling)
    axes[0].axhspan(best.min(), best.max(), color="0.85", label="best threshold (range)")
    axes[0].set(xlabel="epoch", ylabel="test accuracy", title=f"Accuracy ({len(best)} seeds)")
    axes[1].set(xlabel="epoch", ylabel="NFE per training batch", title="Evaluations per batch")
    for ax in axes[:2]:
        ax.legend(fontsize=8)
    suffix = "" if seed is None else f" (seed {seed})"
    x, c, flowed, lifted = _np(x), _np(labels), _np(flowed), _np(lifted)
    axes[2].scatter(x[:, 0], flowed[:, 0], c=c, s=4, cmap="coolwarm")
    axes[2].set(xlabel="$x$", ylabel="$y(1)$", title="plain: the flow map" + suffix)
    axes[3].scatter(lifted[:, 0], lifted[:, 1], c=c, s=4, cmap="coolwarm")
    axes[3].set(xlabel="$y(1)$", ylabel="$a(1)$", title="augmented: features at t = 1" + suffix)
    fig.tight_layout()
    return fig
