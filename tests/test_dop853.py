"""Tests of nodelib.dop853: the DOP853 coefficients, steps, error estimate and dense output.

The mathematics is checked from outside the implementation: exact order conditions (rooted
trees) of b, of the embedded rows and of the continuous weights; measured convergence orders
against closed-form solutions (Kepler's equation for the two-body problem); the combined error
ratio against HNW's formula written with sums of squares; and derivatives of the interpolant
and of the step against finite differences.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import Tensor

from nodelib import _dop853_coefficients as K  # noqa: N812
from nodelib.dop853 import DOP853, dense_weights
from nodelib.steppers import Stepper
from nodelib.tableau import DOPRI8
from nodelib.theory.order_conditions import order_of_weights

THETAS = (0.3, 0.5, 0.8)
F64 = torch.float64


def kepler(t: float | Tensor, y: Tensor) -> Tensor:
    """The two-body problem, y = (q1, q2, p1, p2) `(4,)`: q'' = -q / |q|^3."""
    q, p = y[:2], y[2:]
    return torch.cat([p, -q / (q * q).sum() ** 1.5])


def forced(t: float | Tensor, y: Tensor) -> Tensor:
    """A non-autonomous field `(4,)`: the two-body field times 1 + sin(t) / 2."""
    return kepler(t, y) * (1 + 0.5 * (torch.sin(t) if isinstance(t, Tensor) else math.sin(t)))


def growth(t: float | Tensor, y: Tensor) -> Tensor:
    """y' = cos(t) y, with y = exp(sin t) for y(0) = 1, `(1,)`."""
    return (torch.cos(t) if isinstance(t, Tensor) else math.cos(t)) * y


def kepler_exact(t: float, e: float, dtype: torch.dtype = F64) -> Tensor:
    """The orbit of eccentricity e through the pericentre at t = 0 (period 2 pi), `(4,)`."""
    E = t
    for _ in range(60):  # Newton on Kepler's equation E - e sin E = t
        E -= (E - e * math.sin(E) - t) / (1 - e * math.cos(E))
    d, s = 1 - e * math.cos(E), math.sqrt(1 - e * e)
    return torch.tensor(
        [math.cos(E) - e, s * math.sin(E), -math.sin(E) / d, s * math.cos(E) / d], dtype=dtype
    )


def slope(hs: list[float], errors: list[float]) -> float:
    """Least-squares slope of log(error) against log(h)."""
    return float(np.polyfit(np.log(hs), np.log(errors), 1)[0])


class Counted:
    """A vector field that counts its evaluations."""

    def __init__(self, f):
        self.f, self.n = f, 0

    def __call__(self, t, y):
        self.n += 1
        return self.f(t, y)


def fixed_solve(f, y0: Tensor, t_end: float, n: int, t0: float = 0.0) -> Tensor:
    """n equal DOP853 steps from (t0, y0) to t_end, reusing f1 as the next step's f0."""
    m, h, y, f0 = DOP853(adaptive=False), (t_end - t0) / n, y0, None
    for i in range(n):
        r = m.step(f, t0 + i * h, y, h, f0)
        y, f0 = r.y1, r.f1
    return y


def test_tableau_is_dop853_with_its_orders():
    T = DOPRI8
    assert (T.name, T.stages, T.fsal, T.order, T.embedded_order) == ("dopri8", 13, True, 8, 5)
    assert T.satisfied_order(10) == 8  # b: order 8 and not 9
    assert T.satisfied_order(10, weights=T.b_hat) == 5  # b - e5: the 5th-order solution
    assert T.satisfied_order(10, weights=np.asarray(K.BHH, float)) == 3  # b - e3
    a = [list(row) for row in T.a]
    a[8][5] *= 1 + 1e-9  # a wrong digit in one coefficient must break the conditions
    assert order_of_weights(a, T.b, max_order=8) < 8


