"""Trajectories, phase portraits, vector fields, 2-D densities and samples, a flow's densities.

Every function draws into the ``ax`` it is given (or a new figure) and returns the Axes (or
Figure); see `nodelib.course.plotting` for the keywords they share.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from nodelib._types import VectorField
from nodelib.course.plotting._common import Limits, _axes, _dtype_device, _np
from nodelib.odeint import odeint

__all__ = [
    "phase_portrait",
    "plot_density_2d",
    "plot_density_evolution",
    "plot_samples",
    "plot_trajectories",
    "plot_vector_field",
]


def plot_trajectories(
    t: Any,
    ys: Any,
    *,
    ax: Axes | None = None,
    phase: bool = False,
    dims: Sequence[int] | None = None,
    **line_kwargs: Any,
) -> Axes:
    """Draw solution curves: each component against t, or a phase plot (y_0 against y_1).

    Args:
        t: times, shape (T,).
        ax: see the module docstring.
        ys: states, shape (T,), (T, dim) or (T, batch, dim), as returned by ``odeint``.
        phase: draw y[..., dims[0]] against y[..., dims[1]] (one line per batch member).
        dims: components to draw; default all (time plot) or (0, 1) (phase plot).
        **line_kwargs: passed to ``Axes.plot``.

    Returns:
        The Axes, with batch * len(dims) lines (time plot) or batch lines (phase plot).

    Raises:
        ValueError: ys has more than 3 dimensions or its length differs from t's.
    """
    t, ys = _np(t), _np(ys)
    if ys.ndim == 1:
        ys = ys[:, None]
    if ys.ndim == 2:
        ys = ys[:, None, :]  # (T, 1, dim)
    if ys.ndim != 3 or len(ys) != len(t):
        raise ValueError(
            f"ys must be (T,), (T, dim) or (T, batch, dim) with T = len(t) = "
            f"{len(t)}, got shape {ys.shape}"
        )
    ax = _axes(ax)
    if phase:
        i, j = dims if dims is not None else (0, 1)
        ax.plot(ys[:, :, i], ys[:, :, j], **line_kwargs)  # one line per column: (T, batch)
        ax.set(xlabel=f"$y_{i}$", ylabel=f"$y_{j}$")
        return ax
    dims = list(dims) if dims is not None else list(range(ys.shape[2]))
    ax.plot(t, ys[:, :, dims].reshape(len(t), -1), **line_kwargs)  # (T, batch * len(dims))
    ax.set(xlabel="$t$", ylabel="$y$")
    return ax


def _field_grid(
    f: VectorField, xlim: Limits, ylim: Limits, t: float, n: int
) -> tuple[np.ndarray, ...]:
    """(X, Y, U, V), each (n, n): f(t, y) on the grid, row i at Y = linspace(*ylim, n)[i]."""
    dtype, device = _dtype_device(f)
    X, Y = np.meshgrid(np.linspace(*xlim, n), np.linspace(*ylim, n))
    y = torch.as_tensor(np.stack([X.ravel(), Y.ravel()], axis=-1), dtype=dtype, device=device)
    with torch.no_grad():
        v = _np(f(torch.tensor(t, dtype=dtype, device=device), y)).reshape(n, n, 2)
    return X, Y, v[..., 0], v[..., 1]


def plot_vector_field(
    f: VectorField,
    xlim: Limits,
    ylim: Limits,
    *,
    t: float = 0.0,
    n: int = 20,
    ax: Axes | None = None,
    normalize: bool = False,
    stream: bool = False,
    **kwargs: Any,
) -> Axes:
    """Draw a 2-D vector field f(t, y) as arrows (quiver) or streamlines.

    Args:
        f: vector field f(t, y), y of shape (m, 2) (a torch function or module).
        xlim, ylim, n, ax: see the module docstring.
        t: the time at which f is drawn (non-autonomous fields change with t).
        normalize: draw unit arrows (direction only), colour by speed.
        stream: streamlines instead of arrows.
        **kwargs: passed to ``Axes.quiver`` or ``Axes.streamplot``.

    Returns:
        The Axes (one Quiver collection added, or the streamlines).
    """
    X, Y, U, V = _field_grid(f, xlim, ylim, t, n)
    ax = _axes(ax)
    speed = np.hypot(U, V)
    if stream:
        ax.streamplot(X, Y, U, V, color=kwargs.pop("color", speed), **kwargs)
    elif normalize:
        scale = np.where(speed > 0, speed, 1.0)
        ax.quiver(X, Y, U / scale, V / scale, speed, **kwargs)
    else:
        ax.quiver(X, Y, U, V, **kwargs)
    ax.set(xlim=xlim, ylim=ylim, aspect="equal")
    return ax


def phase_portrait(
    f: VectorField,
    xlim: Limits,
    ylim: Limits,
    *,
    y0: Any = None,
    t_end: float = 5.0,
    n_times: int = 200,
    n: int = 20,
    ax: Axes | None = None,
    method: str = "dopri5",
) -> Axes:
    """Phase portrait of an autonomous 2-D system: the field and trajectories through it.

    Args:
        f: vector field f(t, y), y of shape (m, 2).
        xlim, ylim, n, ax: see the module docstring (n arrows per axis).
        y0: initial states (m, 2); default a 4 x 4 grid inside the ranges.
        t_end, n_times, method: trajectories are solved by ``nodelib.odeint`` with ``method``
            at n_times times in [0, t_end].

    Returns:
        The Axes, with one quiver and one line per initial state.
    """
    ax = plot_vector_field(f, xlim, ylim, n=n, ax=ax, normalize=True, cmap="Greys", alpha=0.6)
    dtype, device = _dtype_device(f)
    if y0 is None:
        g = np.stack(np.meshgrid(np.linspace(*xlim, 6)[1:-1], np.linspace(*ylim, 6)[1:-1]), -1)
        y0 = g.reshape(-1, 2)
    y0 = torch.as_tensor(_np(y0), dtype=dtype, device=device)
    ts = torch.linspace(0.0, t_end, n_times, dtype=dtype, device=device)
    with torch.no_grad():
        ys = odeint(f, y0, ts, method=method, rtol=1e-6, atol=1e-8)  # (T, m, 2)
    plot_trajectories(ts, ys, ax=ax, phase=True, color="C0", lw=1.2)
    ax.set(xlim=xlim, ylim=ylim)
    return ax


def _log_density_grid(
    log_prob: Callable[[Tensor], Tensor], xlim: Limits, ylim: Limits, n: int
) -> np.ndarray:
    """(n, n) log-densities; row i at y = linspace(*ylim, n)[i], column j at x[j]."""
    dtype, device = _dtype_device(log_prob)
    X, Y = np.meshgrid(np.linspace(*xlim, n), np.linspace(*ylim, n))
    pts = torch.as_tensor(np.stack([X.ravel(), Y.ravel()], -1), dtype=dtype, device=device)
    with torch.no_grad():
        return _np(log_prob(pts)).reshape(n, n)


def plot_density_2d(
    density: Callable[[Tensor], Tensor] | Any,
    *,
    xlim: Limits = (-4.0, 4.0),
    ylim: Limits = (-4.0, 4.0),
    n: int = 200,
    log: bool = False,
    ax: Axes | None = None,
    cmap: str = "viridis",
) -> Axes:
    """Draw a 2-D density as an image.

    Args:
        density: a log-density function ((m, 2) -> (m,)) or a grid of log-densities (ny, nx)
            over xlim x ylim, row i at y = linspace(*ylim, ny)[i].
        xlim, ylim, n, ax: see the module docstring (n used for a function).
        log, cmap: show log p instead of p; the colour map.

    Returns:
        The Axes, holding one image.

    Raises:
        ValueError: a grid that is not 2-D.
    """
    grid = _log_density_grid(density, xlim, ylim, n) if callable(density) else _np(density)
    if grid.ndim != 2:
        raise ValueError(f"a density grid must be 2-D (ny, nx), got shape {grid.shape}")
    ax = _axes(ax)
    ax.imshow(
        grid if log else np.exp(grid),
        origin="lower",
        extent=(*xlim, *ylim),
        cmap=cmap,
        aspect="equal",
    )
    return ax


def plot_samples(
    x: Any,
    *,
    ax: Axes | None = None,
    xlim: Limits | None = None,
    ylim: Limits | None = None,
    bins: int | None = None,
    s: float = 2.0,
    alpha: float = 0.5,
    **kwargs: Any,
) -> Axes:
    """Scatter plot (or 2-D histogram when ``bins``) of points of the plane.

    Args:
        x: points (m, 2).
        ax, xlim, ylim: see the module docstring (default ranges: from the data).
        bins: draw a histogram with bins x bins cells over xlim x ylim instead of dots.
        s, alpha: marker size and opacity of the dots.
        **kwargs: passed to ``Axes.scatter`` or ``Axes.hist2d``.

    Returns:
        The Axes (one PathCollection, or one histogram image).

    Raises:
        ValueError: x is not (m, 2).
    """
    x = _np(x)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"x must have shape (m, 2), got {x.shape}")
    ax = _axes(ax)
    if bins is not None:
        rng = [xlim, ylim] if xlim is not None and ylim is not None else None
        ax.hist2d(x[:, 0], x[:, 1], bins=bins, range=rng, **kwargs)
    else:
        ax.scatter(x[:, 0], x[:, 1], s=s, alpha=alpha, **kwargs)
    ax.set(xlim=xlim, ylim=ylim, aspect="equal")  # None leaves a limit as it is
    return ax


def plot_density_evolution(
    frames: Sequence[Any],
    *,
    times: Sequence[float] | None = None,
    xlim: Limits = (-4.0, 4.0),
    ylim: Limits = (-4.0, 4.0),
    n: int = 100,
    size: float = 2.5,
) -> Figure:
    """A row of panels showing a density carried through a flow, one panel per time.

    Args:
        frames: per time either samples (m, 2), a log-density grid (ny, nx) or a log-density
            function (see :func:`plot_density_2d`).
        times: titles "t = ..." of the panels.
        xlim, ylim, n: see the module docstring (n used for function frames).
        size: panel size in inches.

    Returns:
        The Figure, with len(frames) Axes.

    Raises:
        ValueError: no frames, or times of another length.
    """
    if len(frames) == 0 or (times is not None and len(times) != len(frames)):
        raise ValueError("need at least one frame and, if given, one time per frame")
    fig, axes = plt.subplots(1, len(frames), figsize=(size * len(frames), size), squeeze=False)
    for k, (frame, ax) in enumerate(zip(frames, axes[0], strict=True)):
        is_samples = not callable(frame) and _np(frame).ndim == 2 and _np(frame).shape[1] == 2
        if is_samples:
            plot_samples(frame, ax=ax, xlim=xlim, ylim=ylim)
        else:
            plot_density_2d(frame, ax=ax, xlim=xlim, ylim=ylim, n=n)
        ax.set(xticks=[], yticks=[], title="" if times is None else f"t = {times[k]:g}")
    return fig
