"""The type names nodelib's modules share, each with one meaning.

- `State`: what a user passes as y0 — one tensor, or a tuple of tensors.
- `UserField`: the user's vector field, func(t, y) with t a 0-d tensor and y a `State`.
- `VectorField`: a vector field on one tensor, f(t, y) with t a 0-d tensor (the course's
  chapters, analysis and grading tools).
- `Time`: a time or step size inside the integrators: a Python float (the step-size
  arithmetic stays on the host), or a 0-d tensor when the solve is differentiated with
  respect to the times.
- `Field`: the integrators' vector field in normal form, f(t, y) with t a `Time` and y
  one tensor; it counts its evaluations (see `nodelib._problem`).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

State = Tensor | tuple[Tensor, ...]
UserField = Callable[[Tensor, State], State]
VectorField = Callable[[Tensor, Tensor], Tensor]
Time = float | Tensor
Field = Callable[[Time, Tensor], Tensor]
