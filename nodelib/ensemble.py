"""Train several copies of one architecture at once: a batched ensemble over seeds.

A multi-seed experiment trains the same network from several initialisations, on batches
shuffled by several seeds. Trained one after the other, small networks spend most of their
time in Python and in launching tiny kernels. Here the members' parameters are stacked
along a new leading dimension (`torch.func.stack_module_state`) and one forward and
backward pass, vectorised over the members with `torch.func.vmap` and
`torch.func.functional_call`, trains all of them (the "model ensembling" recipe of the
`torch.func` documentation).

The members stay independent: the loss that is minimised is the sum of the members' losses,
whose gradient with respect to member m's parameters is the gradient of member m's loss
alone, and Adam acts elementwise, so each member follows exactly the updates it would get
from `nodelib.course.train.fit` with its own seed (up to round-off: a batched matrix product may
sum in another order than a single one). `fit_ensemble` draws each member's batches the way
`fit` does (a `RandomSampler` over a generator seeded with the member's seed), so member m
of an ensemble reproduces ``fit(models[m], ..., seed=seeds[m])``.

`fit_density_ensemble` does the same for density models trained by maximum likelihood on
samples (as `nodelib.models.flows.fit_density` trains one); `stack_members` and
`unstack_into` are the two halves both trainers share.

The members must not change their buffers in the forward pass (batch normalisation's running
statistics, for example): `vmap` cannot batch such in-place updates.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap
from torch.utils.data import RandomSampler

from nodelib.device import choose_device

__all__ = [
    "ensemble_forward",
    "fit_density_ensemble",
    "fit_ensemble",
    "stack_members",
    "unstack_into",
]


def _check_members(models: Sequence[nn.Module]) -> None:
    if not models:
        raise ValueError("give at least one model.")
    first = [(n, p.shape) for n, p in models[0].named_parameters()]
    for model in models[1:]:
        if (
            type(model) is not type(models[0])
            or [(n, p.shape) for n, p in model.named_parameters()] != first
        ):
            raise ValueError("the members must be copies of one architecture (same parameters).")


def stack_members(
    models: Sequence[nn.Module],
) -> tuple[dict[str, Tensor], dict[str, Tensor], nn.Module]:
    """The members' parameters and buffers stacked, and a weightless copy of their structure.

    ``functional_call(base, (params_m, buffers_m), args)`` is member m's forward pass; under
    `torch.func.vmap` over the leading dimension it is all members' at once.

    Args:
        models: M >= 1 modules of one architecture (same class, parameter names and shapes).

    Returns:
        ``(params, buffers, base)``: dicts of leaf tensors `(M, ...)` by name, and the
        structure on the "meta" device.

    Raises:
        ValueError: no models, or members of different architectures.
    """
    _check_members(models)
    params, buffers = stack_module_state(list(models))
    return params, buffers, copy.deepcopy(models[0]).to("meta")


def unstack_into(
    models: Sequence[nn.Module], params: dict[str, Tensor], buffers: dict[str, Tensor]
) -> None:
    """Write member m's slice of stacked `params` and `buffers` back into ``models[m]``."""
    with torch.no_grad():
        for m, model in enumerate(models):
            for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
                tensor.copy_((params if name in params else buffers)[name][m])


def ensemble_forward(models: Sequence[nn.Module], x: Tensor, **kwargs: object) -> Tensor:
    """The outputs of every member on the same inputs, in one vectorised call.

    Args:
        models: M modules of one architecture (same class, same parameter names and shapes).
        x: the inputs `(batch, ...)`, shared by all members.
        **kwargs: keyword arguments passed to every member's forward (e.g. ``skip={3}``).

    Returns:
        The outputs stacked over the members, `(M, batch, ...)`.

    Raises:
        ValueError: no models, or members of different architectures.
    """
    params, buffers, base = stack_members(models)

    def member(p: dict[str, Tensor], b: dict[str, Tensor]) -> Tensor:
        return functional_call(base, (p, b), (x,), kwargs)

    return vmap(member)(params, buffers)


