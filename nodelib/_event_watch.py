"""Watching the accepted steps for the first zero crossing of an event function g(t, y).

`EventWatch.check` evaluates g at the end of each accepted step; at the first change of
sign it locates the root inside the step by bisection on the step's interpolant (the dense
output, so no step is shortened and f is not evaluated again). `solve(..., event_fn=...)`
and `nodelib.odeint_event` both use it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from nodelib._problem import Problem
from nodelib._types import State
from nodelib.integrate import Step

EventFn = Callable[[Tensor, State], Tensor]


def _g(p: Problem, event_fn: EventFn, t: float, y: Tensor) -> list[int]:
    """The signs (-1, 0, 1) of the event function's values at (t, y)."""
    with torch.no_grad():
        value = event_fn(p.time(t * p.direction), p.unflatten(y))
    if not isinstance(value, Tensor) or value.numel() < 1:
        raise ValueError(
            "event_fn(t, y) must return a tensor (one value, or several: the event is where "
            f"the first of them crosses zero); got {type(value).__name__} "
            f"{tuple(value.shape) if isinstance(value, Tensor) else ''}."
        )
    return torch.sign(value.detach()).reshape(-1).tolist()


class EventWatch:
    """Checks each accepted step for the first change of sign of g (or of any of its values).

    A zero of g at t0 itself is not an event (a bouncing ball restarts on the ground):
    the reference sign is then taken at the end of the first step. With several values the
    event is the first time one of them leaves its reference sign; `index` says which.
    """

    def __init__(self, p: Problem, event_fn: EventFn) -> None:
        self.p, self.event_fn = p, event_fn
        self.reference = _g(p, event_fn, p.times[0], p.y0)
        self.index: int | None = None

    def check(self, step: Step) -> float | None:
        """θ of the event inside `step`, or None if g keeps its signs over the step."""
        signs = _g(self.p, self.event_fn, step.t + step.h, step.result.y1)
        if len(signs) != len(self.reference):
            raise ValueError("event_fn must return the same number of values at every call.")
        index = _left(self.reference, signs)
        if index is None:
            pairs = zip(self.reference, signs, strict=True)
            self.reference = [s if r == 0 else r for r, s in pairs]  # zeros at t0 take a sign
            return None
        theta, self.index = _bisect(self.p, self.event_fn, step, self.reference, index)
        return theta


def _left(reference: list[int], signs: list[int]) -> int | None:
    """The first value that left its (non-zero) reference sign, or None."""
    for i, (r, s) in enumerate(zip(reference, signs, strict=True)):
        if r != 0 and s != r:
            return i
    return None


def _bisect(p: Problem, event_fn: EventFn, step: Step, reference: list[int], index: int):
    """θ of the first root of g(t + θh, interpolant(θ)) in [0, 1], to the resolution of t,
    and the index of the value that left its reference sign there (`index` at θ = 1)."""
    lo, hi = 0.0, 1.0
    resolution = p.time_eps * max(1.0, abs(step.t) + abs(step.h)) / abs(step.h)
    with torch.no_grad():
        while hi - lo > resolution:
            mid = 0.5 * (lo + hi)
            left = _left(reference, _g(p, event_fn, step.t + mid * step.h, step(mid)))
            if left is None:
                lo = mid
            else:
                hi, index = mid, left
    return hi, index  # g has left its reference sign at hi
