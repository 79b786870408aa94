"""Newton's method for the implicit equation of one step of an implicit method.

Every implicit method in nodelib (the θ-method in `nodelib.implicit`, BDF in
`nodelib.multistep`, each stage of a diagonally implicit Runge–Kutta method in
`nodelib.implicit_rk`) solves, once per step, an equation of the form

    G(Y) = Y - c - h·β·f(t_{n+1}, Y) = 0,

where c collects the known terms of the step (Süli & Mayers, ch. 12; HNW I, §III.1).
This module holds that solve: a *simplified* Newton iteration (Hairer & Wanner II,
§IV.8) whose matrix I - h·β·J, with J = ∂f/∂y taken once per step at the step's start
(t_n, y_n), is LU-factored once and reused for every iteration of the step.

Design limits, on purpose:

- J is a dense (n, n) matrix computed by `torch.func.jacrev` on the flattened state,
  which costs n reverse passes (vectorised) and n² memory: these methods suit small
  systems, n up to a few thousand unknowns. A field jacrev cannot trace (the adjoint's
  augmented system calls autograd itself) gets forward differences, n + 1 evaluations.
- J is computed without autograd history (it only steers the iteration, it does not
  move the solution), but the iterates are recorded by autograd, so backpropagating
  through a solve differentiates the Newton iterations naively. Each iteration
  contracts the error of the derivative like that of the solution, so the gradient
  is that of the converged solution up to roughly the Newton tolerance.
"""

from __future__ import annotations

import contextlib
import math
import weakref
from collections.abc import Callable, Mapping
from numbers import Integral, Real
from typing import Any, NamedTuple

import torch
from torch import Tensor

from nodelib._types import VectorField
from nodelib.errors import ConvergenceError

__all__ = [
    "DEFAULT_NEWTON_MAX_ITER",
    "FactoredMatrix",
    "check_newton_settings",
    "default_newton_tol",
    "factor_newton_matrix",
    "implicit_matrix",
    "newton_kwargs",
    "newton_solve",
    "solve_implicit",
    "vector_field_jacobian",
]


# Simplified Newton converges only linearly, and a fixed-step method cannot reject a
# step, so the budget is generous; a linear f converges in 2 iterations.
DEFAULT_NEWTON_MAX_ITER = 20

_ADVICE = (
    "Try a smaller step_size, a better initial guess, a larger "
    "options['newton_max_iter'], or check the vector field for a singularity near t."
)


def default_newton_tol(dtype: torch.dtype) -> float:
    """The default Newton tolerance for a floating dtype: eps**(2/3).

    That is about 3.7e-11 for float64 and 2.4e-5 for float32: far below the
    truncation error of any step a user would take, yet above the round-off floor.
    """
    return float(torch.finfo(dtype).eps) ** (2.0 / 3.0)


def check_newton_settings(tol: object, max_iter: object) -> tuple[float | None, int]:
    """Validate `newton_tol` (None or a positive number) and `newton_max_iter` (int >= 1).

    Raises:
        ValueError: for a value out of range or of the wrong type, naming the option.
    """
    if tol is not None and (
        isinstance(tol, bool) or not isinstance(tol, Real) or not 0 < float(tol) < math.inf
    ):
        raise ValueError(
            f"options['newton_tol'] must be a positive number (or None for the dtype's "
            f"default, eps**(2/3)); got {tol!r}."
        )
    if isinstance(max_iter, bool) or not isinstance(max_iter, Integral) or max_iter < 1:
        raise ValueError(
            f"options['newton_max_iter'] must be an integer >= 1 (default "
            f"{DEFAULT_NEWTON_MAX_ITER}); got {max_iter!r}."
        )
    return (None if tol is None else float(tol)), int(max_iter)


