"""The fit on an event log shaped like a public loan-application log (see
``event_log_world.py``): an event on every lead, two aliased events, a rare event that
separates the outcome, every outcome within 30 days, every lead with an outcome.

Also the pieces on their own: windows measured from the data, the screening of
unestimable terms, the penalty chosen out of time, one-sided decay intervals, coverage by
routing, and matched volumes with tied scores."""

from __future__ import annotations

import tomllib

import numpy as np
import pandas as pd
import pytest
from event_log_world import START_RULES, TRUE_EFFECTS, event_log
from hypothesis import given, settings
from hypothesis import strategies as st

from calib.calibration import calibrate
from calib.data import from_frames
from calib.errors import CalibError
from calib.fit import fit, profile_decay
from calib.fit.cutoffs import equal_volume_cutoff
from calib.fit.logistic import fit_logit
from calib.fit.points import choose_l2, penalised_covariance, separating_terms
from calib.fit.screen import lead_separation, screen_columns, screen_events
from calib.fit.selection import coverage_by_routing
from calib.rules import RuleSet


@pytest.fixture(scope="module")
def log_ds():
    leads, events, outcomes = event_log(n=6000, seed=3)
    return from_frames(leads, events, outcomes)


@pytest.fixture(scope="module")
def start_rules():
    return RuleSet.from_dict(tomllib.loads(START_RULES))


@pytest.fixture(scope="module")
def log_fit(log_ds, start_rules):
    return fit(log_ds, start_rules, outcome="won", train_until="2016-08-01")


# --------------------------------------------------------------------------- windows
def test_fit_window_comes_from_the_data(log_fit):
    w = log_fit.split["window"]
    assert w["source"] == "data"
    assert w["days"] <= 30  # every decision arrives within 28 days
    assert log_fit.split["test_leads"] > 0
    assert "window: 95% of 'won' outcomes arrive within" in log_fit.summary()


def test_too_long_a_window_says_what_would_work(log_ds, start_rules):
    res = fit(log_ds, start_rules, outcome="won", train_until="2016-08-01", window_days=200)
    assert res.comparison["status"] == "no_test_leads"
    reason = res.comparison["reason"]
    assert "none is mature" in reason and "--window-days" in reason


def test_calibrate_window_from_the_data_and_hint(log_ds, start_rules):
    res = calibrate(log_ds, start_rules, outcome="won", train_until="2016-08-01")
    assert res.window["source"] == "data" and res.window_days <= 30
    with pytest.raises(CalibError) as e:
        calibrate(log_ds, start_rules, outcome="won", window_days=250,
                  train_until="2016-08-01")
    assert "--window-days" in e.value.suggestion


# ------------------------------------------------------------------------- screening
def test_screening_names_constant_and_aliased_events():
    events = pd.DataFrame({"lead": [0, 1, 2, 0, 2, 0, 2, 1],
                           "event_type": ["x", "x", "x", "a", "a", "b", "b", "c"]})
    scr = screen_events(events, 3, ["x", "a", "b", "c"])
    assert scr.kept == ("a", "c")
    kinds = {d["term"]: (d["kind"], d["with"]) for d in scr.dropped}
    assert kinds == {"x": ("constant", None), "b": ("aliased", "a")}
    M = np.array([[1, 0, 1, 1], [1, 1, 0, 0], [1, 0, 1, 1.0]])
    sc = screen_columns(M, ["all", "p", "q", "q2"])
    assert sc.kept == (1, 2)
    assert {d["term"]: d["kind"] for d in sc.dropped} == {"all": "constant", "q2": "aliased"}


def test_lead_separation_by_hand():
    y = np.array([1, 1, 0, 0, 1], bool)
    sep = lead_separation({"f": np.array([1, 1, 0, 0, 0], bool),
                           "g": np.array([1, 0, 1, 0, 0], bool)}, y)
    assert sep == {"f": (2, True)}
    X = np.column_stack([np.ones(5), [1, 1, 0, 0, 0], [1, 0, 1, 0, 1]])
    assert separating_terms(X, y.astype(float), ["i", "f", "g"]) == ("f",)


