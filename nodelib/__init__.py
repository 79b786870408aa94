"""nodelib: ODE solvers, adjoints and Neural ODE models for PyTorch.

`pip install nodelib` needs only torch, numpy and scipy. The top package is the solver core a
researcher imports; its public API, by topic (each module's docstring says more):

- solving ODEs: `odeint`, `solve` / `Solution`, `METHODS`; events: `odeint_event` (and
  `solve(..., event_fn=)`); the errors in `nodelib.errors`;
- gradients through solves: `odeint_adjoint` (backprop through `odeint` works too);
- methods as data: `ButcherTableau`, `TABLEAUS`; the controllers `IController`, `PIController`;
- devices and seeds: `choose_device`, `available_devices`, `seed_everything`;
- as submodules: models (`nodelib.models`), data sets (`nodelib.data`; `load_digits` needs
  scikit-learn, from ``pip install "nodelib[course]"``), several seeds trained at once
  (`nodelib.ensemble`), and torchdiffeq's interface with its method names and meanings
  (`nodelib.torchdiffeq`: `from nodelib.torchdiffeq import odeint` replaces
  `from torchdiffeq import odeint`).

Two subpackages belong to the course *Neural ODEs from First Principles*:

- `nodelib.theory`, the theory of chapters 1 to 5 (no extra dependency): `lmm` (multistep
  formulas by interpolation, order, root condition), `stability` (stability functions,
  regions, intervals), `order_conditions` (Butcher's rooted trees), `analysis` (measured
  orders, convergence runs, Picard's iteration), `sensitivity` (direct and adjoint gradients
  of chapter 5) and `autodiff` (dual numbers and a reverse-mode tape, in miniature);
- `nodelib.course`, the notebooks' machinery, which needs ``pip install "nodelib[course]"``
  (matplotlib, scikit-learn, tqdm, ipywidgets, and the grader's nbclient): `train` (the `fit`
  loop with its progress bar), `plotting` (the figures), `book` (numbers glued into the
  chapter text, claims checked against them, interactive figures), `interactive`, `timing`,
  `profiling` and `grading` (the exercises' autograder, `nodelib-grade`).

Every submodule loads on first use (`nodelib.course.plotting`, `nodelib.models`, ...):
`import nodelib` stays fast and imports none of the course's dependencies.
"""

import importlib
from types import ModuleType

from nodelib.adjoint import odeint_adjoint
from nodelib.device import available_devices, choose_device, seed_everything
from nodelib.errors import (
    ConvergenceError,
    MaxStepsError,
    NodelibError,
    NonFiniteError,
    StepSizeError,
)
from nodelib.events import odeint_event
from nodelib.odeint import METHODS, Solution, odeint, solve
from nodelib.step_control import IController, PIController
from nodelib.tableau import TABLEAUS, ButcherTableau

__version__ = "0.1.0"

# Submodules and subpackages that `nodelib.<name>` loads on first use.
_SUBMODULES = (
    "course",
    "data",
    "ensemble",
    "models",
    "theory",
    "torchdiffeq",
)


# Where the course's modules went when the solver core became its own package (issue 16).
_MOVED = {
    **{name: "theory" for name in ("analysis", "autodiff", "lmm", "order_conditions",
                                   "sensitivity", "stability")},
    **{name: "course" for name in ("book", "grading", "interactive", "plotting", "profiling",
                                   "timing", "train")},
}  # fmt: skip


def __getattr__(name: str) -> ModuleType:
    # Submodules load on first use: `import nodelib` stays fast (no models, no matplotlib).
    if name in _SUBMODULES:
        return importlib.import_module(f"nodelib.{name}")
    if name in _MOVED:
        raise AttributeError(
            f"module 'nodelib' has no attribute {name!r}: it is now "
            f"nodelib.{_MOVED[name]}.{name} (import nodelib.{_MOVED[name]}.{name})"
        )
    raise AttributeError(f"module 'nodelib' has no attribute {name!r}")


__all__ = [
    "METHODS",
    "TABLEAUS",
    "ButcherTableau",
    "ConvergenceError",
    "IController",
    "MaxStepsError",
    "NodelibError",
    "NonFiniteError",
    "PIController",
    "Solution",
    "StepSizeError",
    "available_devices",
    "choose_device",
    "course",
    "data",
    "ensemble",
    "models",
    "odeint",
    "odeint_adjoint",
    "odeint_event",
    "seed_everything",
    "solve",
    "theory",
    "torchdiffeq",
]
