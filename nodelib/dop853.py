"""DOP853: the 8th-order Dormand–Prince method with Hairer's error estimate and dense output.

The method of J. R. Dormand & P. J. Prince with the error estimator and continuous extension of
E. Hairer, as described in Hairer, Nørsett & Wanner, "Solving Ordinary Differential Equations
I", 2nd ed. (1993), Sect. II.10, and implemented in Hairer's code DOP853 (coefficients in
`nodelib._dop853_coefficients`). This module holds

- (the method as a `ButcherTableau` is `nodelib.tableau.DOPRI8`, named "dopri8": the 12
  stages plus a 13th stage f(t + h, y1), whose row of A is b, so fsal=True; the 13th stage is
  the first stage of the next step, so a step costs 12 evaluations; its `b_error` is the
  5th-order error row);
- `DOP853`, a `nodelib.steppers.Stepper` that takes these steps and adds Hairer's combined
  error estimate and the 7th-order dense output.

One step from (t, y) with step h (stages k_1..k_13, k_1 = f(t, y), k_13 = f(t + h, y1)):

    y1   = y + h Σ b_i k_i                         (order 8)
    err5 = h Σ e5_i k_i,  err3 = h Σ e3_i k_i      (y1 minus a 5th- and a 3rd-order solution)
    ratio = ‖err5‖² / sqrt(‖err5‖² + 0.01 ‖err3‖²) (norms of the errors divided by the scale).

The ratio behaves like C h^8 for small h (err5 ~ h^6, err3 ~ h^4), hence error_order = 8.
The dense output uses three more stages k_14..k_16, evaluated only when asked for:

    y(t + θh) = y + θ (Δ + (1-θ) (r3 + θ (r4 + (1-θ) (r5 + θ (r6 + (1-θ) (r7 + θ r8))))))

with Δ = y1 - y, r3 = h k_1 - Δ, r4 = Δ - h k_13 - r3 (so that the polynomial matches y, y1
and the slopes k_1, k_13 at both ends) and r5..r8 = h Σ_i d_i k_i over the 16 stages.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from nodelib import _dop853_coefficients as _K  # noqa: N812
from nodelib._types import Field, Time
from nodelib.rk import Terms, combine, error_estimate
from nodelib.step_control import rms_norm
from nodelib.steppers import StepResult
from nodelib.tableau import DOPRI8

__all__ = ["DOP853", "dense_weights"]

_STAGES = 12  # stages of the method proper; stage 13 is f(t + h, y1)


def _terms(row: Sequence[object]) -> Terms:
    return tuple((j, float(x)) for j, x in enumerate(row) if x != 0)


_C = tuple(float(x) for x in _K.C)
_A = tuple(_terms(row) for row in _K.A)  # row 12 (0-based) is b
_B = _terms(_K.B)
_E5, _E3 = _terms(_K.ERROR5), _terms(_K.ERROR3)
_D = tuple(_terms(row) for row in _K.DENSE)


def _nested(theta: Time, parts: Sequence) -> Tensor | np.ndarray:
    """The dense-output polynomial (module docstring) from (y, Δ, r3, ..., r8)."""
    y, delta, r3, r4, r5, r6, r7, r8 = parts
    s1 = 1 - theta
    inner = r5 + theta * (r6 + s1 * (r7 + theta * r8))
    return y + theta * (delta + s1 * (r3 + theta * (r4 + s1 * inner)))


def dense_weights(theta: float) -> np.ndarray:
    """The weights b_i(θ) of the continuous extension over the 16 stages.

    y(t + θh) = y + h Σ_i b_i(θ) k_i; the continuous order conditions of these weights with
    the 16-stage matrix `nodelib._dop853_coefficients.A` hold up to order 7.

    Args:
        theta: the position in the step.

    Returns:
        Array of shape (16,).
    """
    n = _K.N_EXTENDED
    e = np.eye(n)
    b = np.zeros(n)
    b[:13] = np.asarray(_K.B, float)
    delta, r3 = b, e[0] - b  # the polynomial is linear in the k_i: apply it to weight vectors
    r4 = delta - e[12] - r3
    d = [np.asarray(row, float) for row in _K.DENSE]
    return _nested(theta, (np.zeros(n), delta, r3, r4, *d))


class _DenseOutput:
    """y(t + θh) inside one DOP853 step; the 3 extra stages are evaluated on the first call.

    Holds references to the step's 13 stages `(*shape)` each; differentiable in y, h, t, θ.
    """

    def __init__(self, f: Field, t: Time, h: Time, y0: Tensor, y1: Tensor, k: list[Tensor]):
        self._f, self._t, self._h, self._y0, self._y1 = f, t, h, y0, y1
        self._k = k
        self._parts: tuple[Tensor, ...] | None = None

    def _build(self) -> tuple[Tensor, ...]:
        f, t, h, y0, k = self._f, self._t, self._h, self._y0, list(self._k)
        for i in range(13, 16):  # stages 14..16, each uses the ones before it
            k.append(f(t + _C[i] * h, combine(y0, h, _A[i], k)))
        delta = self._y1 - y0
        r3 = h * k[0] - delta
        r4 = delta - h * k[12] - r3
        return (y0, delta, r3, r4, *(combine(None, h, row, k) for row in _D))

    def __call__(self, theta: Time) -> Tensor:
        """The state at t + θh, `(*shape)`, for θ in [0, 1] (a float or a 0-d tensor)."""
        if self._parts is None:
            self._parts = self._build()
            self._k = []  # the stages are folded into the parts; free them
        return _nested(theta, self._parts)


class DOP853:
    """Hairer's DOP853 as a `nodelib.steppers.Stepper`.

    Args:
        adaptive: compute the error estimates (False: fixed steps; the step's `error` is
            None, `error_order` is None and `error_ratio` must not be called).

    Attributes:
        name: "dopri8".
        order: 8.
        error_order: 8 (adaptive) or None: the exponent of h in `error_ratio`, so that the
            controller proposes h · ratio^(-1/8).
        tableau: `nodelib.tableau.DOPRI8`.

    Every step evaluates f 11 times, plus once more at (t + h, y1), returned as `f1` whether
    or not the step is accepted (and f(t, y) first when `f0` is None). The interpolant costs 3
    evaluations, on its first call only.
    """

    name = "dopri8"
    order = 8
    tableau = DOPRI8

    def __init__(self, *, adaptive: bool = True) -> None:
        self.adaptive = adaptive
        self.error_order: int | None = 8 if adaptive else None

    def start(self, f: Field, t0: Time, y0: Tensor) -> None:
        """Nothing to forget: DOP853 is a one-step method."""

    def step(self, f: Field, t: Time, y: Tensor, h: Time, f0: Tensor | None) -> StepResult:
        """One step from (t, y) by h.

        Args:
            f: the vector field f(t, y) -> dy/dt, `(*shape)`.
            t, h: the time and step, floats or 0-d tensors (h may be negative).
            y: the state, `(*shape)`.
            f0: f(t, y) if known (the previous step's f1), else None.

        Returns:
            `StepResult(y1, error, f1, interpolant, f0)`: the 8th-order y1 `(*shape)`; error =
            (err5, err3), the differences y1 - ŷ to a 5th- and a 3rd-order solution, `(*shape)`
            each and already multiplied by h (None when not adaptive); f1 = f(t + h, y1); the
            7th-order dense output; f0 = f(t, y) as used.
        """
        k = [f(t, y) if f0 is None else f0]
        for i in range(1, _STAGES):
            k.append(f(t + _C[i] * h, combine(y, h, _A[i], k)))
        y1 = combine(y, h, _B, k)
        f1 = f(t + h, y1)
        k.append(f1)
        error = (error_estimate(h, _E5, k), error_estimate(h, _E3, k)) if self.adaptive else None
        dense = _DenseOutput(f, t, h, y, y1, k)
        return StepResult(y1=y1, error=error, f1=f1, interpolant=dense, f0=k[0])

    def error_ratio(
        self,
        result: StepResult,
        y0: Tensor,
        rtol: float,
        atol: float,
        norm: Callable[[Tensor], Tensor] = rms_norm,
    ) -> float:
        """Hairer's combined error of a step (<= 1: acceptable).

        With e5 = norm(err5 / scale), e3 = norm(err3 / scale), scale = atol + rtol ·
        max(|y0|, |y1|): ratio = e5² / sqrt(e5² + 0.01 e3²) (0 when both vanish). The errors
        already hold the factor h, so this equals HNW's |h| ê5² / sqrt(ê5² + 0.01 ê3²) with the
        norms ê of the unscaled rows.

        Args:
            result: the step, from `step`.
            y0: the state at the start of the step, `(*shape)`.
            rtol, atol: the tolerances.
            norm: maps a scaled error `(*shape)` to a 0-d tensor (a norm: homogeneous).

        Returns:
            The ratio, a Python float (the only host synchronisation of the step).
        """
        if result.error is None:
            raise ValueError("DOP853(adaptive=False) computes no error estimate")
        err5, err3 = result.error
        with torch.no_grad():  # step-size selection is not differentiated
            scale = torch.maximum(y0.abs(), result.y1.abs()).mul_(rtol).add_(atol)
            e5, e3 = norm(err5 / scale), norm(err3 / scale)
            # e5 · (e5 / hypot(e5, 0.1 e3)) is the formula without overflow in e5².
            denom = torch.hypot(e5, 0.1 * e3)
            ratio = torch.where(denom > 0, e5 * (e5 / denom), torch.zeros_like(e5))
            return float(ratio)
