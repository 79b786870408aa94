"""Tests of nodelib.models.latent: latent ODE (GRU and ODE-RNN encoders), ELBO, RNN baseline."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from nodelib.course.train import fit
from nodelib.data import make_spirals
from nodelib.models.latent import (
    GRUEncoder,
    LatentODE,
    ODERNNEncoder,
    RNNBaseline,
    TimeSeriesLoss,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def _waves(n: int = 16, T: int = 20, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """Irregularly observed circles around (1, -1): t (T,), y (n, T, 2), mask (n, T) bool."""
    g = torch.Generator().manual_seed(seed)
    t = torch.linspace(0.0, 2.0, T)
    phase = torch.rand(n, 1, generator=g) * 2 * math.pi
    y = torch.stack([1 + torch.sin(2 * t + phase), -1 + torch.cos(2 * t + phase)], dim=-1)
    y = y + 0.05 * torch.randn(y.shape, generator=g)
    mask = torch.rand(n, T, generator=g) < 0.5
    mask[:, 0] = True  # every series seen at least once
    return t, y, mask


def _small(encoder: str) -> LatentODE:
    return LatentODE(2, 4, 16, 16, encoder=encoder)


# ---------------------------------------------------------------------------------------------
# Shapes and masks


@pytest.mark.parametrize("encoder", ["gru", "odernn"])
def test_shapes_on_spirals(encoder: str) -> None:
    torch.manual_seed(0)
    data = make_spirals(6, n_times=30, n_observed=10, seed=0)
    model = _small(encoder)
    mu, logvar = model.encode(data.t, data.y, data.mask)
    assert mu.shape == logvar.shape == (6, 4)
    pred, _, _ = model(data.t, data.y, data.mask)
    assert pred.shape == (6, 30, 2)
    # interpolation inside and extrapolation beyond the first 15 grid times
    t_query = torch.linspace(float(data.t[0]), 1.5 * float(data.t[-1]), 45)
    out = model.reconstruct(data.t[:15], data.y[:, :15], data.mask[:, :15], t_query)
    assert out.shape == (6, 45, 2) and bool(torch.isfinite(out).all())


@pytest.mark.parametrize(
    "make", [lambda: GRUEncoder(2, 8, 3), lambda: ODERNNEncoder(2, 8, 3)], ids=["gru", "odernn"]
)
@torch.no_grad()
def test_encoders_read_only_observed_points(make) -> None:
    torch.manual_seed(0)
    t, y, mask = _waves(4, 12)
    enc = make()
    mu, logvar = enc(t, y, mask)
    garbage = torch.where(mask.unsqueeze(-1), y, torch.full_like(y, float("nan")))
    mu2, logvar2 = enc(t, garbage, mask)
    torch.testing.assert_close(mu2, mu)
    torch.testing.assert_close(logvar2, logvar)
    changed = y.clone()
    i = int(mask[0].nonzero()[-1])  # series 0's last observation, read first
    changed[0, i] += 1.0
    mu3, _ = enc(t, changed, mask)
    assert float((mu3[0] - mu[0]).abs().max()) > 1e-4  # it does read observed values
    torch.testing.assert_close(mu3[1:], mu[1:])  # and only those of its own series


def test_rnn_baseline_ignores_unobserved_and_reconstructs_on_the_grid() -> None:
    torch.manual_seed(0)
    t, y, mask = _waves(4, 12)
    rnn = RNNBaseline(2, 8)
    garbage = torch.where(mask.unsqueeze(-1), y, torch.full_like(y, float("nan")))
    with torch.no_grad():
        torch.testing.assert_close(rnn(t, garbage, mask), rnn(t, y, mask))
        out = rnn.reconstruct(t[:8], y[:, :8], mask[:, :8], t)
        torch.testing.assert_close(out[:, :8], rnn(t[:8], y[:, :8], mask[:, :8]))
    assert out.shape == (4, 12, 2)


# ---------------------------------------------------------------------------------------------
# ELBO


class _Fixed(LatentODE):
    """A latent ODE whose forward returns given tensors, to check the ELBO's formula."""

    def __init__(self, pred: Tensor, mu: Tensor, logvar: Tensor) -> None:
        super().__init__(2, 3, 4, 4)
        self.fixed = (pred, mu, logvar)

    def forward(self, t: Tensor, y: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return self.fixed


def test_elbo_matches_gaussian_likelihood_and_kl() -> None:
    torch.manual_seed(0)
    t, y, mask = _waves(5, 7)
    pred, mu, logvar = torch.randn(5, 7, 2), torch.randn(5, 3), 0.3 * torch.randn(5, 3)
    sigma = 0.4
    loss, stats = _Fixed(pred, mu, logvar).elbo(t, y, mask, noise_std=sigma, kl_weight=0.5)
    obs = torch.distributions.Normal(pred, sigma).log_prob(y) * mask.unsqueeze(-1)
    log_lik = obs.sum(dim=(1, 2))  # (N,)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    kl = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(1)
    torch.testing.assert_close(loss, -(log_lik - 0.5 * kl).mean())
    assert stats["kl"] == pytest.approx(float(kl.mean()), rel=1e-5)
    assert stats["elbo"] == pytest.approx(float((log_lik - kl).mean()), rel=1e-5)
    sq = ((pred - y) ** 2 * mask.unsqueeze(-1)).sum() / (2 * mask.sum())
    assert stats["mse"] == pytest.approx(float(sq), rel=1e-5)


def test_decode_from_an_earlier_time_and_bad_arguments() -> None:
    torch.manual_seed(0)
    model = LatentODE(2, 4, 8, 8, rtol=1e-6, atol=1e-7)
    z0, t = torch.randn(3, 4), torch.linspace(0, 1, 9)
    with torch.no_grad():
        full = model.decode(z0, t)
        late = model.decode(z0, t[3:], t0=t[0])
    torch.testing.assert_close(late, full[:, 3:], rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="before t0"):
        model.decode(z0, t[3:], t0=0.5)
    with pytest.raises(ValueError, match="encoder"):
        LatentODE(encoder="lstm")
    t2, y, mask = _waves(2, 5)
    with pytest.raises(ValueError, match="noise_std"):
        model.elbo(t2, y, mask, noise_std=0.0)
    with pytest.raises(ValueError, match="expected"):
        model.elbo(t2[:4], y, mask, noise_std=0.1)


# ---------------------------------------------------------------------------------------------
# Training


@pytest.mark.parametrize("encoder", ["gru", "odernn"])
def test_latent_ode_loss_falls_and_every_part_learns(encoder: str) -> None:
    torch.manual_seed(0)
    t, y, mask = _waves()
    model = _small(encoder)
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    losses = []
    for _ in range(25):
        loss, _ = model.elbo(t, y, mask, noise_std=0.2)
        opt.zero_grad()
        loss.backward()
        for name, p in model.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
        opt.step()
        losses.append(float(loss.detach()))
    assert sum(losses[-3:]) < 0.6 * sum(losses[:3]), losses
    for part in (model.encoder, model.dynamics, model.decoder):
        assert sum(float(p.grad.abs().sum()) for p in part.parameters()) > 0


def test_rnn_baseline_loss_falls() -> None:
    torch.manual_seed(0)
    t, y, mask = _waves()
    rnn = RNNBaseline(2, 16)
    opt = torch.optim.Adam(rnn.parameters(), lr=2e-2)
    losses = []
    for _ in range(20):
        loss, _ = rnn.loss(t, y, mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.3 * losses[0]


def test_fit_trains_a_latent_ode_through_time_series_loss() -> None:
    torch.manual_seed(0)
    t, y, mask = _waves(32, 15)
    objective = TimeSeriesLoss(_small("gru"), t, noise_std=0.2)
    history = fit(objective, (y, mask), epochs=4, batch_size=16, lr=2e-2, device="cpu",
                  progress=False)  # fmt: skip
    assert len(history.loss) == 4 and history.loss[-1] < history.loss[0]
    assert all(n > 0 for n in history.nfe_forward)
    assert history.nfe_backward == [0.0] * 4  # backprop: the backward pass calls no f
    assert isinstance(objective.model, nn.Module) and objective.t.shape == (15,)
