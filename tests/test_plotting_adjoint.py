"""Tests of nodelib.course.plotting.adjoint (the figures of chapter 5) under the Agg backend: each
function draws the numbers it is given, on the axes and scales it promises."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from nodelib.course.plotting import (
    plot_adjoint_memory,
    plot_adjoint_state,
    plot_cost_ratio,
    plot_difference_errors,
    plot_mode_costs,
    plot_tolerance_errors,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _labels(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_difference_errors_draws_both_differences_and_the_balance_points() -> None:
    eps = torch.logspace(-12, -1, 12, dtype=torch.float64)
    forward, central = eps * 2, eps**2
    u = 2.0**-53
    ax = plot_difference_errors(eps, forward, central, u=u)
    lines = ax.get_lines()
    assert len(lines) == 4
    np.testing.assert_array_equal(lines[0].get_xdata(), eps.numpy())
    np.testing.assert_array_equal(lines[0].get_ydata(), forward.numpy())
    np.testing.assert_array_equal(lines[1].get_ydata(), central.numpy())
    assert lines[2].get_xdata()[0] == pytest.approx(u**0.5)
    assert lines[3].get_xdata()[0] == pytest.approx(u ** (1 / 3))
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert _labels(ax)[:2] == ["forward difference", "central difference"]


def test_cost_ratio_draws_one_curve_per_size_and_rejects_mismatches() -> None:
    n_params = np.array([1.0, 10.0, 100.0])
    ratios = {"N = 100": (100 + 3 * n_params) / 103, "N = 1000": (1000 + 3 * n_params) / 1003}
    _fig, ax = plt.subplots()
    assert plot_cost_ratio(n_params, ratios, ax=ax) is ax
    lines = ax.get_lines()
    assert len(lines) == 3  # two curves and the line of equal cost
    for line, ratio in zip(lines, ratios.values(), strict=False):
        np.testing.assert_array_equal(line.get_xdata(), n_params)
        np.testing.assert_array_equal(line.get_ydata(), ratio)
    assert list(lines[2].get_ydata()) == [1.0, 1.0]
    assert _labels(ax) == ["N = 100", "N = 1000", "equal cost"]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert "P" in ax.get_xlabel()
    with pytest.raises(ValueError, match="shape"):
        plot_cost_ratio(n_params, {"bad": np.ones(2)})


def test_adjoint_state_has_the_state_and_the_checked_gradient() -> None:
    xs = torch.linspace(0.1, 0.9, 9, dtype=torch.float64)
    u, target, grad = torch.sin(xs), 0.5 * xs, torch.cos(xs)
    idx = [1, 4]
    fig = plot_adjoint_state(xs, u, target, grad, x_checked=xs[idx], checked=grad[idx])
    assert isinstance(fig, Figure)
    left, right = fig.axes
    assert [len(left.get_lines()), len(right.get_lines())] == [2, 2]
    np.testing.assert_array_equal(left.get_lines()[0].get_ydata(), u.numpy())
    np.testing.assert_array_equal(left.get_lines()[1].get_ydata(), target.numpy())
    np.testing.assert_array_equal(right.get_lines()[0].get_ydata(), grad.numpy())
    points = right.get_lines()[1]
    assert points.get_linestyle() == "None" and points.get_marker() == "o"
    np.testing.assert_array_equal(points.get_xdata(), xs[idx].numpy())


def test_mode_costs_shows_the_sizes_up_to_n_max() -> None:
    sizes, forward, reverse = (2, 4, 8, 16), [1.0, 4.0, 16.0, 64.0], [1.0, 2.0, 4.0, 8.0]
    ax = plot_mode_costs(sizes, forward, reverse, n_max=8)
    fwd, rev = ax.get_lines()
    assert list(fwd.get_xdata()) == [2, 4, 8] and list(fwd.get_ydata()) == [1.0, 4.0, 16.0]
    assert list(rev.get_ydata()) == [1.0, 2.0, 4.0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert "forward" in _labels(ax)[0] and "reverse" in _labels(ax)[1]
    assert len(plot_mode_costs(sizes, forward, reverse).get_lines()[0].get_xdata()) == 4
    with pytest.raises(ValueError, match="n_max"):
        plot_mode_costs(sizes, forward, reverse, n_max=1)
    with pytest.raises(ValueError, match="same length"):
        plot_mode_costs(sizes, forward[:2], reverse)


def test_tolerance_errors_inverts_the_tolerance_axis() -> None:
    rtols, adj, bp = [1e-3, 1e-5, 1e-7], [1e-3, 1e-5, 1e-7], [2e-3, 2e-5, 2e-7]
    ax = plot_tolerance_errors(rtols, adj, bp, fd_error=1e-9, fd_step=1e-4)
    lines = ax.get_lines()
    assert len(lines) == 3
    assert list(lines[0].get_ydata()) == adj and list(lines[1].get_ydata()) == bp
    assert list(lines[2].get_ydata()) == [1e-9, 1e-9]
    assert ax.xaxis_inverted()
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert _labels(ax)[2] == "central differences, step 0.0001"


def test_adjoint_memory_draws_kib_and_a_slope_one_guide() -> None:
    steps, backprop, adjoint = [25, 50, 100], [1024.0, 2048.0, 4096.0], [512.0] * 3
    ax = plot_adjoint_memory(steps, backprop, adjoint)
    measured_bp, measured_adj, guide = ax.get_lines()
    np.testing.assert_array_equal(measured_bp.get_xdata(), steps)
    np.testing.assert_array_equal(measured_bp.get_ydata(), [1.0, 2.0, 4.0])
    np.testing.assert_array_equal(measured_adj.get_ydata(), [0.5, 0.5, 0.5])
    np.testing.assert_allclose(guide.get_ydata(), [2.0, 4.0, 8.0])
    assert [tick.get_text() for tick in ax.get_xticklabels()] == ["25", "50", "100"]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert "KiB" in ax.get_ylabel() and _labels(ax)[2] == "slope 1"


def test_the_package_exports_these_functions_and_not_namesakes() -> None:
    # nodelib.course.plotting re-exports every module's names: a namesake elsewhere would shadow
    # one.
    import nodelib.course.plotting
    from nodelib.course.plotting import adjoint

    for name in adjoint.__all__:
        assert getattr(nodelib.course.plotting, name) is getattr(adjoint, name), name
