"""Tests of nodelib.adjoint.odeint_adjoint and of backprop through odeint, in float64.

Two gradients are tested. Backprop through `odeint` (the RK-Net) differentiates the
discrete solver exactly, so `gradcheck` against finite differences of the same discrete
map must pass to round-off. The adjoint differentiates the *exact* solution map and solves
the adjoint system numerically, so it agrees with finite differences of the discrete map
only up to the discretisation error of both (Chen et al. 2018; Gholami et al. 2019,
"ANODE"): O(h^p) for a fixed-step method of order p, O(tol) for an adaptive one. The
tolerances below follow from that, and the order of convergence of the adjoint gradient is
checked separately against a closed form (the matrix exponential), so that a loose
tolerance cannot hide a wrong gradient.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from nodelib.adjoint import odeint_adjoint
from nodelib.odeint import odeint

F64 = torch.float64
FIXED_RK = {"euler": 1, "midpoint": 2, "heun": 2, "ralston": 2, "rk4": 4, "rk38": 4}
ADAPTIVE_RK = {"heun_euler": 2, "bosh3": 3, "fehlberg45": 4, "dopri5": 5, "tsit5": 5, "dopri8": 8}
TIGHT = {"rtol": 1e-11, "atol": 1e-12}


def _field(theta: Tensor):
    """A small non-autonomous nonlinear vector field on R^2 with 6 parameters."""

    def f(t: Tensor, y: Tensor) -> Tensor:
        W, c = theta[:4].view(2, 2), theta[4:6]
        return torch.tanh(y @ W.T + c) * (1 + 0.5 * torch.sin(3 * t)) - 0.2 * y

    return f


def _inputs(decreasing: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(0)
    y0 = torch.randn(2, generator=g, dtype=F64).requires_grad_()
    theta = (0.7 * torch.randn(6, generator=g, dtype=F64)).requires_grad_()
    t = torch.tensor([0.0, 0.25, 0.5], dtype=F64)
    t = (0.3 - t) if decreasing else t
    return y0, theta, t.requires_grad_()


class MLPField(nn.Module):
    """f(t, y) = tanh(y W1^T + b1 + t w_t) W2^T: an MLP vector field with time input."""

    def __init__(self, dim: int = 3, hidden: int = 16, seed: int = 0) -> None:
        super().__init__()
        with torch.random.fork_rng():  # seeded weights, the global generator untouched
            torch.manual_seed(seed)
            self.l1, self.l2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
            self.w_t = nn.Parameter(torch.randn(hidden))
        self.double()

    def forward(self, t: Tensor, y: Tensor) -> Tensor:
        return self.l2(torch.tanh(self.l1(y) + t * self.w_t))


# --- gradcheck --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", [*FIXED_RK, *ADAPTIVE_RK])
def test_backprop_gradcheck_every_method(method: str) -> None:
    """Backprop through odeint is the exact derivative of the discrete solver.

    Fixed steps (also for the embedded pairs) keep the step sequence independent of the
    inputs, so the discrete map is smooth and gradcheck's default tolerances apply.
    """
    y0, theta, t = _inputs()
    opts = {"step_size": 0.1}

    def fn(y0: Tensor, theta: Tensor) -> Tensor:
        return odeint(_field(theta), y0, t.detach(), method=method, options=opts)

    assert torch.autograd.gradcheck(fn, (y0, theta))


# The adjoint and the finite differences of the discrete map each differ from the exact
# gradient by ~C h^p. Step sizes per method, and gradcheck's atol about 4x the difference
# measured on this problem (euler 1.5e-3, heun 3.3e-5, bosh3 6.7e-6, rk4 1e-7, the rest
# below 1e-7): far below the gradient's size (0.1 .. 1), so a wrong sign or a missing term
# still fails.
_FIXED_STEP = {
    "euler": (2e-3, 6e-3),
    "midpoint": (5e-3, 1.5e-4),
    "heun": (5e-3, 1.5e-4),
    "ralston": (5e-3, 1.5e-4),
    "heun_euler": (5e-3, 1.5e-4),
    "bosh3": (2.5e-2, 3e-5),
    "rk4": (2.5e-2, 1e-6),
    "rk38": (2.5e-2, 1e-6),
    "fehlberg45": (5e-2, 1e-6),
    "dopri5": (5e-2, 1e-6),
    "tsit5": (5e-2, 1e-6),
    "dopri8": (0.125, 1e-6),
}


@pytest.mark.parametrize("method", list(_FIXED_STEP))
def test_adjoint_gradcheck_every_method_fixed_step(method: str) -> None:
    """gradcheck of odeint_adjoint (y0, theta and t) with every tableau, fixed steps.

    The adjoint of a discretisation is not the derivative of that discretisation (it
    discretises the continuous adjoint equation instead), only an O(h^p) approximation of
    it; gradcheck's `atol` is that budget. The forward and the adjoint use the same tableau.
    """
    y0, theta, t = _inputs()
    h, tol = _FIXED_STEP[method]
    opts = {"step_size": h}

    def fn(y0: Tensor, theta: Tensor, t: Tensor) -> Tensor:
        return odeint_adjoint(
            _field(theta), y0, t, method=method, options=opts, adjoint_params=(theta,)
        )

    assert torch.autograd.gradcheck(fn, (y0, theta, t), atol=tol, rtol=1e-3)


# Adaptive gradcheck: (rtol, atol) of both passes, gradcheck atol, output times.
_ADAPTIVE = {
    "heun_euler": (1e-5, 1e-7, 5e-5, 3),
    "bosh3": (1e-7, 1e-9, 2e-6, 3),
    "fehlberg45": (1e-10, 1e-12, 1e-5, 3),
    "dopri5": (1e-10, 1e-12, 1e-6, 3),
    "tsit5": (1e-10, 1e-12, 1e-6, 3),
    # dopri8 has no continuous extension: its outputs inside a step are cubic Hermite
    # values, accurate to O(h^4) only (~1e-6 here), which finite differences turn into
    # noise of ~1e-6/eps. Its outputs are therefore the end points, where it steps exactly.
    "dopri8": (1e-10, 1e-12, 1e-6, 2),
}


@pytest.mark.parametrize("method", list(_ADAPTIVE))
def test_adjoint_gradcheck_adaptive(method: str) -> None:
    """gradcheck of odeint_adjoint with step-size control on, in both passes.

    Both the forward map and the adjoint are accurate to ~tol, and finite differences of an
    adaptive solver carry noise of ~tol/eps from the step sizes that depend on the input.
    """
    rtol, atol, gc_atol, n_out = _ADAPTIVE[method]
    y0, theta, t = _inputs()
    t = t.detach()[:n_out].requires_grad_()

    def fn(y0: Tensor, theta: Tensor, t: Tensor) -> Tensor:
        return odeint_adjoint(
            _field(theta), y0, t, method=method, rtol=rtol, atol=atol, adjoint_params=(theta,)
        )

    assert torch.autograd.gradcheck(fn, (y0, theta, t), atol=gc_atol, rtol=1e-3)


# --- the closed form: y' = A(p) y, y(0) = b(p) (chapter 5) ----------------------------------

_A0 = torch.tensor([[-0.3, 1.0, 0.2], [-1.0, -0.2, 0.5], [0.1, -0.4, -0.6]], dtype=F64)
_A1 = torch.tensor([[1.0, 0.0, 0.3], [0.0, 0.5, 0.0], [-0.2, 0.0, 0.0]], dtype=F64)
_A2 = torch.tensor([[0.0, 0.4, 0.0], [-0.4, 0.0, 1.0], [0.0, 0.0, 0.7]], dtype=F64)
_W = torch.tensor([0.5, -1.0, 2.0], dtype=F64)


def _A(p: Tensor) -> Tensor:
    return _A0 + p[0] * _A1 + p[1] * _A2


def _b(p: Tensor) -> Tensor:
    return torch.stack([torch.cos(p[2]), torch.sin(p[2]), p[0] * p[1]])


def _g(y: Tensor) -> Tensor:
    return _W @ y + 0.5 * (y * y).sum()


def _expm_frechet(M: Tensor, E: Tensor) -> Tensor:
    """d/ds exp(M + sE) at s = 0: the upper-right block of exp([[M, E], [0, M]]) (Van Loan)."""
    n = M.shape[0]
    big = torch.zeros(2 * n, 2 * n, dtype=M.dtype)
    big[:n, :n], big[n:, n:], big[:n, n:] = M, M, E
    return torch.linalg.matrix_exp(big)[:n, n:]


def _closed_form(p: Tensor, T: float) -> tuple[Tensor, Tensor]:
    """dg(y(T))/dp and dg(y(T))/dT from the matrix exponential, no ODE solver involved."""
    A, b = _A(p), _b(p)
    E = torch.linalg.matrix_exp(T * A)
    yT = E @ b
    gy = _W + yT  # gradient of g at y(T)
    db = torch.stack(
        [
            torch.tensor([0.0, 0.0, p[1]], dtype=F64),
            torch.tensor([0.0, 0.0, p[0]], dtype=F64),
            torch.stack([-torch.sin(p[2]), torch.cos(p[2]), torch.zeros((), dtype=F64)]),
        ]
    )  # (3 parameters, 3 components)
    dA = (_A1, _A2, torch.zeros(3, 3, dtype=F64))
    dp = torch.stack([gy @ (_expm_frechet(T * A, T * dA[k]) @ b + E @ db[k]) for k in range(3)])
    return dp, gy @ (A @ yT)


_P = torch.tensor([0.3, -0.5, 0.8], dtype=F64)


def _linear_grads(T: float, adjoint: bool | None, **kwargs) -> tuple[Tensor, Tensor]:
    """dg(y(T))/dp and dg/dt by backprop (adjoint=False) or the adjoint (True; None: the
    adjoint told adjoint_params=(), so that it misses the dependence of f on p)."""
    p = _P.clone().requires_grad_()
    t = torch.tensor([0.0, T], dtype=F64, requires_grad=True)

    def f(s: Tensor, y: Tensor) -> Tensor:
        return _A(p) @ y

    if adjoint is False:
        ys = odeint(f, _b(p), t.detach(), **kwargs)
    else:
        params = (p,) if adjoint else ()
        ys = odeint_adjoint(f, _b(p), t, adjoint_params=params, **kwargs)
    grads = torch.autograd.grad(_g(ys[-1]), (p, t), allow_unused=True)
    return grads[0], grads[1]


def test_adjoint_matches_matrix_exponential() -> None:
    """dg/dp, dg/dT and dg/dt0 = -dg/dT (autonomous system) from the closed form."""
    T = 1.3
    dp_exact, dT_exact = _closed_form(_P, T)
    dp, dt = _linear_grads(T, True, **TIGHT)
    torch.testing.assert_close(dp, dp_exact, rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(dt, torch.stack([-dT_exact, dT_exact]), rtol=1e-8, atol=1e-10)
    # Without p in adjoint_params only the path through y0 = b(p) is seen: a wrong answer.
    dp_partial, _ = _linear_grads(T, None, **TIGHT)
    assert (dp_partial - dp_exact).abs().max() > 1e-2


def test_backprop_matches_matrix_exponential() -> None:
    dp_exact, _ = _closed_form(_P, 1.3)
    dp, _ = _linear_grads(1.3, False, **TIGHT)
    torch.testing.assert_close(dp, dp_exact, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("method", list(FIXED_RK))
def test_fixed_step_adjoint_converges_at_method_order(method: str) -> None:
    """The adjoint gradient of an order-p method converges to the exact one like h^p."""
    order, T = FIXED_RK[method], 1.0
    dp_exact, _ = _closed_form(_P, T)
    errors = []
    for n in (10, 20, 40):
        dp, _ = _linear_grads(T, True, method=method, options={"step_size": T / n})
        errors.append(float((dp - dp_exact).abs().max()))
    slopes = [math.log2(errors[i] / errors[i + 1]) for i in range(2)]
    assert all(order - 0.3 < s < order + 0.6 for s in slopes), (errors, slopes)


# --- adjoint against backprop and finite differences ---------------------------------------


def _mlp_problem(decreasing: bool = False):
    func = MLPField()
    g = torch.Generator().manual_seed(1)
    y0 = torch.randn(4, 3, generator=g, dtype=F64).requires_grad_()
    t = torch.tensor([0.0, 0.3, 0.8, 1.2], dtype=F64)
    t = (0.5 - t) if decreasing else t
    w = torch.randn(len(t), 4, 3, generator=g, dtype=F64)

    def loss(ys: Tensor) -> Tensor:  # uses every output time
        return (w * ys).sum() + 0.5 * (ys * ys).sum()

    return func, y0, t.requires_grad_(), loss


def _rel(a: Tensor, b: Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def test_adjoint_agrees_with_backprop() -> None:
    func, y0, t, loss = _mlp_problem()
    params = list(func.parameters())
    g_adj = torch.autograd.grad(loss(odeint_adjoint(func, y0, t, **TIGHT)), [y0, *params])
    g_bp = torch.autograd.grad(loss(odeint(func, y0, t.detach(), **TIGHT)), [y0, *params])
    for a, b in zip(g_adj, g_bp, strict=True):
        assert _rel(a, b) < 1e-6


def _central_difference(fn, x: Tensor, v: Tensor, eps: float) -> float:
    with torch.no_grad():
        return float((fn(x + eps * v) - fn(x - eps * v)) / (2 * eps))


@pytest.mark.parametrize("decreasing", [False, True], ids=["increasing-t", "decreasing-t"])
def test_adjoint_agrees_with_finite_differences(decreasing: bool) -> None:
    """Directional derivatives along y0, theta and each t_i, by central differences.

    With eps = 1e-4 the truncation error is ~eps^2 and the solver noise ~tol/eps.
    """
    func, y0, t, loss = _mlp_problem(decreasing)
    theta = func.l1.weight
    g_y0, g_theta, g_t = torch.autograd.grad(
        loss(odeint_adjoint(func, y0, t, **TIGHT)), (y0, theta, t)
    )
    y0_, t_ = y0.detach(), t.detach()
    v = torch.randn(y0.shape, generator=torch.Generator().manual_seed(2), dtype=F64)
    fd = _central_difference(lambda y: loss(odeint(func, y, t_, **TIGHT)), y0_, v, 1e-4)
    assert abs(fd - float((g_y0 * v).sum())) < 1e-6 * abs(fd)
    u = torch.randn(theta.shape, generator=torch.Generator().manual_seed(3), dtype=F64)
    w0 = theta.detach().clone()

    def at_theta(w: Tensor) -> Tensor:
        theta.data.copy_(w)
        return loss(odeint(func, y0_, t_, **TIGHT))

    fd = _central_difference(at_theta, w0, u, 1e-4)
    theta.data.copy_(w0)
    assert abs(fd - float((g_theta * u).sum())) < 1e-6 * abs(fd)
    for i in range(len(t)):
        e = torch.zeros_like(t_)
        e[i] = 1.0
        fd = _central_difference(lambda s: loss(odeint(func, y0_, s, **TIGHT)), t_, e, 1e-4)
        assert abs(fd - float(g_t[i])) < 1e-6 * max(abs(fd), 1.0), (i, fd, g_t)


@pytest.mark.parametrize("decreasing", [False, True], ids=["increasing-t", "decreasing-t"])
def test_time_gradients_by_gradcheck(decreasing: bool) -> None:
    """dL/dt for every output time, also for decreasing t (the sign conventions)."""
    y0, theta, t = _inputs(decreasing)

    def fn(t: Tensor) -> Tensor:
        return odeint_adjoint(_field(theta), y0, t, adjoint_params=(theta,), **TIGHT)

    assert torch.autograd.gradcheck(fn, (t,), atol=1e-6)


def test_time_gradient_of_autonomous_endpoint_pair() -> None:
    """For y' = f(y): y(t1) depends on t1 - t0 only, so dL/dt0 = -dL/dt1 = -<a, f(y(t1))>."""
    func = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2)).double()
    y0 = torch.tensor([0.5, -0.3], dtype=F64)
    t = torch.tensor([0.2, 1.1], dtype=F64, requires_grad=True)
    ys = odeint_adjoint(lambda s, y: func(y), y0, t, adjoint_params=tuple(func.parameters()))
    (g_t,) = torch.autograd.grad(ys[-1].sum(), t)
    with torch.no_grad():
        expected = func(ys[-1]).sum()
    torch.testing.assert_close(g_t, torch.stack([-expected, expected]), rtol=1e-6, atol=1e-9)


