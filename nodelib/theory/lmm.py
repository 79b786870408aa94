"""The theory of linear multistep methods: derivation, order, zero-stability.

A k-step linear multistep method (Süli & Mayers, ch. 12; HNW I, §III.1-III.4) is

    Σ_{j=0}^{k} α_j y_{n+j} = h Σ_{j=0}^{k} β_j f(t_{n+j}, y_{n+j}),

with the characteristic polynomials ρ(ζ) = Σ α_j ζ^j and σ(ζ) = Σ β_j ζ^j. Coefficients
are sequences in ascending j (α_0 first), as in `nodelib.multistep.MultistepCoefficients`.

- Derivation by interpolation: `adams_coefficients` integrates the polynomial through
  past values of f (Adams–Bashforth, Adams–Moulton), `bdf_coefficients` differentiates
  the polynomial through past values of y (BDF); both in exact fractions.
- Order: `error_constants` gives C_q = Σ_j j^q α_j / q! - Σ_j j^(q-1) β_j / (q-1)!
  (the method has order p when C_0 = ... = C_p = 0 ≠ C_{p+1}); `lmm_order` reads p off.
  The arithmetic is plain Python, so sympy symbols or fractions work as coefficients.
- Zero-stability: `characteristic_roots` and `root_condition` (all roots of ρ in the
  closed unit disc, those on the circle simple).
- `explicit_multistep` runs any explicit formula on a uniform grid, from given starting
  values (for the numerical experiments with methods that are not zero-stable).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import torch
from torch import Tensor

from nodelib.multistep import MultistepCoefficients

__all__ = [
    "adams_coefficients",
    "bdf_coefficients",
    "characteristic_roots",
    "error_constants",
    "explicit_multistep",
    "lmm_order",
    "root_condition",
]

Poly = list[Fraction]  # coefficients in ascending powers


def _mul(p: Poly, q: Poly) -> Poly:
    out = [Fraction(0)] * (len(p) + len(q) - 1)
    for i, a in enumerate(p):
        for j, b in enumerate(q):
            out[i + j] += a * b
    return out


def _lagrange(nodes: Sequence[int], j: int) -> Poly:
    """The Lagrange basis polynomial L_j (1 at nodes[j], 0 at the other nodes)."""
    poly: Poly = [Fraction(1)]
    for m, x in enumerate(nodes):
        if m != j:
            poly = _mul(poly, [Fraction(-x, nodes[j] - x), Fraction(1, nodes[j] - x)])
    return poly


def _integral(p: Poly, a: int, b: int) -> Fraction:
    return sum(
        (c * (Fraction(b) ** (i + 1) - Fraction(a) ** (i + 1)) / (i + 1) for i, c in enumerate(p)),
        Fraction(0),
    )


def _derivative_at(p: Poly, x: int) -> Fraction:
    return sum((i * c * Fraction(x) ** (i - 1) for i, c in enumerate(p) if i), Fraction(0))


def _check_step_count(k: object, low: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < low:
        raise ValueError(f"the number of steps must be an integer >= {low}, got {k!r}.")
    return k


def adams_coefficients(steps: int, *, implicit: bool = False) -> MultistepCoefficients:
    """Adams formulas from the interpolating polynomial of f (HNW I, §III.1).

    y_{n+k} = y_{n+k-1} + ∫_{t_{n+k-1}}^{t_{n+k}} p(t) dt, where p interpolates f at
    t_n, ..., t_{n+k-1} (Adams–Bashforth, explicit, order k) or at t_n, ..., t_{n+k}
    (Adams–Moulton, implicit, order k+1). With s = (t - t_n)/h, β_j = ∫_{k-1}^{k} L_j(s) ds.

    Args:
        steps: k >= 1.
        implicit: Adams–Moulton instead of Adams–Bashforth.

    Returns:
        The coefficients as exact fractions, with their order.

    Raises:
        ValueError: steps is not an integer >= 1.
    """
    k = _check_step_count(steps, 1)
    nodes = list(range(k + 1 if implicit else k))
    beta = [_integral(_lagrange(nodes, j), k - 1, k) for j in range(len(nodes))]
    beta += [Fraction(0)] * (k + 1 - len(beta))
    alpha = [Fraction(0)] * (k - 1) + [Fraction(-1), Fraction(1)]
    kind = "adams_moulton" if implicit else "adams_bashforth"
    order = k + 1 if implicit else k
    return MultistepCoefficients(f"{kind}{order}", tuple(alpha), tuple(beta), order)


def bdf_coefficients(steps: int) -> MultistepCoefficients:
    """The backward differentiation formula of k steps (order k; HNW I, §III.1).

    The polynomial q through y_n, ..., y_{n+k} must satisfy the ODE at t_{n+k}:
    q'(t_{n+k}) = f_{n+k}, i.e. Σ_j L_j'(k) y_{n+j} = h f_{n+k}; divided by L_k'(k) so
    that α_k = 1.

    Args:
        steps: k >= 1.

    Returns:
        The coefficients as exact fractions, with their order k.

    Raises:
        ValueError: steps is not an integer >= 1.
    """
    k = _check_step_count(steps, 1)
    nodes = list(range(k + 1))
    d = [_derivative_at(_lagrange(nodes, j), k) for j in nodes]
    alpha = tuple(x / d[k] for x in d)
    beta = tuple([Fraction(0)] * k + [1 / d[k]])
    return MultistepCoefficients(f"bdf{k}", alpha, beta, k)


def _pair(alpha: Sequence[Any], beta: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    alpha, beta = list(alpha), list(beta)
    if len(alpha) < 2 or len(alpha) != len(beta):
        raise ValueError(
            f"alpha and beta need the same length k + 1 >= 2 (ascending j, zeros included); "
            f"got {len(alpha)} and {len(beta)}."
        )
    return alpha, beta


def error_constants(alpha: Sequence[Any], beta: Sequence[Any], q_max: int) -> list[Any]:
    """C_0, ..., C_{q_max}: the coefficients of the local truncation error (HNW I, §III.2).

    Putting the exact solution into the method leaves Σ_q C_q h^q y^(q)(t_n), with
    C_0 = Σ α_j and C_q = Σ_j j^q α_j / q! - Σ_j j^(q-1) β_j / (q-1)! for q >= 1.
    Consistency is C_0 = C_1 = 0, i.e. ρ(1) = 0 and ρ'(1) = σ(1).

    Args:
        alpha, beta: the coefficients, ascending j, of equal length k + 1 (numbers,
            fractions or sympy expressions).
        q_max: the last constant wanted, >= 0.

    Returns:
        [C_0, ..., C_{q_max}], in the arithmetic of the coefficients.

    Raises:
        ValueError: lengths differ or are below 2.
    """
    alpha, beta = _pair(alpha, beta)
    out = [sum(alpha)]
    for q in range(1, q_max + 1):
        a = sum(j**q * x for j, x in enumerate(alpha)) / math.factorial(q)
        b = sum(j ** (q - 1) * x for j, x in enumerate(beta)) / math.factorial(q - 1)
        out.append(a - b)
    return out


def lmm_order(
    alpha: Sequence[Any], beta: Sequence[Any], *, max_order: int = 12, tol: float = 1e-10
) -> int:
    """The order p: the largest p <= max_order with C_0 = ... = C_p = 0 (0: inconsistent).

    Args:
        alpha, beta: the coefficients (numbers or fractions), ascending j.
        max_order: the highest order tested.
        tol: |C_q| below tol * (1 + Σ|α_j| + Σ|β_j|) counts as zero.

    Returns:
        p, an integer in 0..max_order (0 when C_0 or C_1 is not zero).
    """
    constants = error_constants(alpha, beta, max_order + 1)
    scale = 1 + sum(abs(float(x)) for x in (*alpha, *beta))
    zero = [abs(float(c)) <= tol * scale for c in constants]
    if not (zero[0] and zero[1]):
        return 0
    return next((q - 1 for q in range(2, max_order + 2) if not zero[q]), max_order)


def characteristic_roots(alpha: Sequence[Any]) -> np.ndarray:
    """The roots of ρ(ζ) = Σ α_j ζ^j, a complex array of length k."""
    coeffs = np.asarray([float(x) for x in alpha])
    if coeffs.ndim != 1 or len(coeffs) < 2 or coeffs[-1] == 0:
        raise ValueError(f"alpha needs k + 1 >= 2 coefficients with α_k != 0, got {alpha!r}.")
    return np.roots(coeffs[::-1]).astype(complex)


def root_condition(alpha: Sequence[Any], *, tol: float = 1e-7, multiple_tol: float = 1e-4) -> bool:
    """Dahlquist's root condition, i.e. zero-stability (HNW I, §III.3; Süli & Mayers, §12.6).

    Every root of ρ has |ζ| <= 1, and every root with |ζ| = 1 is simple.

    Args:
        alpha: α_0, ..., α_k (ascending j).
        tol: roots within tol of the unit circle count as on it.
        multiple_tol: roots on the circle closer than this to each other count as one
            multiple root (np.roots splits a double root by about sqrt(eps)).

    Returns:
        True when the root condition holds.
    """
    roots = characteristic_roots(alpha)
    if np.any(np.abs(roots) > 1 + tol):
        return False
    on_circle = roots[np.abs(np.abs(roots) - 1) <= tol]
    gaps = np.abs(on_circle[:, None] - on_circle[None, :]) + 10 * np.eye(len(on_circle))
    return not bool(np.any(gaps <= multiple_tol))


def explicit_multistep(
    alpha: Sequence[Any],
    beta: Sequence[Any],
    f: Callable[[Tensor, Tensor], Tensor],
    t0: float,
    h: float,
    starting: Sequence[Tensor],
    n_steps: int,
) -> Tensor:
    """Run an explicit linear multistep formula on the grid t_j = t0 + j h.

    y_{n+k} = (h Σ_{j<k} β_j f_{n+j} - Σ_{j<k} α_j y_{n+j}) / α_k.

    Args:
        alpha, beta: the coefficients, ascending j, with β_k = 0 and α_k != 0.
        f: the vector field f(t, y), t a 0-d tensor.
        t0, h: the first grid time and the step.
        starting: y_0, ..., y_{k-1}, the k starting values (tensors of one shape).
        n_steps: how many steps to take after them.

    Returns:
        (k + n_steps, *shape): y_0, ..., y_{k-1+n_steps}.

    Raises:
        ValueError: the formula is implicit, or the number of starting values is not k.
    """
    alpha, beta = _pair(alpha, beta)
    k = len(alpha) - 1
    if float(beta[-1]) != 0.0 or float(alpha[-1]) == 0.0:
        raise ValueError("explicit_multistep needs β_k = 0 and α_k != 0 (an explicit formula).")
    if len(starting) != k:
        raise ValueError(f"a {k}-step method needs {k} starting values, got {len(starting)}.")
    a = [float(x) / float(alpha[-1]) for x in alpha]
    b = [float(x) / float(alpha[-1]) for x in beta]
    ys = list(starting)
    y0 = ys[0]
    fs = [
        f(torch.tensor(t0 + j * h, dtype=y0.dtype, device=y0.device), y) for j, y in enumerate(ys)
    ]
    for n in range(n_steps):
        y = sum(h * b[j] * fs[n + j] - a[j] * ys[n + j] for j in range(k))
        ys.append(y)
        fs.append(f(torch.tensor(t0 + (n + k) * h, dtype=y0.dtype, device=y0.device), y))
    return torch.stack(ys)
