"""Planar CNF with M units against a planar flow with K = M layers (Chen et al. 2018, §4.1).

The paper's protocol, shrunk to a CPU: for M ∈ {2, 8, 32}, a planar CNF (`PlanarCNFDynamics`,
M gated planar units summed in one field) and a planar normalising flow (K = M layers of
`PlanarFlow`) are fitted

- by density matching, minimising KL(q ‖ p) to a target p ∝ exp(-U) known up to its
  normaliser (`nodelib.data.energy_2d`, Rezende & Mohamed's test energies), and
- by maximum likelihood on samples of a data set (`nodelib.data.sample_2d`; the paper's
  Fig. 5 used "two circles" and "two moons").

The planar flow runs in the sampling direction for density matching (as in Rezende &
Mohamed) and in the normalising direction (`InverseFlow`) for maximum likelihood, so that
neither needs an inverse in training. The paper trained the CNF for 10,000 Adam iterations
and the flow for 500,000 RMSprop iterations; here both get `cnf_steps` = `nf_steps` Adam
steps at one learning rate, cut tenfold for the last fifth of the steps (each model's
training curve is kept, with the change of its loss over the last tenth). The CNF trains
with fixed-step RK4; every reported number is measured afterwards with dopri5 at tolerance
`eval_tol` on fresh samples (the same samples for both models), so it is the continuous
model's. Every model's parameters are returned, so that figures can be redrawn.
"""

from __future__ import annotations

import math
import time
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn

from nodelib.data import energy_2d, log_density_2d, log_normaliser_2d, sample_2d
from nodelib.data.densities import EXACT_DENSITIES_2D
from nodelib.models.cnf import CNF
from nodelib.models.flows import Flow, InverseFlow, PlanarFlow, StandardNormal, fit_density
from nodelib.models.planar_cnf import PlanarCNFDynamics
from nodelib.models.variational import fit_reverse_kl

NAME = "ch06_flows"
DESCRIPTION = (
    "Planar CNF with M units vs planar flow with K = M layers, M in {2, 8, 32}: density "
    "matching (reverse KL) and maximum likelihood (Chen et al. 2018, Sect. 4.1, Figs. 4-5)"
)
SETTINGS: dict[str, Any] = {
    "widths": [2, 8, 32],
    "hyper_hidden": None,  # None: constant units with gates; H: a hypernetwork of t
    "t1": 1.0,
    "train_step": 0.2,  # RK4 step of the CNF in training
    "eval_tol": 1e-5,  # dopri5 rtol = atol when measuring (the paper's density tolerance)
    "lr": 0.01,
    "lr_decay": {"at": 0.8, "factor": 0.1},
    "curve_every": 50,
    "density_matching": {
        "targets": ["ring_two_modes", "wave_split"],
        "cnf_steps": 2000,
        "nf_steps": 2000,
        "batch_size": 256,
        "eval_samples": 20000,
    },
    "max_likelihood": {
        "targets": ["two_circles", "two_moons"],
        "cnf_steps": 2000,
        "nf_steps": 2000,
        "batch_size": 256,
        "eval_samples": 20000,
    },
}
DEPENDS = (
    "nodelib.models.planar_cnf",
    "nodelib.models.variational",
    "nodelib.models.cnf",
    "nodelib.models.flows:StandardNormal",
    "nodelib.models.flows:PlanarFlow",
    "nodelib.models.flows:Flow",
    "nodelib.models.flows:InverseFlow",
    "nodelib.models.flows:fit_density",
    "nodelib.models.flows:nll",
    "nodelib.data.densities",
)
_TASKS = ("density_matching", "max_likelihood")
_KINDS = ("cnf", "nf")


def make_model(kind: str, width: int, settings: dict[str, Any], task: str) -> nn.Module:
    """A fresh planar CNF ("cnf", M = width units) or planar flow ("nf", K = width layers).

    The CNF trains with RK4 at `settings["train_step"]`; `evaluation_cnf` gives the same
    field under dopri5. For density matching the planar layers run in the sampling direction
    (Rezende & Mohamed 2015); for maximum likelihood in the normalising direction
    (`InverseFlow`), where log q(x) needs no inverse (sampling then inverts each layer).
    """
    if kind == "nf":
        layers = [PlanarFlow(2) for _ in range(width)]
        flow = Flow if task == "density_matching" else InverseFlow
        return flow(StandardNormal(2), layers)
    options = {"step_size": settings["train_step"]}
    field = PlanarCNFDynamics(2, width, hyper_hidden=settings["hyper_hidden"])
    return CNF(2, dynamics=field, t1=settings["t1"], method="rk4", options=options)


