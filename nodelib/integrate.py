"""The integration loop: one driver for every method, adaptive or fixed-step.

`accepted_steps` is chapter 2's adaptive algorithm and nothing more. It asks the method
(a `nodelib.steppers.Stepper`) for a step, the controller (`nodelib.step_control`)
whether to keep it, and the stops (`nodelib._stops`) where it must land; a fixed-step
method is the same loop with no controller, its stops being the grid. `integrate` reads
the values at the output times off each accepted step's interpolant. Both work on a
`Problem` in normal form (time increasing, one tensor state; `nodelib._problem`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from torch import Tensor

from nodelib._diagnose import check_finite, check_max_steps, check_underflow, first_derivative
from nodelib._problem import Problem
from nodelib._stops import Stop, adaptive_stops, fixed_stops
from nodelib._types import Time
from nodelib.step_control import initial_step, make_controller, rms_norm
from nodelib.steppers import Stepper, StepResult

__all__ = ["Step", "accepted_steps", "integrate"]


@dataclass
class Step:
    """One accepted step from t to t + h (internal float times), and what it computed.

    `t_arg` and `h_arg` are the time and step size the method was given: the floats
    themselves, or tensors carrying the graph when the solve is differentiated with
    respect to the times.
    """

    t: float
    h: float
    y0: Tensor
    result: StepResult
    t_arg: Time
    h_arg: Time

    def __call__(self, theta: Time) -> Tensor:
        """The solution at t + θh, from the step's interpolant."""
        return self.result.interpolant(theta)


def accepted_steps(p: Problem, stepper: Stepper, stats: dict[str, int]) -> Iterator[Step]:
    """Step from p.times[0] to p.times[-1]; yield every accepted step; count in `stats`."""
    adaptive = stepper.error_order is not None
    stops = _stops(p, adaptive)
    t, y, t_arg, norm = p.times[0], p.y0, p.t_start, p.norm or rms_norm
    stepper.start(p.fn, t_arg, y)
    f0, h, max_step = None, math.inf, float(p.options.get("max_step", math.inf))
    floor, cb = _forced_min_step(p), p.callbacks
    if adaptive:
        controller = make_controller(p.options.get("controller"), p.options)
        state, (f0, h) = controller.initial_state(), _first_step(p, stepper, stops, y, norm)
        h = min(max_step, max(floor, h))
    i_stop, nonfinite = 0, False
    while i_stop < len(stops):
        check_max_steps(p, stats, t, y, h, stepper.name)
        stop = stops[i_stop]
        lands = h >= stop.t - t
        h_try = stop.t - t if lands else h
        if adaptive and not lands:
            check_underflow(p, t, y, h_try, nonfinite, stepper.name)
        h_arg = stop.tensor - t_arg if lands and stop.tensor is not None else h_try
        f = _left_of(p, stop) if lands and stop.jump else p.fn
        if cb is not None:
            cb.before(t, y, h_try)
        result = stepper.step(f, t_arg, y, h_arg, f0)
        if adaptive:
            ratio = stepper.error_ratio(result, y, p.rtol, p.atol, norm)
            nonfinite = not math.isfinite(ratio)
            accept, h_next, state = controller.decide(h_try, ratio, stepper.error_order, state)
            accept = accept or h_try <= floor  # torchdiffeq's min_step: accepted whatever its error
            if cb is not None:
                cb.after(accept, t, y, h_try)
            if not accept:
                stats["n_rejected"] += 1
                h, f0 = max(floor, h_next), result.f0
                continue
            h = min(max(floor, h_next), max_step)
        stats["n_accepted"] += 1
        yield Step(t, h_try, y, result, t_arg, h_arg)
        t_arg = stop.tensor if lands and stop.tensor is not None else t_arg + h_try
        t, y, f0 = stop.t if lands else t + h_try, result.y1, result.f1
        del result  # this step's stages must not stay alive while the next one is computed
        if lands:
            i_stop += 1
            if stop.jump:  # f jumps here: restart from its value on the right
                f0 = p.fn(stop.right - stop.t + t_arg, y)


def _forced_min_step(p: Problem) -> float:
    """With options force_min_step, no step is shorter than min_step (0.0: no floor)."""
    return float(p.options.get("min_step", 0.0)) if p.options.get("force_min_step") else 0.0


