"""The data sets of the course, all made or read locally: nothing is downloaded unless asked.

- 2-D densities (:data:`DENSITIES_2D`) for normalising flows: :func:`sample_2d` draws from them,
  :func:`log_density_2d` gives the exact log-density of ``eight_gaussians``, ``rings``,
  ``two_circles`` and ``checkerboard`` (``two_moons``, ``pinwheel`` and ``swiss_roll`` are
  samplers only); :func:`energy_2d` and :func:`log_normaliser_2d` give the unnormalised
  targets of density matching (:data:`ENERGIES_2D`, Rezende & Mohamed 2015).
- Noisy spirals observed at irregular times, the latent-ODE experiment of Chen et al. (2018),
  "Neural Ordinary Differential Equations", Sect. 5.1: :func:`make_spirals` (random phases)
  and :func:`make_spiral_windows` (the authors' protocol: windows of the two fixed spirals of
  :func:`spiral_pair`).
- Classification sets: :func:`make_circles` (the ``g(x)`` of Dupont et al. (2019),
  "Augmented Neural ODEs", Sect. 4, in 1 or 2 dimensions, which a plain Neural ODE cannot
  separate; :func:`best_threshold_accuracy` bounds what it can reach in 1-D) and
  :func:`make_two_spirals`.
- Images: :func:`load_digits` (scikit-learn's 8x8 digits, shipped with the package) and
  :func:`load_mnist`, which reads the raw IDX files itself (:func:`read_idx`) and downloads them
  only when ``download=True``.

Every random function takes a seed or a ``torch.Generator`` so that a rerun draws the same data.
"""

from nodelib.data.densities import (
    DENSITIES_2D,
    ENERGIES_2D,
    EXACT_DENSITIES_2D,
    energy_2d,
    log_density_2d,
    log_normaliser_2d,
    sample_2d,
)
from nodelib.data.mnist import load_mnist, read_idx
from nodelib.data.sets import (
    best_threshold_accuracy,
    load_digits,
    make_circles,
    make_two_spirals,
)
from nodelib.data.spirals import (
    SpiralData,
    SpiralWindows,
    make_spiral_windows,
    make_spirals,
    spiral_pair,
)

__all__ = [
    "DENSITIES_2D",
    "ENERGIES_2D",
    "EXACT_DENSITIES_2D",
    "SpiralData",
    "SpiralWindows",
    "best_threshold_accuracy",
    "energy_2d",
    "load_digits",
    "load_mnist",
    "log_density_2d",
    "log_normaliser_2d",
    "make_circles",
    "make_spiral_windows",
    "make_spirals",
    "make_two_spirals",
    "read_idx",
    "sample_2d",
    "spiral_pair",
]
