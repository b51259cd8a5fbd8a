"""Experiment files as frozen configs: every table checked when it is read, unknown keys
named with the closest allowed one, and ``from_dict``/``to_dict`` that round-trip."""

from __future__ import annotations

import textwrap

import pytest
import tomli_w

from calib import load_dataset, load_rules, sweep
from calib.engine.config import SweepConfig
from calib.engine.sweep import MAX_CONFIGS
from calib.errors import ConfigError
from calib.pipeline.experiment import (DataConfig, Experiment, ReportConfig,
                                       load_experiment)

FULL = textwrap.dedent("""\
    name = "q3"
    description = "the third quarter"
    outcomes = ["Meeting", "won"]
    primary_outcome = "Meeting"
    window_days = 60
    train_until = "2025-01-20"
    capacity_mql_per_week = 12.5
    seed = 7

    [data]
    path = "data"
    [data.columns.leads]
    lead_id = "Record ID"
    [data.exclude]
    leads = ["industry"]

    [rules]
    baseline = "rules.toml"
    candidates = ["rules.toml"]
    history = [{since = "2024-06-01", file = "rules.toml"}]

    [sweep]
    "decay.half_life_days" = [14, 30]
    [sweep.thresholds]
    mql = [10, 20, 30]

    [fit]
    enabled = false
    points_step = 1

    [abtest]
    assignments = "data/assignments.csv"
    control = "control"
    guardrails = ["unsubscribe"]
    window_days = 30
    correction = "bh"
    arms = {control = "as today", strict = "a higher cutoff"}

    [report]
    out = "out"
    title = "Q3"
    bootstrap = 200
    previous = "out/q2"

    [refine]
    first_touch = "contacted"
    service_level_hours = 4

    [engine]
    scheduler = "cluster/scheduler.json"
    """)


@pytest.fixture
def folder(tmp_path, small_rules):
    (tmp_path / "exp.toml").write_text(FULL, encoding="utf-8")
    return tmp_path


def test_a_full_experiment_file_reads_into_its_tables_configs(folder):
    exp = load_experiment(folder / "exp.toml")
    assert exp.data == DataConfig.from_dict(
        {"path": "data", "columns": {"leads": {"lead_id": "Record ID"}},
         "exclude": {"leads": ["industry"]}}, base=folder)
    assert exp.data.path == folder / "data"
    assert exp.sweep == SweepConfig({"decay.half_life_days": [14, 30],
                                     "thresholds.mql": [10, 20, 30]})
    assert exp.sweep.n_configs == 6
    assert exp.report == ReportConfig(out=folder / "out", title="Q3", bootstrap=200,
                                      previous=folder / "out/q2")
    assert exp.report_dir == folder / "out" / "q3"
    assert exp.outcomes == ("meeting", "won") and exp.primary_outcome == "meeting"
    assert exp.capacity_mql_per_week == 12.5 and exp.seed == 7
    assert exp.scheduler == str(folder / "cluster/scheduler.json")
    assert exp.history.entries[0].file == folder / "rules.toml"


def test_to_dict_round_trips_through_from_dict_and_through_a_toml_file(folder):
    exp = load_experiment(folder / "exp.toml")
    d = exp.to_dict()
    assert Experiment.from_dict(d, source=exp.source) == exp
    # written as a file in the same folder, the table reads back to the same experiment
    (folder / "again.toml").write_bytes(tomli_w.dumps(d).encode("utf-8"))
    again = load_experiment(folder / "again.toml")
    assert again == Experiment.from_dict(d, source=folder / "again.toml")
    assert again.to_dict() == d


def test_a_minimal_experiment_has_the_documented_defaults(tmp_path):
    exp = Experiment.from_dict({"data": {"path": "d"}, "rules": {"baseline": "r.toml"}},
                               source=tmp_path / "small.toml")
    assert exp.name == "small" and exp.fit and exp.abtest is None and exp.refine is None
    assert not exp.sweep and exp.sweep.n_configs == 0
    assert exp.report == ReportConfig() and exp.report.bootstrap == 500
    assert exp.report_dir.as_posix() == "reports/small"  # ./reports, not beside the file
    assert exp.to_dict() == {"name": "small", "seed": 0, "data": {"path": "d"},
                             "rules": {"baseline": "r.toml", "candidates": []},
                             "fit": {"enabled": True}, "report": {"bootstrap": 500}}


