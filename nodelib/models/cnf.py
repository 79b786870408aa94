"""Continuous normalising flows: the instantaneous change of variables, trace estimators, `CNF`.

A CNF transports base samples z(0) ~ N(0, I) along dz/dt = f(t, z), 0 <= t <= t1, to
x = z(t1). By the instantaneous change of variables (Chen, Rubanova, Bettencourt &
Duvenaud, "Neural Ordinary Differential Equations", NeurIPS 2018, Theorem 1)

    d log p_t(z(t)) / dt = -tr(∂f/∂z (t, z(t))),

so log p_{t1}(x) = log p_0(z(0)) - ∫_0^{t1} tr(∂f/∂z) dt.

Direction conventions (used throughout this module):

- sampling runs forwards, t: 0 -> t1, from the base point z(0) to the data point x = z(t1);
- `CNF.log_prob(x)` runs backwards, t: t1 -> 0, on the augmented state (z, l) with
  dz/dt = f, dl/dt = -tr(∂f/∂z) and z(t1) = x, l(t1) = 0. Then l(0) = ∫_0^{t1} tr dt and
  log p(x) = log N(z(0); 0, I) - l(0). For f(z) = A z this is log N(e^{-A t1} x) - t1 tr(A).

The trace is exact (`exact_trace`: `dim` vector-Jacobian products, or the closed form of a
dynamics with `forward_with_divergence`, e.g. `nodelib.models.planar_cnf`) or estimated
without bias by Hutchinson's estimator εᵀ(∂f/∂z)ε with E[εεᵀ] = I (`hutchinson_trace`: one
product), with one probe ε per solve as in FFJORD (Grathwohl, Chen, Bettencourt, Sutskever &
Duvenaud, "FFJORD", ICLR 2019, §3.1). Optional regularisers (Finlay, Jacobsen, Nurbekyan & Oberman,
"How to train your neural ODE", ICML 2020) are integrated as two more states: the kinetic
energy ∫‖f‖² dt and the Jacobian Frobenius norm ∫‖∂f/∂z‖_F² dt (exact in "exact" mode, else
estimated by ‖εᵀ∂f/∂z‖² with the same probe). Both straighten trajectories, so an adaptive
solver takes fewer steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import torch
from torch import Tensor, nn

from nodelib.adjoint import odeint_adjoint
from nodelib.models.flows import StandardNormal
from nodelib.odeint import odeint

__all__ = [
    "CNF",
    "CNFDynamics",
    "CNFLoss",
    "exact_trace",
    "hutchinson_trace",
    "sample_probe",
]

_TRACES = ("exact", "hutchinson")
_PROBES = ("gaussian", "rademacher")


def sample_probe(
    like: Tensor, kind: str = "gaussian", *, generator: torch.Generator | None = None
) -> Tensor:
    """A probe ε with E[εεᵀ] = I, shaped, typed and placed like `like` (batch, dim).

    Args:
        like: a tensor whose shape, dtype and device the probe takes.
        kind: "gaussian" (ε ~ N(0, I)) or "rademacher" (entries ±1 with probability 1/2,
            which has the smaller variance: Hutchinson 1990).
        generator: a torch.Generator for reproducible probes.

    Raises:
        ValueError: an unknown kind.
    """
    if kind == "gaussian":
        return torch.randn(like.shape, generator=generator, dtype=like.dtype, device=like.device)
    if kind == "rademacher":
        bits = torch.randint(0, 2, like.shape, generator=generator, device=like.device)
        return (2 * bits - 1).to(like.dtype)
    raise ValueError(f"probe must be one of {_PROBES}, got {kind!r}.")


def _jacobian(f_out: Tensor, z: Tensor, create_graph: bool) -> Tensor:
    """∂f/∂z per sample, (batch, dim, dim), row i from one vector-Jacobian product."""
    rows = [
        torch.autograd.grad(f_out[:, i].sum(), z, create_graph=create_graph, retain_graph=True)[0]
        for i in range(f_out.shape[1])
    ]  # samples are independent, so the gradient of the batch sum is row i of each Jacobian
    return torch.stack(rows, dim=1)


def exact_trace(f_out: Tensor, z: Tensor, *, create_graph: bool = False) -> Tensor:
    """tr(∂f/∂z) per sample by `dim` autograd passes (for small dimensions).

    Args:
        f_out: f(z), (batch, dim), computed from `z` with a graph.
        z: (batch, dim), requires grad.
        create_graph: keep the graph of the trace (needed to train through it).

    Returns:
        (batch,) the exact traces.
    """
    return torch.diagonal(_jacobian(f_out, z, create_graph), dim1=1, dim2=2).sum(-1)


def hutchinson_trace(
    f_out: Tensor, z: Tensor, eps: Tensor, *, create_graph: bool = False
) -> Tensor:
    """Hutchinson's unbiased estimate εᵀ(∂f/∂z)ε per sample, by one vector-Jacobian product.

    Hutchinson, "A stochastic estimator of the trace of the influence matrix for Laplacian
    smoothing splines" (1990); used for CNFs by Grathwohl et al. (FFJORD, 2019, §3.1).

    Args:
        f_out: f(z), (batch, dim), computed from `z` with a graph.
        z: (batch, dim), requires grad.
        eps: the probe (batch, dim) with E[εεᵀ] = I (see `sample_probe`).
        create_graph: keep the graph of the estimate.

    Returns:
        (batch,) the estimates; their expectation over ε is tr(∂f/∂z).
    """
    vjp = torch.autograd.grad(f_out, z, eps, create_graph=create_graph, retain_graph=True)[0]
    return (vjp * eps).sum(-1)


class CNFDynamics(nn.Module):
    """f(t, z): an MLP with the time t appended to the input of every layer (Chen et al. 2018).

    Args:
        dim: the state dimension.
        hidden: the width of the hidden layers.
        depth: the number of hidden layers.
        activation: "tanh" or "softplus" (smooth, so that ∂f/∂z is continuous).

    Raises:
        ValueError: a bad dimension or activation.
    """

    def __init__(self, dim: int, hidden: int = 64, *, depth: int = 2, activation: str = "tanh"):
        super().__init__()
        acts = {"tanh": nn.Tanh, "softplus": nn.Softplus}
        if activation not in acts:
            raise ValueError(f"activation must be one of {tuple(acts)}, got {activation!r}.")
        if dim < 1 or hidden < 1 or depth < 1:
            raise ValueError(f"dim, hidden and depth must be positive: {dim}, {hidden}, {depth}.")
        widths = [dim] + [hidden] * depth + [dim]
        self.linears = nn.ModuleList(nn.Linear(a + 1, b) for a, b in pairwise(widths))
        self.act = acts[activation]()

    def forward(self, t: Tensor, z: Tensor) -> Tensor:
        """dz/dt at the time `t` (0-d) and states `z` (batch, dim) -> (batch, dim)."""
        tt = t.to(z).expand(z.shape[0], 1)
        h = z
        for i, linear in enumerate(self.linears):
            h = linear(torch.cat([h, tt], dim=1))
            if i < len(self.linears) - 1:
                h = self.act(h)
        return h


@dataclass
class CNFLoss:
    """The terms of a CNF's training loss, 0-d tensors: total = nll + λ_K kinetic + λ_J jacobian."""

    total: Tensor
    nll: Tensor
    kinetic: Tensor  # mean over the batch of ∫_0^{t1} ‖f‖² dt (0 if not integrated)
    jacobian: Tensor  # mean over the batch of ∫_0^{t1} ‖∂f/∂z‖_F² dt (or its estimate)


