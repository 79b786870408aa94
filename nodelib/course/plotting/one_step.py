"""The figures of chapter 1: one-step methods.

Solutions of an IVP against reference curves, Picard's iterates, an error beside its bound,
measured orders of convergence on a log–log plot, the θ-method's error as a function of θ,
and the θ-method's trajectory and error side by side (the chapter's interactive figure).
Each function takes the numbers the chapter computed (tensors or arrays, 1-D, one value per
grid time or step size) and only draws them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from nodelib.course.plotting._common import _axes, _np

__all__ = [
    "plot_error_and_bound",
    "plot_mirrored_solutions",
    "plot_orders",
    "plot_picard_iterates",
    "plot_solutions",
    "plot_theta_method",
    "plot_theta_scan",
]

_MARKERS = ("o", "s", "^", "v", "D", "P", "X")


def _finish(ax: Axes, *, xlabel: str, ylabel: str, title: str | None, legend: bool = True) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title)
    if legend:
        ax.legend()


def plot_solutions(
    t: Any,
    solutions: Mapping[str, Any],
    *,
    t_ref: Any = None,
    references: Mapping[str, Any] | None = None,
    markers: bool = False,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Draw numerical solutions on their grid over black reference curves.

    Args:
        t: the grid times, shape (n,).
        solutions: label -> numerical solution at ``t``, shape (n,); one line with dots each.
        t_ref: the times of the reference curves, shape (m,); needed with ``references``.
        references: label -> exact curve at ``t_ref``, shape (m,); the first is drawn thick and
            solid, the others thin and dashed, all in black.
        markers: give each solution its own marker shape (o, s, ^, ...) instead of dots.
        ax: see the module docstring of `nodelib.course.plotting`.
        title: the title of the Axes.

    Returns:
        The Axes: one line per reference, then one per solution, and a legend.

    Raises:
        ValueError: ``references`` without ``t_ref``.
    """
    ax = _axes(ax)
    if references:
        if t_ref is None:
            raise ValueError("references need the times t_ref they are given at.")
        for i, (label, curve) in enumerate(references.items()):
            style = {"ls": "-", "lw": 2} if i == 0 else {"ls": "--", "lw": 1}
            ax.plot(_np(t_ref), _np(curve), color="k", label=label, **style)
    for i, (label, ys) in enumerate(solutions.items()):
        marker = _MARKERS[i % len(_MARKERS)] if markers else "o"
        ax.plot(_np(t), _np(ys), marker=marker, ms=4, label=label)
    _finish(ax, xlabel="$t$", ylabel="$y$", title=title)
    return ax


def plot_mirrored_solutions(
    t: Any, branches: Mapping[str, Any], *, ax: Axes | None = None, title: str | None = None
) -> Axes:
    """Draw the zero solution and each branch ``y(t)`` with its mirror image ``-y(t)``.

    Args:
        t: the times, shape (n,).
        branches: label -> a non-negative solution at ``t``, shape (n,); drawn solid, its
            negative dashed in the same colour (unlabelled).
        ax: see the module docstring of `nodelib.course.plotting`.
        title: the title of the Axes.

    Returns:
        The Axes: the line y = 0 (black), then two lines per branch, and a legend.
    """
    ax = _axes(ax)
    t = _np(t)
    ax.plot(t, np.zeros_like(t), "k", lw=2, label="$y = 0$")
    for label, ys in branches.items():
        (line,) = ax.plot(t, _np(ys), label=label)
        ax.plot(t, -_np(ys), color=line.get_color(), ls="--")
    _finish(ax, xlabel="$t$", ylabel="$y$", title=title)
    return ax


