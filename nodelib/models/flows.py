"""Normalising flows: base distributions, planar, radial and affine coupling layers, composition.

A flow maps base samples z ~ p_Z through invertible layers, x = f_K ∘ ... ∘ f_1(z), and
by the change of variables log p_X(x) = log p_Z(z) - Σ_k log|det ∂f_k/∂z_{k-1}|.
Every layer here works on `(batch, dim)` tensors and offers

    forward(z) -> (x, logdet)        x = f(z),      logdet = log|det ∂f/∂z|      (batch,)
    inverse(x) -> (z, logdet_inv)    z = f^{-1}(x), logdet_inv = log|det ∂f^{-1}/∂x| = -logdet

"forward" is the sampling direction. Planar and radial flows (Rezende & Mohamed,
"Variational Inference with Normalizing Flows", ICML 2015) are built for it: their inverse
has no closed form. Here the radial inverse reduces to a quadratic in the radius, and the
planar inverse to a monotone scalar equation solved by safeguarded Newton (see
`PlanarFlow.inverse` for its cost). Affine coupling layers (Dinh, Sohl-Dickstein & Bengio,
"Density estimation using Real NVP", ICLR 2017) are cheap both ways.
`fit_density` trains any model with a `training_loss(x)` by maximum likelihood
(`nodelib.ensemble.fit_density_ensemble` trains several, one per seed, in one loop).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.functional import softplus

__all__ = [
    "AffineCoupling",
    "DiagonalGaussian",
    "Flow",
    "FlowLayer",
    "InverseFlow",
    "PlanarFlow",
    "RadialFlow",
    "StandardNormal",
    "alternating_mask",
    "fit_density",
    "nll",
]

_LOG_2PI = math.log(2 * math.pi)


def _check_dim(dim: int) -> int:
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ValueError(f"dim must be a positive int, got {dim!r}.")
    return dim


class StandardNormal(nn.Module):
    """The standard Gaussian N(0, I) on R^dim (no parameters; follows `.to()` via a buffer)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = _check_dim(dim)
        self.register_buffer("_ref", torch.zeros(()), persistent=False)

    def log_prob(self, z: Tensor) -> Tensor:
        """log N(z; 0, I) of `z` (batch, dim) -> (batch,)."""
        return -0.5 * (z.pow(2).sum(-1) + self.dim * _LOG_2PI)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """`n` samples (n, dim) in the buffer's dtype and device."""
        ref = self._ref
        return torch.randn(n, self.dim, generator=generator, dtype=ref.dtype, device=ref.device)


