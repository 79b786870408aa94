"""SciPy's integrators as a nodelib method: ``method="scipy_solver"``.

``options["solver"]`` names any method of `scipy.integrate.solve_ivp` ("LSODA", the default as
in torchdiffeq, "RK45", "RK23", "DOP853", "Radau", "BDF"; Virtanen et al. 2020) or is a
subclass of `scipy.integrate.OdeSolver`. LSODA (Petzold 1983; Hindmarsh 1983, ODEPACK) switches
between the implicit Adams methods of orders 1-12 and BDF of orders 1-5 as the problem turns
stiff; Chen et al. (2018, §2) solved their ODEs with the implicit Adams method of LSODE/VODE,
which is why chapter 6 compares with it.

`ScipyStepper` is a `nodelib.steppers.Stepper` over nodelib's own driver loop: each step of
the loop is one output interval [t_i, t_{i+1}], inside which SciPy takes as many of its own
steps (`OdeSolver.step`) as its error control wants; the value at t_{i+1} and the dense output
inside the interval are SciPy's. One SciPy solver object runs over the whole span, so the
output times do not restart it. The state makes a round trip through a NumPy float64 vector
(CPU): f receives y in y0's dtype and device and its result is copied back, so a CUDA state
works but pays a device-host copy per evaluation. Tuple states and decreasing times work
as for every method (the loop sees one flat tensor and increasing time).

What it cannot do: **backpropagate through the solve.** SciPy's arithmetic is outside
autograd. The values come back connected to y0, t and f's parameters through a node whose
backward raises an error, so ``loss.backward()`` says so instead of returning zero
gradients. For gradients use ``nodelib.odeint_adjoint(..., method="scipy_solver")``: its
forward and backward solves are both SciPy's, and the adjoint only calls `odeint` on the
augmented system. Per-sample steps, events and ``options["step_size"]`` are not supported.

Statistics (`nodelib.solve`): ``nfe`` counts the evaluations of f (SciPy's finite-difference
Jacobians included, since they call f); ``n_steps`` and ``n_accepted`` count SciPy's
accepted steps (SciPy does not report the attempts it rejected, so ``n_rejected`` stays 0);
``njev`` and ``nlu`` are SciPy's Jacobian evaluations and LU decompositions. Every SciPy step
keeps its dense output (for `Solution.evaluate`); only DOP853's costs evaluations of f (3 per
step), so its ``nfe`` exceeds ``solve_ivp``'s, which pays them only in steps holding an
output time.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from nodelib._types import Field, Time
from nodelib.errors import MaxStepsError, StepSizeError
from nodelib.steppers import StepResult

__all__ = ["SCIPY_OPTIONS", "SCIPY_SOLVERS", "ScipyStepper"]

# solve_ivp's methods and the order of each (the highest, for the variable-order ones).
SCIPY_SOLVERS: dict[str, int] = {
    "RK23": 3,
    "RK45": 5,
    "DOP853": 8,
    "Radau": 5,
    "BDF": 5,
    "LSODA": 12,
}
# The options scipy_solver reads.
SCIPY_OPTIONS = frozenset({"solver", "first_step", "max_step", "min_step", "max_num_steps"})
_DEFAULT_MAX_STEPS = 100_000


def _solver_class(solver: object) -> tuple[type, str]:
    """The OdeSolver subclass named by options['solver'], and a name for messages."""
    import scipy.integrate as si

    if isinstance(solver, str) and solver in SCIPY_SOLVERS:
        return getattr(si, solver), solver
    if isinstance(solver, type) and issubclass(solver, si.OdeSolver):
        return solver, solver.__name__
    raise ValueError(
        f"options['solver'] must be one of {', '.join(SCIPY_SOLVERS)} (the methods of "
        f"scipy.integrate.solve_ivp) or a subclass of scipy.integrate.OdeSolver; got {solver!r}."
    )


def _positive(options: Mapping[str, Any], key: str) -> float | None:
    value = options.get(key)
    if value is None:
        return None
    value = float(value)
    if not value > 0:
        raise ValueError(f"options['{key}'] must be a positive number, got {options[key]!r}.")
    return value


class _NoBackprop(torch.autograd.Function):
    """Identity on the values; its backward refuses, naming the way to get gradients."""

    @staticmethod
    def forward(ctx: Any, values: Tensor, *inputs: Tensor) -> Tensor:
        return values.clone()

    @staticmethod
    def backward(ctx: Any, *grads: Tensor) -> Any:
        raise RuntimeError(
            "method='scipy_solver' cannot be differentiated by backpropagation: SciPy's "
            "integrator runs outside autograd. Use nodelib.odeint_adjoint(..., "
            "method='scipy_solver') for gradients (its backward solves use SciPy too), or an "
            "odeint method of torch (e.g. 'dopri5'), or compute the solution under "
            "torch.no_grad()."
        )


class _Dense:
    """The solution inside one loop step, from SciPy's dense output of the steps covering it."""

    def __init__(self, pieces: list, t: float, h: float, like: Tensor) -> None:
        self.pieces, self.t, self.h, self.like = pieces, t, h, like

    def __call__(self, theta: Time) -> Tensor:
        theta = float(theta.detach()) if isinstance(theta, Tensor) else float(theta)
        s = self.t + theta * self.h
        dense = next((d for lo, hi, d in self.pieces if s <= hi), self.pieces[-1][2])
        return _to_tensor(dense(s), self.like)


