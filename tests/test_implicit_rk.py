"""Tests of the implicit Runge–Kutta methods (nodelib.implicit_rk, tableaux in nodelib.tableau).

The mathematics from outside the implementation: the order conditions and simplifying
assumptions of each tableau; its stability function against the Padé approximants of the
literature (HW II, §IV.3-IV.5), A- and L-stability; the stepper's growth per step on y' = λy
(complex λ as a rotation) against R(hλ); fitted convergence slopes on a problem with a closed
form; a stiff problem at steps where explicit methods blow up; gradients by gradcheck, and by
odeint_adjoint against closed forms (also for the θ-method and BDF, whose adjoint crashed).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import nodelib
from nodelib._newton import vector_field_jacobian
from nodelib.errors import ConvergenceError
from nodelib.implicit_rk import IMPLICIT_RK_METHODS, ImplicitRK
from nodelib.tableau import IMPLICIT_TABLEAUS, ButcherTableau
from nodelib.theory.stability import is_a_stable, rk_stability_polynomials

F64 = torch.float64
NAMES = list(IMPLICIT_TABLEAUS)
L_STABLE = {"radau_iia1", "radau_iia2", "radau_iia3", "sdirk2", "trbdf2"}
STIFFLY_ACCURATE = L_STABLE | {"lobatto_iiia2"}
# (order, stage order) of the collocation methods: C(s) holds (HW II, §IV.5).
COLLOCATION = {
    "implicit_midpoint": 1,
    "gauss_legendre2": 2,
    "gauss_legendre3": 3,
    "radau_iia1": 1,
    "radau_iia2": 2,
    "radau_iia3": 3,
    "lobatto_iiia2": 2,
}


def test_every_tableau_is_registered_with_its_order():
    assert set(NAMES) == {
        "implicit_midpoint", "gauss_legendre2", "gauss_legendre3", "radau_iia1", "radau_iia2",
        "radau_iia3", "lobatto_iiia2", "sdirk2", "trbdf2",
    }  # fmt: skip
    for name, tab in IMPLICIT_TABLEAUS.items():
        assert name in nodelib.METHODS and name in IMPLICIT_RK_METHODS and not tab.is_explicit
        assert tab.satisfied_order(8) == tab.order, name  # exactly the declared order
    orders = {n: IMPLICIT_TABLEAUS[n].order for n in ("gauss_legendre3", "radau_iia3", "trbdf2")}
    assert orders == {"gauss_legendre3": 6, "radau_iia3": 5, "trbdf2": 2}


@pytest.mark.parametrize("name", list(COLLOCATION))
def test_collocation_methods_satisfy_their_simplifying_assumptions(name):
    tab = IMPLICIT_TABLEAUS[name]
    a, b, c, s = np.array(tab.a), np.array(tab.b), np.array(tab.c), COLLOCATION[name]
    for q in range(1, s + 1):  # C(s): a polynomial of degree s - 1 is integrated exactly
        np.testing.assert_allclose(a @ c ** (q - 1), c**q / q, atol=1e-14)
    for q in range(1, tab.order + 1):  # B(p): the quadrature (b, c) has order p
        assert b @ c ** (q - 1) == pytest.approx(1 / q, abs=1e-14)


@pytest.mark.parametrize("name", NAMES)
def test_stiffly_accurate_ones_end_on_their_last_stage(name):
    tab = IMPLICIT_TABLEAUS[name]
    assert (np.allclose(tab.a[-1], tab.b, atol=1e-15) and tab.c[-1] == 1.0) == (
        name in STIFFLY_ACCURATE
    )


def test_stability_functions_are_the_pade_approximants():
    z = np.array([-3.0 + 1.0j, 0.5 - 2.0j, -40.0, 2.0j])
    pade = {  # HW II, §IV.3-IV.5: diagonal Padé (Gauss), subdiagonal (Radau IIA)
        "implicit_midpoint": (1 + z / 2) / (1 - z / 2),
        "lobatto_iiia2": (1 + z / 2) / (1 - z / 2),
        "gauss_legendre2": (1 + z / 2 + z**2 / 12) / (1 - z / 2 + z**2 / 12),
        "gauss_legendre3": (1 + z / 2 + z**2 / 10 + z**3 / 120)
        / (1 - z / 2 + z**2 / 10 - z**3 / 120),
        "radau_iia1": 1 / (1 - z),
        "radau_iia2": (1 + z / 3) / (1 - 2 * z / 3 + z**2 / 6),
        "radau_iia3": (1 + 2 * z / 5 + z**2 / 20) / (1 - 3 * z / 5 + 3 * z**2 / 20 - z**3 / 60),
    }
    for name, expected in pade.items():
        np.testing.assert_allclose(IMPLICIT_TABLEAUS[name].stability_function(z), expected)


@pytest.mark.parametrize("name", NAMES)
def test_a_stability_and_l_stability(name):
    tab = IMPLICIT_TABLEAUS[name]
    # Coefficients that cancel exactly come out as round-off (TR-BDF2's z^3: 1e-19).
    P, Q = (np.where(np.abs(c) < 1e-14, 0.0, c) for c in rk_stability_polynomials(tab))
    assert is_a_stable(P, Q)
    at_infinity = abs(complex(tab.stability_function(-1e9)))
    if name in L_STABLE:
        assert at_infinity < 1e-8  # R(∞) = 0
    else:
        assert at_infinity == pytest.approx(1.0, abs=1e-6)  # |R(∞)| = 1: stiff modes persist


def _rotation(lam: complex):
    """y' = λy for complex λ = a + ib, as the real system (x, v)' = [[a, -b], [b, a]] (x, v)."""
    m = torch.tensor([[lam.real, -lam.imag], [lam.imag, lam.real]], dtype=F64)
    return lambda t, y: m @ y


@pytest.mark.parametrize("name", NAMES)
def test_one_step_multiplies_by_r_of_z(name):
    """The Newton solve realises the tableau: y1 = R(hλ) y0 on the test equation."""
    h = 0.5
    for lam in (-1.0 + 2.0j, -30.0 + 0.0j, 0.3 - 4.0j, -500.0 + 100.0j):
        y = nodelib.odeint(
            _rotation(lam),
            torch.tensor([1.0, 0.0], dtype=F64),
            torch.tensor([0.0, h], dtype=F64),
            method=name,
            options={"newton_tol": 1e-13},
        )[-1]
        r = complex(IMPLICIT_TABLEAUS[name].stability_function(h * lam))
        assert complex(y[0], y[1]) == pytest.approx(r, abs=1e-11), lam


def _nonlinear():
    """y1' = 1 + y1^2 (tan t), y2' = -2 y2 + cos 3t: nonlinear and non-autonomous."""

    def f(t, y):
        return torch.stack([1 + y[0] ** 2, -2 * y[1] + torch.cos(3 * t)])

    def exact(t):
        t = torch.as_tensor(t, dtype=F64)
        y2 = (2 * torch.cos(3 * t) + 3 * torch.sin(3 * t)) / 13 + 11 / 13 * torch.exp(-2 * t)
        return torch.stack([torch.tan(t), y2])

    return f, torch.tensor([0.0, 1.0], dtype=F64), exact


@pytest.mark.parametrize("name", NAMES)
def test_measured_order_of_convergence(name):
    f, y0, exact = _nonlinear()
    order, T = IMPLICIT_TABLEAUS[name].order, 0.8
    ns = {1: (16, 32, 64, 128), 4: (4, 8, 16, 32), 5: (4, 8, 16, 32), 6: (2, 4, 8, 16)}
    ns = ns.get(order, (8, 16, 32, 64))
    errs = []
    for n in ns:
        ys = nodelib.odeint(
            f, y0, torch.tensor([0.0, T], dtype=F64), method=name,
            options={"step_size": T / n, "newton_tol": 1e-12},
        )  # fmt: skip
        errs.append(float((ys[-1] - exact(T)).abs().max()))
    slope = -np.polyfit(np.log(ns), np.log(errs), 1)[0]
    assert abs(slope - order) <= 0.2, (slope, errs)


def _prothero_robinson(y0: float):
    """y' = -λ (y - sin t) + cos t, λ = 1e4: the smooth solution sin t, a transient of rate λ."""
    lam = 1e4
    return lambda t, y: -lam * (y - torch.sin(t)) + torch.cos(t), torch.tensor([y0], dtype=F64)


