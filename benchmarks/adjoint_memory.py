"""Memory of the adjoint against backprop as the number of solver steps grows.

Fixed-step rk4 over [0, 1] with 50, 200 and 800 steps on an MLP vector field
(256 -> 512 -> 256, tanh) with a 64 x 256 state, float32, CPU. Two measurements:

- the bytes autograd saves for the backward pass during the forward solve, counted by
  `nodelib.course.profiling.saved_tensor_bytes`: exact and the same on every machine (chapter 5
  recomputes this column at a small size);
- the peak resident set size. Each configuration runs in a fresh subprocess (``--child``),
  because the peak RSS (``ru_maxrss``) of a process never goes down. The child reports its
  RSS after the imports and the model (the baseline) and its peak after one forward and
  backward pass; the table gives both and their difference.

    python benchmarks/adjoint_memory.py            # prints a markdown table
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys

STEPS = (50, 200, 800)
MODES = ("adjoint", "backprop")


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def child(mode: str, steps: int) -> dict[str, float]:
    import torch
    from torch import nn

    from nodelib.adjoint import odeint_adjoint
    from nodelib.course.profiling import saved_tensor_bytes
    from nodelib.odeint import odeint

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(256, 512), nn.Tanh(), nn.Linear(512, 256))

    class Field(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return self.net(y)

    func = Field()
    y0 = torch.randn(64, 256, requires_grad=True)  # (batch, dim)
    t = torch.tensor([0.0, 1.0])
    solver = odeint_adjoint if mode == "adjoint" else odeint
    baseline = _rss_mib()
    ys, saved = saved_tensor_bytes(
        lambda: solver(func, y0, t, method="rk4", options={"step_size": 1.0 / steps})
    )
    ys[-1].square().mean().backward()
    return {"baseline_mib": baseline, "peak_mib": _rss_mib(), "saved_mib": saved / 2**20}


def main() -> None:
    results = {}
    for mode in MODES:
        for steps in STEPS:
            out = subprocess.run(
                [sys.executable, __file__, "--child", mode, str(steps)],
                check=True,
                capture_output=True,
                text=True,
            )
            results[mode, steps] = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        "| steps | mode | saved for backward (MiB) | baseline RSS (MiB) | peak RSS (MiB) |"
        " peak - baseline (MiB) | peak / peak at 50 | (peak - baseline) / same at 50 |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for mode in MODES:
        first = results[mode, STEPS[0]]
        for steps in STEPS:
            r = results[mode, steps]
            delta = r["peak_mib"] - r["baseline_mib"]
            delta0 = first["peak_mib"] - first["baseline_mib"]
            print(
                f"| {steps} | {mode} | {r['saved_mib']:.1f} | {r['baseline_mib']:.0f} | "
                f"{r['peak_mib']:.0f} | "
                f"{delta:.1f} | {r['peak_mib'] / first['peak_mib']:.2f} | {delta / delta0:.2f} |"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("MODE", "STEPS"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]))))
    else:
        main()
