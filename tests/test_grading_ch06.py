"""Every chapter 6 question can fail: typical wrong answers get the feedback that explains them.

Each case is a deliberately wrong answer (a sign, a transposed Jacobian, the trajectory instead
of the end state, a forgotten ``super().__init__``, a biased or summed trace, an untrained
CNF) and a phrase the feedback must contain. The right answers come from the solution
notebook's answer cells (6.1 to 6.4; 6.5's training is too slow for this file and is graded
in tests/test_grading_notebooks.py).
"""

from __future__ import annotations

from typing import Any

import nbformat
import pytest
import torch
from _grading_helpers import LyingFloat, wrong_answer_feedback
from _scripts import ROOT
from torch import nn

from nodelib.course.grading import chapter_questions, grade
from nodelib.models import CNF

SOLUTION = ROOT / "solutions" / "ch06_neural_odes.ipynb"
Namespace = dict[str, Any]
EXPERIMENTAL = ("question:C6.5", "question:C6.6")  # trained models: see the `experiment` fixture


@pytest.fixture(scope="module")
def ns() -> Namespace:
    """The imports and the answer cells of 6.1 to 6.4, run here without a kernel."""
    namespace: Namespace = {"__name__": "solution_notebook"}
    for cell in nbformat.read(SOLUTION, as_version=4).cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.cell_type == "code" and (
            not tags or any(t.startswith("question:C6.") and t not in EXPERIMENTAL for t in tags)
        ):
            exec(compile(cell.source, "<solution cell>", "exec"), namespace)
    return namespace


def _wrong_answers(ns: Namespace) -> dict[str, Any]:
    odeint = ns["nodelib"].odeint
    good_block, good_adjoint = ns["MyODEBlock"], ns["adjoint_dynamics"]
    good_cnf = ns["cnf_dynamics"]

    class Trajectory(good_block):
        def forward(self, y0):
            t = torch.tensor([0.0, self.t1], dtype=y0.dtype)
            return odeint(self.func, y0, t, rtol=self.rtol, atol=self.atol)

    class ToOne(good_block):
        def forward(self, y0):
            t = torch.tensor([0.0, 1.0], dtype=y0.dtype)
            return odeint(self.func, y0, t, rtol=self.rtol, atol=self.atol)[-1]

    class NotRegistered(nn.Module):
        def __init__(self, func, **kw):
            super().__init__()
            self.parts = [func]  # a list hides the module from .parameters()

        def forward(self, y0):
            return y0

    def adjoint_plus(func, t, y, a):
        dy, da, dth = good_adjoint(func, t, y, a)
        return dy, -da, tuple(-g for g in dth)

    def adjoint_jvp(func, t, y, a):
        dy, _, dth = good_adjoint(func, t, y, a)
        _, jvp = torch.func.jvp(lambda v: func(t, v), (y,), (a,))
        return dy, -jvp, dth

    def adjoint_param_sign(func, t, y, a):
        dy, da, dth = good_adjoint(func, t, y, a)
        return dy, da, tuple(-g for g in dth)

    def adjoint_no_grad_mode(func, t, y, a):  # fails under torch.no_grad()
        params = tuple(func.parameters())
        y = y.detach().requires_grad_(True)
        f = func(t, y)
        vjp_y, *vjp_p = torch.autograd.grad(f, (y, *params), a)
        return f.detach(), -vjp_y, tuple(-v for v in vjp_p)

    def hutch_no_eps(f_out, z, eps):
        return torch.autograd.grad(f_out, z, eps, retain_graph=True)[0].sum(-1)

    def hutch_batch_sum(f_out, z, eps):
        return (torch.autograd.grad(f_out, z, eps, retain_graph=True)[0] * eps).sum()

    def cnf_plus(func, t, state):
        f, dlogp = good_cnf(func, t, state)
        return f, -dlogp

    def cnf_no_grad_mode(func, t, state):  # fails under torch.no_grad()
        z = state[0].detach().requires_grad_(True)
        f = func(t, z)
        rows = [
            torch.autograd.grad(f[:, i].sum(), z, retain_graph=True)[0] for i in range(z.shape[1])
        ]
        return f, -sum(r[:, i] for i, r in enumerate(rows))

    def cnf_whole_jacobian(func, t, state):
        with torch.enable_grad():
            z = state[0].detach().requires_grad_(True)
            f = func(t, z)
            total = torch.autograd.grad(f.sum(), z, create_graph=True)[0].sum(-1)
        return f, -total

    untrained = CNF(2, hidden=8, method="rk4", options={"step_size": 0.5})
    return {
        "C6.1/returns the trajectory": Trajectory,
        "C6.1/integrates to t = 1": ToOne,
        "C6.1/func not registered": NotRegistered,
        "C6.2/sign of da and dθ": adjoint_plus,
        "C6.2/Jacobian-vector product": adjoint_jvp,
        "C6.2/sign of the parameter terms": adjoint_param_sign,
        "C6.2/no enable_grad": adjoint_no_grad_mode,
        "C6.3/forgets the second ε": hutch_no_eps,
        "C6.3/sums over the batch": hutch_batch_sum,
        "C6.4/sign": cnf_plus,
        "C6.4/whole Jacobian summed": cnf_whole_jacobian,
        "C6.4/no enable_grad": cnf_no_grad_mode,
        "C6.5/an untrained CNF": untrained,
        "C6.5/not a CNF": nn.Linear(2, 2),
    }


