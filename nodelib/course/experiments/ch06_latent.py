"""The latent ODE against an RNN on the authors' spiral protocol (Chen et al. 2018, §5.1).

Data as in torchdiffeq's ``examples/latent_ode.py`` (`nodelib.data.make_spiral_windows`):
windows of 100 points cut at random offsets from two fixed spirals (one clockwise, one
counter-clockwise, around different centres), noise of standard deviation 0.3, each window
observed at n ∈ {30, 50, 100} of its points drawn without replacement (the paper's
irregular times). As in the script, 1,000 training series and 2,000 Adam iterations at lr
0.01; unlike it, each iteration takes a minibatch of 100 series instead of all 1,000 (a
tenth of the cost), the rate is cut tenfold for the last quarter of the iterations (so that
the final errors are not read at a noisy point), and dopri5 runs at rtol 1e-3, atol 1e-4
(the paper: 1.5e-8). Test
windows are followed by 100 points that no model sees, on which the predictive RMSE of the
paper's Table 2 is measured against the noiseless spiral; the interpolation RMSE is
measured at the window's unobserved points.

Models: `LatentODE` (GRU recognition network with 25 units, 4-D latent state, dynamics and
decoder with 20 hidden units, as in §5.1) and `RNNBaseline` (a GRU with 25 units whose
inputs carry the time gaps, the paper's second RNN). Every number is a deterministic
function of the seed.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch
from torch import Tensor, nn

from nodelib.data import SpiralWindows, make_spiral_windows
from nodelib.models.latent import LatentODE, RNNBaseline

NAME = "ch06_latent"
DESCRIPTION = (
    "Latent ODE vs RNN on windows of two fixed spirals, irregularly observed: interpolation "
    "and extrapolation RMSE (Chen et al. 2018, Sect. 5.1, Table 2, Fig. 8)"
)
SETTINGS: dict[str, Any] = {
    "n_observed": [30, 50, 100],
    "n_train": 1000,
    "n_test": 200,
    "n_window": 100,
    "n_extrapolate": 100,
    "n_total": 500,
    "noise": 0.3,
    "batch_size": 100,
    "iterations": 2000,
    "lr": 0.01,
    "lr_decay": {"at": 0.75, "factor": 0.1},
    "eval_every": 250,
    "latent": {"latent_dim": 4, "rec_hidden": 25, "gen_hidden": 20, "rtol": 1e-3, "atol": 1e-4},
    "rnn_hidden": 25,
    "refit_z0": {"steps": 200, "lr": 0.05},
    "figure_series": 1,
}
DEPENDS = (
    "nodelib.models.latent",
    "nodelib.data.spirals",
    "nodelib.models.blocks:ODEFunc",
    "nodelib.models.blocks:ODEBlock",
)
# Table 2 of the paper: predictive RMSE on the test set with 30, 50 and 100 observed points.
PAPER_TABLE2 = {
    "rnn": {"30": 0.3937, "50": 0.3202, "100": 0.1813},
    "latent_ode": {"30": 0.1642, "50": 0.1502, "100": 0.1346},
}
_KINDS = ("latent_ode", "rnn")


def make_model(kind: str, settings: dict[str, Any]) -> nn.Module:
    """A fresh `LatentODE` ("latent_ode") or `RNNBaseline` ("rnn") of the paper's sizes."""
    if kind == "rnn":
        return RNNBaseline(2, settings["rnn_hidden"])
    cfg = settings["latent"]
    return LatentODE(
        2,
        cfg["latent_dim"],
        cfg["rec_hidden"],
        cfg["gen_hidden"],
        rtol=cfg["rtol"],
        atol=cfg["atol"],
    )


def _loss(kind: str, model: nn.Module, data: SpiralWindows, noise: float) -> Tensor:
    w = data.n_window
    t, y, mask = data.t[:w], data.y[:, :w], data.mask[:, :w]
    if kind == "rnn":
        return model.loss(t, y, mask)[0]
    return model.elbo(t, y, mask, noise_std=noise)[0]


def predict(model: nn.Module, data: SpiralWindows) -> Tensor:
    """Predictions `(N, T, 2)` at every time of `data.t` from the window's observations."""
    w = data.n_window
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = model.reconstruct(data.t[:w], data.y[:, :w], data.mask[:, :w], data.t)
    model.train(was_training)
    return out


def errors(pred: Tensor, data: SpiralWindows) -> dict[str, float]:
    """RMSE against the noiseless spirals: at the window's unobserved points ("interpolation"),
    on the points after it ("extrapolation", the paper's predictive RMSE), and the latter on
    its first 10 points and per direction."""
    w = data.n_window
    sq = (pred - data.y_true).pow(2)  # (N, T, 2)
    hidden = ~data.mask[:, :w]
    out = {
        "extrapolation": sq[:, w:].mean(),
        "extrapolation_first10": sq[:, w : w + 10].mean(),
        "extrapolation_cw": sq[data.clockwise, w:].mean(),
        "extrapolation_ccw": sq[~data.clockwise, w:].mean(),
    }
    if bool(hidden.any()):
        out["interpolation"] = sq[:, :w][hidden].mean()
    return {k: math.sqrt(float(v)) for k, v in out.items()}


