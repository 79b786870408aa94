"""Options are checked against the method that reads them (issue 15).

An option a method does not read raises the same kind of error as an unknown one, naming the
method and the options it does read: `method="rk4", options={"max_step": ..., "controller":
"pi"}` used to be accepted silently, and a reader believed the step size was controlled.
"""

from __future__ import annotations

import pytest
import torch

from nodelib import odeint, odeint_adjoint, solve
from nodelib.odeint import method_options


def decay(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return -y


Y0 = torch.ones(2, dtype=torch.float64)
T = torch.linspace(0.0, 1.0, 3, dtype=torch.float64)


@pytest.mark.parametrize(
    ("method", "options", "unused"),
    [
        ("rk4", {"max_step": 0.1, "controller": "pi"}, "['controller', 'max_step']"),
        ("euler", {"first_step": 0.1}, "['first_step']"),
        ("dopri5", {"theta": 0.5}, "['theta']"),
        ("dopri5", {"step_size": 0.1, "controller": "pi"}, "['controller']"),
        ("backward_euler", {"theta": 0.3, "step_size": 0.1}, "['theta']"),
        ("adams_bashforth2", {"newton_tol": 1e-8, "step_size": 0.1}, "['newton_tol']"),
        ("bdf2", {"norm": abs, "step_size": 0.1}, "['norm']"),
    ],
)
def test_an_option_the_method_does_not_read_raises(method: str, options: dict, unused: str):
    with pytest.raises(ValueError, match="not used by") as info:
        odeint(decay, Y0, T, method=method, options=options)
    message = str(info.value)
    assert unused in message and repr(method) in message
    valid, _ = method_options(method, options)
    assert ", ".join(sorted(valid)) in message  # it says what the method does read


def test_unknown_options_still_name_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['stepsize'\]") as info:
        odeint(decay, Y0, T, method="rk4", options={"stepsize": 0.1})
    assert "interp, max_num_steps, perturb, step_size" in str(info.value)


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("rk4", {"step_size": 0.1, "max_num_steps": 100}),
        ("dopri5", {"first_step": 0.01, "max_step": 0.5, "min_step": 1e-9, "controller": "pi"}),
        ("dopri5", {"step_size": 0.1}),
        ("theta", {"theta": 0.5, "newton_tol": 1e-10, "newton_max_iter": 20, "step_size": 0.05}),
        ("bdf3", {"step_size": 0.05, "newton_tol": 1e-10}),
    ],
)
def test_the_options_a_method_reads_are_accepted(method: str, options: dict):
    ys = odeint(decay, Y0, T, method=method, options=options)
    assert torch.allclose(ys[-1], torch.exp(-T[-1]) * Y0, atol=1e-3)


def test_adjoint_with_a_fixed_step_method_passes_no_norm_to_its_backward_solves():
    # The backward solves of an adaptive method get a norm option; a fixed-step method reads
    # none, so the adjoint must not pass one (it would be refused as unused).
    y0 = Y0.clone().requires_grad_(True)
    ys = odeint_adjoint(decay, y0, T, method="rk4", options={"step_size": 0.05}, adjoint_params=())
    (grad,) = torch.autograd.grad(ys[-1].sum(), y0)
    assert torch.allclose(grad, torch.exp(-T[-1]) * torch.ones_like(Y0), atol=1e-5)


def test_torchdiffeq_controller_factors_set_the_controller_fields():
    from nodelib.step_control import RecordingController

    f, y0, t = (lambda t, y: -y), torch.ones(2, dtype=torch.float64), torch.tensor([0.0, 5.0])
    t = t.double()
    recorder = RecordingController()
    solve(f, y0, t, options={"controller": recorder, "safety": 0.5, "ifactor": 1.5})
    # ifactor bounds the growth of every accepted step; safety 0.5 keeps each ratio small.
    grows = [b[0] / a[0] for a, b in zip(recorder.attempts, recorder.attempts[1:], strict=False)]
    assert max(grows) <= 1.5 + 1e-12
    default = solve(f, y0, t).stats["n_steps"]
    assert solve(f, y0, t, options={"safety": 0.5}).stats["n_steps"] > default
    with pytest.raises(ValueError, match=r"options\['dfactor'\] must lie in"):
        odeint(f, y0, t, options={"dfactor": 1.5})
    with pytest.raises(ValueError, match="not used by"):
        odeint(f, y0, t, method="rk4", options={"safety": 0.9})