def test_backward_restarts_from_the_stored_states() -> None:
    """y' = -k y on [0, 6]: y(6) ~ 1e-13 is below atol, so y reconstructed backwards from it
    is noise amplified by e^(20) by t = 2. Restarting from the stored y(2) keeps dL/dk right."""
    k = torch.tensor(5.0, dtype=F64, requires_grad=True)
    t = torch.tensor([0.0, 2.0, 4.0, 6.0], dtype=F64)
    ys = odeint_adjoint(lambda s, y: -k * y, torch.ones((), dtype=F64), t, adjoint_params=(k,))
    (g,) = torch.autograd.grad(ys[1], k)  # the loss is y(2) = exp(-2k)
    exact = -2.0 * torch.exp(-2 * k.detach())
    assert abs(float(g / exact) - 1) < 1e-4  # measured: 3e-6; without the restart: 950


# --- tuple states ------------------------------------------------------------------------


def test_tuple_state_gives_concatenated_gradients() -> None:
    func, y0, t, loss = _mlp_problem()
    params = list(func.parameters())
    x0, v0 = y0[:, :2].detach().requires_grad_(), y0[:, 2:].detach().requires_grad_()

    def tuple_field(s: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        out = func(s, torch.cat(state, dim=-1))
        return out[:, :2], out[:, 2:]

    xs, vs = odeint_adjoint(tuple_field, (x0, v0), t, adjoint_params=params, **TIGHT)
    g_tuple = torch.autograd.grad(loss(torch.cat([xs, vs], dim=-1)), [x0, v0, t, *params])
    ys = odeint_adjoint(func, torch.cat([x0, v0], dim=-1), t, **TIGHT)
    g_cat = torch.autograd.grad(loss(ys), [x0, v0, t, *params])
    for a, b in zip(g_tuple, g_cat, strict=True):
        assert _rel(a, b) < 1e-9
    # A loss on one part only: the other part's incoming gradient is None.
    _, vs = odeint_adjoint(tuple_field, (x0, v0), t, adjoint_params=params, **TIGHT)
    g_x0, g_v0 = torch.autograd.grad(vs[-1].sum(), [x0, v0])
    ys = odeint(func, torch.cat([x0, v0], dim=-1), t.detach(), **TIGHT)
    g_ref = torch.autograd.grad(ys[-1, :, 2:].sum(), [x0, v0])
    assert _rel(g_x0, g_ref[0]) < 1e-6 and _rel(g_v0, g_ref[1]) < 1e-6


# --- seminorm ------------------------------------------------------------------------------


def _wide_problem():
    """An MLP vector field with ~4500 parameters on a 4-dimensional state."""
    func = MLPField(dim=4, hidden=64, seed=3)
    y0 = torch.randn(8, 4, generator=torch.Generator().manual_seed(4), dtype=F64)
    return func, y0, torch.tensor([0.0, 1.0], dtype=F64)


def _backward_nfe(norm, **tol) -> tuple[int, list[Tensor]]:
    func, y0, t = _wide_problem()
    stats: dict[str, int] = {}
    ys = odeint_adjoint(func, y0, t, adjoint_options={"norm": norm}, stats=stats, **tol)
    grads = torch.autograd.grad((ys[-1] ** 2).sum(), list(func.parameters()))
    return stats["nfe_backward"], grads


def test_seminorm_saves_backward_evaluations() -> None:
    """Kidger, Chen & Lyons (2021): leaving a_theta out of step control saves evaluations."""
    tol = {"rtol": 1e-4, "atol": 1e-6}
    nfe_full, g_full = _backward_nfe("default", **tol)
    nfe_semi, g_semi = _backward_nfe("seminorm", **tol)
    assert nfe_semi <= 0.8 * nfe_full, (nfe_semi, nfe_full)  # measured: 20 against 32
    func, y0, t = _wide_problem()
    ys = odeint(func, y0, t, **TIGHT)
    g_ref = torch.autograd.grad((ys[-1] ** 2).sum(), list(func.parameters()))
    for a, b, ref in zip(g_semi, g_full, g_ref, strict=True):
        # Measured: 5e-4 with the seminorm, 3e-5 without; both within 20 rtol.
        assert _rel(a, ref) < 2e-3 and _rel(b, ref) < 2e-3


def test_seminorm_gradient_is_accurate() -> None:
    _, g_semi = _backward_nfe("seminorm", **TIGHT)
    func, y0, t = _wide_problem()
    ys = odeint(func, y0, t, **TIGHT)
    g_bp = torch.autograd.grad((ys[-1] ** 2).sum(), list(func.parameters()))
    for a, b in zip(g_semi, g_bp, strict=True):
        assert _rel(a, b) < 1e-6


def test_callable_norm_sees_the_augmented_tuple() -> None:
    """A callable norm gets (a_t, y parts, a parts, a_theta parts) of the scaled error."""
    func, y0, t = _wide_problem()
    seen: list[tuple[torch.Size, ...]] = []

    def semi(parts: tuple[Tensor, ...]) -> Tensor:
        seen.append(tuple(p.shape for p in parts))
        y, a = parts[1], parts[2]  # the built-in seminorm: max of the RMS of y and of a
        return torch.maximum(y.pow(2).mean().sqrt(), a.pow(2).mean().sqrt())

    stats: dict[str, int] = {}
    ys = odeint_adjoint(func, y0, t.requires_grad_(), adjoint_options={"norm": semi}, stats=stats)
    (ys[-1] ** 2).sum().backward()
    p_shapes = tuple(p.shape for p in func.parameters())
    assert seen and seen[0] == (torch.Size([]), y0.shape, y0.shape, *p_shapes)
    assert stats["nfe_backward"] == _backward_nfe("seminorm", rtol=1e-7, atol=1e-9)[0] + 1


# --- memory ----------------------------------------------------------------------------------


def _saved_bytes(adjoint: bool, n_steps: int) -> int:
    """Bytes autograd keeps for the backward pass of one rk4 solve with n_steps steps."""
    func = MLPField(dim=8, hidden=32)
    y0 = torch.randn(16, 8, dtype=F64, requires_grad=True)
    t = torch.tensor([0.0, 1.0], dtype=F64)
    total = [0]

    def pack(x: Tensor) -> Tensor:
        total[0] += x.numel() * x.element_size()
        return x

    solver = odeint_adjoint if adjoint else odeint
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda x: x):
        solver(func, y0, t, method="rk4", options={"step_size": 1.0 / n_steps})
    return total[0]


