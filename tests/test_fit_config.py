"""``FitConfig``: one frozen config for ``fit()``, the ``[fit]`` table and ``calib fit``.

Checks at creation (reason codes, the bad value and the allowed ones named), a
``from_dict``/``to_dict`` round trip (a property over generated configs), the close-match
suggestion for an unknown key, and an experiment file whose ``[fit]`` has a typo failing
when it is read.
"""

from __future__ import annotations

import dataclasses
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calib.errors import CalibError, ConfigError
from calib.fit import FitConfig, fit
from calib.fit.config import KINDS, LABEL_DELAYS, WEIGHTINGS
from calib.pipeline.experiment import load_experiment


# ----------------------------------------------------------------------------- checks
@pytest.mark.parametrize("options, code, named", [
    ({"weighting": "always"}, "invalid_value", "'always'"),
    ({"label_delay": "late"}, "invalid_value", "'late'"),
    ({"kinds": ("exponential", "gaussian")}, "invalid_value", "'gaussian'"),
    ({"kinds": ()}, "invalid_value", "kinds"),
    ({"capacity_mql_per_week": 0}, "out_of_range", "capacity_mql_per_week"),
    ({"capacity_mql_per_week": -5}, "out_of_range", "-5"),
    ({"horizon_days": 0.0}, "out_of_range", "horizon_days"),
    ({"window_days": float("inf")}, "out_of_range", "window_days"),
    ({"lag_days": -1}, "out_of_range", "lag_days"),
    ({"sql_precision": 1.5}, "out_of_range", "sql_precision"),
    ({"l2": -0.1}, "out_of_range", "l2"),
    ({"points_step": 0}, "out_of_range", "points_step"),
    ({"max_examples": 0}, "out_of_range", "max_examples"),
    ({"seed": 1.5}, "out_of_range", "seed"),
    ({"horizon_days": "ten"}, "wrong_type", "horizon_days"),
    ({"outcome": ""}, "wrong_type", "outcome"),
])
def test_a_bad_option_is_a_config_error_naming_it(options, code, named):
    with pytest.raises(ConfigError) as e:
        FitConfig(**options)
    assert e.value.code == code
    assert named in str(e.value)


@pytest.mark.parametrize("field, allowed", [("weighting", WEIGHTINGS),
                                            ("label_delay", LABEL_DELAYS), ("kinds", KINDS)])
def test_a_choice_error_lists_the_allowed_values(field, allowed):
    with pytest.raises(ConfigError) as e:
        FitConfig(**{field: ("nope",) if field == "kinds" else "nope"})
    assert all(repr(a) in str(e.value) for a in allowed)


def test_every_allowed_choice_is_accepted():
    for w in WEIGHTINGS:
        assert FitConfig(weighting=w).weighting == w
    for d in LABEL_DELAYS:
        assert FitConfig(label_delay=d).label_delay == d
    assert FitConfig(kinds=KINDS).kinds == KINDS


def test_values_are_normalised_and_the_config_is_frozen():
    cfg = FitConfig(outcome=" Won ", kinds=["exponential"], exclude_columns="owner, stage",
                    max_examples=2e5)
    assert cfg.outcome == "won"
    assert cfg.max_examples == 200_000 and isinstance(cfg.max_examples, int)
    assert cfg.kinds == ("exponential",)
    assert cfg.exclude_columns == ("owner", "stage")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 3


# ------------------------------------------------------------------ dict round trip
configs = st.builds(
    FitConfig,
    outcome=st.sampled_from(["meeting", "won", "sql"]),
    train_until=st.none() | st.sampled_from(["2025-06-01", "2025-12-31T12:00:00Z"]),
    horizon_days=st.none() | st.floats(0.5, 60),
    lag_days=st.floats(0, 5),
    window_days=st.none() | st.integers(1, 365),
    capacity_mql_per_week=st.none() | st.floats(1, 1000),
    sql_precision=st.none() | st.floats(0.01, 1),
    holdout_column=st.none() | st.sampled_from(["auto", "holdout"]),
    weighting=st.sampled_from(WEIGHTINGS),
    kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=4, unique=True).map(tuple),
    l2=st.none() | st.floats(0, 100),
    max_examples=st.integers(1, 10**7),
    exclude_columns=st.lists(st.sampled_from(["a", "b", "c"]), unique=True).map(tuple),
    name=st.none() | st.just("proposed"),
    seed=st.integers(0, 2**31),
    label_delay=st.sampled_from(LABEL_DELAYS),
    points_step=st.sampled_from([1, 2.5, 5]),
)


