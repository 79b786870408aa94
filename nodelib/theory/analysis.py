"""Tools for analysing one-step methods: measured orders and Picard's iteration.

These are the reference implementations that the chapter 1 exercises (and the grader in
`nodelib.course.grading.ch01`) compare a reader's code with:

- `empirical_order(hs, errors)`: the order of convergence read off a log–log plot, as the
  least-squares slope of log(error) against log(h);
- `convergence_errors(step, f, y0, t0, t1, exact, ns)`: run a one-step map with n equal
  steps for several n and return the step sizes and the errors at t1, ready for
  `empirical_order`;
- `fixed_step_errors(f, y0, t0, t1, exact, method=..., ns=...)`: the same for a fixed-step
  method of `nodelib.odeint`, by name;
- `picard_iteration(f, t, y0, n_iter)`: Picard's successive approximations
  φ_{k+1}(t) = y0 + ∫_{t0}^{t} f(s, φ_k(s)) ds on a grid, with the integral taken by the
  cumulative trapezoid rule (`cumulative_trapezoid`).

References: Süli & Mayers, ch. 12 (Picard's theorem; consistency, convergence and order of
one-step methods); HNW I, §I.8 (existence theory by successive approximations) and §II.1
(order, and how it is measured).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from nodelib._types import VectorField

__all__ = [
    "convergence_errors",
    "cumulative_trapezoid",
    "empirical_order",
    "fixed_step_errors",
    "picard_iteration",
]

StepFunction = Callable[[VectorField, Tensor, Tensor, float], Tensor]


def _positive_floats(values: Sequence[float] | Tensor, name: str) -> list[float]:
    if isinstance(values, Tensor):
        values = values.detach().cpu().reshape(-1).tolist()
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a sequence of numbers or a 1-D tensor.") from err
    if not all(math.isfinite(v) and v > 0 for v in out):
        raise ValueError(f"{name} must hold positive finite numbers (they are logged); got {out}.")
    return out


def empirical_order(hs: Sequence[float] | Tensor, errors: Sequence[float] | Tensor) -> float:
    """The measured order of convergence: the least-squares slope of log(error) vs log(h).

    If error ≈ C·h^p, then log(error) ≈ log C + p·log h: a straight line of slope p on a
    log–log plot. With more than two points, the least-squares slope uses all of them, so one
    noisy point moves the estimate less than a slope between two points would.

    Args:
        hs: the step sizes, at least two distinct positive numbers, in any order.
        errors: the errors for those step sizes, positive, same length as hs.

    Returns:
        The slope p as a float.

    Raises:
        TypeError: hs or errors are not sequences of numbers.
        ValueError: lengths differ, fewer than two points, a value is not positive and
            finite, or all step sizes are equal.
    """
    x = [math.log(h) for h in _positive_floats(hs, "hs")]
    y = [math.log(e) for e in _positive_floats(errors, "errors")]
    if len(x) != len(y) or len(x) < 2:
        raise ValueError(
            f"hs and errors must have the same length, at least 2; got {len(x)} and {len(y)}."
        )
    x_mean, y_mean = sum(x) / len(x), sum(y) / len(y)
    sxx = sum((xi - x_mean) ** 2 for xi in x)
    if sxx == 0:
        raise ValueError("the step sizes hs are all equal: a slope needs different h.")
    sxy = sum((xi - x_mean) * (yi - y_mean) for xi, yi in zip(x, y, strict=True))
    return sxy / sxx


def convergence_errors(
    step: StepFunction,
    f: VectorField,
    y0: Tensor,
    t0: float,
    t1: float,
    exact: Tensor,
    ns: Sequence[int],
) -> tuple[list[float], list[float]]:
    """Errors at t1 of a one-step method run with n equal steps, for each n in ns.

    Args:
        step: one step of the method, step(f, t, y, h) -> y_next, with t a 0-d tensor.
        f: the vector field f(t, y).
        y0: the initial state at t0.
        t0, t1: the interval.
        exact: the exact solution y(t1), of y0's shape.
        ns: the numbers of steps, e.g. (8, 16, 32, 64).

    Returns:
        (hs, errors): the step sizes (t1 - t0)/n and the largest absolute error at t1
        (inf when the result is not finite).
    """
    hs, errors = [], []
    for n in ns:
        h = (t1 - t0) / n
        y = y0
        for i in range(n):
            y = step(f, torch.tensor(t0 + i * h, dtype=y0.dtype, device=y0.device), y, h)
        error = float((torch.as_tensor(y) - exact).abs().max())
        hs.append(h)
        errors.append(error if math.isfinite(error) else math.inf)
    return hs, errors


def fixed_step_errors(
    f: VectorField,
    y0: Tensor,
    t0: float,
    t1: float,
    exact: Tensor,
    *,
    method: str,
    ns: Sequence[int],
    options: dict | None = None,
) -> tuple[list[float], list[float]]:
    """Errors at t1 of `nodelib.odeint` with a fixed-step method and n equal steps, per n.

    The grid is torch.linspace(t0, t1, n + 1) in y0's dtype, which a fixed-step method
    steps through exactly; so the errors include the round-off of that dtype (float32 shows
    a floor). Pair with `empirical_order` to measure the order (HNW I, §II.1).

    Args:
        f: the vector field f(t, y).
        y0: the initial state at t0 (any shape, floating dtype).
        t0, t1: the interval.
        exact: the exact solution y(t1), of y0's shape.
        method: a fixed-step method of `nodelib.METHODS` (euler, heun, rk4,
            backward_euler, trapezoid, theta, a multistep method, ...).
        ns: the numbers of steps, positive integers, e.g. (8, 16, 32, 64).
        options: passed to odeint, e.g. {"theta": 0.25} for method="theta".

    Returns:
        (hs, errors): the step sizes (t1 - t0)/n and the largest absolute error at t1
        (inf when the result is not finite).

    Raises:
        ValueError: an adaptive method (it would not take n equal steps), or an n < 1.
    """
    from nodelib.odeint import odeint
    from nodelib.tableau import TABLEAUS

    tableau = TABLEAUS.get(method)
    if tableau is not None and tableau.is_adaptive:
        raise ValueError(
            f"method {method!r} is adaptive: fixed_step_errors needs a fixed-step method "
            "(euler, heun, rk4, backward_euler, trapezoid, theta, ...)."
        )
    if any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in ns):
        raise ValueError(f"ns must hold integers >= 1 (numbers of steps); got {list(ns)}.")
    hs, errors = [], []
    for n in ns:
        t = torch.linspace(t0, t1, n + 1, dtype=y0.dtype, device=y0.device)
        y = odeint(f, y0, t, method=method, options=options)[-1]
        # In float64 on the CPU: the error of a float32 run is not rounded again.
        error = float((y.detach().cpu().double() - exact.detach().cpu().double()).abs().max())
        hs.append((t1 - t0) / n)
        errors.append(error if math.isfinite(error) else math.inf)
    return hs, errors


def cumulative_trapezoid(values: Tensor, t: Tensor) -> Tensor:
    """∫_{t0}^{t_i} v(s) ds for every grid time t_i, by the composite trapezoid rule.

    Args:
        values: v at the grid times, shape (len(t), *state_shape).
        t: the grid, a 1-D tensor (increasing or decreasing).

    Returns:
        Tensor of values's shape; row 0 is zero.
    """
    dt = (t[1:] - t[:-1]).to(values.dtype).reshape(-1, *([1] * (values.dim() - 1)))
    increments = dt * (values[1:] + values[:-1]) / 2  # (len(t) - 1, *state_shape)
    return torch.cat([torch.zeros_like(values[:1]), torch.cumsum(increments, dim=0)])


def picard_iteration(f: VectorField, t: Tensor, y0: Tensor, n_iter: int) -> list[Tensor]:
    """Picard's successive approximations on a grid (Süli & Mayers ch. 12; HNW I, §I.8).

        φ_0(t) = y0,   φ_{k+1}(t_i) = y0 + ∫_{t_0}^{t_i} f(s, φ_k(s)) ds,

    with the integral taken by the cumulative trapezoid rule on the grid t, so f is only
    evaluated at grid times (one call per grid time per iteration). Each iterate therefore
    carries a quadrature error O(h²) with h the largest grid spacing, and the iteration
    converges (for h·L < 2, L the Lipschitz constant of f) to the solution of the
    trapezoidal rule on that grid, not to the exact solution. For y' = y the exact Picard
    iterates are the Taylor polynomials Σ_{j<=k} t^j/j!, which the grid iterates match to
    O(h²).

    Args:
        f: the vector field f(t, y), t a 0-d tensor, y of y0's shape.
        t: the grid, a 1-D tensor of at least one time, t[0] the initial time.
        y0: the initial state, any shape.
        n_iter: the number of iterations, >= 0.

    Returns:
        [φ_0, φ_1, ..., φ_{n_iter}]: n_iter + 1 tensors of shape (len(t), *y0.shape), on
        y0's dtype and device.

    Raises:
        ValueError: t is not 1-D and non-empty, or n_iter is negative.
    """
    if t.dim() != 1 or t.numel() == 0:
        raise ValueError(f"t must be a non-empty 1-D tensor of times; got shape {tuple(t.shape)}.")
    if isinstance(n_iter, bool) or not isinstance(n_iter, int) or n_iter < 0:
        raise ValueError(f"n_iter must be an integer >= 0; got {n_iter!r}.")
    phi = y0.expand(len(t), *y0.shape).clone()  # (len(t), *y0.shape)
    iterates = [phi]
    for _ in range(n_iter):
        slopes = torch.stack([f(t[i], phi[i]) for i in range(len(t))])
        phi = y0 + cumulative_trapezoid(slopes, t)
        iterates.append(phi)
    return iterates