def newton_kwargs(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """The Newton keyword arguments of a stepper, read from odeint's `options` dict."""
    options = options or {}
    return {
        "newton_tol": options.get("newton_tol"),
        "newton_max_iter": options.get("newton_max_iter", DEFAULT_NEWTON_MAX_ITER),
    }


def vector_field_jacobian(f: VectorField, t: Tensor, y: Tensor) -> Tensor:
    """The dense Jacobian ∂f/∂y at (t, y) of the flattened state, without autograd history.

    By `torch.func.jacrev` when f can be traced by it. A field it cannot trace (one that
    calls autograd itself, as the adjoint's augmented system does, or reads values on the
    host) gets forward differences instead: n + 1 evaluations of f, accurate to about
    sqrt(eps), which is plenty for a matrix that only steers Newton's iteration. The choice
    is remembered for that f, so the failed trace is paid once per solve.

    Args:
        f: the vector field, f(t, y) -> tensor of y's shape.
        t: 0-d tensor (or a float, if f takes one).
        y: the state, any shape with n elements.

    Returns:
        (n, n) tensor J with J[i, j] = ∂f_i/∂y_j, on y's device and dtype.
    """
    shape = y.shape

    def flat_f(y_flat: Tensor) -> Tensor:  # (n,) -> (n,)
        return f(t, y_flat.reshape(shape)).reshape(-1)

    if f not in _UNTRACEABLE:
        # jacrev is a function transform: it differentiates even inside no_grad, while
        # no_grad keeps parameters of f out of the (unneeded) history of J.
        try:
            with torch.no_grad():
                jac = torch.func.jacrev(flat_f)(y.detach().reshape(-1))
            return jac.detach().contiguous()
        except RuntimeError:
            with contextlib.suppress(TypeError):  # f may not allow weak references
                _UNTRACEABLE.add(f)
    return _difference_jacobian(flat_f, y.detach().reshape(-1))


# Vector fields torch.func could not trace (weakly held: a solve's field dies with the solve).
_UNTRACEABLE: weakref.WeakSet = weakref.WeakSet()


def _difference_jacobian(flat_f: Callable[[Tensor], Tensor], y: Tensor) -> Tensor:
    """Forward differences, column by column: (f(y + δ_j e_j) - f(y)) / δ_j, `(n, n)`."""
    eps = float(torch.finfo(y.dtype).eps)
    with torch.no_grad():
        f0 = flat_f(y)
        deltas = (math.sqrt(eps) * torch.clamp(y.abs(), min=1.0)).tolist()
        columns = []
        for j, delta in enumerate(deltas):
            shifted = y.clone()
            shifted[j] += delta
            columns.append((flat_f(shifted) - f0) / delta)
    return torch.stack(columns, dim=1).contiguous()


class FactoredMatrix(NamedTuple):
    """The LU factorization of an (n, n) Newton matrix M, from `factor_newton_matrix`."""

    lu: Tensor  # (n, n)
    pivots: Tensor  # (n,)

    def solve(self, v: Tensor) -> Tensor:
        """M⁻¹ v for v of any shape with n elements; returns v's shape."""
        return torch.linalg.lu_solve(self.lu, self.pivots, v.reshape(-1, 1)).reshape(v.shape)


def factor_newton_matrix(matrix: Tensor, *, t: float | Tensor | None = None) -> FactoredMatrix:
    """LU-factor an (n, n) Newton matrix once, for all the iterations of a step.

    Raises:
        ConvergenceError: the matrix is singular or holds NaN/Inf (t is for the message).
    """
    lu, pivots, info = torch.linalg.lu_factor_ex(matrix)
    if int(info) != 0 or not bool(torch.isfinite(matrix).all()):
        raise ConvergenceError(
            f"the Newton matrix I - h·β·∂f/∂y at t={_fmt(t)} is singular or not finite. " + _ADVICE
        )
    return FactoredMatrix(lu, pivots)


def newton_solve(
    residual: Callable[[Tensor], Tensor],
    y_guess: Tensor,
    *,
    jacobian: Tensor | FactoredMatrix,
    tol: float | None = None,
    max_iter: int = DEFAULT_NEWTON_MAX_ITER,
    t: float | Tensor | None = None,
    refresh: Callable[[Tensor], FactoredMatrix] | None = None,
) -> Tensor:
    """Solve residual(Y) = 0 by simplified Newton: Y <- Y - M⁻¹ residual(Y), M fixed.

    Converged when the update δ satisfies max_i |δ_i| / (1 + |Y_i|) <= tol, a mixed
    norm: an absolute tolerance for components below 1, a relative one above
    (Hairer & Wanner II, §IV.8). One residual evaluation per iteration. When an update
    is not at least halved from the previous one (M too far from ∂G/∂Y, e.g. a strongly
    nonlinear f and a large step) and `refresh` is given, M is replaced by refresh(Y) at
    the current iterate: the iteration then turns into full Newton.

    Args:
        residual: Y -> G(Y), a tensor of Y's shape.
        y_guess: initial iterate, any shape with n elements.
        jacobian: M ≈ ∂G/∂Y (e.g. I - h·β·∂f/∂y): an (n, n) matrix, factored here once,
            or its `factor_newton_matrix`.
        tol: tolerance of the mixed norm; None: `default_newton_tol(y_guess.dtype)`.
        max_iter: the most iterations (residual evaluations).
        t: the time the equation belongs to, for error messages only.
        refresh: Y -> the factored M at Y, or None to keep M.

    Returns:
        The solution, with y_guess's shape, dtype and device (autograd history kept).

    Raises:
        ValueError: a matrix of the wrong shape, or bad tol/max_iter.
        ConvergenceError: no convergence within max_iter iterations, NaN/Inf in an
            iterate or in M, or M singular. The message gives t and the residual norm.
    """
    n = y_guess.numel()
    if isinstance(jacobian, Tensor):
        if jacobian.shape != (n, n):
            raise ValueError(f"jacobian must have shape ({n}, {n}); got {tuple(jacobian.shape)}.")
        jacobian = factor_newton_matrix(jacobian, t=t)
    tol, max_iter = check_newton_settings(tol, max_iter)
    tol = default_newton_tol(y_guess.dtype) if tol is None else tol
    y, prev_norm = y_guess, math.inf
    for _ in range(max_iter):
        g = residual(y)
        delta = jacobian.solve(-g)
        y = y + delta
        step_norm, res_norm = torch.stack(
            [(delta.abs() / (1 + y.abs())).amax(), g.abs().amax()]
        ).tolist()  # one device sync per iteration
        if not (math.isfinite(step_norm) and math.isfinite(res_norm)):
            raise ConvergenceError(
                f"Newton's iteration produced NaN or Inf at t={_fmt(t)} (residual max-norm "
                f"{res_norm:.3e}). " + _ADVICE
            )
        if step_norm <= tol:
            return y
        if refresh is not None and step_norm > 0.5 * prev_norm:
            jacobian = refresh(y)
        prev_norm = step_norm
    raise ConvergenceError(
        f"Newton's iteration did not converge at t={_fmt(t)} in {max_iter} iterations: "
        f"residual max-norm {res_norm:.3e}, last update {step_norm:.3e} > "
        f"newton_tol={tol:.2e} (mixed abs/rel norm). " + _ADVICE
    )


def implicit_matrix(f: VectorField, t: Tensor, y: Tensor, h_beta: float, t1: Tensor):
    """The factored Newton matrix I - h_beta·∂f/∂y(t, y) of the equation at time t1.

    Args:
        f: the vector field; t, y: where its Jacobian is taken (the step's start);
        h_beta: step size times the implicit weight; t1: for error messages.

    Returns:
        `FactoredMatrix` of the (n, n) matrix.

    Raises:
        ConvergenceError: the matrix is singular or not finite.
    """
    jac = vector_field_jacobian(f, t, y)  # (n, n)
    eye = torch.eye(y.numel(), dtype=y.dtype, device=y.device)
    return factor_newton_matrix(eye - h_beta * jac, t=t1)


def solve_implicit(
    f: VectorField,
    t1: Tensor,
    c: Tensor,
    h_beta: float,
    y_guess: Tensor,
    *,
    matrix: FactoredMatrix,
    tol: float | None,
    max_iter: int,
) -> Tensor:
    """Solve Y = c + h_beta·f(t1, Y) by `newton_solve`, refreshing M when it converges slowly.

    Args:
        f: the vector field.
        t1: 0-d tensor, the time of the implicit evaluation (t_{n+1}).
        c: the known part of the step, the state's shape.
        h_beta: step size times the implicit weight (hθ, or h·β_k for BDF).
        y_guess: initial iterate (a predictor), the state's shape.
        matrix: `implicit_matrix(f, t_n, y_n, h_beta, t1)`.
        tol, max_iter: as in `newton_solve`.

    Returns:
        Y, the state's shape.

    Raises:
        ConvergenceError: as `newton_solve`.
    """

    def residual(y: Tensor) -> Tensor:
        return y - c - h_beta * f(t1, y)

    def refresh(y: Tensor) -> FactoredMatrix:
        return implicit_matrix(f, t1, y, h_beta, t1)

    return newton_solve(
        residual, y_guess, jacobian=matrix, tol=tol, max_iter=max_iter, t=t1, refresh=refresh
    )


def _fmt(t: float | Tensor | None) -> str:
    return "?" if t is None else f"{float(t):.6g}"