@pytest.mark.parametrize("theta", [0.1, *THETAS])
def test_continuous_weights_have_order_7(theta):
    A = np.asarray(K.A, float)  # (16, 16): 12 stages, f(t + h, y1), 3 dense-output stages
    assert order_of_weights(A, dense_weights(theta), max_order=9, theta=theta) == 7
    np.testing.assert_allclose(dense_weights(1.0)[:13], np.asarray(K.B, float), atol=1e-14)


def test_stepper_protocol():
    m = DOP853()
    assert isinstance(m, Stepper)
    assert (m.name, m.order, m.error_order) == ("dopri8", 8, 8)
    y0 = kepler_exact(0.0, 0.3)
    r = DOP853(adaptive=False).step(kepler, 0.0, y0, 0.1, None)
    assert r.error is None and DOP853(adaptive=False).error_order is None
    with pytest.raises(ValueError, match="no error estimate"):
        m.error_ratio(r, y0, 1e-6, 1e-6)


@pytest.mark.parametrize(
    ("problem", "t_end", "ns", "low", "high"),
    [
        ("kepler", 2 * math.pi, (16, 20, 24, 32, 40), 7.7, 8.3),
        ("oscillator", 2 * math.pi, (8, 10, 12, 16, 20), 7.9, 8.1),
        ("growth", 5.0, (8, 10, 12, 16, 20), 7.6, 8.6),
    ],
)
def test_fixed_step_convergence_order_8(problem, t_end, ns, low, high):
    """Global errors: a circular orbit over a period (nonlinear), y'' = -y, y' = cos(t) y."""
    y0 = torch.tensor([1.0, 0.0], dtype=F64)
    if problem == "kepler":
        f, y0, exact = kepler, kepler_exact(0.0, 0.0), kepler_exact(0.0, 0.0)
    elif problem == "oscillator":
        f, exact = (lambda t, y: torch.stack([y[1], -y[0]])), y0
    else:
        f, y0, exact = growth, y0[:1], torch.tensor([math.exp(math.sin(t_end))], dtype=F64)
    errors = [float((fixed_solve(f, y0, t_end, n) - exact).abs().max()) for n in ns]
    order = slope([1 / n for n in ns], errors)
    print(f"{problem}: errors {errors}, order {order:.3f}")
    assert low < order < high


@pytest.mark.parametrize(
    ("field", "e", "hs", "low"),
    [(kepler, 0.5, [0.8, 0.6, 0.4, 0.3, 0.2], 7.6), (forced, 0.2, [0.6, 0.5, 0.4, 0.3, 0.25], 7.4)],
)
def test_dense_output_local_order_8(field, e, hs, low):
    """One step from the apocentre of an orbit: |interp(theta) - y(t0 + theta h)| = O(h^8).

    The exact solution of the two-body problem; for the forced (non-autonomous) one, 40 fine
    DOP853 steps (their error is below 1e-15 here).
    """
    t0, errors = math.pi, {th: [] for th in THETAS}
    y0 = kepler_exact(t0, e)
    for h in hs:
        interp = DOP853().step(field, t0, y0, h, None).interpolant
        for th in THETAS:
            if field is kepler:
                exact = kepler_exact(t0 + th * h, e)
            else:
                exact = fixed_solve(field, y0, t0 + th * h, 40, t0)
            errors[th].append(float((interp(th) - exact).abs().max()))
    for th in THETAS:
        order = slope(hs, errors[th])
        print(f"{field.__name__}, theta={th}: errors {errors[th]}, order {order:.3f}")
        assert low < order < 8.5


