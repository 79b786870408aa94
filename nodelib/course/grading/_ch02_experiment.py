"""Chapter 2's experiment (C2.9): the step at which explicit methods break on a stiff problem.

Part of `nodelib.course.grading.ch02`, kept apart for length. The problem is y' = A y with
A = [[-50.5, 49.5], [49.5, -50.5]] (eigenvalues -1 and -100), y(0) = (1, 0), on [0, 10]. The
reader runs Heun's method and RK4 (`nodelib.odeint`, fixed steps) with the step sizes `HS`,
records the largest |component| of y(10) of every run, and answers in a dict
``ch2_experiment``:

- ``"largest_stable_h"``: per method, the largest step of the sweep whose run did not blow up;
- ``"predicted_h"``: per method, the largest stable step predicted from the stability region,
  r / |λ| with r the length of the method's real stability interval;
- ``"cheaper"``: a letter, which method reaches t = 10 with fewer evaluations of f when each
  takes its largest stable step of the sweep;
- ``"grows"``: a letter, which part of the solution blows up beyond the limit.

The grader re-runs the sweep (it is deterministic, float64) and computes the intervals with
`nodelib.theory.stability`.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numpy as np
import torch
from torch import Tensor

from nodelib.course.grading.answers import answer_dict, expect_choice, number, numbers
from nodelib.course.grading.core import CheckFailed, Test
from nodelib.odeint import odeint
from nodelib.tableau import TABLEAUS
from nodelib.theory.stability import real_stability_interval

__all__ = ["EXPERIMENT_TESTS", "HS", "METHODS", "STAGES", "prepare", "run"]

A = ((-50.5, 49.5), (49.5, -50.5))  # eigenvalues -1 (along (1, 1)) and -100 (along (1, -1))
FAST = 100.0  # |λ| of the fast mode
T_END = 10.0
HS = (0.017, 0.019, 0.021, 0.023, 0.025, 0.027, 0.029, 0.031)
METHODS = ("heun", "rk4")
STAGES = {"heun": 2, "rk4": 4}  # evaluations of f per step
NAME = "ch2_experiment"
KEYS = ("final_sizes", "largest_stable_h", "predicted_h", "cheaper", "grows")
REL = 0.005  # the predictions: within half a percent


def _field(t: Tensor, y: Tensor) -> Tensor:
    return torch.tensor(A, dtype=y.dtype) @ y


@cache
def run(method: str) -> tuple[float, ...]:
    """max |y_i(10)| of `method` with each step of HS (n = round(10 / h) steps of size h)."""
    y0 = torch.tensor([1.0, 0.0], dtype=torch.float64)
    sizes = []
    for h in HS:
        n = round(T_END / h)
        t = torch.linspace(0.0, n * h, n + 1, dtype=torch.float64)
        sizes.append(float(odeint(_field, y0, t, method=method)[-1].abs().max()))
    return tuple(sizes)


def prepare() -> None:
    """Run the sweep of both methods once, before the tests (they share it)."""
    for method in METHODS:
        run(method)


@cache
def interval(method: str) -> float:
    """The length r of the method's real stability interval [-r, 0]."""
    return real_stability_interval(TABLEAUS[method].stability_function)


def _largest_stable(sizes: tuple[float, ...]) -> float:
    stable = [h for h, size in zip(HS, sizes, strict=True) if size <= 1.0]
    return max(stable)


def _per_method(answers: dict[str, Any], key: str) -> dict[str, Any]:
    value = answers[key]
    if type(value) is not dict or sorted(value) != sorted(METHODS):
        raise CheckFailed(f"{key!r} should be a dict with one entry per method, keys {METHODS}.")
    return value


def data(value: Any, device: torch.device) -> str:
    answers = answer_dict(value, NAME, KEYS)
    sizes = _per_method(answers, "final_sizes")
    for method in METHODS:
        theirs = numbers(sizes[method], f"final_sizes[{method!r}]", len(HS))
        for h, mine, ref in zip(HS, theirs, run(method), strict=True):
            if abs(mine - ref) > 1e-6 * ref:
                raise CheckFailed(
                    f"final_sizes[{method!r}]: at h = {h} your value is {mine:.4g}, a re-run "
                    f"gives {ref:.4g}: record max |y_i(10)| (the largest absolute component of "
                    "the last state) of odeint with method "
                    f"{method!r} on the grid of round(10 / h) steps of size h."
                )
    return f"both sweeps re-run, h = {HS[0]} to {HS[-1]}"


