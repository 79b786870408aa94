"""Every chapter 4 question can fail: typical wrong answers get the feedback that explains them.

Each case is a deliberately wrong answer (a missing or wrong-signed log-determinant, the map
applied the wrong way, tanh for its derivative, a brute-force determinant, an unmasked
coupling, the steps of the inverse in the wrong order, ...) and a phrase the feedback must
contain. The solution notebook's functions must pass every question.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from _grading_helpers import LyingFloat, solution_namespace, wrong_answer_feedback
from _scripts import ROOT

from nodelib.course.grading import chapter_questions, grade

SOLUTION = ROOT / "solutions" / "ch04_normalising_flows.ipynb"
Namespace = dict[str, Any]

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def ns() -> Namespace:
    return solution_namespace(SOLUTION)


def _log_normal(z: torch.Tensor) -> torch.Tensor:
    return -0.5 * (z.pow(2).sum(-1) + z.shape[-1] * math.log(2 * math.pi))


def _affine(x, A, b, *, sign=-1.0, forward=False, shift=True, det_abs=True):
    z = x @ A.T + b if forward else torch.linalg.solve(A, ((x - b) if shift else x).T).T
    logdet = torch.linalg.slogdet(A).logabsdet if det_abs else torch.log(torch.linalg.det(A))
    return _log_normal(z) + sign * logdet


def _planar(z, u, w, b, *, derivative=True, with_b=True, one=True, log=True):
    a = z @ w + (b if with_b else 0)
    h = 1 - torch.tanh(a) ** 2 if derivative else torch.tanh(a)
    det = (1.0 if one else 0.0) + h * (w @ u)
    return torch.log(det.abs()) if log else det


def _planar_brute(z, u, w, b):
    def f(v):
        return v + u * torch.tanh(v @ w + b)

    return torch.stack([torch.linalg.slogdet(torch.func.jacrev(f)(p)).logabsdet for p in z])


def _coupling(z, mask, ss, *, masked=True, see_all=False, exp=True, logdet_sign=1.0):
    s, t = ss(z if see_all else z * mask)
    if masked:
        s, t = s * (1 - mask), t * (1 - mask)
    x = z * (torch.exp(s) if exp else 1 + s) + t
    return x, logdet_sign * (s * (1 - mask)).sum(-1)


def _coupling_inverse(x, mask, ss, *, order_ok=True, sign=-1.0, logdet_sign=-1.0):
    s, t = ss(x * mask)
    s, t = s * (1 - mask), t * (1 - mask)
    z = (x - t) * torch.exp(sign * s) if order_ok else x * torch.exp(-s) - t
    return z, logdet_sign * s.sum(-1)


WRONG: dict[str, Any] = {
    "C4.1/no log-determinant": lambda x, A, b: _affine(x, A, b, sign=0.0),
    "C4.1/log-determinant added": lambda x, A, b: _affine(x, A, b, sign=1.0),
    "C4.1/map applied to x": lambda x, A, b: _affine(x, A, b, forward=True),
    "C4.1/shift forgotten": lambda x, A, b: _affine(x, A, b, shift=False),
    "C4.1/log det without abs": lambda x, A, b: _affine(x, A, b, det_abs=False),
    "C4.1/a number, not a tensor": lambda x, A, b: float(_affine(x, A, b).sum()),
    "C4.2/tanh for tanh'": lambda z, u, w, b: _planar(z, u, w, b, derivative=False),
    "C4.2/b forgotten": lambda z, u, w, b: _planar(z, u, w, b, with_b=False),
    "C4.2/the 1 missing": lambda z, u, w, b: _planar(z, u, w, b, one=False),
    "C4.2/determinant, not its log": lambda z, u, w, b: _planar(z, u, w, b, log=False),
    "C4.2/no absolute value": lambda z, u, w, b: torch.log(_planar(z, u, w, b, log=False)),
    "C4.2/brute-force determinant": _planar_brute,
    "C4.3/unmasked s and t": lambda z, m, ss: _coupling(z, m, ss, masked=False),
    "C4.3/conditioner sees everything": lambda z, m, ss: _coupling(z, m, ss, see_all=True),
    "C4.3/1 + s instead of exp(s)": lambda z, m, ss: _coupling(z, m, ss, exp=False),
    "C4.3/log-determinant sign": lambda z, m, ss: _coupling(z, m, ss, logdet_sign=-1.0),
    "C4.3/returns x only": lambda z, m, ss: _coupling(z, m, ss)[0],
    "C4.4/exp(s) instead of exp(-s)": lambda x, m, ss: _coupling_inverse(x, m, ss, sign=1.0),
    "C4.4/steps in the wrong order": lambda x, m, ss: _coupling_inverse(x, m, ss, order_ok=False),
    "C4.4/log-determinant not negated": lambda x, m, ss: _coupling_inverse(
        x, m, ss, logdet_sign=1.0
    ),
}  # fmt: skip

# The phrase the feedback on each wrong answer must contain.
EXPECTED = {
    "C4.1/no log-determinant": "You left out the log-determinant",
    "C4.1/log-determinant added": "Check the sign of the log-determinant",
    "C4.1/map applied to x": "pre-image",
    "C4.1/shift forgotten": "You forgot the shift b",
    "C4.1/log det without abs": "absolute value",
    "C4.1/a number, not a tensor": "should be a torch.Tensor",
    "C4.2/tanh for tanh'": "instead of its derivative",
    "C4.2/b forgotten": "You forgot b",
    "C4.2/the 1 missing": "the 1 is missing",
    "C4.2/determinant, not its log": "return its logarithm",
    "C4.2/no absolute value": "absolute value",
    "C4.2/brute-force determinant": "costs O(N³)",
    "C4.3/unmasked s and t": "must pass unchanged",
    "C4.3/conditioner sees everything": "only the kept coordinates",
    "C4.3/1 + s instead of exp(s)": "exp(s), not 1 + s",
    "C4.3/log-determinant sign": "Check the sign",
    "C4.3/returns x only": "should return a pair",
    "C4.4/exp(s) instead of exp(-s)": "exp(-s)",
    "C4.4/steps in the wrong order": "reverse order",
    "C4.4/log-determinant not negated": "minus the forward one",
}


@pytest.mark.parametrize("case", list(EXPECTED))
def test_wrong_answer_is_caught_with_the_right_feedback(case: str) -> None:
    feedback = wrong_answer_feedback(case.split("/")[0], WRONG[case])
    assert EXPECTED[case] in feedback, feedback


def test_every_question_has_a_wrong_answer_that_fails() -> None:
    assert set(WRONG) == set(EXPECTED)
    ids = {case.split("/")[0] for case in EXPECTED} | {"C4.5"}  # C4.5: EXPERIMENT_CASES
    assert ids == {q.id for q in chapter_questions(4)}


def _swapped(curves: dict[int, list[float]]) -> dict[int, list[float]]:
    return {1: curves[2], 2: curves[1], 4: curves[4]}


EXPERIMENT_CASES = {
    "one layer is enough": ({"depth": 1}, "stays 1.4"),
    "the deepest": ({"depth": 4}, "two layers already come within 0.1 nats"),
    "the loss, not the gap": ({"gap_one_layer": 2.7}, "That is the loss itself"),
    "the two-layer gap": ({"gap_one_layer": 0.02}, "That is the gap of the 2-layer flow"),
    "the reverse divergence": ({"gap_predicted": 5.307}, "KL(N(0, 1) ‖ N(1.5, 0.5²))"),
    "the log-variance forgotten": ({"gap_predicted": 0.75}, "The term -log σ² is missing"),
    "more steps": ({"more_steps": "a"}, "no parameter of a one-layer flow moves"),
    "a larger learning rate": ({"more_steps": "c"}, "not the floor"),
}


@pytest.mark.parametrize("case", list(EXPERIMENT_CASES))
def test_experiment_mistakes(case: str, ns: Namespace) -> None:
    change, phrase = EXPERIMENT_CASES[case]
    feedback = wrong_answer_feedback("C4.5", {**ns["ch4_experiment"], **change})
    assert phrase in feedback, feedback


def test_experiment_data_must_be_the_readers_run(ns: Namespace) -> None:
    good = ns["ch4_experiment"]
    swapped = wrong_answer_feedback("C4.5", {**good, "losses": _swapped(good["losses"])})
    assert "these are not the losses of its training" in swapped
    flows = {**good["flows"], 2: good["flows"][1]}
    assert "should hold 2 AffineCoupling" in wrong_answer_feedback("C4.5", {**good, "flows": flows})
    lying = {**good, "depth": LyingFloat(2.0)}
    assert "not a LyingFloat" in wrong_answer_feedback("C4.5", lying)


@pytest.mark.parametrize("question", ["C4.1", "C4.2", "C4.3", "C4.4", "C4.5"])
def test_the_solution_passes(question: str, ns: Namespace) -> None:
    q = next(q for q in chapter_questions(4) if q.id == question)
    result = grade(q, ns[q.name])
    assert result.passed, [t.feedback for t in result.tests]


def test_the_determinant_guard_restores_torch() -> None:
    det = torch.linalg.slogdet
    grade("C4.2", _planar_brute)
    assert torch.linalg.slogdet is det
    assert float(torch.linalg.det(torch.eye(2))) == 1.0
