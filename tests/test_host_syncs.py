"""How often the solver loops make the host wait for the device (issue 22, item 4).

On a GPU every read of a tensor's value by the host (`.item()`, `float()`, `bool()`,
`nonzero`, boolean-mask indexing, `tolist`, ...) waits for all queued work; a loop that
reads several times per step leaves the GPU idle on small problems. The reads are counted
on the CPU with `nodelib.course.profiling.count_host_syncs` (the code makes the same reads
on any device). Each test pins the reads per step exactly (the difference between a short
and a long solve) and the reads outside the loop by a small bound, so a change that adds a
read fails here and names the line that reads.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import nodelib
from nodelib.course.profiling import count_host_syncs

pytestmark = pytest.mark.usefixtures("one_thread")

TOL = {"rtol": 1e-8, "atol": 1e-10}


def _field() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 2)).double()


def _y0() -> torch.Tensor:
    return torch.randn(16, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))


def _reads(span: float, method: str, options: dict) -> tuple[int, dict, object]:
    """Host reads of one forward `odeint`, and `solve`'s statistics of the same solve."""
    f, y0 = _field(), _y0()
    t = torch.linspace(0.0, span, 6, dtype=torch.float64)
    kwargs = {"method": method, "options": options, **TOL}
    with torch.no_grad():
        _, sites = count_host_syncs(lambda: nodelib.odeint(lambda t, y: f(y), y0, t, **kwargs))
        stats = nodelib.solve(lambda t, y: f(y), y0, t, **kwargs).stats
    return sites.total(), stats, sites


@pytest.mark.parametrize("method", ["dopri5", "bosh3"])
def test_shared_adaptive_loop_reads_once_per_step(method: str) -> None:
    short, s_short, sites = _reads(1.0, method, {})
    long, s_long, _ = _reads(6.0, method, {})
    assert s_long["n_steps"] > 2 * s_short["n_steps"]
    # One read per step tried: its error ratio, which decides acceptance and the next step.
    assert long - short == s_long["n_steps"] - s_short["n_steps"], sites
    setup = short - s_short["n_steps"]
    assert setup <= 10, sites  # checks of y0, t and f(t0, y0); the first step size
    assert long <= 2 * s_long["n_accepted"]


def test_shared_fixed_step_loop_reads_once_per_output() -> None:
    coarse, s_coarse, sites = _reads(1.0, "rk4", {"step_size": 0.05})
    fine, s_fine, _ = _reads(1.0, "rk4", {"step_size": 0.005})
    assert s_fine["n_accepted"] == 10 * s_coarse["n_accepted"] == 200
    # Independent of the number of steps: one finiteness check per output time.
    assert fine == coarse <= 6 + 5, sites


def _attempts(stats: dict) -> list[int]:
    """Each row's steps tried (accepted and rejected)."""
    pairs = zip(stats["n_accepted_per_sample"], stats["n_rejected_per_sample"], strict=True)
    return [a + r for a, r in pairs]


@pytest.mark.parametrize("method", ["dopri5", "bosh3"])
def test_per_sample_loop_reads_once_per_iteration(method: str) -> None:
    options = {"per_sample": True}
    short, s_short, sites = _reads(1.0, method, options)
    long, s_long, _ = _reads(6.0, method, options)
    # Every row tries one step per iteration until it ends: the longest row's attempts.
    iterations = [max(_attempts(s)) for s in (s_short, s_long)]
    assert iterations[1] > 2 * iterations[0]
    assert long - short == iterations[1] - iterations[0], sites
    assert short - iterations[0] <= 5, sites  # checks of y0 and t, the batch's first rows
    assert long <= 2 * max(s_long["n_accepted_per_sample"])


def test_per_sample_rows_ending_at_different_times_cost_no_extra_reads() -> None:
    f, y0 = _field(), _y0()
    ends = torch.linspace(0.5, 6.0, 16, dtype=torch.float64)
    t = torch.stack([torch.linspace(0.0, 1.0, 7, dtype=torch.float64) * e for e in ends])
    kwargs = {"method": "dopri5", "options": {"per_sample": True}, **TOL}
    with torch.no_grad():
        ys, sites = count_host_syncs(lambda: nodelib.odeint(lambda t, y: f(y), y0, t, **kwargs))
        sol = nodelib.solve(lambda t, y: f(y), y0, t, **kwargs)
    attempts = _attempts(sol.stats)
    assert len(set(attempts)) > 4  # the rows leave the batch at many different iterations
    assert sites.total() <= max(attempts) + 5, sites
    torch.testing.assert_close(ys, sol.ys)
