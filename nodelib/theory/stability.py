"""Absolute stability: what a method does to the test equation y' = λy (HNW II, §IV.2-IV.3, V.1).

With z = hλ, a Runge–Kutta method multiplies y by its stability function R(z) per step, a
rational function; a linear multistep method gives the recurrence
Σ_j (α_j - z β_j) y_{n+j} = 0, whose solutions grow unless every root ζ of the stability
polynomial ρ(ζ) - z σ(ζ) has |ζ| <= 1. The stability region is where the numerical
solution stays bounded.

- `rk_stability_polynomials(tableau)`: R = P/Q, P(z) = det(I - zA + z 1 bᵀ), Q(z) = det(I - zA),
  exact coefficients from the Faddeev–LeVerrier recursion (no eigenvalues: the nilpotent A of an
  explicit method would make np.poly inaccurate).
- `lmm_amplification(alpha, beta, z)` and `pece_amplification(...)`: the largest |ζ| for each z,
  a function that plays the role of |R(z)| in `nodelib.course.plotting.stability_region_mask`.
- `boundary_locus(alpha, beta)`: z(θ) = ρ(e^{iθ}) / σ(e^{iθ}), the curve that bounds the region.
- `real_stability_interval(R)`: the largest r with |R(x)| <= 1 on [-r, 0] (RK4: 2.785...).
- `is_a_stable(P, Q)`: no poles in Re z < 0 and |R(iy)| <= 1 on the imaginary axis.
- `schur_cohn_stable(coeffs)`: whether all roots of many polynomials lie inside the unit disc,
  without computing them (vectorised; fast enough for a grid of the plane).
- `stability_indicator(name)`: for `nodelib.course.plotting.plot_stability_region`, a function
  that is <= 1 exactly on the stability region of a method of `nodelib.METHODS`.
- `method_amplification(name)`: the growth factor of a method of `nodelib.METHODS` by name,
  every one with a fixed formula (not scipy_solver or the variable-order Adams methods); for
  the θ-methods with the θ of their name ("theta" takes `theta=`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from nodelib.multistep import AB_COEFFICIENTS, AM_COEFFICIENTS, BDF_COEFFICIENTS
from nodelib.tableau import IMPLICIT_TABLEAUS, TABLEAUS, ButcherTableau

__all__ = [
    "boundary_locus",
    "is_a_stable",
    "lmm_amplification",
    "method_amplification",
    "pece_amplification",
    "real_stability_interval",
    "rk_stability_polynomials",
    "schur_cohn_stable",
    "stability_indicator",
]


def _charpoly_ascending(M: np.ndarray) -> np.ndarray:
    """Coefficients of det(I - zM) in ascending powers of z (Faddeev–LeVerrier)."""
    n = len(M)
    c = [1.0]  # c[k]: coefficient of λ^(n-k) in det(λI - M), i.e. of z^k in det(I - zM)
    B = np.zeros_like(M)
    for k in range(1, n + 1):
        B = M @ B + c[-1] * np.eye(n)
        c.append(-float(np.trace(M @ B)) / k)
    return np.asarray(c)


def rk_stability_polynomials(tableau: ButcherTableau) -> tuple[np.ndarray, np.ndarray]:
    """R(z) = P(z) / Q(z) of a Runge–Kutta method (HNW II, §IV.3, Prop. 3.2).

    Args:
        tableau: any Butcher tableau (explicit or implicit).

    Returns:
        (P, Q): coefficients in ascending powers of z, each of length s + 1 (trailing zeros
        kept); Q = (1, 0, ..., 0) for an explicit method, whose R is the polynomial P.

    Raises:
        TypeError: tableau is not a ButcherTableau.
    """
    if not isinstance(tableau, ButcherTableau):
        raise TypeError(f"expected a ButcherTableau, got {type(tableau).__name__}.")
    A, b = np.asarray(tableau.a, float), np.asarray(tableau.b, float)
    Q = _charpoly_ascending(A)
    P = _charpoly_ascending(A - np.outer(np.ones_like(b), b))
    return P, Q


def _coefficients(values: Sequence[Any], name: str) -> np.ndarray:
    out = np.asarray([float(x) for x in values])
    if out.ndim != 1 or len(out) < 2:
        raise ValueError(f"{name} needs k + 1 >= 2 coefficients (ascending j), got {values!r}.")
    return out


def _max_root_modulus(coeffs: np.ndarray) -> np.ndarray:
    """Largest |root| of polynomials with ascending coefficients coeffs (..., k + 1)."""
    lead = coeffs[..., -1:]
    with np.errstate(all="ignore"):
        monic = coeffs[..., :-1] / lead  # (..., k)
    k = monic.shape[-1]
    companion = np.zeros((*monic.shape[:-1], k, k), dtype=complex)
    companion[..., 1:, :-1] = np.eye(k - 1)
    companion[..., :, -1] = -monic
    bad = ~np.isfinite(monic).all(-1)
    companion[bad] = 0.0
    # np.where (not item assignment) so that a single z, shape (), works too. Where the
    # leading coefficient vanishes there is a root at infinity.
    return np.where(bad, np.inf, np.abs(np.linalg.eigvals(companion)).max(-1))


def lmm_amplification(alpha: Sequence[Any], beta: Sequence[Any], z: ArrayLike) -> np.ndarray:
    """max |ζ| over the roots of ρ(ζ) - z σ(ζ), for every z (HNW II, §V.1).

    The numerical solution of y' = λy with hλ = z is bounded when this is < 1 (or = 1 at a
    simple root), so `{z : lmm_amplification(z) <= 1}` is the stability region; pass
    ``lambda z: lmm_amplification(alpha, beta, z)`` to `stability_region_mask`.

    Args:
        alpha, beta: the method's coefficients, ascending j, of equal length k + 1.
        z: complex array-like of any shape (...).

    Returns:
        Array of shape (...), inf where α_k - z β_k = 0.
    """
    a, b = _coefficients(alpha, "alpha"), _coefficients(beta, "beta")
    if len(a) != len(b):
        raise ValueError(f"alpha and beta differ in length: {len(a)} and {len(b)}.")
    z = np.asarray(z, dtype=complex)
    return _max_root_modulus(a - z[..., None] * b)


def _pece_polynomial(predictor: Any, corrector: Any, z: ArrayLike) -> np.ndarray:
    (pa, pb), (ca, cb) = [
        (_coefficients(a, "alpha"), _coefficients(b, "beta")) for a, b in (predictor, corrector)
    ]
    k = max(len(pa), len(ca))
    pa, pb, ca, cb = (np.concatenate([np.zeros(k - len(v)), v]) for v in (pa, pb, ca, cb))
    z = np.asarray(z, dtype=complex)[..., None]
    return ca - z * cb + cb[-1] * z * (pa - z * pb)  # (..., k + 1)


def pece_amplification(
    predictor: tuple[Sequence[Any], Sequence[Any]],
    corrector: tuple[Sequence[Any], Sequence[Any]],
    z: ArrayLike,
) -> np.ndarray:
    """max |ζ| for a predictor–corrector pair in PECE mode (Lambert, §4.6; HNW I, §III.1).

    With the predictor (α*, β*) explicit and the corrector (α, β) of the same step number
    k (the shorter one is padded with leading zeros), the PECE stability polynomial is
    ρ(ζ) - z σ(ζ) + β_k z (ρ*(ζ) - z σ*(ζ)).

    Args:
        predictor, corrector: (alpha, beta) pairs, ascending j.
        z: complex array-like (...).

    Returns:
        Array of shape (...).
    """
    return _max_root_modulus(_pece_polynomial(predictor, corrector, z))


def boundary_locus(alpha: Sequence[Any], beta: Sequence[Any], *, n: int = 721) -> np.ndarray:
    """The boundary locus z(θ) = ρ(e^{iθ}) / σ(e^{iθ}), θ in [0, 2π] (HNW II, §V.1).

    Where a root of ρ(ζ) - zσ(ζ) crosses the unit circle, z lies on this curve; the
    stability region is bounded by (parts of) it.

    Args:
        alpha, beta: the coefficients, ascending j.
        n: number of points.

    Returns:
        Complex array (n,); inf where σ(e^{iθ}) = 0.
    """
    a, b = _coefficients(alpha, "alpha"), _coefficients(beta, "beta")
    zeta = np.exp(1j * np.linspace(0.0, 2 * np.pi, n))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.polyval(a[::-1], zeta) / np.polyval(b[::-1], zeta)


def real_stability_interval(
    R: Callable[[np.ndarray], np.ndarray],
    *,
    x_max: float = 50.0,
    n: int = 20_001,
    tol: float = 1e-12,
) -> float:
    """The largest r such that |R(x)| <= 1 for all x in [-r, 0] (HNW II, §IV.2).

    The segment is scanned on a grid of n points (spacing x_max / (n - 1); an unstable gap
    narrower than that can be missed) and the first exit refined by bisection.

    Args:
        R: the stability function (or an amplification such as `lmm_amplification`),
            vectorised over complex arrays.
        x_max: how far to look; inf is returned when the whole of [-x_max, 0] is stable.
        n: grid points of the scan.
        tol: |R| <= 1 + tol counts as stable (|R(0)| = 1 for a consistent method).

    Returns:
        r as a float, or inf.
    """

    def stable(x: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            v = np.abs(np.asarray(R(np.asarray(x, dtype=complex))))
        return np.isfinite(v) & (v <= 1 + tol)

    xs = -np.linspace(0.0, x_max, n)
    ok = stable(xs)
    if ok.all():
        return float("inf")
    first = int(np.argmin(ok))
    if first == 0:
        return 0.0
    lo, hi = -xs[first - 1], -xs[first]  # stable at lo, unstable at hi
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if stable(np.array([-mid]))[0] else (lo, mid)
    return float(lo)


def is_a_stable(P: ArrayLike, Q: ArrayLike, *, tol: float = 1e-12) -> bool:
    """Whether R = P/Q is A-stable: |R(z)| <= 1 for all Re z <= 0 (HNW II, §IV.3).

    By the maximum principle it suffices that Q has no root with Re z <= 0, that
    deg P <= deg Q, and that |R(iy)| <= 1 on the imaginary axis, which is checked on
    4003 points y in ±[1e-4, 1e4] and 0 (a numerical test, not a proof).

    Args:
        P, Q: ascending coefficients of numerator and denominator.
        tol: tolerance on |R(iy)| - 1 and on the real parts of the poles.

    Returns:
        True when R passes the three tests.
    """
    P, Q = np.trim_zeros(np.asarray(P, float), "b"), np.trim_zeros(np.asarray(Q, float), "b")
    if len(P) > len(Q) or (len(Q) > 1 and np.any(np.roots(Q[::-1]).real <= tol)):
        return False
    ys = np.concatenate([-np.logspace(-4, 4, 2001), [0.0], np.logspace(-4, 4, 2001)])
    R = np.polyval(P[::-1], 1j * ys) / np.polyval(Q[::-1], 1j * ys)
    return bool(np.all(np.abs(R) <= 1 + tol))


_THETAS = {"backward_euler": 1.0, "trapezoid": 0.5}


def _multistep(name: str) -> tuple[str, tuple[Any, Any]] | None:
    """("lmm", (alpha, beta)) of a multistep method, ("pece", (AB pair, AM pair)), or None."""
    for prefix, table in (("adams_bashforth", AB_COEFFICIENTS), ("bdf", BDF_COEFFICIENTS)):
        digits = name[len(prefix) :]
        if name.startswith(prefix) and digits.isdigit() and int(digits) in table:
            c = table[int(digits)]
            return "lmm", (c.alpha, c.beta)
    digits = name[len("adams_moulton") :]
    if name.startswith("adams_moulton") and digits.isdigit() and int(digits) in AM_COEFFICIENTS:
        c, p = AM_COEFFICIENTS[int(digits)], AB_COEFFICIENTS[int(digits)]
        return "pece", ((p.alpha, p.beta), (c.alpha, c.beta))
    return None


def method_amplification(name: str, *, theta: float = 0.5) -> Callable[[np.ndarray], np.ndarray]:
    """|growth per step| on y' = λy as a function of z = hλ, for a method of `nodelib.METHODS`.

    Runge–Kutta tableaux give |R(z)|; the θ-methods |(1 + (1 - θ)z) / (1 - θz)|; the
    multistep methods the largest root modulus of their stability polynomial (Adams–Moulton
    as the PECE pair that `odeint` runs, with the Adams–Bashforth predictor of equal order).

    Args:
        name: a method name, e.g. "rk4", "adams_bashforth2", "adams_moulton3", "bdf2".
        theta: θ for name="theta".

    Returns:
        A function of a complex array (...) returning a real array (...), <= 1 on the
        stability region.

    Raises:
        ValueError: an unknown name.
    """
    if name in TABLEAUS or name in IMPLICIT_TABLEAUS:
        R = {**TABLEAUS, **IMPLICIT_TABLEAUS}[name].stability_function
        return lambda z: np.abs(R(z))
    if name in (*_THETAS, "theta"):
        th = _THETAS.get(name, theta)

        def theta_growth(z: np.ndarray) -> np.ndarray:
            z = np.asarray(z, dtype=complex)
            with np.errstate(all="ignore"):
                return np.abs((1 + (1 - th) * z) / (1 - th * z))

        return theta_growth
    lmm = _multistep(name)
    if lmm is not None and lmm[0] == "pece":
        return lambda z: pece_amplification(*lmm[1], z)
    if lmm is not None:
        return lambda z: lmm_amplification(*lmm[1], z)
    raise ValueError(
        f"no stability function known for method {name!r}; use a name of "
        "nodelib.METHODS, e.g. 'rk4', 'adams_bashforth2' or 'bdf2'."
    )


def schur_cohn_stable(coeffs: ArrayLike) -> np.ndarray:
    """Whether every root of each polynomial lies strictly inside the unit disc (Schur–Cohn).

    With p* the reversed conjugate polynomial (|p*| = |p| on the circle), Rouché's theorem
    gives: p has all its k roots in |ζ| < 1 iff |a_0| < |a_k| and the polynomial
    q = (conj(a_k) p - a_0 p*) / ζ of degree k - 1 has all its roots there (Schur 1917,
    Cohn 1922; Henrici, Applied and Computational Complex Analysis I, §6.8). No roots are computed,
    so a grid of 10^5 polynomials takes milliseconds.

    Args:
        coeffs: complex array (..., k + 1), ascending powers, a_k != 0.

    Returns:
        Boolean array (...); roots on the circle count as outside.
    """
    a = np.asarray(coeffs, dtype=complex)
    ok = np.ones(a.shape[:-1], dtype=bool)
    while a.shape[-1] > 1:
        a0, ak = a[..., :1], a[..., -1:]
        ok &= np.abs(a0[..., 0]) < np.abs(ak[..., 0])
        a = (np.conj(ak) * a - a0 * np.conj(a[..., ::-1]))[..., 1:]  # q, degree k - 1
        scale = np.abs(a).max(-1, keepdims=True)
        a = a / np.where(scale > 0, scale, 1.0)
    return ok


def stability_indicator(name: str, *, theta: float = 0.5) -> Callable[[np.ndarray], np.ndarray]:
    """A function of z that is <= 1 exactly on the stability region of a method; fast on grids.

    For one-step methods it is |R(z)| (as `method_amplification`); for multistep methods it
    is 0 where `schur_cohn_stable` holds for the stability polynomial and 2 elsewhere, which
    avoids computing roots on a whole grid. Pass it to
    `nodelib.course.plotting.plot_stability_region`.

    Args:
        name: a method of `nodelib.METHODS`.
        theta: θ for name="theta".

    Returns:
        A function of a complex array (...) returning a real array (...).

    Raises:
        ValueError: an unknown name.
    """
    growth = method_amplification(name, theta=theta)
    lmm = _multistep(name)
    if lmm is None:
        return growth
    if lmm[0] == "pece":
        return lambda z: np.where(schur_cohn_stable(_pece_polynomial(*lmm[1], z)), 0.0, 2.0)
    a, b = (_coefficients(v, "coefficients") for v in lmm[1])
    return lambda z: np.where(
        schur_cohn_stable(a - np.asarray(z, dtype=complex)[..., None] * b), 0.0, 2.0
    )
