"""Tests of calib.stats against statsmodels, scipy, R and published values.

Reference numbers carry the call that produced them. R values are from R 4.2.2
(``Rscript``); rpact is the Debian package r-cran-rpact. Live comparisons with
statsmodels run over grids of counts. Slow simulations live in
test_stats_simulation.py.
"""

from __future__ import annotations

import contextlib
import json
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize, stats
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    power_proportions_2indep,
    proportion_confint,
    proportion_effectsize,
    proportions_ztest,
    samplesize_proportions_2indep_onetail,
)

from calib.errors import CalibError
from calib.stats import (
    ProportionComparison,
    StatsInputError,
    adjust_pvalues,
    always_valid_pvalue,
    compare_proportions,
    comparison_status,
    confidence_sequence,
    diff_ci,
    exact_test,
    mcnemar,
    mde,
    power,
    prob_beat,
    proportion_ci,
    ratio_ci,
    sample_size,
    spending_bounds,
    srm_test,
    two_proportion_ztest,
)
from calib.stats.bayes import _miller_sum, _quad_prob

# Deterministic hypothesis runs: the same examples on every machine and in CI.
PROPERTY = settings(derandomize=True, max_examples=150, deadline=None, database=None)

SM_METHOD = {"wilson": "wilson", "agresti_coull": "agresti_coull",
             "jeffreys": "jeffreys", "clopper_pearson": "beta"}

# (x, n) pairs covering 0, n, tiny and large samples.
ONE_ARM_GRID = [(0, 1), (1, 1), (0, 7), (3, 7), (7, 7), (12, 50), (1, 200), (199, 200),
                (350, 1000), (0, 5000), (4321, 10000)]
# (x1, n1, x2, n2) cases, including zeros in one or both arms.
TWO_ARM_GRID = [(56, 70, 48, 80), (9, 10, 3, 10), (5, 56, 0, 29), (0, 10, 0, 20),
                (10, 10, 0, 20), (3, 1000, 9, 1200), (500, 1000, 480, 1000),
                (1, 3, 2, 5), (130, 1000, 100, 1000), (40, 45, 44, 45), (0, 30, 30, 30)]


