"""Per-sample step sizes (issue 16, item 1): `options={"per_sample": True}`.

The test batch: y' = λ_b y with rates λ_b spread over two orders of magnitude, so every
row has its own exact solution exp(λ_b t) and needs its own step sizes. The decisive
checks: a row solved inside the batch takes exactly the steps, and gets exactly the
values, it gets when solved alone (a solve that shared a step, or an error norm, across
rows would fail it); every row's error is within a small multiple of its own tolerance,
where a shared step with the batch's RMS norm lets the hardest row's error grow.
"""

from __future__ import annotations

import pytest
import torch

from nodelib import odeint, odeint_adjoint, solve

F64 = torch.float64
TOL = {"rtol": 1e-7, "atol": 1e-9}


def decay(t, y):  # rows (value, rate): y' = rate · value, rate constant
    return torch.stack([y[:, 1] * y[:, 0], torch.zeros_like(y[:, 1])], dim=1)


def batch(rates, dtype=F64):
    rates = torch.as_tensor(rates, dtype=dtype)
    return torch.stack([torch.ones_like(rates), rates], dim=1)


RATES = [-0.5, -3.0, -20.0, -60.0]


@pytest.mark.parametrize("method", ["dopri5", "tsit5", "bosh3"])
def test_a_row_in_the_batch_steps_exactly_as_it_does_alone(method):
    t = torch.linspace(0.0, 1.0, 7, dtype=F64)
    together = solve(decay, batch(RATES), t, method=method, **TOL, options={"per_sample": True})
    for b, rate in enumerate(RATES):
        alone = solve(decay, batch([rate]), t, method=method, **TOL, options={"per_sample": True})
        assert together.stats["n_accepted_per_sample"][b] == alone.stats["n_accepted_per_sample"][0]
        assert together.stats["nfe_per_sample"][b] == alone.stats["nfe_per_sample"][0]
        assert torch.allclose(together.ys[:, b], alone.ys[:, 0], rtol=1e-13, atol=0)
    steps = together.stats["n_accepted_per_sample"]
    assert steps == sorted(steps) and steps[-1] > 3 * steps[0]  # stiffer rows, more steps


def _in_tolerances(ys, exact) -> float:
    """The largest error over the output times, in units of atol + rtol |y|."""
    return float(((ys - exact).abs() / (1e-6 * exact + 1e-9)).max())


def test_every_row_meets_its_own_tolerance_where_a_shared_norm_does_not():
    # One hard row among many easy ones: the batch RMS dilutes its error by sqrt(batch).
    rates = [-0.1] * 400 + [-40.0]
    y0, t = batch(rates), torch.tensor([0.0, 0.5, 1.0], dtype=F64)
    exact = torch.exp(torch.tensor(rates, dtype=F64)[None, :] * t[:, None])
    err = {}
    for name, options in [("shared", {}), ("batch_dim", {"batch_dim": 0}),
                          ("per_sample", {"per_sample": True})]:  # fmt: skip
        ys = odeint(decay, y0, t, rtol=1e-6, atol=1e-9, options=options)
        err[name] = _in_tolerances(ys[:, -1, 0], exact[:, -1])
    alone = odeint(decay, batch([-40.0]), t, rtol=1e-6, atol=1e-9)
    err["alone"] = _in_tolerances(alone[:, 0, 0], exact[:, -1])
    assert err["per_sample"] == pytest.approx(err["alone"], rel=1e-6)
    assert err["batch_dim"] <= 2 * err["alone"]
    assert err["shared"] > 5 * err["alone"]  # what per-sample stepping fixes


def test_fewer_evaluations_than_one_shared_step_when_stiffness_differs():
    rates = torch.logspace(0, 2, 32, dtype=F64).neg()  # 1 .. 100
    t = torch.linspace(0.0, 2.0, 5, dtype=F64)
    per = solve(decay, batch(rates), t, **TOL, options={"per_sample": True})
    shared = solve(decay, batch(rates), t, **TOL, options={"batch_dim": 0})
    assert per.stats["nfe_rows"] < 0.6 * shared.stats["nfe"] * len(rates)