def fit_ensemble(
    models: Sequence[nn.Module],
    train_data: tuple[Tensor, Tensor],
    *,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    seeds: Sequence[int],
    epochs: int = 10,
    lr: float = 1e-3,
    batch_size: int = 128,
    device: str | torch.device | None = None,
) -> Tensor:
    """Train M models of one architecture together, each with Adam and its own batches.

    Member m is trained as ``nodelib.course.train.fit(models[m], train_data, loss_fn=loss_fn,
    epochs=epochs, lr=lr, batch_size=batch_size, seed=seeds[m])`` would train it: the same
    initial weights (those the model has), the same order of batches, the same Adam updates.
    The trained weights are written back into the models, which are left in eval mode.

    Args:
        models: M >= 1 modules of one architecture (same class, parameter names and shapes),
            each with its own initial weights; trained in place.
        train_data: inputs `(N, ...)` and targets `(N, ...)`.
        loss_fn: criterion(output, target) -> a 0-d loss averaged over the batch (e.g.
            ``nn.CrossEntropyLoss()``); it must not mix examples of different members.
        seeds: one seed per member, for the shuffling of its batches.
        epochs: passes over the data.
        lr: Adam's learning rate.
        batch_size: examples per batch (the last batch of an epoch may be smaller).
        device: where to train; default `nodelib.choose_device()`.

    Returns:
        The mean training loss of each member over each epoch's examples, `(epochs, M)`
        float64 (what `History.loss` holds for a single model).

    Raises:
        ValueError: no models, members of different architectures, a number of seeds other
            than M, epochs or batch_size not a positive int, or inputs and targets of
            different lengths.
    """
    if len(seeds) != len(models):
        raise ValueError(f"give one seed per model: {len(models)} models, {len(seeds)} seeds.")
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}.")
    x, y = train_data
    if len(x) != len(y):
        raise ValueError(f"inputs and targets differ in length: {len(x)} and {len(y)}.")
    device = torch.device(device) if device is not None else choose_device()
    for model in models:
        model.to(device).train()
    params, buffers, base = stack_members(models)  # leaves of shape (M, ...)
    x, y, n = x.to(device), y.to(device), len(x)

    def member_loss(p: dict[str, Tensor], b: dict[str, Tensor], xb: Tensor, yb: Tensor) -> Tensor:
        return loss_fn(functional_call(base, (p, b), (xb,)), yb)

    batched_loss = vmap(member_loss)
    optimizer = torch.optim.Adam(params.values(), lr=lr)
    # the samplers fit shuffles with: each epoch's order is one pass over a RandomSampler
    samplers = [RandomSampler(range(n), generator=torch.Generator().manual_seed(int(s)))
                for s in seeds]  # fmt: skip
    losses = torch.zeros(epochs, len(models), dtype=torch.float64)
    for epoch in range(epochs):
        order = torch.tensor([list(sampler) for sampler in samplers], device=device)
        for start in range(0, n, batch_size):
            index = order[:, start : start + batch_size]  # (M, B): each member's own batch
            per_member = batched_loss(params, buffers, x[index], y[index])  # (M,)
            optimizer.zero_grad(set_to_none=True)
            per_member.sum().backward()  # member m's parameters get member m's gradient only
            optimizer.step()
            losses[epoch] += per_member.detach().double().cpu() * index.shape[1]
    unstack_into(models, params, buffers)
    for model in models:
        model.eval()
    return losses / n


class _TrainingLoss(nn.Module):
    """`model`'s loss as a forward pass, so that `functional_call` can evaluate it."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        from nodelib.models.flows import nll as _flow_nll  # flows need not load with this module

        loss_fn = getattr(self.model, "training_loss", None)
        return loss_fn(x) if loss_fn is not None else _flow_nll(self.model, x)


def fit_density_ensemble(
    models: Sequence[nn.Module],
    sampler: Callable[..., Tensor],
    *,
    steps: int,
    batch_size: int,
    generators: Sequence[torch.Generator],
    lr: float = 1e-3,
) -> Tensor:
    """Train M models of one architecture at once, member m as `fit_density` would train it.

    The members' parameters are stacked (`torch.func.stack_module_state`) and every step
    evaluates all losses in one call vectorised with `torch.func.vmap`: small flows spend
    most of their time launching tiny kernels, so M members cost far less than M runs. The
    minimised sum of the losses gives member m's parameters the gradient of member m's loss
    only, and Adam acts elementwise, so member m follows the updates of
    ``fit_density(models[m], sampler, ..., generator=generators[m])`` (up to round-off: a
    batched product may sum in another order). Models whose loss has data-dependent control
    flow (an adaptive ODE solver) cannot be vectorised: train those with `fit_density`.

    Args:
        models: M >= 1 modules of one architecture (same parameter names and shapes), each
            with its own initial weights; trained in place.
        sampler: `sampler(n, generator=generator) -> (n, dim)`, as in `fit_density`.
        steps: the number of optimiser steps.
        batch_size: samples per step and member.
        generators: one per member: member m's batches come from `generators[m]`.
        lr: Adam's learning rate.

    Returns:
        The loss of every step and member, `(steps, M)` float64.

    Raises:
        ValueError: no models, members of different architectures, a number of generators
            other than M, or steps or batch_size not positive.
    """
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be positive, got {steps}, {batch_size}.")
    if not models or len(generators) != len(models):
        raise ValueError(
            f"give M >= 1 models and one generator each, got {len(models)} models "
            f"and {len(generators)} generators."
        )
    wrapped = [_TrainingLoss(m) for m in models]
    params, buffers, skeleton = stack_members(wrapped)  # leaves (M, ...)

    def member_loss(p: dict[str, Tensor], b: dict[str, Tensor], x: Tensor) -> Tensor:
        return functional_call(skeleton, (p, b), (x,))

    batched_loss = vmap(member_loss)
    first = next(iter(params.values()))
    opt = torch.optim.Adam(params.values(), lr=lr)
    losses = torch.zeros(steps, len(models), dtype=torch.float64)
    for step in range(steps):
        x = torch.stack([sampler(batch_size, generator=g) for g in generators]).to(first)
        per_member = batched_loss(params, buffers, x)  # (M,)
        opt.zero_grad(set_to_none=True)
        per_member.sum().backward()  # member m's parameters get member m's gradient only
        opt.step()
        losses[step] = per_member.detach().double().cpu()
    unstack_into(wrapped, params, buffers)
    return losses
