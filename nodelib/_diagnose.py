"""The integration loop's errors: each says where the solve stopped, why, and what to do."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from nodelib._problem import Problem
from nodelib._stops import DEFAULT_MAX_NUM_STEPS
from nodelib._types import Time
from nodelib.errors import MaxStepsError, NonFiniteError, StepSizeError


def first_derivative(p: Problem, t: Time, y: Tensor) -> Tensor:
    """f(t0, y0), refusing a non-finite one (no step size could help)."""
    f0 = p.fn(t, y)
    if not bool(torch.isfinite(f0).all()):
        raise NonFiniteError(
            f"func returned NaN or Inf at the initial time t={p.direction * float(t):.6g}; "
            "check the vector field and y0."
        )
    return f0


def stiffness_note(p: Problem, t: float, y: Tensor, h: float) -> str:
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


def check_max_steps(p: Problem, stats: dict, t: float, y: Tensor, h: float, name: str) -> None:
    """Raise MaxStepsError once max_num_steps steps were tried."""
    max_steps = p.options.get("max_num_steps", DEFAULT_MAX_NUM_STEPS)
    if stats["n_accepted"] + stats["n_rejected"] >= max_steps:
        raise MaxStepsError(
            f"{name} took max_num_steps={max_steps} steps and reached only "
            f"t={p.direction * t:.6g} of {p.direction * p.times[-1]:.6g}. Pass a larger "
            "options={'max_num_steps': ...} or looser tolerances." + stiffness_note(p, t, y, h)
        )


def check_underflow(p: Problem, t: float, y: Tensor, h: float, nonfinite: bool, name: str):
    """Raise when the adaptive step size fell below min_step or the resolution of t."""
    min_step = float(p.options.get("min_step", 0.0))
    # `not >=` also catches a NaN step size. The loop's time is a float64 whatever the state's
    # dtype (as in torchdiffeq), so a float32 solve may step across a jump in tiny steps.
    if h >= max(min_step, 4 * torch.finfo(torch.float64).eps * max(1.0, abs(t))):
        return
    where = f"t={p.direction * t:.10g}"
    if nonfinite:
        raise NonFiniteError(
            f"{name} could not take a step at {where}: func returns NaN or Inf there even for "
            "tiny steps. Check the vector field near that time (a division by zero, a log or "
            "sqrt of a negative number), or whether the solution leaves its domain."
        )
    raise StepSizeError(
        f"the step size of {name} fell to {h:.3g} at {where}, below "
        f"{'options[min_step]' if 'min_step' in p.options else 'floating-point resolution'}. "
        "The solution may blow up (a singularity) near that time, or the tolerances may be "
        "tighter than the dtype allows." + stiffness_note(p, t, y, h)
    )


def check_finite(p: Problem, y: Tensor, name: str, since: float, step) -> None:
    """A fixed-step method's output must be finite (checked once per output time)."""
    if not bool(torch.isfinite(y).all()):
        raise NonFiniteError(
            f"{name} produced NaN or Inf between t={p.direction * since:.6g} "
            f"and t={p.direction * (step.t + step.h):.6g}. Either func returns NaN or Inf there, "
            f"or the step size {step.h:g} is outside the method's region of absolute stability: "
            "take a smaller options['step_size'] or an implicit method (method='bdf2')."
        )
