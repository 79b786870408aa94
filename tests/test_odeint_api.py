"""The odeint/solve API: bad input, shapes, dtypes, tuple states, time direction, dense output,
statistics, gradients and devices (the torchdiffeq calling convention, .dev/SPEC.md)."""

from __future__ import annotations

import math
import re

import pytest
import torch
from conftest import PROBLEMS, CallCounter, max_error

from nodelib.errors import MaxStepsError, NodelibError, StepSizeError
from nodelib.odeint import odeint, solve

F64 = torch.float64


def _says(exc: pytest.ExceptionInfo, *patterns: str) -> None:
    """Assert that the exception's message matches every pattern (case-insensitive)."""
    msg = str(exc.value)
    for pat in patterns:
        assert re.search(pat, msg, re.IGNORECASE), f"{pat!r} not in message: {msg!r}"


def _decay(t, y):
    return -y


def _t(*values, dtype=F64):
    return torch.tensor(values, dtype=dtype)


# ---------------------------------------------------------------------------------------------
# Bad input: each raises a clear exception that names the argument


@pytest.mark.parametrize(
    "t",
    [torch.zeros(2, 3, dtype=F64), torch.tensor(1.0, dtype=F64)],
    ids=["2-D", "0-D"],
)
def test_t_must_be_one_dimensional(t):
    with pytest.raises(ValueError) as exc:
        odeint(_decay, torch.ones(2, dtype=F64), t)
    _says(exc, r"\bt\b", r"one-dimensional|1-d\b|1d\b|dimension")


@pytest.mark.parametrize("values", [(0.0, 1.0, 1.0, 2.0), (0.0, 2.0, 1.0), (2.0, 1.0, 1.5)])
def test_t_must_be_strictly_monotonic(values):
    with pytest.raises(ValueError) as exc:
        odeint(_decay, torch.ones(2, dtype=F64), _t(*values))
    _says(exc, r"\bt\b", r"monoton|increasing")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_y0_must_be_finite(bad):
    with pytest.raises(ValueError) as exc:
        odeint(_decay, torch.tensor([1.0, bad], dtype=F64), _t(0.0, 1.0))
    _says(exc, r"y0", r"nan|inf|finite")


def test_tuple_y0_must_be_finite():
    y0 = (torch.ones(2, dtype=F64), torch.tensor([math.nan], dtype=F64))
    with pytest.raises(ValueError) as exc:
        odeint(lambda t, y: (-y[0], -y[1]), y0, _t(0.0, 1.0))
    _says(exc, r"y0", r"nan|inf|finite")


def test_y0_must_be_a_tensor():
    with pytest.raises(TypeError) as exc:
        odeint(_decay, [1.0, 2.0, "x"], _t(0.0, 1.0))
    _says(exc, r"y0")


def test_unknown_method_lists_the_known_ones():
    with pytest.raises(ValueError) as exc:
        odeint(_decay, torch.ones(2, dtype=F64), _t(0.0, 1.0), method="dopri6")
    _says(
        exc, r"method", r"dopri6", r"dopri5", r"rk4", r"bdf2", r"backward_euler", r"adams_bashforth"
    )


@pytest.mark.parametrize("name", ["rtol", "atol"])
def test_negative_tolerance(name):
    with pytest.raises(ValueError) as exc:
        odeint(_decay, torch.ones(2, dtype=F64), _t(0.0, 1.0), **{name: -1e-6})
    _says(exc, rf"\b{name}\b")


def test_non_positive_step_size():
    with pytest.raises(ValueError) as exc:
        odeint(
            _decay, torch.ones(2, dtype=F64), _t(0.0, 1.0), method="rk4", options={"step_size": 0.0}
        )
    _says(exc, r"step_size")


def test_unknown_option_is_refused():
    # a typo such as "stepsize" must not be ignored silently
    with pytest.raises(ValueError) as exc:
        odeint(
            _decay, torch.ones(2, dtype=F64), _t(0.0, 1.0), method="rk4", options={"stepsize": 0.1}
        )
    _says(exc, r"stepsize", r"step_size")


