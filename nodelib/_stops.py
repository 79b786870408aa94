"""The times the integration loop must land on exactly, and nothing else about time.

An adaptive loop steps freely but never past the next stop: the end of the interval,
each `step_t` (a time the user wants stepped to, e.g. where f has a kink) and each
`jump_t` (where f jumps: the loop also restarts its derivative there, evaluating f on
the right of the jump for the next step and on the left for the step that ends there;
torchdiffeq's meaning of both options). A fixed-step loop's stops are its grid. When the
solve is differentiated with respect to the user's times, a stop that is one of them
carries that time as a tensor, so that the step landing on it carries the graph.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from nodelib.errors import MaxStepsError

DEFAULT_MAX_NUM_STEPS = 100_000


@dataclass(frozen=True)
class Stop:
    """One time to land on (internal, increasing time)."""

    t: float
    tensor: Tensor | None = None  # the user's time as a graph node, when differentiated
    jump: bool = False
    left: float = math.nan  # for a jump: the last time of t's dtype before t
    right: float = math.nan  # ... and the first one after it


def _neighbours(s: float, t_dtype: torch.dtype) -> tuple[float, float]:
    x = torch.tensor(s, dtype=t_dtype)
    below = torch.nextafter(x, torch.tensor(-math.inf, dtype=t_dtype))
    above = torch.nextafter(x, torch.tensor(math.inf, dtype=t_dtype))
    return float(below), float(above)


def _internal(values: object, name: str, direction: float) -> list[float]:
    if values is None:  # the option is not given: no tensor to build and read back
        return []
    try:
        flat = torch.as_tensor(values, dtype=torch.float64).reshape(-1).tolist()
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(f"options['{name}'] must be a 1-D tensor or list of times.") from exc
    if not all(math.isfinite(v) for v in flat):
        raise ValueError(f"options['{name}'] contains NaN or Inf; give finite times.")
    return [direction * v for v in flat]


def adaptive_stops(times: list[float], options: dict, direction: float, t_dtype, t_grad):
    """The step_t / jump_t inside the interval and its end, sorted, after its start.

    The start and the end are jumps too when jump_t lists them (an adjoint solve
    between two output times, one of them on a jump, needs that).

    Returns:
        The stops; the first is t0 itself when t0 is a jump (the loop starts to its right).

    Args:
        times: the output times (internal, increasing).
        options: the solve's options.
        direction: +1 or -1 (internal time = direction · user time).
        t_dtype: the dtype of the user's t (jumps are nudged by one of its ulps).
        t_grad: the user's times as internal tensors with a graph, or None.
    """
    t0, t_end = times[0], times[-1]
    jumps = set(_internal(options.get("jump_t"), "jump_t", direction))
    marks = set(_internal(options.get("step_t"), "step_t", direction)) | jumps
    inside = [*sorted(s for s in marks if t0 <= s < t_end), t_end]
    stops = []
    for s in inside:
        left, right = _neighbours(direction * s, t_dtype) if s in jumps else (math.nan,) * 2
        if direction < 0:
            left, right = -right, -left
        tensor = t_grad[-1] if t_grad is not None and s == t_end else None
        stops.append(Stop(s, tensor, s in jumps, left, right))
    return stops


def fixed_stops(times: list[float], options: dict, time_eps: float, t_grad) -> list[Stop]:
    """The step grid: the output times, or t0 + i·step_size with the last step shortened.

    Raises:
        ValueError: a step_size that is not positive.
        MaxStepsError: more than max_num_steps steps would be needed.
    """
    step = options.get("step_size")
    if step is None:
        return [Stop(s, None if t_grad is None else t_grad[i]) for i, s in enumerate(times)][1:]
    step = float(step)
    if not step > 0:
        raise ValueError(f"options['step_size'] must be positive, got {step}.")
    if math.isinf(times[-1]):  # no end (an event will end the solve): the grid, made on demand
        return _EndlessGrid(times[0], step, options.get("max_num_steps", DEFAULT_MAX_NUM_STEPS))
    span = times[-1] - times[0]
    # A span that is a whole number of steps up to the resolution of t's dtype (a float32
    # 0.3 - 0.2 is 0.10000000894) must not get an extra step of a few ulps.
    slack = max(1e-9, time_eps * max(1.0, abs(times[0]), abs(times[-1])) / step)
    n = max(1, math.ceil(span / step - slack))
    max_steps = options.get("max_num_steps", DEFAULT_MAX_NUM_STEPS)
    if n > max_steps:
        raise MaxStepsError(
            f"step_size={step:g} over [{times[0]:g}, {times[-1]:g}] needs {n} steps, more than "
            f"max_num_steps={max_steps}: pass a larger step_size or max_num_steps."
        )
    grid = [Stop(times[0] + i * step) for i in range(1, n)]
    return [*grid, Stop(times[-1], None if t_grad is None else t_grad[-1])]


@dataclass(frozen=True)
class _EndlessGrid:
    """t0 + i·step for i = 1, 2, ..., made when asked; the loop stops at max_num_steps."""

    t0: float
    step: float
    max_steps: int

    def __len__(self) -> int:
        return self.max_steps + 1

    def __getitem__(self, i: int) -> Stop:
        return Stop(self.t0 + (i + 1) * self.step)
