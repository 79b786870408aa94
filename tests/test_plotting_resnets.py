"""The figures of chapter 3 (nodelib.course.plotting.resnets) draw the numbers they are given."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.colors import to_rgba

from nodelib.course.plotting import (
    plot_deletion_effect,
    plot_depth_study,
    plot_forward_stability,
    plot_gradient_norms,
    plot_layer_deletion,
    plot_linear_euler,
    plot_saved_memory,
    plot_shared_weight_convergence,
    plot_training_losses,
)

LABELS = {"plain": "plain", "resnet": "residual, $h = 1$", "ode": "residual, $h = T/N$"}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _check_spread(ax, x, values_by_kind, seed_dim):
    """Each kind: a line at the mean over seeds in its colour, and a band in the same colour."""
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert len(ax.collections) == len(values_by_kind)  # one band per kind
    for kind, values in values_by_kind.items():
        line = lines[LABELS[kind]]
        np.testing.assert_allclose(line.get_xdata(), x)
        np.testing.assert_allclose(line.get_ydata(), np.asarray(values).mean(seed_dim))
        assert to_rgba(line.get_color()) == to_rgba(f"C{list(LABELS).index(kind)}")
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [LABELS[k] for k in values_by_kind]


def test_gradient_norms_are_mean_lines_over_layers_on_a_log_axis() -> None:
    norms = {kind: _rng(i).uniform(0.1, 5, size=(3, 6)) for i, kind in enumerate(LABELS)}
    ax = plot_gradient_norms(norms, LABELS)
    _check_spread(ax, np.arange(1, 7), norms, seed_dim=0)
    assert ax.get_yscale() == "log"
    assert "depth 6" in ax.get_title() and "3 seeds" in ax.get_title()


def test_gradient_norms_accept_tensors_and_a_given_axes() -> None:
    _, ax = plt.subplots()
    norms = {"ode": torch.ones(2, 4)}
    assert plot_gradient_norms(norms, LABELS, ax=ax) is ax
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), np.ones(4))


def test_training_losses_are_drawn_per_epoch_with_seeds_in_columns() -> None:
    losses = {kind: _rng(i).uniform(0.01, 2, size=(5, 3)) for i, kind in enumerate(LABELS)}
    ax = plot_training_losses(losses, LABELS, depth=16)
    _check_spread(ax, np.arange(1, 6), losses, seed_dim=1)
    assert ax.get_yscale() == "log"
    assert "depth 16" in ax.get_title()


def test_depth_study_has_accuracy_and_loss_panels_on_log_depth_axes() -> None:
    depths = (2, 8, 16, 32)
    acc = {kind: _rng(i).uniform(50, 99, size=(4, 3)) for i, kind in enumerate(LABELS)}
    loss = {kind: _rng(i + 9).uniform(0.01, 1, size=(4, 3)) for i, kind in enumerate(LABELS)}
    fig = plot_depth_study(depths, acc, loss, LABELS)
    ax1, ax2 = fig.axes
    _check_spread(ax1, depths, acc, seed_dim=1)
    _check_spread(ax2, depths, loss, seed_dim=1)
    assert ax1.get_xscale() == ax2.get_xscale() == "log"
    assert (ax1.get_yscale(), ax2.get_yscale()) == ("linear", "log")
    assert "accuracy" in ax1.get_ylabel() and "loss" in ax2.get_ylabel()


def test_depth_study_draws_the_test_loss_dashed_in_each_kinds_colour() -> None:
    depths = (2, 8, 16, 32)
    acc = {kind: _rng(i).uniform(50, 99, size=(4, 3)) for i, kind in enumerate(LABELS)}
    loss = {kind: _rng(i + 9).uniform(0.01, 1, size=(4, 3)) for i, kind in enumerate(LABELS)}
    test = {kind: _rng(i + 19).uniform(0.01, 1, size=(4, 3)) for i, kind in enumerate(LABELS)}
    _, ax2 = plot_depth_study(depths, acc, loss, LABELS, test_loss=test).axes
    dashed = [line for line in ax2.get_lines() if line.get_linestyle() == "--"]
    assert len(dashed) == len(test)
    for line, (kind, values) in zip(dashed, test.items(), strict=True):
        np.testing.assert_allclose(line.get_ydata(), values.mean(1))
        assert to_rgba(line.get_color()) == to_rgba(f"C{list(LABELS).index(kind)}")
    assert len(ax2.collections) == 2 * len(LABELS)  # a band for every line
    legend = [t.get_text() for t in ax2.get_legend().get_texts()]
    assert legend == list(LABELS.values())  # the kinds once, not the dashed lines


def test_shared_weight_convergence_draws_every_seed_and_a_slope_one_line() -> None:
    steps = [2, 4, 8, 16]
    errors = np.array([[1.0, 0.5, 0.26, 0.13], [2.0, 1.0, 0.5, 0.24]])
    accs = np.array([[90.0, 91, 92, 92], [88, 89, 90, 91]])
    fig = plot_shared_weight_convergence(steps, errors, accs, [92.5, 91.5], seeds=[7, 8],
                                         slopes=[0.97, 1.02], n_train=8)  # fmt: skip
    ax1, ax2 = fig.axes
    lines = {line.get_label(): line for line in ax1.get_lines()}
    np.testing.assert_allclose(lines["seed 7, fitted slope 0.97"].get_ydata(), errors[0])
    np.testing.assert_allclose(lines["seed 8, fitted slope 1.02"].get_ydata(), errors[1])
    # slope 1 through the largest error at the largest N: 0.24 * 16 / N
    np.testing.assert_allclose(lines["slope 1"].get_ydata(), 0.24 * 16 / np.array(steps))
    assert ax1.get_xscale() == ax1.get_yscale() == "log"
    curves = [line for line in ax2.get_lines() if line.get_label().startswith("seed")]
    np.testing.assert_allclose([c.get_ydata() for c in curves], accs)
    horizontal = sorted(line.get_ydata()[0] for line in ax2.get_lines()
                        if line.get_linestyle() == ":")  # fmt: skip
    assert horizontal == [91.5, 92.5]  # the exact flow of each seed
    for ax in (ax1, ax2):  # the trained depth
        assert any(line.get_xdata()[0] == 8 and line.get_color() == "gray"
                   for line in ax.get_lines())  # fmt: skip


def test_layer_deletion_draws_drops_and_updates_over_the_layers() -> None:
    drops = {kind: _rng(i).uniform(0, 20, size=(3, 5)) for i, kind in enumerate(LABELS)}
    updates = {kind: _rng(i + 3).uniform(0.01, 1, size=(3, 5)) for i, kind in enumerate(LABELS)}
    fig = plot_layer_deletion(drops, updates, LABELS)
    ax1, ax2 = fig.axes
    _check_spread(ax1, np.arange(1, 6), drops, seed_dim=0)
    _check_spread(ax2, np.arange(1, 6), updates, seed_dim=0)
    assert (ax1.get_yscale(), ax2.get_yscale()) == ("linear", "log")
    assert "depth 5" in ax1.get_title()


def test_deletion_effect_draws_one_point_per_seed_and_layer() -> None:
    steps = {"ode": _rng(0).uniform(0.1, 1, (3, 4)), "resnet": _rng(1).uniform(1, 5, (3, 4))}
    changes = {kind: 1.2 * s for kind, s in steps.items()}
    ax = plot_deletion_effect(steps, changes, LABELS)
    lines = {line.get_label(): line for line in ax.get_lines()}
    for kind, marker in (("ode", "o"), ("resnet", "s")):
        points = lines[LABELS[kind]]
        np.testing.assert_allclose(points.get_xdata(), steps[kind].ravel())
        np.testing.assert_allclose(points.get_ydata(), changes[kind].ravel())
        assert points.get_marker() == marker and points.get_linestyle() == "None"
        assert to_rgba(points.get_color(), 0.6) == to_rgba(f"C{list(LABELS).index(kind)}", 0.6)
    diagonal = lines["change = step"]
    np.testing.assert_allclose(diagonal.get_xdata(), diagonal.get_ydata())
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert "3 seeds" in ax.get_title()


def test_forward_stability_draws_eigenvalues_growth_and_singular_values() -> None:
    names = ["generic", "antisymmetric"]
    z = {n: _rng(i).normal(size=4) * 0.1 + 0.1j * _rng(i + 5).normal(size=4)
         for i, n in enumerate(names)}  # fmt: skip
    growth = {n: _rng(i).uniform(0.5, 5, size=7) for i, n in enumerate(names)}
    singular = {n: np.sort(_rng(i).uniform(0.1, 3, size=4))[::-1] for i, n in enumerate(names)}
    fig = plot_forward_stability(z, growth, singular)
    ax0, ax1, ax2 = fig.axes
    for i, n in enumerate(names):
        (eig,) = [line for line in ax0.get_lines() if line.get_label() == n]
        np.testing.assert_allclose(eig.get_xdata(), z[n].real)
        np.testing.assert_allclose(eig.get_ydata(), z[n].imag)
        assert to_rgba(eig.get_color()) == to_rgba(f"C{i}")
        np.testing.assert_allclose(ax1.get_lines()[i].get_xdata(), np.arange(1, 8))
        np.testing.assert_allclose(ax1.get_lines()[i].get_ydata(), growth[n])
        np.testing.assert_allclose(ax2.get_lines()[i].get_ydata(), singular[n])
    assert ax1.get_yscale() == ax2.get_yscale() == "log"
    assert "7-layer" in ax2.get_title()
    assert ax0.images or ax0.collections  # Euler's stability region is drawn under them


def test_linear_euler_draws_eigenvalues_and_both_norms() -> None:
    z = np.array([0.1j, -0.1j, -0.05 + 0.2j])
    t = np.linspace(0, 1, 6)
    norms, exact = np.exp(0.1 * t), np.exp(-0.2 * t)
    fig = plot_linear_euler(z, t, norms, exact, h=0.2, gamma=0.2)
    ax1, ax2 = fig.axes
    (eig,) = [line for line in ax1.get_lines() if line.get_label() == r"$h\lambda$"]
    np.testing.assert_allclose(eig.get_xdata(), z.real)
    np.testing.assert_allclose(eig.get_ydata(), z.imag)
    euler, flow = ax2.get_lines()
    np.testing.assert_allclose(euler.get_ydata(), norms)
    np.testing.assert_allclose(flow.get_ydata(), exact)
    assert flow.get_linestyle() == ":" and ax2.get_yscale() == "log"
    assert "0.20" in ax1.get_title()


def test_saved_memory_is_drawn_in_kib_on_log_axes() -> None:
    depths = [1, 2, 4]
    ax = plot_saved_memory(depths, [2048, 4096, 8192], [1024, 1024, 1024])
    backprop, reversible = ax.get_lines()
    np.testing.assert_allclose(backprop.get_ydata(), [2, 4, 8])
    np.testing.assert_allclose(reversible.get_ydata(), [1, 1, 1])
    np.testing.assert_allclose(reversible.get_xdata(), depths)
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert "KiB" in ax.get_ylabel()