@pytest.mark.parametrize("name", NAMES)
def test_stiff_problem_at_steps_where_explicit_methods_blow_up(name):
    t = torch.linspace(0.0, 1.0, 21, dtype=F64)  # h = 0.05: hλ = -500
    f, y0 = _prothero_robinson(0.0)
    ys = nodelib.odeint(f, y0, t, method=name)
    assert float((ys[:, 0] - torch.sin(t)).abs().max()) < 5e-3
    # Started off the smooth solution, the transient is multiplied by R(-500) per step:
    # L-stable methods damp it at once, the others carry it along (|R(-500)| near 1).
    f, y0 = _prothero_robinson(1.0)
    error = float((nodelib.odeint(f, y0, t, method=name)[-1, 0] - math.sin(1.0)).abs())
    transient = abs(complex(IMPLICIT_TABLEAUS[name].stability_function(-500.0))) ** 20
    assert error == pytest.approx(transient, abs=5e-3)
    assert (transient < 1e-6) == (name in L_STABLE) and (name in L_STABLE or transient > 0.05)


def test_explicit_methods_blow_up_on_the_stiff_problem():
    f, y0 = _prothero_robinson(0.0)
    t = torch.linspace(0.0, 1.0, 21, dtype=F64)
    for method in ("rk4", "heun3", "dopri5"):
        ys = nodelib.odeint(f, y0, t, method=method, options={"step_size": 0.05})
        assert float(ys[-1].abs()) > 1e10, method