def test_func_must_be_callable():
    with pytest.raises(TypeError) as exc:
        odeint(torch.ones(2), torch.ones(2, dtype=F64), _t(0.0, 1.0))
    _says(exc, r"func")


@pytest.mark.parametrize("method", ["dopri5", "rk4", "bdf2", "backward_euler"])
def test_func_returning_wrong_shape(method, deadline):
    with pytest.raises((ValueError, TypeError)) as exc:
        odeint(
            lambda t, y: torch.zeros(3, dtype=F64),
            torch.ones(2, dtype=F64),
            _t(0.0, 1.0),
            method=method,
            options=_opts(method),
        )
    _says(exc, r"func", r"shape")


@pytest.mark.parametrize("method", ["dopri5", "rk4", "bdf2", "backward_euler"])
def test_func_returning_wrong_dtype(method, deadline):
    with pytest.raises((ValueError, TypeError)) as exc:
        odeint(
            lambda t, y: -y.float(),
            torch.ones(2, dtype=F64),
            _t(0.0, 1.0),
            method=method,
            options=_opts(method),
        )
    _says(exc, r"func", r"dtype|float32")


def test_func_returning_a_non_tensor(deadline):
    with pytest.raises(TypeError) as exc:
        odeint(lambda t, y: [0.0, 0.0], torch.ones(2, dtype=F64), _t(0.0, 1.0))
    _says(exc, r"func", r"tensor")


def test_tuple_func_returning_wrong_structure(deadline):
    y0 = (torch.ones(2, dtype=F64), torch.ones(3, dtype=F64))
    with pytest.raises((ValueError, TypeError)) as exc:
        odeint(lambda t, y: -y[0], y0, _t(0.0, 1.0))
    _says(exc, r"func", r"tuple")


def _opts(method: str, h: float = 0.1) -> dict:
    return {} if method in ("dopri5", "tsit5") else {"step_size": h}


