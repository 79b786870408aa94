"""torch.compile of a module that calls nodelib.odeint: what is compiled, and is it faster?

Development only (CI does not run it). The problem is the ``small`` case of
``torchdiffeq_compare.py`` (MLP field 2-64-64-2, batch 128, float32, CPU, t = linspace(0, 1, 5))
with its nodelib settings: dopri5 (rtol=1e-5, atol=1e-6) and rk4 (the 3/8 rule "rk38",
step 1/80). ``ODEBlock.forward`` returns ``nodelib.odeint(...)[-1]``; it is timed

- ``forward``: under ``torch.no_grad()``;
- ``backprop``: forward and ``.sum().backward()`` through the solver's steps;

eagerly and as ``torch.compile(block, backend=...)`` (default: inductor), alternately, the order
flipping each repetition, after the first compiled call (reported as the compile time) and a
warm-up. The table also gives the graphs Dynamo compiled and its graph breaks (from
``torch._dynamo.utils.counters``). ``--explain`` prints ``torch._dynamo.explain`` for one
forward call of each method: the graph breaks with their nodelib source lines and the operators
in each graph.

    python benchmarks/compile_speed.py [--quick] [--backend inductor] [--explain] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter

import torch
import torch._dynamo
from solver_benchmark import MLPField
from torch import nn
from torch._dynamo.utils import counters
from torchdiffeq_compare import CASES, KWARGS, T

import nodelib


class Field(MLPField):
    """MLPField without its evaluation counter: Dynamo guards on integer attributes of a
    module, so ``self.nfe += 1`` would recompile the field's graphs at every call."""

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(y)


class ODEBlock(nn.Module):
    """x -> y(1) of y' = f(y), y(0) = x, solved by nodelib.odeint."""

    def __init__(self, method: str) -> None:
        super().__init__()
        _, dim, hidden, _ = CASES["small"]
        torch.manual_seed(0)
        self.field = Field(dim, hidden)
        self.kwargs = KWARGS[method][0]
        self.register_buffer("t", torch.linspace(*T))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nodelib.odeint(self.field, x, self.t, **self.kwargs)[-1]


def _call(block: nn.Module, x: torch.Tensor, mode: str) -> float:
    start = time.perf_counter()
    if mode == "forward":
        with torch.no_grad():
            block(x)
    else:
        block.zero_grad(set_to_none=True)
        block(x).sum().backward()
    return time.perf_counter() - start


def run(method: str, mode: str, backend: str, repeats: int) -> dict:
    torch._dynamo.reset()
    counters.clear()
    block = ODEBlock(method)
    x = torch.randn(
        CASES["small"][0], CASES["small"][1], generator=torch.Generator().manual_seed(1)
    )
    compiled = torch.compile(block, backend=backend)
    compile_s = _call(compiled, x, mode)
    _call(compiled, x, mode)
    _call(block, x, mode)
    times: dict[str, list[float]] = {"eager": [], "compiled": []}
    for rep in range(repeats):
        for name in ("eager", "compiled") if rep % 2 == 0 else ("compiled", "eager"):
            times[name].append(_call(block if name == "eager" else compiled, x, mode))
    with torch.no_grad():
        diff = float((compiled(x) - block(x)).abs().max())
    med = {k: 1e3 * statistics.median(v) for k, v in times.items()}
    return {
        "method": method,
        "mode": mode,
        "graphs": counters["stats"]["unique_graphs"],
        "breaks": sum(counters["graph_break"].values()),
        "compile_s": compile_s,
        "eager_ms": med["eager"],
        "compiled_ms": med["compiled"],
        "ratio": med["compiled"] / med["eager"],
        "diff": diff,
    }


def explain(method: str) -> str:
    """torch._dynamo.explain of one forward call: graph breaks (nodelib lines) and graphs."""
    torch._dynamo.reset()
    block = ODEBlock(method)
    x = torch.randn(CASES["small"][0], CASES["small"][1])
    with torch.no_grad():
        ex = torch._dynamo.explain(block)(x)
    lines = [f"\n### explain: {method}: {ex.graph_count} graphs, {ex.graph_break_count} breaks"]

    def where(br) -> str:
        frames = [f for f in br.user_stack if "nodelib" in f.filename] or br.user_stack[-1:]
        if not frames:
            return "?"
        f = frames[-1]
        return f"{f.filename.split('/')[-1]}:{f.lineno} {f.name}: {(f.line or '').strip()[:60]}"

    def why(br) -> str:
        first = br.reason.splitlines()[0]
        return first.replace("Unsupported ", "").replace(" with capture_scalar_outputs=False", "")

    reasons = Counter((why(br), where(br)) for br in ex.break_reasons)
    for (reason, loc), n in reasons.most_common():
        lines.append(f"  break x{n}: {reason} at {loc}")
    for i, g in enumerate(ex.graphs):
        ops = Counter(
            str(getattr(n.target, "__name__", n.target))
            for n in g.graph.nodes
            if n.op.startswith("call")
        )
        lines.append(f"  graph {i}: {sum(ops.values())} ops, {dict(ops.most_common(5))}")
    # Recompilations: new inputs (new step sizes) under the eager backend, no_grad.
    torch._dynamo.reset()
    counters.clear()
    compiled = torch.compile(block, backend="eager")
    gen = torch.Generator().manual_seed(2)
    graphs = []
    for _ in range(10):
        with torch.no_grad():
            compiled(torch.randn(*x.shape, generator=gen))
        graphs.append(counters["stats"]["unique_graphs"])
    lines.append(
        f"  graphs compiled after each of 10 calls with new inputs (eager backend): {graphs}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="5 repetitions")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--backend", default="inductor", help="torch.compile backend")
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    ap.add_argument("--methods", default="dopri5,rk4")
    ap.add_argument("--modes", default="forward,backprop")
    ap.add_argument("--explain", action="store_true", help="print torch._dynamo.explain")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    repeats = args.repeats or (5 if args.quick else 21)
    methods = args.methods.split(",")
    print(
        f"torch {torch.__version__}, CPU, float32, torch.get_num_threads() = "
        f"{torch.get_num_threads()}, backend {args.backend!r}, {repeats} interleaved "
        "repetitions; times are medians in ms",
        flush=True,
    )
    head = (
        "| method | mode | graphs | graph breaks | first call s | eager ms | compiled ms | ratio |"
    )
    print(head + " max abs diff |\n" + "|---" * 9 + "|", flush=True)
    for method in methods:
        for mode in args.modes.split(","):
            r = run(method, mode, args.backend, repeats)
            print(
                f"| {method} | {mode} | {r['graphs']} | {r['breaks']} | {r['compile_s']:.1f} "
                f"| {r['eager_ms']:.1f} | {r['compiled_ms']:.1f} | {r['ratio']:.2f} "
                f"| {r['diff']:.1e} |",
                flush=True,
            )
    if args.explain:
        for method in methods:
            print(explain(method))
    return 0


if __name__ == "__main__":
    sys.exit(main())
