"""Chapter 2's tests of stability and step control: questions C2.4 to C2.8.

Part of `nodelib.course.grading.ch02`, kept apart for length. The root condition is compared with
`nodelib.theory.lmm.root_condition`, stability functions with `ButcherTableau.stability_function`,
embedded steps with `nodelib.rk.rk_step` and the controller with
`nodelib.step_control.error_ratio` and `IController`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from nodelib.course.grading.core import CheckFailed, Test
from nodelib.course.grading.expect import (
    case_text,
    expect_close,
    expect_tensor,
    random_field,
    random_state,
    tolerance,
)
from nodelib.multistep import AB_COEFFICIENTS, AM_COEFFICIENTS
from nodelib.rk import RKCoefficients, rk_step
from nodelib.step_control import IController, error_ratio
from nodelib.tableau import GAUSS_LEGENDRE2, TABLEAUS, ButcherTableau
from nodelib.theory.lmm import bdf_coefficients, root_condition

__all__ = [
    "CONTROLLER_TESTS",
    "EMBEDDED_TESTS",
    "REGION_TESTS",
    "ROOT_TESTS",
    "STABILITY_FUNCTION_TESTS",
]

F64, F32 = torch.float64, torch.float32


def _bool(value: Any, what: str) -> bool:
    if isinstance(value, Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise CheckFailed(f"{what} should be True or False, not {type(value).__name__}.")


# --- C2.4 satisfies_root_condition ------------------------------------------------------------


def _root_cases() -> list[tuple[str, list[float]]]:
    cases = [(c.name, [float(a) for a in c.alpha]) for c in AB_COEFFICIENTS.values()]
    cases += [(c.name, [float(a) for a in c.alpha]) for c in AM_COEFFICIENTS.values()]
    cases += [(f"bdf{k}", [float(a) for a in bdf_coefficients(k).alpha]) for k in range(1, 8)]
    cases += [
        ("the three-step method with α = 9", [-1.0, -9.0, 9.0, 1.0]),
        ("y_{n+3} - 2 y_{n+1} + y_n", [1.0, -2.0, 0.0, 1.0]),
        ("ρ = (ζ - 1)², a double root on the circle", [1.0, -2.0, 1.0]),
        ("ρ = ζ² - 1, simple roots ±1", [-1.0, 0.0, 1.0]),
        ("ρ = (ζ - 1)(ζ - 1/2)², a double root inside", [-0.25, 1.25, -2.0, 1.0]),
        ("ρ = (ζ - 1)(ζ + 1)², a double root at -1", [-1.0, -1.0, 1.0, 1.0]),
        ("ρ = (ζ - 1)(ζ² + 1), simple roots ±i", [-1.0, 1.0, -1.0, 1.0]),
        ("ρ = 2ζ² - 3ζ + 1 (α_k = 2), roots 1 and 1/2", [1.0, -3.0, 2.0]),
    ]
    return cases


def _roots_test(fn: Any, device: torch.device) -> str:
    for name, alpha in _root_cases():
        expected = root_condition(alpha)
        got = _bool(fn(list(alpha)), "satisfies_root_condition's result")
        if got != expected:
            roots = np.roots(alpha[::-1])
            why = (
                "all roots need |ζ| <= 1, and roots with |ζ| = 1 must be simple (compare "
                "moduli and distances with a tolerance such as 1e-6: np.roots splits a "
                "double root by about 1e-8)"
            )
            raise CheckFailed(
                f"for {name} (alpha = {alpha}) you returned {got}; the roots of "
                f"ρ are {np.round(roots, 4).tolist()}, so the answer is "
                f"{expected}: {why}."
            )
    return f"{len(_root_cases())} polynomials: Adams, BDF1-7, double and simple roots on the circle"


ROOT_TESTS = (Test("agrees with nodelib.theory.lmm.root_condition", _roots_test),)


# --- C2.5 stability_function and C2.6 in_stability_region ---------------------------------------


def _tableaux() -> list[ButcherTableau]:
    names = ("euler", "heun", "rk4", "bosh3", "dopri5")
    return [TABLEAUS[n] for n in names] + [GAUSS_LEGENDRE2]


def _points(device: torch.device) -> Tensor:
    g = torch.Generator().manual_seed(400)
    z = torch.complex(
        6 * torch.rand(40, generator=g, dtype=F64) - 5,
        6 * torch.rand(40, generator=g, dtype=F64) - 3,
    )
    fixed = torch.tensor([0, -1, -2.785, -3.0, 2j, -1 + 1j, -100.0], dtype=torch.complex128)
    return torch.cat([z, fixed]).to(device)


def _as_complex(out: Any, like: Tensor, what: str) -> Tensor:
    if isinstance(out, np.ndarray):
        out = torch.from_numpy(out)
    if not isinstance(out, Tensor):
        raise CheckFailed(f"{what} should be a tensor, not {type(out).__name__}.")
    if out.shape != like.shape:
        raise CheckFailed(
            f"{what} has shape {tuple(out.shape)}; expected {tuple(like.shape)}, one value per z."
        )
    return out.to(device=like.device, dtype=torch.complex128)


def _stability_test(fn: Any, device: torch.device) -> str:
    z = _points(device)
    for tab in _tableaux():
        A = torch.tensor(tab.a, dtype=F64, device=device)
        b = torch.tensor(tab.b, dtype=F64, device=device)
        got = _as_complex(fn(A, b, z.clone()), z, "stability_function's result")
        expected = torch.from_numpy(tab.stability_function(z.cpu().numpy())).to(device)
        distance = float(((got - expected).abs() / (1 + expected.abs())).max())
        if not distance <= 1e-9:
            k = int(((got - expected).abs() / (1 + expected.abs())).argmax())
            hint = (
                "R(z) = 1 + z bᵀ (I - zA)⁻¹ 1: solve (I - zA) x = 1 (a complex linear "
                "system; torch.linalg.solve works with complex tensors), then 1 + z bᵀx."
            )
            raise CheckFailed(
                f"for {tab.name} at z = {complex(z[k]):.4g} you returned "
                f"{complex(got[k]):.6g}, expected {complex(expected[k]):.6g}. {hint}"
            )
    return "euler, heun, rk4, bosh3, dopri5 and the implicit Gauss–Legendre method, 47 points"


STABILITY_FUNCTION_TESTS = (Test("matches ButcherTableau.stability_function", _stability_test),)


def _region_test(fn: Any, device: torch.device) -> str:
    z = _points(device)
    for tab in _tableaux():
        A = torch.tensor(tab.a, dtype=F64, device=device)
        b = torch.tensor(tab.b, dtype=F64, device=device)
        got = fn(A, b, z.clone())
        if not isinstance(got, Tensor) or got.dtype != torch.bool or got.shape != z.shape:
            raise CheckFailed(
                "in_stability_region should return a bool tensor (torch.bool) with one "
                "entry per z: whether z lies in the stability region."
            )
        expected = np.abs(tab.stability_function(z.cpu().numpy())) <= 1
        wrong = np.flatnonzero(got.cpu().numpy() != expected)
        if len(wrong):
            k = int(wrong[0])
            raise CheckFailed(
                f"for {tab.name} at z = {complex(z[k]):.4g}, |R(z)| = "
                f"{abs(tab.stability_function(complex(z[k]))):.4g}, so the answer "
                f"is {bool(expected[k])}; you returned {bool(got[k])}. A point is "
                "in the region when |R(z)| <= 1."
            )
    return "six tableaux, 47 points inside and outside"


REGION_TESTS = (Test("agrees with the stability regions of six tableaux", _region_test),)


# --- C2.7 embedded_step -----------------------------------------------------------------------


def _embedded_test(fn: Any, device: torch.device) -> str:
    names = ("heun_euler", "bosh3", "fehlberg45", "dopri5")
    for i, name in enumerate(names):
        tab = TABLEAUS[name]
        shape, dtype = (((3,), F64), ((), F64), ((2, 2), F32), ((4,), F64))[i]
        f, field = random_field(shape, dtype, device, seed=500 + i)
        y = random_state(shape, dtype, device, seed=510 + i)
        t, h = torch.tensor(0.4, dtype=dtype, device=device), 0.2
        out = fn(
            f, t, y.clone(), h, [list(r) for r in tab.a], list(tab.b), list(tab.b_hat), list(tab.c)
        )
        if not isinstance(out, tuple) or len(out) != 2:
            raise CheckFailed("embedded_step should return a pair (y_next, error).")
        y_next = expect_tensor(out[0], y, what="y_next")
        error = expect_tensor(out[1], y, what="the error estimate")
        coeffs = RKCoefficients.from_tableau(tab)
        ref_y, ref_err, _ = rk_step(f, float(t), y, h, coeffs, f(t, y))
        case = f"{name}, {field}, {case_text(y, h=h)}"
        expect_close(
            y_next,
            ref_y,
            what="y_next",
            case=case,
            tol=tolerance(dtype),
            hint="Propagate the higher-order solution y + h Σ b_i k_i.",
            mistakes=[
                (
                    ref_y - ref_err,
                    "You returned the embedded (lower-order) solution: propagate y + h Σ b_i k_i.",
                )
            ],
        )
        expect_close(
            error,
            ref_err,
            what="the error estimate",
            case=case,
            tol=tolerance(dtype),
            hint="error = y_next - ŷ_next = h Σ (b_i - b̂_i) k_i.",
            mistakes=[
                (-ref_err, "Your error has the wrong sign: y_next - ŷ_next."),
                (ref_err / h, "Multiply by h: h Σ (b_i - b̂_i) k_i."),
            ],
        )
    return "heun_euler, bosh3, fehlberg45, dopri5 against nodelib.rk.rk_step"


EMBEDDED_TESTS = (Test("matches nodelib's step and error estimate", _embedded_test),)


# --- C2.8 propose_step ------------------------------------------------------------------------


def _controller_cases(device: torch.device) -> list[tuple[Tensor, Tensor, Tensor, float, int]]:
    g = torch.Generator().manual_seed(600)
    out = []
    for scale, k in ((1e-9, 5), (3e-7, 5), (1e-6, 3), (1e-4, 3), (2e-6, 2), (0.0, 5), (1e-3, 5)):
        y = torch.randn(4, generator=g, dtype=F64).to(device)
        y_next = y + 0.1 * torch.randn(4, generator=g, dtype=F64).to(device)
        err = scale * torch.randn(4, generator=g, dtype=F64).to(device)
        out.append((err, y, y_next, 0.05, k))
    return out


def _controller_advice(
    err: Tensor, y: Tensor, y_next: Tensor, h: float, k: int, h_new: float
) -> str:
    """The mistake that explains a wrong h_new, as a sentence (or "")."""
    scale = 1e-8 + 1e-6 * torch.maximum(y.abs(), y_next.abs())
    ratio_max = float((err / scale).abs().max())
    candidates = [
        (
            IController().propose(h, ratio_max, k)[1],
            "You used the maximum norm: the ratio is the root mean square of error / scale. ",
        ),
        (
            IController(safety=1.0).propose(h, error_ratio(err, y, y_next, 1e-6, 1e-8), k)[1],
            "You left out the safety factor 0.9. ",
        ),
    ]
    return next((text for value, text in candidates if abs(value - h_new) <= 1e-9 * h_new), "")


def _controller_test(fn: Any, device: torch.device) -> str:
    rtol, atol = 1e-6, 1e-8
    n_reject = 0
    for err, y, y_next, h, k in _controller_cases(device):
        got = fn(err.clone(), y.clone(), y_next.clone(), h, rtol, atol, k)
        if not isinstance(got, tuple) or len(got) != 2:
            raise CheckFailed("propose_step should return a pair (accept, h_new).")
        accept = _bool(got[0], "accept")
        h_new = float(got[1])
        ratio = error_ratio(err, y, y_next, rtol, atol)
        expected_accept, expected_h = IController().propose(h, ratio, k)
        n_reject += not expected_accept
        if accept != expected_accept:
            raise CheckFailed(
                f"the scaled RMS error is {ratio:.4g}, so the step should be "
                f"{'accepted' if expected_accept else 'rejected'}. The scale is "
                "atol + rtol·max(|y|, |y_next|), componentwise, and the norm is "
                "the root mean square."
            )
        if abs(h_new - expected_h) > 1e-9 * expected_h:
            advice = _controller_advice(err, y, y_next, h, k, h_new)
            raise CheckFailed(
                f"with scaled error {ratio:.4g} (k = {k}, h = {h}) you proposed h_new = "
                f"{h_new:.6g}, expected {expected_h:.6g}. {advice}"
                "The new step is h times the factor 0.9·r^(-1/k), clipped to [0.2, f_max] with "
                "f_max = 10 after an accepted step and 1 after a rejected one (the factor is 10 "
                "when the error is 0)."
            )
    return f"7 steps ({n_reject} rejected), against nodelib's IController"


CONTROLLER_TESTS = (Test("matches error_ratio and IController", _controller_test),)
