"""Tests of nodelib.models.cnf: trace estimators, the instantaneous change of variables, CNF.

The mathematics checked: exact traces against the autograd Jacobian; Hutchinson's
estimator unbiased with the variance theory predicts for each probe (and wrong estimators
rejected); `CNF.log_prob` against closed forms (f = A z) and against the brute-force change
of variables through the solution map; the regularisers against quadrature along the
trajectory; odeint and odeint_adjoint giving one gradient; training lowering the loss and
keeping a density that integrates to 1.
"""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch
from torch import Tensor, nn

from nodelib.data import sample_2d
from nodelib.models.cnf import CNF, CNFDynamics, exact_trace, hutchinson_trace, sample_probe
from nodelib.models.flows import fit_density
from nodelib.odeint import odeint

pytestmark = pytest.mark.usefixtures("one_thread")


class _LinearField(nn.Module):
    """f(t, z) = A z, whose flow map is expm(A t) and whose divergence is tr(A)."""

    def __init__(self, A: Tensor) -> None:
        super().__init__()
        self.A = nn.Parameter(A.clone())

    def forward(self, t: Tensor, z: Tensor) -> Tensor:
        return z @ self.A.T


def _field(dim: int = 3, seed: int = 0):
    """A nonlinear f with a non-symmetric Jacobian, and its parameters."""
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(8, dim, generator=g, dtype=torch.float64)
    V = torch.randn(dim, 8, generator=g, dtype=torch.float64)
    A = torch.randn(dim, dim, generator=g, dtype=torch.float64)
    return lambda z: torch.tanh(z @ W.T) @ V.T + z @ A.T


def _dynamics(seed: int = 0, hidden: int = 16, scale: float = 1.5) -> CNFDynamics:
    torch.manual_seed(seed)
    dyn = CNFDynamics(2, hidden).double()
    with torch.no_grad():
        for p in dyn.parameters():
            p.mul_(scale)  # a visibly nonlinear, non-volume-preserving flow
    return dyn


def _gauss_logpdf(z: Tensor) -> Tensor:
    return -0.5 * (z.pow(2).sum(-1) + z.shape[-1] * math.log(2 * math.pi))


# ---------------------------------------------------------------------------------------------
# Trace estimators


def test_exact_trace_matches_autograd_jacobian():
    f = _field()
    z = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    tr = exact_trace(f(z), z)
    ref = [torch.trace(torch.autograd.functional.jacobian(lambda v: f(v[None])[0], p)) for p in z]
    torch.testing.assert_close(tr, torch.stack(ref))


def _probe_statistics(f, z: Tensor, kind: str, m: int, wrong: str | None = None):
    """m Hutchinson estimates per sample of z (batch, dim): their mean, standard error, var."""
    zz = z.detach().repeat(m, 1).requires_grad_(True)  # row k*batch + i is sample i
    out = f(zz)
    eps = sample_probe(zz, kind, generator=torch.Generator().manual_seed(5))
    if wrong == "scaled probe":
        est = hutchinson_trace(out, zz, 1.5 * eps)
    elif wrong == "two probes":  # a fresh probe on the left: E[εᵀJε'] = 0
        eps2 = sample_probe(zz, kind, generator=torch.Generator().manual_seed(6))
        vjp = torch.autograd.grad(out, zz, eps)[0]
        est = (vjp * eps2).sum(-1)
    else:
        est = hutchinson_trace(out, zz, eps)
    est = est.view(m, z.shape[0])
    return est.mean(0), est.std(0) / math.sqrt(m), est.var(0)


