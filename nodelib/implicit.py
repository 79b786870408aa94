"""Implicit one-step methods with a fixed step: the θ-method and its special cases.

    y_{n+1} = y_n + h·[(1 - θ)·f(t_n, y_n) + θ·f(t_{n+1}, y_{n+1})],   0 <= θ <= 1

θ = 0 is explicit Euler, θ = 1 backward Euler, θ = 1/2 the trapezium rule (Süli &
Mayers, ch. 12; HNW I, §II.7; Hairer & Wanner II, §IV.3 for their stability). The
order is 2 at θ = 1/2 and 1 for every other θ; for θ >= 1/2 the method is A-stable, so
it suits stiff problems. Each step solves its implicit equation by the simplified
Newton iteration of `nodelib._newton` (dense Jacobian: small systems only), starting
from the linearly implicit Euler predictor y_n + (I - θh·∂f/∂y)⁻¹ h·f(t_n, y_n).

`theta_step` is one step as a plain function, with the option of choosing where Newton's
iteration starts: an implicit equation may have several roots, and the start decides which
one is found (chapter 1's y' = y^(1/5), y(0) = 0 needs a start away from zero). This module
also defines `FixedStepper`, the protocol that odeint's fixed-step loop drives, and the
registry `IMPLICIT_METHODS` of the method names it accepts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from numbers import Real
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor

from nodelib._newton import (
    DEFAULT_NEWTON_MAX_ITER,
    VectorField,
    check_newton_settings,
    default_newton_tol,
    implicit_matrix,
    newton_kwargs,
    solve_implicit,
)

__all__ = ["IMPLICIT_METHODS", "FixedStepper", "ThetaMethod", "theta_step"]


@runtime_checkable
class FixedStepper(Protocol):
    """A fixed-step method as odeint drives it: `start` once per solve, then `step`s.

    `step(f, t, y, h)` advances from (t, y) (t a 0-d tensor, h > 0 a float) to t + h and
    returns (y_next, f_next), with f_next = f(t + h, y_next) if the method computed it
    anyway, else None.
    """

    name: str
    order: int

    def start(self, f: VectorField, t0: Tensor, y0: Tensor, h: float) -> None: ...

    def step(
        self, f: VectorField, t: Tensor, y: Tensor, h: float
    ) -> tuple[Tensor, Tensor | None]: ...


def check_theta(theta: object) -> float:
    """Return θ as a float after checking that it is a real number in [0, 1].

    Raises:
        ValueError: θ is not a real number, is NaN, or lies outside [0, 1].
    """
    # NaN fails the comparisons, so it is rejected too.
    ok = isinstance(theta, Real) and not isinstance(theta, bool) and 0 <= float(theta) <= 1
    if not ok:
        raise ValueError(
            f"theta must be a number in [0, 1] (0: explicit Euler, 1/2: trapezoid, "
            f"1: backward Euler); got {theta!r}."
        )
    return float(theta)


class ThetaMethod:
    """The θ-method as a `FixedStepper` (Süli & Mayers, ch. 12; HNW I, §II.7).

    Per step: f(t_n, y_n) (reused from the previous step when y is the tensor that
    step returned), for θ > 0 one Jacobian ∂f/∂y at (t_n, y_n) and the Newton
    iterations (2 for a linear f), then f(t_{n+1}, y_{n+1}), which `step` returns as
    f_next and the next step reuses.

    Args:
        theta: θ in [0, 1].
        name: the name the method is registered under.
        newton_tol: Newton tolerance (mixed norm); None: eps**(2/3) of y's dtype.
        newton_max_iter: the most Newton iterations per step.

    Raises:
        ValueError: θ outside [0, 1] or not a number; bad Newton settings.
    """

    def __init__(
        self,
        theta: float,
        *,
        name: str = "theta",
        newton_tol: float | None = None,
        newton_max_iter: int = DEFAULT_NEWTON_MAX_ITER,
    ) -> None:
        self.theta = check_theta(theta)
        self.name = name
        # Order 2 needs the error constant 1/2 - θ of the local error to vanish.
        self.order = 2 if self.theta == 0.5 else 1
        self.newton_tol, self.newton_max_iter = check_newton_settings(newton_tol, newton_max_iter)
        self._y_last: Tensor | None = None
        self._f_last: Tensor | None = None

    def start(self, f: VectorField, t0: Tensor, y0: Tensor, h: float) -> None:
        """Forget the f value cached from a previous solve."""
        self._y_last = self._f_last = None

    def step(self, f: VectorField, t: Tensor, y: Tensor, h: float) -> tuple[Tensor, Tensor]:
        """One θ-method step from (t, y) to t + h.

        Returns:
            (y_next, f_next), both of y's shape, f_next = f(t + h, y_next).

        Raises:
            nodelib.errors.ConvergenceError: Newton's iteration failed (see `_newton`).
        """
        f0 = self._f_last if (y is self._y_last and self._f_last is not None) else f(t, y)
        t1 = t + h
        y1 = _theta_solve(f, t, y, h, f0, self.theta, None, self.newton_tol, self.newton_max_iter)
        f1 = f(t1, y1)
        self._y_last, self._f_last = y1, f1
        return y1, f1


def _theta_solve(
    f: VectorField,
    t: Tensor,
    y: Tensor,
    h: float,
    f0: Tensor,
    theta: float,
    y_guess: Tensor | None,
    tol: float | None,
    max_iter: int,
) -> Tensor:
    """y_{n+1} of one θ-method step, given f0 = f(t, y); Newton starts at y_guess if given."""
    t1 = t + h
    if theta == 0:
        return y + h * f0
    if y_guess is None:
        matrix = implicit_matrix(f, t, y, theta * h, t1)
        # Linearly implicit Euler predictor: exact for linear autonomous f, and unlike
        # explicit Euler it does not overshoot on stiff problems.
        y_guess = y + matrix.solve(h * f0)
    else:
        # The matrix is taken where the iteration starts: f may not be differentiable at y.
        matrix = implicit_matrix(f, t1, y_guess, theta * h, t1)
    return solve_implicit(
        f,
        t1,
        y + ((1 - theta) * h) * f0,
        theta * h,
        y_guess,
        matrix=matrix,
        tol=default_newton_tol(y.dtype) if tol is None else tol,
        max_iter=max_iter,
    )


def theta_step(
    f: VectorField,
    t: float | Tensor,
    y: Tensor,
    h: float,
    *,
    theta: float,
    y_guess: Tensor | float | None = None,
    newton_tol: float | None = None,
    newton_max_iter: int = DEFAULT_NEWTON_MAX_ITER,
) -> Tensor:
    """One θ-method step from (t, y) to t + h, as a function (Süli & Mayers, ch. 12).

        y_{n+1} = y_n + h·[(1 - θ)·f(t_n, y_n) + θ·f(t_{n+1}, y_{n+1})]

    The same step as `odeint(..., method="theta")`, solved by the same Newton iteration,
    except that the start of the iteration can be chosen. The implicit equation may have
    several roots: for y' = y^(1/5) and y_n = 0, backward Euler's equation
    Y = h·Y^(1/5) has the roots 0 and ±h^(5/4), and f is not differentiable at 0, so the
    default start (which needs ∂f/∂y at y_n) fails there while y_guess=h finds h^(5/4).

    Args:
        f: the vector field f(t, y) -> tensor of y's shape.
        t: the time t_n, a number or a 0-d tensor.
        y: the state y_n, any shape with n elements (dense Newton: n up to a few thousand).
        h: the step size (negative steps backwards).
        theta: θ in [0, 1]; 0 is explicit Euler (no equation to solve).
        y_guess: where Newton's iteration starts, and where its matrix I - θh·∂f/∂y is
            taken: a tensor of y's shape or a number (broadcast). None: the linearly
            implicit Euler predictor from (t, y), as `odeint` does.
        newton_tol: Newton tolerance (mixed norm); None: eps**(2/3) of y's dtype.
        newton_max_iter: the most Newton iterations.

    Returns:
        y_{n+1}, a tensor of y's shape, dtype and device.

    Raises:
        ValueError: θ outside [0, 1], bad Newton settings, or y_guess of the wrong shape.
        nodelib.errors.ConvergenceError: Newton's iteration failed (e.g. ∂f/∂y is not
            finite where it starts): try another y_guess or a smaller h.
    """
    theta = check_theta(theta)
    tol, max_iter = check_newton_settings(newton_tol, newton_max_iter)
    t = torch.as_tensor(t, dtype=y.dtype, device=y.device)
    if y_guess is not None:
        guess = torch.as_tensor(y_guess, dtype=y.dtype, device=y.device)
        if guess.dim() > 0 and guess.shape != y.shape:
            raise ValueError(
                f"y_guess must be a number or a tensor of y's shape {tuple(y.shape)}; "
                f"got shape {tuple(guess.shape)}."
            )
        y_guess = guess.expand(y.shape).clone()
    return _theta_solve(f, t, y, h, f(t, y), theta, y_guess, tol, max_iter)


def _theta_factory(options: Mapping[str, Any] | None) -> ThetaMethod:
    options = options or {}
    if "theta" not in options:
        raise ValueError(
            "method 'theta' needs options['theta'], a number in [0, 1] (0: explicit "
            "Euler, 1/2: trapezoid, 1: backward Euler)."
        )
    return ThetaMethod(options["theta"], name="theta", **newton_kwargs(options))


def _fixed_theta_factory(theta: float, name: str) -> Callable[[Mapping[str, Any] | None], Any]:
    def factory(options: Mapping[str, Any] | None) -> ThetaMethod:
        return ThetaMethod(theta, name=name, **newton_kwargs(options))

    return factory


IMPLICIT_METHODS: dict[str, Callable[[Mapping[str, Any] | None], FixedStepper]] = {
    "backward_euler": _fixed_theta_factory(1.0, "backward_euler"),
    "trapezoid": _fixed_theta_factory(0.5, "trapezoid"),
    "theta": _theta_factory,
}
