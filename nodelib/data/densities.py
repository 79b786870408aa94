"""2-D densities for normalising flows: samplers, exact log-densities, unnormalised targets.

- :func:`sample_2d` / :func:`log_density_2d`: data sets to fit by maximum likelihood.
- :func:`energy_2d` / :func:`log_normaliser_2d`: the four test energies U of Rezende & Mohamed
  ("Variational Inference with Normalizing Flows", ICML 2015, Table 1), targets p ∝ exp(-U)
  for density matching (reverse KL) as in Chen et al. (2018), §4.1.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
from torch import Tensor

DENSITIES_2D: tuple[str, ...] = (
    "eight_gaussians",
    "two_moons",
    "rings",
    "two_circles",
    "checkerboard",
    "pinwheel",
    "swiss_roll",
)
EXACT_DENSITIES_2D: tuple[str, ...] = ("eight_gaussians", "rings", "two_circles", "checkerboard")

# eight_gaussians: equal-weight mixture of N(c_k, s^2 I), c_k = R (cos(k pi/4), sin(k pi/4)).
_EIGHT_RADIUS, _EIGHT_STD = 2.0, 0.25
# rings, two_circles: p(x) = (1/Z) sum_k exp(-(|x| - r_k)^2 / (2 s^2)), see _log_rings.
_RING_RADII, _RING_STD = (0.75, 1.5, 2.25, 3.0), 0.1
_TWO_CIRCLE_RADII = (1.0, 2.0)
_LOG_2PI = math.log(2.0 * math.pi)


# ---------------------------------------------------------------------------------------------
# 2-D densities


def _uniform(n: int, g: torch.Generator | None) -> Tensor:
    return torch.rand(n, generator=g, dtype=torch.float64)


def _normal(shape: tuple[int, ...], g: torch.Generator | None) -> Tensor:
    return torch.randn(shape, generator=g, dtype=torch.float64)


def _eight_centers() -> Tensor:
    angle = torch.arange(8, dtype=torch.float64) * (math.pi / 4)
    return _EIGHT_RADIUS * torch.stack([torch.cos(angle), torch.sin(angle)], dim=-1)  # (8, 2)


def _sample_eight_gaussians(n: int, g: torch.Generator | None) -> Tensor:
    k = torch.randint(0, 8, (n,), generator=g)
    return _eight_centers()[k] + _EIGHT_STD * _normal((n, 2), g)


def _log_eight_gaussians(x: Tensor) -> Tensor:
    d2 = ((x[..., None, :] - _eight_centers().to(x)) ** 2).sum(-1)  # (..., 8)
    log_comp = -d2 / (2 * _EIGHT_STD**2) - _LOG_2PI - 2 * math.log(_EIGHT_STD)
    return torch.logsumexp(log_comp, dim=-1) - math.log(8.0)


def _ring_masses(radii: tuple[float, ...] = _RING_RADII) -> Tensor:
    # Z_k = int_{R^2} exp(-(|x| - r)^2 / (2 s^2)) dx = 2 pi s^2 (a sqrt(2 pi) Phi(a) + exp(-a^2/2))
    # with a = r / s (polar coordinates, substituting |x| = r + s u).
    a = torch.tensor(radii, dtype=torch.float64) / _RING_STD
    Phi = 0.5 * (1 + torch.erf(a / math.sqrt(2.0)))
    return 2 * math.pi * _RING_STD**2 * (a * math.sqrt(2 * math.pi) * Phi + torch.exp(-(a**2) / 2))


def _log_rings(x: Tensor, radii: tuple[float, ...] = _RING_RADII) -> Tensor:
    rho = torch.linalg.vector_norm(x, dim=-1)[..., None]  # (..., 1)
    log_kernel = -((rho - torch.tensor(radii, dtype=x.dtype)) ** 2) / (2 * _RING_STD**2)  # (..., K)
    return torch.logsumexp(log_kernel, dim=-1) - math.log(float(_ring_masses(radii).sum()))


def _sample_ring_offsets(a: Tensor, g: torch.Generator | None) -> Tensor:
    """u with density proportional to (a + u) phi(u) on u > -a, one per entry of a (shape (n,)).

    Rejection from the proposal (a + |u|) phi(u), a mixture of N(0, 1) (weight a) and a Rayleigh
    variable with a random sign (weight 2 phi(0)); the acceptance probability is
    max(a + u, 0) / (a + |u|) <= 1, so the draws are exact.
    """
    u = torch.empty_like(a)
    todo = torch.ones_like(a, dtype=torch.bool)
    while bool(todo.any()):
        m = int(todo.sum())
        aa = a[todo]
        gaussian = _uniform(m, g) < aa / (aa + 2 / math.sqrt(2 * math.pi))
        rayleigh = torch.sqrt(-2 * torch.log1p(-_uniform(m, g)))
        sign = torch.where(_uniform(m, g) < 0.5, -1.0, 1.0).to(torch.float64)
        prop = torch.where(gaussian, _normal((m,), g), sign * rayleigh)
        accept = _uniform(m, g) * (aa + prop.abs()) < (aa + prop).clamp(min=0)
        idx = todo.nonzero().squeeze(1)[accept]
        u[idx] = prop[accept]
        todo[idx] = False
    return u


def _sample_rings(
    n: int, g: torch.Generator | None, radii: tuple[float, ...] = _RING_RADII
) -> Tensor:
    # Ring k is chosen with probability Z_k / Z, then |x| = r_k + s u and a uniform angle.
    k = torch.multinomial(_ring_masses(radii), n, replacement=True, generator=g)
    r = torch.tensor(radii, dtype=torch.float64)[k]
    rho = r + _RING_STD * _sample_ring_offsets(r / _RING_STD, g)
    angle = 2 * math.pi * _uniform(n, g)
    return rho[:, None] * torch.stack([torch.cos(angle), torch.sin(angle)], dim=-1)


def _sample_checkerboard(n: int, g: torch.Generator | None) -> Tensor:
    # The 8 unit cells [i, i+1) x [j, j+1) of [-2, 2)^2 with i + j even, chosen uniformly.
    cell = torch.randint(0, 8, (n,), generator=g)
    i = cell % 4 - 2
    j = 2 * (cell // 4) - 2 + (i % 2)
    corner = torch.stack([i, j], dim=-1).to(torch.float64)
    return corner + torch.rand((n, 2), generator=g, dtype=torch.float64)


def _log_checkerboard(x: Tensor) -> Tensor:
    cell = torch.floor(x)
    inside = ((x >= -2) & (x < 2)).all(-1) & ((cell.sum(-1) % 2) == 0)
    return torch.where(inside, -math.log(8.0), -math.inf).to(x.dtype)


def _sample_two_moons(n: int, g: torch.Generator | None) -> Tensor:
    theta = math.pi * _uniform(n, g)
    upper = torch.stack([torch.cos(theta), torch.sin(theta)], dim=-1)
    lower = torch.stack([1 - torch.cos(theta), 0.5 - torch.sin(theta)], dim=-1)
    x = torch.where((_uniform(n, g) < 0.5)[:, None], upper, lower)
    return 2 * (x - torch.tensor([0.5, 0.25], dtype=torch.float64)) + 0.1 * _normal((n, 2), g)


def _sample_pinwheel(n: int, g: torch.Generator | None) -> Tensor:
    # Five arms: a point (1 + 0.3 e1, 0.1 e2) rotated by 2 pi k/5 + 0.25 exp(first coordinate).
    k = torch.randint(0, 5, (n,), generator=g).to(torch.float64)
    scale = torch.tensor([0.3, 0.1], dtype=torch.float64)
    f = torch.tensor([1.0, 0.0], dtype=torch.float64) + scale * _normal((n, 2), g)  # (n, 2)
    angle = 2 * math.pi * k / 5 + 0.25 * torch.exp(f[:, 0])
    c, s = torch.cos(angle), torch.sin(angle)
    return 2 * torch.stack([c * f[:, 0] - s * f[:, 1], s * f[:, 0] + c * f[:, 1]], dim=-1)


def _sample_swiss_roll(n: int, g: torch.Generator | None) -> Tensor:
    t = 1.5 * math.pi * (1 + 2 * _uniform(n, g))
    x = torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=-1)
    return (x + 0.5 * _normal((n, 2), g)) / 4


_SAMPLERS: dict[str, Callable[[int, torch.Generator | None], Tensor]] = {
    "eight_gaussians": _sample_eight_gaussians,
    "two_moons": _sample_two_moons,
    "rings": _sample_rings,
    "two_circles": lambda n, g: _sample_rings(n, g, _TWO_CIRCLE_RADII),
    "checkerboard": _sample_checkerboard,
    "pinwheel": _sample_pinwheel,
    "swiss_roll": _sample_swiss_roll,
}
_LOG_DENSITIES: dict[str, Callable[[Tensor], Tensor]] = {
    "eight_gaussians": _log_eight_gaussians,
    "rings": _log_rings,
    "two_circles": lambda x: _log_rings(x, _TWO_CIRCLE_RADII),
    "checkerboard": _log_checkerboard,
}


def sample_2d(name: str, n: int, *, generator: torch.Generator | None = None) -> Tensor:
    """Draw n independent points from one of the 2-D toy densities of the flows chapter.

    The densities (parameters fixed here, so that samples and :func:`log_density_2d` agree):

    - ``eight_gaussians``: equal mixture of N(c_k, 0.25^2 I), c_k = 2 (cos k pi/4, sin k pi/4).
    - ``rings``: p(x) = (1/Z) sum_k exp(-(|x| - r_k)^2 / (2 * 0.1^2)), r_k = 0.75, 1.5, 2.25, 3;
      ring k has mass Z_k / Z (about proportional to r_k), sampled exactly by rejection.
    - ``two_circles``: the same with the two radii 1 and 2 (the "two circles" of Chen et al.
      2018, Fig. 5).
    - ``checkerboard``: uniform (density 1/8) on the 8 unit cells [i, i+1) x [j, j+1) of
      [-2, 2)^2 with i + j even.
    - ``two_moons``: two interleaved half circles, shifted and scaled by 2, noise std 0.1.
    - ``pinwheel``: five arms, Gaussian blobs bent by an angle growing with the radius.
    - ``swiss_roll``: the curve (t cos t, t sin t)/4, t in [1.5 pi, 4.5 pi], noise std 0.125.

    Args:
        name: one of :data:`DENSITIES_2D`.
        n: number of points (>= 0).
        generator: optional ``torch.Generator`` for reproducible draws.

    Returns:
        Tensor of shape (n, 2), float32, on the CPU.

    Raises:
        ValueError: unknown name or negative n.
    """
    if name not in _SAMPLERS:
        raise ValueError(f"unknown density {name!r}; choose one of {DENSITIES_2D}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if n == 0:
        return torch.zeros(0, 2)
    return _SAMPLERS[name](int(n), generator).to(torch.float32)


def log_density_2d(name: str, x: Tensor) -> Tensor:
    """The exact log-density log p(x) of a 2-D toy density (see :func:`sample_2d`).

    Only ``eight_gaussians``, ``rings``, ``two_circles`` and ``checkerboard``
    (:data:`EXACT_DENSITIES_2D`) have one in closed form; ``checkerboard`` gives -inf off its
    cells.

    Args:
        name: one of :data:`EXACT_DENSITIES_2D`.
        x: points of shape (..., 2), any floating dtype.

    Returns:
        Tensor of shape (...) in the dtype of x.

    Raises:
        ValueError: the density has no closed-form log-density, or x is not (..., 2).
    """
    if name not in _LOG_DENSITIES:
        raise ValueError(
            f"no exact log-density for {name!r}; only {EXACT_DENSITIES_2D} have one "
            f"(all of {DENSITIES_2D} can be sampled with sample_2d)"
        )
    if x.shape[-1:] != (2,) or not x.is_floating_point():
        raise ValueError(f"x must be a floating tensor of shape (..., 2), got {tuple(x.shape)}")
    return _LOG_DENSITIES[name](x.cpu()).to(device=x.device, dtype=x.dtype)


# ---------------------------------------------------------------------------------------------
# Unnormalised targets for density matching (Rezende & Mohamed 2015, Table 1)

ENERGIES_2D: tuple[str, ...] = ("ring_two_modes", "wave", "wave_split", "wave_step")
# U2-U4 depend on z1 only through a wave of period 4, so exp(-U) has infinite mass on R^2:
# a soft wall (z1/4)^8, at most 1 on Rezende & Mohamed's plotted square [-4, 4]^2, makes
# them proper without changing what their figure shows.
_WALL = 4.0
_QUADRATURE_HALF_WIDTH, _QUADRATURE_POINTS = 7.0, 700


def _log_gauss_kernel(a: Tensor, s: float) -> Tensor:
    return -0.5 * (a / s) ** 2


def _waves(x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    z1, z2 = x[..., 0], x[..., 1]
    w1 = torch.sin(math.pi * z1 / 2)
    return z1, z2, w1, (z1 / _WALL) ** 8


def _energy_ring_two_modes(x: Tensor) -> Tensor:
    z1 = x[..., 0]
    r = torch.linalg.vector_norm(x, dim=-1)
    modes = torch.logaddexp(_log_gauss_kernel(z1 - 2, 0.6), _log_gauss_kernel(z1 + 2, 0.6))
    return 0.5 * ((r - 2) / 0.4) ** 2 - modes


def _energy_wave(x: Tensor) -> Tensor:
    _, z2, w1, wall = _waves(x)
    return 0.5 * ((z2 - w1) / 0.4) ** 2 + wall


def _energy_wave_split(x: Tensor) -> Tensor:
    z1, z2, w1, wall = _waves(x)
    w2 = 3 * torch.exp(-0.5 * ((z1 - 1) / 0.6) ** 2)
    both = torch.logaddexp(_log_gauss_kernel(z2 - w1, 0.35), _log_gauss_kernel(z2 - w1 + w2, 0.35))
    return wall - both


def _energy_wave_step(x: Tensor) -> Tensor:
    z1, z2, w1, wall = _waves(x)
    w3 = 3 * torch.sigmoid((z1 - 1) / 0.3)
    both = torch.logaddexp(_log_gauss_kernel(z2 - w1, 0.4), _log_gauss_kernel(z2 - w1 + w3, 0.35))
    return wall - both


_ENERGIES: dict[str, Callable[[Tensor], Tensor]] = {
    "ring_two_modes": _energy_ring_two_modes,
    "wave": _energy_wave,
    "wave_split": _energy_wave_split,
    "wave_step": _energy_wave_step,
}


def energy_2d(name: str, x: Tensor) -> Tensor:
    """The energy U(x) of a density-matching target p(x) = exp(-U(x)) / Z.

    The four test energies of Rezende & Mohamed (2015), Table 1, the targets of their planar
    flows and of the CNF-against-planar-flow comparison of Chen et al. (2018), §4.1:

    - ``ring_two_modes`` (U1): a ring of radius 2 whose mass sits in two lobes at x_1 = ±2.
    - ``wave`` (U2): a band of width 0.4 around the sine wave x_2 = sin(pi x_1 / 2).
    - ``wave_split`` (U3): the wave and a copy that bends away from it near x_1 = 1.
    - ``wave_step`` (U4): the wave and a copy shifted by a sigmoid step at x_1 = 1.

    U2-U4 carry the extra term (x_1 / 4)^8 (below 1 on [-4, 4]^2), without which they have
    infinite mass.

    Args:
        name: one of :data:`ENERGIES_2D`.
        x: points (..., 2), any floating dtype and device.

    Returns:
        U(x), shape (...), in the dtype and on the device of x.

    Raises:
        ValueError: an unknown name, or x not a floating (..., 2) tensor.
    """
    if name not in _ENERGIES:
        raise ValueError(f"unknown energy {name!r}; choose one of {ENERGIES_2D}")
    if x.shape[-1:] != (2,) or not x.is_floating_point():
        raise ValueError(f"x must be a floating tensor of shape (..., 2), got {tuple(x.shape)}")
    return _ENERGIES[name](x)


@functools.cache
def log_normaliser_2d(name: str) -> float:
    """log Z = log ∫ exp(-U(x)) dx for :func:`energy_2d`, by the midpoint rule (float64).

    The grid covers [-7, 7]^2 with spacing 0.02, where the integrand is smooth and
    outside which its mass is below e^-20 (the quadrature error is far below 1e-6 in log Z).

    Raises:
        ValueError: an unknown name.
    """
    if name not in _ENERGIES:
        raise ValueError(f"unknown energy {name!r}; choose one of {ENERGIES_2D}")
    half, n = _QUADRATURE_HALF_WIDTH, _QUADRATURE_POINTS
    h = 2 * half / n
    mid = -half + h * (torch.arange(n, dtype=torch.float64) + 0.5)
    X, Y = torch.meshgrid(mid, mid, indexing="xy")
    neg_u = -_ENERGIES[name](torch.stack([X, Y], dim=-1))
    return float(torch.logsumexp(neg_u.reshape(-1), 0)) + 2 * math.log(h)
