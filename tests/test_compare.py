"""Offline comparison of two rule sets on the same leads.

The synthetic world (fixed seed): lead attribute ``x`` uniform on 0..99, ``K ~ Poisson(LAM)``
pricing-page views within 60 days of creation, a meeting with probability
``0.05 + 0.4 x / 100`` 1-30 days after creation. Rule set A gives 30 points for
``x >= 50`` and 20 per view (MQL cutoff 50); B gives 30 points for ``x >= 40`` and 25 per
view. Without decay, a lead is an MQL under A iff ``(x >= 50 and K >= 1) or K >= 3`` and
under B iff ``(x >= 40 and K >= 1) or K >= 2``, so the expected MQL counts are known.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from calib.cli.main import main
from calib.data import from_frames
from calib.errors import ConfigError
from calib.compare import compare_rules
from calib.compare.paired import _PerLead, _weighted_median, paired_bootstrap
from calib.rules import RuleSet

START = pd.Timestamp("2025-01-01", tz="UTC")
LAM = 1.2

RULES_A = RuleSet.from_dict({"name": "A", "fit": [{"field": "x", "min": 50, "points": 30}],
                             "behavior": [{"event": "pricing", "points": 20}],
                             "thresholds": {"mql": 50}})
RULES_B = RuleSet.from_dict({"name": "B", "fit": [{"field": "x", "min": 40, "points": 30}],
                             "behavior": [{"event": "pricing", "points": 25}],
                             "thresholds": {"mql": 50}})


def _iso(ts):
    return pd.DatetimeIndex(ts).strftime("%Y-%m-%dT%H:%M:%SZ").tolist()


def world(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    ids = np.array([f"L{i:05d}" for i in range(n)])
    created = START + pd.to_timedelta(rng.uniform(0, 300, n), unit="D").round("s")
    x = rng.integers(0, 100, n)
    k = rng.poisson(LAM, n)
    ev_lead = np.repeat(np.arange(n), k)
    ev_t = created[ev_lead] + pd.to_timedelta(rng.uniform(0, 60, k.sum()), unit="D").round("s")
    events = pd.DataFrame({"lead_id": np.append(ids[ev_lead], ids[0]),
                           "event_type": ["pricing"] * int(k.sum()) + ["heartbeat"],
                           "occurred_at": _iso(ev_t.append(pd.DatetimeIndex(
                               [START + pd.Timedelta(days=500)])))})
    meet = rng.random(n) < 0.05 + 0.4 * x / 100
    m_t = created[meet] + pd.to_timedelta(rng.uniform(1, 30, meet.sum()), unit="D").round("s")
    outcomes = pd.DataFrame({"lead_id": ids[meet], "outcome": "meeting",
                             "occurred_at": _iso(m_t)})
    leads = pd.DataFrame({"lead_id": ids, "created_at": _iso(created), "x": x})
    return from_frames(leads, events, outcomes), x, k


def expected_mql_counts(n):
    pk = stats.poisson(LAM)
    p_a = 0.5 * pk.sf(0) + 0.5 * pk.sf(2)
    p_b = 0.6 * pk.sf(0) + 0.4 * pk.sf(1)
    return n * p_a, n * p_b


@pytest.fixture(scope="module")
def data():
    return world()


@pytest.fixture(scope="module")
def result(data):
    ds, _, _ = data
    return compare_rules(ds, RULES_A, RULES_B, n_bootstrap=500, seed=0)


def test_mql_sets_follow_the_stated_rules(data, result):
    _, x, k = data
    a = ((x >= 50) & (k >= 1)) | (k >= 3)
    b = ((x >= 40) & (k >= 1)) | (k >= 2)
    group = result.per_lead["group"].to_numpy()
    assert ((group == "only_a") == (a & ~b)).all()
    assert ((group == "only_b") == (~a & b)).all()
    assert ((group == "neither") == (~a & ~b)).all()


def test_point_estimates_equal_the_replays(result):
    ra, rb = result.replay_a, result.replay_b
    assert result.difference("mql_count").a == ra.mql_count
    assert result.difference("mql_count").b == rb.mql_count
    for r, side in ((ra, "a"), (rb, "b")):
        d = r.to_dict()
        assert getattr(result.difference("mql_per_week"), side) == pytest.approx(
            d["mql"]["per_week"], abs=1e-3)
        assert getattr(result.difference("median_days_to_mql"), side) == pytest.approx(
            d["mql"]["median_days_to_mql"], abs=1e-3)
        assert getattr(result.difference("meeting_rate"), side) == pytest.approx(
            r.outcome("meeting").rate)
        assert getattr(result.difference("meeting_recall"), side) == pytest.approx(
            r.outcome("meeting").recall)
        assert getattr(result.difference("meeting_hits"), side) == r.outcome("meeting").hits


def test_who_moves_adds_up(result):
    wm = result.who_moves.set_index("group")["leads"]
    assert wm["both"] + wm["only_a"] + wm["only_b"] + wm["neither"] == result.leads == 4000
    assert wm["both_earlier"] + wm["both_same"] + wm["both_later"] == wm["both"]
    # B needs 2 views where A needs 3, so some leads are flagged earlier, none later
    assert wm["both_earlier"] > 0 and wm["both_later"] == 0
    assert wm["only_a"] == result.mcnemar.b and wm["only_b"] == result.mcnemar.c
    # rates per cell: only_b leads are judged under B only
    row = result.who_moves.set_index("group").loc["only_b"]
    assert row["meeting_decided_a"] == 0 and row["meeting_decided_b"] > 0
    assert math.isnan(row["meeting_rate_a"])
    neither = result.who_moves.set_index("group").loc["neither"]
    assert 0 < neither["meeting_occurred_rate"] < 1


def test_mcnemar_matches_statsmodels(result):
    from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

    wm = result.who_moves.set_index("group")["leads"]
    table = [[wm["both"], wm["only_a"]], [wm["only_b"], wm["neither"]]]
    ref = sm_mcnemar(table, exact=False, correction=True)
    assert result.mcnemar.test == "chi2_corrected"
    assert result.mcnemar.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert result.mcnemar.p_value == pytest.approx(ref.pvalue, rel=1e-9)


def test_mcnemar_is_exact_for_few_discordant_leads():
    from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

    ds, _, _ = world(n=80, seed=3)
    res = compare_rules(ds, RULES_A, RULES_B, n_bootstrap=0)
    b, c = res.mcnemar.b, res.mcnemar.c
    assert 0 < b + c < 25 and res.mcnemar.test == "exact"
    ref = sm_mcnemar([[0, b], [c, 0]], exact=True)
    assert res.mcnemar.p_value == pytest.approx(ref.pvalue, rel=1e-12)
    assert math.isnan(res.difference("mql_count").ci_low)  # no bootstrap asked


def test_a_rule_set_against_itself(data):
    ds, _, _ = data
    res = compare_rules(ds, RULES_A, RULES_A, n_bootstrap=200, seed=1)
    for d in res.differences:
        if math.isnan(d.a):
            continue
        assert d.diff == 0, d.metric
        assert d.ci_low == 0 and d.ci_high == 0, d.metric
    assert res.mcnemar.status == "no_discordant_leads" and math.isnan(res.mcnemar.p_value)
    wm = res.who_moves.set_index("group")["leads"]
    assert wm["only_a"] == wm["only_b"] == wm["both_earlier"] == wm["both_later"] == 0
    assert wm["both_same"] == wm["both"] and wm["both"] + wm["neither"] == res.leads
    assert "exactly the same leads" in res.summary()
    d = json.loads(json.dumps(res.to_dict()))
    assert d["mcnemar"]["p_value"] is None


def test_bootstrap_ci_covers_the_true_mql_difference(data, result):
    exp_a, exp_b = expected_mql_counts(4000)
    d = result.difference("mql_count")
    assert d.ci_low < exp_b - exp_a < d.ci_high
    # the bootstrap is over leads, paired: the sd of the count difference is
    # sqrt(N var(mql_b - mql_a)) (multinomial resampling of a sum), far below the
    # sd of two independent counts
    group = result.per_lead["group"]
    diff = (group == "only_b").astype(int) - (group == "only_a").astype(int)
    paired_sd = math.sqrt(len(diff) * diff.var(ddof=0))
    assert d.se == pytest.approx(paired_sd, rel=0.1)
    p_a, p_b = exp_a / 4000, exp_b / 4000
    independent_sd = math.sqrt(4000 * (p_a * (1 - p_a) + p_b * (1 - p_b)))
    assert d.se < 0.6 * independent_sd


def test_bootstrap_is_seeded(data):
    ds, _, _ = data
    one = compare_rules(ds, RULES_A, RULES_B, n_bootstrap=100, seed=7)
    two = compare_rules(ds, RULES_A, RULES_B, n_bootstrap=100, seed=7)
    three = compare_rules(ds, RULES_A, RULES_B, n_bootstrap=100, seed=8)
    assert one.to_frame().equals(two.to_frame())
    assert not one.to_frame().equals(three.to_frame())


def _indicators(n, rng):
    x = rng.integers(0, 100, n)
    k = rng.poisson(LAM, n)
    a = ((x >= 50) & (k >= 1)) | (k >= 3)
    b = ((x >= 40) & (k >= 1)) | (k >= 2)
    zeros = {"meeting": np.zeros(n, bool)}
    return _PerLead(a, b, np.where(a, k, np.nan), np.where(b, k, np.nan),
                    zeros, zeros, zeros, zeros, zeros)


@pytest.mark.slow
def test_bootstrap_interval_coverage_in_a_simulation():
    """200 data sets of 1000 leads: the 95% percentile interval of the MQL-count
    difference covers N (P_B - P_A) in 93-99% of them (observed for these seeds:
    189/200 = 0.945)."""
    n = 1000
    exp_a, exp_b = expected_mql_counts(n)
    covered = 0
    reps = 200
    for seed in range(reps):
        pl = _indicators(n, np.random.default_rng(1000 + seed))
        d = {m.metric: m for m in paired_bootstrap(pl, ("meeting",), n_bootstrap=400,
                                                   seed=seed)}["mql_count"]
        covered += d.ci_low <= exp_b - exp_a <= d.ci_high
    assert 0.93 <= covered / reps <= 0.99


def test_weighted_median_equals_the_median_of_the_expanded_sample():
    rng = np.random.default_rng(5)
    for _ in range(50):
        m = int(rng.integers(1, 12))
        values = np.sort(rng.normal(size=m).round(2))
        w = rng.integers(0, 4, size=(3, m))
        got = _weighted_median(values, w.astype(float))
        for row, g in zip(w, got):
            if row.sum() == 0:
                assert math.isnan(g)
            else:
                assert g == pytest.approx(np.median(np.repeat(values, row)))


def test_errors(data):
    ds, _, _ = data
    with pytest.raises(ConfigError) as e:
        compare_rules(ds, RULES_A, RULES_B, outcomes=("won",))
    assert e.value.code == "unknown_outcome"
    with pytest.raises(ConfigError):
        compare_rules(ds, RULES_A, RULES_B, n_bootstrap=-1)


def test_cli_compare(tmp_path, capsys, data):
    ds, _, _ = data
    folder = tmp_path / "data"
    folder.mkdir()
    leads = ds.leads.assign(created_at=_iso(ds.leads["created_at"]))
    leads.to_csv(folder / "leads.csv", index=False)
    ev = ds.events.assign(lead_id=ds.lead_ids(ds.events["lead"]),
                          occurred_at=_iso(ds.events["occurred_at"]))
    ev[["lead_id", "event_type", "occurred_at"]].to_csv(folder / "events.csv", index=False)
    oc = ds.outcomes.assign(lead_id=ds.lead_ids(ds.outcomes["lead"]),
                            occurred_at=_iso(ds.outcomes["occurred_at"]))
    oc[["lead_id", "outcome", "occurred_at"]].to_csv(folder / "outcomes.csv", index=False)
    import tomli_w

    for name, rs in (("a", RULES_A), ("b", RULES_B)):
        (tmp_path / f"{name}.toml").write_text(tomli_w.dumps(rs.to_dict()))
    argv = ["compare", str(folder), "--rules", str(tmp_path / "a.toml"), "--rules",
            str(tmp_path / "b.toml"), "--bootstrap", "50"]
    assert main(argv + ["--json", "--leads-out", str(tmp_path / "moves.csv")]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["rules_a"] == "A" and d["differences"]["mql_count"]["diff"] > 0
    assert {r["group"] for r in d["who_moves"]} >= {"both", "only_a", "only_b", "neither"}
    assert len(pd.read_csv(tmp_path / "moves.csv")) == 4000
    assert main(argv) == 0
    assert "Who moves" in capsys.readouterr().out
    assert main(["compare", str(folder), "--rules", str(tmp_path / "a.toml")]) == 1
    assert "exactly two rule sets" in capsys.readouterr().err
