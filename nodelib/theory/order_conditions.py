"""Order conditions of Runge–Kutta methods, from rooted trees (HNW I, Sect. II.2).

A method with matrix A has order p for weights w when ``w^T Psi(t) = 1/gamma(t)`` for every
rooted tree t with at most p nodes. The trees are generated recursively here, so no condition
is typed in by hand; ``order_of_weights`` checks them for b, for embedded weights b_hat, and
for the weights b(theta) of a continuous extension (Butcher, "Numerical Methods for ODEs", ch. 3).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from math import prod

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["elementary_weight", "order_of_weights", "rooted_trees", "tree_density", "tree_order"]

COEFFICIENT_TOL = 1e-12  # relative tolerance of every check (coefficients are float64)
_MAX_TREE_ORDER = 10  # 1842 trees up to order 10; beyond that the check gets slow

Tree = tuple  # a rooted tree: the sorted tuple of its root's subtrees; () is the single node


@cache
def rooted_trees(order: int) -> tuple[Tree, ...]:
    """All rooted trees with ``order`` nodes (1, 1, 2, 4, 9, 20, ... of them; HNW I, Sect. II.2).

    Trees of order n are grown from those of order n-1 by attaching one leaf anywhere.

    Args:
        order: number of nodes, 1..10.

    Returns:
        The trees, each a nested tuple (see ``Tree``), in a fixed order.

    Raises:
        ValueError: if ``order`` is not in 1..10.
    """
    if not 1 <= order <= _MAX_TREE_ORDER:
        raise ValueError(f"order must be an integer in 1..{_MAX_TREE_ORDER}, got {order!r}")
    if order == 1:
        return ((),)
    return tuple(sorted({g for t in rooted_trees(order - 1) for g in _grow(t)}))


def _grow(t: Tree) -> Iterator[Tree]:
    """Yield every (canonical) tree obtained from ``t`` by attaching one new leaf."""
    yield tuple(sorted((*t, ())))
    for i, child in enumerate(t):
        for g in _grow(child):
            yield tuple(sorted((*t[:i], g, *t[i + 1 :])))


def tree_order(t: Tree) -> int:
    """Number of nodes |t| of a rooted tree."""
    return 1 + sum(tree_order(u) for u in t)


def tree_density(t: Tree) -> int:
    """Density gamma(t) = |t| * prod gamma(subtrees) (HNW I, Sect. II.2)."""
    return tree_order(t) * prod(tree_density(u) for u in t)


def _stage_weights(t: Tree, A: np.ndarray, memo: dict) -> np.ndarray:
    """Psi(t) (s,): Psi(t)_i = prod over subtrees u of (A Psi(u))_i; Psi(single node) = 1."""
    if t not in memo:
        memo[t] = np.prod([A @ _stage_weights(u, A, memo) for u in t] or [np.ones(len(A))], 0)
    return memo[t]


def elementary_weight(t: Tree, a: ArrayLike, weights: ArrayLike) -> float:
    """Elementary weight Phi(t) = sum_i w_i Psi(t)_i of a tree (HNW I, Sect. II.2).

    Args:
        t: a tree from :func:`rooted_trees`.
        a: the (s, s) Runge–Kutta matrix.
        weights: (s,) quadrature weights, for example b.
    """
    return float(np.asarray(weights, float) @ _stage_weights(t, np.asarray(a, float), {}))


def order_of_weights(
    a: ArrayLike, weights: ArrayLike, *, max_order: int = 5, theta: float = 1.0
) -> int:
    """Highest p <= max_order such that ``weights`` satisfy all order conditions up to order p.

    With ``theta != 1`` these are the conditions of a continuous extension evaluated at theta,
    Phi(t) = theta^|t| / gamma(t) (HNW I, Sect. II.6), so that the embedded weights b_hat or the
    dense weights b(theta) can be checked like b.

    Args:
        a: (s, s) Runge–Kutta matrix (row sums are taken as the nodes c).
        weights: (s,) weights.
        max_order: highest order tested, at most 10.
        theta: fraction of the step where the weights are meant to be accurate.

    Returns:
        p in 0..max_order (0: even sum(weights) = theta fails).
    """
    A, w, memo = np.asarray(a, float), np.asarray(weights, float), {}
    for p in range(1, max_order + 1):
        for t in rooted_trees(p):
            psi = _stage_weights(t, A, memo)
            target = theta**p / tree_density(t)
            scale = float(np.abs(w) @ np.abs(psi)) + abs(target)
            if abs(float(w @ psi) - target) > COEFFICIENT_TOL * max(scale, 1e-3):
                return p - 1
    return max_order
