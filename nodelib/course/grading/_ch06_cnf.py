"""Chapter 6's tests of the density exercises: Hutchinson (C6.3), CNF dynamics (C6.4), a CNF (C6.5).

Part of `nodelib.course.grading.ch06`, kept apart for length. `hutchinson` is compared with
`nodelib.models.cnf.hutchinson_trace` and its mean over many probes with the exact trace;
`cnf_dynamics` with ``(f, -exact_trace)`` and, integrated by `nodelib.odeint` for a linear
field, with the closed form -t tr(A) (Chen et al. 2018, Theorem 1); the trained CNF of C6.5
with the entropy of the target it was trained on (`sample_target`, `TARGET_ENTROPY`).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from nodelib.course.grading.core import CheckFailed
from nodelib.course.grading.expect import expect_close, expect_tensor
from nodelib.models.cnf import CNF, CNFDynamics, exact_trace, hutchinson_trace
from nodelib.odeint import odeint

__all__ = [
    "NLL_MARGIN",
    "TARGET_ENTROPY",
    "cnf_dynamics_linear",
    "cnf_dynamics_random",
    "hutchinson_random",
    "hutchinson_unbiased",
    "sample_target",
    "trained_cnf_likelihood",
    "trained_cnf_type",
]

F64 = torch.float64

# The target of C6.5: a correlated Gaussian N(mean, L Lᵀ), whose entropy is known exactly.
_TARGET_MEAN = (1.0, -0.5)
_TARGET_CHOL = ((0.8, 0.0), (0.6, 0.4))
TARGET_ENTROPY = 1.0 + math.log(2 * math.pi) + math.log(0.8 * 0.4)  # (d/2)(1 + log 2π) + log|L|
NLL_MARGIN = 0.1  # nats above the entropy that the trained CNF may stay


def sample_target(n: int, *, generator: torch.Generator | None = None) -> Tensor:
    """`n` points (n, 2) float32 of C6.5's target, N(mean, L Lᵀ) with the constants above.

    Its entropy, the lowest test negative log-likelihood any model can reach, is
    `TARGET_ENTROPY` (about 1.698 nats).
    """
    eps = torch.randn(n, 2, generator=generator, dtype=F64)
    x = torch.tensor(_TARGET_MEAN, dtype=F64) + eps @ torch.tensor(_TARGET_CHOL, dtype=F64).T
    return x.float()


# --- C6.3 hutchinson ------------------------------------------------------------------------


def _random_field(dim: int, seed: int, dtype: torch.dtype, device: torch.device) -> nn.Module:
    torch.manual_seed(seed)
    return CNFDynamics(dim, hidden=8).to(dtype=dtype, device=device)


def _field_at(dim: int, seed: int, dtype: torch.dtype, device: torch.device, batch: int = 5):
    f = _random_field(dim, seed, dtype, device)
    g = torch.Generator().manual_seed(seed + 100)
    z = torch.randn(batch, dim, generator=g, dtype=F64).to(dtype=dtype, device=device)
    z.requires_grad_(True)
    t = torch.tensor(0.3, dtype=dtype, device=device)
    return f, t, z, f(t, z), g


def hutchinson_random(fn: Any, device: torch.device) -> str:
    for i, (dim, dtype) in enumerate(((2, F64), (3, torch.float32), (5, F64))):
        _, _, z, f_out, g = _field_at(dim, 10 + i, dtype, device)
        eps = torch.randn(z.shape, generator=g, dtype=F64).to(dtype=dtype, device=device)
        out = expect_tensor(
            fn(f_out, z, eps),
            f_out[:, 0],
            what="hutchinson's result",
            hints={
                (): "Return one estimate per sample, shape (batch,): sum "
                "over the dimension only, not over the batch."
            },
        )
        vjp = torch.autograd.grad(f_out, z, eps, retain_graph=True)[0]
        jvp_like = torch.autograd.grad(f_out, z, torch.ones_like(eps), retain_graph=True)[0]
        mistakes = [
            (
                vjp.sum(-1),
                "You summed εᵀ∂f/∂z without multiplying by ε again: the estimate "
                "is εᵀ(∂f/∂z)ε, the vector–Jacobian product dotted with ε.",
            ),
            (-(vjp * eps).sum(-1), "Check the sign: the estimate is +εᵀ(∂f/∂z)ε."),
            (
                (jvp_like * eps).sum(-1),
                "You took the product with a vector of ones, not with "
                "the probe: pass eps as grad_outputs of torch.autograd.grad.",
            ),
            ((eps * eps).sum(-1), "Your estimate does not involve f at all."),
        ]
        expect_close(
            out,
            hutchinson_trace(f_out, z, eps),
            what="hutchinson's estimate",
            case=f"a random field in dimension {dim} ({str(dtype)[6:]})",
            tol=1e-9 if dtype == F64 else 1e-5,
            mistakes=mistakes,
            hint="Compute v = εᵀ ∂f/∂z, one vector–Jacobian product (eps as the "
            "grad_outputs), then the inner product of v with ε for each sample.",
        )
    return "3 random fields, dimensions 2, 3 and 5"


def hutchinson_unbiased(fn: Any, device: torch.device) -> str:
    _, _, z, f_out, g = _field_at(3, 20, F64, device, batch=1)
    exact = exact_trace(f_out, z)  # (1,)
    n = 4000
    eps = torch.randint(0, 2, (n, 3), generator=g).to(dtype=F64, device=device) * 2 - 1
    estimates = torch.stack([fn(f_out, z, eps[k : k + 1]).reshape(()) for k in range(0, n, 10)])
    mean = float(estimates.mean())
    spread = float(estimates.std()) / math.sqrt(len(estimates))
    if abs(mean - float(exact)) > 5 * spread + 1e-9:
        raise CheckFailed(
            f"averaged over {len(estimates)} Rademacher probes your estimates give "
            f"{mean:.4f}, but the exact trace is {float(exact):.4f}: the estimator is biased."
        )
    return f"mean of {len(estimates)} estimates {mean:.3f}, exact trace {float(exact):.3f}"


# --- C6.4 cnf_dynamics ----------------------------------------------------------------------


def cnf_dynamics_random(fn: Any, device: torch.device) -> str:
    for i, (dim, dtype) in enumerate(((2, F64), (3, torch.float32))):
        f = _random_field(dim, 30 + i, dtype, device)
        g = torch.Generator().manual_seed(40 + i)
        z = torch.randn(6, dim, generator=g, dtype=F64).to(dtype=dtype, device=device)
        logp = torch.zeros(6, dtype=dtype, device=device)
        t = torch.tensor(0.7, dtype=dtype, device=device)
        out = fn(f, t, (z, logp))
        if not isinstance(out, tuple | list) or len(out) != 2:
            raise CheckFailed(
                f"cnf_dynamics must return a pair (dz/dt, dlogp/dt), got {type(out).__name__}."
            )
        dz = expect_tensor(out[0], z, what="dz/dt")
        dlogp = expect_tensor(
            out[1],
            logp,
            what="dlogp/dt",
            hints={
                (6, dim): "dlogp/dt has one number per sample, shape "
                "(batch,): the trace, not the diagonal."
            },
        )
        zz = z.detach().requires_grad_(True)
        f_out = f(t, zz)
        trace = exact_trace(f_out, zz)
        expect_close(
            dz,
            f_out.detach(),
            what="dz/dt",
            case=f"dimension {dim}",
            tol=1e-6,
            hint="dz/dt is f(t, z) itself.",
        )
        diag_sum = torch.autograd.grad(f_out.sum(), zz)[0].sum(-1)
        expect_close(
            dlogp,
            -trace.detach(),
            what="dlogp/dt",
            case=f"dimension {dim}",
            tol=1e-9 if dtype == F64 else 1e-5,
            mistakes=[
                (trace.detach(), "Check the sign: d log p/dt = -tr(∂f/∂z)."),
                (
                    -diag_sum,
                    "You summed the whole Jacobian (the gradient of "
                    "f.sum()), not its diagonal: take row i of ∂f/∂z from the "
                    "gradient of f[:, i].sum() and keep its entry i.",
                ),
            ],
            hint="d log p/dt = -tr(∂f/∂z): the sum of the diagonal of the Jacobian.",
        )
    return "random fields in dimensions 2 and 3, z without requires_grad"


def cnf_dynamics_linear(fn: Any, device: torch.device) -> str:
    """For f = A z, log p changes by -t tr(A): integrate fn with odeint and compare."""
    g = torch.Generator().manual_seed(50)
    A = torch.randn(3, 3, generator=g, dtype=F64).to(device)

    class Linear(nn.Module):
        def forward(self, t: Tensor, z: Tensor) -> Tensor:
            return z @ A.T

    field = Linear()
    z0 = torch.randn(4, 3, generator=g, dtype=F64).to(device)
    zero = torch.zeros(4, dtype=F64, device=device)
    times = torch.tensor([0.0, 0.5], dtype=F64, device=device)
    try:
        with torch.no_grad():
            _zs, ls = odeint(
                lambda t, s: tuple(fn(field, t, s)), (z0, zero), times, rtol=1e-9, atol=1e-9
            )
    except NotImplementedError:
        raise  # a stub, not a mistake: the grader says where the hints are
    except RuntimeError as err:
        raise CheckFailed(
            f"cnf_dynamics raised under torch.no_grad(), as a sampling solve runs: {err}. "
            "Compute the Jacobian inside torch.enable_grad()."
        ) from None
    expected = -0.5 * torch.trace(A) * torch.ones(4, dtype=F64, device=device)
    expect_close(
        ls[-1],
        expected,
        what="log p(z(0.5)) - log p(z(0))",
        case="f(t, z) = A z integrated over [0, 0.5] with odeint under torch.no_grad()",
        tol=1e-6,
        hint="For f = A z the exact change is -t tr(A). Does your function "
        "work under torch.no_grad()? Wrap the Jacobian in torch.enable_grad().",
    )
    return "integrated over [0, 0.5]: -t tr(A) for a linear field"


# --- C6.5 trained_cnf -----------------------------------------------------------------------


def trained_cnf_type(model: Any, device: torch.device) -> str:
    if not isinstance(model, CNF):
        raise CheckFailed(
            f"trained_cnf should be a nodelib.models.CNF, got {type(model).__name__}."
        )
    if model.base.dim != 2:
        raise CheckFailed(f"trained_cnf should model 2-D points, it has dim {model.base.dim}.")
    return "a 2-D CNF"


def trained_cnf_likelihood(model: Any, device: torch.device) -> str:
    trained_cnf_type(model, device)
    x = sample_target(2000, generator=torch.Generator().manual_seed(2024))
    param = next(model.parameters())
    with torch.no_grad():
        nll = float(-model.log_prob(x.to(dtype=param.dtype, device=param.device)).mean())
    if not math.isfinite(nll) or nll > TARGET_ENTROPY + NLL_MARGIN:
        raise CheckFailed(
            f"the test negative log-likelihood is {nll:.3f} nats; it should be at most "
            f"{TARGET_ENTROPY + NLL_MARGIN:.3f} (the entropy {TARGET_ENTROPY:.3f} plus "
            f"{NLL_MARGIN}). Train for more steps, or with a larger learning rate."
        )
    return f"test NLL {nll:.3f} nats, entropy {TARGET_ENTROPY:.3f}"
