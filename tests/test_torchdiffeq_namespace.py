"""`nodelib.torchdiffeq`: torchdiffeq's method names, meanings and conventions (issue 22).

Method names are checked by what the method computes on problems whose one step has a
closed form (quadrature rules for y' = g(t)); conventions by exact values. The last test
compares with torchdiffeq itself where it is installed (a development dependency).
`tests/test_torchdiffeq_core.py` checks the behaviours nodelib's core shares with it, and
`benchmarks/torchdiffeq_suite.py` runs torchdiffeq's own test suite against this namespace.
"""

from __future__ import annotations

import functools
import math
import warnings

import pytest
import torch

import nodelib
from nodelib import torchdiffeq as tdq

F64 = torch.float64


def _t(*ts: float) -> torch.Tensor:
    return torch.tensor(ts, dtype=F64)


def _one_step(odeint, method: str, g, h: float = 1.0) -> float:
    """y(h) for y' = g(t), y(0) = 0, in one step: the method's quadrature rule for g."""
    y = odeint(
        lambda t, y: g(t) * torch.ones_like(y), torch.zeros(1, dtype=F64), _t(0, h), method=method
    )
    return float(y[-1])


def test_rk4_is_the_three_eighths_rule():
    quartic = lambda t: t**4  # noqa: E731
    # Simpson's 3/8 rule gives 51/324 + 1/8 for ∫ t^4 on [0, 1]; Simpson's rule 5/24.
    assert _one_step(tdq.odeint, "rk4", quartic) == pytest.approx((3 / 81 + 48 / 81 + 1) / 8)
    assert _one_step(nodelib.odeint, "rk4", quartic) == pytest.approx((4 / 16 + 1) / 6)


def test_heun2_is_heuns_method_and_implicit_euler_backward_euler():
    assert _one_step(tdq.odeint, "heun2", lambda t: t**2) == pytest.approx(0.5)  # trapezium
    ys = tdq.odeint(lambda t, y: -y, torch.ones(1, dtype=F64), _t(0, 0.5), method="implicit_euler")
    assert float(ys[-1]) == pytest.approx(1 / 1.5)


def test_adaptive_heun_is_the_heun_euler_pair_and_none_is_dopri5():
    f, y0, t = (lambda t, y: -t * y), torch.ones(2, dtype=F64), _t(0, 0.5, 2)
    pairs = [("adaptive_heun", "heun_euler"), (None, "dopri5"), ("dopri8", "dopri8")]
    for ours, core in pairs:
        assert torch.equal(tdq.odeint(f, y0, t, method=ours), nodelib.odeint(f, y0, t, method=core))


def test_every_method_name_is_mapped_and_unknown_names_are_refused():
    for name, (core, _) in tdq.METHODS.items():
        assert core in nodelib.METHODS, (name, core)
    with pytest.raises(ValueError, match=r'Invalid method "rk5".*"dopri5"'):
        tdq.odeint(lambda t, y: -y, torch.ones(1), _t(0, 1), method="rk5")


def test_an_option_the_method_does_not_read_is_dropped_with_a_warning():
    f, y0, t = (lambda t, y: -t * y), torch.ones(1, dtype=F64), _t(0, 1)
    with pytest.warns(UserWarning, match=r"dopri5: Unexpected arguments \{'step_size': 0.1\}"):
        ys = tdq.odeint(f, y0, t, method="dopri5", options={"step_size": 0.1})
    assert torch.equal(ys, tdq.odeint(f, y0, t))  # adaptive, as torchdiffeq runs it
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fixed-step method reads no norm and says nothing
        tdq.odeint(f, y0, t, method="euler", options={"norm": lambda e: e.abs().max()})


def test_fixed_steps_interpolate_linearly_by_default():
    f, y0, t = (lambda t, y: -y), torch.ones(1, dtype=F64), _t(0, 0.25, 1)
    ys = tdq.odeint(f, y0, t, method="euler", options={"step_size": 0.5})
    assert float(ys[1]) == pytest.approx(0.75, abs=1e-15)  # halfway between 1 and 0.5
    cubic = tdq.odeint(f, y0, t, method="euler", options={"step_size": 0.5, "interp": "cubic"})
    assert float(cubic[1]) == pytest.approx(0.71875, abs=1e-15)


def test_min_step_clamps_and_accepts():
    f = lambda t, y: torch.stack([y[1], -y[0]])  # noqa: E731
    counts = []
    for min_step in (0, 2):
        n = [0]

        def counted(t, y, n=n):
            n[0] += 1
            return f(t, y)

        tdq.odeint(counted, _t(1, 0), _t(0, 8), options={"min_step": min_step})
        counts.append(n[0])
    assert counts[1] < 40 < counts[0]


def test_the_dtype_option_is_accepted_and_checked():
    f, y0, t = (lambda t, y: -t * y), torch.ones(1), torch.tensor([0.0, 1.0])
    assert torch.equal(tdq.odeint(f, y0, t, options={"dtype": torch.float32}), tdq.odeint(f, y0, t))
    with pytest.raises(TypeError, match="dtype"):
        tdq.odeint(f, y0, t, options={"dtype": "float32"})