def _first_step(p: Problem, stepper: Stepper, stops: list[Stop], y: Tensor, norm):
    """f(t0, y0) and the first step size (HNW I, §II.4); drops a stop on t0 itself."""
    t, t_arg = p.times[0], p.t_start
    if stops[0].t == t:  # t0 is a jump: start from f on its right
        t_arg = stops.pop(0).right - t + t_arg
    f0 = first_derivative(p, t_arg, y)
    h = p.options.get("first_step") or initial_step(
        p.fn, t, y, f0, stepper.error_order - 1, p.rtol, p.atol, norm
    )
    return f0, float(h)


def _stops(p: Problem, adaptive: bool) -> list[Stop]:
    if adaptive:
        return adaptive_stops(p.times, p.options, p.direction, p.t_dtype, p.t_grad)
    return fixed_stops(p.times, p.options, p.time_eps, p.t_grad)


def _left_of(p: Problem, stop: Stop):
    """f for the step that ends on a jump: evaluated just left of it, never on it."""

    def f(s: Time, y: Tensor) -> Tensor:
        if isinstance(s, Tensor):  # keep the graph, move the value
            return p.fn(s - max(0.0, float(s) - stop.left), y)
        return p.fn(min(s, stop.left), y)

    return f


def integrate(p: Problem, stepper: Stepper, *, record: bool = False, watch=None):
    """The states at p.times, read off the accepted steps' interpolants.

    Args:
        p, stepper: the problem and the method.
        record: keep every accepted `Step` (for `Solution.evaluate`).
        watch: an `nodelib.events.EventWatch`, to stop at the first event.

    Returns:
        (ys, stats, steps, event): the states at the output times up to the event (a list
        of `(*shape)` tensors), the statistics (nfe, n_steps, n_accepted, n_rejected),
        the recorded steps, and (step, θ) of the event or None.
    """
    stats = {"nfe": 0, "n_steps": 0, "n_accepted": 0, "n_rejected": 0}
    ys, steps, n_out, checked, event = [p.y0], [], 1, p.times[0], None
    for step in accepted_steps(p, stepper, stats):
        theta = None if watch is None else watch.check(step)
        n_before = n_out
        n_out = _emit(p, ys, n_out, step, 1.0 if theta is None else theta)
        if record:
            steps.append(step)
        # Fixed steps: one host sync per output, not per step (a NaN is located between outputs).
        if stepper.error_order is None and n_out > n_before:
            check_finite(p, ys[-1], stepper.name, checked, step)
            checked = step.t + step.h
        if theta is not None:
            event = (step, theta)
            break
        del step  # not alive while the next step is computed (unless recorded)
    stats["nfe"] = p.nfe[0]
    stats["n_steps"] = stats["n_accepted"] + stats["n_rejected"]
    if hasattr(stepper, "stats"):  # a method that steps inside (scipy_solver) counts its steps
        stats.update(stepper.stats())
    return ys, stats, steps, event


def _emit(p: Problem, ys: list[Tensor], n_out: int, step: Step, until: float) -> int:
    """Append the outputs in (t, t + until·h]; return the index of the next output time.

    An output time within a few ulps of t's dtype from the step's end takes y1 itself:
    a float32 t = 0.1 is 0.10000000149 and would otherwise be interpolated.
    """
    times, t1 = p.times, step.t + step.h
    snap = p.time_eps * max(1.0, abs(t1))
    last = t1 + snap if until == 1.0 else step.t + until * step.h
    while n_out < len(times) and times[n_out] <= last:
        s = times[n_out]
        # With time gradients, y1 carries the graph to t[n_out] only when the step landed
        # on that stop (then h_arg is a tensor); otherwise θ = 1 must carry it.
        if abs(s - t1) <= snap and (p.t_grad is None or isinstance(step.h_arg, Tensor)):
            ys.append(step.result.y1)
        elif p.t_grad is not None:  # θ carries the graph to t[n_out]
            ys.append(step((p.t_grad[n_out] - step.t_arg) / step.h_arg))
        else:
            ys.append(step((s - step.t) / step.h))
        n_out += 1
    return n_out
