"""Plotting helpers shared by the chapters (matplotlib; safe under the Agg backend).

Trajectories and phase portraits, vector fields, 2-D densities and samples, a density's evolution
through a flow, stability regions of Runge–Kutta methods, learning curves. Every function draws
into the ``ax`` it is given (or a new figure), returns the Axes (or Figure), never calls
``plt.show``. Tensors are accepted wherever arrays are and are moved to the CPU first;
functions of tensors are called without gradients, in the dtype and on the device of their
parameters. :func:`stability_region_mask` returns the numbers behind the stability pictures.

Keywords shared by the functions (and so not repeated in their Args):
``ax`` (Axes to draw into; a new figure when None), ``xlim``/``ylim`` (the plotted ranges of
y_0 and y_1, or of Re z and Im z) and ``n`` (grid points per axis).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from nodelib.odeint import odeint
from nodelib.tableau import TABLEAUS, ButcherTableau

__all__ = [
    "phase_portrait",
    "plot_density_2d",
    "plot_density_evolution",
    "plot_learning_curves",
    "plot_samples",
    "plot_stability_region",
    "plot_trajectories",
    "plot_vector_field",
    "stability_region_mask",
]

Limits = tuple[float, float]
VectorField = Callable[[Tensor, Tensor], Tensor]


def _axes(ax: Axes | None) -> Axes:
    return plt.subplots()[1] if ax is None else ax


def _np(x: Any) -> np.ndarray:
    if isinstance(x, Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _dtype_device(f: Any) -> tuple[torch.dtype, torch.device]:
    # A module is evaluated in the dtype and on the device of its parameters.
    params = list(f.parameters()) if isinstance(f, torch.nn.Module) else []
    return (params[0].dtype, params[0].device) if params else (torch.float32, torch.device("cpu"))


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


def _as_series(history: Any) -> dict[str, list[float]]:
    # Lenient: a dict, a list of per-epoch dicts, an object with a dict `.history`, or an
    # object whose attributes are lists.
    if isinstance(history, Sequence) and history and isinstance(history[0], Mapping):
        history = {k: [row.get(k, np.nan) for row in history] for k in history[0]}
    if not isinstance(history, Mapping):
        inner = getattr(history, "history", None)
        history = inner if isinstance(inner, Mapping) else vars(history)
    series = {}
    for key, values in history.items():
        try:
            if isinstance(values, (str, bytes)):
                continue
            series[str(key)] = [float(v) for v in values]
        except (TypeError, ValueError):
            continue
    return {k: v for k, v in series.items() if v}


def plot_learning_curves(
    history: Any, *, keys: Sequence[str] | None = None, ax: Axes | None = None, logy: bool = False
) -> Axes:
    """Plot training curves, one line per recorded quantity.

    Args:
        history: a dict of lists, a list of per-step dicts, or an object with such a dict in
            ``.history`` or with list attributes (e.g. a dataclass). Entries that are not
            sequences of numbers (or 0-d tensors) are skipped. An "epoch"/"step"/"iteration"
            series is used as the x-axis.
        keys: the quantities to plot; default every numeric series except the x-axis.
        ax: see the module docstring.
        logy: logarithmic y-axis.

    Returns:
        The Axes, with one labelled line per key and a legend.

    Raises:
        ValueError: nothing to plot, or a requested key is missing.
    """
    series = _as_series(history)
    x_key = next((k for k in _X_KEYS if k in series), None)
    keys = [k for k in series if k != x_key] if keys is None else list(keys)
    missing = [k for k in keys if k not in series]
    if missing or not keys:
        raise ValueError(
            f"nothing to plot for keys {missing or keys}; numeric series found: {sorted(series)}"
        )
    ax = _axes(ax)
    for k in keys:
        y = series[k]
        x = series[x_key] if x_key and len(series[x_key]) == len(y) else range(len(y))
        ax.plot(list(x), y, label=k)
    ax.set(xlabel=x_key or "step", yscale="log" if logy else "linear")
    ax.legend()
    return ax
