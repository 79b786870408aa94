"""Chapter 1's tests of the implicit methods: backward Euler (C1.3) and the θ-method (C1.4).

Part of `nodelib.course.grading.ch01`, kept apart for length. The reader's step is compared with
`nodelib.implicit.ThetaMethod` (Newton tolerance 1e-12) on linear and nonlinear problems,
its result is checked to solve the implicit equation, and on a stiff problem and by its
measured order. The states are 1-D float64 tensors (n,), as the exercise says.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import torch
from torch import Tensor

from nodelib._types import VectorField
from nodelib.course.grading.core import CheckFailed, Test
from nodelib.course.grading.expect import (
    Mistake,
    case_text,
    checked_step,
    expect_close,
    expect_order,
    expect_tensor,
    measure_order,
)
from nodelib.errors import ConvergenceError
from nodelib.implicit import ThetaMethod
from nodelib.theory.analysis import convergence_errors

__all__ = ["BACKWARD_EULER_TESTS", "THETA_TESTS"]

F64 = torch.float64


def reference_theta(f: VectorField, t: Tensor, y: Tensor, h: float, theta: float) -> Tensor:
    """One θ-method step by nodelib, with a tight Newton tolerance."""
    method = ThetaMethod(theta, newton_tol=1e-12, newton_max_iter=100)
    method.start(f, t, y, h)
    return method.step(f, t, y, h)[0]


def _field(n: int, device: torch.device, seed: int, *, nonlinear: bool) -> tuple[VectorField, str]:
    g = torch.Generator().manual_seed(seed)
    A = (-torch.eye(n, dtype=F64) + 0.5 * torch.randn(n, n, generator=g, dtype=F64)).to(device)
    b = torch.randn(n, generator=g, dtype=F64).to(device)

    def f(t: Tensor | float, y: Tensor) -> Tensor:
        forcing = torch.cos(torch.as_tensor(t, dtype=y.dtype, device=y.device))
        return A @ y - (y**3 if nonlinear else 0) + b * forcing

    return f, "y' = A·y - y³ + b·cos(t)" if nonlinear else "y' = A·y + b·cos(t)"


def _cases(device: torch.device) -> list[tuple[VectorField, str, Tensor, Tensor, float, bool]]:
    """(f, description, t, y, h, whether f is linear in y) for 2 linear and 2 nonlinear fields."""
    out = []
    for i, (n, nonlinear) in enumerate(((1, False), (3, False), (2, True), (4, True))):
        f, text = _field(n, device, 200 + i, nonlinear=nonlinear)
        g = torch.Generator().manual_seed(210 + i)
        y = (0.6 * torch.randn(n, generator=g, dtype=F64)).to(device)
        t = torch.tensor(0.2 + 0.3 * i, dtype=F64, device=device)
        out.append((f, text, t, y, 0.04 * (i + 1), not nonlinear))
    return out


def _shifted(f: VectorField, dt: float) -> VectorField:
    return lambda s, y: f(s + dt, y)


def _negated(f: VectorField) -> VectorField:
    return lambda s, y: -f(s, y)


def _residual_check(
    out: Tensor,
    f: VectorField,
    t: Tensor,
    y: Tensor,
    h: float,
    theta: float,
    case: str,
    linear: bool,
) -> None:
    implicit = y + h * ((1 - theta) * f(t, y) + theta * f(t + h, out))
    residual = float(((out - implicit).abs() / (1 + out.abs())).max())
    if residual <= 1e-8:
        return
    equation = "y_next = y + h·((1 - θ)·f(t, y) + θ·f(t + h, y_next))"
    if linear:  # Newton solves a linear equation exactly in one iteration
        advice = (
            f"For a linear f Newton's method is exact after one iteration, so the "
            f"equation you solve is not the method's: compare it with {equation}."
        )
    else:
        advice = (
            "Either Newton's iteration stopped too early (iterate until the update is "
            "below tol: for a nonlinear f one iteration is not enough; the Newton matrix "
            "is I - θ·h·J with J = ∂f/∂y at the current iterate) or the equation you "
            f"solve differs from {equation}."
        )
    raise CheckFailed(
        f"your y_next does not solve the implicit equation of the step for {case}: the "
        f"residual is {residual:.2g}. {advice}"
    )


def _mistakes(f: VectorField, t: Tensor, y: Tensor, h: float, theta: float) -> list[Mistake]:
    """What typical mistakes would return (those nodelib's Newton can compute)."""
    variants = [
        (
            lambda: y + h * f(t, y),
            "That is explicit Euler: the implicit part takes the slope "
            "at the new point, f(t + h, y_next), which needs Newton's method.",
        ),
        (
            lambda: reference_theta(_shifted(f, -h), t, y, h, theta),
            "You evaluate f(t, ·) "
            "where the method needs f(t + h, y_next): the new slope belongs to the new time.",
        ),
        (
            lambda: reference_theta(_negated(f), t, y, h, theta),
            "Check the sign: y_next = y + h·(...).",
        ),
        (
            lambda: reference_theta(f, t, y, h, 1.0),
            "That is backward Euler (θ = 1), whatever θ is.",
        ),
        (
            lambda: reference_theta(f, t, y, h, 1 - theta),
            "You swapped the weights: θ "
            "multiplies the new slope f(t + h, y_next) and 1 - θ the old one f(t, y).",
        ),
    ]
    out = []
    for make, message in variants:
        with contextlib.suppress(ConvergenceError):
            out.append((make(), message))
    return out


def _compare(step: Any, device: torch.device, theta: float, call: Any) -> None:
    for f, field, t, y, h, linear in _cases(device):
        out = expect_tensor(call(step, f, t, y.clone(), h), y, what="your y_next")
        case = f"{field}, {case_text(y, t=float(t), h=h)}" + (f", θ = {theta}" if theta < 1 else "")
        expected = reference_theta(f, t, y, h, theta)
        mistakes = [
            m for m in _mistakes(f, t, y, h, theta) if float((m[0] - expected).abs().max()) > 1e-6
        ]  # tells apart from correct
        explained = any(float((out - m).abs().max()) < 1e-8 for m, _ in mistakes)
        if theta != 0 and not explained and float((out - expected).abs().max()) > 1e-8:
            _residual_check(out, f, t, y, h, theta, case, linear)
        expect_close(out, expected, what="your y_next", case=case, tol=1e-8, mistakes=mistakes)


def _logistic_order(step: Any, device: torch.device, expected: int, advice: Any) -> str:
    """The measured order of `step` on y' = y(1 - y), y(0) = 1/2 over [0, 1]."""
    y0 = torch.full((1,), 0.5, dtype=F64, device=device)
    exact = torch.full((1,), 1 / (1 + math.exp(-1.0)), dtype=F64, device=device)
    logistic, ns = (lambda t, y: y * (1 - y)), (10, 20, 40, 80)
    hs, errors = convergence_errors(checked_step(step, "your y_next"), logistic, y0, 0.0, 1.0,
                                    exact, ns)  # fmt: skip
    return expect_order(
        measure_order(hs, errors),
        expected,
        low=expected - 0.15,
        high=expected + 0.35,
        what="the global error on y' = y(1 - y)",
        advice=advice,
    )


# --- C1.3 backward_euler_step ---------------------------------------------------------------


def _be_matches(step: Any, device: torch.device) -> str:
    _compare(step, device, 1.0, lambda s, f, t, y, h: s(f, t, y, h))
    return "2 linear and 2 nonlinear problems, n = 1 to 4"


def _be_stiff(step: Any, device: torch.device) -> str:
    lam = torch.tensor([-1000.0, -1.0], dtype=F64, device=device)
    y = torch.ones(2, dtype=F64, device=device)
    t = torch.tensor(0.0, dtype=F64, device=device)
    out = expect_tensor(step(lambda s, z: lam * z, t, y, 0.1), y, what="your y_next")
    factor = float(out[0])
    if abs(factor - 1 / 101) > 1e-8:
        raise CheckFailed(
            "on the stiff problem y' = -1000·y with h = 0.1 your step multiplied y by "
            f"{factor:.4g}; backward Euler's factor is 1/(1 - hλ) = 1/101 ≈ 0.0099 (explicit "
            "Euler's would be 1 + hλ = -99): stable for every h > 0."
        )
    return "y' = -1000·y with h = 0.1 decays by the factor 1/101"


def _be_order(step: Any, device: torch.device) -> str:
    return _logistic_order(step, device, 1, lambda p: "Backward Euler has order 1.")


BACKWARD_EULER_TESTS = (
    Test("matches nodelib's backward Euler (linear and nonlinear f)", _be_matches),
    Test("is stable on a stiff problem", _be_stiff),
    Test("the global error shrinks like h^1", _be_order),
)


# --- C1.4 theta_step ------------------------------------------------------------------------


def _theta_explicit(step: Any, device: torch.device) -> str:
    _compare(step, device, 0.0, lambda s, f, t, y, h: s(f, t, y, h, 0.0))
    return "θ = 0 is explicit Euler"


def _theta_matches(step: Any, device: torch.device) -> str:
    for theta in (0.3, 0.5, 1.0, 0.8):
        _compare(step, device, theta, lambda s, f, t, y, h, th=theta: s(f, t, y, h, th))
    return "θ = 0.3, 1/2, 1, 0.8 on linear and nonlinear problems"


def _theta_order(step: Any, device: torch.device) -> str:
    notes = []
    for theta, expected in ((0.5, 2), (1.0, 1)):

        def advice(p: float, th: float = theta) -> str:
            return (
                f"(θ = {th}) The trapezoid rule, θ = 1/2, weights both slopes by 1/2 and "
                "has order 2; every other θ has order 1."
            )

        notes.append(
            _logistic_order(
                lambda f, t, y, h, th=theta: step(f, t, y, h, th), device, expected, advice
            )
            + f" at θ = {theta}"
        )
    return "; ".join(notes)


THETA_TESTS = (
    Test("θ = 0 gives explicit Euler", _theta_explicit),
    Test("matches nodelib's θ-method", _theta_matches),
    Test("order 2 at θ = 1/2, order 1 at θ = 1", _theta_order),
)
