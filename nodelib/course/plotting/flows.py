"""The figures of chapter 4: normalising flows.

A one-dimensional change of variables, the likelihood of the Tabak-Turner ascent and its two
densities, rows of 2-D densities or samples, the cost of log-determinants, the Jacobian of a
coupling layer, and a flow's training curve and layer-by-layer picture. Each function takes
the numbers the chapter computed and draws them; none computes a result the text states.

A *frame* (one panel) is either samples of shape (m, 2) or a log-density: a function of points
(m, 2) or a grid (ny, nx), as :func:`nodelib.course.plotting.plot_density_2d` accepts. Shared
keywords: ``ax`` (Axes to draw into; a new figure when None), ``xlim``/``ylim``/``lim`` (the
plotted ranges of x_1 and x_2, or of both), ``n`` (grid points per axis of a density) and
``size`` (a panel's height in inches).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from nodelib.course.plotting._common import Limits, _axes, _np, _running_mean
from nodelib.course.plotting.curves import plot_spread
from nodelib.course.plotting.fields import plot_density_2d, plot_samples

__all__ = [
    "plot_change_of_variables_1d",
    "plot_density_row",
    "plot_flow_by_layer",
    "plot_flow_training",
    "plot_jacobian_pattern",
    "plot_likelihood_ascent",
    "plot_logdet_costs",
    "plot_two_densities",
]


def _frame(ax: Axes, frame: Any, xlim: Limits, ylim: Limits, n: int, **scatter: Any) -> None:
    if not callable(frame) and _np(frame).ndim == 2 and _np(frame).shape[1] == 2:
        plot_samples(frame, ax=ax, xlim=xlim, ylim=ylim, **scatter)
    else:
        plot_density_2d(frame, ax=ax, xlim=xlim, ylim=ylim, n=n)


def _two_rows(rows: Sequence[Sequence[Any]], titles: Sequence[Sequence[str]], **kw: Any) -> Figure:
    # rows, titles: two lists of panels; kw: per row lims (xlims, ylims), scatter, n, size.
    lengths = {len(r) for r in (*rows, *titles)}
    if len(lengths) != 1 or 0 in lengths:
        raise ValueError(f"need equally long, non-empty rows and titles, got lengths {lengths}")
    k, size = lengths.pop(), kw["size"]
    fig, axes = plt.subplots(2, k, figsize=(size * k, 2 * size + 0.4), squeeze=False)
    for i in range(2):
        for frame, title, ax in zip(rows[i], titles[i], axes[i], strict=True):
            _frame(ax, frame, kw["xlims"][i], kw["ylims"][i], kw["n"], **kw["scatter"])
            ax.set(xticks=[], yticks=[], title=title)
    return fig


def plot_change_of_variables_1d(
    samples: Any,
    x: Any,
    density: Any,
    base_density: Any,
    *,
    bins: int = 200,
    ax: Axes | None = None,
) -> Axes:
    """A 1-D flow: the histogram of its samples over its density and the base density.

    Args:
        samples: the samples x_i = f(z_i), shape (m,).
        x: the grid, shape (k,); the histogram's bins cover [x[0], x[-1]].
        density, base_density: the flow's density p_Z(z)/f'(z) and p_Z at `x`, shape (k,).
        bins: the histogram's number of bins.

    Returns:
        The Axes: one histogram (`bins` bars), two lines (density, base dashed), a legend.
    """
    ax, xs = _axes(ax), _np(x).reshape(-1)
    label = "histogram of $x = f(z)$"
    kind = {"bins": bins, "range": (xs[0], xs[-1]), "density": True, "alpha": 0.5}
    ax.hist(_np(samples).reshape(-1), **kind, label=label)
    ax.plot(xs, _np(density).reshape(-1), "k", lw=1.5, label="$p_Z(z)/f'(z)$")
    ax.plot(xs, _np(base_density).reshape(-1), "C1--", lw=1, label="base density $p_Z$")
    ax.set(xlabel="x", ylabel="density", title="A one-dimensional flow: the change of variables")
    ax.legend(fontsize=8)
    return ax


def plot_likelihood_ascent(train: Any, held: Any, *, ax: Axes | None = None) -> Axes:
    """The mean log-likelihood along the Tabak-Turner ascent, over seeds.

    Args:
        train: the training points' mean log-likelihood after t = 0..T maps, (seeds, T + 1).
        held: the same for held-out points, shape (seeds, T + 1).

    Returns:
        The Axes: per curve a mean line (training solid, held-out dashed) and a min-max band.

    Raises:
        ValueError: the two arrays differ in shape or are not 2-D.
    """
    train, held = _np(train), _np(held)
    if train.shape != held.shape or train.ndim != 2:
        raise ValueError(f"need two (seeds, T + 1) arrays, got {train.shape} and {held.shape}")
    ax = _axes(ax)
    steps = np.arange(train.shape[1])
    for curves, style, name in ((train, "-", "training"), (held, "--", "held-out")):
        label = f"{name} points, mean of {len(curves)} seeds"
        plot_spread(ax, steps, curves, seed_dim=0, ls=style, label=label)
    ax.set(
        xlabel="number of radial maps t",
        ylabel="mean log-likelihood of $\\tilde\\rho_t$",
        title="Tabak-Turner: each map raises the likelihood (band: range over seeds)",
    )
    ax.legend()
    return ax


def plot_two_densities(
    pushed: Sequence[Any], estimates: Sequence[Any], times: Sequence[int], *, n: int = 150
) -> Figure:
    """The two densities of the ascent: rho_t (top row) and its estimate tilde rho_t (bottom).

    Args:
        pushed: per time, the data pushed forwards phi_t(x_j), shape (m, 2), drawn on
            [-4, 4]^2 (Gaussian space).
        estimates: per time, the log-density of tilde rho_t (a frame), drawn on
            [-3.5, 3.5] x [-2.5, 2.5] (data space).
        times: the times t, in the titles.

    Returns:
        The Figure, with 2 x len(times) Axes.

    Raises:
        ValueError: the three sequences differ in length or are empty.
    """
    titles = [[f"{rho}, t = {t}" for t in times] for rho in ("$\\rho_t$", "$\\tilde\\rho_t$")]
    lims = {"xlims": [(-4, 4), (-3.5, 3.5)], "ylims": [(-4, 4), (-2.5, 2.5)]}
    fig = _two_rows([pushed, estimates], titles, **lims, n=n, scatter={"s": 1}, size=2.6)
    fig.axes[0].set_ylabel("data pushed forwards\n(Gaussian space)")
    fig.axes[len(times)].set_ylabel("Gaussian pulled back\n(data space)")
    fig.suptitle(
        "The two densities of the ascent: $\\rho_t \\to \\mu$ while $\\tilde\\rho_t \\to \\rho$"
    )
    return fig


def plot_flow_by_layer(
    densities: Sequence[Any], samples: Sequence[Any], layers: Sequence[int], *, n: int = 120
) -> Figure:
    """A flow layer by layer: its density (top row) and where base samples go (bottom row).

    Args:
        densities: per panel, the log-density after k layers (a frame), drawn on [-4, 4]^2.
        samples: per panel, the base samples after k layers, shape (m, 2).
        layers: the numbers of layers k, in the titles.

    Returns:
        The Figure, with 2 x len(layers) Axes.

    Raises:
        ValueError: the three sequences differ in length or are empty.
    """
    titles = [[f"{what} {k} layers" for k in layers] for what in ("after", "samples after")]
    lims = [(-4, 4), (-4, 4)]
    fig = _two_rows([densities, samples], titles, xlims=lims, ylims=lims, n=n, scatter={}, size=2.5)
    fig.suptitle("The density of the flow, layer by layer")
    return fig


def plot_density_row(
    frames: Sequence[Any],
    titles: Sequence[str],
    *,
    xlim: Limits = (-3.0, 3.0),
    ylim: Limits = (-3.0, 3.0),
    n: int = 200,
    size: float = 3.2,
) -> Figure:
    """A row of 2-D panels with axis labels: densities or samples (samples of panel k in Ck).

    Args:
        frames: one frame per panel.
        titles: one title per panel.

    Returns:
        The Figure, with len(frames) Axes.

    Raises:
        ValueError: frames and titles differ in length or are empty.
    """
    if len(frames) != len(titles) or not frames:
        raise ValueError(f"need one title per frame, got {len(frames)} and {len(titles)}")
    k = len(frames)
    fig, axes = plt.subplots(1, k, figsize=(size * (0.3 + 0.95 * k), size), squeeze=False)
    for i, (frame, title, ax) in enumerate(zip(frames, titles, axes[0], strict=True)):
        _frame(ax, frame, xlim, ylim, n, color=f"C{i}")
        ax.set(title=title, xlabel="$x_1$", ylabel="$x_2$" if i == 0 else "")
    fig.tight_layout()
    return fig


def plot_logdet_costs(
    dense: tuple[Sequence[int], Sequence[float]],
    triangular: tuple[Sequence[int], Sequence[float]],
    gflops: Sequence[float],
    *,
    slopes: tuple[float, float, float],
    rate_trend: str,
) -> Figure:
    """The cost of log|det J|, dense against triangular (left), and LU's work rate (right).

    Args:
        dense: the sizes N and the CPU seconds of a dense log-determinant.
        triangular: the same for a triangular one.
        gflops: LU's rate at the dense sizes, in GFLOP/s.
        slopes: the fitted log-log slopes (dense, triangular, rate), for the labels.
        rate_trend: how the rate changes ("rises", "falls", ...), for the title.

    Returns:
        The Figure: log-log axes with the two measured lines and the references N^3 (through
        the first dense point) and N (through the last triangular point); semi-log (base 2)
        axes with the rate.
    """
    (nd, td), (nt, tt) = dense, triangular
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax.loglog(nd, td, "o-", label=f"dense (slogdet): slope {slopes[0]:.2f}")
    ax.loglog(nt, tt, "s-", label=f"triangular: slope {slopes[1]:.2f}")
    n_ref = np.array([min(nd), max(nt)], dtype=float)
    ax.loglog(n_ref, td[0] * (n_ref / nd[0]) ** 3, "k:", lw=1, label="$\\propto N^3$")
    ax.loglog(n_ref, tt[-1] * n_ref / nt[-1], "k--", lw=1, label="$\\propto N$")
    ax.set(xlabel="dimension N", ylabel="CPU seconds (min of 5, one thread)", ylim=(1e-6, 1e2))
    ax.set_title("The cost of log|det J|")
    ax.legend(fontsize=8)
    ax2.semilogx(nd, gflops, "o-", base=2)
    ax2.set(xlabel="dimension N", ylabel="GFLOP/s (counting $2N^3/3$)", ylim=(0, None))
    ax2.set_title(f"LU's work rate {rate_trend} with N (slope {slopes[2]:.2f})")
    return fig


def plot_jacobian_pattern(jacobian: Any, order: Sequence[int], *, ax: Axes | None = None) -> Axes:
    """The absolute entries of a Jacobian, rows and columns in a given order, in grey.

    Args:
        jacobian: the Jacobian, already reordered, shape (N, N).
        order: the original index of each row and column, shape (N,): the tick labels.

    Returns:
        The Axes, with the image of |jacobian| and a colour bar.

    Raises:
        ValueError: the Jacobian is not square of size len(order).
    """
    j, ticks = np.abs(_np(jacobian)), [str(i) for i in order]
    if j.shape != (len(order), len(order)):
        raise ValueError(f"need a ({len(order)}, {len(order)}) Jacobian, got {j.shape}")
    ax = _axes(ax)
    image = ax.imshow(j, cmap="Greys")
    ax.set_xticks(range(len(order)), ticks)
    ax.set_yticks(range(len(order)), ticks)
    ax.set(xlabel="input coordinate $z_j$", ylabel="output coordinate $x_i$")
    ax.set_title("|Jacobian| of a coupling layer")
    ax.figure.colorbar(image, ax=ax, shrink=0.8)
    return ax


def plot_flow_training(
    losses: Any, *, gaussian: float, entropy: float, window: int = 50, ax: Axes | None = None
) -> Axes:
    """A flow's training loss over seeds (moving mean), against the best Gaussian and the floor.

    Args:
        losses: the loss at each Adam step, shape (steps, seeds).
        gaussian: the best Gaussian's loss (a dashed line).
        entropy: the target's entropy H(rho), the floor (a dotted line).
        window: the moving mean's length in steps; the line starts at step `window`.

    Returns:
        The Axes: the smoothed mean over seeds with a min-max band, two horizontal lines.

    Raises:
        ValueError: `losses` is not 2-D or has fewer steps than `window`.
    """
    v = _np(losses)
    if v.ndim != 2 or len(v) < window:
        raise ValueError(f"need (steps >= {window}, seeds) losses, got shape {v.shape}")
    smooth = _running_mean(v.T, window)[:, window - 1 :].T  # full windows only: (steps', seeds)
    ax = _axes(ax)
    label = f"training loss: mean and range of {v.shape[1]} seeds"
    plot_spread(ax, np.arange(window, len(v) + 1), smooth, label=label)
    ax.axhline(gaussian, color="C1", ls="--", label="best Gaussian")
    ax.axhline(entropy, color="k", ls=":", label="entropy $H(\\rho)$: the floor")
    ax.set(xlabel="Adam step", ylabel="negative log-likelihood (nats)", ylim=(1.5, 4.5))
    ax.set_title(f"Maximum likelihood on eight Gaussians (moving mean of {window} steps)")
    ax.legend(fontsize=8)
    return ax
