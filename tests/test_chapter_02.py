"""Chapter 2's lecture notebook: it runs, fast, and the numbers its text states are right.

The notebook is executed once (`execute_notebook`); every number the text shows is glued by
the notebook, and the key ones are checked here against the mathematics: orders, the real
stability intervals, the coefficients of the written exercises, the Gauss–Legendre poles and
zeros, the divergence of the non-zero-stable methods and the cost of stiffness.
"""

from __future__ import annotations

import math

import pytest
from _notebooks import assert_claims, execute_notebook, glued_floats

PATH = "chapters/ch02_runge_kutta_multistep_stability.ipynb"
N_CLAIMS = 34  # the sentences of the text that the notebook checks with nodelib.course.book.claim


@pytest.fixture(scope="module")
def glued() -> dict[str, float]:
    return glued_floats(execute_notebook(PATH))


def test_every_claim_of_the_text_is_checked_and_holds() -> None:
    assert_claims(execute_notebook(PATH), N_CLAIMS)


def test_order_conditions_and_measured_orders(glued: dict[str, float]) -> None:
    assert glued["n_conditions_4"] == 8 and glued["n_conditions_5"] == 17
    assert glued["n_conditions_6"] == 37 and glued["rk4_order"] == 4
    for key, order in (("euler", 1), ("heun", 2), ("bosh3", 3), ("rk4", 4), ("ab2", 2)):
        assert glued[f"order_{key}"] == pytest.approx(order, abs=0.15), key
    assert 2.85 < glued["order_am3"] < 4.0  # order 3, pre-asymptotic over this range of h


def test_adaptive_statistics(glued: dict[str, float]) -> None:
    assert glued["arenstorf_rejected"] > 0 and glued["arenstorf_accepted"] > 50
    # FSAL: 6 evaluations per step tried, plus 2 at the start
    steps = glued["arenstorf_accepted"] + glued["arenstorf_rejected"]
    assert glued["dopri5_stages"] == 7
    assert glued["arenstorf_nfe"] == (glued["dopri5_stages"] - 1) * steps + 2
    assert glued["arenstorf_h_ratio"] > 100
    # Small steps near the Moon, large ones elsewhere; rejections on the approach, not the exit.
    assert glued["arenstorf_h_near_moon"] < 0.1 * glued["arenstorf_h_far"]
    assert glued["arenstorf_rejected_approach"] >= 10
    assert glued["arenstorf_rejected_departure"] <= 2
    assert glued["arenstorf_rejected_approach"] <= glued["arenstorf_rejected"]


def test_work_precision_comparisons(glued: dict[str, float]) -> None:
    # Fixed steps: RK4's cheapest run (10 steps) beats Euler's and Heun's costliest (160 steps).
    assert glued["rk4_cheapest_nfe"] == 40
    assert glued["euler_costliest_nfe"] == 160 and glued["heun_costliest_nfe"] == 320
    # Adaptive pairs on the Arenstorf orbit, read off the lines at an error of 1e-2: the pair
    # of higher order is cheaper (measured 5430, 1412 and 1185 evaluations); the orbit's
    # radius is that of the Arenstorf orbit (about 1.3).
    nfe = [glued[f"wp_nfe_{m}_at_0p01"] for m in ("bosh3", "dopri5", "dopri8")]
    assert nfe[0] > 2 * nfe[1] and nfe[1] > nfe[2] > 0
    assert 1.0 < glued["wp_orbit_radius"] < 1.6


def test_rk4_is_stable_on_the_imaginary_axis_up_to_two_sqrt_two(glued: dict[str, float]) -> None:
    # |R(iy)|^2 = 1 - y^6/72 + y^8/576 <= 1 exactly for y^2 <= 8 (the explorer's text).
    assert glued["rk4_imaginary_edge"] == pytest.approx(2 * math.sqrt(2), abs=0.02)


def test_richardson_extrapolation_gains_an_order(glued: dict[str, float]) -> None:
    assert glued["richardson_euler_order"] == pytest.approx(2, abs=0.25)
    assert glued["richardson_rk4_order"] > 4.5
    assert glued["richardson_euler_estimate_ratio"] == pytest.approx(1, abs=0.05)
    assert glued["richardson_rk4_estimate_ratio"] == pytest.approx(1, abs=0.05)


