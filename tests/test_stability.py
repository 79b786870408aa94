"""Tests of the stability theory: nodelib.theory.lmm, nodelib.theory.stability and the chapter 2
additions to nodelib.step_control (RecordingController, richardson_extrapolate) and nodelib.tableau
(GAUSS_LEGENDRE2). Each test checks a piece of mathematics with a known closed-form answer.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from nodelib import solve
from nodelib.multistep import AB_COEFFICIENTS, AM_COEFFICIENTS, BDF_COEFFICIENTS
from nodelib.step_control import IController, RecordingController, richardson_extrapolate
from nodelib.tableau import GAUSS_LEGENDRE2, TABLEAUS
from nodelib.theory.lmm import (
    adams_coefficients,
    bdf_coefficients,
    characteristic_roots,
    error_constants,
    explicit_multistep,
    lmm_order,
    root_condition,
)
from nodelib.theory.stability import (
    boundary_locus,
    is_a_stable,
    lmm_amplification,
    method_amplification,
    pece_amplification,
    real_stability_interval,
    rk_stability_polynomials,
    schur_cohn_stable,
    stability_indicator,
)

F64 = torch.float64


# --- derivation by interpolation ------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_adams_bashforth_from_interpolation_matches_the_tables(k: int) -> None:
    derived = adams_coefficients(k)
    assert derived.alpha == AB_COEFFICIENTS[k].alpha and derived.beta == AB_COEFFICIENTS[k].beta
    assert derived.order == k == lmm_order(derived.alpha, derived.beta)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_adams_moulton_from_interpolation_matches_the_tables(k: int) -> None:
    derived = adams_coefficients(k, implicit=True)
    assert derived.beta == AM_COEFFICIENTS[k + 1].beta
    assert lmm_order(derived.alpha, derived.beta) == k + 1


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_bdf_from_interpolation_matches_the_tables(k: int) -> None:
    derived = bdf_coefficients(k)
    assert derived.alpha == BDF_COEFFICIENTS[k].alpha and derived.beta == BDF_COEFFICIENTS[k].beta


def test_bdf6_coefficients_are_the_published_ones() -> None:
    # HNW I, Table III.1.2: 147/60 y_{n+6} - 6 y_{n+5} + ... = h f_{n+6}
    c = bdf_coefficients(6)
    scaled = [a * Fraction(147, 60) for a in c.alpha]
    assert scaled == [
        Fraction(1, 6),
        Fraction(-6, 5),
        Fraction(15, 4),
        Fraction(-20, 3),
        Fraction(15, 2),
        Fraction(-6),
        Fraction(147, 60),
    ]
    assert c.beta[-1] * Fraction(147, 60) == 1


def test_bad_step_numbers_raise() -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="number of steps"):
            adams_coefficients(bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="number of steps"):
            bdf_coefficients(bad)  # type: ignore[arg-type]


# --- order and error constants --------------------------------------------------------------


def test_error_constants_of_known_methods() -> None:
    ab2 = AB_COEFFICIENTS[2]
    assert error_constants(ab2.alpha, ab2.beta, 3) == [0, 0, 0, Fraction(5, 12)]
    trapezoid = AM_COEFFICIENTS[2]
    assert error_constants(trapezoid.alpha, trapezoid.beta, 3)[-1] == Fraction(-1, 12)
    bdf2 = BDF_COEFFICIENTS[2]
    assert error_constants(bdf2.alpha, bdf2.beta, 3)[-1] == Fraction(-2, 9)


def test_the_three_step_exercise_has_order_four_at_alpha_9_beta_6() -> None:
    sp = pytest.importorskip("sympy")
    a, b = sp.symbols("a b")
    constants = error_constants([-1, -a, a, 1], [0, b, b, 0], 5)
    assert sp.solve([constants[1], constants[3]], [a, b]) == {a: 9, b: 6}
    assert lmm_order([-1, -9, 9, 1], [0, 6, 6, 0]) == 4
    assert error_constants([-1, -9, 9, 1], [0, 6, 6, 0], 5)[5] == pytest.approx(0.1)


def test_inconsistent_methods_have_order_zero() -> None:
    assert lmm_order([-1, 1], [2, 0]) == 0  # rho'(1) = 1 != sigma(1) = 2
    assert lmm_order([0, 1], [1, 0]) == 0  # rho(1) != 0


# --- zero-stability ------------------------------------------------------------------------


def test_root_condition_of_bdf_fails_from_order_seven() -> None:
    assert all(root_condition(bdf_coefficients(k).alpha) for k in range(1, 7))
    assert not root_condition(bdf_coefficients(7).alpha)
    assert np.abs(characteristic_roots(bdf_coefficients(7).alpha)).max() == pytest.approx(
        1.0222, abs=1e-4
    )


@pytest.mark.parametrize(
    ("alpha", "ok"),
    [
        ([1, -2, 1], False),  # (z - 1)^2: double root on the circle
        ([-1, 0, 1], True),  # z^2 - 1: simple roots +-1
        ([-0.25, 1.25, -2, 1], True),  # (z - 1)(z - 1/2)^2: double root inside
        ([-1, -1, 1, 1], False),  # (z - 1)(z + 1)^2
        ([1, -2, 0, 1], False),  # root -1.618
        ([-1, -9, 9, 1], False),  # root -9.899
    ],
)
def test_root_condition_cases(alpha: list[float], ok: bool) -> None:
    assert root_condition(alpha) is ok


def test_non_zero_stable_method_diverges_as_h_shrinks() -> None:
    errors = []
    for n in (10, 20, 40):
        h = 1.0 / n
        start = [torch.tensor([math.exp(-j * h)], dtype=F64) for j in range(3)]
        ys = explicit_multistep([1, -2, 0, 1], [0, 0, 1, 0], lambda t, y: -y, 0.0, h, start, n - 2)
        assert ys.shape == (n + 1, 1)
        errors.append(abs(float(ys[-1, 0]) - math.exp(-1)))
    assert errors[0] < errors[1] < errors[2] and errors[2] > 1e3 * errors[0]


def test_explicit_multistep_reproduces_adams_bashforth2() -> None:
    ab2 = AB_COEFFICIENTS[2]
    h, n = 0.05, 20
    y0 = torch.tensor([1.0], dtype=F64)
    y1 = torch.tensor([math.exp(-h)], dtype=F64)
    ys = explicit_multistep(ab2.alpha, ab2.beta, lambda t, y: -y, 0.0, h, [y0, y1], n - 1)
    expected = [1.0, math.exp(-h)]
    for _ in range(n - 1):
        expected.append(expected[-1] + h * (-1.5 * expected[-1] + 0.5 * expected[-2]))
    assert np.allclose(ys[:, 0].numpy(), expected, rtol=1e-13)
    with pytest.raises(ValueError, match="explicit"):
        explicit_multistep([-1, 1], [0, 1], lambda t, y: -y, 0.0, h, [y0], 3)


# --- Runge–Kutta stability functions ----------------------------------------------------------


@pytest.mark.parametrize("name", ["euler", "heun", "rk4", "dopri5", "dopri8"])
def test_explicit_stability_polynomial_agrees_with_the_tableau(name: str) -> None:
    tab = TABLEAUS[name]
    P, Q = rk_stability_polynomials(tab)
    assert np.allclose(Q, np.eye(1, len(Q))[0])
    # order p: P matches exp up to z^p
    assert np.allclose(P[: tab.order + 1], [1 / math.factorial(i) for i in range(tab.order + 1)])
    z = np.array([-1.3 + 0.7j, 0.2 - 2j, -3.0])
    assert np.allclose(np.polyval(P[::-1], z), tab.stability_function(z), rtol=1e-12)


def test_gauss_legendre_2_stability_function_poles_and_zeros() -> None:
    P, Q = rk_stability_polynomials(GAUSS_LEGENDRE2)
    assert np.allclose(P, [1, 1 / 2, 1 / 12]) and np.allclose(Q, [1, -1 / 2, 1 / 12])
    zeros, poles = np.sort_complex(np.roots(P[::-1])), np.sort_complex(np.roots(Q[::-1]))
    assert np.allclose(zeros, [-3 - 1j * math.sqrt(3), -3 + 1j * math.sqrt(3)])
    assert np.allclose(poles, [3 - 1j * math.sqrt(3), 3 + 1j * math.sqrt(3)])
    assert is_a_stable(P, Q) and GAUSS_LEGENDRE2.satisfied_order(6) == 4
    assert "gauss_legendre2" not in TABLEAUS  # not a method odeint can step


def test_a_stability() -> None:
    assert not is_a_stable(*rk_stability_polynomials(TABLEAUS["rk4"]))
    assert is_a_stable([1, 0.5], [1, -0.5])  # trapezoid
    assert is_a_stable([1], [1, -1])  # backward Euler
    assert not is_a_stable([1, 0.75], [1, -0.25])  # θ = 1/4: |R(iy)| > 1
    assert not is_a_stable([1, 1], [1])  # explicit Euler
    assert not is_a_stable([1], [1, 1])  # a pole at z = -1


def test_real_stability_intervals() -> None:
    rk4 = TABLEAUS["rk4"].stability_function
    assert real_stability_interval(rk4) == pytest.approx(2.785293563405, abs=1e-9)
    assert real_stability_interval(TABLEAUS["euler"].stability_function) == pytest.approx(2.0)
    assert real_stability_interval(method_amplification("adams_bashforth2")) == pytest.approx(1.0)
    assert real_stability_interval(method_amplification("adams_bashforth3")) == pytest.approx(
        6 / 11
    )
    assert real_stability_interval(method_amplification("adams_bashforth4")) == pytest.approx(0.3)
    am3 = AM_COEFFICIENTS[3]
    assert real_stability_interval(lambda z: lmm_amplification(am3.alpha, am3.beta, z)) == (
        pytest.approx(6.0)
    )
    assert real_stability_interval(method_amplification("bdf2")) == math.inf
    assert real_stability_interval(method_amplification("backward_euler")) == math.inf


def test_pece_region_is_smaller_than_the_corrector_region() -> None:
    ab, am = AB_COEFFICIENTS[3], AM_COEFFICIENTS[3]
    pece = real_stability_interval(
        lambda z: pece_amplification((ab.alpha, ab.beta), (am.alpha, am.beta), z)
    )
    assert 6 / 11 < pece < 6.0


def test_pece_with_euler_predictor_and_trapezoid_is_heun() -> None:
    # P: Euler, C: trapezoid, PECE = Heun's method, R(z) = 1 + z + z^2/2
    ab1, am2 = AB_COEFFICIENTS[1], AM_COEFFICIENTS[2]
    z = np.array([-1.5 + 0.5j, -0.3, 0.4 + 1j])
    got = pece_amplification((ab1.alpha, ab1.beta), (am2.alpha, am2.beta), z)
    assert np.allclose(got, np.abs(1 + z + z**2 / 2))


def test_bdf3_is_not_a_stable_but_bdf2_is() -> None:
    axis = 1j * np.linspace(-20, 20, 4001)
    assert method_amplification("bdf2")(axis).max() <= 1 + 1e-9
    assert method_amplification("bdf3")(axis).max() > 1.01


def test_boundary_locus_of_euler_is_the_unit_circle_around_minus_one() -> None:
    ab1 = AB_COEFFICIENTS[1]
    locus = boundary_locus(ab1.alpha, ab1.beta, n=101)
    assert np.allclose(np.abs(locus + 1), 1.0)


def test_schur_cohn_agrees_with_computed_roots() -> None:
    rng = np.random.default_rng(1)
    coeffs = rng.normal(size=(5000, 5)) + 0.3j * rng.normal(size=(5000, 5))
    coeffs[:, :-1] *= 0.4
    roots_inside = np.array([np.abs(np.roots(c[::-1])).max() < 1 for c in coeffs])
    assert 0.1 < roots_inside.mean() < 0.9
    assert np.array_equal(schur_cohn_stable(coeffs), roots_inside)


@pytest.mark.parametrize("name", ["rk4", "adams_bashforth3", "adams_moulton4", "bdf3", "trapezoid"])
def test_stability_indicator_agrees_with_the_amplification(name: str) -> None:
    x, y = np.meshgrid(np.linspace(-4, 2, 37), np.linspace(-3, 3, 31))
    z = (x + 1j * y).ravel()
    exact = method_amplification(name)(z)
    fast = stability_indicator(name)(z) <= 1
    clear = np.abs(exact - 1) > 1e-6  # away from the boundary
    assert np.array_equal(fast[clear], exact[clear] <= 1)


def test_unknown_method_raises() -> None:
    with pytest.raises(ValueError, match="no stability function"):
        method_amplification("adams_bashforth9")


# --- step control ------------------------------------------------------------------------------


def test_recording_controller_sees_every_step_of_a_solve() -> None:
    recorder = RecordingController()
    sol = solve(
        lambda t, y: -50 * (y - torch.cos(t)),
        torch.tensor([0.0], dtype=F64),
        torch.tensor([0.0, 2.0], dtype=F64),
        method="bosh3",
        rtol=1e-6,
        atol=1e-9,
        options={"controller": recorder},
    )
    trace = recorder.trace(0.0)
    assert len(trace["h"]) == sol.stats["n_steps"]
    assert sum(trace["accepted"]) == sol.stats["n_accepted"]
    assert len(trace["accepted"]) - sum(trace["accepted"]) == sol.stats["n_rejected"]
    last = len(trace["t"]) - 1
    assert trace["t"][last] + trace["h"][last] == pytest.approx(2.0)
    assert all((r <= 1) == a for r, a in zip(trace["ratio"], trace["accepted"], strict=True))
    assert isinstance(recorder.inner, IController)


def test_richardson_raises_the_order_of_euler() -> None:
    def euler(n: int) -> torch.Tensor:
        y, h = torch.tensor([1.0], dtype=F64), 1.0 / n
        for _ in range(n):
            y = y + h * y
        return y

    errors_plain, errors_extra, misses = [], [], []
    for n in (10, 20, 40):
        better, estimate = richardson_extrapolate(euler(n), euler(2 * n), 1)
        errors_plain.append(float(math.e - euler(2 * n)))
        errors_extra.append(abs(float(math.e - better)))
        misses.append(abs(float(estimate) / errors_plain[-1] - 1))
    # the estimate is right up to a relative O(h): its miss halves with h
    assert misses[2] < 0.03 and misses[0] / misses[1] == pytest.approx(2, rel=0.15)
    assert errors_extra[0] / errors_extra[1] == pytest.approx(4, rel=0.1)
    assert errors_plain[0] / errors_plain[1] == pytest.approx(2, rel=0.1)
    with pytest.raises(ValueError, match="order"):
        richardson_extrapolate(euler(2), euler(4), 0)
    with pytest.raises(ValueError, match="ratio"):
        richardson_extrapolate(euler(2), euler(4), 1, ratio=1.0)


@pytest.mark.parametrize("name", ["bdf2", "adams_bashforth2", "rk4"])
def test_amplification_of_one_z_is_the_same_as_in_an_array(name: str) -> None:
    # The stability explorer of chapter 2 evaluates one point at a time (a 0-d z).
    amplification = method_amplification(name)
    zs = np.array([-0.5 + 0.2j, -1000.0 + 0j])
    for z, expected in zip(zs, amplification(zs), strict=True):
        assert float(np.asarray(amplification(z))) == pytest.approx(float(expected))
    alpha, beta = [1.0, -4.0 / 3.0, 1.0 / 3.0][::-1], [2.0 / 3.0, 0.0, 0.0][::-1]
    assert np.asarray(lmm_amplification(alpha, beta, -0.5)).shape == ()
