"""Continuous normalising flows: time per training step, and what regularisation saves.

Part 1 times one training step (forward solve, loss, backward pass; the optimiser step
is left out) of a 2-D CNF (`nodelib.models.cnf.CNF`, hidden width 64, batch 256,
dopri5 at rtol = atol = 1e-5, float32) on the same weights and batch for each
combination of

- the trace: exact (`dim` vector-Jacobian products per evaluation) or Hutchinson with a
  Gaussian or a Rademacher probe (one product; Grathwohl et al., FFJORD, 2019);
- the gradient: backpropagation through the solver (`odeint`) or the adjoint method
  (`odeint_adjoint`).

The table gives the median and interquartile range of the wall time over `--repeats`
steps after warm-up, and the evaluations of the dynamics in the forward solve and in all.

Part 2 trains two CNFs from the same initial weights on `eight_gaussians` with the
Hutchinson trace (Rademacher probe) for `--train-steps` Adam steps, one plain and one
with kinetic-energy and Jacobian-norm regularisation (Finlay, Jacobsen, Nurbekyan &
Oberman, "How to train your neural ODE", ICML 2020). For each it reports the mean
evaluations of the forward solve per training step over the last 50 steps, then on 2000
held-out points (exact trace) the evaluations of `log_prob` and of `sample`, the test
negative log-likelihood and the two regularisers.

    python benchmarks/cnf_benchmark.py [--quick] [--device cuda] [--threads N]
                                       [--repeats N] [--train-steps N] [--json out.json]
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import time

import torch

from nodelib.data import sample_2d
from nodelib.models.cnf import CNF
from nodelib.models.flows import fit_density

DIM, HIDDEN, BATCH, TOL = 2, 64, 256, 1e-5


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time_step(cnf: CNF, x: torch.Tensor, repeats: int, warmup: int) -> dict[str, float]:
    """Median and IQR in ms of loss + backward, and the nfe of the last step."""
    times = []
    for i in range(warmup + repeats):
        cnf.zero_grad(set_to_none=True)
        _sync(x.device)
        start = time.perf_counter()
        loss = cnf.loss(x, generator=torch.Generator(x.device).manual_seed(i)).total
        nfe_forward = cnf.nfe_forward
        loss.backward()
        _sync(x.device)
        if i >= warmup:
            times.append(1e3 * (time.perf_counter() - start))
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return {
        "median_ms": statistics.median(times),
        "q1": q[0],
        "q3": q[2],
        "nfe_forward": nfe_forward,
        "nfe_total": cnf.nfe,
    }


def part1(device: torch.device, repeats: int, warmup: int) -> list[dict]:
    """Time per training step for each trace estimator and gradient method."""
    x = sample_2d("eight_gaussians", BATCH, generator=torch.Generator().manual_seed(0))
    x = x.to(device)
    rows = []
    for trace, probe in (
        ("exact", "gaussian"),
        ("hutchinson", "gaussian"),
        ("hutchinson", "rademacher"),
    ):
        for adjoint in (False, True):
            torch.manual_seed(0)
            cnf = CNF(
                DIM, hidden=HIDDEN, trace=trace, probe=probe, rtol=TOL, atol=TOL, adjoint=adjoint
            ).to(device)
            stats = _time_step(cnf, x, repeats, warmup)
            name = trace if trace == "exact" else f"hutchinson ({probe})"
            rows.append({"trace": name, "gradient": "adjoint" if adjoint else "backprop", **stats})
    return rows


def part2(device: torch.device, steps: int, weight: float) -> list[dict]:
    """Train with and without regularisation; nfe and NLL on held-out points."""
    sampler = functools.partial(sample_2d, "eight_gaussians")
    x_test = sample_2d("eight_gaussians", 2000, generator=torch.Generator().manual_seed(1))
    x_test = x_test.to(device)
    rows = []
    for lam in (0.0, weight):
        torch.manual_seed(0)
        cnf = CNF(
            DIM,
            hidden=HIDDEN,
            trace="hutchinson",
            probe="rademacher",
            rtol=TOL,
            atol=TOL,
            kinetic_weight=lam,
            jacobian_weight=lam,
        ).to(device)
        train_nfe: list[int] = []

        def counting_sampler(
            n: int,
            *,
            generator: torch.Generator | None = None,
            cnf: CNF = cnf,
            train_nfe: list[int] = train_nfe,
        ) -> torch.Tensor:
            # fit_density draws each batch after the previous step's solve: record its nfe
            if cnf.nfe_forward:
                train_nfe.append(cnf.nfe_forward)
            return sampler(n, generator=generator)

        start = time.perf_counter()
        losses = fit_density(
            cnf,
            counting_sampler,
            steps=steps,
            batch_size=BATCH,
            lr=5e-3,
            generator=torch.Generator().manual_seed(0),
        )
        train_s = time.perf_counter() - start
        last = train_nfe[-50:]
        cnf.trace = "exact"
        with torch.no_grad():
            logp, kinetic, jacobian = cnf.log_prob_and_regularisers(x_test)
            logp = cnf.log_prob(x_test)
            nfe_logp = cnf.nfe
            cnf.sample(2000, torch.Generator(device).manual_seed(2))
            nfe_sample = cnf.nfe
        rows.append(
            {
                "lambda": lam,
                "train_s": train_s,
                "final_loss": losses[-1],
                "nfe_log_prob": nfe_logp,
                "train_nfe": sum(last) / len(last),
                "nfe_sample": nfe_sample,
                "test_nll": float(-logp.mean()),
                "kinetic": float(kinetic.mean()),
                "jacobian": float(jacobian.mean()),
            }
        )
    return rows


def _print_tables(rows1: list[dict], rows2: list[dict], steps: int) -> None:
    print(
        f"\n### Time per training step (batch {BATCH}, dim {DIM}, hidden {HIDDEN}, "
        f"dopri5 rtol=atol={TOL})\n"
    )
    print("| trace | gradient | median ms | IQR ms | nfe forward | nfe total |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for r in rows1:
        print(
            f"| {r['trace']} | {r['gradient']} | {r['median_ms']:.1f} | "
            f"{r['q1']:.1f}-{r['q3']:.1f} | {r['nfe_forward']} | {r['nfe_total']} |"
        )
    print(
        f"\n### Regularisation after {steps} training steps (eight_gaussians, "
        "Hutchinson/Rademacher; evaluation with the exact trace on 2000 test points)\n"
    )
    print(
        "| λ_K = λ_J | train nfe/step (last 50) | nfe log_prob | nfe sample | test NLL "
        "| ∫‖f‖² | ∫‖∂f/∂z‖²_F | train s |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows2:
        print(
            f"| {r['lambda']:g} | {r['train_nfe']:.1f} | {r['nfe_log_prob']} | {r['nfe_sample']} | "
            f"{r['test_nll']:.3f} | {r['kinetic']:.3f} | {r['jacobian']:.3f} | "
            f"{r['train_s']:.1f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--train-steps", type=int, default=300)
    parser.add_argument("--weight", type=float, default=0.1, help="λ_K = λ_J of part 2")
    parser.add_argument("--quick", action="store_true", help="5 repeats, 100 training steps")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.warmup, args.train_steps = 5, 1, 100
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda, but torch.cuda.is_available() is False")
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}")
    rows1 = part1(device, args.repeats, args.warmup)
    rows2 = part2(device, args.train_steps, args.weight)
    _print_tables(rows1, rows2, args.train_steps)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"steps": rows1, "regularisation": rows2}, fh, indent=2)


if __name__ == "__main__":
    main()
