"""Tests of the linear multistep methods (nodelib.multistep): coefficients, orders, stability.

The steppers are driven directly over a uniform grid by `_drive`, without odeint.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from torch import nn

from nodelib.errors import ConvergenceError
from nodelib.implicit import FixedStepper
from nodelib.multistep import (
    AB_COEFFICIENTS,
    AM_COEFFICIENTS,
    BDF,
    BDF_COEFFICIENTS,
    MULTISTEP_METHODS,
    AdamsBashforth,
    AdamsMoulton,
    _extrapolate,
    _rk4_start_step,
)

F64 = torch.float64
ALL_TABLES = [*AB_COEFFICIENTS.values(), *AM_COEFFICIENTS.values(), *BDF_COEFFICIENTS.values()]
ORDERS = {c.name: c.order for c in ALL_TABLES}


def _drive(stepper, f, y0, t0, t1, n):
    """Take n uniform steps from (t0, y0) to t1; return the states, (n+1, *y0.shape)."""
    h = (t1 - t0) / n
    t = torch.tensor(t0, dtype=y0.dtype, device=y0.device)
    y, ys = y0, [y0]
    stepper.start(f, t, y, h)
    for i in range(n):
        y, _ = stepper.step(f, t, y, h)
        ys.append(y)
        t = torch.tensor(t0 + (i + 1) * h, dtype=y0.dtype, device=y0.device)
    return torch.stack(ys)


def _scalar_problem(dtype=F64, device="cpu"):
    """y' = -y + sin t, y(0) = 1 on [0, 1]: non-autonomous, with a closed form."""

    def f(t, y):
        return -y + torch.sin(t)

    exact = 1.5 * math.exp(-1.0) + (math.sin(1.0) - math.cos(1.0)) / 2
    return f, torch.tensor([1.0], dtype=dtype, device=device), exact


def _linear_problem():
    """y' = A y, y(0) = (1, 0) on [0, 1]; y(1) = exp(A) y(0)."""
    a = torch.tensor([[-1.0, 2.0], [-2.0, -1.0]], dtype=F64)
    y0 = torch.tensor([1.0, 0.0], dtype=F64)
    return (lambda t, y: a @ y), y0, torch.linalg.matrix_exp(a) @ y0


# --- coefficients -------------------------------------------------------------------


def _lagrange_basis(nodes, i):
    """Coefficients (ascending powers, exact) of the Lagrange polynomial ℓ_i on nodes."""
    poly = [Fraction(1)]
    for m, xm in enumerate(nodes):
        if m != i:
            scale = Fraction(1) / (nodes[i] - xm)
            shifted = [Fraction(0), *poly]  # x·p
            poly = [(a - xm * b) * scale for a, b in zip(shifted, [*poly, 0], strict=True)]
    return poly


def _nodes(k_plus_1):
    # Unit steps, ascending: node of index j is t_{n+j} - t_{n+k-1} (so t_n ... t_{n+k}).
    return [Fraction(j - k_plus_1 + 2) for j in range(k_plus_1)]


@pytest.mark.parametrize("coeffs", [*AB_COEFFICIENTS.values(), *AM_COEFFICIENTS.values()])
def test_adams_coefficients_integrate_the_interpolation_polynomial(coeffs):
    # β_j = ∫_0^1 ℓ_j(x) dx over the nodes of the f values used (HNW I, §III.1).
    k = coeffs.steps
    explicit = coeffs.beta[-1] == 0
    nodes = _nodes(k + 1)[: k if explicit else k + 1]
    expected = [
        sum(c / (p + 1) for p, c in enumerate(_lagrange_basis(nodes, i))) for i in range(len(nodes))
    ]
    assert list(coeffs.beta[: len(nodes)]) == expected
    assert coeffs.alpha == (*[0] * (k - 1), -1, 1)