@pytest.mark.parametrize("kind", ["gaussian", "rademacher"])
def test_hutchinson_is_unbiased_with_the_predicted_variance(kind):
    f = _field()
    z = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    exact = exact_trace(f(z), z).detach()
    mean, se, var = _probe_statistics(f, z, kind, 20000)
    assert bool(((mean - exact).abs() < 4.5 * se).all()), (mean, exact, se)
    # Var[εᵀJε] = 2‖S‖_F² (Gaussian) or 2(‖S‖_F² - Σ S_ii²) (Rademacher), S = (J + Jᵀ)/2.
    J = torch.stack([torch.autograd.functional.jacobian(lambda v: f(v[None])[0], p) for p in z])
    S = (J + J.transpose(1, 2)) / 2
    theory = 2 * S.pow(2).sum((1, 2))
    if kind == "rademacher":
        theory = theory - 2 * torch.diagonal(S, dim1=1, dim2=2).pow(2).sum(-1)
    torch.testing.assert_close(var, theory, rtol=0.1, atol=0)
    for wrong in ("scaled probe", "two probes"):  # the check above rejects wrong estimators
        mean_w, se_w, _ = _probe_statistics(f, z, kind, 20000, wrong)
        assert not bool(((mean_w - exact).abs() < 4.5 * se_w).all()), wrong


def test_sample_probe_moments_and_errors():
    like = torch.empty(40000, 2, dtype=torch.float64)
    r = sample_probe(like, "rademacher", generator=torch.Generator().manual_seed(0))
    assert r.dtype == torch.float64 and set(r.unique().tolist()) == {-1.0, 1.0}
    for kind in ("gaussian", "rademacher"):
        e = sample_probe(like, kind, generator=torch.Generator().manual_seed(1))
        cov = e.T @ e / e.shape[0]
        torch.testing.assert_close(cov, torch.eye(2, dtype=torch.float64), atol=0.03, rtol=0)
    with pytest.raises(ValueError, match="probe"):
        sample_probe(like, "uniform")


@pytest.mark.parametrize("activation", ["tanh", "softplus"])
def test_dynamics_shape_and_time_dependence(activation):
    dyn = CNFDynamics(2, 8, depth=3, activation=activation).double()
    z = torch.randn(5, 2, dtype=torch.float64)
    f0, f1 = dyn(torch.tensor(0.0, dtype=torch.float64), z), dyn(torch.tensor(1.0), z)
    assert f0.shape == (5, 2) and f1.dtype == torch.float64
    assert float((f1 - f0).detach().abs().min()) > 1e-4  # time is an input of the field
    assert len(dyn.linears) == 4 and all(lin.in_features in (3, 9) for lin in dyn.linears)


# ---------------------------------------------------------------------------------------------
# log_prob and sample against exact answers


A = torch.tensor([[0.3, 1.2], [-0.4, 0.5]], dtype=torch.float64)  # tr(A) = 0.8, not symmetric


@pytest.mark.parametrize("t1", [1.0, 0.5])
def test_log_prob_and_sample_of_a_linear_field(t1):
    cnf = CNF(2, t1=t1, rtol=1e-10, atol=1e-10, dynamics=_LinearField(A)).double()
    x = torch.randn(6, 2, dtype=torch.float64)
    exact = _gauss_logpdf(x @ torch.linalg.matrix_exp(-A * t1).T) - t1 * torch.trace(A)
    # a sign error (+tr, or e^{+A}) would be off by 2 t1 tr(A) >= 0.8 or more
    torch.testing.assert_close(cnf.log_prob(x), exact, atol=1e-8, rtol=0)
    samples = cnf.sample(7, torch.Generator().manual_seed(3))
    z0 = cnf.base.sample(7, torch.Generator().manual_seed(3))
    torch.testing.assert_close(samples, z0 @ torch.linalg.matrix_exp(A * t1).T, atol=1e-8, rtol=0)


