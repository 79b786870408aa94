"""Forward-solve benchmark of nodelib against torchdiffeq (a development-only dependency).

Two MLP vector fields f(t, y) = MLP(y) with tanh activations, float32:

- ``small``: batch 128, dimension 2, hidden width 64 (overhead-bound: the solver's own
  per-step Python and tensor bookkeeping dominates);
- ``large``: batch 512, dimension 64, hidden width 512 (compute-bound: the matrix products
  of the vector field dominate).

Each is solved on t in [0, 1] (11 output times) under ``torch.no_grad()`` with

- ``dopri5``: rtol=1e-5, atol=1e-7 for both libraries (tight enough for float32 to take
  several steps, loose enough not to hit float32 round-off);
- ``rk4``: fixed step 0.05 (20 steps) for both.

For every (case, method) the two libraries run alternately (the order flips each repetition)
after warm-up runs, and the table gives the number of function evaluations, the median wall
time with its interquartile range, and the ratio nodelib / torchdiffeq. Targets (the issue):
no more function evaluations than torchdiffeq; time ratio <= 0.7 on ``small`` and <= 1.0 on
``large``.

Usage::

    python benchmarks/solver_benchmark.py [--quick] [--threads N] [--device cpu|cuda]
                                          [--json results.json] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import platform
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn

import nodelib
from nodelib import odeint as nodelib_odeint

CASES = {
    # name: (batch, dim, hidden, target time ratio). "small" is the overhead-bound case of
    # the issue; "small64" (no target) shows how the ratio moves once the MLP itself
    # dominates: at hidden width 64 most of the time is spent inside the vector field.
    "small": (128, 2, 32, 0.7),
    "small64": (128, 2, 64, None),
    "large": (512, 64, 512, 1.0),
}
METHODS = {
    "dopri5": {"rtol": 1e-5, "atol": 1e-7},
    "rk4": {"step_size": 0.05},
}
T_END, N_TIMES = 1.0, 11


class MLPField(nn.Module):
    """f(t, y) = W3 tanh(W2 tanh(W1 y + b1) + b2) + b3, counting its evaluations."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, hidden),
            nn.Tanh(),
            nn.Linear(hidden, hidden),
            nn.Tanh(),
            nn.Linear(hidden, dim),
        )
        self.nfe = 0

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.nfe += 1
        return self.net(y)


@dataclass
class Row:
    case: str
    method: str
    nfe_nodelib: int
    nfe_torchdiffeq: int
    median_ms_nodelib: float
    iqr_ms_nodelib: float
    median_ms_torchdiffeq: float
    iqr_ms_torchdiffeq: float
    ratio: float
    target_ratio: float | None
    max_abs_diff: float

    @property
    def met(self) -> bool:
        ratio_ok = self.target_ratio is None or self.ratio <= self.target_ratio
        return self.nfe_nodelib <= self.nfe_torchdiffeq and ratio_ok


def _solver(lib: str, method: str) -> Callable:
    cfg = METHODS[method]
    if lib == "nodelib":
        if method == "rk4":
            return lambda f, y0, t: nodelib_odeint(
                f, y0, t, method="rk4", options={"step_size": cfg["step_size"]}
            )
        return lambda f, y0, t: nodelib_odeint(
            f, y0, t, method=method, rtol=cfg["rtol"], atol=cfg["atol"]
        )
    import torchdiffeq  # development-only dependency: imported here and nowhere in nodelib

    if method == "rk4":
        return lambda f, y0, t: torchdiffeq.odeint(
            f, y0, t, method="rk4", options={"step_size": cfg["step_size"]}
        )
    return lambda f, y0, t: torchdiffeq.odeint(
        f, y0, t, method=method, rtol=cfg["rtol"], atol=cfg["atol"]
    )


def _timed(solve: Callable, f: MLPField, y0, t, device: torch.device) -> tuple[float, int, object]:
    f.nfe = 0
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    with torch.no_grad():
        ys = solve(f, y0, t)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, f.nfe, ys


