"""The layers and networks of chapter 3: residual, plain, antisymmetric, Hamiltonian, reversible.

Each test checks a piece of mathematics the chapter relies on: a residual layer is one Euler
step, a zero-weight residual layer is exactly the identity, the antisymmetric matrix has
eigenvalues on the line Re = -γ and explicit Euler amplifies them by sqrt(1 + h²μ²), the
Hamiltonian (leapfrog) layer preserves volume and inverts exactly, and the reversible
sequence gives the same gradients as backpropagation while saving only its output.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from nodelib.course.profiling import saved_tensor_bytes
from nodelib.models import (
    AntisymmetricLayer,
    LayerNet,
    PlainLayer,
    ResidualLayer,
    ReversibleBlock,
    ReversibleSequence,
    hamiltonian_block,
)

pytestmark = pytest.mark.usefixtures("one_thread")
F64 = torch.float64


def test_residual_and_plain_layers_compute_their_formulas() -> None:
    torch.manual_seed(0)
    res, plain = ResidualLayer(5, h=0.3).double(), PlainLayer(5).double()
    plain.linear.load_state_dict(res.linear.state_dict())
    y = torch.randn(7, 5, dtype=F64)
    z = y @ res.linear.weight.T + res.linear.bias
    torch.testing.assert_close(res(y), y + 0.3 * torch.tanh(z), rtol=0, atol=1e-15)
    torch.testing.assert_close(res.update(y), res(y) - y, rtol=0, atol=1e-15)
    torch.testing.assert_close(plain(y), torch.tanh(z), rtol=0, atol=1e-15)
    relu = ResidualLayer(5, h=1.0, activation=nn.ReLU).double()
    assert bool((relu(y) >= y).all())  # ReLU updates never decrease a component


@pytest.mark.parametrize("gamma", [0.0, 0.3])
def test_antisymmetric_matrix_has_eigenvalues_on_re_minus_gamma(gamma: float) -> None:
    torch.manual_seed(1)
    layer = AntisymmetricLayer(6, h=0.1, gamma=gamma).double()
    K = layer.matrix().detach()
    torch.testing.assert_close(K + K.T, -2 * gamma * torch.eye(6, dtype=F64))
    eig = torch.linalg.eigvals(K)
    assert float((eig.real + gamma).abs().max()) < 1e-12


def test_euler_on_antisymmetric_dynamics_amplifies_by_sqrt_one_plus_h2mu2() -> None:
    # Linear layer (σ = identity, b = 0): y -> (I + hK) y with K = W - Wᵀ, eigenvalues iμ.
    torch.manual_seed(2)
    h = 0.2
    layer = AntisymmetricLayer(4, h=h, activation=nn.Identity).double()
    step = torch.eye(4, dtype=F64) + h * layer.matrix().detach()
    mu = torch.linalg.eigvals(layer.matrix().detach()).imag.abs()
    expected = torch.sqrt(1 + h**2 * mu**2).sort().values
    got = torch.linalg.eigvals(step).abs().sort().values
    torch.testing.assert_close(got, expected)
    assert float(got.max()) > 1.0  # γ = 0: slow growth, as the chapter says
    damped = AntisymmetricLayer(4, h=h, gamma=0.5, activation=nn.Identity).double()
    damped.weight.data.copy_(layer.weight.data)
    step = torch.eye(4, dtype=F64) + h * damped.matrix().detach()
    assert float(torch.linalg.eigvals(step).abs().max()) < 1.0  # hλ inside Euler's disc


def _net(residual: bool = True, depth: int = 4) -> LayerNet:
    torch.manual_seed(3)
    kwargs = {"h": 0.25} if residual else {}
    return LayerNet(64, 10, width=8, depth=depth, residual=residual, **kwargs).double()


def test_layernet_states_skip_and_update_norms() -> None:
    net = _net()
    x = torch.rand(5, 1, 8, 8, dtype=F64)  # images are flattened
    ys = net.states(x)
    assert len(ys) == 5 and all(y.shape == (5, 8) for y in ys)
    torch.testing.assert_close(net(x), net.head(ys[-1]))
    norms = net.update_norms(x)
    expected = torch.stack([(b - a).norm(dim=1).mean() for a, b in itertools.pairwise(ys)])
    torch.testing.assert_close(norms, expected)
    # deleting layer 2 is the identity in place of that layer
    skipped = net.states(x, skip={2})
    torch.testing.assert_close(skipped[3], skipped[2])
    torch.testing.assert_close(skipped[4], net.layers[3](skipped[2]))
    with pytest.raises(ValueError, match="outside"):
        net(x, skip={4})


def test_xavier_initialisation_is_glorot_with_the_tanh_gain() -> None:
    torch.manual_seed(4)
    net = LayerNet(64, 10, width=256, depth=2)
    w = net.layers[0].linear.weight.detach()
    expected = (5 / 3) * math.sqrt(2 / (256 + 256))
    assert abs(float(w.std()) / expected - 1) < 0.05
    assert float(net.layers[0].linear.bias.detach().abs().max()) == 0.0


def test_zero_layer_is_exactly_the_identity() -> None:
    net = _net()
    with torch.no_grad():  # non-zero biases, as after training
        for p in net.parameters():
            p.add_(0.1)
    x = torch.randn(9, 64, dtype=F64)
    for index in range(len(net.layers) + 1):
        deeper = net.with_identity_layer(index)
        assert len(deeper.layers) == 5 and len(net.layers) == 4
        assert torch.equal(deeper(x), net(x))
        assert float(deeper.layers[index].linear.weight.detach().abs().max()) == 0.0
    with pytest.raises(ValueError, match="plain"):
        _net(residual=False).with_identity_layer(0)
    with pytest.raises(ValueError, match="index"):
        net.with_identity_layer(6)


def test_layernet_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="plain layer has no step"):
        LayerNet(64, 10, width=8, depth=2, residual=False, h=0.5)
    with pytest.raises(ValueError, match="init"):
        LayerNet(64, 10, width=8, depth=2, init="he")
    with pytest.raises(ValueError, match="depth"):
        LayerNet(64, 10, width=8, depth=0)
    with pytest.raises(ValueError, match="h must be"):
        ResidualLayer(3, h=-1.0)


def test_hamiltonian_block_is_leapfrog_volume_preserving_and_invertible() -> None:
    torch.manual_seed(5)
    h = 0.3
    block = hamiltonian_block(3, h=h).double()
    assert len(list(block.parameters())) == 2  # one K and one b, shared by both half-steps
    K, b = block.F.linear.weight, block.F.linear.bias
    x = torch.randn(4, 6, dtype=F64)
    Y, Z = x[:, :3], x[:, 3:]
    Y1 = Y + h * torch.tanh(Z @ K.T + b)
    Z1 = Z - h * torch.tanh(Y1 @ K + b)  # Kᵀ Y, written for row vectors
    torch.testing.assert_close(block(x), torch.cat([Y1, Z1], 1))
    torch.testing.assert_close(block.inverse(block(x)), x, rtol=0, atol=1e-14)
    jac = torch.func.jacrev(lambda v: block(v[None])[0])(x[0])
    assert abs(float(torch.linalg.slogdet(jac.detach())[1])) < 1e-12  # det = 1


def _revnet(depth: int, width: int = 8) -> list[ReversibleBlock]:
    torch.manual_seed(6)

    def mlp() -> nn.Module:
        return nn.Sequential(nn.Linear(width // 2, width), nn.Tanh(), nn.Linear(width, width // 2))

    return [ReversibleBlock(mlp(), mlp()).double() for _ in range(depth)]


def test_reversible_sequence_gradients_equal_backprop() -> None:
    blocks = _revnet(5)
    seq = ReversibleSequence(blocks)
    x = torch.randn(6, 8, dtype=F64, requires_grad=True)
    params = [x, *seq.parameters()]
    g_rev = torch.autograd.grad(seq(x).sin().sum(), params)
    g_ref = torch.autograd.grad(nn.Sequential(*blocks)(x).sin().sum(), params)
    for a, b in zip(g_rev, g_ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(seq.inverse(seq(x)), x, rtol=0, atol=1e-12)
    with torch.no_grad():  # the plain path, without a graph
        torch.testing.assert_close(seq(x), nn.Sequential(*blocks)(x))


def test_reversible_sequence_saves_only_its_output() -> None:
    x = torch.randn(32, 8, dtype=F64)
    output_bytes = x.numel() * x.element_size()
    saved_rev, saved_plain = [], []
    for depth in (1, 4, 16):
        blocks = _revnet(depth)
        saved_rev.append(saved_tensor_bytes(lambda b=blocks: ReversibleSequence(b)(x).sum())[1])
        saved_plain.append(saved_tensor_bytes(lambda b=blocks: nn.Sequential(*b)(x).sum())[1])
    assert saved_rev == [output_bytes] * 3  # independent of depth: the output only
    # backprop stores a fixed amount per block: linear growth
    per_block = (saved_plain[1] - saved_plain[0]) / 3
    assert per_block > output_bytes
    assert saved_plain[2] - saved_plain[1] == pytest.approx(12 * per_block)


def test_reversible_sequence_rejects_bad_blocks() -> None:
    with pytest.raises(TypeError, match="inverse"):
        ReversibleSequence([nn.Linear(2, 2)])
    block = _revnet(1)[0]
    with pytest.raises(ValueError, match="share"):
        ReversibleSequence([block, block])
    with pytest.raises(ValueError, match="at least one"):
        ReversibleSequence([])
