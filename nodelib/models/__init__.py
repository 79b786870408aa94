"""Neural ODE models: ODE blocks and networks, normalising flows, CNFs and latent ODEs.

- `blocks`: `ODEFunc` (counts evaluations), `ODEBlock`, `EulerResNet`, `AugmentedNODE`,
  `NODEClassifier`, `ReversibleBlock` (chapters 3 and 6).
- `resnets`: residual, plain and antisymmetric layers and the `LayerNet` classifier; `reversible`:
  Hamiltonian (leapfrog) blocks and `ReversibleSequence`, which backpropagates without storing
  activations (chapter 3).
- `odenet`: the image classifiers of the Neural ODE paper, `ODENet`, `RKNet`, `ResNet`, `MLP`.
- `flows`: base distributions, planar, radial and affine coupling flows (chapter 4).
- `tabak`: density estimation by composed radial maps, Tabak & Turner (chapter 4).
- `cnf`: continuous normalising flows with exact or Hutchinson traces (chapter 6); `planar_cnf`:
  the gated planar CNF of Chen et al. (2018), §4; `variational`: density matching (reverse KL).
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
    InverseFlow,
    PlanarFlow,
    RadialFlow,
    StandardNormal,
    fit_density,
    nll,
)
from nodelib.models.latent import GRUEncoder, LatentODE, ODERNNEncoder, RNNBaseline, TimeSeriesLoss
from nodelib.models.odenet import MLP, ConvODEField, ODENet, ResNet, RKNet
from nodelib.models.planar_cnf import PlanarCNFDynamics
from nodelib.models.resnets import AntisymmetricLayer, LayerNet, PlainLayer, ResidualLayer
from nodelib.models.reversible import ReversibleSequence, TiedLayer, hamiltonian_block
from nodelib.models.tabak import TabakTurnerMap, fit_tabak_turner
from nodelib.models.variational import fit_reverse_kl, reverse_kl

__all__ = [
    "CNF",
    "MLP",
    "AffineCoupling",
    "AntisymmetricLayer",
    "AugmentedNODE",
    "CNFDynamics",
    "ConvODEField",
    "DiagonalGaussian",
    "EulerResNet",
    "Flow",
    "GRUEncoder",
    "InverseFlow",
    "LatentODE",
    "LayerNet",
    "MLPField",
    "NODEClassifier",
    "ODEBlock",
    "ODEFunc",
    "ODENet",
    "ODERNNEncoder",
    "PlainLayer",
    "PlanarCNFDynamics",
    "PlanarFlow",
    "RKNet",
    "RNNBaseline",
    "RadialFlow",
    "ResNet",
    "ResidualLayer",
    "ReversibleBlock",
    "ReversibleSequence",
    "StandardNormal",
    "TabakTurnerMap",
    "TiedLayer",
    "TimeSeriesLoss",
    "count_nfe",
    "exact_trace",
    "fit_density",
    "fit_reverse_kl",
    "fit_tabak_turner",
    "hamiltonian_block",
    "hutchinson_trace",
    "nll",
    "reset_nfe",
    "reverse_kl",
]
