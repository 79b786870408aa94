"""Tests of nodelib.models.tabak: the Tabak-Turner construction of a density estimate.

The mathematics checked: the gain G(β) of one radial map and its derivatives against the
map's own log-likelihood and finite differences; the chosen β maximises G (G'(β) = 0 and
G(β) >= G at nearby β); the mean log-likelihood never decreases; the estimate ρ̃ is a
density (it integrates to one) whatever the number of maps; the inverse undoes the map; the
fit beats the whitening's Gaussian on held-out points.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from nodelib.data import sample_2d
from nodelib.models.flows import RadialFlow, StandardNormal
from nodelib.models.tabak import TabakTurnerMap, _best_beta, fit_tabak_turner, radial_gain

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def fitted() -> tuple[TabakTurnerMap, list[float], torch.Tensor]:
    x = sample_2d("two_moons", 800, generator=torch.Generator().manual_seed(0)).double()
    phi, history = fit_tabak_turner(
        x, steps=150, alpha=0.3, generator=torch.Generator().manual_seed(1)
    )
    return phi, history, x


def _mean_loglik(z: torch.Tensor, centre: torch.Tensor, alpha: float, beta: float) -> float:
    psi = RadialFlow(2).double()
    with torch.no_grad():
        psi.z0.copy_(centre)
        psi.alpha_raw.fill_(math.log(math.expm1(alpha)))
        psi.beta_raw.fill_(math.log(math.expm1(alpha + beta)))
        out, logdet = psi(z)
        base = StandardNormal(2).double()
        return float((base.log_prob(out) + logdet - base.log_prob(z)).mean())


def test_radial_gain_matches_the_map_and_its_derivatives():
    z = torch.randn(300, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    centre, alpha = z[5].clone(), 0.4
    for beta in (-0.3, 0.0, 0.7):
        g, g1, g2 = radial_gain(z, centre, alpha, beta)
        assert abs(g - _mean_loglik(z, centre, alpha, beta)) < 1e-10
        eps = 1e-5
        gp, gm = (
            radial_gain(z, centre, alpha, beta + eps)[0],
            radial_gain(z, centre, alpha, beta - eps)[0],
        )
        assert abs((gp - gm) / (2 * eps) - g1) < 1e-6
        assert abs((gp - 2 * g + gm) / eps**2 - g2) < 1e-3 * (1 + abs(g2))
        assert g2 < 0  # strictly concave


def test_best_beta_maximises_the_gain():
    z = 1.3 * torch.randn(400, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    centre, alpha = torch.tensor([0.2, -0.1], dtype=torch.float64), 0.5
    beta = _best_beta(z, centre, alpha)
    assert beta > -alpha
    g, g1, _ = radial_gain(z, centre, alpha, beta)
    assert abs(g1) < 1e-9 and g > 0
    for other in (beta - 0.05, beta + 0.05, 0.0):
        assert radial_gain(z, centre, alpha, max(other, -alpha + 1e-6))[0] <= g + 1e-12


def test_log_likelihood_never_decreases_and_beats_the_gaussian(fitted):
    phi, history, x = fitted
    assert len(history) == 151 and len(phi.maps) == 150
    assert min(b - a for a, b in itertools.pairwise(history)) >= -1e-12
    assert history[-1] > history[0] + 0.2
    with torch.no_grad():
        assert abs(float(phi.log_prob(x).mean()) - history[-1]) < 1e-10
        test = sample_2d("two_moons", 3000, generator=torch.Generator().manual_seed(4)).double()
        path = phi.log_prob_path(test)
        assert path.shape == (151, 3000)
        torch.testing.assert_close(path[40], phi.log_prob(test, upto=40))
        assert float(path[-1].mean()) > float(path[0].mean()) + 0.15


def test_whitening_gives_mean_zero_and_identity_covariance(fitted):
    phi, _, x = fitted
    with torch.no_grad():
        z = phi(x, upto=0)[0]
    torch.testing.assert_close(z.mean(0), torch.zeros(2, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(
        torch.cov(z.T), torch.eye(2, dtype=torch.float64), atol=1e-12, rtol=0
    )


@pytest.mark.parametrize("upto", [0, 10, 150])
def test_estimate_is_a_density(fitted, upto):
    phi, _, _ = fitted
    xs = torch.linspace(-7, 7, 281, dtype=torch.float64)
    grid = torch.cartesian_prod(xs, xs)
    with torch.no_grad():
        mass = float(phi.log_prob(grid, upto=upto).exp().sum()) * float(xs[1] - xs[0]) ** 2
    assert abs(mass - 1) < 5e-3


def test_inverse_undoes_the_map_and_samples(fitted):
    phi, _, x = fitted
    with torch.no_grad():
        z, _ = phi(x)
        torch.testing.assert_close(phi.inverse(z), x, atol=1e-9, rtol=0)
        s = phi.sample(7, generator=torch.Generator().manual_seed(5))
    assert s.shape == (7, 2) and s.dtype == torch.float64


def test_bad_arguments_raise(fitted):
    phi, _, _ = fitted
    x = torch.randn(10, 2)
    with pytest.raises(ValueError, match="more points"):
        fit_tabak_turner(torch.randn(2, 3), steps=1)
    with pytest.raises(ValueError, match="alpha"):
        fit_tabak_turner(x, steps=1, alpha=0.0)
    with pytest.raises(ValueError, match="upto"):
        phi.log_prob(x, upto=1000)
