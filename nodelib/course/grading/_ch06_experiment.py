"""Chapter 6's experiment (C6.6): what a tolerance buys when a trained CNF is evaluated.

Part of `nodelib.course.grading.ch06`, kept apart for length. The reader takes the CNF trained
in C6.5, in float64 with the adaptive dopri5, and computes its test negative log-likelihood
(NLL) on target points at the tolerances `TOLS` (rtol = atol = tol), with the evaluations of
the dynamics each solve takes, against a reference at tol = 1e-10. The answers, in a dict
``ch6_experiment``:

- ``"loosest_tol"``: the loosest tolerance of the sweep whose NLL, and that of every tighter
  one, is within 1e-4 nats of the reference (a decision, judged on the reader's own model);
- ``"loose_tols"``: a letter, what the three loosest tolerances do;
- ``"nfe_growth"``: a letter, how the evaluations grow from 1e-4 to 1e-7.

The grader re-runs the sweep on the reader's model and points, and judges the two letters on
those measurements (they read the same on every seed tried, see tests/test_grading_ch06.py).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor

from nodelib.course.grading.answers import answer_dict, choice, number, numbers
from nodelib.course.grading.core import CheckFailed, Test

__all__ = ["ACCURACY", "EXPERIMENT_TESTS", "TOLS", "sweep"]

TOLS = tuple(10.0**-k for k in range(1, 8))  # 1e-1, ..., 1e-7
REFERENCE_TOL = 1e-10
ACCURACY = 1e-4  # nats
NAME = "ch6_experiment"
KEYS = ("model", "x", "tols", "nfe", "nll_error", "loosest_tol", "loose_tols", "nfe_growth")


def sweep(model: Any, x: Tensor) -> tuple[list[int], list[float]]:
    """The evaluations and |NLL(tol) - NLL(1e-10)| of a float64 dopri5 copy of `model`, per tol."""
    cnf = copy.deepcopy(model).cpu().double()
    cnf.method, cnf.options = "dopri5", None
    x = x.detach().cpu().double()
    nfe, errors = [], []
    with torch.no_grad():
        cnf.rtol = cnf.atol = REFERENCE_TOL
        reference = float(-cnf.log_prob(x).mean())
        for tol in TOLS:
            cnf.rtol = cnf.atol = tol
            nll = float(-cnf.log_prob(x).mean())
            nfe.append(cnf.nfe)
            errors.append(abs(nll - reference))
    return nfe, errors


def _inputs(answers: dict[str, Any]) -> tuple[Any, Tensor]:
    from nodelib.models.cnf import CNF, CNFDynamics

    model, x = answers["model"], answers["x"]
    if type(model) is not CNF or type(model.dynamics) is not CNFDynamics or model.base.dim != 2:
        raise CheckFailed("'model' should be your trained 2-D nodelib.models.CNF (from C6.5).")
    if not isinstance(x, Tensor) or x.dim() != 2 or x.shape[1] != 2 or not 100 <= len(x) <= 2000:
        raise CheckFailed(
            "'x' should be the target points of the sweep, a tensor (n, 2), n >= 100."
        )
    if not bool(torch.isfinite(x).all()):
        raise CheckFailed("'x' contains inf or nan.")
    return model, torch.Tensor.detach(x).clone()


def _loosest(errors: list[float]) -> float | None:
    """The loosest tol whose error, and that of every tighter tol, is within ACCURACY."""
    loosest = None
    for tol, error in reversed(list(zip(TOLS, errors, strict=True))):
        if error > ACCURACY:
            break
        loosest = tol
    return loosest


def data_and_decision(value: Any, device: torch.device) -> str:
    answers = answer_dict(value, NAME, KEYS)
    tols = numbers(answers["tols"], "'tols'", len(TOLS))
    if any(abs(a - b) > 1e-3 * b for a, b in zip(tols, TOLS, strict=True)):
        raise CheckFailed(f"'tols' should be the tolerances {list(TOLS)}.")
    model, x = _inputs(answers)
    nfe, errors = sweep(model, x)
    mine_nfe = numbers(answers["nfe"], "'nfe'", len(TOLS))
    mine_err = numbers(answers["nll_error"], "'nll_error'", len(TOLS))
    for tol, a, b, e, f in zip(TOLS, mine_nfe, nfe, mine_err, errors, strict=True):
        if a != b or abs(e - f) > 1e-2 * f + 1e-12:
            raise CheckFailed(
                f"At tol = {tol:g} you recorded {a:g} evaluations and an NLL error of {e:.3g}; "
                f"a re-run gives {b} and {f:.3g}. Solve in float64 with dopri5 (options None), "
                "read model.nfe after each log_prob, and compare with the NLL at tol = 1e-10."
            )
    got = number(answers["loosest_tol"], "'loosest_tol'")
    right = _loosest(errors)
    if right is None:
        raise CheckFailed("No tolerance of the sweep reaches 1e-4 nats on your model.")
    if abs(got - right) <= 1e-3 * right:
        return (
            f"tol = {right:g}: within {ACCURACY:g} nats with {nfe[TOLS.index(right)]} evaluations"
        )
    k = TOLS.index(right)
    if got > right:
        bad = max((i for i in range(k) if errors[i] > ACCURACY), default=0)
        raise CheckFailed(
            f"'loosest_tol' is {got:g}, but at tol = {TOLS[bad]:g} the NLL is off by "
            f"{errors[bad]:.2g} nats, more than {ACCURACY:g}."
        )
    raise CheckFailed(
        f"'loosest_tol' is {got:g}, tighter than needed: at tol = {right:g} (and tighter) the "
        f"NLL is already within {ACCURACY:g} nats ({errors[k]:.2g}), for {nfe[k]} evaluations."
    )


def _pattern(answers: dict[str, Any]) -> tuple[list[float], list[float]]:
    return (
        numbers(answers["nfe"], "'nfe'", len(TOLS)),
        numbers(answers["nll_error"], "'nll_error'", len(TOLS)),
    )


def loose_tols(value: Any, device: torch.device) -> str:
    answers = answer_dict(value, NAME, KEYS)
    nfe, errors = _pattern(answers)
    letter = choice(answers["loose_tols"], "'loose_tols'", ["a", "b", "c"])
    right = "a" if errors[2] < errors[0] / 10 else "b"  # (c) never: the solves returned
    shown = (
        f"evaluations {', '.join(f'{n:g}' for n in nfe[:3])} and NLL errors "
        f"{', '.join(f'{e:.1g}' for e in errors[:3])} at tol = 1e-1, 1e-2, 1e-3"
    )
    if letter == right:
        return shown
    steps = round((nfe[0] - 2) / 6)
    why = {
        "a": "the error does not fall in proportion to tol there.",
        "b": "the evaluations change there.",
        "c": "the solver met every tolerance of the sweep without raising.",
    }[letter]
    raise CheckFailed(
        f"'loose_tols': ({letter}) does not describe your measurements, {shown}: {why} "
        f"When the tolerance is loose, the fewest steps the solver takes ({steps} here, "
        "6 evaluations each and 2 more) already pass its error test, so the tolerance does "
        "not set the steps."
    )


def nfe_growth(value: Any, device: torch.device) -> str:
    answers = answer_dict(value, NAME, KEYS)
    nfe, _ = _pattern(answers)
    letter = choice(answers["nfe_growth"], "'nfe_growth'", ["a", "b", "c", "d"])
    ratio = nfe[TOLS.index(1e-7)] / nfe[TOLS.index(1e-4)]
    right = "d" if ratio < 1.2 else "c" if ratio <= 5 else "b" if ratio <= 100 else "a"  # (a) > 100
    if letter == right:
        return f"{ratio:.1f} times the evaluations for a 1000 times tighter tolerance"
    raise CheckFailed(
        f"'nfe_growth': ({letter}) does not describe your measurements: from tol = 1e-4 to "
        f"1e-7 the evaluations went from {nfe[TOLS.index(1e-4)]:g} to "
        f"{nfe[TOLS.index(1e-7)]:g}, {ratio:.1f} times as many. dopri5 keeps each step's local "
        "error estimate, which behaves like C h^5, near the tolerance: h ∝ tol^(1/5), so 1000 "
        "times tighter asks for at most about 1000^(1/5) ≈ 4 times as many steps."
    )


EXPERIMENT_TESTS = (
    Test("the sweep is a re-run, and the tolerance you chose meets 1e-4 nats",
         data_and_decision, timeout=60.0),
    Test("what the three loosest tolerances do", loose_tols),
    Test("how the evaluations grow as the tolerance tightens", nfe_growth),
)  # fmt: skip