def test_written_exercise_three_step_method(glued: dict[str, float]) -> None:
    assert glued["ex1_alpha"] == 9 and glued["ex1_beta"] == 6 and glued["ex1_order"] == 4
    assert glued["ex1_root"] == pytest.approx(5 + math.sqrt(24))
    assert glued["ex1_zero_stable"] == 0
    assert glued["ex1_growth"] > 1e10  # the error grows as h shrinks


def test_written_exercise_consistency(glued: dict[str, float]) -> None:
    assert glued["ex2_a"] == 1 and glued["ex2_b"] == -2 and glued["ex2_order"] == 1
    assert glued["ex2_root"] == pytest.approx((1 + math.sqrt(5)) / 2)
    assert glued["ex2_growth"] > 1e10


def test_zero_stability_of_bdf(glued: dict[str, float]) -> None:
    assert glued["bdf6_zero_stable"] == 1
    assert glued["bdf7_max_root"] == pytest.approx(1.0222, abs=1e-4)
    assert glued["ab2_error_constant"] == pytest.approx(5 / 12)


def test_stability_intervals(glued: dict[str, float]) -> None:
    assert glued["interval_euler"] == pytest.approx(2.0, abs=1e-9)
    assert glued["interval_heun"] == pytest.approx(2.0, abs=1e-9)
    assert glued["interval_rk4"] == pytest.approx(2.785293563, abs=1e-8)
    assert glued["interval_dopri5"] == pytest.approx(3.3066, abs=1e-4)
    assert glued["interval_ab2"] == pytest.approx(1.0, abs=1e-9)
    assert glued["interval_ab3"] == pytest.approx(6 / 11, abs=1e-9)
    assert glued["interval_ab4"] == pytest.approx(0.3, abs=1e-9)
    assert glued["interval_am3_implicit"] == pytest.approx(6.0, abs=1e-6)
    assert glued["interval_ab3"] < glued["interval_am3_pece"] < glued["interval_am3_implicit"]
    assert glued["bdf2_imag_max"] <= 1 + 1e-9 < 1.01 < glued["bdf3_imag_max"]


def test_gauss_legendre_exercise(glued: dict[str, float]) -> None:
    assert glued["gl_zero_re"] == pytest.approx(-3) and glued["gl_pole_re"] == pytest.approx(3)
    assert glued["gl_zero_im"] == pytest.approx(math.sqrt(3))
    assert glued["gl_pole_im"] == pytest.approx(math.sqrt(3))
    assert glued["gl_axis_max"] == pytest.approx(1, abs=1e-12)
    assert glued["gl_axis_min"] == pytest.approx(1, abs=1e-12)
    assert glued["gl_axis_dev"] < 1e-12
    assert glued["gl_left_max"] < 1 and glued["gl_a_stable"] == 1 and glued["gl_order"] == 4
    # R(-x) = 1 - 12/x + O(1/x^2): just below +1, so stiff components keep their sign (the
    # trapezoidal rule's R tends to -1 instead). The text of Exercise 2.3 rests on this.
    assert glued["gl_R_far_left"] == pytest.approx(1 - 12e-6, abs=1e-9)
    assert glued["trap_R_far_left"] == pytest.approx(-1 + 4e-6, abs=1e-9)


def test_stiffness_costs_explicit_methods(glued: dict[str, float]) -> None:
    assert glued["stiff_dopri5_steps"] > 20 * glued["stiff_bdf2_steps"]
    assert glued["stiff_dopri5_mean_h"] == pytest.approx(glued["stiff_h_limit"], rel=0.1)
    assert glued["stiff_h_limit"] == pytest.approx(3.3066e-3, rel=1e-4)
    assert glued["stiff_bdf2_error_late"] < 1e-2
    assert glued["rob_rk45_nfev"] > 50 * glued["rob_lsoda_nfev"]
    assert glued["rob_rk45_nfev"] > 50 * glued["rob_bdf_nfev"]
    assert 0 < glued["rob_switch_time"] < 1
    assert 0.8 < glued["rob_h_slope"] < 1.2  # LSODA's steps grow about in proportion to t
