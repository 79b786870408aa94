"""Every chapter 1 question can fail: typical wrong answers get the feedback that explains them.

Each case is a deliberately wrong answer (a missing factor h, a sign error, an off-by-one
row or iterate, a wrong shape, swapped weights, ...) and a phrase the feedback must contain.
The wrong answers are built from the solution notebook's own functions where they need
Newton's method, so each differs from the solution by exactly one mistake.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
from _grading_helpers import LyingFloat, LyingStr, solution_namespace, wrong_answer_feedback
from torch import Tensor

from nodelib.course.grading import chapter_questions, grade

Namespace = dict[str, Any]
Field = Callable[[Tensor, Tensor], Tensor]


@pytest.fixture(scope="module")
def ns() -> Namespace:
    return solution_namespace()


def _euler_rows(
    f: Field,
    y0: Tensor,
    t: Tensor,
    *,
    skip_first: bool = False,
    steps: int | None = None,
    uniform: bool = False,
) -> Tensor:
    """Explicit Euler on the grid t, with the chosen mistakes."""
    ys, y = ([] if skip_first else [y0]), y0
    for n in range(len(t) - 1 if steps is None else steps):
        h = (t[1] - t[0]) if uniform or n >= len(t) - 1 else (t[n + 1] - t[n])
        y = y + h * f(t[min(n, len(t) - 1)], y)
        ys.append(y)
    return torch.stack(ys)


def _picard_left(f: Field, t: Tensor, y0: Tensor, n_iter: int) -> list[Tensor]:
    """Picard's iteration with the left-endpoint rule instead of the trapezoid rule."""
    phi = y0.expand(len(t), *y0.shape)
    out = [phi]
    dt = (t[1:] - t[:-1]).reshape(-1, *([1] * y0.dim()))
    for _ in range(n_iter):
        slopes = torch.stack([f(t[i], phi[i]) for i in range(len(t))])
        phi = torch.cat([y0[None], y0 + torch.cumsum(dt * slopes[:-1], 0)])
        out.append(phi)
    return out


def _least_squares(x: list[float], z: list[float]) -> float:
    xm, zm = sum(x) / len(x), sum(z) / len(z)
    num = sum((a - xm) * (b - zm) for a, b in zip(x, z, strict=True))
    return num / sum((a - xm) ** 2 for a in x)


def _wrong_answers(ns: Namespace) -> dict[str, Any]:
    """Each wrong answer by "question/mistake"; they call the solution's own helpers."""
    newton, theta_step = ns["newton"], ns["theta_step"]
    be_step, picard, order = (
        ns["backward_euler_step"],
        ns["picard_iteration"],
        ns["empirical_order"],
    )

    def theta_without_weight(f, t, y, h, theta):  # forgets the factor (1 - θ)
        if theta == 0:
            return y + h * f(t, y)
        return newton(lambda Y: Y - y - h * f(t, y) - theta * h * f(t + h, Y), y)

    good = ns["ch1_experiment"]
    e64, e32 = good["errors_float64"], good["errors_float32"]
    return {
        "C1.8/order from the coarsest grids": {**good, "order": 3.6},
        "C1.8/order against n": {**good, "order": -2.0},
        "C1.8/line starts too early": {**good, "line_starts_at": 8},
        "C1.8/line starts too late": {**good, "line_starts_at": 256},
        "C1.8/float32 line ends too late": {**good, "float32_line_ends_at": 2048},
        "C1.8/float32 line ends too early": {**good, "float32_line_ends_at": 64},
        "C1.8/instability": {**good, "why": "a"},
        "C1.8/h not representable": {**good, "why": "d"},
        "C1.8/precisions swapped": {**good, "errors_float64": e32, "errors_float32": e64},
        "C1.8/made-up errors": {**good, "errors_float64": [1.1 * e for e in e64]},
        "C1.8/a lying number": {**good, "order": LyingFloat(5.0)},
        "C1.8/a lying letter": {**good, "why": LyingStr("a")},
        "C1.8/not a dict": list(good.items()),
        "C1.1/missing factor h": lambda f, t, y, h: y + f(t, y),
        "C1.1/sign error": lambda f, t, y, h: y - h * f(t, y),
        "C1.1/slope at t + h": lambda f, t, y, h: y + h * f(t + h, y),
        "C1.1/changes y in place": lambda f, t, y, h: y.add_(h * f(t, y)),
        "C1.1/returns NumPy": lambda f, t, y, h: (y + h * f(t, y)).numpy(),
        "C1.1/wrong dtype": lambda f, t, y, h: (y + h * f(t, y)).float(),
        "C1.2/no y0 row (off by one)": lambda f, y0, t: _euler_rows(f, y0, t, skip_first=True),
        "C1.2/one step too few": lambda f, y0, t: _euler_rows(f, y0, t, steps=len(t) - 2),
        "C1.2/rows shifted by one step": lambda f, y0, t: _euler_rows(
            f, y0, t, skip_first=True, steps=len(t)
        ),
        "C1.2/final state only": lambda f, y0, t: _euler_rows(f, y0, t)[-1],
        "C1.2/uniform h": lambda f, y0, t: _euler_rows(f, y0, t, uniform=True),
        "C1.3/explicit Euler": lambda f, t, y, h: y + h * f(t, y),
        "C1.3/one Newton iteration": lambda f, t, y, h: be_step(f, t, y, h, max_iter=1),
        "C1.3/new slope at the old time": lambda f, t, y, h: newton(
            lambda Y: Y - y - h * f(t, Y), y
        ),
        "C1.3/sign error": lambda f, t, y, h: newton(lambda Y: Y - y + h * f(t + h, Y), y),
        "C1.4/swapped weights": lambda f, t, y, h, th: theta_step(f, t, y, h, 1 - th),
        "C1.4/backward Euler for every θ": lambda f, t, y, h, th: be_step(f, t, y, h),
        "C1.4/missing factor (1 - θ)": theta_without_weight,
        "C1.5/first and last points only": lambda hs, es: (
            math.log(es[-1] / es[0]) / math.log(hs[-1] / hs[0])
        ),
        "C1.5/sign error": lambda hs, es: -order(hs, es),
        "C1.5/log of the errors only": lambda hs, es: _least_squares(
            [float(h) for h in hs], [math.log(e) for e in es]
        ),
        "C1.5/returns two numbers": lambda hs, es: torch.tensor([1.0, 2.0]),
        "C1.6/order 1 everywhere": dict.fromkeys((0.0, 0.25, 0.5, 0.75, 1.0), 1.0),
        "C1.6/a list, not a dict": [1.0, 1.0, 2.0, 1.0, 1.0],
        "C1.6/keys missing": {0.0: 1.0, 0.5: 2.0, 1.0: 1.0},
        "C1.7/n_iter iterates (off by one)": lambda f, t, y0, n: picard(f, t, y0, n)[1:],
        "C1.7/left-endpoint rule": _picard_left,
        "C1.7/no y0": lambda f, t, y0, n: [
            p - y0 if k else p for k, p in enumerate(picard(f, t, y0, n))
        ],
        "C1.7/final times only (wrong shape)": lambda f, t, y0, n: [
            p[-1] for p in picard(f, t, y0, n)
        ],
    }


