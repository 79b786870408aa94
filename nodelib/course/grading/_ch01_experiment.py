"""Chapter 1's experiment (C1.8): where the straight line of a log–log plot starts and ends.

Part of `nodelib.course.grading.ch01`, kept apart for length. The reader measures the global
error at t = 1 of Ralston's method (`nodelib.odeint(method="ralston")`, a two-stage method the
chapter does not present) on y' = -2y + cos 3t, y(0) = 1, with n = 2, 4, ..., 2048 steps, in
float64 and in float32, and answers in a dict ``ch1_experiment``:

- ``"order"``: the order the float64 errors show (a number);
- ``"line_starts_at"``: the n from which the float64 errors fall on the line of that slope;
- ``"float32_line_ends_at"``: the largest n at which the float32 errors still follow it;
- ``"why"``: a letter, why the float32 errors grow again (rounding, of four alternatives).

The grader re-runs the measurements (`nodelib.theory.analysis.fixed_step_errors`), so the
answers are judged on the reader's own machine, where float32 round-off falls as it fell for
them, and a wrong reading is explained with the measured slopes and ratios.
"""

from __future__ import annotations

import itertools
import math
from functools import cache
from typing import Any

import torch
from torch import Tensor

from nodelib.course.grading.answers import answer_dict, expect_choice, number, numbers
from nodelib.course.grading.core import CheckFailed, Test
from nodelib.theory.analysis import empirical_order, fixed_step_errors

__all__ = ["EXPERIMENT_TESTS", "NS", "measure", "prepare"]

NS = tuple(2**k for k in range(1, 12))  # 2, 4, ..., 2048 steps on [0, 1]
METHOD, ORDER = "ralston", 2
KEYS = ("ns", "errors_float64", "errors_float32", "order", "line_starts_at",
        "float32_line_ends_at", "why")  # fmt: skip
SLOPE_TOL = 0.2  # a local slope within 0.2 of the order lies "on the line"
NAME = "ch1_experiment"


def _forced(t: Tensor, y: Tensor) -> Tensor:
    return -2 * y + torch.cos(3 * t)


@cache
def measure(dtype: torch.dtype) -> tuple[float, ...]:
    """The errors at t = 1 of Ralston's method with n = 2, ..., 2048 steps, in `dtype`."""
    exact = (2 * math.cos(3) + 3 * math.sin(3)) / 13 + 11 / 13 * math.exp(-2)
    y0 = torch.ones(1, dtype=dtype)
    return tuple(fixed_step_errors(
        _forced, y0, 0.0, 1.0, torch.tensor([exact], dtype=torch.float64), method=METHOD, ns=NS
    )[1])  # fmt: skip


def prepare() -> None:
    """Measure both precisions once, before the tests (they share the cached errors)."""
    measure(torch.float64)
    measure(torch.float32)


def _local_slopes(errors: tuple[float, ...]) -> list[float]:
    """The slope between neighbouring points (n doubles, so h halves): log2(e_k / e_{k+1})."""
    return [math.log2(a / b) for a, b in itertools.pairwise(errors)]


def _line_start(e64: tuple[float, ...]) -> int:
    """The index from which every local slope of the float64 errors is within SLOPE_TOL."""
    slopes = _local_slopes(e64)
    start = len(slopes)
    while start > 0 and abs(slopes[start - 1] - ORDER) <= SLOPE_TOL:
        start -= 1
    return start


def _line_end(e64: tuple[float, ...], e32: tuple[float, ...]) -> int:
    """The last index at which float32's error is within a factor 2 of float64's (and before)."""
    end = -1
    while end + 1 < len(NS) and 0.5 <= e32[end + 1] / e64[end + 1] <= 2:
        end += 1
    return end


def _read(value: Any) -> dict[str, Any]:
    answers = answer_dict(value, NAME, KEYS)
    if [number(n, "each n of 'ns'") for n in numbers(answers["ns"], "'ns'")] != list(NS):
        raise CheckFailed(f"'ns' should be the numbers of steps {list(NS)}, one run each.")
    return answers


def data(value: Any, device: torch.device) -> str:
    answers = _read(value)
    runs = {"errors_float64": measure(torch.float64), "errors_float32": measure(torch.float32)}
    for key, other in (("errors_float64", "errors_float32"), ("errors_float32", "errors_float64")):
        theirs = numbers(answers[key], repr(key), len(NS))
        tol = 1e-6 if key == "errors_float64" else 0.05  # float32: however the error was taken
        for k, (mine, ref) in enumerate(zip(theirs, runs[key], strict=True)):
            if abs(mine - ref) <= tol * ref:
                continue
            hint = (
                f"That is the error in the other precision: are {key!r} and {other!r} swapped?"
                if abs(mine - runs[other][k]) <= tol * runs[other][k]
                else "Measure |y_n - y(1)| at t = 1 with nodelib's ralston method and n equal "
                "steps, starting from y0 in that precision (fixed_step_errors does it)."
            )
            raise CheckFailed(
                f"{key}: at n = {NS[k]} your error is {mine:.3e}, a re-run gives {ref:.3e}. {hint}"
            )
    return f"both precisions re-measured, n = 2 to {NS[-1]}"


