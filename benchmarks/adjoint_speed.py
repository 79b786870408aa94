"""Forward + backward benchmark of nodelib against torchdiffeq: adjoint and backprop.

The problems are those of part 2 of ``solver_benchmark.py`` (imported from it): an MLP
vector field in float32 on the CPU, ``small`` (batch 128, dimension 2, hidden 64:
overhead-bound) and ``large`` (batch 512, dimension 64, hidden 512: compute-bound), on
t = linspace(0, 1, 11), with ``dopri5`` (rtol=1e-5, atol=1e-7) and ``rk4`` (step 0.05).
y0 requires grad and the loss is the mean square of the whole trajectory, so every output
time sends a gradient into the backward pass.

Each row times one forward and backward pass (``loss.backward()``):

- ``adjoint``: ``nodelib.odeint_adjoint`` vs ``torchdiffeq.odeint_adjoint``, default
  adjoint options on both sides (the adjoint uses the forward's method and tolerances);
- ``adjoint+seminorm`` (dopri5 only): both with ``adjoint_options={"norm": "seminorm"}``;
- ``backprop``: ``nodelib.odeint`` vs ``torchdiffeq.odeint``, differentiated through
  every step.

The libraries run alternately (the order flips each repetition) after warm-up runs; the
table gives median wall times with interquartile ranges, the ratio nodelib / torchdiffeq,
and the evaluations of f in the forward and in the backward pass, counted by the module.
Targets (the issue): time ratio <= 0.8; backward evaluations no more than torchdiffeq's.

``--seminorm`` adds the seminorm study (Kidger, Chen & Lyons 2021): a vector field with
many parameters whose adjoint errors matter, f(t, y) = W2 tanh(W1 y + b1 + t w) + b2
(dimension 64, hidden 512, 66k parameters, w ~ N(0, 1)), batch 128, t in [0, 3], dopri5
at rtol=1e-5, atol=1e-7, loss = sum of squares of y(3); both libraries with the default
adjoint norm and with ``adjoint_options={"norm": "seminorm"}``.

    python benchmarks/adjoint_speed.py [--quick] [--threads N] [--cases small,large]
                                       [--methods dopri5,rk4] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable

import torch
from solver_benchmark import CASES, METHODS, N_TIMES, T_END, MLPField
from torch import nn

from nodelib import odeint, odeint_adjoint

TARGET_RATIO = 0.8


class TimeField(nn.Module):
    """f(t, y) = W2 tanh(W1 y + b1 + t w) + b2, counting its evaluations."""

    def __init__(self, dim: int, hidden: int, seed: int = 3) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.l1, self.l2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.w = nn.Parameter(torch.randn(hidden))
        self.nfe = 0

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.nfe += 1
        return self.l2(torch.tanh(self.l1(y) + t * self.w))


def seminorm_study(repeats: int) -> str:
    """Backward evaluations and time, default adjoint norm against the seminorm."""
    import torchdiffeq

    f = TimeField(64, 512)
    y0 = torch.randn(128, 64, generator=torch.Generator().manual_seed(4)).requires_grad_()
    t = torch.tensor([0.0, 3.0])
    lines = [
        "| library | adjoint norm | nfe forward | nfe backward | median ms (fwd + bwd) |",
        "|---|---|---|---|---|",
    ]
    libs = {"nodelib": odeint_adjoint, "torchdiffeq": torchdiffeq.odeint_adjoint}
    for name, solver in libs.items():
        for norm in ("default", "seminorm"):
            opts = {} if norm == "default" else {"norm": "seminorm"}
            times = []
            for _ in range(1 + repeats):  # the first run is a warm-up
                f.zero_grad(set_to_none=True)
                f.nfe = 0
                start = time.perf_counter()
                ys = solver(f, y0, t, rtol=1e-5, atol=1e-7, adjoint_options=opts)
                nfe_forward = f.nfe
                ys[-1].square().sum().backward()
                times.append(time.perf_counter() - start)
            times = times[1:]
            lines.append(
                f"| {name} | {norm} | {nfe_forward} | {f.nfe - nfe_forward} "
                f"| {1e3 * statistics.median(times):.0f} |"
            )
    return "\n".join(lines)


def _kwargs(method: str) -> dict:
    cfg = METHODS[method]
    if "step_size" in cfg:
        return {"method": method, "options": {"step_size": cfg["step_size"]}}
    return {"method": method, "rtol": cfg["rtol"], "atol": cfg["atol"]}


def _solvers(mode: str, method: str) -> dict[str, Callable]:
    import torchdiffeq  # development-only dependency: imported here and nowhere in nodelib

    kw = _kwargs(method)
    if mode == "backprop":
        return {
            "nodelib": lambda f, y0, t: odeint(f, y0, t, **kw),
            "torchdiffeq": lambda f, y0, t: torchdiffeq.odeint(f, y0, t, **kw),
        }
    if mode == "adjoint+seminorm":
        kw = {**kw, "adjoint_options": {"norm": "seminorm"}}
    return {
        "nodelib": lambda f, y0, t: odeint_adjoint(f, y0, t, **kw),
        "torchdiffeq": lambda f, y0, t: torchdiffeq.odeint_adjoint(f, y0, t, **kw),
    }


def _timed(solve: Callable, f: MLPField, y0: torch.Tensor, t: torch.Tensor):
    """One forward and backward pass: (seconds, forward nfe, backward nfe, dL/dy0)."""
    f.zero_grad(set_to_none=True)
    y0.grad = None
    f.nfe = 0
    start = time.perf_counter()
    ys = solve(f, y0, t)
    nfe_forward = f.nfe
    ys.square().mean().backward()
    elapsed = time.perf_counter() - start
    return elapsed, nfe_forward, f.nfe - nfe_forward, y0.grad.clone()


def run(case: str, method: str, mode: str, repeats: int, warmup: int) -> dict:
    batch, dim, hidden, _ = CASES[case]
    torch.manual_seed(0)
    f = MLPField(dim, hidden)
    y0 = torch.randn(batch, dim).requires_grad_()
    t = torch.linspace(0.0, T_END, N_TIMES)
    libs = _solvers(mode, method)
    times: dict[str, list[float]] = {name: [] for name in libs}
    nfe, grad = {}, {}
    for _ in range(warmup):
        for solve in libs.values():
            _timed(solve, f, y0, t)
    for rep in range(repeats):
        for name in list(libs) if rep % 2 == 0 else list(libs)[::-1]:
            dt, nf, nb, grad[name] = _timed(libs[name], f, y0, t)
            times[name].append(dt)
            nfe[name] = (nf, nb)
    med = {name: 1e3 * statistics.median(ts) for name, ts in times.items()}
    iqr = {name: 1e3 * _iqr(ts) for name, ts in times.items()}
    diff = (grad["nodelib"] - grad["torchdiffeq"]).abs().max() / grad["torchdiffeq"].abs().max()
    return {
        "case": case,
        "method": method,
        "mode": mode,
        "ms": med,
        "iqr_ms": iqr,
        "ratio": med["nodelib"] / med["torchdiffeq"],
        "nfe": nfe,
        "grad_rel_diff": float(diff),
    }


def _iqr(xs: list[float]) -> float:
    if len(xs) < 2:
        return 0.0
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[2] - q[0]


def markdown(rows: list[dict]) -> str:
    lines = [
        "| case | method | mode | nodelib ms (IQR) | torchdiffeq ms (IQR) | ratio "
        "| nfe fwd/bwd nodelib | nfe fwd/bwd torchdiffeq | dL/dy0 rel. diff | met |",
        "|" + "---|" * 10,
    ]
    for r in rows:
        (nf, nb), (tf, tb) = r["nfe"]["nodelib"], r["nfe"]["torchdiffeq"]
        met = r["ratio"] <= TARGET_RATIO and nb <= tb
        lines.append(
            f"| {r['case']} | {r['method']} | {r['mode']} "
            f"| {r['ms']['nodelib']:.1f} ({r['iqr_ms']['nodelib']:.1f}) "
            f"| {r['ms']['torchdiffeq']:.1f} ({r['iqr_ms']['torchdiffeq']:.1f}) "
            f"| {r['ratio']:.2f} | {nf}/{nb} | {tf}/{tb} | {r['grad_rel_diff']:.1e} "
            f"| {'yes' if met else 'NO'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="5 repetitions, 1 warm-up")
    ap.add_argument("--repeats", type=int, default=None, help="timed runs per library")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--cases", default="small,large")
    ap.add_argument("--methods", default="dopri5,rk4")
    ap.add_argument("--modes", default="adjoint,adjoint+seminorm,backprop")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    ap.add_argument("--seminorm", action="store_true", help="add the seminorm study")
    ap.add_argument("--only-seminorm", action="store_true", help="run the seminorm study only")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    repeats = args.repeats or (5 if args.quick else 15)
    warmup = 1 if args.quick else 2
    import torchdiffeq

    print(
        f"torch {torch.__version__}, torchdiffeq {torchdiffeq.__version__}, CPU, float32, "
        f"torch.get_num_threads() = {torch.get_num_threads()}, {repeats} interleaved "
        f"repetitions after {warmup} warm-up(s); times are medians (IQR) in ms of forward + "
        "backward"
    )
    if args.only_seminorm:
        print(seminorm_study(max(1, repeats // 3)))
        return 0
    rows = []
    for case in args.cases.split(","):
        for method in args.methods.split(","):
            for mode in args.modes.split(","):
                if mode == "adjoint+seminorm" and "step_size" in METHODS[method]:
                    continue
                rows.append(run(case, method, mode, repeats, warmup))
                # Each row as soon as it is measured (a full run takes minutes).
                print(markdown(rows).splitlines()[-1] if len(rows) > 1 else markdown(rows))
                sys.stdout.flush()
    if args.seminorm:
        print(seminorm_study(max(1, repeats // 3)))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