def plot_picard_iterates(
    t: Any,
    iterates: Sequence[Any],
    exact: Any,
    *,
    n_shown: int = 5,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Draw Picard's first iterates φ_0, φ_1, ... and the exact solution.

    Args:
        t: the grid, shape (n,).
        iterates: the iterates on the grid, each of shape (n,), starting with φ_0.
        exact: the exact solution on the grid, shape (n,); drawn black and dashed.
        n_shown: how many iterates to draw (the first ones).
        ax: see the module docstring of `nodelib.course.plotting`.
        title: the title of the Axes.

    Returns:
        The Axes: ``min(n_shown, len(iterates))`` lines labelled φ_k, then the exact one.
    """
    ax = _axes(ax)
    for k, phi in enumerate(iterates[:n_shown]):
        ax.plot(_np(t), _np(phi), label=rf"$\varphi_{k}$")
    ax.plot(_np(t), _np(exact), "k--", lw=2, label="exact $y$")
    _finish(ax, xlabel="$t$", ylabel="$y$", title=title)
    return ax


def plot_error_and_bound(
    x: Any,
    errors: Any,
    bound: Any,
    *,
    error_label: str = "error",
    bound_label: str = "bound",
    xlabel: str = "$t_n$",
    ylabel: str = "error",
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Draw an error and a bound on it against the same x, on a logarithmic y-axis.

    Args:
        x: the positions (grid times, iteration numbers), shape (n,).
        errors: the errors at ``x``, shape (n,), positive; drawn with circles.
        bound: the bound at ``x``, shape (n,), positive; drawn dashed with squares.
        error_label, bound_label, xlabel, ylabel: the legend entries and axis labels.
        ax: see the module docstring of `nodelib.course.plotting`.
        title: the title of the Axes.

    Returns:
        The Axes: two lines (errors, then bound), a log y-axis and a legend.
    """
    ax = _axes(ax)
    ax.semilogy(_np(x), _np(errors), "o-", label=error_label)
    ax.semilogy(_np(x), _np(bound), "s--", label=bound_label)
    _finish(ax, xlabel=xlabel, ylabel=ylabel, title=title)
    return ax


def plot_orders(
    hs: Sequence[float],
    errors: Mapping[str, Sequence[float]],
    *,
    orders: Mapping[str, float] | None = None,
    reference_slopes: Mapping[float, float] | None = None,
    tick_labels: Sequence[str] | None = None,
    xlabel: str = "step size $h$",
    ylabel: str = "error at $t = 1$",
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Draw errors against the step size on a log–log plot, where order p is slope p.

    Args:
        hs: the step sizes, shape (n,), shared by every series.
        errors: label -> the errors at ``hs``, shape (n,), positive.
        orders: label -> the measured order; when given, a label reads "label: slope 1.98".
        reference_slopes: slope p -> constant C: a black line C h^p over the range of ``hs``
            (dotted for the first, dashed for the others), labelled "slope p".
        tick_labels: labels of ticks placed at ``hs`` (e.g. "1/20"), replacing the default ones.
        xlabel, ylabel: the axis labels.
        ax: see the module docstring of `nodelib.course.plotting`.
        title: the title of the Axes.

    Returns:
        The Axes, log–log: one line per series, then one per reference slope, and a legend.

    Raises:
        ValueError: ``tick_labels`` of another length than ``hs``.
    """
    ax = _axes(ax)
    h = _np(hs).astype(float)
    for label, values in errors.items():
        name = label if orders is None else f"{label}: slope {orders[label]:.2f}"
        ax.loglog(h, _np(values), "o-", label=name)
    h_ends = np.array([h.max(), h.min()])
    for i, (slope, constant) in enumerate((reference_slopes or {}).items()):
        style = "k:" if i == 0 else "k--"
        ax.loglog(h_ends, constant * h_ends**slope, style, label=f"slope {slope:g}")
    if tick_labels is not None:
        if len(tick_labels) != len(h):
            raise ValueError(f"{len(tick_labels)} tick labels for {len(h)} step sizes.")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(h, list(tick_labels))
    _finish(ax, xlabel=xlabel, ylabel=ylabel, title=title)
    return ax


def plot_theta_scan(
    thetas: Sequence[float],
    errors: Sequence[float],
    *,
    mark: float | None = 0.5,
    ylabel: str = "error at $t = 1$",
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Draw the θ-method's error as a function of θ, on a logarithmic y-axis.

    Args:
        thetas: the values of θ, shape (n,).
        errors: the error for each θ, shape (n,), positive.
        mark: a θ to mark with a dotted vertical line (None: no line).
        ylabel: the y-axis label.
        ax: see the module docstring of `nodelib.course.plotting`.
        title: the title of the Axes.

    Returns:
        The Axes: one line of dots (and the vertical line at ``mark``), log y-axis.
    """
    ax = _axes(ax)
    ax.semilogy(_np(thetas), _np(errors), ".-")
    if mark is not None:
        ax.axvline(mark, color="gray", ls=":")
    _finish(ax, xlabel="θ", ylabel=ylabel, title=title, legend=False)
    return ax


def plot_theta_method(
    t: Any,
    ys: Any,
    exact: Any,
    t_fine: Any,
    exact_fine: Any,
    *,
    theta: float,
    h: float,
    ylim: tuple[float, float] = (-2.5, 2.5),
) -> Figure:
    """Draw a θ-method run: its trajectory over the exact one, and its global error.

    Args:
        t: the step grid, shape (n,), starting at t_0.
        ys: the θ-method's values on ``t``, shape (n,).
        exact: the exact solution on ``t``, shape (n,).
        t_fine, exact_fine: the exact solution on a fine grid, each of shape (m,).
        theta, h: the method's θ and step, for the legend.
        ylim: the y-range of the trajectory (a growing solution leaves it).

    Returns:
        A new Figure of two Axes: the trajectory (exact line, then the run), and the global
        error |y(t_n) - y_n| for n >= 1 on a log axis (floored at 1e-17 so that an exact value
        stays on the plot), titled with its largest value.
    """
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4))
    ax0.plot(_np(t_fine), _np(exact_fine), "k", lw=2, label="exact")
    ax0.plot(_np(t), _np(ys), "o-", ms=4, label=f"θ-method, θ = {theta:.2f}, h = {h:.3f}")
    ax0.set_ylim(*ylim)
    ax0.set_xlabel("$t$")
    ax0.set_ylabel("$y$")
    ax0.set_title("Trajectory")
    ax0.legend(loc="lower left")
    errors = np.maximum(np.abs(_np(ys) - _np(exact))[1:], 1e-17)
    ax1.semilogy(_np(t)[1:], errors, "o-", ms=4)
    ax1.set_xlabel("$t$")
    ax1.set_ylabel("$|y(t_n) - y_n|$")
    ax1.set_title(f"Global error (largest: {errors.max():.1e})")
    fig.tight_layout()
    return fig
