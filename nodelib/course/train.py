"""Training: the `fit` loop of the course notebooks, its `History`, and data-parallel helpers.

`fit` trains any model on tensors or a DataLoader and records, per epoch, the loss, an
optional metric (accuracy), the function evaluations of the model's `ODEFunc`s in the
forward and backward passes (the NFE of Chen et al., "Neural Ordinary Differential
Equations", NeurIPS 2018, Fig. 3) and the wall time.

The same script runs on one process or on several under PyTorch's DistributedDataParallel
(Li et al., "PyTorch Distributed", VLDB 2020): launch it with
``torchrun --nproc_per_node=N script.py`` and call `init_distributed()` first (gloo on the
CPU, NCCL on GPUs). `fit` then wraps the model in DistributedDataParallel, gives each
process its shard of the data with a DistributedSampler and averages the records over the
processes; the model code does not change.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, TensorDataset
from tqdm.auto import tqdm

from nodelib.device import choose_device, seed_everything
from nodelib.models.blocks import count_nfe, reset_nfe

__all__ = ["DistInfo", "History", "cleanup_distributed", "fit", "init_distributed",
           "is_main_process"]  # fmt: skip

Metric = Callable[[Tensor, Tensor], Tensor | float]


@dataclass
class History:
    """Per-epoch records of `fit`; a list stays empty when its quantity is not measured.

    Attributes:
        loss: mean training loss over the epoch's examples.
        accuracy: the training metric (classification accuracy for metric="accuracy").
        eval_loss, eval_accuracy: the same on eval_data after the epoch.
        nfe_forward, nfe_backward: evaluations of the model's `ODEFunc`s per training batch,
            averaged over the epoch (backward: 0 for backprop, the adjoint solve otherwise).
        seconds: wall time of the epoch (training and evaluation).
    """

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    eval_loss: list[float] = field(default_factory=list)
    eval_accuracy: list[float] = field(default_factory=list)
    nfe_forward: list[float] = field(default_factory=list)
    nfe_backward: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[float]]:
        """The records as a dict of lists (for pandas.DataFrame or json)."""
        return asdict(self)


class DistInfo(NamedTuple):
    """This process's place in a (possibly single-process) run."""

    rank: int
    local_rank: int
    world_size: int


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def init_distributed(backend: str | None = None) -> DistInfo:
    """Join the process group that ``torchrun`` set up; a no-op outside torchrun.

    Args:
        backend: "gloo" or "nccl"; default NCCL when CUDA is available, else gloo.

    Returns:
        (rank, local_rank, world_size); (0, 0, 1) when not launched by torchrun.

    Raises:
        RuntimeError: launched by torchrun but this PyTorch build lacks torch.distributed.
    """
    if _distributed():
        return DistInfo(dist.get_rank(), int(os.environ.get("LOCAL_RANK", 0)),
                        dist.get_world_size())  # fmt: skip
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return DistInfo(0, 0, 1)
    if not dist.is_available():
        raise RuntimeError("this PyTorch build has no torch.distributed; run one process.")
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend)
    return DistInfo(dist.get_rank(), local_rank, dist.get_world_size())


def is_main_process() -> bool:
    """True on rank 0 of a distributed run, and always in a single process."""
    return not _distributed() or dist.get_rank() == 0


def cleanup_distributed() -> None:
    """Leave the process group (call at the end of a torchrun script); else nothing."""
    if _distributed():
        dist.destroy_process_group()


