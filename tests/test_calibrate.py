"""Tests of calib.calibration: metrics against scipy/statsmodels and hand computation,
the isotonic and Platt maps, and calibration of the demo's true model out of time."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from calib.calibration import (auc, brier_score, calibrate, expected_calibration_error, fit_map,
                               ks_statistic, lift_table, log_loss, psi, psi_level,
                               reliability_table)
from calib.data import load_dataset
from calib.demo import generate_demo
from calib.errors import CalibError
from calib.rules import load_rules


# ------------------------------------------------------------------------- metrics
def test_auc_equals_mann_whitney_u():
    rng = np.random.default_rng(0)
    y = rng.random(500) < 0.3
    s = np.round(rng.normal(size=500) + y, 1)  # rounding makes ties
    u = stats.mannwhitneyu(s[y], s[~y]).statistic
    assert auc(y, s) == pytest.approx(u / (y.sum() * (~y).sum()), rel=1e-12)


def test_ks_equals_scipy():
    rng = np.random.default_rng(1)
    y = rng.random(400) < 0.4
    s = rng.normal(size=400) + 0.5 * y
    assert ks_statistic(y, s) == pytest.approx(stats.ks_2samp(s[y], s[~y]).statistic, rel=1e-12)


def test_brier_and_log_loss_by_hand():
    y, p = [1, 0, 1], [0.9, 0.2, 0.6]
    assert brier_score(y, p) == pytest.approx((0.01 + 0.04 + 0.16) / 3)
    assert log_loss(y, p) == pytest.approx(-(np.log(0.9) + np.log(0.8) + np.log(0.6)) / 3)


def test_psi_by_hand_and_levels():
    e = np.arange(1000)
    assert psi(e, e) == 0.0
    a = np.concatenate([np.arange(500), np.full(500, 999)])
    # deciles of e: 9 bins get 0.1 of a below 500 ... computed directly:
    edges = np.quantile(e, np.linspace(0, 1, 11)[1:-1])
    be = np.bincount(np.searchsorted(edges, e, side="right"), minlength=10) / 1000
    ba = np.bincount(np.searchsorted(edges, a, side="right"), minlength=10) / 1000
    ba = np.maximum(ba, 1e-4)
    assert psi(e, a) == pytest.approx(np.sum((ba - be) * np.log(ba / be)))
    assert [psi_level(v) for v in (0.05, 0.2, 0.4)] == ["stable", "moderate", "major"]


def test_reliability_and_ece_of_a_perfect_forecaster_are_near_zero():
    rng = np.random.default_rng(2)
    p = rng.beta(0.5, 8, 200_000)
    y = rng.random(p.size) < p
    t = reliability_table(y, p, 10)
    assert t["count"].sum() == p.size
    assert (t["ci_low"] <= t["observed"]).all() and (t["observed"] <= t["ci_high"]).all()
    assert expected_calibration_error(y, p) < 0.003
    assert expected_calibration_error(y, np.clip(p * 2, 0, 1)) > 0.03


def test_lift_table_deciles():
    y = np.array([1] * 10 + [0] * 90)
    s = np.arange(100)[::-1].astype(float)  # the positives have the highest scores
    t = lift_table(y, s)
    assert t["count"].tolist() == [10] * 10
    assert t["rate"].iloc[0] == 1.0 and t["lift"].iloc[0] == pytest.approx(10.0)
    assert t["cumulative_gain"].iloc[0] == 1.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.booleans()), min_size=2, max_size=60))
def test_isotonic_map_is_monotone_and_preserves_the_mean(pairs):
    s = np.array([a for a, _ in pairs], float)
    y = np.array([b for _, b in pairs], float)
    m = fit_map(s, y, "isotonic")
    pred = m.predict(s)
    assert np.all(np.diff(m.predict(np.sort(s))) >= -1e-12)
    assert pred.mean() == pytest.approx(y.mean())  # PAV preserves the weighted mean


def test_isotonic_by_hand():
    # PAV on (0: 0), (1: 1), (2: 0), (3: 1): the middle pair pools to 0.5
    m = fit_map([0, 1, 2, 3], [0, 1, 0, 1], "isotonic")
    assert m.predict([0, 1, 2, 3]).tolist() == [0.0, 0.5, 0.5, 1.0]


def test_platt_equals_statsmodels_logit():
    import statsmodels.api as sm

    rng = np.random.default_rng(3)
    s = rng.integers(0, 100, 3000).astype(float)
    y = (rng.random(3000) < 1 / (1 + np.exp(-(-4 + 0.05 * s)))).astype(float)
    ref = sm.Logit(y, sm.add_constant(s)).fit(disp=0)
    m = fit_map(s, y, "platt")
    np.testing.assert_allclose(m.y, ref.params, rtol=1e-6)


def test_unknown_method_raises():
    with pytest.raises(CalibError) as e:
        fit_map([0, 1], [0, 1], "beta")
    assert e.value.code == "invalid_value"


# ------------------------------------------------------------------ on a demo world
@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return generate_demo(tmp_path_factory.mktemp("calworld"), n_leads=8_000, seed=5)


@pytest.fixture(scope="module")
def ds(world):
    return load_dataset(world.data_dir)


@pytest.mark.slow
def test_true_model_is_calibrated_out_of_time_and_beats_current(ds, world):
    truth = calibrate(ds, load_rules(world.truth_rules), segment="source")
    current = calibrate(ds, load_rules(world.current_rules))
    t = truth.metrics["test"]
    # 8,000 leads: ECE of the true model under 0.02 out of time (0.02 is the acceptance
    # level of the large world; the small one meets it too)
    assert t["ece"] < 0.02
    assert t["auc"] > current.metrics["test"]["auc"] + 0.05
    assert truth.psi["level"] == "stable"
    assert truth.reliability["count"].sum() == t["n"]
    assert set(truth.by_band["band"]) <= {"cold", "warm", "mql", "sql"}
    rates = truth.by_band.set_index("band")["rate"]
    assert rates["sql"] > rates["mql"] > rates["cold"]
    assert len(truth.by_segment) == 7 and len(truth.by_cohort) >= 6
    json.dumps(truth.to_dict())
    assert "ECE" in truth.summary()


def test_snapshots_do_not_straddle_the_split(ds, world):
    res = calibrate(ds, load_rules(world.truth_rules), method="platt", every_days=14)
    assert res.split["kind"] == "time"
    assert res.metrics["train"]["n"] > 0 and res.metrics["test"]["n"] > 0
    assert 0 < res.metrics["test"]["base_rate"] < 0.2


def test_bad_segment_raises(ds, world):
    with pytest.raises(CalibError) as e:
        calibrate(ds, load_rules(world.truth_rules), segment="nope")
    assert e.value.code == "unknown_field"


def test_cli_calibrate_json(world, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "calib", "calibrate", str(world.data_dir),
                           "--rules", str(world.truth_rules), "--json", "--map-out",
                           str(tmp_path / "map.csv")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert d["method"] == "isotonic" and d["metrics"]["test"]["auc"] > 0.6
    m = pd.read_csv(tmp_path / "map.csv")
    assert m["probability"].is_monotonic_increasing
