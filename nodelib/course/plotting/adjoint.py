"""The figures of chapter 5: the adjoint method and automatic differentiation.

Finite-difference errors against the step, the cost ratio of direct sensitivities to the
adjoint against the number of parameters, the adjoint state of a boundary-value problem, the
cost of forward and reverse automatic differentiation against the number of inputs, gradient
errors against the solver tolerance, and the memory autograd keeps against the number of
steps. Each function takes numbers the chapter computed and only draws them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from nodelib.course.plotting._common import _axes, _np

__all__ = [
    "plot_adjoint_memory",
    "plot_adjoint_state",
    "plot_cost_ratio",
    "plot_difference_errors",
    "plot_mode_costs",
    "plot_tolerance_errors",
]


def plot_difference_errors(
    eps: Any, forward: Any, central: Any, *, u: float, ax: Axes | None = None
) -> Axes:
    """Errors of forward and central differences against the step, on log–log axes.

    Args:
        eps: the steps, shape (n,).
        forward: the errors of the forward difference at each step, shape (n,).
        central: the errors of the central difference at each step, shape (n,).
        u: the unit round-off; dotted vertical lines mark sqrt(u) and u^(1/3), the steps
            where truncation and round-off balance.
        ax: see the package docstring.

    Returns:
        The Axes: two lines (forward, central) and the two vertical markers, with a legend.
    """
    ax = _axes(ax)
    ax.loglog(_np(eps), _np(forward), ".-", label="forward difference")
    ax.loglog(_np(eps), _np(central), ".-", label="central difference")
    ax.axvline(u**0.5, color="C0", ls=":", label=r"$\sqrt{u}$")
    ax.axvline(u ** (1 / 3), color="C1", ls=":", label=r"$u^{1/3}$")
    ax.set_xlabel(r"step $\varepsilon$")
    ax.set_ylabel(r"error in $f'(1)$")
    ax.set_title(r"Finite differences of $e^x \sin x$: truncation against round-off")
    ax.legend()
    return ax


def plot_cost_ratio(n_params: Any, ratios: Mapping[str, Any], *, ax: Axes | None = None) -> Axes:
    """The cost of the direct method over that of the adjoint, against the number of parameters.

    Args:
        n_params: the numbers of parameters P, shape (m,).
        ratios: one curve per label (e.g. ``"N = 100"``): the cost ratio at each P, shape (m,).
        ax: see the package docstring.

    Returns:
        The Axes, log–log, one line per label, a dotted line at ratio 1 (equal costs), a
        legend.

    Raises:
        ValueError: a curve's length differs from that of ``n_params``.
    """
    ax = _axes(ax)
    x = _np(n_params)
    for label, ratio in ratios.items():
        y = _np(ratio)
        if y.shape != x.shape:
            raise ValueError(f"curve {label!r} has shape {y.shape}, P has shape {x.shape}.")
        ax.loglog(x, y, "o-", ms=3, label=label)
    ax.axhline(1.0, color="gray", ls=":", label="equal cost")
    ax.set_xlabel("number of parameters P")
    ax.set_ylabel("cost of direct / cost of adjoint")
    ax.set_title("Operation counts: P solves against one, after one factorisation")
    ax.legend()
    return ax


def plot_adjoint_state(
    xs: Any, u: Any, u_target: Any, gradient: Any, *, x_checked: Any, checked: Any
) -> Figure:
    """The state of a boundary-value problem beside its adjoint gradient, two panels.

    Args:
        xs: the grid points, shape (N,).
        u: the computed state, shape (N,).
        u_target: the target state, shape (N,).
        gradient: the adjoint gradient dg/dp at each grid point, shape (N,).
        x_checked: the grid points checked by finite differences, shape (k,).
        checked: the finite-difference gradients there, shape (k,), drawn as points.

    Returns:
        The Figure, whose left Axes holds the state and the target (two lines) and whose
        right Axes holds the gradient (a line) and the checked values (points).
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    left.plot(_np(xs), _np(u), label="u (solution)")
    left.plot(_np(xs), _np(u_target), "--", label="u* (target)")
    left.set_xlabel("x")
    left.set_title("State")
    left.legend()
    right.plot(_np(xs), _np(gradient), label=r"adjoint: $dg/dp = \lambda$")
    right.plot(_np(x_checked), _np(checked), "o", label="central differences")
    right.set_xlabel("x")
    right.set_title(r"Gradient of $g$ with respect to the source $p(x)$")
    right.legend()
    return fig


