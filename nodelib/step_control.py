"""Step-size control: error norms, the initial step, and the I and PI controllers.

This module knows nothing about tableaux or stages. An adaptive integrator
hands it the local error estimate of a step; it answers whether to accept the
step and how large the next one should be (Hairer, Nørsett & Wanner I, §II.4;
Hairer & Wanner II, §IV.2 for the PI controller; Söderlind 2002).

The error of a step is measured relative to a mixed tolerance,

    ratio = ‖ err / (atol + rtol · max(|y_n|, |y_{n+1}|)) ‖,

with the RMS norm by default, and the step is accepted when ratio <= 1.

`RecordingController` wraps a controller and keeps every decision (to plot rejected steps);
`richardson_extrapolate` is the other classical error estimate, from two step sizes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "IController",
    "PIController",
    "RecordingController",
    "error_ratio",
    "initial_step",
    "make_controller",
    "richardson_extrapolate",
    "rms_norm",
]

Norm = Callable[[Tensor], Tensor]


def rms_norm(x: Tensor) -> Tensor:
    """The root mean square of all entries of `x`, a 0-d tensor."""
    return torch.linalg.vector_norm(x) / math.sqrt(max(x.numel(), 1))


def error_ratio(
    error: Tensor, y0: Tensor, y1: Tensor, rtol: float, atol: float, norm: Norm = rms_norm
) -> float:
    """The scaled error norm of one step; the step is acceptable when this is <= 1.

    Args:
        error: the local error estimate, `(*shape)`.
        y0, y1: the state before and after the step, `(*shape)`.
        rtol, atol: relative and absolute tolerances.
        norm: maps the scaled error `(*shape)` to a 0-d tensor.

    Returns:
        The ratio as a Python float (this is where the host waits for the device).
    """
    with torch.no_grad():  # step-size selection is not differentiated
        scale = torch.maximum(y0.abs(), y1.abs()).mul_(rtol).add_(atol)
        return float(norm(error / scale))


def initial_step(
    f: Callable[[float, Tensor], Tensor],
    t0: float,
    y0: Tensor,
    f0: Tensor,
    order: int,
    rtol: float,
    atol: float,
    norm: Norm = rms_norm,
) -> float:
    """Hairer's automatic choice of the first step (HNW I, §II.4, "Starting step size").

    It matches the Taylor term of an order-`order` error estimate to the tolerance,
    using one extra evaluation of `f` to estimate the second derivative.

    Args:
        f: the vector field taking a float time.
        t0, y0, f0: the initial time, state `(*shape)` and f(t0, y0).
        order: the order of the error estimate's leading term minus one
            (the embedded order of a pair).
        rtol, atol: the tolerances.
        norm: the error norm.

    Returns:
        A positive first step size.
    """
    with torch.no_grad():  # step-size selection is not differentiated
        scale = y0.abs().mul_(rtol).add_(atol)
        d0 = float(norm(y0 / scale))
        d1 = float(norm(f0 / scale))
        h0 = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
        f1 = f(t0 + h0, y0 + h0 * f0)
        d2 = float(norm((f1 - f0) / scale)) / h0
    if max(d1, d2) <= 1e-15:
        h1 = max(1e-6, h0 * 1e-3)
    else:
        h1 = (0.01 / max(d1, d2)) ** (1.0 / (order + 1))
    return min(100 * h0, h1)


@dataclass(frozen=True)
class IController:
    """The integral (elementary) controller: h_new = h · safety · ratio^(-1/k).

    `k` is the order of the error estimate's leading term (embedded order + 1).
    The growth of h is capped by `ifactor` after an accepted step, and the shrink by
    `dfactor`, so that one odd step cannot swing h wildly. It keeps no history.
    """

    safety: float = 0.9
    ifactor: float = 10.0
    dfactor: float = 0.2

    def initial_state(self) -> None:
        """The I controller has no state."""
        return None

    def decide(self, h: float, ratio: float, k: int, state: None) -> tuple[bool, float, None]:
        """The pure form the integration loop calls: (accept, next h, next state)."""
        accept, h_next = self.propose(h, ratio, k)
        return accept, h_next, None

    def propose(self, h: float, ratio: float, k: int) -> tuple[bool, float]:
        """Decide on a step with scaled error `ratio`; return (accept, next step size)."""
        accept = ratio <= 1.0
        if ratio == 0.0:
            factor = self.ifactor
        elif not math.isfinite(ratio):
            return False, h * self.dfactor
        else:
            factor = self.safety * ratio ** (-1.0 / k)
        upper = self.ifactor if accept else 1.0
        return accept, h * min(upper, max(self.dfactor, factor))


@dataclass(frozen=True)
class PIController:
    """The proportional–integral controller (Gustafsson; HW II, §IV.2, eq. 2.43a).

    h_new = h · safety · ratio_n^(-beta1/k) · ratio_{n-1}^(beta2/k), which damps the
    oscillating step sizes the I controller shows when stability, not accuracy,
    limits the step. Its state is ratio_{n-1}, the error of the last accepted step.
    """

    safety: float = 0.9
    ifactor: float = 10.0
    dfactor: float = 0.2
    beta1: float = 0.7
    beta2: float = 0.4

    def initial_state(self) -> float:
        """ratio_{n-1} before the first step: 1, so that the first step is an I step."""
        return 1.0

    def decide(self, h: float, ratio: float, k: int, previous: float) -> tuple[bool, float, float]:
        """Decide on a step; return (accept, next step size, next state)."""
        if not math.isfinite(ratio):
            return False, h * self.dfactor, previous
        r = max(ratio, 1e-10)
        if ratio <= 1.0:
            factor = self.safety * r ** (-self.beta1 / k) * previous ** (self.beta2 / k)
            return True, h * min(self.ifactor, max(self.dfactor, factor)), r
        # After a rejection, fall back to the integral rule (HW II, §IV.2).
        factor = self.safety * r ** (-1.0 / k)
        return False, h * min(1.0, max(self.dfactor, factor)), previous


@dataclass
class RecordingController:
    """A controller that records every step it judges, for plots of accepted and rejected steps.

    Pass it as ``options={"controller": RecordingController()}``; after the solve,
    `attempts` holds one (h, ratio, accepted) triple per step tried, in order, and
    `trace(t0)` adds the time at which each was tried.

    Attributes:
        inner: the controller that decides (default: `IController()`).
        attempts: the decisions of the last solve (cleared when a solve starts).
    """

    inner: IController | PIController = field(default_factory=IController)
    attempts: list[tuple[float, float, bool]] = field(default_factory=list)

    def initial_state(self) -> Any:
        """Forget the recorded attempts (a new solve starts); the state is inner's."""
        self.attempts.clear()
        return self.inner.initial_state()

    def decide(self, h: float, ratio: float, k: int, state: Any) -> tuple[bool, float, Any]:
        """Ask `inner`, record the decision, return it."""
        accept, h_next, state = self.inner.decide(h, ratio, k, state)
        self.attempts.append((float(h), float(ratio), bool(accept)))
        return accept, h_next, state

    def trace(self, t0: float) -> dict[str, list[float] | list[bool]]:
        """The attempts of a forward-in-time solve that started at t0.

        Returns:
            Lists of equal length: "t" (where the step was tried), "h", "ratio", "accepted".
        """
        t, out = float(t0), {"t": [], "h": [], "ratio": [], "accepted": []}
        for h, ratio, accepted in self.attempts:
            for key, value in zip(out, (t, h, ratio, accepted), strict=True):
                out[key].append(value)
            t += h if accepted else 0.0
        return out


