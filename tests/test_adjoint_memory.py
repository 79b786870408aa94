"""The adjoint's memory does not grow with the number of solver steps (Chen et al. 2018, §2).

Two checks, neither timed. The peak of the memory PyTorch allocates during one forward and
backward pass (`nodelib.course.profiling.peak_memory_bytes`, exact on the CPU: every
allocation and free is counted) at 10 and at 80 steps: the adjoint's growth must stay
below 5 % of backprop's, for fixed-step and adaptive methods. And no solve may leave a
tensor to Python's cycle collector, which would keep it alive for as long as the collector
waits (that is how the adjoint once kept every step of its backward solve).
"""

from __future__ import annotations

import gc

import pytest
import torch
from torch import nn

import nodelib
from nodelib.course.profiling import peak_memory_bytes
from nodelib.per_sample import PER_SAMPLE_METHODS

pytestmark = pytest.mark.usefixtures("one_thread")

FEW, MANY = 10, 80
# method -> the option that fixes its number of steps over [0, 1] to 1/value
CASES = {
    "rk4": "step_size",
    "rk38": "step_size",
    "euler": "step_size",
    "bosh3": "max_step",  # adaptive, cubic Hermite dense output
    "dopri5": "max_step",  # adaptive, continuous extension
}


def _field() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 32), nn.Tanh(), nn.Linear(32, 16))


def _peak(method: str, n_steps: int, adjoint: bool) -> tuple[int, dict[str, int]]:
    """Peak bytes of one forward and backward pass, and the evaluations it made."""
    net = _field()
    y0 = torch.randn(8, 16, requires_grad=True)  # (batch, dim)
    t = torch.tensor([0.0, 1.0])
    options = {CASES[method]: 1.0 / n_steps}
    # Loose tolerances: max_step, not the error, sets an adaptive method's steps.
    kwargs = {"method": method, "options": options, "rtol": 1e-2, "atol": 1e-2}
    stats: dict[str, int] = {}

    def f(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        stats["nfe"] = stats.get("nfe", 0) + 1
        return net(y)

    def work() -> None:
        if adjoint:
            ys = nodelib.odeint_adjoint(
                f, y0, t, adjoint_params=tuple(net.parameters()), stats=stats, **kwargs
            )
        else:
            ys = nodelib.odeint(f, y0, t, **kwargs)
        ys[-1].square().sum().backward()

    return peak_memory_bytes(work, "cpu")[1], stats


@pytest.mark.parametrize("method", list(CASES))
def test_adjoint_peak_memory_does_not_grow_with_the_steps(method: str) -> None:
    (bp_few, _), (bp_many, _) = _peak(method, FEW, False), _peak(method, MANY, False)
    (adj_few, s_few), (adj_many, s_many) = _peak(method, FEW, True), _peak(method, MANY, True)
    # The step counts did grow, in both solves of the adjoint.
    assert s_many["nfe_forward"] >= 0.8 * MANY / FEW * s_few["nfe_forward"]
    assert s_many["nfe_backward"] >= 0.8 * MANY / FEW * s_few["nfe_backward"]
    # Backprop keeps every step's activations: its peak grows with them ...
    assert bp_many - bp_few > 0.5 * (MANY / FEW - 1) * bp_few
    # ... the adjoint's must not (the paper's O(1); issue 22's target).
    assert adj_many - adj_few <= 0.05 * (bp_many - bp_few), (adj_few, adj_many, bp_few, bp_many)


def _tensors_left_to_the_collector(work) -> int:
    """How many tensors `work()` leaves in unreachable reference cycles."""
    work()  # warm up: first calls may build caches that look like garbage
    gc.collect()
    gc.disable()
    try:
        work()
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        return sum(isinstance(o, torch.Tensor) for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


_ADJOINT_METHODS = [m for m in nodelib.METHODS if m in nodelib.TABLEAUS]


@pytest.mark.parametrize("method", nodelib.METHODS)
@pytest.mark.parametrize("how", ["odeint", "backprop", "adjoint", "per_sample"])
def test_no_solve_leaves_tensors_to_the_cycle_collector(method: str, how: str) -> None:
    tableau = nodelib.TABLEAUS.get(method)
    if how == "adjoint" and method not in _ADJOINT_METHODS:
        pytest.skip("the adjoint of implicit and multistep methods is tested elsewhere")
    if how == "per_sample" and method not in PER_SAMPLE_METHODS:
        pytest.skip("per-sample stepping supports a few adaptive pairs")
    net = _field()
    y0 = torch.randn(3, 16, requires_grad=True)
    t = torch.tensor([0.0, 0.3, 1.0])
    if method == "scipy_solver" and how == "backprop":
        pytest.skip("scipy_solver refuses backpropagation (its adjoint is tested)")
    adaptive = (tableau is not None and tableau.is_adaptive) or method == "scipy_solver"
    options = {} if adaptive else {"step_size": 0.1}
    if how == "per_sample":
        options = {"per_sample": True}
    if method == "theta":
        options["theta"] = 0.5
    kwargs = {"method": method, "options": options, "rtol": 1e-4, "atol": 1e-4}

    def f(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return net(y)

    def work() -> None:
        if how == "odeint" or how == "per_sample":
            with torch.no_grad():
                nodelib.odeint(f, y0, t, **kwargs)
        elif how == "backprop":
            nodelib.odeint(f, y0, t, **kwargs)[-1].sum().backward()
        else:
            ys = nodelib.odeint_adjoint(f, y0, t, adjoint_params=tuple(net.parameters()), **kwargs)
            ys[-1].sum().backward()

    assert _tensors_left_to_the_collector(work) == 0
