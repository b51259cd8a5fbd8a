"""Calibration in the large: O/E with a lead-level interval, and the intercept shift."""

import numpy as np
import pytest
from scipy.special import logit

from calib.calibration.large import (intercept_shift, observed_over_expected,
                                     shift_probabilities)


def _world(factor, n_leads=4000, per_lead=5, seed=1):
    """Snapshots of leads whose true probability is ``factor`` times the prediction;
    each lead contributes ``per_lead`` snapshots sharing one outcome (clustered)."""
    rng = np.random.default_rng(seed)
    p_lead = rng.uniform(0.05, 0.5, n_leads)
    y_lead = rng.random(n_leads) < factor * p_lead
    lead = np.repeat(np.arange(n_leads), per_lead)
    return y_lead[lead].astype(float), p_lead[lead], lead


def test_interval_by_hand():
    # rows alone, o = (1, 0, 1, 0), e = 0.5 each: R = 1, residuals +-0.5, sum of squares 1,
    # var = 1 * 4/3 / 2^2 = 1/3, half width on the log scale 1.959964 * sqrt(1/3) = 1.131586
    r = observed_over_expected([1, 0, 1, 0], [.5, .5, .5, .5])
    assert r.ci_low == pytest.approx(np.exp(-1.131586), rel=1e-5)
    assert r.ci_high == pytest.approx(np.exp(1.131586), rel=1e-5)
    # no outcome: exact Poisson upper end, chi2(0.975, 2) / 2 = 3.688879 over E = 2
    r0 = observed_over_expected([0, 0, 0, 0], [.5, .5, .5, .5])
    assert r0.ratio == 0 and r0.ci_high == pytest.approx(3.688879 / 2, rel=1e-5)


def test_ratio_is_observed_over_expected_by_hand():
    # 2 outcomes over predictions summing to 0.5 + 0.5 + 0.5 + 0.5 = 2.0 -> 1.0; and 1/2 = 0.5
    assert observed_over_expected([1, 0, 1, 0], [.5, .5, .5, .5]).ratio == pytest.approx(1.0)
    r = observed_over_expected([1, 0, 0, 0], [.5, .5, .5, .5])
    assert r.ratio == pytest.approx(0.5)
    assert r.observed == 1 and r.expected == pytest.approx(2.0) and r.n == 4


def test_recovers_an_over_predicting_score():
    y, p, lead = _world(0.6)
    r = observed_over_expected(y, p, groups=lead)
    assert r.ci_low < 0.6 < r.ci_high  # ground truth 0.6, within the interval
    assert abs(r.ratio - 0.6) < 0.05
    assert r.verdict == "over-predicts"
    r2 = observed_over_expected(*_world(1.4)[:2], groups=_world(1.4)[2])
    assert r2.verdict == "under-predicts"


def test_lead_clusters_widen_the_interval():
    # five snapshots per lead carry one lead's information: resampling rows would pretend
    # five times the data, so the interval over leads must be clearly wider
    y, p, lead = _world(1.0)
    by_lead = observed_over_expected(y, p, groups=lead)
    by_row = observed_over_expected(y, p)
    assert (by_lead.ci_high - by_lead.ci_low) > 1.7 * (by_row.ci_high - by_row.ci_low)


def test_interval_covers_one_for_a_calibrated_score_at_about_the_nominal_rate():
    hits = 0
    for seed in range(60):
        y, p, lead = _world(1.0, n_leads=800, seed=seed)
        r = observed_over_expected(y, p, groups=lead)
        hits += r.ci_low <= 1.0 <= r.ci_high
    assert hits >= 51  # 95% nominal; 60 draws, binomial 5th percentile is 54, allow slack


def test_intercept_shift_of_a_constant_prediction_is_the_logit_difference():
    # by hand: every p = 0.5, observed share 0.25 -> d = logit(0.25) - logit(0.5)
    y = np.array([1, 0, 0, 0] * 10, float)
    d = intercept_shift(y, np.full(40, 0.5))
    assert d == pytest.approx(logit(0.25) - logit(0.5), abs=1e-8)


def test_shifted_predictions_add_up_to_the_outcomes():
    y, p, _ = _world(0.6, n_leads=500)
    d = intercept_shift(y, p)
    assert d < 0
    assert shift_probabilities(p, d).sum() == pytest.approx(y.sum(), rel=1e-8)
    after = observed_over_expected(y, shift_probabilities(p, d))
    assert after.ratio == pytest.approx(1.0, abs=1e-6)


def test_shift_needs_both_classes():
    from calib.errors import CalibError

    with pytest.raises(CalibError):
        intercept_shift(np.zeros(5), np.full(5, 0.3))