def _loader(data: Any, batch_size: int, shuffle: bool, seed: int, shard: bool) -> DataLoader:
    """A DataLoader for tensors or a loader; with `shard`, one DistributedSampler shard."""
    if isinstance(data, DataLoader):
        if not shard or isinstance(data.sampler, DistributedSampler):
            return data
        shuffle = isinstance(data.sampler, RandomSampler)
        dataset, batch_size = data.dataset, data.batch_size or batch_size
        collate, workers = data.collate_fn, data.num_workers
    elif isinstance(data, Sequence) and data and all(isinstance(d, Tensor) for d in data):
        if len({len(d) for d in data}) != 1:
            raise ValueError(f"the tensors of the data differ in length: {[len(d) for d in data]}.")
        dataset, collate, workers = TensorDataset(*data), None, 0
    else:
        raise TypeError("data must be a DataLoader or a tuple of tensors such as (x, y).")
    if shard:
        sampler: Any = DistributedSampler(dataset, shuffle=shuffle, seed=seed)
    else:
        gen = torch.Generator().manual_seed(seed)
        sampler = RandomSampler(dataset, generator=gen) if shuffle else None
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, collate_fn=collate,
                      num_workers=workers)  # fmt: skip


def _pick_device(device: str | torch.device | None, shard: bool) -> torch.device:
    """The device asked for; else cuda:LOCAL_RANK under DDP, or `choose_device()`."""
    if device is not None:
        return torch.device(device)
    if shard:  # one GPU per process; gloo has no MPS support
        local = int(os.environ.get("LOCAL_RANK", 0))
        return torch.device(f"cuda:{local}" if torch.cuda.is_available() else "cpu")
    return choose_device()


def _accuracy(output: Tensor, target: Tensor) -> Tensor:
    return (output.argmax(dim=1) == target).float().mean()


def _batch_loss(model: nn.Module, batch: tuple[Tensor, ...], loss_fn: Callable | None,
                metric: Metric | None) -> tuple[Tensor, float | None]:  # fmt: skip
    """(loss, metric value) of one batch (*inputs, target), or of model(*batch) if no loss_fn."""
    if loss_fn is None:
        out = model(*batch)
        loss = out[0] if isinstance(out, tuple) else out
        value = None
    else:
        output = model(*batch[:-1])
        loss = loss_fn(output, batch[-1])
        value = None if metric is None else float(metric(output.detach(), batch[-1]))
    if not isinstance(loss, Tensor) or loss.dim() != 0:
        raise ValueError("the loss must be a 0-d tensor (reduce it, e.g. with .mean()).")
    return loss, value


def _run_epoch(model, module, loader, loss_fn, metric, optimizer, device) -> Tensor:
    """Train (optimizer given) or evaluate over `loader`; return the summed records
    [loss * n, metric * n, n, nfe_forward, nfe_backward, batches] as a float64 tensor."""
    sums = torch.zeros(6, dtype=torch.float64)
    for raw in loader:
        batch = tuple(b.to(device) for b in (raw if isinstance(raw, list | tuple) else (raw,)))
        n = len(batch[0])
        reset_nfe(module)
        loss, value = _batch_loss(model, batch, loss_fn, metric)
        nfe_f = count_nfe(module)
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        nfe_b = count_nfe(module) - nfe_f
        sums += torch.tensor([float(loss.detach()) * n, (value or 0.0) * n, n, nfe_f, nfe_b, 1.0],
                             dtype=torch.float64)  # fmt: skip
    return sums


def _record(history: History, sums: Tensor, prefix: str, metric: bool, nfe: bool) -> None:
    loss, value, n, nfe_f, nfe_b, batches = sums.tolist()
    getattr(history, prefix + "loss").append(loss / max(n, 1))
    if metric:
        getattr(history, prefix + "accuracy").append(value / max(n, 1))
    if nfe:
        history.nfe_forward.append(nfe_f / max(batches, 1))
        history.nfe_backward.append(nfe_b / max(batches, 1))


