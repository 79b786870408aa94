"""Tests of method="scipy_solver" (nodelib.scipy_solver): SciPy's integrators over nodelib's loop.

The values and statistics are compared with `scipy.integrate.solve_ivp` itself (same steps,
so the same numbers to round-off, and the same count of evaluations), and with closed-form
solutions; gradients through `odeint_adjoint` with closed forms; backprop must refuse loudly.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

import nodelib
from nodelib.errors import MaxStepsError, StepSizeError

F64 = torch.float64
SOLVERS = ["LSODA", "RK45", "RK23", "DOP853", "Radau", "BDF"]
A = torch.tensor([[-1.0, 2.0, 0.0], [-2.0, -1.0, 0.0], [0.0, 0.0, -30.0]], dtype=F64)
Y0 = torch.tensor([1.0, 0.5, 2.0], dtype=F64)


def forced(t, y):
    """y' = A y + sin(t), a non-autonomous linear field (torch)."""
    return A @ y + torch.sin(t)


def forced_np(t, y):
    return A.numpy() @ y + np.sin(t)


@pytest.mark.parametrize("solver", SOLVERS)
def test_same_values_and_evaluations_as_solve_ivp(solver):
    t = torch.linspace(0.0, 3.0, 7, dtype=F64)
    sol = nodelib.solve(
        forced, Y0, t, method="scipy_solver", options={"solver": solver}, rtol=1e-6, atol=1e-9
    )
    calls = [0]

    def counted(t, y):  # every call, the finite-difference Jacobians' included
        calls[0] += 1
        return forced_np(t, y)

    # DOP853's dense output costs 3 calls; nodelib pays it in every step (for Solution.evaluate).
    kw = {"method": solver, "rtol": 1e-6, "atol": 1e-9, "dense_output": solver == "DOP853"}
    ref = solve_ivp(counted, (0.0, 3.0), Y0.numpy(), t_eval=t.numpy(), **kw)
    steps = len(solve_ivp(forced_np, (0.0, 3.0), Y0.numpy(), **kw).t) - 1
    assert np.abs(sol.ys.numpy() - ref.y.T).max() <= 1e-13
    assert sol.stats["n_steps"] == sol.stats["n_accepted"] == steps
    assert (sol.stats["njev"], sol.stats["nlu"]) == (ref.njev, ref.nlu)
    assert sol.stats["nfe"] == calls[0]


@pytest.mark.parametrize("solver", SOLVERS)
def test_dense_output_between_outputs(solver):
    """Solution.evaluate between the output times reads SciPy's dense output."""
    t = torch.tensor([0.0, 3.0], dtype=F64)
    sol = nodelib.solve(
        forced, Y0, t, method="scipy_solver", options={"solver": solver}, rtol=1e-8, atol=1e-10
    )
    ref = solve_ivp(
        forced_np, (0.0, 3.0), Y0.numpy(), method=solver, rtol=1e-8, atol=1e-10, dense_output=True
    )
    ts = np.linspace(0.0, 3.0, 41)
    assert np.abs(sol.evaluate(torch.tensor(ts)).numpy() - ref.sol(ts).T).max() <= 1e-12


def test_decreasing_times_tuple_state_and_float32():
    """x'' = -x backwards from 0 to -3 as a tuple (x, v) in float32: cos and -sin."""
    t = torch.linspace(0.0, -3.0, 7)
    x, v = nodelib.odeint(
        lambda t, y: (y[1], -y[0]),
        (torch.tensor(1.0), torch.tensor(0.0)),
        t,
        method="scipy_solver",
        rtol=1e-8,
        atol=1e-10,
    )
    assert x.dtype == v.dtype == torch.float32 and x.shape == (7,)
    assert float((x - torch.cos(t)).abs().max()) < 1e-6
    assert float((v + torch.sin(t)).abs().max()) < 1e-6


def test_one_output_time_costs_nothing():
    sol = nodelib.solve(forced, Y0, torch.tensor([0.5], dtype=F64), method="scipy_solver")
    assert torch.equal(sol.ys, Y0[None]) and sol.stats["nfe"] == 0


def test_stiff_robertson_lsoda_against_rk45():
    """Robertson's stiff chemistry: LSODA needs far fewer steps than an explicit solver."""

    def robertson(t, y):
        y1, y2, y3 = y
        return torch.stack(
            [-0.04 * y1 + 1e4 * y2 * y3, 0.04 * y1 - 1e4 * y2 * y3 - 3e7 * y2**2, 3e7 * y2**2]
        )

    y0, t = torch.tensor([1.0, 0.0, 0.0], dtype=F64), torch.tensor([0.0, 40.0], dtype=F64)
    stiff = nodelib.solve(robertson, y0, t, method="scipy_solver", rtol=1e-6, atol=1e-10)
    # Reference value at t = 40 (HNW II, §IV.1; Radau5 at tight tolerance).
    assert torch.allclose(stiff.ys[-1, 0], torch.tensor(0.7158270687, dtype=F64), atol=1e-5)
    assert float(stiff.ys[-1].sum()) == pytest.approx(1.0, abs=1e-8)  # mass is conserved
    ten_times = {"solver": "RK45", "max_num_steps": 10 * stiff.stats["n_steps"]}
    with pytest.raises(MaxStepsError):  # explicit: stability, not accuracy, limits its steps
        nodelib.odeint(robertson, y0, t, method="scipy_solver", options=ten_times, rtol=1e-6)