def test_event_log_fit_is_finite_and_names_what_it_drops(log_fit):
    eff = log_fit.effects
    assert np.isfinite(eff[["coef", "ci_low", "ci_high"]].to_numpy()).all()
    assert (eff["ci_low"] <= eff["coef"]).all() and (eff["coef"] <= eff["ci_high"]).all()
    dropped = {d["term"]: d["kind"] for d in log_fit.screened}
    assert dropped == {"a_submitted": "constant", "a_preaccepted": "aliased"}
    text = log_fit.summary()
    assert "'a_submitted' occurs once on every lead" in text
    assert "'a_preaccepted' always occurs together with 'a_partlysubmitted'" in text
    # no point at the clip bound unless the report says the data separate; a finite
    # (penalised) effect beyond it is kept as estimated, and said
    bound = 2 * 20
    e = eff.set_index("term")
    for t in eff["term"]:
        pts = e.loc[t, "points"]
        if abs(pts) == bound:
            assert t in log_fit.separation and f"The data separate on '{t}'" in text
        elif abs(pts) > bound:
            assert t not in log_fit.separation and f"'{t}' is worth {pts:+.0f} points" in text
    assert "o_fasttrack" in log_fit.separation
    assert "The data separate on 'o_fasttrack'" in text
    # the informative events are found, with the right signs
    e = eff.set_index("term")
    for name, beta in TRUE_EFFECTS.items():
        if beta > 0:
            assert e.loc[name, "ci_low"] > 0, name
    assert log_fit.penalty["chosen_by"].startswith("time-series cross-validation")
    assert "interval of the penalised fit" in text


def test_event_log_has_no_selective_label_warning(log_fit):
    rec = " ".join(log_fit.selection["recommendations"])
    assert "lower bounds" not in rec
    assert log_fit.selection["coverage_by_routing"]["selective"] is False
    assert "not selective" in rec


def test_event_log_proposal_beats_the_start_out_of_time(log_fit):
    c = log_fit.comparison
    assert c["status"] == "ok"
    n_c, n_p = c["current"]["mql_count"], c["proposed"]["mql_count"]
    assert abs(n_p - n_c) <= 0.1 * n_c  # matched volume, up to ties of integer scores
    assert c["difference"]["diff"] > 0
    assert c["difference"]["ci_low"] > 0


def test_decay_interval_is_never_a_point(log_fit):
    d = log_fit.decay
    if d.parameter is not None:
        assert d.ci_low is None or d.ci_high is None or d.ci_low < d.ci_high
        assert "to " + f"{d.parameter:.3g}" not in d.interval_text() or d.ci_low != d.ci_high


# --------------------------------------------------------------- penalty, intervals
def test_penalty_chosen_out_of_time_keeps_separated_terms_finite():
    rng = np.random.default_rng(1)
    n = 4000
    x = rng.normal(size=n)
    rare = (rng.random(n) < 0.01).astype(float)
    y = (rng.random(n) < 1 / (1 + np.exp(-(-1 + x)))).astype(float)
    y[rare > 0] = 1.0  # perfect predictor
    X = np.column_stack([np.ones(n), x, rare])
    l2, cv = choose_l2(X, y, np.ones(n), np.arange(n))
    assert l2 in set(cv["l2"]) and len(cv) == 4
    f = fit_logit(X, y, l2=l2)
    assert np.isfinite(f.coef).all() and 0 < f.coef[2] < 15
    V = penalised_covariance(X, y, f.coef, np.arange(n), None, l2)
    assert np.isfinite(np.diag(V)).all() and (np.diag(V) > 0).all()
    assert abs(f.coef[1] - 1) < 0.15  # the informative term is barely shrunk


def test_penalised_intervals_cover_by_simulation():
    """95% sandwich intervals of the (lightly) penalised fit cover the true slope in about
    95% of seeded replications."""
    hits = 0
    reps = 120
    for s in range(reps):
        rng = np.random.default_rng(100 + s)
        n = 600
        x = rng.normal(size=n)
        y = (rng.random(n) < 1 / (1 + np.exp(-(-0.5 + 0.7 * x)))).astype(float)
        X = np.column_stack([np.ones(n), x])
        f = fit_logit(X, y, l2=1.0)
        se = np.sqrt(penalised_covariance(X, y, f.coef, np.arange(n), None, 1.0)[1, 1])
        hits += abs(f.coef[1] - 0.7) <= 1.96 * se
    assert 0.88 <= hits / reps <= 0.99


class _Flat:
    """A feature space whose counts do not depend on the decay: a flat profile."""

    def __init__(self, D):
        self.D = D

    def counts(self, decay):
        return self.D


def test_flat_profile_gives_no_point_interval():
    rng = np.random.default_rng(2)
    n = 3000
    D = rng.poisson(1.0, (n, 1)).astype(float)
    y = (rng.random(n) < 0.3).astype(float)
    prof = profile_decay(_Flat(D), np.zeros((n, 0)), y, np.ones(n), np.arange(n),
                         kinds=("exponential",), l2=1.0)
    assert prof.ci_low is None or prof.ci_high is None or prof.ci_low < prof.ci_high
    text = prof.interval_text()
    assert "not determined by the data" in text or "at least" in text or "at most" in text


