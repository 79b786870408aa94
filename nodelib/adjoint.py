"""The adjoint method: gradients of an ODE solution in memory independent of the step count.

`odeint_adjoint` returns what `odeint` returns, but its backward pass does not
differentiate through the solver steps. It solves the augmented adjoint system of
Chen, Rubanova, Bettencourt & Duvenaud, "Neural Ordinary Differential Equations"
(NeurIPS 2018, §2 and Algorithm 1) backwards in time:

    y'       =  f(t, y, theta)                 the state, reconstructed backwards
    a'       = -a^T df/dy                      the adjoint, a = dL/dy(t)
    a_theta' = -a^T df/dtheta                  a_theta(t_0) = dL/dtheta
    a_t'     = -a^T df/dt                      a_t(t_0) = dL/dt_0

one output interval [t_i, t_{i-1}] at a time, restarting y from the forward
solution stored at t_i and adding dL/dy(t_i) to a there. Each right-hand side
costs one evaluation of f and one vector-Jacobian product. The backward solves
are calls of `nodelib.odeint` (no stepping code lives here), on one flat tensor
[y, a, a_theta, a_t].

Seminorm (Kidger, Chen & Lyons, "'Hey, that's not an ODE': Faster ODE Adjoints
via Seminorms", ICML 2021): the parameter and time adjoints never feed back into
y or a, so their local errors need not limit the step. By default a step is accepted
when the largest RMS of the scaled error over the blocks y, a, a_theta, a_t is <= 1;
with ``adjoint_options={"norm": "seminorm"}`` only the blocks y and a count, which
saves backward evaluations when the parameter adjoint would limit the step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from nodelib._callbacks import NAMES as CALLBACK_NAMES
from nodelib._state import StateLayout
from nodelib._types import State, UserField
from nodelib.odeint import method_options, odeint

__all__ = ["odeint_adjoint"]


@dataclass(frozen=True)
class _Layout:
    """Where each piece of the augmented state z = [y, a, a_theta, a_t] sits in a flat vector."""

    y: StateLayout  # the state's parts (a has the same layout)
    p: StateLayout  # the parameters
    with_time: bool

    @property
    def n_y(self) -> int:
        return self.y.size

    @property
    def n_p(self) -> int:
        return self.p.size

    def augmented_parts(self, z: Tensor) -> tuple[Tensor, ...]:
        """(a_t, y parts..., a parts..., a_theta parts...) as views of z (n_aug,), in
        torchdiffeq's order; a_t is a zero when t does not require grad."""
        n_y = self.n_y
        y = self.y.split(z[:n_y])
        a = self.y.split(z[n_y : 2 * n_y])
        p = self.p.split(z[2 * n_y : 2 * n_y + self.n_p])
        a_t = z[-1] if self.with_time else torch.zeros((), dtype=z.dtype, device=z.device)
        return (a_t, *y, *a, *p)


@dataclass
class _Config:
    """Everything the autograd.Function needs besides tensors."""

    func: UserField
    is_tuple: bool
    forward: dict[str, Any]  # rtol, atol, method, options of the forward solve
    backward: dict[str, Any]  # the same for the adjoint solves
    norm: str | Callable[..., Tensor] | None
    stats: MutableMapping[str, int] | None


def _counting(func: UserField, stats: MutableMapping[str, int], key: str) -> UserField:
    def counted(t: Tensor, y: State) -> State:
        stats[key] += 1
        return func(t, y)

    for name in (*CALLBACK_NAMES, *(n + "_adjoint" for n in CALLBACK_NAMES)):
        if hasattr(func, name):  # the solves still call func's callbacks
            setattr(counted, name, getattr(func, name))
    return counted


