"""Chapter 5's experiment (C5.5): memory and evaluations of backprop and the adjoint, by steps.

Part of `nodelib.course.grading.ch05`, kept apart for length. The reader solves
y' = f(y) for an `nodelib.models.MLPField` (8 states, 32 hidden units, float64, wrapped in an
`ODEFunc` that counts its evaluations) on a batch of 16 states from t = 0 to 1, with fixed-step
rk4 and n = 10, 20, 40, 80 steps, once differentiated by backpropagation through
`nodelib.odeint` and once by `nodelib.odeint_adjoint`. For each run: the bytes autograd saves
for the backward pass (`nodelib.course.profiling.saved_tensor_bytes`), the evaluations of f in
the forward solve, and those during ``loss.backward()`` for the loss sum(y(1)²). The answers,
in a dict ``ch5_experiment``:

- ``"memory_slope"``: per method, the slope of log(saved bytes) against log(n);
- ``"budget_steps"``: how many rk4 steps backpropagation can take within 10^8 saved bytes;
- ``"how"``: a letter, the sentence that says which cost grows how.

The byte counts depend only on the shapes and the graph, and the evaluation counts only on the
steps, so the grader re-measures them exactly.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import torch

from nodelib.course.grading.answers import answer_dict, expect_choice, number, numbers
from nodelib.course.grading.core import CheckFailed, Test

__all__ = ["BUDGET", "EXPERIMENT_TESTS", "STEPS", "measure", "prepare"]

STEPS = (10, 20, 40, 80)
SOLVERS = ("backprop", "adjoint")
BUDGET = 1e8  # bytes
NAME = "ch5_experiment"
KEYS = ("steps", "saved_bytes", "forward_nfe", "backward_nfe", "memory_slope",
        "budget_steps", "how")  # fmt: skip
MEASURED = ("saved_bytes", "forward_nfe", "backward_nfe")


@cache
def measure(solver: str, n: int) -> tuple[int, int, int]:
    """(saved bytes, forward evaluations, backward evaluations) of one run, as the reader's."""
    from nodelib import odeint, odeint_adjoint
    from nodelib.course.profiling import saved_tensor_bytes
    from nodelib.models.blocks import MLPField, ODEFunc

    torch.manual_seed(0)  # the counts depend on the shapes, not on the values
    field = ODEFunc(MLPField(8, 32).double())
    y0 = torch.randn(16, 8, dtype=torch.float64, requires_grad=True)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    solve = odeint if solver == "backprop" else odeint_adjoint
    ys, saved = saved_tensor_bytes(
        lambda: solve(field, y0, t, method="rk4", options={"step_size": 1.0 / n})
    )
    forward = field.nfe
    (ys[-1] ** 2).sum().backward()
    return saved, forward, field.nfe - forward


def prepare() -> None:
    """Measure every run once, before the tests (they share the results)."""
    for solver in SOLVERS:
        for n in STEPS:
            measure(solver, n)


def _table(answers: dict[str, Any], key: str) -> dict[str, list[float]]:
    table = answers[key]
    if type(table) is not dict or sorted(table) != sorted(SOLVERS):
        raise CheckFailed(f"{key!r} should be a dict with the keys {SOLVERS}, a list each.")
    return {s: numbers(table[s], f"{key}[{s!r}]", len(STEPS)) for s in SOLVERS}


def data(value: Any, device: torch.device) -> str:
    answers = answer_dict(value, NAME, KEYS)
    if numbers(answers["steps"], "'steps'") != list(STEPS):
        raise CheckFailed(f"'steps' should be the numbers of steps {list(STEPS)}.")
    what = {
        "saved_bytes": "the bytes saved_tensor_bytes reports for the solve",
        "forward_nfe": "the evaluations of f during the solve",
        "backward_nfe": "the evaluations of f during loss.backward()",
    }
    for column, key in enumerate(MEASURED):
        table = _table(answers, key)
        for solver in SOLVERS:
            for n, got in zip(STEPS, table[solver], strict=True):
                right = measure(solver, n)[column]
                if got != right:
                    raise CheckFailed(
                        f"{key}[{solver!r}] at n = {n} is {got:g}; a re-run gives {right}: "
                        f"record {what[key]}, with the field's counter reset before each run."
                    )
    return "every run re-measured: bytes and evaluations"


def _slope(n_values: tuple[int, ...], values: list[float]) -> float:
    x, y = [math.log(n) for n in n_values], [math.log(v) for v in values]
    mx, my = sum(x) / len(x), sum(y) / len(y)
    return sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True)) / sum(
        (a - mx) ** 2 for a in x
    )


def memory_slope(value: Any, device: torch.device) -> str:
    answers = answer_dict(value, NAME, KEYS)
    slopes = answers["memory_slope"]
    if type(slopes) is not dict or sorted(slopes) != sorted(SOLVERS):
        raise CheckFailed(f"'memory_slope' should be a dict with the keys {SOLVERS}.")
    got = {s: number(slopes[s], f"memory_slope[{s!r}]") for s in SOLVERS}
    right = {s: _slope(STEPS, [measure(s, n)[0] for n in STEPS]) for s in SOLVERS}
    if all(abs(got[s] - right[s]) <= 0.1 for s in SOLVERS):
        return ", ".join(f"{s}: {right[s]:.2f}" for s in SOLVERS)
    if (
        abs(got["backprop"] - right["adjoint"]) <= 0.1
        and abs(got["adjoint"] - right["backprop"]) <= 0.1
    ):
        why = "The two slopes are swapped."
    else:
        why = "Fit a line through (log n, log bytes) for each method."
    raise CheckFailed(
        "'memory_slope' is " + ", ".join(f"{s}: {got[s]:g}" for s in SOLVERS) + "; the "
        "measurements give " + ", ".join(f"{s}: {right[s]:.2f}" for s in SOLVERS) + f". {why} "
        "Slope 1 on a log-log plot is memory in proportion to the steps, slope 0 memory "
        "that does not depend on them."
    )


def _budget() -> tuple[int, float, float]:
    (b_first, *_), (b_last, *_) = measure("backprop", STEPS[0]), measure("backprop", STEPS[-1])
    per_step = (b_last - b_first) / (STEPS[-1] - STEPS[0])
    fixed = b_first - STEPS[0] * per_step
    return math.floor((BUDGET - fixed) / per_step), per_step, fixed


def budget_steps(value: Any, device: torch.device) -> str:
    answers = answer_dict(value, NAME, KEYS)
    got = number(answers["budget_steps"], "'budget_steps'")
    right, per_step, fixed = _budget()
    if abs(got - right) <= 0.01 * right:
        return f"about {right} steps ({per_step:.0f} bytes per step)"
    adjoint = measure("adjoint", STEPS[-1])[0]
    if abs(got - BUDGET / adjoint) <= 0.01 * BUDGET / adjoint or got > 10 * right:
        why = (f"The adjoint keeps {adjoint} bytes whatever n is; the question is about "
               "backpropagation, which keeps every step's intermediate values.")  # fmt: skip
    else:
        why = "Backpropagation's bytes grow by the same amount with every step: extrapolate."
    raise CheckFailed(
        f"'budget_steps' is {got:g}; backpropagation saves {per_step:.0f} bytes per rk4 step "
        f"(plus {fixed:.0f}), so 10^8 bytes last for about {right} steps. {why}"
    )


def _how_wrong() -> dict[str, str]:
    b10, b80 = measure("backprop", 10)[0], measure("backprop", 80)[0]
    (a10, h10, k10), (a80, h80, k80) = measure("adjoint", 10), measure("adjoint", 80)
    return {
        "b": f"The adjoint saved {a10} bytes at n = 10 and {a80} at n = 80: its backward "
        "solve stores nothing per step (it recomputes y backwards).",
        "c": f"The adjoint's memory stays the same, but its evaluations of f grow with the "
        f"steps: {h10 + k10} at n = 10, {h80 + k80} at n = 80.",
        "d": f"Backprop saved {b10} bytes at n = 10 and {b80} at n = 80: eight times the steps, "
        f"{b80 / b10:.1f} times the bytes, in proportion (the backward pass visits each step "
        "once).",
    }


def how(value: Any, device: torch.device) -> str:
    answers = answer_dict(value, NAME, KEYS)
    note = "memory O(n) against O(1); evaluations O(n) for both, twice as many for the adjoint"
    return expect_choice(answers["how"], "'how'", "a", _how_wrong(), note=note)


EXPERIMENT_TESTS = (
    Test("the measurements are those of a re-run", data, timeout=30.0),
    Test("how the saved memory grows with the steps", memory_slope, timeout=30.0),
    Test("how many steps backprop can afford", budget_steps, timeout=30.0),
    Test("which cost grows how", how, timeout=30.0),
)
