"""Ground-truth simulations for calib.stats: error rates and coverage.

Every simulation uses a fixed-seed numpy Generator, so the outcome is the same on every
run; the tolerances are stated with the Monte Carlo standard error (SE) they allow.
All work is vectorised over simulated experiments; the file runs in a few seconds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from calib.stats import (
    adjust_pvalues,
    always_valid_pvalue,
    confidence_sequence,
    diff_ci,
    exact_test,
    mde,
    proportion_ci,
    sample_size,
    spending_bounds,
    srm_test,
    two_proportion_ztest,
)

pytestmark = pytest.mark.slow

ALPHA = 0.05


def mc_se(rate: float, sims: int) -> float:
    return math.sqrt(rate * (1 - rate) / sims)


def test_aa_ztest_rejects_at_nominal_rate():
    rng = np.random.default_rng(20260101)
    sims = 20_000  # SE of a 5% rate: 0.0015; the 0.04-0.06 band is +-6.5 SE
    n1, n2, p = 2000, 2400, 0.12
    x1 = rng.binomial(n1, p, sims)
    x2 = rng.binomial(n2, p, sims)
    _, p_value = two_proportion_ztest(x1, n1, x2, n2)
    rate = np.mean(p_value < ALPHA)
    assert 0.04 <= rate <= 0.06, rate
    # and the p-values are uniform, not only right at 0.05
    assert stats.kstest(p_value, "uniform").pvalue > 0.001


@pytest.mark.parametrize(("p1", "p2", "n1", "n2"), [
    (0.10, 0.10, 200, 200),    # A/A, small
    (0.25, 0.25, 1000, 800),   # A/A, unequal arms
    (0.12, 0.10, 1500, 1500),  # A/B, realistic lift
    (0.40, 0.30, 60, 50),      # A/B, small arms
    (0.03, 0.05, 500, 500),    # A/B, low rates
])
@pytest.mark.parametrize("method", ["newcombe", "score"])
def test_difference_intervals_cover_the_truth(p1, p2, n1, n2, method):
    rng = np.random.default_rng([round(p1 * 1000), round(p2 * 1000), n1, n2])
    sims = 20_000  # SE of a 95% coverage: 0.0015; the 93.5-96.5% band is +-10 SE
    x1 = rng.binomial(n1, p1, sims)
    x2 = rng.binomial(n2, p2, sims)
    low, high = diff_ci(x1, n1, x2, n2, alpha=ALPHA, method=method)
    coverage = np.mean((low <= p1 - p2) & (p1 - p2 <= high))
    assert 0.935 <= coverage <= 0.965, coverage


def test_wald_interval_undercovers_where_newcombe_does_not():
    """The coverage check has teeth: it catches the known failure of the Wald interval."""
    rng = np.random.default_rng(99)
    sims, n, p1, p2 = 20_000, 30, 0.08, 0.05
    x1 = rng.binomial(n, p1, sims)
    x2 = rng.binomial(n, p2, sims)
    wald = diff_ci(x1, n, x2, n, method="wald")
    newcombe = diff_ci(x1, n, x2, n)
    cover = [np.mean((lo <= p1 - p2) & (p1 - p2 <= hi)) for lo, hi in (wald, newcombe)]
    assert cover[0] < 0.93 < cover[1], cover


@pytest.mark.parametrize(("p", "n"), [(0.05, 100), (0.3, 40), (0.5, 1000)])
def test_wilson_and_clopper_pearson_coverage(p, n):
    rng = np.random.default_rng(n)
    x = rng.binomial(n, p, 20_000)
    wilson = proportion_ci(x, n)
    exact = proportion_ci(x, n, method="clopper_pearson")
    cover_w = np.mean((wilson[0] <= p) & (p <= wilson[1]))
    cover_e = np.mean((exact[0] <= p) & (p <= exact[1]))
    assert 0.925 <= cover_w <= 0.975, cover_w  # Wilson oscillates around 95%
    assert cover_e >= 0.95 - 3 * mc_se(0.95, 20_000), cover_e  # exact is conservative


def _aa_looks(rng, sims, looks, batch, p):
    """Cumulative counts of `sims` A/A tests watched after each of `looks` batches."""
    x1 = rng.binomial(batch, p, (sims, looks)).cumsum(axis=1)
    x2 = rng.binomial(batch, p, (sims, looks)).cumsum(axis=1)
    n = batch * np.arange(1, looks + 1)
    return x1, n, x2, n


def test_peeking_guard_keeps_family_wise_error_under_alpha():
    rng = np.random.default_rng(314159)
    sims, looks = 10_000, 10  # SE of a 5% rate: 0.0022
    x1, n1, x2, n2 = _aa_looks(rng, sims, looks, batch=400, p=0.15)

    _, naive_p = two_proportion_ztest(x1, n1, x2, n2)
    naive_fwer = np.mean((naive_p < ALPHA).any(axis=1))
    # Armitage, McPherson & Rowe (1969): 10 looks at a nominal 5% test give ~19%.
    assert 0.15 <= naive_fwer <= 0.23, naive_fwer

    guarded_p = always_valid_pvalue(x1, n1, x2, n2, axis=1)
    guarded_fwer = np.mean(guarded_p[:, -1] < ALPHA)  # running min: any look
    assert guarded_fwer <= ALPHA, guarded_fwer

    low, high = confidence_sequence(x1, n1, x2, n2, alpha=ALPHA, axis=1)
    miss = np.mean(((low > 0) | (high < 0)).any(axis=1))
    assert miss <= ALPHA, miss


def test_confidence_sequence_covers_a_true_difference_at_every_look():
    rng = np.random.default_rng(2718)
    sims, looks, batch, p1, p2 = 10_000, 20, 250, 0.22, 0.18
    x1 = rng.binomial(batch, p1, (sims, looks)).cumsum(axis=1)
    x2 = rng.binomial(batch, p2, (sims, looks)).cumsum(axis=1)
    n = batch * np.arange(1, looks + 1)
    low, high = confidence_sequence(x1, n, x2, n, tau=0.03)
    covered_always = np.all((low <= p1 - p2) & (p1 - p2 <= high), axis=1)
    assert np.mean(covered_always) >= 1 - ALPHA, np.mean(covered_always)
    # and the guard is not useless: it detects this effect by the last look
    p = always_valid_pvalue(x1, n, x2, n, tau=0.03, axis=1)
    assert np.mean(p[:, -1] < ALPHA) > 0.8


@pytest.mark.parametrize("tau", [0.02, 0.1, 0.2, 0.5, 1.0])
@pytest.mark.parametrize("p", [0.1, 0.5])
def test_always_valid_guard_holds_from_the_first_leads(tau, p):
    """A/A test looked at after every 2 leads per arm from the very first (200 looks):
    with the minimum sample per arm before the first look the chance of ever
    rejecting stays under alpha over a grid of mixture scales; without it, at wide
    mixtures the tiny-sample looks reject far too often."""
    rng = np.random.default_rng(int(1000 * tau) + int(100 * p))
    sims, n = 3000, np.arange(2, 402, 2)  # SE of a 5% rate: 0.004
    x1 = (rng.random((sims, 400)) < p).cumsum(axis=1)[:, n - 1]
    x2 = (rng.random((sims, 400)) < p).cumsum(axis=1)[:, n - 1]
    guarded = always_valid_pvalue(x1, n, x2, n, tau=tau, axis=1)[:, -1]
    assert np.mean(guarded < ALPHA) <= ALPHA, np.mean(guarded < ALPHA)
    low, high = confidence_sequence(x1, n, x2, n, tau=tau, axis=1)
    miss = np.mean((low[:, -1] > 0) | (high[:, -1] < 0))
    assert miss <= ALPHA, miss
    if tau == 0.5 and p == 0.5:
        bare = always_valid_pvalue(x1, n, x2, n, tau=tau, axis=1, min_per_arm=0)[:, -1]
        assert np.mean(bare < ALPHA) > 0.08  # the failure the guard prevents


def test_always_valid_guard_gives_one_before_the_minimum():
    p = always_valid_pvalue([1, 25, 29, 200], [2, 29, 40, 400], [9, 0, 2, 100],
                            [10, 40, 29, 400], tau=0.5)
    assert list(p[:3]) == [1.0, 1.0, 1.0] and p[3] < 1e-6
    low, high = confidence_sequence(1, 2, 9, 10, tau=0.5)
    assert (low, high) == (-1.0, 1.0)


def test_obrien_fleming_plan_spends_exactly_alpha():
    rng = np.random.default_rng(1618)
    sims, looks = 40_000, 10  # SE of a 5% rate: 0.0011
    x1, n1, x2, n2 = _aa_looks(rng, sims, looks, batch=500, p=0.3)
    z, _ = two_proportion_ztest(x1, n1, x2, n2)
    bounds = np.array(spending_bounds(looks, ALPHA).z_bounds)
    fwer = np.mean((np.abs(z) >= bounds).any(axis=1))
    assert abs(fwer - ALPHA) < 4 * mc_se(ALPHA, sims), fwer


def test_planned_sample_size_delivers_the_planned_power():
    rng = np.random.default_rng(4242)
    sims, p_c, p_t = 20_000, 0.10, 0.12  # SE of an 80% rate: 0.0028
    n = math.ceil(sample_size(p_c, p_t))  # 3841, as R's power.prop.test
    _, p_value = two_proportion_ztest(rng.binomial(n, p_t, sims), n,
                                      rng.binomial(n, p_c, sims), n)
    achieved = np.mean(p_value < ALPHA)
    assert abs(achieved - 0.8) < 0.015, achieved  # normal approximation error included
    # the MDE for that sample is the effect we planned for
    assert mde(p_c, n) == pytest.approx(p_t - p_c, rel=1e-3)


def test_srm_test_is_calibrated_and_catches_a_broken_split():
    rng = np.random.default_rng(77)
    sims = 20_000
    fair = rng.multinomial(9000, [0.5, 0.3, 0.2], size=sims)
    _, p_value = srm_test(fair, [5, 3, 2])
    assert abs(np.mean(p_value < ALPHA) - ALPHA) < 4 * mc_se(ALPHA, sims)
    broken = rng.multinomial(9000, [0.52, 0.29, 0.19], size=2000)
    assert np.mean(srm_test(broken, [5, 3, 2])[1] < ALPHA) > 0.9


def test_holm_controls_fwer_and_bh_controls_fdr():
    rng = np.random.default_rng(8)
    sims, m = 5000, 12
    # global null: 12 independent A/A comparisons per experiment
    x1 = rng.binomial(800, 0.2, (sims, m))
    x2 = rng.binomial(800, 0.2, (sims, m))
    _, p = two_proportion_ztest(x1, 800, x2, 800)
    holm = np.array([adjust_pvalues(row) for row in p])
    raw_fwer = np.mean((p < ALPHA).any(axis=1))
    holm_fwer = np.mean((holm < ALPHA).any(axis=1))
    assert raw_fwer > 0.4  # ~1 - 0.95**12 = 0.46 without correction
    assert holm_fwer <= ALPHA + 3 * mc_se(ALPHA, sims), holm_fwer
    # 4 real effects among 12: the false discovery proportion averages <= alpha
    p_true = np.where(np.arange(m) < 4, 0.26, 0.2)
    x1 = rng.binomial(800, p_true, (sims, m))
    _, p = two_proportion_ztest(x1, 800, x2, 800)
    bh = np.array([adjust_pvalues(row, method="bh") for row in p])
    rejected = bh < ALPHA
    false = rejected[:, 4:].sum(axis=1)
    fdp = np.where(rejected.sum(axis=1) > 0, false / np.maximum(rejected.sum(axis=1), 1), 0)
    assert np.mean(fdp) <= ALPHA, np.mean(fdp)


def test_fisher_exact_test_never_exceeds_alpha_on_small_arms():
    rng = np.random.default_rng(5)
    sims, n1, n2, p = 3000, 15, 12, 0.2  # expected counts < 5: where the z-test is unsafe
    x1 = rng.binomial(n1, p, sims)
    x2 = rng.binomial(n2, p, sims)
    rate = np.mean(exact_test(x1, n1, x2, n2) < ALPHA)
    assert rate <= ALPHA, rate
