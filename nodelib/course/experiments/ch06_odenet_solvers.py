"""Chen et al. 2018, Fig. 3a-c on the trained ODE-Nets of `ch06_classifiers`: the solver's own
error against its evaluations, and the backward solve's evaluations against the forward's.

For each seed's trained ODE-Net (its shipped checkpoint, in float64):

- **Error against cost (Fig. 3a)**: the ODE block of the test images is solved at each
  tolerance, by dopri5, by dopri8 (DOP853) and by an implicit Adams-type variable-order
  method (SciPy's LSODA, which stays in its Adams mode on non-stiff problems: the family of
  LSODE and VODE that the paper used, its §3 "Software"). Recorded: the evaluations of f
  (NFE), the steps, the relative error of y(1) against a reference solve (dopri5 at a
  tolerance 100,000 times below the tightest one, whose own error is bounded by its distance
  to a solve 10 times looser), and the test accuracy of the network with that solve.
- **Backward against forward (Fig. 3c)**: on a few training batches, one training step's
  forward solve and adjoint backward solve with dopri5 and LSODA at each tolerance, and with
  dopri5 at the training tolerance also with the seminorm (Kidger, Chen & Lyons 2021), which
  leaves the parameter adjoint out of the backward solve's error control.
"""

from __future__ import annotations

from typing import Any

import scipy.integrate
import torch
from torch import Tensor, nn

from nodelib import odeint, odeint_adjoint, solve
from nodelib.course.experiments import _results
from nodelib.course.experiments.ch06_classifiers import load_data, make_classifier

NAME = "ch06_odenet_solvers"
DESCRIPTION = "Fig. 3a-c: solver error and backward/forward NFE of the trained ODE-Nets"
USES = ("ch06_classifiers",)
SETTINGS: dict[str, Any] = {
    "tols": [1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6],
    # dopri5, not dopri8: the field's ReLUs make it non-smooth, and a higher order does not pay
    # at tight tolerances (measured: dopri8 needs 5x dopri5's evaluations at 1e-9).
    "reference": {"method": "dopri5", "tol": 1e-11},
    "solvers": {
        "dopri5": {"method": "dopri5", "options": {}},
        "dopri8": {"method": "dopri8", "options": {}},
        # lband = uband = 0: LSODA's stiff mode would otherwise reserve a dense n x n
        # Jacobian (99 GiB for the 115,200 numbers of the test set's ODE state); its Adams
        # mode, which the non-stiff ODE-Net uses (njev = 0 checks it), needs no Jacobian.
        "LSODA": {"method": "scipy_solver", "options": {"solver": "LSODA"}, "band": 0},
    },
    "ratio_solvers": ["dopri5", "LSODA"],
    "ratio_tols": [1e-3, 1e-5, 1e-7],
    "ratio_batches": 4,
    "batch_size": 64,
}
DEPENDS = (
    "nodelib.course.experiments.ch06_classifiers",
    "nodelib.models.odenet",
    "nodelib.models.blocks",
    "nodelib.adjoint",
    "nodelib.odeint",
    "nodelib.integrate",
    "nodelib.rk",
    "nodelib.step_control",
    "nodelib.scipy_solver",
)


def trained_odenet(seed: int) -> tuple[nn.Module, dict[str, Any]]:
    """The ODE-Net that `ch06_classifiers` trained with `seed` (float64, on the CPU), and the
    settings it was trained with."""
    trained = _results.load("ch06_classifiers", strict=True, any_settings=True)
    model = make_classifier("ODE-Net", trained.settings, seed)
    model.load_state_dict(trained.checkpoint(seed, "odenet"))
    return model.double().eval(), trained.settings


class _BandedLSODA(scipy.integrate.LSODA):
    """LSODA told that its Jacobian is banded (``lband = uband = BAND``) when it goes stiff."""

    BAND = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, lband=self.BAND, uband=self.BAND, **kwargs)


def _options(spec: dict[str, Any]) -> dict[str, Any]:
    """The odeint options of a solver of SETTINGS (LSODA with its band as a solver class)."""
    options = dict(spec["options"])
    if "band" in spec:
        options["solver"] = type("BandedLSODA", (_BandedLSODA,), {"BAND": spec["band"]})
    return options


def _solve(model: nn.Module, h0: Tensor, spec: dict[str, Any], tol: float):
    t = torch.tensor([0.0, 1.0], dtype=h0.dtype)
    func, method = model.feature.func, spec["method"]
    return solve(func, h0, t, rtol=tol, atol=tol, method=method, options=_options(spec))


