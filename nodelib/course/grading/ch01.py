"""Chapter 1 (one-step methods): the graded coding exercises and their tests.

Questions, each grading one name of ``exercises/ch01_one_step_methods.ipynb``:

- C1.1 ``euler_step(f, t, y, h)``: one explicit Euler step.
- C1.2 ``euler_solve(f, y0, t)``: explicit Euler on a grid, one step per interval.
- C1.3 ``backward_euler_step(f, t, y, h)``: one implicit Euler step, solved by Newton.
- C1.4 ``theta_step(f, t, y, h, theta)``: one step of the θ-method.
- C1.5 ``empirical_order(hs, errors)``: the least-squares slope of a log–log plot.
- C1.6 ``measured_orders``: a dict θ -> measured order (checks a written answer).
- C1.7 ``picard_iteration(f, t, y0, n_iter)``: Picard's iteration on a grid.
- C1.8 ``ch1_experiment``: an experiment, read: the order of a method the chapter does not
  present, where its log–log line starts, where float32 round-off ends it, and why.

The tests compare with nodelib's references (`nodelib.rk`, `nodelib.odeint`,
`nodelib.implicit.ThetaMethod`, `nodelib.theory.analysis`) on random and edge cases, and measure
orders of convergence; failures name the typical mistake that explains them. The implicit
methods (C1.3, C1.4) are tested in `nodelib.course.grading._ch01_implicit`, the analysis tools
(C1.5 to C1.7) in `nodelib.course.grading._ch01_analysis`, the experiment (C1.8) in
`nodelib.course.grading._ch01_experiment`.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from nodelib.course.grading import _ch01_analysis as analysis
from nodelib.course.grading import _ch01_experiment as experiment
from nodelib.course.grading import _ch01_implicit as implicit
from nodelib.course.grading.core import CheckFailed, Question, Test
from nodelib.course.grading.expect import (
    case_text,
    checked_step,
    expect_close,
    expect_order,
    expect_tensor,
    measure_order,
    random_field,
    random_grid,
    random_state,
    tolerance,
)
from nodelib.odeint import odeint
from nodelib.rk import RKCoefficients, rk_step
from nodelib.tableau import EULER
from nodelib.theory.analysis import convergence_errors

__all__ = ["QUESTIONS"]

F64, F32 = torch.float64, torch.float32
CASES = (((), F64), ((3,), F32), ((2, 3), F64), ((4,), F64))


# --- C1.1 euler_step ------------------------------------------------------------------------


def _euler_reference(f: Any, t: Tensor, y: Tensor, h: float) -> Tensor:
    coeffs = RKCoefficients.from_tableau(EULER)
    return rk_step(f, float(t), y, h, coeffs, f(t, y))[0]


def _euler_mistakes(f: Any, t: Tensor, y: Tensor, h: float) -> list[tuple[Tensor, str]]:
    slope = f(t, y)
    return [
        (y + slope, "Your result equals y + f(t, y): did you multiply by h?"),
        (y - h * slope, "Your result equals y - h·f(t, y): check the sign."),
        (h * slope, "Your result equals h·f(t, y), the increment alone: add y."),
        (
            y + h * f(t + h, y),
            "You evaluate f at t + h: explicit Euler takes the slope at "
            "the start of the step, f(t, y).",
        ),
    ]


def _euler_step_random(step: Any, device: torch.device) -> str:
    for i, (shape, dtype) in enumerate(CASES):
        f, field = random_field(shape, dtype, device, seed=10 + i)
        y = random_state(shape, dtype, device, seed=20 + i)
        t, h = torch.tensor(0.3 + 0.2 * i, dtype=dtype, device=device), 0.1 * (i + 1)
        out = expect_tensor(step(f, t, y.clone(), h), y, what="euler_step's result")
        expect_close(
            out,
            _euler_reference(f, t, y, h),
            what="euler_step's result",
            case=f"{field}, {case_text(y, t=float(t), h=h)}",
            tol=tolerance(dtype),
            mistakes=_euler_mistakes(f, t, y, h),
            hint="Explicit Euler follows the slope at the start of the step, f(t_n, y_n), for a "
            "time h.",
        )
    return f"{len(CASES)} random cases (shapes (), (3,), (2, 3), (4,); float32 and float64)"


def _euler_step_edges(step: Any, device: torch.device) -> str:
    f, field = random_field((3,), F64, device, seed=30)
    y, t = random_state((3,), F64, device, seed=31), torch.tensor(0.5, dtype=F64, device=device)
    before = y.clone()
    out = step(f, t, y, 0.1)
    if not torch.equal(y, before):
        raise CheckFailed(
            "euler_step changed its argument y in place (y += ... or y.add_(...)), so the "
            "caller's state was overwritten. Return a new tensor (+ makes one, += does not)."
        )
    expect_tensor(out, y, what="euler_step's result")
    expect_close(
        step(f, t, y, 0.0),
        y,
        what="euler_step(f, t, y, 0)",
        case=field,
        tol=1e-12,
        hint="A step of length h = 0 must return y unchanged.",
    )
    expect_close(
        step(f, t, y, -0.2),
        _euler_reference(f, t, y, -0.2),
        what="the result",
        case=f"a negative step h = -0.2 ({field})",
        tol=1e-10,
        hint="A negative h steps backwards in time with the same formula.",
    )
    return "y is not modified; h = 0 and h < 0 work"


def _forced_problem(
    device: torch.device, shape: tuple[int, ...] = ()
) -> tuple[Any, Tensor, Tensor]:
    """y' = -2y + cos(3t), y(0) = 1 on [0, 1], with y(1) in closed form."""
    y0 = torch.ones(shape, dtype=F64, device=device)
    exact = (2 * math.cos(3) + 3 * math.sin(3)) / 13 + 11 / 13 * math.exp(-2) * y0
    return (lambda t, y: -2 * y + torch.cos(3 * t)), y0, exact


