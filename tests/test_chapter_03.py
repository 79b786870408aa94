"""Chapter 3's lecture notebook: it executes, and the numbers its text states are right.

The notebook is executed once (module fixture, shared with the book build's cache); the tests
read the values it glued into the text and check them against what the chapter claims: the
trained residual network classifies the digits well and the plain one of the same depth does
not (degradation), a zero-weight residual layer is exactly the identity, the weight-shared
Euler ResNet converges to the ODE with order 1, deleting a layer of the ODE-scaled ResNet
costs little, antisymmetric and Hamiltonian layers are stable, and the reversible stack
saves only its output and reconstructs its input.
"""

from __future__ import annotations

import pytest
from _notebooks import execute_notebook, glued_floats

NOTEBOOK = "chapters/ch03_resnets_as_odes.ipynb"


@pytest.fixture(scope="module")
def glued() -> dict[str, float]:
    return glued_floats(execute_notebook(NOTEBOOK))


def test_residual_network_trains_and_plain_network_degrades(glued: dict[str, float]) -> None:
    assert glued["acc_ode"] >= 93.0  # percent, on the held-out digits
    assert glued["acc_plain"] <= glued["acc_ode"] - 10.0
    # degradation is a training problem, not overfitting: the plain training loss is higher
    assert glued["loss_plain"] >= 3 * glued["loss_ode"]
    # at the smallest depth the plain network is fine
    assert glued["acc_plain_shallow"] >= 88.0


def test_gradients_at_initialisation(glued: dict[str, float]) -> None:
    # h = T/N: every layer gets a gradient of about the same size; plain: not
    assert 0.5 <= glued["grad_ratio_ode"] <= 2.0
    assert glued["grad_ratio_plain"] >= 3.0 or glued["grad_ratio_plain"] <= 1 / 3


def test_zero_layer_is_the_identity(glued: dict[str, float]) -> None:
    assert glued["identity_difference"] == 0.0
    assert glued["identity_depth"] == glued["depth_main"] + 1
    assert glued["plain_zero_layer_acc"] <= 20.0  # a zero plain layer forgets the input


def test_shared_weight_euler_resnet_converges_with_order_one(glued: dict[str, float]) -> None:
    assert 0.85 <= glued["euler_slope"] <= 1.15
    assert glued["euler_error_finest"] < glued["euler_error_train"] / 10
    assert glued["shared_acc_max"] - glued["shared_acc_min"] <= 3.0
    assert glued["shared_acc"] >= 85.0


def test_deleting_layers(glued: dict[str, float]) -> None:
    assert glued["drop_ode_max"] <= 3.0  # accuracy points
    assert glued["drop_plain_min"] >= 10.0
    assert glued["update_ode_mean"] < glued["update_resnet_mean"] < glued["update_plain_mean"]
    assert 0.5 <= glued["amplification_ode"] <= 2.0


def test_stability_of_the_forward_pass(glued: dict[str, float]) -> None:
    assert glued["growth_generic"] >= 3 * glued["growth_antisym"]
    assert glued["growth_damped"] < glued["growth_antisym"]
    assert 0.5 <= glued["growth_damped"] <= 1.5
    assert abs(glued["logdet_hamilton"]) < 1e-8  # leapfrog preserves volume
    assert glued["sv_max_generic"] / glued["sv_min_generic"] > 10 * (
        glued["sv_max_hamilton"] / glued["sv_min_hamilton"]
    )


def test_reversible_stack_saves_memory_and_inverts(glued: dict[str, float]) -> None:
    assert glued["saved_reversible_constant"] == 1
    assert glued["saved_reversible_kib"] == pytest.approx(glued["output_kib"])
    assert glued["saved_ratio"] >= glued["rev_depth"] / 2
    assert glued["reconstruction_float64"] < 1e-10
    assert glued["reconstruction_float32"] < 1e-3
    assert glued["rev_grad_difference"] < 1e-10
