"""Chapter 6 (Neural ODEs): the lecture runs, and the numbers its text states are right.

The notebook is executed once (module fixture) and trains every model on three seeds
(SEED, SEED + 1, SEED + 2; SEED = 0 unless NODELIB_SEED says otherwise). It glues the mean,
minimum and maximum over those seeds of every training result (`nodelib.course.book.glue_spread`),
and the tests check the text's statements on the minimum and maximum, so on every seed: the
accuracies of the three classifiers of Table 1, their parameter counts (ODE-Net and RK-Net
share one vector field), memory saved for backward growing linearly with the steps for
backprop and constant for the adjoint, the NFE of the adaptive solver against its tolerance
and during training, Hutchinson's estimator unbiased, the CNF's test NLL near the true
entropy and below the planar flow's, the latent ODE against the RNN, and the augmented
Neural ODE against the plain one on the nested intervals.

The margins come from the spread measured with scripts/check_claims.py over NODELIB_SEED 0-4,
which trains seeds 0-6 (CPU); each test says what it was. The notebook's own `claim`s
(strict in the tests) check the same sentences seed by seed.
"""

from __future__ import annotations

from itertools import pairwise

import pytest
from _notebooks import assert_claims, execute_notebook, glued_floats

NOTEBOOK = "chapters/ch06_neural_odes.ipynb"


@pytest.fixture(scope="module")
def glued() -> dict[str, float]:
    return glued_floats(execute_notebook(NOTEBOOK))


def test_every_claim_of_the_text_is_checked_and_holds() -> None:
    assert_claims(execute_notebook(NOTEBOOK), 19)  # the sentences checked with claim


def test_three_seeds(glued: dict[str, float]) -> None:
    assert glued["n_seeds"] == 3


@pytest.mark.parametrize("model", ["resnet", "rknet", "odenet"])
def test_classifiers_learn_the_digits(glued: dict[str, float], model: str) -> None:
    # Seeds 0-6, width 16, 5 epochs: ResNet 0.833-0.949, RK-Net 0.798-0.896, ODE-Net
    # 0.747-0.891 (chance is 0.1). The bound leaves 0.05 below the worst seed.
    assert glued[f"sup_acc_{model}_min"] > 0.7
    assert glued[f"sup_acc_{model}_min"] <= glued[f"sup_acc_{model}_mean"]
    assert glued[f"sup_acc_{model}_mean"] <= glued[f"sup_acc_{model}_max"] <= 1
    mean_err = 100 * (1 - glued[f"sup_acc_{model}_mean"])
    assert glued[f"sup_err_{model}_mean"] == pytest.approx(mean_err)


def test_parameter_counts(glued: dict[str, float]) -> None:
    # One shared vector field: the same count; six residual blocks: about three times more.
    assert glued["sup_params_odenet"] == glued["sup_params_rknet"]
    ratio = glued["sup_params_resnet"] / glued["sup_params_odenet"]
    assert 2.5 < ratio < 4.5, ratio
    assert glued["params_ratio"] == pytest.approx(ratio)


def test_backprop_memory_grows_linearly_and_adjoint_memory_is_constant(
    glued: dict[str, float],
) -> None:
    layers = (1, 2, 4, 8)
    for model in ("resnet", "rknet"):
        mem = [glued[f"mem_{model}_{n}"] for n in layers]
        per_step = glued[f"mem_{model}_per_step"]
        assert per_step > 0
        for n, m in zip(layers, mem, strict=True):  # on the line through the end points
            assert m == pytest.approx(mem[0] + per_step * (n - 1), rel=0.02), (model, n)
        assert glued[f"mem_{model}_ratio"] > 2.5
    adjoint = [glued[f"mem_odenet_{n}"] for n in layers]
    assert max(adjoint) - min(adjoint) < 0.01 * min(adjoint)
    assert glued["mem_odenet_ratio"] == pytest.approx(1, abs=0.01)
    assert glued["sup_mem_odenet"] == pytest.approx(adjoint[0])  # adaptive: the same bytes
    # An RK4 step stores four evaluations of the field: more than one residual block.
    assert glued["mem_rknet_per_step"] > glued["mem_resnet_per_step"]


def test_nfe_grows_as_the_tolerance_shrinks(glued: dict[str, float]) -> None:
    nfe = [glued[f"tol_nfe_{k}_mean"] for k in range(5)]
    assert all(a <= b for a, b in pairwise(nfe))
    # Seeds 0-6: 20 evaluations at 1e-1 (three dopri5 steps) on every seed, 68-74 at 1e-5:
    # a factor 2 holds between the extreme seeds with room to spare.
    assert glued["tol_nfe_4_min"] > 2 * glued["tol_nfe_0_max"]
    # The accuracy hardly moves with the tolerance (seeds 0-6: at most 0.44 points).
    assert glued["tol_acc_change_max"] < 3
    for k in range(5):
        assert glued[f"tol_acc_{k}_min"] > 0.7
    # Evaluating at the training tolerance gives the training run's accuracy up to one test
    # image (of 450) per seed: fit scores in batches of 64, the sweep the whole test set at
    # once, and dopri5 chooses one step size per batch, so a borderline image can flip (seen
    # on seed 2 on one machine and not on another).
    assert glued["tol_acc_2_mean"] == pytest.approx(glued["sup_acc_odenet_mean"], abs=1 / 450)


