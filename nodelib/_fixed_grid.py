"""torchdiffeq's options for fixed-step methods, as wrappers around any fixed-step `Stepper`.

- `interp`: how the outputs between two grid points are read. "linear": the straight line
  between the step's ends (torchdiffeq's default, first-order accurate between the points);
  "cubic": the cubic Hermite interpolant through both ends and their slopes (HNW I, §II.6;
  one more evaluation of f per step holding an output). Without the option a method keeps
  its own dense output (`nodelib.interpolate`): the continuous extension of its tableau, or
  cubic Hermite.
- `perturb`: f is evaluated one unit in the last place (of the state's dtype) inside each
  step: just after its start and just before its end. A field that jumps at a grid point
  then sees, in every step, the side of the jump the step lies on (torchdiffeq's meaning;
  adaptive methods get the same from `jump_t`, `nodelib._stops`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from nodelib._types import Field, Time
from nodelib.interpolate import Hermite
from nodelib.steppers import Stepper, StepResult

INTERPOLATIONS = ("linear", "cubic")


class _Wrapped:
    """A stepper that delegates everything to `inner` unless it says otherwise."""

    def __init__(self, inner: Stepper) -> None:
        self.inner = inner
        self.name, self.order, self.error_order = inner.name, inner.order, inner.error_order

    def start(self, f: Field, t0: Time, y0: Tensor) -> None:
        """As the inner method."""
        self.inner.start(f, t0, y0)

    def step(self, f: Field, t: Time, y: Tensor, h: Time, f0: Tensor | None) -> StepResult:
        """As the inner method."""
        return self.inner.step(f, t, y, h, f0)

    def error_ratio(self, result, y0, rtol, atol, norm) -> float:
        """As the inner method."""
        return self.inner.error_ratio(result, y0, rtol, atol, norm)


class LinearOutput(_Wrapped):
    """Outputs inside a step on the straight line between its ends (interp="linear")."""

    def step(self, f: Field, t: Time, y: Tensor, h: Time, f0: Tensor | None) -> StepResult:
        """One step of the inner method, with a linear interpolant."""
        result = self.inner.step(f, t, y, h, f0)
        y1 = result.y1
        result.interpolant = lambda theta: y + theta * (y1 - y)
        return result


class CubicOutput(_Wrapped):
    """Outputs inside a step from cubic Hermite interpolation (interp="cubic")."""

    def step(self, f: Field, t: Time, y: Tensor, h: Time, f0: Tensor | None) -> StepResult:
        """One step of the inner method, with a Hermite interpolant."""
        result = self.inner.step(f, t, y, h, f0)
        result.interpolant = Hermite(f, t, y, h, result)
        return result


def _nudge(s: float, up: bool, dtype: torch.dtype, direction: float) -> float:
    """The internal time one ulp (of `dtype`, in the user's time) after (up) or before s."""
    x = torch.tensor(direction * s, dtype=dtype)
    towards = math.inf if up == (direction > 0) else -math.inf
    return direction * float(torch.nextafter(x, torch.tensor(towards, dtype=dtype)))


def _inside(f: Field, t: Time, h: Time, dtype: torch.dtype, direction: float) -> Field:
    """f, evaluated one ulp after t when asked at t and one ulp before t + h at t + h."""
    start, end = float(t), float(t + h)
    after, before = _nudge(start, True, dtype, direction), _nudge(end, False, dtype, direction)

    def g(s: Time, y: Tensor) -> Tensor:
        value = float(s)
        moved = after if value == start else before if value == end else value
        if moved == value:
            return f(s, y)
        # A tensor time keeps its graph: only its value moves.
        return f(s + (moved - value) if isinstance(s, Tensor) else moved, y)

    return g


class Perturbed(_Wrapped):
    """Every evaluation of f at a step's ends moved one ulp inside the step (perturb=True)."""

    def __init__(self, inner: Stepper, dtype: torch.dtype, direction: float) -> None:
        super().__init__(inner)
        self.dtype, self.direction = dtype, direction

    def start(self, f: Field, t0: Time, y0: Tensor) -> None:
        """As the inner method, with f just after t0."""
        self.inner.start(_inside(f, t0, 0.0, self.dtype, self.direction), t0, y0)

    def step(self, f: Field, t: Time, y: Tensor, h: Time, f0: Tensor | None) -> StepResult:
        """One step of the inner method; f(t + h) of this step is not reused as the next f0."""
        result = self.inner.step(_inside(f, t, h, self.dtype, self.direction), t, y, h, None)
        result.f1 = None  # evaluated just before t + h: the next step needs it just after
        return result


def fixed_grid_options(
    stepper: Stepper, options: dict, dtype: torch.dtype, direction: float
) -> Stepper:
    """`stepper` wrapped for the options interp and perturb (a fixed-step run's options).

    Raises:
        ValueError: an interp other than "linear" or "cubic".
    """
    interp = options.get("interp")
    if interp is not None and interp not in INTERPOLATIONS:
        raise ValueError(f"options['interp'] must be 'linear' or 'cubic', got {interp!r}.")
    if options.get("perturb"):
        stepper = Perturbed(stepper, dtype, direction)
    wrap: dict[str | None, Callable[[Stepper], Stepper]] = {
        "linear": LinearOutput,
        "cubic": CubicOutput,
    }
    return wrap[interp](stepper) if interp in wrap else stepper
