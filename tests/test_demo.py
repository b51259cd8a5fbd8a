"""Tests of the demo world (calib.demo.world).

Small worlds (2,000 leads) keep these fast. The MQL rows are checked against a plain
per-lead loop over the written files, written from SPEC section 3 and independent of the
vectorised code; the true model is checked by its likelihood on the latent trials.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import tomllib
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from calib.demo import DemoWorld, generate_demo
from calib.demo import world as W
from calib.errors import ConfigError
from calib.rules.config import RuleSet

N = 2_000
SEED = 7
ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
SALES = ("meeting", "sql", "opportunity", "won", "lost", "disqualified")


def _digests(world: DemoWorld) -> dict[str, str]:
    files = sorted(p for p in world.root.rglob("*") if p.is_file())
    return {str(p.relative_to(world.root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in files}


def _read(path) -> pd.DataFrame:
    return pd.read_parquet(path) if str(path).endswith(".parquet") else pd.read_csv(path)


def _utc(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, utc=True, format="ISO8601")


@pytest.fixture(scope="module")
def csv_world(tmp_path_factory) -> DemoWorld:
    return generate_demo(tmp_path_factory.mktemp("csv"), n_leads=N, seed=SEED)


@pytest.fixture(scope="module")
def parquet_world(tmp_path_factory) -> DemoWorld:
    return generate_demo(tmp_path_factory.mktemp("pq"), n_leads=N, seed=SEED, fmt="parquet")


@pytest.fixture(scope="module")
def tables(csv_world) -> dict[str, pd.DataFrame]:
    out = {}
    for name in ("leads", "events", "outcomes", "assignments"):
        out[name] = pd.read_csv(getattr(csv_world, name))
    out["truth"] = pd.read_csv(csv_world.truth_outcomes)
    for frame, column in ((out["leads"], "created_at"), (out["events"], "occurred_at"),
                          (out["outcomes"], "occurred_at"), (out["assignments"], "assigned_at")):
        frame[column] = _utc(frame[column])
    for column in ("latent_trigger_at", "latent_meeting_at", "worked_at"):
        out["truth"][column] = _utc(out["truth"][column])
    return out


# ----------------------------------------------------------------- determinism


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_same_seed_gives_byte_identical_files(tmp_path, fmt):
    a = generate_demo(tmp_path / "a", n_leads=500, seed=3, fmt=fmt)
    b = generate_demo(tmp_path / "b", n_leads=500, seed=3, fmt=fmt)
    da, db = _digests(a), _digests(b)
    # 4 tables, truth_outcomes, 5 toml files, truth.json, previous_review/summary.json
    assert len(da) == 12
    assert da == db
    assert a.truth == b.truth


def test_different_seed_gives_different_world(tmp_path):
    a = generate_demo(tmp_path / "a", n_leads=500, seed=3)
    b = generate_demo(tmp_path / "b", n_leads=500, seed=4)
    da, db = _digests(a), _digests(b)
    for name in ("data/leads.csv", "data/events.csv", "data/outcomes.csv"):
        assert da[name] != db[name]
    assert da["current.toml"] == db["current.toml"]  # the rules do not depend on the seed


def test_rewriting_in_the_other_format_leaves_one_table_each(tmp_path):
    generate_demo(tmp_path, n_leads=200, seed=1)
    world = generate_demo(tmp_path, n_leads=200, seed=1, fmt="parquet")
    assert sorted(p.name for p in world.data_dir.iterdir()) == [
        "assignments.parquet", "events.parquet", "leads.parquet", "outcomes.parquet"]


@pytest.mark.parametrize("kwargs", [{"fmt": "xlsx"}, {"n_leads": 0}, {"n_leads": 2.5},
                                    {"seed": -1}])
def test_bad_arguments_raise_config_error(tmp_path, kwargs):
    with pytest.raises(ConfigError) as info:
        generate_demo(tmp_path, **kwargs)
    assert info.value.code == "invalid_value"


# ------------------------------------------------------------ SPEC section 1


def test_files_and_columns(csv_world, tables):
    assert csv_world.data_dir == csv_world.root / "data"
    assert csv_world.truth_outcomes.parent == csv_world.root  # beside data/, not inside
    assert list(tables["leads"].columns) == [
        "lead_id", "created_at", "seniority", "employees", "industry", "country", "source",
        "exploration_holdout"]
    assert list(tables["events"].columns) == ["lead_id", "occurred_at", "event_type"]
    assert list(tables["outcomes"].columns) == ["lead_id", "outcome", "occurred_at", "amount"]
    assert list(tables["assignments"].columns) == ["lead_id", "arm", "assigned_at"]
    leads = tables["leads"]
    assert len(leads) == N
    assert leads["lead_id"].is_unique
    assert leads["lead_id"].str.fullmatch(r"L\d{7}").all()
    assert pd.api.types.is_integer_dtype(leads["employees"])
    assert leads["employees"].min() >= 1
    assert leads["exploration_holdout"].dtype == bool
    assert set(leads["seniority"]) == set(W.SENIORITY)
    assert leads["industry"].isna().any()  # a few missing values, as in real exports
    assert len(set(tables["events"]["event_type"])) == 15


def test_no_rows_for_unknown_leads_and_no_negative_amount(tables):
    known = set(tables["leads"]["lead_id"])
    for name in ("events", "outcomes", "assignments"):
        assert set(tables[name]["lead_id"]) <= known
    amount = tables["outcomes"]["amount"]
    assert (amount.dropna() > 0).all()
    is_won = tables["outcomes"]["outcome"] == "won"
    assert amount[is_won].notna().all()
    assert amount[~is_won].isna().all()


def test_csv_timestamps_are_iso_utc_whole_seconds(csv_world):
    for path, column in ((csv_world.leads, "created_at"), (csv_world.events, "occurred_at"),
                         (csv_world.outcomes, "occurred_at"),
                         (csv_world.assignments, "assigned_at")):
        raw = pd.read_csv(path, dtype=str)[column]
        assert raw.str.match(ISO_Z).all(), path


def test_parquet_has_the_same_content_with_utc_timestamps(csv_world, parquet_world):
    for name, column in (("leads", "created_at"), ("events", "occurred_at"),
                         ("outcomes", "occurred_at"), ("assignments", "assigned_at")):
        pq_frame = pd.read_parquet(getattr(parquet_world, name))
        csv_frame = pd.read_csv(getattr(csv_world, name))
        assert isinstance(pq_frame[column].dtype, pd.DatetimeTZDtype)
        assert str(pq_frame[column].dt.tz) == "UTC"
        assert list(pq_frame.columns) == list(csv_frame.columns)
        assert (pq_frame[column] == _utc(csv_frame[column])).all()
        assert (pq_frame["lead_id"].to_numpy() == csv_frame["lead_id"].to_numpy()).all()
    assert parquet_world.truth == csv_world.truth


def test_history_is_right_censored(csv_world, tables):
    end = pd.Timestamp(csv_world.truth["history_end"])
    assert tables["events"]["occurred_at"].max() < end
    assert tables["outcomes"]["occurred_at"].max() < end
    assert tables["leads"]["created_at"].min() >= pd.Timestamp("2025-01-01", tz="UTC")
    # anonymous activity before a lead was created exists
    ev = tables["events"].merge(tables["leads"][["lead_id", "created_at"]], on="lead_id")
    assert (ev["occurred_at"] < ev["created_at"]).any()


# ---------------------------------------------------------------- outcomes


def test_each_outcome_at_most_once_and_in_funnel_order(tables):
    out = tables["outcomes"]
    assert not out.duplicated(["lead_id", "outcome"]).any()
    wide = out.pivot(index="lead_id", columns="outcome", values="occurred_at")
    for before, after in (("meeting", "sql"), ("sql", "opportunity"), ("opportunity", "won"),
                          ("opportunity", "lost"), ("meeting", "opportunity")):
        both = wide[[before, after]].dropna()
        assert len(both) > 0, (before, after)
        assert (both[before] < both[after]).all(), (before, after)
        # nothing downstream without its predecessor
        assert wide.loc[wide[after].notna(), before].notna().all(), (before, after)
    assert not (wide["won"].notna() & wide["lost"].notna()).any()
    created = tables["leads"].set_index("lead_id")["created_at"]
    assert (out["occurred_at"] >= created.loc[out["lead_id"]].to_numpy()).all()


def test_sales_outcomes_only_for_worked_leads(tables):
    truth = tables["truth"].set_index("lead_id")
    sales = tables["outcomes"][tables["outcomes"]["outcome"].isin(SALES)]
    worked_at = truth.loc[sales["lead_id"], "worked_at"].to_numpy()
    assert pd.notna(worked_at).all()
    assert (sales["occurred_at"].to_numpy() >= worked_at).all()
    # a recorded meeting is the latent one; unworked leads' latent meetings are missing
    meetings = tables["outcomes"].query("outcome == 'meeting'").set_index("lead_id")["occurred_at"]
    assert (truth.loc[meetings.index, "latent_meeting_at"] == meetings).all()
    assert set(truth.index[truth["meeting_recorded"]]) == set(meetings.index)
    lost = truth[truth["latent_meeting_at"].notna() & ~truth["meeting_recorded"]]
    assert len(lost) > 0
    assert not set(lost.index) & set(meetings.index)


def test_exploration_holdout(csv_world, tables):
    leads = tables["leads"].set_index("lead_id")
    mql = set(tables["outcomes"].query("outcome == 'mql'")["lead_id"])
    holdout = leads.index[leads["exploration_holdout"]]
    # drawn among all leads at creation, whatever they later scored
    share = len(holdout) / len(leads)
    p = csv_world.truth["exploration_share"]
    assert abs(share - p) < 4 * np.sqrt(p * (1 - p) / len(leads))
    in_mql = len(set(holdout) & mql) / max(len(mql), 1)
    assert abs(in_mql - p) < 4 * np.sqrt(p * (1 - p) / max(len(mql), 1))
    assert csv_world.truth["counts"]["exploration_holdout"] == len(holdout)
    # holdout leads are worked from creation: every latent meeting before the end is recorded
    truth = tables["truth"].set_index("lead_id").loc[holdout]
    end = pd.Timestamp(csv_world.truth["history_end"])
    latent = truth["latent_meeting_at"].notna() & (truth["latent_meeting_at"] < end)
    assert latent.sum() > 0
    assert (truth.loc[latent, "meeting_recorded"]).all()
    worked = pd.to_datetime(truth["worked_at"], utc=True)
    created = pd.to_datetime(leads.loc[holdout, "created_at"], utc=True)
    assert (worked.to_numpy() == created.to_numpy()).all()


def test_live_test_assignments(csv_world, tables):
    a = tables["assignments"]
    leads = tables["leads"].set_index("lead_id")
    start = pd.Timestamp(csv_world.truth["abtest"]["start"])
    assert set(a["arm"]) == {"control", "strict"}
    assert (a["assigned_at"].to_numpy() == leads.loc[a["lead_id"], "created_at"].to_numpy()).all()
    assert set(a["lead_id"]) == set(leads.index[leads["created_at"] >= start])
    n = len(a)
    assert abs((a["arm"] == "strict").mean() - 0.5) < 4 * math.sqrt(0.25 / n)
    ab = csv_world.truth["abtest"]
    assert ab["true_effect_meeting_rate"] == ab["potential_outcomes"]["all"]["effect"]
    shares = ab["potential_outcomes"]["worked_share"]
    assert shares["strict"] < shares["control"]


def test_true_ab_effect_is_found_in_the_data(tmp_path):
    # one 20k world: the observed difference of meeting rates has the sign of the truth
    world = generate_demo(tmp_path, n_leads=20_000, seed=0)
    a = pd.read_csv(world.assignments)
    out = pd.read_csv(world.outcomes).query("outcome == 'meeting'")
    a = a.merge(out[["lead_id", "occurred_at"]], on="lead_id", how="left")
    days = (_utc(a["occurred_at"]) - _utc(a["assigned_at"])).dt.total_seconds() / 86_400
    a["hit"] = days <= world.truth["abtest"]["window_days"]
    rate = a.groupby("arm")["hit"].mean()
    n = a.groupby("arm").size()
    diff = rate["strict"] - rate["control"]
    se = math.sqrt(sum(rate[k] * (1 - rate[k]) / n[k] for k in rate.index))
    truth = world.truth["abtest"]["true_effect_meeting_rate"]
    assert truth > 0.01
    assert diff / se > 2
    assert abs(diff - truth) < 3 * se


# ------------------------------------------------- mql rows replay current.toml


def _fit_holds(rule, value) -> bool:
    missing = value is None or (isinstance(value, float) and math.isnan(value)) or value == ""
    if "missing" in rule and missing != rule["missing"]:
        return False
    if "in" in rule and (missing or value not in rule["in"]):
        return False
    if "equals" in rule and (missing or value != rule["equals"]):
        return False
    if "min" in rule and (missing or isinstance(value, str) or value < rule["min"]):
        return False
    if "max" in rule and (missing or isinstance(value, str) or value > rule["max"]):
        return False
    return True


def _plain_mql_times(leads: pd.DataFrame, events: pd.DataFrame, rules: dict) -> dict:
    """SPEC section 3 for a rule set without decay, one lead at a time."""
    assert rules["decay"]["kind"] == "none"
    behavior = rules["behavior"]
    low, high = rules["limits"].get("min"), rules["limits"].get("max")
    cutoff = rules["thresholds"]["mql"]
    by_lead = {lead_id: list(zip(g["occurred_at"], g["event_type"]))
               for lead_id, g in events.sort_values("occurred_at", kind="stable")
               .groupby("lead_id", sort=False)}
    result = {}
    for lead in leads.to_dict("records"):
        fit = sum(r["points"] for r in rules["fit"] if _fit_holds(r, lead.get(r["field"])))
        lead_events = by_lead.get(lead["lead_id"], [])
        created = lead["created_at"]
        # max_per_day drops extra events first (per rule, per UTC day)
        kept = []
        for rule in behavior:
            types = [rule["event"]] if "event" in rule else rule["events"]
            per_day = Counter()
            times = []
            for t, event_type in lead_events:
                if event_type not in types:
                    continue
                per_day[t.date()] += 1
                if "max_per_day" in rule and per_day[t.date()] > rule["max_per_day"]:
                    continue
                times.append(t)
            kept.append(times)
        evaluation_times = sorted({created} | {t for t, _ in lead_events if t >= created})
        for now in evaluation_times:
            score = fit
            for rule, times in zip(behavior, kept):
                value = rule["points"] * sum(1 for t in times if t <= now)
                if "cap" in rule:
                    value = max(-rule["cap"], min(rule["cap"], value))
                score += value
            if low is not None:
                score = max(low, score)
            if high is not None:
                score = min(high, score)
            if score >= cutoff:
                result[lead["lead_id"]] = now
                break
    return result


def test_mql_rows_equal_a_plain_replay_of_current_rules(csv_world, tables):
    rules = tomllib.loads(csv_world.current_rules.read_text())
    assert rules == W.CURRENT_RULES
    expected = _plain_mql_times(tables["leads"], tables["events"], rules)
    mql = tables["outcomes"].query("outcome == 'mql'")
    got = dict(zip(mql["lead_id"], mql["occurred_at"]))
    assert len(got) > 100
    assert got == expected


def test_first_crossing_handles_caps_ties_and_max_per_day():
    # one lead created at t=1000 s; hand-computed crossing times
    rules = {"fit": [{"field": "size", "min": 10, "points": 5}],
             "behavior": [{"event": "a", "points": 10, "cap": 20, "max_per_day": 1},
                          {"event": "b", "points": -10},
                          {"name": "ab", "events": ["a", "b"], "points": 1}],
             "decay": {"kind": "none"}, "limits": {"min": 0}, "thresholds": {"mql": 26}}
    d = W.DAY_S
    # An 'a' before creation counts from created_at; the second 'a' of a UTC day is dropped
    # by max_per_day (but still counts for "ab"); 'b' pulls the score down; two events
    # sharing a timestamp apply together; the cap holds 'a' at 20. Scores by hand:
    #   at 1000:  5 + 10 + 0 + 2 = 17
    #   at d + 5: 5 + 10 - 10 + 3 = 8
    #   at 3d:    5 + min(20, 20) - 10 + 5 = 20
    #   at 4d:    5 + min(20, 30) - 10 + 6 = 21   (31 without the cap)
    events = [(10, "a"), (20, "a"), (d + 5, "b"), (3 * d, "a"), (3 * d, "a"), (4 * d, "a")]
    t = np.array([e[0] for e in events], dtype=np.int64)
    code = np.array([["a", "b"].index(e[1]) for e in events], dtype=np.int8)
    lead = np.zeros(len(events), dtype=np.int32)
    rules = RuleSet.from_dict(rules)
    times = W._crossing_times(rules, {"size": np.array([12])}, np.array([1000]), lead, t,
                              code, ["a", "b"], [15, 16, 26, 27])
    assert [x.item() for x in times] == [1000, 1000, -1, -1]
    times = W._crossing_times(rules, {"size": np.array([12])}, np.array([1000]), lead, t,
                              code, ["a", "b"], [18, 20, 21, 22])
    assert [x.item() for x in times] == [3 * d, 3 * d, 4 * d, -1]


# ------------------------------------------------------------------ the truth


def test_truth_files(csv_world):
    truth = json.loads(csv_world.truth_json.read_text())
    assert truth == csv_world.truth
    for key in ("seed", "n_leads", "half_life_days", "event_effects", "fit_effects",
                "intercept", "points_per_logit", "exploration_share", "abtest", "counts"):
        assert key in truth
    assert set(truth["event_effects"]) == set(W.EVENT_TYPES)
    rules = tomllib.loads(csv_world.truth_rules.read_text())
    assert rules["decay"] == {"kind": "exponential", "half_life_days": truth["half_life_days"]}
    points = {r["event"]: r["points"] for r in rules["behavior"]}
    for event, effect in truth["event_effects"].items():
        expected = round(truth["points_per_logit"] * effect)
        assert points.get(event, 0) == expected
    current = tomllib.loads(csv_world.current_rules.read_text())
    assert current["decay"] == {"kind": "none"}
    assert current["limits"]["min"] == 0
    assert current["thresholds"]["sql"] > current["thresholds"]["mql"]


def test_rule_files_load_as_rule_sets(csv_world):
    rules = pytest.importorskip("calib.rules")
    for path in (csv_world.current_rules, csv_world.truth_rules):
        rule_set = rules.load_rules(path)
        assert rule_set.thresholds.mql > 0


def test_experiment_file(csv_world):
    exp = tomllib.loads(csv_world.experiment.read_text())
    root = csv_world.root
    assert exp["name"] == "demo"
    assert (root / exp["data"]["path"]).is_dir()
    assert (root / exp["rules"]["baseline"]).is_file()
    assert all((root / c).is_file() for c in exp["rules"]["candidates"])
    assert (root / exp["abtest"]["assignments"]).is_file()
    assert exp["abtest"]["control"] == "control"
    assert exp["outcomes"] == ["meeting", "sql", "won"]
    assert exp["window_days"] == 90
    train_until = pd.Timestamp(exp["train_until"], tz="UTC")
    start, end = pd.Timestamp("2025-01-01", tz="UTC"), pd.Timestamp(csv_world.truth["history_end"])
    assert 0.6 < (train_until - start) / (end - start) < 0.72
    weeks = (end - start) / pd.Timedelta(days=7)
    mql_per_week = csv_world.truth["counts"]["mql_current"] / weeks
    assert 0 < exp["capacity_mql_per_week"] < mql_per_week
    assert "thresholds.mql" in exp["sweep"] and "decay.half_life_days" in exp["sweep"]


def _latent_trials(csv_world, tables):
    """Leads, their latent truth, and their events, without the live test's leads.

    The strict arm departs from the true model, so assigned leads are left out.
    """
    leads = tables["leads"].set_index("lead_id")
    truth = tables["truth"].set_index("lead_id")
    assigned = set(tables["assignments"]["lead_id"])
    events = tables["events"][~tables["events"]["lead_id"].isin(assigned)]
    events = events.sort_values(["lead_id", "occurred_at"], kind="stable")
    return leads, truth, events


def _log_likelihood(csv_world, tables, half_life_days):
    truth_json = csv_world.truth
    effects = truth_json["event_effects"]
    leads, truth, events = _latent_trials(csv_world, tables)
    total, expected, successes = 0.0, 0.0, 0
    epoch, day = pd.Timestamp("2025-01-01", tz="UTC"), pd.Timedelta(days=1)
    for lead_id, g in events.groupby("lead_id", sort=False):
        t = ((g["occurred_at"] - epoch) / day).to_numpy()
        beta = g["event_type"].map(effects).to_numpy()
        created = (leads.at[lead_id, "created_at"] - epoch) / day
        trigger = truth.at[lead_id, "latent_trigger_at"]
        trigger = None if pd.isna(trigger) else (trigger - epoch) / day
        fit = truth.at[lead_id, "true_fit_log_odds"]
        for now in np.unique(t[t >= created]):
            if trigger is not None and now > trigger:
                break
            past = t <= now
            eta = (truth_json["intercept"] + fit
                   + np.sum(beta[past] * 0.5 ** ((now - t[past]) / half_life_days)))
            p = 1 / (1 + math.exp(-eta))
            hit = trigger is not None and now == trigger
            total += math.log(p if hit else 1 - p)
            expected += p
            successes += hit
    return total, expected, successes


def test_stated_model_fits_the_latent_trials_and_its_half_life_matters(csv_world, tables):
    h = csv_world.truth["half_life_days"]
    ll_true, expected, successes = _log_likelihood(csv_world, tables, h)
    # calibration: the stated model predicts the number of latent meetings (Poisson sd)
    assert successes > 50
    assert abs(expected - successes) < 4 * math.sqrt(expected)
    # the true half-life beats half and double of it
    assert ll_true > _log_likelihood(csv_world, tables, h / 2)[0]
    assert ll_true > _log_likelihood(csv_world, tables, h * 2)[0]


def test_recent_high_intent_activity_predicts_meetings_better_than_old(csv_world, tables):
    # trials right after an email open: latent meeting triggered there, by the age of the
    # lead's latest pricing page view / demo request / contact form / trial signup
    _, truth, events = _latent_trials(csv_world, tables)
    high = {"pricing_page_view", "demo_request", "contact_form", "trial_signup"}
    recent, old = [], []
    for lead_id, g in events.groupby("lead_id", sort=False):
        trigger = truth.at[lead_id, "latent_trigger_at"]
        last_high = None
        for t, event_type in zip(g["occurred_at"], g["event_type"]):
            if pd.notna(trigger) and t > trigger:
                break
            if event_type in high:
                last_high = t
            elif event_type == "email_open" and last_high is not None:
                age = (t - last_high).total_seconds() / 86_400
                hit = pd.notna(trigger) and t == trigger
                if age < 7:
                    recent.append(hit)
                elif age > 42:
                    old.append(hit)
    assert len(recent) > 200 and len(old) > 200
    assert np.mean(recent) > 3 * np.mean(old)
