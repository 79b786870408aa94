"""Chapter 4 (normalising flows): the graded coding exercises and their tests.

Questions, each grading one name of ``exercises/ch04_normalising_flows.ipynb``:

- C4.1 ``affine_log_prob(x, A, b)``: the log-density of x = A z + b, z ~ N(0, I).
- C4.2 ``planar_logdet(z, u, w, b)``: log|det ∂f/∂z| of the planar map
  f(z) = z + u tanh(wᵀz + b) by the matrix determinant lemma.
- C4.3 ``coupling_forward(z, mask, scale_shift)``: an affine coupling layer and its log|det|.
- C4.4 ``coupling_inverse(x, mask, scale_shift)``: its inverse.
- C4.5 ``ch4_experiment``: an experiment, read: how many coupling layers a Gaussian target
  needs, the gap at which one layer's loss levels off, predicted and read off its curve
  (tests in `nodelib.course.grading._ch04_experiment`, with the target `sample_target`).

The references: `torch.distributions.MultivariateNormal` (C4.1), the brute-force
`torch.linalg.slogdet` of the autograd Jacobian and `nodelib.models.flows.PlanarFlow` (C4.2),
`nodelib.models.flows.AffineCoupling` (C4.3, C4.4, in `nodelib.course.grading._ch04_coupling`).
Failures name the typical mistake that explains them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor

from nodelib.course.grading import _ch04_coupling as coupling
from nodelib.course.grading import _ch04_experiment as experiment
from nodelib.course.grading._ch04_experiment import TARGET_ENTROPY, sample_target
from nodelib.course.grading.core import CheckFailed, Question, Test
from nodelib.course.grading.expect import expect_close, expect_tensor, tolerance
from nodelib.models.flows import PlanarFlow, StandardNormal

__all__ = ["QUESTIONS", "TARGET_ENTROPY", "sample_target"]

F64, F32 = torch.float64, torch.float32


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- C4.1 affine_log_prob -------------------------------------------------------------------


def _affine_case(d: int, seed: int, negative: bool) -> tuple[Tensor, Tensor, Tensor]:
    g = _gen(seed)
    A = torch.randn(d, d, generator=g, dtype=F64) + 1.5 * torch.eye(d, dtype=F64)
    if (torch.linalg.det(A) < 0) != negative:
        A[0] = -A[0]  # flip the sign of the determinant
    b = torch.randn(d, generator=g, dtype=F64)
    x = b + 2 * torch.randn(7, d, generator=g, dtype=F64)
    return x, A, b


def _affine_mistakes(x: Tensor, A: Tensor, b: Tensor) -> list[tuple[Tensor, str]]:
    base = StandardNormal(A.shape[0]).double()
    z = torch.linalg.solve(A, (x - b).T).T
    logdet = torch.linalg.slogdet(A).logabsdet
    return [
        (base.log_prob(z), "You left out the log-determinant: subtract log|det A|."),
        (base.log_prob(z) + logdet, "Check the sign of the log-determinant: a map that "
         "stretches space (|det A| > 1) thins the density out, so subtract log|det A|."),
        (base.log_prob(x @ A.T + b) - logdet, "You applied the map to x: the base density "
         "is evaluated at the pre-image z = A^{-1}(x - b)."),
        (base.log_prob(torch.linalg.solve(A, x.T).T) - logdet, "You forgot the shift b: "
         "z = A^{-1}(x - b)."),
    ]  # fmt: skip


def _affine_random(fn: Any, device: torch.device) -> str:
    cases = [(1, F64, False), (2, F64, True), (3, F32, False), (5, F64, True)]
    for i, (d, dtype, negative) in enumerate(cases):
        x, A, b = _affine_case(d, 40 + i, negative)
        expected = torch.distributions.MultivariateNormal(b, A @ A.T).log_prob(x)
        args = [v.to(dtype=dtype, device=device) for v in (x, A, b)]
        out = fn(*args)
        if isinstance(out, Tensor) and not bool(torch.isfinite(out).all()) and negative:
            raise CheckFailed(
                f"affine_log_prob returned nan for a matrix A with det A = "
                f"{float(torch.linalg.det(A)):.3f} < 0: the formula uses log|det A|, the "
                "logarithm of the absolute value (torch.linalg.slogdet(A).logabsdet)."
            )
        out = expect_tensor(out, args[0][:, 0], what="affine_log_prob's result")
        expect_close(
            out.double().cpu(), expected, what="affine_log_prob's result",
            case=f"d = {d}, {str(dtype).removeprefix('torch.')}, det A = "
            f"{float(torch.linalg.det(A)):.3f}",
            tol=tolerance(dtype, loose=dtype == F32), mistakes=_affine_mistakes(x, A, b),
            hint="log p(x) = log N(z; 0, I) - log|det A| with z = A^{-1}(x - b).",
        )  # fmt: skip
    return "d = 1, 2, 3, 5, positive and negative determinants, float32 and float64"


def _affine_identity(fn: Any, device: torch.device) -> str:
    x = torch.randn(1, 4, generator=_gen(50), dtype=F64).to(device)
    eye, zero = torch.eye(4, dtype=F64, device=device), torch.zeros(4, dtype=F64, device=device)
    out = expect_tensor(fn(x, eye, zero), x[:, 0], what="affine_log_prob(x, I, 0)")
    expect_close(
        out.cpu(), StandardNormal(4).double().log_prob(x.cpu()), what="affine_log_prob(x, I, 0)",
        case="A = I, b = 0 and one point", tol=1e-10,
        hint="With A = I and b = 0 the result is the standard normal log-density, "
        "-(|x|² + d log 2π)/2.",
    )  # fmt: skip
    return "A = I, b = 0 gives the standard normal; a batch of one point"


# --- C4.2 planar_logdet ---------------------------------------------------------------------


def _planar_case(d: int, seed: int, dtype: torch.dtype) -> tuple[Tensor, ...]:
    g = _gen(seed)
    z = 1.5 * torch.randn(9, d, generator=g, dtype=F64)
    u, w = torch.randn(d, generator=g, dtype=F64), torch.randn(d, generator=g, dtype=F64)
    b = torch.randn((), generator=g, dtype=F64)
    return tuple(v.to(dtype) for v in (z, u, w, b))


def _planar_brute(z: Tensor, u: Tensor, w: Tensor, b: Tensor) -> Tensor:
    def f(v: Tensor) -> Tensor:
        return v + u * torch.tanh(v @ w + b)

    z = z.double()
    u, w, b = u.double(), w.double(), b.double()
    return torch.stack([torch.linalg.slogdet(torch.func.jacrev(f)(p)).logabsdet for p in z])


def _planar_mistakes(z: Tensor, u: Tensor, w: Tensor, b: Tensor) -> list[tuple[Tensor, str]]:
    z, u, w, b = (v.double() for v in (z, u, w, b))
    a = z @ w + b
    h, dh = torch.tanh(a), 1 - torch.tanh(a) ** 2
    return [
        (torch.log((1 + h * (w @ u)).abs()), "You used tanh instead of its derivative: "
         "ψ(z) = tanh'(wᵀz + b) w with tanh' = 1 - tanh²."),
        (torch.log((1 + (1 - torch.tanh(z @ w) ** 2) * (w @ u)).abs()), "You forgot b inside "
         "the derivative: tanh'(wᵀz + b)."),
        (torch.log((dh * (w @ u)).abs()), "The lemma gives det(I + u ψᵀ) = 1 + ψᵀu: the 1 is "
         "missing."),
        (1 + dh * (w @ u), "That is the determinant itself: return its logarithm, log|1 + ψᵀu|."),
    ]  # fmt: skip


def _planar_random(fn: Any, device: torch.device) -> str:
    cases = [(2, F64), (3, F32), (7, F64), (20, F64)]
    for i, (d, dtype) in enumerate(cases):
        z, u, w, b = _planar_case(d, 60 + i, dtype)
        if i == 3:  # wᵀu = -3 and three points on the hyperplane wᵀz + b = 0: det = -2 there
            u = u - (3 + w @ u) * w / (w @ w)
            z[:3] -= ((z[:3] @ w + b) / (w @ w))[:, None] * w
        out = fn(*(v.to(device) for v in (z, u, w, b)))
        shaped = isinstance(out, Tensor) and out.shape == z.shape[:1]
        if shaped and i == 3 and not bool(torch.isfinite(out).all()):
            raise CheckFailed(
                "planar_logdet returned nan where 1 + ψ(z)ᵀu < 0 (here wᵀu = -3): "
                "take the logarithm of the absolute value, log|1 + ψ(z)ᵀu|."
            )
        out = expect_tensor(out, z[:, 0].to(device), what="planar_logdet's result")
        expect_close(
            out.double().cpu(), _planar_brute(z, u, w, b), what="planar_logdet's result",
            case=f"d = {d}, {str(dtype).removeprefix('torch.')}, compared with slogdet of "
            "the autograd Jacobian", tol=tolerance(dtype, loose=dtype == F32),
            mistakes=_planar_mistakes(z, u, w, b),
            hint="The Jacobian is I + u ψ(z)ᵀ with ψ(z) = tanh'(wᵀz + b) w; its determinant "
            "is 1 + ψ(z)ᵀu.",
        )  # fmt: skip
    return "d = 2, 3, 7, 20 against the brute-force determinant, including negative determinants"


def _planar_nodelib(fn: Any, device: torch.device) -> str:
    torch.manual_seed(70)
    layer = PlanarFlow(5).double()
    z = torch.randn(11, 5, generator=_gen(71), dtype=F64)
    with torch.no_grad():
        expected = layer(z)[1]
        u_hat = layer.u_hat()
        out = fn(z.to(device), u_hat.to(device), layer.w.to(device), layer.b.to(device))
    out = expect_tensor(out, z[:, 0].to(device), what="planar_logdet's result")
    expect_close(
        out.cpu(), expected, what="planar_logdet's result",
        case="nodelib's PlanarFlow(5) with its constrained û", tol=1e-10,
        mistakes=_planar_mistakes(z, u_hat, layer.w.detach(), layer.b.detach()),
        hint="Compare with PlanarFlow.forward in nodelib.models.flows.",
    )  # fmt: skip
    return "matches PlanarFlow.forward's log-determinant"


_DETERMINANTS = (
    (torch.linalg, "det"), (torch.linalg, "slogdet"), (torch, "det"), (torch, "logdet"),
    (torch, "slogdet"), (torch.linalg, "lu_factor"), (torch.linalg, "eigvals"),
)  # fmt: skip


@contextmanager
def _no_determinants() -> Iterator[None]:
    def forbidden(*args: Any, **kwargs: Any) -> None:
        raise CheckFailed(
            "planar_logdet computed a determinant (or a factorisation) of an N x N matrix: "
            "that costs O(N³). The point of the lemma is that det(I + u ψᵀ) = 1 + ψᵀu is "
            "O(N): compute that scalar instead."
        )

    saved = [(mod, name, getattr(mod, name)) for mod, name in _DETERMINANTS]
    for mod, name, _ in saved:
        setattr(mod, name, forbidden)
    try:
        yield
    finally:
        for mod, name, original in saved:
            setattr(mod, name, original)


def _planar_cheap(fn: Any, device: torch.device) -> str:
    z, u, w, b = _planar_case(500, 80, F64)
    args = [v.to(device) for v in (z, u, w, b)]
    with _no_determinants():
        out = fn(*args)
    out = expect_tensor(out, args[0][:, 0], what="planar_logdet's result")
    a = z @ w + b
    expected = torch.log((1 + (1 - torch.tanh(a) ** 2) * (w @ u)).abs())
    expect_close(
        out.cpu(),
        expected,
        what="planar_logdet's result",
        case="d = 500",
        tol=1e-9,
        hint="Use the lemma: log|1 + tanh'(wᵀz + b) wᵀu|.",
    )
    return "d = 500 without any N x N determinant"


QUESTIONS: tuple[Question, ...] = (
    Question("C4.1", "affine_log_prob", "the log-density under an affine map", 2, (
        Test("matches the Gaussian N(b, A Aᵀ)", _affine_random),
        Test("A = I and b = 0 give the standard normal", _affine_identity),
    )),
    Question("C4.2", "planar_logdet", "a planar flow's log|det J| by the lemma", 3, (
        Test("matches slogdet of the autograd Jacobian", _planar_random),
        Test("matches nodelib's PlanarFlow", _planar_nodelib),
        Test("costs O(N): no N x N determinant", _planar_cheap),
    )),
    Question("C4.3", "coupling_forward", "an affine coupling layer", 3, coupling.FORWARD_TESTS),
    Question("C4.4", "coupling_inverse", "the inverse of an affine coupling layer", 2,
             coupling.INVERSE_TESTS),
    Question("C4.5", "ch4_experiment", "an experiment: how many coupling layers a target needs",
             4, experiment.EXPERIMENT_TESTS, kind="value"),
)  # fmt: skip