def test_adjoint_memory_does_not_grow_with_steps() -> None:
    """The adjoint keeps the outputs and the parameters; backprop keeps every stage."""
    assert _saved_bytes(True, 800) == _saved_bytes(True, 50) > 0
    assert _saved_bytes(False, 800) > 10 * _saved_bytes(False, 50)


# --- arguments, statistics -------------------------------------------------------------------


def test_plain_function_without_adjoint_params_is_refused() -> None:
    y0, theta, t = _inputs()
    with pytest.raises(ValueError, match="adjoint_params"):
        odeint_adjoint(_field(theta), y0, t)
    # adjoint_params=() is allowed: gradients with respect to y0 and t only.
    ys = odeint_adjoint(_field(theta), y0, t, adjoint_params=())
    g_y0, g_theta = torch.autograd.grad(ys[-1].sum(), (y0, theta), allow_unused=True)
    assert g_y0 is not None and g_theta is None


def test_bad_adjoint_params_are_refused() -> None:
    y0, theta, t = _inputs()
    f = _field(theta)
    with pytest.raises(TypeError, match="tuple or list"):
        odeint_adjoint(f, y0, t, adjoint_params=theta)
    with pytest.raises(TypeError, match=r"adjoint_params\[1\]"):
        odeint_adjoint(f, y0, t, adjoint_params=(theta, 3.0))
    with pytest.raises(ValueError, match="requires_grad_"):
        odeint_adjoint(f, y0, t, adjoint_params=(theta.detach(),))
    with pytest.raises(TypeError, match="dtype"):
        odeint_adjoint(f, y0, t, adjoint_params=(theta.float().detach().requires_grad_(),))
    with pytest.raises(ValueError, match="seminorm"):
        odeint_adjoint(f, y0, t, adjoint_params=(theta,), adjoint_options={"norm": "max"})
    with pytest.raises(ValueError, match="adjoint_options"):
        odeint_adjoint(
            f, y0, t, method="rk4", options={"step_size": 0.1}, adjoint_method="dopri5",
            adjoint_params=(theta,),
        )  # fmt: skip


