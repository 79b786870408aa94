"""The data sets of the course, all made or read locally: nothing is downloaded unless asked.

- 2-D densities (:data:`DENSITIES_2D`) for normalising flows: :func:`sample_2d` draws from them,
  :func:`log_density_2d` gives the exact log-density of ``eight_gaussians``, ``rings`` and
  ``checkerboard`` (``two_moons``, ``pinwheel`` and ``swiss_roll`` are samplers only).
- Noisy spirals observed at irregular times (:func:`make_spirals`), the latent-ODE experiment of
  Chen et al. (2018), "Neural Ordinary Differential Equations", Sect. 5.1.
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
    EXACT_DENSITIES_2D,
    log_density_2d,
    sample_2d,
)
from nodelib.data.mnist import load_mnist, read_idx
from nodelib.data.sets import (
    SpiralData,
    best_threshold_accuracy,
    load_digits,
    make_circles,
    make_spirals,
    make_two_spirals,
)

__all__ = [
    "DENSITIES_2D",
    "EXACT_DENSITIES_2D",
    "SpiralData",
    "best_threshold_accuracy",
    "load_digits",
    "load_mnist",
    "log_density_2d",
    "make_circles",
    "make_spirals",
    "make_two_spirals",
    "read_idx",
    "sample_2d",
]