class _Augmented:
    """The right-hand side of the augmented system on the flat state z = [y, a, a_theta, a_t]."""

    def __init__(self, cfg: _Config, layout: _Layout, params: tuple[Tensor, ...]) -> None:
        self.cfg, self.layout, self.params = cfg, layout, params
        self.zeros = [torch.zeros(p.numel(), dtype=p.dtype, device=p.device) for p in params]
        for name in CALLBACK_NAMES:  # func.callback_step_adjoint etc. see the backward solves
            callback = getattr(cfg.func, name + "_adjoint", None)
            if callback is not None:
                setattr(self, name, _on_parts(callback, layout))

    def __call__(self, s: Tensor, z: Tensor) -> Tensor:
        n_y, cfg = self.layout.n_y, self.cfg
        with torch.enable_grad():
            y = z[:n_y].detach().requires_grad_(True)  # (n_y,)
            s_in = s.detach().requires_grad_(True) if self.layout.with_time else s
            f = self.layout.y.join(cfg.func(s_in, self.layout.y.unflatten(y)))  # (n_y,)
            inputs = (y, *self.params) + ((s_in,) if self.layout.with_time else ())
            if f.requires_grad:
                # One vector-Jacobian product gives -a^T df/d(y, theta, t) together.
                vjps = torch.autograd.grad(f, inputs, -z[n_y : 2 * n_y], allow_unused=True)
            else:  # f depends on none of them
                vjps = (None,) * len(inputs)
        pieces = [f.detach(), _or_zeros(vjps[0], y)]
        pieces += [
            zero if v is None else v.reshape(-1)
            for v, zero in zip(vjps[1 : 1 + len(self.params)], self.zeros, strict=True)
        ]
        if self.layout.with_time:
            pieces.append(torch.zeros_like(z[-1:]) if vjps[-1] is None else vjps[-1].reshape(1))
        return torch.cat(pieces)  # (n_aug,)


def _on_parts(callback: Callable, layout: _Layout) -> Callable:
    """An adjoint callback, given the augmented state as its tuple of parts (as the norm is)."""
    return lambda t, z, dt: callback(t, layout.augmented_parts(z), dt)


def _or_zeros(grad: Tensor | None, like: Tensor) -> Tensor:
    return torch.zeros_like(like) if grad is None else grad


def _block_norm(bounds: list[tuple[int, int]]) -> Callable[[Tensor], Tensor]:
    """max over blocks [lo, hi) of the RMS of the scaled error within the block."""

    def norm(err: Tensor) -> Tensor:  # err: (n_aug,)
        rms = [torch.linalg.vector_norm(err[lo:hi]) / math.sqrt(hi - lo) for lo, hi in bounds]
        return rms[0] if len(rms) == 1 else torch.stack(rms).max()

    return norm


def _make_norm(spec: Any, layout: _Layout) -> Callable[[Tensor], Tensor]:
    """The `norm` option of the backward solves, from adjoint_options['norm'].

    "default": the largest RMS of the blocks y, a, a_theta, a_t. One RMS over everything
    would let the many parameter components dilute the error of y and a, which feeds all
    the rest. "seminorm" drops a_theta and a_t (Kidger, Chen & Lyons 2021, §3): they do
    not feed back into the system, so their error need not limit the step.
    """
    n_y, n_p = layout.n_y, layout.n_p
    blocks = [(0, n_y), (n_y, 2 * n_y)]
    if spec is None or spec == "default":
        blocks += [(2 * n_y, 2 * n_y + n_p), (2 * n_y + n_p, 2 * n_y + n_p + layout.with_time)]
        return _block_norm([(lo, hi) for lo, hi in blocks if hi > lo])
    if spec == "seminorm":
        return _block_norm([(lo, hi) for lo, hi in blocks if hi > lo])
    if callable(spec):
        return lambda err: spec(layout.augmented_parts(err))
    raise ValueError(
        f"adjoint_options['norm'] must be 'seminorm', 'default', None or a callable on the "
        f"tuple (a_t, y parts, a parts, a_theta parts); got {spec!r}."
    )


