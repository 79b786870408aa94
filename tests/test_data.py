"""Tests of nodelib.data: the 2-D densities against their samplers, spirals, classification
sets, digits and the MNIST reader (on tiny fake IDX files; nothing is downloaded)."""

from __future__ import annotations

import gzip
import io
import math
import sys
from pathlib import Path

import pytest
import torch

from nodelib import data
from nodelib.data import (
    DENSITIES_2D,
    EXACT_DENSITIES_2D,
    load_digits,
    load_mnist,
    log_density_2d,
    make_circles,
    make_spirals,
    make_two_spirals,
    read_idx,
    sample_2d,
)
from nodelib.data.sets import best_threshold_accuracy

# A grid of cell midpoints over [-L, L]^2; the checkerboard's cell edges fall between midpoints.
_L, _N = 4.0, 400
_H = 2 * _L / _N


def _grid() -> torch.Tensor:
    mid = -_L + _H * (torch.arange(_N, dtype=torch.float64) + 0.5)
    X, Y = torch.meshgrid(mid, mid, indexing="xy")
    return torch.stack([X, Y], dim=-1)  # (N, N, 2)


def _binned(x: torch.Tensor, bins: int = 16) -> torch.Tensor:
    """Empirical probabilities of points x (n, 2) in a bins x bins partition of [-L, L]^2."""
    idx = ((x.double() + _L) / (2 * _L) * bins).floor().long().clamp(0, bins - 1)
    counts = torch.bincount(idx[:, 1] * bins + idx[:, 0], minlength=bins * bins)
    return counts.double() / len(x)


def _density_binned(name: str, bins: int = 16) -> torch.Tensor:
    """The density's probabilities of the same bins, by the midpoint rule on the fine grid."""
    p = log_density_2d(name, _grid()).exp() * _H**2  # (N, N), row = y
    k = _N // bins
    return p.reshape(bins, k, bins, k).sum(dim=(1, 3)).reshape(-1)


# ---------------------------------------------------------------------------------------------
# Samplers


@pytest.mark.parametrize("name", DENSITIES_2D)
def test_sampler_shape_dtype_determinism(name: str) -> None:
    x = sample_2d(name, 500, generator=torch.Generator().manual_seed(3))
    assert x.shape == (500, 2) and x.dtype == torch.float32
    assert torch.isfinite(x).all() and x.abs().max() < 6
    again = sample_2d(name, 500, generator=torch.Generator().manual_seed(3))
    other = sample_2d(name, 500, generator=torch.Generator().manual_seed(4))
    assert torch.equal(x, again) and not torch.equal(x, other)
    assert sample_2d(name, 0).shape == (0, 2)


def test_sampler_errors() -> None:
    with pytest.raises(ValueError, match="choose one of"):
        sample_2d("banana", 10)
    with pytest.raises(ValueError, match="n must be"):
        sample_2d("rings", -1)


@pytest.mark.parametrize("name", sorted(set(DENSITIES_2D) - set(EXACT_DENSITIES_2D)))
def test_no_exact_density_names_the_ones_that_have_one(name: str) -> None:
    with pytest.raises(ValueError, match="checkerboard"):
        log_density_2d(name, torch.zeros(3, 2))


def test_log_density_shape_checks() -> None:
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        log_density_2d("rings", torch.zeros(3, 3))
    out = log_density_2d("eight_gaussians", torch.zeros(4, 5, 2, dtype=torch.float32))
    assert out.shape == (4, 5) and out.dtype == torch.float32


# ---------------------------------------------------------------------------------------------
# Exact densities: normalised, and the samplers draw from them


@pytest.mark.parametrize("name", EXACT_DENSITIES_2D)
def test_density_integrates_to_one(name: str) -> None:
    total = float(log_density_2d(name, _grid()).exp().sum() * _H**2)
    assert abs(total - 1) < 1e-2


@pytest.mark.parametrize("name", EXACT_DENSITIES_2D)
def test_samples_follow_density(name: str) -> None:
    x = sample_2d(name, 40_000, generator=torch.Generator().manual_seed(0))
    # Histogram against the density: total variation over 256 bins. Sampling noise gives
    # about 0.03 here; a sampler off by a 10% scale or a wrong mixture weight gives > 0.1.
    tv = 0.5 * (_binned(x) - _density_binned(name)).abs().sum()
    assert tv < 0.05, f"total variation {tv:.3f}"
    # E_p[log p] by Monte Carlo against -entropy from the grid.
    logp = log_density_2d(name, x.double())
    assert torch.isfinite(logp).all()
    grid_logp = log_density_2d(name, _grid())
    p = grid_logp.exp()
    neg_entropy = float(torch.where(p > 0, p * grid_logp, 0.0).sum() * _H**2)
    assert abs(float(logp.mean()) - neg_entropy) < 4 * float(logp.std()) / math.sqrt(len(x)) + 5e-3


