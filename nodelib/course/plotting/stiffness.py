"""The figures of chapter 2 on stiffness: |R(z)| of an implicit method, a stiff problem's steps.

The modulus of a stability function over the complex plane (with its zeros and poles), the
steps of an explicit and an implicit solver on a stiff problem, and LSODA's switch between
method families. Each function draws numbers the chapter computed and solves nothing itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from nodelib.course.plotting._common import Limits, _axes, _np

__all__ = ["plot_lsoda_switch", "plot_modulus", "plot_stiff_steps"]

ComplexFunction = Callable[[np.ndarray], np.ndarray]
Series = Mapping[str, Any]  # a legend label -> a 1-D array


def plot_modulus(
    R: ComplexFunction,
    *,
    zeros: Any = (),
    poles: Any = (),
    xlim: Limits = (-8.0, 8.0),
    ylim: Limits = (-5.0, 5.0),
    n: int = 400,
    clip: float = 1.5,
    ax: Axes | None = None,
) -> Axes:
    """log10 |R(z)| in colour (clipped to ±clip), the curve |R| = 1, zeros (o) and poles (x).

    Args:
        R: the function, complex array -> complex array.
        zeros, poles: complex points to mark, shape (k,).
        xlim, ylim, n, ax: see the package docstring.
        clip: the colour scale's range in decades.

    Returns:
        The Axes (with a colour bar).
    """
    ax = _axes(ax)
    x, y = np.meshgrid(np.linspace(*xlim, n), np.linspace(*ylim, n))
    with np.errstate(all="ignore"):
        log_abs = np.log10(np.abs(R(x + 1j * y)))
    levels = np.linspace(-clip, clip, 13)
    cs = ax.contourf(x, y, np.clip(log_abs, -clip, clip), levels=levels, cmap="RdBu_r")
    ax.contour(x, y, log_abs, levels=[0.0], colors="k", linewidths=1.2)
    zeros, poles = _np(zeros).astype(complex), _np(poles).astype(complex)
    ax.plot(zeros.real, zeros.imag, "wo", mec="k", label="zeros")
    ax.plot(poles.real, poles.imag, "kx", ms=9, label="poles")
    ax.figure.colorbar(cs, ax=ax, label=r"$\log_{10} |R(z)|$")
    ax.set(xlabel="Re $z$", ylabel="Im $z$")
    ax.legend(fontsize=8, loc="lower left")
    return ax


def plot_stiff_steps(
    t: Any, exact: Any, fixed: Any, t_steps: Any, h_steps: Any, *, h_limit: float,
    h_fixed: float, names: tuple[str, str] = ("adaptive", "fixed"),
) -> Figure:  # fmt: skip
    """A stiff problem: a fixed-step solution (left); an adaptive solver's steps (right).

    Args:
        t: output times, shape (n,).
        exact, fixed: the exact and the fixed-step solution's first component, shape (n,).
        t_steps, h_steps: start and size of the adaptive solver's accepted steps, shape (m,).
        h_limit: the adaptive method's stability limit, a dashed red line.
        h_fixed: the fixed step, a dotted line.
        names: the adaptive and the fixed-step method's names.

    Returns:
        The Figure.
    """
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.plot(_np(t), _np(exact), "k-", lw=1, label="exact $y_0$")
    ax1.plot(_np(t), _np(fixed), "C1o", ms=3, label=f"{names[1]}, $h = {h_fixed:g}$")
    ax1.set(xlabel="$t$", ylabel="$y_0(t)$", title="The solution, smooth after a transient")
    ax2.semilogy(_np(t_steps), _np(h_steps), lw=0.8, label=f"{names[0]} accepted steps")
    ax2.axhline(h_limit, color="C3", ls="--", label=f"stability limit {h_limit:.3e}")
    ax2.axhline(h_fixed, color="C1", ls=":", label=f"{names[1]} step")
    title = f"{names[0]} is held at its stability limit"
    ax2.set(xlabel="$t$", ylabel="step size $h$", title=title)
    for ax in (ax1, ax2):
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_lsoda_switch(
    t: Any,
    ys: Series,
    times: Any,
    sizes: Any,
    family: Any | None,
    *,
    switch: float,
    title: str = "The solution",
) -> Figure:
    """Concentrations against log t (left); LSODA's steps, coloured by family (right).

    Args:
        t: times of the dense solution, shape (m,).
        ys: label -> component (already scaled), shape (m,).
        times, sizes: end and size of each LSODA step, shape (n,).
        family: 1 (Adams) or 2 (BDF) per step, shape (n,); None when unknown.
        switch: the time of the first BDF step, a dashed line.
        title: the left panel's title.

    Returns:
        The Figure.
    """
    times, sizes = _np(times), _np(sizes)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for label, y in ys.items():
        ax1.semilogx(_np(t), _np(y), label=label)
    ax1.set(xlabel="$t$", ylabel="concentration", title=title)
    if family is None:
        ax2.loglog(times, sizes, ".", color="C0", label="LSODA steps")
        ax2.set_title("LSODA's steps")
    else:
        for code, label, color in ((1, "Adams (non-stiff)", "C0"), (2, "BDF (stiff)", "C3")):
            mask = _np(family) == code
            ax2.loglog(times[mask], sizes[mask], ".", color=color, label=label)
        ax2.axvline(switch, color="k", lw=0.6, ls="--")
        ax2.set_title("LSODA switches from Adams to BDF")
    ax2.set(xlabel="$t$", ylabel="step size $h$")
    for ax in (ax1, ax2):
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
