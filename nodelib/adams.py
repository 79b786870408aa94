"""Variable-order Adams methods with a fixed step: ``adams_bashforth`` and ``adams_moulton``.

The k-step Adams–Bashforth formula (order k) and the k-step Adams–Moulton formula (order
k + 1) integrate the polynomial through the last k (or k + 1, with the new one) values of f
(HNW I, §III.1; `nodelib.theory.lmm.adams_coefficients` derives their coefficients in exact
fractions). These methods raise k with the history, one step at a time, up to
``options["max_order"]`` (default 12, at most 12; torchdiffeq's ``fixed_adams`` semantics):

- the first two steps (and two after every restart) are 3/8-rule Runge–Kutta steps (RK38);
- then, with m values of f in the history, k = min(m, max_order - 1) (a max_order below 4
  leaves RK38 steps only, as in torchdiffeq);
- ``adams_bashforth``: y_{n+1} = y_n + h Σ_j β_j f_{n-j}, k-step, one evaluation per step;
- ``adams_moulton``: the Adams–Bashforth value predicts, and the k-step Adams–Moulton formula
  corrects by functional iteration, y ← y_n + h (β*_0 f(t_{n+1}, y) + Σ_j β*_j f_{n+1-j}),
  until two iterates of the increment y - y_n differ by less than atol + rtol·|increment|
  (max norm, the solve's tolerances, as torchdiffeq tests it) or ``options["max_iters"]``
  (default 4) evaluations were made; then f(t_{n+1}, y_{n+1}) for the history. A corrector
  that did not converge is counted in the statistics (``n_corrector_unconverged``), warned
  about, and the oldest value leaves the history (the next steps use lower orders).

Because a few low-order steps start the method and their errors do not shrink with the
number of steps, the global order is that of the start: 4 for ``adams_bashforth`` (its
first formula after RK38 is the 3-step one) and 5 for ``adams_moulton`` (RK38's local
error; the first corrector has order 4, local error h^5). What the high orders buy is a small
error constant over long intervals. The formulas assume equal steps: a step size that
changes (relatively by more than sqrt(eps) of y's dtype, e.g. a shorter last step, or a
non-uniform grid of output times) restarts the history, as does a y other than the last
step's. Fixed step only; the interpolant between the ends of a step is cubic Hermite
through the two values of f the method has anyway.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections import deque
from collections.abc import Callable, Mapping
from numbers import Integral
from typing import Any

import torch
from torch import Tensor

from nodelib._types import Field, Time
from nodelib.interpolate import Hermite
from nodelib.rk import RKCoefficients, combine, rk_step
from nodelib.steppers import StepResult
from nodelib.tableau import RK38

__all__ = ["ADAMS_METHODS", "ADAMS_OPTIONS", "MAX_ADAMS_ORDER", "Adams"]

MAX_ADAMS_ORDER = 12
ADAMS_OPTIONS = frozenset({"max_order", "max_iters"})
_RK38 = RKCoefficients.from_tableau(RK38)
_START = 3  # the formulas start with 3 values of f (after two RK38 steps)


@functools.cache
def _weights(k: int, implicit: bool) -> tuple[float, ...]:
    """β of the k-step formula, newest value first (β*_0 multiplies f_{n+1} if implicit)."""
    from nodelib.theory.lmm import adams_coefficients

    beta = adams_coefficients(k, implicit=implicit).beta  # ascending: oldest first
    used = beta if implicit else beta[:-1]
    return tuple(float(b) for b in reversed(used))


def _value(h: Time) -> float:
    return float(h.detach()) if isinstance(h, Tensor) else float(h)


class Adams:
    """The variable-order Adams methods as a fixed-step `nodelib.steppers.Stepper`.

    Args:
        implicit: Adams–Moulton corrector (``adams_moulton``) or not (``adams_bashforth``).
        max_order: the highest order of the corrector, 1..12 (the predictor: one lower).
        max_iters: the most corrector evaluations per step (``adams_moulton``), >= 1.
        rtol, atol: the corrector's convergence tolerance (the solve's tolerances).

    Raises:
        ValueError: max_order or max_iters out of range.
    """

    error_order = None

    def __init__(
        self,
        *,
        implicit: bool,
        max_order: int = MAX_ADAMS_ORDER,
        max_iters: int = 4,
        rtol: float = 1e-7,
        atol: float = 1e-9,
    ) -> None:
        for key, value, low, high in (
            ("max_order", max_order, 1, MAX_ADAMS_ORDER),
            ("max_iters", max_iters, 1, math.inf),
        ):
            if (
                isinstance(value, bool)
                or not isinstance(value, Integral)
                or not low <= value <= high
            ):
                raise ValueError(
                    f"options['{key}'] must be an integer in [{low}, {high}]; got {value!r}."
                )
        self.implicit, self.max_order, self.max_iters = implicit, int(max_order), int(max_iters)
        self.name = "adams_moulton" if implicit else "adams_bashforth"
        # The highest order of its formulas (RK38's 4 when max_order < 4 leaves only those).
        self.order = max(4, self.max_order if implicit else self.max_order - 1)
        self.rtol, self.atol = rtol, atol
        self.start(None, 0.0, None)

    def start(self, f: Field | None, t0: Time, y0: Tensor | None) -> None:
        """Forget the history of a previous solve."""
        self._fs: deque[Tensor] = deque(maxlen=max(self.max_order - 1, 1))
        self._y_last, self._h = None, math.nan
        self.n_unconverged = 0

    def _continues(self, y: Tensor, h: float) -> bool:
        same_h = abs(h - self._h) <= math.sqrt(torch.finfo(y.dtype).eps) * abs(self._h)
        return y is self._y_last and same_h

    def step(self, f: Field, t: Time, y: Tensor, h: Time, f0: Tensor | None) -> StepResult:
        """One step from (t, y); f0 = f(t, y) if the loop has it."""
        if not self._continues(y, _value(h)):
            self._fs.clear()
            self._fs.appendleft(f(t, y) if f0 is None else f0)
        self._h, fs = _value(h), list(self._fs)  # newest first
        k = min(len(fs), self.max_order - 1)
        t1 = t + h
        if k < _START:
            y1 = rk_step(f, t, y, h, _RK38, fs[0])[0]
        else:
            y1 = combine(y, h, tuple(enumerate(_weights(k, False))), fs)
            if self.implicit:
                y1 = self._correct(f, t1, y, y1, h, fs, k)
        f1 = f(t1, y1)
        self._fs.appendleft(f1)
        self._y_last = y1
        result = StepResult(y1, None, f1, None, fs[0])
        result.interpolant = Hermite(f, t, y, h, result)
        return result

    def _correct(self, f, t1, y, y_pred, h, fs, k) -> Tensor:
        """Functional iteration on the k-step Adams–Moulton formula, from the prediction.

        The iterates are increments dy = y_{n+1} - y_n, compared as torchdiffeq compares them:
        converged when max |dy_new - dy_old| / (atol + rtol·max(|dy_old|, |dy_new|)) < 1.
        """
        beta = _weights(k, True)
        known = combine(None, h, tuple((j, b) for j, b in enumerate(beta[1:])), fs)
        dy_old = y_pred - y
        for _ in range(self.max_iters):
            dy_new = combine(known, h, ((0, beta[0]),), [f(t1, y + dy_old)])
            with torch.no_grad():  # the test steers the iteration; it is not differentiated
                scale = torch.maximum(dy_old.abs(), dy_new.abs()) * self.rtol + self.atol
                converged = bool(((dy_new - dy_old).abs() / scale).amax() < 1)
            dy_old = dy_new
            if converged:
                return y + dy_new
        self.n_unconverged += 1
        if self.n_unconverged == 1:
            warnings.warn(
                f"adams_moulton's corrector did not converge in max_iters={self.max_iters} "
                f"evaluations at t={_value(t1):.6g}; the order is lowered. Take a smaller "
                "step_size or a larger options['max_iters'] (the count is in "
                "Solution.stats['n_corrector_unconverged']).",
                RuntimeWarning,
                stacklevel=2,
            )
        self._fs.pop()  # drop the oldest value: the next steps use a lower order
        return y + dy_old

    def stats(self) -> dict[str, int]:
        """How many steps' correctors did not converge (adams_moulton only)."""
        return {"n_corrector_unconverged": self.n_unconverged} if self.implicit else {}

    def error_ratio(self, result, y0, rtol, atol, norm) -> float:
        """Fixed step: no error estimate."""
        raise AssertionError("the Adams methods have no error estimate here")


def _factory(implicit: bool) -> Callable[..., Adams]:
    def factory(options: Mapping[str, Any] | None, rtol: float, atol: float) -> Adams:
        options = options or {}
        return Adams(
            implicit=implicit,
            max_order=options.get("max_order", MAX_ADAMS_ORDER),
            max_iters=options.get("max_iters", 4),
            rtol=rtol,
            atol=atol,
        )

    return factory


# The names odeint steps them under; each factory takes (options, rtol, atol).
ADAMS_METHODS: dict[str, Callable[..., Adams]] = {
    "adams_bashforth": _factory(False),
    "adams_moulton": _factory(True),
}
