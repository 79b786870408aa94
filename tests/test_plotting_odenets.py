"""Tests of nodelib.course.plotting.odenets (chapter 6's ODE-Net results) under the Agg backend:
each function draws the numbers it is given, on the scales the chapter's text refers to."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from nodelib.course.plotting import (
    plot_backward_forward,
    plot_classifier_training,
    plot_error_against_nfe,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_classifier_training_mean_in_percent_and_final_points() -> None:
    errors = {
        "ResNet": [[0.5, 0.1, 0.02], [0.6, 0.2, 0.04]],  # (seeds, epochs), fractions
        "ODE-Net": np.array([[0.7, 0.3, 0.03], [0.8, 0.2, 0.01]]),
    }
    fig = plot_classifier_training(errors)
    curves, finals = fig.axes
    means = [ln for ln in curves.get_lines() if ln.get_label() in errors]
    np.testing.assert_allclose(means[0].get_ydata(), [55, 15, 3])  # percent
    np.testing.assert_array_equal(means[0].get_xdata(), [1, 2, 3])
    assert curves.get_yscale() == "log" and len(curves.collections) == 2  # one band each
    points = finals.get_lines()
    np.testing.assert_allclose(points[1].get_ydata(), [3, 1])  # the ODE-Net's last epoch
    assert [p.get_height() for p in finals.patches] == pytest.approx([3, 2])
    with pytest.raises(ValueError, match="same number of seeds"):
        plot_classifier_training({"a": [[0.1]], "b": [[0.1], [0.2]]})


def test_error_against_nfe_log_log_with_geometric_mean() -> None:
    tols = [1e-2, 1e-4]
    sweeps = {
        "dopri5": {
            "nfe": [[20, 50], [26, 56]],
            "error": [[1e-2, 1e-4], [1e-2, 1e-6]],
            "accuracy": [[0.9, 0.95], [0.8, 0.85]],
        },
    }
    fig = plot_error_against_nfe(tols, sweeps)
    err_ax, acc_ax = fig.axes
    assert err_ax.get_xscale() == err_ax.get_yscale() == "log"
    mean = next(ln for ln in err_ax.get_lines() if ln.get_label() == "dopri5")
    np.testing.assert_allclose(mean.get_xdata(), [23, 53])
    np.testing.assert_allclose(mean.get_ydata(), [1e-2, 1e-5])  # geometric mean
    texts = [t.get_text() for t in err_ax.texts]
    assert texts == ["tol 0.01", "tol 0.0001"]
    ys = np.concatenate([ln.get_ydata() for ln in acc_ax.get_lines()[:2]])
    np.testing.assert_allclose(sorted(ys), sorted([10, 20, 5, 15]))  # test error in percent
    with pytest.raises(ValueError, match="need"):
        plot_error_against_nfe([1e-2], sweeps)


def test_backward_forward_scatter_and_ratios() -> None:
    pairs = {"dopri5": {"1e-03": ([26, 32], [20, 32])}, "LSODA": {"1e-03": ([40], [20])}}
    fig = plot_backward_forward(pairs)
    scatter, ratios = fig.axes
    assert scatter.get_xscale() == "log"
    labels = [ln.get_label() for ln in scatter.get_lines()]
    assert labels[:2] == ["dopri5, tol 1e-03", "LSODA, tol 1e-03"]
    assert "backward = forward / 2" in labels
    assert [p.get_height() for p in ratios.patches] == pytest.approx([(20 / 26 + 1) / 2, 0.5])
    assert [t.get_text() for t in ratios.get_xticklabels()] == ["dopri5\n1e-03", "LSODA\n1e-03"]
    with pytest.raises(ValueError, match="forward"):
        plot_backward_forward({"x": {"1": ([1, 2], [1])}})
