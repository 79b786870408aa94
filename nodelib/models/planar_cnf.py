"""The planar CNF of Chen et al. (2018): M gated planar units summed in one vector field.

Chen, Rubanova, Bettencourt & Duvenaud, "Neural Ordinary Differential Equations" (NeurIPS
2018), §4, eqs. (9)-(10) and "Time-dependent dynamics": the continuous analogue of a planar
flow layer (Rezende & Mohamed 2015) is the field u h(wᵀz + b); because the trace is linear,
M such units can be summed at a cost linear in M, and a gate σ_n(t) ∈ (0, 1) decides when
unit n acts:

    f(t, z) = Σ_{n=1}^{M} σ_n(t) u_n tanh(w_nᵀ z + b_n),
    tr(∂f/∂z) = Σ_n σ_n(t) (u_nᵀ w_n) (1 - tanh²(w_nᵀ z + b_n))     (their Appendix A.1).

The divergence is in closed form, so `CNF` integrates log-densities exactly without any
autograd pass (`PlanarCNFDynamics.forward_with_divergence`). Two time dependences:

- ``hyper_hidden=None``: constant (w_n, u_n, b_n) and the gate σ_n(t) = sigmoid(a_n t + c_n),
  7 parameters per unit in 2-D against the 5 of a planar flow layer, so that a planar CNF
  with M units and a planar flow with K = M layers have comparable sizes;
- ``hyper_hidden=H``: (w_n, u_n, b_n) and the gate logits are all outputs of a small
  hypernetwork of t (Ha, Dai & Le 2016), as in the paper and in torchdiffeq's
  ``examples/cnf.py``; far more parameters than the planar flow it is compared with.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["PlanarCNFDynamics"]


class PlanarCNFDynamics(nn.Module):
    """f(t, z) = Σ_n σ_n(t) u_n tanh(w_nᵀ z + b_n) (Chen et al. 2018, §4, eqs. 9-10).

    Use it as the ``dynamics`` of `nodelib.models.CNF`; the CNF then takes the closed-form
    divergence instead of autograd traces.

    Args:
        dim: the state dimension D.
        width: the number of planar units M.
        hyper_hidden: None for constant units with gates sigmoid(a_n t + c_n); an int H for
            a hypernetwork t -> H -> H (tanh) -> all unit parameters and gate logits.
        init_scale: the initial size of the u_n (the field starts close to zero, so the
            flow starts close to the identity).

    Raises:
        ValueError: a non-positive dim, width or hyper_hidden.
    """

    def __init__(
        self,
        dim: int,
        width: int,
        *,
        hyper_hidden: int | None = None,
        init_scale: float = 0.1,
    ) -> None:
        super().__init__()
        if dim < 1 or width < 1 or (hyper_hidden is not None and hyper_hidden < 1):
            raise ValueError(
                f"dim, width and hyper_hidden must be positive; got {dim}, {width}, {hyper_hidden}."
            )
        self.dim, self.width, self.hyper_hidden = dim, width, hyper_hidden
        if hyper_hidden is None:
            self.w = nn.Parameter(torch.randn(width, dim) / math.sqrt(dim))
            self.u = nn.Parameter(init_scale * torch.randn(width, dim) / math.sqrt(dim))
            self.b = nn.Parameter(torch.zeros(width))
            self.gate_slope = nn.Parameter(torch.zeros(width))
            self.gate_shift = nn.Parameter(torch.zeros(width))
        else:
            n_out = width * (2 * dim + 2)  # w, u, b and a gate logit per unit
            self.hyper = nn.Sequential(
                nn.Linear(1, hyper_hidden),
                nn.Tanh(),
                nn.Linear(hyper_hidden, hyper_hidden),
                nn.Tanh(),
                nn.Linear(hyper_hidden, n_out),
            )
            with torch.no_grad():  # start near f = 0, like the constant units
                self.hyper[-1].weight.mul_(init_scale)
                self.hyper[-1].bias.zero_()
                self.hyper[-1].bias[: width * dim].copy_(torch.randn(width * dim) / math.sqrt(dim))

    def units(self, t: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(w (M, D), u (M, D), b (M,), σ(t) (M,)) at the time `t` (0-d)."""
        if self.hyper_hidden is None:
            gate = torch.sigmoid(self.gate_slope * t + self.gate_shift)
            return self.w, self.u, self.b, gate
        p = self.hyper(t.reshape(1, 1).to(self.hyper[0].weight)).reshape(-1)
        M, D = self.width, self.dim
        w, u = p[: M * D].reshape(M, D), p[M * D : 2 * M * D].reshape(M, D)
        b, logit = p[2 * M * D : 2 * M * D + M], p[2 * M * D + M :]
        return w, u, b, torch.sigmoid(logit)

    def forward_with_divergence(self, t: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        """f(t, z) (batch, D) and its exact divergence tr(∂f/∂z) (batch,), for `z` (batch, D)."""
        w, u, b, gate = self.units(t)
        h = torch.tanh(z @ w.T + b)  # (batch, M)
        f = (h * gate) @ u  # (batch, D)
        div = (1 - h.pow(2)) @ (gate * (u * w).sum(-1))  # (batch,)
        return f, div

    def forward(self, t: Tensor, z: Tensor) -> Tensor:
        """dz/dt at the time `t` (0-d) and states `z` (batch, D) -> (batch, D)."""
        w, u, b, gate = self.units(t)
        return (torch.tanh(z @ w.T + b) * gate) @ u

    def divergence(self, t: Tensor, z: Tensor) -> Tensor:
        """tr(∂f/∂z) (batch,) in closed form (Chen et al. 2018, Appendix A.1)."""
        return self.forward_with_divergence(t, z)[1]
