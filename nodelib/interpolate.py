"""Dense output: the solution between the ends of a step.

An integrator never shortens its steps to land on the requested output times
(that would cost function evaluations and disturb the step-size controller).
Instead it evaluates, inside each step [t_n, t_n + h], a polynomial built from
what the step already computed (Hairer, Nørsett & Wanner I, §II.6):

- a continuous extension of the Runge–Kutta method when the tableau has one,
  y(t_n + θh) ≈ y_n + h Σ_i b_i(θ) k_i (dopri5 and tsit5, order 4);
- otherwise the cubic Hermite interpolant through y_n, y_{n+1} and the slopes
  f_n, f_{n+1}, which is accurate to O(h^4).
"""

from __future__ import annotations

from torch import Tensor

__all__ = ["hermite", "rk_dense"]


def hermite(y0: Tensor, y1: Tensor, f0: Tensor, f1: Tensor, h: float, theta: float) -> Tensor:
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
    y0: Tensor, k: list[Tensor], h: float, b_dense: tuple[tuple[float, ...], ...], theta: float
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
    out = y0.clone()
    for k_i, row in zip(k, b_dense, strict=True):
        weight, power = 0.0, theta
        for coef in row:
            weight += coef * power
            power *= theta
        if weight != 0.0:
            out.add_(k_i, alpha=h * weight)
    return out
