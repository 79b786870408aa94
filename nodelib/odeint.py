"""`odeint` and `solve`: the public entry points for solving an initial value problem.

    y'(t) = f(t, y(t)),   y(t_0) = y_0,   wanted at the times t_0, t_1, ..., t_N.

`odeint` has torchdiffeq's calling convention, so `from nodelib import odeint`
replaces `from torchdiffeq import odeint`; it returns the states stacked as
`(len(t), *y0.shape)` and is differentiable by ordinary autograd through every
step (for constant memory use `nodelib.odeint_adjoint`). `solve` takes the same
arguments and returns a `Solution` with the statistics of the run and dense
output at any time.

The methods, by name:

- explicit Runge–Kutta, fixed step: euler, midpoint, heun, ralston, heun3, rk4, rk38;
- explicit Runge–Kutta, adaptive embedded pairs: heun_euler, fehlberg12, bosh3, fehlberg45,
  dopri5 (the default), tsit5, dopri8;
- implicit one-step (fixed step, Newton): backward_euler, trapezoid, theta; the implicit
  Runge–Kutta tableaux implicit_midpoint, gauss_legendre2, gauss_legendre3, radau_iia1,
  radau_iia2, radau_iia3, lobatto_iiia2, sdirk2, trbdf2 (`nodelib.implicit_rk`);
- linear multistep (fixed step): adams_bashforth1..4, adams_moulton2..4 (PECE), bdf1..4;
  adams_bashforth and adams_moulton of variable order up to options["max_order"]
  (`nodelib.adams`);
- SciPy's integrators: scipy_solver (options["solver"]: "LSODA", "RK45", ..., see
  `nodelib.scipy_solver`; no backprop through the solve, use `odeint_adjoint`).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from nodelib._event_watch import EventFn, EventWatch
from nodelib._fixed_grid import fixed_grid_options
from nodelib._problem import Problem, make_problem
from nodelib._types import State
from nodelib.adams import ADAMS_METHODS, ADAMS_OPTIONS, Adams
from nodelib.implicit import IMPLICIT_METHODS
from nodelib.implicit_rk import IMPLICIT_RK_METHODS
from nodelib.integrate import Step, integrate
from nodelib.methods import FixedMethod, make_stepper
from nodelib.multistep import MULTISTEP_METHODS
from nodelib.per_sample import PerSampleSolution, integrate_per_sample
from nodelib.per_sample import solution as per_sample_solution
from nodelib.scipy_solver import SCIPY_OPTIONS
from nodelib.steppers import Stepper
from nodelib.tableau import TABLEAUS

__all__ = ["METHODS", "Solution", "odeint", "solve"]

# The options each kind of method reads; any other option raises, as an unknown one does.
_FIXED_OPTIONS = frozenset({"step_size", "max_num_steps", "interp", "perturb"})
_ADAPTIVE_OPTIONS = frozenset(
    {"first_step", "max_num_steps", "min_step", "max_step", "controller", "norm", "step_size",
     "step_t", "jump_t", "safety", "ifactor", "dfactor", "per_sample", "batch_dim",
     "force_min_step"}
)  # fmt: skip
_NEWTON_OPTIONS = frozenset({"newton_tol", "newton_max_iter"})


def method_options(method: str, options: dict | None) -> tuple[frozenset[str], str]:
    """The options `method` reads (with these `options`), and what kind of method it is."""
    tableau = TABLEAUS.get(method)
    if tableau is not None and tableau.is_adaptive:
        if "step_size" in (options or {}):
            return _FIXED_OPTIONS, "an adaptive method run with a fixed step_size"
        return _ADAPTIVE_OPTIONS, "an adaptive method"
    if tableau is not None:
        return _FIXED_OPTIONS, "a fixed-step method"
    if method == "theta":
        return _FIXED_OPTIONS | _NEWTON_OPTIONS | {"theta"}, "an implicit fixed-step method"
    if method == "scipy_solver":
        return SCIPY_OPTIONS, "SciPy's integrator"
    if method in ADAMS_METHODS:
        return _FIXED_OPTIONS | ADAMS_OPTIONS, "a variable-order Adams method"
    if method in IMPLICIT_METHODS or method in IMPLICIT_RK_METHODS or method.startswith("bdf"):
        return _FIXED_OPTIONS | _NEWTON_OPTIONS, "an implicit fixed-step method"
    return _FIXED_OPTIONS, "a fixed-step multistep method"


METHODS: tuple[str, ...] = (
    *TABLEAUS,
    *IMPLICIT_METHODS,
    *IMPLICIT_RK_METHODS,
    *MULTISTEP_METHODS,
    *ADAMS_METHODS,
    "scipy_solver",
)


def prepare(func, y0, t, rtol, atol, method, options) -> tuple[Problem, Stepper]:
    """Check the arguments; the problem in normal form and the method's stepper.

    A method that cannot carry the graph to the times (`FixedMethod`; `Adams`, whose
    history restarts when h changes and reads h as a number) runs with `t` detached; `_run`
    then makes a gradient with respect to `t` raise instead.
    """
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of: {', '.join(METHODS)}.")
    valid, kind = method_options(method, options)
    p = make_problem(func, y0, t, rtol, atol, options, valid=valid, method=f"{method!r}, {kind}")
    stepper = make_stepper(method, p.options, p.time, problem=p)
    if p.t_grad is not None and isinstance(stepper, FixedMethod | Adams):
        p.t_grad = None
    if stepper.error_order is None:
        stepper = fixed_grid_options(stepper, p.options, p.t_dtype, p.direction)
        if p.callbacks is not None:
            p.callbacks.warn_if_fixed(method)
    return p, stepper


def _run(func, y0, t, rtol, atol, method, options, record: bool, event_fn=None):
    p, stepper = prepare(func, y0, t, rtol, atol, method, options)
    if len(p.times) == 1:  # nothing to integrate: y(t0) = y0, and func is not called
        stats = {"nfe": 0, "n_steps": 0, "n_accepted": 0, "n_rejected": 0}
        return p, p.y0[None], stats, [], None
    watch = None if event_fn is None else EventWatch(p, event_fn)
    ys, stats, steps, event = integrate(p, stepper, record=record, watch=watch)
    ys = torch.stack(ys)
    if torch.is_grad_enabled() and isinstance(t, Tensor) and t.requires_grad and p.t_grad is None:
        ys = ys + _no_time_gradient(t, method, ys)
    return p, ys, stats, steps, event


class _NoTimeGradient(torch.autograd.Function):
    """A zero that depends on t, whose backward raises: for methods without time gradients."""

    @staticmethod
    def forward(ctx, t: Tensor, method: str, like: Tensor) -> Tensor:
        ctx.method = method
        return torch.zeros((), dtype=like.dtype, device=like.device)

    @staticmethod
    def backward(ctx, grad: Tensor):
        raise ValueError(
            f"a gradient with respect to t was asked for, but {ctx.method!r} (an implicit or "
            "multistep method) cannot be differentiated with respect to the times: use an "
            "explicit Runge–Kutta method (e.g. 'dopri5' or 'rk4'), nodelib.odeint_adjoint, or "
            "pass t.detach() (or take the gradient with respect to other inputs only)."
        )


def _no_time_gradient(t: Tensor, method: str, like: Tensor) -> Tensor:
    return _NoTimeGradient.apply(t, method, like.detach())


def odeint(
    func: Callable[[Tensor, State], State],
    y0: State,
    t: Tensor,
    *,
    rtol: float = 1e-7,
    atol: float = 1e-9,
    method: str = "dopri5",
    options: dict | None = None,
) -> State:
    """Solve y' = func(t, y), y(t[0]) = y0, and return y at every time in `t`.

    Adaptive methods choose their steps to keep each step's local error below
    atol + rtol·|y| (RMS norm; HNW I, §II.4) and interpolate at the output times
    (HNW I, §II.6; `nodelib.interpolate`): dopri5 and tsit5 with their 4th-order
    continuous extensions, dopri8 (DOP853) with its 7th-order one (3 extra evaluations in
    a step that holds an output), fehlberg45 with one extra step from the start of the
    step (s evaluations per output inside a step), the others with cubic Hermite
    interpolation. Fixed-step methods step over `options["step_size"]` (default: the
    times `t` themselves); an adaptive tableau given a `step_size` runs with that fixed
    step and ignores its error estimate.

    Gradients flow by backprop through every step, to y0, to func's parameters and to
    `t` itself when it requires grad (explicit and implicit Runge–Kutta methods; the step
    sizes the controller chose are held fixed, as in torchdiffeq; the θ-method, BDF and
    fixed-order Adams methods raise when a gradient with respect to `t` is asked for).

    As in torchdiffeq, func gets `t` in the state's dtype whatever t's dtype (the loop's
    own time arithmetic is float64), and may define the step callbacks `callback_step`,
    `callback_accept_step` and `callback_reject_step` (see `nodelib._callbacks`).

    Args:
        func: the vector field, `func(t, y)` with t a 0-d tensor of y's dtype, returning
            dy/dt with y's shape, dtype and device (a tuple of tensors for a tuple state).
        y0: the initial state, a floating tensor of any shape `(*shape)` or a tuple of them.
        t: the output times, 1-D `(T,)`, strictly increasing or strictly decreasing,
            on y0's device. `t[0]` is the initial time; with one time, y0 is returned.
        rtol, atol: relative and absolute tolerances (adaptive methods only): numbers,
            or per-element tensors broadcastable to y0's shape (for a tuple y0, a tuple
            with one number or tensor per part).
        method: one of `nodelib.METHODS` (see the module docstring).
        options: `step_size`, `first_step`, `max_num_steps` (default 100000),
            `min_step`, `max_step`, `controller` ("i" or "pi"), `norm` (a callable on the
            scaled error, with y0's structure, returning a 0-d tensor), and for implicit
            methods `theta` (method "theta" only), `newton_tol`, `newton_max_iter`;
            `solver` for "scipy_solver" (see `nodelib.scipy_solver`), `max_order` and
            `max_iters` for "adams_bashforth" and "adams_moulton" (`nodelib.adams`). Each
            method reads only some of them (`method_options` says which): fixed-step runs
            read `step_size` and `max_num_steps`; the step-size control options need an
            adaptive method without `step_size`; `newton_*` an implicit one. Adaptive
            methods also read `step_t` (times to step to exactly, e.g. kinks of f) and
            `jump_t` (times where f jumps: stepped to, with f restarted on the far side),
            with torchdiffeq's meaning (`nodelib._stops`), and torchdiffeq's `safety`,
            `ifactor`, `dfactor`, which set those fields of the controller; `min_step` with
            `force_min_step=True` takes steps of at least min_step and accepts them whatever
            their error (torchdiffeq's min_step; without it a shorter step raises). Fixed-step
            runs also read torchdiffeq's `interp` ("linear" or "cubic" outputs between grid
            points; default: the method's own dense output) and `perturb` (f evaluated one
            ulp inside each step; `nodelib._fixed_grid`). For a batch of
            independent problems along dimension 0 of y0: `per_sample=True` gives every row
            its own steps (and, with t of shape `(batch, T)`, its own output times; the
            result is then `(T, batch, *shape)`; see `nodelib.per_sample`), and
            `batch_dim=d` keeps one shared step but bounds every sample's own error along
            dimension d (the largest per-sample RMS instead of one RMS over the batch).

    Returns:
        `(T, *shape)`: the solution at the times `t` (a tuple of such for a tuple y0).

    Raises:
        ValueError, TypeError: bad arguments, or an option the method does not read; the
            message names the argument.
        nodelib.errors.StepSizeError: the adaptive step size underflowed.
        nodelib.errors.MaxStepsError: more than `max_num_steps` steps were needed.
        nodelib.errors.NonFiniteError: the solution became NaN or Inf.
        nodelib.errors.ConvergenceError: Newton's iteration of an implicit method failed.
    """
    if options and options.get("per_sample"):
        return integrate_per_sample(func, y0, t, rtol, atol, method, options, False).ys
    p, ys, _, _, _ = _run(func, y0, t, rtol, atol, method, options, record=False)
    return p.unflatten(ys)


@dataclass
class Solution:
    """The result of `solve`: the trajectory at the output times, statistics, dense output.

    Attributes:
        ts: the output times, `(T,)` (with an event: those up to the event).
        ys: the states, `(T, *shape)` (a tuple of such for a tuple state).
        stats: `nfe` (function evaluations), `n_steps`, `n_accepted`, `n_rejected`.
        method: the method's name.
        event_t: with `event_fn`, the time of the event (0-d tensor), None if none occurred.
        event_y: the state at `event_t`, `(*shape)`, or None.
    """

    ts: Tensor
    ys: State
    stats: dict[str, int]
    method: str
    _problem: Problem = field(repr=False)
    _steps: list[Step] = field(repr=False)
    event_t: Tensor | None = None
    event_y: State | None = None

    def evaluate(self, t: float | Tensor) -> State:
        """The solution at any time(s) between `ts[0]` and `ts[-1]`, from the dense output.

        Args:
            t: a number, a 0-d tensor or a 1-D tensor `(M,)` of times.

        Returns:
            `(*shape)` for a single time, `(M, *shape)` for a 1-D tensor of times.

        Raises:
            ValueError: a time outside the solved interval.
        """
        p = self._problem
        scalar = not isinstance(t, Tensor) or t.dim() == 0
        query = torch.as_tensor(t, dtype=torch.float64).reshape(-1).tolist()
        lo, hi = p.times[0], p.times[-1]
        if self.event_t is not None:
            hi = p.direction * float(self.event_t)
        out, starts = [], [r.t for r in self._steps]
        for s in query:
            u = p.direction * s
            if not lo - 1e-12 * max(1.0, abs(lo)) <= u <= hi + 1e-12 * max(1.0, abs(hi)):
                raise ValueError(
                    f"t={s} is outside the solved interval [{p.direction * lo:g}, "
                    f"{p.direction * hi:g}]; solve over a longer interval first."
                )
            if not self._steps:
                out.append(p.y0)
                continue
            step = self._steps[max(0, bisect.bisect_right(starts, u) - 1)]
            with torch.no_grad():
                out.append(step(min(1.0, max(0.0, (u - step.t) / step.h))))
        ys = torch.stack(out)
        return p.unflatten(ys[0] if scalar else ys)


def solve(
    func: Callable[[Tensor, State], State],
    y0: State,
    t: Tensor,
    *,
    rtol: float = 1e-7,
    atol: float = 1e-9,
    method: str = "dopri5",
    options: dict | None = None,
    event_fn: EventFn | None = None,
) -> Solution | PerSampleSolution:
    """Solve like `odeint`, but return a `Solution` with statistics and dense output.

    It keeps every accepted step (for `Solution.evaluate`), so it uses memory in
    proportion to the number of steps; prefer `odeint` inside training loops.
    Arguments, errors and semantics are those of `odeint`, and:

    Args:
        event_fn: optional g(t, y) -> a one-element tensor. The solve stops at the first
            time after t[0] where g changes sign (a terminal event, located to the
            resolution of t's dtype by bisection on the dense output); `Solution.event_t`
            and `event_y` hold it, and `ts`/`ys` only the outputs before it. Needs an
            adaptive method or a fixed `step_size`. See `nodelib.odeint_event` for an
            event time that is differentiated.

    Returns:
        A `Solution` (a `nodelib.per_sample.PerSampleSolution` with per_sample).
    """
    if options and options.get("per_sample"):
        if event_fn is not None:
            raise ValueError("event_fn and per-sample stepping cannot be combined yet.")
        ps = integrate_per_sample(func, y0, t, rtol, atol, method, options, True)
        return per_sample_solution(ps, t, method)
    p, ys, stats, steps, event = _run(func, y0, t, rtol, atol, method, options, True, event_fn)
    ts = torch.as_tensor(t, dtype=ys.dtype, device=ys.device)[: len(ys)]
    sol = Solution(ts, p.unflatten(ys), stats, method, p, steps)
    if event is not None:
        step, theta = event
        with torch.no_grad():
            t_event = p.direction * (step.t + theta * step.h)  # in the dtype of the user's t
            sol.event_t = torch.scalar_tensor(t_event, dtype=p.user_t_dtype, device=p.y0.device)
            sol.event_y = p.unflatten(step(theta))
    return sol
