"""Tests of the data of chapter 6's paper experiments: density-matching energies and the
authors' spiral windows (nodelib.data.densities, nodelib.data.spirals).

The mathematics checked: the normalisers of the wave energies against their closed forms and
that of the ring against an independent polar quadrature; the windows lie on the two
spirals' equations, turn the right way, are consecutive points of their curve, carry noise
of the stated size, leave the points to predict unobserved and inside the span that
training windows cover; everything is reproducible from the seed.
"""

from __future__ import annotations

import math

import pytest
import torch

from nodelib.data import (
    ENERGIES_2D,
    energy_2d,
    log_normaliser_2d,
    make_spiral_windows,
    spiral_pair,
)
from nodelib.data.sets import make_spirals  # the former home still serves old imports

# ∫ exp(-(x/4)^8) dx = 8 Γ(9/8), and every Gaussian band in x2 integrates to s √(2π).
_WALL_MASS = 8 * math.gamma(9 / 8)
_ROOT_2PI = math.sqrt(2 * math.pi)


@pytest.mark.parametrize(
    ("name", "band"), [("wave", 0.4), ("wave_split", 0.35 + 0.35), ("wave_step", 0.4 + 0.35)]
)
def test_wave_normalisers_closed_form(name: str, band: float) -> None:
    expected = math.log(band * _ROOT_2PI * _WALL_MASS)
    assert abs(log_normaliser_2d(name) - expected) < 1e-8


def test_ring_normaliser_by_polar_quadrature() -> None:
    # Midpoint in r, periodic trapezoid in the angle: independent of the Cartesian grid.
    n_r, n_a = 4000, 720
    r = (torch.arange(n_r, dtype=torch.float64) + 0.5) * (6.0 / n_r)
    a = torch.arange(n_a, dtype=torch.float64) * (2 * math.pi / n_a)
    R, A = torch.meshgrid(r, a, indexing="ij")
    x = torch.stack([R * torch.cos(A), R * torch.sin(A)], dim=-1)
    mass = (
        (torch.exp(-energy_2d("ring_two_modes", x)) * R).sum() * (6.0 / n_r) * (2 * math.pi / n_a)
    )
    assert abs(log_normaliser_2d("ring_two_modes") - math.log(float(mass))) < 1e-6


def test_energies_shapes_and_errors() -> None:
    x = torch.randn(3, 4, 2)
    for name in ENERGIES_2D:
        u = energy_2d(name, x)
        assert u.shape == (3, 4) and u.dtype == torch.float32 and torch.isfinite(u).all()
    # The ring's two lobes: lower energy at (±2, 0) than at (0, ±2) on the same ring.
    u = energy_2d("ring_two_modes", torch.tensor([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.0]]))
    assert float(u[0]) == pytest.approx(float(u[1])) and float(u[2]) > float(u[0]) + 4
    with pytest.raises(ValueError, match="choose one of"):
        energy_2d("banana", x)
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        energy_2d("wave", torch.zeros(3, 3))
    with pytest.raises(ValueError, match="choose one of"):
        log_normaliser_2d("banana")


def _polar(y: torch.Tensor, centre: float) -> tuple[torch.Tensor, torch.Tensor]:
    d = y.double() - torch.tensor([centre, 0.0], dtype=torch.float64)
    return torch.linalg.vector_norm(d, dim=-1), torch.atan2(d[..., 1], d[..., 0])


def test_spiral_pair_solves_the_script_equations() -> None:
    s, ccw, cw = spiral_pair(500)
    assert torch.allclose(s, torch.linspace(0, 6 * math.pi, 500, dtype=torch.float64))
    r, ang = _polar(ccw, 5.0)
    torch.testing.assert_close(r, 0.3 * s)  # r = b s around (+5, 0)
    theta = 6 * math.pi + 1 - s
    r_cw, ang_cw = _polar(cw, -5.0)
    torch.testing.assert_close(r_cw, 15.0 / theta)  # r = 50 b / theta around (-5, 0)
    torch.testing.assert_close(torch.cos(ang_cw), torch.cos(theta))
    torch.testing.assert_close(torch.sin(ang[1:]), torch.sin(s[1:]))


def test_windows_lie_on_their_spiral_and_turn_the_right_way() -> None:
    d = make_spiral_windows(
        200, n_window=40, n_extrapolate=20, n_observed=12, n_total=150, noise=0.0, seed=5
    )
    _, ccw, cw = spiral_pair(150)
    idx = d.start[:, None] + torch.arange(60)
    expected = torch.where(d.clockwise[:, None, None], cw[idx], ccw[idx]).float()
    torch.testing.assert_close(d.y_true, expected)
    assert torch.equal(d.y, d.y_true)  # no noise asked
    centre = torch.where(d.clockwise, -5.0, 5.0)[:, None, None]
    rel = d.y_true.double() - torch.cat([centre, torch.zeros_like(centre)], dim=-1)
    cross = rel[:, :-1, 0] * rel[:, 1:, 1] - rel[:, :-1, 1] * rel[:, 1:, 0]  # (N, T-1)
    assert bool((cross[~d.clockwise] > 0).all()) and bool((cross[d.clockwise] < 0).all())
    assert 0.35 < float(d.clockwise.float().mean()) < 0.65


def test_windows_mask_noise_and_coverage() -> None:
    train = make_spiral_windows(3000, n_extrapolate=0, n_observed=30, seed=1)
    test = make_spiral_windows(3000, n_observed=50, seed=2)
    assert train.y.shape == (3000, 100, 2) and test.y.shape == (3000, 200, 2)
    assert train.n_window == test.n_window == 100
    assert bool((train.mask.sum(1) == 30).all()) and bool((test.mask.sum(1) == 50).all())
    assert not bool(test.mask[:, 100:].any())  # the points to predict are never observed
    torch.testing.assert_close(test.t, spiral_pair(500)[0][:200].float())
    # Training windows start in [100, 400] (the script's range) and reach both ends.
    assert int(train.start.min()) == 100 and int(train.start.max()) == 400
    # Test windows end by index 499, so every point to predict lies where training windows
    # (indices 100..499) observe the same curve.
    assert int(test.start.min()) >= 100 and int(test.start.max() + 199) <= 499
    residual = (train.y - train.y_true).double()
    assert abs(float(residual.std()) - 0.3) < 0.005 and abs(float(residual.mean())) < 0.005


def test_windows_reproducible_and_checked() -> None:
    a, b = make_spiral_windows(20, seed=3), make_spiral_windows(20, seed=3)
    assert torch.equal(a.y, b.y) and torch.equal(a.mask, b.mask) and torch.equal(a.start, b.start)
    assert not torch.equal(a.y, make_spiral_windows(20, seed=4).y)
    with pytest.raises(ValueError, match="n_observed"):
        make_spiral_windows(5, n_observed=101)
    with pytest.raises(ValueError, match="n_total"):
        make_spiral_windows(5, n_total=250)
    assert make_spirals(3).y.shape == (3, 100, 2)
