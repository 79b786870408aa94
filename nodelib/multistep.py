"""Linear multistep methods with a fixed step: Adams–Bashforth, Adams–Moulton, BDF.

A k-step linear multistep method (Süli & Mayers, ch. 12; HNW I, §III.1) is

    Σ_{j=0}^{k} α_j y_{n+j} = h Σ_{j=0}^{k} β_j f(t_{n+j}, y_{n+j}),   α_k = 1,

with ρ(ζ) = Σ α_j ζ^j and σ(ζ) = Σ β_j ζ^j. Its coefficients are kept here as exact
fractions (`MultistepCoefficients`, tables `AB_COEFFICIENTS`, `AM_COEFFICIENTS`,
`BDF_COEFFICIENTS`, keyed by order). The steppers:

- `AdamsBashforth` (orders 1-4, explicit): one f evaluation per step.
- `AdamsMoulton` (orders 2-4) in PECE mode: predict with Adams–Bashforth of the same
  order, evaluate, correct with Adams–Moulton, evaluate: two f evaluations per step.
  PECE is explicit, so it does not inherit the corrector's larger stability region.
- `BDF` (orders 1-4, implicit, for stiff problems): the equation of each step is
  solved by the simplified Newton iteration of `nodelib._newton` (dense Jacobian:
  small systems only), from a polynomial extrapolation of past values.

A k-step method needs k back values. The first k-1 steps (after `start`, and after any
restart) are taken by a one-step method of order >= k: classic RK4 for the Adams
methods, the L-stable 3-stage Radau IIA (order 5) for BDF, since an explicit starter
would blow up the starting values of a stiff problem. A restart happens when h changes
(relative change above sqrt(eps) of y's dtype: e.g. the shorter last step of a grid) or
when `step` gets a y other than the tensor its previous step returned; a step size
that divides the interval avoids its cost.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction as Fr
from typing import Any

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
from nodelib.implicit import FixedStepper
from nodelib.implicit_rk import implicit_rk_step
from nodelib.rk import RKCoefficients, rk_step
from nodelib.tableau import RADAU_IIA3, RK4

__all__ = [
    "AB_COEFFICIENTS",
    "AM_COEFFICIENTS",
    "BDF",
    "BDF_COEFFICIENTS",
    "MULTISTEP_METHODS",
    "AdamsBashforth",
    "AdamsMoulton",
    "MultistepCoefficients",
]


@dataclass(frozen=True)
class MultistepCoefficients:
    """Σ_{j=0}^{k} α_j y_{n+j} = h Σ_{j=0}^{k} β_j f_{n+j}, coefficients in ascending j.

    Attributes:
        name: method name.
        alpha: (k+1,) α_0..α_k with α_k = 1.
        beta: (k+1,) β_0..β_k; β_k = 0 for an explicit method.
        order: the order of consistency.
        reference: where the coefficients are published.
    """

    name: str
    alpha: tuple[Fr, ...]
    beta: tuple[Fr, ...]
    order: int
    reference: str = "HNW I, §III.1; Süli & Mayers, ch. 12"

    @property
    def steps(self) -> int:
        """k, the number of back values the formula uses."""
        return len(self.alpha) - 1


def _fr(*xs: int | str) -> tuple[Fr, ...]:
    return tuple(Fr(x) for x in xs)


def _adams(name: str, betas: tuple[Fr, ...], order: int) -> MultistepCoefficients:
    k = len(betas) - 1
    return MultistepCoefficients(name, _fr(*[0] * (k - 1), -1, 1), betas, order)


AB_COEFFICIENTS: dict[int, MultistepCoefficients] = {
    1: _adams("adams_bashforth1", _fr(1, 0), 1),
    2: _adams("adams_bashforth2", _fr("-1/2", "3/2", 0), 2),
    3: _adams("adams_bashforth3", _fr("5/12", "-16/12", "23/12", 0), 3),
    4: _adams("adams_bashforth4", _fr("-9/24", "37/24", "-59/24", "55/24", 0), 4),
}
AM_COEFFICIENTS: dict[int, MultistepCoefficients] = {
    2: _adams("adams_moulton2", _fr("1/2", "1/2"), 2),
    3: _adams("adams_moulton3", _fr("-1/12", "8/12", "5/12"), 3),
    4: _adams("adams_moulton4", _fr("1/24", "-5/24", "19/24", "9/24"), 4),
}
BDF_COEFFICIENTS: dict[int, MultistepCoefficients] = {
    1: MultistepCoefficients("bdf1", _fr(-1, 1), _fr(0, 1), 1),
    2: MultistepCoefficients("bdf2", _fr("1/3", "-4/3", 1), _fr(0, 0, "2/3"), 2),
    3: MultistepCoefficients("bdf3", _fr("-2/11", "9/11", "-18/11", 1), _fr(0, 0, 0, "6/11"), 3),
    4: MultistepCoefficients(
        "bdf4", _fr("3/25", "-16/25", "36/25", "-48/25", 1), _fr(0, 0, 0, 0, "12/25"), 4
    ),
}


_RK4 = RKCoefficients.from_tableau(RK4)


def _rk4_start_step(
    f: VectorField, t: Tensor, y: Tensor, h: float, f0: Tensor | None = None
) -> Tensor:
    """One classic RK4 step (HNW I, §II.1) from nodelib.rk, to compute starting values."""
    return rk_step(f, t, y, h, _RK4, f(t, y) if f0 is None else f0)[0]


def _weighted_sum(weights: Sequence[float], values: Sequence[Tensor]) -> Tensor:
    assert len(weights) == len(values) and len(values) > 0
    terms = [w * v for w, v in zip(weights, values, strict=True) if w != 0]
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def _extrapolate(ys: Sequence[Tensor]) -> Tensor:
    """The polynomial through equally spaced ys (oldest first), evaluated one step on."""
    m = len(ys)
    weights = [(-1) ** (m - 1 - i) * math.comb(m, m - i) for i in range(m)]
    return _weighted_sum(weights, ys)


class _Multistep:
    """History and starting procedure shared by the multistep steppers.

    Keeps the last `keep` states and f values; `_advance` applies the method's formula
    once `need` back values exist, RK4 steps build them up before.
    """

    def __init__(self, name: str, order: int, need: int, keep: int, uses_f: bool) -> None:
        self.name, self.order = name, order
        self._need, self._uses_f = need, uses_f
        self._ys: deque[Tensor] = deque(maxlen=keep)
        self._fs: deque[Tensor | None] = deque(maxlen=keep)
        self._h = math.nan

    def start(self, f: VectorField, t0: Tensor, y0: Tensor, h: float) -> None:
        """Forget the history of a previous solve; (t0, y0) is the first back value."""
        self._reset(y0, None, h)

    def _reset(self, y: Tensor, fy: Tensor | None, h: float) -> None:
        self._ys.clear()
        self._fs.clear()
        self._ys.append(y)
        self._fs.append(fy)
        self._h = h

    def _continues(self, y: Tensor, h: float) -> bool:
        same_h = abs(h - self._h) <= math.sqrt(torch.finfo(y.dtype).eps) * abs(self._h)
        return bool(self._ys) and y is self._ys[-1] and same_h

    def step(self, f: VectorField, t: Tensor, y: Tensor, h: float) -> tuple[Tensor, Tensor | None]:
        """Advance from (t, y) to t + h.

        Returns:
            (y_next, f_next): f_next = f(t + h, y_next) for the Adams methods (they need
            it for the next step), None for BDF (it never evaluates f there).

        Raises:
            nodelib.errors.ConvergenceError: BDF's Newton iteration failed.
        """
        if not self._continues(y, h):
            kept = self._fs[-1] if self._ys and y is self._ys[-1] else None
            self._reset(y, kept, h)
        if self._uses_f and self._fs[-1] is None:
            self._fs[-1] = f(t, y)
        if len(self._ys) < self._need:
            y1 = self._start_step(f, t, y, h)
            f1 = f(t + h, y1) if self._uses_f else None
        else:
            y1, f1 = self._advance(f, t, y, h)
        self._ys.append(y1)
        self._fs.append(f1)
        return y1, f1

    def _start_step(self, f: VectorField, t: Tensor, y: Tensor, h: float) -> Tensor:
        return _rk4_start_step(f, t, y, h, self._fs[-1])

    def _advance(self, f: VectorField, t: Tensor, y: Tensor, h: float):
        raise NotImplementedError


def _check_order(order: object, table: Mapping[int, MultistepCoefficients], kind: str) -> int:
    if isinstance(order, bool) or order not in table:
        raise ValueError(f"{kind} is available for orders {sorted(table)}; got {order!r}.")
    return int(order)  # type: ignore[arg-type]


class AdamsBashforth(_Multistep):
    """Adams–Bashforth of order k = 1..4, k steps, explicit (HNW I, §III.1).

    y_{n+1} = y_n + h Σ_j β_j f_{n+1-k+j}; one f evaluation per step.
    """

    def __init__(self, order: int) -> None:
        coeffs = AB_COEFFICIENTS[_check_order(order, AB_COEFFICIENTS, "adams_bashforth")]
        super().__init__(coeffs.name, coeffs.order, coeffs.steps, coeffs.steps, uses_f=True)
        self._beta = [float(b) for b in coeffs.beta[:-1]]

    def _advance(self, f, t, y, h):
        y1 = y + h * _weighted_sum(self._beta, list(self._fs))
        return y1, f(t + h, y1)


class AdamsMoulton(_Multistep):
    """Adams–Moulton of order p = 2..4 (p-1 steps) in PECE mode (HNW I, §III.1).

    P: Adams–Bashforth of order p; E; C: Adams–Moulton of order p with the predicted
    f_{n+1}; E. The pair has order p and the error constant of the corrector. It keeps
    p back f values; two f evaluations per step.
    """

    def __init__(self, order: int) -> None:
        coeffs = AM_COEFFICIENTS[_check_order(order, AM_COEFFICIENTS, "adams_moulton")]
        predictor = AB_COEFFICIENTS[coeffs.order]
        need = predictor.steps
        super().__init__(coeffs.name, coeffs.order, need, need, uses_f=True)
        self._ab_beta = [float(b) for b in predictor.beta[:-1]]
        self._am_beta = [float(b) for b in coeffs.beta[:-1]]
        self._am_beta_new = float(coeffs.beta[-1])

    def _advance(self, f, t, y, h):
        fs = list(self._fs)
        t1 = t + h
        f_pred = f(t1, y + h * _weighted_sum(self._ab_beta, fs))
        corr = _weighted_sum(self._am_beta, fs[len(fs) - len(self._am_beta) :])
        y1 = y + h * (corr + self._am_beta_new * f_pred)
        return y1, f(t1, y1)


class BDF(_Multistep):
    """Backward differentiation formula of order k = 1..4, implicit (HNW I, §III.1).

    y_{n+1} = -Σ_{j<k} α_j y_{n+1-k+j} + h β_k f(t_{n+1}, y_{n+1}), solved by simplified
    Newton (Jacobian at (t_n, y_n)) from the polynomial extrapolation of up to k+1 back
    states. Per step: one Jacobian and the Newton iterations (2 for a linear f); the
    k-1 starting steps are Radau IIA steps (L-stable, order 5).

    Args:
        order: k.
        newton_tol: Newton tolerance (mixed norm); None: eps**(2/3) of y's dtype.
        newton_max_iter: the most Newton iterations per step.
    """

    def __init__(
        self,
        order: int,
        *,
        newton_tol: float | None = None,
        newton_max_iter: int = DEFAULT_NEWTON_MAX_ITER,
    ) -> None:
        coeffs = BDF_COEFFICIENTS[_check_order(order, BDF_COEFFICIENTS, "bdf")]
        k = coeffs.steps
        super().__init__(coeffs.name, coeffs.order, k, k + 1, uses_f=False)
        self._alpha = [float(a) for a in coeffs.alpha[:-1]]
        self._beta_k = float(coeffs.beta[-1])
        self.newton_tol, self.newton_max_iter = check_newton_settings(newton_tol, newton_max_iter)

    def _tol(self, y: Tensor) -> float:
        return default_newton_tol(y.dtype) if self.newton_tol is None else self.newton_tol

    def _start_step(self, f, t, y, h):
        y1, _ = implicit_rk_step(
            f, t, y, h, RADAU_IIA3, tol=self._tol(y), max_iter=self.newton_max_iter
        )
        return y1

    def _advance(self, f, t, y, h):
        ys = list(self._ys)
        known = -_weighted_sum(self._alpha, ys[len(ys) - len(self._alpha) :])
        y1 = solve_implicit(
            f,
            t + h,
            known,
            h * self._beta_k,
            _extrapolate(ys),
            matrix=implicit_matrix(f, t, y, h * self._beta_k, t + h),
            tol=self._tol(y),
            max_iter=self.newton_max_iter,
        )
        return y1, None


def _factory(cls: type, order: int) -> Callable[[Mapping[str, Any] | None], FixedStepper]:
    def factory(options: Mapping[str, Any] | None) -> FixedStepper:
        return cls(order, **newton_kwargs(options)) if cls is BDF else cls(order)

    return factory


MULTISTEP_METHODS: dict[str, Callable[[Mapping[str, Any] | None], FixedStepper]] = {
    **{f"adams_bashforth{k}": _factory(AdamsBashforth, k) for k in AB_COEFFICIENTS},
    **{f"adams_moulton{k}": _factory(AdamsMoulton, k) for k in AM_COEFFICIENTS},
    **{f"bdf{k}": _factory(BDF, k) for k in BDF_COEFFICIENTS},
}
