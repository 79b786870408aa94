"""What a log-determinant costs: timings that can be fitted on a log-log plot.

The change-of-variables formula needs log|det J| of every layer's Jacobian J (N x N). For a
general J this is an LU factorisation, about (2/3) N^3 floating-point operations; for a
triangular J it is the sum of log|J_ii|, N operations (Papamakarios et al., "Normalizing
Flows for Probabilistic Modeling and Inference", 2021, section 3). Chapter 4 measures both.

Timings on a shared machine are noisy, and the noise only ever *adds* time. Three choices make
the measurement robust rather than its tolerance loose:

- the clock is the CPU time of the calling thread (`time.thread_time`), not the wall clock:
  while another process holds the core, our thread is not running and its clock stands still
  (on a loaded two-core machine the wall time of a 2048 x 2048 `slogdet` was 2.5 times its
  CPU time); `threads(1)` keeps the linear algebra in the calling thread;
- each size is timed several times and the *minimum* is kept, the standard estimator of the
  cost itself (as Python's `timeit` advises), after a warm-up call;
- the repeats are interleaved, one round over all sizes after another, so that a slow spell
  of the machine touches every size alike instead of bending the curve at one end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import torch

__all__ = ["logdet_times", "threads", "time_call"]

Clock = Literal["cpu", "wall"]


@contextmanager
def threads(n: int) -> Iterator[None]:
    """Run the block with `torch.set_num_threads(n)`, restoring the previous number after.

    Raises:
        ValueError: n < 1.
    """
    if n < 1:
        raise ValueError(f"the number of threads must be at least 1, got {n}.")
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


_CLOCKS: dict[str, Callable[[], float]] = {"cpu": time.thread_time, "wall": time.perf_counter}


def time_call(
    fn: Callable[[], Any], *, repeats: int = 5, warmup: int = 1, clock: Clock = "cpu"
) -> float:
    """The minimum time of `fn()` over `repeats` calls, in seconds.

    Args:
        fn: the work, without arguments.
        repeats: timed calls (>= 1).
        warmup: untimed calls first (allocations, lazy initialisation).
        clock: "cpu", the calling thread's CPU time (work done in other threads is not
            counted: use it with `threads(1)`), or "wall", the elapsed time.

    Raises:
        ValueError: repeats < 1, warmup < 0 or an unknown clock.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got {repeats}, {warmup}.")
    if clock not in _CLOCKS:
        raise ValueError(f"clock must be 'cpu' or 'wall', got {clock!r}.")
    now = _CLOCKS[clock]
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeats):
        start = now()
        fn()
        best = min(best, now() - start)
    return best


def _sum_log_abs(diag: torch.Tensor, work: torch.Tensor) -> torch.Tensor:
    torch.abs(diag, out=work)
    return work.log_().sum()


def _logdet_call(n: int, structure: str, seed: int) -> Callable[[], Any]:
    """The timed work for one size: slogdet of a random matrix, or a sum of log|diag|."""
    g = torch.Generator().manual_seed(seed)
    if structure == "dense":
        matrix = torch.randn(n, n, generator=g, dtype=torch.float64)
        return lambda: torch.linalg.slogdet(matrix)
    diag = torch.randn(n, generator=g, dtype=torch.float64)
    work = torch.empty_like(diag)  # no allocation inside the timed call
    return lambda: _sum_log_abs(diag, work)


def logdet_times(
    sizes: Sequence[int],
    *,
    structure: Literal["dense", "triangular"] = "dense",
    repeats: int = 5,
    num_threads: int = 1,
    seed: int = 0,
    clock: Clock = "cpu",
) -> list[float]:
    """Seconds to compute log|det J| of an N x N Jacobian, for each N in `sizes` (float64).

    `dense`: `torch.linalg.slogdet` of a random Gaussian matrix (an LU factorisation,
    O(N^3)). `triangular`: the sum of log|J_ii| from the diagonal (N,), what a coupling layer
    does (O(N)); the matrix itself is never formed, so N may be in the millions.

    Args:
        sizes: the dimensions N (each >= 1).
        structure: "dense" or "triangular".
        repeats: timed rounds over all sizes; the minimum per size is kept.
        num_threads: PyTorch threads while timing (restored after).
        seed: the random matrices' seed.
        clock: see `time_call`.

    Returns:
        One time in seconds per size.

    Raises:
        ValueError: an unknown structure or a size < 1.
    """
    if structure not in ("dense", "triangular"):
        raise ValueError(f"structure must be 'dense' or 'triangular', got {structure!r}.")
    if any(int(n) < 1 for n in sizes):
        raise ValueError(f"every size must be a positive int, got {list(sizes)}.")
    calls = [_logdet_call(int(n), structure, seed + int(n)) for n in sizes]
    best = [float("inf")] * len(calls)
    with threads(num_threads):
        for call in calls:  # warm-up
            call()
        for _ in range(repeats):  # interleaved rounds over all sizes
            for i, call in enumerate(calls):
                best[i] = min(best[i], time_call(call, repeats=1, warmup=0, clock=clock))
    return best
