"""Tests of nodelib.models.flows: base distributions, layers, Flow and fit_density.

The mathematics checked: every layer's log|det J| against `torch.logdet` of the autograd
Jacobian (both directions), inverse ∘ forward = identity, densities that integrate to 1
on a grid, gradients through the numerical planar inverse (gradcheck), and that maximum
likelihood training lowers the loss.
"""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch
from torch import nn

from nodelib.data import sample_2d
from nodelib.models.flows import (
    AffineCoupling,
    DiagonalGaussian,
    Flow,
    PlanarFlow,
    RadialFlow,
    StandardNormal,
    alternating_mask,
    fit_density,
    nll,
)

LAYERS = ("planar", "radial", "coupling")


pytestmark = pytest.mark.usefixtures("one_thread")


def _perturb(module: nn.Module, scale: float, seed: int) -> nn.Module:
    """Move every parameter off its initial value (a coupling layer starts as the identity)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


def _layer(kind: str, dim: int, seed: int = 0, scale: float = 0.7) -> nn.Module:
    torch.manual_seed(seed)
    if kind == "planar":
        layer = PlanarFlow(dim)
    elif kind == "radial":
        layer = RadialFlow(dim)
    else:
        layer = AffineCoupling(dim, alternating_mask(dim, seed % 2), hidden=16)
    return _perturb(layer, scale, seed + 100).double()


def _flow(dim: int = 2, scale: float = 0.4) -> Flow:
    layers = [_layer(k, dim, seed=i, scale=scale) for i, k in enumerate(LAYERS * 2)]
    return Flow(StandardNormal(dim), layers).double()


def _grid(half_width: float, n: int) -> tuple[torch.Tensor, float]:
    xs = torch.linspace(-half_width, half_width, n, dtype=torch.float64)
    X, Y = torch.meshgrid(xs, xs, indexing="ij")
    return torch.stack([X.reshape(-1), Y.reshape(-1)], dim=1), float(xs[1] - xs[0]) ** 2


def _brute_logdet(fn, points: torch.Tensor) -> torch.Tensor:
    """log|det| of the autograd Jacobian of fn (one sample at a time)."""
    out = []
    for p in points:
        J = torch.autograd.functional.jacobian(lambda v: fn(v[None])[0][0], p)
        out.append(torch.linalg.slogdet(J)[1])
    return torch.stack(out)


# ---------------------------------------------------------------------------------------------
# Base distributions


def test_standard_normal_matches_torch_distributions():
    base = StandardNormal(3).double()
    z = torch.randn(7, 3, dtype=torch.float64)
    ref = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    torch.testing.assert_close(base.log_prob(z), ref)
    s1 = base.sample(5, torch.Generator().manual_seed(1))
    s2 = base.sample(5, torch.Generator().manual_seed(1))
    assert s1.shape == (5, 3) and s1.dtype == torch.float64
    torch.testing.assert_close(s1, s2)


def test_diagonal_gaussian_log_prob_and_samples():
    base = DiagonalGaussian(2).double()
    with torch.no_grad():
        base.loc.copy_(torch.tensor([1.0, -2.0]))
        base.log_scale.copy_(torch.tensor([0.5, -0.3]))
    z = torch.randn(6, 2, dtype=torch.float64)
    ref = torch.distributions.Normal(base.loc, base.log_scale.exp()).log_prob(z).sum(-1)
    torch.testing.assert_close(base.log_prob(z), ref)
    s = base.sample(20000, torch.Generator().manual_seed(0))
    torch.testing.assert_close(s.mean(0), base.loc.detach(), atol=0.05, rtol=0)
    torch.testing.assert_close(s.std(0), base.log_scale.exp().detach(), atol=0.05, rtol=0)


# ---------------------------------------------------------------------------------------------
# Layers


@pytest.mark.parametrize("kind", LAYERS)
def test_layer_shapes_float32(kind):
    layer = _layer(kind, 3).float()
    z = torch.randn(11, 3)
    x, ld = layer(z)
    z2, ld2 = layer.inverse(x)
    assert x.shape == z2.shape == (11, 3) and ld.shape == ld2.shape == (11,)
    assert x.dtype == ld.dtype == z2.dtype == torch.float32
    torch.testing.assert_close(z2, z, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("dim", [2, 3])
def test_logdet_matches_autograd_jacobian(kind, dim):
    layer = _layer(kind, dim, seed=dim)
    z = 1.5 * torch.randn(5, dim, dtype=torch.float64)
    x, logdet = layer(z)
    assert float((x - z).detach().abs().max()) > 1e-2  # the layer is not (close to) the identity
    torch.testing.assert_close(logdet, _brute_logdet(layer, z), atol=1e-9, rtol=1e-9)
    _, logdet_inv = layer.inverse(x)
    torch.testing.assert_close(logdet_inv, _brute_logdet(layer.inverse, x), atol=1e-8, rtol=1e-8)
    torch.testing.assert_close(logdet_inv, -logdet, atol=1e-9, rtol=1e-9)


@pytest.mark.parametrize("kind", LAYERS)
def test_inverse_of_forward_is_identity(kind):
    layer = _layer(kind, 2, scale=1.5)
    z = 3 * torch.randn(200, 2, dtype=torch.float64)
    z2, _ = layer.inverse(layer(z)[0])
    assert float((z2 - z).detach().abs().max()) < 1e-10
    x = 3 * torch.randn(200, 2, dtype=torch.float64)
    x2, _ = layer(layer.inverse(x)[0])
    assert float((x2 - x).detach().abs().max()) < 1e-10


def test_planar_constraint_keeps_invertibility():
    layer = PlanarFlow(2).double()
    with torch.no_grad():  # wᵀu = -20: without û the map would fold over
        layer.w.copy_(torch.tensor([2.0, 0.0]))
        layer.u.copy_(torch.tensor([-10.0, 3.0]))
    wu_hat = float((layer.w @ layer.u_hat()).detach())
    assert -1 < wu_hat < -0.99  # m(-20) = -1 + softplus(-20)
    z = torch.linspace(-3, 3, 401, dtype=torch.float64)[:, None] * torch.tensor([[1.0, 0.0]])
    x, logdet = layer(z)
    assert bool((x[1:, 0] > x[:-1, 0]).all()) and bool(torch.isfinite(logdet).all())
    torch.testing.assert_close(layer.inverse(x)[0], z, atol=1e-9, rtol=0)


def test_radial_constraint():
    layer = RadialFlow(2)
    with torch.no_grad():
        layer.beta_raw.fill_(-30.0)
    with torch.no_grad():  # β = -α in float32, but the log-det never forms β + α
        alpha, beta = layer.alpha_beta()
    assert float(beta) >= -float(alpha)
    z = torch.cat([torch.randn(50, 2), layer.z0.detach()[None]])  # r = 0 is the worst point
    x, logdet = layer(z)
    assert bool(torch.isfinite(logdet).all())
    torch.testing.assert_close(layer.inverse(x)[0], z, atol=1e-5, rtol=0)


class _Inverse(nn.Module):
    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.layer.inverse(x)


def test_planar_inverse_gradient_by_implicit_function_theorem():
    # The root is found without a graph; one Newton step with the graph must give the
    # exact derivatives of z = f^{-1}(x) and its log-determinant in w, u, b and x.
    inv = _Inverse(_layer("planar", 2, seed=3))
    x = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    names = ("layer.w", "layer.u", "layer.b")
    params = tuple(
        dict(inv.named_parameters())[n].detach().clone().requires_grad_(True) for n in names
    )

    def f(x, w, u, b):
        return torch.func.functional_call(inv, dict(zip(names, (w, u, b), strict=True)), (x,))

    assert torch.autograd.gradcheck(f, (x, *params), atol=1e-6, rtol=1e-5)


# ---------------------------------------------------------------------------------------------
# Flow


def test_flow_inverse_forward_logdet_and_intermediates():
    flow = _flow()
    z = torch.randn(64, 2, dtype=torch.float64)
    x, logdet = flow(z)
    z2, logdet_inv = flow.inverse(x)
    torch.testing.assert_close(z2, z, atol=1e-5, rtol=0)
    torch.testing.assert_close(logdet_inv, -logdet, atol=1e-8, rtol=0)
    torch.testing.assert_close(logdet[:3], _brute_logdet(flow, z[:3]), atol=1e-8, rtol=1e-8)
    steps = flow.forward_with_intermediates(z)
    assert len(steps) == len(flow.layers) + 1
    torch.testing.assert_close(steps[0], z)
    torch.testing.assert_close(steps[-1], x)


def test_flow_log_prob_consistent_with_sampling():
    flow = _flow()
    x, lq = flow.sample_and_log_prob(32, torch.Generator().manual_seed(2))
    torch.testing.assert_close(flow.log_prob(x), lq, atol=1e-8, rtol=0)
    assert flow.sample(5).shape == (5, 2)


def test_flow_density_integrates_to_one():
    flow = _flow(scale=0.3)
    pts, cell = _grid(9.0, 301)
    with torch.no_grad():
        mass = float(flow.log_prob(pts).exp().sum()) * cell
    assert abs(mass - 1) < 5e-3
    # the test can fail: dropping the log-determinant changes the mass
    with torch.no_grad():
        z, _ = flow.inverse(pts)
        wrong = float(flow.base.log_prob(z).exp().sum()) * cell
    assert abs(wrong - 1) > 2e-2


# The training set of the density tests: nodelib's two moons.
_moons = partial(sample_2d, "two_moons")


@pytest.mark.parametrize("kind", LAYERS)
def test_fit_density_lowers_the_loss(kind):
    torch.manual_seed(0)
    if kind == "coupling":
        layers = [AffineCoupling(2, alternating_mask(2, i % 2), hidden=32) for i in range(4)]
    else:
        cls = PlanarFlow if kind == "planar" else RadialFlow
        layers = [cls(2) for _ in range(6)]
    flow = Flow(DiagonalGaussian(2), layers)
    g = torch.Generator().manual_seed(0)
    losses = fit_density(flow, _moons, steps=120, batch_size=128, lr=2e-2, generator=g)
    assert len(losses) == 120 and all(math.isfinite(v) for v in losses)
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < first - 0.3, (first, last)
    x = _moons(2000, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        assert float(nll(flow, x)) < first - 0.2


def test_trained_flow_density_integrates_to_one():
    torch.manual_seed(1)
    layers = [AffineCoupling(2, alternating_mask(2, i % 2), hidden=32) for i in range(4)]
    flow = Flow(StandardNormal(2), layers)
    fit_density(
        flow, _moons, steps=100, batch_size=128, lr=1e-2, generator=torch.Generator().manual_seed(0)
    )
    flow = flow.double()
    pts, cell = _grid(8.0, 321)
    with torch.no_grad():
        mass = float(flow.log_prob(pts).exp().sum()) * cell
    assert abs(mass - 1) < 1e-2


# ---------------------------------------------------------------------------------------------
# Errors and devices


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="mask"):
        AffineCoupling(2, torch.tensor([1.0, 0.5]))
    with pytest.raises(ValueError, match="mask"):
        AffineCoupling(3, alternating_mask(2))
    with pytest.raises(ValueError, match="dim"):
        StandardNormal(0)
    with pytest.raises(ValueError, match="steps"):
        fit_density(_flow(), _moons, steps=0, batch_size=4)
    with pytest.raises(ValueError, match="no trainable"):
        fit_density(Flow(StandardNormal(2), []), _moons, steps=1, batch_size=4)


@pytest.mark.gpu
def test_flow_on_cuda():
    flow = _flow().cuda()
    z = torch.randn(32, 2, dtype=torch.float64, device="cuda")
    x, logdet = flow(z)
    z2, logdet_inv = flow.inverse(x)
    torch.testing.assert_close(z2, z, atol=1e-5, rtol=0)
    torch.testing.assert_close(logdet_inv, -logdet, atol=1e-8, rtol=0)
    assert flow.sample(4).device.type == "cuda"
