"""torchdiffeq's interface over nodelib's solvers: its method names, meanings and defaults.

    from nodelib.torchdiffeq import odeint, odeint_adjoint, odeint_event

replaces ``from torchdiffeq import odeint, odeint_adjoint, odeint_event``, and nothing else in
the calling code has to change. Every solve runs on nodelib's one driver loop; this module
only translates names and torchdiffeq's conventions (`nodelib.odeint` keeps the course's
names: its `rk4` is the classic rule). torchdiffeq's method names, and nodelib's method that
each runs (`METHODS` holds the table):

    dopri5, tsit5, bosh3, euler, midpoint, dopri8   the same names
    heun3, implicit_midpoint, sdirk2, trbdf2        the same names
    rk4 (the 3/8 rule)                              rk38
    heun2                                           heun
    adaptive_heun, fehlberg2                        heun_euler, fehlberg12
    explicit_adams; implicit_adams, fixed_adams     adams_bashforth; adams_moulton
    implicit_euler, trapezoid                       radau_iia1, lobatto_iiia2
    radauIIA3, radauIIA5                            radau_iia2, radau_iia3
    gl4, gl6                                        gauss_legendre2, gauss_legendre3
    scipy_solver (options["solver"])                scipy_solver

(`dopri8` is Hairer's DOP853 in nodelib, torchdiffeq's is Prince and Dormand's RK8(7)13M:
both 8th-order Dormand–Prince pairs, their values differ within the tolerance. torchdiffeq's
dopri5 weights its error estimate by 2/3, so it takes slightly fewer, larger steps; its
adaptive_heun and fehlberg2 reuse f at the lower-order value as the next first stage where
nodelib evaluates f at the new state; its gl4 evaluates both stages at the first one's time.)

torchdiffeq's conventions kept here, where `nodelib.odeint` has its own:

- `method=None` is dopri5;
- an option the method does not read is dropped with a warning, as torchdiffeq does
  (`step_size` given to dopri5 is ignored; nodelib.odeint would take fixed steps);
- fixed-step methods read the outputs between grid points off a straight line unless
  `options["interp"] = "cubic"` (nodelib.odeint: the method's own dense output);
- `min_step`: no step is shorter, and such steps are accepted whatever their error
  (nodelib.odeint raises StepSizeError; here `options["force_min_step"]` is set);
- `grid_constructor(func, y0, t) -> grid`: the fixed-step grid; the states at the grid
  points are solved for and the outputs at `t` read off them;
- `dtype` (the dtype of time): accepted, and float64 whatever it says (nodelib's step-size
  arithmetic is in float64; func gets `t` in the state's dtype, as in torchdiffeq);
- `odeint(..., event_fn=g)` and `odeint_adjoint(..., event_fn=g)` return `(event_t, ys)`
  through `nodelib.odeint_event` (`t[1]` only gives the direction); the event time is also
  differentiable, which torchdiffeq gives only through `odeint_event`;
- `odeint_adjoint` drops adjoint parameters that do not require grad;
- `odeint_dense(func, y0, t0, t1)`: a function of time from nodelib's dense output.

The rest of torchdiffeq's behaviour is nodelib's own, in `nodelib.odeint` as well: `t` cast
to the state's dtype before func is called, the callbacks `callback_step`,
`callback_accept_step`, `callback_reject_step` (and `_adjoint`), per-element tolerances, a
single output time, event functions with several values, `perturb` and `interp`, an adjoint
norm that receives `(t, y, adj_y, adj_params...)`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

import nodelib
from nodelib._types import State, UserField
from nodelib.torchdiffeq._grid import on_grid
from nodelib.torchdiffeq._names import METHODS, options_for, warn_callbacks

__all__ = ["METHODS", "odeint", "odeint_adjoint", "odeint_dense", "odeint_event"]


def _on_device(t: Tensor, y0: State) -> Tensor:
    device = (y0[0] if isinstance(y0, tuple | list) else y0).device
    if isinstance(t, Tensor) and t.device != device:
        warnings.warn("t is not on the same device as y0. Coercing to y0.device.", stacklevel=3)
        t = t.to(device)
    return t


def _event_t(event_t: Tensor, t: Tensor) -> Tensor:
    """torchdiffeq returns the event time in t's dtype."""
    return event_t.to(t.dtype) if isinstance(t, Tensor) and t.is_floating_point() else event_t


