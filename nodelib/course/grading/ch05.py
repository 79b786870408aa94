"""Chapter 5 (the adjoint method and automatic differentiation): graded exercises and tests.

Questions, each grading one name of ``exercises/ch05_adjoint.ipynb``:

- C5.1 ``linear_system_adjoint(A, b, dA, db, grad_g)``: dg/dp for A(p) u = b(p), by one
  adjoint solve; compared with `nodelib.theory.sensitivity.linear_system_gradient`.
- C5.2 ``Dual``: forward-mode dual numbers; each operation compared with
  `nodelib.theory.autodiff.Dual` (tests in `nodelib.course.grading._ch05_dual`).
- C5.3 ``euler_adjoint(f, f_y, f_theta, y0, theta, h, n_steps, grad_loss)``: the adjoint
  recurrence of explicit Euler; compared with backpropagation through the Euler loop.
- C5.4 ``linear_ode_adjoint(A, dA, b, db, c, T)``: the continuous adjoint of y' = A(p) y;
  compared with the closed form `nodelib.theory.sensitivity.linear_ode_gradient` and with central
  differences.
- C5.5 ``ch5_experiment``: an experiment, read: how the memory and the evaluations of
  backpropagation and of the adjoint grow with the number of steps
  (`nodelib.course.grading._ch05_experiment`).

Failures name the typical mistake that explains them (a missing transpose, a sign, the
Jacobian taken at the wrong step, a forgotten term).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from nodelib.course.grading import _ch05_dual as dual
from nodelib.course.grading import _ch05_experiment as experiment
from nodelib.course.grading import _ch05_ode as ode
from nodelib.course.grading.core import CheckFailed, Question, Test
from nodelib.course.grading.expect import expect_close, expect_tensor
from nodelib.theory.sensitivity import linear_system_gradient

__all__ = ["QUESTIONS"]

F64 = torch.float64


def _linear_problem(n: int, P: int, seed: int, device: torch.device):
    g = torch.Generator().manual_seed(seed)
    A = 3 * torch.eye(n, dtype=F64) + torch.randn(n, n, generator=g, dtype=F64)  # not symmetric
    dA = torch.randn(P, n, n, generator=g, dtype=F64)
    b, db = torch.randn(n, generator=g, dtype=F64), torch.randn(P, n, generator=g, dtype=F64)
    w = torch.randn(n, generator=g, dtype=F64)
    return tuple(x.to(device) for x in (A, b, dA, db, w))


# --- C5.1 linear_system_adjoint -------------------------------------------------------------


def _linear_mistakes(A, b, dA, db, gu_of) -> list[tuple[Tensor, str]]:
    u = torch.linalg.solve(A, b)
    gu = gu_of(u)
    lam = torch.linalg.solve(A.T, gu)
    lam_no_t = torch.linalg.solve(A, gu)
    return [
        ((db - dA @ u) @ lam_no_t, "You solved A λ = g_u: the adjoint equation is A^T λ = g_u."),
        ((dA @ u - db) @ lam, "The sign is flipped: dg/dp_k = λ^T (∂b/∂p_k - ∂A/∂p_k u)."),
        ((db + dA @ u) @ lam, "Check the sign of the ∂A/∂p_k u term: it is subtracted."),
        (db @ lam, "You left out -∂A/∂p_k u: A depends on p too."),
        (-(dA @ u) @ lam, "You left out ∂b/∂p_k: b depends on p too."),
        ((db - dA @ u) @ gu, "You used g_u where λ = A^{-T} g_u^T belongs: solve for λ first."),
    ]


def _linear_random(fn: Any, device: torch.device) -> str:
    cases = ((4, 3, 0, False), (7, 1, 1, True), (5, 9, 2, True))
    for n, P, seed, quadratic in cases:
        A, b, dA, db, w = _linear_problem(n, P, seed, device)

        def grad_g(u: Tensor, w=w, quadratic=quadratic) -> Tensor:  # g = w·u (+ |u|²/2)
            return w + u if quadratic else w

        out = expect_tensor(
            fn(A.clone(), b.clone(), dA.clone(), db.clone(), grad_g),
            b,
            what="linear_system_adjoint's result",
            shape=(P,),
            hints={(n,): "That has one entry per unknown: return dg/dp, one entry per parameter."},
        )
        _, ref = linear_system_gradient(A, b, dA, db, grad_g)
        expect_close(
            out,
            ref,
            what="dg/dp",
            case=f"N = {n}, P = {P}, g = {'w·u + |u|²/2' if quadratic else 'w·u'}",
            tol=1e-9,
            mistakes=_linear_mistakes(A, b, dA, db, grad_g),
            hint="Solve A u = b, then A^T λ = g_u(u), then dg/dp_k = λ^T (∂b/∂p_k - ∂A/∂p_k u).",
        )
    return "3 random systems, N = 4 to 7, P = 1 to 9, linear and quadratic g"


def _linear_autograd(fn: Any, device: torch.device) -> str:
    A, b, dA, db, w = _linear_problem(6, 4, 3, device)
    p = torch.zeros(4, dtype=F64, device=device, requires_grad=True)
    u = torch.linalg.solve(A + torch.einsum("k,kij->ij", p, dA), b + p @ db)
    ref = torch.autograd.grad(torch.sin(w @ u), p)[0]
    out = expect_tensor(
        fn(A, b, dA, db, lambda u: torch.cos(w @ u) * w), b, what="the result", shape=(4,)
    )
    expect_close(
        out,
        ref,
        what="dg/dp",
        case="g = sin(w·u), against torch.autograd through torch.linalg.solve",
        tol=1e-9,
    )
    return "equals torch.autograd for g = sin(w·u)"


# --- C5.3 euler_adjoint ---------------------------------------------------------------------


def _euler_problem(n: int, seed: int, device: torch.device):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(n, n, generator=g, dtype=F64).to(device)  # not symmetric
    theta = torch.randn(n + 1, generator=g, dtype=F64).to(device)
    y0 = torch.randn(n, generator=g, dtype=F64).to(device)

    def f(y: Tensor, th: Tensor) -> Tensor:  # tanh(th_0 W y + th_1:) - y/2
        return torch.tanh(th[0] * (W @ y) + th[1:]) - 0.5 * y

    def f_y(y: Tensor, th: Tensor) -> Tensor:  # (n, n)
        s = 1 - torch.tanh(th[0] * (W @ y) + th[1:]) ** 2
        return s[:, None] * th[0] * W - 0.5 * torch.eye(n, dtype=F64, device=y.device)

    def f_theta(y: Tensor, th: Tensor) -> Tensor:  # (n, n + 1)
        s = 1 - torch.tanh(th[0] * (W @ y) + th[1:]) ** 2
        return torch.cat([(s * (W @ y))[:, None], torch.diag(s)], dim=1)

    return f, f_y, f_theta, y0, theta


def _euler_backprop(f, y0, theta, h, n_steps, loss):
    y0, theta = y0.clone().requires_grad_(), theta.clone().requires_grad_()
    y = y0
    for _ in range(n_steps):
        y = y + h * f(y, theta)
    return torch.autograd.grad(loss(y), (y0, theta), allow_unused=True)


def _euler_variants(f, f_y, f_th, y0, theta, h, n, gl) -> dict[str, tuple[Tensor, Tensor]]:
    ys = [y0]
    for _ in range(n):
        ys.append(ys[-1] + h * f(ys[-1], theta))
    out = {}
    for name in ("late", "no_transpose", "no_h", "lam_k"):
        lam, gth = gl(ys[-1]), torch.zeros_like(theta)
        for k in range(n - 1, -1, -1):
            yk = ys[k + 1] if name == "late" else ys[k]
            J = f_y(yk, theta)
            new_lam = lam + h * (J @ lam if name == "no_transpose" else J.T @ lam)
            weight = new_lam if name == "lam_k" else lam
            gth = gth + (1.0 if name == "no_h" else h) * f_th(yk, theta).T @ weight
            lam = new_lam
        out[name] = (lam, gth)
    return out


EULER_ADVICE = {
    "late": "You evaluate the Jacobians at y_{k+1}: step k of the recurrence uses y_k, the "
    "state the step started from.",
    "no_transpose": "Transpose the Jacobian: λ_k = λ_{k+1} + h (∂f/∂y)^T λ_{k+1}.",
    "no_h": "Each step adds h (∂f/∂θ)^T λ_{k+1} to the gradient: the factor h is missing.",
    "lam_k": "The gradient of step k uses λ_{k+1}, the sensitivity to the state that step "
    "produced, not λ_k.",
}


def _euler_case(fn: Any, device: torch.device, n: int, seed: int, h: float, n_steps: int) -> None:
    f, f_y, f_th, y0, theta = _euler_problem(n, seed, device)

    def loss(y: Tensor) -> Tensor:
        return (y**2).sum() + y[0]

    def grad_loss(y: Tensor) -> Tensor:
        return 2 * y + torch.eye(n, dtype=F64, device=y.device)[0]

    out = fn(f, f_y, f_th, y0.clone(), theta.clone(), h, n_steps, grad_loss)
    if not isinstance(out, tuple | list) or len(out) != 2:
        raise CheckFailed("euler_adjoint should return a pair (dL/dy0, dL/dθ).")
    g_y0 = expect_tensor(out[0], y0, what="dL/dy0 (the first result)")
    g_th = expect_tensor(out[1], theta, what="dL/dθ (the second result)")
    ref_y0, ref_th = _euler_backprop(f, y0, theta, h, n_steps, loss)
    variants = _euler_variants(f, f_y, f_th, y0, theta, h, n_steps, grad_loss)
    case = f"n = {n}, h = {h}, {n_steps} steps, against backpropagation through the Euler loop"
    for got, ref, index, what in ((g_y0, ref_y0, 0, "dL/dy0"), (g_th, ref_th, 1, "dL/dθ")):
        expect_close(
            got,
            ref,
            what=what,
            case=case,
            tol=1e-10,
            mistakes=[(v[index], EULER_ADVICE[k]) for k, v in variants.items()],
            hint="Start from λ_N = grad_loss(y_N) and run λ_k = λ_{k+1} + h f_y(y_k)^T λ_{k+1} "
            "backwards, adding h f_θ(y_k)^T λ_{k+1} to dL/dθ at each step.",
        )


def _euler_random(fn: Any, device: torch.device) -> str:
    for n, seed, h, n_steps in ((3, 0, 0.1, 10), (2, 1, 0.05, 25), (4, 2, 0.2, 5)):
        _euler_case(fn, device, n, seed, h, n_steps)
    return "3 problems, 5 to 25 steps: equal to backpropagation"


def _euler_edges(fn: Any, device: torch.device) -> str:
    _euler_case(fn, device, 3, 3, 0.1, 1)
    f, f_y, f_th, y0, theta = _euler_problem(2, 4, device)
    out = fn(f, f_y, f_th, y0, theta, 0.1, 0, lambda y: 2 * y)
    expect_close(
        out[0], 2 * y0, what="dL/dy0", case="n_steps = 0", tol=1e-12,
        hint="With no steps y_N = y_0, so dL/dy_0 = grad_loss(y_0).",
    )  # fmt: skip
    expect_close(
        out[1], torch.zeros_like(theta), what="dL/dθ", case="n_steps = 0", tol=1e-12,
        hint="With no steps the loss does not depend on θ: return zeros shaped like θ.",
    )  # fmt: skip
    return "one step, and no steps"


QUESTIONS: tuple[Question, ...] = (
    Question("C5.1", "linear_system_adjoint", "the adjoint of a linear system", 2, (
        Test("matches nodelib's adjoint gradient on random systems", _linear_random),
        Test("equals torch.autograd through the solve", _linear_autograd),
    )),
    Question("C5.2", "Dual", "forward-mode dual numbers", 3, (
        Test("stores .value and .deriv; operations return new Duals", dual.dual_structure),
        Test("each operation applies its rule (numbers on either side)", dual.dual_arithmetic),
        Test("exact derivatives of whole programs", dual.dual_programs),
    )),
    Question("C5.3", "euler_adjoint", "the adjoint of the Euler recurrence", 3, (
        Test("equals backpropagation through the Euler loop", _euler_random),
        Test("one step and no steps", _euler_edges),
    )),
    Question("C5.4", "linear_ode_adjoint", "the continuous adjoint of y' = A(p) y", 3, (
        Test("matches the closed form", ode.closed_form, timeout=30.0),
        Test("matches central differences", ode.finite_differences, timeout=30.0),
    )),
    Question("C5.5", "ch5_experiment", "an experiment: what backprop and the adjoint cost, by "
             "steps", 3, experiment.EXPERIMENT_TESTS, kind="value", prepare=experiment.prepare),
)  # fmt: skip
