"""Chapter 5 (the adjoint method and automatic differentiation): the lecture's glued numbers.

The notebook is executed once (`execute_notebook`, shared with the book build, claims
strict); the tests check the numbers its text states against the mathematics: exact
gradients agree to rounding, forward mode is exact, the Euler adjoint is backpropagation,
the continuous adjoint matches the closed form, gradient errors fall in proportion to the
tolerance, and the adjoint's memory does not grow with the number of steps while
backpropagation's grows linearly.

Round-off quantities are checked as the bounds the text states. Timings are checked only as
the text states them, with wide margins, so that a slow or busy machine does not fail a test.
In the 20 runs of ``scripts/check_claims.py`` (seeds 0-4 and 17-21, default threads and one
thread, a two-core machine at load 10-15): best-of-ten wall-clock ratios of 15-28 for N^3
against N^2 work and 950-2800 for the outer product, against the bound 3; fitted exponents of
forward and reverse mode (minimum CPU time over interleaved rounds) of 1.95-2.01 and 0.95-1.02,
against the claim that each is nearer to 2 and 1 than to any other whole number.
"""

from __future__ import annotations

import pytest
from _notebooks import assert_claims, execute_notebook, glued_floats

PATH = "chapters/ch05_adjoint_and_autodiff.ipynb"


@pytest.fixture(scope="module")
def executed():
    return execute_notebook(PATH)


@pytest.fixture(scope="module")
def glued(executed) -> dict[str, float]:
    return glued_floats(executed)


def test_every_sentence_on_numbers_is_checked(executed) -> None:
    assert_claims(executed, 29)  # the sentences the notebook checks with nodelib.course.book.claim


def test_finite_differences_have_the_textbook_optimum(glued: dict[str, float]) -> None:
    # Central differences: best step near u^(1/3) ~ 5e-6, typical error near u^(2/3) ~ 1e-11;
    # forward differences: typical error near sqrt(u) ~ 1e-8.
    assert 1e-7 < glued["fd_central_best_eps"] < 1e-4
    assert glued["fd_central_best_error"] < 1e-10
    assert glued["fd_central_median_error"] < 1e-10 < 1e-9 < glued["fd_forward_median_error"]
    assert glued["fd_forward_median_error"] < 1e-7
    assert glued["fd_slope_forward_right"] == pytest.approx(1, abs=0.1)
    assert glued["fd_slope_central_right"] == pytest.approx(2, abs=0.1)
    for mode in ("forward", "central"):  # round-off grows like 1/eps
        assert glued[f"fd_slope_{mode}_left"] == pytest.approx(-1, abs=0.35)


def test_matrix_chain_costs(glued: dict[str, float]) -> None:
    N, L = glued["chain_N"], glued["chain_L"]
    assert glued["chain_cost_left"] == L * N**2
    assert glued["chain_cost_right"] == (L - 1) * N**3 + N**2
    assert glued["chain_cost_ratio"] == pytest.approx(N * (L - 1) / L, rel=0.05)
    assert glued["inner_cost_left"] == 2 * glued["inner_N"]
    assert glued["inner_cost_right"] == 2 * glued["inner_N"] ** 2
    assert glued["order_count_ratio"] == (glued["order_N"] + 1) / 2
    assert glued["order_same"] < 1e-13
    assert glued["inner_same"] < 1e-13  # relative to |u| |v| |w|, the scale of its rounding
    # One thread, best of ten: N^3 against N^2 work is slower by far, whatever the machine,
    # but not by the full count (matrix-matrix products run at a higher rate).
    assert 3 < glued["order_time_ratio"] < glued["order_count_ratio"]
    assert glued["inner_time_ratio"] > 3


def test_chain_rule_exercise(glued: dict[str, float]) -> None:
    assert glued["chain_rule_dT_dS"] == pytest.approx(1 - 2 * glued["chain_rule_S"], abs=1e-15)
    assert glued["chain_rule_error"] < 1e-15


def test_linear_system_adjoint_equals_autograd(glued: dict[str, float]) -> None:
    # The largest relative error over the notebook's three random systems.
    assert glued["lin_seeds"] >= 3
    assert glued["lin_err_adjoint"] < 1e-12 and glued["lin_err_direct"] < 1e-12
    assert glued["lin_cost_ratio_big"] == pytest.approx(4.0, rel=1e-2)  # (2/3 + 2) / (2/3)


def test_nonlinear_adjoint_matches_finite_differences(glued: dict[str, float]) -> None:
    assert glued["nonlin_fd_error"] < 1e-8


def test_euler_adjoint_is_backpropagation(glued: dict[str, float]) -> None:
    # The largest relative difference over the notebook's three random weight matrices.
    assert glued["euler_err_theta"] < 1e-12 and glued["euler_err_y0"] < 1e-12


def test_continuous_adjoint(glued: dict[str, float]) -> None:
    assert glued["running_cost_error"] < 1e-9
    assert glued["linode_formula_error"] < 1e-12  # quadrature of the adjoint formula
    assert glued["linode_mexp_error"] < 1e-12
    assert glued["linode_adjoint_error"] < 1e-9  # odeint_adjoint at rtol 1e-11


def test_dual_numbers_and_tape(glued: dict[str, float]) -> None:
    assert glued["dual_value"] == 4.5 and glued["dual_derivative"] == 9.75
    assert glued["dual_error"] == 0.0
    assert glued["dual_vs_torch"] < 1e-14 and 1e-12 < glued["dual_vs_fd"] < 1e-10
    assert glued["tape_grad_x1"] == 5.5 and glued["tape_vs_torch"] < 1e-14
    assert glued["tape_nodes"] == 7


def test_costs_of_the_two_modes(glued: dict[str, float]) -> None:
    assert glued["ad_forward_passes"] == glued["ad_n"] and glued["ad_reverse_passes"] == 1
    assert glued["ad_tape_nodes"] == 4 * glued["ad_n"]  # inputs, sin, product, sum
    forward, reverse = glued["ad_time_slope_forward"], glued["ad_time_slope_reverse"]
    assert abs(forward - 2) < 0.5 and abs(reverse - 1) < 0.5  # nearest whole numbers: 2 and 1


def test_gradient_error_falls_with_the_tolerance(glued: dict[str, float]) -> None:
    for mode in ("adjoint", "backprop"):
        assert 0.8 < glued[f"tol_slope_{mode}"] < 1.2
        assert glued[f"tol_err_{mode}_tightest"] < min(1e-10, glued["tol_fd_best_error"])
    assert glued["tol_err_adjoint_loosest"] > 1e-4
    assert 1e-6 < glued["tol_adjoint_vs_backprop_1e4"] < 1e-2


def test_adjoint_memory_is_constant_and_backprop_memory_linear(glued: dict[str, float]) -> None:
    assert glued["mem_ratio_adjoint"] == 1.0
    assert glued["mem_ratio_backprop"] == pytest.approx(glued["mem_steps_ratio"], rel=0.05)
    assert glued["mem_backprop_over_adjoint"] > 100
