"""nodelib.theory.autodiff: dual numbers and the reverse-mode tape, against torch.autograd.

Forward and reverse mode must give torch.autograd's derivatives to rounding on functions
that use every operation (each operation's rule is checked, since a wrong rule changes the
result), forward mode must cost one evaluation per input and reverse mode one tape.
"""

from __future__ import annotations

import math

import pytest
import torch

from nodelib.theory import autodiff as ad
from nodelib.theory.autodiff import Dual, Tape, Var

F64 = torch.float64


def _mixed(x, y):
    """Every operation and elementary function, with numbers on both sides."""
    lib = ad if isinstance(x, (Dual, Var)) else torch
    a = 2.0 * x * y - y / x + 3.0 - x
    b = lib.exp(0.3 * x) * lib.sin(y) + lib.cos(x * y) - lib.tanh(y - 1.0)
    c = lib.log(x * x + 1.0) + lib.sqrt(y + 2.0) + 1.5 / (1.0 + x * x) + (4.0 - y) * x
    return a * b + c**3 / 7.0 - x**2.5 + 2.0**y + (-x)


POINTS = [(0.7, 1.3), (1.9, -0.4), (0.25, 2.2)]


def _torch_gradient(x: float, y: float) -> tuple[float, list[float]]:
    X, Y = (torch.tensor(v, dtype=F64, requires_grad=True) for v in (x, y))
    out = _mixed(X, Y)
    gx, gy = torch.autograd.grad(out, (X, Y))
    return float(out.detach()), [float(gx), float(gy)]


@pytest.mark.parametrize("point", POINTS)
def test_forward_mode_matches_torch_autograd(point: tuple[float, float]) -> None:
    value, grad = ad.forward_gradient(_mixed, point)
    ref_value, ref_grad = _torch_gradient(*point)
    assert value == pytest.approx(ref_value, rel=1e-13)
    assert grad == pytest.approx(ref_grad, rel=1e-12, abs=1e-13)


@pytest.mark.parametrize("point", POINTS)
def test_reverse_mode_matches_torch_autograd(point: tuple[float, float]) -> None:
    value, grad, nodes = ad.reverse_gradient(_mixed, point)
    ref_value, ref_grad = _torch_gradient(*point)
    assert value == pytest.approx(ref_value, rel=1e-13)
    assert grad == pytest.approx(ref_grad, rel=1e-12, abs=1e-13)
    assert nodes > 30  # every operation was recorded


def test_dual_numbers_give_exact_derivatives_of_polynomials() -> None:
    # p(x) = x^3 - 2x + 1/x: p'(x) = 3x^2 - 2 - 1/x^2, exactly representable at x = 2.
    value, d = ad.derivative(lambda x: x**3 - 2 * x + 1 / x, 2.0)
    assert (value, d) == (4.5, 9.75)
    assert ad.derivative(lambda x: ad.sin(x) * ad.exp(x), 0.0) == (0.0, 1.0)


def test_chain_rule_of_the_written_exercise() -> None:
    """T(S, C) = S - C with C = S^2: dT/dS = 1 - 2S."""
    for s in (0.3, -1.25, 4.0):
        _, d = ad.derivative(lambda S: S - S**2, s)
        assert d == pytest.approx(1 - 2 * s, abs=1e-15)


def test_forward_mode_costs_one_evaluation_per_input_reverse_mode_one() -> None:
    calls = [0]

    def f(*xs):
        calls[0] += 1
        return sum((x * x for x in xs), 0.0)

    xs = [0.1 * i for i in range(7)]
    _, g_fwd = ad.forward_gradient(f, xs)
    assert calls[0] == 7
    _, g_rev, nodes = ad.reverse_gradient(f, xs)
    assert calls[0] == 8 and g_fwd == pytest.approx(g_rev) == [2 * x for x in xs]
    assert nodes == 7 + 7 + 7  # inputs, squares, sums (0.0 + first square included)


def test_tape_records_local_partials_and_sweeps_once() -> None:
    tape = Tape()
    x, y = tape.variable(3.0), tape.variable(2.0)
    z = x * y + x  # dz/dx = y + 1, dz/dy = x
    assert len(tape) == 4 and tape.parents[2] == ((0, 2.0), (1, 3.0))
    assert tape.gradient(z, [x, y]) == [3.0, 3.0]
    assert tape.gradient(x * 1.0, [y]) == [0.0]  # y does not reach the output


def test_mixing_modes_and_tapes_is_refused() -> None:
    tape, other = Tape(), Tape()
    x = tape.variable(1.0)
    with pytest.raises(TypeError, match="one mode"):
        _ = x + Dual(1.0, 1.0)
    with pytest.raises(TypeError, match="one mode"):
        _ = Dual(1.0, 1.0) * x
    with pytest.raises(ValueError, match="different tapes"):
        _ = x + other.variable(2.0)
    with pytest.raises(ValueError, match="this tape"):
        other.gradient(x, [x])
    with pytest.raises(TypeError, match="real number"):
        Dual("1")
    with pytest.raises(TypeError, match="not a Dual"):
        ad.derivative(lambda s: math.sin(1.0), 1.0)
    with pytest.raises(ValueError, match="at least one"):
        ad.forward_gradient(lambda: 0.0, [])