def test_backward_nfe_against_forward(glued: dict[str, float]) -> None:
    # dopri5 needs at least 2 steps of 6 evaluations plus 2: 14.
    assert glued["nfe_forward_first_min"] >= 14 and glued["nfe_backward_last_min"] >= 8
    # The forward NFE grows during training (paper, Fig. 3d). Seeds 0-6: first epoch
    # 21.4-23.0 per batch, last 27.9-32.0, so even across seeds the last exceeds the first.
    assert glued["nfe_forward_last_min"] > glued["nfe_forward_first_max"]
    # The text: backward about as many as forward, not half (seeds 0-6: 0.91-0.96).
    assert 0.75 < glued["nfe_backward_ratio_min"] <= glued["nfe_backward_ratio_max"] < 1.25
    # Leaving the parameter adjoint out of the error norm saves at most one step here
    # (seeds 0-6: it saves nothing, 32 evaluations either way).
    assert glued["nfe_backward_seminorm_mean"] <= glued["nfe_backward_default_mean"]
    assert 0 <= glued["nfe_seminorm_saving_max"] <= 6
    assert glued["nfe_forward_batch_min"] >= 14


def test_hutchinson_is_unbiased(glued: dict[str, float]) -> None:
    for probe in ("gaussian", "rademacher"):
        std = glued[f"hutch_std_{probe}"]
        assert abs(glued[f"hutch_bias_{probe}"]) < 4 * std / 64  # 4 standard errors, n = 4096
    assert glued["hutch_std_rademacher"] < glued["hutch_std_gaussian"]


def test_cnf_nll_near_the_true_entropy_and_below_the_planar_flow(
    glued: dict[str, float],
) -> None:
    # Eight Gaussians of std 0.25: entropy log 8 + log(2 pi e 0.25^2), sampled on 2000 points.
    exact = 2.0794 + 1.0 + 1.8379 - 2.7726
    assert glued["true_entropy_min"] == pytest.approx(exact, abs=0.05)
    assert glued["true_entropy_max"] == pytest.approx(exact, abs=0.05)
    # Trained briefly (150 steps), the CNF stays above the entropy, within a quarter nat
    # (seeds 0-6: NLL 2.24-2.28 against entropy estimates 2.10-2.13, about 0.11-0.16 above).
    assert glued["cnf_gap_min"] > 0
    assert glued["cnf_gap_max"] < 0.25
    mean_gap = glued["cnf_nll_mean"] - glued["true_entropy_mean"]
    assert glued["cnf_gap_mean"] == pytest.approx(mean_gap)
    # Seeds 0-6: CNF 2.24-2.28, planar flow 2.81-3.07: the worst CNF beats the best planar.
    assert glued["cnf_nll_max"] < glued["planar_nll_min"]
    # The sizes are not matched, and the text says so: 80 against about 1,300 parameters.
    assert glued["planar_params"] == 5 * glued["planar_k"]
    assert glued["cnf_params"] > 10 * glued["planar_params"]


def test_latent_ode_against_the_rnn(glued: dict[str, float]) -> None:
    # Both reconstruct inside the observed window (the spirals' radius is 0.5 to 3.3, the
    # observation noise variance 2 x 0.1^2 = 0.02). Seeds 0-6: latent ODE 0.10-0.32, RNN
    # 0.087-0.11.
    assert glued["latent_interp_mse_max"] < 0.5 and glued["rnn_interp_mse_max"] < 0.5
    assert glued["rnn_interp_mse_mean"] < glued["latent_interp_mse_mean"]
    # Extrapolation is worse than interpolation for both.
    for name in ("latent", "rnn"):
        assert glued[f"{name}_extrap_mse_min"] > glued[f"{name}_interp_mse_max"]
    # At laptop size the paper's result does not reproduce, and the text says so: the latent
    # ODE extrapolates worse than the RNN on every seed (seeds 0-6: latent ODE 4.0 to 19, RNN
    # 0.30 to 1.13). If a change makes it better, update the text of section 6.4.
    assert glued["latent_extrap_mse_min"] > glued["rnn_extrap_mse_max"]


def test_augmentation_fixes_the_nested_intervals(glued: dict[str, float]) -> None:
    # No increasing flow with a linear head beats the best threshold (a theorem, checked per
    # seed in the notebook); the best threshold is about 3/4 (seeds 0-6: 0.755-0.788). The
    # plain model reaches 0.50-0.79.
    assert glued["anode_acc_plain_max"] <= glued["anode_ceiling_max"] < 0.85
    # Seeds 0-6: the augmented model reaches 1.000 on every test set.
    assert glued["anode_acc_augmented_min"] >= 0.99
    assert glued["anode_acc_augmented_min"] > glued["anode_acc_plain_max"] + 0.1
    assert glued["anode_loss_augmented_max"] < glued["anode_loss_plain_min"]
    # The plain model's NFE grows during training (seeds 0-6: from 14-16.6 per batch to
    # 32-48), more than the augmented model's on average (26-32 at the end).
    assert glued["anode_nfe_plain_min"] > 1.5 * glued["anode_nfe_first_plain_max"]
    assert glued["anode_nfe_augmented_mean"] < glued["anode_nfe_plain_mean"]
