"""Tests of the planar CNF (nodelib.models.planar_cnf) and density matching (variational).

The mathematics checked: the closed-form divergence against the autograd Jacobian; the
CNF's log-density, forwards (`sample_and_log_prob`) and backwards (`log_prob`), against the
brute-force log-determinant of the Jacobian of its flow map, with a wrong divergence caught;
the reverse KL exactly 0 for q = p and |mu|²/2 between unit Gaussians; density matching
lowering the KL of a planar flow and of a planar CNF; `InverseFlow`'s density against the
brute-force Jacobian of its layers, normalised, and consistent with its samples.
"""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch
from torch import Tensor, nn

from nodelib.data import energy_2d, log_normaliser_2d
from nodelib.models.cnf import CNF, exact_trace
from nodelib.models.flows import Flow, InverseFlow, PlanarFlow, StandardNormal
from nodelib.models.planar_cnf import PlanarCNFDynamics
from nodelib.models.variational import fit_reverse_kl, reverse_kl
from nodelib.odeint import odeint

pytestmark = pytest.mark.usefixtures("one_thread")

_TIMES = [0.0, 0.37, 1.0]


def _dynamics(hyper_hidden: int | None, seed: int = 0, width: int = 5) -> PlanarCNFDynamics:
    torch.manual_seed(seed)
    dyn = PlanarCNFDynamics(2, width, hyper_hidden=hyper_hidden).double()
    with torch.no_grad():  # a visibly nonlinear, time-dependent field
        for p in dyn.parameters():
            p.add_(0.8 * torch.randn_like(p))
    return dyn


class _NoClosedForm(nn.Module):
    """The same field without `forward_with_divergence`: the CNF falls back to autograd."""

    def __init__(self, dyn: nn.Module) -> None:
        super().__init__()
        self.dyn = dyn

    def forward(self, t: Tensor, z: Tensor) -> Tensor:
        return self.dyn(t, z)


