"""One table of nodelib against torchdiffeq: forward solves and adjoint gradients.

Development only (torchdiffeq comes from requirements-dev.txt; CI does not run this). The
vector field is ``solver_benchmark.MLPField`` (tanh MLP, float32, CPU, seed 0):

- ``small``: batch 128, dimension 2, hidden 64 (``small64`` of solver_benchmark.py), where
  the solver's per-step overhead dominates; target time ratio <= 0.6;
- ``large``: batch 512, dimension 64, hidden 512 (``large`` there), where the matrix
  products of f dominate; target time ratio <= 0.95.

Methods, on t = linspace(0, 1, 5): ``dopri5`` with rtol=1e-5, atol=1e-6, and ``rk4`` with
options step_size=1/80 (80 steps, 320 evaluations). torchdiffeq's "rk4" is the 3/8 rule,
so nodelib runs its "rk38" (the same arithmetic; classical "rk4" costs the same).

Modes: ``forward`` (``odeint`` under ``torch.no_grad()``) and ``adjoint`` (``odeint_adjoint``
forward, then ``ys[-1].sum().backward()``; default adjoint options on both sides, nodelib
with ``adjoint_params=tuple(func.parameters())``). Evaluations of f are counted by the
module, separately in the forward and the backward pass; ``met`` needs the time ratio within
its target and no more evaluations than torchdiffeq in either pass. ``floor`` (forward only):
the time of nodelib's evaluations of f alone over torchdiffeq's time, the ratio nodelib would
reach with no overhead of its own.

Both libraries run in one process, alternately, the order flipping each repetition, after
warm-up runs; times are medians (IQR). ``--threads`` sets torch.set_num_threads (default 1).

    python benchmarks/torchdiffeq_compare.py [--quick] [--threads N] [--json PATH] [--profile]
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

import torch
from solver_benchmark import MLPField, _quartiles

import nodelib

# name: (batch, dim, hidden, target time ratio)
CASES = {"small": (128, 2, 64, 0.6), "large": (512, 64, 512, 0.95)}
T = (0.0, 1.0, 5)  # t = linspace(0, 1, 5)
STEP = 1 / 80
KWARGS = {  # method: (nodelib kwargs, torchdiffeq kwargs)
    "dopri5": (
        {"method": "dopri5", "rtol": 1e-5, "atol": 1e-6},
        {"method": "dopri5", "rtol": 1e-5, "atol": 1e-6},
    ),
    "rk4": (
        {"method": "rk38", "options": {"step_size": STEP}},
        {"method": "rk4", "options": {"step_size": STEP}},
    ),
}
LIBS = ("nodelib", "torchdiffeq")


def _solvers(method: str, mode: str) -> dict[str, Callable]:
    """lib -> solve(f, y0, t) returning (forward nfe, backward nfe, check tensor)."""
    import torchdiffeq  # development-only dependency: imported here and nowhere in nodelib

    kw_n, kw_t = KWARGS[method]
    if mode == "forward":

        def make(odeint, kw):
            def solve(f, y0, t):
                with torch.no_grad():
                    ys = odeint(f, y0, t, **kw)
                return f.nfe, 0, ys[-1]

            return solve

        return {
            "nodelib": make(nodelib.odeint, kw_n),
            "torchdiffeq": make(torchdiffeq.odeint, kw_t),
        }

    def make_adjoint(lib):
        def solve(f, y0, t):
            params = tuple(f.parameters())
            if lib == "nodelib":
                ys = nodelib.odeint_adjoint(f, y0, t, adjoint_params=params, **kw_n)
            else:
                ys = torchdiffeq.odeint_adjoint(f, y0, t, **kw_t)
            nfe_forward = f.nfe
            ys[-1].sum().backward()
            grads = torch.cat([y0.grad.flatten()] + [p.grad.flatten() for p in params])
            return nfe_forward, f.nfe - nfe_forward, grads

        return solve

    return {lib: make_adjoint(lib) for lib in LIBS}


def _problem(case: str, mode: str) -> tuple[MLPField, torch.Tensor, torch.Tensor]:
    batch, dim, hidden, _ = CASES[case]
    torch.manual_seed(0)
    f = MLPField(dim, hidden)
    y0 = torch.randn(batch, dim).requires_grad_(mode == "adjoint")
    return f, y0, torch.linspace(*T)


def _timed(solve: Callable, f: MLPField, y0: torch.Tensor, t: torch.Tensor):
    f.zero_grad(set_to_none=True)
    y0.grad = None
    f.nfe = 0
    start = time.perf_counter()
    nfe_f, nfe_b, check = solve(f, y0, t)
    return time.perf_counter() - start, nfe_f, nfe_b, check.detach()


def _f_alone(f: MLPField, y0: torch.Tensor, t: torch.Tensor, n: int) -> float:
    start = time.perf_counter()
    with torch.no_grad():
        for _ in range(n):
            f(t[0], y0)
    return time.perf_counter() - start


def run(case: str, method: str, mode: str, repeats: int, warmup: int) -> dict:
    f, y0, t = _problem(case, mode)
    solvers = _solvers(method, mode)
    times: dict[str, list[float]] = {lib: [] for lib in LIBS}
    nfe, check = {}, {}
    for _ in range(warmup):
        for solve in solvers.values():
            _timed(solve, f, y0, t)
    f_only = []  # forward: nodelib's evaluations of f alone, the floor of its time
    for rep in range(repeats):
        for lib in LIBS if rep % 2 == 0 else LIBS[::-1]:
            dt, nf, nb, check[lib] = _timed(solvers[lib], f, y0, t)
            times[lib].append(dt)
            nfe[lib] = (nf, nb)
        if mode == "forward":
            f_only.append(_f_alone(f, y0, t, nfe["nodelib"][0]))
    med, iqr = {}, {}
    for lib in LIBS:
        m, q = _quartiles(times[lib])
        med[lib], iqr[lib] = 1e3 * m, 1e3 * q
    ratio = med["nodelib"] / med["torchdiffeq"]
    floor = 1e3 * statistics.median(f_only) / med["torchdiffeq"] if f_only else None
    target = CASES[case][3]
    nfe_ok = all(a <= b for a, b in zip(nfe["nodelib"], nfe["torchdiffeq"], strict=True))
    ref = check["torchdiffeq"]
    return {
        "case": case,
        "method": method,
        "mode": mode,
        "nfe": nfe,
        "median_ms": med,
        "iqr_ms": iqr,
        "ratio": ratio,
        "target": target,
        "floor": floor,
        "nfe_ok": nfe_ok,
        "time_ok": ratio <= target,
        "met": nfe_ok and ratio <= target,
        # forward: max |y_nodelib(1) - y_torchdiffeq(1)|; adjoint: the same for the gradients
        # (dL/dy0 and dL/dtheta), relative to the largest torchdiffeq gradient
        "diff": float(
            (check["nodelib"] - ref).abs().max() / (ref.abs().max() if mode == "adjoint" else 1)
        ),
    }


def _nfe(pair: tuple[int, int], mode: str) -> str:
    return str(pair[0]) if mode == "forward" else f"{pair[0]}/{pair[1]}"


def markdown(rows: list[dict]) -> str:
    lines = [
        "| case | method | mode | nfe nodelib | nfe torchdiffeq | nodelib ms (IQR) "
        "| torchdiffeq ms (IQR) | ratio | floor | target | nfe <= | diff | met |",
        "|" + "---|" * 13,
    ]
    for r in rows:
        ms, iqr = r["median_ms"], r["iqr_ms"]
        lines.append(
            f"| {r['case']} | {r['method']} | {r['mode']} "
            f"| {_nfe(r['nfe']['nodelib'], r['mode'])} "
            f"| {_nfe(r['nfe']['torchdiffeq'], r['mode'])} "
            f"| {ms['nodelib']:.1f} ({iqr['nodelib']:.1f}) "
            f"| {ms['torchdiffeq']:.1f} ({iqr['torchdiffeq']:.1f}) "
            f"| {r['ratio']:.2f} | {'-' if r['floor'] is None else format(r['floor'], '.2f')} "
            f"| <= {r['target']:g} | {'yes' if r['nfe_ok'] else 'NO'} "
            f"| {r['diff']:.1e} | {'yes' if r['met'] else 'NO'} |"
        )
    return "\n".join(lines)


def profile(n: int = 20) -> str:
    """cProfile of n nodelib forward solves of the small case, per method, by own time."""
    out = io.StringIO()
    for method in KWARGS:
        f, y0, t = _problem("small", "forward")
        solve = _solvers(method, "forward")["nodelib"]
        _timed(solve, f, y0, t)
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(n):
            _timed(solve, f, y0, t)
        prof.disable()
        out.write(
            f"\n### cProfile: nodelib {KWARGS[method][0]['method']} forward, small, {n} solves\n"
        )
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(25)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 repetitions, 1 warm-up")
    ap.add_argument("--repeats", type=int, default=None, help="timed runs per library")
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    ap.add_argument("--cases", default="small,large")
    ap.add_argument("--methods", default="dopri5,rk4")
    ap.add_argument("--modes", default="forward,adjoint")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    ap.add_argument("--profile", action="store_true", help="cProfile of nodelib's small solves")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    repeats = args.repeats or (3 if args.quick else 11)
    warmup = 1
    import torchdiffeq

    meta = {
        "torch": torch.__version__,
        "torchdiffeq": torchdiffeq.__version__,
        "nodelib": nodelib.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "repeats": repeats,
        "warmup": warmup,
        "dtype": "float32",
        "device": "cpu",
        "t": f"linspace{T}",
    }
    print(
        f"torch {meta['torch']}, torchdiffeq {meta['torchdiffeq']}, CPU, float32, "
        f"torch.get_num_threads() = {meta['threads']}, {repeats} interleaved repetitions after "
        f"{warmup} warm-up; times are medians (IQR) in ms; nfe is forward[/backward]",
        flush=True,
    )
    rows = []
    for case in args.cases.split(","):
        for method in args.methods.split(","):
            for mode in args.modes.split(","):
                rows.append(run(case, method, mode, repeats, warmup))
                table = markdown(rows).splitlines()
                print("\n".join(table if len(rows) == 1 else table[-1:]), flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"meta": meta, "rows": rows}, fh, indent=2)
    if args.profile:
        print(profile())
    return 0


if __name__ == "__main__":
    sys.exit(main())
