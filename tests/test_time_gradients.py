"""Gradients with respect to the times t, by backprop through the solve (issue 15, item 1).

`odeint` differentiates through every step: the stage times, the last step (clipped to
t[-1]) and the interpolation at each output carry the graph to t. The checks: float64
`gradcheck` against finite differences of the discrete solve, for adaptive and fixed
methods, increasing and decreasing t; agreement with torchdiffeq where both compute the
same discrete map; and a learned end time.
"""

from __future__ import annotations

import pytest
import torch

from nodelib import odeint, solve

F64 = torch.float64
A = torch.tensor([[-0.5, 1.0], [-1.0, -0.3]], dtype=F64)


def field(t, y):  # explicitly time-dependent, so the stage times matter
    return y @ A.T + torch.sin(3 * t)


CASES = [
    ("dopri5", {}),  # continuous extension, FSAL
    ("tsit5", {}),
    ("bosh3", {}),  # cubic Hermite dense output
    ("fehlberg45", {}),  # dense output by a side step
    ("rk4", {}),  # fixed steps on the output times
    ("rk38", {"step_size": 0.1}),  # a fixed grid with outputs on and between grid points
    ("midpoint", {"step_size": 0.2}),
]


@pytest.mark.parametrize("method,options", CASES)
# 0.6 is a grid point of both step sizes from 0 and from 1; the ends are not: a grid that
# ends exactly on t[-1] has a kink there (a tiny extra step appears when t[-1] grows).
@pytest.mark.parametrize("times", [[0.0, 0.35, 0.6, 0.93], [1.0, 0.6, 0.45, 0.17]])
def test_gradcheck_with_respect_to_times_and_y0(method, options, times):
    t = torch.tensor(times, dtype=F64, requires_grad=True)
    y0 = torch.tensor([1.0, 0.5], dtype=F64, requires_grad=True)

    def solution(t, y0):
        return odeint(field, y0, t, method=method, options=options, rtol=1e-9, atol=1e-11)

    assert torch.autograd.gradcheck(solution, (t, y0), atol=1e-5, rtol=1e-4)


def test_tuple_state_and_a_learned_end_time():
    # y' = -y on [0, T]: y(T) = exp(-T), so d y(T) / dT = -exp(-T).
    T = torch.tensor(0.7, dtype=F64, requires_grad=True)
    t = torch.stack([torch.zeros((), dtype=F64), T])
    y0 = (torch.ones(1, dtype=F64), torch.ones(2, dtype=F64))
    ya, yb = odeint(lambda t, y: (-y[0], -2 * y[1]), y0, t, rtol=1e-10, atol=1e-12)
    (ya[-1].sum() + yb[-1].sum()).backward()
    exact = -torch.exp(-T.detach()) - 2 * 2 * torch.exp(-2 * T.detach())
    assert abs(float(T.grad) - float(exact)) < 1e-7


def test_matches_torchdiffeq_where_both_compute_the_same_map():
    torchdiffeq = pytest.importorskip("torchdiffeq")
    y0 = torch.tensor([1.0, 0.5], dtype=F64)
    for ours, theirs, tol in [("rk38", "rk4", 1e-12), ("dopri5", "dopri5", 1e-4)]:
        grads = []
        for solver, name in [(odeint, ours), (torchdiffeq.odeint, theirs)]:
            t = torch.tensor([0.0, 0.35, 0.9], dtype=F64, requires_grad=True)
            out = solver(field, y0, t, method=name, rtol=1e-8, atol=1e-10)
            grads.append(torch.autograd.grad(out.sum(), t)[0])
        assert torch.allclose(grads[0], grads[1], rtol=tol, atol=tol), (ours, grads)


def test_solve_keeps_the_graph_to_the_times_too():
    t = torch.tensor([0.0, 0.5, 1.0], dtype=F64, requires_grad=True)
    sol = solve(lambda t, y: -y, torch.ones(1, dtype=F64), t, rtol=1e-10, atol=1e-12)
    (grad,) = torch.autograd.grad(sol.ys[-1].sum(), t)
    # y(t_2) = exp(-(t_2 - t_0)): d/dt_0 = exp(-1), d/dt_1 = 0, d/dt_2 = -exp(-1).
    expected = torch.tensor([1.0, 0.0, -1.0], dtype=F64) * torch.exp(torch.tensor(-1.0))
    assert torch.allclose(grad, expected.to(F64), atol=1e-8)