def _quartiles(xs: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(xs, n=4, method="inclusive") if len(xs) > 1 else [xs[0]] * 3
    return q[1], q[2] - q[0]


def run_case(case: str, method: str, device: torch.device, repeats: int, warmup: int) -> Row:
    batch, dim, hidden, target = CASES[case]
    torch.manual_seed(0)
    f = MLPField(dim, hidden).to(device)
    y0 = torch.randn(batch, dim, device=device)
    t = torch.linspace(0.0, T_END, N_TIMES, device=device)
    libs = {name: _solver(name, method) for name in ("nodelib", "torchdiffeq")}
    times = {name: [] for name in libs}
    nfe, final = {}, {}
    for _ in range(warmup):
        for solve in libs.values():
            _timed(solve, f, y0, t, device)
    for rep in range(repeats):
        order = list(libs) if rep % 2 == 0 else list(libs)[::-1]
        for name in order:
            dt, nfe[name], ys = _timed(libs[name], f, y0, t, device)
            times[name].append(dt)
            final[name] = ys[-1]
    (m_n, iqr_n), (m_t, iqr_t) = _quartiles(times["nodelib"]), _quartiles(times["torchdiffeq"])
    return Row(
        case,
        method,
        nfe["nodelib"],
        nfe["torchdiffeq"],
        1e3 * m_n,
        1e3 * iqr_n,
        1e3 * m_t,
        1e3 * iqr_t,
        m_n / m_t,
        target,
        float((final["nodelib"] - final["torchdiffeq"]).abs().max()),
    )


def markdown(rows: list[Row]) -> str:
    head = (
        "| case | method | nfe nodelib | nfe torchdiffeq | nodelib ms (IQR) "
        "| torchdiffeq ms (IQR) | ratio | target | max abs diff | met |"
    )
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        lines.append(
            f"| {r.case} | {r.method} | {r.nfe_nodelib} | {r.nfe_torchdiffeq} "
            f"| {r.median_ms_nodelib:.2f} ({r.iqr_ms_nodelib:.2f}) "
            f"| {r.median_ms_torchdiffeq:.2f} ({r.iqr_ms_torchdiffeq:.2f}) "
            f"| {r.ratio:.2f} | {'-' if r.target_ratio is None else f'<= {r.target_ratio:g}'} "
            f"| {r.max_abs_diff:.1e} "
            f"| {'yes' if r.met else 'NO'} |"
        )
    return "\n".join(lines)


def profile_nodelib(cases: list[str], methods: list[str], device: torch.device, n: int) -> str:
    """cProfile of n nodelib solves per (case, method), top 25 functions by own time."""
    out = io.StringIO()
    for case in cases:
        batch, dim, hidden, _ = CASES[case]
        torch.manual_seed(0)
        f = MLPField(dim, hidden).to(device)
        y0 = torch.randn(batch, dim, device=device)
        t = torch.linspace(0.0, T_END, N_TIMES, device=device)
        for method in methods:
            solve = _solver("nodelib", method)
            _timed(solve, f, y0, t, device)
            prof = cProfile.Profile()
            prof.enable()
            for _ in range(n):
                _timed(solve, f, y0, t, device)
            prof.disable()
            out.write(f"\n### cProfile: nodelib {method} on {case}, {n} solves\n")
            pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(25)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="5 repetitions, 1 warm-up")
    ap.add_argument("--repeats", type=int, default=None, help="timed runs per library")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--cases", default="small,small64,large")
    ap.add_argument("--methods", default="dopri5,rk4")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of nodelib")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda, but torch.cuda.is_available() is False")
    repeats = args.repeats or (5 if args.quick else 21)
    warmup = 1 if args.quick else 3
    cases, methods = args.cases.split(","), args.methods.split(",")
    import torchdiffeq

    meta = {
        "torch": torch.__version__,
        "torchdiffeq": torchdiffeq.__version__,
        "nodelib": nodelib.__version__,
        "python": platform.python_version(),
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "threads": torch.get_num_threads(),
        "repeats": repeats,
        "warmup": warmup,
        "dtype": "float32",
        "t": f"linspace(0, {T_END}, {N_TIMES})",
        "methods": METHODS,
    }
    print(
        f"torch {meta['torch']}, torchdiffeq {meta['torchdiffeq']}, device {meta['device']}, "
        f"torch.get_num_threads() = {meta['threads']}, {repeats} interleaved repetitions "
        f"after {warmup} warm-up(s); times are medians (IQR) in ms"
    )
    rows = [run_case(c, m, device, repeats, warmup) for c in cases for m in methods]
    print(markdown(rows))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {"meta": meta, "rows": [asdict(r) | {"met": r.met} for r in rows]}, fh, indent=2
            )
    if args.profile:
        print(profile_nodelib(cases, methods, device, n=max(3, repeats // 2)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
