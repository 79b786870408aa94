"""Chapter 5's tests of the continuous adjoint for y' = A(p) y (question C5.4).

Part of `nodelib.course.grading.ch05`, kept apart for length. The reader's gradient of
g = c^T y(T) is compared with the closed form `nodelib.theory.sensitivity.linear_ode_gradient`
(the Fréchet derivative of the matrix exponential) and with central differences; the typical
mistakes (no transpose, the wrong sign, a forgotten term) are evaluated by quadrature of the
adjoint formula with the wrong λ, so that the feedback can name them.
"""

from __future__ import annotations

from typing import Any

import torch
from numpy.polynomial.legendre import leggauss
from torch import Tensor

from nodelib.course.grading.expect import expect_close, expect_tensor
from nodelib.theory.sensitivity import linear_ode_gradient

__all__ = ["closed_form", "finite_differences"]

F64 = torch.float64


def _ode_problem(n: int, P: int, seed: int, device: torch.device):
    g = torch.Generator().manual_seed(seed)
    A = -1.0 * torch.eye(n, dtype=F64) + 0.8 * torch.randn(n, n, generator=g, dtype=F64)
    dA = 0.5 * torch.randn(P, n, n, generator=g, dtype=F64)
    b, db = torch.randn(n, generator=g, dtype=F64), torch.randn(P, n, generator=g, dtype=F64)
    c = torch.randn(n, generator=g, dtype=F64)
    return tuple(x.to(device) for x in (A, dA, b, db, c))


def _adjoint_formula(A, dA, b, db, c, T, M) -> Tensor:
    """λ(0)^T ∂b/∂p + ∫ λ^T (∂A/∂p) y dt with λ(t) = e^{M (T - t)} c (40-point Gauss–Legendre)."""
    x, w = (torch.tensor(v, dtype=F64, device=A.device) for v in leggauss(40))
    ts, ws = T * (x + 1) / 2, T * w / 2
    lam = torch.stack([torch.linalg.matrix_exp(M * (T - t)) @ c for t in ts])  # (Q, N)
    y = torch.stack([torch.linalg.matrix_exp(A * t) @ b for t in ts])  # (Q, N)
    return db @ (torch.linalg.matrix_exp(M * T) @ c) + torch.einsum(
        "q,qi,kij,qj->k", ws, lam, dA, y
    )


def _ode_mistakes(A, dA, b, db, c, T) -> list[tuple[Tensor, str]]:
    _, right = linear_ode_gradient(A, dA, b, db, c, T)
    lam0 = torch.linalg.matrix_exp(A.T * T) @ c
    return [
        (right - db @ lam0, "You left out λ(0)^T ∂b/∂p: the initial value depends on p too."),
        (db @ lam0, "You left out the integral of λ^T (∂A/∂p_k) y: A depends on p too."),
        (
            _adjoint_formula(A, dA, b, db, c, T, A),
            "The adjoint equation is λ' = -A^T λ: transpose A.",
        ),
        (
            _adjoint_formula(A, dA, b, db, c, T, -A.T),
            "Check the sign of the adjoint equation: λ' = -A^T λ, solved backwards from T.",
        ),
    ]


def closed_form(fn: Any, device: torch.device) -> str:
    for n, P, seed, T in ((2, 2, 0, 1.0), (3, 1, 1, 0.7), (3, 4, 2, 1.5)):
        A, dA, b, db, c = _ode_problem(n, P, seed, device)
        out = expect_tensor(
            fn(A, dA, b, db, c, T), b, what="linear_ode_adjoint's result", shape=(P,),
            hints={(n,): "That has one entry per state component: return dg/dp (P,)."},
        )  # fmt: skip
        _, ref = linear_ode_gradient(A, dA, b, db, c, T)
        expect_close(
            out,
            ref,
            what="dg/dp",
            case=f"N = {n}, P = {P}, T = {T}, against the closed form (matrix exponential)",
            tol=1e-6,
            mistakes=_ode_mistakes(A, dA, b, db, c, T),
            hint="Solve y forwards; then λ' = -A^T λ from λ(T) = c backwards, with "
            "μ_k' = -λ^T (∂A/∂p_k) y; dg/dp_k = λ(0)^T ∂b/∂p_k + μ_k(0).",
        )
    return "3 problems, N = 2 and 3, P = 1 to 4: within 1e-6 of the closed form"


def finite_differences(fn: Any, device: torch.device) -> str:
    A, dA, b, db, c = _ode_problem(3, 2, 5, device)
    T, step = 1.2, 1e-5
    out = expect_tensor(fn(A, dA, b, db, c, T), b, what="the result", shape=(2,))

    def g(p: Tensor) -> Tensor:
        Ap, bp = A + torch.einsum("k,kij->ij", p, dA), b + p @ db
        return c @ torch.linalg.matrix_exp(Ap * T) @ bp

    eye = torch.eye(2, dtype=F64, device=device)
    fd = torch.stack([(g(step * e) - g(-step * e)) / (2 * step) for e in eye])
    expect_close(
        out, fd, what="dg/dp", case="central differences of g(p), step 1e-5", tol=1e-6,
        hint="Your gradient disagrees with finite differences of c^T y(T).",
    )  # fmt: skip
    return "agrees with central differences"
