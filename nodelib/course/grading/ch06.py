"""Chapter 6 (Neural ODEs): the graded coding exercises and their tests.

Questions, each grading one name of ``exercises/ch06_neural_odes.ipynb``:

- C6.1 ``MyODEBlock(func, *, t1, rtol, atol, adjoint)``: an ODE block, y(0) -> y(t1); compared
  with `nodelib.models.ODEBlock`, values and parameter gradients, backprop and adjoint.
- C6.2 ``adjoint_dynamics(func, t, y, a)``: the right-hand side of the adjoint's augmented
  system (Chen et al. 2018, Algorithm 1); compared with autograd, then integrated backwards
  by `nodelib.odeint` and compared with backpropagation through the forward solve.
- C6.3 ``hutchinson(f_out, z, eps)``: Hutchinson's trace estimator (tests in `_ch06_cnf`).
- C6.4 ``cnf_dynamics(func, t, state)``: the instantaneous change of variables (`_ch06_cnf`).
- C6.5 ``trained_cnf``: a CNF trained to a stated test log-likelihood (`_ch06_cnf`); the
  notebook trains it on `sample_target`, whose entropy is `TARGET_ENTROPY`.
- C6.6 ``ch6_experiment``: an experiment, read: the trained CNF evaluated at a sweep of
  tolerances, the loosest one that meets 1e-4 nats, and what looser and tighter tolerances
  do to the evaluations and the error (`nodelib.course.grading._ch06_experiment`).

Failures name the typical mistake that explains them (a sign, a transposed Jacobian, the
whole trajectory returned instead of the end state, a forgotten ``super().__init__``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from nodelib.course.grading import _ch06_cnf as cnf
from nodelib.course.grading import _ch06_experiment as experiment
from nodelib.course.grading._ch06_cnf import TARGET_ENTROPY, sample_target
from nodelib.course.grading.core import CheckFailed, Question, Test
from nodelib.course.grading.expect import expect_close, expect_tensor
from nodelib.models.blocks import MLPField, ODEBlock
from nodelib.odeint import odeint

__all__ = ["QUESTIONS", "TARGET_ENTROPY", "sample_target"]

F64 = torch.float64


def _field(dim: int, seed: int, device: torch.device) -> nn.Module:
    torch.manual_seed(seed)
    return MLPField(dim, 8).to(dtype=F64, device=device)


def _inputs(shape: tuple[int, ...], seed: int, device: torch.device) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=F64).to(device)


# --- C6.1 MyODEBlock ------------------------------------------------------------------------


def _build(cls: Any, func: nn.Module, **kw: Any) -> nn.Module:
    block = cls(func, **kw)
    if not isinstance(block, nn.Module):
        raise CheckFailed(f"MyODEBlock(...) should be an nn.Module, got {type(block).__name__}.")
    if not any(p is func.l1.weight for p in block.parameters()):
        raise CheckFailed(
            "the vector field's parameters are not among block.parameters(): store func as an "
            "attribute of the block, after calling super().__init__(), so that an optimiser "
            "sees its weights."
        )
    return block


def _block_forward(cls: Any, device: torch.device) -> str:
    for i, t1 in enumerate((1.0, 0.5)):
        func = _field(3, 60 + i, device)
        y0 = _inputs((4, 3), 70 + i, device)
        block = _build(cls, func, t1=t1, rtol=1e-8, atol=1e-8, adjoint=False)
        ref = ODEBlock(func, t1=t1, rtol=1e-8, atol=1e-8, adjoint=False)
        expected = ref(y0)
        out = expect_tensor(block(y0), y0, what="MyODEBlock's output", hints={
            (2, 4, 3): "That is the whole trajectory at the times (0, t1): return its last "
                       "entry, y(t1)."})  # fmt: skip
        t_one = torch.tensor([0.0, 1.0], dtype=F64, device=device)
        mistakes = [
            (odeint(func, y0, t_one, rtol=1e-8, atol=1e-8)[-1],
             "You integrate up to t = 1 whatever t1 is: use the block's t1."),
            (y0, "Your block returns its input: integrate the ODE from 0 to t1."),
        ]  # fmt: skip
        expect_close(
            out,
            expected,
            what="MyODEBlock's output",
            case=f"t1 = {t1}",
            tol=1e-6,
            mistakes=mistakes,
            hint="Solve from t = 0 to the block's t1 and return the state at t1 only.",
        )
    return "t1 = 1 and t1 = 0.5, rtol = atol = 1e-8"


def _block_gradients(cls: Any, device: torch.device) -> str:
    for adjoint in (False, True):
        func = _field(2, 80, device)
        y0 = _inputs((5, 2), 81, device)
        w = _inputs((5, 2), 82, device)
        block = _build(cls, func, t1=0.8, rtol=1e-8, atol=1e-8, adjoint=adjoint)
        grads = torch.autograd.grad((block(y0) * w).sum(), list(func.parameters()))
        ref = ODEBlock(func, t1=0.8, rtol=1e-8, atol=1e-8, adjoint=False)
        expected = torch.autograd.grad((ref(y0) * w).sum(), list(func.parameters()))
        for g, e in zip(grads, expected, strict=True):
            expect_close(
                g,
                e,
                what="the gradient of the parameters",
                case=f"adjoint={adjoint}",
                tol=1e-5,
                hint="With adjoint=True use nodelib.odeint_adjoint, else "
                "nodelib.odeint, at the block's tolerances.",
            )
    return "backprop and adjoint gradients agree with nodelib's"


# --- C6.2 adjoint_dynamics ------------------------------------------------------------------


def _adjoint_reference(func: nn.Module, t: Tensor, y: Tensor, a: Tensor):
    params = list(func.parameters())
    with torch.enable_grad():
        yy = y.detach().requires_grad_(True)
        fy = func(t, yy)
        vjps = torch.autograd.grad(fy, [yy, *params], a)
    return fy.detach(), -vjps[0], [-v for v in vjps[1:]]


def _unpack(out: Any, n_params: int) -> tuple[Tensor, Tensor, list[Tensor]]:
    if not isinstance(out, tuple | list) or len(out) != 3:
        raise CheckFailed(
            "adjoint_dynamics must return three things: (dy/dt, da/dt, "
            "dθ-terms), the last a tuple with one tensor per parameter."
        )
    dy, da, dth = out
    if not isinstance(dth, tuple | list) or len(dth) != n_params:
        raise CheckFailed(
            f"the third entry must hold one tensor per parameter of func "
            f"({n_params}), in the order of func.parameters()."
        )
    return dy, da, list(dth)


def _adjoint_random(fn: Any, device: torch.device) -> str:
    func = _field(2, 90, device)
    params = list(func.parameters())
    y, a = _inputs((3, 2), 91, device), _inputs((3, 2), 92, device)
    t = torch.tensor(0.4, dtype=F64, device=device)
    dy, da, dth = _unpack(fn(func, t, y, a), len(params))
    ref_dy, ref_da, ref_dth = _adjoint_reference(func, t, y, a)
    expect_close(
        expect_tensor(dy, y, what="dy/dt"),
        ref_dy,
        what="dy/dt",
        case="a random MLP",
        tol=1e-10,
        hint="dy/dt is func(t, y).",
    )
    jac = torch.autograd.functional.jacobian(
        lambda v: func(t, v.reshape(3, 2)).reshape(-1), y.reshape(-1)
    )  # (6, 6)
    expect_close(expect_tensor(da, a, what="da/dt"), ref_da, what="da/dt", case="a random MLP",
                 tol=1e-10, mistakes=[
                     (-ref_da, "Check the sign: da/dt = -aᵀ ∂f/∂y."),
                     (-(jac @ a.reshape(-1)).reshape(3, 2), "You multiplied the Jacobian by a "
                      "(a Jacobian–vector product): the adjoint needs aᵀ ∂f/∂y, a "
                      "vector–Jacobian product (grad_outputs=a in torch.autograd.grad)."),
                 ], hint="da/dt = -aᵀ ∂f/∂y, a vector–Jacobian product.")  # fmt: skip
    for g, e, p in zip(dth, ref_dth, params, strict=True):
        expect_close(
            expect_tensor(g, p, what="a dθ-term"),
            e,
            what="the parameter terms",
            case="a random MLP",
            tol=1e-10,
            mistakes=[(-e, "Check the sign: the parameter term is -aᵀ ∂f/∂θ.")],
            hint="The parameter terms are -aᵀ ∂f/∂θ, one per parameter.",
        )
    return "dy/dt, da/dt and the parameter terms match autograd"


def _adjoint_integrated(fn: Any, device: torch.device) -> str:
    """Integrate the reader's augmented system from T to 0: it must give backprop's gradients."""
    func = _field(2, 100, device)
    params = list(func.parameters())
    y0, w = _inputs((3, 2), 101, device), _inputs((3, 2), 102, device)
    T = 0.7
    times = torch.tensor([0.0, T], dtype=F64, device=device)
    y_req = y0.clone().requires_grad_(True)
    yT = odeint(func, y_req, times, rtol=1e-10, atol=1e-10)[-1]
    expected = torch.autograd.grad((yT * w).sum(), [y_req, *params])

    def augmented(t: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        dy, da, dth = _unpack(fn(func, t, state[0], state[1]), len(params))
        return (dy, da, *dth)

    start = (yT.detach(), w, *[torch.zeros_like(p) for p in params])
    try:
        with torch.no_grad():
            out = odeint(augmented, start, times.flip(0), rtol=1e-10, atol=1e-10)
    except NotImplementedError:
        raise  # a stub, not a mistake: the grader says where the hints are
    except RuntimeError as err:
        raise CheckFailed(
            f"adjoint_dynamics raised under torch.no_grad(), as the backward solve runs: {err}. "
            "Compute the vector–Jacobian products inside torch.enable_grad()."
        ) from None
    expect_close(
        out[1][-1],
        expected[0],
        what="a(0), the gradient with respect to y(0)",
        case=f"integrating your augmented system from T = {T} back to 0 under torch.no_grad()",
        tol=1e-6,
        hint="Does adjoint_dynamics work under torch.no_grad()? Compute the "
        "vector–Jacobian products inside torch.enable_grad().",
    )
    for got, exp in zip(out[2:], expected[1:], strict=True):
        expect_close(
            got[-1],
            exp,
            what="the parameter gradient",
            case="the backward solve",
            tol=1e-6,
            hint="The parameter terms start at 0 at t = T and their value at "
            "t = 0 is dL/dθ: check their sign.",
        )
    return "the backward solve reproduces dL/dy0 and dL/dθ of backpropagation"


QUESTIONS: tuple[Question, ...] = (
    Question("C6.1", "MyODEBlock", "an ODE block", 2, (
        Test("returns y(t1), as nodelib's ODEBlock", _block_forward),
        Test("parameter gradients by backprop and by the adjoint", _block_gradients,
             timeout=30.0),
    )),
    Question("C6.2", "adjoint_dynamics", "the augmented adjoint dynamics", 3, (
        Test("matches autograd's vector–Jacobian products", _adjoint_random),
        Test("integrated backwards, gives backprop's gradients", _adjoint_integrated,
             timeout=30.0),
    )),
    Question("C6.3", "hutchinson", "Hutchinson's trace estimator", 2, (
        Test("matches nodelib.models.hutchinson_trace", cnf.hutchinson_random),
        Test("is unbiased: its mean over probes is the trace", cnf.hutchinson_unbiased),
    )),
    Question("C6.4", "cnf_dynamics", "the instantaneous change of variables", 2, (
        Test("returns (f, -tr ∂f/∂z)", cnf.cnf_dynamics_random),
        Test("a linear field changes log p by -t tr(A)", cnf.cnf_dynamics_linear),
    )),
    Question("C6.5", "trained_cnf", "a CNF trained to a stated likelihood", 3, (
        Test("is a 2-D nodelib CNF", cnf.trained_cnf_type),
        Test(f"test NLL within {cnf.NLL_MARGIN} nats of the entropy",
             cnf.trained_cnf_likelihood, timeout=60.0),
    ), kind="value"),
    Question("C6.6", "ch6_experiment", "an experiment: what a tolerance buys", 3,
             experiment.EXPERIMENT_TESTS, kind="value"),
)  # fmt: skip