def _numbers(msg: str) -> list[float]:
    return [float(s) for s in re.findall(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?", msg)]


def test_step_size_underflow_at_a_blow_up(deadline):
    # y' = y^2, y(0) = 1 has y = 1 / (1 - t), which blows up at t = 1.
    with pytest.raises(StepSizeError) as exc:
        odeint(lambda t, y: y**2, torch.tensor([1.0], dtype=F64), _t(0.0, 2.0))
    _says(exc, r"\bt\s*=")
    assert any(0.9 <= x <= 1.01 for x in _numbers(str(exc.value))), str(exc.value)


def test_min_step_is_honoured(deadline):
    with pytest.raises(StepSizeError) as exc:
        odeint(
            lambda t, y: y**2,
            torch.tensor([1.0], dtype=F64),
            _t(0.0, 2.0),
            options={"min_step": 1e-3},
        )
    assert any(0.5 <= x < 1.0 for x in _numbers(str(exc.value))), str(exc.value)


@pytest.mark.parametrize("method", ["dopri5", "rk4", "bdf2"])
def test_max_num_steps_exceeded(method, deadline):
    osc = PROBLEMS["oscillator"]()
    with pytest.raises(MaxStepsError) as exc:
        odeint(
            osc.func,
            osc.y0,
            _t(0.0, 100.0),
            method=method,
            options={**_opts(method), "max_num_steps": 10},
        )
    _says(exc, r"max_num_steps")


def test_stiff_problem_suggests_an_implicit_method(deadline):
    # y' = -1e6 (y - cos t): an explicit method is held to h ~ 3e-6 by stability alone.
    def func(t, y):
        return -1e6 * (y - torch.cos(t))

    with pytest.raises(MaxStepsError) as exc:
        odeint(
            func,
            torch.tensor([1.0], dtype=F64),
            _t(0.0, 10.0),
            method="dopri5",
            options={"max_num_steps": 2000},
        )
    _says(exc, r"max_num_steps", r"stiff", r"implicit|bdf|backward_euler")


def test_non_stiff_failure_does_not_claim_stiffness(deadline):
    osc = PROBLEMS["oscillator"]()
    with pytest.raises(MaxStepsError) as exc:
        odeint(osc.func, osc.y0, _t(0.0, 100.0), options={"max_num_steps": 10})
    assert "stiff" not in str(exc.value).lower()


@pytest.mark.parametrize("method", ["dopri5", "tsit5", "rk4", "bdf2", "backward_euler"])
def test_func_returning_nan_later_raises(method, deadline):
    def func(t, y):
        return torch.where(t > 0.5, torch.full_like(y, math.nan), -y)

    with pytest.raises((NodelibError, ValueError)) as exc:
        odeint(func, torch.ones(2, dtype=F64), _t(0.0, 1.0), method=method, options=_opts(method))
    _says(exc, r"nan|finite|inf")


@pytest.mark.parametrize("method", ["dopri5", "rk4"])
def test_func_returning_nan_at_once_raises(method, deadline):
    # NaN from the very first evaluation is no reason to try 100000 steps: detect it at once.
    deadline(5.0)
    with pytest.raises((NodelibError, ValueError)) as exc:
        odeint(
            lambda t, y: y * math.nan,
            torch.ones(2, dtype=F64),
            _t(0.0, 1.0),
            method=method,
            options=_opts(method),
        )
    _says(exc, r"nan|finite|inf")


# ---------------------------------------------------------------------------------------------
# Shapes, dtypes, tuple states, time direction


SHAPE_METHODS = ["dopri5", "rk4", "bdf2", "trapezoid", "adams_moulton3"]


@pytest.mark.parametrize("method", SHAPE_METHODS)
@pytest.mark.parametrize("shape", [(4, 3), (3,), ()], ids=["batch-dim", "dim", "scalar"])
def test_output_shape_and_values(method, shape):
    rates = torch.linspace(0.5, 1.5, math.prod(shape) or 1, dtype=F64).reshape(shape)
    y0 = torch.linspace(-1.0, 2.0, math.prod(shape) or 1, dtype=F64).reshape(shape)
    t = torch.linspace(0.0, 1.0, 11, dtype=F64)
    ys = odeint(lambda t, y: -rates * y, y0, t, method=method, options=_opts(method, 0.02))
    assert ys.shape == (len(t), *shape)
    exact = y0 * torch.exp(-rates * t.reshape(-1, *([1] * len(shape))))
    assert max_error(ys, exact) < 1e-3
    assert torch.equal(ys[0], y0)


@pytest.mark.parametrize("method", ["dopri5", "rk4", "bdf3"])
def test_tuple_state(method):
    # (x, v) of the oscillator as a tuple of differently shaped tensors: x (2, 1), v (2,).
    w = 2.0
    x0 = torch.tensor([[1.0], [0.0]], dtype=F64)
    v0 = torch.tensor([0.5, 1.0], dtype=F64)

    def func(t, state):
        x, v = state
        return v.reshape(2, 1), -(w**2) * x.reshape(2)

    t = torch.linspace(0.0, 2.0, 21, dtype=F64)
    opts = {} if method == "dopri5" else {"step_size": 0.01}
    out = odeint(func, (x0, v0), t, method=method, options=opts)
    assert isinstance(out, tuple) and len(out) == 2
    xs, vs = out
    assert xs.shape == (21, 2, 1) and vs.shape == (21, 2)
    c, s = torch.cos(w * t)[:, None], torch.sin(w * t)[:, None]
    x_exact = c * x0[:, 0] + s / w * v0
    v_exact = -w * s * x0[:, 0] + c * v0
    bound = 1e-4 if method == "bdf3" else 1e-6  # bdf3: ~9 h^3 on this problem
    assert max_error(xs[..., 0], x_exact) < bound
    assert max_error(vs, v_exact) < bound


@pytest.mark.parametrize("method", ["dopri5", "rk4", "bdf2", "backward_euler", "adams_bashforth3"])
def test_decreasing_t_integrates_backwards(method):
    # y' = -2 y + cos(3t) from y(1) back to t = 0, against the closed form.
    p = PROBLEMS["forced"]()
    t = torch.linspace(1.0, 0.0, 21, dtype=F64)
    y1 = p.exact(t[:1])[0]
    # Backwards in time this problem is unstable (errors grow like exp(2 (1 - t))), so the
    # bounds allow for ~10 times the forward error.
    ys = odeint(p.func, y1, t, rtol=1e-10, atol=1e-10, method=method, options=_opts(method, 0.005))
    assert ys.shape == (21,)
    tol = {"dopri5": 1e-7, "rk4": 1e-8, "bdf2": 1e-4, "adams_bashforth3": 1e-5}.get(method, 5e-3)
    assert max_error(ys, p.exact(t)) < tol


@pytest.mark.parametrize("method", ["dopri5", "rk4", "bdf2"])
def test_decreasing_t_sees_decreasing_times(method):
    # func must be called with times inside [t1, t0] of a backward solve, not negated ones.
    seen = []

    def func(t, y):
        seen.append(float(t))
        return -y

    odeint(func, torch.ones(1, dtype=F64), _t(3.0, 2.0), method=method, options=_opts(method))
    assert seen and all(2.0 - 1e-9 <= s <= 3.0 + 1e-9 for s in seen), seen[:5]


@pytest.mark.parametrize("method", ["dopri5", "rk4", "bdf2", "trapezoid"])
def test_dtype_is_kept(method):
    y0 = torch.tensor([1.0, 2.0], dtype=F64)
    t = torch.linspace(0.0, 1.0, 5, dtype=F64)
    opts = _opts(method, 0.02)
    ys64 = odeint(lambda t, y: -y, y0, t, rtol=1e-6, atol=1e-6, method=method, options=opts)
    ys32 = odeint(
        lambda t, y: -y, y0.float(), t.float(), rtol=1e-6, atol=1e-6, method=method, options=opts
    )
    assert ys64.dtype == F64 and ys32.dtype == torch.float32
    # float32 follows the float64 solution up to float32 round-off accumulated over the steps
    assert max_error(ys32.double(), ys64) < 1e-5
    assert max_error(ys64, y0 * torch.exp(-t)[:, None]) < 1e-3


def test_float32_state_with_float64_times():
    # torchdiffeq's convention: the state's dtype decides the output's
    ys = odeint(lambda t, y: -y, torch.ones(2), torch.linspace(0, 1, 5, dtype=F64))
    assert ys.dtype == torch.float32


def test_single_output_time_returns_y0():
    y0 = torch.tensor([1.0, 2.0], dtype=F64)
    ys = odeint(_decay, y0, _t(0.5))
    assert ys.shape == (1, 2) and torch.equal(ys[0], y0)


def test_fixed_step_default_grid_is_t():
    # without step_size a fixed-step method steps from output time to output time
    counter = CallCounter(lambda t, y: -y)
    t = torch.linspace(0.0, 1.0, 11, dtype=F64)
    sol = solve(counter, torch.ones(1, dtype=F64), t, method="rk4")
    assert sol.stats["n_steps"] == 10
    assert abs(float(sol.ys[-1, 0]) - math.exp(-1)) < 1e-6


# ---------------------------------------------------------------------------------------------
# solve(): statistics and dense output


@pytest.mark.parametrize("method", ["dopri5", "bosh3", "dopri8", "rk4", "bdf3", "trapezoid"])
def test_stats_are_consistent(method):
    osc = PROBLEMS["oscillator"]()
    counter = CallCounter(osc.func)
    opts = {} if method in ("dopri5", "bosh3", "dopri8") else {"step_size": 0.02}
    sol = solve(counter, osc.y0, osc.grid(4), rtol=1e-6, atol=1e-8, method=method, options=opts)
    st = sol.stats
    assert set(st) >= {"nfe", "n_steps", "n_accepted", "n_rejected"}
    assert st["n_steps"] == st["n_accepted"] + st["n_rejected"]
    assert st["nfe"] == counter.calls
    assert st["n_accepted"] >= 1
    if method == "rk4":  # 100 steps of 4 stages; f at the start may be reused, never more
        assert st["n_steps"] == 100 and st["n_rejected"] == 0
        assert 400 <= st["nfe"] <= 402
    torch.testing.assert_close(
        sol.ys,
        odeint(osc.func, osc.y0, osc.grid(4), rtol=1e-6, atol=1e-8, method=method, options=opts),
    )


def test_rejections_are_counted():
    # a first step far too large must be rejected (and counted) before the solve proceeds
    osc = PROBLEMS["oscillator"]()
    sol = solve(osc.func, osc.y0, osc.grid(1), options={"first_step": 1.5})
    assert sol.stats["n_rejected"] >= 1
    assert sol.stats["n_steps"] == sol.stats["n_accepted"] + sol.stats["n_rejected"]


def test_dense_output_does_not_shorten_steps():
    osc = PROBLEMS["oscillator"]()
    few = solve(osc.func, osc.y0, torch.tensor([0.0, 10.0], dtype=F64))
    many = solve(osc.func, osc.y0, torch.linspace(0.0, 10.0, 1000, dtype=F64))
    assert many.stats["n_steps"] == few.stats["n_steps"]
    assert many.stats["nfe"] == few.stats["nfe"]
    torch.testing.assert_close(many.ys[-1], few.ys[-1], rtol=0, atol=1e-13)
    assert many.stats["n_steps"] < 500  # the 999 intervals were not stepped through


@pytest.mark.parametrize(
    "method,tol,bound",
    # Bound on the dense output's error between grid points. dopri5/tsit5 have continuous
    # extensions of order 4 (interpolation error ~ h^5, the size of the local error estimate);
    # the others interpolate. Linear interpolation would miss these bounds by orders of magnitude.
    [
        ("dopri5", 1e-8, 1e-7),
        ("tsit5", 1e-8, 1e-7),
        ("bosh3", 1e-8, 1e-6),
        ("fehlberg45", 1e-8, 1e-6),
        ("dopri8", 1e-8, 1e-6),
        ("rk4", None, 1e-7),
        ("bdf2", None, 1e-7),
    ],
)
def test_evaluate_between_grid_points(method, tol, bound):
    osc = PROBLEMS["oscillator"]()
    t = osc.grid(2)
    kw = {"rtol": tol, "atol": tol} if tol else {"options": {"step_size": 0.02}}
    sol = solve(osc.func, osc.y0, t, method=method, **kw)
    tq = torch.linspace(0.0, 2.0, 201, dtype=F64)[1:-1] + 1e-3  # off any step grid
    dense = sol.evaluate(tq)
    assert dense.shape == (len(tq), 2)
    err = max_error(dense, osc.exact(tq))
    if tol is None:
        # a fixed step's dense output is about as good as the method at its nodes, plus O(h^4)
        grid = torch.linspace(0.0, 2.0, 101, dtype=F64)
        nodes = max_error(odeint(osc.func, osc.y0, grid, method=method, **kw), osc.exact(grid))
        bound += 1.5 * nodes
    assert err < bound, f"{method}: dense output error {err:.2e}"
    # at the output times, evaluate reproduces ys
    torch.testing.assert_close(sol.evaluate(t), sol.ys, rtol=0, atol=1e-12)
    assert sol.evaluate(torch.tensor(0.7, dtype=F64)).shape == (2,)


@pytest.mark.parametrize("method,power", [("rk4", 3), ("rk38", 3), ("midpoint", 2)])
def test_fixed_step_dense_output_is_exact_for_polynomials(method, power):
    # y' = p t^(p-1) has y = t^p. These methods integrate it exactly at the nodes, and the
    # dense output (cubic Hermite) reproduces a polynomial of degree <= 3 exactly, whereas
    # linear interpolation would be off by ~h^2/8 |y''| ~ 1e-3.
    t = torch.linspace(0.0, 1.0, 3, dtype=F64)
    sol = solve(
        lambda t, y: power * t ** (power - 1) * torch.ones_like(y),
        torch.zeros(1, dtype=F64),
        t,
        method=method,
        options={"step_size": 0.1},
    )
    tq = torch.linspace(0.013, 0.987, 37, dtype=F64)
    assert max_error(sol.evaluate(tq)[:, 0], tq**power) < 1e-12


def test_evaluate_backwards_and_out_of_range():
    p = PROBLEMS["forced"]()
    t = torch.tensor([1.0, 0.0], dtype=F64)
    sol = solve(p.func, p.exact(t[:1])[0], t, rtol=1e-9, atol=1e-9)
    tq = torch.linspace(0.05, 0.95, 19, dtype=F64)
    assert max_error(sol.evaluate(tq), p.exact(tq)) < 1e-6
    with pytest.raises(ValueError):
        sol.evaluate(torch.tensor(1.5, dtype=F64))


# ---------------------------------------------------------------------------------------------
# Gradients by ordinary autograd


def test_gradient_of_adaptive_solve_matches_closed_form_and_finite_differences():
    a = torch.tensor(-0.7, dtype=F64, requires_grad=True)
    y0 = torch.tensor(1.3, dtype=F64, requires_grad=True)
    T = 1.5
    t = _t(0.0, T)

    def final(a_, y0_):
        return odeint(lambda t, y: a_ * y, y0_, t, rtol=1e-11, atol=1e-12)[-1]

    yT = final(a, y0)
    da, dy0 = torch.autograd.grad(yT, (a, y0))
    assert abs(float(dy0) - math.exp(-0.7 * T)) < 1e-8
    assert abs(float(da) - T * 1.3 * math.exp(-0.7 * T)) < 1e-8
    eps = 1e-6
    with torch.no_grad():
        fd = (final(a + eps, y0) - final(a - eps, y0)) / (2 * eps)
    assert abs(float(da) - float(fd)) < 1e-6


@pytest.mark.parametrize(
    "method,R",
    # the stability function R(z) of each method: y_N = R(a h)^N y0 exactly for y' = a y
    [
        ("rk4", lambda z: 1 + z + z**2 / 2 + z**3 / 6 + z**4 / 24),
        ("backward_euler", lambda z: 1 / (1 - z)),
        ("trapezoid", lambda z: (1 + z / 2) / (1 - z / 2)),
    ],
)
def test_gradient_of_fixed_step_solve_is_exact_for_the_scheme(method, R):
    h, N = 0.1, 10
    a = torch.tensor(-0.8, dtype=F64, requires_grad=True)
    y0 = torch.tensor([1.3], dtype=F64, requires_grad=True)
    yT = odeint(lambda t, y: a * y, y0, _t(0.0, h * N), method=method, options={"step_size": h})[
        -1, 0
    ]
    dy0, da = torch.autograd.grad(yT, (y0, a))
    a_ = torch.tensor(-0.8, dtype=F64, requires_grad=True)
    expected = y0.detach()[0] * R(a_ * h) ** N
    (dexp_da,) = torch.autograd.grad(expected, a_)
    assert abs(float(yT.detach()) - float(expected.detach())) < 1e-9
    assert abs(float(dy0[0]) - float(R(torch.tensor(-0.8 * h, dtype=F64)) ** N)) < 1e-9
    assert abs(float(da) - float(dexp_da)) < 1e-9


def test_gradient_through_module_parameters_matches_matrix_exponential():
    torch.manual_seed(0)
    lin = torch.nn.Linear(3, 3, bias=False).double()
    y0 = torch.randn(3, dtype=F64)
    T = 1.0
    loss = odeint(lambda t, y: lin(y), y0, _t(0.0, T), rtol=1e-10, atol=1e-12)[-1].square().sum()
    (g,) = torch.autograd.grad(loss, lin.weight)
    W = lin.weight.detach().clone().requires_grad_(True)
    exact = (torch.linalg.matrix_exp(W * T) @ y0).square().sum()
    (g_exact,) = torch.autograd.grad(exact, W)
    torch.testing.assert_close(g, g_exact, rtol=1e-6, atol=1e-8)


def test_tuple_state_gradients():
    a = torch.tensor(0.3, dtype=F64, requires_grad=True)
    y0 = (torch.tensor([1.0], dtype=F64), torch.tensor([2.0, 3.0], dtype=F64))
    out = odeint(lambda t, y: (a * y[0], -a * y[1]), y0, _t(0.0, 1.0), rtol=1e-10, atol=1e-12)
    (da,) = torch.autograd.grad(out[0][-1].sum() + out[1][-1].sum(), a)
    expected = math.exp(0.3) - 5.0 * math.exp(-0.3)
    assert abs(float(da) - expected) < 1e-7


# ---------------------------------------------------------------------------------------------
# CUDA


@pytest.mark.gpu
@pytest.mark.parametrize("method", ["dopri5", "rk4", "bdf2"])
def test_cuda_matches_cpu(method):
    osc = PROBLEMS["oscillator"]()
    t = osc.grid(10)
    cpu = solve(osc.func, osc.y0, t, method=method, options=_opts(method))
    gpu = solve(osc.func, osc.y0.cuda(), t.cuda(), method=method, options=_opts(method))
    assert gpu.ys.device.type == "cuda"
    torch.testing.assert_close(gpu.ys.cpu(), cpu.ys, rtol=1e-10, atol=1e-12)
    assert gpu.stats == cpu.stats


@pytest.mark.gpu
def test_cuda_float32_and_gradients():
    a = torch.tensor(-0.5, device="cuda", requires_grad=True)
    ys = odeint(
        lambda t, y: a * y,
        torch.ones(4, device="cuda"),
        torch.linspace(0, 1, 3, device="cuda"),
        rtol=1e-6,
        atol=1e-8,
    )
    assert ys.dtype == torch.float32 and ys.device.type == "cuda"
    (da,) = torch.autograd.grad(ys[-1].sum(), a)
    assert abs(float(da) - 4 * math.exp(-0.5)) < 1e-4


@pytest.mark.gpu
def test_mixed_devices_y0_cuda_t_cpu():
    # Either the times are moved to y0's device (and the answer is right) or a clear error.
    y0 = torch.ones(2, dtype=F64, device="cuda")
    t = torch.linspace(0, 1, 3, dtype=F64)
    try:
        ys = odeint(_decay, y0, t)
    except (ValueError, TypeError) as err:
        assert re.search(r"device", str(err), re.IGNORECASE), str(err)
        assert re.search(r"\bt\b", str(err)), str(err)
        return
    assert ys.device.type == "cuda"
    torch.testing.assert_close(ys[-1].cpu(), torch.full((2,), math.exp(-1), dtype=F64))


@pytest.mark.gpu
def test_func_returning_another_device():
    y0 = torch.ones(2, dtype=F64, device="cuda")
    with pytest.raises((ValueError, TypeError)) as exc:
        odeint(lambda t, y: -y.cpu(), y0, torch.linspace(0, 1, 3, dtype=F64, device="cuda"))
    _says(exc, r"func", r"device|cuda|cpu")


def test_t_requiring_grad_with_an_implicit_method_is_refused_with_a_pointer():
    # Time gradients need the explicit Runge–Kutta path (tests/test_time_gradients.py). A t
    # that merely requires grad is solved (torchdiffeq's tests build such t for every
    # method); asking for its gradient raises, gradients with respect to y0 still flow.
    t = torch.linspace(0.0, 1.0, 3, dtype=torch.float64, requires_grad=True)
    y0 = torch.ones(2, dtype=torch.float64, requires_grad=True)
    ys = odeint(lambda t, y: -y, y0, t, method="bdf2")
    (g,) = torch.autograd.grad(ys[-1].sum(), y0, retain_graph=True)
    assert torch.allclose(g, ys[-1].detach())  # y(1) = y0 e^{-1} up to bdf2's error
    with pytest.raises(ValueError, match="odeint_adjoint"):
        torch.autograd.grad(ys[-1].sum(), t)
    with pytest.raises(ValueError, match="odeint_adjoint"):
        ys[-1].sum().backward()
    with torch.no_grad():  # no graph is built, so there is nothing to refuse
        odeint(lambda t, y: -y, y0, t, method="bdf2")


@pytest.mark.parametrize("method", ["euler", "rk4", "backward_euler", "bdf2", "dopri5"])
def test_a_single_output_time_returns_y0(method):
    y0 = torch.tensor([1.0, 2.0], dtype=torch.float64)
    ys = odeint(lambda t, y: -y, y0, torch.tensor([0.3], dtype=torch.float64), method=method)
    assert ys.shape == (1, 2) and torch.equal(ys[0], y0)
