"""Plotting helpers of the course (matplotlib; safe under the Agg backend).

Trajectories and phase portraits, vector fields, 2-D densities and samples, a density's evolution
through a flow, stability regions of Runge–Kutta methods, learning curves. Every function draws
into the ``ax`` it is given (or a new figure), returns the Axes (or Figure), never calls
``plt.show``. Tensors are accepted wherever arrays are and are moved to the CPU first;
functions of tensors are called without gradients, in the dtype and on the device of their
parameters. :func:`stability_region_mask` returns the numbers behind the stability pictures.

Keywords shared by the functions (and so not repeated in their Args):
``ax`` (Axes to draw into; a new figure when None), ``xlim``/``ylim`` (the plotted ranges of
y_0 and y_1, or of Re z and Im z) and ``n`` (grid points per axis).

The figures of the chapters live here, so that a chapter's page shows the computation that
teaches and one short call that draws it. General helpers: `fields` (trajectories, vector
fields, densities), `regions` (stability regions), `curves` (learning curves, results over
seeds). The figures of one chapter each: `one_step` (ch. 1), `runge_kutta` and `stiffness` (ch. 2),
`resnets` (ch. 3), `flows` (ch. 4), `adjoint` (ch. 5), `neural_odes`, `odenets` and
`paper_results` (ch. 6; the last two draw its offline experiments beside the paper's figures).
"""

from nodelib.course.plotting import (
    adjoint,
    curves,
    fields,
    flows,
    neural_odes,
    odenets,
    one_step,
    paper_results,
    regions,
    resnets,
    runge_kutta,
    stiffness,
)
from nodelib.course.plotting.adjoint import *  # noqa: F403
from nodelib.course.plotting.curves import *  # noqa: F403
from nodelib.course.plotting.fields import *  # noqa: F403
from nodelib.course.plotting.flows import *  # noqa: F403
from nodelib.course.plotting.neural_odes import *  # noqa: F403
from nodelib.course.plotting.odenets import *  # noqa: F403
from nodelib.course.plotting.one_step import *  # noqa: F403
from nodelib.course.plotting.paper_results import *  # noqa: F403
from nodelib.course.plotting.regions import *  # noqa: F403
from nodelib.course.plotting.resnets import *  # noqa: F403
from nodelib.course.plotting.runge_kutta import *  # noqa: F403
from nodelib.course.plotting.stiffness import *  # noqa: F403

__all__ = [
    name
    for module in (
        curves,
        fields,
        regions,
        one_step,
        runge_kutta,
        stiffness,
        resnets,
        flows,
        adjoint,
        neural_odes,
        odenets,
        paper_results,
    )
    for name in module.__all__
]
