"""Sweeps: every row equals the single replay of its configuration."""

from __future__ import annotations


import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calib.data import load_dataset
from calib.engine import replay
from calib.engine.sweep import check_grid, sweep
from calib.errors import ConfigError
from calib.rules import load_rules


def _same(a, b):
    return (b is None and pd.isna(a)) or a == b


def _row_matches(row, res, outcomes):
    d = res.to_dict()
    assert row["mql_count"] == d["mql"]["count"]
    assert _same(row["mql_per_week"], d["mql"]["per_week"])
    assert _same(row["median_days_to_mql"], d["mql"]["median_days_to_mql"])
    for x in outcomes:
        for k in ("hits", "rate", "ci_low", "ci_high", "recall", "late", "misses", "immature"):
            assert _same(row[f"{x}_{k}"], d["outcomes"][x][k]), (x, k)


GRID = {
    "thresholds.mql": [10, 20, 25, 40],
    "decay.half_life_days": [1, 30],
    "behavior.pricing.points": [10, 20],
    "behavior.email_open.cap": [5, 10],
}


def test_every_row_equals_its_replay(small_data, small_rules):
    ds, rules = load_dataset(small_data), load_rules(small_rules)
    res = sweep(ds, rules, GRID, window_days=30)
    assert len(res.frame) == 4 * 2 * 2 * 2
    assert list(res.frame.columns[:4]) == list(GRID)
    for _, row in res.frame.iterrows():
        params = {p: row[p] for p in GRID}
        single = replay(ds, rules.with_params(params), window_days=30)
        _row_matches(row, single, res.outcomes)


def test_partitions_do_not_change_the_result(small_data, small_rules):
    ds, rules = load_dataset(small_data), load_rules(small_rules)
    a = sweep(ds, rules, GRID).frame
    b = sweep(ds, rules, GRID, partition_leads=1).frame
    assert a.equals(b)


def test_decay_kind_grid_skips_parameters_of_other_kinds(small_data, small_rules):
    ds, rules = load_dataset(small_data), load_rules(small_rules)
    res = sweep(ds, rules, {"decay.kind": ["exponential", "window"],
                            "decay.half_life_days": [7, 14]})
    assert len(res.frame) == 2 and res.skipped == 2


def test_sql_grid_skips_invalid_pairs(small_data, small_rules):
    ds, rules = load_dataset(small_data), load_rules(small_rules)
    res = sweep(ds, rules, {"thresholds.mql": [20, 30], "thresholds.sql": [25, 40]})
    assert res.skipped == 1 and len(res.frame) == 3
    for _, row in res.frame.iterrows():
        single = replay(ds, rules.with_params({"thresholds.mql": row["thresholds.mql"],
                                               "thresholds.sql": row["thresholds.sql"]}))
        assert row["sql_count"] == single.to_dict()["sql"]["count"]


def test_top_respects_capacity(small_data, small_rules):
    ds, rules = load_dataset(small_data), load_rules(small_rules)
    res = sweep(ds, rules, {"thresholds.mql": [5, 20, 40]})
    top = res.top(3, objective="mql_count", capacity_mql_per_week=0.5)
    assert (top["mql_per_week"] <= 0.5).all()
    assert list(top["mql_count"]) == sorted(top["mql_count"], reverse=True)


@pytest.mark.parametrize("grid, code", [
    ({}, "empty_grid"),
    ({"thresholds.mql": []}, "wrong_type"),
    ({"thresholds.mql": [1, 1]}, "duplicate_value"),
    ({"thresholds.mlq": [1, 2]}, "unknown_key"),
    ({"behavior.nope.points": [1]}, "unknown_key"),
])
def test_bad_grids(small_data, small_rules, grid, code):
    ds, rules = load_dataset(small_data), load_rules(small_rules)
    with pytest.raises(ConfigError) as err:
        check_grid(grid)
        sweep(ds, rules, grid)
    assert err.value.code == code