def test_histogram_check_has_power() -> None:
    # The comparison above must reject samples of another density, and a shrunken sampler.
    x = sample_2d("rings", 40_000, generator=torch.Generator().manual_seed(0))
    assert 0.5 * (_binned(x) - _density_binned("eight_gaussians")).abs().sum() > 0.3
    assert 0.5 * (_binned(0.9 * x) - _density_binned("rings")).abs().sum() > 0.1


def test_checkerboard_values() -> None:
    x = torch.tensor([[0.5, 0.5], [1.5, 0.5], [-1.5, -1.5], [2.5, 2.5], [-0.5, 0.5]])
    expected = torch.tensor([-math.log(8), -math.inf, -math.log(8), -math.inf, -math.inf])
    assert torch.equal(log_density_2d("checkerboard", x), expected)


def test_eight_gaussians_peak_value() -> None:
    # At a centre the other modes are > 1.5 away (about 6 std): p ~ 1 / (8 * 2 pi s^2).
    centre = torch.tensor([[data.densities._EIGHT_RADIUS, 0.0]], dtype=torch.float64)
    expected = -math.log(8 * 2 * math.pi * data.densities._EIGHT_STD**2)
    assert abs(float(log_density_2d("eight_gaussians", centre)) - expected) < 1e-6


def test_ring_radial_sampler_exact() -> None:
    # The radial offset has density proportional to (a + u) phi(u) on u > -a. Compare its
    # first two moments with quadrature, for a small a where truncation and the factor matter.
    a = 0.7
    u = data.densities._sample_ring_offsets(
        torch.full((200_000,), a, dtype=torch.float64), torch.Generator().manual_seed(1)
    )
    assert u.min() > -a
    grid = torch.linspace(-a, 8, 200_001, dtype=torch.float64)
    w = (a + grid) * torch.exp(-(grid**2) / 2)
    w = w / torch.trapezoid(w, grid)
    m1 = float(torch.trapezoid(w * grid, grid))
    m2 = float(torch.trapezoid(w * grid**2, grid))
    assert abs(float(u.mean()) - m1) < 0.01
    assert abs(float((u**2).mean()) - m2) < 0.02


# ---------------------------------------------------------------------------------------------
# Spirals


def test_spirals_shapes_mask_noise() -> None:
    d = make_spirals(60, n_times=80, n_observed=25, noise=0.2, seed=1)
    assert d.t.shape == (80,) and d.y.shape == d.y_true.shape == (60, 80, 2)
    assert d.mask.shape == (60, 80) and d.mask.dtype == torch.bool
    assert (d.mask.sum(1) == 25).all()
    assert d.clockwise.sum() == 30
    assert torch.all(torch.diff(d.t) > 0)
    # masks differ between spirals: the sampling is irregular
    assert len({tuple(m.tolist()) for m in d.mask}) > 50
    assert abs(float((d.y - d.y_true).std()) - 0.2) < 0.01
    assert torch.equal(make_spirals(5, seed=3).y, make_spirals(5, seed=3).y)
    assert not torch.equal(make_spirals(5, seed=3).y, make_spirals(5, seed=4).y)
    assert torch.equal(make_spirals(4, noise=0.0).y, make_spirals(4, noise=0.0).y_true)


def test_spirals_solve_their_ode() -> None:
    # r' = b and theta' = +-1: check on the noiseless curves by finite differences.
    d = make_spirals(6, n_times=400, seed=2)
    y = d.y_true.double()
    r = y.norm(dim=-1)
    dt = float(d.t[1] - d.t[0])
    assert torch.allclose(
        torch.diff(r, dim=1) / dt, torch.full_like(r[:, 1:], data.spirals._SPIRAL_B), atol=1e-3
    )
    angle = torch.atan2(y[..., 1], y[..., 0])
    dtheta = torch.remainder(torch.diff(angle, dim=1) + math.pi, 2 * math.pi) - math.pi
    sign = torch.where(d.clockwise, -1.0, 1.0).double()[:, None]
    assert torch.allclose(dtheta / dt, sign.expand_as(dtheta), atol=1e-3)
    # different starting points
    assert len({round(float(v), 4) for v in r[:, 0]}) == 6


def test_spirals_errors() -> None:
    with pytest.raises(ValueError):
        make_spirals(10, n_times=20, n_observed=21)
    with pytest.raises(ValueError):
        make_spirals(10, noise=-1.0)


