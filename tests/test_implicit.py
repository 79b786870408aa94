"""Tests of the θ-method steppers (nodelib.implicit) and of Newton's method (nodelib._newton).

The steppers are driven directly over a uniform grid by `_drive`, without odeint.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from nodelib._newton import (
    default_newton_tol,
    implicit_matrix,
    newton_solve,
    solve_implicit,
    vector_field_jacobian,
)
from nodelib.errors import ConvergenceError
from nodelib.implicit import IMPLICIT_METHODS, FixedStepper, ThetaMethod
from nodelib.implicit_rk import implicit_rk_step
from nodelib.tableau import RADAU_IIA3

F64 = torch.float64
A_2D = [[-1.0, 2.0], [-2.0, -1.0]]  # decaying rotation: eigenvalues -1 ± 2i


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
    return f, torch.tensor([1.0], dtype=dtype, device=device), torch.tensor([exact], dtype=F64)


def _linear_problem():
    """y' = A y, y(0) = (1, 0) on [0, 1]; y(1) = exp(A) y(0)."""
    a = torch.tensor(A_2D, dtype=F64)
    y0 = torch.tensor([1.0, 0.0], dtype=F64)
    return (lambda t, y: a @ y), y0, torch.linalg.matrix_exp(a) @ y0


PROBLEMS = {"scalar": _scalar_problem, "linear2d": _linear_problem}


def _observed_order(make_stepper, problem, ns=(20, 40, 80, 160)):
    f, y0, exact = PROBLEMS[problem]()
    errs = [
        (_drive(make_stepper(), f, y0, 0.0, 1.0, n)[-1].double().cpu() - exact).abs().max().item()
        for n in ns
    ]
    return np.polyfit(np.log(1.0 / np.array(ns)), np.log(errs), 1)[0]


def test_registry_gives_fresh_named_steppers():
    assert set(IMPLICIT_METHODS) == {"backward_euler", "trapezoid", "theta"}
    for name, factory in IMPLICIT_METHODS.items():
        stepper = factory({"theta": 0.5})
        assert isinstance(stepper, FixedStepper)
        assert stepper.name == name
        assert factory({"theta": 0.5}) is not stepper
    assert IMPLICIT_METHODS["backward_euler"]({}).theta == 1.0
    assert IMPLICIT_METHODS["trapezoid"]({}).order == 2


@pytest.mark.parametrize("problem", sorted(PROBLEMS))
@pytest.mark.parametrize(("theta", "order"), [(0.0, 1), (0.3, 1), (0.5, 2), (0.8, 1), (1.0, 1)])
def test_theta_method_converges_with_its_order(theta, order, problem):
    stepper = ThetaMethod(theta)
    assert stepper.order == order
    assert abs(_observed_order(lambda: ThetaMethod(theta), problem) - order) <= 0.2


@pytest.mark.parametrize(
    ("theta", "amplification"),
    [
        (0.0, lambda z: 1 + z),
        (1.0, lambda z: 1 / (1 - z)),
        (0.5, lambda z: (1 + z / 2) / (1 - z / 2)),
        (0.3, lambda z: (1 + 0.7 * z) / (1 - 0.3 * z)),
    ],
)
def test_theta_method_is_its_stability_function_on_linear_problems(theta, amplification):
    # On y' = λy one step multiplies by R(hλ) = (1 + (1-θ)hλ) / (1 - θhλ) (HW II, §IV.3).
    lam, h, n = -3.0, 0.1, 7
    ys = _drive(ThetaMethod(theta), lambda t, y: lam * y, torch.ones(1, dtype=F64), 0.0, n * h, n)
    assert ys[-1].item() == pytest.approx(amplification(h * lam) ** n, rel=1e-12)


def test_backward_euler_is_stable_and_accurate_on_a_stiff_problem():
    # y' = -1000 (y - cos t), h = 0.01: hλ = -10, far outside explicit Euler's stability.
    lam, n = 1000.0, 100
    b = lam / (lam**2 + 1)
    ts = torch.linspace(0, 1, n + 1, dtype=F64)
    exact = lam * b * torch.cos(ts) + b * torch.sin(ts) + (1 - lam * b) * torch.exp(-lam * ts)

    def f(t, y):
        return -lam * (y - torch.cos(t))

    y0 = torch.ones(1, dtype=F64)
    implicit = _drive(ThetaMethod(1.0), f, y0, 0.0, 1.0, n)[:, 0]
    assert (implicit - exact).abs().max() < 1e-4
    explicit = _drive(ThetaMethod(0.0), f, y0, 0.0, 1.0, n)[:, 0]
    assert not (explicit.abs().max() < 1e10)