# ------------------------------------------------------------------ coverage, volume
def test_coverage_by_routing_tells_selective_from_full():
    routed = np.r_[np.ones(500, bool), np.zeros(500, bool)]
    full = coverage_by_routing(routed, np.ones(1000, bool))
    assert full["selective"] is False and "not selective" in full["sentence"]
    partial = coverage_by_routing(routed, np.r_[np.ones(500, bool), np.zeros(450, bool),
                                                np.ones(50, bool)])
    assert partial["selective"] is True
    assert coverage_by_routing(np.ones(100, bool), np.ones(100, bool))["selective"] is False
    assert coverage_by_routing(np.zeros(100, bool), np.ones(100, bool))["selective"] is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 8), min_size=1, max_size=60), st.integers(1, 60))
def test_equal_volume_cutoff_is_the_closest_achievable_volume(peaks, n):
    p = np.array(peaks, float)
    c = equal_volume_cutoff(p, n)
    got = int((p >= c).sum())
    best = min(abs(int((p >= v).sum()) - n) for v in np.unique(p))
    assert abs(got - n) == best or (got == len(p) and n >= len(p))


# ------------------------------------------------------------------- booking delays
def test_spread_labels_by_hand():
    from calib.fit.booking import BIN_DAYS, DelayModel, spread_labels

    day = 86_400 * 10**9
    lead = np.array([0, 0, 0, 1, 1])
    t = np.array([0, 1.5, 2.5, 0, 1]) * day
    t = t.astype(np.int64)
    never = np.iinfo(np.int64).max
    o = np.array([3 * day] * 3 + [never] * 2, dtype=np.int64)
    flat = DelayModel(np.full(int(2 / BIN_DAYS), BIN_DAYS / 2))  # uniform on [0, 2) days
    h = 0.2
    eta = np.full(5, np.log(h / (1 - h)))
    y, R, r = spread_labels(lead, t, o, eta, flat)
    # moment 0 is 3 days before the outcome: out of reach; moments 1 and 2 share the
    # booking in the ratio h(1-h) : h(1-h)^2
    np.testing.assert_allclose(r[:3], [0, 1 / (2 - h), (1 - h) / (2 - h)])
    np.testing.assert_allclose(R[:3], [1, 1, (1 - h) / (2 - h)])
    np.testing.assert_allclose(y[:3], [0, 1 / (2 - h), 1])
    np.testing.assert_allclose(y[3:], 0)
    np.testing.assert_allclose(R[3:], 1)


def test_booking_delay_em_recovers_effect_and_delay():
    """A discrete-time hazard with a known effect, outcomes recorded 0.5 + Gamma(2, 1)
    days after the booking (mean 2.5): the EM recovers both."""
    from calib.fit.booking import initial_delays, spread_labels, update_delays

    rng = np.random.default_rng(7)
    day = 86_400 * 10**9
    n_leads = 3000
    k = rng.integers(3, 25, n_leads)
    lead = np.repeat(np.arange(n_leads), k)
    gaps = rng.exponential(1.0, len(lead))
    start = np.r_[0, np.cumsum(k)[:-1]]
    tt = np.cumsum(gaps)
    tt = tt - np.repeat(tt[start] - gaps[start], k)  # restart per lead
    x = (rng.random(len(lead)) < 0.3).astype(float)
    eta_true = -3.0 + 1.5 * x
    success = rng.random(len(lead)) < 1 / (1 + np.exp(-eta_true))
    first = np.full(n_leads, -1)
    for i in np.flatnonzero(success)[::-1]:
        first[lead[i]] = i
    never = np.iinfo(np.int64).max
    o_lead = np.full(n_leads, never, dtype=np.int64)
    has = first >= 0
    delay = 0.5 + rng.gamma(2.0, 1.0, n_leads)
    o_lead[has] = ((tt[first[has]] + delay[has]) * day).astype(np.int64)
    t = (tt * day).astype(np.int64)
    o = o_lead[lead]
    keep = (o == never) | (t < o)
    lead, t, o, x = lead[keep], t[keep], o[keep], x[keep]
    X = np.column_stack([np.ones(len(x)), x])
    delays = initial_delays(12.0)
    eta = np.full(len(x), -3.0)
    coef = None
    for _ in range(15):
        y, R, r = spread_labels(lead, t, o, eta, delays)
        delays = update_delays(lead, t, o, r, delays)
        f = fit_logit(X, y, weight=R, start=coef)
        coef = f.coef
        eta = X @ coef
    assert abs(coef[1] - 1.5) < 0.2
    assert abs(delays.mean() - 2.5) < 0.4


