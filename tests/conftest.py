"""Shared fixtures of the solver tests: the method catalogue, closed-form problems, guards.

- Tests marked ``@pytest.mark.gpu`` are skipped when ``torch.cuda.is_available()`` is false.
- A test that takes an argument named ``method_spec`` (every method), ``fixed_spec``
  (every fixed-step method) or ``adaptive_spec`` is parametrized over the methods of the spec
  (.dev/SPEC.md) by `pytest_generate_tests`; ``problem`` parametrizes over the four closed-form
  problems of `PROBLEMS`. Test modules set their own subsets with ``pytest.mark.parametrize``
  where they need fewer.
- The ``deadline`` fixture fails a test that runs longer than 30 s instead of letting it hang
  (the spec: "nothing may hang").
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import torch
from torch import Tensor

# Every notebook a test executes checks its claims strictly (a false sentence fails the test,
# as it fails the book build: _ext/strict_claims.py) and runs with its own default seed, so a
# reader's NODELIB_SEED does not change the stored outputs the tests compare.
os.environ["NODELIB_CLAIMS"] = "strict"
os.environ.pop("NODELIB_SEED", None)
# Interactive figures are drawn as the website shows them (precomputed states), as in the
# build (_ext/static_figures.py), so the notebooks executed here serve the book's cache.
os.environ["NODELIB_STATIC_FIGURES"] = "1"

# ---------------------------------------------------------------------------------------------
# GPU marker


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run tests/test_website.py last; skip the tests marked ``gpu`` without CUDA."""
    # test_website.py builds the book from the notebooks the other tests executed: last.
    items.sort(key=lambda item: item.path.name == "test_website.py")  # a stable sort
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA (torch.cuda.is_available() is False)")
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)


# ---------------------------------------------------------------------------------------------
# Methods


@dataclass(frozen=True)
class MethodSpec:
    """One method as odeint is asked for it: name, extra options, and its classical order."""

    method: str
    order: int
    kind: str  # "explicit" (fixed-step RK), "adaptive", "implicit", "multistep"
    options: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def id(self) -> str:
        if "theta" in self.options:
            return f"{self.method}-{self.options['theta']}"
        return self.method

    @property
    def fixed(self) -> bool:
        return self.kind != "adaptive"


EXPLICIT = [
    MethodSpec("euler", 1, "explicit"),
    MethodSpec("midpoint", 2, "explicit"),
    MethodSpec("heun", 2, "explicit"),
    MethodSpec("ralston", 2, "explicit"),
    MethodSpec("rk4", 4, "explicit"),
    MethodSpec("rk38", 4, "explicit"),
]
ADAPTIVE = [
    MethodSpec("heun_euler", 2, "adaptive"),
    MethodSpec("bosh3", 3, "adaptive"),
    MethodSpec("fehlberg45", 4, "adaptive"),
    MethodSpec("dopri5", 5, "adaptive"),
    MethodSpec("tsit5", 5, "adaptive"),
    MethodSpec("dopri8", 8, "adaptive"),
]
IMPLICIT = [
    MethodSpec("backward_euler", 1, "implicit"),
    MethodSpec("trapezoid", 2, "implicit"),
    # theta = 1/2 is the trapezoidal rule (order 2); any other theta gives order 1.
    MethodSpec("theta", 2, "implicit", {"theta": 0.5}),
    MethodSpec("theta", 1, "implicit", {"theta": 0.75}),
    MethodSpec("theta", 1, "implicit", {"theta": 1.0}),
]
MULTISTEP = (
    [MethodSpec(f"adams_bashforth{k}", k, "multistep") for k in range(1, 5)]
    + [MethodSpec(f"adams_moulton{k}", k, "multistep") for k in range(2, 5)]
    + [MethodSpec(f"bdf{k}", k, "multistep") for k in range(1, 5)]
)
FIXED = EXPLICIT + IMPLICIT + MULTISTEP
ALL_METHODS = FIXED + ADAPTIVE


# ---------------------------------------------------------------------------------------------
# Closed-form problems (float64)


@dataclass
class Problem:
    """An initial value problem with its exact solution.

    ``exact(t)`` takes a 1-D tensor of times and returns ``(len(t), *y0.shape)``.
    """

    name: str
    func: Callable[[Tensor, Tensor], Tensor]
    y0: Tensor
    t0: float
    t1: float
    exact: Callable[[Tensor], Tensor]

    def grid(self, n: int) -> Tensor:
        """n + 1 equally spaced times from t0 to t1 (float64)."""
        return torch.linspace(self.t0, self.t1, n + 1, dtype=torch.float64)


def _decay() -> Problem:
    # y' = -k y, componentwise: three rates, so that a mixed-up component would show.
    k = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    y0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    return Problem(
        "decay",
        lambda t, y: -k * y,
        y0,
        0.0,
        1.0,
        lambda t: y0 * torch.exp(-k * t[:, None]),
    )


def _linear() -> Problem:
    # y' = A y for a batch of two initial states (shape (2, 3)); exact y(t) = expm(A t) y0.
    A = torch.tensor([[-0.5, 2.0, 0.0], [-2.0, -0.5, 0.3], [0.0, -0.3, -1.0]], dtype=torch.float64)
    y0 = torch.tensor([[1.0, 0.0, 0.5], [0.2, -1.0, 1.0]], dtype=torch.float64)  # (batch, dim)

    def exact(t: Tensor) -> Tensor:
        E = torch.linalg.matrix_exp(A * t[:, None, None])  # (len(t), dim, dim)
        return torch.einsum("nij,bj->nbi", E, y0)

    return Problem("linear", lambda t, y: y @ A.T, y0, 0.0, 1.0, exact)