def test_log_prob_matches_brute_force_change_of_variables():
    dyn = _dynamics()
    cnf = CNF(2, rtol=1e-10, atol=1e-10, dynamics=dyn).double()
    x = torch.randn(4, 2, dtype=torch.float64)
    t = torch.tensor([1.0, 0.0], dtype=torch.float64)

    def to_base(v: Tensor) -> Tensor:  # the solution map x = z(1) -> z(0)
        return odeint(dyn, v[None], t, rtol=1e-11, atol=1e-11)[-1][0]

    brute = []
    for p in x:
        J = torch.autograd.functional.jacobian(to_base, p)
        brute.append(_gauss_logpdf(to_base(p)) + torch.linalg.slogdet(J)[1])
    brute = torch.stack(brute)
    with torch.no_grad():
        lp = cnf.log_prob(x)
    assert float((brute - _gauss_logpdf(x)).detach().abs().min()) > 0.1  # the flow does something
    torch.testing.assert_close(lp, brute, atol=1e-7, rtol=0)


@pytest.mark.parametrize("probe", ["gaussian", "rademacher"])
def test_hutchinson_log_prob_and_jacobian_norm_are_unbiased(probe):
    dyn = _dynamics(seed=1)
    kw = {"rtol": 1e-7, "atol": 1e-7, "dynamics": dyn}
    exact = CNF(2, trace="exact", **kw).double()
    hutch = CNF(2, trace="hutchinson", probe=probe, **kw).double()
    x = torch.randn(2, 2, dtype=torch.float64)
    m = 1500
    with torch.no_grad():
        lp, kin, jac = exact.log_prob_and_regularisers(x)
        g = torch.Generator().manual_seed(0)
        terms = hutch.log_prob_and_regularisers(x.repeat(m, 1), generator=g)
    for est, ref in zip(terms, (lp, kin, jac), strict=True):
        est = est.view(m, 2)
        se = est.std(0) / math.sqrt(m)
        # + 1e-5: the solver's error (steps differ with the batch); the kinetic term has se = 0
        assert bool(((est.mean(0) - ref).abs() <= 4.5 * se + 1e-5).all()), (est.mean(0), ref)
    assert float(terms[2].view(m, 2).std(0).min()) > 1e-3  # the Jacobian term is random


def test_regularisers_match_quadrature_along_the_trajectory():
    dyn = _dynamics(seed=2)
    cnf = CNF(2, rtol=1e-9, atol=1e-9, dynamics=dyn, kinetic_weight=0.5, jacobian_weight=2.0)
    cnf = cnf.double()
    x = torch.randn(3, 2, dtype=torch.float64)
    times = torch.linspace(1.0, 0.0, 801, dtype=torch.float64)
    with torch.no_grad():
        traj = cnf.forward_trajectory(x, times)  # (801, 3, 2), from t1 back to 0
    kin, frob = [], []
    for t, z in zip(times, traj, strict=True):
        z = z.clone().requires_grad_(True)
        f = dyn(t, z)
        rows = [torch.autograd.grad(f[:, i].sum(), z, retain_graph=True)[0] for i in range(2)]
        kin.append(f.detach().pow(2).sum(-1))
        frob.append(sum(r.pow(2).sum(-1) for r in rows))
    dt = float(times[0] - times[1])
    trap = [dt * (torch.stack(v)[1:-1].sum(0) + (v[0] + v[-1]) / 2) for v in (kin, frob)]
    _, k, j = cnf.log_prob_and_regularisers(x)
    torch.testing.assert_close(k.detach(), trap[0], rtol=1e-5, atol=0)
    torch.testing.assert_close(j.detach(), trap[1], rtol=1e-5, atol=0)
    loss = cnf.loss(x)
    torch.testing.assert_close(loss.kinetic, trap[0].mean(), rtol=1e-5, atol=0)
    expected = loss.nll + 0.5 * trap[0].mean() + 2.0 * trap[1].mean()
    torch.testing.assert_close(loss.total, expected, rtol=1e-5, atol=0)