def rmse_by_time(pred: Tensor, data: SpiralWindows) -> list[float]:
    """The RMSE against the noiseless spirals at each grid time, over series and coordinates
    (observed points included): how the error grows beyond the window."""
    rmse = (pred - data.y_true).pow(2).mean(dim=(0, 2)).sqrt()  # (T,)
    return [round(float(v), 5) for v in rmse]


def refit_initial_state(
    model: LatentODE, data: SpiralWindows, *, steps: int, lr: float, noise: float
) -> Tensor:
    """z0 `(N, latent)` refitted to each window's observations with the model held fixed.

    Starting from the recognition network's mean, Adam maximises log p(x | z0) + log p(z0)
    (the MAP estimate) through the learned dynamics and decoder. Extrapolating from it
    separates the two sources of the latent ODE's error: what remains is the learned
    dynamics' own; what it removes was the recognition network's (its amortisation gap).
    """
    w = data.n_window
    t, y, m = data.t[:w], data.y[:, :w], data.mask[:, :w].unsqueeze(-1)
    frozen = [p for p in model.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    try:
        with torch.no_grad():
            z0 = model.encode(t, y, m[..., 0])[0].clone()
        z0.requires_grad_(True)
        opt = torch.optim.Adam([z0], lr=lr)
        for _ in range(steps):
            pred = model.decode(z0, t)  # (N, W, 2)
            sq = ((torch.where(m, y, pred) - pred) ** 2 * m).sum()
            loss = 0.5 * sq / noise**2 + 0.5 * z0.pow(2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        for p in frozen:
            p.requires_grad_(True)
    return z0.detach()


def _seed(seed: int, *parts: int) -> int:
    return seed * 1_000_003 + sum(p * 7919**i for i, p in enumerate(parts, 1))


def _data(seed: int, n_obs: int, settings: dict[str, Any], device: torch.device) -> tuple:
    common = {k: settings[k] for k in ("n_window", "n_total", "noise")}
    train = make_spiral_windows(
        settings["n_train"], n_observed=n_obs, n_extrapolate=0, seed=_seed(seed, n_obs, 0), **common
    )
    test = make_spiral_windows(
        settings["n_test"],
        n_observed=n_obs,
        n_extrapolate=settings["n_extrapolate"],
        seed=_seed(seed, n_obs, 1),
        **common,
    )
    return tuple(_to(d, device) for d in (train, test))


def _to(d: SpiralWindows, device: torch.device) -> SpiralWindows:
    return SpiralWindows(
        d.t.to(device),
        d.y_true.to(device),
        d.y.to(device),
        d.mask.to(device),
        d.clockwise.to(device),
        d.start,
        d.n_window,
    )


def _subset(d: SpiralWindows, idx: Tensor) -> SpiralWindows:
    return SpiralWindows(
        d.t, d.y_true[idx], d.y[idx], d.mask[idx], d.clockwise[idx], d.start[idx.cpu()], d.n_window
    )


def _train(
    kind: str,
    model: nn.Module,
    data: tuple[SpiralWindows, SpiralWindows],
    settings: dict[str, Any],
    batch_seed: int,
    progress: bool,
) -> tuple[list[float], list[dict]]:
    """Adam on minibatches of `batch_size` series (all of them when None); the test errors
    every `eval_every` iterations."""
    train, test = data
    opt = torch.optim.Adam(model.parameters(), lr=settings["lr"])
    iterations, every, batch = (
        settings["iterations"],
        settings["eval_every"],
        settings["batch_size"],
    )
    decay_at = round(settings["lr_decay"]["at"] * iterations)
    g = torch.Generator().manual_seed(batch_seed)
    losses: list[float] = []
    curve: list[dict[str, float]] = []
    bar = None
    if progress:
        from nodelib.models.flows import _progress_bar

        bar = _progress_bar(iterations, f"{NAME} {kind}")
    for it in range(1, iterations + 1):
        if it == decay_at + 1:  # one step decay: final errors not at a noisy lr-0.01 point
            for group in opt.param_groups:
                group["lr"] *= settings["lr_decay"]["factor"]
        part = train
        if batch is not None and batch < len(train.y):
            part = _subset(
                train, torch.randperm(len(train.y), generator=g)[:batch].to(train.y.device)
            )
        opt.zero_grad()
        loss = _loss(kind, model, part, settings["noise"])
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if bar is not None:
            bar.update(1)
        if it % every == 0 or it == iterations:
            block = losses[-every:]
            curve.append(
                {
                    "iteration": it,
                    "loss": sum(block) / len(block),
                    **errors(predict(model, test), test),
                }
            )
    if bar is not None:
        bar.close()
    return losses, curve


def _figure_series(test: SpiralWindows, preds: dict[str, Tensor], k: int) -> list[dict]:
    """The first `k` test series of each direction: truth, observations, both predictions."""
    picked: list[int] = []
    for cw in (False, True):
        picked += (test.clockwise == cw).nonzero().flatten()[:k].tolist()
    w = test.n_window
    return [
        {
            "clockwise": bool(test.clockwise[i]),
            "y_true": _rounded(test.y_true[i]),
            "observed": _rounded(test.y[i, :w][test.mask[i, :w]]),
            **{kind: _rounded(p[i]) for kind, p in preds.items()},
        }
        for i in picked
    ]


def _rounded(x: Tensor, digits: int = 3) -> list:
    """A small tensor as nested lists rounded for the result file (figures only)."""
    return torch.round(x.detach().cpu().double(), decimals=digits).tolist()


def run(
    seed: int, settings: dict[str, Any], *, device: torch.device, progress: bool = False
) -> dict[str, Any]:
    """One seed: for every n in `n_observed`, both models trained and measured.

    Returns:
        {str(n): {"latent_ode": entry, "rnn": entry, "figure": [...]}} where an entry has
        the final "errors" (RMSE: "interpolation" where n < n_window, "extrapolation",
        "extrapolation_first10", "extrapolation_cw", "extrapolation_ccw"), "rmse_by_time"
        (`rmse_by_time`, one number per grid time), "curve" (the
        test errors and the mean training loss every `eval_every` iterations), "params",
        "cpu_s" and, for the latent ODE, "nfe" (dopri5 evaluations of one prediction of
        the test set) and "errors_refit_z0" (the errors from `refit_initial_state`);
        "figure" holds a few test series with both models' predictions.
    """
    device = torch.device(device)
    results: dict[str, Any] = {}
    for n_obs in settings["n_observed"]:
        train, test = _data(seed, n_obs, settings, device)
        entry: dict[str, Any] = {}
        preds: dict[str, Tensor] = {}
        for m, kind in enumerate(_KINDS):
            torch.manual_seed(_seed(seed, n_obs, 2 + m))  # initial parameters and z0 draws
            model = make_model(kind, settings).to(device)
            start = time.process_time()
            _, curve = _train(
                kind, model, (train, test), settings, _seed(seed, n_obs, 4 + m), progress
            )
            cpu_s = time.process_time() - start
            if kind == "latent_ode":
                model.dynamics.func.reset_nfe()
            preds[kind] = predict(model, test)
            entry[kind] = {
                "errors": errors(preds[kind], test),
                "rmse_by_time": rmse_by_time(preds[kind], test),
                "curve": curve,
                "params": sum(p.numel() for p in model.parameters()),
                "cpu_s": cpu_s,
                "nfe": model.dynamics.func.nfe if kind == "latent_ode" else None,
            }
            if kind == "latent_ode":  # the diagnosis: the same model from refitted z0
                z0 = refit_initial_state(
                    model, test, noise=settings["noise"], **settings["refit_z0"]
                )
                with torch.no_grad():
                    entry[kind]["errors_refit_z0"] = errors(model.decode(z0, test.t), test)
        entry["figure"] = _figure_series(test, preds, settings["figure_series"])
        results[str(n_obs)] = entry
    return results


def summary(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (n_observed, model, error) over the seeds' results of `run`.

    Each row has "n_observed", "model", "error" (a key of an entry's "errors"), "mean",
    "std" (over seeds), "min", "max", "seeds", "paper" (Table 2's RMSE for the extrapolation,
    else None) and, on latent-ODE rows, "latent_below_rnn": on how many seeds the latent
    ODE's error is below the RNN's.
    """
    rows = []
    for n_obs, entry in runs[0].items():
        for kind in _KINDS:
            for error in entry[kind]["errors"]:
                values = torch.tensor([r[n_obs][kind]["errors"][error] for r in runs])
                row = {
                    "n_observed": int(n_obs),
                    "model": kind,
                    "error": error,
                    "mean": float(values.mean()),
                    "std": float(values.double().std(correction=min(1, len(values) - 1))),
                    "min": float(values.min()),
                    "max": float(values.max()),
                    "seeds": len(values),
                    "paper": PAPER_TABLE2[kind].get(n_obs) if error == "extrapolation" else None,
                }
                if kind == "latent_ode":
                    rnn = [r[n_obs]["rnn"]["errors"][error] for r in runs]
                    row["latent_below_rnn"] = sum(
                        a < b for a, b in zip(values.tolist(), rnn, strict=True)
                    )
                rows.append(row)
    return rows


def metrics(result: dict[str, Any]) -> dict[str, float]:
    """The headline numbers: every error of both models (and of the refit), by setting."""
    out = {}
    for n_obs, entry in result.items():
        for kind in _KINDS:
            for key in ("errors", "errors_refit_z0"):
                for error, value in entry[kind].get(key, {}).items():
                    out[f"{n_obs}/{kind}/{key}/{error}"] = float(value)
    return out
