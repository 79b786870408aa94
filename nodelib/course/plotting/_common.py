"""Private helpers shared by the plotting modules: axes, arrays, a module's dtype and device."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from torch import Tensor

Limits = tuple[float, float]


def _axes(ax: Axes | None, figsize: tuple[float, float] | None = None) -> Axes:
    return plt.subplots(figsize=figsize)[1] if ax is None else ax


def _running_mean(values: np.ndarray, window: int) -> np.ndarray:
    """The mean of the last `window` values (of all so far, at the start), along the last axis."""
    cumulative = np.cumsum(values, axis=-1)
    total = cumulative.copy()
    total[..., window:] -= cumulative[..., :-window]
    return total / np.minimum(np.arange(1, values.shape[-1] + 1), window)


def _np(x: Any) -> np.ndarray:
    if isinstance(x, Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _dtype_device(f: Any) -> tuple[torch.dtype, torch.device]:
    # A module is evaluated in the dtype and on the device of its parameters.
    params = list(f.parameters()) if isinstance(f, torch.nn.Module) else []
    return (params[0].dtype, params[0].device) if params else (torch.float32, torch.device("cpu"))