def richardson_extrapolate(
    coarse: Tensor, fine: Tensor, order: int, *, ratio: float = 2.0
) -> tuple[Tensor, Tensor]:
    """Richardson extrapolation of two results of a method of order p (HNW I, §II.4, §II.9).

    If y_h = y + C h^p + O(h^(p+1)), then with fine = y_{h/r} and coarse = y_h,
    the error of fine is about (fine - coarse) / (r^p - 1), and
    fine + (fine - coarse) / (r^p - 1) is accurate to O(h^(p+1)).

    Args:
        coarse: the result with step h, `(*shape)`.
        fine: the result with step h / ratio, `(*shape)`.
        order: p >= 1, the order of the method.
        ratio: r > 1, the step-size ratio.

    Returns:
        (extrapolated, error_estimate): both `(*shape)`; error_estimate estimates
        fine's error, y - fine.

    Raises:
        ValueError: order < 1, ratio <= 1, or shapes differ.
    """
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise ValueError(f"order must be an integer >= 1, got {order!r}.")
    if not ratio > 1:
        raise ValueError(f"ratio must be > 1 (h / ratio is the finer step), got {ratio!r}.")
    if coarse.shape != fine.shape:
        raise ValueError(
            f"coarse and fine differ in shape: {tuple(coarse.shape)} and {tuple(fine.shape)}."
        )
    estimate = (fine - coarse) / (ratio**order - 1)
    return fine + estimate, estimate


Controller = IController | PIController | RecordingController


_FACTORS = ("safety", "ifactor", "dfactor")


def make_controller(spec: str | Controller | None, options: dict | None = None) -> Controller:
    """The controller of the options: `controller` ("i", "pi", a controller object or None)
    with torchdiffeq's `safety`, `ifactor` and `dfactor` options replacing its fields.

    Raises:
        ValueError: an unknown name, or a factor out of its range.
    """
    if spec is None or spec == "i":
        spec = IController()
    elif spec == "pi":
        spec = PIController()
    elif not isinstance(spec, IController | PIController | RecordingController):
        raise ValueError(
            "options['controller'] must be 'i', 'pi' or an IController, PIController or "
            f"RecordingController, got {spec!r}."
        )
    factors = {k: float(v) for k, v in (options or {}).items() if k in _FACTORS}
    if not factors:
        return spec
    ok = {"safety": (0.0, 1.0), "ifactor": (1.0, math.inf), "dfactor": (0.0, 1.0)}
    for key, value in factors.items():
        lo, hi = ok[key]
        if not lo < value <= hi:
            raise ValueError(f"options['{key}'] must lie in ({lo:g}, {hi:g}], got {value!r}.")
    if isinstance(spec, RecordingController):
        return RecordingController(dataclasses.replace(spec.inner, **factors), spec.attempts)
    return dataclasses.replace(spec, **factors)
