"""Tests of nodelib.tableau: rooted trees, validation, order, stability functions, dense output.

The exact order conditions are cross-checked three ways: against hand-written conditions for
small trees, against perturbed coefficients (the check must fail), and numerically, by the
convergence rate of a fixed-step numpy Runge–Kutta loop written here.
"""

from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

from nodelib.tableau import (
    DOPRI5,
    DOPRI8,
    EULER,
    HEUN,
    HEUN_EULER,
    RK4,
    TABLEAUS,
    ButcherTableau,
    elementary_weight,
    order_of_weights,
    rooted_trees,
    tree_density,
    tree_order,
)

SPEC_NAMES = [
    "euler",
    "midpoint",
    "heun",
    "ralston",
    "heun3",
    "rk4",
    "rk38",
    "heun_euler",
    "fehlberg12",
    "bosh3",
    "fehlberg45",
    "dopri5",
    "tsit5",
    "dopri8",
]
ALL = [TABLEAUS[n] for n in SPEC_NAMES]
ADAPTIVE = [t for t in ALL if t.is_adaptive]
DENSE = [t for t in ALL if t.b_dense is not None]
MULTISTAGE = [t for t in ALL if t.stages > 1]
# A perturbed A with unchanged nodes breaks conditions of order 3 and up only.
THREE_PLUS = [t for t in ALL if t.stages > 2 and t.order > 2]


def _ids(tabs):
    return [t.name for t in tabs]


def _stages(tab: ButcherTableau, f, t: float, y: np.ndarray, h: float) -> np.ndarray:
    """The stage derivatives k (s, dim) of one explicit Runge–Kutta step."""
    A, k = np.asarray(tab.a), []
    for i in range(tab.stages):
        k.append(f(t + tab.c[i] * h, y + h * sum((A[i, j] * k[j] for j in range(i)), 0 * y)))
    return np.array(k)


def _solve(tab, f, y0, T: float, n: int, weights=None) -> np.ndarray:
    """n fixed steps of size T/n from t=0 with the given weights (default b)."""
    w, y, h = np.asarray(tab.b if weights is None else weights), np.array(y0, float), T / n
    for m in range(n):
        y = y + h * w @ _stages(tab, f, m * h, y, h)
    return y


def _slope(hs, errs) -> float:
    return float(np.polyfit(np.log(hs), np.log(errs), 1)[0])


# A nonlinear, non-autonomous problem with a closed-form solution: the limit cycle
# r' = r (1 - r^2), phi' = 1 run on the clock s(t) = t + sin(t)/2.
def _cycle(t, y):
    r2 = y[0] ** 2 + y[1] ** 2
    return (1 + 0.5 * np.cos(t)) * np.array([-y[1] + y[0] * (1 - r2), y[0] + y[1] * (1 - r2)])


def _cycle_exact(t):
    s = t + 0.5 * np.sin(t)
    return np.array([np.cos(s), np.sin(s)]) / np.sqrt(1 + 3 * np.exp(-2 * s))  # r(0) = 1/2


# ------------------------------------------------------------------------------ rooted trees


def test_tree_counts_and_densities():
    assert [len(rooted_trees(n)) for n in range(1, 9)] == [1, 1, 2, 4, 9, 20, 48, 115]
    assert sum(len(rooted_trees(n)) for n in range(1, 6)) == 17
    assert all(tree_order(t) == n for n in range(1, 8) for t in rooted_trees(n))
    assert sorted(map(tree_density, rooted_trees(4))) == [4, 8, 12, 24]
    assert sorted(map(tree_density, rooted_trees(5))) == [5, 10, 15, 20, 20, 30, 40, 60, 120]
    with pytest.raises(ValueError, match="order"):
        rooted_trees(0)


def test_elementary_weights_match_hand_written_conditions():
    rng = np.random.default_rng(0)
    A = np.tril(rng.normal(size=(4, 4)), -1)
    b, c = rng.normal(size=4), A.sum(1)
    hand = {3: [b @ c**2, b @ A @ c], 4: [b @ c**3, b @ (c * (A @ c)), b @ A @ c**2, b @ A @ A @ c]}
    for p, values in hand.items():
        ours = sorted(elementary_weight(t, A, b) for t in rooted_trees(p))
        np.testing.assert_allclose(ours, sorted(values), rtol=1e-12)
    bushy5 = elementary_weight(((), (), (), ()), A, b)
    assert bushy5 == pytest.approx(b @ c**4, rel=1e-12)


# -------------------------------------------------------------------------- named tableaux


