"""Density matching: fitting a flow to an unnormalised target by the reverse KL divergence.

Given a target p(x) = exp(-U(x)) / Z known only up to Z, a flow q with samples and exact
log-densities is fitted by minimising

    KL(q ‖ p) = E_{x~q}[log q(x) + U(x)] + log Z,

whose gradient does not involve Z (Rezende & Mohamed, "Variational Inference with
Normalizing Flows", ICML 2015, §6.1; Chen et al., "Neural Ordinary Differential Equations",
NeurIPS 2018, §4.1 "Density matching"). The expectation is estimated on reparametrised
samples: any model with ``sample_and_log_prob(n, generator) -> (x (n, d), log q (n,))``,
a `nodelib.models.Flow` or a `nodelib.models.CNF`, can be fitted.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from nodelib.models.flows import _progress_bar

__all__ = ["fit_reverse_kl", "reverse_kl"]

_OPTIMISERS = {"adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop}


def reverse_kl(
    model: nn.Module,
    energy: Callable[[Tensor], Tensor],
    n: int,
    *,
    log_normaliser: float = 0.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """A Monte Carlo estimate of KL(q ‖ p), p = exp(-energy) / Z, on `n` samples of q.

    Args:
        model: has ``sample_and_log_prob(n, generator)``.
        energy: U, points (n, d) -> (n,).
        n: the number of samples (> 0).
        log_normaliser: log Z (with the default 0 the value is KL - log Z, the training loss).
        generator: for the samples (and a CNF's Hutchinson probe).

    Returns:
        A 0-d tensor, differentiable with respect to the model's parameters.

    Raises:
        ValueError: n < 1, or a model without ``sample_and_log_prob``.
    """
    if n < 1:
        raise ValueError(f"n must be positive, got {n}.")
    sample = getattr(model, "sample_and_log_prob", None)
    if sample is None:
        raise ValueError(
            f"{type(model).__name__} has no sample_and_log_prob(n, generator): use a "
            "nodelib.models.Flow or a nodelib.models.CNF."
        )
    x, log_q = sample(n, generator)
    return (log_q + energy(x)).mean() + log_normaliser


def fit_reverse_kl(
    model: nn.Module,
    energy: Callable[[Tensor], Tensor],
    *,
    steps: int,
    batch_size: int,
    lr: float = 1e-3,
    optimizer: str = "adam",
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> list[float]:
    """Density matching: minimise KL(q ‖ p) - log Z on fresh samples of q at every step.

    Args:
        model, energy: as in `reverse_kl`.
        steps: the number of optimiser steps (> 0).
        batch_size: samples per step (> 0).
        lr: the learning rate.
        optimizer: "adam" (Chen et al. 2018 for the CNF) or "rmsprop" (Rezende & Mohamed
            2015 for planar flows).
        generator: for the samples.
        progress: show a tqdm progress bar.

    Returns:
        The loss KL - log Z of every step (`steps` floats).

    Raises:
        ValueError: steps or batch_size not positive, an unknown optimizer, or a model
            without parameters or without ``sample_and_log_prob``.
    """
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be positive, got {steps}, {batch_size}.")
    if optimizer not in _OPTIMISERS:
        raise ValueError(f"optimizer must be one of {tuple(_OPTIMISERS)}, got {optimizer!r}.")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters: nothing to fit.")
    opt = _OPTIMISERS[optimizer](params, lr=lr)
    losses: list[float] = []
    bar = _progress_bar(steps, "fit_reverse_kl") if progress else None
    for _ in bar if bar is not None else range(steps):
        opt.zero_grad()
        loss = reverse_kl(model, energy, batch_size, generator=generator)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if bar is not None:
            bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
    return losses