class _OdeintAdjoint(torch.autograd.Function):
    """Forward: `odeint` without a graph. Backward: the augmented system, interval by interval."""

    @staticmethod
    def forward(ctx: Any, cfg: _Config, t: Tensor, n_y: int, *tensors: Tensor) -> Any:
        y0, params = tensors[:n_y], tensors[n_y:]
        func = cfg.func
        if cfg.stats is not None:
            func = _counting(func, cfg.stats, "nfe_forward")
        with torch.no_grad():
            ys = odeint(func, y0 if cfg.is_tuple else y0[0], t.detach(), **cfg.forward)
        ys = ys if cfg.is_tuple else (ys,)  # each (len(t), *shape)
        ctx.cfg, ctx.n_y = cfg, n_y
        ctx.save_for_backward(t, *ys, *params)
        return ys

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, *grad_ys: Tensor | None) -> Any:
        t, *saved = ctx.saved_tensors
        ys, params = tuple(saved[: ctx.n_y]), tuple(saved[ctx.n_y :])
        layout = _Layout(
            y=StateLayout.of([y[0] for y in ys], is_tuple=ctx.cfg.is_tuple),
            p=StateLayout.of(params),
            with_time=ctx.needs_input_grad[1],
        )
        with torch.no_grad():
            a, a_p, t_grad = _backward_sweep(ctx.cfg, layout, t, ys, grad_ys, params)
        y0_grads = layout.y.split(a)
        p_grads = layout.p.split(a_p)
        return (None, t_grad, None, *y0_grads, *p_grads)


