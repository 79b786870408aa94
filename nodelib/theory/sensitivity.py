"""Gradients of model problems by the direct and the adjoint method (chapter 5).

Each function computes dg/dp for a scalar g of the solution u(p) of an equation, the way
chapter 5 derives it (Giles & Pierce, "An introduction to the adjoint approach to design",
2000; Plessix, "A review of the adjoint-state method", 2006):

- `linear_system_gradient`: A(p) u = b(p). Direct: P solves for du/dp. Adjoint: one solve
  with A^T for λ, then dg/dp_k = λ^T (∂b/∂p_k - ∂A/∂p_k u).
- `nonlinear_system_gradient`: F(u, p) = 0. Adjoint: (∂F/∂u)^T λ = (∂g/∂u)^T, then
  dg/dp = -λ^T ∂F/∂p.
- `euler_adjoint`: the explicit Euler recurrence y_{k+1} = y_k + h f(y_k, θ); its adjoint
  recurrence λ_k = λ_{k+1} + h (∂f/∂y)^T λ_{k+1} is backpropagation through the loop.
- `expm_frechet` and `linear_ode_gradient`: y' = A(p) y, y(0) = b(p), g = c^T y(T), in closed
  form with the Fréchet derivative of the matrix exponential (Higham, *Functions of
  Matrices*, 2008, ch. 3: the block-triangular formula; Van Loan 1978).

The continuous adjoint of a general ODE is `nodelib.odeint_adjoint`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor

__all__ = [
    "euler_adjoint",
    "expm_frechet",
    "linear_ode_gradient",
    "linear_system_gradient",
    "nonlinear_system_gradient",
]


def _check_square(A: Tensor, name: str = "A") -> int:
    if not isinstance(A, Tensor) or A.dim() != 2 or A.shape[0] != A.shape[1]:
        shape = tuple(A.shape) if isinstance(A, Tensor) else type(A).__name__
        raise ValueError(f"{name} must be a square matrix (N, N), got {shape}.")
    return A.shape[0]


def _check_derivatives(dA: Tensor, db: Tensor, n: int) -> int:
    if dA.dim() != 3 or dA.shape[1:] != (n, n):
        raise ValueError(f"dA must be (P, N, N) = (P, {n}, {n}), got {tuple(dA.shape)}.")
    if db.shape != (dA.shape[0], n):
        raise ValueError(
            f"db must be (P, N) = ({dA.shape[0]}, {n}), one row per parameter, got "
            f"{tuple(db.shape)}."
        )
    return dA.shape[0]


def linear_system_gradient(
    A: Tensor,
    b: Tensor,
    dA: Tensor,
    db: Tensor,
    grad_g: Callable[[Tensor], Tensor],
    *,
    method: Literal["adjoint", "direct"] = "adjoint",
) -> tuple[Tensor, Tensor]:
    """The solution u of A u = b and the gradient dg/dp of g(u(p)).

    Differentiating A u = b gives A du/dp_k = ∂b/∂p_k - ∂A/∂p_k u =: r_k. "direct" solves for
    all du/dp_k (P right-hand sides) and contracts with ∂g/∂u; "adjoint" solves once,
    A^T λ = (∂g/∂u)^T, and takes dg/dp_k = λ^T r_k. Both are exact; their costs differ when
    P is large (chapter 5, the adjoint of a linear system).

    Args:
        A: (N, N), invertible.
        b: (N,).
        dA: (P, N, N), dA[k] = ∂A/∂p_k.
        db: (P, N), db[k] = ∂b/∂p_k.
        grad_g: u -> ∂g/∂u, (N,) -> (N,).
        method: "adjoint" or "direct".

    Returns:
        (u, dg/dp): shapes (N,) and (P,).

    Raises:
        ValueError: wrong shapes or an unknown method.
    """
    n = _check_square(A)
    _check_derivatives(dA, db, n)
    if b.shape != (n,):
        raise ValueError(f"b must be (N,) = ({n},), got {tuple(b.shape)}.")
    lu = torch.linalg.lu_factor(A)  # one factorisation serves A and A^T
    u = torch.linalg.lu_solve(*lu, b[:, None])[:, 0]
    residuals = db - dA @ u  # (P, N): r_k = ∂b/∂p_k - ∂A/∂p_k u
    if method == "adjoint":
        lam = torch.linalg.lu_solve(*lu, grad_g(u)[:, None], adjoint=True)[:, 0]  # A^T λ = g_u
        return u, residuals @ lam
    if method == "direct":
        du_dp = torch.linalg.lu_solve(*lu, residuals.T)  # (N, P): one column per parameter
        return u, grad_g(u) @ du_dp
    raise ValueError(f"method must be 'adjoint' or 'direct', got {method!r}.")


def nonlinear_system_gradient(
    F: Callable[[Tensor, Tensor], Tensor],
    u: Tensor,
    p: Tensor,
    grad_g: Callable[[Tensor], Tensor],
) -> Tensor:
    """dg/dp for g(u(p)) where F(u(p), p) = 0, by the adjoint method.

    Differentiating F(u(p), p) = 0 gives F_u du/dp = -F_p, so
    dg/dp = g_u du/dp = -λ^T F_p with F_u^T λ = g_u^T: one linear solve, one
    vector-Jacobian product. F_u is formed with `torch.func.jacrev` (small N).

    Args:
        F: the residual, (N,), (P,) -> (N,).
        u: a solution of F(u, p) = 0 (e.g. from Newton's method), (N,).
        p: the parameters, (P,).
        grad_g: u -> ∂g/∂u, (N,) -> (N,).

    Returns:
        dg/dp, (P,).
    """
    u, p = u.detach(), p.detach()
    F_u = torch.func.jacrev(F, argnums=0)(u, p)  # (N, N)
    lam = torch.linalg.solve(F_u.T, grad_g(u))
    _, vjp = torch.func.vjp(lambda q: F(u, q), p)
    return -vjp(lam)[0]


def euler_adjoint(
    f: Callable[[Tensor, Tensor], Tensor],
    y0: Tensor,
    theta: Tensor,
    *,
    h: float,
    n_steps: int,
    grad_loss: Callable[[Tensor], Tensor],
) -> tuple[Tensor, Tensor, Tensor]:
    """Explicit Euler y_{k+1} = y_k + h f(y_k, θ), and the gradients of L(y_N) by its adjoint.

    The adjoint recurrence runs backwards from λ_N = ∂L/∂y_N:
    λ_k = λ_{k+1} + h (∂f/∂y(y_k, θ))^T λ_{k+1}, and dL/dθ = Σ_k h (∂f/∂θ(y_k, θ))^T λ_{k+1};
    dL/dy_0 = λ_0. Each step costs one vector-Jacobian product of f: this is exactly what
    backpropagation through the loop computes, and it needs every y_k (O(n_steps) memory).

    Args:
        f: the vector field f(y, θ), (N,), (P,) -> (N,).
        y0: (N,). theta: (P,).
        h: the step size. n_steps: the number of steps, >= 0.
        grad_loss: y_N -> ∂L/∂y_N, (N,) -> (N,).

    Returns:
        (y_N, dL/dy_0, dL/dθ): shapes (N,), (N,), (P,).

    Raises:
        ValueError: n_steps is negative or not an integer.
    """
    if not isinstance(n_steps, int) or n_steps < 0:
        raise ValueError(f"n_steps must be a non-negative integer, got {n_steps!r}.")
    y0, theta = y0.detach(), theta.detach()
    ys = [y0]  # the forward pass keeps every state: the backward sweep needs them
    with torch.no_grad():
        for _ in range(n_steps):
            ys.append(ys[-1] + h * f(ys[-1], theta))
    lam = grad_loss(ys[-1]).detach()
    grad_theta = torch.zeros_like(theta)
    for k in range(n_steps - 1, -1, -1):
        _, vjp = torch.func.vjp(f, ys[k], theta)
        lam_f_y, lam_f_theta = vjp(lam)  # λ_{k+1}^T ∂f/∂y and λ_{k+1}^T ∂f/∂θ at (y_k, θ)
        grad_theta = grad_theta + h * lam_f_theta
        lam = lam + h * lam_f_y
    return ys[-1], lam, grad_theta


def expm_frechet(A: Tensor, E: Tensor) -> tuple[Tensor, Tensor]:
    """e^A and the Fréchet derivative L(A, E) = d/ds e^{A + sE} at s = 0.

    From the exponential of the block matrix [[A, E], [0, A]], whose upper-right block is
    L(A, E) = ∫_0^1 e^{A(1-s)} E e^{As} ds (Higham 2008, ch. 3; Van Loan 1978).

    Args:
        A, E: (N, N), or batches (..., N, N) of the same shape.

    Returns:
        (e^A, L(A, E)), each shaped like A.

    Raises:
        ValueError: A and E differ in shape or are not square.
    """
    if A.shape != E.shape or A.dim() < 2 or A.shape[-1] != A.shape[-2]:
        raise ValueError(
            f"A and E must be square matrices of one shape, got {tuple(A.shape)} and "
            f"{tuple(E.shape)}."
        )
    n = A.shape[-1]
    top = torch.cat([A, E], dim=-1)
    bottom = torch.cat([torch.zeros_like(A), A], dim=-1)
    big = torch.linalg.matrix_exp(torch.cat([top, bottom], dim=-2))  # (..., 2N, 2N)
    return big[..., :n, :n], big[..., :n, n:]


def linear_ode_gradient(
    A: Tensor, dA: Tensor, b: Tensor, db: Tensor, c: Tensor, T: float
) -> tuple[Tensor, Tensor]:
    """g = c^T y(T) for y' = A(p) y, y(0) = b(p), and dg/dp, in closed form.

    y(T) = e^{AT} b, so dg/dp_k = c^T (L(AT, T ∂A/∂p_k) b + e^{AT} ∂b/∂p_k), with L the
    Fréchet derivative of the exponential (`expm_frechet`). The adjoint method gives the
    same number (chapter 5, written exercise).

    Args:
        A: (N, N). dA: (P, N, N). b: (N,). db: (P, N). c: (N,). T: the final time.

    Returns:
        (g, dg/dp): a 0-d tensor and (P,).

    Raises:
        ValueError: wrong shapes.
    """
    n = _check_square(A)
    P = _check_derivatives(dA, db, n)
    if b.shape != (n,) or c.shape != (n,):
        raise ValueError(f"b and c must be (N,) = ({n},), got {tuple(b.shape)}, {tuple(c.shape)}.")
    expm_AT = torch.linalg.matrix_exp(A * T)
    _, L = expm_frechet((A * T).expand(P, n, n), dA * T)  # (P, N, N): one L per parameter
    return c @ (expm_AT @ b), (L @ b) @ c + db @ (expm_AT.T @ c)