def test_interpolant_matches_values_and_slopes_at_both_ends():
    m, h, t0 = DOP853(), 0.3, 0.2
    y0 = kepler_exact(t0, 0.4)
    r = m.step(forced, t0, y0, h, None)
    torch.testing.assert_close(r.interpolant(0.0), y0, rtol=0, atol=1e-15)
    torch.testing.assert_close(r.interpolant(1.0), r.y1, rtol=0, atol=1e-15)
    torch.testing.assert_close(r.f0, forced(t0, y0), rtol=0, atol=0)
    torch.testing.assert_close(r.f1, forced(t0 + h, r.y1), rtol=0, atol=0)
    for th, slope_expected in ((0.0, r.f0), (1.0, r.f1)):  # dy/dt = (dy/dtheta) / h
        theta = torch.tensor(th, dtype=F64, requires_grad=True)
        jac = torch.autograd.functional.jacobian(r.interpolant, theta)  # (4,)
        torch.testing.assert_close(jac / h, slope_expected, rtol=1e-12, atol=1e-12)


def combined_ratio_by_sums(err5: Tensor, err3: Tensor, h: float, sk: Tensor) -> float:
    """HNW I, Sect. II.10, with sums of squares of the unscaled rows (err / h)."""
    s5 = float(((err5 / h / sk) ** 2).sum())
    s3 = float(((err3 / h / sk) ** 2).sum())
    return abs(h) * s5 / math.sqrt(err5.numel() * (s5 + 0.01 * s3))


def test_error_ratio_formula_and_decisions():
    m, rtol, atol, t0 = DOP853(), 1e-9, 1e-11, math.pi
    y0 = kepler_exact(t0, 0.2)
    ratios, err5s, err3s, hs = [], [], [], [0.8, 0.6, 0.4, 0.3, 0.2]
    for h in hs:
        r = m.step(kepler, t0, y0, h, None)
        ratio = m.error_ratio(r, y0, rtol, atol)
        sk = atol + rtol * torch.maximum(y0.abs(), r.y1.abs())
        assert ratio == pytest.approx(combined_ratio_by_sums(*r.error, h, sk), rel=1e-12)
        ratios.append(ratio)
        err5s.append(float(r.error[0].norm()))
        err3s.append(float(r.error[1].norm()))
    print(f"ratios {ratios}, orders", [slope(hs, x) for x in (err5s, err3s, ratios)])
    assert ratios[0] > 1 > ratios[-1]  # too big a step is rejected, a small one accepted
    assert 5.4 < slope(hs, err5s) < 6.6  # h times a 6th-order local difference
    assert 3.6 < slope(hs, err3s) < 4.4  # h times a 4th-order local difference
    assert 7.3 < slope(hs, ratios) < 8.7  # error_order = 8
    zero = m.step(lambda t, y: torch.zeros_like(y), t0, y0, 0.1, None)
    assert m.error_ratio(zero, y0, rtol, atol) == 0.0


def test_interpolant_costs_three_evaluations_once():
    f, y0 = Counted(kepler), kepler_exact(0.0, 0.2)
    m = DOP853()
    r = m.step(f, 0.0, y0, 0.2, kepler(0.0, y0))
    assert f.n == 12  # 11 stages + f(t + h, y1)
    m.step(f, 0.0, y0, 0.2, None)
    assert f.n == 25  # and f(t, y) when the loop has no f0
    for th in (0.1, 0.5, 0.5, 0.9, torch.tensor(0.7)):
        r.interpolant(th)
    assert f.n == 28


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtypes(dtype):
    y0 = kepler_exact(0.0, 0.3).to(dtype)
    m = DOP853()
    r = m.step(kepler, 0.0, y0, 0.1, None)
    exact = kepler_exact(0.1, 0.3)
    tol = 2e-6 if dtype == torch.float32 else 1e-10  # round-off, or the error of the method
    for value, expected in ((r.y1, exact), (r.interpolant(0.5), kepler_exact(0.05, 0.3))):
        assert value.dtype == dtype
        torch.testing.assert_close(value.double(), expected, rtol=0, atol=tol)
    assert all(e.dtype == dtype for e in r.error) and r.f1.dtype == dtype
    assert isinstance(m.error_ratio(r, y0, 1e-6, 1e-6), float)


