"""ODE blocks and the networks of chapters 3 and 6: ODE-Net, RK-Net, ResNet and relatives.

- `ODEFunc` wraps a vector field f(t, y; theta) and counts its evaluations (NFE);
  `count_nfe` / `reset_nfe` sum and zero them over a whole model.
- `ODEBlock` maps y(t0) to y(t1) with `nodelib.odeint` (backprop through the solver)
  or `nodelib.adjoint.odeint_adjoint` (Chen et al., "Neural Ordinary Differential
  Equations", NeurIPS 2018, §2).
- The image classifiers `ODENet`, `RKNet`, `ResNet` live in `nodelib.models.odenet`.
- `EulerResNet`: a residual network with shared weights, y_{k+1} = y_k + h f(t_k, y_k),
  which is Euler's method on y' = f(t, y) (chapter 3).
- `AugmentedNODE` (Dupont, Doucet & Teh, "Augmented Neural ODEs", NeurIPS 2019) and the
  plain `NODEClassifier` for low-dimensional data; `MLPField` is their vector field.
- `ReversibleBlock` (Gomez, Ren, Urtasun & Grosse, "The Reversible Residual Network",
  NeurIPS 2017): a residual block with an exact inverse.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from nodelib.adjoint import odeint_adjoint
from nodelib.odeint import odeint

__all__ = [
    "AugmentedNODE",
    "EulerResNet",
    "MLPField",
    "NODEClassifier",
    "ODEBlock",
    "ODEFunc",
    "ReversibleBlock",
    "count_nfe",
    "reset_nfe",
]


class ODEFunc(nn.Module):
    """A vector field f(t, y) that counts how often it is evaluated.

    Args:
        net: a module called as ``net(t, y)`` (t a 0-d tensor) returning dy/dt with y's shape.

    Attributes:
        nfe: evaluations since the last `reset_nfe` (the adjoint's backward solve counts too).
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        if not isinstance(net, nn.Module):
            raise TypeError(f"net must be an nn.Module called as net(t, y), got {type(net)}.")
        self.net = net
        self.nfe = 0

    def forward(self, t: Tensor, y: Tensor) -> Tensor:
        """f(t, y): `(*shape)` -> `(*shape)`."""
        self.nfe += 1
        return self.net(t, y)

    def reset_nfe(self) -> None:
        """Set the evaluation counter to zero."""
        self.nfe = 0


def count_nfe(model: nn.Module) -> int:
    """The evaluations counted by every `ODEFunc` inside `model`, summed."""
    return sum(m.nfe for m in model.modules() if isinstance(m, ODEFunc))


def reset_nfe(model: nn.Module) -> bool:
    """Zero the counter of every `ODEFunc` inside `model`; return whether there was one."""
    found = [m for m in model.modules() if isinstance(m, ODEFunc)]
    for m in found:
        m.reset_nfe()
    return bool(found)


class ODEBlock(nn.Module):
    """y(t0) -> y(t1) for y' = func(t, y): one "continuous-depth" layer (Chen et al. 2018, §3).

    Args:
        func: the vector field, an `nn.Module` called as func(t, y) (an `ODEFunc` counts NFE).
        t0, t1: the integration interval (t1 > t0 or t1 < t0).
        method, rtol, atol, options: passed to the solver (see `nodelib.odeint`).
        adjoint: differentiate by the adjoint method (memory independent of the number of
            steps; Chen et al. 2018, Algorithm 1) instead of backprop through the solver.
        adjoint_options: extra keyword arguments of `odeint_adjoint` (adjoint_rtol, ...).

    Raises:
        TypeError: func is not an nn.Module.
        ValueError: t0 == t1.
    """

    def __init__(
        self,
        func: nn.Module,
        *,
        t0: float = 0.0,
        t1: float = 1.0,
        method: str = "dopri5",
        rtol: float = 1e-3,
        atol: float = 1e-3,
        options: dict[str, Any] | None = None,
        adjoint: bool = True,
        adjoint_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(func, nn.Module):
            raise TypeError("func must be an nn.Module (wrap a callable in ODEFunc).")
        if float(t0) == float(t1):
            raise ValueError(f"t0 and t1 must differ, got t0 = t1 = {t0}.")
        self.func, self.t0, self.t1 = func, float(t0), float(t1)
        self.method, self.rtol, self.atol, self.adjoint = method, rtol, atol, adjoint
        self.options = dict(options or {})
        self.adjoint_options = dict(adjoint_options or {})

    def trajectory(self, y0: Tensor, t: Tensor) -> Tensor:
        """The solution at the times t: y0 `(*shape)`, t `(T,)` from t[0] -> `(T, *shape)`."""
        kw = {"rtol": self.rtol, "atol": self.atol, "method": self.method, "options": self.options}
        if self.adjoint:
            return odeint_adjoint(self.func, y0, t, **kw, **self.adjoint_options)
        return odeint(self.func, y0, t, **kw)

    def forward(self, y0: Tensor) -> Tensor:
        """y(t1) from y(t0) = y0: `(*shape)` -> `(*shape)`."""
        t = torch.tensor([self.t0, self.t1], dtype=y0.dtype, device=y0.device)
        return self.trajectory(y0, t)[-1]


class EulerResNet(nn.Module):
    """Weight-shared residual network y_{k+1} = y_k + h f(t_k, y_k): Euler's method (chapter 3).

    The grid is t_k = t0 + k h with h = (t1 - t0) / n_steps and the last point exactly t1,
    the grid of ``odeint(func, y0, [t0, t1], method="euler", options={"step_size": h})``,
    so the two agree to round-off. Global error O(h) (Süli & Mayers, §12.2).

    Args:
        func: the vector field f(t, y), shared by every block.
        n_steps: the number of residual blocks (Euler steps).
        t0, t1: the interval.

    Raises:
        ValueError: n_steps is not a positive int, or t0 == t1.
    """

    def __init__(
        self, func: Callable[[Tensor, Tensor], Tensor], n_steps: int, *, t0: float = 0.0,
        t1: float = 1.0,
    ) -> None:  # fmt: skip
        super().__init__()
        if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
            raise ValueError(f"n_steps must be a positive int, got {n_steps!r}.")
        if float(t0) == float(t1):
            raise ValueError(f"t0 and t1 must differ, got t0 = t1 = {t0}.")
        self.func, self.n_steps, self.t0, self.t1 = func, n_steps, float(t0), float(t1)

    def forward(self, y: Tensor) -> Tensor:
        """y(t1) ~= y_n: `(*shape)` -> `(*shape)`."""
        h = (self.t1 - self.t0) / self.n_steps
        grid = [self.t0 + k * h for k in range(self.n_steps)] + [self.t1]
        for t, t_next in itertools.pairwise(grid):
            f = self.func(torch.scalar_tensor(t, dtype=y.dtype, device=y.device), y)
            y = torch.add(y, f, alpha=t_next - t)  # y + h f, as the solver combines it
        return y


class MLPField(nn.Module):
    """f(t, y) = W3 act(W2 act(W1 [y, t] + b1) + b2) + b3: `(batch, dim)` -> `(batch, dim)`."""

    def __init__(self, dim: int, hidden: int, *, activation: type[nn.Module] = nn.Tanh) -> None:
        super().__init__()
        self.l1, self.l2 = nn.Linear(dim + 1, hidden), nn.Linear(hidden, hidden)
        self.l3, self.act = nn.Linear(hidden, dim), activation()

    def forward(self, t: Tensor, y: Tensor) -> Tensor:
        ty = torch.cat([y, t.expand(y.shape[0], 1)], dim=1)  # (batch, dim + 1)
        return self.l3(self.act(self.l2(self.act(self.l1(ty)))))


class AugmentedNODE(nn.Module):
    """Augmented Neural ODE classifier (Dupont, Doucet & Teh 2019, §4).

    x `(batch, dim)` is padded with `aug_dim` zeros, flowed by an `ODEBlock` with an
    `MLPField` in dimension dim + aug_dim over [0, t1], and mapped by a linear head to
    `(batch, n_classes)`. Without augmentation the flow is a homeomorphism of R^dim and
    cannot, for example, separate a disc from a ring around it in 2-D (Dupont et al., §3).

    Args:
        dim, aug_dim, hidden, n_classes: data, extra and hidden dimensions; outputs.
        method, rtol, atol, adjoint, t1: the ODE block's solver settings.

    Raises:
        ValueError: a size is not a positive int (aug_dim may be 0).
    """

    def __init__(
        self,
        dim: int,
        aug_dim: int,
        hidden: int,
        n_classes: int,
        *,
        method: str = "dopri5",
        rtol: float = 1e-3,
        atol: float = 1e-3,
        adjoint: bool = False,
        t1: float = 1.0,
    ) -> None:
        super().__init__()
        for name, v, low in [("dim", dim, 1), ("aug_dim", aug_dim, 0), ("hidden", hidden, 1),
                             ("n_classes", n_classes, 1)]:  # fmt: skip
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"{name} must be an int >= {low}, got {v!r}.")
        self.aug_dim = aug_dim
        func = ODEFunc(MLPField(dim + aug_dim, hidden))
        self.block = ODEBlock(func, t1=t1, method=method, rtol=rtol, atol=atol, adjoint=adjoint)
        self.head = nn.Linear(dim + aug_dim, n_classes)

    def features(self, x: Tensor) -> Tensor:
        """The flowed (augmented) state y(t1): `(batch, dim)` -> `(batch, dim + aug_dim)`."""
        pad = x.new_zeros(x.shape[0], self.aug_dim)
        return self.block(torch.cat([x, pad], dim=1))

    def forward(self, x: Tensor) -> Tensor:
        """Logits (or regression outputs): `(batch, dim)` -> `(batch, n_classes)`."""
        return self.head(self.features(x))


class NODEClassifier(AugmentedNODE):
    """The plain Neural ODE classifier: `AugmentedNODE` with aug_dim = 0 (Dupont et al., §3)."""

    def __init__(self, dim: int, hidden: int, n_classes: int, **kwargs: Any) -> None:
        super().__init__(dim, 0, hidden, n_classes, **kwargs)


class ReversibleBlock(nn.Module):
    """RevNet block (Gomez et al. 2017, §3): y1 = x1 + F(x2), y2 = x2 + G(y1).

    x `(batch, 2c, ...)` is split into halves x1, x2 along dim 1. The inverse
    x2 = y2 - G(y1), x1 = y1 - F(x2) is exact up to round-off, so activations can be
    recomputed in the backward pass instead of stored; it is a leapfrog-like scheme for
    a partitioned ODE (chapter 3).

    Args:
        F, G: modules mapping `(batch, c, ...)` to `(batch, c, ...)`.
    """

    def __init__(self, F: nn.Module, G: nn.Module) -> None:
        super().__init__()
        self.F, self.G = F, G

    @staticmethod
    def _halves(x: Tensor) -> tuple[Tensor, Tensor]:
        if x.dim() < 2 or x.shape[1] % 2:
            raise ValueError(f"dim 1 of the input must be even to split it, got {tuple(x.shape)}.")
        return x.chunk(2, dim=1)  # type: ignore[return-value]

    def forward(self, x: Tensor) -> Tensor:
        """`(batch, 2c, ...)` -> `(batch, 2c, ...)`."""
        x1, x2 = self._halves(x)
        y1 = x1 + self.F(x2)
        return torch.cat([y1, x2 + self.G(y1)], dim=1)

    def inverse(self, y: Tensor) -> Tensor:
        """The exact inverse of `forward`: `(batch, 2c, ...)` -> `(batch, 2c, ...)`."""
        y1, y2 = self._halves(y)
        x2 = y2 - self.G(y1)
        return torch.cat([y1 - self.F(x2), x2], dim=1)