@given(configs)
@settings(max_examples=60, deadline=None)
def test_from_dict_of_to_dict_is_the_same_config(cfg):
    d = cfg.to_dict()
    assert set(d) == {f.name for f in dataclasses.fields(FitConfig)}
    assert FitConfig.from_dict(d) == cfg
    assert FitConfig.from_dict(d).to_dict() == d


def test_replace_checks_like_from_dict():
    cfg = FitConfig().replace(outcome="won", capacity_mql_per_week=70)
    assert (cfg.outcome, cfg.capacity_mql_per_week) == ("won", 70)
    with pytest.raises(ConfigError) as e:
        FitConfig().replace(capacity_per_wek=70)
    assert e.value.code == "unknown_key"


# -------------------------------------------------------------------- unknown keys
@pytest.mark.parametrize("typo, meant", [("horizon_day", "horizon_days"),
                                         ("capacity_mql_per_wek", "capacity_mql_per_week"),
                                         ("weigthing", "weighting"),
                                         ("exclude_column", "exclude_columns")])
def test_an_unknown_key_suggests_the_closest(typo, meant):
    with pytest.raises(ConfigError) as e:
        FitConfig.from_dict({typo: 1})
    assert e.value.code == "unknown_key"
    assert typo in e.value.message
    assert f"Did you mean '{meant}'" in e.value.suggestion


def test_fit_keywords_are_checked_before_any_data_is_read():
    # no data set at all: the option error comes first
    with pytest.raises(ConfigError) as e:
        fit(None, None, horizon_day=10)
    assert e.value.code == "unknown_key" and "horizon_days" in e.value.suggestion
    with pytest.raises(ConfigError) as e:
        fit(None, None, FitConfig(), weighting="sometimes")
    assert e.value.code == "invalid_value"
    with pytest.raises(ConfigError) as e:
        fit(None, None, {"outcome": "won"})
    assert e.value.code == "wrong_type"


def test_the_former_capacity_keyword_still_works_with_a_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ConfigError) as e:
            fit(None, None, capacity_per_week=0)
    assert e.value.code == "out_of_range" and "capacity_mql_per_week" in str(e.value)
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)
    with pytest.raises(CalibError) as e:  # a valid capacity reaches the data check
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            fit(None, None, capacity_per_week=70)
    assert e.value.code == "not_a_dataset"


# ------------------------------------------------------------------- experiment files
EXPERIMENT = """name = "x"
train_until = "2026-01-01"
[data]
path = "data"
[rules]
baseline = "current.toml"
"""


def _experiment(tmp_path, fit_table: str):
    p = tmp_path / "experiment.toml"
    p.write_text(EXPERIMENT + "[fit]\n" + fit_table, encoding="utf-8")
    return p


def test_a_typo_in_the_fit_table_fails_when_the_file_is_read(tmp_path):
    p = _experiment(tmp_path, "enabled = true\nhorizon_day = 20\n")
    with pytest.raises(ConfigError) as e:
        load_experiment(p)  # no data is read: the folder 'data' does not even exist
    assert e.value.code == "unknown_key"
    assert "horizon_day" in e.value.message and "[fit]" in e.value.message
    assert "Did you mean 'horizon_days'" in e.value.suggestion


def test_a_bad_value_in_the_fit_table_fails_when_the_file_is_read(tmp_path):
    p = _experiment(tmp_path, 'weighting = "always"\n')
    with pytest.raises(ConfigError) as e:
        load_experiment(p)
    assert e.value.code == "invalid_value"
    assert "[fit] in" in str(e.value) and "'always'" in str(e.value)


def test_a_top_level_option_is_not_repeated_in_the_fit_table(tmp_path):
    p = _experiment(tmp_path, 'train_until = "2025-01-01"\n')
    with pytest.raises(ConfigError) as e:
        load_experiment(p)
    assert e.value.code == "unknown_key" and "train_until" in e.value.message


def test_the_fit_table_takes_every_fit_option(tmp_path):
    p = _experiment(tmp_path, 'enabled = true\noutcome = "Won"\nkinds = ["exponential"]\n'
                              'horizon_days = 20\nweighting = "none"\npoints_step = 1\n')
    exp = load_experiment(p)
    assert exp.fit is True
    assert exp.fit_options == {"outcome": "won", "kinds": ("exponential",),
                               "horizon_days": 20, "weighting": "none", "points_step": 1}
    cfg = FitConfig.from_dict(exp.fit_options)
    assert cfg.kinds == ("exponential",) and cfg.label_delay == "model"
