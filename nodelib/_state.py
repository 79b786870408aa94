"""One layout for states: a tensor or a tuple of tensors, and one flat vector.

`odeint`, `solve` and `odeint_adjoint` all see a tuple state as one flat tensor
(the parts' entries one after the other) and turn it back at the end; this is the
only place that knows how.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from nodelib._types import State


@dataclass(frozen=True)
class StateLayout:
    """The shapes of a state's parts, and whether it is a tuple.

    Attributes:
        shapes: the shape of each part.
        is_tuple: False for a single tensor (then `unflatten` restores its shape).
    """

    shapes: tuple[torch.Size, ...]
    is_tuple: bool

    @classmethod
    def of(cls, parts: Sequence[Tensor], *, is_tuple: bool = True) -> StateLayout:
        """The layout of these tensors (leading dimensions excluded: pass single states)."""
        return cls(tuple(p.shape for p in parts), is_tuple)

    @property
    def sizes(self) -> list[int]:
        """The number of entries of each part."""
        return [math.prod(s) for s in self.shapes]

    @property
    def size(self) -> int:
        """The length of the flat vector."""
        return sum(self.sizes)

    def join(self, parts: State) -> Tensor:
        """The parts, flattened and concatenated: `(n,)`."""
        if isinstance(parts, Tensor):
            return parts.reshape(-1)
        return torch.cat([p.reshape(-1) for p in parts])

    def split(self, flat: Tensor) -> tuple[Tensor, ...]:
        """`(..., n)` -> the parts, each `(..., *shape_i)` (views where possible)."""
        lead = flat.shape[:-1]
        chunks = torch.split(flat, self.sizes, dim=-1)
        return tuple(c.reshape((*lead, *s)) for c, s in zip(chunks, self.shapes, strict=True))

    def unflatten(self, flat: Tensor) -> State:
        """`(..., n)` -> the state as the user gave it (a tuple, or one tensor)."""
        parts = self.split(flat)
        return parts if self.is_tuple else parts[0]
