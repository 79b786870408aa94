"""The image classifiers of Chen et al. 2018, §3 (Table 1): ODE-Net, RK-Net, ResNet and MLP.

The same downsampling stem and head surround one ODE block solved adaptively (`ODENet`),
the same block solved by fixed-step RK4 and differentiated by backprop (`RKNet`), or L
residual blocks with their own weights (`ResNet`; He et al., "Deep Residual Learning",
CVPR 2016). `ConvODEField` is the convolutional vector field of the ODE block, with the
time concatenated as a channel. `MLP` is the table's baseline, a network with one hidden
layer of 300 units (LeCun, Bottou, Bengio & Haffner, "Gradient-based learning applied to
document recognition", Proc. IEEE 1998).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from nodelib.models.blocks import ODEBlock, ODEFunc

__all__ = ["MLP", "ConvODEField", "ODENet", "RKNet", "ResNet"]


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(32, channels), channels)


class _ConcatConv(nn.Module):
    """A 3x3 convolution that sees the time as one more (constant) input channel."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in + 1, c_out, 3, padding=1)

    def forward(self, t: Tensor, x: Tensor) -> Tensor:
        tt = t.expand(x.shape[0], 1, *x.shape[2:])  # (batch, 1, H, W)
        return self.conv(torch.cat([tt, x], dim=1))


class ConvODEField(nn.Module):
    """The ODE-Net's vector field (Chen et al. 2018, §3): norm, ReLU, conv, norm, ReLU, conv, norm.

    Both convolutions are 3x3 with the time concatenated as a channel; GroupNorm with
    min(32, width) groups. Input and output `(batch, width, H, W)`.
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm1, self.conv1 = _norm(width), _ConcatConv(width, width)
        self.norm2, self.conv2 = _norm(width), _ConcatConv(width, width)
        self.norm3 = _norm(width)

    def forward(self, t: Tensor, x: Tensor) -> Tensor:
        out = self.conv1(t, torch.relu(self.norm1(x)))
        out = self.conv2(t, torch.relu(self.norm2(out)))
        return self.norm3(out)


class _ResidualBlock(nn.Module):
    """x + F(x) with F = (norm, ReLU, conv3x3) twice: the paper's ResNet baseline block."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.f = nn.Sequential(
            _norm(width), nn.ReLU(), nn.Conv2d(width, width, 3, padding=1),
            _norm(width), nn.ReLU(), nn.Conv2d(width, width, 3, padding=1),
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        return x + self.f(x)


def _stem(in_channels: int, width: int, image_size: int) -> nn.Sequential:
    """Downsampling: 28x28 -> 6x6 as in the paper's MNIST net; small images: one halving."""
    if image_size >= 16:
        return nn.Sequential(
            nn.Conv2d(in_channels, width, 3), _norm(width), nn.ReLU(),
            nn.Conv2d(width, width, 4, 2, 1), _norm(width), nn.ReLU(),
            nn.Conv2d(width, width, 4, 2, 1),
        )  # fmt: skip
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, padding=1), _norm(width), nn.ReLU(),
        nn.Conv2d(width, width, 4, 2, 1),
    )  # fmt: skip