def test_tensor_times_and_gradients_wrt_h_and_t():
    y0, t0, h0, eps = kepler_exact(0.3, 0.5), 0.3, 0.25, 1e-5
    weights = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=F64)

    def loss(h: float | Tensor, t: float | Tensor) -> Tensor:
        r = DOP853().step(forced, t, y0, h, None)
        # The error estimate only steers the step size: it carries no graph.
        assert not any(e.requires_grad for e in r.error)
        return weights @ r.y1 + weights @ r.interpolant(0.6)

    h = torch.tensor(h0, dtype=F64, requires_grad=True)
    t = torch.tensor(t0, dtype=F64, requires_grad=True)
    value = loss(h, t)
    torch.testing.assert_close(value.detach(), loss(h0, t0), rtol=1e-12, atol=0)
    grads = torch.autograd.grad(value, (h, t))
    fd_h = (loss(h0 + eps, t0) - loss(h0 - eps, t0)) / (2 * eps)
    fd_t = (loss(h0, t0 + eps) - loss(h0, t0 - eps)) / (2 * eps)
    torch.testing.assert_close(grads[0], fd_h, rtol=1e-8, atol=0)
    torch.testing.assert_close(grads[1], fd_t, rtol=1e-8, atol=0)


def arenstorf(t: float | Tensor, y: Tensor) -> Tensor:
    """The restricted three-body problem of HNW I, Sect. II.0 (Arenstorf orbit)."""
    mu = 0.012277471
    x, z, vx, vz = y
    d1 = ((x + mu) ** 2 + z**2) ** 1.5
    d2 = ((x - 1 + mu) ** 2 + z**2) ** 1.5
    ax = x + 2 * vz - (1 - mu) * (x + mu) / d1 - mu * (x - 1 + mu) / d2
    az = z - 2 * vx - (1 - mu) * z / d1 - mu * z / d2
    return torch.stack([vx, vz, ax, az])


def adaptive_solve(f, y0: Tensor, t_end: float, rtol: float, atol: float, h: float) -> Tensor:
    """DOP853 steps with an I-controller (exponent 1/8; factors in [0.2, 10], safety 0.9)."""
    m, t, y, f0 = DOP853(), 0.0, y0, None
    while t < t_end:
        lands = h >= t_end - t
        h_try = t_end - t if lands else h
        r = m.step(f, t, y, h_try, f0)
        ratio = m.error_ratio(r, y, rtol, atol)
        factor = 10.0 if ratio == 0 else min(10.0, max(0.2, 0.9 * ratio ** (-1 / 8)))
        if ratio <= 1:
            t, y, f0 = (t_end if lands else t + h_try), r.y1, r.f1
        else:
            f0, factor = r.f0, min(1.0, factor)
        h = h_try * factor
    return y


def test_adaptive_loop_costs_about_what_scipy_dop853_costs():
    solve_ivp = pytest.importorskip("scipy.integrate").solve_ivp
    y0 = torch.tensor([0.994, 0.0, 0.0, -2.00158510637908252240537862224], dtype=F64)
    period, h0 = 17.0652165601579625588917206249, 1e-3
    for rtol in (1e-7, 1e-10):
        f = Counted(arenstorf)
        y = adaptive_solve(f, y0, period, rtol, rtol, h0)

        def g(t, y):
            return arenstorf(t, torch.from_numpy(y)).numpy()

        ref = solve_ivp(g, (0, period), y0.numpy(), "DOP853", rtol=rtol, atol=rtol, first_step=h0)
        ours, theirs = float((y - y0).abs().max()), float(np.abs(ref.y[:, -1] - y0.numpy()).max())
        print(f"rtol={rtol}: nodelib {f.n} evaluations (error {ours:.2e}), ", end="")
        print(f"SciPy DOP853 {ref.nfev} (error {theirs:.2e})")
        assert 1 / 1.3 < f.n / ref.nfev < 1.3
        assert ours < 30 * max(theirs, rtol)
