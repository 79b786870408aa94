"""How much memory training needs: what autograd keeps for the backward pass, and peaks.

Backprop through a solver stores the intermediate values of every step for the backward
pass, so its memory grows with the number of steps L; the adjoint method stores only the
outputs and recomputes the rest (Chen et al., 2018, section 2). Two measurements:

- `saved_tensor_bytes(fn)`: the bytes autograd saves for the backward pass while `fn` runs
  (counted with ``torch.autograd.graph.saved_tensors_hooks``, each storage once). It is
  exact and, for a given PyTorch version, the same on every machine and device: the O(L)
  versus O(1) of the paper, for the graph. It cannot see memory held outside the graph,
  such as what a backward pass keeps alive while it runs.
- `peak_memory_bytes(fn, device)`: the peak of the memory PyTorch allocates while `fn` runs
  (forward and backward, everything included): `torch.cuda.max_memory_allocated` on a GPU;
  on the CPU, which keeps no such counter, the running sum of every allocation and free the
  PyTorch profiler records. Python's cycle collector is paused meanwhile, so memory that
  only it would free counts in full and the figure is the same on every run. This is the
  measurement that shows an adjoint whose backward solve keeps every step alive.

And what limits a solver on a GPU besides its arithmetic: `count_host_syncs(fn)` counts the
places where the host must wait for the device's result (`.item()`, `float()`, `bool()`
of a tensor, `nonzero`, boolean-mask indexing, `tolist`, ...). It runs on the CPU too, where
the same code makes the same reads, so a test can pin a solver's count.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["count_host_syncs", "peak_memory_bytes", "saved_tensor_bytes"]


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
    """Run `fn()` and measure the peak of the memory PyTorch allocates on `device` meanwhile.

    Python's cycle collector is paused while `fn` runs (after one collection before it):
    tensors caught in reference cycles are freed only when the collector happens to run,
    so they count in full, and the result does not depend on when it would have run.

    Args:
        fn: the work, e.g. ``lambda: loss_of(odeint_adjoint(f, y0, t)).backward()``.
        device: a CUDA device (`torch.cuda.max_memory_allocated`) or the CPU (the
            allocations and frees recorded by ``torch.profiler`` with ``profile_memory``,
            summed in order; slower, as every operation is recorded).

    Returns:
        ``(fn(), bytes)``: its result, and the peak allocated memory above what was allocated
        before it ran.

    Raises:
        ValueError: `device` is neither the CPU nor a CUDA device.
    """
    device = torch.device(device)
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"peak_memory_bytes measures the CPU or a CUDA device, got {device}.")
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        if device.type == "cpu":
            return _cpu_peak(fn)
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        result = fn()
        torch.cuda.synchronize(device)
        return result, torch.cuda.max_memory_allocated(device) - before
    finally:
        if was_enabled:
            gc.enable()


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to the null device: the profiler's native library announces its
    start and stop there, and a notebook shows those lines under the cell. Only the
    profiler's own start and stop run inside, never the user's `fn`."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _cpu_peak(fn: Callable[[], Any]) -> tuple[Any, int]:
    """The profiler's CPU memory events, in time order: the peak of their running sum."""
    prof = profile(activities=[ProfilerActivity.CPU], profile_memory=True)
    with _native_stderr_silenced():
        prof.__enter__()
    try:
        result = fn()
    finally:
        with _native_stderr_silenced():
            prof.__exit__(None, None, None)
    changes = sorted(
        (event.start_ns(), event.nbytes())
        for event in prof.profiler.kineto_results.events()
        if event.name() == "[memory]" and event.device_type() == DeviceType.CPU
    )
    current = peak = 0
    for _, nbytes in changes:
        current += nbytes
        peak = max(peak, current)
    return result, peak


_aten = torch.ops.aten
# Operators whose result the host reads (a Python number or bool, or a shape that depends on
# the data): on a GPU each one waits for everything queued before it.
_READS = {
    _aten._local_scalar_dense.default: "item",  # .item(), float(), int(), bool(), `if t:`
    _aten.equal.default: "item",
    _aten.allclose.default: "item",
    _aten.nonzero.default: "nonzero",  # also torch.where(mask)
    _aten.masked_select.default: "boolean mask",
}
_INDEXING = {_aten.index.Tensor, _aten.index_put_.default, _aten.index_put.default}
_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep


def _is_mask(index: object) -> bool:
    return isinstance(index, torch.Tensor) and index.dtype in (torch.bool, torch.uint8)


class _HostSyncs(TorchDispatchMode):
    """Counts the operators that read the device from the host, by kind and by caller."""

    def __init__(self) -> None:
        super().__init__()
        self.sites: Counter[str] = Counter()
        self.paused = False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        kind = _READS.get(func)
        if kind is None and func in _INDEXING and any(_is_mask(i) for i in args[1]):
            kind = "boolean mask"
        if kind is None and func is _aten._to_copy.default and args[0].device.type != "cpu":
            to_host = torch.device(kwargs.get("device") or args[0].device).type == "cpu"
            kind = "copy to host" if to_host else None
        if kind is not None and not self.paused:
            self.record(kind)
        return func(*args, **kwargs)

    def record(self, kind: str) -> None:
        frame = sys._getframe(2)
        while frame is not None and frame.f_code.co_filename.startswith(_TORCH_DIR):
            frame = frame.f_back
        where = "?" if frame is None else f"{frame.f_code.co_filename}:{frame.f_lineno}"
        self.sites[f"{kind} at {where}"] += 1


def count_host_syncs(fn: Callable[[], Any]) -> tuple[Any, Counter[str]]:
    """Run `fn()` and count the host's reads of tensor values (GPU synchronisations).

    Counted, by intercepting PyTorch's operators: `.item()`, `float()`, `int()` and `bool()`
    of a tensor (also an `if` on one), `torch.equal`/`allclose`, `nonzero` (and
    `torch.where(mask)`), boolean-mask indexing and assignment, `masked_select`, copies
    from a device to the CPU, and `tolist()`/`numpy()` of a tensor. Not counted: reads that
    need no value (shapes, dtypes), and reads inside PyTorch's own C++ code.

    Args:
        fn: the work, e.g. ``lambda: odeint(f, y0, t)``.

    Returns:
        ``(fn(), sites)``: its result, and a `Counter` mapping "kind at file:line" (the
        first caller outside PyTorch) to the number of reads; ``sites.total()`` is the count.
    """
    mode = _HostSyncs()
    originals = {name: getattr(torch.Tensor, name) for name in ("tolist", "numpy")}

    def reading(name: str) -> Callable[..., Any]:
        def read(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            mode.record(name)
            mode.paused = True  # the copy to the host it makes is this one read
            try:
                return originals[name](tensor, *args, **kwargs)
            finally:
                mode.paused = False

        return read

    own = {name: vars(torch.Tensor).get(name) for name in originals}  # None: inherited
    try:
        for name in originals:
            setattr(torch.Tensor, name, reading(name))
        with mode:
            result = fn()
    finally:
        for name, original in own.items():
            if original is None:
                delattr(torch.Tensor, name)
            else:
                setattr(torch.Tensor, name, original)
    return result, mode.sites
