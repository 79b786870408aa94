"""Terminal events: integrate until g(t, y(t)) = 0, differentiably in the event time.

`odeint_event` has torchdiffeq's interface and meaning. The loop steps as usual; after
each accepted step it evaluates g at the step's end, and at the first change of sign it
locates the root inside that step by bisection on the step's interpolant (the dense
output: no step is shortened and f is not evaluated again; HNW I, §II.6 and the event
location of Shampine & Thompson). The event time t* is a function of y0 and of the
parameters through g(t*, y(t*)) = 0, so by the implicit function theorem

    dt*/dθ = -(∂g/∂y · ∂y(t*)/∂θ) / (∂g/∂t + ∂g/∂y · f(t*, y(t*))),

which `_EventTime` supplies to autograd (Chen, Amos & Nickel, "Learning Neural Event
Functions for Ordinary Differential Equations", ICLR 2021, §3). The state returned at t*
moves with t* as y(t*) does: its derivative includes f(t*, y*) · dt*/dθ.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from nodelib._event_watch import EventFn, EventWatch
from nodelib._problem import Problem
from nodelib._state import StateLayout
from nodelib._types import State, UserField
from nodelib.integrate import Step, accepted_steps
from nodelib.odeint import _no_time_gradient, odeint, prepare
from nodelib.steppers import Stepper

__all__ = ["odeint_event"]


class _EventTime(torch.autograd.Function):
    """t* as a function of y(t*), with dt*/dy* from the implicit function theorem."""

    @staticmethod
    def forward(ctx, func, event_fn, layout, t_event: Tensor, *y_parts: Tensor) -> Tensor:
        ctx.func, ctx.event_fn, ctx.layout = func, event_fn, layout
        ctx.save_for_backward(t_event, *y_parts)
        return t_event.clone()

    @staticmethod
    def backward(ctx, grad_t: Tensor):
        t_event, *y_parts = ctx.saved_tensors
        with torch.enable_grad():
            t = t_event.detach().requires_grad_(True)
            ys = [y.detach().requires_grad_(True) for y in y_parts]
            g = ctx.event_fn(t, tuple(ys) if ctx.layout.is_tuple else ys[0])
            dg = torch.autograd.grad(g, (t, *ys), allow_unused=True)
        with torch.no_grad():
            state = tuple(y.detach() for y in y_parts)
            f = ctx.func(t_event, state if ctx.layout.is_tuple else state[0])
            f = f if ctx.layout.is_tuple else (f,)
            dg_y = [
                torch.zeros_like(y) if d is None else d for d, y in zip(dg[1:], ys, strict=True)
            ]
            # dg/dt along the solution: the partial in t plus the one in y times y' = f.
            slope = sum(float((d * fi).sum()) for d, fi in zip(dg_y, f, strict=True))
            slope += 0.0 if dg[0] is None else float(dg[0])
            if slope == 0.0:
                raise ValueError(
                    "the event function touches zero without crossing it (dg/dt = 0 at the "
                    "event), so the event time has no derivative; change event_fn."
                )
            grads = [-grad_t * d / slope for d in dg_y]
        return (None, None, None, None, *grads)


def odeint_event(
    func: UserField,
    y0: State,
    t0: Tensor | float,
    *,
    event_fn: EventFn,
    reverse_time: bool = False,
    odeint_interface: Callable = odeint,
    **kwargs,
) -> tuple[Tensor, State]:
    """Solve y' = func(t, y) from (t0, y0) until event_fn(t, y) crosses zero.

    torchdiffeq's `odeint_event`: the integration runs forwards (backwards with
    `reverse_time`) with no end time until g = event_fn changes sign after t0, and the
    event time t* is located inside that step on the dense output. t* is differentiable
    with respect to y0, t0 and func's parameters (implicit function theorem, module
    docstring); so is the returned state, which moves with t*.

    Args:
        func: the vector field, as for `odeint`.
        y0: the initial state `(*shape)`, or a tuple of tensors.
        t0: the initial time (a number or a 0-d tensor; it may require grad).
        event_fn: g(t, y) -> a tensor: one value, or several (the event is then the first
            time one of them changes sign, and t* is differentiated through that one).
        reverse_time: integrate towards decreasing t.
        odeint_interface: `nodelib.odeint` (one pass, backprop through the steps) or
            `nodelib.odeint_adjoint` (the event is located without a graph, then the
            state at t* is recomputed by the adjoint solve, which differentiates it).
        **kwargs: rtol, atol, method (an adaptive method, or a fixed-step one with
            `options["step_size"]`), options, and for the adjoint its own keyword arguments.

    Returns:
        (t*, solution): the event time, a 0-d tensor, and the states at (t0, t*),
        `(2, *shape)` (a tuple of such for a tuple y0).

    Raises:
        ValueError: a fixed-step method without step_size, or an event_fn that returns
            no tensor.
        nodelib.errors.MaxStepsError: no event within max_num_steps steps.
    """
    first = y0[0] if isinstance(y0, tuple | list) else y0
    t0 = torch.as_tensor(t0, dtype=first.dtype, device=first.device).reshape(())
    direction = -1.0 if reverse_time else 1.0
    t = torch.stack([t0, t0.detach() + direction])
    graph = odeint_interface is odeint and torch.is_grad_enabled()
    with torch.set_grad_enabled(graph):
        p, stepper = prepare(
            func, y0, t, kwargs.get("rtol", 1e-7), kwargs.get("atol", 1e-9),
            kwargs.get("method", "dopri5"), kwargs.get("options"),
        )  # fmt: skip
        if stepper.error_order is None and "step_size" not in p.options:
            raise ValueError(
                "odeint_event needs an adaptive method (such as 'dopri5') or a fixed "
                "options['step_size']: the end of the integration is not known in advance."
            )
        p.times[-1] = math.inf  # no end time: the event ends the integration
        step, theta, index = _first_event(p, stepper, event_fn)
        t_value = p.time(direction * (step.t + theta * step.h))
        if graph and p.t_grad is not None:  # t* fixed, y(t*) still depends on t0
            theta = (direction * t_value - step.t_arg) / step.h_arg
        y_event = p.unflatten(step(theta)) if graph else None
    if y_event is None:
        ys = odeint_interface(func, y0, torch.stack([t0, t_value]), **kwargs)
        y_event = tuple(y[-1] for y in ys) if isinstance(y0, tuple | list) else ys[-1]
    if index is not None:  # several event values: the one that crossed decides t*
        event_fn = _component(event_fn, index)
    t_event, solution = _differentiable_event(func, event_fn, p, y0, t_value, y_event)
    if graph and t0.requires_grad and p.t_grad is None:  # a method without time gradients
        t_event = t_event + _no_time_gradient(t0, kwargs.get("method", "dopri5"), t_event)
    return t_event, solution


def _component(event_fn: EventFn, index: int) -> EventFn:
    return lambda t, y: event_fn(t, y).reshape(-1)[index]


def _first_event(p: Problem, stepper: Stepper, event_fn: EventFn) -> tuple[Step, float, int | None]:
    """(step, θ, index): the first step with an event, where, and which value crossed zero
    (None for a one-value event_fn)."""
    watch, stats = EventWatch(p, event_fn), {"n_accepted": 0, "n_rejected": 0}
    for step in accepted_steps(p, stepper, stats):
        theta = watch.check(step)
        if theta is not None:
            return step, theta, None if len(watch.reference) == 1 else watch.index
    raise AssertionError("the loop has no end time: it stops at an event or raises")


def _differentiable_event(func, event_fn, p: Problem, y0, t_value: Tensor, y_event):
    """t* through `_EventTime`, and the state at t* moving with it: y* + (t* - t*₀) f(t*, y*)."""
    is_tuple = isinstance(y0, tuple | list)
    parts = tuple(y_event) if is_tuple else (y_event,)
    layout = StateLayout.of(parts, is_tuple=is_tuple)
    t_event = _EventTime.apply(func, event_fn, layout, t_value, *parts)
    with torch.no_grad():
        f = func(t_value, tuple(x.detach() for x in parts) if is_tuple else parts[0].detach())
    shift = t_event - t_value.detach()  # zero, with the derivative of t*
    f_parts = tuple(f) if is_tuple else (f,)
    ends = [y + shift * fy for y, fy in zip(parts, f_parts, strict=True)]
    starts = tuple(y0) if is_tuple else (y0,)
    solution = tuple(torch.stack([a, b]) for a, b in zip(starts, ends, strict=True))
    return t_event, solution if is_tuple else solution[0]
