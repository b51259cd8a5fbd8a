"""Hand-computed cases that pin the reference replay to SPEC.md section 3, and properties.

Every expected number below is worked out by hand in a comment next to it. Times are
written as ``day(d, h, s)`` = 2025-01-01T00:00:00Z + d days + h hours + s seconds.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from statsmodels.stats.proportion import proportion_confint

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reference_replay import (  # noqa: E402
    WILSON_Z,
    reference_replay,
    reference_score_at,
    wilson_interval,
)
from strategies import EVENT_TYPES, rule_sets, small_datasets, snapshot_datasets  # noqa: E402

T0 = pd.Timestamp("2025-01-01T00:00:00Z")


def day(d, h=0, s=0):
    return T0 + pd.Timedelta(days=d, hours=h, seconds=s)


def make_leads(rows, **extra):
    """rows: (lead_id, created_at, seniority)."""
    frame = pd.DataFrame(
        {
            "lead_id": [r[0] for r in rows],
            "created_at": pd.Series([r[1] for r in rows], dtype="datetime64[ns, UTC]"),
            "seniority": [r[2] for r in rows],
        }
    )
    for name, values in extra.items():
        frame[name] = values
    return frame


def make_events(rows):
    """rows: (lead_id, occurred_at, event_type)."""
    return pd.DataFrame(
        {
            "lead_id": pd.Series([r[0] for r in rows], dtype=object),
            "occurred_at": pd.Series([r[1] for r in rows], dtype="datetime64[ns, UTC]"),
            "event_type": pd.Series([r[2] for r in rows], dtype=object),
        }
    )


def make_outcomes(rows):
    """rows: (lead_id, outcome, occurred_at)."""
    return pd.DataFrame(
        {
            "lead_id": pd.Series([r[0] for r in rows], dtype=object),
            "outcome": pd.Series([r[1] for r in rows], dtype=object),
            "occurred_at": pd.Series([r[2] for r in rows], dtype="datetime64[ns, UTC]"),
        }
    )


NO_OUTCOMES = make_outcomes([])


def rule_set(behavior=(), fit=(), decay=None, limits=None, **thresholds):
    rules = {"name": "test", "fit": list(fit), "behavior": list(behavior)}
    rules["decay"] = decay or {"kind": "none"}
    if limits is not None:
        rules["limits"] = limits
    rules["thresholds"] = thresholds
    return rules


VP_30 = {"field": "seniority", "equals": "vp", "points": 30}


def by_id(per_lead):
    return per_lead.set_index("lead_id")


# ------------------------------------------------------------------ cutoff and kernels


@pytest.mark.parametrize("tol", [1e-9, 0.0])
def test_lead_at_exactly_the_cutoff_is_an_mql(tol):
    leads = make_leads([("a", day(0), "vp")])
    events = make_events([("a", day(2), "pricing")])
    rules = rule_set(
        behavior=[{"event": "pricing", "points": 20}],
        fit=[VP_30],
        decay={"kind": "exponential", "half_life_days": 7},
        mql=50,
    )
    per_lead, metrics = reference_replay(leads, events, NO_OUTCOMES, rules, tol=tol)
    row = by_id(per_lead).loc["a"]
    # at created_at: fit 30 < 50; at day 2: 30 + 20 * 0.5 ** (0 / 7) = 30 + 20 = 50 >= 50
    assert row["is_mql"]
    assert row["mql_at"] == day(2)
    assert row["peak_score"] == 50.0
    assert metrics["mql"]["count"] == 1
    # median_days_to_mql = day 2 - day 0 = 2.0
    assert metrics["mql"]["median_days_to_mql"] == 2.0

    rules["thresholds"]["mql"] = 51
    _, metrics = reference_replay(leads, events, NO_OUTCOMES, rules, tol=tol)
    assert metrics["mql"]["count"] == 0  # peak 50 < 51


def test_tolerance_rescues_a_float_sum_just_below_the_cutoff():
    leads = make_leads([("a", day(0), "vp")], employees=[100.0])
    rules = rule_set(
        fit=[
            {"field": "seniority", "equals": "vp", "points": 0.7},
            {"field": "employees", "min": 10, "points": 0.1},
        ],
        mql=0.8,
    )
    # 0.7 + 0.1 == 0.7999999999999999 in floating point, 1.1e-16 below 0.8
    per_lead, _ = reference_replay(leads, None, NO_OUTCOMES, rules)
    assert by_id(per_lead).loc["a", "is_mql"]
    per_lead, _ = reference_replay(leads, None, NO_OUTCOMES, rules, tol=0.0)
    assert not by_id(per_lead).loc["a", "is_mql"]


def test_exponential_decay_halves_after_one_half_life():
    leads = make_leads([("a", day(0), "ic")])
    events = make_events([("a", day(0), "demo")])
    rules = rule_set(
        behavior=[{"event": "demo", "points": 40}],
        decay={"kind": "exponential", "half_life_days": 7},
        mql=100,
    )
    # 40 * 0.5 ** (0/7) = 40; 40 * 0.5 ** (7/7) = 20; 40 * 0.5 ** (14/7) = 10
    assert reference_score_at(leads, events, rules, "a", day(0)) == 40.0
    assert reference_score_at(leads, events, rules, "a", day(7)) == 20.0
    assert reference_score_at(leads, events, rules, "a", day(14)) == 10.0
    # 40 * 0.5 ** (3.5 / 7) = 40 / sqrt(2) = 28.2842712...
    assert reference_score_at(leads, events, rules, "a", day(3, 12)) == pytest.approx(
        40 / math.sqrt(2), rel=1e-15
    )
    # before the event nothing counts ("with t_i <= t")
    assert reference_score_at(leads, events, rules, "a", day(0, 0, -1)) == 0.0


def test_window_expires_at_exactly_days():
    rules = rule_set(
        behavior=[{"event": "demo", "points": 30}, {"event": "webinar", "points": 20}],
        decay={"kind": "window", "days": 7},
        mql=50,
    )
    leads = make_leads([("a", day(0), "ic"), ("b", day(0), "ic")])
    events = make_events(
        [
            ("a", day(0), "demo"),
            ("a", day(7), "webinar"),  # age of the demo == 7 days
            ("b", day(0), "demo"),
            ("b", day(7, 0, -1), "webinar"),  # one second earlier
        ]
    )
    # window: 1 if age < days else 0
    assert reference_score_at(leads, events, rules, "a", day(7, 0, -1)) == 30.0  # age < 7
    assert reference_score_at(leads, events, rules, "a", day(7)) == 20.0  # 30 * 0 + 20 * 1
    per_lead, _ = reference_replay(leads, events, NO_OUTCOMES, rules)
    rows = by_id(per_lead)
    # a: day 0: 30; day 7: 0 + 20 = 20 -> never 50
    assert not rows.loc["a", "is_mql"]
    assert rows.loc["a", "peak_score"] == 30.0
    # b: day 7 - 1 s: 30 + 20 = 50 -> MQL
    assert rows.loc["b", "mql_at"] == day(7, 0, -1)


def test_step_decay():
    leads = make_leads([("a", day(0), "ic")])
    events = make_events([("a", day(0), "demo")])
    rules = rule_set(
        behavior=[{"event": "demo", "points": 40}],
        decay={"kind": "step", "percent": 25, "every_days": 10},
        mql=100,
    )
    # 40 * 0.75 ** floor(age / 10)
    expected = {
        day(10, 0, -1): 40.0,  # floor(9.99998) = 0
        day(10): 30.0,  # floor(1) = 1 -> 40 * 0.75
        day(19): 30.0,
        day(20): 22.5,  # 40 * 0.5625
        day(30): 16.875,  # 40 * 0.421875
    }
    for t, value in expected.items():
        assert reference_score_at(leads, events, rules, "a", t) == value


def test_linear_decay():
    leads = make_leads([("a", day(0), "ic")])
    events = make_events([("a", day(0), "demo")])
    rules = rule_set(
        behavior=[{"event": "demo", "points": 40}], decay={"kind": "linear", "days": 10}, mql=100
    )
    # 40 * max(0, 1 - age / 10)
    expected = {day(0): 40.0, day(2, 12): 30.0, day(5): 20.0, day(10): 0.0, day(15): 0.0}
    for t, value in expected.items():
        assert reference_score_at(leads, events, rules, "a", t) == value


# --------------------------------------------------------------- caps, limits, per day


def test_caps_with_positive_and_negative_points_and_limits():
    leads = make_leads([("a", day(0), "vp")])
    events = make_events(
        [("a", day(1), "pricing")] * 3 + [("a", day(1), "unsubscribe")] * 3
    )
    behavior = [
        {"event": "pricing", "points": 20, "cap": 40},
        {"event": "unsubscribe", "points": -15, "cap": 20},
    ]
    fit = [{"field": "seniority", "equals": "vp", "points": 50}]
    rules = rule_set(behavior=behavior, fit=fit, mql=100)
    # 50 + clamp(60, -40, 40) + clamp(-45, -20, 20) = 50 + 40 - 20 = 70
    assert reference_score_at(leads, events, rules, "a", day(1)) == 70.0
    # with [limits] max = 60 the total is clamped: min(70, 60) = 60
    rules = rule_set(behavior=behavior, fit=fit, limits={"min": 0, "max": 60}, mql=100)
    assert reference_score_at(leads, events, rules, "a", day(1)) == 60.0
    # [limits] min = 0 clamps from below: no fit rule, only the unsubscribes:
    # 0 + clamp(-45, -20, 20) = -20 -> max(-20, 0) = 0
    rules = rule_set(behavior=behavior, limits={"min": 0}, mql=100)
    events_b = make_events([("a", day(1), "unsubscribe")] * 3)
    assert reference_score_at(leads, events_b, rules, "a", day(1)) == 0.0


def test_cap_applies_to_the_decayed_sum_at_t():
    leads = make_leads([("a", day(0), "ic")])
    events = make_events([("a", day(0), "pricing")] * 3)
    rules = rule_set(
        behavior=[{"event": "pricing", "points": 20, "cap": 40}],
        decay={"kind": "exponential", "half_life_days": 1},
        mql=100,
    )
    # day 0: clamp(3 * 20, 40) = 40
    assert reference_score_at(leads, events, rules, "a", day(0)) == 40.0
    # day 1: clamp(3 * 20 * 0.5, 40) = 30 (a running clamp that then decays would give 20)
    assert reference_score_at(leads, events, rules, "a", day(1)) == 30.0


def test_max_per_day_keeps_the_first_events_of_each_utc_day():
    leads = make_leads([("a", day(0), "ic")])
    events = make_events(
        [
            ("a", day(0, 5), "pricing"),
            ("a", day(0, 1), "pricing"),  # rows out of time order on purpose
            ("a", day(1, 0, -1), "pricing"),  # 23:59:59, still day 0
            ("a", day(1), "pricing"),  # 00:00:00 of day 1
            ("a", day(2), "pricing"),
            ("a", day(2), "pricing"),  # same second: only one is kept
        ]
    )
    rules = rule_set(
        behavior=[
            {"name": "once", "event": "pricing", "points": 10, "max_per_day": 1},
            {"name": "all", "events": ["pricing", "demo"], "points": 1},
            {"name": "twice", "event": "pricing", "points": 100, "max_per_day": 2},
        ],
        decay={"kind": "window", "days": 30},
        mql=1000,
    )
    # once: days 0, 1, 2 -> 3 * 10 = 30; all: 6 events -> 6; twice: 2 + 1 + 2 = 5 -> 500
    assert reference_score_at(leads, events, rules, "a", day(3)) == 536.0
    # at 02:00 of day 0 only the 01:00 event exists: 10 + 1 + 100
    assert reference_score_at(leads, events, rules, "a", day(0, 2)) == 111.0
    # at 23:59:59 of day 0: once 10 (01:00 kept), all 3, twice 200 (01:00, 05:00)
    assert reference_score_at(leads, events, rules, "a", day(1, 0, -1)) == 213.0


def test_dropped_events_are_no_evaluation_time_but_unscored_events_are():
    # linear decay over 1 day; fit 50 (vp); an unsubscribe (-20) at created_at pulls the
    # score down and decays back. The score is only looked at at evaluation times.
    rules = rule_set(
        behavior=[
            {"event": "unsubscribe", "points": -20},
            {"event": "pricing", "points": 5, "max_per_day": 1},
        ],
        fit=[{"field": "seniority", "equals": "vp", "points": 50}],
        decay={"kind": "linear", "days": 1},
        mql=50,
    )
    leads = make_leads([("dropped", day(0), "vp"), ("unscored", day(0), "vp")])
    rows = []
    for lead_id, late_type in (("dropped", "pricing"), ("unscored", "email_open")):
        rows += [
            (lead_id, day(0), "unsubscribe"),
            (lead_id, day(0, 6), "pricing"),
            (lead_id, day(0, 23), late_type),
            (lead_id, day(2), "pricing"),
        ]
    events = make_events(rows)
    per_lead, _ = reference_replay(leads, events, NO_OUTCOMES, rules)
    result = by_id(per_lead)
    # day 0 00:00: 50 - 20 = 30
    # day 0 06:00: 50 - 20 * (1 - 6/24) + 5 = 50 - 15 + 5 = 40
    # day 0 23:00: 50 - 20 * (1/24) + 5 * (1 - 17/24) = 50 - 0.8333 + 1.4583 = 50.625
    #   - "dropped": that pricing event is the second of day 0 and is dropped by
    #     max_per_day, so 23:00 is no evaluation time; next is day 2: 50 - 0 + 0 + 5 = 55
    #   - "unscored": email_open matches no rule but is an event of the lead: evaluated
    assert result.loc["dropped", "mql_at"] == day(2)
    assert result.loc["dropped", "peak_score"] == 55.0
    assert result.loc["unscored", "mql_at"] == day(0, 23)
    assert reference_score_at(leads, events, rules, "unscored", day(0, 23)) == pytest.approx(
        50.625, abs=1e-12
    )
    # both end at day 2 with 50 + 5 = 55
    assert (result["peak_score"] == 55.0).all()


def test_events_before_created_at_count_decayed_from_created_at_on():
    leads = make_leads([("a", day(0), "ic")])
    events = make_events([("a", day(-2), "demo")])
    rules = rule_set(
        behavior=[{"event": "demo", "points": 40}],
        decay={"kind": "exponential", "half_life_days": 2},
        mql=20,
    )
    # at created_at: 40 * 0.5 ** (2 / 2) = 20 >= 20 -> MQL at created_at
    per_lead, metrics = reference_replay(leads, events, NO_OUTCOMES, rules)
    assert by_id(per_lead).loc["a", "mql_at"] == day(0)
    assert by_id(per_lead).loc["a", "peak_score"] == 20.0
    assert metrics["mql"]["median_days_to_mql"] == 0.0
    # the event's own time (score 40) is not an evaluation time: it is before created_at
    rules["thresholds"]["mql"] = 21
    per_lead, _ = reference_replay(leads, events, NO_OUTCOMES, rules)
    assert not by_id(per_lead).loc["a", "is_mql"]
    # ... but score_at sees it
    assert reference_score_at(leads, events, rules, "a", day(-2)) == 40.0


def test_events_sharing_a_timestamp_apply_together():
    leads = make_leads([("a", day(0), "ic")])
    events = make_events([("a", day(1), "demo"), ("a", day(1), "unsubscribe")])
    rules = rule_set(
        behavior=[{"event": "demo", "points": 30}, {"event": "unsubscribe", "points": -20}],
        mql=30,
    )
    # at day 1 both apply: 30 - 20 = 10; never 30 (no evaluation "between" them)
    per_lead, _ = reference_replay(leads, events, NO_OUTCOMES, rules)
    assert not by_id(per_lead).loc["a", "is_mql"]
    assert by_id(per_lead).loc["a", "peak_score"] == 10.0


# ------------------------------------------------------------------ mql_min_fit, SQL


def test_mql_min_fit_applies_to_mql_and_sql():
    fit = [
        {"field": "seniority", "equals": "manager", "points": 5},
        {"field": "seniority", "equals": "vp", "points": 10},
    ]
    rules = rule_set(
        behavior=[{"event": "demo", "points": 50}],
        fit=fit,
        mql=50,
        sql=55,
        mql_min_fit=10,
    )
    leads = make_leads([("low_fit", day(0), "manager"), ("ok_fit", day(0), "vp")])
    events = make_events([("low_fit", day(1), "demo"), ("ok_fit", day(1), "demo")])
    per_lead, metrics = reference_replay(leads, events, NO_OUTCOMES, rules)
    rows = by_id(per_lead)
    # low_fit: 5 + 50 = 55 >= 50 and >= 55, but fit 5 < 10 -> neither MQL nor SQL
    assert rows.loc["low_fit", "peak_score"] == 55.0
    assert not rows.loc["low_fit", "is_mql"] and not rows.loc["low_fit", "is_sql"]
    # ok_fit: fit exactly 10 >= 10; day 0: 10; day 1: 10 + 50 = 60 >= 55 -> MQL and SQL
    assert rows.loc["ok_fit", "mql_at"] == day(1)
    assert rows.loc["ok_fit", "sql_at"] == day(1)
    assert metrics["mql"]["count"] == 1
    assert set(metrics["sql"]) == set(metrics["mql"])
    assert metrics["sql"]["count"] == 1
    assert metrics["sql"]["median_days_to_mql"] == 1.0


def test_sql_after_mql_and_no_sql_block_without_cutoff():
    leads = make_leads([("a", day(0), "vp")])
    events = make_events([("a", day(3), "demo")])
    rules = rule_set(behavior=[{"event": "demo", "points": 30}], fit=[VP_30], mql=30, sql=60)
    per_lead, metrics = reference_replay(leads, events, NO_OUTCOMES, rules)
    # day 0: 30 -> MQL; day 3: 60 -> SQL
    assert by_id(per_lead).loc["a", "mql_at"] == day(0)
    assert by_id(per_lead).loc["a", "sql_at"] == day(3)
    del rules["thresholds"]["sql"]
    per_lead, metrics = reference_replay(leads, events, NO_OUTCOMES, rules)
    assert metrics["sql"] is None
    assert pd.isna(by_id(per_lead).loc["a", "sql_at"])


def test_fit_conditions():
    leads = pd.DataFrame(
        {
            "lead_id": ["a", "b", "c", "d", "e"],
            "created_at": [day(0)] * 5,
            "seniority": ["vp", "", None, "VP", np.nan],
            "employees": pd.Series([50, np.nan, "50", 200, 10], dtype=object),
        }
    )
    fit = [
        {"field": "seniority", "in": ["vp", "director"], "points": 1},
        {"field": "seniority", "missing": True, "points": 2},
        {"field": "employees", "min": 50, "points": 4},
        {"field": "employees", "max": 50, "points": 8},
        {"field": "employees", "min": 10, "max": 100, "points": 16},
        {"field": "country", "missing": True, "points": 32},  # column absent: missing
        {"field": "seniority", "missing": False, "equals": "VP", "points": 64},
    ]
    rules = rule_set(fit=fit, mql=1000)
    per_lead, _ = reference_replay(leads, None, NO_OUTCOMES, rules)
    fits = by_id(per_lead)["fit"].to_dict()
    # a: in 1, min 50>=50 4, max 50<=50 8, range 16, country 32 -> 61
    # b: "" is missing 2; NaN employees satisfies nothing; country 32 -> 34
    # c: None is missing 2; "50" is a string, never numeric; country 32 -> 34
    # d: "VP" is not "vp" (case-sensitive); min 4; country 32; present and equals VP 64 -> 100
    # e: NaN missing 2; max 10<=50 8; range 10 in [10, 100] 16; country 32 -> 58
    assert fits == {"a": 61.0, "b": 34.0, "c": 34.0, "d": 100.0, "e": 58.0}


# ----------------------------------------------------------------- outcome classes


def boundary_data(extra_events=()):
    """W = 10 days; every lead but 'cold' is an MQL at its created_at (fit 50)."""
    leads = make_leads(
        [
            ("late", day(0), "vp"),
            ("hit_start", day(0), "vp"),
            ("hit_end", day(0), "vp"),
            ("miss_after", day(0), "vp"),
            ("no_outcome", day(0), "vp"),
            ("edge", day(20), "vp"),
            ("immature", day(25), "vp"),
            ("late_immature", day(25), "vp"),
            ("cold", day(30), "ic"),  # not an MQL; its created_at is the end of the data
        ]
    )
    outcomes = make_outcomes(
        [
            ("late", "meeting", day(0, 0, -1)),  # o = m - 1 s < m -> late
            ("hit_start", "meeting", day(0)),  # o == m -> hit
            ("hit_start", "meeting", day(12)),  # second occurrence: ignored
            ("hit_end", "meeting", day(10)),  # o == m + W -> hit
            ("miss_after", "meeting", day(10, 0, 1)),  # o = m + W + 1 s -> miss
            ("late_immature", "meeting", day(25, 0, -1)),  # late wins over immature
        ]
    )
    events = make_events(list(extra_events))
    rules = rule_set(fit=[{"field": "seniority", "equals": "vp", "points": 50}], mql=50)
    return leads, events, outcomes, rules


def test_late_hit_immature_miss_at_the_boundaries():
    leads, events, outcomes, rules = boundary_data()
    per_lead, metrics = reference_replay(leads, events, outcomes, rules, window_days=10)
    status = by_id(per_lead)["status_meeting"].to_dict()
    # E = day 30 (cold's created_at). edge: m + W = day 30 == E, not after it -> miss.
    # immature: m + W = day 35 > E and no outcome -> immature.
    assert status == {
        "late": "late",
        "hit_start": "hit",
        "hit_end": "hit",
        "miss_after": "miss",
        "no_outcome": "miss",
        "edge": "miss",
        "immature": "immature",
        "late_immature": "late",
        "cold": None,
    }
    m = metrics["outcomes"]["meeting"]
    assert (m["hits"], m["late"], m["misses"], m["immature"]) == (2, 2, 3, 1)
    # rate = 2 / (2 + 3 + 2) = 2/7
    assert m["rate"] == pytest.approx(2 / 7)
    low, high = proportion_confint(2, 7, alpha=0.05, method="wilson")
    assert m["ci_low"] == pytest.approx(low, rel=1e-12)
    assert m["ci_high"] == pytest.approx(high, rel=1e-12)
    # recall = hits / leads with a meeting (late, hit_start, hit_end, miss_after,
    # late_immature) = 2/5
    assert m["recall"] == pytest.approx(0.4)
    assert metrics["leads"] == 9
    assert metrics["mql"]["count"] == 8
    # period day 0 .. day 30 = 30 days; per_week = 8 / (30 / 7) = 56/30
    assert metrics["mql"]["per_week"] == pytest.approx(56 / 30)
    assert metrics["mql"]["median_days_to_mql"] == 0.0
    # coverage: MQLs with any sales outcome = the 5 with a meeting, of 8
    assert metrics["coverage"] == pytest.approx(5 / 8)
    assert metrics["period_start"] == "2025-01-01T00:00:00Z"
    assert metrics["period_end"] == "2025-01-31T00:00:00Z"
    assert metrics["rules"] == "test"
    assert metrics["sql"] is None


def test_end_of_data_is_the_latest_timestamp_in_any_table():
    # An event on day 35 (a type no rule uses) moves E to day 35:
    # immature's m + W = day 35 == E -> now a miss.
    leads, events, outcomes, rules = boundary_data(extra_events=[("cold", day(35), "email_open")])
    per_lead, metrics = reference_replay(leads, events, outcomes, rules, window_days=10)
    assert by_id(per_lead).loc["immature", "status_meeting"] == "miss"
    assert metrics["period_end"] == "2025-02-05T00:00:00Z"
    # so does an assignment
    leads, events, outcomes, rules = boundary_data()
    assignments = pd.DataFrame(
        {"lead_id": ["cold"], "arm": ["a"], "assigned_at": [day(35)]}
    )
    per_lead, _ = reference_replay(
        leads, events, outcomes, rules, window_days=10, assignments=assignments
    )
    assert by_id(per_lead).loc["immature", "status_meeting"] == "miss"


def test_start_and_end_narrow_the_period_but_not_the_end_of_data():
    leads, events, outcomes, rules = boundary_data()
    # end inclusive: 'edge' (created exactly day 20) counts; E stays day 30, so edge's
    # m + W = day 30 is not after E -> still a miss
    per_lead, metrics = reference_replay(
        leads, events, outcomes, rules, window_days=10, end=day(20)
    )
    assert metrics["leads"] == 6
    assert metrics["period_end"] == "2025-01-21T00:00:00Z"
    m = metrics["outcomes"]["meeting"]
    # late, hit_start, hit_end, miss_after, no_outcome, edge
    assert (m["hits"], m["late"], m["misses"], m["immature"]) == (2, 1, 3, 0)
    # per_week = 6 / (20 / 7) = 2.1
    assert metrics["mql"]["per_week"] == pytest.approx(2.1)
    # recall = 2 / 4 (late, hit_start, hit_end, miss_after within the period)
    assert m["recall"] == pytest.approx(0.5)
    assert by_id(per_lead).loc["edge", "status_meeting"] == "miss"
    assert not by_id(per_lead).loc["immature", "in_period"]

    per_lead, metrics = reference_replay(
        leads, events, outcomes, rules, window_days=10, start="2025-01-21", end="2025-01-21"
    )
    assert metrics["leads"] == 1  # edge only (naive strings are UTC)
    assert metrics["period_start"] == metrics["period_end"] == "2025-01-21T00:00:00Z"
    assert metrics["mql"]["per_week"] is None  # zero-day period
    assert metrics["outcomes"]["meeting"]["recall"] is None  # no meeting in the period
    assert metrics["outcomes"]["meeting"]["rate"] == 0.0  # 0 hits of 1 miss


# ------------------------------------------------------------------------ snapshots


def test_snapshot_without_dates():
    leads = pd.DataFrame({"lead_id": ["a", "b", "c"], "seniority": ["vp", "vp", "ic"]})
    events = pd.DataFrame(
        {
            "lead_id": ["a", "a", "a", "b", "c", "c", "c", "c"],
            "event_type": ["pricing"] * 3 + ["pricing"] + ["pricing"] * 3 + ["webinar"],
        }
    )
    outcomes = pd.DataFrame({"lead_id": ["a", "b"], "outcome": ["meeting", "meeting"]})
    rules = rule_set(
        behavior=[
            {"event": "pricing", "points": 20, "cap": 50, "max_per_day": 1},
            {"event": "webinar", "points": 10},
        ],
        fit=[{"field": "seniority", "equals": "vp", "points": 20}],
        decay={"kind": "exponential", "half_life_days": 1},
        mql=60,
    )
    per_lead, metrics = reference_replay(leads, events, outcomes, rules)
    rows = by_id(per_lead)
    # no time: kernel 1, max_per_day cannot apply (no days)
    # a: 20 + clamp(3 * 20, 50) = 70 -> MQL, has a meeting -> hit
    # b: 20 + 20 = 40 -> not an MQL
    # c: 0 + 50 + 10 = 60 -> MQL, no meeting -> miss
    assert rows["peak_score"].to_dict() == {"a": 70.0, "b": 40.0, "c": 60.0}
    assert rows["status_meeting"].to_dict() == {"a": "hit", "b": None, "c": "miss"}
    assert rows["mql_at"].isna().all()
    assert metrics["mql"] == {"count": 2, "per_week": None, "median_days_to_mql": None}
    m = metrics["outcomes"]["meeting"]
    assert (m["hits"], m["late"], m["misses"], m["immature"]) == (1, 0, 1, 0)
    assert m["rate"] == 0.5
    assert m["recall"] == 0.5  # 1 hit of the 2 leads with a meeting
    assert metrics["coverage"] == 0.5
    assert metrics["period_start"] is None and metrics["leads"] == 3


def test_snapshot_with_created_at_but_undated_outcomes_is_scored_at_end_of_data():
    leads = make_leads([("a", day(0), "ic"), ("b", day(10), "ic")])
    events = make_events([("a", day(0), "demo")])
    outcomes = pd.DataFrame({"lead_id": ["a"], "outcome": ["meeting"]})
    rules = rule_set(
        behavior=[{"event": "demo", "points": 40}],
        decay={"kind": "exponential", "half_life_days": 10},
        mql=20,
    )
    per_lead, metrics = reference_replay(leads, events, outcomes, rules)
    # E = day 10 (b's created_at): a scores 40 * 0.5 ** (10 / 10) = 20 >= 20 -> hit
    assert by_id(per_lead).loc["a", "peak_score"] == 20.0
    assert by_id(per_lead).loc["a", "status_meeting"] == "hit"
    assert metrics["mql"]["per_week"] is None
    assert metrics["mql"]["median_days_to_mql"] is None
    rules["thresholds"]["mql"] = 21
    _, metrics = reference_replay(leads, events, outcomes, rules)
    assert metrics["mql"]["count"] == 0  # the day-0 peak of 40 is not seen in a snapshot


# ---------------------------------------------------------------------------- Wilson


@pytest.mark.parametrize(
    "k,n", [(0, 1), (1, 1), (0, 7), (0, 10), (3, 10), (10, 10), (2, 7), (80, 2940)]
)
def test_wilson_interval_matches_statsmodels(k, n):
    low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
    ours = wilson_interval(k, n)
    assert ours[0] == pytest.approx(low, rel=1e-12, abs=1e-15)
    assert ours[1] == pytest.approx(high, rel=1e-12, abs=1e-15)


def test_wilson_z_is_the_normal_quantile():
    from scipy.stats import norm

    assert WILSON_Z == pytest.approx(norm.ppf(0.975), rel=1e-15)


# -------------------------------------------------------------------------- properties

PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def check_consistency(per_lead, metrics, rules, tol=1e-9):
    counted = per_lead[per_lead["in_period"]]
    mql = counted[counted["is_mql"]]
    assert metrics["leads"] == len(counted)
    assert metrics["mql"]["count"] == len(mql)
    for outcome, m in metrics["outcomes"].items():
        assert m["hits"] + m["late"] + m["misses"] + m["immature"] == len(mql)
        statuses = mql[f"status_{outcome}"]
        assert set(statuses) <= {"hit", "late", "miss", "immature"}
        assert per_lead.loc[~per_lead["is_mql"], f"status_{outcome}"].isna().all()
        n = m["hits"] + m["late"] + m["misses"]
        if n == 0:
            assert m["rate"] is None and m["ci_low"] is None
        else:
            # the plain Wilson formula is off by an ulp at rate 0 or 1 (as statsmodels is:
            # proportion_confint(0, 7, method="wilson")[0] == 2.8e-17)
            assert 0.0 <= m["ci_low"] <= m["rate"] + 1e-12
            assert m["rate"] - 1e-12 <= m["ci_high"] <= 1.0
        if m["recall"] is not None:
            assert 0.0 <= m["recall"] <= 1.0
    cutoff = rules["thresholds"]["mql"]
    assert (per_lead.loc[per_lead["is_mql"], "peak_score"] >= cutoff - tol).all()
    # a lead with enough fit that never became an MQL never reached the cutoff
    min_fit = rules["thresholds"].get("mql_min_fit", -math.inf)
    eligible = ~per_lead["is_mql"] & (per_lead["fit"] >= min_fit - tol)
    assert (per_lead.loc[eligible, "peak_score"] < cutoff - tol).all()
    if metrics["sql"] is not None:
        sql = per_lead[per_lead["is_sql"]]
        assert sql["is_mql"].all()  # "so every SQL is an MQL"
        assert metrics["sql"]["count"] <= metrics["mql"]["count"]
        if sql["sql_at"].notna().any():
            assert (sql["sql_at"] >= sql["mql_at"]).all()


@PROPERTY_SETTINGS
@given(
    data=small_datasets(),
    rules=rule_sets(EVENT_TYPES),
    window_days=st.sampled_from([0, 1, 3, 7, 90]),
)
def test_reference_never_crashes_and_counts_add_up(data, rules, window_days):
    leads, events, outcomes = data
    per_lead, metrics = reference_replay(leads, events, outcomes, rules, window_days=window_days)
    assert len(per_lead) == len(leads)
    check_consistency(per_lead, metrics, rules)
    # each MQL's score at its MQL time (via the public score_at) reaches the cutoff
    for row in per_lead[per_lead["is_mql"]].itertuples():
        score = reference_score_at(leads, events, rules, row.lead_id, row.mql_at)
        assert score >= rules["thresholds"]["mql"] - 1e-9
        assert score <= row.peak_score


@PROPERTY_SETTINGS
@given(data=small_datasets(), rules=rule_sets(EVENT_TYPES), rise=st.integers(1, 20))
def test_mql_count_never_rises_with_the_cutoff(data, rules, rise):
    leads, events, outcomes = data
    _, low = reference_replay(leads, events, outcomes, rules)
    higher = {**rules, "thresholds": dict(rules["thresholds"])}
    higher["thresholds"]["mql"] += rise
    if higher["thresholds"].get("sql", math.inf) <= higher["thresholds"]["mql"]:
        del higher["thresholds"]["sql"]
    _, high = reference_replay(leads, events, outcomes, higher)
    assert high["mql"]["count"] <= low["mql"]["count"]


@PROPERTY_SETTINGS
@given(data=small_datasets(), rules=rule_sets(EVENT_TYPES), seed=st.integers(0, 2**16))
def test_replay_does_not_depend_on_row_order(data, rules, seed):
    leads, events, outcomes = data
    rng = np.random.default_rng(seed)
    shuffled = [t.iloc[rng.permutation(len(t))].reset_index(drop=True) for t in data]
    a, metrics_a = reference_replay(leads, events, outcomes, rules)
    b, metrics_b = reference_replay(*shuffled, rules)
    assert metrics_a == metrics_b
    pd.testing.assert_frame_equal(
        a.set_index("lead_id").sort_index(), b.set_index("lead_id").sort_index()
    )


@PROPERTY_SETTINGS
@given(data=small_datasets(), rules=rule_sets(EVENT_TYPES))
def test_doubling_points_and_cutoffs_changes_nothing(data, rules):
    # With tol = 0 this is exact: doubling is exact in binary floating point.
    leads, events, outcomes = data
    doubled = {
        "name": rules["name"],
        "fit": [{**r, "points": 2 * r["points"]} for r in rules.get("fit", [])],
        "behavior": [
            {**r, "points": 2 * r["points"], **({"cap": 2 * r["cap"]} if "cap" in r else {})}
            for r in rules["behavior"]
        ],
        "decay": rules["decay"],
        "thresholds": {k: 2 * v for k, v in rules["thresholds"].items()},
    }
    if "limits" in rules:
        doubled["limits"] = {k: 2 * v for k, v in rules["limits"].items()}
    a, metrics_a = reference_replay(leads, events, outcomes, rules, tol=0.0)
    b, metrics_b = reference_replay(leads, events, outcomes, doubled, tol=0.0)
    assert metrics_a == metrics_b
    assert (b["peak_score"] == 2 * a["peak_score"]).all()
    assert a["mql_at"].equals(b["mql_at"]) and a["sql_at"].equals(b["sql_at"])


@PROPERTY_SETTINGS
@given(data=snapshot_datasets(), rules=rule_sets(EVENT_TYPES))
def test_snapshots_never_crash_and_have_no_time_classes(data, rules):
    leads, events, outcomes = data
    per_lead, metrics = reference_replay(leads, events, outcomes, rules)
    check_consistency(per_lead, metrics, rules)
    assert metrics["mql"]["per_week"] is None
    assert metrics["mql"]["median_days_to_mql"] is None
    assert per_lead["mql_at"].isna().all()
    for m in metrics["outcomes"].values():
        assert m["late"] == 0 and m["immature"] == 0