class _WrongDivergence(_NoClosedForm):
    """A closed form that forgets the gates σ_n(t): what the brute-force test must reject."""

    def forward_with_divergence(self, t: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        w, u, b, _ = self.dyn.units(t)
        h = torch.tanh(z @ w.T + b)
        return self.dyn(t, z), (1 - h.pow(2)) @ (u * w).sum(-1)


@pytest.mark.parametrize("hyper_hidden", [None, 6])
def test_divergence_matches_autograd_trace(hyper_hidden):
    dyn = _dynamics(hyper_hidden)
    z = torch.randn(7, 2, dtype=torch.float64, requires_grad=True)
    for t in _TIMES:
        tt = torch.tensor(t, dtype=torch.float64)
        f, div = dyn.forward_with_divergence(tt, z)
        torch.testing.assert_close(f, dyn(tt, z))
        torch.testing.assert_close(div, exact_trace(f, z), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(dyn.divergence(tt, z), div)


def test_gates_act_and_parameter_counts():
    dyn = _dynamics(None)
    z = torch.randn(4, 2, dtype=torch.float64)
    f0 = dyn(torch.tensor(0.0, dtype=torch.float64), z)
    f1 = dyn(torch.tensor(1.0, dtype=torch.float64), z)
    assert float((f1 - f0).detach().abs().max()) > 1e-3  # the gates make the field time-dependent
    assert sum(p.numel() for p in PlanarCNFDynamics(2, 8).parameters()) == 7 * 8
    # Hypernetwork 1 -> H -> H -> M (2D + 2): (H + H) + (H² + H) + (H + 1) M (2D + 2).
    n_hyper = sum(p.numel() for p in PlanarCNFDynamics(2, 8, hyper_hidden=16).parameters())
    assert n_hyper == 32 + (256 + 16) + 17 * 8 * 6
    with pytest.raises(ValueError, match="positive"):
        PlanarCNFDynamics(2, 0)
    with pytest.raises(ValueError, match="positive"):
        PlanarCNFDynamics(2, 3, hyper_hidden=0)


def _brute_force_log_q(cnf: CNF, z0: Tensor) -> tuple[Tensor, Tensor]:
    """x = φ(z0) and log N(z0) - log|det ∂φ/∂z0|, the Jacobian by autograd through the solve."""

    def flow_map(v: Tensor) -> Tensor:
        times = torch.tensor([0.0, cnf.t1], dtype=v.dtype)
        return odeint(cnf.dynamics, v[None], times, rtol=1e-11, atol=1e-11)[-1, 0]

    xs, logqs = [], []
    for p in z0:
        jac = torch.autograd.functional.jacobian(flow_map, p)
        xs.append(flow_map(p))
        logqs.append(cnf.base.log_prob(p[None])[0] - torch.linalg.slogdet(jac)[1])
    return torch.stack(xs), torch.stack(logqs)


@pytest.mark.parametrize("hyper_hidden", [None, 6])
def test_log_density_against_brute_force_jacobian(hyper_hidden):
    dyn = _dynamics(hyper_hidden, seed=1)
    cnf = CNF(2, t1=1.0, rtol=1e-11, atol=1e-11, dynamics=dyn).double()
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        x, log_q = cnf.sample_and_log_prob(6, g)
    z0 = cnf.base.sample(6, torch.Generator().manual_seed(3))
    x_ref, log_q_ref = _brute_force_log_q(cnf, z0)
    torch.testing.assert_close(x, x_ref, rtol=1e-8, atol=1e-8)
    torch.testing.assert_close(log_q, log_q_ref, rtol=1e-7, atol=1e-7)
    assert float((log_q_ref - cnf.base.log_prob(z0)).abs().max()) > 0.1  # volume does change
    with torch.no_grad():  # backwards from x, and by the autograd trace: the same numbers
        torch.testing.assert_close(cnf.log_prob(x_ref), log_q_ref, rtol=1e-7, atol=1e-7)
        slow = CNF(2, rtol=1e-11, atol=1e-11, dynamics=_NoClosedForm(dyn)).double()
        torch.testing.assert_close(slow.log_prob(x_ref), log_q_ref, rtol=1e-7, atol=1e-7)
        wrong = CNF(2, rtol=1e-11, atol=1e-11, dynamics=_WrongDivergence(dyn)).double()
        assert float((wrong.log_prob(x_ref) - log_q_ref).abs().max()) > 1e-3


def test_reverse_kl_exact_cases():
    quadratic = partial(lambda x: 0.5 * x.pow(2).sum(-1))  # p = N(0, I), log Z = log 2π
    identity = Flow(StandardNormal(2), []).double()
    kl = reverse_kl(identity, quadratic, 500, log_normaliser=math.log(2 * math.pi))
    assert abs(float(kl)) < 1e-12  # q = p: every sample contributes exactly 0
    still = CNF(2, dynamics=PlanarCNFDynamics(2, 3, init_scale=0.0)).double()
    kl = reverse_kl(still, quadratic, 500, log_normaliser=math.log(2 * math.pi))
    assert abs(float(kl)) < 1e-12  # u = 0: the CNF is the identity map
    mu = torch.tensor([1.0, -2.0], dtype=torch.float64)  # KL(N(0,I) ‖ N(mu,I)) = |mu|²/2
    shifted = partial(lambda x: 0.5 * (x - mu).pow(2).sum(-1))
    g = torch.Generator().manual_seed(0)
    kl = reverse_kl(identity, shifted, 40000, log_normaliser=math.log(2 * math.pi), generator=g)
    assert abs(float(kl) - 2.5) < 0.05  # Monte Carlo std of the estimate: about 0.011
    with pytest.raises(ValueError, match="sample_and_log_prob"):
        reverse_kl(nn.Linear(2, 2), quadratic, 10)


@pytest.mark.parametrize("kind", ["planar flow", "planar cnf"])
def test_density_matching_lowers_the_kl(kind):
    torch.manual_seed(0)
    if kind == "planar flow":
        model = Flow(StandardNormal(2), [PlanarFlow(2) for _ in range(4)])
    else:
        model = CNF(2, dynamics=PlanarCNFDynamics(2, 4), method="rk4", options={"step_size": 0.25})
    energy, log_z = partial(energy_2d, "ring_two_modes"), log_normaliser_2d("ring_two_modes")

    def kl() -> float:
        with torch.no_grad():
            g = torch.Generator().manual_seed(9)
            return float(reverse_kl(model, energy, 4000, log_normaliser=log_z, generator=g))

    before = kl()
    losses = fit_reverse_kl(
        model, energy, steps=150, batch_size=128, lr=0.02, generator=torch.Generator()
    )
    assert len(losses) == 150 and kl() < 0.7 * before
    with pytest.raises(ValueError, match="optimizer"):
        fit_reverse_kl(model, energy, steps=1, batch_size=2, optimizer="sgd")


def test_inverse_flow_density_brute_force_normalised_and_sampled():
    torch.manual_seed(2)
    flow = InverseFlow(StandardNormal(2), [PlanarFlow(2) for _ in range(3)]).double()
    with torch.no_grad():
        for p in flow.parameters():
            p.mul_(2.0)  # far from the identity
    x = torch.randn(5, 2, dtype=torch.float64)

    def normalise(v: Tensor) -> Tensor:  # the layers applied in order: data -> base
        for layer in flow.layers:
            v = layer(v)[0]
        return v

    ref = torch.stack(
        [
            flow.base.log_prob(normalise(p[None]))[0]
            + torch.linalg.slogdet(
                torch.autograd.functional.jacobian(lambda v: normalise(v[None])[0], p)
            )[1]
            for p in x
        ]
    )
    torch.testing.assert_close(flow.log_prob(x), ref, rtol=1e-10, atol=1e-10)
    mid = torch.linspace(-7.95, 7.95, 160, dtype=torch.float64)  # spacing 0.1
    grid = torch.stack(torch.meshgrid(mid, mid, indexing="xy"), dim=-1).reshape(-1, 2)
    with torch.no_grad():
        assert abs(float(flow.log_prob(grid).exp().sum()) * 0.01 - 1) < 1e-3
        samples, log_q = flow.sample_and_log_prob(50, torch.Generator().manual_seed(0))
        torch.testing.assert_close(flow.log_prob(samples), log_q, rtol=1e-7, atol=1e-7)
        steps = flow.forward_with_intermediates(flow.base.sample(4))
        torch.testing.assert_close(normalise(steps[-1]), steps[0], rtol=1e-7, atol=1e-7)
