"""nodelib: the library of the course *Neural ODEs from First Principles*.

The public API, by topic (each module's docstring says more):

- solving ODEs: `odeint`, `solve` / `Solution`, `METHODS`; the errors in `nodelib.errors`;
- gradients through solves: `odeint_adjoint` (backprop through `odeint` works too);
- the gradients of chapter 5, as submodules: `nodelib.sensitivity` (direct and adjoint
  gradients of linear and nonlinear systems, the Euler recurrence, linear ODEs) and
  `nodelib.autodiff` (forward-mode dual numbers and a reverse-mode tape, in miniature);
- methods as data: `ButcherTableau`, `TABLEAUS`; the controllers `IController`, `PIController`;
- the theory of chapter 2, as submodules: `nodelib.lmm` (multistep formulas by interpolation,
  order, root condition) and `nodelib.stability` (stability functions, regions, intervals);
- devices and seeds: `choose_device`, `available_devices`, `seed_everything`;
- models (`nodelib.models`), data sets (`nodelib.data`), training (`nodelib.train`; several
  seeds at once in `nodelib.ensemble`) and
  figures (`nodelib.plotting`) are imported as submodules, and so are the notebook helpers
  (`nodelib.book`: numbers glued into the chapter text, claims checked against them,
  interactive figures) and the memory
  measurements (`nodelib.profiling`) and the timings of chapter 4 (`nodelib.timing`).
"""

import importlib
from types import ModuleType

from nodelib.adjoint import odeint_adjoint
from nodelib.device import available_devices, choose_device, seed_everything
from nodelib.errors import (
    ClaimError,
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

_SUBMODULES = (
    "autodiff",
    "book",
    "data",
    "ensemble",
    "lmm",
    "models",
    "plotting",
    "profiling",
    "sensitivity",
    "stability",
    "timing",
    "train",
)


def __getattr__(name: str) -> ModuleType:
    # Submodules load on first use: `import nodelib` stays fast (no matplotlib, no models).
    if name in _SUBMODULES:
        return importlib.import_module(f"nodelib.{name}")
    raise AttributeError(f"module 'nodelib' has no attribute {name!r}")


__all__ = [
    "METHODS",
    "TABLEAUS",
    "ButcherTableau",
    "ClaimError",
    "ConvergenceError",
    "IController",
    "MaxStepsError",
    "NodelibError",
    "NonFiniteError",
    "PIController",
    "Solution",
    "StepSizeError",
    "autodiff",
    "available_devices",
    "book",
    "choose_device",
    "data",
    "ensemble",
    "lmm",
    "models",
    "odeint",
    "odeint_adjoint",
    "odeint_event",
    "plotting",
    "profiling",
    "seed_everything",
    "sensitivity",
    "solve",
    "stability",
    "timing",
    "train",
]
