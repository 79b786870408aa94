"""Checking the tolerances rtol and atol: numbers, or per-element tensors shaped like y0."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def _check_tolerance(name: str, value: object) -> float:
    """One number (per-sample stepping, nodelib.per_sample, takes no per-element tolerances)."""
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(
                f"{name} must be a number here: per-element tolerances are not supported "
                "with options['per_sample']."
            )
        value = float(value)
    if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
        raise TypeError(f"{name} must be a non-negative number, got {value!r}.")
    if value < 0:
        raise ValueError(f"{name} must be non-negative, got {value}; for example {name}=1e-6.")
    return float(value)


def tolerance(name: str, value: object, parts: tuple[Tensor, ...], is_tuple: bool):
    """A tolerance as the error norm uses it: a number, or a tensor shaped like the state.

    Per-element tolerances (as in torchdiffeq): a tensor broadcastable to y0's shape, or for
    a tuple state a tuple with one number or tensor per part (joined like the state).
    """
    if is_tuple and isinstance(value, tuple | list):
        if len(value) != len(parts):
            raise ValueError(
                f"{name} is a tuple of {len(value)} but y0 has {len(parts)} parts: give one "
                "tolerance per part, or one number for all."
            )
        each = [
            tolerance(f"{name}[{i}]", v, (p,), False)
            for i, (v, p) in enumerate(zip(value, parts, strict=True))
        ]
        if all(isinstance(v, float) for v in each) and len(set(each)) == 1:
            return each[0]
        flat = [
            torch.as_tensor(v, dtype=p.dtype, device=p.device).expand(p.shape).reshape(-1)
            for v, p in zip(each, parts, strict=True)
        ]
        return torch.cat(flat)
    if not isinstance(value, Tensor) or value.numel() == 1:
        return _check_tolerance(name, value)
    if is_tuple:
        raise ValueError(
            f"{name} is a tensor of shape {tuple(value.shape)} but y0 is a tuple: give a "
            "tuple with one tolerance (number or tensor) per part."
        )
    shape = parts[0].shape
    try:
        fits = torch.broadcast_shapes(value.shape, shape) == shape
    except RuntimeError:
        fits = False
    if not fits:
        raise ValueError(
            f"{name} has shape {tuple(value.shape)}, which does not broadcast to the state's "
            f"shape {tuple(shape)}: give one tolerance per element of y0, or a number."
        )
    value = value.detach().to(dtype=parts[0].dtype, device=parts[0].device)
    if not bool(torch.isfinite(value).all()) or bool((value < 0).any()):
        raise ValueError(f"{name} must be finite and non-negative in every element.")
    return value.expand(shape)
