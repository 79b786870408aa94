"""How much memory training needs: what autograd keeps for the backward pass, and peaks.

Backprop through a solver stores the intermediate values of every step for the backward
pass, so its memory grows with the number of steps L; the adjoint method stores only the
outputs and recomputes the rest (Chen et al., 2018, section 2). Two measurements:

- `saved_tensor_bytes(fn)`: the bytes autograd saves for the backward pass while `fn` runs
  (counted with ``torch.autograd.graph.saved_tensors_hooks``, each storage once). It is
  exact and, for a given PyTorch version, the same on every machine and device: the O(L)
  versus O(1) of the paper.
- `peak_memory_bytes(fn, device)`: the peak of memory allocated on a CUDA device while `fn`
  runs (forward and backward, everything included). CUDA only: on the CPU, PyTorch keeps
  no such counter, and a process's peak resident size never goes down.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

__all__ = ["peak_memory_bytes", "saved_tensor_bytes"]


def saved_tensor_bytes(fn: Callable[[], Any]) -> tuple[Any, int]:
    """Run `fn()` and count the bytes autograd saves for its backward pass.

    Args:
        fn: builds the computation, e.g. ``lambda: loss_of(odeint(f, y0, t))``.

    Returns:
        ``(fn(), bytes)``: its result, and the total size of the distinct tensor storages
        saved for backward while it ran (parameters and inputs saved by reference count too,
        once each).
    """
    seen: set[tuple[Any, int]] = set()
    total = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal total
        storage = tensor.untyped_storage()
        key = (tensor.device, storage.data_ptr())
        if key not in seen:
            seen.add(key)
            total += storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        result = fn()
    return result, total


def peak_memory_bytes(fn: Callable[[], Any], device: torch.device | str) -> tuple[Any, int]:
    """Run `fn()` on a CUDA device and measure the peak memory allocated meanwhile.

    Args:
        fn: the work, e.g. a forward and backward pass.
        device: a CUDA device.

    Returns:
        ``(fn(), bytes)``: its result, and the peak allocated memory above what was allocated
        before it ran.

    Raises:
        ValueError: `device` is not a CUDA device (use `saved_tensor_bytes` on the CPU).
    """
    device = torch.device(device)
    if device.type != "cuda":
        raise ValueError(
            f"peak_memory_bytes measures CUDA memory, got device {device}: on the CPU, use "
            "saved_tensor_bytes(fn), which counts what autograd keeps for the backward pass."
        )
    torch.cuda.synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    result = fn()
    torch.cuda.synchronize(device)
    return result, torch.cuda.max_memory_allocated(device) - before