def _forced() -> Problem:
    # y' = -2 y + cos(3 t), y(0) = 1, a scalar (0-d) state with explicit time dependence.
    # y(t) = (2 cos 3t + 3 sin 3t) / 13 + (11/13) exp(-2t).
    y0 = torch.tensor(1.0, dtype=torch.float64)

    def exact(t: Tensor) -> Tensor:
        return (2 * torch.cos(3 * t) + 3 * torch.sin(3 * t)) / 13 + 11 / 13 * torch.exp(-2 * t)

    return Problem("forced", lambda t, y: -2 * y + torch.cos(3 * t), y0, 0.0, 1.0, exact)


def _oscillator() -> Problem:
    # x'' = -w^2 x as (x, v)' = (v, -w^2 x); over [0, 2] (about two thirds of a period).
    w = 2.0
    y0 = torch.tensor([1.0, 0.5], dtype=torch.float64)

    def func(t: Tensor, y: Tensor) -> Tensor:
        return torch.stack([y[..., 1], -(w**2) * y[..., 0]], dim=-1)

    def exact(t: Tensor) -> Tensor:
        c, s = torch.cos(w * t), torch.sin(w * t)
        x = c * y0[0] + s / w * y0[1]
        v = -w * s * y0[0] + c * y0[1]
        return torch.stack([x, v], dim=-1)

    return Problem("oscillator", func, y0, 0.0, 2.0, exact)


PROBLEMS: dict[str, Callable[[], Problem]] = {
    "decay": _decay,
    "linear": _linear,
    "forced": _forced,
    "oscillator": _oscillator,
}


# ---------------------------------------------------------------------------------------------
# Parametrization and fixtures


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``method_spec``, ``fixed_spec``, ``adaptive_spec`` and ``problem``."""
    explicit = {
        name.strip()
        for mark in metafunc.definition.iter_markers("parametrize")
        for name in (mark.args[0].split(",") if isinstance(mark.args[0], str) else mark.args[0])
    }
    catalogues = {"method_spec": ALL_METHODS, "fixed_spec": FIXED, "adaptive_spec": ADAPTIVE}
    for argname, specs in catalogues.items():
        if argname in metafunc.fixturenames and argname not in explicit:
            metafunc.parametrize(argname, specs, ids=[s.id for s in specs])
    if "problem" in metafunc.fixturenames and "problem" not in explicit:
        names = list(PROBLEMS)
        metafunc.parametrize("problem", [PROBLEMS[n]() for n in names], ids=names)


@dataclass
class CallCounter:
    """Wraps a vector field and counts how often it is called (the external nfe)."""

    func: Callable[[Tensor, Tensor], Tensor]
    calls: int = 0

    def __call__(self, t: Tensor, y: Tensor) -> Tensor:
        self.calls += 1
        return self.func(t, y)


@pytest.fixture
def deadline():
    """Fail the test with TimeoutError if it runs for more than 30 s (instead of hanging).

    The fixture's value shortens the limit: ``deadline(5)`` allows 5 s from that call on.
    """
    if not hasattr(signal, "setitimer"):  # pragma: no cover - Windows
        yield lambda seconds: None
        return

    def _raise(signum, frame):
        raise TimeoutError("the solver did not return in time: it must not hang")

    def _set(seconds: float) -> None:
        signal.setitimer(signal.ITIMER_REAL, seconds)

    old = signal.signal(signal.SIGALRM, _raise)
    _set(30.0)
    try:
        yield _set
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0.0)
        signal.signal(signal.SIGALRM, old)


def max_error(ys: Tensor, exact: Tensor) -> float:
    """The largest absolute error over all times and components."""
    return float((ys - exact).abs().max())


def scaled_error(ys: Tensor, exact: Tensor, rtol: float, atol: float) -> float:
    """The largest error in units of the mixed tolerance atol + rtol |y_exact|."""
    return float(((ys - exact).abs() / (atol + rtol * exact.abs())).max())


@pytest.fixture
def helpers():
    """Small functions shared by the test modules (errors, call counting)."""

    class _H:
        CallCounter = CallCounter
        max_error = staticmethod(max_error)
        scaled_error = staticmethod(scaled_error)

    return _H


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for a module of tiny models: threads only add contention on 2 cores.

    Use with `pytestmark = pytest.mark.usefixtures("one_thread")`.
    """
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ---------------------------------------------------------------------------------------------
# Notebook execution times (tests/_notebooks.py, tests/test_grading_notebooks.py)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """List how long each notebook took to execute, slowest first (the runtime budgets)."""
    import sys

    notebooks = sys.modules.get("_notebooks")
    times = getattr(notebooks, "TIMES", {})
    cpu = getattr(notebooks, "CPU_TIMES", {})
    if not times:
        return
    terminalreporter.section("notebook execution times (wall, and the kernel's CPU)")
    for path, seconds in sorted(times.items(), key=lambda item: -item[1]):
        kernel = f"{cpu[path]:7.1f} s CPU" if path in cpu else " " * 13
        terminalreporter.write_line(f"{seconds:7.1f} s wall {kernel}  {path}")
    terminalreporter.write_line(f"{sum(times.values()):7.1f} s wall in all")