def test_own_output_times_per_row_and_decreasing_time():
    y0 = batch(RATES)
    tb = torch.stack([torch.linspace(0.0, s, 5, dtype=F64) for s in (0.3, 1.0, 0.1, 0.05)])
    ys = odeint(decay, y0, tb, **TOL, options={"per_sample": True})
    exact = torch.exp(torch.tensor(RATES, dtype=F64)[:, None] * tb).T  # (T, batch)
    assert ys.shape == (5, 4, 2)
    assert torch.allclose(ys[..., 0], exact, rtol=1e-5, atol=1e-8)
    back = odeint(decay, y0, -tb, **TOL, options={"per_sample": True})
    assert torch.allclose(back[..., 0], 1 / exact, rtol=1e-5)


def test_dense_output_per_row():
    t = torch.linspace(0.0, 1.0, 3, dtype=F64)
    sol = solve(decay, batch(RATES), t, **TOL, options={"per_sample": True})
    query = torch.tensor([0.13, 0.77, 0.05, 0.31], dtype=F64)
    exact = torch.exp(torch.tensor(RATES, dtype=F64) * query)
    assert torch.allclose(sol.evaluate(query)[:, 0], exact, rtol=1e-5, atol=1e-9)
    assert torch.allclose(sol.evaluate(0.0), batch(RATES))
    with pytest.raises(ValueError, match="outside the solved interval"):
        sol.evaluate(1.5)


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_float32_and_float64(dtype):
    t = torch.linspace(0.0, 1.0, 3, dtype=dtype)
    rtol = 1e-5 if dtype == torch.float32 else 1e-8
    ys = odeint(decay, batch(RATES, dtype), t, rtol=rtol, atol=1e-7, options={"per_sample": True})
    exact = torch.exp(torch.tensor(RATES, dtype=F64) * 1.0)
    assert ys.dtype == dtype
    assert torch.allclose(ys[-1, :, 0].double(), exact, rtol=50 * rtol, atol=1e-6)


def test_backprop_gradients_match_finite_differences():
    t = torch.linspace(0.0, 1.0, 3, dtype=F64)
    weight = torch.tensor(0.7, dtype=F64, requires_grad=True)

    def solution(y0, weight):
        def f(t, y):
            return weight * torch.tanh(y) - y * t[:, None]

        return odeint(f, y0, t, rtol=1e-10, atol=1e-12, options={"per_sample": True})

    y0 = torch.tensor([[0.5, -1.0], [2.0, 0.3]], dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(solution, (y0, weight), atol=1e-6, rtol=1e-4)


def test_adjoint_gradients_of_a_per_sample_forward_solve():
    # y' = θ · rate · y per row (the rate rides in the state: rows leave the batch as they
    # finish, so func must not index per-row data of its own): y_b(1) = exp(θ rate_b).
    t = torch.linspace(0.0, 1.0, 3, dtype=F64)
    theta = torch.tensor(1.0, dtype=F64, requires_grad=True)

    def f(t, y):
        return theta * decay(t, y)

    rates = torch.tensor([-1.0, -8.0], dtype=F64)
    ys = odeint_adjoint(f, batch(rates), t, **TOL, options={"per_sample": True},
                        adjoint_params=(theta,))  # fmt: skip
    (grad,) = torch.autograd.grad(ys[-1, :, 0].sum(), theta)
    assert abs(float(grad) - float((rates * torch.exp(rates)).sum())) < 1e-6


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"method": "rk4"}, "supports the adaptive FSAL pairs"),
        ({"options": {"per_sample": True, "jump_t": [0.5]}}, "not read by per-sample"),
        ({"t": torch.zeros(3, 4)}, "batch = y0.shape"),
    ],
)
def test_clear_errors(kwargs, match):
    args = {"t": torch.linspace(0.0, 1.0, 3), "options": {"per_sample": True}} | kwargs
    t, options = args.pop("t"), args.pop("options")
    with pytest.raises(ValueError, match=match):
        odeint(decay, batch(RATES, torch.float32), t, options=options, **args)
    with pytest.raises(ValueError, match="one tensor"):
        odeint(lambda t, y: y, (torch.ones(2, 1),), torch.linspace(0, 1, 3),
               options={"per_sample": True})  # fmt: skip
