"""Tests of nodelib.course.plotting.runge_kutta (chapter 2's figures) under the Agg backend: each
function draws the numbers it is given, with the labels, scales and colours it promises."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from nodelib.course.plotting import (
    RegionPanel,
    plot_adaptive_steps,
    plot_characteristic_roots,
    plot_counts,
    plot_errors,
    plot_lsoda_switch,
    plot_modulus,
    plot_region_panels,
    plot_rooted_trees,
    plot_stability_explorer,
    plot_stiff_steps,
)
from nodelib.tableau import GAUSS_LEGENDRE2, TABLEAUS


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_plot_counts_draws_one_labelled_bar_per_entry_on_a_log_scale() -> None:
    counts = {"RK45": 12000, "BDF": 300, "LSODA": 250}
    ax = plot_counts(counts, ylabel="NFE")
    heights = [bar.get_height() for bar in ax.patches]
    assert heights == [12000, 300, 250]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["RK45", "BDF", "LSODA"]
    assert ax.get_yscale() == "log" and ax.get_ylabel() == "NFE"
    assert [t.get_text() for t in ax.texts] == ["12000", "300", "250"]  # values on the bars
    assert plot_counts({"a": 1, "b": 2}, log=False).get_yscale() == "linear"


def test_plot_errors_shared_and_per_line_abscissae() -> None:
    h = [0.2, 0.1, 0.05]
    errors = {"euler": [1e-1, 5e-2, 2.5e-2], "rk4": [1e-5, 6e-7, 4e-8]}
    ax = plot_errors(h, errors, title="t", decreasing=True)
    assert [line.get_label() for line in ax.lines] == ["euler", "rk4"]
    for line, err in zip(ax.lines, errors.values(), strict=True):
        np.testing.assert_allclose(line.get_xdata(), h)
        np.testing.assert_allclose(line.get_ydata(), err)
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert ax.xaxis_inverted() and ax.get_title() == "t"
    assert ax.get_xlabel() == "step size $h$ (decreasing to the right)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.2", "0.1", "0.05"]
    assert ax.lines[0].get_marker() != ax.lines[1].get_marker()
    nfe = {"euler": [10, 20, 40], "rk4": [40, 80, 160]}
    ax2 = plot_errors(nfe, errors, xlabel="NFE")
    np.testing.assert_allclose(ax2.lines[1].get_xdata(), nfe["rk4"])
    assert not ax2.xaxis_inverted() and ax2.get_xlabel() == "NFE"
    ax3 = plot_errors(nfe, errors, threshold=(0.1, "error 0.1"))
    (line,) = [line for line in ax3.lines if line.get_label() == "error 0.1"]
    np.testing.assert_allclose(line.get_ydata(), [0.1, 0.1])
    assert line.get_linestyle() == ":"


def test_plot_rooted_trees_places_each_node_above_its_parent() -> None:
    from nodelib.theory.order_conditions import rooted_trees, tree_order

    trees = [tree for p in (1, 2, 3) for tree in rooted_trees(p)]
    fig = plot_rooted_trees(trees, ["a", "b", "c", "d"])
    assert len(fig.axes) == 4
    for ax, tree, label in zip(fig.axes, trees, "abcd", strict=True):
        others, root = (c.get_offsets() for c in ax.collections)
        assert len(others) + len(root) == tree_order(tree)
        assert len(ax.lines) == tree_order(tree) - 1  # a tree: one edge fewer than nodes
        assert root[0, 1] == 0  # the root (a square) at the bottom
        for edge in ax.lines:  # each edge joins a node to a child one level up
            assert edge.get_ydata()[1] == edge.get_ydata()[0] + 1
        assert ax.texts[0].get_text() == label
    heights = [
        np.concatenate([c.get_offsets() for c in ax.collections])[:, 1].max() for ax in fig.axes
    ]
    assert heights == [0, 1, 1, 2]  # •, a root with a leaf, a root with two leaves, a chain
    with pytest.raises(ValueError, match="one per tree"):
        plot_rooted_trees(trees, ["a"])


def test_plot_adaptive_steps_separates_accepted_and_rejected() -> None:
    angle = torch.linspace(0, 6, 50)
    path = torch.stack([torch.cos(angle), torch.sin(angle)], 1)
    t = np.array([0.0, 0.1, 0.1, 0.3, 0.6])
    h = np.array([0.1, 0.4, 0.2, 0.3, 0.5])
    accepted = np.array([True, False, True, True, True])
    fig = plot_adaptive_steps(path, path[::10], t, h, accepted, bodies={"Moon": (1.0, 0.0)})
    ax1, ax2 = fig.axes
    np.testing.assert_allclose(ax1.lines[0].get_xdata(), path[:, 0].numpy())
    assert len(ax1.lines[1].get_xdata()) == 5 and [t.get_text() for t in ax1.texts] == ["Moon"]
    ok, rejected = ax2.lines
    np.testing.assert_allclose(ok.get_xdata(), t[accepted])
    np.testing.assert_allclose(ok.get_ydata(), h[accepted])
    np.testing.assert_allclose(rejected.get_ydata(), [0.4])
    assert ax2.get_yscale() == "log"


def test_plot_characteristic_roots_marks_roots_outside_the_disc() -> None:
    roots = {"inside": np.array([1.0, 0.5j, -0.5j]), "outside": np.array([1.0, -1.5])}
    fig = plot_characteristic_roots(roots, zoom="outside", ncols=2)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 3
    for ax, r in zip(visible, [roots["inside"], roots["outside"], roots["outside"]], strict=True):
        circle, inside, outside = ax.lines
        np.testing.assert_allclose(np.hypot(circle.get_xdata(), circle.get_ydata()), 1.0)
        assert len(inside.get_xdata()) + len(outside.get_xdata()) == len(r)
        assert np.all(np.hypot(outside.get_xdata(), outside.get_ydata()) > 1)
    assert len(visible[0].lines[2].get_xdata()) == 0
    np.testing.assert_allclose(visible[1].lines[2].get_xdata(), [-1.5])
    assert "1.5000" in visible[1].get_title()
    # The magnified panel is centred on the largest root.
    assert np.mean(visible[2].get_xlim()) == pytest.approx(-1.5)
    assert visible[2].get_title() == "outside magnified"


def test_plot_region_panels_fills_each_region_and_draws_the_loci() -> None:
    locus = np.exp(1j * np.linspace(0, 2 * np.pi, 50)) - 1
    panels = [
        RegionPanel("explicit", (-3, 1), (-2, 2), {"euler": TABLEAUS["euler"].stability_function},
                    loci=[locus]),
        RegionPanel("two", (-4, 1), (-3, 3), {"euler": TABLEAUS["euler"].stability_function,
                                              "rk4": TABLEAUS["rk4"].stability_function}),
    ]  # fmt: skip
    fig = plot_region_panels(panels, n=60)
    ax1, ax2 = fig.axes
    assert ax1.get_title() == "explicit" and ax1.get_xlim() == (-3, 1)
    np.testing.assert_allclose(ax1.lines[-1].get_xdata(), locus.real)
    assert [t.get_text() for t in ax2.get_legend().get_texts()] == ["euler", "rk4"]


def test_plot_modulus_marks_the_zeros_and_poles_of_gauss_legendre() -> None:
    zeros = np.array([-3 + 3**0.5 * 1j, -3 - 3**0.5 * 1j])
    ax = plot_modulus(GAUSS_LEGENDRE2.stability_function, zeros=zeros, poles=-zeros, n=80)
    zero_line, pole_line = ax.lines
    np.testing.assert_allclose(zero_line.get_xdata(), [-3, -3])
    np.testing.assert_allclose(pole_line.get_ydata(), [-(3**0.5), 3**0.5])
    assert len(ax.figure.axes) == 2  # the plot and its colour bar


def test_plot_stiff_steps_draws_solution_steps_and_limits() -> None:
    t = np.linspace(0, 4, 41)
    fig = plot_stiff_steps(
        t, np.exp(-t), np.exp(-t) + 1e-3, t[1:], np.full(40, 3e-3), h_limit=3.3e-3,
        h_fixed=0.1, names=("dopri5", "bdf2"),
    )  # fmt: skip
    ax1, ax2 = fig.axes
    np.testing.assert_allclose(ax1.lines[1].get_ydata(), np.exp(-t) + 1e-3)
    steps, limit, fixed = ax2.lines
    np.testing.assert_allclose(steps.get_xdata(), t[1:])
    np.testing.assert_allclose(limit.get_ydata(), [3.3e-3, 3.3e-3])
    np.testing.assert_allclose(fixed.get_ydata(), [0.1, 0.1])
    assert ax2.get_yscale() == "log" and "dopri5" in ax2.get_title()


def test_plot_lsoda_switch_colours_steps_by_family() -> None:
    t = np.logspace(-6, 5, 20)
    times, sizes = np.logspace(-5, 5, 10), np.logspace(-6, 4, 10)
    family = np.array([1, 1, 1, 2, 2, 2, 2, 2, 2, 2])
    fig = plot_lsoda_switch(t, {"$y_1$": np.ones(20)}, times, sizes, family, switch=times[3])
    ax1, ax2 = fig.axes
    adams, bdf, switch = ax2.lines
    np.testing.assert_allclose(adams.get_xdata(), times[:3])
    np.testing.assert_allclose(bdf.get_ydata(), sizes[3:])
    np.testing.assert_allclose(switch.get_xdata(), [times[3], times[3]])
    assert ax1.get_xscale() == "log"
    unknown = plot_lsoda_switch(t, {"y": np.ones(20)}, times, sizes, None, switch=np.nan)
    assert len(unknown.axes[1].lines) == 1


def test_plot_stability_explorer_marks_z_and_draws_both_solutions() -> None:
    t = torch.arange(31, dtype=torch.float64)
    modulus = 0.5**t
    fig = plot_stability_explorer(
        TABLEAUS["rk4"].stability_function, complex(-2.7, 0.5), t, modulus, method="rk4",
        growth=0.5,
    )  # fmt: skip
    assert isinstance(fig, Figure)
    ax1, ax2 = fig.axes
    star = ax1.lines[-1]
    assert (star.get_xdata()[0], star.get_ydata()[0]) == (-2.7, 0.5)
    assert "0.500" in ax1.get_title()
    numeric, exact = ax2.lines
    np.testing.assert_allclose(numeric.get_ydata(), modulus.numpy())
    np.testing.assert_allclose(exact.get_ydata(), np.exp(-2.7 * t.numpy()))


def test_every_function_is_exported_from_the_package() -> None:
    from nodelib.course import plotting

    for name in plotting.runge_kutta.__all__:
        assert getattr(plotting, name) is getattr(plotting.runge_kutta, name)
    assert "plot_characteristic_roots" in plotting.__all__
