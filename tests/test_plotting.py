"""Tests of nodelib.course.plotting under the Agg backend: each helper draws what it should and
returns its Axes; the stability-region mask is checked against the known real stability
intervals."""

from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.quiver import Quiver

from nodelib.course.plotting import (
    phase_portrait,
    plot_density_2d,
    plot_density_evolution,
    plot_learning_curves,
    plot_samples,
    plot_stability_region,
    plot_trajectories,
    plot_vector_field,
    stability_region_mask,
)
from nodelib.data import log_density_2d, sample_2d
from nodelib.tableau import EULER, RK4, TABLEAUS

plt.switch_backend("Agg")  # headless, like the book's build


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _rotation(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # y' = J y - 0.1 y: a stable spiral
    return torch.stack([-y[..., 1], y[..., 0]], dim=-1) - 0.1 * y


class _Field(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(2, 2)

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        assert y.dtype == self.lin.weight.dtype
        return self.lin(y)


def _quivers(ax: Axes) -> list[Quiver]:
    return [c for c in ax.collections if isinstance(c, Quiver)]


# ---------------------------------------------------------------------------------------------
# Stability regions: the mask, not the pixels


def _inside(mask: tuple[np.ndarray, ...], z: complex) -> bool:
    re, im, inside = mask
    return bool(inside[np.argmin(abs(im - z.imag)), np.argmin(abs(re - z.real))])


def test_euler_stability_region() -> None:
    mask = stability_region_mask(EULER, (-3.0, 1.0), (-2.0, 2.0), n=401)
    assert _inside(mask, -1.0) and _inside(mask, -1.0 + 0.9j)
    assert not _inside(mask, -2.5) and not _inside(mask, 0.1) and not _inside(mask, -1 + 1.1j)
    # the disk |1 + z| <= 1 has area pi
    re, im, inside = mask
    area = inside.sum() * (re[1] - re[0]) * (im[1] - im[0])
    assert abs(area - np.pi) < 0.05


def test_rk4_stability_interval() -> None:
    # RK4's real stability interval is about [-2.785, 0].
    mask = stability_region_mask("rk4", (-3.0, 0.5), (-3.0, 3.0), n=701)
    assert _inside(mask, -2.7) and not _inside(mask, -2.9)
    assert _inside(mask, 2.8j) and not _inside(mask, 2.9j)  # imaginary interval ~ 2.83
    assert stability_region_mask(RK4)[2].any()


def test_stability_mask_accepts_callable_and_rejects_names() -> None:
    re, im, inside = stability_region_mask(lambda z: 1 / (1 - z), (-2.0, 2.0), (-1.0, 1.0), n=41)
    # backward Euler: stable outside the disk |1 - z| < 1
    assert _inside((re, im, inside), -1.0) and not _inside((re, im, inside), 1.0)
    with pytest.raises(ValueError, match="choose one of"):
        stability_region_mask("rk5")


def test_plot_stability_region_draws() -> None:
    ax = plot_stability_region("euler", n=100)
    plot_stability_region(TABLEAUS["rk4"], ax=ax, color="C1", n=100)
    assert isinstance(ax, Axes)
    assert len(ax.lines) == 4  # the real and imaginary axis, for each call
    labels = [t.get_text() for t in ax.legend().get_texts()]
    assert labels == ["euler", "rk4"]


# ---------------------------------------------------------------------------------------------
# Trajectories, fields, portraits


def test_plot_trajectories_line_counts() -> None:
    t = torch.linspace(0, 1, 11)
    ys = torch.randn(11, 3, 2)  # (T, batch, dim)
    assert len(plot_trajectories(t, ys).lines) == 6
    assert len(plot_trajectories(t, ys, dims=[1]).lines) == 3
    ax = plot_trajectories(t, ys, phase=True)
    assert len(ax.lines) == 3
    np.testing.assert_allclose(ax.lines[1].get_xydata(), ys[:, 1].numpy())
    assert len(plot_trajectories(t, torch.randn(11)).lines) == 1
    with pytest.raises(ValueError):
        plot_trajectories(t, torch.randn(10, 2))


def test_plot_vector_field_values() -> None:
    ax = plot_vector_field(_rotation, (-1, 1), (-2, 2), n=5)
    (q,) = _quivers(ax)
    assert q.N == 25
    # the arrow at grid point (x, y) is f(x, y)
    X, Y = q.X.reshape(5, 5), q.Y.reshape(5, 5)
    np.testing.assert_allclose(q.U.reshape(5, 5), -Y - 0.1 * X, atol=1e-6)
    np.testing.assert_allclose(q.V.reshape(5, 5), X - 0.1 * Y, atol=1e-6)
    assert ax.get_xlim() == (-1, 1)
    plot_vector_field(_rotation, (-1, 1), (-1, 1), n=5, stream=True)
    # a float64 module is evaluated in float64
    ax3 = plot_vector_field(_Field().double(), (-1, 1), (-1, 1), n=4, normalize=True)
    assert np.allclose(np.hypot(_quivers(ax3)[0].U, _quivers(ax3)[0].V), 1.0)


def test_plot_vector_field_time_dependent() -> None:
    # t is passed on: f = (t, 0)
    ax = plot_vector_field(
        lambda t, y: torch.stack([t.expand(len(y)), 0 * t.expand(len(y))], 1),
        (0, 1),
        (0, 1),
        t=2.5,
        n=3,
    )
    assert np.allclose(_quivers(ax)[0].U, 2.5)


def test_phase_portrait() -> None:
    y0 = torch.tensor([[1.0, 0.0], [0.0, -1.5]])
    ax = phase_portrait(_rotation, (-2, 2), (-2, 2), y0=y0, t_end=2.0, n_times=50, n=8)
    assert len(_quivers(ax)) == 1 and len(ax.lines) == 2
    # the first trajectory is the exact spiral e^{-0.1 t} (cos t, sin t)
    t_end_point = ax.lines[0].get_xydata()[-1]
    exact = np.exp(-0.2) * np.array([np.cos(2.0), np.sin(2.0)])
    np.testing.assert_allclose(t_end_point, exact, atol=1e-4)
    assert len(phase_portrait(_rotation, (-2, 2), (-2, 2), t_end=1.0, n_times=10).lines) == 16


# ---------------------------------------------------------------------------------------------
# Densities and samples


def test_plot_density_2d_function_and_grid() -> None:
    ax = plot_density_2d(lambda x: log_density_2d("eight_gaussians", x), n=50)
    (img,) = ax.images
    arr = img.get_array()
    assert arr.shape == (50, 50)
    # image is exp(log p): it sums (times the cell area) to about one
    assert abs(float(arr.sum()) * (8 / 49) ** 2 - 1) < 0.05
    grid = torch.zeros(7, 9)
    ax2 = plot_density_2d(grid, log=True)
    assert ax2.images[0].get_array().shape == (7, 9)
    with pytest.raises(ValueError, match="2-D"):
        plot_density_2d(torch.zeros(3))


def test_plot_samples() -> None:
    x = sample_2d("two_moons", 300, generator=torch.Generator().manual_seed(0))
    ax = plot_samples(x, xlim=(-4, 4), ylim=(-4, 4))
    (pc,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert pc.get_offsets().shape == (300, 2) and ax.get_xlim() == (-4, 4)
    ax2 = plot_samples(x, bins=20, xlim=(-4, 4), ylim=(-4, 4))
    assert ax2.collections[0].get_array().size == 400
    with pytest.raises(ValueError):
        plot_samples(torch.zeros(5, 3))


def test_plot_density_evolution() -> None:
    frames = [sample_2d("rings", 100), torch.zeros(20, 20), lambda x: log_density_2d("rings", x)]
    fig = plot_density_evolution(frames, times=[0.0, 0.5, 1.0], n=20)
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert [a.get_title() for a in fig.axes] == ["t = 0", "t = 0.5", "t = 1"]
    assert len(fig.axes[0].collections) == 1 and len(fig.axes[1].images) == 1
    assert len(fig.axes[2].images) == 1
    with pytest.raises(ValueError):
        plot_density_evolution(frames, times=[0.0])


# ---------------------------------------------------------------------------------------------
# Learning curves


@dataclass
class _History:
    loss: list = field(default_factory=lambda: [1.0, 0.5, 0.25])
    nfe: list = field(default_factory=lambda: [torch.tensor(26), torch.tensor(32), 38])
    name: str = "run"


def test_plot_learning_curves_is_lenient() -> None:
    ax = plot_learning_curves(
        {"loss": [3, 2, 1], "acc": np.array([0.1, 0.5, 0.9]), "epoch": [1, 2, 3], "note": "x"}
    )
    assert [ln.get_label() for ln in ax.lines] == ["loss", "acc"]
    np.testing.assert_allclose(ax.lines[0].get_xdata(), [1, 2, 3])
    assert ax.get_xlabel() == "epoch"
    ax2 = plot_learning_curves(_History(), logy=True)
    assert [ln.get_label() for ln in ax2.lines] == ["loss", "nfe"]
    assert ax2.get_yscale() == "log"

    class WithDict:
        def __init__(self) -> None:
            self.history = {"train_loss": [0.3, 0.2]}

    assert len(plot_learning_curves(WithDict()).lines) == 1
    rows = [{"step": 0, "loss": 1.0}, {"step": 10, "loss": 0.5}]
    np.testing.assert_allclose(plot_learning_curves(rows).lines[0].get_xdata(), [0, 10])
    assert len(plot_learning_curves(_History(), keys=["nfe"]).lines) == 1
    with pytest.raises(ValueError, match="numeric series found"):
        plot_learning_curves({"loss": [1.0]}, keys=["accuracy"])
    with pytest.raises(ValueError):
        plot_learning_curves({"note": "nothing"})


def test_plotting_modules_export_distinct_names() -> None:
    """nodelib.course.plotting re-exports every module's names with `*`: a name exported by two
    modules would silently hide one of the functions."""
    import importlib

    import nodelib.course.plotting as plotting

    owners: dict[str, list[str]] = {}
    for module in ("curves", "fields", "regions", "one_step", "runge_kutta", "stiffness", "resnets",
                   "flows", "adjoint", "neural_odes", "odenets", "paper_results"):  # fmt: skip
        for name in importlib.import_module(f"nodelib.course.plotting.{module}").__all__:
            owners.setdefault(name, []).append(module)
    clashes = {name: mods for name, mods in owners.items() if len(mods) > 1}
    assert not clashes, clashes
    assert sorted(plotting.__all__) == sorted(owners)
