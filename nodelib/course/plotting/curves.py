"""Learning curves, and results over several seeds drawn as a mean with a min-max band."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes

from nodelib.course.plotting._common import _axes, _np

__all__ = ["plot_learning_curves", "plot_spread"]


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


def plot_spread(
    ax: Axes, x: Sequence[float] | Any, values: Any, *, seed_dim: int = -1, **kwargs: Any
) -> Axes:
    """Draw a result over several seeds: the mean as a line, the min-to-max range as a band.

    Args:
        ax: the Axes to draw into.
        x: the abscissae, shape (n,).
        values: the results, shape (n, seeds) (or (seeds, n) with ``seed_dim=0``); a tensor
            or an array.
        seed_dim: the axis of `values` that runs over the seeds.
        **kwargs: passed to ``ax.plot`` for the mean line (label, marker, ...); the band
            takes the line's colour.

    Returns:
        The Axes.

    Raises:
        ValueError: `values` is not 2-D or its other axis does not match `x`.
    """
    v = _np(values)
    if v.ndim != 2:
        raise ValueError(f"values must be 2-D (points, seeds), got shape {v.shape}.")
    v = np.moveaxis(v, seed_dim, -1)  # (n, seeds)
    xs = _np(x)
    if v.shape[0] != len(xs):
        raise ValueError(
            f"values has {v.shape[0]} points along the non-seed axis but x has {len(xs)}; "
            "pass seed_dim=0 if the seeds run along the first axis."
        )
    (line,) = ax.plot(xs, v.mean(-1), **kwargs)
    ax.fill_between(xs, v.min(-1), v.max(-1), color=line.get_color(), alpha=0.2, lw=0)
    return ax
