"""Published coefficients of the named Butcher tableaux, as exact fractions.

Every table is typed from the cited paper as text of ``p/q`` fractions or decimals, which
``fractions.Fraction`` parses exactly; ``tableau.py`` turns the results into floats when it
builds the ``ButcherTableau`` objects, so nothing is rounded twice. Matrices are written as
their rows below the first stage (explicit methods: the first row is all zeros).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

Row = tuple[Fraction, ...]


def q(text: str) -> Row:
    """Exact numbers from text such as ``"1/5 -3/40 0.161"``."""
    return tuple(Fraction(x) for x in text.split())


def lower(rows: Sequence[str]) -> tuple[Row, ...]:
    """Full square A of an explicit method from its rows below the first (zero) one."""
    s = len(rows) + 1
    return ((Fraction(0),) * s, *(q(r) + (Fraction(0),) * (s - len(q(r))) for r in rows))


def minus(x: Row, y: Row) -> Row:
    """x - y entrywise, e.g. b_error = b - b_hat."""
    return tuple(u - v for u, v in zip(x, y, strict=True))


def hermite_quartic(b: Row, d: Row) -> tuple[Row, ...]:
    """b_dense of the quartic dense output of an FSAL pair (HNW I, Sect. II.6, code DOPRI5).

    y(t + theta h) = y0 + theta dy + theta (1 - theta) [r3 + theta (r4 + (1 - theta) r5)] with
    dy = y1 - y0 = h b.k, r3 = h k_1 - dy, r4 = dy - h k_s - r3 and r5 = h d.k. Collecting the
    powers theta, ..., theta^4 gives the four columns below (they sum to b, as they must).
    """
    s = len(b)
    e1 = q("1" + " 0" * (s - 1))  # picks k_1 = f(t, y0)
    es = q("0 " * (s - 1) + "1")  # picks k_s = f(t + h, y1) (FSAL)
    cols = (
        e1,
        tuple(3 * bi - 2 * x - y + di for bi, x, y, di in zip(b, e1, es, d, strict=True)),
        tuple(-2 * bi + x + y - 2 * di for bi, x, y, di in zip(b, e1, es, d, strict=True)),
        d,
    )
    return tuple(zip(*cols, strict=True))


# P. Bogacki & L. F. Shampine (1989), "A 3(2) pair of Runge-Kutta formulas".
BOSH3_C = q("0 1/2 3/4 1")
BOSH3_A = lower(["1/2", "0 3/4", "2/9 1/3 4/9"])
BOSH3_B = q("2/9 1/3 4/9 0")
BOSH3_B_ERROR = minus(BOSH3_B, q("7/24 1/4 1/3 1/8"))

# E. Fehlberg (1969), NASA TR R-315 (HNW I, Sect. II.4). b: 5th order, b_hat: 4th order.
FEHLBERG45_C = q("0 1/4 3/8 12/13 1 1/2")
FEHLBERG45_A = lower(
    [
        "1/4",
        "3/32 9/32",
        "1932/2197 -7200/2197 7296/2197",
        "439/216 -8 3680/513 -845/4104",
        "-8/27 2 -3544/2565 1859/4104 -11/40",
    ]
)
FEHLBERG45_B = q("16/135 0 6656/12825 28561/56430 -9/50 2/55")
FEHLBERG45_B_ERROR = minus(FEHLBERG45_B, q("25/216 0 1408/2565 2197/4104 -1/5 0"))

# J. R. Dormand & P. J. Prince (1980), "A family of embedded Runge-Kutta formulae" (HNW I,
# Sect. II.5), with Shampine's (1986) dense output coefficients d_i as printed in the
# DOPRI5 code of HNW I, Sect. II.6.
DOPRI5_C = q("0 1/5 3/10 4/5 8/9 1 1")
DOPRI5_B = q("35/384 0 500/1113 125/192 -2187/6784 11/84 0")
DOPRI5_A = lower(
    [
        "1/5",
        "3/40 9/40",
        "44/45 -56/15 32/9",
        "19372/6561 -25360/2187 64448/6561 -212/729",
        "9017/3168 -355/33 46732/5247 49/176 -5103/18656",
        "35/384 0 500/1113 125/192 -2187/6784 11/84",
    ]
)
DOPRI5_B_ERROR = minus(DOPRI5_B, q("5179/57600 0 7571/16695 393/640 -92097/339200 187/2100 1/40"))
DOPRI5_B_DENSE = hermite_quartic(
    DOPRI5_B,
    q(
        "-12715105075/11282082432 0 87487479700/32700410799 -10690763975/1880347072 "
        "701980252875/199316789632 -1453857185/822651844 69997945/29380423"
    ),
)

# Ch. Tsitouras (2011), "Runge-Kutta pairs of order 5(4) satisfying only the first column
# simplifying assumption", Comput. Math. Appl. 62(2), 770-775, Table 1 (FSAL, 7 stages).
# The paper prints 16 digits; these are the same coefficients carried to ~38 digits (solved
# to high precision from the paper's free parameters c2..c5 and its order equations, as in
# the OrdinaryDiffEq.jl tableau), so row sums and order conditions hold to full precision.
TSIT5_C = q("0 0.161 0.327 0.9 0.98002554090450968572981028628702459549 1 1")
TSIT5_A = lower(
    [
        "0.161",
        "-0.0084806554923569885444268742502307746751 0.33548065549235698854442687425023077468",
        "2.8971530571054934321304325941929387649 -6.3594484899750748431481599123838256260 "
        "4.3622954328695814110177273181908868610",
        "5.3258648284392566044288779208405113178 -11.748883564062827877747170339785772962 "
        "7.4955393428898362083046047845643581557 -0.092495066361755249256502079332071916113",
        "5.8614554429464200286592514869826478904 -12.920969317847109291706118681783359395 "
        "8.1593678985761586431804007945392534852 -0.071584973281400997224530542525829738691 "
        "-0.028269050394068382909003057212712241467",
        "0.096460766818065229518167313165128763337 0.01 0.47988965041449957477524953229059651991 "
        "1.3790085741037418931922748218568727708 -3.2900695154360806799010475857113638501 "
        "2.3247105240997739824153559183987657961",
    ]
)
TSIT5_B = TSIT5_A[-1]  # FSAL: the last row of A is b (with b_7 = 0)
# b - b_hat, where b_hat are the paper's 4th-order weights; the last entry is
# b_7 - b_hat_7 = 0 - 1/66.
TSIT5_B_ERROR = q(
    "0.0017800110522257714433785506075395347759 0.00081643445965674690322363606335468624019 "
    "-0.0078808780102619960103147276725263042386 0.14471100717326290753716514797263511672 "
    "-0.58235716545255522501993761065204217943 0.45808210592918694666163651883255429744 -1/66"
)
# Continuous extension of order 4 (paper, Sect. 4), the factored polynomials b_i(theta)
# multiplied out: row i holds the coefficients of theta, theta^2, theta^3, theta^4.
TSIT5_B_DENSE = tuple(
    map(
        q,
        (
            "1 -2.763706197274826 2.9132554618219126 -1.0530884977290216",
            "0 0.1317 -0.2234 0.1017",
            "0 3.9302962368947516 -5.941033872131505 2.490627285651253",
            "0 -12.411077166933676 30.33818863028232 -16.548102889244902",
            "0 37.50931341651104 -88.1789048947664 47.37952196281928",
            "0 -27.896526289197286 65.09189467479366 -34.87065786149661",
            "0 1.5 -4 2.5",
        ),
    )
)


# --- Implicit methods ------------------------------------------------------------------------
# Their coefficients are irrational (square roots): written as in the cited tables, a + b√r,
# and rounded once, here. Each tableau's order is checked by the order conditions on creation.
_S2, _S3, _S6, _S15 = (float(x) ** 0.5 for x in (2, 3, 6, 15))

# Gauss–Legendre collocation (Butcher 1964; HW II, §IV.5, Tables 5.1 and 5.2): s stages at the
# Gauss points, order 2s, A-stable, R(∞) = ±1 (not L-stable), symplectic.
GAUSS1_C, GAUSS1_A, GAUSS1_B = (0.5,), ((0.5,),), (1.0,)
GAUSS2_C = (0.5 - _S3 / 6, 0.5 + _S3 / 6)
GAUSS2_A = ((0.25, 0.25 - _S3 / 6), (0.25 + _S3 / 6, 0.25))
GAUSS2_B = (0.5, 0.5)
GAUSS3_C = (0.5 - _S15 / 10, 0.5, 0.5 + _S15 / 10)
GAUSS3_A = (
    (5 / 36, 2 / 9 - _S15 / 15, 5 / 36 - _S15 / 30),
    (5 / 36 + _S15 / 24, 2 / 9, 5 / 36 - _S15 / 24),
    (5 / 36 + _S15 / 30, 2 / 9 + _S15 / 15, 5 / 36),
)
GAUSS3_B = (5 / 18, 4 / 9, 5 / 18)

# Radau IIA collocation (Ehle 1969; HW II, §IV.5, Table 5.5 and 5.6): s stages, the last at
# c = 1, order 2s - 1, stiffly accurate (b = last row of A), A- and L-stable. One stage is
# backward Euler.
RADAU1_C, RADAU1_A, RADAU1_B = (1.0,), ((1.0,),), (1.0,)
RADAU2_C, RADAU2_A, RADAU2_B = (1 / 3, 1.0), ((5 / 12, -1 / 12), (3 / 4, 1 / 4)), (3 / 4, 1 / 4)
RADAU3_C = ((4 - _S6) / 10, (4 + _S6) / 10, 1.0)
RADAU3_A = (
    ((88 - 7 * _S6) / 360, (296 - 169 * _S6) / 1800, (-2 + 3 * _S6) / 225),
    ((296 + 169 * _S6) / 1800, (88 + 7 * _S6) / 360, (-2 - 3 * _S6) / 225),
    ((16 - _S6) / 36, (16 + _S6) / 36, 1 / 9),
)
RADAU3_B = RADAU3_A[-1]

# Lobatto IIIA with two stages is the trapezoidal rule as a Runge–Kutta method (HW II, §IV.5,
# Table 5.7): an explicit first stage f(t, y), A-stable, R(∞) = -1.
LOBATTO2_C, LOBATTO2_A, LOBATTO2_B = (0.0, 1.0), ((0.0, 0.0), (0.5, 0.5)), (0.5, 0.5)

# Two-stage SDIRK of order 2 with γ = 1 - √2/2 (R. Alexander 1977, SIAM J. Numer. Anal. 14,
# 1006-1021; HW II, §IV.6): stiffly accurate, L-stable, one LU per step (both a_ii = γ).
_G = 1 - _S2 / 2
SDIRK2_C, SDIRK2_A, SDIRK2_B = (_G, 1.0), ((_G, 0.0), (1 - _G, _G)), (1 - _G, _G)

# TR-BDF2 (Bank, Coughran, Fichtner, Grosse, Rose & Smith 1985; as an ESDIRK: Hosea & Shampine
# 1996, Appl. Numer. Math. 20, 21-37): a trapezoidal step to t + 2γh, then BDF2 to t + h, with
# γ = 1 - √2/2 (that is d = γ; 2γ = 2 - √2 the fraction of the trapezoidal step). Explicit first
# stage, stiffly accurate, L-stable, order 2.
_W = _S2 / 4
TRBDF2_C = (0.0, 2 * _G, 1.0)
TRBDF2_A = ((0.0, 0.0, 0.0), (_G, _G, 0.0), (_W, _W, _G))
TRBDF2_B = (_W, _W, _G)