def _backward_sweep(
    cfg: _Config,
    layout: _Layout,
    t: Tensor,
    ys: tuple[Tensor, ...],
    grad_ys: tuple[Tensor | None, ...],
    params: tuple[Tensor, ...],
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Walk the output intervals from last to first (Chen et al. 2018, Algorithm 1).

    Returns dL/dy0 (n_y,), dL/dtheta (n_p,) and dL/dt (len(t),) or None.
    """
    n, n_y = len(t), layout.n_y
    Y = torch.cat([y.reshape(n, -1) for y in ys], dim=1)  # (len(t), n_y)
    G = torch.cat(
        [
            (torch.zeros_like(y) if g is None else g).reshape(n, -1)
            for g, y in zip(grad_ys, ys, strict=True)
        ],
        dim=1,
    )  # (len(t), n_y): dL/dy(t_i), zero for outputs the loss does not use
    func = cfg.func
    if cfg.stats is not None:
        func = _counting(func, cfg.stats, "nfe_backward")
    aug = _Augmented(replace(cfg, func=func), layout, params)
    a = torch.zeros(n_y, dtype=Y.dtype, device=Y.device)  # dL/dy(t), running
    a_p = torch.zeros(layout.n_p, dtype=Y.dtype, device=Y.device)  # dL/dtheta, running
    a_t = torch.zeros(1 if layout.with_time else 0, dtype=Y.dtype, device=Y.device)
    t_grad = torch.zeros(n, dtype=Y.dtype, device=Y.device) if layout.with_time else None
    options = dict(cfg.backward["options"])
    if "norm" in method_options(cfg.backward["method"], options)[0]:  # adaptive solves only
        options["norm"] = _make_norm(cfg.norm, layout)
    backward_args = {**cfg.backward, "options": options}
    for i in range(n - 1, 0, -1):
        a = a + G[i]
        if t_grad is not None:
            # Moving t_i moves only output i: dL/dt_i = <dL/dy(t_i), f(t_i, y(t_i))>.
            f_i = layout.y.join(func(t[i], layout.y.unflatten(Y[i])))
            t_grad[i] = torch.dot(G[i], f_i)
            a_t = a_t - t_grad[i]  # a_t(t) = -<a(t), f(t, y(t))> holds along the way
        z = torch.cat([Y[i], a, a_p, a_t])  # restart y from the stored forward value
        z = odeint(aug, z, torch.stack([t[i], t[i - 1]]), **backward_args)[-1]
        a, a_p = z[n_y : 2 * n_y], z[2 * n_y : 2 * n_y + layout.n_p]
        a_t = z[2 * n_y + layout.n_p :]
    a = a + G[0]  # output 0 is y0 itself
    if t_grad is not None:
        t_grad[0] = a_t[0]  # y(t_j) for j >= 1 depends on t_0; output 0 does not
        t_grad = t_grad.to(t.dtype)
    return a, a_p, t_grad


def _resolve_params(func: Any, adjoint_params: Iterable[Tensor] | None) -> tuple[Tensor, ...]:
    """The tensors whose gradients the adjoint computes, checked and without repeats."""
    if adjoint_params is None:
        if not isinstance(func, nn.Module):
            raise ValueError(
                f"odeint_adjoint cannot see the parameters of func ({type(func).__name__} is not "
                "an nn.Module). Pass adjoint_params=(tensor, ...) with every tensor func uses "
                "that needs a gradient (adjoint_params=() if you only need gradients with "
                "respect to y0 and t), or make func an nn.Module."
            )
        return tuple(p for p in func.parameters() if p.requires_grad)
    if isinstance(adjoint_params, Tensor) or not isinstance(adjoint_params, Iterable):
        raise TypeError(
            "adjoint_params must be a tuple or list of tensors, e.g. adjoint_params=(theta,) "
            f"or tuple(model.parameters()); got {type(adjoint_params).__name__}."
        )
    params, seen = [], set()
    for i, p in enumerate(adjoint_params):
        if not isinstance(p, Tensor):
            raise TypeError(f"adjoint_params[{i}] must be a tensor, got {type(p).__name__}.")
        if not p.requires_grad:
            raise ValueError(
                f"adjoint_params[{i}] does not require grad: call .requires_grad_() on it, "
                "or leave it out of adjoint_params."
            )
        if id(p) not in seen:  # a repeated tensor would get its gradient twice
            seen.add(id(p))
            params.append(p)
    return tuple(params)


def _check_tensors(y0: Any, params: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """The parts of y0; every part and parameter must share y0's dtype and device."""
    parts = tuple(y0) if isinstance(y0, tuple | list) else (y0,)
    if not parts or not all(isinstance(p, Tensor) for p in parts):
        raise TypeError("y0 must be a tensor or a non-empty tuple of tensors.")
    for name, p in [
        *((f"y0[{i}]", p) for i, p in enumerate(parts)),
        *((f"parameter {i} of func", p) for i, p in enumerate(params)),
    ]:
        if p.dtype != parts[0].dtype or p.device != parts[0].device:
            raise TypeError(
                f"{name} is {p.dtype} on {p.device} but y0 is {parts[0].dtype} on "
                f"{parts[0].device}: put y0 and func on one dtype and device, e.g. "
                "func.to(y0) for a module."
            )
    return parts


def odeint_adjoint(
    func: UserField,
    y0: State,
    t: Tensor,
    *,
    rtol: float = 1e-7,
    atol: float = 1e-9,
    method: str = "dopri5",
    options: dict[str, Any] | None = None,
    adjoint_rtol: float | None = None,
    adjoint_atol: float | None = None,
    adjoint_method: str | None = None,
    adjoint_options: dict[str, Any] | None = None,
    adjoint_params: Iterable[Tensor] | None = None,
    stats: MutableMapping[str, int] | None = None,
) -> State:
    """Solve y' = func(t, y) like `odeint`, differentiating by the adjoint method.

    The forward solve keeps no graph; the backward pass integrates the augmented
    system (Chen et al. 2018, Algorithm 1; see the module docstring) from t[-1] to
    t[0], restarting from the stored solution at every output time. Memory does not
    grow with the number of solver steps. The gradient is that of the exact ODE
    solution map, computed to the adjoint tolerances: it approximates, but is not,
    the derivative of the discrete solver's output (which `odeint` gives by backprop).

    Args:
        func: the vector field f(t, y) (0-d tensor t; y and the result shaped like y0).
            Its parameters get gradients if it is an `nn.Module`.
        y0: the initial state, a tensor `(*shape)` or a tuple of tensors.
        t: output times `(n,)`, strictly increasing or decreasing; t[0] is the initial time.
        rtol, atol, method, options: as for `odeint`, for the forward solve.
        adjoint_rtol, adjoint_atol, adjoint_method: for the backward solves; default to
            the forward values.
        adjoint_options: `odeint` options for the backward solves; default: `options`
            without "norm" (required when adjoint_method differs from method and options
            are given). Its "norm" is "default" (the largest RMS of the scaled error over
            the blocks y, a, a_theta and a_t), "seminorm" (the blocks y and a only:
            Kidger, Chen & Lyons 2021), or a callable taking the tuple of scaled errors
            in torchdiffeq's order (a_t, y parts..., a parts..., a_theta parts...; a_t is
            0-d, and zero when t does not require grad) and returning a 0-d tensor. The
            backward solves call func's `callback_step_adjoint`, `callback_accept_step_adjoint`
            and `callback_reject_step_adjoint` (`nodelib._callbacks`) with that tuple as
            the state.
        adjoint_params: the tensors to differentiate with respect to, each requiring grad.
            Default: the parameters of func that require grad (func must then be an
            `nn.Module`). Tensors func uses but not listed here get no gradient.
        stats: an optional dict in which the evaluations of func are counted: the
            entries "nfe_forward" and "nfe_backward" are created at 0 and incremented.

    Returns:
        The solution at the times t: `(n, *shape)`, or a tuple of such for a tuple y0.

    Raises:
        ValueError: func is not an `nn.Module` and adjoint_params is not given; a listed
            parameter does not require grad; an unknown adjoint norm; adjoint_method
            differs from method while options but no adjoint_options are given.
        TypeError: y0 or adjoint_params of the wrong type; parameters whose dtype or device
            differs from y0's.
        The errors of `odeint` (StepSizeError, MaxStepsError, ...) in either pass.
    """
    params = _resolve_params(func, adjoint_params)
    if (options or {}).get("per_sample") and isinstance(t, Tensor) and t.dim() != 1:
        raise ValueError(
            "odeint_adjoint needs one shared t (T,): its backward pass walks the output "
            "intervals of all rows together; use odeint (backprop) for per-row output times."
        )
    parts = _check_tensors(y0, params)
    if not isinstance(t, Tensor):
        t = torch.as_tensor(t, dtype=parts[0].dtype, device=parts[0].device)
    if stats is not None:
        if not isinstance(stats, MutableMapping):
            raise TypeError(f"stats must be a dict or None, got {type(stats).__name__}.")
        stats.setdefault("nfe_forward", 0)
        stats.setdefault("nfe_backward", 0)
    for name, value, given in (("rtol", rtol, adjoint_rtol), ("atol", atol, adjoint_atol)):
        per_element = isinstance(value, Tensor) and value.numel() > 1
        if given is None and (per_element or isinstance(value, tuple | list)):
            raise ValueError(
                f"{name} is per-element, which fits the state but not the backward solve's "
                f"augmented state: pass a number as adjoint_{name} too."
            )
    options = dict(options or {})
    if adjoint_options is None:
        if options and adjoint_method not in (None, method):
            raise ValueError(
                f"options are given for method={method!r} but adjoint_method="
                f"{adjoint_method!r} differs: pass adjoint_options too (for example {{}})."
            )
        # The augmented state is one flat vector: no per-sample rows, no batch dimension.
        skip = ("norm", "per_sample", "batch_dim")
        adjoint_options = {k: v for k, v in options.items() if k not in skip}
    adjoint_options = dict(adjoint_options)
    norm = adjoint_options.pop("norm", None)
    cfg = _Config(
        func=func,
        is_tuple=isinstance(y0, tuple | list),
        forward={"rtol": rtol, "atol": atol, "method": method, "options": options},
        backward={
            "rtol": rtol if adjoint_rtol is None else adjoint_rtol,
            "atol": atol if adjoint_atol is None else adjoint_atol,
            "method": method if adjoint_method is None else adjoint_method,
            "options": adjoint_options,
        },
        norm=norm,
        stats=stats,
    )
    _make_norm(
        norm, _Layout(StateLayout((torch.Size([1]),), False), StateLayout((), True), False)
    )  # refuse a bad norm before solving
    ys = _OdeintAdjoint.apply(cfg, t, len(parts), *parts, *params)
    return tuple(ys) if cfg.is_tuple else ys[0]