# The phrase the feedback on each wrong answer must contain.
EXPECTED = {
    "C1.8/order from the coarsest grids": "You fitted the coarsest grids",
    "C1.8/order against n": "The sign is flipped",
    "C1.8/line starts too early": "too early: between n = 16 and 32",
    "C1.8/line starts too late": "later than it needs to be",
    "C1.8/float32 line ends too late": "round-off dominates there",
    "C1.8/float32 line ends too early": "stays within a factor 2 of the float64 one",
    "C1.8/instability": "Instability is a large-step phenomenon",
    "C1.8/h not representable": "exact in binary floating point",
    "C1.8/precisions swapped": "swapped?",
    "C1.8/made-up errors": "a re-run gives",
    "C1.8/a lying number": "should be a number, not a LyingFloat",
    "C1.8/a lying letter": "not a LyingStr",
    "C1.8/not a dict": "should be a dict",
    "C1.1/missing factor h": "did you multiply by h?",
    "C1.1/sign error": "check the sign",
    "C1.1/slope at t + h": "at the start of the step",
    "C1.1/changes y in place": "in place",
    "C1.1/returns NumPy": "should be a torch.Tensor",
    "C1.1/wrong dtype": "keep the input's dtype",
    "C1.2/no y0 row (off by one)": "one row short",
    "C1.2/one step too few": "one row short",
    "C1.2/rows shifted by one step": "shifted by one step",
    "C1.2/final state only": "not the final state",
    "C1.2/uniform h": "The grid is not uniform",
    "C1.3/explicit Euler": "That is explicit Euler",
    "C1.3/one Newton iteration": "Newton's iteration stopped too early",
    "C1.3/new slope at the old time": "the new slope belongs to the new time",
    "C1.3/sign error": "Check the sign",
    "C1.4/swapped weights": "You swapped the weights",
    "C1.4/backward Euler for every θ": "whatever θ is",
    "C1.4/missing factor (1 - θ)": "the equation you solve is not the method's",
    "C1.5/first and last points only": "only the first and last points",
    "C1.5/sign error": "wrong sign",
    "C1.5/log of the errors only": "logarithm of h too",
    "C1.5/returns two numbers": "should be a number",
    "C1.6/order 1 everywhere": "for θ = 0.5",
    "C1.6/a list, not a dict": "should be a dict",
    "C1.6/keys missing": "missing",
    "C1.7/n_iter iterates (off by one)": "return n_iter + 1",
    "C1.7/left-endpoint rule": "left-endpoint (rectangle) rule",
    "C1.7/no y0": "Every iterate starts at y0",
    "C1.7/final times only (wrong shape)": "has shape",
}


@pytest.mark.parametrize("case", list(EXPECTED))
def test_wrong_answer_is_caught_with_the_right_feedback(case: str, ns: Namespace) -> None:
    feedback = wrong_answer_feedback(case.split("/")[0], _wrong_answers(ns)[case])
    assert EXPECTED[case] in feedback, feedback


def test_every_question_has_a_wrong_answer_that_fails(ns: Namespace) -> None:
    assert set(_wrong_answers(ns)) == set(EXPECTED)
    assert {case.split("/")[0] for case in EXPECTED} == {q.id for q in chapter_questions(1)}


def test_the_order_test_names_the_missing_factor_h(ns: Namespace) -> None:
    result = grade("C1.1", lambda f, t, y, h: y + f(t, y))
    order = result.tests[-1]
    assert order.description == "the global error shrinks like h^1"
    assert order.feedback.startswith("the global error of your Euler method shrinks like h^")
    assert "instead of h^1" in order.feedback and "did you multiply f(t, y) by h" in order.feedback
