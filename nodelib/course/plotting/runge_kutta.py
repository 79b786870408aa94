"""The figures of chapter 2: Runge–Kutta and multistep methods, stability.

Rooted trees (the order conditions), errors against step size or cost (convergence,
work–precision, Richardson extrapolation, diverging multistep methods), an adaptive solver's
steps, roots of ρ against the unit circle, panels of stability regions, costs as bars, and the
stability explorer (stiffness:
`nodelib.course.plotting.stiffness`). Each function draws numbers the
chapter computed (arrays or tensors; a ``Series`` maps a legend label to a 1-D array) and
solves nothing itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from nodelib.course.plotting._common import Limits, _axes, _np
from nodelib.course.plotting.regions import plot_stability_region

__all__ = [
    "RegionPanel",
    "plot_adaptive_steps",
    "plot_characteristic_roots",
    "plot_counts",
    "plot_errors",
    "plot_region_panels",
    "plot_rooted_trees",
    "plot_stability_explorer",
]

Series = Mapping[str, Any]
ComplexFunction = Callable[[np.ndarray], np.ndarray]


def plot_counts(
    counts: Mapping[str, float],
    *,
    ax: Axes | None = None,
    xlabel: str = "",
    ylabel: str = "count",
    log: bool = True,
) -> Axes:
    """One bar per entry, in order, with its value written on top.

    Args:
        counts: bar label -> value, e.g. method -> function evaluations.
        ax: see the package docstring.
        xlabel, ylabel: axis labels.
        log: logarithmic y-axis, for values spanning orders of magnitude.

    Returns:
        The Axes, with one bar per entry.
    """
    ax = _axes(ax)
    values = [float(v) for v in counts.values()]
    bars = ax.bar([str(k) for k in counts], values)
    ax.bar_label(bars, labels=[f"{v:.6g}" for v in values], fontsize=8)
    ax.set(xlabel=xlabel, ylabel=ylabel, yscale="log" if log else "linear")
    return ax


def _place(tree: tuple, left: float, depth: int, nodes: list, edges: list) -> tuple[float, float]:
    """Lay out `tree`'s leaves from x = `left` on, parents above the mean of their children.

    Appends (x, depth) to `nodes` (the root first) and segments to `edges`; returns the
    root's x and the next free x.
    """
    if not tree:
        nodes.append((left, depth))
        return left, left + 1.0
    index = len(nodes)
    nodes.append((0.0, depth))  # the root's place, known after its subtrees'
    xs = []
    for subtree in tree:
        x, left = _place(subtree, left, depth + 1, nodes, edges)
        xs.append(x)
    root = sum(xs) / len(xs)
    nodes[index] = (root, depth)
    edges.extend(((root, depth), (x, depth + 1)) for x in xs)
    return root, left


def plot_rooted_trees(trees: Sequence[tuple], labels: Sequence[str]) -> Figure:
    """Rooted trees side by side, root at the bottom (a square), each with a label below.

    Args:
        trees: trees as `nodelib.theory.order_conditions.rooted_trees` returns them (a tree
            is the tuple of its root's subtrees; ``()`` is the single node).
        labels: one text per tree (Matplotlib mathtext allowed), shown under it.

    Returns:
        The Figure, one Axes per tree.

    Raises:
        ValueError: as many labels as trees are needed.
    """
    if len(labels) != len(trees):
        raise ValueError(f"{len(labels)} labels for {len(trees)} trees: give one per tree.")
    fig, axes = plt.subplots(1, len(trees), figsize=(2.6 * len(trees), 3.0), squeeze=False)
    for ax, tree, label in zip(axes.flat, trees, labels, strict=True):
        nodes: list[tuple[float, float]] = []
        edges: list[tuple[tuple[float, float], tuple[float, float]]] = []
        _place(tree, 0.0, 0, nodes, edges)
        for (x1, y1), (x2, y2) in edges:
            ax.plot([x1, x2], [y1, y2], "k-", lw=1.5, zorder=1)
        xs, ys = np.array(nodes).T
        ax.scatter(xs[1:], ys[1:], s=90, color="C0", edgecolor="k", zorder=2)
        ax.scatter(xs[:1], ys[:1], s=110, marker="s", color="C1", edgecolor="k", zorder=2)
        ax.set(xlim=(xs.min() - 1.0, xs.max() + 1.0), ylim=(-0.7, 2.7))
        ax.axis("off")
        ax.text(xs[0], -0.6, label, ha="center", va="top", fontsize=10)
    fig.tight_layout()
    return fig


def plot_adaptive_steps(
    path: Any,
    marks: Any,
    t: Any,
    h: Any,
    accepted: Any,
    *,
    bodies: Mapping[str, tuple[float, float]] | None = None,
    coords: tuple[str, str] = ("$y_0$", "$y_1$"),
    title: str = "",
) -> Figure:
    """A planar orbit with the start of each step (left); the steps tried against t (right).

    Args:
        path: dense points of the orbit, shape (m, >=2); columns 0 and 1 are drawn.
        marks: the solution at the start of each accepted step, shape (k, >=2).
        t, h: start and size of every step tried, shape (n,).
        accepted: whether each step tried was accepted, bool, shape (n,).
        bodies: name -> (x, y) of fixed points drawn as black dots with their name.
        coords: the labels of the two plotted coordinates.
        title: the left panel's title.

    Returns:
        The Figure.
    """
    path, marks, t, h = _np(path), _np(marks), _np(t), _np(h)
    ok = _np(accepted).astype(bool)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.plot(path[:, 0], path[:, 1], lw=1, label="dense output")
    ax1.plot(marks[:, 0], marks[:, 1], ".", ms=4, label="start of each accepted step")
    for name, xy in (bodies or {}).items():
        ax1.plot(*xy, "ko")
        ax1.annotate(name, xy, xytext=(0, 10), textcoords="offset points", ha="center")
    ax1.set(xlabel=coords[0], ylabel=coords[1], title=title)
    ax1.legend(fontsize=8, loc="lower left")
    ax2.semilogy(t[ok], h[ok], ".-", lw=0.8, label="accepted step")
    ax2.semilogy(t[~ok], h[~ok], "rx", label="rejected step")
    ax2.set(xlabel="time $t$", ylabel="step size $h$", title="The controller at work")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_errors(
    x: Any | Series,
    errors: Series,
    *,
    ax: Axes | None = None,
    xlabel: str = "step size $h$",
    ylabel: str = "error",
    title: str = "",
    decreasing: bool = False,
    threshold: tuple[float, str] | None = None,
) -> Axes:
    """Errors against step sizes or costs, log–log, one line (marker o, s, ^, ...) per label.

    Args:
        x: the abscissae, shape (n,), shared by all lines and then the x ticks, or label ->
            abscissae of its line (e.g. the NFE of each run).
        errors: label -> errors, shape (n,).
        ax: see the package docstring.
        xlabel, ylabel, title: the labels and the title.
        decreasing: invert the x-axis (step sizes shrinking to the right), and say so in
            the x label.
        threshold: (error, legend label) of a dotted horizontal line, e.g. the error above
            which a solution is lost.

    Returns:
        The Axes, with a legend.
    """
    ax = _axes(ax)
    for i, (label, err) in enumerate(errors.items()):
        xs = x[label] if isinstance(x, Mapping) else x
        ax.loglog(_np(xs), _np(err), f"{'os^dvp<>'[i % 8]}-", label=label)
    if threshold is not None:
        ax.axhline(threshold[0], color="k", ls=":", lw=1, label=threshold[1])
    if not isinstance(x, Mapping):  # label the shared abscissae, not crowded minor ticks
        ax.set_xticks(_np(x), [f"{v:.3g}" for v in _np(x)])
        ax.xaxis.set_minor_formatter(NullFormatter())
    if decreasing:
        ax.invert_xaxis()
        xlabel = f"{xlabel} (decreasing to the right)"
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(fontsize=8)
    return ax


def plot_characteristic_roots(
    roots: Series, *, zoom: str | None = None, tol: float = 1e-9, ncols: int = 4
) -> Figure:
    """The roots of characteristic polynomials against the unit circle, one panel each.

    Roots outside the closed unit disc are red. With `zoom`, a last panel magnifies that
    entry's largest root, where a modulus just above 1 becomes visible.

    Args:
        roots: name -> complex roots, shape (k,).
        zoom: a key of `roots`, or None.
        tol: a root counts as outside when its modulus exceeds 1 + tol.
        ncols: panels per row.

    Returns:
        The Figure; unused panels are hidden.
    """
    n = len(roots) + (zoom is not None)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3 * ncols, 3 * nrows), squeeze=False)
    circle = np.exp(1j * np.linspace(0, 2 * np.pi, 2001))
    panels = [(name, _np(r).astype(complex)) for name, r in roots.items()]
    if zoom is not None:
        panels.append((f"{zoom} magnified", _np(roots[zoom]).astype(complex)))
    for i, (ax, (name, r)) in enumerate(zip(axes.flat, panels, strict=False)):
        out = np.abs(r) > 1 + tol
        ax.plot(circle.real, circle.imag, "k-", lw=0.8)
        ax.plot(r[~out].real, r[~out].imag, "o", color="C0", label="$|\\zeta| \\leq 1$")
        ax.plot(r[out].real, r[out].imag, "o", color="C3", label="$|\\zeta| > 1$")
        ax.set(aspect="equal", title=f"{name}: max $|\\zeta|$ = {np.abs(r).max():.4f}")
        if zoom is not None and i == len(panels) - 1:  # a window of ±0.08 around the largest
            big = r[np.argmax(np.abs(r))]
            ax.set(xlim=(big.real - 0.08, big.real + 0.08), ylim=(big.imag - 0.08, big.imag + 0.08))
            ax.set_title(name)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


class RegionPanel(NamedTuple):
    """One panel of :func:`plot_region_panels`.

    Fields: the title; xlim, ylim; regions (legend label -> a function of complex z that is
    <= 1 on the region, e.g. ``nodelib.theory.stability.stability_indicator(name)``); loci (complex
    curves, e.g. boundary loci, each drawn in the colour of the region at the same position;
    may be None); locus_style (their line style); alpha (the fill opacity).
    """

    title: str
    xlim: Limits
    ylim: Limits
    regions: Mapping[str, ComplexFunction]
    loci: Sequence[Any] | None = None
    locus_style: str = ":"
    alpha: float = 0.35


def plot_region_panels(panels: Sequence[RegionPanel], *, n: int = 240) -> Figure:
    """Stability regions side by side, several per panel, with optional boundary loci.

    Args:
        panels: one :class:`RegionPanel` per panel.
        n: grid points per axis of each region.

    Returns:
        The Figure, one Axes per panel, each with a legend.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(4.7 * len(panels), 4.6), squeeze=False)
    for ax, panel in zip(axes.flat, panels, strict=True):
        for i, (label, region) in enumerate(panel.regions.items()):
            plot_stability_region(
                region, xlim=panel.xlim, ylim=panel.ylim, n=n, ax=ax, color=f"C{i}",
                alpha=panel.alpha, label=label,
            )  # fmt: skip
        for i, z in enumerate(panel.loci or ()):
            z = _np(z)
            ax.plot(z.real, z.imag, color=f"C{i}", lw=0.8, ls=panel.locus_style)
        ax.set(xlim=panel.xlim, ylim=panel.ylim, title=panel.title)
        ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def plot_stability_explorer(
    region: ComplexFunction, z: complex, t: Any, modulus: Any, *, method: str, growth: float
) -> Figure:
    """A stability region with the point z (left); |y_n| of y' = λy, h = 1, against e^{t Re λ}.

    Args:
        region: a function of complex z that is <= 1 on the method's stability region.
        z: the point z = hλ.
        t: the times, shape (n,).
        modulus: |y_n| of the numerical solution, shape (n,).
        method: the method's name, for the labels.
        growth: the growth factor per step at z, for the title.

    Returns:
        The Figure.
    """
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    plot_stability_region(region, xlim=(-6, 3), ylim=(-4, 4), n=250, ax=ax1, label=method)
    ax1.plot(z.real, z.imag, "r*", ms=14, label=f"$z = {z.real:.2f} {z.imag:+.2f}i$")
    ax1.legend(fontsize=8, loc="lower left")
    ax1.set_title(f"{method}: growth factor per step {growth:.3f}")
    t = _np(t)
    ax2.semilogy(t, _np(modulus), "o-", ms=3, label=f"{method}, $h = 1$")
    ax2.semilogy(t, np.exp(z.real * t), "k--", lw=1, label=r"exact $e^{t\,\mathrm{Re}\,\lambda}$")
    ax2.set(xlabel="step $n$ (time $t = n$)", ylabel="$|y_n|$", ylim=(1e-12, 1e12))
    ax2.set_title("Numerical solution of $y' = \\lambda y$")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig
