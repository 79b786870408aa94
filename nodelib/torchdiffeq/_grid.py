"""torchdiffeq's `grid_constructor`: solve at the grid's points, read the outputs off them."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from nodelib._types import State, UserField
from nodelib.interpolate import hermite


def on_grid(solve: Callable, func: UserField, y0: State, t: Tensor, grid_constructor, opts):
    """Solve at the points of grid_constructor(func, y0, t); read the outputs at t off them."""
    interp = opts.pop("interp", "linear")
    grid = grid_constructor(func, y0, t)
    if not isinstance(grid, Tensor) or grid.dim() != 1 or len(grid) < 2:
        raise ValueError("grid_constructor must return a 1-D tensor of at least two times.")
    grid = grid.to(device=t.device)
    if bool(grid[0] != t[0]) or bool(grid[-1] != t[-1]):
        raise ValueError("grid_constructor's grid must start at t[0] and end at t[-1].")
    ys = solve(func, y0, grid, opts)
    parts = ys if isinstance(ys, tuple) else (ys,)
    direction = -1.0 if len(t) > 1 and bool(t[1] < t[0]) else 1.0
    g, q = (direction * grid).detach(), (direction * t).detach().to(grid.dtype)
    i1 = torch.searchsorted(g.contiguous(), q.contiguous(), right=True).clamp(1, len(g) - 1)
    i0 = i1 - 1
    h = grid[i1] - grid[i0]
    theta = (t.to(grid.dtype) - grid[i0]) / h
    out = _interpolate(func, parts, grid, i0, i1, theta, h, interp, isinstance(ys, tuple))
    return out if isinstance(ys, tuple) else out[0]


def _interpolate(func, parts, grid, i0, i1, theta, h, interp, is_tuple):
    """Each part at the output times: linear, or cubic Hermite with f at the grid points."""
    shape = lambda x, p: x.to(p.dtype).reshape(-1, *([1] * (p.dim() - 1)))  # noqa: E731
    if interp == "linear":
        return tuple(p[i0] + shape(theta, p) * (p[i1] - p[i0]) for p in parts)
    if interp != "cubic":
        raise ValueError(f"options['interp'] must be 'linear' or 'cubic', got {interp!r}.")
    rows = []
    for j in range(len(theta)):
        a, b = int(i0[j]), int(i1[j])
        ya = tuple(p[a] for p in parts)
        yb = tuple(p[b] for p in parts)
        fa = func(grid[a].to(parts[0].dtype), ya if is_tuple else ya[0])
        fb = func(grid[b].to(parts[0].dtype), yb if is_tuple else yb[0])
        fa, fb = (fa, fb) if is_tuple else ((fa,), (fb,))
        hj, tj = h[j].to(parts[0].dtype), theta[j].to(parts[0].dtype)
        ends = zip(ya, yb, fa, fb, strict=True)
        rows.append([hermite(u, v, fu, fv, hj, tj) for u, v, fu, fv in ends])
    return tuple(torch.stack([r[k] for r in rows]) for k in range(len(parts)))