def test_step_returns_and_reuses_f_at_the_new_point():
    calls = [0]

    def f(t, y):
        calls[0] += 1
        return -(y**3) + torch.cos(t)

    t0, y0 = torch.tensor(0.0, dtype=F64), torch.tensor([0.7], dtype=F64)
    t1 = t0 + 0.1
    costs = []
    for same_tensor in (True, False):
        stepper = ThetaMethod(0.5)
        stepper.start(f, t0, y0, 0.1)
        y1, f1 = stepper.step(f, t0, y0, 0.1)
        assert torch.equal(f1, f(t1, y1))
        calls[0] = 0
        stepper.step(f, t1, y1 if same_tensor else y1.clone(), 0.1)
        costs.append(calls[0])
    # f(t1, y1) is reused from the previous step only when y is the tensor it returned.
    assert costs[1] == costs[0] + 1


@pytest.mark.parametrize("bad", [-0.1, 1.5, math.nan, math.inf, "0.5", None, True])
def test_invalid_theta_raises_value_error_with_the_range(bad):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ThetaMethod(bad)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        IMPLICIT_METHODS["theta"]({"theta": bad})


def test_theta_option_is_required_for_method_theta():
    with pytest.raises(ValueError, match="options\\['theta'\\]"):
        IMPLICIT_METHODS["theta"]({})


@pytest.mark.parametrize(
    "options", [{"newton_tol": -1.0}, {"newton_tol": "small"}, {"newton_max_iter": 0}]
)
def test_invalid_newton_options_raise_value_error(options):
    with pytest.raises(ValueError, match="newton_"):
        IMPLICIT_METHODS["backward_euler"](options)


def _stiff_cubic(t, y):
    return -10.0 * y**3


def test_convergence_error_when_newton_runs_out_of_iterations():
    y0 = torch.tensor([2.0], dtype=F64)
    with pytest.raises(ConvergenceError, match=r"t=0\.5.*newton_max_iter") as info:
        _drive(ThetaMethod(1.0, newton_max_iter=1), _stiff_cubic, y0, 0.0, 1.0, 2)
    assert "residual" in str(info.value) and "step_size" in str(info.value)
    # The same step converges with the default budget: the iteration count was the cause.
    ys = _drive(ThetaMethod(1.0), _stiff_cubic, y0, 0.0, 1.0, 2)
    y1 = ys[1]
    assert torch.allclose(y1 - y0 - 0.5 * _stiff_cubic(None, y1), torch.zeros(1, dtype=F64))


def test_convergence_error_when_the_vector_field_gives_nan():
    def f(t, y):  # NaN once an iterate goes negative
        return -torch.sqrt(y)

    with pytest.raises(ConvergenceError, match=r"NaN or Inf at t=1\b"):
        _drive(ThetaMethod(1.0), f, torch.tensor([1e-3], dtype=F64), 0.0, 1.0, 1)


def test_newton_solve_finds_the_root_of_a_nonlinear_system_of_any_shape():
    target = torch.tensor([[2.0, 3.0, 5.0], [7.0, 11.0, 13.0]], dtype=F64)  # (2, 3)
    guess = torch.full_like(target, 3.0)
    jac = torch.diag(2 * guess.reshape(-1))  # ∂(Y²)/∂Y at the guess, kept fixed
    root = newton_solve(lambda y: y * y - target, guess, jacobian=jac, max_iter=100)
    assert root.shape == (2, 3)
    assert torch.allclose(root, target.sqrt(), rtol=1e-9, atol=0)
    with pytest.raises(ValueError, match="shape"):
        newton_solve(lambda y: y, guess, jacobian=torch.eye(5, dtype=F64))


def test_default_tolerance_follows_the_dtype():
    assert 1e-11 < default_newton_tol(torch.float64) < 1e-10
    assert 1e-5 < default_newton_tol(torch.float32) < 1e-4


def test_vector_field_jacobian_is_the_analytic_jacobian():
    a = torch.tensor(A_2D, dtype=F64)
    y = torch.tensor([0.3, -1.2], dtype=F64, requires_grad=True)
    jac = vector_field_jacobian(lambda t, y: a @ y + torch.sin(y), torch.tensor(0.0), y)
    assert torch.allclose(jac, a + torch.diag(torch.cos(y.detach())))
    assert not jac.requires_grad


def test_solve_implicit_satisfies_its_equation():
    f, t1 = (lambda t, y: torch.cos(y) * t), torch.tensor(2.0, dtype=F64)
    c = torch.tensor([0.1, 0.4], dtype=F64)
    matrix = implicit_matrix(f, t1, c, 0.3, t1)
    y = solve_implicit(f, t1, c, 0.3, c.clone(), matrix=matrix, tol=1e-12, max_iter=50)
    assert torch.allclose(y, c + 0.3 * f(t1, y), atol=1e-12)


def test_backpropagation_through_backward_euler_gives_the_exact_derivative():
    # Backward Euler on y' = a·y gives y_n = y0 (1 - h a)^(-n); d/da = y0 n h (1 - h a)^(-n-1).
    a = torch.tensor(-2.0, dtype=F64, requires_grad=True)
    h, n = 0.1, 5
    y = _drive(ThetaMethod(1.0), lambda t, y: a * y, torch.ones(1, dtype=F64), 0.0, n * h, n)
    y[-1].sum().backward()
    assert a.grad.item() == pytest.approx(n * h * (1 - h * a.item()) ** (-n - 1), rel=1e-8)


