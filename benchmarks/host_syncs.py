"""Host synchronisations per accepted step: nodelib's shared-step and per-sample loops, torchdiffeq.

On a GPU every read of a tensor's value by the host (`.item()`, `float()`, `bool()`,
`nonzero`, boolean-mask indexing, ...) waits for all the work queued before it, so a solver
that reads the device several times per step cannot keep the GPU busy on small problems.
`nodelib.course.profiling.count_host_syncs` counts those reads; on the CPU the code makes
the same reads, so the counts below hold on any device.

Problem: an MLP field (2 -> 64 -> 64 -> 2, tanh) on a batch of 128 rows, float64, outputs
at t = linspace(0, 5, 11), a forward solve under `no_grad`. Adaptive methods at
rtol=1e-8, atol=1e-10; rk4 (torchdiffeq's, the 3/8 rule: nodelib's rk38) with step 0.05.
Accepted steps: nodelib's statistics (per-sample: the largest number of any row),
torchdiffeq's `callback_accept_step` (its fixed-step solvers: the number of steps).

    python benchmarks/host_syncs.py            # a markdown table
    python benchmarks/host_syncs.py --sites    # and where each library reads the device
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

import nodelib
from nodelib.course.profiling import count_host_syncs

ADAPTIVE = {"rtol": 1e-8, "atol": 1e-10}
SPAN, STEP = 5.0, 0.05


class Field(nn.Module):
    """The MLP vector field; counts the steps torchdiffeq accepts through its callback."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(2, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh())
        self.out = nn.Linear(64, 2)
        self.double()
        self.accepted = 0

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.out(self.net(y))

    def callback_accept_step(self, t0, y0, dt) -> None:  # torchdiffeq's hook
        self.accepted += 1


def _y0() -> torch.Tensor:
    return torch.randn(128, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))


def _nodelib(method: str, per_sample: bool) -> tuple[int, int, dict]:
    func, y0, t = Field(), _y0(), torch.linspace(0.0, SPAN, 11, dtype=torch.float64)
    kwargs = dict(ADAPTIVE, method=method) if method != "rk38" else {"method": "rk38"}
    options = {"step_size": STEP} if method == "rk38" else {}
    if per_sample:
        options["per_sample"] = True
    with torch.no_grad():
        _, sites = count_host_syncs(lambda: nodelib.odeint(func, y0, t, options=options, **kwargs))
        stats = nodelib.solve(func, y0, t, options=options, **kwargs).stats
    accepted = max(stats["n_accepted_per_sample"]) if per_sample else stats["n_accepted"]
    return sites.total(), accepted, sites


def _torchdiffeq(method: str) -> tuple[int, int, dict]:
    import torchdiffeq

    func, y0, t = Field(), _y0(), torch.linspace(0.0, SPAN, 11, dtype=torch.float64)
    kwargs = dict(ADAPTIVE, method=method) if method != "rk4" else {"method": "rk4"}
    options = {"step_size": STEP} if method == "rk4" else None
    with torch.no_grad():
        func.accepted = 0
        _, sites = count_host_syncs(
            lambda: torchdiffeq.odeint(func, y0, t, options=options, **kwargs)
        )
    accepted = round(SPAN / STEP) if method == "rk4" else func.accepted
    return sites.total(), accepted, sites


def main(show_sites: bool) -> None:
    torch.set_num_threads(1)
    rows = [(f"nodelib shared {m}", _nodelib(m, False)) for m in ("dopri5", "tsit5", "bosh3")]
    rows.append(("nodelib shared rk38 (fixed)", _nodelib("rk38", False)))
    rows += [(f"nodelib per-sample {m}", _nodelib(m, True)) for m in ("dopri5", "tsit5", "bosh3")]
    try:
        rows += [(f"torchdiffeq {m}", _torchdiffeq(m)) for m in ("dopri5", "bosh3", "rk4")]
    except ImportError:
        print("(torchdiffeq is not installed: pip install -r requirements-dev.txt)")
    print("| solver | host reads | accepted steps | reads per accepted step |")
    print("|---|---:|---:|---:|")
    for name, (total, accepted, _) in rows:
        print(f"| {name} | {total} | {accepted} | {total / accepted:.2f} |")
    if show_sites:
        for name, (_, _, sites) in rows:
            print(f"\n{name}:")
            for site, n in sites.most_common():
                print(f"  {n:5d}  {site}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", action="store_true", help="list where the reads happen")
    main(parser.parse_args().sites)
