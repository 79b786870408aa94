"""What one step of a method returns, and the protocol every method implements.

The driver loop (`nodelib.integrate`) knows nothing about stages, tableaux or
back values: it asks a `Stepper` for a step, the step-size controller whether to
keep it, and the step's interpolant for the outputs inside it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from torch import Tensor

from nodelib._types import Field, Time

__all__ = ["Interpolant", "StepResult", "Stepper"]


class Interpolant(Protocol):
    """The solution inside one accepted step: theta in [0, 1] -> y(t + theta h), `(*shape)`."""

    def __call__(self, theta: Time) -> Tensor: ...


@dataclass
class StepResult:
    """One step from (t, y) to t + h.

    Attributes:
        y1: the new state, `(*shape)`.
        error: the local error estimate `(*shape)`, or None for a method without one
            (a method may keep more than one tensor here; its `error_ratio` reads it).
        f1: f(t + h, y1) if the step computed it anyway (FSAL), else None.
        interpolant: the values inside the step; built lazily, so a step with no output
            inside it costs nothing extra.
        f0: f(t, y) as the step used it (the loop keeps it when the step is rejected).
    """

    y1: Tensor
    error: Tensor | tuple[Tensor, ...] | None
    f1: Tensor | None
    interpolant: Interpolant | None = None  # set by the stepper before it returns
    f0: Tensor | None = None


@runtime_checkable
class Stepper(Protocol):
    """A method as the driver loop drives it: `start` once per solve, then `step`s.

    Attributes:
        name: the method's name, for error messages.
        order: the order of the method.
        error_order: k in the controller's h · ratio^(-1/k) (the order of the error
            estimate's leading term), or None for a method without an error estimate.
    """

    name: str
    order: int
    error_order: int | None

    def start(self, f: Field, t0: Time, y0: Tensor) -> None:
        """Forget what a previous solve left (back values of a multistep method)."""

    def step(self, f: Field, t: Time, y: Tensor, h: Time, f0: Tensor | None) -> StepResult:
        """Advance from (t, y) by h; f0 = f(t, y) if the loop already has it, else None."""

    def error_ratio(
        self, result: StepResult, y0: Tensor, rtol: float, atol: float, norm: Callable
    ) -> float:
        """The scaled error of the step (<= 1: acceptable), as a Python float."""
