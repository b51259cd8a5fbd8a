"""Windows measured from the data (calib.engine.delays): delays from creation, the MQL or
the assignment to an outcome, the window chosen from them, and the hint given when no
lead is mature."""

from __future__ import annotations

import numpy as np
import pandas as pd

from calib.data import from_frames
from calib.engine.delays import outcome_delays, resolve_window, window_from_data


def test_delays_by_hand():
    leads = pd.DataFrame({"lead_id": ["a", "b", "c"],
                          "created_at": ["2025-01-01", "2025-01-01", "2025-01-05"]})
    outcomes = pd.DataFrame({"lead_id": ["a", "a", "b"], "outcome": ["won", "won", "won"],
                             "occurred_at": ["2025-01-04", "2025-01-02", "2025-01-11"]})
    ds = from_frames(leads, outcomes=outcomes)
    np.testing.assert_allclose(np.sort(outcome_delays(ds, "won")), [1.0, 10.0])
    assert outcome_delays(ds, "lost").size == 0
    w = window_from_data(ds, ["won"])
    assert w.source == "default" and w.days == 90  # 2 leads: too few to trust a quantile
    assert resolve_window(ds, 12, ["won"]).days == 12  # an explicit window wins


def test_window_is_a_high_quantile_of_the_delays():
    rng = np.random.default_rng(0)
    n = 2000
    created = pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(rng.uniform(0, 100, n), "D")
    delay = rng.exponential(5.0, n)  # 95% quantile: 5 ln 20 = 14.98 days
    leads = pd.DataFrame({"lead_id": [f"L{i}" for i in range(n)], "created_at": created})
    outcomes = pd.DataFrame({"lead_id": leads["lead_id"], "outcome": "meeting",
                             "occurred_at": created + pd.to_timedelta(delay, "D")})
    w = window_from_data(from_frames(leads, outcomes=outcomes), ["meeting"])
    assert w.source == "data"
    assert 13 <= w.days <= 17
    assert f"within {w.days:g} days" in w.sentence and "95%" in w.sentence


def test_abtest_with_too_long_a_window_names_the_window_that_works():
    from calib.abtest import ABTestConfig, abtest

    rng = np.random.default_rng(4)
    n = 400
    t0 = pd.Timestamp("2025-03-01", tz="UTC")
    assigned = t0 + pd.to_timedelta(rng.uniform(0, 20, n), "D")
    ids = [f"E{i}" for i in range(n)]
    leads = pd.DataFrame({"lead_id": ids, "created_at": assigned})
    opened = rng.random(n) < 0.4
    outcomes = pd.DataFrame({"lead_id": np.array(ids)[opened], "outcome": "meeting",
                             "occurred_at": assigned[opened] + pd.to_timedelta(
                                 rng.uniform(0, 6.5, opened.sum()), "D")})
    assignments = pd.DataFrame({"lead_id": ids, "arm": np.where(rng.random(n) < 0.5,
                                                                 "control", "b"),
                                "assigned_at": assigned})
    ds = from_frames(leads, outcomes=outcomes, assignments=assignments)
    res = abtest(ds, None, ABTestConfig(outcomes=("meeting",), window_days=90))
    text = " ".join(res.warnings)
    assert "nothing can be compared yet" in text
    assert "--window-days 7 would leave" in text


def test_window_from_times_matches_window_from_data():
    """The same delays give the same window whether measured from a data set or from
    times already at hand (a live test's assignment and first-outcome times)."""
    from calib.engine.delays import window_from_times

    rng = np.random.default_rng(7)
    n = 500
    created = pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(rng.uniform(0, 60, n), "D")
    delay = rng.uniform(0, 12, n)  # 95% quantile 11.4: window 12 days
    leads = pd.DataFrame({"lead_id": [f"L{i}" for i in range(n)], "created_at": created})
    outcomes = pd.DataFrame({"lead_id": leads["lead_id"], "outcome": "won",
                             "occurred_at": created + pd.to_timedelta(delay, "D")})
    w = window_from_data(from_frames(leads, outcomes=outcomes), ["won"])
    start = created.asi8.copy()
    t = (created + pd.to_timedelta(delay, "D")).asi8.copy()
    never = np.iinfo(np.int64).max
    t[:5] = never  # leads without the outcome do not count
    v = window_from_times({"won": t}, start, since="lead creation")
    assert w.days == v.days == 12 and v.source == "data"
    assert v.per_outcome["won"]["leads"] == n - 5
    few = window_from_times({"won": t[:10]}, start[:10], default=33)
    assert few.source == "default" and few.days == 33 and "too few" in few.sentence


