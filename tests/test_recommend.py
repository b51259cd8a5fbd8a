"""Recommendations: the change list is the proposal, every change is judged two ways,
intervals respect their quantity's range, verdicts agree with their reasons."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from calib import load_dataset, load_rules
from calib.demo import generate_demo
from calib.engine import replay
from calib.rules.changes import apply_changes, canonical_order, rule_changes
from calib.pipeline.recommend import (
    HARM_RATE,
    MIN_MOVED,
    VOLUME_TOLERANCE,
    _interval,
    recommend,
    verdict,
)
from calib.rules import RuleSet, dumps_rules

START = pd.Timestamp("2026-01-01", tz="UTC")

BASE = {
    "name": "base",
    "fit": [{"field": "seniority", "in": ["director", "vp"], "points": 10},
            {"field": "country", "equals": "US", "points": 5}],
    "behavior": [{"event": "email_open", "points": 5, "cap": 30, "max_per_day": 1},
                 {"name": "content", "events": ["ebook_download", "whitepaper_download"],
                  "points": 8, "cap": 16},
                 {"event": "demo_request", "points": 30}],
    "decay": {"kind": "none"},
    "limits": {"min": 0, "max": 150},
    "thresholds": {"mql": 50, "sql": 80},
}
PROP = {
    "name": "prop",
    "fit": [{"name": "seniority_vp", "field": "seniority", "equals": "vp", "points": 15},
            {"name": "seniority_director", "field": "seniority", "equals": "director",
             "points": 10},
            {"name": "employees_big", "field": "employees", "min": 200, "points": 5}],
    "behavior": [{"name": "demo_request", "event": "demo_request", "points": 35},
                 {"event": "ebook_download", "points": 5},
                 {"event": "whitepaper_download", "points": 10, "cap": 20},
                 {"event": "email_open", "points": 5, "max_per_day": 1}],
    "decay": {"kind": "exponential", "half_life_days": 14},
    "thresholds": {"mql": 60},
}


@pytest.mark.parametrize("a, b", [(BASE, PROP), (PROP, BASE), (BASE, BASE),
                                  (BASE, {**BASE, "fit": [], "limits": {"min": 0}}),
                                  ({**BASE, "fit": []}, PROP)])
def test_the_proposal_is_exactly_the_sum_of_its_changes(a, b):
    base, prop = RuleSet.from_dict(a), RuleSet.from_dict(b)
    want = canonical_order(base, prop)
    changes = rule_changes(base, want)
    got = apply_changes(base, changes, name=want.name)
    assert dumps_rules(got) == dumps_rules(want)
    # and nothing else: each change alone is a real difference from the baseline
    for c in changes:
        assert apply_changes(base, [c], drop_invalid_sql=True) != base


def test_removals_are_changes():
    base, prop = RuleSet.from_dict(BASE), RuleSet.from_dict(PROP)
    texts = [c.text for c in rule_changes(base, canonical_order(base, prop))]
    assert "remove the SQL cutoff (80)" in texts
    assert any(t.startswith("remove the score limits") for t in texts)
    assert any("cap 30" in t and "→" in t for t in texts)  # a cap removed
    # the removed content rule and the new rules counting its events are one change
    assert sum("content" in t for t in texts) == 1
    assert any(t.startswith("rework the fit rules on seniority") for t in texts)


def test_a_renamed_identical_rule_is_no_change():
    base = RuleSet.from_dict(BASE)
    d = base.to_dict()
    d["fit"] = [{"name": "seniority_vp_director", "field": "seniority",
                 "in": ["vp", "director"], "points": 10}, d["fit"][1]]
    prop = canonical_order(base, RuleSet.from_dict(d))
    assert rule_changes(base, prop) == []


def test_intervals_bounded_and_undefined_share():
    rng = np.random.default_rng(0)
    lo, hi, und = _interval(rng.uniform(0.1, 0.2, 400), True)
    assert 0.1 <= lo < hi <= 0.2 and und == 0
    boot = rng.uniform(0, 1, 400)
    boot[:40] = np.nan  # 10% undefined resamples: no interval
    lo, hi, und = _interval(boot, True)
    assert math.isnan(lo) and math.isnan(hi) and und == pytest.approx(0.1)


# ------------------------------------------------------------------ on a demo world
@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return generate_demo(tmp_path_factory.mktemp("rec"), n_leads=6000, seed=5)


@pytest.fixture(scope="module")
def recs(world):
    ds = load_dataset(world.data_dir)
    base = load_rules(world.current_rules)
    truth = load_rules(world.truth_rules)
    prop = canonical_order(base, truth)
    end = ds.leads["created_at"].max()
    base_res = replay(ds, base, window_days=90, start=START, end=end, per_lead=True)
    calls = []
    r = recommend(ds, base, prop, base_res, primary="meeting", outcomes=["meeting", "sql"],
                  window_days=90, start=START, end=end, capacity_mql_per_week=10,
                  evaluation="out of time", n_boot=200, progress=calls.append)
    return r, base, prop, calls


def _judgements(r):
    for c in (r.package, *r.changes, *r.excluded):
        for j in (c.alone, c.matched, c.in_package):
            if j is not None:
                yield c, j


def test_every_difference_is_a_listed_judged_change(recs):
    r, base, prop, calls = recs
    listed = {c.what for c in (*r.changes,)}
    assert {c.text for c in rule_changes(base, r.rules)} == listed
    assert dumps_rules(apply_changes(base, [c.change for c in r.changes], name=r.rules.name)) \
        == dumps_rules(r.rules)
    # progress: once per judged change and once for the package
    assert len(calls) >= len(r.changes) + len(r.excluded) + 1
    for c in r.changes:
        assert c.verdict in ("recommend", "consider", "hold") and c.reasons
        if c.change.moves_scale:
            assert c.matched is not None and c.decided_by == "matched"


def test_intervals_respect_their_range(recs):
    r, *_ = recs
    for c, j in _judgements(r):
        for o, t in j.rates.items():
            for v in t[:2]:
                assert math.isnan(v) or 0 <= v <= 1
            assert math.isnan(t[3]) or -1 <= t[3] <= t[4] <= 1
            for lo, hi in j.rate_ci[o]:
                assert math.isnan(lo) or 0 <= lo <= hi <= 1
        for o, rel in j.relative.items():
            assert math.isnan(rel[1]) or -1 <= rel[1] <= rel[2]
            h = j.hits_per_week[o]
            assert math.isnan(h[3]) or -h[0] - 1e-9 <= h[3] <= h[4]
        if j.moved < MIN_MOVED:
            p = r.primary
            assert math.isnan(j.rates[p][3]) and j.notes


def test_matched_volumes_are_reported_and_near(recs):
    r, *_ = recs
    for c, j in _judgements(r):
        if j.comparison != "matched":
            continue
        a, b = j.mql_count
        assert (abs(b - a) <= VOLUME_TOLERANCE * a) == j.comparable
        if not j.comparable:
            assert any("tolerance" in n and "not compared" in n for n in j.notes)


def test_verdict_reasons_agree_with_the_label(recs):
    r, *_ = recs
    for c in (r.package, *r.changes):
        text = "; ".join(c.reasons)
        if c.verdict == "recommend":
            assert "harm" not in text and "too few" not in text and "lower" not in text
        if c.verdict == "hold":
            assert any(k in text for k in ("harm", "too few", "cannot be estimated", "lower",
                                           "tolerance", "volumes"))
        if c.verdict == "consider":
            assert "harm cannot be ruled out" not in text
        # the verdict is the verdict of the deciding judgement (capacity aside)
        v, _ = verdict(c.effect, r.primary, None, r.per)
        assert v == c.verdict or (c.kind == "cutoff") or c.kind == "package" or \
            (v == "recommend" and c.verdict == "consider")


def test_harmful_changes_leave_the_package(recs):
    r, *_ = recs
    for c in r.excluded:
        assert not c.included
        assert c.effect.rates[r.primary][4] < 0
    for c in r.changes:
        assert c.included


def test_to_dict_is_json_and_self_describing(recs):
    r, *_ = recs
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    ch = d["changes"][0]
    for key in ("what", "verdict", "reasons", "alone", "matched", "decided_by", "change"):
        assert key in ch
    a = ch["alone"]
    for key in ("mqls", "mql_per_week", "rates", "per_week", "basis", "notes", "cutoffs"):
        assert key in a
    assert d["thresholds"]["harm_rate"] == HARM_RATE
    assert d["proposed_rules"]["name"] == r.rules.name
    assert len(r.to_frame()) == 1 + len(r.changes) + len(r.excluded)
    assert "Recommendations" in r.summary()


def test_a_change_that_moves_no_lead_has_no_interval(world):
    ds = load_dataset(world.data_dir)
    base = load_rules(world.current_rules)
    d = base.to_dict()
    d["name"] = "noop"
    d["behavior"] = d["behavior"] + [{"event": "never_happens", "points": 50}]
    prop = canonical_order(base, RuleSet.from_dict(d))
    end = ds.leads["created_at"].max()
    base_res = replay(ds, base, window_days=90, start=START, end=end, per_lead=True)
    r = recommend(ds, base, prop, base_res, primary="meeting", outcomes=["meeting"],
                  window_days=90, start=START, end=end, n_boot=50)
    (c,) = r.changes
    assert c.alone.moved == 0 and math.isnan(c.alone.rates["meeting"][3])
    assert c.verdict == "consider" and "no MQL changes" in c.reasons[0]
    assert any("no lead's MQL changes" in n for n in c.alone.notes)


@pytest.mark.slow
def test_calib_run_writes_the_sum_of_its_listed_changes(tmp_path, capsys):
    """End to end: proposed_rules.toml of calib run is current.toml with every listed
    change applied, and is round (points in steps of 5, none under 3, whole cutoffs,
    half-life to 0.1 day)."""
    from calib.cli.main import main

    world = generate_demo(tmp_path / "w", n_leads=3000, seed=9)
    code = main(["run", str(world.experiment), "--out", str(tmp_path / "rep"), "--json"])
    d = json.loads(capsys.readouterr().out)
    assert code == 0
    written = load_rules(tmp_path / "rep" / "proposed_rules.toml")
    base = load_rules(world.current_rules)
    recs = d["recommendations"]
    from calib.rules.changes import RuleChange

    def change(c):
        return RuleChange(**{**c, "parts": tuple(change(p) for p in c["parts"])})

    listed = [change(c["change"]) for c in recs["changes"]]
    assert dumps_rules(apply_changes(base, listed, name=written.name)) == dumps_rules(written)
    assert {c.text for c in rule_changes(base, written)} == {c["what"] for c in recs["changes"]}
    pts = [r.points for r in (*written.fit, *written.behavior)]
    assert all(p % 5 == 0 and abs(p) >= 5 for p in pts)
    assert float(written.thresholds.mql).is_integer()
    hl = written.decay.half_life_days
    assert hl is None or round(hl, 1) == hl
    assert d["proposal_steps"] and str(int(written.thresholds.mql)) in d["proposal_steps"][-1]