def test_robertson_with_radau_iia3_on_a_geometric_grid():
    """Robertson's stiff chemistry with steps growing from 1e-6 to 10, against LSODA."""

    def robertson(t, y):
        y1, y2, y3 = y
        return torch.stack(
            [-0.04 * y1 + 1e4 * y2 * y3, 0.04 * y1 - 1e4 * y2 * y3 - 3e7 * y2**2, 3e7 * y2**2]
        )

    y0 = torch.tensor([1.0, 0.0, 0.0], dtype=F64)
    t = torch.cat([torch.zeros(1, dtype=F64), torch.logspace(-6, 1.6, 80, dtype=F64)])
    ys = nodelib.odeint(robertson, y0, t, method="radau_iia3")
    ref = nodelib.odeint(robertson, y0, t, method="scipy_solver", rtol=1e-10, atol=1e-14)
    assert float(((ys - ref) / (ref.abs() + 1e-8)).abs()[:, [0, 2]].max()) < 1e-3
    assert float((ys.sum(1) - 1).abs().max()) < 1e-12  # linear invariants are kept exactly


@pytest.mark.parametrize("name", NAMES)
def test_tuple_state_decreasing_time_and_float32(name):
    t = torch.linspace(0.0, -1.0, 6)
    x, v = nodelib.odeint(
        lambda t, y: (y[1], -y[0]), (torch.tensor(1.0), torch.tensor(0.0)), t, method=name,
        options={"step_size": 0.05},
    )  # fmt: skip
    assert x.dtype == torch.float32 and x.shape == (6,)
    tol = 3e-2 if IMPLICIT_TABLEAUS[name].order == 1 else 1e-3
    assert float((x - torch.cos(t)).abs().max()) < tol
    assert float((v + torch.sin(t)).abs().max()) < tol