class _Augmented:
    """The right-hand side (f, -tr, ‖f‖², ‖∂f/∂z‖_F²) of the augmented state (z, l, [k, j])."""

    def __init__(self, cnf: CNF, eps: Tensor | None, regularise: bool) -> None:
        self.cnf, self.eps, self.regularise = cnf, eps, regularise

    def __call__(self, t: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        self.cnf.nfe += 1
        create_graph = torch.is_grad_enabled()  # False under no_grad and in the adjoint forward
        closed_form = getattr(self.cnf.dynamics, "forward_with_divergence", None)
        if closed_form is not None and self.eps is None and not self.regularise:
            f, trace = closed_form(t, state[0])  # an exact divergence without autograd passes
            return (f, -trace) if create_graph else (f.detach(), -trace.detach())
        with torch.enable_grad():
            z = state[0] if state[0].requires_grad else state[0].detach().requires_grad_(True)
            f = self.cnf.dynamics(t, z)  # (batch, dim)
            if self.eps is None:
                jac = _jacobian(f, z, create_graph)  # (batch, dim, dim)
                trace = torch.diagonal(jac, dim1=1, dim2=2).sum(-1)
                frob = jac.pow(2).sum((1, 2))
            else:
                vjp = torch.autograd.grad(f, z, self.eps, create_graph=create_graph)[0]
                trace, frob = (vjp * self.eps).sum(-1), vjp.pow(2).sum(-1)
        out = (f, -trace, f.pow(2).sum(-1), frob) if self.regularise else (f, -trace)
        return out if create_graph else tuple(o.detach() for o in out)


class CNF(nn.Module):
    """A continuous normalising flow on R^dim with a standard normal base at t = 0.

    Args:
        dim: the data dimension.
        hidden: the width of the default `CNFDynamics` (ignored when `dynamics` is given).
        trace: "exact" or "hutchinson".
        probe: "gaussian" or "rademacher", for "hutchinson".
        t1: the end time (> 0) at which the flow reaches the data.
        method, rtol, atol, options: passed to `odeint` (FFJORD trains at 1e-5).
        adjoint: differentiate by `nodelib.adjoint.odeint_adjoint` (memory independent of
            the number of steps) instead of backpropagating through the solver.
        adjoint_options: `adjoint_options` of `odeint_adjoint`, e.g. {"norm": "seminorm"}.
        kinetic_weight, jacobian_weight: λ_K, λ_J >= 0 of Finlay et al. (2020).
        dynamics: an `nn.Module` f(t, z) (batch, dim) -> (batch, dim) to use instead.

    Attributes:
        nfe: evaluations of the dynamics since the last call of `log_prob`, `loss`, `sample`
            or `forward_trajectory` began (including adjoint backward passes run since).
        nfe_forward: the evaluations of the last forward solve alone.

    Raises:
        ValueError: an unknown trace or probe, t1 <= 0, or a negative weight.
        TypeError: dynamics that is not an `nn.Module`.
    """

    def __init__(
        self,
        dim: int,
        *,
        hidden: int = 64,
        trace: str = "exact",
        probe: str = "gaussian",
        t1: float = 1.0,
        method: str = "dopri5",
        rtol: float = 1e-5,
        atol: float = 1e-5,
        options: dict[str, Any] | None = None,
        adjoint: bool = False,
        adjoint_options: dict[str, Any] | None = None,
        kinetic_weight: float = 0.0,
        jacobian_weight: float = 0.0,
        dynamics: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if trace not in _TRACES or probe not in _PROBES:
            raise ValueError(
                f"trace must be in {_TRACES} and probe in {_PROBES}; "
                f"got trace={trace!r}, probe={probe!r}."
            )
        if not t1 > 0 or kinetic_weight < 0 or jacobian_weight < 0:
            raise ValueError(
                "t1 must be positive and the regularisation weights non-negative; "
                f"got t1={t1}, {kinetic_weight}, {jacobian_weight}."
            )
        if dynamics is not None and not isinstance(dynamics, nn.Module):
            raise TypeError(f"dynamics must be an nn.Module, got {type(dynamics).__name__}.")
        self.base = StandardNormal(dim)
        self.dynamics = dynamics if dynamics is not None else CNFDynamics(dim, hidden)
        self.trace, self.probe, self.t1 = trace, probe, float(t1)
        self.method, self.rtol, self.atol, self.options = method, rtol, atol, options
        self.adjoint, self.adjoint_options = adjoint, adjoint_options
        self.kinetic_weight, self.jacobian_weight = kinetic_weight, jacobian_weight
        self.nfe = self.nfe_forward = 0

    def _solve(self, func: Any, state: Any, times: Tensor) -> Any:
        """The state at times[-1], by odeint or (when gradients are wanted) odeint_adjoint."""
        kw = {"rtol": self.rtol, "atol": self.atol, "method": self.method, "options": self.options}
        if self.adjoint and torch.is_grad_enabled():
            params = tuple(p for p in self.parameters() if p.requires_grad)
            out = odeint_adjoint(
                func,
                state,
                times,
                adjoint_params=params,
                adjoint_options=self.adjoint_options,
                **kw,
            )
        else:
            out = odeint(func, state, times, **kw)
        self.nfe_forward = self.nfe
        return tuple(o[-1] for o in out) if isinstance(out, tuple) else out[-1]

    def _times(self, x: Tensor, backwards: bool) -> Tensor:
        ts = [self.t1, 0.0] if backwards else [0.0, self.t1]
        return torch.tensor(ts, dtype=x.dtype, device=x.device)

    def _density(
        self, x: Tensor, generator: torch.Generator | None, regularise: bool
    ) -> tuple[Tensor, ...]:
        """log p(x) (batch,), then ∫‖f‖² and ∫‖∂f/∂z‖_F² (batch,) if `regularise`."""
        if x.dim() != 2 or x.shape[1] != self.base.dim:
            raise ValueError(f"x must have shape (batch, {self.base.dim}), got {tuple(x.shape)}.")
        self.nfe = 0
        eps = sample_probe(x, self.probe, generator=generator) if self.trace != "exact" else None
        zero = x.new_zeros(x.shape[0])
        state = (x, zero, zero, zero) if regularise else (x, zero)
        out = self._solve(_Augmented(self, eps, regularise), state, self._times(x, True))
        # Backwards from t1 to 0: l(0) = +∫tr dt, and k(0), j(0) are minus the integrals.
        logp = self.base.log_prob(out[0]) - out[1]
        return (logp, -out[2], -out[3]) if regularise else (logp,)

    def log_prob(self, x: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """log p(x) by integrating from t1 back to 0 (see the module docstring).

        Args:
            x: data points (batch, dim).
            generator: for the Hutchinson probe (one probe per call).

        Returns:
            (batch,) the log-densities (an unbiased estimate with trace="hutchinson").

        Raises:
            ValueError: x of the wrong shape.
        """
        return self._density(x, generator, regularise=False)[0]

    def log_prob_and_regularisers(
        self, x: Tensor, *, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """log p(x), ∫_0^{t1} ‖f‖² dt and ∫_0^{t1} ‖∂f/∂z‖_F² dt along each path, each (batch,).

        One backward solve of the state (z, l, k, j). In "hutchinson" mode the log-density
        and the Jacobian term are unbiased estimates sharing one probe per sample.
        """
        logp, kinetic, jacobian = self._density(x, generator, regularise=True)
        return logp, kinetic, jacobian

    def loss(self, x: Tensor, *, generator: torch.Generator | None = None) -> CNFLoss:
        """The regularised negative log-likelihood of `x` (batch, dim) (Finlay et al. 2020).

        The regularisers are integrated only when a weight is positive (else they are 0).
        """
        regularise = self.kinetic_weight > 0 or self.jacobian_weight > 0
        terms = self._density(x, generator, regularise)
        nll_ = -terms[0].mean()
        if not regularise:
            zero = nll_.new_zeros(())
            return CNFLoss(nll_, nll_, zero, zero)
        kin, jac = terms[1].mean(), terms[2].mean()
        total = nll_ + self.kinetic_weight * kin + self.jacobian_weight * jac
        return CNFLoss(total, nll_, kin, jac)

    def training_loss(self, x: Tensor) -> Tensor:
        """`loss(x).total`, the 0-d objective `nodelib.models.flows.fit_density` minimises."""
        return self.loss(x).total

    def sample_and_log_prob(
        self, n: int, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """`n` samples x (n, dim) and their log-densities log q(x) (n,), by one forward solve.

        Integrates (z, l) from t = 0 to t1 with l' = -tr(∂f/∂z), z(0) ~ N(0, I), l(0) = 0, so
        that log q(x) = log N(z(0)) + l(t1) with no inverse solve: what density matching
        (reverse KL, Chen et al. 2018, §4.1) needs. One Hutchinson probe per call if the
        trace is estimated (then log q is an unbiased estimate).
        """
        z0 = self.base.sample(n, generator)
        self.nfe = 0
        eps = sample_probe(z0, self.probe, generator=generator) if self.trace != "exact" else None
        zero = z0.new_zeros(n)
        x, l1 = self._solve(_Augmented(self, eps, False), (z0, zero), self._times(z0, False))
        return x, self.base.log_prob(z0) + l1

    def _counted(self, t: Tensor, z: Tensor) -> Tensor:
        self.nfe += 1
        return self.dynamics(t, z)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """`n` samples (n, dim): base draws carried from t = 0 to t1 (no trace needed)."""
        z0 = self.base.sample(n, generator)
        self.nfe = 0
        return self._solve(self._counted, z0, self._times(z0, False))

    def forward_trajectory(self, z0: Tensor, times: Tensor) -> Tensor:
        """z(t) at `times` (T,) from z(times[0]) = `z0` (batch, dim); (T, batch, dim), for plots."""
        self.nfe = 0
        out = odeint(
            self._counted,
            z0,
            times.to(z0),
            rtol=self.rtol,
            atol=self.atol,
            method=self.method,
            options=self.options,
        )
        self.nfe_forward = self.nfe
        return out