@pytest.mark.parametrize("adjoint", [False, True])
def test_grid_constructor_sets_the_steps(adjoint):
    x0 = torch.tensor(1.0, dtype=F64, requires_grad=True)
    grid = lambda f, y0, t: torch.linspace(float(t[0]), float(t[-1]), 11, dtype=F64)  # noqa: E731
    solve = functools.partial(tdq.odeint_adjoint, adjoint_params=()) if adjoint else tdq.odeint
    xs = solve(
        lambda t, x: x, x0, _t(0, 0.55, 1), method="euler", options={"grid_constructor": grid}
    )
    assert float(xs[-1]) == pytest.approx(1.1**10, abs=1e-12)  # ten Euler steps of 0.1
    assert float(xs[1]) == pytest.approx(1.1**5 * 1.05, abs=1e-12)  # halfway in the 6th step
    xs[-1].backward()
    assert float(x0.grad) == pytest.approx(1.1**10, abs=1e-9)
    with pytest.raises(ValueError, match="mutually exclusive"):
        tdq.odeint(
            lambda t, x: x,
            x0,
            _t(0, 1),
            method="euler",
            options={"grid_constructor": grid, "step_size": 0.1},
        )


@pytest.mark.parametrize("adjoint", [False, True])
def test_odeint_with_event_fn_returns_the_event(adjoint):
    # y' = -y, y(0) = 2: y = 1 at t = ln 2; float32 state, float64 times (t's dtype comes back).
    y0 = torch.tensor([2.0], requires_grad=True)
    func = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        func.weight.fill_(-1.0)
    solve = tdq.odeint_adjoint if adjoint else tdq.odeint
    event_t, ys = solve(
        lambda t, y: func(y),
        y0,
        _t(0, 1),
        event_fn=lambda t, y: y[0] - 1.0,
        **({"adjoint_params": tuple(func.parameters())} if adjoint else {}),
    )
    assert event_t.dtype == F64 and abs(float(event_t) - math.log(2)) < 1e-5
    assert ys.shape == (2, 1) and abs(float(ys[-1]) - 1.0) < 1e-5
    (grad,) = torch.autograd.grad(event_t, y0)  # t* = ln(y0): dt*/dy0 = 1/2
    assert abs(float(grad) - 0.5) < 1e-4
    backwards, _ = solve(
        lambda t, y: -func(y),
        y0,
        _t(0, -1),
        event_fn=lambda t, y: y[0] - 1.0,
        **({"adjoint_params": tuple(func.parameters())} if adjoint else {}),
    )
    assert abs(float(backwards) + math.log(2)) < 1e-5
    with pytest.raises(ValueError, match="len"):
        solve(lambda t, y: -y, y0, _t(0, 1, 2), event_fn=lambda t, y: y[0] - 1.0)


def test_odeint_event_takes_this_modules_interfaces():
    y0 = torch.tensor([2.0], dtype=F64, requires_grad=True)
    g = lambda t, y: y[0] - 1.0  # noqa: E731
    t0 = torch.tensor(0.0, dtype=F64)
    for interface in (
        tdq.odeint,
        tdq.odeint_adjoint,
        functools.partial(tdq.odeint_adjoint, adjoint_params=()),
    ):
        kwargs = {"adjoint_params": ()} if interface is tdq.odeint_adjoint else {}
        event_t, ys = tdq.odeint_event(
            lambda t, y: -y,
            y0,
            t0,
            event_fn=g,
            odeint_interface=interface,
            method="rk4",
            options={"step_size": 0.01},
            **kwargs,
        )
        assert abs(float(event_t) - math.log(2)) < 1e-4
        (grad,) = torch.autograd.grad(ys[-1].sum() + event_t, y0)
        assert abs(float(grad) - 0.5) < 1e-3  # y(t*) = 1 whatever y0; t* = ln y0


def test_adjoint_params_without_grad_are_left_out():
    theta = torch.tensor(1.0, dtype=F64, requires_grad=True)
    frozen = torch.tensor(2.0, dtype=F64)
    y0 = torch.ones(1, dtype=F64, requires_grad=True)
    ys = tdq.odeint_adjoint(
        lambda t, y: -theta * frozen * y, y0, _t(0, 1), adjoint_params=(theta, frozen)
    )
    ys[-1].sum().backward()
    assert float(theta.grad) == pytest.approx(-2 * math.exp(-2), rel=1e-6)
    with pytest.raises(ValueError, match="does not require grad"):
        nodelib.odeint_adjoint(lambda t, y: -y, y0, _t(0, 1), adjoint_params=(frozen,))


def test_odeint_dense_is_the_dense_output():
    f, y0 = (lambda t, y: -t * y), torch.ones(2, dtype=F64)
    dense = tdq.odeint_dense(f, y0, torch.tensor(0.0, dtype=F64), torch.tensor(2.0, dtype=F64))
    ts = _t(0.3, 1.1, 2.0)
    assert torch.allclose(dense(ts), torch.exp(-(ts**2) / 2)[:, None].expand(3, 2), atol=1e-6)


def test_values_agree_with_torchdiffeq():
    reference = pytest.importorskip("torchdiffeq")
    f = lambda t, y: torch.sin(3 * t) * y - 0.1 * y**3  # noqa: E731
    y0, t = torch.tensor([1.0, -0.5], dtype=F64), _t(0, 0.37, 1.1, 2)
    for method in ("euler", "midpoint", "heun2", "rk4"):
        for options in ({"step_size": 0.1}, {"step_size": 0.1, "interp": "cubic"}, None):
            ours = tdq.odeint(f, y0, t, method=method, options=options)
            theirs = reference.odeint(f, y0, t, method=method, options=options)
            assert torch.allclose(ours, theirs, rtol=0, atol=1e-13), (method, options)
    event_t, _ = tdq.odeint(f, y0, _t(0, 1), event_fn=lambda t, y: y[0] - 0.9)
    reference_t, _ = reference.odeint(f, y0, _t(0, 1), event_fn=lambda t, y: y[0] - 0.9)
    assert abs(float(event_t - reference_t)) < 1e-6