def plot_mode_costs(
    sizes: Sequence[int],
    forward: Sequence[float],
    reverse: Sequence[float],
    *,
    n_max: int | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Time of a gradient by forward and by reverse mode against the number of inputs.

    Args:
        sizes: the numbers of inputs n, increasing, length m.
        forward: the seconds forward mode took at each size, length m.
        reverse: the seconds reverse mode took at each size, length m.
        n_max: draw only the sizes up to this one (all when None).
        ax: see the package docstring.

    Returns:
        The Axes, log–log, with one line per mode and a legend.

    Raises:
        ValueError: the three sequences differ in length, or no size is at most ``n_max``.
    """
    if not len(sizes) == len(forward) == len(reverse):
        raise ValueError("sizes, forward and reverse must have the same length.")
    shown = [k for k, n in enumerate(sizes) if n_max is None or n <= n_max]
    if not shown:
        raise ValueError(f"no size is at most n_max = {n_max}.")
    ax = _axes(ax)
    x = [sizes[k] for k in shown]
    ax.loglog(x, [forward[k] for k in shown], "o-", label="forward mode (n passes)")
    ax.loglog(x, [reverse[k] for k in shown], "s-", label="reverse mode (1 pass + sweep)")
    ax.set_xlabel("number of inputs n")
    ax.set_ylabel("CPU seconds for the gradient")
    ax.set_title("Gradient of a scalar function: forward against reverse mode")
    ax.legend()
    return ax


def plot_tolerance_errors(
    rtols: Sequence[float],
    err_adjoint: Sequence[float],
    err_backprop: Sequence[float],
    *,
    fd_error: float,
    fd_step: float,
    ax: Axes | None = None,
) -> Axes:
    """Relative gradient errors of the adjoint and of backpropagation against the tolerance.

    Args:
        rtols: the relative tolerances, length m.
        err_adjoint: the errors of ``odeint_adjoint`` at each tolerance, length m.
        err_backprop: the errors of backpropagation through ``odeint``, length m.
        fd_error: the error of the best central difference, drawn as a horizontal line.
        fd_step: the step of that central difference (for the legend).
        ax: see the package docstring.

    Returns:
        The Axes, log–log, the tolerance axis inverted (tighter to the right), two lines,
        the horizontal reference and a legend.
    """
    ax = _axes(ax)
    ax.loglog(rtols, err_adjoint, "o-", label="adjoint (odeint_adjoint)")
    ax.loglog(rtols, err_backprop, "s--", label="backprop through odeint")
    ax.axhline(fd_error, color="gray", ls=":", label=f"central differences, step {fd_step:g}")
    ax.set_xlabel("rtol (atol = rtol / 100)")
    ax.set_ylabel("relative error of dg/dp")
    ax.set_title(r"Gradient error against the closed form, $y' = A(p)\,y$")
    ax.invert_xaxis()
    ax.legend()
    return ax


def plot_adjoint_memory(
    steps: Sequence[int],
    backprop: Sequence[float],
    adjoint: Sequence[float],
    *,
    ax: Axes | None = None,
) -> Axes:
    """Bytes autograd keeps for the backward pass against the number of solver steps.

    On log–log axes memory in proportion to the steps is a line of slope 1 and memory
    independent of them a horizontal line (slope 0); a dotted guide of slope 1 starts at
    twice the first backpropagation point. The steps label the horizontal axis.

    Args:
        steps: the numbers of steps, increasing, length m.
        backprop: the bytes kept by backpropagation through the solver, length m.
        adjoint: the bytes kept by the adjoint method, length m.
        ax: see the package docstring.

    Returns:
        The Axes, log–log, in KiB: two measured lines, the slope-1 guide and a legend.
    """
    ax = _axes(ax)
    x = np.asarray(steps, dtype=float)
    kib_backprop = np.asarray(backprop, dtype=float) / 1024
    kib_adjoint = np.asarray(adjoint, dtype=float) / 1024
    ax.loglog(x, kib_backprop, "o-", label="backprop through odeint")
    ax.loglog(x, kib_adjoint, "s-", label="odeint_adjoint")
    # The guide runs parallel to a slope-1 line, above the measured one so that both show.
    ax.loglog(x, 2 * kib_backprop[0] * x / x[0], color="gray", ls=":", label="slope 1")
    ax.set_xticks(x, [f"{s:g}" for s in x], minor=False)
    ax.set_xticks([], minor=True)  # the default minor labels of a short log axis overlap
    ax.set_xlabel("rk4 steps")
    ax.set_ylabel("KiB saved for the backward pass")
    ax.set_title("Memory of the two gradients: slope 1 against slope 0")
    ax.legend()
    return ax
