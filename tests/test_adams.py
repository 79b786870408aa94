"""Tests of the variable-order Adams methods (nodelib.adams): adams_bashforth, adams_moulton.

Coefficients against the textbook formulas and the order theory of `nodelib.theory.lmm`;
values against torchdiffeq's fixed_adams (the same method, when it is installed); measured
global orders (set by the RK38 start and the first formula); restarts when the step size
changes; the corrector's failure counted and warned about; gradients by backprop and adjoint.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch

import nodelib
from nodelib.adams import ADAMS_METHODS, MAX_ADAMS_ORDER, _weights
from nodelib.theory.lmm import lmm_order

F64 = torch.float64


def test_weights_are_the_textbook_formulas():
    assert _weights(4, False) == pytest.approx([55 / 24, -59 / 24, 37 / 24, -9 / 24], abs=1e-15)
    assert _weights(3, True) == pytest.approx([9 / 24, 19 / 24, -5 / 24, 1 / 24], abs=1e-15)
    for k in range(1, MAX_ADAMS_ORDER):
        ab, am = _weights(k, False), _weights(k, True)
        assert sum(ab) == pytest.approx(1.0, abs=1e-12) and sum(am) == pytest.approx(1.0, abs=1e-12)
        alpha = [Fraction(0)] * (k - 1) + [Fraction(-1), Fraction(1)]
        assert lmm_order(alpha, [*reversed(ab), 0.0], tol=1e-9) == k
        assert lmm_order(alpha, list(reversed(am)), tol=1e-9) == k + 1


def _problem():
    """y1' = 1 + y1^2 (tan t), y2' = cos(t) y2 (exp(sin t)): no damped mode, which the
    high-order Adams–Bashforth formulas could not follow (their stability regions are tiny)."""

    def f(t, y):
        return torch.stack([1 + y[0] ** 2, torch.cos(t) * y[1]])

    def exact(t: float) -> torch.Tensor:
        return torch.tensor([math.tan(t), math.exp(math.sin(t))], dtype=F64)

    return f, torch.tensor([0.0, 1.0], dtype=F64), exact


@pytest.mark.parametrize(
    ("method", "max_order", "order", "ns"),
    [("adams_bashforth", 12, 4, (128, 256, 512)), ("adams_moulton", 12, 5, (32, 64, 128, 256)),
     ("adams_bashforth", 4, 3, (32, 64, 128, 256)), ("adams_moulton", 4, 4, (32, 64, 128, 256))],
)  # fmt: skip
def test_measured_global_order(method, max_order, order, ns):
    """max_order 12: the start limits the order (4, 5); max_order 4: AB3 alone, AM4 corrector.

    Adams–Bashforth of order 11 reaches its asymptotic regime only below h = 0.8/128.
    """
    f, y0, exact = _problem()
    T = 0.8
    errs = []
    for n in ns:
        ys = nodelib.odeint(
            f, y0, torch.tensor([0.0, T], dtype=F64), method=method, rtol=1e-13, atol=1e-15,
            options={"step_size": T / n, "max_order": max_order, "max_iters": 50},
        )  # fmt: skip
        errs.append(float((ys[-1] - exact(T)).abs().max()))
    slope = -np.polyfit(np.log(ns), np.log(errs), 1)[0]
    assert abs(slope - order) <= 0.3, (slope, errs)


@pytest.mark.parametrize(("method", "theirs"), [("adams_bashforth", "explicit_adams"),
                                                ("adams_moulton", "implicit_adams")])  # fmt: skip
@pytest.mark.parametrize("max_order", [12, 6])
def test_same_values_as_torchdiffeq(method, theirs, max_order):
    torchdiffeq = pytest.importorskip("torchdiffeq")
    f, y0, _ = _problem()
    t = torch.linspace(0.0, 0.8, 41, dtype=F64)
    ours = nodelib.odeint(f, y0, t, method=method, options={"max_order": max_order})
    ref = torchdiffeq.odeint(f, y0, t, method=theirs, options={"max_order": max_order})
    # (high-order Adams–Bashforth amplifies the round-off in which the two differ)
    assert float((ours - ref).abs().max()) < 1e-12


def test_a_changing_step_restarts_with_rk38():
    """On a non-uniform grid every step restarts the history: the values are RK38's."""
    f, y0, _ = _problem()
    t = torch.tensor([0.0, 0.1, 0.25, 0.3, 0.5, 0.55, 0.8], dtype=F64)
    rk38 = nodelib.odeint(f, y0, t, method="rk38")
    for method in ADAMS_METHODS:
        assert float((nodelib.odeint(f, y0, t, method=method) - rk38).abs().max()) < 1e-15
    # and on a uniform grid they are not RK38's
    t = torch.linspace(0.0, 0.8, 9, dtype=F64)
    assert float((nodelib.odeint(f, y0, t, method="adams_bashforth") - nodelib.odeint(
        f, y0, t, method="rk38")).abs().max()) > 1e-6  # fmt: skip


