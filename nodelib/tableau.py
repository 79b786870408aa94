"""Butcher tableaux: the ``ButcherTableau`` class, its order conditions, and the named methods.

A Runge–Kutta method with s stages is given by its Butcher tableau (c, A, b):
``k_i = f(t + c_i h, y + h sum_j a_ij k_j)`` and ``y_1 = y + h sum_i b_i k_i``
(HNW I, Sect. II.1). It has order p when the weights satisfy the order conditions
``b^T Psi(t) = 1/gamma(t)`` for every rooted tree t with at most p nodes (HNW I, Sect. II.2;
Butcher, "Numerical Methods for ODEs", ch. 3). Here the trees are generated recursively, so
the conditions are never typed in by hand. Every tableau checks itself when it is created.

Named tableaux: EULER, MIDPOINT, HEUN, RALSTON, HEUN3, RK4, RK38 (fixed step); HEUN_EULER,
FEHLBERG12, BOSH3, FEHLBERG45, DOPRI5, TSIT5, DOPRI8 (embedded pairs), collected in ``TABLEAUS``
(the explicit methods). Implicit tableaux, collected in ``IMPLICIT_TABLEAUS`` and stepped by
`nodelib.implicit_rk` (fixed step, Newton on the stages): IMPLICIT_MIDPOINT, GAUSS_LEGENDRE2,
GAUSS_LEGENDRE3 (Gauss: s stages, order 2s), RADAU_IIA1, RADAU_IIA2, RADAU_IIA3 (order 2s - 1),
LOBATTO_IIIA2 (the trapezoidal rule), SDIRK2 and TRBDF2.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from numpy.typing import ArrayLike

from nodelib import _dop853_coefficients as _D  # noqa: N812
from nodelib import _tableau_coefficients as _K  # noqa: N812
from nodelib.theory.order_conditions import (
    COEFFICIENT_TOL,
    elementary_weight,
    order_of_weights,
    rooted_trees,
    tree_density,
    tree_order,
)

__all__ = [
    "BOSH3",
    "DOPRI5",
    "DOPRI8",
    "EULER",
    "FEHLBERG12",
    "FEHLBERG45",
    "GAUSS_LEGENDRE2",
    "GAUSS_LEGENDRE3",
    "HEUN",
    "HEUN3",
    "HEUN_EULER",
    "IMPLICIT_MIDPOINT",
    "IMPLICIT_TABLEAUS",
    "LOBATTO_IIIA2",
    "MIDPOINT",
    "RADAU_IIA1",
    "RADAU_IIA2",
    "RADAU_IIA3",
    "RALSTON",
    "RK4",
    "RK38",
    "SDIRK2",
    "TABLEAUS",
    "TRBDF2",
    "TSIT5",
    "ButcherTableau",
    "elementary_weight",
    "order_of_weights",
    "rooted_trees",
    "tree_density",
    "tree_order",
]

_DENSE_THETAS = (0.3, 0.5, 0.77)  # generic points where the continuous order is checked


def _reals(value: object, what: str) -> tuple[float, ...]:
    try:
        out = tuple(float(x) for x in value)  # type: ignore[attr-defined]
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be a sequence of real numbers, got {value!r}") from exc
    if not all(np.isfinite(out)):
        raise ValueError(f"{what} contains inf or nan: {out}")
    return out


def _check(ok: bool, name: str, message: str) -> None:
    if not ok:
        raise ValueError(f"Butcher tableau {name!r}: {message}")


def _near(x: float, y: float, magnitude: float) -> bool:
    return abs(x - y) <= COEFFICIENT_TOL * max(1.0, magnitude)


def _check_declared_order(name: str, what: str, found: int, declared: int | None) -> None:
    """A declared order must agree with the order conditions, which are checked up to 5."""
    ok = (
        isinstance(declared, int)
        and found >= min(declared, 5)
        and (declared >= 5 or found == declared)
    )
    _check(
        ok,
        name,
        f"{what}={declared!r} was declared, but the order conditions (checked up "
        f"to order 5) hold up to order {found}. A coefficient is wrong (compare with the "
        f"reference), or declare {what}={found}.",
    )


@dataclass(frozen=True)
class ButcherTableau:
    """A Runge–Kutta method (c, A, b), optionally with an embedded pair and dense output.

    Coefficients may be any real numbers (``Fraction`` included); they are stored as tuples of
    floats. Creation raises ``ValueError`` (saying what to fix) for wrong shapes, row sums of
    ``a`` that differ from ``c``, ``sum(b) != 1``, ``sum(b_error) != 0``, an inconsistent FSAL
    flag or dense extension, and an ``order``, ``embedded_order`` or ``dense_order`` that the
    order conditions contradict.
    """

    name: str
    c: tuple[float, ...]
    a: tuple[tuple[float, ...], ...]
    b: tuple[float, ...]
    order: int
    b_error: tuple[float, ...] | None = None
    embedded_order: int | None = None
    fsal: bool = False
    b_dense: tuple[tuple[float, ...], ...] | None = None
    dense_order: int | None = None
    reference: str = ""

    def __post_init__(self) -> None:
        put = object.__setattr__  # the dataclass is frozen: store the float tuples once, here
        for f in ("c", "b", "b_error", "a", "b_dense"):
            v = getattr(self, f)
            if v is not None and f in ("a", "b_dense"):
                put(
                    self,
                    f,
                    tuple(_reals(r, f"{self.name}: row {i} of {f}") for i, r in enumerate(v)),
                )
            elif v is not None:
                put(self, f, _reals(v, f"{self.name}: {f}"))
        self._check_shapes()
        self._check_sums()
        self._check_orders()

    def _check_shapes(self) -> None:
        n, s = self.name, len(self.c)
        _check(s > 0, n, "c is empty; a tableau needs at least one stage.")
        _check(
            len(self.a) == s and all(len(r) == s for r in self.a),
            n,
            f"a must be a full "
            f"{s}x{s} array (s = len(c)), zeros included; got rows of lengths "
            f"{[len(r) for r in self.a]}.",
        )
        for f in ("b", "b_error", "b_dense"):
            v = getattr(self, f)
            _check(v is None or len(v) == s, n, f"{f} needs one entry per stage ({s}).")
        _check(
            self.b_dense is None or len({len(r) for r in self.b_dense}) == 1,
            n,
            "all rows of b_dense need the same number of coefficients (theta^1, ...).",
        )
        _check(
            isinstance(self.order, int) and self.order >= 1,
            n,
            f"order must be a positive int, got {self.order!r}.",
        )
        for data, f in (("b_error", "embedded_order"), ("b_dense", "dense_order")):
            _check(
                (getattr(self, data) is None) == (getattr(self, f) is None),
                n,
                f"give {f} exactly when {data} is given.",
            )

    def _check_sums(self) -> None:
        n = self.name
        for i, (row, ci) in enumerate(zip(self.a, self.c, strict=True)):
            _check(
                _near(sum(row), ci, sum(map(abs, row))),
                n,
                f"row {i} of a sums to "
                f"{sum(row)!r}, not c[{i}] = {ci!r}; the nodes are the row sums "
                f"c_i = sum_j a_ij. Fix a[{i}] or set c[{i}] to the row sum.",
            )
        _check(
            _near(sum(self.b), 1.0, sum(map(abs, self.b))),
            n,
            f"sum(b) = {sum(self.b)!r}; the weights of a consistent method sum to 1.",
        )
        if self.b_error is not None:
            _check(
                _near(sum(self.b_error), 0.0, sum(map(abs, self.b_error))),
                n,
                f"sum(b_error) = {sum(self.b_error)!r}, but b_error = b - b_hat sums to 0.",
            )
        _check(
            not self.fsal
            or (self.c[-1] == 1.0 and np.allclose(self.a[-1], self.b, 0, COEFFICIENT_TOL)),
            n,
            "fsal=True needs c[-1] = 1 and a[-1] = b; fix them or set fsal=False.",
        )
        if self.b_dense is not None:
            at_one = [sum(r) for r in self.b_dense]
            _check(
                np.allclose(at_one, self.b, rtol=0.0, atol=1e-11),
                n,
                f"b_i(theta=1) = {at_one} differs from b; row i of b_dense must sum to b[i].",
            )

    def _check_orders(self) -> None:
        n = self.name
        _check_declared_order(n, "order", self.satisfied_order(5), self.order)
        if self.b_error is not None:
            _check(
                isinstance(self.embedded_order, int) and 1 <= self.embedded_order < self.order,
                n,
                f"embedded_order must be in 1..order-1 (the error estimate compares with "
                f"a lower-order b_hat = b - b_error), got {self.embedded_order!r}.",
            )
            found = self.satisfied_order(5, weights=self.b_hat)
            _check_declared_order(n, "embedded_order", found, self.embedded_order)
        if self.b_dense is not None:
            found = min(
                self.satisfied_order(5, weights=self.dense_weights(th), theta=th)
                for th in _DENSE_THETAS
            )
            _check_declared_order(n, "dense_order", found, self.dense_order)

    @property
    def stages(self) -> int:
        """Number of stages s."""
        return len(self.c)

    @property
    def is_explicit(self) -> bool:
        """True when a is strictly lower triangular (each stage uses only earlier ones)."""
        return all(x == 0.0 for i, row in enumerate(self.a) for x in row[i:])

    @property
    def is_adaptive(self) -> bool:
        """True when the tableau carries an embedded error estimate (b_error)."""
        return self.b_error is not None

    @property
    def b_hat(self) -> tuple[float, ...] | None:
        """Weights of the embedded lower-order solution, b - b_error (None if not adaptive)."""
        if self.b_error is None:
            return None
        return tuple(x - e for x, e in zip(self.b, self.b_error, strict=True))

    def satisfied_order(
        self, max_order: int = 5, *, weights: ArrayLike | None = None, theta: float = 1.0
    ) -> int:
        """Highest p <= max_order for which all order conditions up to order p hold.

        Args:
            max_order: highest order tested (1..10).
            weights: weights to test instead of b, for example ``self.b_hat``.
            theta: test continuous-extension conditions at theta (see :func:`order_of_weights`).

        Returns:
            The order p (0 if even sum(weights) = theta fails).
        """
        w = self.b if weights is None else weights
        return order_of_weights(self.a, w, max_order=max_order, theta=theta)

    def dense_weights(self, theta: ArrayLike) -> np.ndarray:
        """Continuous weights b_i(theta) = sum_j b_dense[i][j] theta^(j+1) (HNW I, Sect. II.6).

        Args:
            theta: array-like of fractions of the step, shape (...).

        Returns:
            Array of shape (..., s).

        Raises:
            ValueError: if the tableau has no continuous extension (b_dense is None).
        """
        if self.b_dense is None:
            raise ValueError(
                f"{self.name} has no continuous extension (b_dense is None); "
                f"use Hermite interpolation between the steps instead."
            )
        P = np.asarray(self.b_dense)  # (s, m)
        powers = np.asarray(theta, float)[..., None, None] ** np.arange(1, P.shape[1] + 1)
        return (P * powers).sum(-1)  # (..., s)

    def stability_function(self, z: ArrayLike) -> np.ndarray:
        """R(z) = 1 + z b^T (I - z A)^{-1} 1, the growth factor for y' = lambda y, z = h lambda.

        Explicit tableaux use forward substitution; implicit ones the determinant formula
        R(z) = det(I - zA + z 1 b^T) / det(I - zA) (HNW II, Sect. IV.3), which gives
        inf or nan at the poles of R.

        Args:
            z: complex array-like of any shape (...).

        Returns:
            Complex array of shape (...).
        """
        z = np.asarray(z, dtype=complex)
        A, b = np.asarray(self.a), np.asarray(self.b)
        if self.is_explicit:
            g = []  # g_i = ((I - zA)^{-1} 1)_i, each of shape (...)
            for i in range(self.stages):
                g.append(1.0 + z * sum((A[i, j] * g[j] for j in range(i)), np.zeros_like(z)))
            return 1.0 + z * sum(bi * gi for bi, gi in zip(b, g, strict=True))
        zz = z[..., None, None]  # (..., 1, 1)
        M = np.eye(self.stages) - zz * A  # (..., s, s)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.linalg.det(M + zz * np.outer(np.ones_like(b), b)) / np.linalg.det(M)

    def __repr__(self) -> str:
        extra = f", embedded_order={self.embedded_order}" if self.is_adaptive else ""
        extra += ", fsal=True" if self.fsal else ""
        extra += f", dense_order={self.dense_order}" if self.b_dense is not None else ""
        return f"ButcherTableau({self.name!r}, stages={self.stages}, order={self.order}{extra})"

    def __str__(self) -> str:
        head = [f"{self.stages} stages", f"order {self.order}"]
        head += [f"embedded order {self.embedded_order}"] if self.is_adaptive else []
        head += ["FSAL"] if self.fsal else []
        head += [f"dense output of order {self.dense_order}"] if self.b_dense is not None else []
        explicit = self.is_explicit  # print only the strictly lower triangle
        rows = [
            [_fmt(ci), *map(_fmt, row[: i if explicit else None])]
            for i, (ci, row) in enumerate(zip(self.c, self.a, strict=True))
        ]
        rows += [["b", *map(_fmt, self.b)]]
        rows += [["b_hat", *map(_fmt, self.b_hat)]] if self.b_hat is not None else []
        width = [max(len(r[j]) for r in rows if j < len(r)) for j in range(self.stages + 1)]
        lines = [f"{self.name}: {', '.join(head)}"]
        for k, r in enumerate(rows):
            if k == self.stages:
                lines.append("-" * (width[0] + 1) + "+" + "-" * (sum(width[1:]) + 2 * self.stages))
            cells = "  ".join(x.rjust(w) for x, w in zip(r[1:], width[1:], strict=False))
            lines.append(f"{r[0].rjust(width[0])} | {cells}".rstrip())
        return "\n".join(lines)


def _fmt(x: float) -> str:
    """A coefficient as a short fraction when it is one, else 6 significant digits."""
    q = Fraction(x).limit_denominator(100_000)
    return str(q) if abs(float(q) - x) <= 1e-15 * max(1.0, abs(x)) else f"{x:.6g}"


_HNW = "Hairer, Nørsett & Wanner, Solving ODEs I, Sect. II.1"
_q, _lower = _K.q, _K.lower

EULER = ButcherTableau(
    "euler", c=(0,), a=((0,),), b=(1,), order=1, reference="L. Euler (1768); " + _HNW
)
MIDPOINT = ButcherTableau(
    "midpoint",
    c=_q("0 1/2"),
    a=_lower(["1/2"]),
    b=_q("0 1"),
    order=2,
    reference="C. Runge (1895), Math. Ann. 46, 167-178; " + _HNW,
)
HEUN = ButcherTableau(
    "heun",
    c=_q("0 1"),
    a=_lower(["1"]),
    b=_q("1/2 1/2"),
    order=2,
    reference="K. Heun (1900), Z. Math. Phys. 45, 23-38; " + _HNW,
)
RALSTON = ButcherTableau(
    "ralston",
    c=_q("0 2/3"),
    a=_lower(["2/3"]),
    b=_q("1/4 3/4"),
    order=2,
    reference="A. Ralston (1962), Math. Comp. 16, 431-437",
)
HEUN3 = ButcherTableau(
    "heun3",
    c=_q("0 1/3 2/3"),
    a=_lower(["1/3", "0 2/3"]),
    b=_q("1/4 0 3/4"),
    order=3,
    reference="K. Heun (1900), Z. Math. Phys. 45, 23-38; HNW I, Sect. II.1, Table 1.1",
)
RK4 = ButcherTableau(
    "rk4",
    c=_q("0 1/2 1/2 1"),
    a=_lower(["1/2", "0 1/2", "0 0 1"]),
    b=_q("1/6 1/3 1/3 1/6"),
    order=4,
    reference="W. Kutta (1901), Z. Math. Phys. 46, 435-453; " + _HNW,
)
RK38 = ButcherTableau(
    "rk38",
    c=_q("0 1/3 2/3 1"),
    a=_lower(["1/3", "-1/3 1", "1 -1 1"]),
    b=_q("1/8 3/8 3/8 1/8"),
    order=4,
    reference="W. Kutta (1901), the 3/8-rule; " + _HNW,
)

# Embedded pairs: b has order `order`, b_hat = b - b_error the lower `embedded_order`.
HEUN_EULER = ButcherTableau(
    "heun_euler",
    c=_q("0 1"),
    a=_lower(["1"]),
    b=_q("1/2 1/2"),
    order=2,
    b_error=_q("-1/2 1/2"),
    embedded_order=1,
    reference="Heun's method with Euler embedded; HNW I, Sect. II.4",
)
# Fehlberg's RK1(2): b_hat (order 1) is the last stage's argument; as in the other pairs (and in
# torchdiffeq's fehlberg2) the higher-order b is propagated, so f(t + h, y1) is not a stage and
# the pair is not FSAL. The estimate measures b_hat's error, whose leading term carries the
# factor b_hat·c - 1/2 = -1/512: the propagated solution's error is not what it measures and
# can exceed the tolerance by a factor of hundreds (tests/test_heun3_fehlberg12.py).
FEHLBERG12 = ButcherTableau(
    "fehlberg12",
    c=_q("0 1/2 1"),
    a=_lower(["1/2", "1/256 255/256"]),
    b=_q("1/512 255/256 1/512"),
    order=2,
    b_error=_q("-1/512 0 1/512"),
    embedded_order=1,
    reference="E. Fehlberg (1969), NASA TR R-315, the RK1(2) pair; HNW I, Sect. II.4",
)
BOSH3 = ButcherTableau(
    "bosh3",
    c=_K.BOSH3_C,
    a=_K.BOSH3_A,
    b=_K.BOSH3_B,
    order=3,
    b_error=_K.BOSH3_B_ERROR,
    embedded_order=2,
    fsal=True,
    reference="P. Bogacki & L. F. Shampine (1989), Appl. Math. Lett. 2(4), 321-325",
)
# Fehlberg propagated the 4th-order solution; here, as in the other pairs, the 5th-order one
# is propagated (local extrapolation) and the 4th-order one only estimates the error.
FEHLBERG45 = ButcherTableau(
    "fehlberg45",
    c=_K.FEHLBERG45_C,
    a=_K.FEHLBERG45_A,
    b=_K.FEHLBERG45_B,
    order=5,
    b_error=_K.FEHLBERG45_B_ERROR,
    embedded_order=4,
    reference="E. Fehlberg (1969), NASA TR R-315; HNW I, Sect. II.4",
)
DOPRI5 = ButcherTableau(
    "dopri5",
    c=_K.DOPRI5_C,
    a=_K.DOPRI5_A,
    b=_K.DOPRI5_B,
    order=5,
    b_error=_K.DOPRI5_B_ERROR,
    embedded_order=4,
    fsal=True,
    b_dense=_K.DOPRI5_B_DENSE,
    dense_order=4,
    reference="J. R. Dormand & P. J. Prince (1980), J. Comput. Appl. Math. 6(1), 19-26; dense "
    "output: L. F. Shampine (1986), Math. Comp. 46, 135-150, as in HNW I, Sect. II.6",
)
TSIT5 = ButcherTableau(
    "tsit5",
    c=_K.TSIT5_C,
    a=_K.TSIT5_A,
    b=_K.TSIT5_B,
    order=5,
    b_error=_K.TSIT5_B_ERROR,
    embedded_order=4,
    fsal=True,
    b_dense=_K.TSIT5_B_DENSE,
    dense_order=4,
    reference="Ch. Tsitouras (2011), Comput. Math. Appl. 62(2), 770-775",
)
# Dormand & Prince's 8th-order method with Hairer's 5th-order embedded row (DOP853): 12
# stages and the FSAL stage f(t + h, y1). `nodelib.dop853` adds the 3rd-order estimate
# Hairer combines with this one and the 7th-order dense output.
DOPRI8 = ButcherTableau(
    "dopri8",
    c=_D.C[:13],
    a=tuple(row[:13] for row in _D.A[:13]),
    b=_D.B,
    order=8,
    b_error=_D.ERROR5,
    embedded_order=5,
    fsal=True,
    reference="J. R. Dormand & P. J. Prince, with E. Hairer's 5(3) error estimator and 7th-order "
    "dense output: HNW I, 2nd ed. (1993), Sect. II.10, and Hairer's code DOP853",
)

TABLEAUS: dict[str, ButcherTableau] = {
    t.name: t
    for t in (
        EULER,
        MIDPOINT,
        HEUN,
        RALSTON,
        HEUN3,
        RK4,
        RK38,
        HEUN_EULER,
        FEHLBERG12,
        BOSH3,
        FEHLBERG45,
        DOPRI5,
        TSIT5,
        DOPRI8,
    )
}

# Implicit tableaux (coefficients in `_tableau_coefficients`), stepped by `nodelib.implicit_rk`.
_HW = "Hairer & Wanner, Solving ODEs II, Sect. IV.5"


def _implicit(name: str, c, a, b, order: int, reference: str) -> ButcherTableau:
    return ButcherTableau(name, c=c, a=a, b=b, order=order, reference=reference)


IMPLICIT_MIDPOINT = _implicit(
    "implicit_midpoint", _K.GAUSS1_C, _K.GAUSS1_A, _K.GAUSS1_B, 2,
    "the one-stage Gauss method; " + _HW,
)  # fmt: skip
GAUSS_LEGENDRE2 = _implicit(
    "gauss_legendre2", _K.GAUSS2_C, _K.GAUSS2_A, _K.GAUSS2_B, 4,
    "J. C. Butcher (1964), Math. Comp. 18, 50-64; HNW I, Sect. II.7; " + _HW,
)  # fmt: skip
GAUSS_LEGENDRE3 = _implicit(
    "gauss_legendre3", _K.GAUSS3_C, _K.GAUSS3_A, _K.GAUSS3_B, 6,
    "J. C. Butcher (1964), Math. Comp. 18, 50-64; " + _HW + ", Table 5.2",
)  # fmt: skip
RADAU_IIA1 = _implicit(
    "radau_iia1", _K.RADAU1_C, _K.RADAU1_A, _K.RADAU1_B, 1,
    "backward Euler as the one-stage Radau IIA method; " + _HW,
)  # fmt: skip
RADAU_IIA2 = _implicit(
    "radau_iia2", _K.RADAU2_C, _K.RADAU2_A, _K.RADAU2_B, 3,
    "B. L. Ehle (1969), thesis, Univ. of Waterloo; " + _HW + ", Table 5.5",
)  # fmt: skip
RADAU_IIA3 = _implicit(
    "radau_iia3", _K.RADAU3_C, _K.RADAU3_A, _K.RADAU3_B, 5,
    "B. L. Ehle (1969); " + _HW + ", Table 5.6 (the method of the code RADAU5)",
)  # fmt: skip
LOBATTO_IIIA2 = _implicit(
    "lobatto_iiia2", _K.LOBATTO2_C, _K.LOBATTO2_A, _K.LOBATTO2_B, 2,
    "the trapezoidal rule as the two-stage Lobatto IIIA method; " + _HW + ", Table 5.7",
)  # fmt: skip
SDIRK2 = _implicit(
    "sdirk2", _K.SDIRK2_C, _K.SDIRK2_A, _K.SDIRK2_B, 2,
    "R. Alexander (1977), SIAM J. Numer. Anal. 14, 1006-1021; HW II, Sect. IV.6",
)  # fmt: skip
TRBDF2 = _implicit(
    "trbdf2", _K.TRBDF2_C, _K.TRBDF2_A, _K.TRBDF2_B, 2,
    "R. E. Bank et al. (1985), IEEE Trans. CAD 4, 436-451; M. E. Hosea & L. F. Shampine "
    "(1996), Appl. Numer. Math. 20, 21-37",
)  # fmt: skip

IMPLICIT_TABLEAUS: dict[str, ButcherTableau] = {
    t.name: t
    for t in (
        IMPLICIT_MIDPOINT,
        GAUSS_LEGENDRE2,
        GAUSS_LEGENDRE3,
        RADAU_IIA1,
        RADAU_IIA2,
        RADAU_IIA3,
        LOBATTO_IIIA2,
        SDIRK2,
        TRBDF2,
    )
}
