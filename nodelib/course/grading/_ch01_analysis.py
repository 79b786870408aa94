"""Chapter 1's tests of the analysis tools: measured orders (C1.5, C1.6) and Picard (C1.7).

Part of `nodelib.course.grading.ch01`, kept apart for length. `empirical_order` is compared with
`nodelib.theory.analysis.empirical_order` on exact and noisy power laws; `measured_orders` with the
orders the written exercise derives (2 at θ = 1/2, else 1); `picard_iteration` with
`nodelib.theory.analysis.picard_iteration` and with the Taylor polynomials of e^t.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from nodelib.course.grading.core import CheckFailed
from nodelib.course.grading.expect import (
    case_text,
    expect_close,
    expect_tensor,
    random_field,
    random_grid,
    random_state,
)
from nodelib.theory.analysis import empirical_order
from nodelib.theory.analysis import picard_iteration as reference_picard

__all__ = ["measured_orders_values", "order_cases", "picard_random", "picard_taylor"]

F64 = torch.float64


# --- C1.5 empirical_order and C1.6 measured_orders -------------------------------------------


def _number(out: object, what: str) -> float:
    if isinstance(out, Tensor):
        if out.numel() != 1:
            raise CheckFailed(
                f"{what} should be a number, not a tensor of shape {tuple(out.shape)}."
            )
        return float(out)
    if isinstance(out, bool) or not isinstance(out, (int, float)):
        try:
            return float(out)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise CheckFailed(
                f"{what} should be a number (a float), not a {type(out).__name__}."
            ) from None
    return float(out)


def _slope(x: list[float], y: list[float]) -> float:
    return empirical_order([math.exp(v) for v in x], [math.exp(v) for v in y])


def _order_mistakes(hs: list[float], es: list[float]) -> list[tuple[float, str]]:
    lh, le = [math.log(h) for h in hs], [math.log(e) for e in es]
    consecutive = [(le[i + 1] - le[i]) / (lh[i + 1] - lh[i]) for i in range(len(hs) - 1)]
    return [
        (
            -_slope(lh, le),
            "Your order has the wrong sign: the slope of log(error) "
            "against log(h) is positive when the error shrinks with h.",
        ),
        (
            (le[-1] - le[0]) / (lh[-1] - lh[0]),
            "You used only the first and last points: "
            "fit a least-squares line through all the points (log h, log error).",
        ),
        (
            sum(consecutive) / len(consecutive),
            "You averaged the slopes between neighbouring "
            "points: that is not the least-squares slope through all the points.",
        ),
        (
            _slope(hs, le),
            "Take the logarithm of h too: the order is the slope of log(error) against log(h).",
        ),
        (_slope(lh, es), "Take the logarithm of the errors too."),
    ]


def order_cases(fn: Any, device: torch.device) -> str:
    g = torch.Generator().manual_seed(90)
    for k, noise in enumerate((0.0, 0.0, 0.3, 0.3)):
        p, c = (
            0.5 + 4 * float(torch.rand((), generator=g)),
            10 ** float(torch.randn((), generator=g)),
        )
        hs = [0.2 / 2**i for i in range(5)]
        es = [c * h**p * math.exp(noise * float(torch.randn((), generator=g))) for h in hs]
        if k % 2:  # tensors, smallest h first
            hs_in, es_in = (torch.tensor(v[::-1], dtype=F64, device=device) for v in (hs, es))
        else:
            hs_in, es_in = hs, es
        got, expected = (
            _number(fn(hs_in, es_in), "empirical_order's result"),
            empirical_order(hs, es),
        )
        if abs(got - expected) > 1e-8 * (1 + abs(expected)):
            advice = next((m for v, m in _order_mistakes(hs, es) if abs(got - v) < 1e-6), "")
            data = "exact power law" if noise == 0 else "noisy data"
            raise CheckFailed(
                f"for errors = C·h^p ({data}, p = {p:.3f}) you returned {got:.4g}, nodelib "
                f"returns {expected:.4g}. {advice or 'Fit log(error) = a + p·log(h).'}".rstrip()
            )
    return "exact and noisy power laws, lists and tensors, either order"


THETAS = (0.0, 0.25, 0.5, 0.75, 1.0)


def _orders_dict(value: Any) -> dict[float, float]:
    if not isinstance(value, dict):
        raise CheckFailed(
            f"measured_orders should be a dict θ -> order, not a {type(value).__name__}."
        )
    found = {}
    for key, order in value.items():
        theta = _number(key, "each key of measured_orders")
        found[min(THETAS, key=lambda x: abs(x - theta))] = (theta, _number(order, "each order"))
    missing = [th for th in THETAS if th not in found or abs(found[th][0] - th) > 1e-9]
    if missing or len(value) != len(THETAS):
        raise CheckFailed(
            f"measured_orders should have exactly the keys {THETAS}; missing: {missing}."
        )
    return {th: order for th, (_, order) in found.items()}


def measured_orders_values(value: Any, device: torch.device) -> str:
    orders = _orders_dict(value)
    for theta, order in orders.items():
        expected = 2 if theta == 0.5 else 1
        if not (expected - 0.15 <= order <= expected + 0.3):
            why = (
                "the error constant of the θ-method is 1/2 - θ, which vanishes only at "
                "θ = 1/2 (see the written exercise)"
            )
            raise CheckFailed(
                f"for θ = {theta} you measured order {order:.2f}; expected about {expected}: "
                f"{why}. Use steps small enough for the asymptotic regime and a Newton "
                "tolerance far below the errors."
            )
    return ", ".join(f"θ = {th}: {orders[th]:.2f}" for th in THETAS)


# --- C1.7 picard_iteration ------------------------------------------------------------------


def _picard_variant(f: Any, t: Tensor, y0: Tensor, n_iter: int, rule: str) -> list[Tensor]:
    phi, out = y0.expand(len(t), *y0.shape), [y0.expand(len(t), *y0.shape)]
    dt = (t[1:] - t[:-1]).to(y0.dtype).reshape(-1, *([1] * y0.dim()))
    for _ in range(n_iter):
        s = torch.stack([f(t[i], phi[i]) for i in range(len(t))])
        inc = dt * (s[:-1] if rule == "left" else s[1:])
        phi = torch.cat([y0[None], y0 + torch.cumsum(inc, 0)])
        out.append(phi)
    return out


def _iterates(out: Any, n_iter: int, like: Tensor, n_times: int) -> list[Tensor]:
    if isinstance(out, Tensor) and out.dim() == like.dim() + 2:
        out = list(out.unbind(0))
    if not isinstance(out, (list, tuple)):
        raise CheckFailed(
            f"picard_iteration should return a list of tensors, not a {type(out).__name__}."
        )
    if len(out) != n_iter + 1:
        raise CheckFailed(
            f"with n_iter = {n_iter} you returned {len(out)} iterates; return n_iter + 1 = "
            f"{n_iter + 1}: φ_0 (the constant y0), then φ_1, ..., φ_{n_iter}."
        )
    shape = (n_times, *like.shape)
    return [expect_tensor(p, like, what=f"φ_{k}", shape=shape) for k, p in enumerate(out)]


def picard_random(fn: Any, device: torch.device) -> str:
    for i, shape in enumerate(((), (2,), (3,))):
        f, field = random_field(shape, F64, device, seed=100 + i)
        y0, t = (
            random_state(shape, F64, device, seed=110 + i),
            random_grid(9, F64, device, seed=120 + i),
        )
        got = _iterates(fn(f, t, y0.clone(), 3), 3, y0, len(t))
        expected = reference_picard(f, t, y0, 3)
        for k, (mine, ref) in enumerate(zip(got, expected, strict=True)):
            expect_close(
                mine[0],
                y0,
                what=f"φ_{k}(t[0])",
                case=field,
                tol=1e-10,
                hint="Every iterate starts at y0: φ_{k+1}(t) = y0 + ∫ f(s, φ_k(s)) ds.",
            )
            mistakes = [
                (
                    _picard_variant(f, t, y0, 3, "left")[k],
                    "You used the left-endpoint "
                    "(rectangle) rule: use the trapezoid rule, (h/2)·(f_i + f_{i+1}).",
                ),
                (
                    _picard_variant(f, t, y0, 3, "right")[k],
                    "You used the right-endpoint "
                    "rule: use the trapezoid rule, (h/2)·(f_i + f_{i+1}).",
                ),
                (ref - y0, "You forgot y0: φ_{k+1}(t) = y0 + ∫_{t0}^{t} f(s, φ_k(s)) ds."),
            ]
            expect_close(
                mine,
                ref,
                what=f"φ_{k}",
                case=f"{field}, {case_text(y0)}, a non-uniform grid of 9 times",
                tol=1e-10,
                mistakes=mistakes,
                hint="Integrate f(s, φ_k(s)) with the cumulative trapezoid rule.",
            )
    return "3 iterates on random problems, shapes (), (2,), (3,)"


def picard_taylor(fn: Any, device: torch.device) -> str:
    t = torch.linspace(0, 1, 101, dtype=F64, device=device)
    y0 = torch.ones(1, dtype=F64, device=device)
    got = _iterates(fn(lambda s, y: y, t, y0, 5), 5, y0, len(t))
    for k, phi in enumerate(got):
        taylor = sum(1 / math.factorial(j) for j in range(k + 1))
        if abs(float(phi[-1, 0]) - taylor) > 1e-3:
            raise CheckFailed(
                f"for y' = y, y(0) = 1 the iterate φ_{k} is the Taylor polynomial "
                f"Σ_(j<={k}) t^j/j!, which is {taylor:.5f} at t = 1; yours is "
                f"{float(phi[-1, 0]):.5f}."
            )
    return "φ_k(1) = Σ_(j<=k) 1/j! for y' = y"
