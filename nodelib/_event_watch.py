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


def _g(p: Problem, event_fn: EventFn, t: float, y: Tensor) -> float:
    with torch.no_grad():
        value = event_fn(p.time(t * p.direction), p.unflatten(y))
    if not isinstance(value, Tensor) or value.numel() != 1:
        raise ValueError(
            "event_fn(t, y) must return a tensor with one element (the event is where it "
            f"crosses zero); got {type(value).__name__} "
            f"{tuple(value.shape) if isinstance(value, Tensor) else ''}."
        )
    return float(value.detach())


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


class EventWatch:
    """Checks each accepted step for the first change of sign of g.

    A zero of g at t0 itself is not an event (a bouncing ball restarts on the ground):
    the reference sign is then taken at the end of the first step.
    """

    def __init__(self, p: Problem, event_fn: EventFn) -> None:
        self.p, self.event_fn = p, event_fn
        self.reference = _sign(_g(p, event_fn, p.times[0], p.y0))

    def check(self, step: Step) -> float | None:
        """θ of the event inside `step`, or None if g keeps its sign over the step."""
        s1 = _sign(_g(self.p, self.event_fn, step.t + step.h, step.result.y1))
        if self.reference == 0:
            self.reference = s1
        elif s1 != self.reference:
            return _bisect(self.p, self.event_fn, step, self.reference)
        return None


def _bisect(p: Problem, event_fn: EventFn, step: Step, reference: int) -> float:
    """θ of the root of g(t + θh, interpolant(θ)) in [0, 1], to the resolution of t."""
    lo, hi = 0.0, 1.0
    resolution = p.time_eps * max(1.0, abs(step.t) + abs(step.h)) / abs(step.h)
    with torch.no_grad():
        while hi - lo > resolution:
            mid = 0.5 * (lo + hi)
            g = _g(p, event_fn, step.t + mid * step.h, step(mid))
            if _sign(g) == reference:
                lo = mid
            else:
                hi = mid
    return hi  # g has left its reference sign here
