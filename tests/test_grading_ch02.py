"""Every chapter 2 question can fail: typical wrong answers get the feedback that explains them.

Each case is a deliberately wrong answer, built from the solution notebook's own functions
so that it differs from the solution by one mistake, and a phrase the feedback must contain.
The solution's functions themselves must score full marks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from _grading_helpers import solution_namespace, wrong_answer_feedback
from _scripts import ROOT

from nodelib.course.grading import chapter_questions, grade

SOLUTION = ROOT / "solutions" / "ch02_runge_kutta_multistep.ipynb"
Namespace = dict[str, Any]


@pytest.fixture(scope="module")
def ns() -> Namespace:
    return solution_namespace(SOLUTION)


def _wrong_answers(ns: Namespace) -> dict[str, Any]:
    rk_step, rk_order, stab = ns["rk_step"], ns["rk_order"], ns["stability_function"]
    embedded, propose = ns["embedded_step"], ns["propose_step"]

    def rk_no_c(f, t, y, h, A, b, c):
        return rk_step(f, t, y, h, A, b, [0.0] * len(c))

    def rk_equal_weights(f, t, y, h, A, b, c):
        return rk_step(f, t, y, h, A, [1 / len(b)] * len(b), c)

    def order_up_to_3(A, b):
        return min(rk_order(A, b), 3)

    def order_without_tree_1_24(A, b):  # forgets Σ b A A c = 1/24
        p = rk_order(A, b)
        if p == 3:
            A_, b_ = np.asarray(A, float), np.asarray(b, float)
            c = A_.sum(1)
            fourth = [b_ @ c**3 - 1 / 4, b_ @ (c * (A_ @ c)) - 1 / 8, b_ @ A_ @ c**2 - 1 / 12]
            return 4 if max(map(abs, fourth)) < 1e-10 else 3
        return p

    def ab2_euler_start(f, y0, t):
        h = t[1] - t[0]
        ys = [y0, y0 + h * f(t[0], y0)]
        for n in range(1, len(t) - 1):
            ys.append(ys[n] + h * (1.5 * f(t[n], ys[n]) - 0.5 * f(t[n - 1], ys[n - 1])))
        return torch.stack(ys)

    def ab2_swapped(f, y0, t):
        h = t[1] - t[0]
        ys = [
            y0,
            ns["rk_step"](f, t[0], y0, h, [list(r) for r in ns["RK4"].a], ns["RK4"].b, ns["RK4"].c),
        ]
        for n in range(1, len(t) - 1):
            ys.append(ys[n] + h * (1.5 * f(t[n - 1], ys[n - 1]) - 0.5 * f(t[n], ys[n])))
        return torch.stack(ys)

    def roots_strict(alpha):  # forbids roots on the circle
        return bool(np.all(np.abs(np.roots(np.asarray(alpha, float)[::-1])) < 1 - 1e-9))

    def roots_ignore_multiplicity(alpha):
        return bool(np.all(np.abs(np.roots(np.asarray(alpha, float)[::-1])) <= 1 + 1e-6))

    def roots_not_reversed(alpha):
        return ns["satisfies_root_condition"](list(alpha)[::-1])

    def stab_missing_z(A, b, z):
        return (stab(A, b, z) - 1) / z.where(z != 0, torch.ones_like(z)) + 1

    def stab_explicit_only(A, b, z):  # drops the upper triangle: wrong for implicit methods
        return stab(torch.tril(A, -1), b, z)

    def max_norm(error, y, y_next, h, rtol, atol, k):
        r = float((error / (atol + rtol * torch.maximum(y.abs(), y_next.abs()))).abs().max())
        factor = 10.0 if r == 0 else 0.9 * r ** (-1.0 / k)
        return r <= 1, h * min(10.0 if r <= 1 else 1.0, max(0.2, factor))

    good = ns["ch2_experiment"]
    predicted, stable = good["predicted_h"], good["largest_stable_h"]
    return {
        "C2.9/first unstable step": {**good, "largest_stable_h": {**stable, "heun": 0.021}},
        "C2.9/not the largest stable step": {**good, "largest_stable_h": {**stable, "rk4": 0.025}},
        "C2.9/Heun's interval for RK4": {**good, "predicted_h": {**predicted, "rk4": 0.02}},
        "C2.9/the slow eigenvalue": {**good, "predicted_h": {**predicted, "rk4": 2.7853}},
        "C2.9/the trace of A": {**good, "predicted_h": {**predicted, "heun": 2 / 101}},
        "C2.9/the imaginary axis": {**good, "predicted_h": {**predicted, "rk4": 0.028284}},
        "C2.9/higher order pays": {**good, "cheaper": "a"},
        "C2.9/the slow mode grows": {**good, "grows": "a"},
        "C2.9/made-up sweep": {**good, "final_sizes": {**good["final_sizes"], "rk4": [1.0] * 8}},
        "C2.9/one method only": {**good, "predicted_h": {"rk4": predicted["rk4"]}},
        "C2.1/stages all at time t": rk_no_c,
        "C2.1/equal weights": rk_equal_weights,
        "C2.2/stops at order 3": order_up_to_3,
        "C2.2/forgets a fourth-order tree": order_without_tree_1_24,
        "C2.3/Euler start": ab2_euler_start,
        "C2.3/swapped coefficients": ab2_swapped,
        "C2.4/strict inequality": roots_strict,
        "C2.4/multiplicity ignored": roots_ignore_multiplicity,
        "C2.4/coefficients not reversed": roots_not_reversed,
        "C2.5/forgets the factor z": stab_missing_z,
        "C2.5/explicit part only": stab_explicit_only,
        "C2.6/strict inequality reversed": lambda A, b, z: stab(A, b, z).abs() > 1,
        "C2.6/returns R itself": lambda A, b, z: stab(A, b, z),
        "C2.7/propagates the embedded solution": lambda f, t, y, h, A, b, bh, c: embedded(
            f, t, y, h, A, bh, b, c
        ),
        "C2.7/error without h": lambda f, t, y, h, A, b, bh, c: (
            embedded(f, t, y, h, A, b, bh, c)[0],
            embedded(f, t, y, h, A, b, bh, c)[1] / h,
        ),
        "C2.8/max norm": max_norm,
        "C2.8/no safety factor": lambda e, y, yn, h, rtol, atol, k: (
            propose(e, y, yn, h, rtol, atol, k)[0],
            propose(e, y, yn, h, rtol, atol, k)[1] / 0.9
            if propose(e, y, yn, h, rtol, atol, k)[1] < 9.9 * h
            else propose(e, y, yn, h, rtol, atol, k)[1],
        ),
    }


EXPECTED = {
    "C2.9/first unstable step": "it blew up",
    "C2.9/not the largest stable step": "also stayed bounded",
    "C2.9/Heun's interval for RK4": "That is the interval of heun",
    "C2.9/the slow eigenvalue": "for the slow eigenvalue -1",
    "C2.9/the trace of A": "You divided by |trace A| = 101",
    "C2.9/the imaginary axis": "meets the imaginary axis",
    "C2.9/higher order pays": "does not make up for its four evaluations",
    "C2.9/the slow mode grows": "The slow mode has h λ = -h",
    "C2.9/made-up sweep": "a re-run gives",
    "C2.9/one method only": "one entry per method",
    "C2.1/stages all at time t": "stage i is at t + c_i·h",
    "C2.1/equal weights": "weight them by b",
    "C2.2/stops at order 3": "expected 4",
    "C2.2/forgets a fourth-order tree": "order conditions of order 4 fail",
    "C2.3/Euler start": "take it with RK4",
    "C2.3/swapped coefficients": "3/2 f_n - 1/2 f_{n-1}",
    "C2.4/strict inequality": "must be simple",
    "C2.4/multiplicity ignored": "the answer is False",
    "C2.4/coefficients not reversed": "the roots of ρ are",
    "C2.5/forgets the factor z": "1 + z bᵀx",
    "C2.5/explicit part only": "gauss_legendre2",
    "C2.6/strict inequality reversed": "when |R(z)| <= 1",
    "C2.6/returns R itself": "bool tensor",
    "C2.7/propagates the embedded solution": "You returned the embedded (lower-order) solution",
    "C2.7/error without h": "Multiply by h",
    "C2.8/max norm": "root mean square",
    "C2.8/no safety factor": "0.9·r^(-1/k)",
}


def test_solution_scores_full_marks(ns: Namespace) -> None:
    for question in chapter_questions(2):
        result = grade(question.id, ns[question.name])
        assert result.passed, "\n".join(t.feedback for t in result.tests)


@pytest.mark.parametrize("case", list(EXPECTED))
def test_wrong_answer_is_caught_with_the_right_feedback(case: str, ns: Namespace) -> None:
    feedback = wrong_answer_feedback(case.split("/")[0], _wrong_answers(ns)[case])
    assert EXPECTED[case] in feedback, feedback


def test_every_question_has_a_wrong_answer_that_fails(ns: Namespace) -> None:
    assert set(_wrong_answers(ns)) == set(EXPECTED)
    assert {case.split("/")[0] for case in EXPECTED} == {q.id for q in chapter_questions(2)}
