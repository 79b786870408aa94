"""Terminal events: `odeint_event` and `solve(..., event_fn=...)` (issue 15, item 2).

A ball dropped from height x0 with upward velocity v0 under gravity g,

    x' = v,  v' = -g,   hits the ground x = 0 at  t* = (v0 + sqrt(v0² + 2 g x0)) / g,

so the event time, its derivatives with respect to x0, v0, g and t0, and the impact
velocity are known in closed form. A bounce reverses the velocity with restitution e:
the k-th impact after the first follows 2 e^k |v*| / g later.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from nodelib import odeint, odeint_adjoint, odeint_event, solve

F64 = torch.float64
TOL = {"rtol": 1e-10, "atol": 1e-12}


class Ball(nn.Module):
    def __init__(self, g: float = 9.81) -> None:
        super().__init__()
        self.g = nn.Parameter(torch.tensor(g, dtype=F64))

    def forward(self, t, y):  # y = (x, v)
        return torch.stack([y[1], -self.g + 0 * y[1]])


def ground(t, y):
    return y[0]


def impact_time(x0: float, v0: float, g: float, t0: float = 0.0) -> float:
    return t0 + (v0 + math.sqrt(v0 * v0 + 2 * g * x0)) / g


@pytest.mark.parametrize("method", ["dopri5", "tsit5", "bosh3", "dopri8"])
def test_event_time_and_state_match_the_closed_form(method):
    x0, v0, g = 2.0, 1.5, 9.81
    y0 = torch.tensor([x0, v0], dtype=F64)
    t_event, ys = odeint_event(Ball(g), y0, 0.3, event_fn=ground, method=method, **TOL)
    exact = impact_time(x0, v0, g, 0.3)
    assert abs(float(t_event.detach()) - exact) < 1e-9
    assert ys.shape == (2, 2) and torch.equal(ys[0], y0)
    assert abs(float(ys[1, 0].detach())) < 1e-9  # on the ground
    assert abs(float(ys[1, 1].detach()) - (v0 - g * (exact - 0.3))) < 1e-8


@pytest.mark.parametrize("interface", [odeint, odeint_adjoint])
def test_gradients_of_the_event_time_by_the_implicit_function_theorem(interface):
    x0, v0, t0 = 2.0, 1.5, 0.3
    ball = Ball()
    y0 = torch.tensor([x0, v0], dtype=F64, requires_grad=True)
    t0_ = torch.tensor(t0, dtype=F64, requires_grad=True)
    t_event, _ = odeint_event(ball, y0, t0_, event_fn=ground, odeint_interface=interface, **TOL)
    grads = torch.autograd.grad(t_event, (y0, t0_, ball.g))
    g = float(ball.g)
    root = math.sqrt(v0 * v0 + 2 * g * x0)
    assert abs(float(grads[0][0]) - 1 / root) < 1e-7  # dt*/dx0
    assert abs(float(grads[0][1]) - (1 + v0 / root) / g) < 1e-7  # dt*/dv0
    exact_dg = -(v0 + root) / g**2 + (x0 / root) / g  # d/dg of (v0 + root) / g
    assert abs(float(grads[2]) - exact_dg) < 1e-7
    assert abs(float(grads[1]) - 1.0) < 1e-7  # shifting t0 shifts t*


def test_the_state_at_the_event_moves_with_the_event_time():
    # v(t*) = v0 - g (t* - t0): its derivative in x0 is -g dt*/dx0 (finite differences).
    def impact_velocity(x0):
        y0 = torch.stack([x0, torch.tensor(1.5, dtype=F64)])
        _, ys = odeint_event(Ball(), y0, 0.0, event_fn=ground, **TOL)
        return ys[1, 1]

    x0 = torch.tensor(2.0, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(impact_velocity, (x0,), atol=1e-6)


def test_bouncing_ball_impact_times_follow_the_closed_form():
    e, g, x0 = 0.8, 9.81, 1.0
    ball, y, t = Ball(g), torch.tensor([x0, 0.0], dtype=F64), torch.tensor(0.0, dtype=F64)
    times = []
    for _ in range(4):
        t, ys = odeint_event(ball, y, t, event_fn=ground, **TOL)
        times.append(float(t))
        y = torch.stack([torch.zeros((), dtype=F64), -e * ys[1, 1]]).detach()
    first = math.sqrt(2 * x0 / g)
    v1 = g * first
    expected = [first + sum(2 * e**k * v1 / g for k in range(1, n + 1)) for n in range(4)]
    assert max(abs(a - b) for a, b in zip(times, expected, strict=True)) < 1e-9


def test_reverse_time_finds_the_launch():
    # Backwards from the top of a throw (x = 1.25, v = 0 with g = 10): x = 0 at t = -0.5.
    y0 = torch.tensor([1.25, 0.0], dtype=F64)
    t_event, _ = odeint_event(Ball(10.0), y0, 0.0, event_fn=ground, reverse_time=True, **TOL)
    assert abs(float(t_event) + 0.5) < 1e-9


def test_solve_stops_at_the_event_and_keeps_the_outputs_before_it():
    y0, t = torch.tensor([2.0, 1.5], dtype=F64), torch.linspace(0.0, 2.0, 21, dtype=F64)
    sol = solve(Ball(), y0, t, event_fn=ground, **TOL)
    exact = impact_time(2.0, 1.5, 9.81)
    assert abs(float(sol.event_t) - exact) < 1e-9 and abs(float(sol.event_y[0])) < 1e-9
    assert float(sol.ts[-1]) <= exact < float(sol.ts[-1]) + 0.1 + 1e-12
    assert len(sol.ys) == len(sol.ts)
    assert abs(float(sol.evaluate(exact)[0])) < 1e-9
    with pytest.raises(ValueError, match="outside the solved interval"):
        sol.evaluate(exact + 0.05)
    none = solve(Ball(), y0, t[:3], event_fn=ground, **TOL)  # no impact before t = 0.2
    assert none.event_t is None and len(none.ts) == 3


def test_event_errors_say_what_to_do():
    y0 = torch.tensor([2.0, 1.5], dtype=F64)
    with pytest.raises(ValueError, match="adaptive method"):  # a fixed method needs step_size
        odeint_event(Ball(), y0, 0.0, event_fn=ground, method="rk4")
    with pytest.raises(ValueError, match="must return a tensor"):
        odeint_event(Ball(), y0, 0.0, event_fn=lambda t, y: float(y[0]))
