"""Reversible residual networks: leapfrog blocks, and a backward pass that stores no activations.

- `hamiltonian_block(width, h=...)`: Haber & Ruthotto's Hamiltonian ("Verlet") layer,
  Y_{j+1} = Y_j + h σ(K Z_j + b), Z_{j+1} = Z_j - h σ(Kᵀ Y_{j+1} + b)
  ("Stable architectures for deep neural networks", Inverse Problems 2018, §3.3), as a
  `nodelib.models.ReversibleBlock`: a leapfrog step for a partitioned ODE.
- `ReversibleSequence(blocks)`: runs reversible blocks and keeps only the final output for the
  backward pass; the backward pass reconstructs each block's input from its output with
  `block.inverse` and recomputes that block alone (Gomez, Ren, Urtasun & Grosse, "The
  Reversible Residual Network", NeurIPS 2017, §4, Algorithm 1). Memory for activations is
  then independent of the depth, at the price of about one more forward pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from nodelib.models.blocks import ReversibleBlock

__all__ = ["ReversibleSequence", "TiedLayer", "hamiltonian_block"]


class TiedLayer(nn.Module):
    """z -> scale · σ(K z + b), or with Kᵀ: two of these share K and b in a Hamiltonian block.

    Args:
        linear: the `nn.Linear(width, width)` holding K and b (shared, not copied).
        scale: the factor (h or -h).
        transpose: use Kᵀ instead of K.
        activation: the module class of σ.
    """

    def __init__(self, linear: nn.Linear, *, scale: float, transpose: bool = False,
                 activation: type[nn.Module] = nn.Tanh) -> None:  # fmt: skip
        super().__init__()
        self.linear, self.scale, self.transpose, self.act = linear, scale, transpose, activation()

    def forward(self, z: Tensor) -> Tensor:
        weight = self.linear.weight.T if self.transpose else self.linear.weight
        return self.scale * self.act(z @ weight.T + self.linear.bias)


def hamiltonian_block(width: int, *, h: float = 1.0,
                      activation: type[nn.Module] = nn.Tanh) -> ReversibleBlock:  # fmt: skip
    """A Hamiltonian (leapfrog) layer on states `(batch, 2 * width)` split as (Y, Z).

    Args:
        width: the size of each half.
        h: the step size.
        activation: the module class of σ.

    Returns:
        A `ReversibleBlock` with F(Z) = h σ(K Z + b) and G(Y) = -h σ(Kᵀ Y + b), one K and b.

    Raises:
        ValueError: width is not a positive int or h is not positive.
    """
    if isinstance(width, bool) or not isinstance(width, int) or width < 1 or not float(h) > 0:
        raise ValueError(f"need a positive int width and h > 0, got {width!r} and {h!r}.")
    linear = nn.Linear(width, width)
    return ReversibleBlock(
        TiedLayer(linear, scale=h, activation=activation),
        TiedLayer(linear, scale=-h, transpose=True, activation=activation),
    )


class _ReversibleFunction(torch.autograd.Function):
    """Forward without a graph; backward by reconstruction and local recomputation."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, blocks: Sequence[nn.Module], *params: Tensor) -> Tensor:
        with torch.no_grad():
            for block in blocks:
                x = block(x)
        ctx.blocks = blocks
        ctx.save_for_backward(x)  # the output only: every input is recomputed from it
        return x

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        (y,) = ctx.saved_tensors
        grads: list[Tensor | None] = []
        for block in reversed(ctx.blocks):
            with torch.no_grad():
                x = block.inverse(y)
            x = x.detach().requires_grad_(True)
            params = list(block.parameters())
            with torch.enable_grad():
                out = block(x)  # this block's graph only, freed after the next line
            found = torch.autograd.grad(out, [x, *params], grad, allow_unused=True)
            grad, y = found[0], x.detach()
            grads = list(found[1:]) + grads
        return (grad, None, *grads)


class ReversibleSequence(nn.Module):
    """Reversible blocks in sequence; backprop stores the final output only (Gomez et al. §4).

    Args:
        blocks: modules with `forward` and an exact `inverse` (e.g. `ReversibleBlock`,
            `hamiltonian_block`), each with its own parameters (not shared between blocks).

    Raises:
        TypeError: a block has no `inverse` method.
        ValueError: no blocks, or two blocks share a parameter (the gradient bookkeeping
            of the backward pass assumes they do not).
    """

    def __init__(self, blocks: Sequence[nn.Module]) -> None:
        super().__init__()
        if not blocks:
            raise ValueError("give at least one block.")
        for block in blocks:
            if not callable(getattr(block, "inverse", None)):
                raise TypeError(f"{type(block).__name__} has no inverse(): it is not reversible.")
        ids = [id(p) for b in blocks for p in b.parameters()]
        if len(ids) != len(set(ids)):
            raise ValueError("the blocks share parameters; give each block its own.")
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: Tensor) -> Tensor:
        """`(batch, ...)` -> `(batch, ...)`, differentiable with O(1) activation memory."""
        params = [p for block in self.blocks for p in block.parameters()]
        if not torch.is_grad_enabled() or not (
            x.requires_grad or any(p.requires_grad for p in params)
        ):
            with torch.no_grad():
                for block in self.blocks:
                    x = block(x)
            return x
        return _ReversibleFunction.apply(x, list(self.blocks), *params)

    def inverse(self, y: Tensor) -> Tensor:
        """The input that produced `y`, reconstructed block by block (no gradients)."""
        with torch.no_grad():
            for block in reversed(self.blocks):
                y = block.inverse(y)
        return y
