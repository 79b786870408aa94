"""nodelib.theory.sensitivity: the direct and adjoint gradients of chapter 5's model problems.

Each gradient is compared with torch.autograd through an independent computation (a dense
solve, a Newton loop, the Euler loop, torch.linalg.matrix_exp) and, where that could hide a
shared mistake, with central differences.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from nodelib.theory.sensitivity import (
    euler_adjoint,
    expm_frechet,
    linear_ode_gradient,
    linear_system_gradient,
    nonlinear_system_gradient,
)

F64 = torch.float64


def _rel(a: Tensor, b: Tensor) -> float:
    return float((a - b).norm() / b.norm())


def _linear_problem(n: int = 6, P: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    A = 3 * torch.eye(n, dtype=F64) + torch.randn(n, n, generator=g, dtype=F64)
    dA = torch.randn(P, n, n, generator=g, dtype=F64)
    b, db = torch.randn(n, generator=g, dtype=F64), torch.randn(P, n, generator=g, dtype=F64)
    return A, b, dA, db


def _with_p(A, b, dA, db, p):
    return A + torch.einsum("k,kij->ij", p, dA), b + p @ db


@pytest.mark.parametrize("method", ["adjoint", "direct"])
def test_linear_system_gradient_matches_autograd(method: str) -> None:
    A, b, dA, db = _linear_problem()
    w = torch.linspace(-1, 1, 6, dtype=F64)

    def g(u: Tensor) -> Tensor:  # a nonlinear g, so that ∂g/∂u depends on u
        return (w * u).sum() + 0.5 * (u**2).sum()

    u, grad = linear_system_gradient(A, b, dA, db, lambda u: w + u, method=method)
    p = torch.zeros(4, dtype=F64, requires_grad=True)
    u_ref = torch.linalg.solve(*_with_p(A, b, dA, db, p))
    ref = torch.autograd.grad(g(u_ref), p)[0]
    assert _rel(u, u_ref.detach()) < 1e-13 and _rel(grad, ref) < 1e-12


def test_linear_system_gradient_refuses_bad_input() -> None:
    A, b, dA, db = _linear_problem()
    with pytest.raises(ValueError, match="square"):
        linear_system_gradient(A[:3], b, dA, db, lambda u: u)
    with pytest.raises(ValueError, match=r"db must be \(P, N\)"):
        linear_system_gradient(A, b, dA, db.T, lambda u: u)
    with pytest.raises(ValueError, match="method"):
        linear_system_gradient(A, b, dA, db, lambda u: u, method="reverse")


def test_nonlinear_system_gradient_matches_central_differences() -> None:
    """F(u, p) = u + 0.2 u^3 - M p - c: u(p) by Newton; dg/dp for g = sum(sin u)."""
    g = torch.Generator().manual_seed(1)
    M, c = torch.randn(5, 3, generator=g, dtype=F64), torch.randn(5, generator=g, dtype=F64)

    def F(u: Tensor, p: Tensor) -> Tensor:
        return u + 0.2 * u**3 - M @ p - c

    def solve(p: Tensor) -> Tensor:
        u = torch.zeros(5, dtype=F64)
        for _ in range(50):
            u = u - F(u, p) / (1 + 0.6 * u**2)  # the Jacobian is diagonal
        return u

    p = torch.tensor([0.3, -0.2, 0.5], dtype=F64)
    grad = nonlinear_system_gradient(F, solve(p), p, torch.cos)
    eps, eye = 1e-6, torch.eye(3, dtype=F64)
    fd = torch.stack(
        [(torch.sin(solve(p + eps * e)).sum() - torch.sin(solve(p - eps * e)).sum()) / (2 * eps)
         for e in eye]
    )  # fmt: skip
    assert _rel(grad, fd) < 1e-8


def test_euler_adjoint_is_backpropagation() -> None:
    g = torch.Generator().manual_seed(2)
    W = torch.randn(3, 3, generator=g, dtype=F64)
    theta = torch.randn(4, generator=g, dtype=F64)

    def f(y: Tensor, th: Tensor) -> Tensor:
        return torch.tanh(W @ y * th[0] + th[1:]) - 0.5 * y

    y0 = torch.tensor([0.5, -1.0, 0.2], dtype=F64)
    yN, g_y0, g_th = euler_adjoint(f, y0, theta, h=0.05, n_steps=40, grad_loss=lambda y: 2 * y)
    Y0, TH = y0.clone().requires_grad_(), theta.clone().requires_grad_()
    y = Y0
    for _ in range(40):
        y = y + 0.05 * f(y, TH)
    ref = torch.autograd.grad((y**2).sum(), (Y0, TH))
    assert torch.allclose(yN, y.detach(), rtol=0, atol=1e-15)
    assert _rel(g_y0, ref[0]) < 1e-13 and _rel(g_th, ref[1]) < 1e-13
    # No steps: y_N = y_0 and dL/dy_0 = ∂L/∂y_N, no gradient for θ.
    _, g0, gth0 = euler_adjoint(f, y0, theta, h=0.05, n_steps=0, grad_loss=lambda y: 2 * y)
    assert torch.equal(g0, 2 * y0) and torch.equal(gth0, torch.zeros(4, dtype=F64))
    with pytest.raises(ValueError, match="n_steps"):
        euler_adjoint(f, y0, theta, h=0.1, n_steps=-1, grad_loss=lambda y: y)


def test_expm_frechet_is_the_directional_derivative() -> None:
    g = torch.Generator().manual_seed(3)
    A, E = torch.randn(4, 4, generator=g, dtype=F64), torch.randn(4, 4, generator=g, dtype=F64)
    expA, L = expm_frechet(A, E)
    assert torch.allclose(expA, torch.linalg.matrix_exp(A), atol=1e-13)
    s = torch.zeros((), dtype=F64, requires_grad=True)
    out = torch.linalg.matrix_exp(A + s * E)
    ref = torch.stack([torch.autograd.grad(out[i, j], s, retain_graph=True)[0]
                       for i in range(4) for j in range(4)]).reshape(4, 4)  # fmt: skip
    assert _rel(L, ref) < 1e-12
    # A commuting direction: L(A, A) = A e^A.
    assert _rel(expm_frechet(A, A)[1], A @ expA) < 1e-12
    with pytest.raises(ValueError, match="square"):
        expm_frechet(A, E[:3])


def test_linear_ode_gradient_matches_matrix_exp_autograd_and_ode_solve() -> None:
    from nodelib import odeint

    A, b, dA, db = _linear_problem(n=3, P=2, seed=4)
    A = A - 4 * torch.eye(3, dtype=F64)
    c, T = torch.tensor([1.0, -2.0, 0.5], dtype=F64), 0.8
    g_val, grad = linear_ode_gradient(A, dA, b, db, c, T)
    p = torch.zeros(2, dtype=F64, requires_grad=True)
    Ap, bp = _with_p(A, b, dA, db, p)
    ref = c @ torch.linalg.matrix_exp(Ap * T) @ bp
    assert float(g_val) == pytest.approx(float(ref.detach()), rel=1e-13)
    assert _rel(grad, torch.autograd.grad(ref, p)[0]) < 1e-12
    ys = odeint(lambda t, y: A @ y, b, torch.tensor([0.0, T], dtype=F64), rtol=1e-12, atol=1e-14)
    assert float(c @ ys[-1]) == pytest.approx(float(g_val), rel=1e-9)
