"""Tests of nodelib.course.plotting.neural_odes (chapter 6's figures) under the Agg backend: each
function draws the numbers it is given (lines, bands, histograms, images, points), with the
labels and scales the chapter's text refers to."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.image import AxesImage

from nodelib.course.plotting import (
    plot_augmentation,
    plot_density_fits,
    plot_memory_growth,
    plot_nfe_training,
    plot_spiral_predictions,
    plot_tolerance_sweep,
    plot_trace_errors,
)
from nodelib.course.plotting._common import _running_mean


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _bands(ax) -> list[PolyCollection]:
    return [c for c in ax.collections if isinstance(c, PolyCollection)]


def _band_limits(band: PolyCollection) -> tuple[float, float]:
    y = band.get_paths()[0].vertices[:, 1]
    return float(y.min()), float(y.max())


def test_memory_growth_draws_one_line_per_network_in_mib() -> None:
    layers = (1, 2, 4, 8)
    memory = {"ResNet": [2**20, 2**21, 2**22, 2**23], "ODE-Net": torch.full((4,), 2.0**20)}
    ax = plot_memory_growth(layers, memory)
    lines = ax.get_lines()
    assert [ln.get_label() for ln in lines] == ["ResNet", "ODE-Net"]
    np.testing.assert_array_equal(lines[0].get_xdata(), layers)
    np.testing.assert_allclose(lines[0].get_ydata(), [1, 2, 4, 8])  # MiB
    np.testing.assert_allclose(lines[1].get_ydata(), [1, 1, 1, 1])
    assert list(ax.get_xticks()) == list(layers)
    assert "MiB" in ax.get_ylabel()
    assert ax.get_legend() is not None


def test_nfe_training_spreads_over_seeds_and_scatters_per_seed() -> None:
    forward = [[20.0, 22.0, 26.0], [20.0, 24.0, 28.0], [21.0, 23.0, 30.0]]  # (seeds, epochs)
    backward = [[18.0, 20.0, 24.0], [19.0, 22.0, 25.0], [20.0, 21.0, 27.0]]
    fig = plot_nfe_training(forward, backward, seeds=[5, 6, 7])
    left, right = fig.axes
    means = [ln for ln in left.get_lines()]
    assert [ln.get_label() for ln in means] == ["forward", "backward (adjoint)"]
    np.testing.assert_array_equal(means[0].get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(means[0].get_ydata(), np.mean(forward, axis=0))
    np.testing.assert_allclose(means[1].get_ydata(), np.mean(backward, axis=0))
    bands = _bands(left)
    assert len(bands) == 2
    assert _band_limits(bands[0]) == (20.0, 30.0)  # min and max over seeds and epochs
    points = [ln for ln in right.get_lines() if ln.get_label().startswith("seed")]
    assert [ln.get_label() for ln in points] == ["seed 5", "seed 6", "seed 7"]
    np.testing.assert_array_equal(points[1].get_xdata(), forward[1])
    np.testing.assert_array_equal(points[1].get_ydata(), backward[1])
    half = next(ln for ln in right.get_lines() if ln.get_label() == "backward = forward / 2")
    x, y = half.get_data()
    assert y[1] == pytest.approx(x[1] / 2) and x[1] == pytest.approx(1.1 * 30)


def test_nfe_training_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="forward"):
        plot_nfe_training([[1.0, 2.0]], [[1.0, 2.0, 3.0]], seeds=[0])


def test_tolerance_sweep_log_axis_and_error_in_percent() -> None:
    tols = (1e-1, 1e-2, 1e-3)
    nfe = torch.tensor([[20.0, 30.0, 50.0], [20.0, 32.0, 56.0]])
    acc = torch.tensor([[0.80, 0.85, 0.85], [0.90, 0.90, 0.91]])
    fig = plot_tolerance_sweep(tols, nfe, acc, seeds=[0, 1])
    left, right = fig.axes
    assert left.get_xscale() == "log"
    assert left.xaxis_inverted()  # the tightest tolerance on the right
    (mean,) = left.get_lines()
    np.testing.assert_allclose(mean.get_xdata(), tols)
    np.testing.assert_allclose(mean.get_ydata(), [20, 31, 53])
    assert _band_limits(_bands(left)[0]) == (20.0, 56.0)
    lines = right.get_lines()
    assert [ln.get_label() for ln in lines] == ["seed 0", "seed 1"]
    np.testing.assert_allclose(lines[0].get_xdata(), nfe[0])
    np.testing.assert_allclose(lines[1].get_ydata(), [10, 10, 9], atol=1e-5)
    assert [t.get_text() for t in right.texts] == ["0.1", "0.01", "0.001"]
    with pytest.raises(ValueError, match="need"):
        plot_tolerance_sweep(tols[:2], nfe, acc, seeds=[0, 1])


def test_trace_errors_one_histogram_per_probe() -> None:
    errors = {"gaussian": torch.randn(500), "rademacher": 0.5 * torch.randn(500)}
    ax = plot_trace_errors(errors, bins=25)
    assert len(ax.patches) == 50  # 25 bars each
    counts = [p.get_height() for p in ax.patches]
    assert sum(counts[:25]) == 500 and sum(counts[25:]) == 500
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["gaussian", "rademacher"]


def test_running_mean_averages_the_last_window_values() -> None:
    values = np.array([[1.0, 3.0, 5.0, 7.0, 9.0]])
    np.testing.assert_allclose(_running_mean(values, 2), [[1, 2, 4, 6, 8]])
    np.testing.assert_allclose(_running_mean(values, 10), [[1, 2, 3, 4, 5]])


def test_density_fits_images_then_smoothed_losses_over_seeds() -> None:
    def gaussian(x: torch.Tensor) -> torch.Tensor:
        return -0.5 * (x**2).sum(-1)

    grid = np.zeros((7, 7))
    losses = {"planar": np.full((3, 40), 3.0), "CNF": np.linspace(4, 2.5, 30)[None].repeat(3, 0)}
    fig = plot_density_fits(
        {"target": gaussian, "model": grid}, losses, entropy=2.1, n=(9, 11), window=5
    )
    axes = fig.axes
    assert len(axes) == 3
    assert [ax.get_title() for ax in axes[:2]] == ["target", "model"]
    (image,) = [a for a in axes[0].get_children() if isinstance(a, AxesImage)]
    assert image.get_array().shape == (9, 9)  # n of its own panel
    assert axes[1].images[0].get_array().shape == (7, 7)  # a grid is drawn as given
    lines = axes[2].get_lines()
    assert [ln.get_label() for ln in lines] == ["planar", "CNF", "true entropy"]
    assert len(lines[0].get_xdata()) == 40 and len(lines[1].get_xdata()) == 30
    np.testing.assert_allclose(lines[1].get_ydata(), _running_mean(losses["CNF"], 5)[0])
    assert lines[2].get_ydata()[0] == pytest.approx(2.1)
    assert axes[2].get_ylim() == pytest.approx((1.8, 4.6))
    assert axes[2].get_title() == "Training loss (3 seeds)"
    with pytest.raises(ValueError, match="grid sizes"):
        plot_density_fits({"target": gaussian}, losses, entropy=2.1, n=(9, 11))


def test_spiral_predictions_solid_inside_dashed_after_the_window() -> None:
    n, t, n_obs = 4, 10, 6
    y_true = torch.randn(n, t, 2)
    y_obs, mask = torch.randn(n, n_obs, 2), torch.rand(n, n_obs) > 0.5
    preds = {"latent ODE": torch.randn(n, t, 2), "RNN": torch.randn(n, t, 2)}
    fig = plot_spiral_predictions(y_true, y_obs, mask, preds, n_obs=n_obs, spirals=(1, 3), seed=2)
    assert len(fig.axes) == 2
    ax = fig.axes[1]
    assert ax.get_title() == "spiral 3 (seed 2)"
    truth, obs, inside, after, rnn_inside, rnn_after = ax.get_lines()
    np.testing.assert_allclose(truth.get_xdata(), y_true[3, :, 0])
    np.testing.assert_allclose(obs.get_ydata(), y_obs[3][mask[3]][:, 1])
    np.testing.assert_allclose(inside.get_xdata(), preds["latent ODE"][3, :n_obs, 0])
    np.testing.assert_allclose(after.get_ydata(), preds["latent ODE"][3, n_obs - 1 :, 1])
    assert inside.get_linestyle() == "-" and after.get_linestyle() == "--"
    assert rnn_after.get_label() == "RNN (extrapolation)"
    assert inside.get_color() != rnn_inside.get_color()
    assert fig.axes[0].get_legend() is not None


def test_augmentation_four_panels() -> None:
    acc = {"plain": [[0.5, 0.7], [0.6, 0.75]], "augmented": [[0.8, 1.0], [0.9, 1.0]]}
    nfe = {"plain": [[14.0, 40.0], [16.0, 32.0]], "augmented": [[14.0, 26.0], [14.0, 28.0]]}
    x = torch.linspace(-1.5, 1.5, 9)[:, None]
    labels = (x[:, 0].abs() > 1).long()
    fig = plot_augmentation(
        acc, nfe, ceiling=torch.tensor([0.76, 0.78]), x=x, labels=labels,
        flowed=2 * x, lifted=torch.cat([x, x**2], 1), seed=0,
    )  # fmt: skip
    accuracy, evals, flow, features = fig.axes
    assert [ln.get_label() for ln in accuracy.get_lines()] == ["plain", "augmented"]
    np.testing.assert_allclose(accuracy.get_lines()[1].get_ydata(), [0.85, 1.0])
    np.testing.assert_allclose(evals.get_lines()[0].get_ydata(), [15, 36])
    assert len(_bands(evals)) == 2
    span = [p for p in accuracy.patches if p.get_label() == "best threshold (range)"]
    assert len(span) == 1
    bottom, top = span[0].get_bbox().y0, span[0].get_bbox().y1  # data units along y
    assert (bottom, top) == pytest.approx((0.76, 0.78))
    (points,) = [c for c in flow.collections if isinstance(c, PathCollection)]
    np.testing.assert_allclose(points.get_offsets(), torch.cat([x, 2 * x], 1))
    (lifted,) = [c for c in features.collections if isinstance(c, PathCollection)]
    np.testing.assert_allclose(lifted.get_offsets()[:, 1], x[:, 0] ** 2)
    assert flow.get_title() == "plain: the flow map (seed 0)"
