"""Every method `odeint` knows, as a `Stepper` the driver loop can drive.

- `RKMethod`: an explicit Runge–Kutta tableau (`nodelib.tableau`), adaptive when it has
  an embedded pair, with the interpolant its tableau supports (`nodelib.interpolate`);
- `DOP853` (`nodelib.dop853`): the method behind the name "dopri8";
- `FixedMethod`: the implicit and multistep methods of chapters 1 and 2, which implement
  the simpler `FixedStepper` protocol of `nodelib.implicit`, with Hermite dense output;
- `nodelib.implicit_rk.ImplicitRK` (implicit tableaux), `nodelib.adams.Adams` (variable-order
  Adams) and `nodelib.scipy_solver.ScipyStepper`.

`make_stepper` maps a method name and its options to one of these.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from torch import Tensor

from nodelib._types import Field, Time
from nodelib.adams import ADAMS_METHODS
from nodelib.implicit import IMPLICIT_METHODS, FixedStepper
from nodelib.implicit_rk import IMPLICIT_RK_METHODS
from nodelib.interpolate import Continuous, Hermite, SideStep
from nodelib.multistep import MULTISTEP_METHODS
from nodelib.rk import RKCoefficients, rk_step
from nodelib.step_control import error_ratio
from nodelib.steppers import Interpolant, Stepper, StepResult
from nodelib.tableau import TABLEAUS, ButcherTableau

__all__ = ["FixedMethod", "RKMethod", "make_stepper"]


class RKMethod:
    """An explicit Runge–Kutta tableau as a `Stepper` (HNW I, §II.1, §II.4, §II.6).

    Args:
        tableau: the method.
        adaptive: estimate the local error (the tableau must be an embedded pair);
            False runs the tableau with a fixed step and skips the estimate.
    """

    def __init__(self, tableau: ButcherTableau, *, adaptive: bool) -> None:
        self.name, self.order, self.tableau = tableau.name, tableau.order, tableau
        coeffs = RKCoefficients.from_tableau(tableau)
        if not adaptive:
            coeffs = dataclasses.replace(coeffs, b_error=None)
        self.coeffs = coeffs
        self.error_order = tableau.embedded_order + 1 if adaptive else None
        # A high-order pair without a continuous extension would lose its order to cubic
        # Hermite interpolation between its (large) steps.
        self._side_step = tableau.b_dense is None and tableau.order > 4

    def start(self, f: Field, t0: Time, y0: Tensor) -> None:
        """An explicit Runge–Kutta method keeps nothing between solves."""

    def step(self, f: Field, t: Time, y: Tensor, h: Time, f0: Tensor | None) -> StepResult:
        """One step; its last stage is f(t + h, y1) for a FSAL pair, reused by the loop."""
        if f0 is None:
            f0 = f(t, y)
        y1, err, k = rk_step(f, t, y, h, self.coeffs, f0)
        f1 = k[-1] if self.coeffs.y_is_last_stage else None
        result = StepResult(y1, err, f1, None, f0)
        result.interpolant = self._interpolant(f, t, y, h, k, result)
        return result

    def _interpolant(self, f, t, y, h, k, result) -> Interpolant:
        if self.tableau.b_dense is not None:
            return Continuous(y, k, h, self.tableau.b_dense)
        if self._side_step:
            return SideStep(f, t, y, h, self.coeffs, result.f0)
        return Hermite(f, t, y, h, result)

    def error_ratio(
        self, result: StepResult, y0: Tensor, rtol: float, atol: float, norm: Callable
    ) -> float:
        """‖error / (atol + rtol · max(|y0|, |y1|))‖, see `nodelib.step_control.error_ratio`."""
        return error_ratio(result.error, y0, result.y1, rtol, atol, norm)


class FixedMethod:
    """A chapter-2 `FixedStepper` (θ-method, Adams, BDF) as a `Stepper`.

    Those steppers take tensor times and return (y1, f1 or None); their dense output is
    cubic Hermite through both ends of the step.
    """

    error_order = None

    def __init__(self, inner: FixedStepper, time: Callable[[float], Tensor]) -> None:
        self.inner, self.time = inner, time
        self.name, self.order = inner.name, inner.order

    def _tensor(self, t: Time) -> Tensor:
        return t if isinstance(t, Tensor) else self.time(t)

    def start(self, f: Field, t0: Time, y0: Tensor) -> None:
        """Forget the back values of a previous solve."""
        self.inner.start(f, self._tensor(t0), y0, float("nan"))

    def step(self, f: Field, t: Time, y: Tensor, h: Time, f0: Tensor | None) -> StepResult:
        """One step of the inner method; f0 is unused (the inner method keeps its own)."""
        y1, f1 = self.inner.step(f, self._tensor(t), y, float(h))
        result = StepResult(y1, None, f1, None, f0)
        result.interpolant = Hermite(f, t, y, h, result)
        return result

    def error_ratio(self, result, y0, rtol, atol, norm) -> float:
        """Fixed-step methods have no error estimate."""
        raise AssertionError("a fixed-step method has no error estimate")


def make_stepper(
    method: str, options: Mapping[str, Any], time: Callable[[float], Tensor], *, problem=None
) -> Stepper:
    """The stepper for `method`; adaptive unless the options give a `step_size`.

    Args:
        method: a name in `nodelib.METHODS`.
        options: the solve's options (the implicit methods read theta and newton_*).
        time: maps an internal float time to the tensor time the fixed steppers take.
        problem: the `nodelib._problem.Problem` (scipy_solver reads its tolerances and span,
            the Adams corrector its tolerances).
    """
    if method == "scipy_solver":
        from nodelib.scipy_solver import ScipyStepper

        p = problem
        return ScipyStepper(options, p.rtol, p.atol, p.times[-1], p.direction)
    if method == "dopri8":
        from nodelib.dop853 import DOP853

        return DOP853(adaptive="step_size" not in options)
    tableau = TABLEAUS.get(method)
    if tableau is not None:
        return RKMethod(tableau, adaptive=tableau.is_adaptive and "step_size" not in options)
    if method in ADAMS_METHODS:
        return ADAMS_METHODS[method](options, problem.rtol, problem.atol)
    if method in IMPLICIT_RK_METHODS:
        return IMPLICIT_RK_METHODS[method](options)
    factory = IMPLICIT_METHODS.get(method) or MULTISTEP_METHODS[method]
    return FixedMethod(factory(options), time)
