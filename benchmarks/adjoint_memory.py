"""Memory of the adjoint against backprop as the number of solver steps grows.

One forward and backward pass over [0, 1] with n steps, on an MLP vector field
(256 -> 256 -> 256, tanh) with a 64 x 256 state, float32, CPU: fixed-step methods with
``step_size = 1/n``, adaptive ones with ``max_step = 1/n`` and loose tolerances (so that
max_step sets the steps, forward and backward). Three measurements per configuration:

- the bytes autograd saves for the backward pass during the forward solve, counted by
  `nodelib.course.profiling.saved_tensor_bytes` (it cannot see what the backward pass keeps
  alive: it did not notice issue 22's regression);
- the peak resident set size. Each configuration runs in a fresh subprocess (``--child``),
  because the peak RSS (``ru_maxrss``) of a process never goes down. The child reports its
  RSS after the imports and the model (the baseline) and its peak after one forward and
  backward pass; the table gives their difference;
- with ``--allocated``, the peak of the memory PyTorch allocates during the pass
  (`nodelib.course.profiling.peak_memory_bytes`: exact, the same on every run; slower).

The summary gives, per method, the growth from the fewest to the most steps of each mode,
and the adjoint's growth as a share of backprop's (issue 22's target: at most 5 %).

    python benchmarks/adjoint_memory.py                       # rk4, rk38, euler, bosh3, dopri5
    python benchmarks/adjoint_memory.py --methods rk4 --steps 50 200 800 --allocated
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys

STEPS = (50, 800)
METHODS = ("rk4", "rk38", "euler", "bosh3", "dopri5")
MODES = ("adjoint", "backprop")


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def child(mode: str, method: str, steps: int, allocated: bool) -> dict[str, float]:
    import torch
    from torch import nn

    from nodelib.adjoint import odeint_adjoint
    from nodelib.course.profiling import peak_memory_bytes, saved_tensor_bytes
    from nodelib.odeint import odeint
    from nodelib.tableau import TABLEAUS

    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(256, 256), nn.Tanh(), nn.Linear(256, 256))

    class Field(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return self.net(y)

    func = Field()
    y0 = torch.randn(64, 256, requires_grad=True)  # (batch, dim)
    t = torch.tensor([0.0, 1.0])
    adaptive = TABLEAUS[method].is_adaptive
    kwargs = {
        "method": method,
        "options": {"max_step" if adaptive else "step_size": 1.0 / steps},
        "rtol": 1e-2,
        "atol": 1e-2,
    }
    solver = odeint_adjoint if mode == "adjoint" else odeint

    def work() -> int:
        ys, saved = saved_tensor_bytes(lambda: solver(func, y0, t, **kwargs))
        ys[-1].square().mean().backward()
        return saved

    baseline = _rss_mib()
    if allocated:
        saved, peak = peak_memory_bytes(work, "cpu")
    else:
        saved, peak = work(), float("nan")
    return {
        "baseline_mib": baseline,
        "peak_mib": _rss_mib(),
        "saved_mib": saved / 2**20,
        "allocated_mib": peak / 2**20,
    }


def _run(mode: str, method: str, steps: int, allocated: bool) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", mode, method, str(steps)]
    out = subprocess.run(
        [*command, *(["--allocated"] if allocated else [])],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(methods: list[str], steps: list[int], allocated: bool) -> None:
    results = {
        (method, mode, n): _run(mode, method, n, allocated)
        for method in methods
        for mode in MODES
        for n in steps
    }
    print(
        "| method | mode | steps | saved for backward (MiB) | peak RSS - baseline (MiB) |"
        " peak allocated (MiB) |"
    )
    print("|---|---|---:|---:|---:|---:|")
    for (method, mode, n), r in results.items():
        delta = r["peak_mib"] - r["baseline_mib"]
        print(
            f"| {method} | {mode} | {n} | {r['saved_mib']:.1f} | {delta:.1f} | "
            f"{r['allocated_mib']:.1f} |"
        )
    print()
    lo, hi = min(steps), max(steps)
    print(f"Growth from {lo} to {hi} steps (MiB): adjoint, backprop, adjoint / backprop")
    print()
    print("| method | measure | adjoint | backprop | adjoint / backprop |")
    print("|---|---|---:|---:|---:|")
    for method in methods:
        for label, key in (("peak RSS", "rss"), ("peak allocated", "allocated_mib")):
            if key == "allocated_mib" and not allocated:
                continue
            growth = {}
            for mode in MODES:
                a, b = results[method, mode, lo], results[method, mode, hi]
                if key == "rss":
                    growth[mode] = (b["peak_mib"] - b["baseline_mib"]) - (
                        a["peak_mib"] - a["baseline_mib"]
                    )
                else:
                    growth[mode] = b[key] - a[key]
            share = growth["adjoint"] / growth["backprop"]
            print(
                f"| {method} | {label} | {growth['adjoint']:.1f} | {growth['backprop']:.1f} | "
                f"{100 * share:.1f} % |"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=3, metavar=("MODE", "METHOD", "STEPS"))
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--steps", nargs="+", type=int, default=list(STEPS))
    parser.add_argument("--allocated", action="store_true", help="also the exact CPU peak")
    args = parser.parse_args()
    if args.child:
        mode, method, n = args.child
        print(json.dumps(child(mode, method, int(n), args.allocated)))
    else:
        main(args.methods, args.steps, args.allocated)
