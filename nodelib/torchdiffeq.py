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
from nodelib._callbacks import NAMES as _CALLBACKS
from nodelib._types import State, UserField
from nodelib.interpolate import hermite

__all__ = ["METHODS", "odeint", "odeint_adjoint", "odeint_dense", "odeint_event"]

# The options each kind of torchdiffeq solver reads, and those it drops without a warning.
_ADAPTIVE = frozenset({"first_step", "max_num_steps", "min_step", "max_step", "step_t",
                       "jump_t", "safety", "ifactor", "dfactor", "norm", "dtype"})  # fmt: skip
_FIXED = frozenset({"step_size", "grid_constructor", "interp", "perturb"})
_IMPLICIT = _FIXED | {"max_iters"}
_ADAMS = _FIXED | {"max_order", "max_iters"}
_SCIPY = frozenset({"solver", "min_step", "max_step"})
_SILENT = {_FIXED: {"norm"}, _IMPLICIT: {"norm"}, _ADAMS: {"norm"},
           _SCIPY: {"norm", "grid_points", "eps"}, _ADAPTIVE: set()}  # fmt: skip
_TORCHDIFFEQ_OPTIONS = _ADAPTIVE | _ADAMS | _IMPLICIT | _SCIPY | {"grid_points", "eps"}
# torchdiffeq's option -> nodelib's, for the solvers that read it under another name.
_RENAMED = {_IMPLICIT: {"max_iters": "newton_max_iter"}}

#: torchdiffeq's method name -> (nodelib's method, the options torchdiffeq's solver reads).
METHODS: dict[str, tuple[str, frozenset[str]]] = {
    "dopri8": ("dopri8", _ADAPTIVE),
    "dopri5": ("dopri5", _ADAPTIVE),
    "tsit5": ("tsit5", _ADAPTIVE),
    "bosh3": ("bosh3", _ADAPTIVE),
    "fehlberg2": ("fehlberg12", _ADAPTIVE),
    "adaptive_heun": ("heun_euler", _ADAPTIVE),
    "euler": ("euler", _FIXED),
    "midpoint": ("midpoint", _FIXED),
    "heun2": ("heun", _FIXED),
    "heun3": ("heun3", _FIXED),
    "rk4": ("rk38", _FIXED),
    "explicit_adams": ("adams_bashforth", _ADAMS),
    "implicit_adams": ("adams_moulton", _ADAMS),
    "fixed_adams": ("adams_moulton", _ADAMS),
    "implicit_euler": ("radau_iia1", _IMPLICIT),
    "implicit_midpoint": ("implicit_midpoint", _IMPLICIT),
    "trapezoid": ("lobatto_iiia2", _IMPLICIT),
    "radauIIA3": ("radau_iia2", _IMPLICIT),
    "gl4": ("gauss_legendre2", _IMPLICIT),
    "radauIIA5": ("radau_iia3", _IMPLICIT),
    "gl6": ("gauss_legendre3", _IMPLICIT),
    "sdirk2": ("sdirk2", _IMPLICIT),
    "trbdf2": ("trbdf2", _IMPLICIT),
    "scipy_solver": ("scipy_solver", _SCIPY),
}


def _method(method: str | None) -> tuple[str, str, frozenset[str]]:
    """(torchdiffeq's name, nodelib's name, the options it reads)."""
    method = "dopri5" if method is None else method
    if method not in METHODS:
        raise ValueError(
            f'Invalid method "{method}". Must be one of {{"' + '", "'.join(METHODS) + '"}.'
        )
    name, reads = METHODS[method]
    if name not in nodelib.METHODS:
        raise ValueError(f"method {method!r} ({name!r} in nodelib) is not available yet.")
    return method, name, reads


def _options(method: str | None, options: dict | None) -> tuple[str, dict, Callable | None]:
    """nodelib's method and options for torchdiffeq's, and the grid_constructor if any."""
    method, name, reads = _method(method)
    given, out, unexpected = dict(options or {}), {}, {}
    grid = given.pop("grid_constructor", None) if reads is not _ADAPTIVE else None
    if grid is not None and given.get("step_size") is not None:
        raise ValueError("step_size and grid_constructor are mutually exclusive arguments.")
    renamed = _RENAMED.get(reads, {})
    for key, value in given.items():
        if key in reads:
            out[renamed.get(key, key)] = value
        elif key in _SILENT[reads]:
            continue
        elif key in _TORCHDIFFEQ_OPTIONS:
            unexpected[key] = value
        else:  # nodelib's own options (controller, newton_tol, ...): nodelib checks them
            out[key] = value
    if unexpected:
        warnings.warn(f"{method}: Unexpected arguments {unexpected}", stacklevel=3)
    if reads is _ADAPTIVE:
        _check_dtype(out.pop("dtype", None))
        if out.get("min_step"):
            out["force_min_step"] = True
    elif reads is not _SCIPY:
        out.setdefault("interp", "linear")
        if out.get("step_size") is None:
            out.pop("step_size", None)
    return name, out, grid