def test_forward_trajectory_ends_at_the_samples_and_nfe_is_counted():
    cnf = CNF(2, hidden=8, rtol=1e-8, atol=1e-8).double()
    z0 = cnf.base.sample(5, torch.Generator().manual_seed(4))
    times = torch.linspace(0, 1, 6, dtype=torch.float64)
    traj = cnf.forward_trajectory(z0, times)
    assert traj.shape == (6, 5, 2) and cnf.nfe == cnf.nfe_forward > 0
    x = cnf.sample(5, torch.Generator().manual_seed(4))
    torch.testing.assert_close(traj[-1], x, atol=1e-7, rtol=0)
    cnf.log_prob(x)
    first = cnf.nfe
    cnf.log_prob(x)
    assert cnf.nfe == first  # reset per call, not accumulated


# ---------------------------------------------------------------------------------------------
# Gradients and training


@pytest.mark.parametrize("trace", ["exact", "hutchinson"])
def test_odeint_and_adjoint_give_the_same_gradients(trace):
    x = torch.randn(8, 2, dtype=torch.float64)
    grads = []
    for adjoint in (False, True):
        cnf = CNF(
            2,
            trace=trace,
            rtol=1e-9,
            atol=1e-9,
            adjoint=adjoint,
            dynamics=_dynamics(3, 8),
            kinetic_weight=0.1,
            jacobian_weight=0.1,
        ).double()
        loss = cnf.loss(x, generator=torch.Generator().manual_seed(0)).total
        loss.backward()
        grads.append(torch.cat([p.grad.reshape(-1) for p in cnf.parameters()]))
        if adjoint:
            assert cnf.nfe > cnf.nfe_forward  # the backward solves were counted
    assert float(grads[0].abs().max()) > 1e-3
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-5, atol=1e-7)


# The training set of the density tests: nodelib's two moons.
_moons = partial(sample_2d, "two_moons")


@pytest.mark.parametrize("trace", ["exact", "hutchinson"])
def test_training_lowers_the_loss_and_keeps_a_normalised_density(trace):
    # Two RK4 steps per solve keep training to a few seconds; the density is then evaluated
    # with an accurate adaptive solve, so it must integrate to 1 however well it is trained.
    torch.manual_seed(0)
    cnf = CNF(
        2, hidden=32, trace=trace, probe="rademacher", method="rk4", options={"step_size": 0.5}
    )
    g = torch.Generator().manual_seed(0)
    losses = fit_density(cnf, _moons, steps=80, batch_size=64, lr=1e-2, generator=g)
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < first - 0.3, (first, last)
    cnf.trace, cnf.method, cnf.options, cnf.rtol, cnf.atol = "exact", "dopri5", None, 1e-6, 1e-6
    xs = torch.linspace(-6, 6, 81)
    X, Y = torch.meshgrid(xs, xs, indexing="ij")
    with torch.no_grad():
        p = cnf.log_prob(torch.stack([X.reshape(-1), Y.reshape(-1)], 1)).exp()
    mass = float(p.sum()) * float(xs[1] - xs[0]) ** 2
    assert abs(mass - 1) < 0.03, mass


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="trace"):
        CNF(2, trace="approximate")
    with pytest.raises(ValueError, match="probe"):
        CNF(2, trace="hutchinson", probe="uniform")
    with pytest.raises(ValueError, match="t1"):
        CNF(2, t1=0.0)
    with pytest.raises(ValueError, match="non-negative"):
        CNF(2, kinetic_weight=-1.0)
    with pytest.raises(TypeError, match=r"nn\.Module"):
        CNF(2, dynamics=lambda t, z: z)
    with pytest.raises(ValueError, match="activation"):
        CNFDynamics(2, activation="relu")
    with pytest.raises(ValueError, match="shape"):
        CNF(2).log_prob(torch.zeros(3, 3))


@pytest.mark.gpu
def test_cnf_trains_on_cuda():
    for adjoint in (False, True):
        cnf = CNF(2, hidden=16, trace="hutchinson", adjoint=adjoint, kinetic_weight=0.1).cuda()
        x = torch.randn(64, 2, device="cuda")
        loss = cnf.loss(x).total
        loss.backward()
        assert all(p.grad is not None and p.grad.is_cuda for p in cnf.parameters())
        assert cnf.sample(8).device.type == "cuda"
