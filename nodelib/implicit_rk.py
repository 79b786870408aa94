"""Implicit Runge–Kutta methods with a fixed step: Gauss, Radau IIA, Lobatto IIIA, SDIRK, TR-BDF2.

An s-stage method (c, A, b) with a_ij != 0 for some j >= i needs, per step, the stages

    Y_i = y + h Σ_j a_ij f(t + c_j h, Y_j),   i = 1..s,     y_next = y + h Σ_i b_i k_i,

a nonlinear system that `ImplicitRK` solves by the simplified Newton iteration of
`nodelib._newton` (Hairer & Wanner II, §IV.8), with J = ∂f/∂y taken once per step at (t, y):

- *diagonally implicit* tableaux (A lower triangular: implicit midpoint, Radau IIA with one
  stage = backward Euler, Lobatto IIIA with two = the trapezoidal rule, SDIRK2, TR-BDF2) are
  solved stage by stage, Y_i = known_i + h a_ii f(t + c_i h, Y_i), one n-dimensional system per
  implicit stage and one LU of I - h a_ii J per distinct a_ii; a zero a_ii is an explicit stage.
  The slope is recovered as k_i = (Y_i - known_i) / (h a_ii), which, unlike f(Y_i), does not
  amplify the Newton error by the stiffness (HW II, §IV.8);
- *fully implicit* tableaux (Gauss–Legendre, Radau IIA with 2 or 3 stages) are solved for the
  increments Z_i = Y_i - y all at once, Z = h (A ⊗ I) F(y + Z), an (s·n)-dimensional system
  with the matrix I - h A ⊗ J, from Z = 0; then y_next = y + Σ d_i Z_i with dᵀ = bᵀ A⁻¹, which
  needs no more evaluations of f (HW II, (8.2b)). A slowly contracting iteration switches to
  the exact block Jacobian I - h (a_ij ∂f/∂y(Y_j)) (full Newton).

The tableaux (Gauss: Butcher 1964; Radau IIA: Ehle 1969; SDIRK2: Alexander 1977; TR-BDF2: Bank
et al. 1985, Hosea & Shampine 1996; all in HW II, §IV.5-IV.6) live in `nodelib.tableau`
(`IMPLICIT_TABLEAUS`), each checked by the order conditions when it is created; `odeint` steps
them under their names. None has an embedded error estimate here (as in torchdiffeq, whose
implicit methods are all fixed-grid), so they run with `options["step_size"]` or on the grid of
output times; the interpolant between the ends of a step is cubic Hermite. The Jacobian is
dense (`nodelib._newton`): small systems only. Gradients: by backprop through the Newton
iterations (exact up to the Newton tolerance; times too, since t and h may be tensors), and by
`odeint_adjoint`, whose augmented field gets a finite-difference Jacobian.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from nodelib._newton import (
    DEFAULT_NEWTON_MAX_ITER,
    FactoredMatrix,
    check_newton_settings,
    default_newton_tol,
    factor_newton_matrix,
    newton_kwargs,
    newton_solve,
    vector_field_jacobian,
)
from nodelib._types import Field, Time
from nodelib.interpolate import Hermite
from nodelib.rk import combine
from nodelib.steppers import StepResult
from nodelib.tableau import IMPLICIT_TABLEAUS, ButcherTableau

__all__ = ["IMPLICIT_RK_METHODS", "ImplicitRK", "implicit_rk_step"]


def _is_diagonally_implicit(tableau: ButcherTableau) -> bool:
    return all(x == 0.0 for i, row in enumerate(tableau.a) for x in row[i + 1 :])


def _value(h: Time) -> float:
    """The step size as a float (the Newton matrix carries no graph)."""
    return float(h.detach()) if isinstance(h, Tensor) else float(h)


def _newton_matrix(jac: Tensor, h_a: float, t: Time) -> FactoredMatrix:
    eye = torch.eye(jac.shape[0], dtype=jac.dtype, device=jac.device)
    return factor_newton_matrix(eye - h_a * jac, t=t)


class _Stages:
    """The stage equations of one tableau, prepared once: which path, and its constants."""

    def __init__(self, tableau: ButcherTableau) -> None:
        a = np.asarray(tableau.a, dtype=np.float64)
        self.tableau, self.c = tableau, tuple(tableau.c)
        self.diagonal = _is_diagonally_implicit(tableau)
        if self.diagonal:
            self.rows = [
                tuple((j, float(a[i, j])) for j in range(i) if a[i, j] != 0) for i in range(len(a))
            ]
            self.b = tuple((i, float(x)) for i, x in enumerate(tableau.b) if x != 0)
            return
        if abs(np.linalg.det(a)) < 1e-12:
            raise ValueError(
                f"{tableau.name}: a fully implicit tableau needs an invertible A (y1 is formed "
                "from the stage increments as y + Σ d_i Z_i with dᵀ = bᵀA⁻¹)."
            )
        self.a = a
        self.d = np.linalg.solve(a.T, np.asarray(tableau.b, dtype=np.float64))  # (s,)


def implicit_rk_step(
    f: Field,
    t: Time,
    y: Tensor,
    h: Time,
    tableau: ButcherTableau | _Stages,
    *,
    f0: Tensor | None = None,
    tol: float | None = None,
    max_iter: int = DEFAULT_NEWTON_MAX_ITER,
) -> tuple[Tensor, Tensor | None]:
    """One step of an implicit Runge–Kutta method from (t, y) to t + h, by simplified Newton.

    Args:
        f: the vector field, f(t, y) -> tensor of y's shape.
        t, h: the time and step size (floats, or 0-d tensors carrying a graph).
        y: the state `(*shape)` with n elements (dense Newton: n up to a few thousand).
        tableau: the method (an implicit `ButcherTableau`).
        f0: f(t, y) if known (an explicit first stage reuses it), else None.
        tol, max_iter: the Newton tolerance (mixed norm; None: eps**(2/3) of y's dtype) and
            the most iterations per solve.

    Returns:
        (y_next, f0): the new state `(*shape)`, and f(t, y) if the step evaluated it (else
        the f0 it was given).

    Raises:
        ValueError: a fully implicit tableau with a singular A.
        nodelib.errors.ConvergenceError: Newton's iteration failed (see `nodelib._newton`).
    """
    stages = tableau if isinstance(tableau, _Stages) else _Stages(tableau)
    tol = default_newton_tol(y.dtype) if tol is None else tol
    jac = vector_field_jacobian(f, t, y)  # (n, n), at the step's start
    if stages.diagonal:
        return _dirk_step(f, t, y, h, stages, jac, f0, tol, max_iter)
    return _firk_step(f, t, y, h, stages, jac, tol, max_iter), f0


def _dirk_step(f, t, y, h, stages: _Stages, jac, f0, tol, max_iter):
    """Stage by stage: Y_i = known_i + h a_ii f(t_i, Y_i); k_i = (Y_i - known_i) / (h a_ii)."""
    k, matrices, a = [], {}, stages.tableau.a
    for i, c in enumerate(stages.c):
        known = combine(y, h, stages.rows[i], k)  # y + h Σ_{j<i} a_ij k_j
        t_i, a_ii = t + c * h, float(a[i][i])
        if a_ii == 0.0:  # an explicit stage
            if i == 0 and c == 0.0:
                f0 = f(t, y) if f0 is None else f0
                k.append(f0)
            else:
                k.append(f(t_i, known))
            continue
        if a_ii not in matrices:
            matrices[a_ii] = _newton_matrix(jac, _value(h) * a_ii, t_i)
        h_a = h * a_ii

        def residual(v: Tensor, known=known, t_i=t_i, h_a=h_a) -> Tensor:
            return v - known - h_a * f(t_i, v)

        def refresh(v: Tensor, t_i=t_i, a_ii=a_ii) -> FactoredMatrix:  # full Newton
            return _newton_matrix(vector_field_jacobian(f, t_i, v), _value(h) * a_ii, t_i)

        stage = newton_solve(
            residual, known, jacobian=matrices[a_ii], tol=tol, max_iter=max_iter, t=t_i,
            refresh=refresh,
        )  # fmt: skip
        k.append((stage - known) / h_a)
    return combine(y, h, stages.b, k), f0


def _firk_step(f, t, y, h, stages: _Stages, jac, tol, max_iter) -> Tensor:
    """All stages at once: Z = h (A ⊗ I) F(y + Z), then y + Σ d_i Z_i."""
    s, n = len(stages.c), y.numel()
    a = torch.as_tensor(stages.a, dtype=y.dtype, device=y.device)  # (s, s)
    times = [t + c * h for c in stages.c]
    h_float = _value(h)
    eye = torch.eye(s * n, dtype=y.dtype, device=y.device)

    def residual(z: Tensor) -> Tensor:  # (s, *shape)
        fz = torch.stack([f(t_i, y + z[i]) for i, t_i in enumerate(times)])
        return z - h * torch.tensordot(a, fz, dims=1)

    def refresh(z: Tensor) -> FactoredMatrix:  # the exact Jacobian of the residual
        blocks = torch.stack(
            [vector_field_jacobian(f, t_i, y + z[i]) for i, t_i in enumerate(times)]
        )
        full = a[:, :, None, None] * blocks[None]  # (s, s, n, n): a_ij J(Y_j)
        return factor_newton_matrix(
            eye - h_float * full.permute(0, 2, 1, 3).reshape(s * n, s * n), t=t
        )

    matrix = factor_newton_matrix(eye - h_float * torch.kron(a, jac), t=t)
    z0 = torch.zeros((s, *y.shape), dtype=y.dtype, device=y.device)
    z = newton_solve(
        residual, z0, jacobian=matrix, tol=tol, max_iter=max_iter, t=t, refresh=refresh
    )
    terms = [(i, float(d)) for i, d in enumerate(stages.d) if d != 0.0]
    return combine(y, 1.0, terms, list(z))


class ImplicitRK:
    """An implicit Runge–Kutta tableau as a fixed-step `nodelib.steppers.Stepper`.

    Args:
        tableau: an implicit tableau (e.g. `nodelib.tableau.RADAU_IIA3`).
        newton_tol: Newton tolerance (mixed norm); None: eps**(2/3) of y's dtype.
        newton_max_iter: the most Newton iterations per solve.

    Raises:
        ValueError: bad Newton settings, or a fully implicit tableau with a singular A.
    """

    error_order = None

    def __init__(
        self,
        tableau: ButcherTableau,
        *,
        newton_tol: float | None = None,
        newton_max_iter: int = DEFAULT_NEWTON_MAX_ITER,
    ) -> None:
        self.name, self.order, self.tableau = tableau.name, tableau.order, tableau
        self.newton_tol, self.newton_max_iter = check_newton_settings(newton_tol, newton_max_iter)
        self._stages = _Stages(tableau)

    def start(self, f: Field, t0: Time, y0: Tensor) -> None:
        """A one-step method keeps nothing between solves."""

    def step(self, f: Field, t: Time, y: Tensor, h: Time, f0: Tensor | None) -> StepResult:
        """One step; f0 = f(t, y) if the loop has it (an explicit first stage uses it)."""
        y1, f0 = implicit_rk_step(
            f, t, y, h, self._stages, f0=f0, tol=self.newton_tol, max_iter=self.newton_max_iter
        )
        result = StepResult(y1, None, None, None, f0)
        result.interpolant = Hermite(f, t, y, h, result)
        return result

    def error_ratio(self, result, y0, rtol, atol, norm) -> float:
        """These methods have no error estimate (fixed step)."""
        raise AssertionError("an implicit Runge–Kutta method has no error estimate here")


def _factory(tableau: ButcherTableau) -> Callable[[Mapping[str, Any] | None], ImplicitRK]:
    def factory(options: Mapping[str, Any] | None) -> ImplicitRK:
        return ImplicitRK(tableau, **newton_kwargs(options))

    return factory


# Every implicit tableau, as the method odeint steps under its name.
IMPLICIT_RK_METHODS: dict[str, Callable[[Mapping[str, Any] | None], ImplicitRK]] = {
    name: _factory(tableau) for name, tableau in IMPLICIT_TABLEAUS.items()
}
