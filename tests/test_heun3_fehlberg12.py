"""Tests of the explicit methods added for torchdiffeq's names: heun3, fehlberg12 (heun = heun2).

Their tableaux are checked by the order conditions in tests/test_tableau.py; here they are run
through `odeint`: values against torchdiffeq where the method is the same, the fitted order of
fehlberg12 with a fixed step, and its error control against closed-form solutions.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import PROBLEMS, scaled_error

import nodelib
from nodelib.tableau import HEUN, TABLEAUS

F64 = torch.float64


def _field(t, y):
    return torch.stack([y[1], -torch.sin(y[0]) + 0.3 * torch.cos(t)])


@pytest.mark.parametrize(("ours", "theirs"), [("heun", "heun2"), ("heun3", "heun3")])
def test_same_values_as_torchdiffeq(ours, theirs):
    torchdiffeq = pytest.importorskip("torchdiffeq")
    y0, t = torch.tensor([1.0, 0.0], dtype=F64), torch.linspace(0.0, 3.0, 31, dtype=F64)
    a = nodelib.odeint(_field, y0, t, method=ours)
    b = torchdiffeq.odeint(_field, y0, t, method=theirs)
    assert float((a - b).abs().max()) < 1e-14
    # torchdiffeq's heun2 is nodelib's heun: c = (0, 1), a21 = 1, b = (1/2, 1/2)
    assert (HEUN.c, HEUN.a, HEUN.b) == ((0.0, 1.0), ((0.0, 0.0), (1.0, 0.0)), (0.5, 0.5))


@pytest.mark.parametrize(("name", "order"), [("heun3", 3), ("fehlberg12", 2)])
def test_fixed_step_order_through_odeint(name, order):
    problem = PROBLEMS["oscillator"]()
    ns = (40, 80, 160)
    errs = []
    for n in ns:
        t = problem.grid(n)
        ys = nodelib.odeint(problem.func, problem.y0, t, method=name, options={"step_size": 2 / n})
        errs.append(float((ys - problem.exact(t)).abs().max()))
    assert abs(-np.polyfit(np.log(ns), np.log(errs), 1)[0] - order) <= 0.15


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_fehlberg12_controls_its_error_as_torchdiffeq_fehlberg2(name):
    """The pair estimates the error of its first-order b_hat, whose leading term carries the
    factor b_hat·c - 1/2 = -1/512; the propagated second-order solution is not what the
    estimate measures, so its error exceeds the tolerance by a large factor (here 40 to
    800) and falls only in proportion to it. torchdiffeq's fehlberg2 (the same pair, which
    reuses f at the first-order value as its next first stage) does the same."""
    torchdiffeq = pytest.importorskip("torchdiffeq")
    problem = PROBLEMS[name]()
    t = problem.grid(10)
    exact = problem.exact(t)
    errs = []
    for tol in (1e-3, 1e-4, 1e-5, 1e-6):
        ours = nodelib.odeint(problem.func, problem.y0, t, rtol=tol, atol=tol, method="fehlberg12")
        theirs = torchdiffeq.odeint(
            problem.func, problem.y0, t, rtol=tol, atol=tol, method="fehlberg2"
        )
        errs.append(scaled_error(ours, exact, tol, tol) * tol)
        assert (
            1 / 3 < scaled_error(ours, exact, tol, tol) / scaled_error(theirs, exact, tol, tol) < 3
        )
        assert scaled_error(ours, exact, tol, tol) < 1000
    assert errs[-1] < errs[0] / 300
    assert not TABLEAUS["fehlberg12"].fsal