def evaluation_cnf(cnf: CNF, settings: dict[str, Any]) -> CNF:
    """The same field (shared parameters) solved by dopri5 at the evaluation tolerance."""
    tol = settings["eval_tol"]
    return CNF(2, dynamics=cnf.dynamics, t1=cnf.t1, rtol=tol, atol=tol).to(cnf.base._ref)


def model_state(model: nn.Module) -> dict[str, list]:
    """The parameters as nested lists (JSON), a checkpoint of a few hundred numbers."""
    return {k: v.detach().cpu().tolist() for k, v in model.state_dict().items()}


def load_model(
    kind: str, width: int, state: dict[str, list], settings: dict[str, Any], task: str
) -> nn.Module:
    """A model rebuilt from `model_state` output (for the figures)."""
    model = make_model(kind, width, settings, task)
    model.load_state_dict({k: torch.tensor(v) for k, v in state.items()})
    return model


def _seed(seed: int, *parts: int) -> int:
    """A distinct, reproducible seed for each (seed, task, target, width, kind)."""
    return seed * 1_000_003 + sum(p * 7919**i for i, p in enumerate(parts, 1))


def _generator(device: torch.device, seed: int) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def _fit(
    task: str,
    target: str,
    kind: str,
    model: nn.Module,
    settings: dict[str, Any],
    seed: int,
    progress: bool,
) -> list[float]:
    """Train one model, at `lr` and then for the last `decay_at` share of the steps at
    `lr * decay_factor` (a fresh Adam), so that the loss is not read at a noisy point;
    every batch derives from `seed`."""
    cfg = settings[task]
    steps, batch = cfg[f"{kind}_steps"], cfg["batch_size"]
    first = round(settings["lr_decay"]["at"] * steps)
    device = next(model.parameters()).device
    if task == "density_matching":
        g = _generator(device, seed)
        fit = partial(fit_reverse_kl, model, partial(energy_2d, target), generator=g)
    else:
        sampler = partial(_sample_on, target, device=device)
        g = torch.Generator().manual_seed(seed)  # the data sets sample on the CPU
        fit = partial(fit_density, model, sampler, generator=g)
    lr = settings["lr"]
    losses = fit(steps=first, batch_size=batch, lr=lr, progress=progress)
    if steps > first:
        lr *= settings["lr_decay"]["factor"]
        losses += fit(steps=steps - first, batch_size=batch, lr=lr, progress=progress)
    return losses


def _sample_on(name: str, n: int, *, generator: torch.Generator, device: torch.device) -> Tensor:
    return sample_2d(name, n, generator=generator).to(device)


def _measure(task: str, target: str, model: nn.Module, n: int, seed: int) -> dict[str, float]:
    """The loss on `n` fresh samples (the same for both models): KL(q ‖ p) or the NLL."""
    device = next(model.parameters()).device
    with torch.no_grad():
        if task == "density_matching":
            x, log_q = model.sample_and_log_prob(n, _generator(device, seed))
            terms = log_q + energy_2d(target, x) + log_normaliser_2d(target)  # (n,)
            return {"loss": float(terms.mean()), "loss_se": float(terms.std()) / math.sqrt(n)}
        x = sample_2d(target, n, generator=torch.Generator().manual_seed(seed)).to(device)
        log_q = model.log_prob(x)
        out = {"loss": float(-log_q.mean()), "loss_se": float(log_q.std()) / math.sqrt(n)}
        if target in EXACT_DENSITIES_2D:  # KL(p ‖ q) = E_p[log p - log q] >= 0, paired
            gap = log_density_2d(target, x) - log_q
            out |= {"kl": float(gap.mean()), "kl_se": float(gap.std()) / math.sqrt(n)}
        return out


def _curve(losses: list[float], every: int) -> list[float]:
    """Means of consecutive blocks of `every` training losses."""
    return [
        sum(losses[i : i + every]) / len(losses[i : i + every])
        for i in range(0, len(losses), every)
    ]