def test_repeated_parameter_counts_once() -> None:
    y0, theta, t = _inputs()
    once = torch.autograd.grad(
        odeint_adjoint(_field(theta), y0, t, adjoint_params=(theta,))[-1].sum(), theta
    )[0]
    twice = torch.autograd.grad(
        odeint_adjoint(_field(theta), y0, t, adjoint_params=[theta, theta])[-1].sum(), theta
    )[0]
    torch.testing.assert_close(once, twice)


def test_stats_count_function_evaluations() -> None:
    calls = [0]
    func = MLPField()

    def counted(s: Tensor, y: Tensor) -> Tensor:
        calls[0] += 1
        return func(s, y)

    y0 = torch.randn(4, 3, dtype=F64, requires_grad=True)
    stats: dict[str, int] = {}
    ys = odeint_adjoint(
        counted,
        y0,
        torch.linspace(0, 1, 5, dtype=F64),
        adjoint_params=tuple(func.parameters()),
        stats=stats,
    )
    assert stats == {"nfe_forward": calls[0], "nfe_backward": 0}
    ys.sum().backward()
    assert stats["nfe_backward"] == calls[0] - stats["nfe_forward"] > 0


# --- GPU ---------------------------------------------------------------------------------


@pytest.mark.gpu
def test_gpu_adjoint_matches_cpu() -> None:
    func, y0, t, loss = _mlp_problem()
    params = list(func.parameters())
    g_cpu = torch.autograd.grad(loss(odeint_adjoint(func, y0, t, **TIGHT)), [y0, t, *params])
    func.cuda()
    y0c = y0.detach().cuda().requires_grad_()
    tc = t.detach().cuda().requires_grad_()
    ys = odeint_adjoint(func, y0c, tc, **TIGHT)
    assert ys.device.type == "cuda"
    g_gpu = torch.autograd.grad(loss(ys.cpu()), [y0c, tc, *func.parameters()])
    for a, b in zip(g_gpu, g_cpu, strict=True):
        assert a.device.type == "cuda" and _rel(a.cpu(), b) < 1e-8


@pytest.mark.gpu
def test_gpu_adjoint_peak_memory_does_not_grow_with_steps() -> None:
    func = MLPField(dim=64, hidden=256).float().cuda()
    y0 = torch.randn(256, 64, device="cuda", requires_grad=True)
    t = torch.tensor([0.0, 1.0], device="cuda")

    def peak(solver, n: int) -> int:
        func.zero_grad(set_to_none=True)  # every run allocates its gradients afresh
        y0.grad = None
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        ys = solver(func, y0, t, method="rk4", options={"step_size": 1.0 / n})
        ys[-1].square().sum().backward()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base

    peak(odeint_adjoint, 10)  # the first call allocates cuBLAS's workspace, which stays
    assert peak(odeint_adjoint, 800) <= 1.2 * peak(odeint_adjoint, 50)
    assert peak(odeint, 800) > 5 * peak(odeint, 50)
