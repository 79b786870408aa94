"""Chapter 4 (normalising flows): the lecture notebook runs, and the numbers it states are right.

The notebook is executed once (module fixture, with strict claims: a sentence of the text
that its numbers contradict stops the run); the tests read its glued values. What they
check is mathematics, not the printed text: the change of variables reproduces the known
Gaussian and gives a density; the Tabak-Turner ascent never lowers the likelihood and carries
the data towards a Gaussian; the determinant costs grow like N^3 (dense) and N (triangular);
the matrix determinant lemma and the coupling layer's log-determinant and inverse agree with
brute force; the trained flows beat the best Gaussian and come close to the target's entropy.

The trained models are fitted once per seed (SEED, SEED + 1, SEED + 2), and the notebook
glues the mean, minimum and maximum over the seeds: the training checks below bound the
worst seed, with margins from the spread measured over seeds 0-6 (the seeds that runs with
NODELIB_SEED = 0..4 use), quoted at each check.

The timing bands: the measurement uses the thread's CPU time, the minimum of five
interleaved rounds, one thread (nodelib.course.timing), which made the dense slope reproducible on
a loaded two-core machine (2.73 to 2.87 in eight runs, where wall-clock timing of the same
matrices gave anything from 2.56 to 3.39). It sits below 3 because LU's rate of work still grows
over N = 512..2048 (more of it is cache-friendly matrix products); [2.6, 3.2] allows for
that and for other processors, and excludes N^2 and N^4.
"""

from __future__ import annotations

import re

import pytest
from _notebooks import assert_claims, execute_notebook, glued_floats

from nodelib.course.book import glued_values

NOTEBOOK = "chapters/ch04_normalising_flows.ipynb"


@pytest.fixture(scope="module")
def nb():
    return execute_notebook(NOTEBOOK)


@pytest.fixture(scope="module")
def g(nb) -> dict[str, float]:
    return glued_floats(nb)


def test_every_glued_key_in_the_text_is_computed(nb):
    used = set()
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            used |= set(re.findall(r"\{glue:text\}`([\w-]+)", cell.source))
    assert used, "the chapter states no computed number"
    assert used <= set(glued_values(nb)), used - set(glued_values(nb))


def test_every_claim_of_the_text_is_checked_and_holds(nb):
    assert_claims(nb, 15)  # one per checked sentence


def test_change_of_variables(g):
    assert g["affine_logp_error"] < 1e-10
    assert g["affine_det"] < 0  # the example includes a reflection: |det A| counts
    assert abs(g["mass_1d"] - 1) < 1e-3
    # without 1/f'(z) the "density" integrates to E f'(Z) = 1 + (w u_hat) E tanh'(3Z) > 1
    assert g["mass_1d_without"] > 1.3, g["mass_1d_without"]
    # 100 000 samples in 200 bins: the histogram is off by sampling noise only (measured
    # 0.96 to 1.20 times the expected noise over seeds 1-8)
    assert g["hist_tv"] < 1.5 * g["noise_tv"]


def test_tabak_turner_ascent(g):
    assert g["tt_min_increment"] >= -1e-12  # the likelihood never decreases, on any seed
    # the training gain: 1.04 to 1.16 nats over seeds 0-6
    assert g["tt_loglik_end_min"] > g["tt_loglik_start_max"] + 0.8
    # and it generalises: held-out points keep 0.95 to 1.02 of the gain over seeds 0-6
    assert g["tt_gain_ratio_min"] > 0.85, g["tt_gain_ratio_min"]
    assert g["tt_test_end_min"] > g["tt_loglik_start_max"] + 0.7
    # rho_t approaches the Gaussian: E|z|^4 moves towards N(N + 2) = 8 (from 5.1-5.2 to
    # 8.1-9.2 over seeds 0-6, the worst seed 0.42 of the way back)
    worst_end = max(abs(g["tt_m4_end_min"] - 8), abs(g["tt_m4_end_max"] - 8))
    assert worst_end < 0.5 * abs(g["tt_m4_start_max"] - 8), (worst_end, g["tt_m4_start_max"])


def test_determinant_costs(g):
    assert 2.6 <= g["dense_slope"] <= 3.2, g["dense_slope"]
    assert 0.8 <= g["tri_slope"] <= 1.3, g["tri_slope"]
    assert g["dense_tri_ratio_2048"] > 1e3
    # time = (2/3) N^3 / rate, so the two least-squares slopes add up to 3 exactly
    assert abs(g["rate_slope"] + g["dense_slope"] - 3) < 1e-9
    # Not asserted tightly: the fit's prediction at N = 3072 against a measurement there. A
    # 50 % band failed 1 CI run in 6 (0.48 s predicted, 0.77 s measured): one large timing on
    # a 2-core machine is not a property of the mathematics. The notebook claims only the
    # order of magnitude (a factor of 3), which the strict run of the fixture checks.
    assert 1 / 3 < g["prediction_ratio"] < 3


def test_cheap_log_determinants_agree_with_brute_force(g):
    assert g["planar_lemma_error"] < 1e-10
    assert g["coupling_logdet_error"] < 1e-10
    assert g["coupling_inverse_error"] < 1e-10


def test_trained_flows(g):
    # the best Gaussian is 1.18 to 1.27 nats worse than the flow over seeds 0-6 (test losses
    # 2.30 to 2.38 nats)
    assert g["flow_nll_max"] < g["gauss_nll"] - 0.8, (g["flow_nll_max"], g["gauss_nll"])
    # KL(rho || p_theta) = NLL - H(rho) >= 0 (up to Monte Carlo error), and small: 0.16 to
    # 0.25 nats over seeds 0-6; 0.15 to 0.43 with another stream of batches, hence 0.6
    assert g["flow_gap_min"] > 0 and g["flow_gap_max"] < 0.6, (g["flow_gap_min"], g["flow_gap_max"])
    # the share of the way from the Gaussian to the floor: 0.83 to 0.89 over seeds 0-6
    # (down to 0.70 with another stream of batches)
    assert g["flow_closed_min"] > 0.6, g["flow_closed_min"]
    assert abs(g["target_entropy"] - 2.14) < 0.05  # log 8 + log(2 pi e 0.25^2), blobs apart