def test_registry_has_the_spec_names():
    assert sorted(TABLEAUS) == sorted(SPEC_NAMES)
    assert all(TABLEAUS[n].name == n and TABLEAUS[n].reference for n in SPEC_NAMES)
    assert all(t.is_explicit for t in ALL)
    assert {t.name for t in ALL if t.fsal} == {"bosh3", "dopri5", "tsit5", "dopri8"}
    assert {t.name for t in ADAPTIVE} == set(SPEC_NAMES[7:])
    assert {t.name for t in DENSE} == {"dopri5", "tsit5"}


@pytest.mark.parametrize("tab", ALL, ids=_ids(ALL))
def test_satisfied_order_matches_declared(tab):
    assert tab.satisfied_order() == min(tab.order, 5)
    assert tab.satisfied_order(max_order=min(tab.order + 1, 9)) == tab.order
    if tab.is_adaptive:
        assert tab.satisfied_order(weights=tab.b_hat) == min(tab.embedded_order, 5)
        assert np.isclose(sum(tab.b_error), 0.0, atol=1e-14)
        assert all(isinstance(x, float) for x in tab.b + tab.c + tab.b_error)


def test_dopri8_order_conditions_up_to_order_eight():
    # DOP853: order 8, Hairer's embedded row of order 5 (nodelib.dop853 adds the 3rd-order one).
    assert DOPRI8.satisfied_order(max_order=9) == 8
    assert DOPRI8.satisfied_order(max_order=8, weights=DOPRI8.b_hat) == 5


@pytest.mark.parametrize("tab", MULTISTAGE, ids=_ids(MULTISTAGE))
def test_perturbed_weights_are_caught(tab):
    b = list(tab.b)
    b[0], b[1] = b[0] + 1e-3, b[1] - 1e-3  # still sums to 1
    assert order_of_weights(tab.a, b) < min(tab.order, 5)
    with pytest.raises(ValueError, match="order"):
        replace(
            tab,
            b=tuple(b),
            fsal=False,
            b_error=None,
            embedded_order=None,
            b_dense=None,
            dense_order=None,
        )


@pytest.mark.parametrize("tab", THREE_PLUS, ids=_ids(THREE_PLUS))
def test_perturbed_matrix_is_caught(tab):
    i = max(i for i in range(tab.stages) if tab.b[i] != 0)  # a stage that is used
    a = [list(r) for r in tab.a]
    a[i][0], a[i][1] = a[i][0] - 1e-3, a[i][1] + 1e-3  # row sum (node c_i) unchanged
    a = tuple(map(tuple, a))
    assert order_of_weights(a, tab.b) < min(tab.order, 5)
    with pytest.raises(ValueError, match="order"):
        replace(tab, a=a, fsal=False)


def test_euler_perturbed_weight_is_caught():
    assert order_of_weights(EULER.a, [1.001]) == 0
    with pytest.raises(ValueError, match=r"sum\(b\)"):
        replace(EULER, b=(1.001,))


# ---------------------------------------------------------------------------- validation


def test_fractions_are_accepted_and_stored_as_floats():
    t = ButcherTableau(
        "heun", c=[0, 1], a=[[0, 0], [Fraction(1), 0]], b=[Fraction(1, 2)] * 2, order=2
    )
    assert t == replace(HEUN, reference="") and hash(t) == hash(replace(HEUN, reference=""))
    assert isinstance(t.a[1][0], float) and isinstance(t.b, tuple)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"c": (0.0, 0.5, 0.6, 1.0)}, "row 2 of a"),
        ({"b": (0.2, 1 / 3, 1 / 3, 1 / 6)}, r"sum\(b\)"),
        (
            {"a": ((0.0,) * 4, (0.5, 0.0, 0.0), (0.0, 0.5, 0.0, 0.0), (0.0, 0.0, 1.0, 0.0))},
            "full 4x4",
        ),
        ({"b": (0.5, 0.5)}, "b needs one entry per stage"),
        ({"order": 3}, "order=3"),
        ({"order": 5}, "order=5"),
        ({"order": 0}, "positive int"),
        ({"fsal": True}, "fsal"),
        ({"b_error": (-0.1, 0.0, 0.0, 0.1)}, "embedded_order exactly"),
        ({"b_dense": ((1 / 6,), (1 / 3,), (1 / 3,), (1 / 6,))}, "dense_order exactly"),
        ({"c": (0.0, 0.5, float("nan"), 1.0)}, "nan"),
    ],
)
def test_invalid_tableaux_raise(change, match):
    with pytest.raises(ValueError, match=match):
        replace(RK4, **change)


