"""Building blocks of the grader's tests: checks that explain what is wrong.

Every helper raises `CheckFailed` with a message written for the reader: what was
expected, what came back, and, where a known mistake explains the difference, which one
("did you multiply by h?"). The chapter modules combine them.

- `expect_tensor`: the result is a tensor of the right shape, dtype and device, finite.
- `expect_close`: the result matches nodelib's reference; if not, `diagnose` compares it
  with the results of typical mistakes and names the one that matches.
- `expect_order`: a measured order of convergence lies in a range.
- `random_field`, `random_state`, `random_grid`: reproducible random test cases.
- `measure_order`: a measured order of convergence, nan when it cannot be measured.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from nodelib._types import VectorField
from nodelib.course.grading.core import CheckFailed
from nodelib.theory.analysis import empirical_order

__all__ = [
    "Mistake",
    "case_text",
    "checked_step",
    "diagnose",
    "expect_close",
    "expect_order",
    "expect_tensor",
    "measure_order",
    "random_field",
    "random_grid",
    "random_state",
    "tolerance",
]

# A typical mistake: what the answer would be if the reader made it, and what to say.
Mistake = tuple[Tensor, str]


def tolerance(dtype: torch.dtype, *, loose: bool = False) -> float:
    """The absolute tolerance for comparing results of the given dtype (scaled by 1 + |y|)."""
    if dtype == torch.float64:
        return 1e-7 if loose else 1e-10
    return 1e-3 if loose else 1e-5


def case_text(y: Tensor, **values: float) -> str:
    """A short description of a test case, e.g. "y of shape (3,), float64, t = 0.7"."""
    parts = [f"y of shape {tuple(y.shape)}", str(y.dtype).removeprefix("torch.")]
    parts += [f"{key} = {value:.4g}" for key, value in values.items()]
    return ", ".join(parts)


def expect_tensor(
    out: object,
    like: Tensor,
    *,
    what: str,
    shape: tuple[int, ...] | None = None,
    hints: dict[tuple[int, ...], str] | None = None,
) -> Tensor:
    """Check that `out` is a finite tensor of `like`'s dtype and device and the given shape.

    Args:
        out: what the reader's code returned.
        like: a tensor with the expected dtype and device (and shape, if `shape` is None).
        what: how to name the result in messages, e.g. "euler_step's result".
        shape: the expected shape; default like.shape.
        hints: extra advice for particular wrong shapes.

    Returns:
        out, as a tensor.

    Raises:
        CheckFailed: with what is wrong and how to fix it.
    """
    shape = tuple(like.shape) if shape is None else tuple(shape)
    if not isinstance(out, Tensor):
        raise CheckFailed(
            f"{what} should be a torch.Tensor, but it is a {type(out).__name__}. Build it "
            "from torch operations on the inputs (not NumPy, not a Python list)."
        )
    if tuple(out.shape) != shape:
        hint = (hints or {}).get(tuple(out.shape), "")
        raise CheckFailed(f"{what} has shape {tuple(out.shape)}, expected {shape}. {hint}".rstrip())
    if out.dtype != like.dtype:
        raise CheckFailed(
            f"{what} is {out.dtype} but the input is {like.dtype}: keep the input's dtype "
            "(create new tensors with torch.zeros_like(y) or dtype=y.dtype)."
        )
    if out.device != like.device:
        raise CheckFailed(
            f"{what} is on {out.device} but the input is on {like.device}: create new "
            "tensors with device=y.device."
        )
    if not bool(torch.isfinite(out).all()):
        raise CheckFailed(f"{what} contains inf or nan.")
    return out


def checked_step(step: Callable[..., Any], what: str) -> Callable[..., Tensor]:
    """Wrap a reader's step(f, t, y, h, ...) so that each call gets a copy of y and its
    result is checked by `expect_tensor` (for loops the grader runs, e.g. to measure orders)."""

    def wrapped(f: VectorField, t: Tensor, y: Tensor, h: float, *args: Any) -> Tensor:
        return expect_tensor(step(f, t, y.clone(), h, *args), y, what=what)

    return wrapped


def _distance(a: Tensor, b: Tensor) -> float:
    """Largest difference relative to 1 + |b| (absolute for small values, relative for large)."""
    if a.shape != b.shape:
        return math.inf
    return float(((a - b).abs() / (1 + b.abs())).max()) if a.numel() else 0.0


def diagnose(out: Tensor, mistakes: Sequence[Mistake], tol: float) -> str:
    """The message of the first mistake whose result matches `out`, else ""."""
    for wrong, message in mistakes:
        if _distance(out, wrong.to(out.dtype)) <= tol:
            return message
    return ""


def expect_close(
    out: Tensor,
    expected: Tensor,
    *,
    what: str,
    case: str,
    tol: float,
    mistakes: Sequence[Mistake] = (),
    hint: str = "",
) -> None:
    """Check that out matches nodelib's `expected` up to tol (relative to 1 + |expected|).

    Raises:
        CheckFailed: naming the case, the size of the difference, and the mistake that
            explains it (from `mistakes`), or else the general `hint`.
    """
    distance = _distance(out, expected)
    if distance <= tol:
        return
    advice = diagnose(out, mistakes, max(tol, 1e-6)) or hint
    raise CheckFailed(
        f"{what} differs from nodelib's by {distance:.2g} (largest difference, relative to "
        f"1 + |y|) for {case}. {advice}".rstrip()
    )


def expect_order(
    measured: float,
    expected: float,
    *,
    low: float,
    high: float,
    what: str = "the error",
    advice: Callable[[float], str] | None = None,
) -> str:
    """Check that a measured order lies in [low, high]; return a note for the report.

    Args:
        measured: the order from `nodelib.theory.analysis.empirical_order` (nan if not measurable).
        expected: the order the method should have.
        low, high: the accepted range.
        what: what shrinks, for the message.
        advice: measured order -> a sentence of advice.

    Raises:
        CheckFailed: "the error shrinks like h^0.02 instead of h^1: ...".
    """
    if math.isfinite(measured) and low <= measured <= high:
        return f"measured order {measured:.2f}"
    extra = advice(measured) if advice is not None else ""
    if not math.isfinite(measured):
        raise CheckFailed(
            f"{what} could not be measured: it was not finite (the solution blew up) or "
            f"zero. {extra}".rstrip()
        )
    raise CheckFailed(
        f"{what} shrinks like h^{measured:.2f} instead of h^{expected:g}. {extra}".rstrip()
    )


def random_field(
    shape: tuple[int, ...], dtype: torch.dtype, device: torch.device, seed: int
) -> tuple[VectorField, str]:
    """A random field f(t, y) = A·y + b·sin(t) with decaying A, and its description.

    For a state of shape (..., n), A is an (n, n) matrix acting on the last axis; for a
    0-d state, A and b are numbers. t may be a 0-d tensor or a Python float.
    """
    g = torch.Generator().manual_seed(seed)
    n = shape[-1] if shape else 1
    A = -torch.eye(n, dtype=torch.float64) + 0.4 * torch.randn(
        n, n, generator=g, dtype=torch.float64
    )
    b = torch.randn(shape, generator=g, dtype=torch.float64)
    A, b = A.to(dtype=dtype, device=device), b.to(dtype=dtype, device=device)

    def f(t: Tensor | float, y: Tensor) -> Tensor:
        forcing = torch.sin(torch.as_tensor(t, dtype=y.dtype, device=y.device))
        coupled = y @ A.T if y.dim() else A[0, 0] * y
        return coupled + b * forcing

    return f, "y' = A·y + b·sin(t)"


def random_state(
    shape: tuple[int, ...], dtype: torch.dtype, device: torch.device, seed: int
) -> Tensor:
    """A reproducible standard normal tensor (drawn on the CPU, then moved to `device`)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=torch.float64).to(dtype=dtype, device=device)


def measure_order(hs: list[float], errors: list[float]) -> float:
    """empirical_order, or nan when an error is zero or not finite."""
    if not all(math.isfinite(e) and e > 0 for e in errors):
        return math.nan
    return empirical_order(hs, errors)


def random_grid(n: int, dtype: torch.dtype, device: torch.device, seed: int) -> Tensor:
    """n increasing, unevenly spaced times (gaps between 0.05 and 0.35), reproducible."""
    g = torch.Generator().manual_seed(seed)
    steps = 0.05 + 0.3 * torch.rand(n, generator=g, dtype=torch.float64)
    return torch.cumsum(steps, 0).to(device=device, dtype=dtype)