W = torch.tensor([[-1.0, 0.5], [0.3, -0.8]], dtype=F64)


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_through_the_newton_solves(name):
    """Backprop to y0 and to the times (t and h are tensors inside the steps)."""

    def f(t, y):
        return torch.tanh(y @ W.T) + 0.1 * torch.sin(t)

    def solve(y0, t):
        return nodelib.odeint(f, y0, t, method=name, options={"newton_tol": 1e-12})

    y0 = torch.tensor([0.5, -0.3], dtype=F64, requires_grad=True)
    t = torch.tensor([0.0, 0.3, 0.7], dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(solve, (y0, t))


ADJOINT_METHODS = [(n, {}) for n in NAMES] + [
    ("backward_euler", {}),
    ("trapezoid", {}),
    ("theta", {"theta": 0.7}),
    ("bdf1", {}),
    ("bdf2", {}),
    ("bdf3", {}),
    ("bdf4", {}),
]


@pytest.mark.parametrize(("name", "options"), ADJOINT_METHODS, ids=[m for m, _ in ADJOINT_METHODS])
def test_odeint_adjoint_with_every_implicit_method(name, options):
    """y' = θ y, L = <w, y(1)>: dL/dy0 = w e^θ, dL/dθ = <w, y0> e^θ, within the method's error.

    The backward solves run the implicit method on the adjoint's augmented field, which
    torch.func cannot trace; before Newton's finite-difference fallback this crashed.
    """
    theta = torch.tensor(-0.7, dtype=F64, requires_grad=True)
    y0 = torch.tensor([1.0, -2.0], dtype=F64, requires_grad=True)
    w = torch.tensor([0.3, 1.0], dtype=F64)
    ys = nodelib.odeint_adjoint(
        lambda t, y: theta * y, y0, torch.tensor([0.0, 1.0], dtype=F64), method=name,
        options={"step_size": 0.01, **options}, adjoint_params=(theta,),
    )  # fmt: skip
    (ys[-1] @ w).backward()
    e = math.exp(-0.7)
    order = IMPLICIT_TABLEAUS[name].order if name in IMPLICIT_TABLEAUS else 1
    rel = 1e-2 if order == 1 or name == "theta" else 1e-4
    np.testing.assert_allclose(y0.grad.numpy(), (w * e).numpy(), rtol=rel)
    assert float(theta.grad) == pytest.approx(float(y0.detach() @ w) * e, rel=rel)


def test_adjoint_gradient_converges_at_the_method_order():
    """The adjoint's error in dL/dθ falls like h^p (here for Radau IIA, p = 3 and 5)."""
    w = torch.tensor([0.3, 1.0], dtype=F64)
    exact = float(torch.tensor([1.0, -2.0], dtype=F64) @ w) * math.exp(-0.7)
    for name, hs in (("radau_iia2", (0.2, 0.1, 0.05)), ("radau_iia3", (0.5, 0.25, 0.125))):
        errs = []
        for h in hs:
            theta = torch.tensor(-0.7, dtype=F64, requires_grad=True)
            ys = nodelib.odeint_adjoint(
                lambda t, y, theta=theta: theta * y, torch.tensor([1.0, -2.0], dtype=F64),
                torch.tensor([0.0, 1.0], dtype=F64), method=name,
                options={"step_size": h, "newton_tol": 1e-13}, adjoint_params=(theta,),
            )  # fmt: skip
            (ys[-1] @ w).backward()
            errs.append(abs(float(theta.grad) - exact))
        slope = np.polyfit(np.log(hs), np.log(errs), 1)[0]
        assert abs(slope - IMPLICIT_TABLEAUS[name].order) <= 0.3, (name, slope, errs)


def test_jacobian_of_a_field_that_calls_autograd_falls_back_to_differences():
    def field(t, y):  # like the adjoint's augmented field: autograd inside f
        with torch.enable_grad():
            x = y.detach().requires_grad_(True)
            (g,) = torch.autograd.grad((x**3).sum(), x)
        return g - torch.sin(y)

    y = torch.tensor([0.3, -1.2, 2.0], dtype=F64)
    jac = vector_field_jacobian(field, torch.tensor(0.0, dtype=F64), y)
    np.testing.assert_allclose(jac.numpy(), torch.diag(6 * y - torch.cos(y)).numpy(), atol=1e-6)


def test_errors_say_what_to_do():
    singular = ButcherTableau(
        "singular", c=(0.5, 0.5), a=((0.25, 0.25), (0.25, 0.25)), b=(0.5, 0.5), order=2
    )
    with pytest.raises(ValueError, match="invertible A"):
        ImplicitRK(singular)
    with pytest.raises(ValueError, match="newton_max_iter"):
        nodelib.odeint(
            lambda t, y: -y, torch.ones(1), torch.tensor([0.0, 1.0]), method="radau_iia3",
            options={"newton_max_iter": 0},
        )  # fmt: skip
    with pytest.raises(ConvergenceError, match="did not converge"):
        nodelib.odeint(  # y' = y^2 from 1 over a step past the blow-up at t = 1
            lambda t, y: y**2, torch.ones(1, dtype=F64), torch.tensor([0.0, 3.0], dtype=F64),
            method="gauss_legendre2", options={"newton_max_iter": 3},
        )  # fmt: skip


def test_method_amplification_knows_the_implicit_tableaux():
    from nodelib.theory.stability import method_amplification

    z = np.array([-2.0 + 1.0j, -100.0])
    for name, tab in IMPLICIT_TABLEAUS.items():
        np.testing.assert_allclose(method_amplification(name)(z), np.abs(tab.stability_function(z)))


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_on_cuda_against_cpu(dtype):
    f, y0, _ = _nonlinear()
    t = torch.tensor([0.0, 0.5], dtype=dtype)
    for name in ("radau_iia3", "sdirk2", "gauss_legendre2"):
        ys = nodelib.odeint(
            f, y0.to("cuda", dtype), t.cuda(), method=name, options={"step_size": 0.05}
        )
        assert ys.device.type == "cuda" and ys.dtype == dtype
        ref = nodelib.odeint(f, y0.to(dtype), t, method=name, options={"step_size": 0.05})
        assert torch.allclose(ys.cpu(), ref, atol=1e-5 if dtype == torch.float32 else 1e-12)
