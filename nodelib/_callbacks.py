"""torchdiffeq's step callbacks: methods of the vector field that the loop calls at each step.

A vector field (usually an `nn.Module`) may define

- `callback_step(t0, y0, dt)`: called just before every step is tried, by every method;
- `callback_accept_step(t0, y0, dt)` and `callback_reject_step(t0, y0, dt)`: called after an
  adaptive method accepts or rejects the step it tried (fixed-step methods have no such
  decision: defining them there warns);

and, for `odeint_adjoint`, the same names ending in `_adjoint`, called by the backward solves.
`t0` is the time where the step starts (a 0-d tensor in the dtype of the user's `t`), `y0` the
state there (with y0's structure) and `dt` the length of the step (positive also when time
runs backwards), as torchdiffeq calls them (its FURTHER_DOCUMENTATION.md, "Callbacks").
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from nodelib._types import Time

NAMES = ("callback_step", "callback_accept_step", "callback_reject_step")

Hook = Callable[[Time, Tensor, Time], None]


@dataclass(frozen=True)
class Callbacks:
    """The user's callbacks in the loop's terms: (internal time, flat state, step size)."""

    step: Hook | None
    accept: Hook | None
    reject: Hook | None

    def before(self, t: Time, y: Tensor, h: Time) -> None:
        """A step of size h from (t, y) is about to be tried."""
        if self.step is not None:
            self.step(t, y, h)

    def after(self, accepted: bool, t: Time, y: Tensor, h: Time) -> None:
        """An adaptive method decided on the step of size h from (t, y)."""
        hook = self.accept if accepted else self.reject
        if hook is not None:
            hook(t, y, h)

    def warn_if_fixed(self, method: str) -> None:
        """Warn that a fixed-step method never calls the accept and reject callbacks."""
        unused = [n for n, h in zip(NAMES[1:], (self.accept, self.reject), strict=True) if h]
        if unused:
            warnings.warn(
                f"method {method!r} takes fixed steps and never accepts or rejects one: "
                f"{', '.join(unused)} will not be called (callback_step is).",
                stacklevel=4,
            )


def find_callbacks(
    func: object, direction: float, t_dtype: torch.dtype, device, unflatten
) -> Callbacks | None:
    """The callbacks `func` defines, converted to the loop's internal time and flat state.

    Args:
        func: the user's vector field.
        direction: +1 or -1 (internal time = direction · user time).
        t_dtype: the dtype of the times the callbacks receive.
        device: where those times live.
        unflatten: the loop's flat state -> the user's state.

    Returns:
        The callbacks, or None if func defines none of them.
    """
    found = [getattr(func, name, None) for name in NAMES]
    if not any(found):
        return None

    def wrap(callback) -> Hook | None:
        if callback is None:
            return None
        if not callable(callback):
            raise TypeError(f"{callback!r} is a callback attribute of func but is not callable.")

        def hook(t: Time, y: Tensor, h: Time) -> None:
            with torch.no_grad():
                t_user = torch.as_tensor(direction * t, dtype=t_dtype, device=device)
                h_len = torch.as_tensor(h, dtype=t_dtype, device=device)
            callback(t_user, unflatten(y), h_len)

        return hook

    return Callbacks(*(wrap(c) for c in found))