def order(value: Any, device: torch.device) -> str:
    answers = _read(value)
    got = number(answers["order"], "'order'")
    if abs(got - ORDER) <= SLOPE_TOL:
        return f"order {got:g}"
    e64, e32 = measure(torch.float64), measure(torch.float32)
    hs = [1 / n for n in NS]
    mistakes = [
        (empirical_order(hs[:3], e64[:3]), "You fitted the coarsest grids, n = 2 to 8, where "
         "the error falls faster than it will for small h: the higher-order terms of the error "
         "are not negligible yet."),
        (empirical_order(hs, e32), "You fitted all the float32 errors, whose finest grids sit "
         "on the round-off, not on the line."),
        (-empirical_order(hs, e64), "The sign is flipped: the error falls as n grows, so its "
         "slope against h (not against n) is the order."),
        (ORDER + 1, "That is the order of the local error of one step, O(h^3); the global error "
         "at t = 1 adds up about 1/h of them."),
    ]  # fmt: skip
    why = next((m for v, m in mistakes if abs(got - v) <= 0.1), "")
    slopes = ", ".join(f"{s:.2f}" for s in _local_slopes(e64)[_line_start(e64) :])
    raise CheckFailed(
        f"'order' is {got:g}, but the measurements show {ORDER}. {why} From n = "
        f"{NS[_line_start(e64)]} on, the float64 errors fall with local slopes {slopes}: "
        "halving h divides the error by about 4.".replace("  ", " ")
    )


def line_start(value: Any, device: torch.device) -> str:
    answers = _read(value)
    got = number(answers["line_starts_at"], "'line_starts_at'")
    e64 = measure(torch.float64)
    start, slopes = _line_start(e64), _local_slopes(e64)
    accepted = NS[start : start + 2]
    if got in accepted:
        return f"the line starts at n = {int(got)}"
    if got < NS[start]:
        k = start - 1
        raise CheckFailed(
            f"'line_starts_at' is {got:g}, too early: between n = {NS[k]} and {NS[k + 1]} the "
            f"float64 error falls with slope {slopes[k]:.2f}, not about {ORDER}. On coarse grids "
            "the terms of higher order in h still matter (here they first make the error fall "
            "faster, then slower, than h^2): the line starts where the local slopes settle."
        )
    raise CheckFailed(
        f"'line_starts_at' is {got:g}, later than it needs to be: from n = {NS[start]} on, "
        f"every local slope of the float64 errors is within {SLOPE_TOL} of {ORDER} ("
        + ", ".join(f"{s:.2f}" for s in slopes[start:])
        + "). Pick the first n of the straight part."
    )


def line_end(value: Any, device: torch.device) -> str:
    answers = _read(value)
    got = number(answers["float32_line_ends_at"], "'float32_line_ends_at'")
    e64, e32 = measure(torch.float64), measure(torch.float32)
    end = _line_end(e64, e32)
    accepted = NS[max(end - 1, 0) : end + 1]
    if got in accepted:
        return f"float32 follows the line up to n = {int(got)}"
    if end + 1 < len(NS) and got > NS[end]:
        k = end + 1
        raise CheckFailed(
            f"'float32_line_ends_at' is {got:g}, too late: already at n = {NS[k]} the float32 "
            f"error is {e32[k] / e64[k]:.1f} times the float64 one (which is truncation alone): "
            "round-off dominates there."
        )
    raise CheckFailed(
        f"'float32_line_ends_at' is {got:g}, too early: up to n = {NS[end]} the float32 error "
        f"stays within a factor 2 of the float64 one ({e32[end] / e64[end]:.2f} times at "
        f"n = {NS[end]}). Compare the two precisions point by point."
    )


WHY = {
    "a": "Instability is a large-step phenomenon (chapter 2): for small h a step is close "
    "to the exact flow, and the float64 errors, computed by the same steps, keep falling.",
    "b": "The truncation error is about C·h^2 and shrinks with h: the float64 errors show "
    "it falling all the way to the finest grid.",
    "d": "With n a power of 2, h = 1/n and every grid time k·h are exact in binary floating "
    "point. What grows is the sum of the roundings of each step's result.",
}


def why(value: Any, device: torch.device) -> str:
    answers = _read(value)
    return expect_choice(answers["why"], "'why'", "c", WHY, note="rounding, step after step")


EXPERIMENT_TESTS = (
    Test("the measurements are those of a re-run", data),
    Test("the order the errors show", order),
    Test("where the straight line starts", line_start),
    Test("where the float32 errors leave it", line_end),
    Test("why the float32 errors grow again", why),
)
