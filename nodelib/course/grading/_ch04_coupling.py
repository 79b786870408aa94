"""Chapter 4's tests of the affine coupling layer (C4.3) and its inverse (C4.4).

Part of `nodelib.course.grading.ch04`, kept apart for length. The reader's functions take a mask
and a conditioner ``scale_shift(kept) -> (s, t)`` whose outputs are *not* masked; the
reference is `nodelib.models.flows.AffineCoupling` with the same network, whose conditioner
is ``s = scale_bound · tanh(·)``, ``t`` from ``layer.net``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from nodelib.course.grading.core import CheckFailed, Test
from nodelib.course.grading.expect import expect_close, expect_tensor, tolerance
from nodelib.models.flows import AffineCoupling

__all__ = ["FORWARD_TESTS", "INVERSE_TESTS"]

F64, F32 = torch.float64, torch.float32
ScaleShift = Callable[[Tensor], tuple[Tensor, Tensor]]
MASKS = ([1.0, 0.0], [0.0, 1.0, 0.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0, 1.0, 0.0])


def _layer(mask: list[float], seed: int, dtype: torch.dtype) -> tuple[AffineCoupling, ScaleShift]:
    """A perturbed AffineCoupling and its unmasked conditioner."""
    torch.manual_seed(seed)
    layer = AffineCoupling(len(mask), torch.tensor(mask), hidden=16)
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(0.5 * torch.randn(p.shape))
    layer = layer.to(dtype)

    def scale_shift(kept: Tensor) -> tuple[Tensor, Tensor]:
        s, t = layer.net(kept).chunk(2, dim=-1)
        return layer.scale_bound * torch.tanh(s), t

    return layer, scale_shift


def _pair(out: Any, like: Tensor, what: str) -> tuple[Tensor, Tensor]:
    if not isinstance(out, tuple) or len(out) != 2:
        raise CheckFailed(
            f"{what} should return a pair (tensor of shape {tuple(like.shape)}, log-determinant "
            f"of shape ({like.shape[0]},)), not {type(out).__name__}."
        )
    first = expect_tensor(out[0], like, what=f"the first output of {what}")
    second = expect_tensor(out[1], like[:, 0], what=f"the log-determinant of {what}")
    return first, second


def _forward_mistakes(z: Tensor, m: Tensor, ss: ScaleShift) -> list[tuple[Tensor, str]]:
    s, t = ss(z * m)
    free = 1 - m
    s_all, t_all = ss(z)
    return [
        (z * torch.exp(s) + t, "The kept coordinates changed: multiply s and t by (1 - mask) "
         "so that x_A = z_A."),
        (z * torch.exp(s_all * free) + t_all * free, "scale_shift must see only the kept "
         "coordinates: call it on z * mask, not z."),
        (z * (1 + (s * free)) + t * free, "The scale is exp(s), not 1 + s."),
        (z * m + free * (z + t) * torch.exp(s), "You added t before scaling: "
         "x_B = z_B ⊙ exp(s) + t."),
    ]  # fmt: skip


def _forward_logdet_mistakes(z: Tensor, m: Tensor, ss: ScaleShift) -> list[tuple[Tensor, str]]:
    s, _ = ss(z * m)
    return [
        (s.sum(-1), "The log-determinant sums s over the changed coordinates only: "
         "sum (1 - mask) * s."),
        (-(s * (1 - m)).sum(-1), "Check the sign: log|det ∂x/∂z| = +Σ (1 - mask) s."),
        (torch.exp(s * (1 - m)).sum(-1), "The log-determinant is Σ s, not Σ exp(s)."),
    ]  # fmt: skip


def _forward_random(fn: Any, device: torch.device) -> str:
    for i, (mask, dtype) in enumerate(zip(MASKS, (F64, F32, F64), strict=True)):
        layer, ss = _layer(mask, 90 + i, dtype)
        layer, m = layer.to(device), torch.tensor(mask, dtype=dtype, device=device)
        z = torch.randn(13, len(mask), generator=torch.Generator().manual_seed(91 + i))
        z = (1.5 * z).to(dtype=dtype, device=device)
        with torch.no_grad():
            x_ref, ld_ref = layer(z)
            x, ld = _pair(fn(z.clone(), m, ss), z, "coupling_forward")
            case = f"mask {mask}, {str(dtype).removeprefix('torch.')}"
            tol = tolerance(dtype, loose=dtype == F32)
            if not torch.equal(x[:, m == 1], z[:, m == 1]):
                raise CheckFailed(
                    f"the kept coordinates (mask == 1) must pass unchanged, x_A = z_A; yours "
                    f"changed ({case}). Multiply s and t by (1 - mask)."
                )
            expect_close(
                x,
                x_ref,
                what="x",
                case=case,
                tol=tol,
                mistakes=_forward_mistakes(z, m, ss),
                hint="x = mask·z + (1 - mask)·(z·exp(s) + t), s and t from the kept coordinates.",
            )
            expect_close(ld, ld_ref, what="the log-determinant", case=case, tol=tol,
                         mistakes=_forward_logdet_mistakes(z, m, ss),
                         hint="log|det| = Σ (1 - mask)·s.")  # fmt: skip
    return "three masks (alternating and not), float32 and float64, against AffineCoupling"


def _inverse_mistakes(x: Tensor, m: Tensor, ss: ScaleShift) -> list[tuple[Tensor, str]]:
    s, t = ss(x * m)
    s, t = s * (1 - m), t * (1 - m)
    return [
        ((x - t) * torch.exp(s), "Undo the scaling with exp(-s): z_B = (x_B - t)·exp(-s)."),
        (x * torch.exp(-s) - t, "Undo the steps in reverse order: first subtract t, then "
         "divide by exp(s)."),
    ]  # fmt: skip


def _inverse_random(fn: Any, device: torch.device) -> str:
    for i, (mask, dtype) in enumerate(zip(MASKS, (F64, F64, F32), strict=True)):
        layer, ss = _layer(mask, 100 + i, dtype)
        layer, m = layer.to(device), torch.tensor(mask, dtype=dtype, device=device)
        x = torch.randn(13, len(mask), generator=torch.Generator().manual_seed(101 + i))
        x = (1.5 * x).to(dtype=dtype, device=device)
        with torch.no_grad():
            z_ref, ld_ref = layer.inverse(x)
            z, ld = _pair(fn(x.clone(), m, ss), x, "coupling_inverse")
            case = f"mask {mask}, {str(dtype).removeprefix('torch.')}"
            tol = tolerance(dtype, loose=dtype == F32)
            expect_close(
                z,
                z_ref,
                what="z",
                case=case,
                tol=tol,
                mistakes=_inverse_mistakes(x, m, ss),
                hint="z = mask·x + (1 - mask)·(x - t)·exp(-s), s and t from the kept coordinates.",
            )
            s = ss(x * m)[0] * (1 - m)
            expect_close(ld, ld_ref, what="the log-determinant of the inverse", case=case,
                         tol=tol, mistakes=[(s.sum(-1), "The inverse's log-determinant is "
                         "minus the forward one: -Σ (1 - mask)·s.")],
                         hint="log|det ∂z/∂x| = -Σ (1 - mask)·s.")  # fmt: skip
    return "three masks, float32 and float64, against AffineCoupling.inverse"


def _inverse_round_trip(fn: Any, device: torch.device) -> str:
    mask = MASKS[2]
    layer, ss = _layer(mask, 110, F64)
    layer, m = layer.to(device), torch.tensor(mask, dtype=F64, device=device)
    z = torch.randn(50, len(mask), generator=torch.Generator().manual_seed(111), dtype=F64)
    z = (3 * z).to(device)
    with torch.no_grad():
        x, ld = layer(z)
        back, ld_inv = _pair(fn(x, m, ss), x, "coupling_inverse")
    expect_close(
        back,
        z,
        what="coupling_inverse(coupling_forward(z))",
        case="50 points, |z| ~ 3",
        tol=1e-10,
        hint="The inverse must undo the layer exactly.",
    )
    expect_close(ld_inv, -ld, what="the two log-determinants' sum", case="50 points",
                 tol=1e-10, hint="log|det ∂z/∂x| = -log|det ∂x/∂z|.")  # fmt: skip
    return "undoes the layer exactly; the log-determinants cancel"


FORWARD_TESTS = (Test("matches nodelib's AffineCoupling", _forward_random),)
INVERSE_TESTS = (
    Test("matches nodelib's AffineCoupling.inverse", _inverse_random),
    Test("undoes the forward map", _inverse_round_trip),
)
