"""One explicit Runge–Kutta step, computed from a Butcher tableau.

A step of an s-stage explicit method (Hairer, Nørsett & Wanner I, §II.1) is

    k_i = f(t + c_i h, y + h Σ_{j<i} a_ij k_j),   i = 1..s
    y_next = y + h Σ_i b_i k_i,
    error  = h Σ_i (b_i - b̂_i) k_i        (embedded pairs only)

`rk_step` is the only place in nodelib that evaluates these sums; fixed-step
and adaptive integration, dense output and the adjoint all go through it.
The coefficients are turned once per solve into lists of non-zero entries
(`RKCoefficients`), so that a step costs one fused multiply-add per non-zero
coefficient and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from nodelib._types import Field, Time
from nodelib.tableau import ButcherTableau

__all__ = ["RKCoefficients", "combine", "error_estimate", "rk_step"]


def _nonzero(row: tuple[float, ...]) -> tuple[tuple[int, float], ...]:
    return tuple((j, float(x)) for j, x in enumerate(row) if x != 0.0)


@dataclass(frozen=True)
class RKCoefficients:
    """The non-zero coefficients of an explicit tableau, ready for stepping.

    Attributes:
        c: the nodes c_i.
        a: for each stage i, the pairs (j, a_ij) with a_ij != 0.
        b: the pairs (i, b_i) with b_i != 0.
        b_error: the pairs (i, b_i - b̂_i) with a non-zero entry, or None.
        y_is_last_stage: True when a_s = b (FSAL with c_s = 1), so y_next is the
            argument of the last stage and need not be formed again.
    """

    c: tuple[float, ...]
    a: tuple[tuple[tuple[int, float], ...], ...]
    b: tuple[tuple[int, float], ...]
    b_error: tuple[tuple[int, float], ...] | None
    y_is_last_stage: bool

    @classmethod
    def from_tableau(cls, tableau: ButcherTableau) -> RKCoefficients:
        if not tableau.is_explicit:
            raise ValueError(
                f"rk_step needs an explicit tableau, but {tableau.name!r} has non-zero "
                "entries on or above the diagonal of A; use an implicit method instead."
            )
        last = tuple(tableau.a[-1])
        y_is_last = tableau.fsal and tableau.c[-1] == 1.0 and last == tuple(tableau.b)
        return cls(
            c=tuple(float(x) for x in tableau.c),
            a=tuple(_nonzero(tuple(row)) for row in tableau.a),
            b=_nonzero(tuple(tableau.b)),
            b_error=None if tableau.b_error is None else _nonzero(tuple(tableau.b_error)),
            y_is_last_stage=y_is_last,
        )


Terms = tuple[tuple[int, float], ...]  # the non-zero (index, coefficient) pairs of a row


def combine(
    y: Tensor | None, h: Time, terms: tuple[tuple[int, float], ...], k: list[Tensor]
) -> Tensor:
    """y + h Σ coef_j k_j (h Σ coef_j k_j when y is None) for the non-zero `terms`.

    A float h takes one fused kernel per term, in place on a fresh tensor (autograd
    allows that); a tensor h (the solve is differentiated with respect to the times)
    needs out-of-place products. The small terms are summed first and y added last: one
    rounding at y's scale per step instead of one per stage (in float32 over hundreds of
    steps the difference shows, e.g. in torchdiffeq's event tests).
    """
    if not terms:
        return y
    if y is not None:
        return combine(None, h, terms, k).add_(y)
    (j0, a0), *rest = terms
    if isinstance(h, Tensor):  # one fused kernel per term too (h broadcasts: (n, 1, ...))
        out = torch.mul(k[j0], h).mul_(a0) if y is None else torch.addcmul(y, h, k[j0], value=a0)
        for j, a in rest:
            out.addcmul_(h, k[j], value=a)
        return out
    out = k[j0] * (h * a0) if y is None else torch.add(y, k[j0], alpha=h * a0)
    for j, a in rest:
        out.add_(k[j], alpha=h * a)
    return out


def error_estimate(h: Time, terms: Terms, k: list[Tensor]) -> Tensor:
    """h Σ e_j k_j without a graph: the error estimate only steers the step size."""
    with torch.no_grad():
        return combine(None, h.detach() if isinstance(h, Tensor) else h, terms, k)


def rk_step(
    f: Field,
    t: Time,
    y: Tensor,
    h: Time,
    coeffs: RKCoefficients,
    f0: Tensor,
) -> tuple[Tensor, Tensor | None, list[Tensor]]:
    """Take one explicit Runge–Kutta step from (t, y) with step h.

    Args:
        f: the vector field, f(t, y) -> dy/dt with y's shape, taking a float time.
        t: the current time (a Python float, so that step-size arithmetic stays on the host;
            a 0-d tensor when the solve is differentiated with respect to the times).
        y: the current state, any shape `(*shape)`.
        h: the step size (positive or negative; a float, or a 0-d tensor like t).
        coeffs: the method, from `RKCoefficients.from_tableau`.
        f0: f(t, y), the first stage (every explicit tableau has c_1 = 0 and a_1 = 0);
            passing it lets the caller reuse the last stage of a FSAL method.

    Returns:
        `(y_next, error, k)`: the new state `(*shape)`; the local error estimate
        `(*shape)` or None for a method without an embedded pair; the list of the s
        stage derivatives, each `(*shape)`.
    """
    k = [f0]
    for i in range(1, len(coeffs.c)):
        y_i = combine(y, h, coeffs.a[i], k)  # (*shape)
        k.append(f(t + coeffs.c[i] * h, y_i))
    # FSAL: the last stage was evaluated at y_next itself.
    y_next = y_i if coeffs.y_is_last_stage else combine(y, h, coeffs.b, k)
    error = None if coeffs.b_error is None else error_estimate(h, coeffs.b_error, k)
    return y_next, error, k