# ------------------------------------------------------------------ one pass, shared work
def _random_world(data):
    from hypothesis import assume

    from calib.data import from_frames
    from calib.rules import RuleSet
    from strategies import rule_sets, small_datasets

    leads, events, outcomes = data.draw(small_datasets())
    assume(outcomes is not None and len(outcomes) > 0 and events is not None and len(events))
    return from_frames(leads, events, outcomes), RuleSet.from_dict(data.draw(rule_sets()))


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_the_one_pass_scores_as_the_stored_decayed_counts_do(data):
    """With no decay or an exponential one a replay is scored in one pass (uncapped
    rules as one running sum); the stored per-rule counts give the same crossings and,
    to rounding, the same peaks."""
    import numpy as np

    from calib.engine.kernels import peak_by_lead
    from calib.engine.prepare import prepare
    from calib.engine.replay import (combine_scores, one_pass, score_crossings,
                                     stage_crossings)

    ds, rules = _random_world(data)
    if rules.decay.kind not in ("none", "exponential"):
        rules = rules.with_params({"decay.kind": "exponential", "decay.half_life_days": 7})
    prep = prepare(ds, rules)
    assert one_pass(prep, rules)
    th = rules.thresholds
    cutoffs = [th.mql] + ([th.sql] if th.sql is not None else [])
    cross, fit, peak = score_crossings(prep, rules, cutoffs, th.mql_min_fit)
    score, fit2 = combine_scores(prep.decayed(rules.decay), prep, rules)
    stored_peak = np.empty(ds.n_leads)
    peak_by_lead(prep.eval_lead, score, ds.n_leads, stored_peak)
    np.testing.assert_array_equal(fit, fit2)
    np.testing.assert_allclose(peak, stored_peak, rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(cross, stage_crossings(prep, score, fit2, cutoffs,
                                                         th.mql_min_fit))


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), kind=st.sampled_from(["none", "exponential", "linear"]))
def test_every_row_of_a_random_sweep_equals_its_replay(data, kind):
    """Configurations that share their points, fit or decay share work (one pass per
    score, the events' points and the fit kept for the next one); each row still
    equals the replay of its configuration."""
    ds, rules = _random_world(data)
    base = {"decay.kind": kind}
    if kind != "none":
        base["decay.half_life_days" if kind == "exponential" else "decay.days"] = 5
    rules = rules.with_params(base)
    first = rules.behavior[0]
    grid = {"thresholds.mql": sorted({rules.thresholds.mql, rules.thresholds.mql + 7}),
            f"behavior.{first.name}.points": sorted({first.points, first.points + 5})}
    if kind == "exponential":
        grid["decay.half_life_days"] = [2, 9]
    res = sweep(ds, rules, grid, window_days=30)
    outcomes = res.outcomes
    for _, row in res.frame.iterrows():
        params = {p: row[p] for p in grid}
        params = {p: (int(v) if float(v).is_integer() else float(v)) for p, v in params.items()}
        one = replay(ds, rules.with_params(params), window_days=30)
        _row_matches(row, one, outcomes)


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), kind=st.sampled_from(["none", "exponential"]))
def test_variants_of_one_pass_cross_as_their_own_passes(data, kind):
    """Rule sets that differ only in the points of uncapped rules (a sweep over points)
    are scored as variants of one pass; each variant crosses its cutoffs where its own
    pass does, and peaks where it does to rounding."""
    import numpy as np

    from calib.engine.prepare import prepare
    from calib.engine.replay import score_crossings, variant_crossings

    ds, rules = _random_world(data)
    rules = rules.with_params({"decay.kind": kind} | (
        {"decay.half_life_days": data.draw(st.sampled_from([0.5, 3, 30]))}
        if kind == "exponential" else {}))
    uncapped = [r.name for r in rules.behavior if r.cap is None]
    variants = [rules] + [
        rules.with_params({f"behavior.{name}.points": data.draw(st.integers(-30, 40))
                           for name in uncapped})
        for _ in range(data.draw(st.integers(1, 4)))]
    th = rules.thresholds
    cutoffs = sorted({th.mql, th.mql + 9} | ({th.sql} if th.sql is not None else set()))
    prep = prepare(ds, rules)
    (crosses, peaks), fit = variant_crossings(prep, variants, cutoffs)
    for v, cross, peak in zip(variants, crosses, peaks):
        own_cross, own_fit, own_peak = score_crossings(prep, v, cutoffs, None)
        np.testing.assert_array_equal(cross, own_cross)
        np.testing.assert_array_equal(fit, own_fit)
        np.testing.assert_allclose(peak, own_peak, rtol=1e-12, atol=1e-9)


