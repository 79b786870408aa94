"""Every chapter 5 question can fail: typical wrong answers get the feedback that explains them.

Each case is a deliberately wrong answer (a missing transpose, a sign error, a forgotten
term, the Jacobian at the wrong step, a wrong rule of differentiation, ...) and a phrase the
feedback must contain. The wrong answers are built from the solution notebook's own functions
where possible, so each differs from the solution by one mistake; the solutions themselves
must pass every test.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from _grading_helpers import solution_namespace, wrong_answer_feedback
from _scripts import ROOT

from nodelib import odeint
from nodelib.course.grading import chapter_questions, grade

Namespace = dict[str, Any]
SOLUTION = ROOT / "solutions" / "ch05_adjoint.ipynb"


@pytest.fixture(scope="module")
def ns() -> Namespace:
    return solution_namespace(SOLUTION)


def test_the_solutions_pass(ns: Namespace) -> None:
    for q in chapter_questions(5):
        result = grade(q, ns[q.name])
        assert result.passed, (q.id, [t.feedback for t in result.tests])


def _dual_with(ns: Namespace, **methods: Any) -> type:
    """The solution's Dual with some methods replaced by wrong ones."""
    return type("Dual", (ns["Dual"],), methods)


def _linear(transpose: bool = True, sign: int = 1, with_dA: bool = True, with_db: bool = True):
    def answer(A, b, dA, db, grad_g):
        u = torch.linalg.solve(A, b)
        lam = torch.linalg.solve(A.T if transpose else A, grad_g(u))
        r = (db if with_db else 0) - (dA @ u if with_dA else 0)
        return sign * r @ lam

    return answer


def _euler(late: bool = False, no_transpose: bool = False, no_h: bool = False):
    def answer(f, f_y, f_theta, y0, theta, h, n_steps, grad_loss):
        ys = [y0]
        for _ in range(n_steps):
            ys.append(ys[-1] + h * f(ys[-1], theta))
        lam, g = grad_loss(ys[-1]), torch.zeros_like(theta)
        for k in range(n_steps - 1, -1, -1):
            y = ys[k + 1] if late else ys[k]
            g = g + (1.0 if no_h else h) * f_theta(y, theta).T @ lam
            J = f_y(y, theta)
            lam = lam + h * ((J if no_transpose else J.T) @ lam)
        return lam, g

    return answer


def _ode(sign: float = -1.0, transpose: bool = True, with_db: bool = True):
    def answer(A, dA, b, db, c, T):
        n, P = b.shape[0], db.shape[0]
        tol = {"rtol": 1e-10, "atol": 1e-12}
        y_T = odeint(lambda t, y: A @ y, b, torch.tensor([0.0, T], dtype=b.dtype), **tol)[-1]
        M = A.T if transpose else A

        def backward(t, z):
            y, lam = z[:n], z[n : 2 * n]
            return torch.cat([A @ y, sign * M @ lam, -(lam @ dA @ y)])

        z_T = torch.cat([y_T, c, torch.zeros(P, dtype=b.dtype)])
        z_0 = odeint(backward, z_T, torch.tensor([T, 0.0], dtype=b.dtype), **tol)[-1]
        return (db @ z_0[n : 2 * n] if with_db else 0) + z_0[2 * n :]

    return answer