def test_snapshot_calibration_claims_no_window(tmp_path):
    """Undated data needs no window: calibrate says so and its title names none."""
    from calib.calibration import calibrate
    from calib.rules import load_rules

    rng = np.random.default_rng(0)
    n = 2000
    ids = [f"L{i}" for i in range(n)]
    tier = rng.choice(["a", "b"], n)
    y = rng.random(n) < np.where(tier == "a", 0.4, 0.1)
    ds = from_frames(pd.DataFrame({"lead_id": ids, "tier": tier}),
                     events=pd.DataFrame({"lead_id": ids, "event_type": "web_visit"}),
                     outcomes=pd.DataFrame({"lead_id": np.array(ids)[y], "outcome": "meeting"}))
    assert ds.snapshot
    p = tmp_path / "r.toml"
    p.write_text('name = "r"\n[[fit]]\nfield = "tier"\nequals = "a"\npoints = 20\n'
                 '[thresholds]\nmql = 10\n', encoding="utf-8")
    res = calibrate(ds, load_rules(p), outcome="meeting")
    title = res.summary().splitlines()[0]
    assert "within" not in title and "P(meeting | score)" in title
    assert res.window["source"] == "snapshot"
    assert "snapshot data: no window needed" in res.summary()


def test_window_hint_for_a_test_younger_than_its_outcomes():
    """Leads assigned 2.5 days before the end of the data, outcomes 2.1 to 2.4 days
    later: the outcomes' window (3 days, rounded up) leaves no lead mature, so the hint
    names a shorter one that does and says how long to wait instead."""
    from calib.engine.delays import NS_PER_DAY, window_hint

    rng = np.random.default_rng(2)
    n = 300
    end = pd.Timestamp("2025-06-30", tz="UTC").value
    start = np.full(n, end - int(2.5 * NS_PER_DAY), dtype=np.int64)
    start[n // 2:] = end - (rng.uniform(0, 2.5, n - n // 2) * NS_PER_DAY).astype(np.int64)
    delay = rng.uniform(2.1, 2.4, n)
    o = start + (delay * NS_PER_DAY).astype(np.int64)
    o[o > end] = np.iinfo(np.int64).max  # not recorded yet
    text = window_hint({"reply": o}, start, end)
    assert "--window-days 1 would leave" in text and "wait until 3 days" in text
    n1 = int((start + NS_PER_DAY <= end).sum())
    assert f"leave {n1:,} lead(s) mature" in text and n1 > 0


def test_mql_times_are_the_replays(tmp_path):
    """The lean scoring pass that dates each lead's MQL gives exactly the replay's
    ``mql_at`` (on a seeded demo world, under rules with decay, caps and an SQL cutoff)."""
    from calib.data import load_dataset
    from calib.data.dataset import ns_or_never
    from calib.demo import generate_demo
    from calib.engine import replay
    from calib.engine.delays import mql_times
    from calib.rules import load_rules

    world = generate_demo(tmp_path / "w", n_leads=1500, seed=5)
    ds = load_dataset(world.data_dir)
    for path in (world.truth_rules, tmp_path / "w" / "current.toml"):
        rules = load_rules(path)
        want = ns_or_never(replay(ds, rules, per_lead=True).per_lead["mql_at"])
        got = mql_times(ds, rules)
        assert (want != np.iinfo(np.int64).max).sum() > 50  # many leads become MQLs
        np.testing.assert_array_equal(got, want)