class DiagonalGaussian(StandardNormal):
    """N(loc, diag(exp(2 log_scale))), learnable `loc` and `log_scale` (dim,), zero at first."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self.loc = nn.Parameter(torch.zeros(dim))
        self.log_scale = nn.Parameter(torch.zeros(dim))

    def log_prob(self, z: Tensor) -> Tensor:
        """log density of `z` (batch, dim) -> (batch,)."""
        u = (z - self.loc) * torch.exp(-self.log_scale)
        return super().log_prob(u) - self.log_scale.sum()

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """`n` reparametrised samples loc + exp(log_scale) ε, (n, dim)."""
        eps = torch.randn(
            n, self.dim, generator=generator, dtype=self.loc.dtype, device=self.loc.device
        )
        return self.loc + torch.exp(self.log_scale) * eps


class FlowLayer(nn.Module):
    """An invertible map of R^dim: `forward(z) -> (x, logdet)`, `inverse(x) -> (z, logdet_inv)`."""

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:  # pragma: no cover - interface
        raise NotImplementedError

    def inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:  # pragma: no cover - interface
        raise NotImplementedError


class PlanarFlow(FlowLayer):
    """f(z) = z + û tanh(wᵀz + b) (Rezende & Mohamed 2015, §4.1 and Appendix A).

    û = u + (m(wᵀu) - wᵀu) w/‖w‖² with m(s) = -1 + softplus(s) makes wᵀû > -1, which keeps
    f invertible. log|det ∂f/∂z| = log|1 + ûᵀw tanh'(wᵀz + b)| (matrix determinant lemma).

    Args:
        dim: the dimension.
        newton_tol: tolerance of the scalar root in `inverse`.
        max_iter: iterations allowed to `inverse`'s root finder.
    """

    def __init__(self, dim: int, *, newton_tol: float = 1e-10, max_iter: int = 100) -> None:
        super().__init__()
        _check_dim(dim)
        self.w = nn.Parameter(torch.randn(dim) / math.sqrt(dim))
        self.u = nn.Parameter(torch.randn(dim) / math.sqrt(dim))
        self.b = nn.Parameter(torch.zeros(()))
        self.newton_tol, self.max_iter = newton_tol, max_iter

    def u_hat(self) -> Tensor:
        """The constrained û (dim,), with wᵀû = -1 + softplus(wᵀu) > -1."""
        wu = self.w @ self.u
        return self.u + (softplus(wu) - 1 - wu) * self.w / (self.w @ self.w)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """x = f(z) and log|det ∂f/∂z|; `z` (batch, dim) -> (batch, dim), (batch,)."""
        u = self.u_hat()
        h = torch.tanh(z @ self.w + self.b)  # (batch,)
        logdet = torch.log1p((1 - h.pow(2)) * (self.w @ u))
        return z + h[:, None] * u, logdet

    def inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """z = f^{-1}(x) by a scalar root, and log|det ∂f^{-1}/∂x|; (batch, dim) -> ..., (batch,).

        With a = wᵀz + b and c = wᵀx + b, taking wᵀ of x = z + û tanh(a) gives the scalar
        equation g(a) = a + (wᵀû) tanh(a) - c = 0, with g strictly increasing (wᵀû > -1)
        and its root in [c - |wᵀû|, c + |wᵀû|]. Newton's method safeguarded by bisection
        solves it per sample in float64 to `newton_tol`; then z = x - û tanh(a).
        Cost: the products with w are done once; the iterations are O(batch) scalar work,
        typically 4-6 of them but a few dozen when wᵀû is close to -1 (g' nearly vanishes
        at a = 0 and bisection takes over), so `inverse` is several times slower than
        `forward`. Gradients: the root is found without a graph, then one Newton step with
        the graph gives its derivatives by the implicit function theorem.
        """
        u = self.u_hat()
        wu = self.w @ u
        c = x @ self.w + self.b  # (batch,)
        with torch.no_grad():
            a0 = self._solve(c.double(), float(wu.detach())).to(x.dtype)
        g = a0 + wu * torch.tanh(a0) - c
        a = a0 - g / (1 + wu * (1 - torch.tanh(a0).pow(2)))
        z = x - torch.tanh(a)[:, None] * u
        logdet = torch.log1p((1 - torch.tanh(a).pow(2)) * wu)
        return z, -logdet

    def _solve(self, c: Tensor, wu: float) -> Tensor:
        """The root a of a + wu tanh(a) = c, elementwise (float64)."""
        lo, hi = c - abs(wu), c + abs(wu)
        a = c.clone()
        for _ in range(self.max_iter):
            th = torch.tanh(a)
            g = a + wu * th - c
            lo = torch.where(g < 0, a, lo)
            hi = torch.where(g > 0, a, hi)
            step = g / (1 + wu * (1 - th * th))
            new = a - step
            outside = (new <= lo) | (new >= hi)
            new = torch.where(outside, 0.5 * (lo + hi), new)
            delta = (new - a).abs().max()
            a = new
            if delta <= self.newton_tol * (1 + float(c.abs().max())):
                break
        return a


class RadialFlow(FlowLayer):
    """f(z) = z + β h(r) (z - z0), h(r) = 1/(α + r), r = ‖z - z0‖ (Rezende & Mohamed 2015, §4.1).

    α = softplus(α̃) > 0 and β = -α + softplus(β̃) > -α keep f invertible (Appendix A).
    log|det ∂f/∂z| = (dim - 1) log(1 + β h) + log(1 + β h + β h'(r) r).
    The inverse is exact: the radius ρ = ‖x - z0‖ = r (1 + β/(α + r)) gives the quadratic
    r² + (α + β - ρ) r - αρ = 0, whose positive root is taken in a cancellation-free form.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = _check_dim(dim)
        self.z0 = nn.Parameter(torch.randn(dim) * 0.5)
        self.alpha_raw = nn.Parameter(torch.zeros(()))
        self.beta_raw = nn.Parameter(torch.zeros(()))

    def alpha_beta(self) -> tuple[Tensor, Tensor]:
        """The constrained α > 0 and β > -α (0-d tensors)."""
        alpha = softplus(self.alpha_raw)
        return alpha, -alpha + softplus(self.beta_raw)

    def _logdet(self, r: Tensor, alpha: Tensor, gap: Tensor) -> Tensor:
        # With gap = α + β > 0 (never formed as a difference, which could round to 0):
        # 1 + βh = (gap + r)/(α + r) and 1 + βh + βh'r = (r(2α + r) + α gap)/(α + r)².
        ar = torch.log(alpha + r)
        first = torch.log(gap + r) - ar
        return (self.dim - 1) * first + torch.log(r * (2 * alpha + r) + alpha * gap) - 2 * ar

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """x = f(z) and log|det ∂f/∂z|; (batch, dim) -> (batch, dim), (batch,)."""
        alpha, beta = self.alpha_beta()
        d = z - self.z0
        r = d.norm(dim=-1)  # (batch,)
        x = z + (beta / (alpha + r))[:, None] * d
        return x, self._logdet(r, alpha, softplus(self.beta_raw))

    def inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """z = f^{-1}(x) and log|det ∂f^{-1}/∂x|; (batch, dim) -> (batch, dim), (batch,)."""
        alpha, gap = softplus(self.alpha_raw), softplus(self.beta_raw)
        d = x - self.z0
        rho = d.norm(dim=-1)
        p = gap - rho  # α + β - ρ
        root = torch.sqrt(p * p + 4 * alpha * rho)
        # r = (-p + root)/2, rewritten as 2αρ/(p + root) where p >= 0 to avoid cancellation.
        den = (p + root).clamp_min(torch.finfo(x.dtype).tiny)
        r = torch.where(p >= 0, 2 * alpha * rho / den, (root - p) / 2)
        z = self.z0 + d * ((alpha + r) / (gap + r))[:, None]
        return z, -self._logdet(r, alpha, gap)


def alternating_mask(dim: int, parity: int = 0) -> Tensor:
    """A 0/1 mask (dim,) with ones at the indices i where i % 2 == parity (Dinh et al. 2017)."""
    return (torch.arange(_check_dim(dim)) % 2 == parity).float()


class AffineCoupling(FlowLayer):
    """RealNVP affine coupling (Dinh, Sohl-Dickstein & Bengio 2017, §3.2-3.3).

    With a binary mask m, x = m⊙z + (1-m)⊙(z ⊙ exp(s(m⊙z)) + t(m⊙z)); the Jacobian is
    triangular, so log|det| = Σ (1-m)⊙s, and the inverse is exact. The log-scale is
    bounded, s = scale_bound · tanh(·), so that one layer cannot blow up during training.
    The last linear layer starts at zero: a fresh layer is the identity.

    Args:
        dim: the dimension.
        mask: (dim,) with entries 0 or 1; the entries with 1 pass unchanged and condition.
        hidden: the width of the two hidden layers of the conditioner.
        scale_bound: the bound on |s|.

    Raises:
        ValueError: a mask of the wrong shape or not binary.
    """

    def __init__(self, dim: int, mask: Tensor, hidden: int = 64, *, scale_bound: float = 2.0):
        super().__init__()
        mask = torch.as_tensor(mask, dtype=torch.get_default_dtype())
        if mask.shape != (_check_dim(dim),) or not bool(((mask == 0) | (mask == 1)).all()):
            raise ValueError(
                f"mask must be a 0/1 tensor of shape ({dim},), e.g. "
                f"alternating_mask({dim}); got {mask.tolist()}."
            )
        self.register_buffer("mask", mask)
        self.scale_bound = scale_bound
        self.net = nn.Sequential(
            nn.Linear(dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 2 * dim),
        )
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def _scale_shift(self, kept: Tensor) -> tuple[Tensor, Tensor]:
        s, t = self.net(kept).chunk(2, dim=-1)  # (batch, dim) each
        free = 1 - self.mask
        return self.scale_bound * torch.tanh(s) * free, t * free

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """x = f(z) and log|det ∂f/∂z|; (batch, dim) -> (batch, dim), (batch,)."""
        s, t = self._scale_shift(z * self.mask)
        return z * torch.exp(s) + t, s.sum(-1)

    def inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """z = f^{-1}(x) and log|det ∂f^{-1}/∂x|; (batch, dim) -> (batch, dim), (batch,)."""
        s, t = self._scale_shift(x * self.mask)
        return (x - t) * torch.exp(-s), -s.sum(-1)


class Flow(nn.Module):
    """x = f_K ∘ ... ∘ f_1(z), z ~ base: a normalising flow (Rezende & Mohamed 2015, §3).

    Args:
        base: the base distribution (`StandardNormal`, `DiagonalGaussian`, ...).
        layers: `FlowLayer`s, applied in order in the sampling direction.
    """

    def __init__(self, base: StandardNormal, layers: Sequence[FlowLayer]) -> None:
        super().__init__()
        self.base = base
        self.layers = nn.ModuleList(layers)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """x and Σ_k log|det ∂f_k| for base points `z` (batch, dim)."""
        logdet = z.new_zeros(z.shape[0])
        for layer in self.layers:
            z, ld = layer(z)
            logdet = logdet + ld
        return z, logdet

    def inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """z = f^{-1}(x) and log|det ∂f^{-1}/∂x| for `x` (batch, dim)."""
        logdet = x.new_zeros(x.shape[0])
        for layer in reversed(self.layers):
            x, ld = layer.inverse(x)
            logdet = logdet + ld
        return x, logdet

    def log_prob(self, x: Tensor) -> Tensor:
        """log p_X(x) = log p_Z(f^{-1}(x)) + log|det ∂f^{-1}/∂x|; (batch, dim) -> (batch,)."""
        z, logdet = self.inverse(x)
        return self.base.log_prob(z) + logdet

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """`n` samples (n, dim) of the flow."""
        return self(self.base.sample(n, generator))[0]

    def sample_and_log_prob(
        self, n: int, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """Samples (n, dim) and their log-density (n,) without any inverse (for VI)."""
        z = self.base.sample(n, generator)
        x, logdet = self(z)
        return x, self.base.log_prob(z) - logdet

    def forward_with_intermediates(self, z: Tensor) -> list[Tensor]:
        """[z, f_1(z), f_2(f_1(z)), ..., x]: K + 1 tensors (batch, dim), for plots."""
        out = [z]
        for layer in self.layers:
            out.append(layer(out[-1])[0])
        return out

    def training_loss(self, x: Tensor) -> Tensor:
        """The negative mean log-likelihood of `x` (batch, dim), a 0-d tensor."""
        return nll(self, x)


class InverseFlow(Flow):
    """A flow whose layers run in the normalising direction: z = f_K ∘ ... ∘ f_1(x).

    log p(x) = log p_Z(z) + Σ_k log|det ∂f_k| needs no inverse, so maximum likelihood is as
    cheap as the layers' forward passes even for layers whose inverse is costly (planar,
    radial: Rezende & Mohamed 2015 built them for the sampling direction); sampling then
    inverts every layer. `forward` (sampling) and `inverse` (normalising) swap roles with
    those of `Flow`, so `log_prob`, `sample` and `training_loss` keep their meaning.

    Args:
        base: the base distribution.
        layers: `FlowLayer`s, applied in order from the data towards the base.
    """

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """x and log|det ∂x/∂z| for base points `z` (batch, dim), inverting every layer."""
        return super().inverse(z)

    def inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """z and log|det ∂z/∂x| for data points `x` (batch, dim): the layers' forward passes."""
        return super().forward(x)

    def forward_with_intermediates(self, z: Tensor) -> list[Tensor]:
        """[z, ..., x]: K + 1 tensors (batch, dim) from the base to the data, for plots."""
        out = [z]
        for layer in reversed(self.layers):
            out.append(layer.inverse(out[-1])[0])
        return out


def nll(flow: nn.Module, x: Tensor) -> Tensor:
    """-mean log p(x) for a model with `log_prob` and data `x` (batch, dim); 0-d tensor."""
    return -flow.log_prob(x).mean()


def fit_density(
    model: nn.Module,
    sampler: Callable[..., Tensor],
    *,
    steps: int,
    batch_size: int,
    lr: float = 1e-3,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> list[float]:
    """Maximum-likelihood training with Adam on fresh batches (as in Dinh et al. 2017).

    Args:
        model: an `nn.Module` with `training_loss(x) -> 0-d tensor` (a `Flow` or a `CNF`),
            or with `log_prob(x)` (then the loss is `nll`).
        sampler: `sampler(n, generator=generator) -> (n, dim)`, e.g.
            `functools.partial(nodelib.data.sample_2d, "two_moons")`; batches are cast to
            the dtype and device of the model's parameters.
        steps: the number of optimiser steps.
        batch_size: samples per step.
        lr: Adam's learning rate.
        generator: passed to the sampler (reproducible batches).
        progress: show a tqdm progress bar (tqdm comes with ``pip install "nodelib[course]"``).

    Returns:
        The loss of every step (`steps` floats).

    Raises:
        ValueError: steps or batch_size not positive, or a model without parameters.
        ImportError: progress=True without tqdm installed.
    """
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be positive, got {steps}, {batch_size}.")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters: nothing to fit.")
    opt = torch.optim.Adam(params, lr=lr)
    loss_fn = getattr(model, "training_loss", None) or (lambda x: nll(model, x))
    losses: list[float] = []
    bar = _progress_bar(steps, "fit_density") if progress else None
    for _ in bar if bar is not None else range(steps):
        x = sampler(batch_size, generator=generator).to(params[0])
        opt.zero_grad()
        loss = loss_fn(x)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if bar is not None:
            bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
    return losses


def _progress_bar(steps: int, desc: str) -> Any:  # a tqdm bar
    """A tqdm bar over range(steps); tqdm is imported here, as the solver core does not need it."""
    try:
        from tqdm.auto import tqdm
    except ImportError as err:
        raise ImportError(
            'progress=True needs tqdm: pip install "nodelib[course]" (or pip install tqdm)'
        ) from err
    return tqdm(range(steps), desc=desc)
