"""Dense output: the solution between the ends of a step.

An integrator never shortens its steps to land on the requested output times
(that would cost function evaluations and disturb the step-size controller).
Instead each accepted step carries an interpolant, built from what the step
already computed (Hairer, Nørsett & Wanner I, §II.6):

- `Continuous`: the continuous extension of a Runge–Kutta method,
  y(t_n + θh) ≈ y_n + h Σ_i b_i(θ) k_i (dopri5 and tsit5, order 4);
- `SideStep`: for a high-order pair without one (fehlberg45), one extra step of size θh
  from the step's start, which keeps the method's order at s evaluations per output;
- `Hermite`: the cubic Hermite interpolant through y_n, y_{n+1} and the slopes
  f_n, f_{n+1}, accurate to O(h^4), for everything else. It evaluates f only if the
  step did not already provide both slopes, and stores what it evaluates in the step's
  result, where the loop reuses f_{n+1} as the next step's first stage.

dopri8's 7th-order extension lives with its method in `nodelib.dop853`.
Interpolants are lazy (nothing happens until an output falls in the step) and
differentiable; θ and h may be 0-d tensors when the solve is differentiated with
respect to the times. Their evaluations of f are counted like any other.
"""

from __future__ import annotations

import weakref

from torch import Tensor

from nodelib._types import Field, Time
from nodelib.rk import RKCoefficients, rk_step
from nodelib.steppers import StepResult

__all__ = ["Continuous", "Hermite", "SideStep", "hermite", "rk_dense"]


def hermite(y0: Tensor, y1: Tensor, f0: Tensor, f1: Tensor, h: Time, theta: Time) -> Tensor:
    """The cubic Hermite interpolant at t_n + θh.

    Args:
        y0, y1: the state at both ends of the step, `(*shape)`.
        f0, f1: the derivatives f(t_n, y0) and f(t_n + h, y1), `(*shape)`.
        h: the step size.
        theta: the position in the step, 0 <= θ <= 1.

    Returns:
        The interpolated state, `(*shape)`.
    """
    # Hermite basis on [0, 1]: values at 0 and 1, and derivatives (times h).
    t2, t3 = theta * theta, theta * theta * theta
    h00 = 2 * t3 - 3 * t2 + 1
    h10 = t3 - 2 * t2 + theta
    h01 = -2 * t3 + 3 * t2
    h11 = t3 - t2
    return y0 * h00 + y1 * h01 + f0 * (h * h10) + f1 * (h * h11)


def rk_dense(
    y0: Tensor, k: list[Tensor], h: Time, b_dense: tuple[tuple[float, ...], ...], theta: Time
) -> Tensor:
    """The continuous extension of a Runge–Kutta step at t_n + θh.

    Args:
        y0: the state at the start of the step, `(*shape)`.
        k: the step's stage derivatives, s tensors of shape `(*shape)`.
        h: the step size.
        b_dense: for each stage i, the coefficients of b_i(θ) = Σ_j b_dense[i][j] θ^(j+1).
        theta: the position in the step, 0 <= θ <= 1.

    Returns:
        The interpolated state, `(*shape)`.
    """
    graph = isinstance(h, Tensor) or isinstance(theta, Tensor)
    out = y0 if graph else y0.clone()
    for k_i, row in zip(k, b_dense, strict=True):
        weight, power = 0.0, theta
        for coef in row:
            weight = weight + coef * power
            power = power * theta
        if graph:  # θ or h carries the graph to the user's times
            out = out + (h * weight) * k_i
        elif weight != 0.0:
            out.add_(k_i, alpha=h * weight)
    return out


class Continuous:
    """A Runge–Kutta step's continuous extension (the tableau's `b_dense`)."""

    def __init__(self, y0: Tensor, k: list[Tensor], h: Time, b_dense) -> None:
        self.y0, self.k, self.h, self.b_dense = y0, k, h, b_dense

    def __call__(self, theta: Time) -> Tensor:
        return rk_dense(self.y0, self.k, self.h, self.b_dense, theta)


class SideStep:
    """y(t + θh) by one step of the method itself from the step's start (s evaluations)."""

    def __init__(
        self, f: Field, t: Time, y0: Tensor, h: Time, coeffs: RKCoefficients, f0: Tensor
    ) -> None:
        self.f, self.t, self.y0, self.h, self.coeffs, self.f0 = f, t, y0, h, coeffs, f0

    def __call__(self, theta: Time) -> Tensor:
        return rk_step(self.f, self.t, self.y0, theta * self.h, self.coeffs, self.f0)[0]


class Hermite:
    """Cubic Hermite interpolation inside a step, evaluating a missing slope once.

    The slopes it evaluates are written into `result` (f0, f1), so that the loop reuses
    f(t + h, y1) as the first stage of the next step instead of evaluating it again.
    """

    def __init__(self, f: Field, t: Time, y0: Tensor, h: Time, result: StepResult) -> None:
        self.f, self.t, self.y0, self.h = f, t, y0, h
        # Weak: the result holds this interpolant, and a strong reference back would make a
        # cycle that only Python's cycle collector frees, so every step's tensors would stay
        # alive until it runs (the adjoint's memory grew with the number of steps).
        self._result = weakref.ref(result)

    @property
    def result(self) -> StepResult:
        """The step this interpolant belongs to (alive as long as anyone can call it)."""
        r = self._result()
        assert r is not None, "a Hermite interpolant outlived its step"
        return r

    def __call__(self, theta: Time) -> Tensor:
        r = self.result
        if r.f0 is None:
            r.f0 = self.f(self.t, self.y0)
        if r.f1 is None:
            r.f1 = self.f(self.t + self.h, r.y1)
        return hermite(self.y0, r.y1, r.f0, r.f1, self.h, theta)