def test_invalid_embedded_and_dense_data_raise():
    with pytest.raises(ValueError, match=r"sum\(b_error\)"):
        replace(HEUN_EULER, b_error=(-0.5, 0.6))
    with pytest.raises(ValueError, match="embedded_order=1"):
        replace(TABLEAUS["bosh3"], embedded_order=1)
    with pytest.raises(ValueError, match="embedded_order must be in"):
        replace(DOPRI5, embedded_order=5)
    with pytest.raises(ValueError, match="dense_order=3"):
        replace(DOPRI5, dense_order=3)
    dense = [list(r) for r in DOPRI5.b_dense]
    dense[2][1], dense[2][2] = dense[2][1] + 1e-3, dense[2][2] - 1e-3  # b_3(1) unchanged
    with pytest.raises(ValueError, match="dense_order"):
        replace(DOPRI5, b_dense=tuple(map(tuple, dense)))
    dense[2][2] += 1e-3 + 1e-6  # now b_3(1) != b_3
    with pytest.raises(ValueError, match="theta=1"):
        replace(DOPRI5, b_dense=tuple(map(tuple, dense)))
    with pytest.raises(TypeError, match="real numbers"):
        replace(RK4, b=("1/6", 1 / 3, 1 / 3, 1 / 6))


# ---------------------------------------------------------------------- stability function


def test_stability_function_of_euler_and_rk4_are_taylor_polynomials():
    x, y = np.meshgrid(np.linspace(-3, 1, 9), np.linspace(-3, 3, 7))
    z = x + 1j * y  # (7, 9)
    r4 = RK4.stability_function(z)
    assert r4.shape == z.shape and np.iscomplexobj(r4)
    np.testing.assert_allclose(r4, 1 + z + z**2 / 2 + z**3 / 6 + z**4 / 24, rtol=1e-13)
    np.testing.assert_allclose(EULER.stability_function(z), 1 + z, rtol=1e-15)
    assert EULER.stability_function(-1.0).shape == ()


def test_stability_function_of_implicit_tableaux():
    z = np.array([-50.0, -2.0 + 3.0j, -0.5, 0.3j, 0.5 - 0.5j, 3.0])
    backward_euler = ButcherTableau("backward_euler", c=(1,), a=((1,),), b=(1,), order=1)
    assert not backward_euler.is_explicit
    np.testing.assert_allclose(backward_euler.stability_function(z), 1 / (1 - z), rtol=1e-13)
    r3 = math.sqrt(3) / 6
    gauss = ButcherTableau(
        "gauss2",
        c=(0.5 - r3, 0.5 + r3),
        a=((0.25, 0.25 - r3), (0.25 + r3, 0.25)),
        b=(0.5, 0.5),
        order=4,
    )
    pade = (1 + z / 2 + z**2 / 12) / (1 - z / 2 + z**2 / 12)
    np.testing.assert_allclose(gauss.stability_function(z), pade, rtol=1e-12)


@pytest.mark.parametrize("tab", ALL, ids=_ids(ALL))
def test_stability_function_definition_and_order(tab):
    z = np.array([-1.5 + 0.5j, 0.7j, -0.2])
    A, b, one = np.asarray(tab.a), np.asarray(tab.b), np.ones(tab.stages)
    direct = [1 + zk * b @ np.linalg.solve(np.eye(tab.stages) - zk * A, one) for zk in z]
    np.testing.assert_allclose(tab.stability_function(z), direct, rtol=1e-12)
    # R is a polynomial of degree <= s; its coefficients (by FFT on the unit circle) must be
    # those of exp(z) up to z^p for a method of order p (HNW II, Sect. IV.2).
    n = 32
    coef = np.fft.fft(tab.stability_function(np.exp(2j * np.pi * np.arange(n) / n))) / n
    taylor = [1 / math.factorial(k) for k in range(tab.order + 1)]
    np.testing.assert_allclose(coef[: tab.order + 1], taylor, rtol=0, atol=1e-14)
    np.testing.assert_allclose(coef[tab.stages + 1 :], 0, atol=1e-14)


def test_rk4_real_stability_interval():
    def growth(x):
        return abs(RK4.stability_function(x)) - 1.0

    lo, hi = -3.0, -2.0  # growth(lo) > 0 >= growth(hi)
    assert growth(lo) > 0 > growth(hi)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if growth(mid) > 0 else (lo, mid)
    assert hi == pytest.approx(-2.7853, abs=1e-4)
    assert np.all(np.abs(RK4.stability_function(np.linspace(hi, 0, 200))) <= 1 + 1e-12)


# ---------------------------------------------------------------------------- dense output


@pytest.mark.parametrize("tab", DENSE, ids=_ids(DENSE))
def test_dense_weights_interpolate_between_zero_and_b(tab):
    np.testing.assert_allclose(tab.dense_weights(1.0), tab.b, atol=1e-13)
    np.testing.assert_array_equal(tab.dense_weights(0.0), np.zeros(tab.stages))
    assert tab.dense_weights(np.zeros((3, 2))).shape == (3, 2, tab.stages)
    for theta in np.linspace(0.05, 0.95, 10):
        w = tab.dense_weights(theta)
        assert tab.satisfied_order(5, weights=w, theta=theta) == tab.dense_order == 4