def test_backpropagation_through_the_trapezoid_rule_matches_finite_differences():
    torch.manual_seed(0)
    field = nn.Sequential(nn.Linear(2, 2), nn.Tanh()).double()

    def loss():
        f = lambda t, y: field(y) - 0.5 * y  # noqa: E731
        y0 = torch.tensor([1.0, -0.5], dtype=F64)
        return _drive(ThetaMethod(0.5, newton_tol=1e-13), f, y0, 0.0, 1.2, 6)[-1].sum()

    loss().backward()
    weight = field[0].weight
    with torch.no_grad():
        weight[0, 1] += 1e-6
        up = loss().item()
        weight[0, 1] -= 2e-6
        down = loss().item()
    assert weight.grad[0, 1].item() == pytest.approx((up - down) / 2e-6, rel=1e-6)


def test_float32_states_stay_float32_and_accurate():
    f, y0, exact = _scalar_problem(torch.float32)
    ys = _drive(IMPLICIT_METHODS["trapezoid"]({}), f, y0, 0.0, 1.0, 50)
    assert ys.dtype == torch.float32
    assert abs(ys[-1].item() - exact.item()) < 1e-4


def test_radau_iia_coefficients_satisfy_the_simplifying_conditions():
    a, c = np.array(RADAU_IIA3.a), np.array(RADAU_IIA3.c)
    b = a[-1]  # stiffly accurate
    assert np.allclose(a.sum(1), c, atol=1e-15)
    for q in range(1, 6):  # B(5): order 5 of the quadrature
        assert abs(b @ c ** (q - 1) - 1 / q) < 1e-14
    for q in range(1, 4):  # C(3): stage order 3
        assert np.allclose(a @ c ** (q - 1), c**q / q, atol=1e-14)


class _RadauStepper:
    name, order = "radau_iia", 5

    def start(self, f, t0, y0, h):
        pass

    def step(self, f, t, y, h):
        return implicit_rk_step(f, t, y, h, RADAU_IIA3, tol=1e-13, max_iter=20)[0], None


def test_radau_iia_step_converges_with_order_5():
    assert abs(_observed_order(_RadauStepper, "linear2d", ns=(4, 8, 16, 32)) - 5) <= 0.2


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_theta_method_on_cuda(dtype):
    f, y0, exact = _scalar_problem(dtype, "cuda")
    ys = _drive(IMPLICIT_METHODS["trapezoid"]({}), f, y0, 0.0, 1.0, 50)
    assert ys.device.type == "cuda" and ys.dtype == dtype
    assert abs(ys[-1].item() - exact.item()) < 1e-4


# --- theta_step: one step as a function, with a chosen Newton start ---------------------------


@pytest.mark.parametrize("theta", [0.0, 0.3, 0.5, 1.0])
def test_theta_step_is_the_step_odeint_takes(theta):
    from nodelib.implicit import theta_step
    from nodelib.odeint import odeint

    f, y0, _ = _scalar_problem()
    t = torch.tensor([0.2, 0.45], dtype=F64)
    expected = odeint(f, y0, t, method="theta", options={"theta": theta, "newton_tol": 1e-13})
    got = theta_step(f, 0.2, y0, 0.25, theta=theta, newton_tol=1e-13)
    assert got.shape == y0.shape
    assert torch.allclose(got, expected[-1], atol=1e-12)
    # The defining equation holds at the result.
    residual = got - y0 - 0.25 * ((1 - theta) * f(t[0], y0) + theta * f(t[1], got))
    assert float(residual.abs().max()) < 1e-10


def test_theta_step_guess_chooses_the_root_of_a_non_lipschitz_field():
    from nodelib.implicit import theta_step

    def fifth_root(t, y):
        return torch.sign(y) * y.abs() ** 0.2

    y0, h = torch.zeros((), dtype=F64), 0.1
    # Started at y_n = 0, Newton needs ∂f/∂y(0), which is not finite.
    with pytest.raises(ConvergenceError):
        theta_step(fifth_root, 0.0, y0, h, theta=1.0)
    # Y = h·Y^(1/5) has the roots 0 and ±h^(5/4): the start decides which one is found.
    assert float(theta_step(fifth_root, 0.0, y0, h, theta=1.0, y_guess=h)) == pytest.approx(
        h**1.25, rel=1e-9
    )
    assert float(theta_step(fifth_root, 0.0, y0, h, theta=1.0, y_guess=-h)) == pytest.approx(
        -(h**1.25), rel=1e-9
    )


def test_theta_step_rejects_bad_arguments():
    from nodelib.implicit import theta_step

    f, y0, _ = _scalar_problem()
    with pytest.raises(ValueError, match="theta"):
        theta_step(f, 0.0, y0, 0.1, theta=1.5)
    with pytest.raises(ValueError, match="y_guess"):
        theta_step(f, 0.0, y0, 0.1, theta=1.0, y_guess=torch.zeros(3, dtype=F64))
