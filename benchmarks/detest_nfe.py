"""Evaluation counts on DETEST problems: nodelib against SciPy and torchdiffeq, float64.

The non-stiff test problems of Hull, Enright, Fellen & Sedgwick, "Comparing numerical
methods for ordinary differential equations", SIAM J. Numer. Anal. 9 (1972) 603-637,
all on t in [0, 20]: A1-A5 (scalar), B1-B5 (2-3 equations), C1-C5 (10, 10, 10, 51 and 30
equations; C5 is the five outer planets), D1-D5 (Kepler orbits, eccentricity 0.1, 0.3, 0.5,
0.7, 0.9) and E1-E5 (second-order equations as systems). Class F (discontinuities) is left
out. Each right-hand side is written once, in torch; SciPy calls it through NumPy.

Solvers at the same rtol/atol: nodelib dopri5 against SciPy ``solve_ivp(method="RK45")``
and torchdiffeq dopri5, nodelib dopri8 against SciPy DOP853. Output at the end time only
(t = [0, 20]; SciPy without t_eval) or at 20 times (linspace(0, 20, 20); SciPy with t_eval,
i.e. its dense output). Evaluations are counted by a wrapper of f. The error is the largest
absolute error at the output times against the exact solution (A1-A4, B2, C1-C4, D1-D5, E1,
E4, E5) or SciPy DOP853 at rtol=1e-13, atol=1e-15 (the others).

    python benchmarks/detest_nfe.py [--quick] [--tols 1e-3:1e-6,1e-6:1e-9,1e-9:1e-12]
                                    [--outputs end,20] [--problems A1,D5] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import torch
from scipy.integrate import solve_ivp

import nodelib

T1 = 20.0
F64 = torch.float64


@dataclass
class Problem:
    name: str
    f: Callable  # f(t, y) on float64 tensors, y of shape (n,)
    y0: list[float]
    exact: Callable | None = None  # numpy times (k,) -> (k, n)


def _tensor(x) -> torch.Tensor:
    return torch.as_tensor(x, dtype=F64)


def _linear(name: str, A: np.ndarray) -> Problem:
    At = _tensor(A)
    y0 = np.zeros(len(A))
    y0[0] = 1.0
    return Problem(
        name,
        lambda t, y: At @ y,
        y0.tolist(),
        lambda ts: np.stack([scipy.linalg.expm(A * t) @ y0 for t in ts]),
    )


def _tridiagonal(n: int) -> np.ndarray:  # C3, C4: -2 on the diagonal, 1 beside it
    return np.diag(-2.0 * np.ones(n)) + np.diag(np.ones(n - 1), 1) + np.diag(np.ones(n - 1), -1)


def _bidiagonal(diag: list[float], sub: list[float]) -> np.ndarray:
    return np.diag(np.asarray(diag, dtype=float)) + np.diag(np.asarray(sub, dtype=float), -1)


# C5: the five outer planets (DETEST's data; Sun and inner planets as one central mass m0).
C5_K2, C5_M0 = 2.95912208286, 1.00000597682
C5_M = [0.000954786104043, 0.000285583733151, 0.0000437273164546, 0.0000517759138449,
        0.00000277777777778]  # fmt: skip
C5_Q0 = [3.42947415189, 3.35386959711, 1.35494901715, 6.64145542550, 5.97156957878,
         2.18231499728, 11.2630437207, 14.6952576794, 6.27960525067, -30.1552268759,
         1.65699966404, 1.43785752721, -21.1238353380, 28.4465098142, 15.3882659679]  # fmt: skip
C5_V0 = [-0.557160570446, 0.505696783289, 0.230578543901, -0.415570776342, 0.365682722812,
         0.169143213293, -0.325325669158, 0.189706021964, 0.0877265322780, -0.0240476254170,
         -0.287659532608, -0.117219543175, -0.176860753121, -0.216393453025,
         -0.0148647893090]  # fmt: skip


def _c5(t, y):
    q, v = y[:15].view(5, 3), y[15:]
    m = _tensor(C5_M)
    r3 = q.norm(dim=1) ** 3  # (5,)
    diff = q[None, :, :] - q[:, None, :]  # diff[j, k] = q_k - q_j
    d3 = diff.norm(dim=2) ** 3 + torch.diag(torch.full((5,), math.inf, dtype=F64))
    pull = m[None, :, None] * (diff / d3[..., None] - (q / r3[:, None])[None])
    pull = pull * (1.0 - torch.eye(5, dtype=F64))[..., None]  # no k == j term
    acc = C5_K2 * (-(C5_M0 + m)[:, None] * q / r3[:, None] + pull.sum(dim=1))
    return torch.cat([v, acc.reshape(15)])


def _kepler(e: float) -> Problem:
    def f(t, y):
        r3 = (y[0] ** 2 + y[1] ** 2) ** 1.5
        return torch.stack([y[2], y[3], -y[0] / r3, -y[1] / r3])

    def exact(ts):  # eccentric anomaly u from Kepler's equation u - e sin u = t (Newton)
        u = ts + 0.85 * e * np.sign(np.sin(ts))
        for _ in range(50):
            u = u - (u - e * np.sin(u) - ts) / (1 - e * np.cos(u))
        w, s = 1 - e * np.cos(u), math.sqrt(1 - e * e)
        return np.stack([np.cos(u) - e, s * np.sin(u), -np.sin(u) / w, s * np.cos(u) / w], 1)

    return Problem(
        f"D{round(5 * e + 0.5)}", f, [1 - e, 0.0, 0.0, math.sqrt((1 + e) / (1 - e))], exact
    )


def _e1_exact(ts):  # J_{1/2}(x) = sqrt(2 / (pi x)) sin x, x = t + 1
    x, c = ts + 1, math.sqrt(2 / math.pi)
    return np.stack(
        [c * np.sin(x) / np.sqrt(x), c * (np.cos(x) / np.sqrt(x) - np.sin(x) / (2 * x**1.5))], 1
    )


def _e5_exact(ts):  # s = 25 - t; y2 = (25/s - s/25)/2, y1 its integral
    s = 25 - ts
    return np.stack([(25 * np.log(25 / s) - (625 - s**2) / 50) / 2, (25 / s - s / 25) / 2], 1)


def _stack(*ys):
    return torch.stack(list(ys))


PROBLEMS = [
    Problem("A1", lambda t, y: -y, [1.0], lambda ts: np.exp(-ts)[:, None]),
    Problem("A2", lambda t, y: -0.5 * y**3, [1.0], lambda ts: (1 + ts)[:, None] ** -0.5),
    Problem("A3", lambda t, y: y * torch.cos(t), [1.0], lambda ts: np.exp(np.sin(ts))[:, None]),
    Problem("A4", lambda t, y: 0.25 * y * (1 - y / 20), [1.0],
            lambda ts: (20 / (1 + 19 * np.exp(-ts / 4)))[:, None]),
    Problem("A5", lambda t, y: (y - t) / (y + t), [4.0]),
    Problem("B1", lambda t, y: _stack(2 * (y[0] - y[0] * y[1]), -(y[1] - y[0] * y[1])), [1.0, 3.0]),
    Problem("B2", lambda t, y: _stack(-y[0] + y[1], y[0] - 2 * y[1] + y[2], y[1] - y[2]),
            [2.0, 0.0, 1.0], lambda ts: np.stack([scipy.linalg.expm(
                np.array([[-1.0, 1, 0], [1, -2, 1], [0, 1, -1]]) * t) @ [2.0, 0, 1] for t in ts])),
    Problem("B3", lambda t, y: _stack(-y[0], y[0] - y[1] ** 2, y[1] ** 2), [1.0, 0.0, 0.0]),
    Problem("B4", lambda t, y: _stack(-y[1] - y[0] * y[2] / y[:2].norm(),
            y[0] - y[1] * y[2] / y[:2].norm(), y[0] / y[:2].norm()), [3.0, 0.0, 0.0]),
    Problem("B5", lambda t, y: _stack(y[1] * y[2], -y[0] * y[2], -0.51 * y[0] * y[1]),
            [0.0, 1.0, 1.0]),
    _linear("C1", _bidiagonal([-1.0] * 9 + [0.0], [1.0] * 9)),
    _linear("C2", _bidiagonal([-k for k in range(1, 10)] + [0.0], list(range(1, 10)))),
    _linear("C3", _tridiagonal(10)),
    _linear("C4", _tridiagonal(51)),
    Problem("C5", _c5, C5_Q0 + C5_V0),
    *[_kepler(e) for e in (0.1, 0.3, 0.5, 0.7, 0.9)],
    Problem("E1", lambda t, y: _stack(y[1], -(y[1] / (t + 1) + (1 - 0.25 / (t + 1) ** 2) * y[0])),
            [0.6713967071418030, 0.09540051444747446], _e1_exact),
    Problem("E2", lambda t, y: _stack(y[1], (1 - y[0] ** 2) * y[1] - y[0]), [2.0, 0.0]),
    Problem("E3", lambda t, y: _stack(y[1], y[0] ** 3 / 6 - y[0] + 2 * torch.sin(2.78535 * t)),
            [0.0, 0.0]),
    Problem("E4", lambda t, y: _stack(y[1], 0.032 - 0.4 * y[1] ** 2), [30.0, 0.0],
            lambda ts: np.stack([30 + 2.5 * np.log(np.cosh(math.sqrt(0.0128) * ts)),
                                 math.sqrt(0.08) * np.tanh(math.sqrt(0.0128) * ts)], 1)),
    Problem("E5", lambda t, y: _stack(y[1], torch.sqrt(1 + y[1] ** 2) / (25 - t)), [0.0, 0.0],
            _e5_exact),
]  # fmt: skip


class Counted:
    """f with a call counter; ``numpy`` is the SciPy form of the same f."""

    def __init__(self, f: Callable) -> None:
        self.f, self.calls = f, 0

    def __call__(self, t, y):
        self.calls += 1
        return self.f(t, y)

    def numpy(self, t, y):
        return self(_tensor(t), torch.from_numpy(y)).numpy()


def reference(p: Problem, ts: np.ndarray) -> np.ndarray:
    if p.exact is not None:
        return p.exact(ts)
    sol = solve_ivp(Counted(p.f).numpy, (0.0, T1), p.y0, "DOP853", ts, rtol=1e-13, atol=1e-15)
    assert sol.success, (p.name, sol.message)
    return sol.y.T


def solve(solver: str, p: Problem, ts: np.ndarray, rtol: float, atol: float):
    """(evaluations, solution at ts) of one solver; ts[0] = 0, ts[-1] = T1."""
    f = Counted(p.f)
    if solver in ("RK45", "DOP853"):
        t_eval = ts if len(ts) > 2 else None
        sol = solve_ivp(f.numpy, (0.0, T1), p.y0, solver, t_eval, rtol=rtol, atol=atol)
        if not sol.success:
            raise RuntimeError(sol.message)
        return f.calls, sol.y.T[[0, -1]] if t_eval is None else sol.y.T
    lib, method = solver.split(" ")
    if lib == "torchdiffeq":
        import torchdiffeq  # development-only dependency

        odeint = torchdiffeq.odeint
    else:
        odeint = nodelib.odeint
    ys = odeint(f, _tensor(p.y0), torch.from_numpy(ts), rtol=rtol, atol=atol, method=method)
    return f.calls, ys.numpy()


SOLVERS = ("RK45", "nodelib dopri5", "torchdiffeq dopri5", "DOP853", "nodelib dopri8")
RATIOS = {  # column: (numerator, denominator)
    "dopri5/RK45": ("nodelib dopri5", "RK45"),
    "dopri5/tdq": ("nodelib dopri5", "torchdiffeq dopri5"),
    "dopri8/DOP853": ("nodelib dopri8", "DOP853"),
}


def run(problems: list[Problem], rtol: float, atol: float, n_out: int) -> list[dict]:
    ts = np.linspace(0.0, T1, n_out)
    rows = []
    for p in problems:
        ref = reference(p, ts)
        row = {"problem": p.name, "rtol": rtol, "atol": atol, "outputs": n_out}
        for s in SOLVERS:
            try:
                nfe, ys = solve(s, p, ts, rtol, atol)
                row[s] = {"nfe": nfe, "error": float(np.abs(ys - ref).max())}
            except Exception as exc:  # a failure is a result too: shown as "fail"
                row[s] = {"nfe": None, "error": None, "failure": f"{type(exc).__name__}: {exc}"}
        for col, (a, b) in RATIOS.items():
            na, nb = row[a]["nfe"], row[b]["nfe"]
            row[col] = na / nb if na and nb else None
        rows.append(row)
    return rows


def _fmt(x, spec: str) -> str:
    return "fail" if x is None else format(x, spec)


def markdown(rows: list[dict]) -> str:
    short = {"RK45": "RK45", "nodelib dopri5": "dopri5", "torchdiffeq dopri5": "tdq dopri5",
             "DOP853": "DOP853", "nodelib dopri8": "dopri8"}  # fmt: skip
    head = ["problem"] + [f"nfe {short[s]}" for s in SOLVERS] + list(RATIOS)
    head += [f"err {short[s]}" for s in SOLVERS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["problem"]] + [_fmt(r[s]["nfe"], "d") for s in SOLVERS]
        cells += [_fmt(r[c], ".2f") for c in RATIOS] + [_fmt(r[s]["error"], ".1e") for s in SOLVERS]
        lines.append("| " + " | ".join(cells) + " |")
    medians = []
    for c in RATIOS:
        xs = [r[c] for r in rows if r[c] is not None]
        medians.append(f"{c} {statistics.median(xs):.2f}" if xs else f"{c} -")
    for a, b in RATIOS.values():
        xs = [r[a]["error"] / r[b]["error"] for r in rows if r[a]["error"] and r[b]["error"]]
        if xs:
            medians.append(f"err {short[a]}/{short[b]} {statistics.median(xs):.2f}")
    return "\n".join(lines) + "\n\nmedians: " + ", ".join(medians)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="rtol=1e-6, atol=1e-9 only")
    ap.add_argument("--tols", default="1e-3:1e-6,1e-6:1e-9,1e-9:1e-12", help="rtol:atol,...")
    ap.add_argument("--outputs", default="end,20", help="end (t = [0, 20]) and/or a count")
    ap.add_argument("--problems", default=None, help="comma-separated names (default: all)")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # tensors of 1 to 51 numbers
    tols = [tuple(map(float, pair.split(":"))) for pair in args.tols.split(",")]
    if args.quick:
        tols = [(1e-6, 1e-9)]
    names = args.problems.split(",") if args.problems else [p.name for p in PROBLEMS]
    problems = [p for p in PROBLEMS if p.name in names]
    results = []
    for rtol, atol in tols:
        for out in args.outputs.split(","):
            n_out = 2 if out == "end" else int(out)
            where = "end time only" if n_out == 2 else f"{n_out} output times"
            print(f"\n### rtol={rtol:g}, atol={atol:g}, float64, {where}\n", flush=True)
            rows = run(problems, rtol, atol, n_out)
            print(markdown(rows), flush=True)
            for r in rows:
                for s in SOLVERS:
                    if "failure" in r[s]:
                        print(f"  {r['problem']} {s}: {r[s]['failure']}")
            results += rows
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
