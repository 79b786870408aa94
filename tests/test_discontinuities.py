"""options={"step_t": ..., "jump_t": ...} for known discontinuities (issue 15, item 3).

torchdiffeq's meaning: the adaptive loop steps exactly to every step_t and jump_t; at a
jump_t it also evaluates f just left of the jump for the step that ends there and
restarts from f just right of it. The test field switches its growth rate at t = 1/2,

    y' = y (t < 1/2),   y' = -3 y (t >= 1/2),   y(0) = 1,

so y(1) = exp(1/2) exp(-3/2) in closed form.
"""

from __future__ import annotations

import math

import pytest
import torch

from nodelib import odeint, odeint_adjoint, solve

F64 = torch.float64
EXACT = math.exp(0.5) * math.exp(-1.5)
TOL = {"rtol": 1e-8, "atol": 1e-10}


def switching(left_closed: bool):
    """The field, with the switch time itself on the left (<=) or on the right (<)."""

    def f(t, y):
        left = bool(t <= 0.5) if left_closed else bool(t < 0.5)
        return (1.0 if left else -3.0) * y

    return f


def _ends(sol) -> list[float]:
    return [step.t + step.h for step in sol._steps]


@pytest.mark.parametrize("left_closed", [False, True])
def test_jump_t_lands_on_the_jump_and_is_accurate_and_cheaper(left_closed):
    f, y0, t = switching(left_closed), torch.ones(1, dtype=F64), torch.tensor([0.0, 1.0], dtype=F64)
    plain = solve(f, y0, t, **TOL)
    jump = solve(f, y0, t, **TOL, options={"jump_t": torch.tensor([0.5])})
    assert 0.5 in _ends(jump) and 0.5 not in _ends(plain)
    assert abs(float(jump.ys[-1]) - EXACT) < 1e-8
    assert jump.stats["nfe"] < 0.6 * plain.stats["nfe"]
    # f on the jump itself is never used: both conventions take the same steps.
    assert jump.stats["n_rejected"] <= 2


def test_jump_t_with_decreasing_time_and_the_same_cost_either_side():
    t = torch.tensor([1.0, 0.0], dtype=F64)
    y1 = torch.full((1,), EXACT, dtype=F64)
    sols = [solve(switching(c), y1, t, **TOL, options={"jump_t": [0.5]}) for c in (False, True)]
    assert sols[0].stats == sols[1].stats
    assert abs(float(sols[0].ys[-1]) - 1.0) < 1e-8


def test_step_t_is_stepped_to_exactly_and_helps_at_a_kink():
    # y' = |t - 1/2|: f is continuous, its derivative jumps; y(1) = 1/4.
    def f(t, y):
        return torch.abs(t - 0.5).expand_as(y)

    y0, t = torch.zeros(1, dtype=F64), torch.tensor([0.0, 1.0], dtype=F64)
    marks = [0.25, 0.5, 0.7]
    sol = solve(f, y0, t, **TOL, options={"step_t": marks})
    assert all(m in _ends(sol) for m in marks)
    assert abs(float(sol.ys[-1]) - 0.25) < 1e-12  # piecewise linear f: dopri5 is exact
    plain = solve(f, y0, t, **TOL)
    assert sol.stats["nfe"] < plain.stats["nfe"]


def test_outputs_between_stops_are_interpolated_and_the_adjoint_gets_the_options():
    f, t = switching(False), torch.linspace(0.0, 1.0, 5, dtype=F64)
    y0 = torch.ones(1, dtype=F64, requires_grad=True)
    ys = odeint(f, y0, t, **TOL, options={"jump_t": [0.5]})
    exact = [math.exp(s) if s <= 0.5 else math.exp(0.5) * math.exp(-3 * (s - 0.5)) for s in t]
    assert torch.allclose(ys[:, 0], torch.tensor(exact, dtype=F64), atol=1e-8)
    stats: dict[str, int] = {}
    out = odeint_adjoint(f, y0, t, **TOL, options={"jump_t": [0.5]}, adjoint_params=(), stats=stats)
    (grad,) = torch.autograd.grad(out[-1].sum(), y0)
    assert abs(float(grad) - EXACT) < 1e-7  # y(1) is linear in y0


@pytest.mark.parametrize(
    "options,match",
    [
        ({"jump_t": [float("nan")]}, "NaN or Inf"),
        ({"step_t": "soon"}, "1-D tensor or list"),
        ({"step_size": 0.1, "jump_t": [0.5]}, "not used by"),
    ],
)
def test_bad_stops_are_refused(options, match):
    with pytest.raises((ValueError, TypeError), match=match):
        odeint(switching(False), torch.ones(1), torch.tensor([0.0, 1.0]), options=options)