def odeint(
    func: UserField,
    y0: State,
    t: Tensor,
    *,
    rtol: float | Tensor = 1e-7,
    atol: float | Tensor = 1e-9,
    method: str | None = None,
    options: dict | None = None,
    event_fn: Callable[[Tensor, State], Tensor] | None = None,
) -> State | tuple[Tensor, State]:
    """torchdiffeq's `odeint`: solve y' = func(t, y), y(t[0]) = y0, at the times t.

    Args:
        func, y0, t: as for `nodelib.odeint` (t's dtype may differ from y0's).
        rtol, atol: numbers, or per-element tensors (a tuple of them for a tuple y0).
        method: torchdiffeq's name (`METHODS`); None is dopri5.
        options: torchdiffeq's options for that method (see the module docstring); options
            the method does not read are dropped with a warning.
        event_fn: g(t, y) -> a tensor; with it, t must hold two times (t[1] gives only
            the direction) and the solve stops where g first changes sign.

    Returns:
        `(len(t), *y0.shape)` (a tuple for a tuple y0); with event_fn `(event_t, ys)`, ys
        holding the states at t[0] and at the event, `(2, *y0.shape)`.

    Raises:
        ValueError: an unknown method, len(t) != 2 with event_fn, step_size together with
            grid_constructor; and the errors of `nodelib.odeint`.
    """
    t = _on_device(t, y0)
    name, opts, grid = options_for(method, options)
    warn_callbacks(func, method or "dopri5")
    if event_fn is not None:
        return _until_event(nodelib.odeint, func, y0, t, event_fn, name, opts, grid,
                            rtol=rtol, atol=atol)  # fmt: skip
    if grid is not None:
        solve = _solver(nodelib.odeint, rtol=rtol, atol=atol, method=name)
        return on_grid(solve, func, y0, t, grid, opts)
    return nodelib.odeint(func, y0, t, rtol=rtol, atol=atol, method=name, options=opts)


def _solver(solve: Callable, **kwargs) -> Callable:
    return lambda func, y0, t, options: solve(func, y0, t, options=options, **kwargs)


def _until_event(solve, func, y0, t, event_fn, name, opts, grid, **kwargs):
    if len(t) != 2:
        raise ValueError(
            f"We require len(t) == 2 when in event handling mode, but got len(t)={len(t)}."
        )
    if grid is not None:
        raise ValueError("grid_constructor cannot be combined with event_fn: give step_size.")
    event_t, ys = nodelib.odeint_event(
        func, y0, t[0], event_fn=event_fn, reverse_time=bool(t[1] < t[0]),
        odeint_interface=solve, method=name, options=opts, **kwargs,
    )  # fmt: skip
    return _event_t(event_t, t), ys


def odeint_adjoint(
    func: UserField,
    y0: State,
    t: Tensor,
    *,
    rtol: float | Tensor = 1e-7,
    atol: float | Tensor = 1e-9,
    method: str | None = None,
    options: dict | None = None,
    event_fn: Callable[[Tensor, State], Tensor] | None = None,
    adjoint_rtol: float | None = None,
    adjoint_atol: float | None = None,
    adjoint_method: str | None = None,
    adjoint_options: dict | None = None,
    adjoint_params: Iterable[Tensor] | None = None,
) -> State | tuple[Tensor, State]:
    """torchdiffeq's `odeint_adjoint`: `odeint`, differentiated by the adjoint method.

    Arguments and results are those of `odeint` and of `nodelib.odeint_adjoint`, with
    torchdiffeq's method names and options for the forward and backward solves. A callable
    `adjoint_options["norm"]` receives torchdiffeq's tuple `(t, y, adj_y, adj_params...)`
    of scaled errors (y and adj_y split into their parts for a tuple state).

    Raises:
        ValueError: adjoint_method differs from method while options but no
            adjoint_options are given; func is not an nn.Module and adjoint_params is None;
            and the errors of `odeint`.
    """
    t = _on_device(t, y0)
    name, opts, grid = options_for(method, options)
    warn_callbacks(func, method or "dopri5")
    kwargs = _adjoint_kwargs(method, options, adjoint_method, adjoint_options, adjoint_params)
    kwargs.update(rtol=rtol, atol=atol, adjoint_rtol=adjoint_rtol, adjoint_atol=adjoint_atol)
    if event_fn is not None:
        return _until_event(nodelib.odeint_adjoint, func, y0, t, event_fn, name, opts, grid,
                            **kwargs)  # fmt: skip
    if grid is not None:
        solve = _solver(nodelib.odeint_adjoint, method=name, **kwargs)
        return on_grid(solve, func, y0, t, grid, opts)
    return nodelib.odeint_adjoint(func, y0, t, method=name, options=opts, **kwargs)


