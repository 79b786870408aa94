"""Chapter 4 (normalising flows): the lecture notebook runs, and the numbers it states are right.

The notebook is executed once (module fixture, with strict claims: a sentence of the text
that its numbers contradict stops the run); the tests read its glued values. What they
check is mathematics, not the printed text: the change of variables reproduces the known
Gaussian and gives a density; the Tabak-Turner ascent never lowers the likelihood and carries
the data towards a Gaussian; the determinant costs grow like N^3 (dense) and N (triangular);
the matrix determinant lemma and the coupling layer's log-determinant and inverse agree with
brute force; the trained flows beat the best Gaussian and come close to the target's entropy,
and leave bridges of density between the blobs where the target's density is small but
positive; the interactive figure gives every control at least two states.

The trained models are fitted once per seed (SEED, SEED + 1, SEED + 2), and the notebook
glues the mean, minimum and maximum over the seeds: the training checks below bound the
worst seed, with margins from the spread measured over seeds 0-6 (the seeds that runs with
NODELIB_SEED = 0..4 use), quoted at each check.

The timings: no test here fails on a slow or busy machine alone. The measurement uses the
thread's CPU time, the minimum of five interleaved rounds, one thread (nodelib.course.timing),
and fits the dense slope over N = 724..2048, where LU's cost is near its leading term. In the
20 runs of ``scripts/check_claims.py`` (seeds 0-4 and 17-21, default threads and one thread, on
a two-core machine at load 10-15) the dense slope was 2.78-3.12 and the triangular one
1.02-1.16; the fit from N = 512, used before, once gave 2.58 on the same machine. What is
asserted is what the text claims: each slope nearer its operation count's exponent (3 and 1)
than any other whole number, ratios of orders of magnitude, and the exact identity of the fits.
"""

from __future__ import annotations

import ast
import math
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
    assert_claims(nb, 16)  # one per checked sentence


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
    # nearer to 3 and to 1 than to any other whole number (see the module docstring)
    assert 2.5 < g["dense_slope"] < 3.5, g["dense_slope"]
    assert 0.5 < g["tri_slope"] < 1.5, g["tri_slope"]
    assert g["dense_tri_ratio_2048"] > 100  # measured 6000-10500
    # Out of the cache a number of the diagonal cost more in 20 check_claims runs (2.2-3.0 ns
    # against 3.1-8.6 ns) but not in one build (2.76 against 2.75 ns): prefetching can hide
    # main memory, so neither the text nor the test says which is larger.
    assert g["tri_ns_largest"] > 0 and g["tri_ns_cached"] > 0
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


def test_bridges_between_the_blobs(g):
    # the target midway between neighbouring blobs, against a centre: 2 exp(-d^2 / 2 sigma^2)
    # with d = 4 sin(pi / 16) the distance to the two nearest centres, over the centre's density
    # (its own blob, plus the two neighbours at 4 sin(pi / 8), a little)
    d_mid, d_next = 4 * math.sin(math.pi / 16), 4 * math.sin(math.pi / 8)
    mid = 2 * math.exp(-(d_mid**2) / (2 * 0.25**2))
    centre = 1 + 2 * math.exp(-(d_next**2) / (2 * 0.25**2))
    assert g["target_mid_share"] == pytest.approx(mid / centre, rel=1e-3)
    assert 0 < g["target_mid_share"] < 0.05
    # the flow's density there is several times the target's (5.9-15 times in the 20 runs)
    assert g["bridge_ratio_min"] > 1


def test_every_control_of_the_interactive_figure_has_two_states(nb):
    # the website steps through the `states` of each control: a control with one state is a
    # control that does nothing there (issue 25)
    calls = [cell.source for cell in nb.cells if "interactive_figure(" in cell.source]
    assert calls, "the chapter has no interactive figure"
    for source in calls:
        tree = ast.parse(source)
        literals = [
            node.value for node in ast.walk(tree)
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "states"
        ]  # fmt: skip
        for literal in literals:
            states = ast.literal_eval(literal)
            assert all(len(values) >= 2 for values in states.values()), states