def measured(value: Any, device: torch.device) -> str:
    answers = answer_dict(value, NAME, KEYS)
    stable = _per_method(answers, "largest_stable_h")
    for method in METHODS:
        got = number(stable[method], f"largest_stable_h[{method!r}]")
        sizes, right = run(method), _largest_stable(run(method))
        if abs(got - right) < 1e-9:
            continue
        k = min(range(len(HS)), key=lambda i: abs(HS[i] - got))
        if abs(HS[k] - got) > 1e-9:
            raise CheckFailed(
                f"largest_stable_h[{method!r}] is {got:g}, which is not a step of the sweep "
                f"{HS}: answer with the largest step whose run stayed bounded."
            )
        if got > right:
            raise CheckFailed(
                f"largest_stable_h[{method!r}] is {got:g}, but with that step {method} ends at "
                f"|y(10)| = {sizes[k]:.3g}, far above the initial 1: it blew up."
            )
        raise CheckFailed(
            f"largest_stable_h[{method!r}] is {got:g}, but the runs with larger steps up to "
            f"{right:g} also stayed bounded (|y(10)| = {sizes[HS.index(right)]:.2g} there)."
        )
    return ", ".join(f"{m}: {_largest_stable(run(m)):g}" for m in METHODS)


def _prediction_mistakes(method: str) -> list[tuple[float, str]]:
    r = interval(method)
    other = next(m for m in METHODS if m != method)
    return [
        (r, f"{r:.4g} is r / |λ| for the slow eigenvalue -1; the fast one, -100, sets the "
         "limit: h λ must lie in [-r, 0] for every eigenvalue λ."),
        (r / 101, "You divided by |trace A| = 101; the limit comes from the eigenvalues of A, "
         "-1 and -100, one at a time."),
        (r / float(np.linalg.norm(np.array(A))), "You divided by the (Frobenius) norm of A; "
         "the limit comes from its eigenvalues."),
        (interval(other) / FAST, f"That is the interval of {other}, r = {interval(other):.4g}: "
         f"{method}'s stability function is another polynomial."),
        (2 * math.sqrt(2) / FAST, "2√2 ≈ 2.83 is where RK4's region meets the imaginary axis; "
         "these eigenvalues are real and negative: use the real interval."),
        (1 / FAST, "The limit is r / |λ|, with r the length of the method's real stability "
         "interval [-r, 0], not 1 / |λ|."),
    ]  # fmt: skip


def predicted(value: Any, device: torch.device) -> str:
    answers = answer_dict(value, NAME, KEYS)
    guesses = _per_method(answers, "predicted_h")
    for method in METHODS:
        got = number(guesses[method], f"predicted_h[{method!r}]")
        right = interval(method) / FAST
        if abs(got - right) <= REL * right:
            continue
        why = next(
            (m for v, m in _prediction_mistakes(method) if abs(got - v) <= REL * v),
            "Find the eigenvalues of A (torch.linalg.eigvals), the interval [-r, 0] of the "
            "real axis inside the method's stability region, and the largest h with h λ in it "
            "for every eigenvalue.",
        )
        raise CheckFailed(f"predicted_h[{method!r}] is {got:.5g}. {why}")
    return ", ".join(f"{m}: {interval(m) / FAST:.5f}" for m in METHODS)


def _evaluations(method: str) -> int:
    return STAGES[method] * round(T_END / _largest_stable(run(method)))


def cheaper(value: Any, device: torch.device) -> str:
    answers = answer_dict(value, NAME, KEYS)
    counts = {m: _evaluations(m) for m in METHODS}
    text = ", ".join(
        f"{m}: {STAGES[m]} × {round(T_END / _largest_stable(run(m)))} steps = {counts[m]}"
        for m in METHODS
    )
    wrong = {
        "a": f"Count the evaluations: {text}. RK4's larger stable step does not make up for "
        "its four evaluations per step: when stability, not accuracy, sets the step, a "
        "higher order does not pay.",
        "c": f"They differ by more than a tenth: {text}.",
    }
    return expect_choice(answers["cheaper"], "'cheaper'", "b", wrong, note=text)


GROWS = {
    "a": "The slow mode has h λ = -h, far inside every stability region, where |R| < 1: it "
    "decays as it should. The fast one has h λ = -100 h, outside the region beyond the limit.",
    "c": "The two modes are multiplied by R(-h) and R(-100 h) at every step: only the second "
    "has |R| > 1 beyond the limit.",
}


def grows(value: Any, device: torch.device) -> str:
    answers = answer_dict(value, NAME, KEYS)
    note = "the fast mode, which the exact solution has long damped"
    return expect_choice(answers["grows"], "'grows'", "b", GROWS, note=note)


EXPERIMENT_TESTS = (
    Test("the sweeps are those of a re-run", data, timeout=30.0),
    Test("the largest stable step of each sweep", measured, timeout=30.0),
    Test("the largest stable step, predicted", predicted),
    Test("which method needs fewer evaluations", cheaper, timeout=30.0),
    Test("which part of the solution blows up", grows),
)