@pytest.mark.parametrize("coeffs", list(BDF_COEFFICIENTS.values()), ids=lambda c: c.name)
def test_bdf_coefficients_differentiate_the_interpolation_polynomial(coeffs):
    # Σ_j ℓ_j'(t_{n+k}) y_{n+j} = h f_{n+k}, normalised to α_k = 1.
    k = coeffs.steps
    nodes = _nodes(k + 1)
    slopes = [
        sum(p * c for p, c in enumerate(_lagrange_basis(nodes, i)) if p > 0) for i in range(k + 1)
    ]
    assert list(coeffs.alpha) == [s / slopes[-1] for s in slopes]
    assert list(coeffs.beta) == [0] * k + [1 / slopes[-1]]


def _error_constant(coeffs, q):
    """C_q = Σ j^q α_j / q! - Σ j^(q-1) β_j / (q-1)! (Süli & Mayers, ch. 12)."""
    a = sum(Fraction(j) ** q * al for j, al in enumerate(coeffs.alpha)) / math.factorial(q)
    if q == 0:
        return a
    return a - sum(Fraction(j) ** (q - 1) * b for j, b in enumerate(coeffs.beta)) / math.factorial(
        q - 1
    )


@pytest.mark.parametrize("coeffs", ALL_TABLES, ids=lambda c: c.name)
def test_tables_are_consistent_have_their_order_and_are_zero_stable(coeffs):
    rho1 = sum(coeffs.alpha)
    rho_prime1 = sum(j * a for j, a in enumerate(coeffs.alpha))
    assert coeffs.alpha[-1] == 1
    assert rho1 == 0 and rho_prime1 == sum(coeffs.beta)  # ρ(1) = 0, ρ'(1) = σ(1)
    assert all(_error_constant(coeffs, q) == 0 for q in range(coeffs.order + 1))
    assert _error_constant(coeffs, coeffs.order + 1) != 0
    roots = np.roots([float(a) for a in reversed(coeffs.alpha)])  # root condition
    assert np.all(np.abs(roots) <= 1 + 1e-12)
    on_circle = roots[np.abs(np.abs(roots) - 1) < 1e-9]
    assert len(on_circle) == 1  # only the simple root ζ = 1


# --- steppers -----------------------------------------------------------------------


def test_registry_names_orders_and_protocol():
    expected = {f"adams_bashforth{k}" for k in range(1, 5)}
    expected |= {f"adams_moulton{k}" for k in range(2, 5)} | {f"bdf{k}" for k in range(1, 5)}
    assert set(MULTISTEP_METHODS) == expected
    for name, factory in MULTISTEP_METHODS.items():
        stepper = factory({})
        assert isinstance(stepper, FixedStepper)
        assert (stepper.name, stepper.order) == (name, ORDERS[name])


@pytest.mark.parametrize("bad", [(AdamsBashforth, 5), (AdamsMoulton, 1), (BDF, 0), (BDF, True)])
def test_unavailable_orders_raise_value_error(bad):
    cls, order = bad
    with pytest.raises(ValueError, match="orders"):
        cls(order)


def _observed_order(name, problem, ns=(20, 40, 80, 160)):
    f, y0, exact = problem()
    errs = [
        (_drive(MULTISTEP_METHODS[name]({}), f, y0, 0.0, 1.0, n)[-1] - exact).abs().max().item()
        for n in ns
    ]
    return np.polyfit(np.log(1.0 / np.array(ns)), np.log(errs), 1)[0]


@pytest.mark.parametrize("problem", [_scalar_problem, _linear_problem], ids=["scalar", "linear2d"])
@pytest.mark.parametrize("name", sorted(MULTISTEP_METHODS))
def test_methods_converge_with_their_order(name, problem):
    assert abs(_observed_order(name, problem) - ORDERS[name]) <= 0.2


