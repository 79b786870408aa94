"""Tests of nodelib.course.plotting.one_step (the figures of chapter 1) under the Agg backend: each
function draws the numbers it is given, with the labels, styles and scales it promises."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from nodelib.course import plotting
from nodelib.course.plotting import (
    plot_error_and_bound,
    plot_mirrored_solutions,
    plot_orders,
    plot_picard_iterates,
    plot_solutions,
    plot_theta_method,
    plot_theta_scan,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _labels(ax: Axes) -> list[str]:
    return [line.get_label() for line in ax.get_lines()]


def test_every_function_is_exported_from_the_package() -> None:
    for name in plotting.one_step.__all__:
        assert getattr(plotting, name) is getattr(plotting.one_step, name)
    assert "plot_theta_method" in plotting.__all__


def test_plot_solutions_draws_references_then_solutions() -> None:
    t = torch.linspace(0.0, 1.0, 5, dtype=torch.float64)
    t_ref = torch.linspace(0.0, 1.0, 50)
    solutions = {"euler": t**2, "heun": 2 * t}
    references = {"exact": torch.exp(t_ref), "mirror": -torch.exp(t_ref)}
    ax = plot_solutions(t, solutions, t_ref=t_ref, references=references, markers=True)
    lines = ax.get_lines()
    assert _labels(ax) == ["exact", "mirror", "euler", "heun"]
    np.testing.assert_allclose(lines[0].get_ydata(), torch.exp(t_ref).numpy())
    np.testing.assert_allclose(lines[3].get_xdata(), t.numpy())
    np.testing.assert_allclose(lines[3].get_ydata(), (2 * t).numpy())
    assert lines[0].get_linestyle() == "-" and lines[1].get_linestyle() == "--"
    assert lines[0].get_color() == lines[1].get_color() == "k"
    assert lines[2].get_marker() != lines[3].get_marker()  # one marker shape per solution
    assert ax.get_legend() is not None
    assert ax.get_xlabel() == "$t$"


def test_plot_solutions_without_references_uses_given_axes() -> None:
    _, ax = plt.subplots()
    t = np.arange(4.0)
    out = plot_solutions(t, {"a": t, "b": -t}, ax=ax, title="demo")
    assert out is ax
    assert _labels(ax) == ["a", "b"]
    assert {line.get_marker() for line in ax.get_lines()} == {"o"}
    assert ax.get_title() == "demo"


def test_plot_solutions_needs_the_reference_times() -> None:
    with pytest.raises(ValueError, match="t_ref"):
        plot_solutions([0, 1], {"a": [0, 1]}, references={"exact": [0, 1]})


def test_plot_mirrored_solutions_draws_zero_and_both_signs() -> None:
    t = np.linspace(0.0, 1.0, 11)
    branches = {"c = 0": t**1.25, "c = 0.5": np.clip(t - 0.5, 0, None)}
    ax = plot_mirrored_solutions(t, branches)
    lines = ax.get_lines()
    assert len(lines) == 1 + 2 * len(branches)
    np.testing.assert_array_equal(lines[0].get_ydata(), np.zeros_like(t))
    for i, ys in enumerate(branches.values()):
        upper, lower = lines[1 + 2 * i], lines[2 + 2 * i]
        np.testing.assert_allclose(upper.get_ydata(), ys)
        np.testing.assert_allclose(lower.get_ydata(), -ys)
        assert lower.get_color() == upper.get_color() and lower.get_linestyle() == "--"
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == ["$y = 0$", "c = 0", "c = 0.5"]


def test_plot_picard_iterates_shows_the_first_iterates_and_the_exact_solution() -> None:
    t = torch.linspace(0.0, 1.0, 21)
    iterates = [t**k for k in range(8)]
    ax = plot_picard_iterates(t, iterates, torch.exp(t), n_shown=3)
    lines = ax.get_lines()
    assert _labels(ax) == [r"$\varphi_0$", r"$\varphi_1$", r"$\varphi_2$", "exact $y$"]
    np.testing.assert_allclose(lines[2].get_ydata(), (t**2).numpy())
    np.testing.assert_allclose(lines[-1].get_ydata(), torch.exp(t).numpy())
    assert lines[-1].get_linestyle() == "--"


def test_plot_error_and_bound_is_logarithmic_with_both_series() -> None:
    x = range(5)
    errors, bound = [1e-1, 1e-2, 1e-3, 1e-4, 1e-5], [1.0, 0.5, 0.1, 0.05, 0.01]
    ax = plot_error_and_bound(
        x, errors, bound, error_label="err", bound_label="bnd", xlabel="k", ylabel="size"
    )
    err, bnd = ax.get_lines()
    assert ax.get_yscale() == "log" and ax.get_xscale() == "linear"
    np.testing.assert_allclose(err.get_xdata(), np.arange(5))
    np.testing.assert_allclose(err.get_ydata(), errors)
    np.testing.assert_allclose(bnd.get_ydata(), bound)
    assert (err.get_label(), bnd.get_label()) == ("err", "bnd")
    assert bnd.get_linestyle() == "--"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("k", "size")


def test_plot_orders_labels_slopes_and_draws_reference_lines() -> None:
    hs = [1 / 20, 1 / 40, 1 / 80]
    errors = {"euler": [h for h in hs], "heun": [h**2 for h in hs]}
    ax = plot_orders(
        hs,
        errors,
        orders={"euler": 1.004, "heun": 1.996},
        reference_slopes={1: 0.5, 2: 3.0},
        tick_labels=["1/20", "1/40", "1/80"],
    )
    lines = ax.get_lines()
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert _labels(ax) == ["euler: slope 1.00", "heun: slope 2.00", "slope 1", "slope 2"]
    np.testing.assert_allclose(lines[1].get_xdata(), hs)
    np.testing.assert_allclose(lines[1].get_ydata(), errors["heun"])
    # A reference line C h^p spans the range of hs.
    np.testing.assert_allclose(lines[3].get_xdata(), [1 / 20, 1 / 80])
    np.testing.assert_allclose(lines[3].get_ydata(), [3.0 / 400, 3.0 / 6400])
    assert lines[2].get_linestyle() == ":" and lines[3].get_linestyle() == "--"
    np.testing.assert_allclose(ax.get_xticks(), hs)
    assert [label.get_text() for label in ax.get_xticklabels()] == ["1/20", "1/40", "1/80"]
    assert ax.get_xlabel() == "step size $h$"


def test_plot_orders_without_orders_keeps_plain_labels() -> None:
    ax = plot_orders([0.1, 0.01], {"float32": [1e-3, 1e-4], "float64": [1e-3, 1e-5]})
    assert _labels(ax) == ["float32", "float64"]


def test_plot_orders_rejects_tick_labels_of_another_length() -> None:
    with pytest.raises(ValueError, match="tick labels"):
        plot_orders([0.1, 0.01], {"a": [1.0, 0.1]}, tick_labels=["1/10"])


def test_plot_theta_scan_draws_the_errors_and_marks_one_half() -> None:
    thetas = np.linspace(0.0, 1.0, 11)
    errors = np.abs(thetas - 0.5) + 1e-3
    ax = plot_theta_scan(thetas, errors)
    scan, mark = ax.get_lines()
    assert ax.get_yscale() == "log"
    np.testing.assert_allclose(scan.get_xdata(), thetas)
    np.testing.assert_allclose(scan.get_ydata(), errors)
    np.testing.assert_allclose(mark.get_xdata(), [0.5, 0.5])
    assert ax.get_xlabel() == "θ"
    assert len(plot_theta_scan(thetas, errors, mark=None).get_lines()) == 1


def test_plot_theta_method_draws_trajectory_and_global_error() -> None:
    t = torch.linspace(0.0, 1.0, 6, dtype=torch.float64)
    exact = torch.cos(t)
    ys = exact + torch.tensor([0.0, 1e-3, -2e-3, 0.0, 4e-3, -5e-3], dtype=torch.float64)
    t_fine = torch.linspace(0.0, 1.0, 50, dtype=torch.float64)
    fig = plot_theta_method(t, ys, exact, t_fine, torch.cos(t_fine), theta=0.25, h=0.2)
    assert isinstance(fig, Figure)
    ax0, ax1 = fig.axes
    exact_line, run = ax0.get_lines()
    np.testing.assert_allclose(exact_line.get_xdata(), t_fine.numpy())
    np.testing.assert_allclose(run.get_ydata(), ys.numpy())
    assert run.get_label() == "θ-method, θ = 0.25, h = 0.200"
    assert ax0.get_ylim() == (-2.5, 2.5)
    (error_line,) = ax1.get_lines()
    assert ax1.get_yscale() == "log"
    np.testing.assert_allclose(error_line.get_xdata(), t[1:].numpy())
    # The error from n = 1 on, an exact value floored at 1e-17 to stay on the log axis.
    np.testing.assert_allclose(error_line.get_ydata(), [1e-3, 2e-3, 1e-17, 4e-3, 5e-3], rtol=1e-9)
    assert ax1.get_title() == "Global error (largest: 5.0e-03)"
