"""Density estimation by a composition of simple maps (Tabak & Vanden-Eijnden; Tabak & Turner).

Given samples x_1, ..., x_m of an unknown density ρ, look for an invertible map φ that sends
them to samples of the standard Gaussian μ. Then ρ̃(x) = μ(φ(x)) |det ∂φ/∂x| is a density
estimate, and its log-likelihood L = (1/m) Σ_j log ρ̃(x_j) is what we ascend
(Tabak & Vanden-Eijnden, "Density estimation by dual ascent of the log-likelihood", 2010).
Tabak & Turner ("A family of nonparametric density estimation algorithms", 2013) build φ
as a long composition φ_K ∘ ... ∘ φ_1 of elementary maps, each close to the identity and
with few parameters, each chosen to increase L. After t maps, two densities must be told
apart:

- ρ_t, the density of φ_t(x) for x ~ ρ: the data pushed forward, known through the points
  z_j = φ_t(x_j) only; it tends to μ.
- ρ̃_t, the density of φ_t^{-1}(y) for y ~ μ: the estimate, known in closed form,
  ρ̃_t(x) = μ(φ_t(x)) |det ∂φ_t/∂x|; it tends to ρ.

Here φ_1 whitens the data (an affine map to mean 0 and covariance I) and every later map is
a radial expansion or contraction ψ(z) = z + β (z - z0)/(α + ‖z - z0‖)
(`nodelib.models.flows.RadialFlow`), with its one free number β chosen to maximise the gain
in L. Its centre z0 is, with equal odds, one of the current points z_j or a draw from μ:
the first kind pushes points out of regions they over-populate, the second pulls them into
regions where μ expects mass and the data have none (the two parts of the ascent velocity
-μ ∇(ρ_t/μ); on the two moons the second kind raises the held-out likelihood markedly).
The gain is a strictly concave function of β, so a safeguarded one-dimensional Newton
iteration finds its maximum, and L never decreases.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from nodelib.models.flows import RadialFlow, StandardNormal

__all__ = ["TabakTurnerMap", "fit_tabak_turner", "radial_gain"]


def _inverse_softplus(y: float) -> float:
    return y + math.log(-math.expm1(-y))


def radial_gain(z: Tensor, centre: Tensor, alpha: float, beta: float) -> tuple[float, float, float]:
    """The gain G(β) in mean log-likelihood from one radial map, and G'(β), G''(β).

    With a_j = 1/(α + r_j), c_j = α a_j², v_j = a_j (z_j - z0), r_j = ‖z_j - z0‖ and
    d = dim, the map ψ(z_j) = z_j + β v_j changes log μ(z_j) + log|det| by
    -β z_jᵀv_j - β²‖v_j‖²/2 + (d - 1) log(1 + β a_j) + log(1 + β c_j); G is the mean of
    this over j. Every term is concave in β, and the quadratic one strictly.

    Args:
        z: the current points (m, dim).
        centre: z0 (dim,).
        alpha: α > 0, the length scale of the map.
        beta: β > -α.

    Returns:
        (G, G', G'') as floats.
    """
    d = z.shape[-1]
    r = (z - centre).norm(dim=-1)  # (m,)
    a = 1 / (alpha + r)
    c = alpha * a * a
    v = a[:, None] * (z - centre)  # (m, d)
    zv, vv = (z * v).sum(-1), (v * v).sum(-1)
    ga, gc = 1 + beta * a, 1 + beta * c
    g = -beta * zv - 0.5 * beta**2 * vv + (d - 1) * torch.log(ga) + torch.log(gc)
    g1 = -zv - beta * vv + (d - 1) * a / ga + c / gc
    g2 = -vv - (d - 1) * (a / ga) ** 2 - (c / gc) ** 2
    return float(g.mean()), float(g1.mean()), float(g2.mean())


def _best_beta(z: Tensor, centre: Tensor, alpha: float, *, iters: int = 30) -> float:
    """argmax_β G(β) on β > -α: Newton on the decreasing G', kept inside the domain."""
    beta, low = 0.0, -alpha
    for _ in range(iters):
        _, g1, g2 = radial_gain(z, centre, alpha, beta)
        new = beta - g1 / g2
        if new <= low:  # stay inside the domain: go halfway to its boundary
            new = 0.5 * (beta + low)
        if abs(new - beta) <= 1e-12 * (1 + abs(beta)):
            return new
        beta = new
    return beta


class TabakTurnerMap(nn.Module):
    """φ = ψ_K ∘ ... ∘ ψ_1 ∘ whiten, from data space to the Gaussian's space (float64).

    Built by `fit_tabak_turner`. `forward` is the normalising direction x -> z = φ(x); the
    estimate ρ̃ is `log_prob` and is sampled by `sample` (y ~ μ, then φ^{-1}(y)). The
    keyword `upto=t` uses only the whitening and the first t radial maps: φ_t, ρ̃_t.

    Args:
        loc: the data mean (dim,).
        chol: the lower Cholesky factor L of the data covariance (dim, dim).
    """

    def __init__(self, loc: Tensor, chol: Tensor) -> None:
        super().__init__()
        self.register_buffer("loc", loc.double())
        self.register_buffer("chol", chol.double())
        self.maps = nn.ModuleList()
        self.base = StandardNormal(loc.shape[0]).double()

    def _count(self, upto: int | None) -> int:
        if upto is None:
            return len(self.maps)
        if not 0 <= upto <= len(self.maps):
            raise ValueError(f"upto must be between 0 and {len(self.maps)}, got {upto}.")
        return upto

    def forward(self, x: Tensor, *, upto: int | None = None) -> tuple[Tensor, Tensor]:
        """z = φ_t(x) and log|det ∂φ_t/∂x|; `x` (batch, dim) -> (batch, dim), (batch,)."""
        z = torch.linalg.solve_triangular(self.chol, (x.double() - self.loc).T, upper=False).T
        logdet = -torch.log(torch.diagonal(self.chol)).sum().expand(x.shape[0])
        for psi in self.maps[: self._count(upto)]:
            z, ld = psi(z)
            logdet = logdet + ld
        return z, logdet

    def inverse(self, z: Tensor, *, upto: int | None = None) -> Tensor:
        """x = φ_t^{-1}(z) for `z` (batch, dim) (exact: radial maps invert in closed form)."""
        z = z.double()
        for psi in reversed(self.maps[: self._count(upto)]):
            z = psi.inverse(z)[0]
        return z @ self.chol.T + self.loc

    def log_prob(self, x: Tensor, *, upto: int | None = None) -> Tensor:
        """log ρ̃_t(x) = log μ(φ_t(x)) + log|det ∂φ_t/∂x|; (batch, dim) -> (batch,)."""
        z, logdet = self(x, upto=upto)
        return self.base.log_prob(z) + logdet

    def log_prob_path(self, x: Tensor) -> Tensor:
        """log ρ̃_t(x) for every t = 0, ..., K in one pass; (batch, dim) -> (K + 1, batch)."""
        z, logdet = self(x, upto=0)
        out = [self.base.log_prob(z) + logdet]
        for psi in self.maps:
            z, ld = psi(z)
            logdet = logdet + ld
            out.append(self.base.log_prob(z) + logdet)
        return torch.stack(out)

    def sample(
        self, n: int, *, upto: int | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """`n` samples (n, dim) of ρ̃_t: φ_t^{-1}(y) with y ~ μ."""
        return self.inverse(self.base.sample(n, generator), upto=upto)

    @torch.no_grad()
    def add_radial(self, z: Tensor, centre: Tensor, alpha: float) -> Tensor:
        """Append the radial map around `centre` that most increases the likelihood of `z`.

        Returns:
            The moved points ψ(z) (m, dim).
        """
        beta = _best_beta(z, centre, alpha)
        psi = RadialFlow(z.shape[-1]).double()
        psi.z0.copy_(centre)
        psi.alpha_raw.fill_(_inverse_softplus(alpha))
        psi.beta_raw.fill_(_inverse_softplus(alpha + beta))  # softplus(beta_raw) = α + β > 0
        self.maps.append(psi)
        return psi(z)[0]


def fit_tabak_turner(
    x: Tensor,
    *,
    steps: int,
    alpha: float = 0.3,
    gaussian_centres: float = 0.5,
    generator: torch.Generator | None = None,
) -> tuple[TabakTurnerMap, list[float]]:
    """Fit φ to samples by whitening, then `steps` greedy radial maps (Tabak & Turner 2013).

    Each radial map is centred at a draw from μ (with probability `gaussian_centres`) or at
    one of the current points z_j = φ_t(x_j) (uniformly), and its β maximises the mean
    log-likelihood (see `radial_gain`), so the history never decreases.

    Args:
        x: the samples (m, dim), m > dim.
        steps: the number of radial maps (>= 0).
        alpha: their length scale α > 0, in whitened units.
        gaussian_centres: the probability, in [0, 1], that a centre is drawn from μ.
        generator: draws the centres (reproducible fits).

    Returns:
        (the map, the mean log-likelihood (1/m) Σ log ρ̃_t(x_j) for t = 0, ..., steps).

    Raises:
        ValueError: x not (m, dim) with m > dim, steps < 0, alpha <= 0 or
            gaussian_centres outside [0, 1].
    """
    if x.dim() != 2 or x.shape[0] <= x.shape[1]:
        raise ValueError(f"x must be (m, dim) with more points than dimensions, got {x.shape}.")
    if steps < 0 or alpha <= 0 or not 0 <= gaussian_centres <= 1:
        raise ValueError(
            f"need steps >= 0, alpha > 0 and 0 <= gaussian_centres <= 1, got steps={steps}, "
            f"alpha={alpha}, gaussian_centres={gaussian_centres}."
        )
    x = x.double()
    loc = x.mean(0)
    chol = torch.linalg.cholesky(torch.cov(x.T).reshape(x.shape[1], x.shape[1]))
    phi = TabakTurnerMap(loc, chol)
    with torch.no_grad():
        z, logdet = phi(x)
        logdet = logdet.clone()
        history = [float((phi.base.log_prob(z) + logdet).mean())]
        for _ in range(steps):
            if float(torch.rand((), generator=generator)) < gaussian_centres:
                centre = torch.randn(x.shape[1], generator=generator, dtype=torch.float64)
            else:
                centre = z[int(torch.randint(0, x.shape[0], (1,), generator=generator))].clone()
            new = phi.add_radial(z, centre, alpha)
            logdet = logdet + phi.maps[-1](z)[1]
            z = new
            history.append(float((phi.base.log_prob(z) + logdet).mean()))
    return phi, history
