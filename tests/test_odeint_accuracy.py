"""Accuracy of every odeint method against closed-form solutions and against SciPy.

What is checked, all in float64:
- every method solves the four closed-form problems of conftest.PROBLEMS (exponential decay,
  a linear system against the matrix exponential, a forced scalar problem, the harmonic
  oscillator) to the accuracy its order promises;
- the fitted log-log slope of the global error of each fixed-step method is its order ±0.2
  (Süli & Mayers ch. 12; HNW I §II.3);
- adaptive methods meet the requested tolerance (see `GLOBAL_FACTOR`) and their error
  falls as the tolerance is tightened;
- implicit and BDF methods stay accurate on a stiff problem where explicit ones blow up;
- agreement with ``scipy.integrate.solve_ivp``, and dopri5 spends no more function
  evaluations than SciPy's RK45 at the same tolerances (+10%).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from conftest import ADAPTIVE, FIXED, PROBLEMS, MethodSpec, Problem, max_error, scaled_error
from scipy.integrate import solve_ivp

from nodelib.odeint import odeint, solve

# Local error control bounds the error committed in each step, not the global error: the
# local errors add up over the steps and are amplified (or damped) by the flow, so the global
# error is "about tol" only up to a problem-dependent factor (HNW I §II.4 and Fig. 4.2 there).
# On these short (t <= 2), non-stiff problems a factor of 10 is generous for methods that
# propagate the higher-order solution and still catches a controller that ignores rtol/atol
# (or applies them to the wrong quantity), which misses by orders of magnitude.
GLOBAL_FACTOR = 10.0

# Tolerances of the adaptive tolerance test. The order-2 pair needs ~tol^(-1/2) steps, so its
# range stops at 1e-6 to keep the suite fast; the others run the full range 1e-3 .. 1e-8.
TOLERANCES = {
    "heun_euler": [1e-3, 1e-4, 1e-5, 1e-6],
    "default": [1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8],
}

# Numbers of steps per unit time of the convergence test, by order: large enough to be in the
# asymptotic regime (the 3- and 4-step methods need smaller h for that than the one-step ones),
# small enough that round-off (~1e-15 per step) stays far below the error (rk4 at h = 1/128
# still has errors ~1e-10).
STEPS_PER_UNIT = {
    1: [10, 20, 40, 80],
    2: [10, 20, 40, 80],
    3: [16, 32, 64, 128],
    4: [16, 32, 64, 128],
}


def _fixed_options(spec: MethodSpec, h: float) -> dict:
    return {"step_size": h, **spec.options}


def _solve_fixed_on_grid(spec: MethodSpec, problem: Problem, per_unit: int) -> float:
    """Global max error of a fixed-step solve whose output times are the step grid."""
    n = round(per_unit * (problem.t1 - problem.t0))
    t = problem.grid(n)
    h = (problem.t1 - problem.t0) / n
    ys = odeint(problem.func, problem.y0, t, method=spec.method, options=_fixed_options(spec, h))
    assert ys.shape == (len(t), *problem.y0.shape)
    return max_error(ys, problem.exact(t))


# ---------------------------------------------------------------------------------------------
# Every method on every closed-form problem


# Error constants of the closed-form problems for the fixed-step test: the leading global error
# term is about C_p |lambda|^(p+1) T h^p, with C_p up to ~0.4 for the k-step Adams/BDF methods
# (Hairer, Nørsett & Wanner I, Table III.1.1 and III.1.2); the oscillator (|lambda| = 2, T = 2)
# and the linear system (|lambda| ~ 2) need a larger constant than the slow decay. The observed
# constants are at least 2.5 times below these; a method of one order too low exceeds them by
# ~1/h = 50 times.
FIXED_ERROR_CONSTANT = {"decay": 5.0, "linear": 20.0, "forced": 20.0, "oscillator": 100.0}


@pytest.mark.parametrize("spec", FIXED, ids=[s.id for s in FIXED])
def test_fixed_step_methods_solve_closed_form_problems(spec: MethodSpec, problem: Problem):
    h = 0.02
    err = _solve_fixed_on_grid(spec, problem, round(1 / h))
    bound = FIXED_ERROR_CONSTANT[problem.name] * h**spec.order
    assert err < bound, f"{spec.id} on {problem.name}: error {err:.3e} >= {bound:.1e}"


@pytest.mark.parametrize("spec", ADAPTIVE, ids=[s.id for s in ADAPTIVE])
def test_adaptive_methods_solve_closed_form_problems(spec: MethodSpec, problem: Problem):
    # Output only at the ends, so that this checks the steps themselves (no interpolation);
    # test_adaptive_methods_meet_tolerance checks output times inside steps.
    tol = 1e-6 if spec.method == "heun_euler" else 1e-8
    t = torch.tensor([problem.t0, problem.t1], dtype=torch.float64)
    ys = odeint(problem.func, problem.y0, t, rtol=tol, atol=tol, method=spec.method)
    assert ys.shape == (len(t), *problem.y0.shape)
    assert ys.dtype == torch.float64
    err = scaled_error(ys, problem.exact(t), tol, tol)
    assert err <= GLOBAL_FACTOR, f"{spec.id} on {problem.name}: error {err:.2f} x tol"


# ---------------------------------------------------------------------------------------------
# Order of convergence of the fixed-step methods


@pytest.mark.parametrize("spec", FIXED, ids=[s.id for s in FIXED])
@pytest.mark.parametrize("problem_name", ["forced", "oscillator"])
def test_fixed_step_convergence_order(spec: MethodSpec, problem_name: str):
    problem = PROBLEMS[problem_name]()
    per_unit = STEPS_PER_UNIT[spec.order]
    hs = np.array([1.0 / n for n in per_unit])
    errs = np.array([_solve_fixed_on_grid(spec, problem, n) for n in per_unit])
    assert np.all(errs > 0) and np.all(np.isfinite(errs)), errs
    slope = np.polyfit(np.log(hs), np.log(errs), 1)[0]
    assert abs(slope - spec.order) <= 0.2, (
        f"{spec.id} on {problem_name}: fitted order {slope:.2f}, expected {spec.order}; "
        f"errors {errs}"
    )


# ---------------------------------------------------------------------------------------------
# Adaptive methods meet the tolerance


@pytest.mark.parametrize("spec", ADAPTIVE, ids=[s.id for s in ADAPTIVE])
def test_adaptive_methods_meet_tolerance(spec: MethodSpec, problem: Problem):
    # Eleven output times, most of them inside steps: the dense output is part of the answer
    # odeint returns, so it has to meet the tolerance too.
    tols = TOLERANCES.get(spec.method, TOLERANCES["default"])
    t = problem.grid(10)
    exact = problem.exact(t)
    errs, scaled = [], []
    for tol in tols:
        ys = odeint(problem.func, problem.y0, t, rtol=tol, atol=tol, method=spec.method)
        errs.append(max_error(ys, exact))
        scaled.append(scaled_error(ys, exact, tol, tol))
    assert max(scaled) <= GLOBAL_FACTOR, (
        f"{spec.id} on {problem.name}: global error / tol = {np.round(scaled, 2)} for tol = {tols}"
    )
    # Tightening the tolerance must pay: overall by at least 10x per two decades of tol,
    # and no step of one decade may make the error noticeably worse — unless the error is
    # already far below the tighter tolerance (high-order pairs such as dopri8 are far more
    # accurate than asked at loose tolerances, where tolerance proportionality does not hold).
    decades = np.log10(tols[0] / tols[-1])
    assert errs[-1] <= errs[0] * 10 ** (-decades / 2), (spec.id, errs)
    for (loose, tight), tight_tol in zip(itertools.pairwise(errs), tols[1:], strict=True):
        assert tight <= 2.0 * loose or tight <= 0.1 * tight_tol, (spec.id, errs)


# ---------------------------------------------------------------------------------------------
# Stiff problems: implicit and BDF methods stay stable


STIFF_SAFE = [s for s in FIXED if s.kind == "implicit" or s.method.startswith("bdf")]


@pytest.mark.parametrize("spec", STIFF_SAFE, ids=[s.id for s in STIFF_SAFE])
def test_stiff_problem_with_large_steps(spec: MethodSpec):
    # y' = -1000 (y - cos t) - sin t has the smooth solution y = cos t; with h = 0.05 the
    # stiff eigenvalue gives h*lambda = -50, far outside any explicit method's stability region.
    lam = 1000.0

    def func(t, y):
        return -lam * (y - torch.cos(t)) - torch.sin(t)

    y0 = torch.tensor([1.0], dtype=torch.float64)
    t = torch.linspace(0.0, 2.0, 41, dtype=torch.float64)
    ys = odeint(func, y0, t, method=spec.method, options=_fixed_options(spec, 0.05))
    err = max_error(ys[:, 0], torch.cos(t))
    assert err < 1e-3, f"{spec.id}: error {err:.3e} on a stiff problem"


def test_stiff_problem_defeats_explicit_rk4():
    # The counterpart of the test above: it would pass for any method, were it not able to fail.
    def func(t, y):
        return -1000.0 * (y - torch.cos(t)) - torch.sin(t)

    y0 = torch.tensor([1.0], dtype=torch.float64)
    t = torch.linspace(0.0, 2.0, 41, dtype=torch.float64)
    try:
        ys = odeint(func, y0, t, method="rk4", options={"step_size": 0.05})
    except (ValueError, RuntimeError):
        return  # refusing to return garbage is also fine
    assert not bool(torch.isfinite(ys).all()) or max_error(ys[:, 0], torch.cos(t)) > 1.0


def test_theta_method_special_cases_match_named_methods():
    # theta = 1 is backward Euler and theta = 1/2 the trapezoidal rule, step for step.
    p = PROBLEMS["forced"]()
    t = p.grid(20)
    opts = {"step_size": 0.05}
    be = odeint(p.func, p.y0, t, method="backward_euler", options=opts)
    tr = odeint(p.func, p.y0, t, method="trapezoid", options=opts)
    th1 = odeint(p.func, p.y0, t, method="theta", options={**opts, "theta": 1.0})
    th05 = odeint(p.func, p.y0, t, method="theta", options={**opts, "theta": 0.5})
    torch.testing.assert_close(th1, be, rtol=0, atol=1e-10)
    torch.testing.assert_close(th05, tr, rtol=0, atol=1e-10)
    assert max_error(be, tr) > 1e-4  # the two are different methods


# ---------------------------------------------------------------------------------------------
# SciPy


def _van_der_pol(mu: float = 1.0):
    def np_f(t, y):
        return [y[1], mu * (1 - y[0] ** 2) * y[1] - y[0]]

    def torch_f(t, y):
        return torch.stack([y[1], mu * (1 - y[0] ** 2) * y[1] - y[0]])

    return np_f, torch_f, [2.0, 0.0], (0.0, 10.0)


def _lotka_volterra():
    a, b, c, d = 1.5, 1.0, 3.0, 1.0

    def np_f(t, y):
        return [a * y[0] - b * y[0] * y[1], -c * y[1] + d * y[0] * y[1]]

    def torch_f(t, y):
        return torch.stack([a * y[0] - b * y[0] * y[1], -c * y[1] + d * y[0] * y[1]])

    return np_f, torch_f, [1.0, 1.0], (0.0, 15.0)


def _harmonic():
    def np_f(t, y):
        return [y[1], -y[0]]

    def torch_f(t, y):
        return torch.stack([y[1], -y[0]])

    return np_f, torch_f, [1.0, 0.0], (0.0, 10.0)


SCIPY_PROBLEMS = {
    "van_der_pol": _van_der_pol,
    "lotka_volterra": _lotka_volterra,
    "harmonic": _harmonic,
}


@pytest.mark.parametrize("spec", ADAPTIVE, ids=[s.id for s in ADAPTIVE])
@pytest.mark.parametrize("name", ["van_der_pol", "lotka_volterra"])
def test_agrees_with_scipy(spec: MethodSpec, name: str):
    np_f, torch_f, y0, (t0, t1) = SCIPY_PROBLEMS[name]()
    t_eval = np.linspace(t0, t1, 21)
    ref = solve_ivp(np_f, (t0, t1), y0, method="DOP853", t_eval=t_eval, rtol=1e-12, atol=1e-12)
    assert ref.success
    tol = 1e-5 if spec.method == "heun_euler" else 1e-8
    ys = odeint(
        torch_f,
        torch.tensor(y0, dtype=torch.float64),
        torch.tensor(t_eval),
        rtol=tol,
        atol=tol,
        method=spec.method,
    )
    diff = np.abs(ys.numpy() - ref.y.T).max()
    # Nonlinear problems over several time units amplify local errors more than the
    # closed-form ones; 100 tol still separates a working method from a broken one.
    assert diff < 100 * tol * (1 + np.abs(ref.y).max()), f"{spec.id}: |diff| = {diff:.2e}"


@pytest.mark.parametrize("name", list(SCIPY_PROBLEMS))
@pytest.mark.parametrize("rtol,atol", [(1e-3, 1e-6), (1e-6, 1e-9)])
def test_dopri5_needs_no_more_evaluations_than_scipy_rk45(name: str, rtol: float, atol: float):
    np_f, torch_f, y0, (t0, t1) = SCIPY_PROBLEMS[name]()
    ref = solve_ivp(np_f, (t0, t1), y0, method="RK45", rtol=rtol, atol=atol)
    assert ref.success
    sol = solve(
        torch_f,
        torch.tensor(y0, dtype=torch.float64),
        torch.tensor([t0, t1], dtype=torch.float64),
        rtol=rtol,
        atol=atol,
        method="dopri5",
    )
    assert sol.stats["nfe"] <= 1.1 * ref.nfev, (
        f"{name}, rtol={rtol}: nodelib dopri5 nfe={sol.stats['nfe']}, SciPy RK45 nfev={ref.nfev}"
    )
    # and the answers agree to the tolerance's order of magnitude
    diff = np.abs(sol.ys[-1].numpy() - ref.y[:, -1]).max()
    assert diff < 1e3 * rtol * (1 + np.abs(ref.y[:, -1]).max())