def error_against_cost(model: nn.Module, x: Tensor, y: Tensor, settings: dict) -> dict:
    """Fig. 3a: per solver and tolerance, NFE, steps, relative error of y(1), accuracy."""
    with torch.no_grad():
        h0 = model.stem(x.double())  # (N, width, 4, 4): the ODE block's input
        ref = settings["reference"]
        t = torch.tensor([0.0, 1.0], dtype=h0.dtype)
        f, tol = model.feature.func, ref["tol"]
        # odeint, not solve: thousands of steps, and solve keeps them all.
        y_ref = odeint(f, h0, t, rtol=tol, atol=tol, method=ref["method"])[-1]
        # The reference's own error, bounded by its distance to a solve 10x looser.
        y_loose = odeint(f, h0, t, rtol=10 * tol, atol=10 * tol, method=ref["method"])[-1]
        out: dict[str, Any] = {"reference_error": float((y_loose - y_ref).norm() / y_ref.norm())}
        for label, spec in settings["solvers"].items():
            rows = {"nfe": [], "steps": [], "njev": [], "error": [], "accuracy": []}
            for tol in settings["tols"]:
                sol = _solve(model, h0, spec, tol)
                y1 = sol.ys[-1]
                rows["nfe"].append(int(sol.stats["nfe"]))
                rows["steps"].append(int(sol.stats["n_steps"]))
                rows["njev"].append(int(sol.stats.get("njev", 0)))  # LSODA's stiff mode
                rows["error"].append(float((y1 - y_ref).norm() / y_ref.norm()))
                rows["accuracy"].append(float((model.head(y1).argmax(1) == y).double().mean()))
            out[label] = rows
    return out


def _one_step_nfe(model: nn.Module, x: Tensor, y: Tensor, spec: dict, tol: float,
                  norm: str | None = None) -> tuple[int, int]:  # fmt: skip
    """(forward, backward) evaluations of f in one training step's loss and gradient."""
    stats: dict[str, int] = {}
    func = model.feature.func
    options = _options(spec)
    extra = {"adjoint_options": {**options, "norm": norm}} if norm else {}
    h0 = model.stem(x)
    t = torch.tensor([0.0, 1.0], dtype=h0.dtype)
    y1 = odeint_adjoint(func, h0, t, rtol=tol, atol=tol, method=spec["method"],
                        options=options, stats=stats, **extra)[-1]  # fmt: skip
    nn.functional.cross_entropy(model.head(y1), y).backward()
    model.zero_grad(set_to_none=True)
    return stats["nfe_forward"], stats["nfe_backward"]


def backward_against_forward(model: nn.Module, x: Tensor, y: Tensor, settings: dict,
                             seed: int, train_tol: float) -> dict:  # fmt: skip
    """Fig. 3c: forward and backward NFE per solver, tolerance and batch."""
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    size = settings["batch_size"]
    batches = [order[i * size : (i + 1) * size] for i in range(settings["ratio_batches"])]
    out: dict[str, Any] = {}
    for label in settings["ratio_solvers"]:
        spec, out[label] = settings["solvers"][label], {}
        for tol in settings["ratio_tols"]:
            pairs = [_one_step_nfe(model, x[b].double(), y[b], spec, tol) for b in batches]
            out[label][f"{tol:.0e}"] = {"forward": [p[0] for p in pairs],
                                        "backward": [p[1] for p in pairs]}  # fmt: skip
    dopri5, tol = settings["solvers"]["dopri5"], train_tol
    semi = [_one_step_nfe(model, x[b].double(), y[b], dopri5, tol, "seminorm") for b in batches]
    out["dopri5_seminorm"] = {"forward": [p[0] for p in semi], "backward": [p[1] for p in semi]}
    return out


def run(
    seed: int, settings: dict[str, Any], *, device: torch.device, progress: bool = False
) -> dict[str, Any]:
    """Both measurements for the ODE-Net trained with `seed` (on the CPU: SciPy's solvers
    work on NumPy arrays).

    Returns:
        ``{"sweep": error_against_cost(...), "ratio": backward_against_forward(...)}``.
    """
    model, trained = trained_odenet(seed)
    x_train, y_train, x_test, y_test = load_data(trained, seed)
    return {
        "sweep": error_against_cost(model, x_test, y_test, settings),
        "ratio": backward_against_forward(model, x_train, y_train, settings, seed, trained["tol"]),
    }


def metrics(result: dict[str, Any]) -> dict[str, float]:
    """The headline numbers: NFE and error at every tolerance, backward and forward NFE."""
    numbers: dict[str, float] = {}
    for label, rows in result["sweep"].items():
        if isinstance(rows, dict):
            for k, nfe in enumerate(rows["nfe"]):
                numbers[f"sweep/{label}/nfe/{k}"] = float(nfe)
                numbers[f"sweep/{label}/error/{k}"] = rows["error"][k]
    for label, by_tol in result["ratio"].items():
        if label.endswith("seminorm"):
            by_tol = {"train": by_tol}
        for tol, pair in by_tol.items():
            numbers[f"ratio/{label}/{tol}/forward"] = float(sum(pair["forward"]))
            numbers[f"ratio/{label}/{tol}/backward"] = float(sum(pair["backward"]))
    return numbers
