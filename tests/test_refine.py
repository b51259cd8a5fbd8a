"""calib.refine: planted effects are found, and nothing is found where none is planted.

The worlds of ``refine_worlds.py`` plant one effect each (a drift of one event type from
a date, slow follow-up lowering meetings, a rule whose MQLs sales reject); the demo
world checks predicted vs realised against values recomputed from its tables.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from refine_worlds import RULES, make_world

from calib.errors import ConfigError
from calib.refine import (
    RefineConfig,
    RuleHistory,
    as_of,
    before_after,
    check_prediction,
    drift_audit,
    refine,
    review_summary,
    sales_feedback,
    speed_to_lead,
)
from calib.refine.drift import psi, psi_threshold
from calib.refine.history import _poisson_ci, replay_metrics
from calib.rules import RuleSet


@pytest.fixture(scope="module")
def null_world():
    return make_world(11)


@pytest.fixture(scope="module")
def drift_world():
    return make_world(12, drift_from="2025-07-01")


@pytest.fixture(scope="module")
def slow_world():
    return make_world(13, slow_followup=True)


@pytest.fixture(scope="module")
def spam_world():
    return make_world(14, reject_spam=True)


# ------------------------------------------------------------------ reference values
def test_psi_matches_hand_computation():
    # shares 0.25/0.25/0.5 against 0.5/0.25/0.25: 0.25 ln 2 + 0 + 0.25 ln 2 = 0.5 ln 2
    expected = np.array([0] * 25 + [1] * 25 + [2] * 50)
    actual = np.array([0] * 50 + [1] * 25 + [2] * 25)
    assert psi(expected, actual, np.array([0.5, 1.5])) == pytest.approx(0.5 * np.log(2))
    assert psi(expected, expected, np.array([0.5, 1.5])) == 0.0


def test_psi_threshold_is_material_and_shrinks_with_sample_size():
    assert psi_threshold(100, 100, 10) > psi_threshold(1000, 1000, 10) >= 0.1
    assert psi_threshold(10**6, 10**6, 10) == 0.1


def test_psi_noise_threshold_holds_its_level_in_an_a_a_simulation():
    # both samples from one distribution: the noise part of the threshold (its 99th
    # percentile under no drift) is exceeded about 1% of the time (seeded, 1,000 draws)
    from scipy import stats

    rng = np.random.default_rng(0)
    for n_ref, n in ((2000, 2000), (500, 3000)):
        noise = (1 / n_ref + 1 / n) * stats.chi2.ppf(0.99, 9)
        exceed = 0
        for _ in range(1000):
            ref, cur = rng.normal(size=n_ref), rng.normal(size=n)
            edges = np.quantile(ref, np.linspace(0, 1, 11)[1:-1])
            exceed += psi(ref, cur, edges) > noise
        assert 0.002 <= exceed / 1000 <= 0.025


def test_poisson_interval_matches_r():
    # R: poisson.test(10)$conf.int -> 4.795389 18.390356 (exact Garwood interval)
    low, high = _poisson_ci(10, 1.0)
    assert (low, high) == pytest.approx((4.795389, 18.390356), abs=1e-6)
    low2, high2 = _poisson_ci(10, 2.0)  # a rate per week over two weeks
    assert (low2, high2) == pytest.approx((low / 2, high / 2))


# ------------------------------------------------------------------------- drift
def test_drift_in_one_event_type_is_found_from_its_date(drift_world):
    res = drift_audit(drift_world, RULES, outcome="meeting")
    flagged = res.mix[res.mix["flagged"]]
    assert set(flagged["event_type"]) == {"pricing_page_view"}
    assert flagged["period"].min() >= "2025-07"
    assert "pricing-page-view events per lead" in res.sentence.lower()
    assert "since 2025-07" in res.sentence
    after = res.mix[(res.mix["event_type"] == "pricing_page_view") & (res.mix["period"] >= "2025-07")]
    # planted: 1.2 -> 0.4 views per lead (ratio 1/3)
    assert after["ratio"].mean() == pytest.approx(1 / 3, abs=0.08)
    assert res.periods.loc[res.periods["period"] >= "2025-08", "drifted"].all()
    assert not res.periods.loc[res.periods["period"] < "2025-07", "drifted"].any()


def test_no_drift_is_found_where_none_is_planted(null_world):
    res = drift_audit(null_world, RULES, outcome="meeting")
    assert not res.mix["flagged"].any()
    assert not res.periods["drifted"].any()
    assert res.findings == ()
    assert res.sentence.startswith("No period's scores or event mix moved")
    json.dumps(res.to_dict())  # JSON-safe


def test_drift_without_an_events_table(null_world):
    import dataclasses

    no_events = dataclasses.replace(null_world, events=null_world.events.iloc[:0])
    res = drift_audit(no_events, RULES, outcome="meeting")
    assert res.mix.empty and "flagged" in res.mix.columns
    assert not res.periods["drifted"].any()  # every score is 0: nothing moves


def test_drift_by_week_has_weekly_periods(null_world):
    res = drift_audit(null_world, RULES, outcome="meeting", by="week", reference_periods=8)
    assert len(res.periods) >= 52
    assert (res.periods["role"] == "reference").sum() == 8


# ---------------------------------------------------------------- speed to lead
def test_slow_follow_up_lowering_meetings_is_found(slow_world):
    res = speed_to_lead(slow_world, RULES, outcome="meeting", service_level_hours=4)
    a = res.association
    assert a["found"] and a["diff"] > 0
    assert a["fast_rate"] == pytest.approx(0.5, abs=0.07)   # planted: 0.5 within 4 hours
    assert a["slow_rate"] == pytest.approx(0.2, abs=0.07)   # and 0.2 after
    assert "association, not proof" in res.sentence


def test_no_speed_effect_where_none_is_planted(null_world):
    res = speed_to_lead(null_world, RULES, outcome="meeting", service_level_hours=4)
    assert res.association is not None and not res.association["found"]
    assert "does not differ measurably" in res.sentence


def test_service_level_verdict(null_world):
    res = speed_to_lead(null_world, RULES, outcome="meeting", service_level_hours=4)
    sla = res.service_level
    # response times are log-normal with a median of 4 hours: half are within 4 hours
    assert sla["ci_low"] - 0.03 <= 0.5 <= sla["ci_high"] + 0.03
    assert sla["verdict"] == "missed"
    generous = speed_to_lead(null_world, RULES, outcome="meeting", service_level_hours=24 * 30,
                             service_level_share=0.9)
    assert generous.service_level["verdict"] == "met"
    assert generous.service_level["share"] > sla["share"]
    assert res.buckets["mqls"].sum() == res.mqls


def test_unknown_first_touch_is_a_clear_error(null_world):
    with pytest.raises(ConfigError) as info:
        speed_to_lead(null_world, RULES, outcome="meeting", first_touch="called")
    assert info.value.code == "unknown_outcome"
    assert "called" in str(info.value)


# ---------------------------------------------------------------- sales feedback
def test_a_rule_whose_mqls_sales_reject_is_flagged(spam_world):
    res = sales_feedback(spam_world, RULES)
    assert res.flagged == ("email_open",)
    row = res.rules_frame.set_index("rule").loc["email_open"]
    assert row["ratio"] > 2 and row["ratio_low"] > 1
    assert "`email_open` are disqualified" in res.sentence


def test_no_rule_is_flagged_where_none_is_planted(null_world):
    res = sales_feedback(null_world, RULES)
    assert res.flagged == ()
    assert res.bands.set_index("band").loc["mql", "rate"] == pytest.approx(0.12, abs=0.02)


# ------------------------------------------------------------------------ history
def _rule_files(tmp_path):
    for name in ("a.toml", "b.toml", "c.toml"):
        (tmp_path / name).write_text('name = "x"\n[thresholds]\nmql = 10\n')


def test_history_reports_every_problem_at_once(tmp_path):
    _rule_files(tmp_path)
    records = [{"since": "2025-01-01", "file": "a.toml", "until": "2025-05-01"},
               {"since": "2025-04-01", "file": "b.toml", "until": "2025-06-01"},
               {"since": "2025-07-01", "file": "missing.toml"},
               {"since": "2025-02-01", "file": "c.toml"},
               {"since": "not a date", "file": "c.toml"}]
    with pytest.raises(ConfigError) as info:
        RuleHistory.from_records(records, base=tmp_path, source="exp.toml")
    msg = str(info.value)
    assert info.value.code == "invalid_history"
    assert "two rule sets overlap" in msg                 # a.until after b.since
    assert "no rule set was live in between" in msg       # gap between b and missing
    assert "does not exist: missing.toml" in msg
    assert "out of order" in msg
    assert "'not a date'" in msg


def test_history_from_csv_and_latest_change(tmp_path):
    _rule_files(tmp_path)
    (tmp_path / "history.csv").write_text("since,file\n2025-01-01,a.toml\n2025-09-01,b.toml\n")
    h = RuleHistory.read_csv(tmp_path / "history.csv")
    old, new = h.latest_change()
    assert old.file.name == "a.toml" and new.file.name == "b.toml"
    assert str(new.since.date()) == "2025-09-01"
    assert RuleHistory.from_records([{"since": "2025-01-01", "file": "a.toml"}],
                                    base=tmp_path).latest_change() is None


def test_experiment_file_reads_history_previous_and_refine(tmp_path):
    from calib.pipeline.experiment import load_experiment

    _rule_files(tmp_path)
    (tmp_path / "exp.toml").write_text(
        'name = "e"\n[data]\npath = "data"\n[rules]\nbaseline = "b.toml"\n'
        'history = [{since = 2025-01-01, file = "a.toml"}, {since = 2025-09-01, file = "b.toml"}]\n'
        '[report]\nprevious = "reports/old"\n[refine]\nservice_level_hours = 4\n')
    exp = load_experiment(tmp_path / "exp.toml")
    assert [e.file.name for e in exp.history.entries] == ["a.toml", "b.toml"]
    assert exp.report.previous == tmp_path / "reports/old"
    assert exp.refine == RefineConfig(service_level_hours=4)
    (tmp_path / "bad.toml").write_text(
        'name = "e"\n[data]\npath = "data"\n[rules]\nbaseline = "b.toml"\n'
        '[refine]\nservice_level_hour = 4\n')
    with pytest.raises(ConfigError) as info:
        load_experiment(tmp_path / "bad.toml")
    assert info.value.code == "unknown_key"
    assert "service_level_hours" in str(info.value)  # the suggestion


def test_refine_config_round_trips_and_checks():
    c = RefineConfig(first_touch="Contacted", service_level_hours=2, drift_by="week")
    assert c.first_touch == "contacted"
    assert RefineConfig.from_dict(c.to_dict()) == c
    none = RefineConfig(first_touch=None, rejected=None)  # nothing recorded
    assert none.to_dict()["first_touch"] is False
    assert RefineConfig.from_dict(none.to_dict()) == none
    for bad in ({"service_level_hours": 0}, {"service_level_share": 1.5}, {"drift_by": "day"},
                {"reference_periods": 0}):
        with pytest.raises(ConfigError):
            RefineConfig.from_dict(bad)


# ---------------------------------------------------------- predicted vs realised
def test_prediction_check_realised_values_and_verdicts(null_world):
    since = "2025-07-01"
    previous = review_summary(as_of(null_world, since), {"baseline": RULES}, primary="meeting")
    check = check_prediction(null_world, RULES, since, previous)
    assert check.status == "checked"
    from calib.engine import replay

    direct = replay_metrics(replay(null_world, RULES, window_days=90, start=since,
                                   end=null_world.leads["created_at"].max()).to_dict(), "meeting")
    for m in check.metrics:
        # (to_dict rounds rates to 6 digits)
        assert (m.realised, m.realised_low, m.realised_high) == pytest.approx(direct[m.metric],
                                                                              rel=1e-5)
        inside = m.predicted_low <= m.realised <= m.predicted_high
        assert m.verdict == ("inside" if inside else "above" if m.realised > m.predicted_high
                             else "below")
    # the review made at the time counts early meetings of leads whose window was still
    # open, so its rate leans high; the check says so
    assert "leans high" in check.caveat
    # a stationary world, predicted with hindsight (every window complete): it holds
    hindsight = {"experiment": "hindsight", "primary_outcome": "meeting", "replays": {
        "baseline": replay(null_world, RULES, window_days=90,
                           end=pd.Timestamp(since, tz="UTC") - pd.Timedelta(seconds=1)).to_dict()}}
    held = check_prediction(null_world, RULES, since, hindsight)
    assert [m.verdict for m in held.metrics] == ["inside"] * 3
    assert held.caveat == ""
    # an over-optimistic prediction (twice the MQLs) is called out
    doctored = json.loads(json.dumps(previous))
    for entry in [*doctored["replays"].values(), *doctored["test_replays"].values()]:
        entry["mql"]["count"] *= 2
        entry["mql"]["per_week"] *= 2
    over = check_prediction(null_world, RULES, since, doctored)
    assert {m.metric: m.verdict for m in over.metrics}["mql_per_week"] == "below"
    assert "MQLs per week came in below it" in over.headline()


def test_prediction_of_a_rule_set_the_review_did_not_replay(null_world):
    previous = review_summary(as_of(null_world, "2025-07-01"), {"baseline": RULES},
                              primary="meeting")
    other = RuleSet.from_dict({**RULES.to_dict(), "name": "never-reviewed"})
    check = check_prediction(null_world, other, "2025-07-01", previous)
    assert check.status == "not_predicted" and check.metrics == ()
    assert "no replay of 'never-reviewed'" in check.reason


def test_before_after_splits_rules_from_calendar(null_world):
    old = RuleSet.from_dict({**RULES.to_dict(), "name": "old",
                             "thresholds": {"mql": 20}})
    ba = before_after(null_world, old, RULES, "2025-07-01", primary="meeting")
    for k in ("mql_per_week", "rate", "per_week"):  # the split adds up
        assert ba.observed_change[k] == pytest.approx(ba.rule_effect[k] + ba.calendar_effect[k])
    assert ba.rule_effect["mql_per_week"] < 0      # a higher cutoff: fewer MQLs
    # leads arrive at a steady rate: the calendar moves MQL volume far less than the rules
    assert abs(ba.calendar_effect["mql_per_week"]) < abs(ba.rule_effect["mql_per_week"]) / 3
    assert set(ba.frame["period"]) == {"before", "after"}


def test_a_history_outside_the_data_is_noted_not_fatal(null_world, tmp_path):
    from calib.rules import dumps_rules

    (tmp_path / "a.toml").write_text(dumps_rules(RULES))
    (tmp_path / "b.toml").write_text(dumps_rules(RULES))
    h = RuleHistory.from_records([{"since": "2025-01-01", "file": "a.toml"},
                                  {"since": "2030-01-01", "file": "b.toml"}], base=tmp_path)
    res = refine(null_world, RULES, primary="meeting", history=h)
    assert res.before_after is None and res.drift is not None
    assert any("no leads created after that date" in s for s in res.skipped)


def test_refine_without_history_or_first_touch_says_what_it_skipped(null_world):
    res = refine(null_world, RULES, primary="meeting",
                 config=RefineConfig(first_touch="called"))
    assert res.prediction is None and res.speed is None
    assert any("no rule-set history" in s for s in res.skipped)
    assert any("speed to lead" in s and "called" in s for s in res.skipped)
    assert res.feedback is not None and res.drift is not None
    json.dumps(res.to_dict())


def test_rule_contributions_match_hand_computation():
    from calib.data import from_frames
    from calib.refine._scores import rule_contributions

    rules = RuleSet.from_dict({
        "name": "hand",
        "fit": [{"field": "seniority", "equals": "vp", "points": 10}],
        "behavior": [{"event": "email_open", "points": 5, "cap": 6},
                     {"event": "pricing_page_view", "points": 20}],
        "decay": {"kind": "exponential", "half_life_days": 10},
        "limits": {"max": 25},
        "thresholds": {"mql": 20},
    })
    t0 = pd.Timestamp("2025-01-01", tz="UTC")
    day = pd.Timedelta(days=1)
    leads = pd.DataFrame({"lead_id": ["a", "b"], "created_at": [t0, t0],
                          "seniority": ["vp", "ic"]})
    events = pd.DataFrame({"lead_id": ["a", "a", "a", "b"],
                           "occurred_at": [t0, t0 + 5 * day, t0 + 10 * day, t0],
                           "event_type": ["email_open", "pricing_page_view", "email_open",
                                          "pricing_page_view"]})
    outcomes = pd.DataFrame({"lead_id": ["a"], "outcome": ["meeting"],
                             "occurred_at": [t0 + 20 * day]})
    ds = from_frames(leads, events, outcomes)
    at = np.array([(t0 + 10 * day).value, (t0 + 10 * day).value])
    contrib, names, score = rule_contributions(ds, rules, np.array([0, 1]), at)
    assert names == ["fit:seniority", "email_open", "pricing_page_view"]
    # lead a at day 10: fit 10; email 5 * (0.5 + 1) = 7.5 capped at 6; pricing 20 * 0.5 ** 0.5
    assert contrib[0] == pytest.approx([10, 6, 20 * 0.5 ** 0.5])
    assert score[0] == 25  # 30.14 clamped to the [limits] max
    # lead b: no fit points, one pricing view 10 days old: 20 * 0.5 = 10
    assert contrib[1] == pytest.approx([0, 0, 10])
    # the order of the evaluation points does not matter
    c2, _, s2 = rule_contributions(ds, rules, np.array([1, 0]), at[::-1])
    assert c2[::-1] == pytest.approx(contrib) and s2[::-1] == pytest.approx(score)


def test_a_snapshot_has_nothing_to_compare_over_time():
    from calib.data import from_frames

    ds = from_frames(pd.DataFrame({"lead_id": ["a", "b"], "seniority": ["vp", "ic"]}),
                     outcomes=pd.DataFrame({"lead_id": ["a"], "outcome": ["meeting"]}))
    assert ds.snapshot
    res = refine(ds, RULES, primary="meeting")
    assert res.drift is None and res.speed is None and res.feedback is None
    assert "snapshot" in res.skipped[0]
