"""Stability regions of Runge–Kutta methods (and anything with an amplification factor)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from matplotlib.axes import Axes

from nodelib.course.plotting._common import Limits, _axes
from nodelib.tableau import TABLEAUS, ButcherTableau

__all__ = ["plot_stability_region", "stability_region_mask"]


def stability_region_mask(
    method: ButcherTableau | str | Callable[[np.ndarray], np.ndarray],
    xlim: Limits = (-5.0, 2.0),
    ylim: Limits = (-3.5, 3.5),
    *,
    n: int = 400,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where |R(z)| <= 1 on a grid of the complex plane (HNW II, Sect. IV.2).

    Args:
        method: a ``ButcherTableau``, a name in ``nodelib.tableau.TABLEAUS``, or R itself
            (complex array -> complex array).
        xlim, ylim, n: see the module docstring.

    Returns:
        (re, im, inside): re (n,), im (n,), inside (n, n) bool with inside[i, j] for
        z = re[j] + 1j * im[i]; poles (inf or nan) count as outside.

    Raises:
        ValueError: an unknown method name.
    """
    if isinstance(method, str):
        if method not in TABLEAUS:
            raise ValueError(f"unknown method {method!r}; choose one of {sorted(TABLEAUS)}")
        method = TABLEAUS[method]
    R = method.stability_function if isinstance(method, ButcherTableau) else method
    re, im = np.linspace(*xlim, n), np.linspace(*ylim, n)
    z = re[None, :] + 1j * im[:, None]
    with np.errstate(all="ignore"):
        absR = np.abs(np.asarray(R(z)))
    return re, im, np.isfinite(absR) & (absR <= 1.0)


def plot_stability_region(
    method: ButcherTableau | str | Callable[[np.ndarray], np.ndarray],
    *,
    xlim: Limits = (-5.0, 2.0),
    ylim: Limits = (-3.5, 3.5),
    n: int = 400,
    ax: Axes | None = None,
    color: str = "C0",
    alpha: float = 0.35,
    label: str | None = None,
) -> Axes:
    """Fill the stability region {z : |R(z)| <= 1} of a method, with the real and imaginary axes.

    Args:
        method: as for :func:`stability_region_mask`.
        xlim, ylim, n, ax: see the module docstring (several regions can share one ax).
        color, alpha: fill colour and opacity.
        label: legend entry; default the tableau's name.

    Returns:
        The Axes.
    """
    re, im, inside = stability_region_mask(method, xlim, ylim, n=n)
    ax = _axes(ax)
    ax.contourf(re, im, inside.astype(float), levels=[0.5, 1.5], colors=[color], alpha=alpha)
    ax.contour(re, im, inside.astype(float), levels=[0.5], colors=[color], linewidths=1.0)
    if label is None:
        label = method if isinstance(method, str) else getattr(method, "name", None)
    ax.fill([], [], color=color, alpha=alpha, label=label)  # legend proxy
    ax.axhline(0.0, color="k", lw=0.6)
    ax.axvline(0.0, color="k", lw=0.6)
    ax.set(xlabel="Re $z$", ylabel="Im $z$", aspect="equal")
    return ax


_X_KEYS = ("epoch", "epochs", "step", "steps", "iteration", "iterations", "iter")
