"""Tests of nodelib.models.blocks: ODE blocks, image classifiers, Euler ResNets, ANODEs, RevNets."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from nodelib.models.blocks import (
    AugmentedNODE,
    EulerResNet,
    MLPField,
    NODEClassifier,
    ODEBlock,
    ODEFunc,
    ReversibleBlock,
    count_nfe,
    reset_nfe,
)
from nodelib.models.odenet import ODENet, ResNet, RKNet
from nodelib.odeint import odeint


class _Linear(nn.Module):
    """f(t, y) = y A^T with a learnable A (batch, dim) -> (batch, dim)."""

    def __init__(self, A: Tensor) -> None:
        super().__init__()
        self.A = nn.Parameter(A.clone())

    def forward(self, t: Tensor, y: Tensor) -> Tensor:
        return y @ self.A.T


pytestmark = pytest.mark.usefixtures("one_thread")


def _train_steps(model: nn.Module, x: Tensor, y: Tensor, steps: int, lr: float) -> list[float]:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


# ---------------------------------------------------------------------------------------------
# ODEFunc and ODEBlock


def test_odefunc_counts_and_resets() -> None:
    func = ODEFunc(_Linear(torch.eye(2)))
    y = torch.ones(3, 2)
    for _ in range(3):
        func(torch.tensor(0.0), y)
    assert func.nfe == 3
    model = nn.Sequential(ODEBlock(func, method="rk4", adjoint=False))
    assert count_nfe(model) == 3
    assert reset_nfe(model) and func.nfe == 0
    assert not reset_nfe(nn.Linear(2, 2))
    with pytest.raises(TypeError):
        ODEFunc(lambda t, y: y)  # type: ignore[arg-type]


@pytest.mark.parametrize("adjoint", [False, True])
def test_odeblock_solves_linear_ode_and_differentiates(adjoint: bool) -> None:
    # y' = A y: y(t1) = expm(A t1) y0, and d sum(y(t1)) / dy0 = expm(A t1)^T 1.
    A = torch.tensor([[-0.5, 1.0], [-1.0, -0.2]], dtype=torch.float64)
    y0 = torch.tensor([[1.0, 0.5], [-0.3, 2.0]], dtype=torch.float64, requires_grad=True)
    block = ODEBlock(ODEFunc(_Linear(A)), t1=1.5, rtol=1e-9, atol=1e-10, adjoint=adjoint)
    y1 = block(y0)
    E = torch.linalg.matrix_exp(A * 1.5)
    torch.testing.assert_close(y1, y0 @ E.T, rtol=1e-7, atol=1e-8)
    y1.sum().backward()
    torch.testing.assert_close(y0.grad, (E.T @ torch.ones(2, dtype=A.dtype)).expand(2, 2))
    assert block.func.net.A.grad is not None and torch.isfinite(block.func.net.A.grad).all()
    nfe_after = block.func.nfe
    assert nfe_after > 0
    # the trajectory at t = [0, 0.5, 1.5] passes through y0 and ends at y(t1)
    t = torch.tensor([0.0, 0.5, 1.5], dtype=torch.float64)
    traj = block.trajectory(y0.detach(), t)
    assert traj.shape == (3, 2, 2)
    torch.testing.assert_close(traj[-1], y1.detach())


def test_odeblock_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="differ"):
        ODEBlock(ODEFunc(_Linear(torch.eye(2))), t0=1.0, t1=1.0)
    with pytest.raises(TypeError):
        ODEBlock(lambda t, y: y)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Image classifiers


@pytest.mark.parametrize("size", [8, 28])
def test_classifier_shapes(size: int) -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 1, size, size)
    for model in [
        ODENet(width=8, image_size=size),
        RKNet(width=8, image_size=size, n_steps=2),
        ResNet(width=8, image_size=size, n_blocks=2),
    ]:
        assert model(x).shape == (2, 10)
    assert ODENet(3, 5, 8, image_size=size)(torch.randn(2, 3, size, size)).shape == (2, 5)


def test_rknet_counts_four_evaluations_per_step_and_resnet_has_l_blocks() -> None:
    net = RKNet(width=8, image_size=8, n_steps=3)
    net(torch.randn(2, 1, 8, 8))
    assert count_nfe(net) == 12
    n_params = [sum(p.numel() for p in ResNet(width=8, image_size=8, n_blocks=L).parameters())
                for L in (0, 1, 3)]  # fmt: skip
    per_block = n_params[1] - n_params[0]
    assert per_block > 0 and n_params[2] - n_params[0] == 3 * per_block
    with pytest.raises(ValueError):
        RKNet(n_steps=0)
    with pytest.raises(ValueError):
        ODENet(width=0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: ODENet(width=8, image_size=8, adjoint=True),
        lambda: ODENet(width=8, image_size=8, adjoint=False),
        lambda: RKNet(width=8, image_size=8, n_steps=2),
        lambda: ResNet(width=8, image_size=8, n_blocks=2),
    ],
    ids=["odenet-adjoint", "odenet-backprop", "rknet", "resnet"],
)
def test_classifier_loss_falls(make) -> None:
    # four noisy class templates: learnable in a few steps by each architecture
    torch.manual_seed(0)
    y = torch.arange(32) % 4
    x = torch.randn(4, 1, 8, 8)[y] + 0.3 * torch.randn(32, 1, 8, 8)
    model = make()
    losses = _train_steps(model, x, y, steps=12, lr=3e-2)
    assert losses[-1] < 0.7 * losses[0]


def test_odenet_adjoint_and_backprop_gradients_agree() -> None:
    # Both approximate the gradient of the exact flow. The ReLUs make f only piecewise
    # smooth, so they converge slowly in the tolerance (about sqrt(tol)): at tol = 1e-6 they
    # agree to a few per cent, parameter by parameter; a missing or wrong adjoint term would not.
    torch.manual_seed(0)
    a = ODENet(width=8, image_size=8, adjoint=True, tol=1e-6).double()
    b = ODENet(width=8, image_size=8, adjoint=False, tol=1e-6).double()
    b.load_state_dict(a.state_dict())
    x, y = torch.randn(4, 1, 8, 8, dtype=torch.float64), torch.arange(4)
    for m in (a, b):
        nn.functional.cross_entropy(m(x), y).backward()
    checked = 0
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        if float(pb.grad.abs().max()) < 1e-10:  # biases in front of a GroupNorm: exactly 0
            continue
        checked += name.startswith("feature")
        assert float((pa.grad - pb.grad).norm() / pb.grad.norm()) < 0.1, name
    assert checked >= 6  # the ODE function's weights were compared


# ---------------------------------------------------------------------------------------------
# Euler ResNet


@pytest.mark.parametrize(("n_steps", "t0", "t1"), [(1, 0.0, 1.0), (7, 0.2, 1.5), (10, 0.0, 1.0)])
def test_euler_resnet_is_euler_method(n_steps: int, t0: float, t1: float) -> None:
    torch.manual_seed(0)
    func = MLPField(3, 16).double()  # time-dependent: a wrong t_k would show
    y0 = torch.randn(5, 3, dtype=torch.float64)
    net = EulerResNet(func, n_steps, t0=t0, t1=t1)
    t = torch.tensor([t0, t1], dtype=torch.float64)
    ref = odeint(func, y0, t, method="euler", options={"step_size": (t1 - t0) / n_steps})[-1]
    out = net(y0)
    scale = 1 + float(ref.detach().abs().max())
    assert float((out - ref).detach().abs().max()) <= 1e-14 * scale
    assert float((out - y0).detach().abs().max()) > 1e-3  # not trivially the identity
    # and so is training it: the parameter gradients agree as well
    g_out = torch.autograd.grad(out.square().sum(), list(func.parameters()))
    g_ref = torch.autograd.grad(ref.square().sum(), list(func.parameters()))
    for a, b in zip(g_out, g_ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)


def test_euler_resnet_converges_with_order_one() -> None:
    torch.manual_seed(1)
    func = MLPField(2, 16).double()
    with torch.no_grad():  # a field of size O(1), so that the error is in the asymptotic range
        for p in func.parameters():
            p.mul_(2.0)
    y0 = torch.randn(4, 2, dtype=torch.float64)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    with torch.no_grad():
        exact = odeint(func, y0, t, rtol=1e-11, atol=1e-12)[-1]
        ns = [8, 16, 32, 64]
        errs = [float((EulerResNet(func, n)(y0) - exact).abs().max()) for n in ns]
    slope = -(math.log(errs[-1]) - math.log(errs[0])) / (math.log(ns[-1]) - math.log(ns[0]))
    assert 0.9 < slope < 1.1, (errs, slope)


def test_euler_resnet_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        EulerResNet(MLPField(2, 4), 0)
    with pytest.raises(ValueError):
        EulerResNet(MLPField(2, 4), 3, t0=1.0, t1=1.0)


# ---------------------------------------------------------------------------------------------
# Augmented Neural ODEs


def test_augmented_node_pads_with_zeros_and_classifies() -> None:
    torch.manual_seed(0)
    model = AugmentedNODE(2, 3, 16, 4)
    x = torch.randn(6, 2)
    assert model(x).shape == (6, 4) and model.features(x).shape == (6, 5)
    # at t1 -> 0 the flow is the identity: the features are x padded with zeros
    short = AugmentedNODE(2, 3, 16, 4, t1=1e-8)
    torch.testing.assert_close(short.features(x), torch.cat([x, torch.zeros(6, 3)], 1))
    with pytest.raises(ValueError):
        AugmentedNODE(2, -1, 16, 4)


def test_plain_node_flow_preserves_order_in_one_dimension() -> None:
    # A flow map of a 1-D ODE is increasing (trajectories cannot cross; Dupont et al. §3).
    torch.manual_seed(2)
    model = NODEClassifier(1, 32, 1, rtol=1e-6, atol=1e-6)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)  # strong dynamics, which still cannot reorder the points
        x = torch.linspace(-2, 2, 41).unsqueeze(1)
        z = model.features(x).squeeze(1)
    assert bool((z[1:] > z[:-1]).all())
    assert float((z - x.squeeze(1)).abs().max()) > 0.1


@pytest.mark.parametrize("aug_dim", [0, 2])
def test_node_classifiers_loss_falls_on_circles(aug_dim: int) -> None:
    torch.manual_seed(0)
    r = torch.cat([torch.rand(32) * 0.5, 1.0 + torch.rand(32) * 0.5])
    a = torch.rand(64) * 2 * math.pi
    x = torch.stack([r * torch.cos(a), r * torch.sin(a)], 1)
    y = (torch.arange(64) >= 32).long()
    model = AugmentedNODE(2, aug_dim, 16, 2) if aug_dim else NODEClassifier(2, 16, 2)
    losses = _train_steps(model, x, y, steps=15, lr=2e-2)
    assert losses[-1] < 0.85 * losses[0]


# ---------------------------------------------------------------------------------------------
# Reversible block


def test_reversible_block_inverse() -> None:
    torch.manual_seed(0)

    def mlp() -> nn.Module:
        return nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 3))

    block = ReversibleBlock(mlp(), mlp())
    x = torch.randn(8, 6)
    y = block(x).detach()
    assert float((y - x).abs().max()) > 1e-2
    torch.testing.assert_close(block.inverse(y), x, rtol=0, atol=1e-5)
    torch.testing.assert_close(block(block.inverse(x)), x, rtol=0, atol=1e-5)
    conv = ReversibleBlock(nn.Conv2d(2, 2, 3, padding=1), nn.Conv2d(2, 2, 3, padding=1))
    img = torch.randn(2, 4, 5, 5)
    torch.testing.assert_close(conv.inverse(conv(img)), img, rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="even"):
        block(torch.randn(2, 5))


# ---------------------------------------------------------------------------------------------
# GPU


@pytest.mark.gpu
@pytest.mark.parametrize("adjoint", [False, True])
def test_odenet_trains_on_cuda(adjoint: bool) -> None:
    torch.manual_seed(0)
    device = torch.device("cuda")
    model = ODENet(width=16, image_size=28, adjoint=adjoint).to(device)
    x, y = torch.randn(16, 1, 28, 28, device=device), torch.arange(16, device=device) % 10
    losses = _train_steps(model, x, y, steps=10, lr=1e-2)
    assert losses[-1] < losses[0]
    assert count_nfe(model) > 0