def _one(
    task: str,
    target: str,
    kind: str,
    width: int,
    settings: dict[str, Any],
    seeds: tuple,
    device: torch.device,
    progress: bool,
) -> dict[str, Any]:
    """Train and measure one model: its numbers, training curve, cost and parameters."""
    init_seed, train_seed, eval_seed = seeds
    torch.manual_seed(init_seed)  # the layers draw their initial parameters from it
    model = make_model(kind, width, settings, task).to(device)
    start = time.process_time()
    losses = _fit(task, target, kind, model, settings, train_seed, progress)
    measured = evaluation_cnf(model, settings) if kind == "cnf" else model
    out = _measure(task, target, measured, settings[task]["eval_samples"], eval_seed)
    tail = max(len(losses) // 10, 1)
    out |= {
        "params": sum(p.numel() for p in model.parameters()),
        "steps": len(losses),
        "nfe": measured.nfe_forward if kind == "cnf" else None,
        "train_curve": _curve(losses, settings["curve_every"]),
        # change of the mean training loss over the last tenth of training: still falling?
        "train_tail_change": sum(losses[-tail:]) / tail - sum(losses[-2 * tail : -tail]) / tail,
        "cpu_s": time.process_time() - start,
        "state": model_state(model),
    }
    return out


def run(
    seed: int, settings: dict[str, Any], *, device: torch.device, progress: bool = False
) -> dict[str, Any]:
    """One seed of the comparison: every task, target, width and model (see the module).

    Returns:
        {task: {target: {str(width): {"cnf": entry, "nf": entry}}}} where an entry has
        "loss" (KL(q ‖ p) in nats for density matching, the test NLL for maximum
        likelihood), "loss_se" (its Monte Carlo standard error), "kl"/"kl_se" (KL(p ‖ q)
        where the data density is exact), "params", "steps", "nfe" (dopri5, CNF),
        "train_curve", "train_tail_change", "cpu_s" and "state" (the parameters); and
        "log_normalisers" {target: log Z}.
    """
    device = torch.device(device)
    results: dict[str, Any] = {task: {} for task in _TASKS}
    for i, task in enumerate(_TASKS):
        for j, target in enumerate(settings[task]["targets"]):
            per_width = results[task].setdefault(target, {})
            for k, width in enumerate(settings["widths"]):
                eval_seed = _seed(seed, i, j, k, 9)  # paired: both models meet the same samples
                per_width[str(width)] = {
                    kind: _one(
                        task,
                        target,
                        kind,
                        width,
                        settings,
                        (_seed(seed, i, j, k, 2 * m), _seed(seed, i, j, k, 2 * m + 1), eval_seed),
                        device,
                        progress,
                    )
                    for m, kind in enumerate(_KINDS)
                }
    targets = settings["density_matching"]["targets"]
    results["log_normalisers"] = {t: log_normaliser_2d(t) for t in targets}
    return results


def summary(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (task, target, width, model) over the seeds' results of `run`.

    Each row has "task", "target", "width", "model", "params", "mean", "std" (over seeds,
    ddof 0 for a single seed), "min", "max" of the measured loss, "seeds", "cpu_s" (mean),
    and "cnf_below_nf": on how many seeds the CNF's loss is below the flow's (CNF rows).
    """
    rows = []
    for task in _TASKS:
        for target, per_width in runs[0][task].items():
            for width in per_width:
                loss = {k: [r[task][target][width][k]["loss"] for r in runs] for k in _KINDS}
                for kind in _KINDS:
                    values = torch.tensor(loss[kind], dtype=torch.float64)
                    entry = runs[0][task][target][width][kind]
                    row = {
                        "task": task,
                        "target": target,
                        "width": int(width),
                        "model": kind,
                        "params": entry["params"],
                        "mean": float(values.mean()),
                        "std": float(values.std(correction=min(1, len(values) - 1))),
                        "min": float(values.min()),
                        "max": float(values.max()),
                        "seeds": len(values),
                        "cpu_s": sum(r[task][target][width][kind]["cpu_s"] for r in runs)
                        / len(runs),
                    }
                    if kind == "cnf":
                        row["cnf_below_nf"] = sum(
                            c < f for c, f in zip(*loss.values(), strict=True)
                        )
                    rows.append(row)
    return rows


def metrics(result: dict[str, Any]) -> dict[str, float]:
    """The headline numbers: every model's measured loss, by task/target/width/model."""
    return {
        f"{task}/{target}/{width}/{kind}": float(entry["loss"])
        for task in _TASKS
        for target, per_width in result[task].items()
        for width, models in per_width.items()
        for kind, entry in models.items()
    }
