"""torch.compile of a module that calls nodelib.odeint: it runs, and agrees with eager mode.

nodelib's solvers are Python loops whose step decisions read tensors as Python numbers
(``float(error_norm)``, ``bool(torch.isfinite(y).all())``), so Dynamo breaks the graph there
and compiles the straight-line pieces in between (the stages of a step, the error norm, the
interpolation); the loop itself runs in Python. What has to hold regardless: the compiled
module gives eager mode's answer and eager mode's gradients, also for new inputs (new step
sizes, hence recompilations or fallbacks to eager for some frames). The eager and aot_eager
backends keep this fast; the inductor backend (C++ code generation, tens of seconds on a CPU)
is marked slow. ``benchmarks/compile_speed.py`` times compiled against eager.
"""

from __future__ import annotations

import shutil

import pytest
import torch
import torch._dynamo
from torch import nn

import nodelib

pytestmark = pytest.mark.usefixtures("one_thread")

CONFIGS = {
    "dopri5": {"method": "dopri5", "rtol": 1e-5, "atol": 1e-6},
    "rk4": {"method": "rk4", "options": {"step_size": 0.05}},
}


class Field(nn.Module):
    """f(t, y) = W2 tanh(W1 y + b1 + t w) + b2. No Python counters: Dynamo guards on integer
    attributes of a module and would recompile whenever one changes."""

    def __init__(self, dim: int = 2, hidden: int = 16) -> None:
        super().__init__()
        self.l1, self.l2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.w = nn.Parameter(0.1 * torch.ones(hidden))

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.l2(torch.tanh(self.l1(y) + t * self.w))


class ODEBlock(nn.Module):
    """x -> y(1), where y' = f(t, y), y(0) = x."""

    def __init__(self, config: str) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.field = Field()
        self.kwargs = CONFIGS[config]
        self.register_buffer("t", torch.linspace(0.0, 1.0, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nodelib.odeint(self.field, x, self.t, **self.kwargs)[-1]


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _value_and_grads(block: nn.Module, run: nn.Module, x: torch.Tensor):
    block.zero_grad(set_to_none=True)
    x = x.detach().clone().requires_grad_()
    y = run(x)
    y.square().sum().backward()
    return y.detach(), [x.grad] + [p.grad for p in block.parameters()]


def _check(block: nn.Module, compiled: nn.Module, x: torch.Tensor, atol: float) -> None:
    y_eager, g_eager = _value_and_grads(block, block, x)
    y_comp, g_comp = _value_and_grads(block, compiled, x)
    torch.testing.assert_close(y_comp, y_eager, rtol=atol, atol=atol)
    for gc, ge in zip(g_comp, g_eager, strict=True):
        torch.testing.assert_close(gc, ge, rtol=atol, atol=atol)


# One backend per method keeps CI short (each compile costs seconds); both paths are covered.
@pytest.mark.parametrize("config,backend", [("dopri5", "eager"), ("rk4", "aot_eager")])
def test_compiled_odeint_matches_eager(config: str, backend: str):
    block = ODEBlock(config)
    compiled = torch.compile(block, backend=backend)
    gen = torch.Generator().manual_seed(1)
    # Two inputs: the second has other step sizes (dopri5), so guards on them fail and Dynamo
    # recompiles or falls back to eager; the answer must not change either way.
    for _ in range(2):
        x = torch.randn(8, 2, generator=gen)
        _check(block, compiled, x, atol=1e-6)
        if backend == "eager":  # under no_grad Dynamo traces other graphs (aot_eager: slow)
            with torch.no_grad():
                torch.testing.assert_close(compiled(x), block(x), rtol=0.0, atol=1e-6)


def _have_cxx() -> bool:
    return any(shutil.which(c) for c in ("g++", "c++", "clang++"))


@pytest.mark.slow
@pytest.mark.skipif(not _have_cxx(), reason="inductor on the CPU needs a C++ compiler")
def test_inductor_compiled_odeint_matches_eager():
    # Inductor fuses and reorders float32 arithmetic and has its own tanh, so the compiled
    # stages differ from eager ones by a few ulps (seen: 5e-7 in y(1) of size 2.4, 4e-6 in a
    # gradient entry of size 15), well within atol + rtol |eager| = 1e-6 + 1e-6 |eager|.
    block = ODEBlock("dopri5")
    compiled = torch.compile(block)
    x = torch.randn(8, 2, generator=torch.Generator().manual_seed(1))
    _check(block, compiled, x, atol=1e-6)
