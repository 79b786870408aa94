"""Chapter 2 (Runge–Kutta, multistep, stability): the graded coding exercises and their tests.

Questions, each grading one name of ``exercises/ch02_runge_kutta_multistep.ipynb``:

- C2.1 ``rk_step(f, t, y, h, A, b, c)``: one explicit Runge–Kutta step from a Butcher tableau.
- C2.2 ``rk_order(A, b)``: the highest order p <= 4 whose order conditions hold.
- C2.3 ``ab2_solve(f, y0, t)``: Adams–Bashforth 2 on a uniform grid, started by one RK4 step.
- C2.4 ``satisfies_root_condition(alpha)``: Dahlquist's root condition for ρ.
- C2.5 ``stability_function(A, b, z)``: R(z) of a Runge–Kutta method.
- C2.6 ``in_stability_region(A, b, z)``: whether z lies in the stability region.
- C2.7 ``embedded_step(f, t, y, h, A, b, b_hat, c)``: a step with its embedded error estimate.
- C2.8 ``propose_step(error, y, y_next, h, rtol, atol, k)``: accept or reject, and the next h.
- C2.9 ``ch2_experiment``: an experiment, read: the largest stable step of Heun's method and
  RK4 on a stiff problem, measured and predicted from the stability region, and what it costs
  (tests in `nodelib.course.grading._ch02_experiment`).

The tests compare with nodelib (`nodelib.rk.rk_step`, `nodelib.theory.order_conditions`,
`nodelib.odeint`, `nodelib.theory.lmm.root_condition`, `ButcherTableau.stability_function`,
`nodelib.step_control`) on named tableaux, random problems and edge cases. C2.4 to C2.8 are
tested in `nodelib.course.grading._ch02_stability`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from nodelib.course.grading import _ch02_experiment as experiment
from nodelib.course.grading import _ch02_stability as stability
from nodelib.course.grading.core import CheckFailed, Question, Test
from nodelib.course.grading.expect import (
    case_text,
    expect_close,
    expect_order,
    expect_tensor,
    measure_order,
    random_field,
    random_state,
    tolerance,
)
from nodelib.odeint import odeint
from nodelib.rk import RKCoefficients, rk_step
from nodelib.tableau import GAUSS_LEGENDRE2, TABLEAUS, ButcherTableau
from nodelib.theory.analysis import convergence_errors
from nodelib.theory.order_conditions import order_of_weights

__all__ = ["QUESTIONS", "explicit_tableaux"]

F64, F32 = torch.float64, torch.float32


def explicit_tableaux() -> list[ButcherTableau]:
    """The named explicit tableaux the tests use."""
    return [TABLEAUS[n] for n in ("euler", "midpoint", "heun", "rk4", "rk38", "bosh3", "dopri5")]


def _lists(tab: ButcherTableau) -> tuple[list[list[float]], list[float], list[float]]:
    return [list(r) for r in tab.a], list(tab.b), list(tab.c)


def _reference_step(f: Any, t: Tensor, y: Tensor, h: float, tab: ButcherTableau) -> Tensor:
    coeffs = RKCoefficients.from_tableau(tab)
    return rk_step(
        lambda s, x: f(torch.as_tensor(s, dtype=y.dtype), x), float(t), y, h, coeffs, f(t, y)
    )[0]


# --- C2.1 rk_step ------------------------------------------------------------------------------


def _rk_mistakes(f: Any, t: Tensor, y: Tensor, h: float, tab: ButcherTableau) -> list:
    A, b, c = (np.asarray(v, float) for v in (tab.a, tab.b, tab.c))
    s = len(c)

    def variant(*, no_c: bool = False, no_h_in_stage: bool = False, weights=b) -> Tensor:
        k: list[Tensor] = []
        for i in range(s):
            incr = sum((A[i, j] * k[j] for j in range(i)), torch.zeros_like(y))
            ti = t if no_c else t + c[i] * h
            k.append(f(ti, y + (incr if no_h_in_stage else h * incr)))
        return y + h * sum(w * kk for w, kk in zip(weights, k, strict=True))

    return [
        (variant(no_c=True), "You evaluate every stage at time t: stage i is at t + c_i·h."),
        (variant(no_h_in_stage=True), "The stage arguments need the factor h: y + h·Σ_j a_ij k_j."),
        (variant(weights=np.ones(s) / s), "You averaged the stages equally: weight them by b."),
    ]


def _rk_step_random(step: Any, device: torch.device) -> str:
    cases = (((), F64), ((3,), F32), ((2, 3), F64), ((4,), F64))
    for k, tab in enumerate(explicit_tableaux()):
        shape, dtype = cases[k % len(cases)]
        f, field = random_field(shape, dtype, device, seed=200 + k)
        y = random_state(shape, dtype, device, seed=210 + k)
        t, h = torch.tensor(0.2 + 0.1 * k, dtype=dtype, device=device), 0.15
        A, b, c = _lists(tab)
        out = expect_tensor(step(f, t, y.clone(), h, A, b, c), y, what="rk_step's result")
        expect_close(
            out,
            _reference_step(f, t, y, h, tab),
            what="rk_step's result",
            case=f"the {tab.name} tableau, {field}, {case_text(y, t=float(t), h=h)}",
            tol=tolerance(dtype),
            mistakes=_rk_mistakes(f, t, y, h, tab),
            hint="k_i = f(t + c_i h, y + h Σ_{j<i} a_ij k_j), y_next = y + h Σ_i b_i k_i.",
        )
    return "euler, midpoint, heun, rk4, rk38, bosh3, dopri5 on random problems"


def _rk_step_order(step: Any, device: torch.device) -> str:
    A, b, c = _lists(TABLEAUS["rk4"])
    y0 = torch.ones((), dtype=F64, device=device)
    exact = torch.exp(torch.sin(torch.tensor(1.0, dtype=F64))).to(device)

    def f(t: Tensor, y: Tensor) -> Tensor:
        return y * torch.cos(t)

    def one(f_: Any, t: Tensor, y: Tensor, h: float) -> Tensor:
        return expect_tensor(step(f_, t, y.clone(), h, A, b, c), y, what="rk_step's result")

    hs, errors = convergence_errors(one, f, y0, 0.0, 1.0, exact, (4, 8, 16, 32))
    return expect_order(
        measure_order(hs, errors),
        4,
        low=3.7,
        high=4.4,
        what="the global error of your step with RK4's tableau",
    )


# --- C2.2 rk_order ------------------------------------------------------------------------------


def _perturbed(tab: ButcherTableau, i: int, j: int, eps: float) -> tuple[list, list]:
    A, b, _ = _lists(tab)
    A[i][j] += eps
    A[i][0] -= eps  # keep the row sum: c unchanged
    return A, b


def _order_cases() -> list[tuple[str, list, list]]:
    cases = [(t.name, *_lists(t)[:2]) for t in explicit_tableaux()]
    cases.append((GAUSS_LEGENDRE2.name + " (implicit)", *_lists(GAUSS_LEGENDRE2)[:2]))
    rk4 = TABLEAUS["rk4"]
    cases.append(("rk4 with a_32 changed (row sums kept)", *_perturbed(rk4, 2, 1, 0.1)))
    cases.append(("rk4 with a_43 changed (row sums kept)", *_perturbed(rk4, 3, 2, 0.05)))
    A = [list(r) for r in rk4.a]
    A[3][1], A[3][2] = 0.2, 0.8  # keeps c, A c and A c²: only Σ b A A c = 1/24 fails
    cases.append(("rk4 with a_42 = 0.2, a_43 = 0.8", A, list(rk4.b)))
    cases.append(
        (
            "weights b = (1/2, 0, 0, 1/2) with rk4's A",
            [list(r) for r in rk4.a],
            [0.5, 0.0, 0.0, 0.5],
        )
    )
    cases.append(("weights that do not sum to 1", [[0.0, 0.0], [1.0, 0.0]], [0.6, 0.6]))
    cases.append(
        (
            "a 3-stage method of order 3 (Kutta)",
            [[0, 0, 0], [0.5, 0, 0], [-1, 2, 0]],
            [1 / 6, 2 / 3, 1 / 6],
        )
    )
    return cases


def _order_cases_test(rk_order: Any, device: torch.device) -> str:
    for name, A, b in _order_cases():
        expected = order_of_weights(A, b, max_order=4)
        got = rk_order([list(r) for r in A], list(b))
        if isinstance(got, Tensor):
            got = got.item()
        if isinstance(got, bool) or not isinstance(got, (int, np.integer)):
            raise CheckFailed(f"rk_order should return an int, not {type(got).__name__}.")
        if int(got) != expected:
            hint = (
                "Check all 8 conditions up to order 4, with c_i = Σ_j a_ij: Σb = 1, "
                "Σ b c = 1/2, Σ b c² = 1/3, Σ b A c = 1/6, Σ b c³ = 1/4, Σ b c A c = 1/8, "
                "Σ b A c² = 1/12, Σ b A A c = 1/24."
            )
            if int(got) > expected:
                hint = (
                    f"The order conditions of order {expected + 1} fail for this method: "
                    "compare each sum with a tolerance (1e-10), and return the last order "
                    "for which all conditions of that order and below hold. " + hint
                )
            raise CheckFailed(f"for {name} you returned order {got}, expected {expected}. {hint}")
    return f"{len(_order_cases())} tableaux: named, implicit, perturbed"


# --- C2.3 ab2_solve ------------------------------------------------------------------------------


def _ab2_random(solve: Any, device: torch.device) -> str:
    for i, (shape, dtype) in enumerate((((), F64), ((3,), F64), ((2, 2), F32))):
        f, field = random_field(shape, dtype, device, seed=300 + i)
        y0 = random_state(shape, dtype, device, seed=310 + i)
        t = torch.linspace(0.1, 1.3, 9 + i, dtype=dtype, device=device)
        out = expect_tensor(
            solve(f, y0.clone(), t), y0, what="ab2_solve's result", shape=(len(t), *shape)
        )
        expected = odeint(f, y0, t, method="adams_bashforth2")
        euler_start = odeint(f, y0, t[:2], method="euler")[-1]
        mistakes = [
            (
                _ab2_from(f, y0, t, euler_start),
                "Your first step looks like an "
                "Euler step: take it with RK4 (your rk_step with RK4's tableau).",
            )
        ]
        expect_close(
            out,
            expected,
            what="ab2_solve's result",
            case=f"{field}, {case_text(y0)}, {len(t)} equally spaced times",
            tol=tolerance(dtype),
            mistakes=mistakes,
            hint="y_{n+1} = y_n + h (3/2 f_n - 1/2 f_{n-1}); y_1 from one RK4 step.",
        )
    return "3 random problems against nodelib.odeint(method='adams_bashforth2')"


def _ab2_from(f: Any, y0: Tensor, t: Tensor, y1: Tensor) -> Tensor:
    ys, h = [y0, y1], t[1] - t[0]
    for n in range(1, len(t) - 1):
        ys.append(ys[n] + h * (1.5 * f(t[n], ys[n]) - 0.5 * f(t[n - 1], ys[n - 1])))
    return torch.stack(ys)


def _ab2_order(solve: Any, device: torch.device) -> str:
    y0 = torch.ones(1, dtype=F64, device=device)
    exact = float(torch.exp(torch.sin(torch.tensor(2.0, dtype=F64))))
    hs, errors = [], []
    for n in (10, 20, 40, 80):
        t = torch.linspace(0.0, 2.0, n + 1, dtype=F64, device=device)
        out = expect_tensor(
            solve(lambda s, y: y * torch.cos(s), y0, t),
            y0,
            what="ab2_solve's result",
            shape=(n + 1, 1),
        )
        hs.append(2.0 / n)
        errors.append(abs(float(out[-1, 0]) - exact))
    return expect_order(
        measure_order(hs, errors), 2, low=1.8, high=2.3, what="the error of your Adams–Bashforth 2"
    )


QUESTIONS: tuple[Question, ...] = (
    Question("C2.1", "rk_step", "one explicit Runge–Kutta step from a tableau", 2, (
        Test("matches nodelib.rk.rk_step for seven tableaux", _rk_step_random),
        Test("with RK4's tableau the error shrinks like h^4", _rk_step_order),
    )),
    Question("C2.2", "rk_order", "the order from the order conditions", 2, (
        Test("agrees with nodelib.theory.order_conditions up to order 4", _order_cases_test),
    )),
    Question("C2.3", "ab2_solve", "Adams–Bashforth 2 on a uniform grid", 2, (
        Test("matches nodelib.odeint(method='adams_bashforth2')", _ab2_random),
        Test("the error shrinks like h^2", _ab2_order),
    )),
    Question("C2.4", "satisfies_root_condition", "the root condition of ρ", 2,
             stability.ROOT_TESTS),
    Question("C2.5", "stability_function", "the stability function R(z)", 2,
             stability.STABILITY_FUNCTION_TESTS),
    Question("C2.6", "in_stability_region", "whether hλ lies in the stability region", 1,
             stability.REGION_TESTS),
    Question("C2.7", "embedded_step", "a step with its embedded error estimate", 2,
             stability.EMBEDDED_TESTS),
    Question("C2.8", "propose_step", "the step-size controller", 2, stability.CONTROLLER_TESTS),
    Question("C2.9", "ch2_experiment", "an experiment: where explicit steps break on a stiff "
             "problem", 4, experiment.EXPERIMENT_TESTS, kind="value", prepare=experiment.prepare),
)  # fmt: skip
