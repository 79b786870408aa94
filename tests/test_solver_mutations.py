"""Checks of the solver core that a small slip in its code would break (issue 22, item 5).

Each test pins one property exactly, with numbers worked out by hand: where a step lands,
how far the controller may shrink or grow a step and what it remembers, how many steps a
grid has, which norm a backward solve uses, the slope of an event time, the values and
the counts of the per-sample loop. Ten realistic mutations of the core (a comparison, a
missing factor, a wrong argument) went unnoticed by the other tests; each fails one here
(the issue's report lists which). What a solve keeps alive is checked here for the forward
solve and in test_adjoint_memory.py for the adjoint.
"""

from __future__ import annotations

import gc
import math
import weakref

import pytest
import torch

import nodelib
from nodelib.per_sample import PerSampleSolve
from nodelib.step_control import IController, PIController, RecordingController

pytestmark = pytest.mark.usefixtures("one_thread")

F64 = torch.float64


def decay(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return -y


# --- where steps land ------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["dopri5", "bosh3", "tsit5"])
def test_a_step_of_exactly_the_remaining_length_lands_on_the_end(method: str) -> None:
    y0 = torch.ones(3, dtype=F64)
    sol = nodelib.solve(
        decay, y0, torch.tensor([0.0, 1.0], dtype=F64), method=method,
        rtol=1e-2, atol=1e-2, options={"first_step": 1.0},
    )  # fmt: skip
    stages = {"dopri5": 6, "bosh3": 3, "tsit5": 6}[method]
    assert sol.stats["n_accepted"] == 1 and sol.stats["n_rejected"] == 0
    assert sol.stats["nfe"] == 1 + stages  # f(t0, y0) and one step: no second, empty step


@pytest.mark.parametrize("controller", ["i", "pi"])
def test_max_step_bounds_every_step_not_only_the_first(controller: str) -> None:
    rec = RecordingController(IController() if controller == "i" else PIController())
    nodelib.solve(
        decay, torch.ones(2, dtype=F64), torch.tensor([0.0, 3.0], dtype=F64),
        rtol=1e-3, atol=1e-6, options={"max_step": 0.1, "controller": rec},
    )  # fmt: skip
    steps = [h for h, _, _ in rec.attempts]
    assert len(steps) >= 30
    assert max(steps) <= 0.1  # a loose tolerance would allow much larger steps


@pytest.mark.parametrize(
    ("t", "step", "n"),
    [((0.0, 0.3), 0.1, 3), ((0.2, 0.3), 0.025, 4), ((1.0, 1.7), 0.1, 7), ((0.0, 2.1), 0.3, 7)],
)
def test_a_float32_span_of_whole_steps_gets_no_extra_tiny_step(t, step, n) -> None:
    # float32 times are not the decimal numbers: 0.3 - 0.2 is 0.10000000894 in float32.
    times = torch.tensor(t, dtype=torch.float32)
    assert (float(times[1]) - float(times[0])) / step != n  # the span is not exact ...
    sol = nodelib.solve(decay, torch.ones(2), times, method="rk4", options={"step_size": step})
    assert sol.stats["n_accepted"] == n  # ... but it is n steps up to float32 resolution
    assert sol.stats["nfe"] == 4 * n
    exact = torch.full((2,), math.exp(-(t[1] - t[0])))
    torch.testing.assert_close(sol.ys[-1], exact, rtol=1e-3, atol=0.0)


# --- the step-size controllers -----------------------------------------------------------------


@pytest.mark.parametrize("ratio", [1e6, 1e12, 1e300])
def test_a_huge_error_shrinks_the_step_by_dfactor_and_no_more(ratio: float) -> None:
    for controller in (IController(), IController(dfactor=0.5)):
        assert controller.propose(2.0, ratio, 5) == (False, 2.0 * controller.dfactor)
    for controller in (PIController(), PIController(dfactor=0.5)):
        accept, h, _ = controller.decide(2.0, ratio, 5, 0.3)
        assert (accept, h) == (False, 2.0 * controller.dfactor)


def _rate_field(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Rows (rate, value): the value decays at the row's own rate, which stays constant."""
    return torch.cat([torch.zeros_like(y[:, :1]), -y[:, :1] * y[:, 1:]], dim=1)


def _rows(*rates: float) -> torch.Tensor:
    return torch.tensor([[r, 1.0] for r in rates], dtype=F64)


def test_per_sample_rows_shrink_by_dfactor_after_a_huge_error() -> None:
    # Row 0 is smooth; row 1 (rate 1e3) has a huge error in its first step of 0.1.
    solve = PerSampleSolve(
        _rate_field, _rows(1.0, 1e3), torch.tensor([0.0, 1.0], dtype=F64),
        1e-3, 1e-6, "bosh3", {"dfactor": 0.5}, True,
    ).run(first_step=0.1)  # fmt: skip
    rows, _, _, accepted, _ = solve.steps[0]
    assert rows.tolist() == [0, 1] and accepted.tolist() == [True, False]
    _, _, h, _, _ = solve.steps[1]
    assert float(h[1]) == pytest.approx(0.05)  # 0.1 · dfactor, not 0.1 · safety · ratio^(-1/3)


def test_the_pi_controller_remembers_the_last_accepted_error_across_rejections() -> None:
    pi, k = PIController(), 5
    accept, h1, memory = pi.decide(1.0, 0.5, k, pi.initial_state())
    assert accept and memory == 0.5
    # A rejection falls back to the I rule and keeps the memory of the last accepted step.
    accept, h2, memory = pi.decide(h1, 4.0, k, memory)
    assert not accept and memory == 0.5
    assert h2 == pytest.approx(h1 * max(pi.dfactor, pi.safety * 4.0 ** (-1 / k)))
    accept, h3, memory = pi.decide(h2, 0.25, k, memory)
    expected = pi.safety * 0.25 ** (-pi.beta1 / k) * 0.5 ** (pi.beta2 / k)
    assert accept and memory == 0.25
    assert h3 == pytest.approx(h2 * min(pi.ifactor, max(pi.dfactor, expected)))


def test_the_pi_controller_in_a_solve_follows_its_formula_step_by_step() -> None:
    rec = RecordingController(PIController())
    # A loose first step and a stiffish decay: rejections happen along the way.
    nodelib.solve(
        lambda t, y: -50 * (y - torch.cos(t)), torch.zeros(1, dtype=F64),
        torch.tensor([0.0, 2.0], dtype=F64), rtol=1e-6, atol=1e-9,
        options={"controller": rec, "first_step": 0.5},
    )  # fmt: skip
    pi, k, memory, pairs = rec.inner, 5, 1.0, []  # dopri5: error order 5
    assert any(not a for _, _, a in rec.attempts)
    for (h, ratio, accepted), (h_next, _, _) in zip(rec.attempts, rec.attempts[1:], strict=False):
        r = max(ratio, 1e-10)
        if accepted:
            factor = pi.safety * r ** (-pi.beta1 / k) * memory ** (pi.beta2 / k)
            expected, memory = h * min(pi.ifactor, max(pi.dfactor, factor)), r
        else:
            expected = h * min(1.0, max(pi.dfactor, pi.safety * r ** (-1 / k)))
        pairs.append((h_next, expected))
    # Each step tried is the controller's proposal; the last one is cut to land on the end.
    for h_next, expected in pairs[:-1]:
        assert h_next == pytest.approx(expected, rel=1e-12)
    assert pairs[-1][0] <= pairs[-1][1]


# --- what a solve keeps alive ----------------------------------------------------------------


@pytest.mark.parametrize("method", ["rk4", "euler", "bosh3", "dopri5", "dopri8", "bdf2"])
def test_a_solve_keeps_a_bounded_number_of_evaluations_alive(method: str) -> None:
    alive_max, refs = [0], []

    def f(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = -y
        alive_max[0] = max(alive_max[0], sum(r() is not None for r in refs))
        refs.append(weakref.ref(out))
        return out

    options = {"step_size": 0.01} if method in ("rk4", "euler", "bdf2") else {"max_step": 0.01}
    gc.collect()
    gc.disable()  # what reference counting frees, nothing the cycle collector might
    try:
        with torch.no_grad():
            nodelib.odeint(f, torch.ones(4), torch.tensor([0.0, 0.5, 1.0]), method=method,
                           rtol=1e-3, atol=1e-3, options=options)  # fmt: skip
    finally:
        gc.enable()
    assert len(refs) >= 100  # 100 steps or more
    assert alive_max[0] <= 16  # one step's stages and a few slopes, whatever the step count


# --- the adjoint's backward solves ---------------------------------------------------------------


def test_the_forward_norm_option_stays_out_of_the_adjoint_backward_solves() -> None:
    calls = {"forward": 0, "backward": 0}
    phase = ["forward"]

    def max_norm(err: torch.Tensor) -> torch.Tensor:  # written for y-shaped errors
        calls[phase[0]] += 1
        return err.abs().max()

    def gradient(options: dict) -> torch.Tensor:
        theta = torch.tensor([0.5, 2.0], dtype=F64, requires_grad=True)
        ys = nodelib.odeint_adjoint(
            lambda t, y: torch.stack([theta[1] * y[1], -theta[0] * y[0]]),
            torch.tensor([1.0, 0.0], dtype=F64), torch.tensor([0.0, 1.0], dtype=F64),
            options=options, adjoint_params=(theta,), rtol=1e-8, atol=1e-10,
        )  # fmt: skip
        phase[0] = "backward"
        ys[-1].sum().backward()
        phase[0] = "forward"
        return theta.grad

    reference = gradient({})
    assert calls == {"forward": 0, "backward": 0}
    with_norm = gradient({"norm": max_norm})
    assert calls["forward"] > 0 and calls["backward"] == 0
    torch.testing.assert_close(with_norm, reference, rtol=1e-6, atol=1e-8)


# --- events ---------------------------------------------------------------------------------


def test_the_event_time_slope_includes_the_event_functions_time_derivative() -> None:
    # y' = theta, g(t, y) = y + t - 1: t* = (1 - y0) / (theta + 1), with dg/dt = 1.
    theta = torch.tensor(0.5, dtype=F64, requires_grad=True)
    y0 = torch.tensor([0.25], dtype=F64, requires_grad=True)
    t_event, _ = nodelib.odeint_event(
        lambda t, y: theta * torch.ones_like(y), y0, 0.0,
        event_fn=lambda t, y: y[0] + t - 1.0, rtol=1e-10, atol=1e-12,
    )  # fmt: skip
    assert float(t_event.detach()) == pytest.approx(0.75 / 1.5, rel=1e-9)
    g_y0, g_theta = torch.autograd.grad(t_event, (y0, theta))
    assert float(g_y0) == pytest.approx(-1 / 1.5, rel=1e-8)
    assert float(g_theta) == pytest.approx(-0.75 / 1.5**2, rel=1e-8)


# --- the per-sample loop ----------------------------------------------------------------------


def test_per_sample_hermite_dense_output_is_fourth_order_accurate() -> None:
    # bosh3 has no continuous extension: its outputs inside steps are cubic Hermite.
    rates = torch.tensor([0.5, 1.0, 2.0, 4.0], dtype=F64)
    t = torch.linspace(0.0, 2.0, 81, dtype=F64)
    sol = nodelib.solve(
        _rate_field, _rows(*rates.tolist()), t, method="bosh3", rtol=1e-5, atol=1e-8,
        options={"per_sample": True},
    )  # fmt: skip
    exact = torch.exp(-t[:, None] * rates[None])
    assert min(sol.stats["n_accepted_per_sample"]) < 40  # outputs fall inside steps
    # The solution's own error is about the tolerance; a wrong interpolant is off by h·y'.
    assert float((sol.ys[:, :, 1] - exact).abs().max()) < 1e-4


def test_per_sample_nfe_counts_every_evaluation_of_every_row() -> None:
    # Column 0 holds each row's index (f leaves it constant), so the rows can be told apart.
    batch = 5
    seen = torch.zeros(batch, dtype=torch.long)
    calls = [0]

    def f(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        calls[0] += 1
        seen.index_add_(0, y[:, 0].long(), torch.ones(y.shape[0], dtype=torch.long))
        rate = 1.0 + y[:, :1]
        return torch.cat([torch.zeros_like(y[:, :1]), -rate * y[:, 1:]], dim=1)

    y0 = torch.stack([torch.arange(batch, dtype=F64), torch.ones(batch, dtype=F64)], dim=1)
    ends = torch.linspace(0.5, 3.0, batch, dtype=F64)
    t = torch.stack([torch.zeros(batch, dtype=F64), ends], dim=1)
    sol = nodelib.solve(f, y0, t, method="dopri5", rtol=1e-6, atol=1e-9,
                        options={"per_sample": True})  # fmt: skip
    assert sol.stats["nfe"] == calls[0]
    assert sol.stats["nfe_per_sample"] == seen.tolist()
    assert sol.stats["nfe_rows"] == int(seen.sum())
    # f(t0, y0), the starting-step estimate, then 6 new stages per step tried (FSAL).
    for nfe, a, r in zip(sol.stats["nfe_per_sample"], sol.stats["n_accepted_per_sample"],
                         sol.stats["n_rejected_per_sample"], strict=True):  # fmt: skip
        assert nfe == 2 + 6 * (a + r)