@contextlib.contextmanager
def no_runtime_warnings():
    """Turn numpy RuntimeWarnings (0/0, log(0)...) into errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        yield


# ---------------------------------------------------------------------------
# proportion_ci
# ---------------------------------------------------------------------------

# statsmodels.stats.proportion.proportion_confint(12, 50, method=M) and
# proportion_confint(3, 200, alpha=0.1, method=M), M = SM_METHOD[method].
PROPORTION_REFERENCE = {
    "wilson": [(0.1429739139699172, 0.3741268375794292),
               (0.006010227842770131, 0.03693651799236223)],
    "agresti_coull": [(0.14159960372603342, 0.3755011478233131),
                      (0.004726608881473769, 0.0382201369536586)],
    "jeffreys": [(0.1384137654673936, 0.37069316759016924),
                 (0.005437694810954237, 0.03477120159778132)],
    "clopper_pearson": [(0.13060991619745735, 0.3816907481040382),
                        (0.00410061333506991, 0.03830970849856934)],
}


@pytest.mark.parametrize("method", sorted(PROPORTION_REFERENCE))
def test_proportion_ci_reference_values(method):
    (ref_50, ref_200) = PROPORTION_REFERENCE[method]
    np.testing.assert_allclose(proportion_ci(12, 50, method=method), ref_50, rtol=1e-12)
    np.testing.assert_allclose(proportion_ci(3, 200, alpha=0.1, method=method), ref_200,
                               rtol=1e-12)


def test_proportion_ci_matches_r():
    # R: prop.test(12, 50, correct=FALSE)$conf.int  (Wilson score interval)
    np.testing.assert_allclose(proportion_ci(12, 50), (0.142973913969917, 0.374126837579429),
                               rtol=1e-12)
    # R: binom.test(12, 50)$conf.int  (Clopper-Pearson)
    np.testing.assert_allclose(proportion_ci(12, 50, method="clopper_pearson"),
                               (0.130609916197457, 0.381690748104038), rtol=1e-12)


@pytest.mark.parametrize("method", sorted(SM_METHOD))
@pytest.mark.parametrize("alpha", [0.05, 0.2])
def test_proportion_ci_matches_statsmodels_on_grid(method, alpha):
    for x, n in ONE_ARM_GRID:
        if method == "jeffreys" and x in (0, n):
            continue  # we apply the Brown-Cai-DasGupta boundary fix; see next test
        ref = proportion_confint(x, n, alpha=alpha, method=SM_METHOD[method])
        got = proportion_ci(x, n, alpha=alpha, method=method)
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-14, err_msg=f"{x}/{n}")


def test_jeffreys_boundary_fix():
    low, high = proportion_ci([0, 0, 5], [5, 40, 5], method="jeffreys")
    np.testing.assert_array_equal(low[:2], [0.0, 0.0])
    assert high[2] == 1.0
    # The other bound is the ordinary equal-tailed Beta quantile.
    # scipy.stats.beta.isf(0.025, 0.5, 40.5)
    assert high[1] == pytest.approx(stats.beta.isf(0.025, 0.5, 40.5), rel=1e-12)


@pytest.mark.parametrize("method", sorted(SM_METHOD))
def test_proportion_ci_vectorised_equals_scalar(method):
    x = np.array([[0, 3, 7], [1, 12, 50]])
    n = np.array([[7, 7, 7], [50, 50, 50]])
    low, high = proportion_ci(x, n, method=method)
    assert low.shape == high.shape == (2, 3)
    for idx in np.ndindex(x.shape):
        lo, hi = proportion_ci(int(x[idx]), int(n[idx]), method=method)
        assert np.ndim(lo) == 0
        assert low[idx] == lo and high[idx] == hi
    # broadcasting a scalar n against an array of x
    low_b, _ = proportion_ci([0, 3, 7], 7, method=method)
    np.testing.assert_array_equal(low_b, low[0])


@pytest.mark.parametrize("method", sorted(SM_METHOD))
def test_proportion_ci_empty_arm_is_nan_without_warning(method):
    with no_runtime_warnings():
        low, high = proportion_ci(0, 0, method=method)
        assert math.isnan(low) and math.isnan(high)
        low, high = proportion_ci([0, 2], [0, 4], method=method)
    assert np.isnan(low[0]) and np.isnan(high[0])
    assert np.isfinite(low[1]) and np.isfinite(high[1])


@pytest.mark.parametrize(("kwargs", "code"), [
    ({"x": -1, "n": 5}, "negative_count"),
    ({"x": 1, "n": -5}, "negative_count"),
    ({"x": 6, "n": 5}, "count_exceeds_trials"),
    ({"x": np.nan, "n": 5}, "not_finite"),
    ({"x": "a", "n": 5}, "not_numeric"),
    ({"x": [1, 2], "n": [3, 4, 5]}, "shape_mismatch"),
    ({"x": 1, "n": 5, "alpha": 0}, "invalid_probability"),
    ({"x": 1, "n": 5, "alpha": 1.5}, "invalid_probability"),
    ({"x": 1, "n": 5, "method": "wald"}, "unknown_option"),
])
def test_proportion_ci_rejects_bad_input(kwargs, code):
    with pytest.raises(StatsInputError) as info:
        proportion_ci(**kwargs)
    assert info.value.code == code
    assert isinstance(info.value, CalibError) and isinstance(info.value, ValueError)


def test_wilson_interval_inverts_the_score_test():
    """Wilson excludes p0 exactly when the score test of p = p0 rejects at alpha."""
    rng = np.random.default_rng(20240501)
    agreements = 0
    for _ in range(400):
        n = int(rng.integers(1, 300))
        x = int(rng.integers(0, n + 1))
        p0 = float(rng.uniform(0.01, 0.99))
        alpha = float(rng.choice([0.01, 0.05, 0.1]))
        low, high = proportion_ci(x, n, alpha=alpha)
        # statsmodels.stats.proportion.proportions_ztest(x, n, value=p0, prop_var=p0)
        _, p_value = proportions_ztest(x, n, value=p0, prop_var=p0)
        if abs(p_value - alpha) < 1e-9:
            continue  # on the boundary the two may round differently
        assert (p0 < low or p0 > high) == (p_value < alpha), (x, n, p0, alpha)
        agreements += 1
    assert agreements > 390


def test_clopper_pearson_inverts_the_exact_binomial_tails():
    rng = np.random.default_rng(7)
    for _ in range(300):
        n = int(rng.integers(1, 120))
        x = int(rng.integers(0, n + 1))
        p0 = float(rng.uniform(0.01, 0.99))
        low, high = proportion_ci(x, n, method="clopper_pearson")
        # reject when either one-sided exact tail is <= alpha/2
        upper_tail = stats.binom.sf(x - 1, n, p0)  # P(X >= x)
        lower_tail = stats.binom.cdf(x, n, p0)  # P(X <= x)
        rejects = min(upper_tail, lower_tail) <= 0.025
        assert (p0 < low or p0 > high) == rejects, (x, n, p0)


@PROPERTY
@given(n=st.integers(1, 5000), data=st.data(),
       method=st.sampled_from(sorted(SM_METHOD)), alpha=st.sampled_from([0.01, 0.05, 0.2]))
def test_proportion_ci_contains_estimate(n, data, method, alpha):
    x = data.draw(st.integers(0, n))
    low, high = proportion_ci(x, n, alpha=alpha, method=method)
    assert 0.0 <= low <= x / n <= high <= 1.0


@PROPERTY
@given(n=st.integers(1, 2000), data=st.data(), method=st.sampled_from(sorted(SM_METHOD)))
def test_proportion_ci_narrows_as_n_grows(n, data, method):
    """Same observed rate, twice the leads: a narrower interval."""
    x = data.draw(st.integers(0, n))
    low1, high1 = proportion_ci(x, n, method=method)
    low2, high2 = proportion_ci(2 * x, 2 * n, method=method)
    assert high2 - low2 < high1 - low1


@PROPERTY
@given(n=st.integers(1, 2000), data=st.data(), method=st.sampled_from(sorted(SM_METHOD)))
def test_proportion_ci_bounds_increase_with_successes(n, data, method):
    x = data.draw(st.integers(0, n - 1))
    low1, high1 = proportion_ci(x, n, method=method)
    low2, high2 = proportion_ci(x + 1, n, method=method)
    # weakly: Agresti-Coull's clipped bounds can stay at 0 (or 1) for a step
    assert low2 >= low1 and high2 >= high1 and (low2, high2) != (low1, high1)


def test_wider_at_higher_confidence():
    low90, high90 = proportion_ci(30, 100, alpha=0.10)
    low99, high99 = proportion_ci(30, 100, alpha=0.01)
    assert low99 < low90 and high99 > high90


# ---------------------------------------------------------------------------
# diff_ci
# ---------------------------------------------------------------------------

# Newcombe R. G. (1998), "Interval estimation for the difference between independent
# proportions: comparison of eleven methods", Stat Med 17:873-890, Table II, method 10
# (hybrid score, no continuity correction), published to 4 decimals.
NEWCOMBE_TABLE_II = [
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ((0, 10, 0, 10), (-0.2775, 0.2775)),
    ((10, 10, 0, 20), (0.6791, 1.0000)),
    ((10, 10, 0, 10), (0.6075, 1.0000)),
]


@pytest.mark.parametrize(("counts", "expected"), NEWCOMBE_TABLE_II)
def test_newcombe_published_examples(counts, expected):
    low, high = diff_ci(*counts)
    assert round(float(low), 4) == expected[0]
    assert round(float(high), 4) == expected[1]


def test_diff_ci_reference_values():
    # statsmodels.stats.proportion.confint_proportions_2indep(56, 70, 48, 80, method="newcomb")
    np.testing.assert_allclose(diff_ci(56, 70, 48, 80),
                               (0.05243147240236498, 0.33387265403690614), rtol=1e-12)
    # ... confint_proportions_2indep(5, 40, 1, 35, method="newcomb")
    np.testing.assert_allclose(diff_ci(5, 40, 1, 35),
                               (-0.03991522703651405, 0.23456509004372245), rtol=1e-12)
    # ... confint_proportions_2indep(56, 70, 48, 80, method="wald"); R's
    # prop.test(c(56, 48), c(70, 80), correct=FALSE)$conf.int gives the same
    # 0.0575048991490372 0.3424951008509630
    np.testing.assert_allclose(diff_ci(56, 70, 48, 80, method="wald"),
                               (0.057504899149037114, 0.342495100850963), rtol=1e-12)
    # ... confint_proportions_2indep(56, 70, 48, 80, method="agresti-caffo")
    np.testing.assert_allclose(diff_ci(56, 70, 48, 80, method="agresti_caffo"),
                               (0.052452926638053676, 0.33575845547576744), rtol=1e-12)
    # Score (Miettinen-Nurminen without N/(N-1)) interval for 7/34 vs 1/34: (0.028, 0.34),
    # the Fagerland et al. example used by statsmodels' tests (statsmodels PR #10270).
    low, high = diff_ci(7, 34, 1, 34, method="score")
    assert (round(float(low), 3), round(float(high), 2)) == (0.028, 0.34)


SM_DIFF = {"newcombe": "newcomb", "wald": "wald", "agresti_caffo": "agresti-caffo",
           "score": "score"}


@pytest.mark.parametrize("method", ["newcombe", "wald", "agresti_caffo"])
def test_diff_ci_matches_statsmodels_on_grid(method):
    # Not "score": statsmodels 0.15's restricted MLE for a difference has a wrong cubic
    # coefficient (statsmodels issue #10269); the score interval is checked against a
    # brute-force likelihood maximisation below instead.
    for x1, n1, x2, n2 in TWO_ARM_GRID:
        ref = confint_proportions_2indep(x1, n1, x2, n2, method=SM_DIFF[method])
        if method in ("wald", "agresti_caffo"):
            ref = np.clip(ref, -1, 1)  # we clip, statsmodels does not
        got = diff_ci(x1, n1, x2, n2, method=method)
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-14,
                                   err_msg=str((x1, n1, x2, n2)))


def _brute_force_score_ci(x1, n1, x2, n2, alpha=0.05):
    """Reference: restricted MLE by numerical maximisation, bounds by brentq."""
    z = stats.norm.isf(alpha / 2)
    d_hat = x1 / n1 - x2 / n2

    def loglik(p2, delta):
        p1 = p2 + delta
        out = 0.0
        for x, n, p in ((x1, n1, p1), (x2, n2, p2)):
            out += x * math.log(p) if x else 0.0
            out += (n - x) * math.log1p(-p) if n - x else 0.0
        return out

    def statistic(delta):
        lo, hi = max(0.0, -delta) + 1e-13, min(1.0, 1.0 - delta) - 1e-13
        res = optimize.minimize_scalar(lambda p: -loglik(p, delta), bounds=(lo, hi),
                                       method="bounded",
                                       options={"xatol": 1e-14, "maxiter": 2000})
        p2 = res.x
        p1 = p2 + delta
        return (d_hat - delta) / math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)

    eps = 1e-9
    low = -1.0 if d_hat <= -1 + eps else optimize.brentq(
        lambda d: statistic(d) - z, -1 + eps, d_hat - eps, xtol=1e-13)
    high = 1.0 if d_hat >= 1 - eps else optimize.brentq(
        lambda d: statistic(d) + z, d_hat + eps, 1 - eps, xtol=1e-13)
    return low, high


@pytest.mark.parametrize("counts", TWO_ARM_GRID + [(0, 10, 0, 12), (0, 20, 5, 20),
                                                   (7, 7, 7, 7), (0, 40, 1, 300),
                                                   (7, 34, 1, 34)])
def test_score_diff_ci_matches_brute_force(counts):
    np.testing.assert_allclose(diff_ci(*counts, method="score"),
                               _brute_force_score_ci(*counts), atol=1e-6)


def test_ztest_rejects_iff_score_interval_excludes_zero():
    """The pooled z-test is the score test at d = 0: same decision as the interval."""
    rng = np.random.default_rng(11)
    n1 = rng.integers(1, 400, size=600)
    n2 = rng.integers(1, 400, size=600)
    x1 = rng.binomial(n1, rng.uniform(0.02, 0.5, size=600))
    x2 = rng.binomial(n2, rng.uniform(0.02, 0.5, size=600))
    low, high = diff_ci(x1, n1, x2, n2, method="score")
    _, p_value = two_proportion_ztest(x1, n1, x2, n2)
    defined = np.isfinite(p_value) & (np.abs(p_value - 0.05) > 1e-9)
    assert defined.sum() > 550
    excludes = (low > 0) | (high < 0)
    np.testing.assert_array_equal(excludes[defined], p_value[defined] < 0.05)


@pytest.mark.parametrize("method", sorted(SM_DIFF))
def test_diff_ci_vectorised_equals_scalar(method):
    cases = np.array(TWO_ARM_GRID, dtype=float)
    low, high = diff_ci(*cases.T, method=method)
    for i, case in enumerate(TWO_ARM_GRID):
        lo, hi = diff_ci(*case, method=method)
        assert low[i] == pytest.approx(lo, abs=1e-15)
        assert high[i] == pytest.approx(hi, abs=1e-15)


@pytest.mark.parametrize("method", sorted(SM_DIFF))
def test_diff_ci_empty_arm_is_nan(method):
    with no_runtime_warnings():
        low, high = diff_ci([0, 3, 5], [0, 10, 10], [1, 0, 5], [10, 0, 10], method=method)
    assert np.isnan(low[:2]).all() and np.isnan(high[:2]).all()
    assert np.isfinite(low[2]) and np.isfinite(high[2])


@PROPERTY
@given(n1=st.integers(1, 3000), n2=st.integers(1, 3000), data=st.data(),
       method=st.sampled_from(sorted(SM_DIFF)))
def test_diff_ci_contains_estimate_and_is_antisymmetric(n1, n2, data, method):
    x1 = data.draw(st.integers(0, n1))
    x2 = data.draw(st.integers(0, n2))
    low, high = diff_ci(x1, n1, x2, n2, method=method)
    d = x1 / n1 - x2 / n2
    assert -1.0 <= low <= high <= 1.0
    if method in ("newcombe", "score", "wald"):  # agresti_caffo is centred elsewhere
        assert low <= d + 1e-12 and d - 1e-12 <= high
    low_r, high_r = diff_ci(x2, n2, x1, n1, method=method)
    assert low_r == pytest.approx(-high, abs=1e-9)
    assert high_r == pytest.approx(-low, abs=1e-9)


# ---------------------------------------------------------------------------
# ratio_ci
# ---------------------------------------------------------------------------

def test_ratio_ci_reference_values():
    # statsmodels confint_proportions_2indep(120, 1000, 100, 1000, compare="ratio",
    # method="log") gives (0.9341057510629938, 1.541581344897308) for p1 / p2
    np.testing.assert_allclose(ratio_ci(120, 1000, 100, 1000),
                               np.array([0.9341057510629938, 1.541581344897308]) - 1,
                               rtol=1e-12)
    # ... confint_proportions_2indep(0, 50, 4, 60, compare="ratio",
    # method="log-adjusted") gives (0.007340749843855514, 2.4138070402127614)
    np.testing.assert_allclose(ratio_ci(0, 50, 4, 60, method="log_adjusted"),
                               np.array([0.007340749843855514, 2.4138070402127614]) - 1,
                               rtol=1e-12)


@pytest.mark.parametrize(("method", "sm_method"), [("katz", "log"),
                                                   ("log_adjusted", "log-adjusted")])
def test_ratio_ci_matches_statsmodels_on_grid(method, sm_method):
    for x1, n1, x2, n2 in TWO_ARM_GRID:
        if method == "katz" and (x1 == 0 or x2 == 0):
            continue
        ref = np.array(confint_proportions_2indep(x1, n1, x2, n2, compare="ratio",
                                                  method=sm_method)) - 1
        np.testing.assert_allclose(ratio_ci(x1, n1, x2, n2, method=method), ref,
                                   rtol=1e-11, err_msg=str((x1, n1, x2, n2)))


def test_ratio_ci_undefined_cases_are_nan():
    with no_runtime_warnings():
        low, high = ratio_ci([0, 5, 0, 5], [10, 10, 0, 10], [5, 0, 5, 0], [10, 10, 10, 0])
    assert np.isnan(low).all() and np.isnan(high).all()
    low, high = ratio_ci([0, 5], [10, 10], [5, 0], [10, 10], method="log_adjusted")
    assert np.isfinite(low).all() and np.isfinite(high).all()


@PROPERTY
@given(n1=st.integers(1, 3000), n2=st.integers(1, 3000), data=st.data())
def test_katz_interval_contains_observed_lift(n1, n2, data):
    x1 = data.draw(st.integers(1, n1))
    x2 = data.draw(st.integers(1, n2))
    low, high = ratio_ci(x1, n1, x2, n2)
    lift = (x1 / n1) / (x2 / n2) - 1
    assert -1 <= low <= lift * (1 + 1e-12) + 1e-12 and lift * (1 - 1e-12) - 1e-12 <= high


# ---------------------------------------------------------------------------
# two_proportion_ztest, exact_test, compare_proportions
# ---------------------------------------------------------------------------

def test_ztest_reference_values():
    # statsmodels.stats.proportion.proportions_ztest([56, 48], [70, 80])
    z, p = two_proportion_ztest(56, 70, 48, 80)
    assert z == pytest.approx(2.6501719512585336, rel=1e-12)
    assert p == pytest.approx(0.00804508136819656, rel=1e-12)
    # R: prop.test(c(56, 48), c(70, 80), correct=FALSE): X-squared 7.02341137123746,
    # p-value 0.00804508136819656
    assert z**2 == pytest.approx(7.02341137123746, rel=1e-12)
    # proportions_ztest([130, 100], [1000, 1000], alternative="larger") and "smaller"
    z, p = two_proportion_ztest(130, 1000, 100, 1000, alternative="larger")
    assert (z, p) == pytest.approx((2.102740605622114, 0.017744225233237355), rel=1e-12)
    _, p = two_proportion_ztest(130, 1000, 100, 1000, alternative="smaller")
    assert p == pytest.approx(0.9822557747667626, rel=1e-12)


def test_ztest_matches_statsmodels_on_grid_and_vectorises():
    cases = np.array([c for c in TWO_ARM_GRID if 0 < c[0] + c[2] < c[1] + c[3]], dtype=float)
    z, p = two_proportion_ztest(*cases.T)
    for i, (x1, n1, x2, n2) in enumerate(cases):
        z_ref, p_ref = proportions_ztest([x1, x2], [n1, n2])
        assert z[i] == pytest.approx(z_ref, rel=1e-12)
        assert p[i] == pytest.approx(p_ref, rel=1e-10, abs=1e-300)
        assert two_proportion_ztest(x1, n1, x2, n2) == (z[i], p[i])


def test_ztest_undefined_cases_are_nan():
    with no_runtime_warnings():
        z, p = two_proportion_ztest([0, 10, 0, 3], [10, 10, 0, 8], [0, 20, 5, 2], [20, 20, 9, 8])
    assert np.isnan(z[:3]).all() and np.isnan(p[:3]).all()
    assert np.isfinite(z[3]) and np.isfinite(p[3])


def test_exact_test_reference_values():
    # scipy.stats.fisher_exact([[2, 18], [9, 11]]).pvalue; R:
    # fisher.test(matrix(c(2, 18, 9, 11), 2))$p.value = 0.0309503051438535
    assert exact_test(2, 20, 9, 20) == pytest.approx(0.0309503051438535, rel=1e-12)
    # scipy.stats.fisher_exact([[2, 18], [9, 11]], alternative="less").pvalue
    assert exact_test(2, 20, 9, 20, alternative="smaller") == pytest.approx(
        0.015475152571926765, rel=1e-12)
    # 1 - P(X <= 1) one-sided "larger" p-value is P(X >= 2) = 1 - P(X <= 1)
    assert exact_test(2, 20, 9, 20, alternative="larger") == pytest.approx(
        stats.hypergeom.sf(1, 40, 11, 20), rel=1e-12)
    # scipy.stats.boschloo_exact([[2, 18], [9, 11]]).pvalue
    assert exact_test(2, 20, 9, 20, method="boschloo") == pytest.approx(
        0.016329485023814483, rel=1e-6)


def test_exact_test_vectorises_and_handles_degenerate_tables():
    p = exact_test([2, 0, 5, 0], [20, 10, 5, 0], [9, 0, 5, 1], [20, 12, 5, 4])
    assert p[0] == exact_test(2, 20, 9, 20)
    assert p[1] == 1.0 and p[2] == 1.0  # a single possible table (as scipy and R)
    assert np.isnan(p[3])
    assert exact_test(0, 10, 0, 10, method="boschloo") == 1.0
    with pytest.raises(StatsInputError) as info:
        exact_test(2.5, 20, 9, 20)
    assert info.value.code == "not_integer"


def test_compare_proportions_picks_the_test():
    small = compare_proportions(1, 15, 7, 15)  # expected successes 4 < 5
    assert small.test == "fisher"
    assert small.p_value == exact_test(1, 15, 7, 15)
    assert math.isnan(small.statistic)
    large = compare_proportions(130, 1000, 100, 1000)
    assert large.test == "z"
    assert (large.statistic, large.p_value) == tuple(two_proportion_ztest(130, 1000, 100, 1000))
    assert (large.diff_low, large.diff_high) == tuple(diff_ci(130, 1000, 100, 1000))
    assert (large.lift_low, large.lift_high) == tuple(ratio_ci(130, 1000, 100, 1000))
    assert large.lift == pytest.approx(0.3)
    assert large.significant and not compare_proportions(101, 1000, 100, 1000).significant


def test_compare_proportions_statuses_and_result_object():
    empty = compare_proportions(0, 0, 5, 10)
    assert (empty.status, empty.test) == ("no_data", "none")
    assert math.isnan(empty.p_value) and math.isnan(empty.diff_low)
    flat = compare_proportions(0, 100, 0, 120)
    assert flat.status == "no_variation" and flat.test == "none"
    assert math.isnan(flat.p_value) and not flat.significant
    assert np.isfinite([flat.diff_low, flat.diff_high]).all()  # the interval still exists
    assert "not tested" in flat.summary()
    assert comparison_status(0, 100, 0, 120)[0] == "no_variation"
    assert comparison_status(5, 5, 7, 7)[0] == "no_variation"
    assert comparison_status(0, 0, 0, 0) == ("no_data", "both arms have no trials")
    assert comparison_status(3, 10, 4, 10) == ("ok", "")

    res = compare_proportions(130, 1000, 100, 1000)
    assert isinstance(res, ProportionComparison)
    payload = json.dumps(empty.to_dict(), allow_nan=False)  # nan -> null, JSON-safe
    assert json.loads(payload)["p_value"] is None
    frame = res.to_frame()
    assert frame.shape[0] == 1 and frame.loc[0, "test"] == "z"
    assert "13.00% vs 10.00%" in res.summary()
    with pytest.raises(StatsInputError):
        compare_proportions(3, 2, 1, 2)


# ---------------------------------------------------------------------------
# srm_test
# ---------------------------------------------------------------------------

def test_srm_reference_values():
    # scipy.stats.chisquare([5040, 4960], [5000, 5000]); R:
    # chisq.test(c(5040, 4960), p=c(0.5, 0.5))$p.value = 0.423710797166793
    chi2, p = srm_test([5040, 4960], [0.5, 0.5])
    assert chi2 == pytest.approx(0.64, rel=1e-12)
    assert p == pytest.approx(0.423710797166793, rel=1e-12)
    # R: chisq.test(c(1000, 2100, 2900), p=c(0.2, 0.3, 0.5))$statistic = 86.6666666666667
    # scipy.stats.chisquare([1000, 2100, 2900], [1200, 1800, 3000]).pvalue
    chi2, p = srm_test([1000, 2100, 2900], [2, 3, 5])
    assert chi2 == pytest.approx(86.6666666666667, rel=1e-12)
    assert p == pytest.approx(1.515557614400431e-19, rel=1e-9)


def test_srm_vectorises_over_experiments():
    observed = np.array([[5040, 4960], [5200, 4800], [0, 0]])
    with no_runtime_warnings():
        chi2, p = srm_test(observed, [1, 1])
    assert chi2.shape == (3,)
    assert (chi2[0], p[0]) == tuple(srm_test([5040, 4960], [1, 1]))
    assert chi2[1] == pytest.approx(16.0) and p[1] < 1e-4
    assert np.isnan(chi2[2]) and np.isnan(p[2])


@pytest.mark.parametrize(("observed", "weights", "code"), [
    ([10], [1], "too_few_arms"),
    ([10, -1], [1, 1], "negative_count"),
    ([10, 10], [1, 0], "not_positive"),
    ([10, 10, 10], [1, 1], "shape_mismatch"),
])
def test_srm_rejects_bad_input(observed, weights, code):
    with pytest.raises(StatsInputError) as info:
        srm_test(observed, weights)
    assert info.value.code == code


# ---------------------------------------------------------------------------
# adjust_pvalues
# ---------------------------------------------------------------------------

def test_adjust_pvalues_reference_values():
    p = [0.01, 0.04, 0.03, 0.005, 0.2]
    # R: p.adjust(c(0.01, 0.04, 0.03, 0.005, 0.2), "holm")
    np.testing.assert_allclose(adjust_pvalues(p), [0.040, 0.090, 0.090, 0.025, 0.200])
    # R: p.adjust(c(0.01, 0.04, 0.03, 0.005, 0.2), "BH")
    np.testing.assert_allclose(adjust_pvalues(p, method="bh"),
                               [0.025, 0.050, 0.050, 0.025, 0.200])
    np.testing.assert_allclose(adjust_pvalues(p, method="bonferroni"),
                               [0.05, 0.2, 0.15, 0.025, 1.0])


@pytest.mark.parametrize(("method", "sm_method"), [("holm", "holm"), ("bh", "fdr_bh"),
                                                   ("bonferroni", "bonferroni")])
def test_adjust_pvalues_matches_statsmodels(method, sm_method):
    rng = np.random.default_rng(3)
    for size in (1, 2, 7, 50):
        for _ in range(20):
            p = np.where(rng.random(size) < 0.5, rng.random(size) * 0.05, rng.random(size))
            p[rng.random(size) < 0.1] = 0.03  # ties
            # statsmodels.stats.multitest.multipletests(p, method=sm_method)[1]
            np.testing.assert_allclose(adjust_pvalues(p, method=method),
                                       multipletests(p, method=sm_method)[1], rtol=1e-12)


def test_adjust_pvalues_ignores_nan_like_r():
    # R: p.adjust(c(0.01, NA, 0.04, 0.03), "holm") -> 0.03 NA 0.06 0.06
    got = adjust_pvalues([0.01, np.nan, 0.04, 0.03])
    np.testing.assert_allclose(got, [0.03, np.nan, 0.06, 0.06])
    assert adjust_pvalues(np.array([])).shape == (0,)
    assert adjust_pvalues(np.full((2, 2), 0.01)).shape == (2, 2)
    with pytest.raises(StatsInputError):
        adjust_pvalues([0.5, 1.2])
    with pytest.raises(StatsInputError):
        adjust_pvalues([0.5], method="fdr")


@PROPERTY
@given(p=st.lists(st.floats(0, 1), min_size=1, max_size=30),
       method=st.sampled_from(["holm", "bh", "bonferroni"]))
def test_adjust_pvalues_properties(p, method):
    p = np.array(p)
    adj = adjust_pvalues(p, method=method)
    assert np.all(adj >= p - 1e-15) and np.all(adj <= 1)
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(adj[order]) >= -1e-15)  # monotone in the raw order
    assert np.all(adjust_pvalues(p, method="bh") <= adjust_pvalues(p, method="holm") + 1e-15)


# ---------------------------------------------------------------------------
# mcnemar
# ---------------------------------------------------------------------------

def test_mcnemar_reference_values():
    # R: mcnemar.test(matrix(c(794, 86, 150, 570), 2)): McNemar's chi-squared
    # 16.8177966101695, p-value 4.11456228134594e-05 (b = 150, c = 86)
    stat, p = mcnemar(150, 86)
    assert stat == pytest.approx(16.8177966101695, rel=1e-12)
    assert p == pytest.approx(4.11456228134594e-05, rel=1e-10)
    # R: mcnemar.test(matrix(c(794, 86, 150, 570), 2), correct=FALSE)$statistic
    assert mcnemar(150, 86, correction=False)[0] == pytest.approx(17.3559322033898, rel=1e-12)
    # statsmodels.stats.contingency_tables.mcnemar([[794, 86], [150, 570]], exact=True)
    stat, p = mcnemar(86, 150, exact=True)
    assert stat == 86 and p == pytest.approx(3.7159361395713866e-05, rel=1e-10)


def test_mcnemar_matches_statsmodels_and_vectorises():
    b = np.array([0, 1, 3, 9, 20, 86, 150, 5])
    c = np.array([1, 1, 9, 3, 25, 150, 86, 0])
    for exact in (True, False):
        for correction in (True, False):
            stat, p = mcnemar(b, c, exact=exact, correction=correction)
            for i in range(len(b)):
                if b[i] == c[i] and correction and not exact:
                    continue  # R, not statsmodels, there: see the test below
                ref = sm_mcnemar([[10, b[i]], [c[i], 10]], exact=exact, correction=correction)
                assert stat[i] == pytest.approx(ref.statistic, rel=1e-12)
                assert p[i] == pytest.approx(ref.pvalue, rel=1e-10)
                assert mcnemar(b[i], c[i], exact=exact, correction=correction) == (stat[i], p[i])


def test_mcnemar_consistency_with_one_sample_tests():
    rng = np.random.default_rng(5)
    for _ in range(200):
        b, c = (int(v) for v in rng.integers(0, 60, size=2))
        if b + c == 0:
            continue
        # exact McNemar is the two-sided binomial test of b ~ Binomial(b + c, 1/2)
        assert mcnemar(b, c, exact=True)[1] == pytest.approx(
            stats.binomtest(b, b + c, 0.5).pvalue, rel=1e-10)
        # uncorrected McNemar is the squared score test of b / (b + c) = 1/2, so it
        # rejects exactly when the Wilson interval excludes 1/2
        _, p = mcnemar(b, c, correction=False)
        low, high = proportion_ci(b, b + c)
        if abs(p - 0.05) > 1e-9:
            assert (p < 0.05) == (low > 0.5 or high < 0.5), (b, c)


def test_mcnemar_drops_the_correction_when_b_equals_c_as_r_does():
    # R: mcnemar.test(matrix(c(10, 1, 1, 10), 2)): McNemar's chi-squared = 0, p-value = 1
    # (R corrects only when the table is not symmetric; statsmodels gives p = 0.4795)
    assert mcnemar(1, 1) == (0.0, 1.0)
    assert mcnemar(7, 7) == (0.0, 1.0)
    stat, p = mcnemar([1, 1, 2], [1, 2, 1])
    assert list(stat) == [0.0, 0.0, 0.0] and list(p) == [1.0, 1.0, 1.0]
    # |b - c| = 1: R corrects, (1 - 1)^2 / 3 = 0
    assert sm_mcnemar([[5, 1], [2, 5]], exact=False).pvalue == pytest.approx(1.0)


@pytest.mark.parametrize("call", [
    lambda: mcnemar(0.5, 1.5), lambda: mcnemar(2, 1.5, exact=True),
    lambda: srm_test([100.5, 99.5], [0.5, 0.5]), lambda: proportion_ci("3", 5),
    lambda: proportion_ci(3, b"5"), lambda: diff_ci(["3", 4], [5, 5], 1, 5),
])
def test_fractional_counts_and_text_are_refused(call):
    with pytest.raises(StatsInputError) as e:
        call()
    assert e.value.code in ("not_integer", "not_numeric")


def test_two_arm_functions_take_the_treatment_first():
    # treatment 60% against control 40%: every function must agree on the sign
    t, c = (600, 1000), (400, 1000)
    assert diff_ci(*t, *c)[0] > 0 and ratio_ci(*t, *c)[0] > 0
    assert two_proportion_ztest(*t, *c)[0] > 0
    assert prob_beat(*t, *c) > 0.99
    low, _ = confidence_sequence(*t, *c, tau=0.2)
    assert low > 0 and always_valid_pvalue(*t, *c, tau=0.2) < 0.05


def test_mcnemar_no_discordant_pairs_is_nan():
    with no_runtime_warnings():
        for exact in (True, False):
            stat, p = mcnemar(0, 0, exact=exact)
            assert math.isnan(stat) and math.isnan(p)


# ---------------------------------------------------------------------------
# sample_size, power, mde
# ---------------------------------------------------------------------------

def test_sample_size_matches_r_power_prop_test():
    # R: power.prop.test(p1=0.1, p2=0.12, power=0.8, tol=1e-12)$n = 3840.84748243628
    # (closed form: ((1.959964 * sqrt(2 * 0.11 * 0.89) + 0.841621 * sqrt(0.1 * 0.9
    #  + 0.12 * 0.88)) / 0.02)^2; the commonly quoted 3840.01 is not what R gives)
    assert sample_size(0.10, 0.12) == pytest.approx(3840.84748243628, rel=1e-12)
    assert sample_size(0.12, 0.10) == pytest.approx(3840.84748243628, rel=1e-12)
    # R: power.prop.test(p1=0.2, p2=0.25, power=0.9, sig.level=0.01)$n = 2073.20132101148
    # (R's default uniroot tolerance; the closed form is exact)
    assert sample_size(0.2, 0.25, power=0.9, alpha=0.01) == pytest.approx(2073.2013210, rel=1e-8)
    # R: power.prop.test(p1=0.1, p2=0.12, n=3000)$power = 0.697045300404568
    assert power(0.10, 0.12, 3000) == pytest.approx(0.697045300404568, rel=1e-12)
    # R: power.prop.test(p1=0.1, n=5000, power=0.8, tol=1e-12)$p2 = 0.117439914809798
    assert mde(0.10, 5000) == pytest.approx(0.017439914809798, rel=1e-10)


def test_sample_size_matches_statsmodels_for_unequal_arms():
    for ratio, expected in ((1, 3840.847482436278), (2, 2910.5128308523567)):
        # statsmodels.stats.proportion.samplesize_proportions_2indep_onetail(
        #     0.1 - 0.12, 0.12, 0.8, ratio=ratio)  (sample 1 = control)
        assert sample_size(0.10, 0.12, ratio=ratio) == pytest.approx(expected, rel=1e-12)
    # statsmodels' power_proportions_2indep(-0.02, 0.12, 3000, ratio=2).power
    # = 0.8119716432254546 adds the far tail Φ(-(z_a σ0 + |Δ|√n) / σ1) (< 1e-6 here).
    sigma0 = math.sqrt((0.1 + 2 * 0.12) / 3 * (1 - (0.1 + 2 * 0.12) / 3) * 1.5)
    sigma1 = math.sqrt(0.1 * 0.9 + 0.12 * 0.88 / 2)
    far_tail = stats.norm.cdf((-0.02 * math.sqrt(3000) - 1.959963984540054 * sigma0) / sigma1)
    assert power(0.10, 0.12, 3000, ratio=2) + far_tail == pytest.approx(0.8119716432254546,
                                                                         rel=1e-12)
    ref = power_proportions_2indep(0.1 - 0.12, 0.12, 3000, ratio=2).power
    assert abs(power(0.10, 0.12, 3000, ratio=2) - ref) < 1e-6


PLANNING_GRID = [(0.02, 0.025, 1.0), (0.1, 0.12, 0.5), (0.3, 0.25, 2.0), (0.5, 0.6, 1.0),
                 (0.8, 0.9, 3.0)]


def test_planning_matches_statsmodels_on_grid():
    for p_c, p_t, ratio in PLANNING_GRID:
        for alpha, target in ((0.05, 0.8), (0.01, 0.9)):
            ref = samplesize_proportions_2indep_onetail(p_c - p_t, p_t, target, ratio=ratio,
                                                        alpha=alpha)
            got = sample_size(p_c, p_t, alpha=alpha, power=target, ratio=ratio)
            assert got == pytest.approx(ref, rel=1e-12)
            h = proportion_effectsize(p_t, p_c)
            ref = NormalIndPower().solve_power(effect_size=h, alpha=alpha, power=target,
                                               ratio=ratio)
            got = sample_size(p_c, p_t, alpha=alpha, power=target, ratio=ratio,
                              method="arcsine")
            assert got == pytest.approx(ref, rel=1e-4)  # far tail + solver tolerance


def test_arcsine_method_matches_statsmodels_normal_ind_power():
    h = proportion_effectsize(0.12, 0.10)
    for ratio, expected in ((1, 3834.595739884031), (2, 2875.946804089152)):
        # NormalIndPower().solve_power(effect_size=proportion_effectsize(0.12, 0.1),
        #     alpha=0.05, power=0.8, ratio=ratio); it counts the far tail, which moves n
        #     by a few 1e-6 relative.
        assert sample_size(0.10, 0.12, ratio=ratio, method="arcsine") == pytest.approx(
            expected, rel=1e-5)
    # NormalIndPower().power(effect_size=h, nobs1=3000, alpha=0.05, ratio=1)
    # = 0.6977936186610995, of which Φ(-h sqrt(1500) - 1.96) is the far tail
    far_tail = stats.norm.cdf(-abs(h) * math.sqrt(1500) - stats.norm.isf(0.025))
    assert power(0.10, 0.12, 3000, method="arcsine") + far_tail == pytest.approx(
        0.6977936186610995, rel=1e-12)
    # arcsine and normal methods differ (so each reference matters)
    assert abs(sample_size(0.1, 0.12) - sample_size(0.1, 0.12, method="arcsine")) > 5


@pytest.mark.parametrize("method", ["normal", "arcsine"])
def test_power_sample_size_and_mde_are_inverses(method):
    p_c = np.array([0.02, 0.1, 0.3, 0.5, 0.8])
    p_t = np.array([0.025, 0.13, 0.27, 0.55, 0.9])
    for ratio in (0.5, 1.0, 3.0):
        n = sample_size(p_c, p_t, power=0.9, ratio=ratio, method=method)
        np.testing.assert_allclose(power(p_c, p_t, n, ratio=ratio, method=method), 0.9,
                                   rtol=1e-12)
        up = p_t > p_c
        d = mde(p_c[up], n[up], power=0.9, ratio=ratio, method=method)
        np.testing.assert_allclose(d, (p_t - p_c)[up], rtol=1e-9)
        rel = mde(p_c[up], n[up], power=0.9, ratio=ratio, method=method, relative=True)
        np.testing.assert_allclose(rel, d / p_c[up], rtol=1e-12)


def test_planning_vectorises_and_edge_cases():
    n = sample_size([0.1, 0.2], [0.12, 0.25])
    assert n[0] == sample_size(0.1, 0.12) and n[1] == sample_size(0.2, 0.25)
    with no_runtime_warnings():
        assert sample_size(0.1, 0.1) == np.inf
    # no effect size up to a rate of 1 reaches 80% power with 3 leads
    assert math.isnan(mde(0.5, 3))
    assert power(0.1, 0.2, [100, 1000, 10000]).tolist() == sorted(
        power(0.1, 0.2, [100, 1000, 10000]).tolist())
    with pytest.raises(StatsInputError) as info:
        sample_size(0.0, 0.1)
    assert info.value.code == "invalid_probability"
    with pytest.raises(StatsInputError):
        sample_size(0.1, 0.12, power=1.0)
    with pytest.raises(StatsInputError) as info:
        sample_size(0.1, 0.12, n_treatments=0)
    assert info.value.code == "invalid_arms"


def test_several_treatments_use_bonferroni():
    assert sample_size(0.1, 0.12, n_treatments=3) == pytest.approx(
        sample_size(0.1, 0.12, alpha=0.05 / 3), rel=1e-15)
    assert sample_size(0.1, 0.12, n_treatments=3) > sample_size(0.1, 0.12)
    assert mde(0.1, 4000, n_treatments=2) == pytest.approx(mde(0.1, 4000, alpha=0.025))


# ---------------------------------------------------------------------------
# prob_beat
# ---------------------------------------------------------------------------

def test_prob_beat_hand_computed_values():
    # A ~ Beta(1, 1), B ~ Beta(2, 1): P(B > A) = ∫ 2p * p dp = 2/3
    assert prob_beat(1, 1, 0, 0) == pytest.approx(2 / 3, rel=1e-14)
    # A ~ Beta(1, 1), B ~ Beta(1, 2): ∫ 2(1 - p) p dp = 1/3
    assert prob_beat(0, 1, 0, 0) == pytest.approx(1 / 3, rel=1e-14)
    # A ~ Beta(1, 2), B ~ Beta(2, 1): ∫ 2p (1 - (1 - p)^2) dp = 5/6
    assert prob_beat(1, 1, 0, 1) == pytest.approx(5 / 6, rel=1e-14)
    assert prob_beat(0, 0, 0, 0) == pytest.approx(0.5, abs=1e-15)
    assert prob_beat(37, 400, 37, 400) == pytest.approx(0.5, abs=1e-12)


def test_prob_beat_high_precision_references():
    # mpmath (40 digits), Evan Miller's sum term by term:
    #   mp.mp.dps = 40; sum(mp.beta(aA + i, bA + bB) / ((bB + i) * mp.beta(1 + i, bB)
    #       * mp.beta(aA, bA)) for i in range(aB))
    # with (aA, bA, aB, bB) = (101, 901, 131, 871) -> 0.98216506611635052
    assert prob_beat(130, 1000, 100, 1000) == pytest.approx(0.98216506611635052, rel=1e-12)
    # (5001, 95001, 5101, 94901) -> 0.84639826118189468
    assert prob_beat(5100, 100000, 5000, 100000) == pytest.approx(0.84639826118189468,
                                                                   rel=1e-10)


def test_prob_beat_paths_agree():
    for aa, ba, ab, bb in [(3, 40, 1, 12), (101, 901, 131, 871), (20, 5, 18, 9)]:
        direct = _miller_sum(aa, ba, ab, bb)
        complement = 1 - _miller_sum(ab, bb, aa, ba)
        quad = _quad_prob(aa, ba, ab, bb)
        assert direct == pytest.approx(complement, abs=1e-12)
        assert direct == pytest.approx(quad, abs=1e-11)
    # a non-whole prior takes the quadrature path: compare with a direct 2-D integral
    got = prob_beat(7, 20, 3, 20, prior=(0.5, 0.5))
    ref, _ = integrate.dblquad(
        lambda a, b: stats.beta.pdf(b, 7.5, 13.5) * stats.beta.pdf(a, 3.5, 17.5),
        0, 1, 0, lambda b: b, epsabs=1e-11)
    assert got == pytest.approx(ref, abs=1e-9)
    # fractional counts whose control posterior is whole use the complement sum
    assert prob_beat(2, 10, 2.5, 10, prior=(0.5, 0.5)) == pytest.approx(
        _quad_prob(3.0, 8.0, 2.5, 8.5), abs=1e-11)


def test_prob_beat_agrees_with_monte_carlo():
    rng = np.random.default_rng(2024)
    draws = 400_000
    for x_c, n_c, x_t, n_t in [(12, 100, 18, 100), (40, 500, 52, 480), (0, 30, 2, 30)]:
        a = rng.beta(1 + x_c, 1 + n_c - x_c, draws)
        b = rng.beta(1 + x_t, 1 + n_t - x_t, draws)
        mc = np.mean(b > a)
        se = math.sqrt(mc * (1 - mc) / draws)
        assert abs(prob_beat(x_t, n_t, x_c, n_c) - mc) < 5 * se


@PROPERTY
@given(n_c=st.integers(0, 400), n_t=st.integers(0, 400), data=st.data())
def test_prob_beat_symmetry_and_monotonicity(n_c, n_t, data):
    x_c = data.draw(st.integers(0, n_c))
    x_t = data.draw(st.integers(0, n_t))
    p = prob_beat(x_t, n_t, x_c, n_c)
    assert 0 <= p <= 1
    assert p + prob_beat(x_c, n_c, x_t, n_t) == pytest.approx(1, abs=1e-12)
    if x_t < n_t:  # one more success in the treatment arm can only help it
        assert prob_beat(x_t + 1, n_t, x_c, n_c) >= p - 1e-12


def test_prob_beat_vectorises_and_rejects_bad_prior():
    got = prob_beat([15, 0], [100, 0], [10, 0], [100, 0])
    assert got[0] == prob_beat(15, 100, 10, 100) and got[1] == pytest.approx(0.5)
    with pytest.raises(StatsInputError):
        prob_beat(2, 10, 1, 10, prior=(0, 1))
    with pytest.raises(StatsInputError):
        prob_beat(2, 10, 1, 10, prior=(1, 1, 1))


# ---------------------------------------------------------------------------
# always_valid_pvalue, confidence_sequence, spending_bounds
# ---------------------------------------------------------------------------

def test_msprt_likelihood_ratio_matches_numerical_mixture():
    """Λ = ∫ N(d; θ, s²) N(θ; 0, τ²) dθ / N(d; 0, s²), integrated numerically."""
    for x1, n1, x2, n2, tau in [(130, 1000, 100, 1000, 0.02), (40, 200, 50, 260, 0.1),
                                (1300, 10000, 1200, 10000, 0.005)]:
        p1, p2 = x1 / n1, x2 / n2
        d = p1 - p2
        s = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
        num, _ = integrate.quad(lambda t: stats.norm.pdf(d, t, s) * stats.norm.pdf(t, 0, tau),
                                -1, 1, points=[0, d], epsabs=0, epsrel=1e-12, limit=200)
        lr = num / stats.norm.pdf(d, 0, s)
        assert always_valid_pvalue(x1, n1, x2, n2, tau=tau) == pytest.approx(
            min(1.0, 1 / lr), rel=1e-9)


def test_always_valid_pvalue_is_dual_to_confidence_sequence():
    rng = np.random.default_rng(17)
    n1 = rng.integers(20, 20000, size=2000)
    n2 = rng.integers(20, 20000, size=2000)
    x1 = rng.binomial(n1, 0.1)
    x2 = rng.binomial(n2, rng.choice([0.1, 0.11, 0.13], size=2000))
    for alpha in (0.05, 0.2):
        p = always_valid_pvalue(x1, n1, x2, n2, tau=0.02)
        low, high = confidence_sequence(x1, n1, x2, n2, alpha=alpha, tau=0.02)
        clear = np.abs(p - alpha) > 1e-9
        np.testing.assert_array_equal(((low > 0) | (high < 0))[clear], (p < alpha)[clear])
        assert (p < alpha).any() and (p >= alpha).any()


def test_sequential_guards_are_more_conservative_than_fixed_tests():
    x1, n1, x2, n2 = 1300, 10000, 1200, 10000
    assert always_valid_pvalue(x1, n1, x2, n2) > two_proportion_ztest(x1, n1, x2, n2)[1]
    low, high = confidence_sequence(x1, n1, x2, n2)
    w_low, w_high = diff_ci(x1, n1, x2, n2, method="wald")
    assert low < w_low and high > w_high


def test_sequential_running_min_and_intersection():
    # cumulative counts at 4 looks (axis 1) for 2 experiments (axis 0)
    x1 = np.array([[5, 30, 80, 150], [0, 12, 40, 90]])
    x2 = np.array([[6, 25, 55, 100], [0, 10, 41, 88]])
    n = np.array([[50, 250, 500, 1000]] * 2)
    with no_runtime_warnings():
        p_each = always_valid_pvalue(x1, n, x2, n)
        p_run = always_valid_pvalue(x1, n, x2, n, axis=1)
        low, high = confidence_sequence(x1, n, x2, n, axis=1)
    assert np.isnan(p_each[1, 0])  # no successes yet: undefined, not a crash
    np.testing.assert_array_equal(p_run[0], np.minimum.accumulate(p_each[0]))
    assert np.isnan(p_run[1, 0]) and np.all(np.diff(p_run[1, 1:]) <= 0)
    assert np.all(np.diff(low[0]) >= 0) and np.all(np.diff(high[0]) <= 0)
    low_each, high_each = confidence_sequence(x1, n, x2, n)
    np.testing.assert_array_equal(low[0], np.maximum.accumulate(low_each[0]))
    with pytest.raises(StatsInputError):
        always_valid_pvalue(1, 10, 2, 10, tau=0)


@PROPERTY
@given(n1=st.integers(2, 5000), n2=st.integers(2, 5000), data=st.data(),
       tau=st.sampled_from([0.005, 0.02, 0.1]))
def test_confidence_sequence_contains_wald_interval(n1, n2, data, tau):
    x1 = data.draw(st.integers(1, n1 - 1))
    x2 = data.draw(st.integers(1, n2 - 1))
    low, high = confidence_sequence(x1, n1, x2, n2, tau=tau)
    w_low, w_high = diff_ci(x1, n1, x2, n2, method="wald")
    d = x1 / n1 - x2 / n2
    # compare the unclipped Wald interval, centred on the same estimate
    assert low <= d - (d - w_low) * (1 - 1e-12) or w_low == -1
    assert high >= d + (w_high - d) * (1 - 1e-12) or w_high == 1
    assert 0 <= always_valid_pvalue(x1, n1, x2, n2, tau=tau) <= 1  # may underflow to 0


# rpact (r-cran-rpact 3.x), R 4.2.2:
#   getDesignGroupSequential(kMax=5, alpha=0.05, sided=2, typeOfDesign="asOF")$criticalValues
RPACT_OF_5 = [4.87688494879076, 3.35701192170382, 2.68028006702662, 2.28981677442789,
              2.03103204816580]
#   ... typeOfDesign="asP" (Pocock-type spending)
RPACT_POCOCK_5 = [2.43797668805001, 2.42681386321783, 2.41019383817911, 2.39664540439844,
                  2.38598456233740]
#   getDesignGroupSequential(kMax=3, alpha=0.05, sided=2, typeOfDesign="asOF",
#                            informationRates=c(0.25, 0.6, 1))$criticalValues
RPACT_OF_UNEQUAL = [4.33263364604956, 2.66886875778437, 1.98097633570433]


def test_spending_bounds_match_rpact():
    np.testing.assert_allclose(spending_bounds(5, 0.05).z_bounds, RPACT_OF_5, atol=2e-7)
    np.testing.assert_allclose(spending_bounds(5, 0.05, kind="pocock").z_bounds,
                               RPACT_POCOCK_5, atol=2e-7)
    plan = spending_bounds(3, 0.05, information_fractions=[0.25, 0.6, 1.0])
    np.testing.assert_allclose(plan.z_bounds, RPACT_OF_UNEQUAL, atol=2e-7)
    # rpact ...$alphaSpent for the 5-look O'Brien-Fleming design
    np.testing.assert_allclose(spending_bounds(5).cumulative_alpha,
                               [1.07774252585093e-06, 7.88303515203345e-04,
                                7.61612656579841e-03, 2.44235803117891e-02, 0.05],
                               rtol=1e-6)


def test_spending_bounds_crossing_probabilities_by_multivariate_normal():
    """Independent check: P(first crossing by look k) from scipy's MVN CDF."""
    t = np.array([0.2, 0.45, 0.7, 1.0])
    plan = spending_bounds(4, 0.05, information_fractions=t)
    cov = np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))
    z = np.array(plan.z_bounds)
    for k in range(1, 5):
        mvn = stats.multivariate_normal(mean=np.zeros(k), cov=cov[:k, :k])
        stay = mvn.cdf(z[:k], lower_limit=-z[:k], rng=np.random.default_rng(0))
        assert 1 - stay == pytest.approx(plan.cumulative_alpha[k - 1], abs=2e-5)


def test_spending_bounds_basics():
    single = spending_bounds(1, 0.05)
    assert single.z_bounds[0] == pytest.approx(stats.norm.isf(0.025), rel=1e-12)
    plan = spending_bounds(4, 0.1)
    assert plan.cumulative_alpha[-1] == pytest.approx(0.1)
    assert all(np.diff(plan.z_bounds) < 0)  # O'Brien-Fleming: strict early
    np.testing.assert_allclose(plan.nominal_alpha, 2 * stats.norm.sf(plan.z_bounds))
    json.dumps(plan.to_dict(), allow_nan=False)
    assert plan.to_frame().shape == (4, 5)
    assert "look 4" in plan.summary()
    with pytest.raises(StatsInputError) as info:
        spending_bounds(3, information_fractions=[0.5, 0.4, 1.0])
    assert info.value.code == "invalid_fractions"
    with pytest.raises(StatsInputError):
        spending_bounds(0)