def test_variants_must_share_all_but_uncapped_points(small_rules):
    from calib.engine.replay import variant_crossings

    rules = load_rules(small_rules)
    other = rules.with_params({"decay.kind": "exponential", "decay.half_life_days": 3})
    with pytest.raises(ValueError, match="differ only in the points"):
        variant_crossings(None, [rules, other], [10])


@pytest.mark.parametrize("snapshot", [False, True])
def test_cutoff_counts_equal_classify(snapshot):
    """The compiled count of every cutoff gives the counts, days and statuses that a
    replay's numpy classification gives for each cutoff taken as the MQL cutoff."""
    import numpy as np

    from calib.engine.kernels import NS_PER_DAY, cutoff_counts
    from calib.engine.replay import NEVER, classify

    rng = np.random.default_rng(7)
    n, n_eval, day = 500, 2000, NS_PER_DAY
    eval_t = rng.integers(0, 200 * day, n_eval)
    cross = rng.integers(-1, n_eval, (n, 3))
    created = rng.integers(0, 100 * day, n)
    otimes = np.where(rng.random((2, n)) < 0.4, rng.integers(0, 300 * day, (2, n)), NEVER)
    covered = rng.random(n) < 0.3
    window, end = 30 * day, 180 * day
    counts = np.empty((3, 2 + 4 * 2), dtype=np.int64)
    days = np.empty((3, 0 if snapshot else n))
    cutoff_counts(cross, eval_t, created, otimes, covered, window, end, snapshot, counts, days)
    for c in range(3):
        reached = cross[:, c] >= 0
        m = np.where(reached, 0 if snapshot else eval_t[np.maximum(cross[:, c], 0)], NEVER)
        assert counts[c, 0] == reached.sum() and counts[c, 1] == (reached & covered).sum()
        if not snapshot:
            expect = (m[reached] - created[reached]) / NS_PER_DAY
            assert np.array_equal(days[c, :counts[c, 0]], expect)
        for x in range(2):
            st_ = np.bincount(classify(m, otimes[x], window, end, snapshot), minlength=5)
            assert counts[c, 2 + 4 * x: 6 + 4 * x].tolist() == st_[1:].tolist()


def test_families_group_points_variants_within_limits():
    """Configurations that differ only in uncapped rules' points share a pass, at most
    FAMILY_SIZE of them and in at most FAMILY_VARYING rules; anything else is alone."""
    from calib.engine.sweep import FAMILY_SIZE, FAMILY_VARYING, _families
    from calib.rules import RuleSet

    n_rules = FAMILY_VARYING + 1
    rules = RuleSet.from_dict({
        "name": "r", "thresholds": {"mql": 50},
        "behavior": [{"name": f"b{i}", "event": f"e{i}", "points": 10} for i in range(n_rules)]
        + [{"name": "capped", "event": "c", "points": 5, "cap": 20}]})
    one_rule = [(rules.with_params({"behavior.b0.points": p}), [p])
                for p in range(FAMILY_SIZE + 2)]
    assert [len(f) for f in _families(one_rule)] == [FAMILY_SIZE, 2]
    many_rules = [(rules.with_params({f"behavior.b{i}.points": p for i in range(k + 1)}), [k])
                  for k, p in enumerate(range(11, 11 + n_rules))]
    assert [len(f) for f in _families(many_rules)] == [1] * n_rules  # too many columns
    caps = [(rules.with_params({"behavior.capped.points": p}), [p]) for p in (5, 6)]
    assert [len(f) for f in _families(caps)] == [1, 1]  # capped points change the pass
