"""torchdiffeq's method names and options, and nodelib's for each (`nodelib.torchdiffeq`)."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch

import nodelib
from nodelib._callbacks import NAMES as _CALLBACKS

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


def options_for(method: str | None, options: dict | None) -> tuple[str, dict, Callable | None]:
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


def warn_callbacks(func: object, method: str) -> None:
    if METHODS[method][1] is _SCIPY:
        found = {n for n in _CALLBACKS if getattr(func, n, None) is not None}
        if found:
            warnings.warn(f"Solver '{method}' does not support callbacks {found}", stacklevel=3)
