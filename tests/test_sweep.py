"""Sweeps: every row equals the single replay of its configuration."""

from __future__ import annotations


import pandas as pd
import pytest

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
    top = res.top(3, objective="mql_count", capacity_per_week=0.5)
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
