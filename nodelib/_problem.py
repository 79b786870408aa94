"""Checking and normalising what a user passes to `odeint` and `solve`.

The integrators see one tensor state, time running forwards as Python floats (or as
tensors, when the solve is differentiated with respect to the times), and a vector
field `fn(t, y) -> Tensor` that counts its evaluations.
This module builds that view from the user's arguments (tuple states,
decreasing times, any floating dtype) and turns it back at the end; every
check raises an error that names the argument and says what to do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from nodelib._callbacks import Callbacks, find_callbacks
from nodelib._state import StateLayout
from nodelib._tolerances import _check_tolerance, tolerance
from nodelib._types import Field, State, Time

__all__ = ["Problem", "_check_tolerance", "_check_y0", "make_problem"]  # per_sample uses both

# Every option some method reads (nodelib.odeint.method_options says which method reads which).
_KNOWN_OPTIONS = frozenset(
    {"step_size", "first_step", "max_num_steps", "min_step", "max_step", "controller", "norm",
     "theta", "newton_tol", "newton_max_iter", "step_t", "jump_t", "safety", "ifactor",
     "dfactor", "per_sample", "batch_dim", "force_min_step", "interp", "perturb", "solver",
     "max_order", "max_iters"}
)  # fmt: skip


def _check_y0(y0: object) -> tuple[Tensor, ...]:
    parts = y0 if isinstance(y0, tuple | list) else (y0,)
    if not parts:
        raise ValueError("y0 is an empty tuple: pass the initial state as a tensor or a tuple.")
    for i, p in enumerate(parts):
        name = "y0" if len(parts) == 1 and not isinstance(y0, tuple | list) else f"y0[{i}]"
        if not isinstance(p, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(p).__name__}.")
        if not p.is_floating_point():
            raise TypeError(
                f"{name} has dtype {p.dtype}; the state must be floating point: "
                f"pass {name}.float() or {name}.double()."
            )
        if p.dtype != parts[0].dtype or p.device != parts[0].device:
            raise ValueError(
                f"{name} is {p.dtype} on {p.device} but y0[0] is {parts[0].dtype} on "
                f"{parts[0].device}: give all parts of a tuple state the same dtype and device."
            )
        with torch.no_grad():
            if not bool(torch.isfinite(p).all()):
                raise ValueError(f"{name} contains NaN or Inf; the initial state must be finite.")
    return tuple(parts)


def _check_t(t: object, device: torch.device, dtype: torch.dtype) -> Tensor:
    if not isinstance(t, Tensor):
        try:
            t = torch.as_tensor(t, dtype=dtype, device=device)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(f"t must be a 1-D tensor of times, got {type(t).__name__}.") from exc
    if t.device != device:
        raise ValueError(
            f"t is on {t.device} but y0 is on {device}: put them on the same device, "
            "for example t = t.to(y0.device)."
        )
    if t.dim() != 1 or t.numel() < 1:
        raise ValueError(
            f"t must be one-dimensional with at least one time, got shape {tuple(t.shape)}."
        )
    if not t.is_floating_point():
        t = t.to(dtype)
    if not bool(torch.isfinite(t).all()):
        raise ValueError("t contains NaN or Inf; the output times must be finite.")
    if t.numel() > 1:
        d = t[1:] - t[:-1]
        if not (bool((d > 0).all()) or bool((d < 0).all())):
            raise ValueError(
                "t must be strictly increasing or strictly decreasing (no repeated times); "
                "sort it, e.g. t = torch.sort(t).values."
            )
    return t


@dataclass
class Problem:
    """An initial value problem in the integrators' normal form (time increasing, one tensor).

    Internal time is the user's time times `direction`, kept as Python floats (float64).
    `fn(t, y)` takes it as a float or (when the solve is differentiated with respect to
    the times) as a 0-d tensor, calls the user's func with it in the state's dtype (as
    torchdiffeq does: a float32 field gets float32 times whatever t's dtype), and counts
    its evaluations in `nfe`.
    """

    fn: Field
    y0: Tensor  # (*shape) or (n,) for a tuple state
    times: list[float]  # output times, increasing (negated when the user's t decreases)
    direction: float  # +1.0 or -1.0
    rtol: float | Tensor  # a number, or per-element tolerances shaped like y0
    atol: float | Tensor
    options: dict
    t_dtype: torch.dtype  # the dtype of the times func receives: the state's
    time: Callable[[float], Tensor]  # internal float time -> 0-d tensor of t_dtype
    unflatten: Callable[[Tensor], State]  # (len(t), *state) -> what odeint returns
    norm: Callable[[Tensor], Tensor] | None = None
    t_grad: Tensor | None = None  # the internal times with the graph to the user's t
    time_eps: float = 1e-13  # output times this close (relative) to a step's end are on it
    nfe: list[int] = field(default_factory=lambda: [0])
    callbacks: Callbacks | None = None  # torchdiffeq's callback_* methods of func
    user_t_dtype: torch.dtype = torch.float64  # the dtype of the user's t

    @property
    def t_start(self) -> Time:
        """The initial time as the steppers get it: a float, or a tensor with a graph."""
        return self.times[0] if self.t_grad is None else self.t_grad[0]


def _wrap_func(func, parts: tuple[Tensor, ...], layout: StateLayout, t_dtype, direction, nfe):
    """The vector field in normal form (internal time, one tensor), its first call checked."""
    device, is_tuple = parts[0].device, layout.is_tuple
    checked = [False]

    def user_time(t: Time) -> Tensor:
        if isinstance(t, Tensor):
            return t if direction > 0 else -t
        return torch.scalar_tensor(t * direction, dtype=t_dtype, device=device)

    def core(t: Time, y: Tensor) -> Tensor:
        nfe[0] += 1
        out = func(user_time(t), layout.split(y) if is_tuple else y)
        if not checked[0]:
            _check_output(out, parts, is_tuple)
            checked[0] = True
        if is_tuple:
            out = layout.join(out)
        return out if direction > 0 else -out

    if is_tuple or direction < 0:
        return core

    # The common case, flattened into one call: this runs once per stage of every step.
    def fn(t: Time, y: Tensor) -> Tensor:
        if not checked[0]:
            return core(t, y)
        nfe[0] += 1
        if isinstance(t, Tensor):
            return func(t, y)
        return func(torch.scalar_tensor(t, dtype=t_dtype, device=device), y)

    return fn


def _check_output(out: object, parts: tuple[Tensor, ...], is_tuple: bool) -> None:
    outs = out if is_tuple and isinstance(out, tuple | list) else (out,)
    if is_tuple and (not isinstance(out, tuple | list) or len(outs) != len(parts)):
        raise TypeError(
            f"func must return a tuple of {len(parts)} tensors for a tuple state, got "
            f"{type(out).__name__}."
        )
    for o, p in zip(outs, parts, strict=True):
        if not isinstance(o, Tensor):
            raise TypeError(f"func must return a tensor (dy/dt), got {type(o).__name__}.")
        if o.shape != p.shape:
            raise ValueError(
                f"func returned shape {tuple(o.shape)} but the state has shape {tuple(p.shape)}: "
                "func(t, y) must return dy/dt with the shape of y."
            )
        if o.dtype != p.dtype or o.device != p.device:
            raise TypeError(
                f"func returned {o.dtype} on {o.device} but the state is {p.dtype} on {p.device}: "
                "return dy/dt with y's dtype and device (check the dtype of the module's weights)."
            )


def _check_options(options: dict, valid: frozenset, method: str) -> None:
    unknown = sorted(set(options) - _KNOWN_OPTIONS)
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown}; valid options for {method} are: "
            f"{', '.join(sorted(valid))}."
        )
    unused = sorted(set(options) - valid)
    if unused:
        raise ValueError(
            f"option(s) {unused} are not used by {method}, which reads only: "
            f"{', '.join(sorted(valid))}. Remove them (step-size control needs an adaptive "
            "method such as 'dopri5' without step_size; theta and newton_* an implicit method)."
        )


def make_problem(func, y0, t, rtol, atol, options, *, valid: frozenset, method: str) -> Problem:
    """Check the user's arguments and build the normal form; raises ValueError/TypeError.

    `valid` are the options the method reads; `method` names it in error messages.
    """
    if not callable(func):
        raise TypeError(f"func must be callable as func(t, y), got {type(func).__name__}.")
    is_tuple = isinstance(y0, tuple | list)
    parts = _check_y0(y0)
    dtype, device = parts[0].dtype, parts[0].device
    t = _check_t(t, device, dtype)
    rtol = tolerance("rtol", rtol, parts, is_tuple)
    atol = tolerance("atol", atol, parts, is_tuple)
    both_zero = (
        rtol == 0 and atol == 0  # numbers: no read of a device tensor
        if isinstance(rtol, float) and isinstance(atol, float)
        else bool(torch.as_tensor(rtol == 0).logical_and(torch.as_tensor(atol == 0)).any())
    )
    if both_zero:
        raise ValueError("rtol and atol are both 0: at least one tolerance must be positive.")
    options = dict(options or {})
    _check_options(options, valid, method)
    for key in ("step_size", "first_step", "max_step"):
        if key in options and options[key] is not None and not float(options[key]) > 0:
            raise ValueError(f"options['{key}'] must be a positive number, got {options[key]!r}.")
    if float(options.get("min_step", 0.0)) < 0:
        raise ValueError(f"options['min_step'] must be non-negative, got {options['min_step']!r}.")
    max_steps = options.get("max_num_steps", 1)
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"options['max_num_steps'] must be a positive integer, got {max_steps!r}.")
    ts = t.detach().tolist()  # one read of the device for the times and their direction
    direction = -1.0 if len(ts) > 1 and ts[1] < ts[0] else 1.0
    # func gets times in the state's dtype (torchdiffeq's convention); the loop keeps float64.
    t_dtype, layout = dtype, StateLayout.of(parts, is_tuple=is_tuple)

    def time(s: float) -> Tensor:
        return torch.scalar_tensor(s, dtype=t_dtype, device=device)

    nfe = [0]
    fn = _wrap_func(func, parts, layout, t_dtype, direction, nfe)
    return Problem(
        fn=fn,
        y0=layout.join(parts) if is_tuple else parts[0],
        times=[direction * s for s in ts],
        direction=direction,
        rtol=rtol,
        atol=atol,
        options=options,
        t_dtype=t_dtype,
        time=time,
        unflatten=layout.unflatten if is_tuple else _identity,
        norm=_check_norm(options.get("norm"), layout, options.get("batch_dim"), parts[0]),
        t_grad=direction * t.to(dtype) if t.requires_grad and torch.is_grad_enabled() else None,
        time_eps=4 * max(torch.finfo(t.dtype).eps, torch.finfo(dtype).eps),
        nfe=nfe,
        callbacks=find_callbacks(
            func, direction, t.dtype, device, layout.unflatten if is_tuple else _identity
        ),
        user_t_dtype=t.dtype,
    )


def _identity(ys: Tensor) -> Tensor:
    return ys


def _check_norm(norm: object, layout: StateLayout, batch_dim, y0: Tensor):
    if batch_dim is not None:
        return _batch_norm(norm, layout, batch_dim, y0)
    if norm is None:
        return None
    if not callable(norm):
        raise TypeError("options['norm'] must be a callable mapping the scaled error to a scalar.")
    if not layout.is_tuple:
        return norm
    return lambda e: norm(layout.split(e))


def _batch_norm(norm: object, layout: StateLayout, dim: object, y0: Tensor):
    """options["batch_dim"]: the largest RMS over the samples along `dim`, for a shared step."""
    if norm is not None or layout.is_tuple:
        raise ValueError("options['batch_dim'] needs one tensor y0 and no options['norm'].")
    if isinstance(dim, bool) or not isinstance(dim, int) or not -y0.dim() <= dim < y0.dim():
        raise ValueError(
            f"options['batch_dim'] must be a dimension of y0 (shape {tuple(y0.shape)}), "
            f"got {dim!r}."
        )

    def per_sample_max(e: Tensor) -> Tensor:  # (*shape) -> the worst sample's RMS
        rows = e.movedim(dim, 0).reshape(e.shape[dim], -1)
        return rows.pow(2).mean(dim=1).sqrt().max()

    return per_sample_max