class _ImageClassifier(nn.Module):
    """stem -> feature -> norm, ReLU, global average pool, linear: `(B, C, H, W)` -> `(B, K)`."""

    def __init__(self, in_channels: int, n_classes: int, width: int, image_size: int) -> None:
        super().__init__()
        for name, v in [("in_channels", in_channels), ("n_classes", n_classes),
                        ("width", width), ("image_size", image_size)]:  # fmt: skip
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}.")
        if image_size < 4:
            raise ValueError(f"image_size must be at least 4, got {image_size}.")
        self.stem = _stem(in_channels, width, image_size)
        self.feature: nn.Module = nn.Identity()
        self.head = nn.Sequential(
            _norm(width), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(width, n_classes),
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        """Class logits: x `(batch, in_channels, H, W)` -> `(batch, n_classes)`."""
        return self.head(self.feature(self.stem(x)))


class ODENet(_ImageClassifier):
    """The ODE-Net image classifier (Chen et al. 2018, §3): stem, one `ODEBlock`, head.

    Args:
        in_channels, n_classes, width: image channels, classes, feature channels.
        image_size: >= 16 selects the paper's MNIST stem (conv3x3, two stride-2 convs:
            28 -> 6); smaller images (8x8 digits) get conv3x3 and one stride-2 conv (8 -> 4).
        method, tol, adjoint, t1: the solver, rtol = atol = tol, adjoint or backprop, end time.

    Raises:
        ValueError: a size is not a positive int.
    """

    def __init__(
        self,
        in_channels: int = 1,
        n_classes: int = 10,
        width: int = 64,
        *,
        image_size: int = 28,
        method: str = "dopri5",
        tol: float = 1e-3,
        adjoint: bool = True,
        t1: float = 1.0,
    ) -> None:
        super().__init__(in_channels, n_classes, width, image_size)
        func = ODEFunc(ConvODEField(width))
        self.feature = ODEBlock(func, t1=t1, method=method, rtol=tol, atol=tol, adjoint=adjoint)


class RKNet(_ImageClassifier):
    """ODE-Net with `n_steps` fixed RK4 steps, trained by backprop (Chen et al. 2018, Table 1).

    Args:
        in_channels, n_classes, width, image_size: as for `ODENet`.
        n_steps: RK4 steps over [0, t1] (4 evaluations each).
        t1: end time.
    """

    def __init__(
        self,
        in_channels: int = 1,
        n_classes: int = 10,
        width: int = 64,
        *,
        image_size: int = 28,
        n_steps: int = 4,
        t1: float = 1.0,
    ) -> None:
        super().__init__(in_channels, n_classes, width, image_size)
        if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
            raise ValueError(f"n_steps must be a positive int, got {n_steps!r}.")
        func = ODEFunc(ConvODEField(width))
        opts = {"step_size": t1 / n_steps}
        self.feature = ODEBlock(func, t1=t1, method="rk4", options=opts, adjoint=False)


class ResNet(_ImageClassifier):
    """The paper's ResNet baseline: stem, `n_blocks` residual blocks with their own weights, head.

    Args:
        in_channels, n_classes, width, image_size: as for `ODENet`.
        n_blocks: number of residual blocks L (the paper uses 6).
    """

    def __init__(
        self,
        in_channels: int = 1,
        n_classes: int = 10,
        width: int = 64,
        *,
        image_size: int = 28,
        n_blocks: int = 6,
    ) -> None:
        super().__init__(in_channels, n_classes, width, image_size)
        if isinstance(n_blocks, bool) or not isinstance(n_blocks, int) or n_blocks < 0:
            raise ValueError(f"n_blocks must be a non-negative int, got {n_blocks!r}.")
        self.feature = nn.Sequential(*(_ResidualBlock(width) for _ in range(n_blocks)))


class MLP(nn.Module):
    """Table 1's baseline (Chen et al. 2018): flatten, one hidden layer with ReLU, linear.

    Args:
        in_features: pixels per image (64 for 8x8 digits, 784 for MNIST).
        n_classes: classes.
        hidden: hidden units (the table's MLP has 300: LeCun et al. 1998).

    Raises:
        ValueError: a size is not a positive int.
    """

    def __init__(self, in_features: int = 784, n_classes: int = 10, *, hidden: int = 300) -> None:
        super().__init__()
        for name, v in [("in_features", in_features), ("n_classes", n_classes),
                        ("hidden", hidden)]:  # fmt: skip
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}.")
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, n_classes)
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        """Class logits: x `(batch, *image)` with `in_features` values -> `(batch, n_classes)`."""
        return self.net(x)