def _stiff(n=100, y0=1.0):
    """y' = -1000 (y - cos t) on [0, 1] with h = 0.01 (hλ = -10), and its exact solution."""
    lam = 1000.0
    b = lam / (lam**2 + 1)
    ts = torch.linspace(0, 1, n + 1, dtype=F64)
    exact = lam * b * torch.cos(ts) + b * torch.sin(ts) + (y0 - lam * b) * torch.exp(-lam * ts)
    return (lambda t, y: -lam * (y - torch.cos(t))), torch.tensor([y0], dtype=F64), exact


@pytest.mark.parametrize("name", ["bdf2", "bdf3", "bdf4"])
def test_bdf_is_stable_and_accurate_on_a_stiff_problem_where_adams_blows_up(name):
    f, y0, exact = _stiff()
    ys = _drive(MULTISTEP_METHODS[name]({}), f, y0, 0.0, 1.0, 100)[:, 0]
    assert (ys - exact).abs().max() < 1e-6  # starting steps included (Radau IIA)
    for explicit in ("adams_bashforth2", "adams_moulton2"):
        blown = _drive(MULTISTEP_METHODS[explicit]({}), f, y0, 0.0, 1.0, 100)[:, 0]
        assert not (blown.abs().max() < 1e10)


def test_bdf_damps_a_fast_initial_transient():
    f, y0, exact = _stiff(y0=0.0)  # y jumps from 0 to ~1 within 0.005: unresolved by h
    ys = _drive(BDF(4), f, y0, 0.0, 1.0, 100)[:, 0]
    assert (ys - exact).abs().max() < 0.1
    assert (ys[20:] - exact[20:]).abs().max() < 1e-4


def _counting(f):
    calls = [0]

    def counted(t, y):
        calls[0] += 1
        return f(t, y)

    return counted, calls


@pytest.mark.parametrize(("name", "per_step"), [("adams_bashforth4", 1), ("adams_moulton4", 2)])
def test_adams_methods_cost_their_evaluations_per_step(name, per_step):
    f, calls = _counting(_scalar_problem()[0])
    y0 = torch.ones(1, dtype=F64)
    _drive(MULTISTEP_METHODS[name]({}), f, y0, 0.0, 1.0, 10)
    starting = 1 + 3 * 4  # f(t0, y0), then 3 RK4 steps of 4 evaluations (the last at t+h)
    assert calls[0] == starting + 7 * per_step


@pytest.mark.parametrize("name", ["adams_bashforth3", "adams_moulton3", "bdf3"])
def test_step_returns_f_next_for_adams_and_none_for_bdf(name):
    f, y0, _ = _scalar_problem()
    stepper, t, y = MULTISTEP_METHODS[name]({}), torch.tensor(0.0, dtype=F64), y0
    stepper.start(f, t, y, 0.1)
    for _ in range(4):  # past the starting steps
        y, f_next = stepper.step(f, t, y, 0.1)
        t = t + 0.1
        if name.startswith("bdf"):
            assert f_next is None
        else:
            assert torch.equal(f_next, f(t, y))


@pytest.mark.parametrize("change", ["step", "tensor"])
def test_a_new_step_size_or_state_restarts_the_history(change):
    # After a restart the step is a starting (RK4) step, not AB4 on a stale history.
    f, y0, _ = _scalar_problem()
    stepper, t, y, h = AdamsBashforth(4), torch.tensor(0.0, dtype=F64), y0, 0.1
    stepper.start(f, t, y, h)
    for _ in range(5):
        y, _ = stepper.step(f, t, y, h)
        t = t + h
    h_new, y_new = (h / 3, y) if change == "step" else (h, y.clone())
    y1, _ = stepper.step(f, t, y_new, h_new)
    assert torch.allclose(y1, _rk4_start_step(f, t, y, h_new), rtol=0, atol=1e-15)


