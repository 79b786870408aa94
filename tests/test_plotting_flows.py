"""Tests of nodelib.course.plotting.flows (the figures of chapter 4) under the Agg backend: each
function draws the numbers it is given, with the panels, labels, styles and scales it promises."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

from nodelib.course import plotting
from nodelib.course.plotting import (
    plot_change_of_variables_1d,
    plot_density_row,
    plot_flow_by_layer,
    plot_flow_training,
    plot_jacobian_pattern,
    plot_likelihood_ascent,
    plot_logdet_costs,
    plot_two_densities,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _gaussian(x: torch.Tensor) -> torch.Tensor:
    return -0.5 * (x**2).sum(-1) - np.log(2 * np.pi)


def _scatters(ax: Axes) -> list[PathCollection]:
    return [c for c in ax.collections if isinstance(c, PathCollection)]


def _band(ax: Axes) -> tuple[np.ndarray, np.ndarray]:
    # The lower and upper edges of the first fill_between band (its path's vertices).
    (band,) = [c for c in ax.collections if not isinstance(c, PathCollection)][:1]
    v = band.get_paths()[0].vertices
    return v[:, 0], v[:, 1]


def test_every_function_is_exported_from_the_package() -> None:
    assert plotting.flows.__all__
    for name in plotting.flows.__all__:
        assert getattr(plotting, name) is getattr(plotting.flows, name)


def test_change_of_variables_draws_the_histogram_and_both_densities() -> None:
    samples = torch.randn(5000, 1, generator=torch.Generator().manual_seed(0))
    x = torch.linspace(-5, 5, 101)[:, None]
    density, base = torch.exp(-(x[:, 0] ** 2) / 8) / 5, torch.exp(-(x[:, 0] ** 2) / 2) / 2.5
    ax = plot_change_of_variables_1d(samples, x, density, base, bins=40)
    assert len(ax.patches) == 40  # one bar per bin
    heights = np.array([p.get_height() for p in ax.patches])
    assert np.sum(heights * 10 / 40) == pytest.approx(1.0)  # density=True over [-5, 5]
    (flow_line, base_line) = ax.get_lines()
    np.testing.assert_allclose(flow_line.get_xdata(), x[:, 0].numpy())
    np.testing.assert_allclose(flow_line.get_ydata(), density.numpy())
    np.testing.assert_allclose(base_line.get_ydata(), base.numpy())
    assert base_line.get_linestyle() == "--"
    assert ax.get_legend() is not None and ax.get_xlabel() == "x"


def test_likelihood_ascent_draws_mean_and_range_per_curve() -> None:
    train = torch.tensor([[0.0, 1.0, 2.0], [0.2, 1.4, 2.6], [0.1, 0.6, 1.0]])  # (seeds, T + 1)
    held = train - 0.5
    ax = plot_likelihood_ascent(train, held)
    solid, dashed = ax.get_lines()
    np.testing.assert_allclose(solid.get_xdata(), [0, 1, 2])
    np.testing.assert_allclose(solid.get_ydata(), train.mean(0).numpy())
    np.testing.assert_allclose(dashed.get_ydata(), held.mean(0).numpy())
    assert solid.get_linestyle() == "-" and dashed.get_linestyle() == "--"
    assert "3 seeds" in solid.get_label() and "held-out" in dashed.get_label()
    _, y = _band(ax)  # the training band spans the min and max over the seeds
    assert y.min() == pytest.approx(0.0) and y.max() == pytest.approx(2.6)
    assert "tilde" in ax.get_ylabel()
    with pytest.raises(ValueError, match="seeds"):
        plot_likelihood_ascent(train, held[:, :2])


def test_two_densities_draws_samples_on_top_and_densities_below() -> None:
    pushed = [torch.randn(50, 2), torch.randn(60, 2)]
    fig = plot_two_densities(pushed, [_gaussian, _gaussian], [0, 7], n=20)
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    top, bottom = fig.axes[:2], fig.axes[2:]
    for ax, points in zip(top, pushed, strict=True):
        (scatter,) = _scatters(ax)
        np.testing.assert_allclose(scatter.get_offsets(), points.numpy())
    assert [ax.get_title() for ax in top] == ["$\\rho_t$, t = 0", "$\\rho_t$, t = 7"]
    assert bottom[1].get_title() == "$\\tilde\\rho_t$, t = 7"
    assert all(len(ax.images) == 1 and not _scatters(ax) for ax in bottom)  # densities
    assert bottom[0].get_xlim() == pytest.approx((-3.5, 3.5))
    assert "Gaussian space" in top[0].get_ylabel()
    with pytest.raises(ValueError, match="equally long"):
        plot_two_densities(pushed, [_gaussian], [0, 7])


def test_flow_by_layer_titles_the_layers_and_puts_the_samples_below() -> None:
    samples = [torch.randn(30, 2) for _ in range(3)]
    fig = plot_flow_by_layer([_gaussian] * 3, samples, [0, 2, 4], n=20)
    assert len(fig.axes) == 6
    assert [ax.get_title() for ax in fig.axes[:3]] == [f"after {k} layers" for k in (0, 2, 4)]
    assert fig.axes[4].get_title() == "samples after 2 layers"
    for ax, points in zip(fig.axes[3:], samples, strict=True):
        np.testing.assert_allclose(_scatters(ax)[0].get_offsets(), points.numpy())
    assert not any(_scatters(ax) for ax in fig.axes[:3])


def test_density_row_draws_one_labelled_panel_per_frame() -> None:
    points = torch.randn(40, 2)
    fig = plot_density_row([_gaussian, points], ["a density", "samples"], xlim=(-2, 2), n=20)
    left, right = fig.axes[:2]  # (plus the density's colour bar, if it draws one)
    assert (left.get_title(), right.get_title()) == ("a density", "samples")
    assert left.get_ylabel() == "$x_2$" and right.get_xlabel() == "$x_1$"
    (scatter,) = _scatters(right)
    np.testing.assert_allclose(scatter.get_offsets(), points.numpy())
    assert matplotlib.colors.same_color(scatter.get_facecolor()[0][:3], "C1")  # panel 1: C1
    assert right.get_xlim() == pytest.approx((-2, 2))
    with pytest.raises(ValueError, match="one title per frame"):
        plot_density_row([points], ["a", "b"])


def test_logdet_costs_draws_log_log_lines_references_and_the_rate() -> None:
    nd, td = [512, 1024, 2048], [0.01, 0.08, 0.6]
    nt, tt = [2**10, 2**15, 2**20], [1e-6, 3e-5, 1e-3]
    fig = plot_logdet_costs(
        (nd, td), (nt, tt), [5.0, 6.0, 7.0], slopes=(2.9, 1.0, 0.1), rate_trend="rises"
    )
    ax, ax2 = fig.axes
    assert ax.get_xscale() == ax.get_yscale() == "log"
    dense, tri, cubic, linear = ax.get_lines()
    np.testing.assert_allclose(dense.get_ydata(), td)
    np.testing.assert_allclose(tri.get_xdata(), nt)
    assert "2.90" in dense.get_label() and "1.00" in tri.get_label()
    # the references pass through the first dense and the last triangular point
    n0, n1 = cubic.get_xdata()
    assert (n0, n1) == (512, 2**20)
    assert cubic.get_ydata()[1] == pytest.approx(0.01 * (2**20 / 512) ** 3)
    assert linear.get_ydata()[0] == pytest.approx(1e-3 * 512 / 2**20)
    assert ax2.get_xscale() == "log" and ax2.get_yscale() == "linear"
    np.testing.assert_allclose(ax2.get_lines()[0].get_ydata(), [5.0, 6.0, 7.0])
    assert "rises" in ax2.get_title() and "0.10" in ax2.get_title()


def test_jacobian_pattern_shows_absolute_values_with_the_order_as_ticks() -> None:
    j = torch.tensor([[1.0, 0.0], [-2.0, 3.0]])
    ax = plot_jacobian_pattern(j, [1, 0])
    (image,) = ax.images
    np.testing.assert_allclose(image.get_array(), [[1.0, 0.0], [2.0, 3.0]])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "0"]
    assert len(ax.figure.axes) == 2  # and a colour bar
    with pytest.raises(ValueError, match="Jacobian"):
        plot_jacobian_pattern(j, [0, 1, 2])


def test_flow_training_draws_the_moving_mean_over_seeds_and_two_levels() -> None:
    steps = torch.arange(10, dtype=torch.float64)
    losses = torch.stack([4 - 0.1 * steps, 4.2 - 0.2 * steps], dim=1)  # (steps, seeds)
    ax = plot_flow_training(losses, gaussian=3.5, entropy=2.0, window=4)
    mean, gaussian, entropy = ax.get_lines()
    np.testing.assert_allclose(mean.get_xdata(), np.arange(4, 11))
    smooth = losses.unfold(0, 4, 1).mean(-1)  # (steps - 3, seeds)
    np.testing.assert_allclose(mean.get_ydata(), smooth.mean(1).numpy())
    _, y = _band(ax)
    assert y.min() == pytest.approx(float(smooth.min()))
    assert y.max() == pytest.approx(float(smooth.max()))
    assert gaussian.get_ydata()[0] == 3.5 and gaussian.get_linestyle() == "--"
    assert entropy.get_ydata()[0] == 2.0 and entropy.get_linestyle() == ":"
    assert "2 seeds" in mean.get_label() and "4 steps" in ax.get_title()
    with pytest.raises(ValueError, match="steps"):
        plot_flow_training(losses[:3], gaussian=3.5, entropy=2.0, window=4)