# ---------------------------------------------------------------------------------------------
# Classification sets


def test_circles_geometry() -> None:
    x, y = make_circles(4001, seed=5)
    assert x.shape == (4001, 2) and y.shape == (4001,) and y.dtype == torch.long
    r = x.norm(dim=1)
    assert (r[y == 0] < 0.5).all()
    assert ((r[y == 1] > 1.0) & (r[y == 1] < 1.5)).all()
    assert int((y == 0).sum()) == 2000
    # uniform in area: the radius that halves the area halves the points (std ~0.011)
    assert abs(float((r[y == 0] < 0.5 / math.sqrt(2)).double().mean()) - 0.5) < 0.035
    r_half = math.sqrt((1.0 + 1.5**2) / 2)
    assert abs(float((r[y == 1] < r_half).double().mean()) - 0.5) < 0.035
    assert torch.equal(make_circles(50, seed=1)[0], make_circles(50, seed=1)[0])


def test_circles_in_one_dimension() -> None:
    x, y = make_circles(4001, seed=5, dim=1)
    assert x.shape == (4001, 1) and y.shape == (4001,) and int((y == 0).sum()) == 2000
    r = x[:, 0].abs()
    assert (r[y == 0] < 0.5).all()
    assert ((r[y == 1] > 1.0) & (r[y == 1] < 1.5)).all()
    # both outer intervals hold about half of class 1 (std of the share ~0.011)
    assert abs(float((x[y == 1, 0] > 0).double().mean()) - 0.5) < 0.035
    # the 2-D set is unchanged by the new argument
    assert torch.equal(make_circles(50, seed=1, dim=2)[0], make_circles(50, seed=1)[0])
    with pytest.raises(ValueError):
        make_circles(10, dim=3)


def test_best_threshold_accuracy() -> None:
    # class 1 on both sides of class 0: a threshold gets at most the middle and one side right
    x = torch.tensor([-3.0, -2.0, -1.0, 0.0, 1.0, 2.0])
    assert best_threshold_accuracy(x, torch.tensor([1, 1, 0, 0, 1, 1])) == pytest.approx(4 / 6)
    # separable, in either orientation: perfect
    assert best_threshold_accuracy(x, torch.tensor([0, 0, 0, 1, 1, 1])) == 1.0
    assert best_threshold_accuracy(x[:, None], torch.tensor([1, 1, 1, 0, 0, 0])) == 1.0
    # ties cannot be split: two equal x with different labels cost one point
    assert best_threshold_accuracy(torch.zeros(2), torch.tensor([0, 1])) == 0.5
    # brute force over every threshold and orientation on random data
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 20, (60,), generator=gen).float()
    labels = torch.randint(0, 2, (60,), generator=gen)
    best = max(
        float(((x > c) == (labels == 1)).double().mean())
        for c in torch.cat([x.unique(), torch.tensor([-1.0])])
    )
    assert best_threshold_accuracy(x, labels) == pytest.approx(max(best, 1 - best))
    # the nested intervals: about three quarters
    xs, ys = make_circles(4000, seed=2, dim=1)
    assert abs(best_threshold_accuracy(xs, ys) - 0.75) < 0.03
    with pytest.raises(ValueError):
        best_threshold_accuracy(torch.zeros(3, 2), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError):
        best_threshold_accuracy(torch.zeros(3), torch.tensor([0, 1, 2]))


def test_two_spirals_geometry() -> None:
    x, y = make_two_spirals(800, seed=0)
    assert x.shape == (800, 2) and set(y.tolist()) == {0, 1}
    # noiseless: every point lies on r = theta / (3 pi) of its own arm
    theta = x.norm(dim=1).double() * 3 * math.pi
    arm = torch.where(y == 0, 1.0, -1.0).double()[:, None]
    on_curve = arm * theta[:, None] * torch.stack([theta.cos(), theta.sin()], 1) / (3 * math.pi)
    assert torch.allclose(on_curve.float(), x, atol=1e-5)
    noisy, _ = make_two_spirals(800, noise=0.1, seed=0)
    assert abs(float((noisy - x).std()) - 0.1) < 0.01


# ---------------------------------------------------------------------------------------------
# Digits


