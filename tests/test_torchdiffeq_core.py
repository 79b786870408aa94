"""torchdiffeq's behaviours that nodelib's own entry points share (issue 22, item 2).

Each test checks the mathematics of one behaviour through `nodelib.odeint`,
`odeint_adjoint` or `odeint_event`: exact solutions, the steps a callback sees, gradients
against closed forms. `tests/test_torchdiffeq_namespace.py` checks the namespace itself.
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from nodelib import odeint, odeint_adjoint, odeint_event, solve
from nodelib.errors import StepSizeError

F64 = torch.float64


def test_func_gets_t_in_the_states_dtype():
    # y' = -t y: y(1) = e^{-1/2}. A float32 field with float64 times used to fail on the dtype.
    seen = []

    def f(t, y):
        seen.append(t.dtype)
        return -y * t

    ys = odeint(f, torch.tensor(1.0), torch.tensor([0.0, 1.0], dtype=F64))
    assert ys.dtype == torch.float32 and set(seen) == {torch.float32}
    assert abs(float(ys[-1]) - math.exp(-0.5)) < 1e-6
    ys = odeint(f, torch.tensor(1.0, dtype=F64), torch.tensor([0.0, 1.0]), rtol=1e-10, atol=1e-12)
    assert seen[-1] == F64 and abs(float(ys[-1]) - math.exp(-0.5)) < 1e-9


def test_a_linear_layer_in_float32_with_float64_times():
    # torchdiffeq's examples/cnf.py --viz: t enters a float32 nn.Linear.
    layer = torch.nn.Linear(3, 2)
    ys = odeint(
        lambda t, y: layer(torch.cat([y, t.expand(1, 1)], 1)),
        torch.zeros(1, 2),
        torch.linspace(0, 1, 3, dtype=F64),
    )
    assert ys.dtype == torch.float32 and ys.shape == (3, 1, 2)


@pytest.mark.parametrize("method", ["dopri5", "bosh3", "heun_euler", "dopri8", "euler"])
def test_a_single_output_time_never_calls_func(method):
    def f(t, y):
        assert torch.isfinite(t), "func called at a non-finite time"
        return -y

    y0 = torch.tensor([1.0, 2.0], dtype=F64, requires_grad=True)
    ys = odeint(f, y0, torch.tensor([0.3], dtype=F64), method=method)
    assert torch.equal(ys[0], y0.detach())
    (g,) = torch.autograd.grad(ys.sum(), y0)
    assert torch.equal(g, torch.ones(2, dtype=F64))


def _counting_field():
    class Field(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.calls = {"step": [], "accept": [], "reject": []}
            self.callback_step = lambda t0, y0, dt: self.calls["step"].append((t0, y0, dt))
            self.callback_accept_step = lambda t0, y0, dt: self.calls["accept"].append(dt)
            self.callback_reject_step = lambda t0, y0, dt: self.calls["reject"].append(dt)

        def forward(self, t, y):
            return torch.sin(10 * t) * y

    return Field()


def test_callback_step_sees_every_fixed_step():
    f = _counting_field()
    del f.callback_accept_step, f.callback_reject_step
    grid = torch.linspace(1.0, 0.0, 11, dtype=F64)
    ys = odeint(f, torch.tensor([1.0], dtype=F64), grid, method="rk38")  # one step per interval
    steps = f.calls["step"]
    assert len(steps) == 10
    # Backwards in time: t0 runs 1.0, 0.9, ...; dt is the step's length; y0 the state there.
    assert torch.allclose(torch.stack([s[0] for s in steps]), grid[:-1], rtol=0, atol=1e-15)
    assert all(abs(float(s[2]) - 0.1) < 1e-12 for s in steps)
    assert all(torch.equal(s[1], y) for s, y in zip(steps, ys, strict=False))


def test_accept_and_reject_callbacks_count_the_adaptive_steps():
    f = _counting_field()
    sol = solve(
        f,
        torch.tensor([1.0], dtype=F64),
        torch.tensor([0.0, 3.0], dtype=F64),
        method="bosh3",
        rtol=1e-6,
        atol=1e-8,
        options={"first_step": 1.0},
    )
    calls = f.calls
    assert len(calls["accept"]) == sol.stats["n_accepted"]
    assert len(calls["reject"]) == sol.stats["n_rejected"] > 0  # the first step is too large
    assert len(calls["step"]) == sol.stats["n_steps"]
    assert float(calls["reject"][0]) == 1.0 and float(sum(calls["accept"])) == pytest.approx(3.0)


def test_accept_callbacks_on_a_fixed_step_method_warn():
    f = _counting_field()
    with pytest.warns(UserWarning, match="callback_accept_step, callback_reject_step"):
        odeint(f, torch.ones(1, dtype=F64), torch.tensor([0.0, 1.0], dtype=F64), method="euler")
    assert f.calls["accept"] == [] and len(f.calls["step"]) == 1


def test_adjoint_callbacks_see_the_backward_steps():
    f = _counting_field()
    del f.callback_accept_step, f.callback_reject_step
    back = []
    f.callback_step_adjoint = lambda t0, parts, dt: back.append((float(t0), parts))
    y0 = torch.ones(1, dtype=F64, requires_grad=True)
    ys = odeint_adjoint(
        f,
        y0,
        torch.tensor([0.0, 1.0], dtype=F64),
        method="euler",
        options={"step_size": 0.25},
        adjoint_params=(),
    )
    assert len(f.calls["step"]) == 4 and back == []
    ys[-1].sum().backward()
    assert [t for t, _ in back] == [1.0, 0.75, 0.5, 0.25]
    a_t, y, a = back[0][1]  # (a_t, y, a) at t = 1: a_t is zero without time gradients
    assert float(a_t) == 0.0 and torch.equal(y, ys[-1].detach()) and float(a) == 1.0


def test_adjoint_norm_gets_t_first():
    theta = torch.tensor([0.5, 0.2], dtype=F64, requires_grad=True)
    shapes = []

    def norm(parts):
        shapes.append(tuple(p.shape for p in parts))
        return max(p.abs().max() for p in parts)

    y0 = (torch.ones((), dtype=F64), torch.ones(2, 2, dtype=F64))
    ys = odeint_adjoint(
        lambda t, y: (-theta[0] * y[0], -theta[1] * y[1]),
        y0,
        torch.tensor([0.0, 1.0], dtype=F64),
        adjoint_params=(theta,),
        adjoint_options={"norm": norm},
    )
    (ys[0][-1] + ys[1][-1].sum()).backward()
    assert shapes[0] == ((), (), (2, 2), (), (2, 2), (2,))
    # d/dθ of e^{-θ0} + 4 e^{-θ1}
    assert torch.allclose(
        theta.grad, -torch.tensor([math.exp(-0.5), 4 * math.exp(-0.2)], dtype=F64), rtol=1e-5
    )


class _Jump:
    def __call__(self, t, x):
        return -0.5 * x if t < 0.5 else x**2


@pytest.mark.parametrize("method", ["heun_euler", "bosh3"])
def test_float32_steps_across_a_jump_in_float64_time(method):
    # y' = -y/2 to t = 1/2, then y' = y^2: y(1) = 1 / (e^{1/4} - 1/2) for y(0) = 1.
    x0 = torch.tensor([1.0], requires_grad=True)
    xs = odeint_adjoint(
        _Jump(), x0, torch.tensor([0.0, 1.0]), atol=1e-6, method=method, adjoint_params=()
    )
    exact = 1 / (math.exp(0.25) - 0.5)
    assert abs(float(xs[-1].detach()) - exact) < 1e-3
    xs[-1].sum().backward()  # dy(1)/dy(1/2) = y(1)^2 / y(1/2)^2, dy(1/2)/dy0 = e^{-1/4}
    assert abs(float(x0.grad) - exact**2 * math.exp(0.25)) < 1e-2


def test_forced_min_step_accepts_and_bounds_the_steps():
    # y' = -y^2, y = 1/(1+t): tight tolerances want many steps; with min_step = 1 forced,
    # no step is shorter and every one of them is accepted (torchdiffeq's min_step).
    f = _counting_field()
    f.forward = lambda t, y: -(y**2)
    y0, t = torch.tensor([1.0], dtype=F64), torch.tensor([0.0, 4.0], dtype=F64)
    base = solve(f.forward, y0, t, rtol=1e-10, atol=1e-10)
    opts = {"min_step": 1.0, "force_min_step": True}
    forced = solve(f, y0, t, rtol=1e-10, atol=1e-10, options=opts)
    assert forced.stats["n_accepted"] <= 4 < 20 < base.stats["n_steps"]
    assert all(float(dt) >= 1.0 for dt in f.calls["accept"][:-1])  # the last one lands on 4
    assert all(float(dt) > 1.0 for dt in f.calls["reject"])
    assert abs(float(forced.ys[-1]) - 0.2) < 0.05
    # min_step without force_min_step keeps nodelib's meaning: y' = y^2 blows up at t = 1.
    with pytest.raises(StepSizeError):
        odeint(lambda t, y: y**2, y0, t, options={"min_step": 1e-3})


def _two_scales(t, y):  # u' = -u (smooth), v' = cos(20 t) (hard to follow)
    return torch.stack([-y[0], torch.cos(20 * t) * torch.ones_like(y[1])])


def test_per_element_tolerances_weight_each_component():
    t, y0 = torch.tensor([0.0, 2.0], dtype=F64), torch.tensor([1.0, 0.0], dtype=F64)
    runs = {}
    for name, tol in [
        ("tight", 1e-10),
        ("loose", 1e-2),
        ("mixed", torch.tensor([1e-10, 1e-2], dtype=F64)),
    ]:
        sol = solve(_two_scales, y0, t, rtol=tol, atol=tol)
        runs[name] = (sol.stats["nfe"], abs(float(sol.ys[-1, 0]) - math.exp(-2.0)))
    # Only u's error limits the mixed run's steps: fewer than tight, u still as accurate.
    assert runs["loose"][0] < runs["mixed"][0] < runs["tight"][0]
    assert runs["mixed"][1] < 1e-8 < runs["loose"][1]
    parts = solve(
        lambda t, y: tuple(_two_scales(t, torch.cat(y)).split(1)),
        tuple(y0.split(1)),
        t,
        rtol=(1e-10, 1e-2),
        atol=(1e-10, 1e-2),
    )
    assert parts.stats["nfe"] == runs["mixed"][0]
    with pytest.raises(ValueError, match="broadcast"):
        odeint(_two_scales, y0, t, rtol=torch.ones(3, dtype=F64))
    with pytest.raises(ValueError, match="adjoint_rtol"):
        odeint_adjoint(_two_scales, y0, t, rtol=torch.ones(2, dtype=F64), adjoint_params=())


def test_an_event_function_with_several_values_stops_at_the_first_crossing():
    # y' = -y from y0 = (1, 1/2): y0 - 0.2 crosses at ln 5, y1 - 0.4 at ln(5/4) (first).
    y0 = torch.tensor([1.0, 0.5], dtype=F64, requires_grad=True)
    g = lambda t, y: torch.stack([y[0] - 0.2, y[1] - 0.4])  # noqa: E731
    t_event, _ = odeint_event(lambda t, y: -y, y0, 0.0, event_fn=g, rtol=1e-10, atol=1e-12)
    assert abs(float(t_event) - math.log(1.25)) < 1e-8
    (grad,) = torch.autograd.grad(t_event, y0)  # t* = ln(y0[1] / 0.4)
    assert torch.allclose(grad, torch.tensor([0.0, 2.0], dtype=F64), atol=1e-6)


@pytest.mark.parametrize("method", ["euler", "rk38", "trapezoid", "bdf2"])
def test_events_with_a_fixed_step(method):
    y0 = torch.tensor([1.0], dtype=F64, requires_grad=True)
    t_event, _ = odeint_event(
        lambda t, y: -y,
        y0,
        0.0,
        event_fn=lambda t, y: y[0] - 0.5,
        method=method,
        options={"step_size": 0.01},
    )
    assert abs(float(t_event) - math.log(2)) < 5e-3
    (grad,) = torch.autograd.grad(t_event, y0)  # t* = ln(2 y0)
    assert abs(float(grad) - 1.0) < 5e-3


def test_perturb_keeps_f_off_the_grid_points():
    seen = []

    def f(t, y):  # jumps at t = 0.5: -y before, +y from there on
        seen.append(float(t))
        return -y if t < 0.5 else y

    ys = odeint(
        f,
        torch.ones(1, dtype=F64),
        torch.tensor([0.0, 1.0], dtype=F64),
        method="rk38",
        options={"step_size": 0.5, "perturb": True},
    )
    assert 0.0 not in seen and 0.5 not in seen and 1.0 not in seen
    # Each step sees one smooth side of the jump: (e^{-1/2} to 4th order) then (e^{1/2} ...).
    rk38 = lambda z: 1 + z + z**2 / 2 + z**3 / 6 + z**4 / 24  # noqa: E731
    assert abs(float(ys[-1]) - rk38(-0.5) * rk38(0.5)) < 1e-12


def test_interp_reads_outputs_between_grid_points():
    f, y0 = (lambda t, y: -y), torch.ones(1, dtype=F64)
    t = torch.tensor([0.0, 0.25, 1.0], dtype=F64)
    opts = {"step_size": 0.5}
    linear = odeint(f, y0, t, method="euler", options={**opts, "interp": "linear"})
    assert abs(float(linear[1]) - (1 - 0.5 * 0.5)) < 1e-15  # halfway to Euler's 1 - 0.5
    cubic = odeint(f, y0, t, method="euler", options={**opts, "interp": "cubic"})
    # Hermite through (0, 1, slope -1) and (0.5, 0.5, slope -0.5), at θ = 1/2.
    assert abs(float(cubic[1]) - (0.5 * 1 + 0.5 * 0.5 + 0.125 * 0.5 * (-1 + 0.5))) < 1e-15
    with pytest.raises(ValueError, match="interp"):
        odeint(f, y0, t, method="euler", options={**opts, "interp": "quadratic"})


def test_warnings_do_not_come_from_plain_calls():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        odeint(
            lambda t, y: -y,
            torch.ones(1),
            torch.linspace(0, 1, 3),
            method="rk4",
            options={"step_size": 0.1},
        )


@pytest.mark.parametrize("method", ["rk38", "rk4", "dopri5"])
def test_a_step_adds_its_increment_to_y_once(method):
    # y' = 0.2 from y = 3.3 in float32, 400 steps: rounding y + increment once per step (as
    # Euler does) keeps the drift at Euler's; adding each stage to y rounded s times a step.
    f, y0 = (lambda t, y: torch.full_like(y, 0.2)), torch.tensor([3.3])
    t = torch.tensor([0.0, 4.0], dtype=F64)
    exact = 3.3 + 0.2 * 4.0
    drift = {
        m: abs(float(odeint(f, y0, t, method=m, options={"step_size": 0.01})[-1]) - exact)
        for m in ("euler", method)
    }
    assert drift[method] <= 1.5 * drift["euler"] + 1e-6, drift
