"""Neural ODE models: ODE blocks and networks, normalising flows, CNFs and latent ODEs.

- `blocks`: `ODEFunc` (counts evaluations), `ODEBlock`, `EulerResNet`, `AugmentedNODE`,
  `NODEClassifier`, `ReversibleBlock` (chapters 3 and 6).
- `odenet`: the image classifiers of the Neural ODE paper, `ODENet`, `RKNet`, `ResNet`.
- `flows`: base distributions, planar, radial and affine coupling flows (chapter 4).
- `cnf`: continuous normalising flows with exact or Hutchinson traces (chapter 6).
- `latent`: the latent ODE, its encoders and an RNN baseline (chapter 6).
"""

from nodelib.models.blocks import (
    AugmentedNODE,
    EulerResNet,
    MLPField,
    NODEClassifier,
    ODEBlock,
    ODEFunc,
    ReversibleBlock,
    count_nfe,
    reset_nfe,
)
from nodelib.models.cnf import CNF, CNFDynamics, exact_trace, hutchinson_trace
from nodelib.models.flows import (
    AffineCoupling,
    DiagonalGaussian,
    Flow,
    PlanarFlow,
    RadialFlow,
    StandardNormal,
    fit_density,
    nll,
)
from nodelib.models.latent import GRUEncoder, LatentODE, ODERNNEncoder, RNNBaseline, TimeSeriesLoss
from nodelib.models.odenet import ConvODEField, ODENet, ResNet, RKNet

__all__ = [
    "CNF",
    "AffineCoupling",
    "AugmentedNODE",
    "CNFDynamics",
    "ConvODEField",
    "DiagonalGaussian",
    "EulerResNet",
    "Flow",
    "GRUEncoder",
    "LatentODE",
    "MLPField",
    "NODEClassifier",
    "ODEBlock",
    "ODEFunc",
    "ODENet",
    "ODERNNEncoder",
    "PlanarFlow",
    "RKNet",
    "RNNBaseline",
    "RadialFlow",
    "ResNet",
    "ReversibleBlock",
    "StandardNormal",
    "TimeSeriesLoss",
    "count_nfe",
    "exact_trace",
    "fit_density",
    "hutchinson_trace",
    "nll",
    "reset_nfe",
]
