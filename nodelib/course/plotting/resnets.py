"""The figures of chapter 3: ResNets as discretised ODEs.

Each function takes numbers the chapter computed and draws them. Results of the three kinds
of network (plain, residual with h = 1, residual with h = T/N) come as mappings from a kind
to an array over seeds, with ``labels`` mapping every kind to its legend text; a kind's
colour is ``C{i}`` for its position ``i`` in ``labels``, the same in every figure. Arrays
may be tensors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from nodelib.course.plotting._common import _axes, _np
from nodelib.course.plotting.curves import plot_spread
from nodelib.course.plotting.regions import plot_stability_region

__all__ = [
    "plot_deletion_effect",
    "plot_depth_study",
    "plot_forward_stability",
    "plot_gradient_norms",
    "plot_layer_deletion",
    "plot_linear_euler",
    "plot_saved_memory",
    "plot_shared_weight_convergence",
    "plot_training_losses",
]


SINGLE = (6, 4)  # the chapter's one-panel figures, a little smaller than matplotlib's default


def _by_kind(
    ax: Axes,
    x: Any,
    values: Mapping[str, Any],
    labels: Mapping[str, str],
    *,
    seed_dim: int,
    **kwargs: Any,
) -> Axes:
    # One mean line with its min-max band per kind, coloured by the kind's place in `labels`.
    for kind, v in values.items():
        plot_spread(ax, x, v, seed_dim=seed_dim, color=f"C{list(labels).index(kind)}",
                    label=labels[kind], **kwargs)  # fmt: skip
    ax.legend()
    return ax


def plot_gradient_norms(
    grad_norms: Mapping[str, Any], labels: Mapping[str, str], *, ax: Axes | None = None
) -> Axes:
    """The gradient norm of every layer at initialisation, mean and range over the seeds.

    Args:
        grad_norms: per kind, the norms ||dL/dK_k||, shape (seeds, depth).
        labels: the legend text of every kind.
        ax: the Axes to draw into (a new figure when None).

    Returns:
        The Axes: one line per kind over layers 1..depth, logarithmic y-axis.
    """
    seeds, depth = _np(next(iter(grad_norms.values()))).shape
    ax = _axes(ax, (6, 3.8))
    _by_kind(ax, np.arange(1, depth + 1), grad_norms, labels, seed_dim=0, marker="o", ms=3)
    ax.set_yscale("log")
    title = f"Gradients at initialisation, depth {depth} (mean and range over {seeds} seeds)"
    ax.set(xlabel="layer $k$", ylabel=r"$\Vert \partial L / \partial K_k \Vert$", title=title)
    return ax


def plot_training_losses(
    losses: Mapping[str, Any],
    labels: Mapping[str, str],
    *,
    depth: int | None = None,
    ax: Axes | None = None,
) -> Axes:
    """The training loss after every epoch, mean and range over the seeds, per kind.

    Args:
        losses: per kind, the mean training loss of every epoch, shape (epochs, seeds).
        labels: the legend text of every kind.
        depth: the networks' depth, for the title.
        ax: the Axes to draw into (a new figure when None).

    Returns:
        The Axes: one line per kind over epochs 1..epochs, logarithmic y-axis.
    """
    epochs, seeds = _np(next(iter(losses.values()))).shape
    ax = _axes(ax, SINGLE)
    _by_kind(ax, np.arange(1, epochs + 1), losses, labels, seed_dim=-1, marker="o", ms=3)
    ax.set_yscale("log")
    where = "" if depth is None else f" at depth {depth}"
    ax.set(
        xlabel="epoch",
        ylabel="training loss (cross-entropy)",
        title=f"Training{where} (mean and range over {seeds} seeds)",
    )
    return ax


def plot_depth_study(
    depths: Sequence[int],
    accuracy: Mapping[str, Any],
    loss: Mapping[str, Any],
    labels: Mapping[str, str],
    *,
    test_loss: Mapping[str, Any] | None = None,
) -> Figure:
    """Test accuracy (left) and the losses (right) against depth, per kind.

    Args:
        depths: the trained depths, shape (n,).
        accuracy: per kind, test accuracies in percent, shape (n, seeds).
        loss: per kind, final training losses, shape (n, seeds): solid lines.
        labels: the legend text of every kind.
        test_loss: per kind, the test losses, shape (n, seeds): dashed lines in the kind's
            colour, so that the gap between a pair of lines is the generalisation gap.

    Returns:
        The Figure, with logarithmic depth axes (base 2) and a logarithmic loss axis.
    """
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    _by_kind(ax1, depths, accuracy, labels, seed_dim=-1, marker="o")
    _by_kind(ax2, depths, loss, labels, seed_dim=-1, marker="o")
    title = "Training loss as depth grows"
    if test_loss is not None:
        for kind, v in test_loss.items():
            plot_spread(ax2, depths, v, seed_dim=-1, color=f"C{list(labels).index(kind)}",
                        linestyle="--", marker="s", ms=4)  # fmt: skip
        title = "Training (solid) and test (dashed) loss"
    for ax in (ax1, ax2):
        ax.set_xscale("log", base=2)
    ax2.set_yscale("log")
    ax1.set(xlabel="depth $N$", ylabel="test accuracy (%)", title="Accuracy as depth grows")
    ax2.set(xlabel="depth $N$", ylabel="final loss (cross-entropy)", title=title)
    fig.tight_layout()
    return fig


def plot_shared_weight_convergence(
    steps: Sequence[int],
    errors: Any,
    accuracy: Any,
    exact_accuracy: Sequence[float],
    *,
    seeds: Sequence[int],
    slopes: Sequence[float],
    n_train: int,
) -> Figure:
    """A weight-shared Euler ResNet run with N steps: its error (left), its accuracy (right).

    Args:
        steps: the numbers of steps N, shape (n,).
        errors: max ||y_N - y(T)|| per seed and N, shape (seeds, n).
        accuracy: test accuracy (%) per seed and N, shape (seeds, n).
        exact_accuracy: the exact flow's test accuracy per seed, shape (seeds,).
        seeds: the seeds, for the legend.
        slopes: the fitted order of each seed, for the legend.
        n_train: the N the networks were trained with (a grey vertical line).

    Returns:
        The Figure: one line per seed in each panel, a dotted slope-1 line through the largest
        error at the largest N (left), the exact flow's accuracy dotted (right).
    """
    errors, accuracy, steps_ = _np(errors), _np(accuracy), _np(steps)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for i, seed in enumerate(seeds):
        ax1.loglog(
            steps_,
            errors[i],
            "o-",
            base=2,
            color=f"C{i}",
            label=f"seed {seed}, fitted slope {slopes[i]:.2f}",
        )
        ax2.semilogx(steps_, accuracy[i], "o-", base=2, color=f"C{i}", label=f"seed {seed}")
        ax2.axhline(exact_accuracy[i], color=f"C{i}", ls=":")
    ax1.loglog(steps_, errors[:, -1].max() * steps_[-1] / steps_, "k:", base=2, label="slope 1")
    for ax in (ax1, ax2):
        ax.axvline(n_train, color="gray", lw=0.8)
        ax.legend(fontsize=8)
    ax2.set_ylim(accuracy.min() - 3, accuracy.max() + 3)
    ax1.set(
        xlabel="depth $N$ (steps, $h = 1/N$)",
        ylabel=r"$\max \Vert y_N - y(T) \Vert$",
        title="The shared-weight ResNet converges to the ODE",
    )
    ax2.set(
        xlabel="depth $N$ at test time",
        ylabel="test accuracy (%)",
        title=f"Trained with N = {n_train}, run with N steps (dotted: exact flow)",
    )
    fig.tight_layout()
    return fig


def plot_layer_deletion(
    drops: Mapping[str, Any], updates: Mapping[str, Any], labels: Mapping[str, str]
) -> Figure:
    """Accuracy lost by deleting each layer (left), each layer's relative update (right).

    Args:
        drops: per kind, the drop in test accuracy (points) when layer k is deleted,
            shape (seeds, depth).
        updates: per kind, ||y_{k+1} - y_k|| / ||y_k|| averaged over inputs, shape
            (seeds, depth).
        labels: the legend text of every kind.

    Returns:
        The Figure: one line per kind and panel over layers 1..depth; logarithmic right y-axis.
    """
    seeds, depth = _np(next(iter(drops.values()))).shape
    layers = np.arange(1, depth + 1)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    _by_kind(ax1, layers, drops, labels, seed_dim=0, marker="o", ms=3)
    _by_kind(ax2, layers, updates, labels, seed_dim=0, marker="o", ms=3)
    ax2.set_yscale("log")
    ax1.set(
        xlabel="deleted layer $k$",
        ylabel="drop in test accuracy (points)",
        title=f"Deleting one layer, depth {depth} (mean and range over {seeds} seeds)",
    )
    ax2.set(
        xlabel="layer $k$",
        ylabel=r"$\Vert y_{k+1} - y_k \Vert / \Vert y_k \Vert$",
        title="Size of each layer's update",
    )
    fig.tight_layout()
    return fig


def plot_deletion_effect(
    steps: Mapping[str, Any],
    changes: Mapping[str, Any],
    labels: Mapping[str, str],
    *,
    ax: Axes | None = None,
) -> Axes:
    """Each deleted layer as a point: the removed step against the change of the output.

    Args:
        steps: per kind, the size of every layer's step ||y_{j+1} - y_j||, shape (seeds, depth).
        changes: per kind, the change of the final state when layer j is deleted, same shape.
        labels: the legend text of every kind.
        ax: the Axes to draw into (a new figure when None).

    Returns:
        The Axes (log-log): one marker style per kind, seeds x depth points each, and a
        dotted diagonal "change = step".
    """
    ax = _axes(ax, SINGLE)
    for i, kind in enumerate(steps):
        ax.loglog(
            _np(steps[kind]).ravel(),
            _np(changes[kind]).ravel(),
            "os^"[i % 3],
            ms=4,
            color=f"C{list(labels).index(kind)}",
            alpha=0.6,
            label=labels[kind],
        )
    lims = np.array(ax.get_xlim())
    ax.loglog(lims, lims, "k:", label="change = step")
    seeds = _np(next(iter(steps.values()))).shape[0]
    ax.set(
        xlabel=r"size of the removed step $\Vert y_{j+1} - y_j \Vert$",
        ylabel=r"change of the final state $\Vert \tilde y_N - y_N \Vert$",
        title=f"Deleting a layer: step size and its effect ({seeds} seeds)",
    )
    ax.legend()
    return ax


def plot_forward_stability(
    eigenvalues: Mapping[str, Any],
    growth: Mapping[str, Any],
    singular: Mapping[str, Any],
    *,
    xlim: tuple[float, float] = (-0.35, 0.15),
    ylim: tuple[float, float] = (-0.3, 0.3),
) -> Figure:
    """Three views of layer stacks: eigenvalues hλ over Euler's disc, growth, singular values.

    Args:
        eigenvalues: per network, the complex eigenvalues h λ of its linear part, shape (d,).
        growth: per network, a perturbation's growth factor after each layer, shape (layers,).
        singular: per network, the singular values of the whole map's Jacobian, shape (d,).
        xlim: the plotted range of Re(hλ) (left panel).
        ylim: the plotted range of Im(hλ) (left panel).

    Returns:
        The Figure: per network, its eigenvalues as markers, its growth and its singular
        values as lines on logarithmic y-axes, in the same colour.
    """
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.3))
    plot_stability_region(
        "euler",
        xlim=xlim,
        ylim=ylim,
        n=300,
        ax=axes[0],
        color="C7",
        label="Euler: $|1 + z| \\leq 1$",
    )
    for i, name in enumerate(eigenvalues):
        z, g = _np(eigenvalues[name]), _np(growth[name])
        axes[0].plot(z.real, z.imag, "o^sd"[i % 4], ms=4, color=f"C{i}", label=name)
        axes[1].semilogy(np.arange(1, len(g) + 1), g, color=f"C{i}", label=name)
        axes[2].semilogy(_np(singular[name]), "o-", ms=3, color=f"C{i}", label=name)
    axes[0].set_title(r"Eigenvalues $h\lambda$ of the linear part")
    axes[0].legend(fontsize=7, loc="lower left")
    axes[1].set(
        xlabel="layer $k$",
        ylabel="perturbation growth (median)",
        title="A small input perturbation, layer by layer",
    )
    axes[2].set(
        xlabel="index",
        ylabel="singular value",
        title=f"Singular values of the {len(g)}-layer Jacobian",
    )
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_linear_euler(z: Any, t: Any, norms: Any, exact: Any, *, h: float, gamma: float) -> Figure:
    """Euler on y' = K y: the eigenvalues hλ over Euler's disc (left), ||y_k|| over t (right).

    Args:
        z: the eigenvalues h λ of h K, complex, shape (d,).
        t: the times t_k = k h, shape (n,).
        norms: Euler's ||y_k||, shape (n,).
        exact: the exact flow's ||y(t_k)||, shape (n,).
        h: the step, for the title.
        gamma: the damping, for the title.

    Returns:
        The Figure; the right panel has a logarithmic y-axis, Euler solid, the exact flow dotted.
    """
    z = _np(z)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    plot_stability_region(
        "euler", xlim=(-1.2, 0.6), ylim=(-0.9, 0.9), n=200, ax=ax1, color="C7", label="Euler"
    )
    ax1.plot(z.real, z.imag, "o", ms=4, color="C1", label=r"$h\lambda$")
    ax1.legend(loc="lower left", fontsize=8)
    ax1.set_title(rf"$h = {h:.2f}$, $\gamma = {gamma:.2f}$")
    ax2.semilogy(_np(t), _np(norms), label="explicit Euler (a residual network)")
    ax2.semilogy(_np(t), _np(exact), "k:", label="exact flow")
    ax2.set(xlabel="$t = kh$", ylabel=r"$\Vert y_k \Vert$", title="Linear antisymmetric network")
    ax2.legend(fontsize=8)
    return fig


def plot_saved_memory(
    depths: Sequence[int],
    saved_plain: Sequence[float],
    saved_reversible: Sequence[float],
    *,
    ax: Axes | None = None,
) -> Axes:
    """What autograd saves for the backward pass, against the number of blocks.

    Args:
        depths: the numbers of blocks, shape (n,).
        saved_plain: bytes saved by ordinary backpropagation, shape (n,).
        saved_reversible: bytes saved by the reversible stack, shape (n,).
        ax: the Axes to draw into (a new figure when None).

    Returns:
        The Axes (log-log, base 2): two lines, in KiB.
    """
    ax = _axes(ax, SINGLE)
    ax.loglog(depths, _np(saved_plain) / 1024, "o-", base=2, label="nn.Sequential (backprop)")
    ax.loglog(depths, _np(saved_reversible) / 1024, "s-", base=2, label="ReversibleSequence")
    ax.set(
        xlabel="number of RevNet blocks",
        ylabel="saved for backward (KiB)",
        title="Memory for the backward pass",
    )
    ax.legend()
    return ax
