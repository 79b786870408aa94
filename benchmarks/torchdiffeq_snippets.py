"""Small torchdiffeq calls run through torchdiffeq and through `nodelib.torchdiffeq`, side by side.

Each snippet is a few lines of torchdiffeq-style code (the cases of the review of
2026-12-07, "Snippets"), run once with each module as `tdq`; the script prints what each
returned (a value, evaluations of f, or the error it raised). It checks nothing by itself:
it shows where the two agree and where they differ.

    python benchmarks/torchdiffeq_snippets.py                      # torchdiffeq as installed
    python benchmarks/torchdiffeq_snippets.py --torchdiffeq /tmp/tdq   # a checkout's package
    python benchmarks/torchdiffeq_snippets.py -k event
"""

from __future__ import annotations

import argparse
import importlib
import math
import sys
import warnings

import torch
from torch import nn


class _Counted(nn.Module):
    """y' = -k t y with a parameter k, counting its evaluations."""

    def __init__(self) -> None:
        super().__init__()
        self.k = nn.Parameter(torch.tensor(1.0, dtype=torch.float64))
        self.nfe = 0

    def forward(self, t, y):
        self.nfe += 1
        return -self.k * t.to(y.dtype) * y


def _y0() -> torch.Tensor:
    return torch.tensor([1.0, 0.5], dtype=torch.float64, requires_grad=True)


def _t(*ts: float) -> torch.Tensor:
    return torch.tensor(ts, dtype=torch.float64)


def step_t(tdq):
    n = [0]

    def f(t, y):  # a kink at t = 0.5
        n[0] += 1
        return -y * (t - 0.5).abs()

    ys = tdq.odeint(f, _y0(), _t(0, 1), options={"step_t": _t(0.5)})
    return f"y(1)[0]={ys[-1, 0].item():.10f} (exact {math.exp(-0.25):.10f}) nfe={n[0]}"


def jump_t(tdq):
    n = [0]

    def f(t, y):
        n[0] += 1
        return -0.5 * y if t < 0.5 else y**2

    y1 = tdq.odeint(f, _y0(), _t(0, 1), options={"jump_t": _t(0.5)}, rtol=1e-6, atol=1e-6)[-1]
    exact0 = 1 / (1 / math.exp(-0.25) - 0.5)
    return f"y(1)[0]={y1[0].item():.8f} (exact {exact0:.8f}) nfe={n[0]}"


def tuple_norm(tdq):
    seen = []

    def norm(state):
        seen.append(tuple(s.shape for s in state))
        return max(s.pow(2).mean().sqrt() for s in state)

    y0 = (torch.tensor(1.0, dtype=torch.float64), torch.ones(2, 2, dtype=torch.float64))
    tdq.odeint(lambda t, y: (-y[0], -y[1]), y0, _t(0, 1), options={"norm": norm})
    return f"norm saw {seen[0]}"


def adjoint_plain_function(tdq):
    y0 = _y0()
    ys = tdq.odeint_adjoint(lambda t, y: -y, y0, _t(0, 1), adjoint_params=())
    (g,) = torch.autograd.grad(ys[-1].sum(), y0)
    return f"dy1/dy0={g.tolist()} (exact {math.exp(-1):.8f})"


def event_reverse_time(tdq):
    y0 = _y0()
    t0 = torch.tensor(2.0, dtype=torch.float64)
    ev, _ = tdq.odeint_event(
        lambda t, y: -y, y0, t0, event_fn=lambda t, y: y[0] - 2.0, reverse_time=True
    )
    (g,) = torch.autograd.grad(ev, y0)
    return f"t*={ev.item():.8f} (exact {2 - math.log(2):.8f}) dt*/dy0={g.tolist()}"


def tuple_adjoint(tdq):
    f = _Counted()
    y0 = (_y0(), torch.tensor([2.0], dtype=torch.float64, requires_grad=True))
    ys = tdq.odeint_adjoint(
        lambda t, y: (f(t, y[0]), -y[1]), y0, _t(0, 1), adjoint_params=tuple(f.parameters())
    )
    grads = torch.autograd.grad(ys[0][-1].sum() + ys[1][-1].sum(), (*y0, f.k))
    return "grads=" + ", ".join(f"{g.flatten().tolist()}" for g in grads)


def seminorm(tdq):
    f = _Counted()
    y0 = _y0()
    ys = tdq.odeint_adjoint(f, y0, _t(0, 2), adjoint_options={"norm": "seminorm"})
    f.nfe = 0
    ys[-1].sum().backward()
    return f"backward nfe={f.nfe} dL/dk={f.k.grad.item():.8f}"


def max_and_first_step(tdq):
    f = _Counted()
    opts = {"max_step": 0.1, "first_step": 0.01, "safety": 0.8, "ifactor": 5.0, "dfactor": 0.3}
    ys = tdq.odeint(f, _y0(), _t(0, 1), options=opts)
    return f"y(1)={ys[-1, 0].item():.10f} nfe={f.nfe}"


def rk4_is_three_eighths(tdq):
    ys = tdq.odeint(lambda t, y: -y * t, _y0(), _t(0, 1), method="rk4", options={"step_size": 0.25})
    return f"y(1)={ys[-1, 0].item():.10f} (3/8 rule)"


def perturb(tdq):
    seen = []

    def f(t, y):
        seen.append(t.item())
        return -y

    tdq.odeint(f, _y0(), _t(0, 1), method="euler", options={"step_size": 0.5, "perturb": True})
    return f"f evaluated at {seen}"


def grid_constructor(tdq):
    grid = lambda f, y0, t: torch.linspace(0, 1, 11, dtype=torch.float64)  # noqa: E731
    ys = tdq.odeint(
        lambda t, y: y, _y0(), _t(0, 1), method="euler", options={"grid_constructor": grid}
    )
    return f"y(1)[0]={ys[-1, 0].item():.10f} (1.1^10 = {1.1**10:.10f})"


def dtype_option(tdq):
    f = _Counted()
    ys = tdq.odeint(f, _y0().float(), _t(0, 1).float(), options={"dtype": torch.float32})
    return f"y(1)={ys[-1, 0].item():.7f} nfe={f.nfe}"


def adaptive_heun(tdq):
    f = _Counted()
    ys = tdq.odeint(f, _y0(), _t(0, 2), method="adaptive_heun", rtol=1e-5, atol=1e-7)
    err = abs(ys[-1, 0].item() - math.exp(-2.0))
    return f"nfe={f.nfe} error={err:.3g}"


def between_grid_points(tdq):
    ys = tdq.odeint(
        lambda t, y: -y * t, _y0(), _t(0, 0.25, 1), method="euler", options={"step_size": 0.1}
    )
    return f"y(0.25)[0]={ys[1, 0].item():.6f} (exact {math.exp(-0.03125):.6f})"


def odeint_event_fn(tdq):
    t, ys = tdq.odeint(lambda t, y: -y, _y0(), _t(0, 1), event_fn=lambda t, y: y[0] - 0.5)
    return f"event t={t.item():.8f} (exact {math.log(2):.8f}) y={ys[-1].tolist()}"


def vector_event_fn(tdq):
    g = lambda t, y: torch.stack([y[0] - 0.2, y[1] - 0.4])  # noqa: E731
    t, _ = tdq.odeint_event(
        lambda t, y: -y, _y0(), torch.tensor(0.0, dtype=torch.float64), event_fn=g
    )
    return f"event t={t.item():.8f} (first crossing: y[1]=0.4 at {math.log(1.25):.8f})"


def method_none(tdq):
    ys = tdq.odeint(lambda t, y: -y, _y0(), _t(0, 1), method=None)
    return f"y(1)[0]={ys[-1, 0].item():.10f}"


def tensor_tolerances(tdq):
    f = _Counted()
    tol = torch.tensor([1e-9, 1e-3], dtype=torch.float64)
    tdq.odeint(f, _y0(), _t(0, 1), rtol=tol, atol=tol)
    return f"nfe={f.nfe}"


def callbacks(tdq):
    f = _Counted()
    calls = []
    f.callback_step = lambda t0, y0, dt: calls.append(round(t0.item(), 6))
    tdq.odeint(f, _y0(), _t(0, 1), method="euler", options={"step_size": 0.1})
    return f"callback_step called {len(calls)} times, at {calls[:3]}..."


def gl4_with_time(tdq):
    y = tdq.odeint(
        lambda t, y: t**3 * torch.ones_like(y),
        torch.zeros(1, dtype=torch.float64),
        _t(0, 1),
        method="gl4",
    )
    return f"one step of y' = t^3: {y[-1].item():.10f} (Gauss order 4 integrates it: 0.25)"


SNIPPETS = [
    step_t,
    jump_t,
    tuple_norm,
    adjoint_plain_function,
    event_reverse_time,
    tuple_adjoint,
    seminorm,
    max_and_first_step,
    rk4_is_three_eighths,
    perturb,
    grid_constructor,
    dtype_option,
    adaptive_heun,
    between_grid_points,
    odeint_event_fn,
    vector_event_fn,
    method_none,
    tensor_tolerances,
    callbacks,
    gl4_with_time,
]


def _run(snippet, module) -> str:
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = snippet(module)
        notes = sorted({str(w.message)[:80] for w in caught if "nodelib" not in str(w.message)})
        return out + (f"  [warned: {'; '.join(notes)}]" if notes else "")
    except Exception as exc:  # a snippet's failure is a result to show, not to hide
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torchdiffeq", help="a directory holding torchdiffeq's package")
    parser.add_argument("-k", help="run only the snippets whose name contains this")
    args = parser.parse_args()
    if args.torchdiffeq:
        sys.path.insert(0, args.torchdiffeq)
    torch.set_num_threads(1)
    reference = importlib.import_module("torchdiffeq")
    ours = importlib.import_module("nodelib.torchdiffeq")
    print(f"torchdiffeq: {reference.__file__}\nnodelib.torchdiffeq: {ours.__file__}\n")
    for snippet in SNIPPETS:
        if args.k and args.k not in snippet.__name__:
            continue
        print(f"{snippet.__name__}")
        print(f"  torchdiffeq:         {_run(snippet, reference)}")
        print(f"  nodelib.torchdiffeq: {_run(snippet, ours)}")


if __name__ == "__main__":
    main()