def _wrong_answers(ns: Namespace) -> dict[str, tuple[str, Any, str]]:
    """question/mistake -> (question, wrong answer, phrase the feedback must contain)."""
    D, good = ns["Dual"], ns["ch5_experiment"]
    return {
        "C5.5/slopes swapped": (
            "C5.5",
            {**good, "memory_slope": {"backprop": 0.0, "adjoint": 1.0}},
            "The two slopes are swapped",
        ),
        "C5.5/budget of the adjoint": ("C5.5", {**good, "budget_steps": 6586}, "The adjoint keeps"),
        "C5.5/the adjoint stores steps": (
            "C5.5",
            {**good, "how": "b"},
            "its backward solve stores nothing per step",
        ),
        "C5.5/quadratic memory": ("C5.5", {**good, "how": "d"}, "in proportion"),
        "C5.5/constant evaluations": ("C5.5", {**good, "how": "c"}, "evaluations of f grow"),
        "C5.5/made-up bytes": (
            "C5.5",
            {**good, "saved_bytes": {**good["saved_bytes"], "adjoint": [1, 2, 4, 8]}},
            "a re-run gives",
        ),
        "C5.1/no transpose": ("C5.1", _linear(transpose=False), "A^T λ = g_u"),
        "C5.1/sign": ("C5.1", _linear(sign=-1), "The sign is flipped"),
        "C5.1/no dA term": ("C5.1", _linear(with_dA=False), "left out -∂A/∂p_k u"),
        "C5.1/no db term": ("C5.1", _linear(with_db=False), "left out ∂b/∂p_k"),
        "C5.1/returns u": (
            "C5.1",
            lambda A, b, dA, db, g: torch.linalg.solve(A, b),
            "one entry per",
        ),
        "C5.2/product rule": (
            "C5.2",
            _dual_with(
                ns, __mul__=lambda s, o: D(s.value * D.lift(o).value, s.deriv * D.lift(o).deriv)
            ),
            "the product rule",
        ),
        "C5.2/quotient sign": (
            "C5.2",
            _dual_with(
                ns,
                __truediv__=lambda s, o: D(
                    s.value / D.lift(o).value,
                    (s.value * D.lift(o).deriv - s.deriv * D.lift(o).value) / D.lift(o).value ** 2,
                ),
            ),
            "the quotient rule",
        ),
        "C5.2/rsub": ("C5.2", _dual_with(ns, __rsub__=lambda s, o: s - o), "__rsub__"),
        "C5.2/power rule": (
            "C5.2",
            _dual_with(ns, __pow__=lambda s, k: D(s.value**k, k * s.value**k * s.deriv)),
            "the power rule",
        ),
        "C5.2/no radd": ("C5.2", _dual_with(ns, __radd__=lambda s, o: NotImplemented), "__radd__"),
        "C5.2/in place": (
            "C5.2",
            _dual_with(
                ns,
                __add__=lambda s, o: (
                    setattr(s, "value", s.value + D.lift(o).value),
                    setattr(s, "deriv", s.deriv + D.lift(o).deriv),
                    s,
                )[-1],
            ),
            "in place",
        ),
        "C5.2/no attributes": ("C5.2", lambda v, d=0.0: (v, d), "attribute .value"),
        "C5.3/Jacobian at y_k+1": ("C5.3", _euler(late=True), "at y_{k+1}"),
        "C5.3/no transpose": ("C5.3", _euler(no_transpose=True), "Transpose the Jacobian"),
        "C5.3/no h": ("C5.3", _euler(no_h=True), "factor h is missing"),
        "C5.3/uses λ_k": ("C5.3", _lam_k(), "uses λ_{k+1}"),
        "C5.3/one result": ("C5.3", lambda *a: _euler()(*a)[1], "pair"),
        "C5.4/no transpose": ("C5.4", _ode(transpose=False), "transpose A"),
        "C5.4/sign": ("C5.4", _ode(sign=1.0), "sign of the adjoint equation"),
        "C5.4/no db term": ("C5.4", _ode(with_db=False), "λ(0)^T ∂b/∂p"),
    }


def _lam_k():
    def answer(f, f_y, f_theta, y0, theta, h, n_steps, grad_loss):
        ys = [y0]
        for _ in range(n_steps):
            ys.append(ys[-1] + h * f(ys[-1], theta))
        lam, g = grad_loss(ys[-1]), torch.zeros_like(theta)
        for k in range(n_steps - 1, -1, -1):
            lam = lam + h * f_y(ys[k], theta).T @ lam
            g = g + h * f_theta(ys[k], theta).T @ lam  # λ_k instead of λ_{k+1}
        return lam, g

    return answer


CASES = [
    "C5.1/no transpose", "C5.1/sign", "C5.1/no dA term", "C5.1/no db term", "C5.1/returns u",
    "C5.2/product rule", "C5.2/quotient sign", "C5.2/rsub", "C5.2/power rule", "C5.2/no radd",
    "C5.2/in place", "C5.2/no attributes",
    "C5.3/Jacobian at y_k+1", "C5.3/no transpose", "C5.3/no h", "C5.3/uses λ_k", "C5.3/one result",
    "C5.4/no transpose", "C5.4/sign", "C5.4/no db term",
    "C5.5/slopes swapped", "C5.5/budget of the adjoint", "C5.5/the adjoint stores steps",
    "C5.5/quadratic memory", "C5.5/constant evaluations", "C5.5/made-up bytes",
]  # fmt: skip


def test_every_question_has_a_wrong_answer(ns: Namespace) -> None:
    assert set(_wrong_answers(ns)) == set(CASES)
    assert {case.split("/")[0] for case in CASES} == {q.id for q in chapter_questions(5)}


@pytest.mark.parametrize("case", CASES)
def test_wrong_answer_fails_with_the_explaining_feedback(case: str, ns: Namespace) -> None:
    question, answer, phrase = _wrong_answers(ns)[case]
    feedback = wrong_answer_feedback(question, answer)
    assert phrase in feedback, feedback
