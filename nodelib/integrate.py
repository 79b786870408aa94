"""The integration loops: adaptive Runge–Kutta and fixed-grid stepping.

Both loops work on a `Problem` in normal form (time increasing, one tensor
state; see `nodelib._problem`). They ask a method for a step, the controller
(`nodelib.step_control`) whether to keep it, and the interpolant
(`nodelib.interpolate`) for the values at the output times inside the step.
They return the states at the output times, statistics, and — when asked, for
`Solution.evaluate` — a record of every accepted step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import torch
from torch import Tensor

from nodelib._problem import Problem
from nodelib.errors import MaxStepsError, NonFiniteError, StepSizeError
from nodelib.interpolate import hermite, rk_dense
from nodelib.rk import RKCoefficients, rk_step
from nodelib.step_control import error_ratio, initial_step, make_controller, rms_norm
from nodelib.tableau import ButcherTableau

DEFAULT_MAX_NUM_STEPS = 100_000


@dataclass
class StepRecord:
    """One accepted step, enough to interpolate inside it."""

    t: float
    h: float
    y0: Tensor
    y1: Tensor
    f0: Tensor | None
    f1: Tensor | None
    k: list[Tensor] | None  # stages, for a continuous extension


def _stats(p: Problem, n_accepted: int, n_rejected: int) -> dict[str, int]:
    return {
        "nfe": p.nfe[0],
        "n_steps": n_accepted + n_rejected,
        "n_accepted": n_accepted,
        "n_rejected": n_rejected,
    }


def _stiffness_note(p: Problem, t: float, y: Tensor, h: float) -> str:
    """Estimate h·ρ(∂f/∂y) by power iteration on finite differences; say if it looks stiff."""
    with torch.no_grad():
        f0 = p.fn(t, y)
        v = torch.randn(y.shape, generator=torch.Generator().manual_seed(0), dtype=y.dtype)
        v = v.to(y.device)
        rho = 0.0
        for _ in range(12):
            v = v / torch.linalg.vector_norm(v).clamp_min(1e-300)
            eps = math.sqrt(torch.finfo(y.dtype).eps) * (1.0 + float(torch.linalg.vector_norm(y)))
            jv = (p.fn(t, y + eps * v) - f0) / eps
            rho = float(torch.linalg.vector_norm(jv))
            if not math.isfinite(rho) or rho == 0.0:
                return ""
            v = jv
    if abs(h) * rho > 1.0 and rho * (p.times[-1] - p.times[0]) > 100.0:
        return (
            f" The problem looks stiff (the Jacobian's spectral radius is about {rho:.3g}, so "
            "an explicit method needs steps below about 3/that): use an implicit method such as "
            "method='bdf2' or method='backward_euler' with options={'step_size': ...}."
        )
    return ""


def _check_steps(p: Problem, n_steps: int, t: float, y: Tensor, h: float, name: str) -> None:
    max_steps = p.options.get("max_num_steps", DEFAULT_MAX_NUM_STEPS)
    if n_steps >= max_steps:
        raise MaxStepsError(
            f"{name} took max_num_steps={max_steps} steps and reached only "
            f"t={p.direction * t:.6g} of {p.direction * p.times[-1]:.6g}. Pass a larger "
            "options={'max_num_steps': ...} or looser tolerances." + _stiffness_note(p, t, y, h)
        )


def _underflow(p: Problem, t: float, y: Tensor, h: float, nonfinite: bool, name: str):
    where = f"t={p.direction * t:.10g}"
    if nonfinite:
        return NonFiniteError(
            f"{name} could not take a step at {where}: func returns NaN or Inf there even for "
            "tiny steps. Check the vector field near that time (a division by zero, a log or "
            "sqrt of a negative number), or whether the solution leaves its domain."
        )
    return StepSizeError(
        f"the step size of {name} fell to {h:.3g} at {where}, below "
        f"{'options[min_step]' if 'min_step' in p.options else 'floating-point resolution'}. "
        "The solution may blow up (a singularity) near that time, or the tolerances may be "
        "tighter than the dtype allows." + _stiffness_note(p, t, y, h)
    )


def _emit(p, ys, next_out, t, h, t1, y1, interpolate):
    """Append the outputs in (t, t1]; return the index of the next output time.

    An output time within a few ulps of t's dtype from the step's end takes y1 itself:
    a float32 t = 0.1 is 0.10000000149 and would otherwise be interpolated.
    """
    times, snap = p.times, p.time_eps * max(1.0, abs(t1))
    while next_out < len(times) and times[next_out] <= t1 + snap:
        s = times[next_out]
        if abs(s - t1) <= snap:
            ys.append(y1)
        else:
            ys.append(interpolate((s - t) / h))
        next_out += 1
    return next_out


def integrate_adaptive(p: Problem, tableau: ButcherTableau, *, record: bool = False):
    """Adaptive explicit Runge–Kutta integration with an embedded error estimate.

    Returns:
        (ys, stats, records): the states at the output times (a list of `(*shape)`
        tensors), the statistics, and the accepted steps when `record` is set.
    """
    coeffs, dense = RKCoefficients.from_tableau(tableau), DenseOutput(tableau)
    fn, opts, times = p.fn, p.options, p.times
    norm = p.norm or rms_norm
    t, y, t_end = times[0], p.y0, times[-1]
    ys, records = [y], []
    if len(times) == 1:
        return ys, _stats(p, 0, 0), records
    k_exp = tableau.embedded_order + 1
    controller = make_controller(opts.get("controller"))
    max_step = float(opts.get("max_step", math.inf))
    min_step = float(opts.get("min_step", 0.0))
    eps = torch.finfo(y.dtype).eps
    f0 = fn(t, y)
    if not bool(torch.isfinite(f0).all()):
        raise NonFiniteError(
            f"func returned NaN or Inf at the initial time t={p.direction * t:.6g}; "
            "check the vector field and y0."
        )
    h = opts.get("first_step") or initial_step(
        fn, t, y, f0, tableau.embedded_order, p.rtol, p.atol, norm
    )
    h = min(float(h), max_step)
    next_out, n_acc, n_rej, nonfinite = 1, 0, 0, False
    while next_out < len(times):
        _check_steps(p, n_acc + n_rej, t, y, h, tableau.name)
        last = h >= t_end - t
        h_try = t_end - t if last else h
        # `not >=` also catches a NaN step size.
        if not h_try >= max(min_step, 4 * eps * max(1.0, abs(t))) and not last:
            raise _underflow(p, t, y, h_try, nonfinite, tableau.name)
        if f0 is None:
            f0 = fn(t, y)
        y1, err, k = rk_step(fn, t, y, h_try, coeffs, f0)
        ratio = error_ratio(err, y, y1, p.rtol, p.atol, norm)
        nonfinite = not math.isfinite(ratio)
        accept, h_next = controller.propose(h_try, ratio, k_exp)
        if not accept:
            n_rej += 1
            h = h_next
            continue
        n_acc += 1
        t1 = t_end if last else t + h_try
        f1 = k[-1] if coeffs.y_is_last_stage else None
        step = StepRecord(t, h_try, y, y1, f0, f1, k)
        next_out = _emit(p, ys, next_out, t, h_try, t1, y1, partial(dense, p, step))
        if record:
            records.append(step)
        t, y, f0, h = t1, y1, step.f1, min(h_next, max_step)
    return ys, _stats(p, n_acc, n_rej), records


class DenseOutput:
    """The values inside an accepted step, for one method (HNW I, §II.6).

    - a tableau with a continuous extension (dopri5, tsit5) uses it;
    - a tableau of order above 4 without one (fehlberg45, dopri8) takes one extra step
      of size θh from the step's start: cubic Hermite (local error O(h^4)) would spoil
      the accuracy of its large steps, and the extra step keeps the method's own order
      at the cost of s evaluations per output time inside a step;
    - everything else (low-order tableaux, implicit and multistep methods) uses cubic
      Hermite interpolation through both ends of the step.
    The integration steps themselves are never shortened to reach an output time.
    """

    def __init__(self, tableau: ButcherTableau | None):
        self.b_dense = None if tableau is None else tableau.b_dense
        high_order = tableau is not None and tableau.b_dense is None and tableau.order > 4
        self.side_step = RKCoefficients.from_tableau(tableau) if high_order else None

    def __call__(self, p: Problem, step: StepRecord, theta: float) -> Tensor:
        if self.b_dense is not None and step.k is not None:
            return rk_dense(step.y0, step.k, step.h, self.b_dense, theta)
        if step.f0 is None:
            step.f0 = p.fn(step.t, step.y0)
        if self.side_step is not None:
            return rk_step(p.fn, step.t, step.y0, theta * step.h, self.side_step, step.f0)[0]
        if step.f1 is None:
            step.f1 = p.fn(step.t + step.h, step.y1)
        return hermite(step.y0, step.y1, step.f0, step.f1, step.h, theta)


def fixed_grid(p: Problem) -> list[float]:
    """The step grid: the output times, or t0 + i·step_size with the last step shortened."""
    times = p.times
    step = p.options.get("step_size")
    if step is None:
        return list(times)
    step = float(step)
    if not step > 0:
        raise ValueError(f"options['step_size'] must be positive, got {step}.")
    span = times[-1] - times[0]
    # A span that is a whole number of steps up to the resolution of t's dtype (a float32
    # 0.3 - 0.2 is 0.10000000894) must not get an extra step of a few ulps.
    slack = max(1e-9, p.time_eps * max(1.0, abs(times[0]), abs(times[-1])) / step)
    n = max(1, math.ceil(span / step - slack))
    max_steps = p.options.get("max_num_steps", DEFAULT_MAX_NUM_STEPS)
    if n > max_steps:
        raise MaxStepsError(
            f"step_size={step:g} over [{times[0]:g}, {times[-1]:g}] needs {n} steps, more than "
            f"max_num_steps={max_steps}: pass a larger step_size or max_num_steps."
        )
    return [times[0] + i * step for i in range(n)] + [times[-1]]


class RKStepper:
    """An explicit Runge–Kutta tableau as a fixed-step method (the FixedStepper protocol).

    It remembers f at the end of the last step (the FSAL stage, or a value the loop
    computed for interpolation) so that no evaluation is repeated.
    """

    def __init__(self, tableau: ButcherTableau):
        self.name, self.order, self.tableau = tableau.name, tableau.order, tableau
        self.coeffs = RKCoefficients.from_tableau(tableau)
        self.f0: Tensor | None = None

    def start(self, f, t0, y0, h) -> None:
        self.f0 = None

    def step(self, f, t: float, y: Tensor, h: float) -> tuple[Tensor, Tensor | None]:
        f0 = self.f0 if self.f0 is not None else f(t, y)
        self.k0 = f0  # the loop keeps it for Hermite interpolation inside this step
        y1, _, k = rk_step(f, t, y, h, self.coeffs, f0)
        self.f0 = k[-1] if self.coeffs.y_is_last_stage else None
        return y1, self.f0


def integrate_fixed(p: Problem, stepper, *, record: bool = False):
    """March a fixed-step method over the grid of `fixed_grid`, interpolating outputs.

    `RKStepper` works with float times and `p.fn`; the implicit and multistep
    steppers take tensor times and `p.fn_tensor`.

    Returns:
        (ys, stats, records) as `integrate_adaptive`.
    """
    if len(p.times) == 1:
        return [p.y0], _stats(p, 0, 0), []
    grid = fixed_grid(p)
    is_rk = isinstance(stepper, RKStepper)
    dense = DenseOutput(stepper.tableau if is_rk else None)
    f = p.fn if is_rk else p.fn_tensor
    y, f_y = p.y0, None
    ys, records = [y], []
    stepper.start(f, grid[0] if is_rk else p.time(grid[0]), y, grid[1] - grid[0])
    next_out, checked = 1, grid[0]
    for i in range(len(grid) - 1):
        t, t1 = grid[i], grid[i + 1]
        h = t1 - t
        t_arg = t if is_rk else p.time(t)
        y1, f1 = stepper.step(f, t_arg, y, h)
        if is_rk:
            f_y = stepper.k0
        step = StepRecord(t, h, y, y1, f_y, f1, None)
        n_before = next_out
        next_out = _emit(p, ys, next_out, t, h, t1, y1, partial(dense, p, step))
        # One host sync per output time, not per step: a NaN is located between outputs.
        if next_out > n_before and not bool(torch.isfinite(ys[-1]).all()):
            raise NonFiniteError(
                f"{stepper.name} produced NaN or Inf between t={p.direction * checked:.6g} "
                f"and t={p.direction * t1:.6g}. Either func returns NaN or Inf there, or the "
                f"step size {h:g} is outside the method's region of absolute stability: take "
                "a smaller options['step_size'] or an implicit method (method='bdf2')."
            )
        if next_out > n_before:
            checked = t1
        if is_rk and step.f1 is not None:
            stepper.f0 = step.f1
        if record:
            records.append(step)
        y, f_y = y1, step.f1
    return ys, _stats(p, len(grid) - 1, 0), records
