"""Spirals for latent ODEs (Chen et al., "Neural Ordinary Differential Equations", 2018, §5.1).

- :func:`make_spirals`: random-phase Archimedean spirals on one grid, each observed at its
  own random times (the course's own small set).
- :func:`make_spiral_windows`: the authors' protocol (torchdiffeq's ``examples/latent_ode.py``,
  ``generate_spiral2d``): two fixed spirals, one clockwise and one counter-clockwise around
  different centres, from which every series is a window cut at a random offset, observed at
  a random subset of its times; the points after the window are for extrapolation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

# ---------------------------------------------------------------------------------------------
# Spirals (Chen et al. 2018, Sect. 5.1)
# The Archimedean spiral r = a + b theta traversed at angular speed w: the flow of the ODE
# r' = b w, theta' = +-w in polar coordinates, so a latent ODE can represent it exactly.
_SPIRAL_A, _SPIRAL_B, _SPIRAL_T_END = 0.5, 0.15, 4 * math.pi


@dataclass
class SpiralData:
    """Noisy spirals on a common time grid, each observed at its own irregular subset of times.

    Attributes:
        t: (T,) common time grid.
        y_true: (N, T, 2) noiseless trajectories.
        y: (N, T, 2) noisy observations (noise added at every grid time; use ``mask``).
        mask: (N, T) bool, True at the grid times at which each spiral is observed.
        clockwise: (N,) bool, the direction of each spiral.
    """

    t: Tensor
    y_true: Tensor
    y: Tensor
    mask: Tensor
    clockwise: Tensor


def make_spirals(
    n_spirals: int = 100,
    *,
    n_times: int = 100,
    n_observed: int = 30,
    noise: float = 0.1,
    seed: int = 0,
) -> SpiralData:
    """Spirals as in the latent-ODE experiment of Chen et al. (2018), Sect. 5.1.

    Every spiral follows the Archimedean spiral r = 0.5 + 0.15 theta with angular speed 1, i.e.
    solves r' = 0.15, theta' = 1 (counter-clockwise) or the mirror image y -> (y_1, -y_2)
    (clockwise), for t in [0, 4 pi]. Each starts at its own angle theta_0 ~ U[0, 2 pi), so at
    its own point. Half of them (rounded down, at random positions) are clockwise. Each is
    observed at ``n_observed`` distinct grid times drawn at random (``mask``).

    Args:
        n_spirals: number of trajectories N (>= 1).
        n_times: number of grid times T (>= 2).
        n_observed: observed times per trajectory, 1 <= n_observed <= n_times.
        noise: standard deviation of the Gaussian observation noise (>= 0).
        seed: seed of the random draws.

    Returns:
        A :class:`SpiralData` (float32 tensors).

    Raises:
        ValueError: a size or the noise is out of range.
    """
    if n_spirals < 1 or n_times < 2 or not 1 <= n_observed <= n_times or noise < 0:
        raise ValueError(
            "need n_spirals >= 1, n_times >= 2, 1 <= n_observed <= n_times and "
            f"noise >= 0; got {n_spirals}, {n_times}, {n_observed}, {noise}"
        )
    g = torch.Generator().manual_seed(seed)
    t = torch.linspace(0.0, _SPIRAL_T_END, n_times, dtype=torch.float64)  # (T,)
    theta0 = 2 * math.pi * torch.rand(n_spirals, 1, generator=g, dtype=torch.float64)
    theta = theta0 + t  # (N, T)
    r = _SPIRAL_A + _SPIRAL_B * theta
    clockwise = torch.zeros(n_spirals, dtype=torch.bool)
    clockwise[torch.randperm(n_spirals, generator=g)[: n_spirals // 2]] = True
    sign = torch.where(clockwise, -1.0, 1.0).to(torch.float64)[:, None]  # (N, 1)
    y_true = torch.stack([r * torch.cos(theta), sign * r * torch.sin(theta)], dim=-1)
    y = y_true + noise * torch.randn(y_true.shape, generator=g, dtype=torch.float64)
    # n_observed distinct times per spiral: the smallest keys of a random permutation.
    order = torch.rand(n_spirals, n_times, generator=g).argsort(dim=1)[:, :n_observed]
    mask = torch.zeros(n_spirals, n_times, dtype=torch.bool).scatter_(1, order, True)
    return SpiralData(t.float(), y_true.float(), y.float(), mask, clockwise)


# ---------------------------------------------------------------------------------------------
# The authors' protocol: windows of two fixed spirals
# generate_spiral2d with stop = 6 pi, a = 0, b = 0.3: on the grid s in [0, 6 pi] the
# counter-clockwise spiral has radius b s at angle s around (+5, 0); the clockwise one has
# radius 50 b / theta at angle theta = 6 pi + 1 - s around (-5, 0).
_PAIR_END, _PAIR_B, _PAIR_CENTRE = 6 * math.pi, 0.3, 5.0


@dataclass
class SpiralWindows(SpiralData):
    """Windows of two fixed spirals (`make_spiral_windows`); the fields of `SpiralData` and

    Attributes:
        start: (N,) long, the index of each window's first point on its spiral's grid.
        n_window: the grid times t[:n_window] form the observation window; the mask is False
            at every later time, which is kept for extrapolation.
    """

    start: Tensor
    n_window: int


def spiral_pair(n_total: int = 500) -> tuple[Tensor, Tensor, Tensor]:
    """The two spirals of the authors' script, sampled at `n_total` equally spaced times.

    Returns:
        s (n_total,) the times in [0, 6 pi], and the counter-clockwise and the clockwise
        spirals, each (n_total, 2), float64.

    Raises:
        ValueError: n_total < 2.
    """
    if n_total < 2:
        raise ValueError(f"n_total must be >= 2, got {n_total}")
    s = torch.linspace(0.0, _PAIR_END, n_total, dtype=torch.float64)
    theta_cw = _PAIR_END + 1 - s
    r_ccw, r_cw = _PAIR_B * s, 50 * _PAIR_B / theta_cw
    ccw = torch.stack([r_ccw * torch.cos(s) + _PAIR_CENTRE, r_ccw * torch.sin(s)], dim=-1)
    cw = torch.stack([r_cw * torch.cos(theta_cw) - _PAIR_CENTRE, r_cw * torch.sin(theta_cw)], -1)
    return s, ccw, cw


def make_spiral_windows(
    n_series: int = 1000,
    *,
    n_window: int = 100,
    n_extrapolate: int = 100,
    n_observed: int = 30,
    n_total: int = 500,
    noise: float = 0.3,
    seed: int = 0,
) -> SpiralWindows:
    """The bi-directional spiral data of Chen et al. (2018), §5.1, by the authors' protocol.

    As in torchdiffeq's ``examples/latent_ode.py``: each series picks one of the two fixed
    spirals of `spiral_pair` (clockwise with probability 1/2) and a window of `n_window`
    consecutive grid points starting at a uniform index in [n_window, n_total - n_window -
    n_extrapolate], followed by the `n_extrapolate` points to predict. With n_extrapolate = 0
    (a training set) this is the script's range, which keeps windows off the tight centre;
    a test set with n_extrapolate > 0 starts early enough that its points to predict exist,
    and so lie in the span that training windows cover: all windows come from the same two
    curves, so the future of one series lies in the windows of others. Gaussian noise is
    added to every point; `n_observed` of the window's points, drawn without replacement
    per series, are observed (the paper's irregular times, n = 30, 50 or 100). Every series
    gets the times t = s[:n_window + n_extrapolate], starting at 0, as the script does (the
    dynamics are autonomous).

    Args:
        n_series: the number of series N (>= 1).
        n_window: the points of the observation window (>= 2).
        n_extrapolate: the points after it (>= 0).
        n_observed: observed points per window, 1 <= n_observed <= n_window.
        n_total: the grid points of each whole spiral, >= 2 n_window + n_extrapolate.
        noise: the standard deviation of the observation noise (>= 0; the script's 0.3).
        seed: the seed of every random draw.

    Returns:
        A `SpiralWindows` with t (T,), y_true, y (N, T, 2), mask (N, T), clockwise (N,),
        start (N,), T = n_window + n_extrapolate (float32 tensors).

    Raises:
        ValueError: a size or the noise out of range.
    """
    if (
        n_series < 1
        or n_window < 2
        or n_extrapolate < 0
        or not 1 <= n_observed <= n_window
        or n_total < 2 * n_window + n_extrapolate
        or noise < 0
    ):
        raise ValueError(
            "need n_series >= 1, n_window >= 2, n_extrapolate >= 0, 1 <= n_observed <= "
            "n_window, n_total >= 2 n_window + n_extrapolate and noise >= 0; got "
            f"{n_series}, {n_window}, {n_extrapolate}, {n_observed}, {n_total}, {noise}"
        )
    g = torch.Generator().manual_seed(seed)
    s, ccw, cw = spiral_pair(n_total)
    length = n_window + n_extrapolate
    start = torch.randint(n_window, n_total - length + 1, (n_series,), generator=g)
    clockwise = torch.rand(n_series, generator=g) < 0.5
    idx = start[:, None] + torch.arange(length)  # (N, T)
    y_true = torch.where(clockwise[:, None, None], cw[idx], ccw[idx])  # (N, T, 2)
    y = y_true + noise * torch.randn(y_true.shape, generator=g, dtype=torch.float64)
    order = torch.rand(n_series, n_window, generator=g).argsort(dim=1)[:, :n_observed]
    mask = torch.zeros(n_series, length, dtype=torch.bool).scatter_(1, order, True)
    return SpiralWindows(
        s[:length].float(), y_true.float(), y.float(), mask, clockwise, start, n_window
    )
