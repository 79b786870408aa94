"""Time per training step of the image classifiers of Chen et al. 2018, §3 (Table 1).

Models (nodelib.models.blocks), all with the same stem and head:

- ``odenet-adjoint``: `ODENet`, dopri5 at rtol = atol = tol, adjoint gradients;
- ``odenet-backprop``: the same, differentiated through the solver steps;
- ``rknet``: `RKNet`, fixed-step RK4 (``--rk-steps`` steps, 4 evaluations each), backprop;
- ``resnet``: `ResNet` with ``--blocks`` residual blocks (the paper: 6).

Inputs are random images, batch ``--batch``, of size 8x8 (the digits of scikit-learn) and
28x28 (MNIST), 10 classes, float32. One step is zero_grad, forward, cross-entropy, backward
and an Adam step. After ``--warmup`` steps, ``--repeats`` steps are timed one by one
(CUDA synchronised); the table gives the median and interquartile range in milliseconds,
and the evaluations of the ODE function per step in the forward and backward passes
(medians; the adjoint's backward solve calls f, backprop does not).

    python benchmarks/odenet_benchmark.py [--quick] [--device cuda] [--width 64]
        [--batch 32] [--sizes 8,28] [--models odenet-adjoint,rknet] [--threads N]
        [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from nodelib.device import choose_device
from nodelib.models.blocks import count_nfe, reset_nfe
from nodelib.models.odenet import ODENet, ResNet, RKNet

MODELS = ("odenet-adjoint", "odenet-backprop", "rknet", "resnet")


def build(name: str, size: int, args: argparse.Namespace) -> nn.Module:
    """The model `name` for images of side `size` (seeded, so every run builds the same)."""
    torch.manual_seed(0)
    common = {"width": args.width, "image_size": size}
    if name == "odenet-adjoint":
        return ODENet(**common, tol=args.tol, adjoint=True)
    if name == "odenet-backprop":
        return ODENet(**common, tol=args.tol, adjoint=False)
    if name == "rknet":
        return RKNet(**common, n_steps=args.rk_steps)
    if name == "resnet":
        return ResNet(**common, n_blocks=args.blocks)
    raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}.")


def make_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], tuple[int, int]]:
    """One training step; returns (NFE forward, NFE backward)."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> tuple[int, int]:
        reset_nfe(model)
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(x), y)
        nfe_f = count_nfe(model)
        loss.backward()
        opt.step()
        return nfe_f, count_nfe(model) - nfe_f

    return step


def measure(name: str, size: int, args: argparse.Namespace, device: torch.device) -> dict:
    """Time `args.repeats` training steps of one model on one image size."""
    model = build(name, size, args).to(device)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(args.batch, 1, size, size, generator=g).to(device)
    y = torch.randint(0, 10, (args.batch,), generator=g).to(device)
    step = make_step(model, x, y)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(args.warmup):
        step()
    sync()
    times, nfe_f, nfe_b = [], [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        f, b = step()
        sync()
        times.append(1e3 * (time.perf_counter() - start))
        nfe_f.append(f)
        nfe_b.append(b)
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return {
        "image": f"{size}x{size}",
        "model": name,
        "params": sum(p.numel() for p in model.parameters()),
        "nfe_forward": statistics.median(nfe_f),
        "nfe_backward": statistics.median(nfe_b),
        "ms_median": statistics.median(times),
        "ms_q1": q[0],
        "ms_q3": q[2],
    }


def table(rows: list[dict]) -> str:
    """The results as a markdown table."""
    lines = [
        "| image | model | params | NFE fwd | NFE bwd | ms/step (median) | IQR (ms) |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['image']} | {r['model']} | {r['params']:,} | {r['nfe_forward']:g} | "
            f"{r['nfe_backward']:g} | {r['ms_median']:.1f} | {r['ms_q1']:.1f}–{r['ms_q3']:.1f} |"
        )
    return "\n".join(lines)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto (default cpu)")
    p.add_argument("--width", type=int, default=64, help="feature channels (the paper: 64)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--sizes", default="8,28", help="image sides, comma-separated")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--tol", type=float, default=1e-3, help="ODE-Net rtol = atol")
    p.add_argument("--rk-steps", type=int, default=2, help="RK4 steps of the RK-Net")
    p.add_argument("--blocks", type=int, default=6, help="residual blocks of the ResNet")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    p.add_argument("--quick", action="store_true", help="3 repeats, 1 warm-up")
    p.add_argument("--json", default=None, help="also write the results to this file")
    args = p.parse_args(argv)
    if args.quick:
        args.repeats, args.warmup = 3, 1
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = choose_device(None if args.device == "auto" else args.device)
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = [measure(m, s, args, device) for s in sizes for m in args.models.split(",")]
    meta = {
        "torch": torch.__version__,
        "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "batch": args.batch,
        "width": args.width,
        "tol": args.tol,
        "rk_steps": args.rk_steps,
        "blocks": args.blocks,
        "repeats": args.repeats,
        "warmup": args.warmup,
    }
    print(", ".join(f"{k}={v}" for k, v in meta.items()))
    print(table(rows))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"meta": meta, "rows": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
