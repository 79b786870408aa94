"""Chen et al. 2018, Table 1 and Fig. 3d on digits: ResNet, RK-Net, ODE-Net and MLP, trained
until their test accuracy no longer moves.

The four networks of the paper's Table 1, with its architecture at the size of scikit-learn's
8x8 digits (16 channels instead of 64): the same stem and head around six residual blocks
(ResNet), one convolutional vector field solved by fixed-step RK4 and differentiated by
backprop (RK-Net), or the same field solved by dopri5 and differentiated by the adjoint
(ODE-Net); and the table's one-hidden-layer MLP (300 units). Each trains with Adam and a
cosine decay of the learning rate to zero, so that the last epochs change the weights
little and the final test error is the converged one, not a snapshot of a noisy trajectory.
Per epoch it records the test accuracy, the training loss and the ODE-Net's evaluations of
its field per batch (forward and adjoint backward; the paper's Fig. 3d). The trained ODE-Net
is kept as a checkpoint for the solver experiments (`ch06_odenet_solvers`).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from nodelib.course.train import fit
from nodelib.data import load_digits, load_mnist
from nodelib.models import MLP, ODENet, ResNet, RKNet

NAME = "ch06_classifiers"
DESCRIPTION = "Table 1 on digits: ResNet, RK-Net, ODE-Net and MLP trained to convergence"
SETTINGS: dict[str, Any] = {
    "data": "digits",  # scikit-learn's 8x8 digits, split by the seed; or "mnist"
    "width": 16,  # channels (the paper: 64 on MNIST)
    "image_size": 8,
    "n_blocks": 6,  # the ResNet's residual blocks (the paper's L = 6)
    "rk_steps": 2,  # the RK-Net's RK4 steps on [0, 1]: 8 evaluations of its field
    "tol": 1e-3,  # rtol = atol of the ODE-Net's dopri5, forward and backward
    "mlp_hidden": 300,
    "epochs": 30,
    "batch_size": 64,
    "lr": 1e-2,  # Adam's initial learning rate, decayed by a cosine to 0
}
# The paper's size (MNIST at 28x28, 64 channels), for a GPU: the chapter's FULL_SIZE switch
# recomputes the experiment with these (`scripts/run_experiments.py ch06 ch06_classifiers
# --device cuda --set data=mnist ... --out DIR` does the same from a terminal).
FULL_SIZE_SETTINGS: dict[str, Any] = {
    **SETTINGS,
    "data": "mnist",
    "mnist_root": "data/mnist",
    "download": False,  # True fetches the four IDX files (about 11 MB) into mnist_root
    "width": 64,
    "image_size": 28,
    "epochs": 30,
    "batch_size": 128,
    "lr": 1e-3,
}
DEPENDS = (
    "nodelib.models.odenet",
    "nodelib.models.blocks",
    "nodelib.course.train",
    "nodelib.data.sets:load_digits",  # not the whole module: other data sets live there
    "nodelib.data.mnist",
)
KINDS = ("ResNet", "RK-Net", "ODE-Net", "MLP")


def make_classifier(kind: str, settings: dict[str, Any], seed: int) -> nn.Module:
    """One of the networks of Table 1 at the experiment's size, initialised from `seed`.

    Raises:
        ValueError: `kind` is not one of KINDS.
    """
    torch.manual_seed(seed)
    common = {"width": settings["width"], "image_size": settings["image_size"]}
    if kind == "ResNet":
        return ResNet(**common, n_blocks=settings["n_blocks"])
    if kind == "RK-Net":
        return RKNet(**common, n_steps=settings["rk_steps"])
    if kind == "ODE-Net":
        return ODENet(**common, tol=settings["tol"], adjoint=True)
    if kind == "MLP":
        return MLP(settings["image_size"] ** 2, hidden=settings["mlp_hidden"])
    raise ValueError(f"kind must be one of {KINDS}, got {kind!r}.")


def n_params(model: nn.Module) -> int:
    """The number of trained parameters."""
    return sum(p.numel() for p in model.parameters())


def load_data(settings: dict[str, Any], seed: int):
    """(x_train, y_train, x_test, y_test): digits split by `seed`, or MNIST's own split.

    Raises:
        ValueError: an unknown ``settings["data"]``.
        FileNotFoundError: MNIST's files are missing and ``settings["download"]`` is False.
    """
    if settings["data"] == "digits":
        return load_digits(seed=seed)
    if settings["data"] == "mnist":
        root, download = settings["mnist_root"], settings.get("download", False)
        train = load_mnist(root, train=True, download=download)
        return (*train, *load_mnist(root, train=False, download=download))
    raise ValueError(f'settings["data"] must be "digits" or "mnist", got {settings["data"]!r}.')


def run(
    seed: int, settings: dict[str, Any], *, device: torch.device, progress: bool = False
) -> dict[str, Any]:
    """Train the four networks on the data of `seed`; their histories and sizes.

    Returns:
        ``{"params": {kind: int}, "history": {kind: History.as_dict()},
        "test_error": {kind: float}, "n_test": int, "checkpoints": {"odenet": state_dict}}``.
    """
    x_train, y_train, x_test, y_test = load_data(settings, seed)
    epochs = settings["epochs"]

    def cosine(epoch: int) -> float:
        return 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))

    out: dict[str, Any] = {"params": {}, "history": {}, "test_error": {}, "n_test": len(y_test)}
    for kind in KINDS:
        model = make_classifier(kind, settings, seed)
        history = fit(
            model, (x_train, y_train), loss_fn=nn.CrossEntropyLoss(), epochs=epochs,
            lr=settings["lr"], batch_size=settings["batch_size"], lr_schedule=cosine,
            eval_data=(x_test, y_test), metric="accuracy", progress=progress, device=device,
            seed=seed,
        )  # fmt: skip
        out["params"][kind] = n_params(model)
        out["history"][kind] = history.as_dict()
        out["test_error"][kind] = 1.0 - history.eval_accuracy[-1]
        if kind == "ODE-Net":
            out["checkpoints"] = {"odenet": model.cpu().state_dict()}
    return out


def metrics(result: dict[str, Any]) -> dict[str, float]:
    """The headline numbers: each network's final test error, and the ODE-Net's last NFE."""
    numbers = {f"test_error/{k}": float(v) for k, v in result["test_error"].items()}
    numbers["nfe_forward_last"] = float(result["history"]["ODE-Net"]["nfe_forward"][-1])
    return numbers
