"""Chapter 1 (one-step methods): the lecture runs, and the numbers its text states are right.

The notebook is executed once (module fixture); the tests read the values it glues into its
text (`nodelib.course.book.glue`) and check them against the mathematics of the chapter: measured
orders of convergence, the θ-method's order 2 only at θ = 1/2, Picard's factorial convergence,
the two Euler methods on y' = y^(1/5), and the error bounds of the convergence theorem.
"""

from __future__ import annotations

import math
from itertools import pairwise

import pytest
from _notebooks import assert_claims, execute_notebook, glued_floats

NOTEBOOK = "chapters/ch01_ode_numerics_one_step.ipynb"
N_CLAIMS = 22  # the sentences of the text that the notebook checks with nodelib.course.book.claim


@pytest.fixture(scope="module")
def glued() -> dict[str, float]:
    return glued_floats(execute_notebook(NOTEBOOK))


def test_every_claim_of_the_text_is_checked_and_holds() -> None:
    assert_claims(execute_notebook(NOTEBOOK), N_CLAIMS)


@pytest.mark.parametrize(
    ("key", "order"),
    [("order_euler", 1), ("order_backward_euler", 1), ("order_heun", 2), ("order_trapezoid", 2)],
)
def test_measured_orders_of_the_methods(glued: dict[str, float], key: str, order: int) -> None:
    assert glued[key] == pytest.approx(order, abs=0.1)


def test_theta_method_has_order_two_only_at_one_half(glued: dict[str, float]) -> None:
    for theta in (0, 25, 75, 100):
        assert glued[f"theta_order_{theta}"] == pytest.approx(1, abs=0.1), theta
    assert glued["theta_order_50"] == pytest.approx(2, abs=0.1)
    # The error at a fixed h is smallest at θ = 1/2 (scan step 0.05) and much larger elsewhere.
    assert glued["theta_best"] == pytest.approx(0.5, abs=0.03)
    assert glued["theta_scan_ratio"] > 10


def test_heun_truncation_error_and_both_parts_are_second_order(glued: dict[str, float]) -> None:
    for part in ("lte", "quad", "lip"):
        assert glued[f"heun_{part}_order"] == pytest.approx(2, abs=0.2), part


def test_picard_iteration_converges_factorially(glued: dict[str, float]) -> None:
    n = int(glued["picard_n_iter"])
    errors = [glued[f"picard_err_{k}"] for k in range(n + 1)]
    p, q, T = 2.0, -1.0, 1.0  # the chapter's y' = p y + q, y(0) = 1 on [0, 1]
    assert errors[0] == pytest.approx((1 + q / p) * math.exp(p * T) - q / p - 1, rel=1e-9)
    for k, error in enumerate(errors):
        # The exact tail of the exponential series, |1 + q/p| Σ_{j>k} (pT)^j / j!, up to the
        # O(h²) quadrature error of the grid iterates (grid spacing 1e-3).
        tail = abs(1 + q / p) * sum((p * T) ** j / math.factorial(j) for j in range(k + 1, 40))
        assert error == pytest.approx(tail, rel=1e-3, abs=1e-5), k
    # Faster than geometric: the ratio of successive errors keeps falling, like pT/(k+2).
    ratios = [errors[k + 1] / errors[k] for k in range(n)]
    assert all(b < a for a, b in pairwise(ratios))
    assert ratios[-1] < 0.2
    # The computed iterates are the partial sums of the exercise, to quadrature accuracy.
    assert glued["picard_partial_sum_gap"] < 1e-5


def test_fifth_root_explicit_euler_stays_at_zero(glued: dict[str, float]) -> None:
    assert glued["fifth_euler_max"] == 0.0


def test_fifth_root_implicit_euler_finds_the_nontrivial_solution(glued: dict[str, float]) -> None:
    # The first step is the root ±h^(5/4) of Y = h Y^(1/5), by the start of Newton's iteration.
    assert glued["fifth_first_step_ratio"] == pytest.approx(1, abs=1e-8)
    assert glued["fifth_negative_first_step_ratio"] == pytest.approx(-1, abs=1e-8)
    # Then it approaches (4t/5)^(5/4): small relative errors at t = 1, shrinking with h.
    errors = [glued[f"fifth_relerr_{n}"] for n in (10, 20, 40, 80, 160)]
    assert all(b < a for a, b in pairwise(errors))
    assert errors[-1] < 0.01
    assert 0.6 < glued["fifth_order"] < 1.1


def test_stiff_step_factors(glued: dict[str, float]) -> None:
    assert glued["stiff_euler_factor"] == pytest.approx(-99)
    assert glued["stiff_implicit_factor_inverse"] == pytest.approx(101)


def test_error_bounds_hold_and_euler_bound_is_pessimistic(glued: dict[str, float]) -> None:
    # M2 = max|y''| = 2 and M3 = max|y'''| = 13 on [0, 1], both attained at t = 0.
    assert glued["forced_M2"] == pytest.approx(2.0, rel=1e-9)
    assert glued["forced_M3"] == pytest.approx(13.0, rel=1e-9)
    assert glued["euler_bound_ratio_min"] >= 1
    assert glued["euler_bound_overestimate"] > 10
    assert glued["trap_bound_ratio_min"] >= 1
    assert glued["trap_error_end"] <= glued["trap_bound_end"]


def test_float32_round_off_floor(glued: dict[str, float]) -> None:
    # float64 keeps the slope-2 line; float32 bottoms out and then grows again.
    assert glued["roundoff_f64_finest_error"] < 1e-8
    assert glued["roundoff_f32_finest_error"] > 100 * glued["roundoff_f64_finest_error"]
    assert glued["roundoff_f32_finest_error"] > 3 * glued["roundoff_f32_best_error"]
    assert glued["roundoff_f32_best_n"] < glued["roundoff_max_n"]


def test_relaxation_best_theta_moves_above_one_half_with_larger_steps(
    glued: dict[str, float],
) -> None:
    # The interactive section's text: with h = 0.1 and h = 0.3 a θ above 1/2 (scan step 0.05)
    # gives the smallest largest error; measured 0.55 and 0.70 (deterministic, float64).
    assert 0.5 < glued["relaxation_best_theta_h010"] <= 0.7
    assert glued["relaxation_best_theta_h010"] < glued["relaxation_best_theta_h030"] <= 0.9


def test_heun_is_zero_stable_within_its_bound(glued: dict[str, float]) -> None:
    # y' = -2y + cos 3t damps perturbations: Heun's factor per step, 1 - 2h + 2h², is < 1.
    assert glued["zero_stability_growth"] == pytest.approx(1.0, abs=1e-9)
    assert glued["zero_stability_final"] == pytest.approx((1 - 0.1 + 0.005) ** 20, rel=1e-6)
    assert glued["zero_stability_bound"] == pytest.approx(math.exp(2.1), rel=1e-12)
