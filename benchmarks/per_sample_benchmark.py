"""Per-sample step sizes against one shared step: work, time and every row's accuracy.

Three batches of independent problems, each solved with ``dopri5`` three ways:

- ``shared``: the default, one step for the batch, one RMS error norm over all of it;
- ``batch_dim``: ``options={"batch_dim": 0}``, one step, the largest per-sample RMS norm;
- ``per_sample``: ``options={"per_sample": True}``, every row its own steps; rows leave
  the batch when they reach the end;
- ``torchode`` (if installed; development only, never a nodelib dependency): its
  per-sample ``Dopri5`` with its ``IntegralController`` (an I controller, safety 0.9,
  factors 0.2..10 like nodelib's).

Cases:

(a) ``vdp``: 256 Van der Pol oscillators x'' = mu (1 - x^2) x' - x, x(0) = 2, x'(0) = 0,
    mu log-uniform on [1, 100] (seed 0), t in [0, 100]. T = 100 is the shortest round
    interval in which every row, mu = 100 included, leaves the slow branch in a fast
    relaxation jump (the first at t ~ 0.81 mu); mu = 1 runs ~15 periods. mu rides in the
    state as a constant third component, so rows can leave the batch.
(b) ``cnf``: 512 points of an 8-Gaussian mixture (seed 1), each moved by the same field
    f(t, y) = MLP([y, t]) (3 -> 64 -> 64 -> 2, tanh, seed 2), t in [0, 1].
(c) ``vdp_same``: 256 copies of the Van der Pol oscillator with mu = 5, t in [0, 100]: a
    batch of identical rows, where per-sample stepping can only add overhead.

Tolerances: float64 rtol=1e-6, atol=1e-8; float32 rtol=1e-4, atol=1e-6. Columns: ``work``
(rows evaluated by f, summed over its calls), ``calls`` (calls of f), median wall time
of ``--repeats`` repetitions (the modes interleaved, the order rotating; after one
warm-up solve per mode, which counts as a repetition when it took a second or more; a
timing repeats a solve until it takes 0.2 s), and the error of every row at the end time
relative to its own tolerance, |y_b - ref_b| / (atol + rtol |ref_b|) (max over
components), max and median over the rows: a global error, which the tolerances (on the
local error) do not bound, so values above 1 are expected on long intervals. The reference is
nodelib's per-sample dopri5 in float64 at rtol=1e-11, atol=1e-13 (for vdp checked
against SciPy's DOP853 on three rows, printed). Also printed: each row's accepted steps
(min/median/max, and at the smallest and largest mu) under per-sample stepping. The
float32 runs are measured against the float64 reference of the same (unrounded) problem.

    python benchmarks/per_sample_benchmark.py [--quick] [--json PATH] [--device cuda]
        [--threads 1] [--repeats N] [--cases vdp,cnf,vdp_same] [--no-torchode]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time

import torch
from torch import nn

from nodelib import odeint, solve

try:
    import torchode
except ImportError:  # development-only comparison
    torchode = None

F64 = torch.float64
TOLS = {torch.float32: (1e-4, 1e-6), F64: (1e-6, 1e-8)}
REF_TOL = (1e-11, 1e-13)
T_VDP = 100.0
OPTIONS = {"shared": {}, "batch_dim": {"batch_dim": 0}, "per_sample": {"per_sample": True}}


class Counted:
    """Wraps f(t, y): counts its calls and the rows it evaluates."""

    def __init__(self, f) -> None:
        self.f, self.calls, self.rows = f, 0, 0

    def __call__(self, t, y):
        self.calls += 1
        self.rows += y.shape[0]
        return self.f(t, y)


def vdp(t, y):
    """Rows (x, x', mu): x'' = mu (1 - x^2) x' - x; mu constant."""
    x, v, mu = y.unbind(1)
    return torch.stack([v, mu * (1 - x * x) * v - x, torch.zeros_like(mu)], 1)


def vdp_batch(mu: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.full_like(mu, 2.0), torch.zeros_like(mu), mu], 1)


class Field(nn.Module):
    """f(t, y) = MLP([y, t]); t is 0-d (shared step) or one time per row `(n,)`."""

    def __init__(self, seed: int = 2) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.net = nn.Sequential(
            nn.Linear(3, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 2)
        )

    def forward(self, t, y):
        tt = t.to(y.dtype).reshape(-1, 1).expand(y.shape[0], 1)
        return self.net(torch.cat([y, tt], 1))


def gaussian_mixture(n: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    angle = 2 * math.pi * torch.randint(0, 8, (n,), generator=g, dtype=F64) / 8
    centre = 2.0 * torch.stack([angle.cos(), angle.sin()], 1)
    return centre + 0.2 * torch.randn(n, 2, generator=g, dtype=F64)


def make_case(name: str, quick: bool):
    """(description, float64 y0, t end, field for a dtype, mu per row or None)."""
    if name == "vdp":
        n = 64 if quick else 256
        g = torch.Generator().manual_seed(0)
        mu = torch.exp(torch.rand(n, generator=g, dtype=F64) * math.log(100.0))
        desc = f"(a) {n} Van der Pol, mu log-uniform [1, 100], t in [0, {T_VDP:g}]"
        return desc, vdp_batch(mu), T_VDP, lambda dtype: vdp, mu
    if name == "vdp_same":
        n = 64 if quick else 256
        desc = f"(c) {n} copies of Van der Pol mu=5, t in [0, {T_VDP:g}]"
        return desc, vdp_batch(torch.full((n,), 5.0, dtype=F64)), T_VDP, lambda dt: vdp, None
    n = 128 if quick else 512
    field = Field()
    desc = f"(b) CNF-like: {n} mixture points, MLP([y, t]) tanh 64x64, t in [0, 1]"
    return desc, gaussian_mixture(n), 1.0, lambda dtype: field.to(dtype), None


def reference(f, y0: torch.Tensor, t_end: float) -> torch.Tensor:
    """Every row at t_end, float64, tight tolerances; identical rows are solved once."""
    unique, inverse = torch.unique(y0, dim=0, return_inverse=True)
    t = torch.tensor([0.0, t_end], dtype=F64, device=y0.device)
    opts = {"per_sample": unique.shape[0] > 1, "max_num_steps": 10**6}  # one row: same steps
    with torch.no_grad():
        ys = odeint(f, unique, t, rtol=REF_TOL[0], atol=REF_TOL[1], options=opts)
    return ys[-1][inverse]


def scipy_check(mu: torch.Tensor, ref: torch.Tensor, t_end: float) -> str:
    """SciPy DOP853 (rtol 1e-13) on the rows of smallest, median and largest mu."""
    from scipy.integrate import solve_ivp

    rtol, atol = TOLS[F64]
    out = []
    for b in (int(mu.argmin()), int(mu.argsort()[len(mu) // 2]), int(mu.argmax())):
        m = float(mu[b])
        s = solve_ivp(
            lambda t, y, m=m: [y[1], m * (1 - y[0] ** 2) * y[1] - y[0]],
            (0.0, t_end),
            [2.0, 0.0],
            method="DOP853",
            rtol=1e-13,
            atol=1e-15,
        )
        exact = torch.as_tensor(s.y[:, -1], dtype=F64)
        gap = float(((ref[b, :2].cpu() - exact).abs() / (atol + rtol * exact.abs())).max())
        out.append(f"mu={m:.3g}: {gap:.1e}")
    return "reference vs SciPy DOP853, in units of the float64 tolerance: " + ", ".join(out)


def run_mode(mode, f, y0, t_end: float, rtol: float, atol: float, number=1, stats=False):
    """`number` solves: (final states, Counted of one solve, seconds per solve, stats).

    With `stats`, per_sample runs `solve` (which records its steps) for the per-row counts.
    """
    t = torch.tensor([0.0, t_end], dtype=y0.dtype, device=y0.device)
    sync = torch.cuda.synchronize if y0.is_cuda else (lambda: None)
    sync()
    start, out = time.perf_counter(), None
    for _ in range(number):
        counted = Counted(f)
        with torch.no_grad():
            if mode == "torchode":
                term = torchode.ODETerm(counted)
                ctrl = torchode.IntegralController(atol=atol, rtol=rtol, term=term)
                solver = torchode.AutoDiffAdjoint(torchode.Dopri5(term=term), ctrl)
                problem = torchode.InitialValueProblem(y0=y0, t_eval=t.expand(y0.shape[0], 2))
                sol = solver.solve(problem)
                if not bool((sol.status == 0).all()):
                    raise RuntimeError("torchode did not finish every row")
                end = sol.ys[:, -1]
            elif mode == "per_sample" and stats:
                sol = solve(counted, y0, t, rtol=rtol, atol=atol, options=OPTIONS[mode])
                end, out = sol.ys[-1], sol.stats
            else:
                end = odeint(counted, y0, t, rtol=rtol, atol=atol, options=OPTIONS[mode])[-1]
    sync()
    return end, counted, (time.perf_counter() - start) / number, out


def steps_line(stats: dict, mu) -> str:
    acc, rej = stats["n_accepted_per_sample"], stats["n_rejected_per_sample"]
    line = (
        f"per-sample accepted steps per row: min {min(acc)}, median "
        f"{int(statistics.median(acc))}, max {max(acc)}; rejected in all {sum(rej)}"
    )
    if mu is not None:
        lo, hi = int(mu.argmin()), int(mu.argmax())
        line += f"; mu={float(mu[lo]):.3g}: {acc[lo]} steps, mu={float(mu[hi]):.3g}: {acc[hi]}"
    return line


def bench_case(name: str, args, modes: list[str]) -> dict:
    desc, y0_64, t_end, make_field, mu = make_case(name, args.quick)
    y0_64 = y0_64.to(args.device)

    def field(dtype):
        g = make_field(dtype)
        return g.to(args.device) if isinstance(g, nn.Module) else g

    start = time.perf_counter()
    ref = reference(field(F64), y0_64, t_end)
    print(f"\n## {desc}\nreference: {time.perf_counter() - start:.1f} s")
    result = {"case": name, "description": desc, "t_end": t_end, "dtypes": {}}
    if mu is not None:
        result["scipy_check"] = scipy_check(mu, ref, t_end)
        print(result["scipy_check"])
    for dtype in (torch.float32, F64):
        rtol, atol = TOLS[dtype]
        f, y0 = field(dtype), y0_64.to(dtype)
        times, rows, number, steps = {m: [] for m in modes}, {}, {}, ""
        for mode in modes:  # warm-up: counts, errors, and solves per timing (>= 0.2 s)
            end, counted, sec, stats = run_mode(mode, f, y0, t_end, rtol, atol, stats=True)
            steps = steps_line(stats, mu) if stats else steps
            err = (end.to(F64) - ref).abs() / (atol + rtol * ref.abs())
            per_row = err.reshape(err.shape[0], -1).amax(1)
            rows[mode] = {
                "work": counted.rows,
                "calls": counted.calls,
                "err_max": float(per_row.max()),
                "err_median": float(per_row.median()),
            }
            number[mode] = math.ceil(0.2 / sec) if sec < 0.2 else 1
            if mode != "per_sample" and sec >= 1.0:  # long solves: the warm-up is a repetition
                times[mode].append(sec)
        for r in range(args.repeats):
            for mode in modes[r % len(modes) :] + modes[: r % len(modes)]:
                if len(times[mode]) < args.repeats:
                    times[mode].append(run_mode(mode, f, y0, t_end, rtol, atol, number[mode])[2])
        base = statistics.median(times["shared"])
        print(f"\n{str(dtype)[6:]}, rtol={rtol:g}, atol={atol:g}, median of {args.repeats}")
        print("| mode | work (rows) | calls | ms | time/shared | max err/tol | median err/tol |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for mode in modes:
            ms = 1e3 * statistics.median(times[mode])
            d = rows[mode] | {"ms": ms, "ms_all": [1e3 * s for s in times[mode]]}
            d["solves_per_timing"] = number[mode]
            rows[mode] = d
            print(f"| {mode} | {d['work']} | {d['calls']} | {ms:.0f} | {ms / 1e3 / base:.2f} "
                  f"| {d['err_max']:.2g} | {d['err_median']:.2g} |")  # fmt: skip
        print(steps)
        result["dtypes"][str(dtype)[6:]] = {"rtol": rtol, "atol": atol, "modes": rows,
                                            "steps": steps}  # fmt: skip
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="smaller batches, one repetition")
    p.add_argument("--repeats", type=int, default=None, help="default 3 (quick: 1)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--cases", default="vdp,cnf,vdp_same")
    p.add_argument("--no-torchode", action="store_true", help="leave torchode out")
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)
    args.repeats = args.repeats or (1 if args.quick else 3)
    torch.set_num_threads(args.threads)
    modes = list(OPTIONS)
    if torchode is not None and not args.no_torchode:
        modes.append("torchode")
    meta = {"torch": torch.__version__, "threads": args.threads, "device": args.device,
            "repeats": args.repeats, "quick": args.quick,
            "torchode": getattr(torchode, "__version__", None)}  # fmt: skip
    print(f"per-sample benchmark: {meta}")
    start = time.perf_counter()
    results = [bench_case(c, args, modes) for c in args.cases.split(",")]
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"meta": meta, "results": results}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