EXPECTED = {
    "C6.1/returns the trajectory": "whole trajectory",
    "C6.1/integrates to t = 1": "whatever t1 is",
    "C6.1/func not registered": "store func as an attribute",
    "C6.2/sign of da and dθ": "Check the sign",
    "C6.2/Jacobian-vector product": "vector–Jacobian product",
    "C6.2/sign of the parameter terms": "Check the sign: the parameter term",
    "C6.2/no enable_grad": "torch.enable_grad()",
    "C6.3/forgets the second ε": "without multiplying by ε again",
    "C6.3/sums over the batch": "not over the batch",
    "C6.4/sign": "Check the sign",
    "C6.4/whole Jacobian summed": "not its diagonal",
    "C6.4/no enable_grad": "torch.enable_grad()",
    "C6.5/an untrained CNF": "Train for more steps",
    "C6.5/not a CNF": "should be a nodelib.models.CNF",
}


@pytest.mark.parametrize("case", list(EXPECTED))
def test_wrong_answer_is_caught_with_the_right_feedback(case: str, ns: Namespace) -> None:
    feedback = wrong_answer_feedback(case.split("/")[0], _wrong_answers(ns)[case])
    assert EXPECTED[case] in feedback, feedback


@pytest.mark.parametrize(
    ("question", "name"),
    [("C6.1", "MyODEBlock"), ("C6.2", "adjoint_dynamics"), ("C6.3", "hutchinson"),
     ("C6.4", "cnf_dynamics")],
)  # fmt: skip
def test_the_solutions_pass(question: str, name: str, ns: Namespace) -> None:
    result = grade(question, ns[name])
    assert result.passed, [t.feedback for t in result.tests]


def test_every_question_has_a_wrong_answer_that_fails(ns: Namespace) -> None:
    assert set(_wrong_answers(ns)) == set(EXPECTED)
    ids = {case.split("/")[0] for case in EXPECTED} | {"C6.6"}  # C6.6: EXPERIMENT_CASES
    assert ids == {q.id for q in chapter_questions(6)}


@pytest.fixture(scope="module")
def experiment(ns: Namespace) -> dict[str, Any]:
    """C6.6's answer, from the solution's cells, on a CNF trained as C6.5's solution does."""
    cells = nbformat.read(SOLUTION, as_version=4).cells
    space = {**ns, "SEED": 0}  # what the set-up cell defines when NODELIB_SEED is unset
    for tag in EXPERIMENTAL:
        cell = next(c for c in cells if tag in c.get("metadata", {}).get("tags", []))
        exec(compile(cell.source, f"<{tag}>", "exec"), space)
    return space["ch6_experiment"]


def test_the_experiment_passes(experiment: dict[str, Any]) -> None:
    result = grade("C6.6", experiment)
    assert result.passed, [t.feedback for t in result.tests]


EXPERIMENT_CASES = {
    "too loose": ({"loosest_tol": 1e-1}, "more than 0.0001"),
    "too tight": ({"loosest_tol": 1e-7}, "tighter than needed"),
    "loose tolerances cut the error": ({"loose_tols": "a"}, "does not describe your measurements"),
    "the solver raises": ({"loose_tols": "c"}, "without raising"),
    "NFE in proportion to 1/tol": ({"nfe_growth": "a"}, "1000^(1/5)"),
    "made-up errors": ({"nll_error": [1e-3] * 7}, "a re-run gives"),
    "another model": ({"model": torch.nn.Linear(2, 2)}, "your trained 2-D nodelib.models.CNF"),
    "a lying tolerance": ({"loosest_tol": LyingFloat(1e-5)}, "not a LyingFloat"),
}


@pytest.mark.parametrize("case", list(EXPERIMENT_CASES))
def test_experiment_mistakes(case: str, experiment: dict[str, Any]) -> None:
    change, phrase = EXPERIMENT_CASES[case]
    feedback = wrong_answer_feedback("C6.6", {**experiment, **change})
    assert phrase in feedback, feedback


def test_the_target_entropy_is_that_of_its_samples() -> None:
    from nodelib.course.grading.ch06 import TARGET_ENTROPY, sample_target

    x = sample_target(200_000, generator=torch.Generator().manual_seed(0)).double()
    cov = torch.cov(x.T)
    entropy = 1 + torch.log(torch.tensor(2 * torch.pi)) + 0.5 * torch.logdet(cov)
    assert float(entropy) == pytest.approx(TARGET_ENTROPY, abs=5e-3)
