"""Residual and plain layer networks of chapter 3: a ResNet as explicit Euler, layer by layer.

Every layer here acts on a state y `(batch, width)`:

- `ResidualLayer`: y_{k+1} = y_k + h σ(K_k y_k + b_k), one explicit Euler step of size h for
  y' = σ(K(t) y + b(t)) (He et al., "Deep Residual Learning", CVPR 2016, with h = 1; Haber &
  Ruthotto, "Stable architectures for deep neural networks", Inverse Problems 2018, §2).
- `PlainLayer`: y_{k+1} = σ(K_k y_k + b_k), the same parameters without the shortcut.
- `AntisymmetricLayer`: K = W - Wᵀ - γI, whose eigenvalues have real part -γ, so the
  continuous dynamics neither blow up nor decay fast (Haber & Ruthotto 2018, §3.2).
- `LayerNet`: an opening layer, `depth` residual (or plain) layers and a linear head; it
  records each layer's update y_{k+1} - y_k, can skip ("delete") layers, and can be made one
  layer deeper without changing its function (`with_identity_layer`).

The reversible (leapfrog) blocks and their memory-saving backward pass are in
`nodelib.models.reversible`; the weight-shared Euler ResNet is `nodelib.models.EulerResNet`.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Collection

import torch
from torch import Tensor, nn

__all__ = ["AntisymmetricLayer", "LayerNet", "PlainLayer", "ResidualLayer"]


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}.")
    return value


class ResidualLayer(nn.Module):
    """y -> y + h σ(K y + b): `(batch, width)` -> `(batch, width)` (one Euler step).

    Args:
        width: the state's dimension.
        h: the step size (He et al. use h = 1; the ODE view h = T / depth).
        activation: the module class of σ (default tanh, as in Haber & Ruthotto).

    Attributes:
        linear: the `nn.Linear(width, width)` holding K and b.

    Raises:
        ValueError: width is not a positive int, or h is not a finite positive number.
    """

    def __init__(self, width: int, *, h: float = 1.0,
                 activation: type[nn.Module] = nn.Tanh) -> None:  # fmt: skip
        super().__init__()
        _positive_int("width", width)
        if not (isinstance(h, int | float) and 0 < float(h) < float("inf")):
            raise ValueError(f"h must be a finite positive number, got {h!r}.")
        self.linear, self.act, self.h = nn.Linear(width, width), activation(), float(h)

    def update(self, y: Tensor) -> Tensor:
        """The increment h σ(K y + b) that the layer adds to y."""
        return self.h * self.act(self.linear(y))

    def forward(self, y: Tensor) -> Tensor:
        return y + self.update(y)


class PlainLayer(nn.Module):
    """y -> σ(K y + b): the layer of a plain network, `(batch, width)` -> `(batch, width)`.

    Args:
        width: the state's dimension.
        activation: the module class of σ.

    Raises:
        ValueError: width is not a positive int.
    """

    def __init__(self, width: int, *, activation: type[nn.Module] = nn.Tanh) -> None:
        super().__init__()
        self.linear, self.act = nn.Linear(_positive_int("width", width), width), activation()

    def forward(self, y: Tensor) -> Tensor:
        return self.act(self.linear(y))


class AntisymmetricLayer(nn.Module):
    """y -> y + h σ((W - Wᵀ - γI) y + b) (Haber & Ruthotto 2018, eq. (3.4)).

    W - Wᵀ is antisymmetric: its eigenvalues are purely imaginary, so the linearised ODE
    y' = (W - Wᵀ - γI) y neither grows nor decays except through the damping γ >= 0.
    Explicit Euler multiplies an eigen-direction by |1 + h(iμ - γ)|, which is > 1 for γ = 0
    (Euler's stability region touches the imaginary axis only at 0). A damping γ > 0 moves
    hλ = h(iμ - γ) into the disc only if it is large enough: (1 - hγ)² + h²μ² <= 1, i.e.
    γ >= (1 - sqrt(1 - h²μ²)) / h (a little more than hμ²/2) for the largest |μ|.

    Args:
        width: the state's dimension.
        h: the step size.
        gamma: the damping γ >= 0.
        activation: the module class of σ.

    Raises:
        ValueError: width not a positive int, h not positive, or gamma negative.
    """

    def __init__(self, width: int, *, h: float = 1.0, gamma: float = 0.0,
                 activation: type[nn.Module] = nn.Tanh) -> None:  # fmt: skip
        super().__init__()
        _positive_int("width", width)
        if not float(h) > 0 or not float(gamma) >= 0:
            raise ValueError(f"need h > 0 and gamma >= 0, got h = {h!r}, gamma = {gamma!r}.")
        self.weight = nn.Parameter(torch.randn(width, width) / width**0.5)
        self.bias = nn.Parameter(torch.zeros(width))
        self.act, self.h, self.gamma = activation(), float(h), float(gamma)

    def matrix(self) -> Tensor:
        """K = W - Wᵀ - γI `(width, width)`."""
        eye = torch.eye(len(self.weight), dtype=self.weight.dtype, device=self.weight.device)
        return self.weight - self.weight.T - self.gamma * eye

    def forward(self, y: Tensor) -> Tensor:
        return y + self.h * self.act(y @ self.matrix().T + self.bias)


class LayerNet(nn.Module):
    """A classifier: x -> σ(A x + a) -> `depth` layers -> linear head (chapter 3).

    Args:
        in_features: input size; inputs `(batch, *)` are flattened, e.g. digits `(B, 1, 8, 8)`.
        n_classes: outputs (logits).
        width: the state's dimension.
        depth: the number of residual (or plain) layers.
        residual: `ResidualLayer`s (y + h σ(K y + b)); False: `PlainLayer`s (σ(K y + b)).
        h: the residual step size; None means 1 (He et al.); must be None for plain layers.
        activation: the module class of σ.
        init: "xavier" (Glorot normal weights with the gain of σ, zero biases: the
            initialisation designed to keep a plain network's signals at a constant scale)
            or "default" (PyTorch's).

    Attributes:
        layers: the `nn.ModuleList` of the depth layers (`blocks` of the chapter).

    Raises:
        ValueError: a size is not a positive int, h given with residual=False, unknown init.
    """

    def __init__(self, in_features: int, n_classes: int, *, width: int, depth: int,
                 residual: bool = True, h: float | None = None,
                 activation: type[nn.Module] = nn.Tanh, init: str = "xavier") -> None:  # fmt: skip
        super().__init__()
        for name, v in [("in_features", in_features), ("n_classes", n_classes),
                        ("width", width), ("depth", depth)]:  # fmt: skip
            _positive_int(name, v)
        if not residual and h is not None:
            raise ValueError("a plain layer has no step size: leave h=None with residual=False.")
        if init not in ("xavier", "default"):
            raise ValueError(f"init must be 'xavier' or 'default', got {init!r}.")
        self.opening, self.act = nn.Linear(in_features, width), activation()
        self.layers = nn.ModuleList(
            ResidualLayer(width, h=1.0 if h is None else h, activation=activation)
            if residual else PlainLayer(width, activation=activation)
            for _ in range(depth)
        )  # fmt: skip
        self.head, self.residual = nn.Linear(width, n_classes), residual
        if init == "xavier":
            gain = nn.init.calculate_gain(activation.__name__.lower()) \
                if activation.__name__.lower() in ("tanh", "relu", "sigmoid") else 1.0  # fmt: skip
            for linear in [self.opening, *(layer.linear for layer in self.layers)]:
                nn.init.xavier_normal_(linear.weight, gain=gain)
                nn.init.zeros_(linear.bias)

    def states(self, x: Tensor, *, skip: Collection[int] = ()) -> list[Tensor]:
        """The states y_0, ..., y_depth, each `(batch, width)`; layers in `skip` are identities."""
        bad = [k for k in skip if not 0 <= k < len(self.layers)]
        if bad:
            raise ValueError(f"skip holds layer indices {bad} outside 0..{len(self.layers) - 1}.")
        ys = [self.act(self.opening(x.flatten(1)))]
        for k, layer in enumerate(self.layers):
            ys.append(ys[-1] if k in skip else layer(ys[-1]))
        return ys

    def forward(self, x: Tensor, *, skip: Collection[int] = ()) -> Tensor:
        """Logits `(batch, n_classes)`; the layers whose index is in `skip` are deleted."""
        return self.head(self.states(x, skip=skip)[-1])

    def update_norms(self, x: Tensor) -> Tensor:
        """The mean over the batch of ||y_{k+1} - y_k||₂ for each layer k: `(depth,)`."""
        ys = self.states(x)
        return torch.stack([(b - a).norm(dim=1).mean() for a, b in itertools.pairwise(ys)])

    def with_identity_layer(self, index: int) -> LayerNet:
        """A copy with one more residual layer, of zero weights, inserted before layer `index`.

        σ(0) = 0 for tanh and ReLU, so the new layer is the identity and the copy computes
        exactly the same function: a deeper residual network can represent a shallower one.

        Raises:
            ValueError: a plain network (σ(0·y + 0) = 0 is not y), σ(0) != 0, or an index
                outside 0..depth.
        """
        if not self.residual:
            raise ValueError("a plain layer with zero weights maps every y to σ(0), not to y.")
        if not 0 <= index <= len(self.layers):
            raise ValueError(f"index must be in 0..{len(self.layers)}, got {index}.")
        new = copy.deepcopy(self)
        layer = copy.deepcopy(new.layers[0])
        if float(layer.act(torch.zeros(1))) != 0.0:
            raise ValueError("σ(0) != 0: a zero-weight layer would add h σ(0) to every state.")
        with torch.no_grad():
            layer.linear.weight.zero_()
            layer.linear.bias.zero_()
        new.layers.insert(index, layer)
        return new
