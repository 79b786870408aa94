"""The theory of the course's chapters 1 to 5, as code; needs nothing beyond nodelib's own
dependencies (torch, numpy).

- `analysis`: measured orders of convergence, convergence runs, the cumulative trapezoid and
  Picard's iteration (chapter 1);
- `order_conditions`: Butcher's rooted trees and the order conditions of Runge–Kutta methods
  (chapter 2; `nodelib.tableau` checks every tableau's order with it);
- `lmm`: linear multistep formulas by interpolation, their order, error constants and root
  condition (chapter 2);
- `stability`: stability functions, regions and intervals of one-step and multistep methods
  (chapter 2);
- `sensitivity`: direct and adjoint gradients of linear and nonlinear systems, the Euler
  recurrence and linear ODEs (chapter 5);
- `autodiff`: forward-mode dual numbers and a reverse-mode tape, in miniature (chapter 5).

Each module loads on first use: ``nodelib.theory.lmm`` works after ``import nodelib``.
"""

import importlib
from types import ModuleType

_SUBMODULES = ("analysis", "autodiff", "lmm", "order_conditions", "sensitivity", "stability")


def __getattr__(name: str) -> ModuleType:
    if name in _SUBMODULES:
        return importlib.import_module(f"nodelib.theory.{name}")
    raise AttributeError(f"module 'nodelib.theory' has no attribute {name!r}")


__all__ = list(_SUBMODULES)
