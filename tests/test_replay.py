"""The replay engine against the plain reference implementation of SPEC section 3, and
the properties every replay must have."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from calib.data import from_frames, load_dataset
from calib.engine import replay
from calib.rules import RuleSet, load_rules
from reference_replay import reference_replay
from strategies import rule_sets, small_datasets, snapshot_datasets

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _engine(leads, events, outcomes, rules: dict, **kw):
    assume(outcomes is not None and len(outcomes) > 0)  # empty tables are input errors
    ds = from_frames(leads, events if events is not None and len(events) else None, outcomes)
    return replay(ds, RuleSet.from_dict(rules), per_lead=True, **kw)


def _close(a, b, tol=1e-9):
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)):
        return (a is None or (isinstance(a, float) and math.isnan(a))) and \
            (b is None or (isinstance(b, float) and math.isnan(b)))
    return abs(a - b) <= tol * max(1.0, abs(b))


def _assert_same(res, ref_lead, ref):
    d = res.to_dict()
    assert d["leads"] == ref["leads"]
    assert d["mql"]["count"] == ref["mql"]["count"]
    assert _close(d["mql"]["median_days_to_mql"], ref["mql"]["median_days_to_mql"], 1e-4)
    assert _close(d["mql"]["per_week"], ref["mql"]["per_week"], 1e-4)
    if ref["sql"] is None:
        assert d["sql"] is None
    else:
        assert d["sql"]["count"] == ref["sql"]["count"]
    assert _close(d["coverage"], ref["coverage"], 1e-6)
    assert set(d["outcomes"]) == set(ref["outcomes"])
    for x, o in ref["outcomes"].items():
        mine = d["outcomes"][x]
        for k in ("hits", "late", "misses", "immature"):
            assert mine[k] == o[k], (x, k)
        for k in ("rate", "ci_low", "ci_high", "recall"):
            assert _close(mine[k], o[k], 1e-6), (x, k)

    # per lead: the engine lists the leads of the period
    ref_lead = ref_lead[ref_lead["in_period"]].set_index("lead_id")
    mine = res.per_lead.set_index("lead_id")
    assert list(mine.index) == list(ref_lead.index)
    np.testing.assert_allclose(mine["fit_score"], ref_lead["fit"], atol=1e-9)
    if "mql_at" in mine:
        np.testing.assert_allclose(mine["peak_score"], ref_lead["peak_score"], atol=1e-9)
        assert mine["mql_at"].equals(ref_lead["mql_at"].rename("mql_at")) or \
            (mine["mql_at"].fillna(pd.Timestamp(0, tz="UTC"))
             == ref_lead["mql_at"].fillna(pd.Timestamp(0, tz="UTC"))).all()
        if "sql_at" in ref_lead and ref["sql"] is not None:
            assert (mine["sql_at"].fillna(pd.Timestamp(0, tz="UTC"))
                    == ref_lead["sql_at"].fillna(pd.Timestamp(0, tz="UTC"))).all()
    for x in ref["outcomes"]:
        a = mine[f"status_{x}"].astype(object).where(mine[f"status_{x}"].notna(), None)
        b = ref_lead[f"status_{x}"]
        assert list(a) == list(b), x


@SETTINGS
@given(data=st.data(), window=st.sampled_from([1, 3, 90]))
def test_engine_equals_reference(data, window):
    leads, events, outcomes = data.draw(small_datasets())
    rules = data.draw(rule_sets())
    res = _engine(leads, events, outcomes, rules, window_days=window)
    ref_lead, ref = reference_replay(leads, events, outcomes, rules, window_days=window)
    _assert_same(res, ref_lead, ref)


@SETTINGS
@given(data=st.data())
def test_engine_equals_reference_with_a_period(data):
    leads, events, outcomes = data.draw(small_datasets())
    rules = data.draw(rule_sets())
    created = pd.to_datetime(leads["created_at"], utc=True).sort_values()
    start = data.draw(st.sampled_from(list(created)))
    end = start + pd.Timedelta(days=data.draw(st.integers(0, 4)))
    ds_out = outcomes
    res = _engine(leads, events, ds_out, rules, start=start, end=end)
    ref_lead, ref = reference_replay(leads, events, outcomes, rules, start=start, end=end)
    _assert_same(res, ref_lead, ref)


@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_snapshot_equals_reference(data):
    leads, events, outcomes = data.draw(snapshot_datasets())
    rules = data.draw(rule_sets())
    res = _engine(leads, events, outcomes, rules)
    ref_lead, ref = reference_replay(leads, events, outcomes, rules)
    _assert_same(res, ref_lead, ref)


# ----------------------------------------------------------------------------- properties
@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mql_count_never_rises_with_the_cutoff(data):
    leads, events, outcomes = data.draw(small_datasets())
    rules = data.draw(rule_sets())
    rules["thresholds"].pop("sql", None)
    counts = []
    for cut in (1, 5, 10, 20, 40, 80):
        rules["thresholds"]["mql"] = cut
        counts.append(_engine(leads, events, outcomes, rules).mql_count)
    assert counts == sorted(counts, reverse=True)


@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_row_order_changes_nothing(data, seed):
    leads, events, outcomes = data.draw(small_datasets())
    rules = data.draw(rule_sets())
    rng = np.random.default_rng(seed)
    shuffle = lambda df: None if df is None else df.iloc[rng.permutation(len(df))]  # noqa: E731
    a = _engine(leads, events, outcomes, rules)
    b = _engine(shuffle(leads), shuffle(events), shuffle(outcomes), rules)
    assert a.to_dict() == b.to_dict()


@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), c=st.sampled_from([2, 3, 0.5, 10]))
def test_scaling_points_and_cutoffs_changes_nothing(data, c):
    leads, events, outcomes = data.draw(small_datasets())
    rules = data.draw(rule_sets())
    scaled = {**rules, "fit": [{**r, "points": r["points"] * c} for r in rules.get("fit", [])],
              "behavior": [{**r, "points": r["points"] * c,
                            **({"cap": r["cap"] * c} if "cap" in r else {})}
                           for r in rules["behavior"]],
              "thresholds": {k: v * c for k, v in rules["thresholds"].items()}}
    if "limits" in rules:
        scaled["limits"] = {k: v * c for k, v in rules["limits"].items()}
    a = _engine(leads, events, outcomes, rules).to_dict()
    b = _engine(leads, events, outcomes, scaled).to_dict()
    assert a["mql"] == b["mql"] and a["sql"] == b["sql"] and a["outcomes"] == b["outcomes"]


def test_partitions_add_up(tmp_path):
    from calib.demo import generate_demo

    world = generate_demo(tmp_path / "w", n_leads=1500, seed=3)
    ds = load_dataset(world.data_dir)
    rules = load_rules(world.truth_rules)
    whole = replay(ds, rules, per_lead=True)
    parts = replay(ds, rules, per_lead=True, partition_leads=97)
    assert whole.to_dict() == parts.to_dict()
    pd.testing.assert_frame_equal(whole.per_lead, parts.per_lead)


@pytest.mark.parametrize("workers", [2, 3])
def test_partitions_scored_in_threads_give_the_same_replay(tmp_path, monkeypatch, workers):
    """Partitions scored several at once in threads (as on a machine with several cores
    and a large data set) give the one-thread replay, per-lead rows in lead order."""
    import importlib

    from calib.demo import generate_demo

    engine = importlib.import_module("calib.engine.replay")  # the name is also the function
    world = generate_demo(tmp_path / "w", n_leads=1500, seed=4)
    ds = load_dataset(world.data_dir)
    rules = load_rules(world.truth_rules)
    monkeypatch.setattr(engine, "WORKERS", 1)
    serial = replay(ds, rules, per_lead=True, partition_leads=400)
    monkeypatch.setattr(engine, "WORKERS", workers)
    monkeypatch.setattr(engine, "MIN_THREADED_LEADS", 0)
    threaded_calls = []
    real = engine._times_of
    monkeypatch.setattr(engine, "_times_of", lambda part, *a: threaded_calls.append(
        __import__("threading").current_thread().name) or real(part, *a))
    engine._LAST_TIMES.clear()
    threaded = replay(ds, rules, per_lead=True, partition_leads=400)
    assert len(threaded_calls) == engine.math.ceil(4 / workers) * workers  # 4 cut to a multiple
    assert all(n.startswith("calib-replay") for n in threaded_calls)
    assert threaded.to_dict() == serial.to_dict()
    pd.testing.assert_frame_equal(threaded.per_lead, serial.per_lead)


def test_replay_of_current_reproduces_the_historical_mql_rows(tmp_path):
    """The demo writes the MQL times its company's rule set produced, computed by the
    generator's own code; replaying that rule set must give exactly those times."""
    from calib.demo import generate_demo

    world = generate_demo(tmp_path / "w", n_leads=3000, seed=5)
    ds = load_dataset(world.data_dir)
    res = replay(ds, load_rules(world.current_rules), per_lead=True)
    first = ds.first_outcomes()
    hist = first[first["outcome"] == "mql"]
    hist = pd.Series(hist["occurred_at"].to_numpy(), index=ds.lead_ids(hist["lead"].to_numpy()))
    mine = res.per_lead.set_index("lead_id")["mql_at"].dropna()
    assert len(mine) == len(hist) > 500
    assert (mine.reindex(hist.index) == hist).all()