def fit(
    model: nn.Module,
    train_data: DataLoader | Sequence[Tensor],
    *,
    loss_fn: Callable[[Any, Tensor], Tensor] | None = None,
    epochs: int = 10,
    optimizer: torch.optim.Optimizer | None = None,
    lr: float = 1e-3,
    device: str | torch.device | None = None,
    seed: int = 0,
    progress: bool = True,
    eval_data: DataLoader | Sequence[Tensor] | None = None,
    metric: str | Metric | None = None,
    batch_size: int = 128,
    lr_schedule: Callable[[int], float] | None = None,
) -> History:
    """Train `model` in place and return its per-epoch `History`.

    Each batch is a tuple of tensors. With `loss_fn`, the last one is the target and
    ``loss = loss_fn(model(*batch[:-1]), batch[-1])`` (e.g. ``nn.CrossEntropyLoss()``);
    with ``loss_fn=None`` the model returns its own loss, ``model(*batch)`` (a 0-d tensor,
    or a tuple whose first entry is one, like `nodelib.models.latent.TimeSeriesLoss`).
    If torch.distributed is initialised (`init_distributed` under torchrun) the model is
    wrapped in DistributedDataParallel and each process trains on its shard.

    Args:
        model: the module; moved to `device`.
        train_data: a DataLoader, or a tuple of tensors of equal length `(N, ...)`,
            batched by `batch_size` and shuffled with `seed`.
        loss_fn: criterion(output, target), or None (see above).
        epochs: passes over the data.
        optimizer: default Adam(model.parameters(), lr=lr).
        lr: learning rate of the default optimizer.
        device: default `choose_device()` (under DDP with CUDA: cuda:LOCAL_RANK).
        seed: seeds every generator (`seed_everything`) and the shuffling.
        progress: show a tqdm bar over the epochs (rank 0 only).
        eval_data: evaluated after each epoch in eval mode (whole set on every process).
        metric: "accuracy" (argmax of the output vs an integer target), a callable
            metric(output, target) -> float, or None. Needs `loss_fn`.
        batch_size: batch size for tensor data.
        lr_schedule: a factor of the learning rate by epoch (0-based), e.g. a cosine decay
            ``lambda e: 0.5 * (1 + math.cos(math.pi * e / epochs))``; default constant.

    Returns:
        The `History` (averaged over all processes under DDP).

    Raises:
        ValueError: epochs < 1, batch_size < 1, a metric without loss_fn, an unknown
            metric name, a loss that is not 0-d.
        TypeError: data that is neither a DataLoader nor a tuple of tensors.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
    if metric is not None and loss_fn is None:
        raise ValueError("a metric needs loss_fn (the last tensor of each batch is the target).")
    if isinstance(metric, str):
        if metric != "accuracy":
            raise ValueError(f"metric must be 'accuracy', a callable or None, got {metric!r}.")
        metric = _accuracy
    seed_everything(seed)
    shard = _distributed()
    device = _pick_device(device, shard)
    module = model.module if isinstance(model, DistributedDataParallel) else model
    module.to(device)
    if shard and not isinstance(model, DistributedDataParallel):
        model = DistributedDataParallel(
            module, device_ids=[device] if device.type == "cuda" else None
        )
    if optimizer is None:
        optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    train = _loader(train_data, batch_size, True, seed, shard)
    evals = None if eval_data is None else _loader(eval_data, batch_size, False, seed, False)
    schedule = None if lr_schedule is None else torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_schedule
    )  # fmt: skip
    has_nfe = reset_nfe(module)
    history = History()
    bar = tqdm(range(epochs), desc="fit", disable=not progress or not is_main_process())
    for epoch in bar:
        start = time.perf_counter()
        if isinstance(train.sampler, DistributedSampler):
            train.sampler.set_epoch(epoch)
        model.train()
        sums = _run_epoch(model, module, train, loss_fn, metric, optimizer, device)
        if shard:  # NCCL reduces device tensors only
            sums = sums.to(device)
            dist.all_reduce(sums)
            sums = sums.cpu()
        _record(history, sums, "", metric is not None, has_nfe)
        if schedule is not None:
            schedule.step()
        if evals is not None:
            module.eval()
            with torch.no_grad():
                sums = _run_epoch(module, module, evals, loss_fn, metric, None, device)
            _record(history, sums, "eval_", metric is not None, False)
        history.seconds.append(time.perf_counter() - start)
        postfix = {"loss": f"{history.loss[-1]:.4g}"}
        if has_nfe:
            postfix["nfe"] = f"{history.nfe_forward[-1]:.0f}"
        bar.set_postfix(postfix)
    return history
