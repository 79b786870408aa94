"""1-D and 2-D classification sets and scikit-learn's digits (the spirals are in `spirals`)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from nodelib.data.spirals import SpiralData, make_spirals  # noqa: F401 (their former home)

# ---------------------------------------------------------------------------------------------
# Classification sets


def make_circles(n: int, *, seed: int = 0, dim: int = 2) -> tuple[Tensor, Tensor]:
    """The nested sets g(x) of Dupont et al. (2019), "Augmented Neural ODEs", Sect. 4.

    Label 0: uniform on the ball |x| < 0.5; label 1: uniform on the shell 1 < |x| < 1.5
    around it. In 2-D (the default) these are a disc and an annulus: a Neural ODE in 2-D is a
    homeomorphism, so it cannot map them to linearly separable sets; an augmented one can.
    In 1-D they are the interval (-0.5, 0.5) between the two intervals 1 < |x| < 1.5: a 1-D
    flow is increasing, so after it a linear classifier is a threshold on x itself and
    misclassifies about a quarter of the points (see `best_threshold_accuracy`).
    n // 2 points get label 0, the rest label 1, in random order.

    Args:
        n: number of points (>= 2).
        seed: seed of the random draws.
        dim: 2 (disc and annulus) or 1 (three intervals).

    Returns:
        x of shape (n, dim) float32 and labels of shape (n,) long in {0, 1}.

    Raises:
        ValueError: n < 2, or dim not 1 or 2.
    """
    if n < 2:
        raise ValueError(f"n must be >= 2 (one point per class at least), got {n}")
    if dim not in (1, 2):
        raise ValueError(f"dim must be 1 or 2, got {dim!r}")
    g = torch.Generator().manual_seed(seed)
    labels = torch.zeros(n, dtype=torch.long)
    labels[n // 2 :] = 1
    labels = labels[torch.randperm(n, generator=g)]
    u = torch.rand(n, generator=g, dtype=torch.float64)
    angle = 2 * math.pi * torch.rand(n, generator=g, dtype=torch.float64)
    if dim == 1:  # uniform in length on each interval; the side from the angle's half-plane
        r = torch.where(labels == 0, 0.5 * u, 1.0 + 0.5 * u)
        return (torch.where(angle < math.pi, r, -r)[:, None]).float(), labels
    # Uniform in area: r^2 uniform between the squared radii.
    r_in = 0.5 * torch.sqrt(u)
    r_out = torch.sqrt(1.0 + u * (1.5**2 - 1.0))
    r = torch.where(labels == 0, r_in, r_out)
    x = r[:, None] * torch.stack([torch.cos(angle), torch.sin(angle)], dim=-1)
    return x.float(), labels


def best_threshold_accuracy(x: Tensor, labels: Tensor) -> float:
    """The highest accuracy of a threshold classifier on 1-D data with two classes.

    A threshold classifier predicts one class for x <= c and the other for x > c (either
    orientation, any c, including "all one class"). Any increasing map x -> phi(x) followed
    by a linear (affine) classifier is one, so this bounds the accuracy of every plain
    Neural ODE on R with a linear head: its flow map is increasing (Dupont et al. 2019, §3).

    Args:
        x: the points, shape (n,) or (n, 1).
        labels: the classes, shape (n,), values in {0, 1}.

    Returns:
        The best accuracy, a float in [0.5, 1].

    Raises:
        ValueError: x is not 1-D data, the lengths differ, or a label is not 0 or 1.
    """
    if x.dim() == 2 and x.shape[1] == 1:
        x = x[:, 0]
    if x.dim() != 1 or labels.shape != x.shape or len(x) == 0:
        raise ValueError(
            f"need x (n,) or (n, 1) and labels (n,), got {tuple(x.shape)}, {tuple(labels.shape)}"
        )
    if not bool(((labels == 0) | (labels == 1)).all()):
        raise ValueError("labels must be 0 or 1")
    order = torch.argsort(x, stable=True)
    ones = (labels[order] == 1).to(torch.float64)
    # Cut after k sorted points (k = 0..n): left predicted 0 and right 1, or the reverse.
    # Ties in x are not split by any threshold, so only cuts between distinct values count.
    xs = x[order]
    cuts = torch.cat([torch.tensor([True]), xs[1:] > xs[:-1], torch.tensor([True])])
    ones_left = torch.cat([ones.new_zeros(1), ones.cumsum(0)])
    k = torch.arange(len(x) + 1, dtype=torch.float64)
    correct = (k - ones_left) + (ones.sum() - ones_left)  # zeros on the left, ones on the right
    best = torch.maximum(correct, len(x) - correct)[cuts].max()
    return float(best) / len(x)


def make_two_spirals(n: int, *, noise: float = 0.0, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Two interleaved spirals, a classic 2-D classification task.

    Label 0: x = (theta cos theta, theta sin theta) / (3 pi) for theta in [pi/2, 3 pi]
    (uniform along theta); label 1: -x. n // 2 points get label 0, in random order.

    Args:
        n: number of points (>= 2).
        noise: standard deviation of Gaussian noise added to x (>= 0).
        seed: seed of the random draws.

    Returns:
        x of shape (n, 2) float32 and labels of shape (n,) long in {0, 1}.

    Raises:
        ValueError: n < 2 or noise < 0.
    """
    if n < 2 or noise < 0:
        raise ValueError(f"need n >= 2 and noise >= 0, got n={n}, noise={noise}")
    g = torch.Generator().manual_seed(seed)
    labels = torch.zeros(n, dtype=torch.long)
    labels[n // 2 :] = 1
    labels = labels[torch.randperm(n, generator=g)]
    theta = math.pi * (0.5 + 2.5 * torch.rand(n, generator=g, dtype=torch.float64))
    x = theta[:, None] * torch.stack([torch.cos(theta), torch.sin(theta)], dim=-1) / (3 * math.pi)
    x = torch.where((labels == 1)[:, None], -x, x)
    x = x + noise * torch.randn(x.shape, generator=g, dtype=torch.float64)
    return x.float(), labels


# ---------------------------------------------------------------------------------------------
# Images


def load_digits(
    *, test_fraction: float = 0.25, seed: int = 0
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """scikit-learn's 8x8 handwritten digits (1797 images, shipped with it: no download).

    The split is stratified: of each class, round(test_fraction * count) images, chosen by the
    seed, go to the test set. Pixels (0..16) are scaled to [0, 1]. Both sets are shuffled.

    Args:
        test_fraction: share of each class held out, in (0, 1).
        seed: seed of the split.

    Returns:
        x_train (N, 1, 8, 8) float32, y_train (N,) long, x_test (M, 1, 8, 8), y_test (M,).

    Raises:
        ValueError: test_fraction outside (0, 1).
        ImportError: scikit-learn is not installed.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError as err:  # scikit-learn is a course dependency, not a core one
        raise ImportError(
            'load_digits needs scikit-learn: pip install "nodelib[course]" '
            "(or pip install scikit-learn)"
        ) from err
    images, target = _sk_load_digits(return_X_y=True)
    x = torch.as_tensor(images, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0
    y = torch.as_tensor(target, dtype=torch.long)
    g = torch.Generator().manual_seed(seed)
    test_idx = []
    for c in range(10):
        members = (y == c).nonzero().squeeze(1)
        members = members[torch.randperm(len(members), generator=g)]
        test_idx.append(members[: round(test_fraction * len(members))])
    is_test = torch.zeros(len(y), dtype=torch.bool)
    is_test[torch.cat(test_idx)] = True
    train = is_test.logical_not().nonzero().squeeze(1)
    test = is_test.nonzero().squeeze(1)
    train = train[torch.randperm(len(train), generator=g)]
    test = test[torch.randperm(len(test), generator=g)]
    return x[train], y[train], x[test], y[test]