def _check_dtype(dtype: object) -> None:
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"options['dtype'] must be a floating torch.dtype, got {dtype!r}.")


def _warn_callbacks(func: object, method: str) -> None:
    if METHODS[method][1] is _SCIPY:
        found = {n for n in _CALLBACKS if getattr(func, n, None) is not None}
        if found:
            warnings.warn(f"Solver '{method}' does not support callbacks {found}", stacklevel=3)


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
    name, opts, grid = _options(method, options)
    _warn_callbacks(func, method or "dopri5")
    if event_fn is not None:
        return _until_event(nodelib.odeint, func, y0, t, event_fn, name, opts, grid,
                            rtol=rtol, atol=atol)  # fmt: skip
    if grid is not None:
        solve = _solver(nodelib.odeint, rtol=rtol, atol=atol, method=name)
        return _on_grid(solve, func, y0, t, grid, opts)
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
    name, opts, grid = _options(method, options)
    _warn_callbacks(func, method or "dopri5")
    kwargs = _adjoint_kwargs(method, options, adjoint_method, adjoint_options, adjoint_params)
    kwargs.update(rtol=rtol, atol=atol, adjoint_rtol=adjoint_rtol, adjoint_atol=adjoint_atol)
    if event_fn is not None:
        return _until_event(nodelib.odeint_adjoint, func, y0, t, event_fn, name, opts, grid,
                            **kwargs)  # fmt: skip
    if grid is not None:
        solve = _solver(nodelib.odeint_adjoint, method=name, **kwargs)
        return _on_grid(solve, func, y0, t, grid, opts)
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
    back_name, back_opts, grid = _options(
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
    name, opts, grid = _options(method, options)
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


def _on_grid(solve: Callable, func: UserField, y0: State, t: Tensor, grid_constructor, opts):
    """Solve at the points of grid_constructor(func, y0, t); read the outputs at t off them."""
    interp = opts.pop("interp", "linear")
    grid = grid_constructor(func, y0, t)
    if not isinstance(grid, Tensor) or grid.dim() != 1 or len(grid) < 2:
        raise ValueError("grid_constructor must return a 1-D tensor of at least two times.")
    grid = grid.to(device=t.device)
    if bool(grid[0] != t[0]) or bool(grid[-1] != t[-1]):
        raise ValueError("grid_constructor's grid must start at t[0] and end at t[-1].")
    ys = solve(func, y0, grid, opts)
    parts = ys if isinstance(ys, tuple) else (ys,)
    direction = -1.0 if len(t) > 1 and bool(t[1] < t[0]) else 1.0
    g, q = (direction * grid).detach(), (direction * t).detach().to(grid.dtype)
    i1 = torch.searchsorted(g.contiguous(), q.contiguous(), right=True).clamp(1, len(g) - 1)
    i0 = i1 - 1
    h = grid[i1] - grid[i0]
    theta = (t.to(grid.dtype) - grid[i0]) / h
    out = _interpolate(func, parts, grid, i0, i1, theta, h, interp, isinstance(ys, tuple))
    return out if isinstance(ys, tuple) else out[0]


def _interpolate(func, parts, grid, i0, i1, theta, h, interp, is_tuple):
    """Each part at the output times: linear, or cubic Hermite with f at the grid points."""
    shape = lambda x, p: x.to(p.dtype).reshape(-1, *([1] * (p.dim() - 1)))  # noqa: E731
    if interp == "linear":
        return tuple(p[i0] + shape(theta, p) * (p[i1] - p[i0]) for p in parts)
    if interp != "cubic":
        raise ValueError(f"options['interp'] must be 'linear' or 'cubic', got {interp!r}.")
    rows = []
    for j in range(len(theta)):
        a, b = int(i0[j]), int(i1[j])
        ya = tuple(p[a] for p in parts)
        yb = tuple(p[b] for p in parts)
        fa = func(grid[a].to(parts[0].dtype), ya if is_tuple else ya[0])
        fb = func(grid[b].to(parts[0].dtype), yb if is_tuple else yb[0])
        fa, fb = (fa, fb) if is_tuple else ((fa,), (fb,))
        hj, tj = h[j].to(parts[0].dtype), theta[j].to(parts[0].dtype)
        ends = zip(ya, yb, fa, fb, strict=True)
        rows.append([hermite(u, v, fu, fv, hj, tj) for u, v, fu, fv in ends])
    return tuple(torch.stack([r[k] for r in rows]) for k in range(len(parts)))


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
    name, opts, _ = _options(method, options)
    t = torch.stack([torch.as_tensor(t0), torch.as_tensor(t1)]).to(y0.device)
    solution = nodelib.solve(func, y0, t, rtol=rtol, atol=atol, method=name, options=opts)
    return solution.evaluate