def _adjoint_kwargs(method, options, adjoint_method, adjoint_options, adjoint_params) -> dict:
    """nodelib's adjoint_method, adjoint_options and adjoint_params for torchdiffeq's."""
    adjoint_method = method if adjoint_method is None else adjoint_method
    if adjoint_method != method and options is not None and adjoint_options is None:
        raise ValueError(
            "If `adjoint_method != method` then we cannot infer `adjoint_options` from "
            "`options`. So as `options` has been passed then `adjoint_options` must be "
            "passed as well."
        )
    if adjoint_options is None:
        adjoint_options = {k: v for k, v in (options or {}).items() if k != "norm"}
    norm = adjoint_options.get("norm")
    back_name, back_opts, grid = options_for(
        adjoint_method, {k: v for k, v in adjoint_options.items() if k != "norm"}
    )
    if grid is not None:  # the backward solves run between the forward's grid points
        back_opts.pop("step_size", None)
    if norm is not None:
        back_opts["norm"] = norm
    return {"adjoint_method": back_name, "adjoint_options": back_opts,
            "adjoint_params": _requiring_grad(adjoint_params, norm)}  # fmt: skip


def _requiring_grad(params: Iterable[Tensor] | None, norm: object) -> tuple[Tensor, ...] | None:
    """torchdiffeq leaves out adjoint parameters that do not require grad."""
    if params is None:
        return None
    params = tuple(params)
    kept = tuple(p for p in params if not isinstance(p, Tensor) or p.requires_grad)
    if len(kept) != len(params) and callable(norm):
        warnings.warn(
            "An adjoint parameter was passed without requiring gradient. For efficiency this "
            "will be excluded from the adjoint pass, and will not appear as a tensor in the "
            "adjoint norm.",
            stacklevel=3,
        )
    return kept


def odeint_event(
    func: UserField,
    y0: State,
    t0: Tensor,
    *,
    event_fn: Callable[[Tensor, State], Tensor],
    reverse_time: bool = False,
    odeint_interface: Callable = odeint,
    **kwargs: Any,
) -> tuple[Tensor, State]:
    """torchdiffeq's `odeint_event`: solve from (t0, y0) until event_fn crosses zero.

    As `nodelib.odeint_event` (the event time and state are differentiable), with
    torchdiffeq's method names and options in `kwargs`. `odeint_interface` is this
    module's `odeint` or `odeint_adjoint`, or any function called like them.

    Returns:
        (event_t, ys): the event time in t0's dtype, and the states at t0 and at the event.
    """
    given = dict(kwargs)
    method, options = kwargs.pop("method", None), kwargs.pop("options", None)
    name, opts, grid = options_for(method, options)
    if grid is not None:
        raise ValueError("grid_constructor cannot be combined with event_fn: give step_size.")
    core: dict[str, Any] = {"method": name, "options": opts}
    core.update((k, kwargs[k]) for k in ("rtol", "atol") if k in kwargs)
    if odeint_interface is odeint:
        interface = nodelib.odeint
    elif odeint_interface is odeint_adjoint:
        interface = nodelib.odeint_adjoint
        extra = {k: kwargs.get(k) for k in ("adjoint_method", "adjoint_options", "adjoint_params")}
        core.update(_adjoint_kwargs(method, options, **extra))
        core.update((k, kwargs[k]) for k in ("adjoint_rtol", "adjoint_atol") if k in kwargs)
    else:  # a user's function called like odeint: it gets the user's own arguments

        def interface(f, y, t, **_):
            return odeint_interface(f, y, t, **given)

    event_t, ys = nodelib.odeint_event(
        func, y0, t0, event_fn=event_fn, reverse_time=reverse_time,
        odeint_interface=interface, **core,
    )  # fmt: skip
    return _event_t(event_t, t0), ys


def odeint_dense(
    func: UserField,
    y0: Tensor,
    t0: Tensor,
    t1: Tensor,
    *,
    rtol: float = 1e-7,
    atol: float = 1e-9,
    method: str | None = None,
    options: dict | None = None,
) -> Callable[[Tensor], Tensor]:
    """torchdiffeq's `odeint_dense`: solve from t0 to t1, return the dense output.

    Returns:
        `dense(t_eval)`: the state at a time (a 0-d tensor gives `(*shape)`, a 1-D one
        `(M, *shape)`) between t0 and t1, from the accepted steps' interpolants. Unlike
        torchdiffeq's, it carries no gradient (`nodelib.Solution.evaluate`).
    """
    name, opts, _ = options_for(method, options)
    t = torch.stack([torch.as_tensor(t0), torch.as_tensor(t1)]).to(y0.device)
    solution = nodelib.solve(func, y0, t, rtol=rtol, atol=atol, method=name, options=opts)
    return solution.evaluate