@pytest.mark.parametrize("table, key, allowed", [
    (None, "windw_days", "window_days"),
    ("data", "pth", "path"),
    ("rules", "candidate", "candidates"),
    ("fit", "enable", "enabled"),
    ("abtest", "guardrail", "guardrails"),
    ("report", "titel", "title"),
    ("refine", "first_touh", "first_touch"),
    ("engine", "schedular", "scheduler"),
])
def test_an_unknown_key_in_any_table_names_the_closest_allowed_one(tmp_path, table, key,
                                                                   allowed):
    d = {"data": {"path": "d"}, "rules": {"baseline": "r.toml"}}
    if table is None:
        d[key] = 1
    else:
        d.setdefault(table, {})[key] = 1
    with pytest.raises(ConfigError) as e:
        Experiment.from_dict(d, source=tmp_path / "e.toml")
    assert e.value.code == "unknown_key"
    assert f"Did you mean '{allowed}'?" in e.value.suggestion
    assert "e.toml" in e.value.message


@pytest.mark.parametrize("grid, code", [
    ({"thresholds.mql": 50}, "wrong_type"),
    ({"thresholds.mql": []}, "wrong_type"),
    ({"thresholds.mql": [50, float("nan")]}, "wrong_type"),
    ({"thresholds.mql": [50, 50]}, "duplicate_value"),
    ({"thresholds.mql": list(range(1000)), "decay.half_life_days": list(range(1, 1000))},
     "grid_too_large"),
])
def test_a_sweep_config_is_checked_when_it_is_made(grid, code):
    with pytest.raises(ConfigError) as e:
        SweepConfig(grid, source="exp.toml")
    assert e.value.code == code and "exp.toml" in e.value.message


@pytest.mark.parametrize("table", [5, [40, 50], "thresholds.mql"])
def test_a_sweep_that_is_not_a_table_is_an_error_naming_the_file(tmp_path, table):
    with pytest.raises(ConfigError) as e:
        Experiment.from_dict({"data": {"path": "d"}, "rules": {"baseline": "r.toml"},
                              "sweep": table}, source=tmp_path / "e.toml")
    assert e.value.code == "wrong_type" and "e.toml" in e.value.message


def test_the_too_large_grid_above_is_over_the_limit():
    assert 1000 * 999 > MAX_CONFIGS


def test_a_sweep_config_is_a_frozen_mapping_that_round_trips():
    cfg = SweepConfig.from_dict({"thresholds": {"mql": [40, 50]}, "decay.kind": ["none"]})
    assert dict(cfg) == {"thresholds.mql": [40, 50], "decay.kind": ["none"]}
    assert SweepConfig.from_dict(cfg.to_dict()) == cfg and hash(cfg) == hash(
        SweepConfig(cfg.to_dict()))
    cfg["thresholds.mql"].append(60)  # a copy: the config does not change
    assert cfg["thresholds.mql"] == [40, 50]
    with pytest.raises(AttributeError):
        cfg.grid = ()


def test_sweep_takes_a_sweep_config_as_it_takes_the_plain_grid(small_data, small_rules):
    ds, rules = load_dataset(small_data), load_rules(small_rules)
    grid = {"thresholds.mql": [10, 20, 30], "decay.half_life_days": [7, 30]}
    want = sweep(ds, rules, grid, window_days=90, progress=False).frame
    got = sweep(ds, rules, SweepConfig(grid), window_days=90, progress=False).frame
    assert got.equals(want) and len(got) == 6


def test_report_bootstrap_is_checked_at_creation():
    with pytest.raises(ConfigError) as e:
        ReportConfig(bootstrap=1.5)
    assert e.value.code == "out_of_range"
    with pytest.raises(ConfigError):
        ReportConfig.from_dict({"bootstrap": True})


def test_with_previous_overrides_the_file_and_sets_up_a_refinement(tmp_path):
    exp = Experiment.from_dict({"data": {"path": "d"}, "rules": {"baseline": "r.toml"},
                                "report": {"previous": "old"}}, source=tmp_path / "e.toml")
    assert exp.report.previous == tmp_path / "old" and exp.refine is not None
    plain = Experiment.from_dict({"data": {"path": "d"}, "rules": {"baseline": "r.toml"}},
                                 source=tmp_path / "e.toml")
    assert plain.refine is None
    later = plain.with_previous(tmp_path / "q4")
    assert later.report.previous == tmp_path / "q4" and later.refine is not None
    assert later.data == plain.data and plain.report.previous is None