def test_evaluations_per_step():
    """RK38 start: 4 per step; then 1 (adams_bashforth) or 1 + corrector iterations."""
    f, y0, _ = _problem()
    t = torch.linspace(0.0, 0.5, 11, dtype=F64)
    sol = nodelib.solve(f, y0, t, method="adams_bashforth")
    assert sol.stats["nfe"] == 1 + 2 * 4 + 8 * 1
    sol = nodelib.solve(f, y0, t, method="adams_moulton", options={"max_iters": 1})
    assert sol.stats["nfe"] == 1 + 2 * 4 + 8 * 2


def test_corrector_that_does_not_converge_is_counted_and_lowers_the_order():
    f, y0, _ = _problem()
    t = torch.linspace(0.0, 0.8, 17, dtype=F64)
    with pytest.warns(RuntimeWarning, match="did not converge"):
        sol = nodelib.solve(
            f, y0, t, method="adams_moulton", rtol=1e-14, atol=1e-16, options={"max_iters": 1}
        )
    # every step's corrector fails; each drops one value, so no step gets past order 4 (AB3)
    assert sol.stats["n_corrector_unconverged"] == 14
    ref = nodelib.odeint(f, y0, t, method="adams_moulton", options={"max_order": 4, "max_iters": 1})
    assert float((sol.ys - ref).abs().max()) < 1e-15


def test_gradients_by_backprop_and_adjoint():
    theta = torch.tensor(0.4, dtype=F64, requires_grad=True)

    def f(t, y):
        return theta * torch.cos(t) * y

    t = torch.linspace(0.0, 1.0, 41, dtype=F64)
    for method in ADAMS_METHODS:
        y0 = torch.tensor([1.0, -0.5], dtype=F64, requires_grad=True)
        assert torch.autograd.gradcheck(
            lambda y0, m=method: nodelib.odeint(f, y0, t, method=m), (y0,)
        )
        # y(1) = y0 exp(θ sin 1): dL/dθ of L = sum y(1) against the closed form
        theta.grad = None
        ys = nodelib.odeint_adjoint(f, y0, t, method=method, adjoint_params=(theta,))
        ys[-1].sum().backward()
        s = math.sin(1.0)
        expected = float(y0.detach().sum()) * s * math.exp(0.4 * s)
        assert float(theta.grad) == pytest.approx(expected, rel=1e-5)
        assert torch.allclose(y0.grad, torch.full((2,), math.exp(0.4 * s), dtype=F64), rtol=1e-5)


def test_a_gradient_with_respect_to_t_is_refused_not_wrong():
    # The history restarts whenever h changes and the weights read h as a number, so the
    # graph to t would be wrong (gradcheck fails on y' = -y^2): the solve detaches t and a
    # gradient with respect to t raises, as for the θ-method and BDF.
    def f(t, y):
        return -(y**2) + torch.sin(t)

    y0 = torch.tensor([1.0], dtype=F64)
    for method in ADAMS_METHODS:
        t = torch.linspace(0.0, 1.0, 11, dtype=F64, requires_grad=True)
        ys = nodelib.odeint(f, y0, t, method=method)
        with pytest.raises(ValueError, match="cannot be differentiated with respect to the times"):
            ys[-1].sum().backward()
        t.requires_grad_(True)
        y0g = y0.clone().requires_grad_(True)  # a t that only requires grad is fine
        nodelib.odeint(f, y0g, t, method=method)[-1].sum().backward(inputs=[y0g])
        assert y0g.grad is not None


def test_options_are_checked():
    f, y0, _ = _problem()
    t = torch.linspace(0.0, 0.5, 3, dtype=F64)
    for bad in ({"max_order": 13}, {"max_order": 0}, {"max_iters": 0}, {"max_order": 2.5}):
        with pytest.raises(ValueError, match="must be an integer"):
            nodelib.odeint(f, y0, t, method="adams_moulton", options=bad)
    with pytest.raises(ValueError, match="not used by 'dopri5'"):
        nodelib.odeint(f, y0, t, method="dopri5", options={"max_order": 5})
    assert {"adams_bashforth", "adams_moulton"} <= set(nodelib.METHODS)


@pytest.mark.gpu
def test_on_cuda_against_cpu():
    f, y0, _ = _problem()
    t = torch.linspace(0.0, 0.8, 41, dtype=F64)
    for method in ADAMS_METHODS:
        ys = nodelib.odeint(f, y0.cuda(), t.cuda(), method=method)
        assert ys.device.type == "cuda"
        assert torch.allclose(ys.cpu(), nodelib.odeint(f, y0, t, method=method), atol=1e-12)