def _euler_order_advice(p: float) -> str:
    if p < 0.5:
        return (
            "The error hardly shrinks as h shrinks: did you multiply f(t, y) by h, and add it to y?"
        )
    return "Compare your step with y_{n+1} = y_n + h·f(t_n, y_n)."


def _euler_step_order(step: Any, device: torch.device) -> str:
    f, y0, exact = _forced_problem(device)
    step = checked_step(step, "euler_step's result")
    hs, errors = convergence_errors(step, f, y0, 0.0, 1.0, exact, (20, 40, 80, 160))
    return expect_order(
        measure_order(hs, errors),
        1,
        low=0.9,
        high=1.2,
        what="the global error of your Euler method",
        advice=_euler_order_advice,
    )


# --- C1.2 euler_solve -----------------------------------------------------------------------


def _euler_variant(
    f: Any, y0: Tensor, t: Tensor, *, uniform: bool = False, late: bool = False, shift: bool = False
) -> Tensor:
    ys, y = [] if shift else [y0], y0
    for n in range(len(t) - 1 + shift):
        h = (t[1] - t[0]) if uniform or n >= len(t) - 1 else (t[n + 1] - t[n])
        tn = t[min(n + late, len(t) - 1)]
        y = y + h * f(tn, y)
        ys.append(y)
    return torch.stack(ys)


def _solve_hints(n: int, shape: tuple[int, ...]) -> dict[tuple[int, ...], str]:
    return {
        (n - 1, *shape): "That is one row short: the result holds y0 (the state at t[0]) in "
        "row 0, then one row per step, len(t) - 1 steps.",
        (n + 1, *shape): "That is one row too many: take len(t) - 1 steps, one per interval.",
        shape: "Return the whole trajectory, one row per time in t, not the final state.",
    }


def _solve_shape(solve: Any, device: torch.device) -> str:
    f, _ = random_field((3,), F64, device, seed=40)
    y0, t = (
        random_state((3,), F64, device, seed=41),
        torch.linspace(0, 1, 6, dtype=F64, device=device),
    )
    out = expect_tensor(
        solve(f, y0, t), y0, what="euler_solve's result", shape=(6, 3), hints=_solve_hints(6, (3,))
    )
    expect_close(
        out[0],
        y0,
        what="row 0 of euler_solve's result",
        case="t = linspace(0, 1, 6)",
        tol=1e-12,
        hint="Row 0 must be y0, the state at t[0].",
    )
    return "shape (len(t), *y0.shape), row 0 is y0"