def test_a_shorter_last_step_keeps_the_order():
    # 0.95 = 9 steps of 0.1 and one of 0.05: the restart keeps the order of AB4.
    f, y0, _ = _scalar_problem()
    exact = 1.5 * math.exp(-0.95) + (math.sin(0.95) - math.cos(0.95)) / 2
    errs = []
    for h in (0.1, 0.05, 0.025):
        stepper, t, y = AdamsBashforth(4), torch.tensor(0.0, dtype=F64), y0
        stepper.start(f, t, y, h)
        grid = [*np.arange(0.0, 0.95 - 1e-12, h), 0.95]
        for t0, t1 in itertools.pairwise(grid):
            y, _ = stepper.step(f, torch.tensor(t0, dtype=F64), y, t1 - t0)
        errs.append(abs(y.item() - exact))
    assert abs(np.log2(errs[1] / errs[2]) - 4) < 0.3


def test_bdf_raises_convergence_error_with_the_time():
    def f(t, y):
        return -10.0 * y**3

    y0 = torch.tensor([2.0], dtype=F64)
    with pytest.raises(ConvergenceError, match=r"t=0\.5\b.*newton_max_iter"):
        _drive(BDF(1, newton_max_iter=1), f, y0, 0.0, 1.0, 2)
    with pytest.raises(ValueError, match="newton_tol"):
        MULTISTEP_METHODS["bdf2"]({"newton_tol": 0.0})


def test_backpropagation_through_bdf_matches_finite_differences():
    torch.manual_seed(0)
    field = nn.Sequential(nn.Linear(2, 2), nn.Tanh()).double()

    def loss():
        f = lambda t, y: field(y) - 0.5 * y  # noqa: E731
        y0 = torch.tensor([1.0, -0.5], dtype=F64)
        return _drive(BDF(3, newton_tol=1e-13), f, y0, 0.0, 1.2, 6)[-1].sum()

    loss().backward()
    weight = field[0].weight
    with torch.no_grad():
        weight[0, 1] += 1e-6
        up = loss().item()
        weight[0, 1] -= 2e-6
        down = loss().item()
    assert weight.grad[0, 1].item() == pytest.approx((up - down) / 2e-6, rel=1e-6)


@pytest.mark.parametrize("name", ["adams_bashforth3", "adams_moulton3", "bdf2"])
def test_float32_states_stay_float32_and_accurate(name):
    f, y0, exact = _scalar_problem(torch.float32)
    ys = _drive(MULTISTEP_METHODS[name]({}), f, y0, 0.0, 1.0, 50)
    assert ys.dtype == torch.float32
    assert abs(ys[-1].item() - exact) < 2e-4


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ["adams_moulton4", "bdf3"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_multistep_on_cuda(name, dtype):
    f, y0, exact = _scalar_problem(dtype, "cuda")
    ys = _drive(MULTISTEP_METHODS[name]({}), f, y0, 0.0, 1.0, 50)
    assert ys.device.type == "cuda" and ys.dtype == dtype
    assert abs(ys[-1].item() - exact) < 2e-4


def test_extrapolation_predictor_is_exact_for_polynomials():
    # m equally spaced values of a polynomial of degree m - 1 determine its next value.
    for m in range(1, 6):
        poly = [float(sum((d + 1) * j**d for d in range(m))) for j in range(m + 1)]  # degree m-1
        values = [torch.tensor([v], dtype=F64) for v in poly]
        assert torch.allclose(_extrapolate(values[:-1]), values[-1], rtol=1e-14, atol=0)


def test_rk4_starting_step_is_the_degree_4_taylor_polynomial_on_linear_problems():
    # For y' = λy, classic RK4 multiplies by 1 + z + z²/2 + z³/6 + z⁴/24, z = hλ.
    lam, h = -1.7, 0.3
    y1 = _rk4_start_step(lambda t, y: lam * y, torch.tensor(0.0), torch.ones(1, dtype=F64), h)
    z = h * lam
    assert y1.item() == pytest.approx(sum(z**q / math.factorial(q) for q in range(5)), rel=1e-14)