def _to_tensor(values: np.ndarray, like: Tensor) -> Tensor:
    return torch.as_tensor(values, dtype=like.dtype, device=like.device).reshape(like.shape)


class ScipyStepper:
    """`scipy.integrate`'s OdeSolver driven output interval by output interval.

    Args:
        options: the solve's options: ``solver`` (default "LSODA"), ``first_step``,
            ``max_step``, ``min_step`` (LSODA only), ``max_num_steps`` (SciPy's steps).
        rtol, atol: SciPy's tolerances.
        t_end: the last output time (internal, increasing time): SciPy never steps past it.
        direction: +1 or -1, internal time = direction · the user's time (for messages).

    Raises:
        ValueError: an unknown solver, a non-positive step option, or min_step for a
            solver that does not read it.
    """

    error_order = None

    def __init__(
        self, options: Mapping[str, Any], rtol: float, atol: float, t_end: float, direction: float
    ) -> None:
        self._cls, self.solver = _solver_class(options.get("solver", "LSODA"))
        self.name, self.order = f"scipy_solver ({self.solver})", SCIPY_SOLVERS.get(self.solver, 0)
        self._kwargs = {"rtol": rtol, "atol": atol}
        for key in ("first_step", "max_step"):
            value = _positive(options, key)
            if value is not None:
                self._kwargs[key] = value
        min_step = float(options.get("min_step") or 0.0)
        if min_step > 0 and self.solver != "LSODA":
            raise ValueError(
                f"options['min_step'] is read by the LSODA solver only, not by {self.solver}."
            )
        if min_step > 0:
            self._kwargs["min_step"] = min_step
        self._max_steps = int(options.get("max_num_steps", _DEFAULT_MAX_STEPS))
        self.t_end, self.direction = t_end, direction
        self._solver = self._last_y = self._field = None
        self._pieces: list = []
        self._graph: tuple[Tensor, ...] = ()

    def start(self, f: Field, t0: Time, y0: Tensor) -> None:
        """Remember f; SciPy's solver starts with the first step (a lone t0 costs nothing)."""
        self._field, self._solver, self._last_y, self._pieces = f, None, None, []
        self._grad_mode, self._graph = torch.is_grad_enabled(), ()
        self.n_steps, self._done = 0, {"njev": 0, "nlu": 0}  # _done: restarted solvers' counts

    def _numpy_field(self, f: Field, like: Tensor):
        """f as SciPy calls it: (t, y float64 (n,)) -> float64 (n,), without a graph."""
        # SciPy's solver object sits in a reference cycle of its own (its wrapped fun refers
        # to it), so what `fun` holds lives until the cycle collector runs: `fun` holds only
        # a weak reference to this stepper, which holds f and the tensors.
        self._field_args = (f, like)
        stepper = weakref.ref(self)

        def fun(s: float, y: np.ndarray) -> np.ndarray:
            return stepper()._evaluate(s, y)

        return fun

    def _evaluate(self, s: float, y: np.ndarray) -> np.ndarray:
        f, like = self._field_args
        probe = self._grad_mode and not self._graph_checked
        with torch.set_grad_enabled(probe):
            out = f(float(s), _to_tensor(y, like))
        if probe:  # does f depend on parameters that require grad?
            self._graph_checked = True
            if out.requires_grad:
                self._graph += (out,)
        return out.detach().to("cpu", torch.float64).numpy().reshape(-1).copy()

    def _restart(self, t: float, y: Tensor) -> None:
        """A new SciPy solver from (t, y): at the first step, or when y is not our last y1."""
        if self._solver is not None:
            for key in self._done:
                self._done[key] += int(getattr(self._solver, key))
        if self._grad_mode and y.requires_grad:
            self._graph += (y,)
        self._graph_checked = False
        y_np = y.detach().to("cpu", torch.float64).numpy().reshape(-1).copy()
        fun = self._numpy_field(self._field, y.detach())
        self._solver = self._cls(fun, t, y_np, self.t_end, **self._kwargs)
        self._pieces = []

    def step(self, f: Field, t: Time, y: Tensor, h: Time, f0: Tensor | None) -> StepResult:
        """Advance SciPy's solver to t + h (it may step past it, never past t_end).

        Raises:
            nodelib.errors.StepSizeError: SciPy's solver failed (its message is quoted).
            nodelib.errors.MaxStepsError: more than max_num_steps SciPy steps.
        """
        if self._grad_mode and isinstance(h, Tensor) and h.requires_grad:
            self._graph += (h,)
        t, h = (float(x.detach()) if isinstance(x, Tensor) else float(x) for x in (t, h))
        target = t + h
        if self._solver is None or y is not self._last_y:
            self._restart(t, y)
        solver = self._solver
        pieces = [p for p in self._pieces if p[1] > t]
        while solver.t < target and solver.status == "running":
            pieces.append(self._advance(solver, t))
        self._pieces = pieces[-1:]
        y1 = _to_tensor(solver.y if solver.t == target else pieces[-1][2](target), y)
        if self._graph:
            y1 = _NoBackprop.apply(y1, *self._graph)
        self._last_y = y1
        result = StepResult(y1, None, None, None, f0)
        result.interpolant = _Dense(pieces or [(t, target, lambda s: solver.y)], t, h, y)
        return result

    def _advance(self, solver, t: float) -> tuple[float, float, Any]:
        """One SciPy step; returns (t_old, t_new, the step's dense output)."""
        if self.n_steps >= self._max_steps:
            raise MaxStepsError(
                f"{self.name} took max_num_steps={self._max_steps} steps and reached only "
                f"t={self.direction * solver.t:.6g}: pass a larger options={{'max_num_steps': "
                "...}, looser tolerances, or a stiff solver ('LSODA', 'BDF', 'Radau')."
            )
        message = solver.step()
        self.n_steps += 1
        if solver.status == "failed":
            raise StepSizeError(
                f"{self.name} failed after t={self.direction * t:.6g}: SciPy says "
                f"{message!r}. The solution may blow up there, the problem may be stiff for "
                "this solver (try 'LSODA', 'BDF' or 'Radau'), or the tolerances too tight."
            )
        return solver.t_old, solver.t, solver.dense_output()

    def stats(self) -> dict[str, int]:
        """SciPy's statistics: its accepted steps, Jacobian evaluations and LU decompositions."""
        now = {k: int(getattr(self._solver, k, 0)) + v for k, v in self._done.items()}
        return {"n_steps": self.n_steps, "n_accepted": self.n_steps, **now}

    def error_ratio(self, result, y0, rtol, atol, norm) -> float:
        """SciPy controls its own error; the loop sees a fixed grid of output times."""
        raise AssertionError("scipy_solver has no error estimate for the loop")