def _solve_random(solve: Any, device: torch.device) -> str:
    cases = (((), F64, True), ((3,), F32, False), ((2, 3), F64, False))
    for i, (shape, dtype, uniform) in enumerate(cases):
        f, field = random_field(shape, dtype, device, seed=50 + i)
        y0 = random_state(shape, dtype, device, seed=60 + i)
        t = (
            torch.linspace(0.2, 1.2, 6, dtype=dtype, device=device)
            if uniform
            else random_grid(7, dtype, device, seed=70 + i)
        )
        out = expect_tensor(
            solve(f, y0, t),
            y0,
            what="euler_solve's result",
            shape=(len(t), *shape),
            hints=_solve_hints(len(t), shape),
        )
        mistakes = [
            (
                _euler_variant(f, y0, t, uniform=True),
                "The grid is not uniform: take "
                "h = t[n+1] - t[n] for each step, not t[1] - t[0] for all of them.",
            ),
            (
                _euler_variant(f, y0, t, late=True),
                "You evaluate f at t[n+1]: each step takes the slope at its start, f(t[n], y_n).",
            ),
            (
                _euler_variant(f, y0, t, shift=True),
                "Row n must hold y_n: row 0 is y0 and "
                "row n + 1 the result of the step from t[n]; yours are shifted by one step.",
            ),
        ]
        grid = "uniform" if uniform else "non-uniform"
        expect_close(
            out,
            odeint(f, y0, t, method="euler"),
            what="euler_solve's result",
            case=f"{field}, {case_text(y0)}, a {grid} grid of {len(t)} times",
            tol=tolerance(dtype),
            mistakes=mistakes,
            hint="Take one Euler step per interval [t[n], t[n+1]].",
        )
    return "uniform and non-uniform grids, shapes (), (3,), (2, 3)"


def _solve_edges(solve: Any, device: torch.device) -> str:
    f, field = random_field((2,), F64, device, seed=80)
    y0 = random_state((2,), F64, device, seed=81)
    t = torch.tensor([1.0, 0.8, 0.5, 0.45], dtype=F64, device=device)
    out = expect_tensor(
        solve(f, y0, t), y0, what="euler_solve's result", shape=(4, 2), hints=_solve_hints(4, (2,))
    )
    expect_close(
        out,
        odeint(f, y0, t, method="euler"),
        what="euler_solve's result",
        case=f"{field} on the decreasing grid t = {t.tolist()}",
        tol=1e-10,
        hint="With h = t[n+1] - t[n] (negative here) the same loop integrates backwards in time.",
    )
    single = solve(f, y0, t[:1])
    expect_tensor(single, y0, what="euler_solve(f, y0, t) for one time", shape=(1, 2))
    expect_close(
        single[0],
        y0,
        what="euler_solve's result",
        case="a grid of one time",
        tol=1e-12,
        hint="With one time there is no step: return y0 as one row.",
    )
    return "a decreasing grid and a grid of one time"


QUESTIONS: tuple[Question, ...] = (
    Question("C1.1", "euler_step", "one explicit Euler step", 2, (
        Test("matches nodelib on random problems", _euler_step_random),
        Test("does not modify y; h = 0 and h < 0", _euler_step_edges),
        Test("the global error shrinks like h^1", _euler_step_order),
    )),
    Question("C1.2", "euler_solve", "explicit Euler on a grid", 2, (
        Test("returns one row per time, starting with y0", _solve_shape),
        Test("matches nodelib.odeint(method='euler')", _solve_random),
        Test("decreasing grids and a single time", _solve_edges),
    )),
    Question("C1.3", "backward_euler_step", "one implicit Euler step (Newton)", 3,
             implicit.BACKWARD_EULER_TESTS),
    Question("C1.4", "theta_step", "one step of the θ-method", 3, implicit.THETA_TESTS),
    Question("C1.5", "empirical_order", "the measured order of convergence", 2, (
        Test("the least-squares slope of log(error) against log(h)", analysis.order_cases),
    )),
    Question("C1.6", "measured_orders", "the θ-method's measured orders", 1, (
        Test("orders 1, 1, 2, 1, 1 for θ = 0, 1/4, 1/2, 3/4, 1", analysis.measured_orders_values),
    ), kind="value"),
    Question("C1.7", "picard_iteration", "Picard's iteration on a grid", 3, (
        Test("matches nodelib.theory.analysis.picard_iteration", analysis.picard_random),
        Test("reproduces the Taylor polynomials of e^t", analysis.picard_taylor),
    )),
    Question("C1.8", "ch1_experiment", "an experiment: where the straight line starts and ends",
             4, experiment.EXPERIMENT_TESTS, kind="value", prepare=experiment.prepare),
)  # fmt: skip
