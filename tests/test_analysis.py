"""nodelib.theory.analysis: measured orders, convergence runs, cumulative trapezoid, Picard's
iteration."""

from __future__ import annotations

import math

import pytest
import torch

from nodelib.odeint import odeint
from nodelib.theory.analysis import (
    convergence_errors,
    cumulative_trapezoid,
    empirical_order,
    picard_iteration,
)

F64 = torch.float64


@pytest.mark.parametrize("p", [0.5, 1.0, 2.0, 4.5])
def test_empirical_order_recovers_exact_power_laws(p: float) -> None:
    hs = [0.1 / 2**k for k in range(5)]
    assert empirical_order(hs, [3.0 * h**p for h in hs]) == pytest.approx(p, abs=1e-12)
    # Order of the points and the container do not matter.
    as_tensors = (torch.tensor(hs[::-1]), torch.tensor([3.0 * h**p for h in hs][::-1]))
    assert empirical_order(*as_tensors) == pytest.approx(p, abs=1e-6)


def test_empirical_order_is_the_least_squares_slope_not_the_endpoints() -> None:
    hs, es = [1.0, 0.5, 0.1], [1.0, 0.5, 0.0004]
    x, z = [math.log(h) for h in hs], [math.log(e) for e in es]
    xm, zm = sum(x) / 3, sum(z) / 3
    slope = sum((a - xm) * (b - zm) for a, b in zip(x, z, strict=True)) / sum(
        (a - xm) ** 2 for a in x
    )
    assert empirical_order(hs, es) == pytest.approx(slope)
    assert slope != pytest.approx((z[-1] - z[0]) / (x[-1] - x[0]))


@pytest.mark.parametrize(
    ("hs", "es", "error"),
    [
        ([0.1], [0.1], ValueError),
        ([0.1, 0.05], [0.1], ValueError),
        ([0.1, 0.1], [0.2, 0.1], ValueError),
        ([0.1, 0.05], [0.0, 0.1], ValueError),
        ([0.1, 0.05], ["a", "b"], TypeError),
    ],
)
def test_empirical_order_rejects_bad_input(hs, es, error) -> None:
    with pytest.raises(error):
        empirical_order(hs, es)


def test_convergence_errors_measure_euler_order_one() -> None:
    def step(f, t, y, h):
        return y + h * f(t, y)

    y0 = torch.tensor([1.0], dtype=F64)
    hs, errors = convergence_errors(
        step, lambda t, y: -y, y0, 0.0, 1.0, y0 * math.exp(-1), (20, 40, 80)
    )
    assert hs == pytest.approx([0.05, 0.025, 0.0125])
    assert empirical_order(hs, errors) == pytest.approx(1.0, abs=0.05)


def test_cumulative_trapezoid_is_exact_for_linear_integrands() -> None:
    t = torch.tensor([0.0, 0.3, 0.5, 1.2], dtype=F64)
    values = torch.stack([2 * t + 1, -t], dim=1)  # (4, 2)
    expected = torch.stack([t**2 + t, -(t**2) / 2], dim=1)
    assert torch.allclose(cumulative_trapezoid(values, t), expected, atol=1e-14)


def test_picard_iterates_of_exponential_are_taylor_polynomials() -> None:
    t = torch.linspace(0, 1, 201, dtype=F64)
    iterates = picard_iteration(lambda s, y: y, t, torch.ones((), dtype=F64), 6)
    assert len(iterates) == 7 and iterates[0].shape == (201,)
    for k, phi in enumerate(iterates):
        taylor = sum(t**j / math.factorial(j) for j in range(k + 1))
        assert torch.allclose(phi, taylor, atol=2e-5), k


def test_picard_fixed_point_is_the_trapezoidal_rule() -> None:
    A = torch.tensor([[-1.0, 0.5], [-0.5, -0.2]], dtype=F64)

    def f(s, y):
        return A @ y + torch.sin(s)

    t = torch.linspace(0, 1, 11, dtype=F64)
    y0 = torch.tensor([1.0, -1.0], dtype=F64)
    last = picard_iteration(f, t, y0, 40)[-1]
    assert last.shape == (11, 2)
    assert torch.allclose(last, odeint(f, y0, t, method="trapezoid"), atol=1e-10)


def test_picard_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="n_iter"):
        picard_iteration(lambda s, y: y, torch.zeros(3), torch.ones(()), -1)
    with pytest.raises(ValueError, match="1-D"):
        picard_iteration(lambda s, y: y, torch.zeros(2, 2), torch.ones(()), 1)


@pytest.mark.parametrize(
    ("method", "options", "order"),
    [("euler", None, 1), ("heun", None, 2), ("theta", {"theta": 0.5}, 2), ("rk4", None, 4)],
)
def test_fixed_step_errors_measure_the_order_of_odeint_methods(method, options, order) -> None:
    from nodelib.theory.analysis import fixed_step_errors

    y0 = torch.tensor([1.0, 0.5], dtype=F64)
    exact = y0 * math.exp(-1.5)
    hs, errors = fixed_step_errors(
        lambda t, y: -1.5 * y, y0, 0.0, 1.0, exact, method=method, ns=(8, 16, 32), options=options
    )
    assert hs == pytest.approx([1 / 8, 1 / 16, 1 / 32])
    assert errors[0] > errors[1] > errors[2] > 0
    assert empirical_order(hs, errors) == pytest.approx(order, abs=0.15)


def test_fixed_step_errors_shows_the_float32_floor() -> None:
    from nodelib.theory.analysis import fixed_step_errors

    y0 = torch.tensor(1.0, dtype=torch.float32)
    _, errors = fixed_step_errors(
        lambda t, y: -y, y0, 0.0, 1.0, torch.tensor(math.exp(-1)), method="rk4", ns=(256,)
    )
    # RK4's truncation error at h = 1/256 is ~1e-12: what is left is float32 round-off.
    assert 1e-9 < errors[0] < 1e-5


def test_fixed_step_errors_rejects_adaptive_methods_and_bad_ns() -> None:
    from nodelib.theory.analysis import fixed_step_errors

    y0 = torch.ones((), dtype=F64)
    with pytest.raises(ValueError, match="adaptive"):
        fixed_step_errors(lambda t, y: y, y0, 0.0, 1.0, y0, method="dopri5", ns=(4,))
    with pytest.raises(ValueError, match="ns"):
        fixed_step_errors(lambda t, y: y, y0, 0.0, 1.0, y0, method="euler", ns=(0,))