def test_digits_split() -> None:
    x_tr, y_tr, x_te, y_te = load_digits(test_fraction=0.25, seed=0)
    assert x_tr.shape[1:] == (1, 8, 8) and x_te.shape[1:] == (1, 8, 8)
    assert len(x_tr) + len(x_te) == 1797 and len(x_tr) == len(y_tr)
    assert x_tr.dtype == torch.float32 and y_tr.dtype == torch.long
    assert x_tr.min() >= 0 and x_tr.max() == 1
    # disjoint: no image of the test set is an image of the training set (by row identity)
    tr = {tuple(v.tolist()) for v in x_tr.reshape(len(x_tr), -1)}
    te = [tuple(v.tolist()) for v in x_te.reshape(len(x_te), -1)]
    overlap = sum(v in tr for v in te)
    assert overlap <= 2  # the data set itself holds a few duplicate images
    # stratified: each class's test share within one image of 25 %
    for c in range(10):
        n_c = int((y_tr == c).sum() + (y_te == c).sum())
        assert abs(int((y_te == c).sum()) - 0.25 * n_c) <= 1
    again = load_digits(test_fraction=0.25, seed=0)
    assert torch.equal(again[0], x_tr) and torch.equal(again[3], y_te)
    assert not torch.equal(load_digits(seed=1)[3], y_te)
    with pytest.raises(ValueError):
        load_digits(test_fraction=1.0)


# ---------------------------------------------------------------------------------------------
# MNIST reader on fake IDX files


def _idx_bytes(t: torch.Tensor) -> bytes:
    header = bytes([0, 0, 0x08, t.ndim]) + b"".join(s.to_bytes(4, "big") for s in t.shape)
    return header + t.numpy().tobytes()


def _write_fake_mnist(folder: Path, prefix: str, n: int, gz: bool) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(n)
    images = torch.randint(0, 256, (n, 28, 28), generator=g, dtype=torch.uint8)
    labels = torch.randint(0, 10, (n,), generator=g, dtype=torch.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    for name, t in (
        (f"{prefix}-images-idx3-ubyte", images),
        (f"{prefix}-labels-idx1-ubyte", labels),
    ):
        raw = _idx_bytes(t)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return images, labels


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
def test_mnist_reads_idx(tmp_path: Path, gz: bool) -> None:
    images, labels = _write_fake_mnist(tmp_path, "train", 7, gz)
    _, t_labels = _write_fake_mnist(tmp_path / "MNIST" / "raw", "t10k", 3, gz)
    x, y = load_mnist(tmp_path)
    assert x.shape == (7, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.long
    assert torch.equal((x * 255).round().to(torch.uint8)[:, 0], images)
    assert torch.equal(y, labels.long())
    xt, yt = load_mnist(tmp_path, train=False)
    assert xt.shape == (3, 1, 28, 28) and torch.equal(yt, t_labels.long())
    assert float(x.max()) <= 1.0


def test_mnist_missing_files_say_how(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="download=True"):
        load_mnist(tmp_path)


def test_mnist_damaged_files(tmp_path: Path) -> None:
    (tmp_path / "bad").write_bytes(b"\x00\x00\x0d\x01\x00\x00\x00\x01x")
    with pytest.raises(ValueError, match="magic"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05ab")
    with pytest.raises(ValueError, match="damaged"):
        read_idx(tmp_path / "short")
    _write_fake_mnist(tmp_path, "train", 4, gz=False)
    five_labels = _idx_bytes(torch.zeros(5, dtype=torch.uint8))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(five_labels)
    with pytest.raises(ValueError, match="do not match"):
        load_mnist(tmp_path)


def test_mnist_download_uses_urllib_only_when_asked(tmp_path: Path, monkeypatch) -> None:
    source = tmp_path / "server"
    _write_fake_mnist(source, "t10k", 5, gz=True)
    calls: list[str] = []

    def fake_urlopen(url: str, timeout: float = 0.0) -> io.BytesIO:
        calls.append(url)
        if "ossci" in url:  # the first mirror is down
            raise OSError("unreachable")
        return io.BytesIO((source / url.rsplit("/", 1)[1]).read_bytes())

    monkeypatch.setattr(data.mnist.urllib.request, "urlopen", fake_urlopen)
    root = tmp_path / "data"
    with pytest.raises(FileNotFoundError):
        load_mnist(root, train=False)
    assert calls == []
    x, _ = load_mnist(root, train=False, download=True)
    assert x.shape == (5, 1, 28, 28) and len(calls) == 4
    assert sorted(p.name for p in root.iterdir()) == [
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]
    load_mnist(root, train=False, download=True)  # files present: nothing fetched again
    assert len(calls) == 4


def test_mnist_torchvision_fallback(tmp_path: Path, monkeypatch) -> None:
    _write_fake_mnist(tmp_path, "train", 2, gz=True)
    monkeypatch.setitem(sys.modules, "torchvision", None)  # import fails
    with pytest.warns(UserWarning, match="torchvision"):
        x, _ = load_mnist(tmp_path, use_torchvision=True)
    assert x.shape == (2, 1, 28, 28)