def test_backprop_refuses_with_a_message():
    theta = torch.tensor(-0.5, dtype=F64, requires_grad=True)
    t = torch.linspace(0.0, 1.0, 3, dtype=F64)
    # Through the parameters of f only (y0 needs no grad): still refused, not zero gradients.
    ys = nodelib.odeint(lambda t, y: theta * y, Y0, t, method="scipy_solver")
    assert ys.requires_grad
    with pytest.raises(RuntimeError, match="odeint_adjoint"):
        ys.sum().backward()
    y0 = Y0.clone().requires_grad_(True)
    ys = nodelib.odeint(lambda t, y: -y, y0, t, method="scipy_solver")
    with pytest.raises(RuntimeError, match="cannot be differentiated by backpropagation"):
        ys.sum().backward()
    with torch.no_grad():  # no graph, no barrier
        ys = nodelib.odeint(lambda t, y: theta * y, y0, t, method="scipy_solver")
    assert not ys.requires_grad


@pytest.mark.parametrize("solver", ["LSODA", "RK45", "Radau"])
def test_adjoint_gradients_match_closed_form(solver):
    """y' = theta y: dL/dy0, dL/dtheta and dL/dt of L = <w, y(t_1)> + <u, y(t_2)> exactly."""
    theta = torch.tensor(-0.7, dtype=F64, requires_grad=True)
    y0 = torch.tensor([1.0, -2.0], dtype=F64, requires_grad=True)
    t = torch.tensor([0.0, 0.5, 1.2], dtype=F64, requires_grad=True)
    w, u = torch.tensor([0.3, 1.0], dtype=F64), torch.tensor([-1.0, 0.5], dtype=F64)
    ys = nodelib.odeint_adjoint(
        lambda t, y: theta * y,
        y0,
        t,
        method="scipy_solver",
        options={"solver": solver},
        rtol=1e-10,
        atol=1e-12,
        adjoint_params=(theta,),
    )
    (ys[1] @ w + ys[2] @ u).backward()
    th, (t1, t2) = -0.7, (0.5, 1.2)
    e1, e2 = math.exp(th * t1), math.exp(th * t2)
    y0d = y0.detach()
    assert torch.allclose(y0.grad, w * e1 + u * e2, rtol=1e-6)
    expected_theta = float(y0d @ w) * t1 * e1 + float(y0d @ u) * t2 * e2
    assert float(theta.grad) == pytest.approx(expected_theta, rel=1e-6)
    expected_t = [-th * (float(y0d @ w) * e1 + float(y0d @ u) * e2), th * float(y0d @ w) * e1]
    expected_t.append(th * float(y0d @ u) * e2)
    assert torch.allclose(t.grad, torch.tensor(expected_t, dtype=F64), rtol=1e-6)


def test_options_and_errors():
    t = torch.linspace(0.0, 1.0, 3, dtype=F64)
    with pytest.raises(ValueError, match="options\\['solver'\\] must be one of"):
        nodelib.odeint(forced, Y0, t, method="scipy_solver", options={"solver": "rk4"})
    with pytest.raises(ValueError, match="LSODA solver only"):
        options = {"solver": "RK45", "min_step": 1e-3}
        nodelib.odeint(forced, Y0, t, method="scipy_solver", options=options)
    with pytest.raises(ValueError, match="not used by 'scipy_solver'"):
        nodelib.odeint(forced, Y0, t, method="scipy_solver", options={"step_size": 0.1})
    with pytest.raises(MaxStepsError, match="max_num_steps=5"):
        nodelib.odeint(forced, Y0, t, method="scipy_solver", options={"max_num_steps": 5})
    # max_step bounds SciPy's steps: at least 1 / 0.01 of them.
    sol = nodelib.solve(
        forced, Y0, t, method="scipy_solver", options={"solver": "RK45", "max_step": 0.01}
    )
    assert sol.stats["n_steps"] >= 100
    # y' = y^2, y(0) = 1 blows up at t = 1: SciPy's failure is reported with its reason.
    with pytest.raises(StepSizeError, match="SciPy says"):
        nodelib.odeint(
            lambda t, y: y**2,
            torch.tensor([1.0], dtype=F64),
            torch.tensor([0.0, 2.0], dtype=F64),
            method="scipy_solver",
            options={"solver": "RK45"},
        )


def test_a_scipy_odesolver_subclass_is_accepted():
    from scipy.integrate import RK45

    t = torch.linspace(0.0, 1.0, 3, dtype=F64)
    ys = nodelib.odeint(forced, Y0, t, method="scipy_solver", options={"solver": RK45})
    ref = nodelib.odeint(forced, Y0, t, method="scipy_solver", options={"solver": "RK45"})
    assert torch.equal(ys, ref)
    assert "scipy_solver" in nodelib.METHODS


@pytest.mark.gpu
def test_cuda_state_comes_back_on_cuda():
    y0 = Y0.float().cuda()
    a = A.float().cuda()
    t = torch.linspace(0.0, 1.0, 3, device="cuda")
    ys = nodelib.odeint(lambda t, y: a @ y + torch.sin(t), y0, t, method="scipy_solver")
    ref = nodelib.odeint(forced, Y0, t.double().cpu(), method="scipy_solver")
    assert ys.device.type == "cuda" and ys.dtype == torch.float32
    assert torch.allclose(ys.cpu().double(), ref, atol=1e-5)