def _dense_local_errors(tab, f, exact, theta, hs, t0=0.3):
    errs = []
    for h in hs:
        y0 = exact(t0)
        y_theta = y0 + h * tab.dense_weights(theta) @ _stages(tab, f, t0, y0, h)
        errs.append(np.abs(y_theta - exact(t0 + theta * h)).max())
    return errs


@pytest.mark.parametrize("tab", DENSE, ids=_ids(DENSE))
def test_dense_output_local_error_order(tab):
    hs = [0.1, 0.05, 0.025]
    lam, y0 = -1.0, np.array([1.0, 2.0])
    linear = _dense_local_errors(
        tab, lambda t, y: lam * y, lambda t: y0 * np.exp(lam * (t - 0.3)), 0.37, hs
    )
    nonlinear = _dense_local_errors(tab, _cycle, _cycle_exact, 0.37, hs)
    assert _slope(hs, linear) == pytest.approx(tab.dense_order + 1, abs=0.3)
    assert _slope(hs, nonlinear) == pytest.approx(tab.dense_order + 1, abs=0.3)
    # the measurement can tell: linear interpolation b_i(theta) = theta b_i is 2nd-order local
    crude = replace(tab, b_dense=tuple((bi,) for bi in tab.b), dense_order=1)
    assert _slope(hs, _dense_local_errors(crude, _cycle, _cycle_exact, 0.37, hs)) < 2.5


def test_dense_weights_need_a_continuous_extension():
    with pytest.raises(ValueError, match="no continuous extension"):
        RK4.dense_weights(0.5)


# ------------------------------------------------------------------- measured convergence


# fehlberg12's b_hat has order 1 with a tiny constant (b_hat·c = 1/2 - 1/512): its first-order
# error shows only at small steps, in test_fehlberg12_embedded_order_one.
CONVERGENCE = [(t, "b") for t in ALL if t.order <= 5] + [
    (t, "b_hat") for t in ADAPTIVE if t.embedded_order <= 5 and t.name != "fehlberg12"
]


@pytest.mark.parametrize(
    ("tab", "which"), CONVERGENCE, ids=[f"{t.name}-{w}" for t, w in CONVERGENCE]
)
def test_measured_global_order(tab, which):
    weights, p = (tab.b, tab.order) if which == "b" else (tab.b_hat, tab.embedded_order)
    ns = [32, 64, 128]
    errs = [
        np.abs(_solve(tab, _cycle, _cycle_exact(0.0), 1.0, n, weights) - _cycle_exact(1.0)).max()
        for n in ns
    ]
    # small errors of optimised pairs converge from above, so only p+1 bounds it above
    assert p - 0.3 <= _slope(1.0 / np.array(ns), errs) <= p + 1


def test_fehlberg12_embedded_order_one():
    tab = TABLEAUS["fehlberg12"]
    ns = [1024, 2048, 4096]
    errs = [
        np.abs(_solve(tab, _cycle, _cycle_exact(0.0), 1.0, n, tab.b_hat) - _cycle_exact(1.0)).max()
        for n in ns
    ]
    assert 0.8 <= _slope(1.0 / np.array(ns), errs) <= 1.2
    assert tab.b_hat[-1] == 0.0 and tab.a[-1][:2] == tab.b_hat[:2]  # b_hat: the last stage's y


def test_dopri8_measured_order_eight():
    # y' = (1 + cos(t)/2) J y: rotation by the angle t + sin(t)/2
    def f(t, y):
        return (1 + 0.5 * np.cos(t)) * np.array([-y[1], y[0]])

    T = 10.0
    angle = T + 0.5 * np.sin(T)
    exact = np.array([np.cos(angle), np.sin(angle)])
    ns = np.array([25, 35, 50, 71, 100])
    errs = [np.abs(_solve(DOPRI8, f, [1.0, 0.0], T, n) - exact).max() for n in ns]
    assert errs[-1] > 1e-14  # still above round-off
    assert _slope(T / ns, errs) == pytest.approx(8, abs=0.3)
    errs5 = [np.abs(_solve(DOPRI8, f, [1.0, 0.0], T, n, DOPRI8.b_hat) - exact).max() for n in ns]
    assert _slope(T / ns, errs5) == pytest.approx(5, abs=0.3)


# ------------------------------------------------------------------------------ printing


def test_str_and_repr_show_the_tableau():
    text = str(RK4)
    assert "rk4: 4 stages, order 4" in text and "1/6" in text and text.count("\n") == 6
    assert "b_hat" in str(DOPRI5) and "FSAL" in str(DOPRI5)
    assert repr(DOPRI8) == (
        "ButcherTableau('dopri8', stages=13, order=8, embedded_order=5, fsal=True)"
    )
