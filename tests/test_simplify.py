"""The simplifier: merged levels, round points, and ground-truth recovery."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from calib.fit.simplify import merge_levels, round_points, simplify_rules
from calib.rules import RuleSet


@pytest.mark.parametrize("x, step, want", [(2.4, 5, 0), (2.5, 5, 5), (-2.5, 5, -5), (7.4, 5, 5),
                                           (7.6, 5, 10), (14, 5, 15), (-21, 5, -20),
                                           (0.26, 0.5, 0.5), (3, 1, 3)])
def test_round_points(x, step, want):
    # hand-computed: nearest multiple of the step, halves away from zero
    assert round_points(x, step) == want


def _logit_world(seed: int = 7, n: int = 60_000):
    """Leads with one categorical field whose six levels have three true effects: the
    reference 'a' and 'b' (0), 'c' and 'd' (+0.8), 'e' and 'f' (-0.7)."""
    rng = np.random.default_rng(seed)
    truth = {"a": 0.0, "b": 0.0, "c": 0.8, "d": 0.8, "e": -0.7, "f": -0.7}
    levels = np.array(list(truth))
    x = rng.choice(levels, size=n, p=[0.3, 0.2, 0.15, 0.1, 0.15, 0.1])
    eta = -1.5 + np.vectorize(truth.get)(x)
    y = rng.random(n) < 1 / (1 + np.exp(-eta))
    return x, y, truth


def test_merged_levels_are_the_truly_equal_ones():
    """Ground-truth recovery: a logistic fit (statsmodels, unpenalised) of a seeded world
    with three groups of equal effects; merging its estimates recovers the groups."""
    import statsmodels.api as sm

    x, y, truth = _logit_world()
    names = [k for k in truth if k != "a"]
    X = np.column_stack([np.ones(len(x))] + [(x == k).astype(float) for k in names])
    res = sm.Logit(y.astype(float), X).fit(disp=0)
    eff = dict(zip(names, res.params[1:]))
    se = dict(zip(names, res.bse[1:]))
    groups = merge_levels(eff, se)
    as_sets = sorted(sorted(map(str, g)) for g in groups)
    assert as_sets == [["None", "b"], ["c", "d"], ["e", "f"]]
    # the order is by effect: the negative group first
    assert set(groups[0]) == {"e", "f"} and set(groups[-1]) == {"c", "d"}


def test_distinct_levels_stay_apart():
    # effects 10 standard errors apart never merge; a tiny min_gap changes nothing
    groups = merge_levels({"b": 1.0, "c": 2.0}, {"b": 0.05, "c": 0.05}, min_gap=0.01)
    assert groups == [[None], ["b"], ["c"]]
    # with a practical gap of 1.5 log-odds, b joins the reference (effect 0); c, 2.0 from
    # the merged group, stays apart: merging never chains a level past the gap
    assert merge_levels({"b": 1.0, "c": 2.0}, {"b": 0.05, "c": 0.05}, min_gap=1.5) == \
        [[None, "b"], ["c"]]


FITTED = {
    "name": "fitted",
    "fit": [
        {"name": "seniority_manager", "field": "seniority", "equals": "manager", "points": 1},
        {"name": "seniority_director", "field": "seniority", "equals": "director", "points": 8},
        {"name": "seniority_vp", "field": "seniority", "equals": "vp", "points": 9},
        {"name": "seniority_c_level", "field": "seniority", "equals": "c_level", "points": 7},
        {"name": "employees_min_40", "field": "employees", "min": 40, "points": 11},
        {"name": "employees_min_100", "field": "employees", "min": 100, "points": 1},
        {"name": "employees_min_200", "field": "employees", "min": 200, "points": 2},
        {"name": "country_de", "field": "country", "equals": "DE", "points": 1},
    ],
    "behavior": [
        {"event": "pricing_page_view", "points": 26, "cap": 52, "max_per_day": 1},
        {"event": "social_click", "points": -2, "cap": 6},
        {"event": "demo_request", "points": 31},
    ],
    "decay": {"kind": "exponential", "half_life_days": 11.441787978407191},
    "limits": {"min": 0},
    "thresholds": {"mql": 98.0},
}


def _effects(rules: RuleSet, se: float = 0.05, scale: float = 10.0) -> pd.DataFrame:
    rows = [{"term": r.name, "coef": r.points / scale, "se": se} for r in rules.fit]
    return pd.DataFrame(rows)


def test_simplified_rules_are_round_and_parsimonious():
    rules = RuleSet.from_dict(FITTED)
    rng = np.random.default_rng(0)
    leads = pd.DataFrame({
        "seniority": rng.choice(["ic", "manager", "director", "vp", "c_level"], 5000),
        "employees": rng.integers(1, 1000, 5000),
        "country": rng.choice(["US", "DE"], 5000)})
    simple, merges, dropped = simplify_rules(rules, effects=_effects(rules), leads=leads,
                                             points_per_logit=10, points_step=5)
    pts = [r.points for r in (*simple.fit, *simple.behavior)]
    assert all(p % 5 == 0 and abs(p) >= 5 for p in pts)
    # director, vp and c_level (7 to 9 points, within a step) become one rule
    sen = [r for r in simple.fit if r.field == "seniority"]
    assert len(sen) == 1 and set(sen[0].in_) == {"director", "vp", "c_level"}
    assert sen[0].points == 10
    # the employee steps of 1 and 2 points merge into the first: one step left
    emp = [r for r in simple.fit if r.field == "employees"]
    assert len(emp) == 1 and emp[0].min == 40
    assert "country_de" in dropped and "social_click" in dropped
    assert "seniority_manager" not in {r.name for r in simple.fit}
    # caps keep their count of events; half-life to 0.1 day
    pricing = next(r for r in simple.behavior if r.name == "pricing_page_view")
    assert pricing.points == 25 and pricing.cap == 50 and pricing.max_per_day == 1
    assert simple.decay.half_life_days == pytest.approx(11.4)
    assert len(simple.fit) + len(simple.behavior) < len(rules.fit) + len(rules.behavior)
    assert any(f == "seniority" for f, _, _ in merges)


def test_whole_days_and_step_one():
    rules = RuleSet.from_dict(FITTED)
    simple, merges, _ = simplify_rules(rules, points_step=1, merge=False, half_life_step=1)
    assert simple.decay.half_life_days == 11
    assert [r.points for r in simple.fit] == [1, 8, 9, 7, 11, 1, 2, 1] and merges == ()


def test_summary_and_dict_of_a_result():
    import json

    from calib.fit.simplify import SimplifyResult

    rules = RuleSet.from_dict(FITTED)
    rng = np.random.default_rng(1)
    leads = pd.DataFrame({"seniority": rng.choice(["ic", "director", "vp", "c_level"], 500),
                          "employees": rng.integers(1, 1000, 500),
                          "country": rng.choice(["US", "DE"], 500)})
    simple, merges, dropped = simplify_rules(rules, effects=_effects(rules), leads=leads)
    res = SimplifyResult(rules=simple, full=rules, points_step=5, merges=merges,
                         dropped=dropped)
    text = res.summary()
    assert "merged levels of seniority" in text and "merged steps of employees" in text
    json.dumps(res.to_dict(), allow_nan=False)


@pytest.mark.slow
def test_cli_fit_writes_the_simplified_rules(tmp_path, capsys):
    import json

    from calib.cli.main import main
    from calib.demo import generate_demo
    from calib.rules import load_rules

    world = generate_demo(tmp_path / "w", n_leads=3000, seed=2)
    out = tmp_path / "p.toml"
    code = main(["fit", str(world.data_dir), "--rules", str(world.current_rules), "--out",
                 str(out), "--points-step", "5", "--decay-kinds", "none,exponential", "--json"])
    d = json.loads(capsys.readouterr().out)
    assert code == 0
    written = load_rules(out)
    assert d["rules"] == written.to_dict()  # the JSON's rules are the written ones
    sim = d["simplification"]
    # the set at step 5 is kept unless it loses more than the tolerance out of time;
    # then whole-number points are tried, and the full fit is the last resort
    step = sim["points_step"]
    assert (step == 5) == (sim["kept"] == "simplified")
    if sim["kept"] != "simplified":
        first = sim["cost"]["tried"][0] if sim["kept"] != "full" else sim["cost"]
        assert first["points_step"] == 5
        assert first["difference"]["diff"] < -first["tolerance"]
    assert all(float(r.points) % step == 0 for r in (*written.fit, *written.behavior))
    assert float(written.thresholds.mql).is_integer()
    assert sim["rules_simplified"] <= sim["rules_full"]