def test_hand_computed_case(small_data, small_rules):
    """SPEC section 3 by hand on the conftest data set (exponential, half-life 30 days,
    mql 20): L1 has fit 10 (vp) and an email open 1.583 days before created_at:
    10 + 5 * 0.5 ** (1.583 / 30) = 14.82 < 20 at created_at; at 2025-01-01T10:00 the
    pricing view (20) and a second email open arrive together: 10 + 20 + min(10, 5 *
    0.5 ** (2/30) + 5) = 39.77 -> MQL at 10:00. L3's demo request (40 points) at
    2025-01-06T08:00 makes it an MQL; its meeting on 2025-01-02 is before the MQL: late."""
    ds, rules = load_dataset(small_data), load_rules(small_rules)
    res = replay(ds, rules, per_lead=True, window_days=30)
    pl = res.per_lead.set_index("lead_id")
    assert pl.loc["L1", "mql_at"] == pd.Timestamp("2025-01-01T10:00:00Z")
    assert pl.loc["L1", "peak_score"] == pytest.approx(10 + 20 + 5 * 0.5 ** (2 / 30) + 5)
    assert pl.loc["L3", "mql_at"] == pd.Timestamp("2025-01-06T08:00:00Z")
    assert pl.loc["L3", "status_meeting"] == "late"
    assert pl.loc["L1", "status_meeting"] == "hit"
    assert pd.isna(pl.loc["L4", "mql_at"])  # c_level (10 points) with no events
    m = res.to_dict()["outcomes"]["meeting"]
    assert (m["hits"], m["late"]) == (1, 1)


def test_the_window_measured_from_the_mql_and_the_replay_score_the_leads_once(
        monkeypatch, small_data, small_rules):
    """A command without --window-days measures its window from the MQL under its rules,
    then replays them: the leads are scored once; other rules score again."""
    import importlib

    from calib.engine.delays import mql_times

    engine = importlib.import_module("calib.engine.replay")  # the name is also the function

    ds, rules = load_dataset(small_data), load_rules(small_rules)
    calls = []
    real = engine.score_crossings
    monkeypatch.setattr(engine, "score_crossings",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    mql = mql_times(ds, rules)
    res = replay(ds, rules, window_days=30)
    assert len(calls) == 1
    assert int((mql != engine.NEVER).sum()) == res.stats.mql.count
    other = rules.with_params({"thresholds.mql": rules.thresholds.mql + 5})
    res_other = replay(ds, other, window_days=30)
    assert len(calls) == 2
    fresh = replay(load_dataset(small_data), other, window_days=30)
    assert res_other.to_dict() == fresh.to_dict()
