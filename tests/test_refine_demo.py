"""The demo world's refinement review: predicted vs realised for current.toml (adopted
2026-01-01 after legacy.toml) checked against values recomputed from the demo's own
tables, the "Since the last review" section, and ``calib refine``."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from calib.cli.main import main
from calib.data import load_dataset
from calib.demo import generate_demo
from calib.demo import world as W
from calib.pipeline.experiment import load_experiment
from calib.refine import load_previous, refine
from calib.rules import load_rules
from calib.stats import proportion_ci


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return generate_demo(tmp_path_factory.mktemp("refine-demo"), n_leads=8_000, seed=2)


@pytest.fixture(scope="module")
def result(world):
    exp = load_experiment(world.experiment)
    ds = load_dataset(exp.data.path)
    return refine(ds, load_rules(exp.baseline), primary="meeting", window_days=exp.window_days,
                  config=exp.refine, history=exp.history, previous=load_previous(exp.report.previous))


def _realised_from_tables(world):
    """MQLs per week and the meeting rate of current.toml's MQLs created since the
    adoption, straight from the demo's mql rows (current.toml's crossings, SPEC 3)."""
    leads = pd.read_csv(world.leads, parse_dates=["created_at"])
    out = pd.read_csv(world.outcomes, parse_dates=["occurred_at"])
    since = pd.Timestamp(W.ADOPTED_AT, tz="UTC")
    end_of_data = out["occurred_at"].max()  # the latest timestamp is an outcome here
    first = out.sort_values("occurred_at").drop_duplicates(["lead_id", "outcome"])
    m = first[first["outcome"] == "mql"].set_index("lead_id")["occurred_at"]
    o = first[first["outcome"] == "meeting"].set_index("lead_id")["occurred_at"]
    new = leads[leads["created_at"] >= since]
    mql = m.reindex(new["lead_id"]).dropna()
    weeks = (new["created_at"].max() - since) / pd.Timedelta(days=7)
    meet = o.reindex(mql.index)
    window = pd.Timedelta(days=W.WINDOW_DAYS)
    # the realised rate counts only MQLs whose whole window is observed
    whole = mql + window <= end_of_data
    hit = (meet >= mql) & (meet <= mql + window) & whole
    decided = int(whole.sum())  # hit, late or miss: each MQL with a whole window is one
    return len(mql) / weeks, int(hit.sum()) / decided, int(hit.sum()), decided


def test_realised_values_match_the_demo_tables(world, result):
    p = result.prediction
    assert p.status == "checked" and p.adopted == "current"
    assert p.since.startswith(W.ADOPTED_AT)
    per_week, rate, hits, decided = _realised_from_tables(world)
    got = {m.metric: m for m in p.metrics}
    assert got["mql_per_week"].realised == pytest.approx(per_week, rel=1e-3)
    assert got["rate"].realised == pytest.approx(rate, rel=1e-6)
    low, high = proportion_ci(hits, decided)
    assert (got["rate"].realised_low, got["rate"].realised_high) == pytest.approx((low, high))
    assert got["per_week"].realised == pytest.approx(per_week * rate, rel=1e-3)


def test_verdicts_follow_from_the_intervals(result):
    for m in result.prediction.metrics:
        assert m.predicted_low <= m.predicted <= m.predicted_high
        expected = ("inside" if m.predicted_low <= m.realised <= m.predicted_high
                    else "above" if m.realised > m.predicted_high else "below")
        assert m.verdict == expected
        word = {"inside": "inside the prediction", "above": "above the prediction",
                "below": "below the prediction"}[expected]
        assert any(s.startswith(m.label) and word in s for s in result.prediction.sentences())


def test_predicted_values_are_the_previous_review_of_current(world, result):
    prev = json.loads(world.previous_review.read_text())
    entry = prev["test_replays"]["proposed"]
    assert entry["rules"] == "current" and prev["baseline"] == "legacy"
    rate = {m.metric: m for m in result.prediction.metrics}["rate"]
    assert rate.predicted == pytest.approx(entry["outcomes"]["meeting"]["rate"])
    assert entry["period_end"] < W.ADOPTED_AT  # made before the adoption


def test_speed_to_lead_and_feedback_on_the_demo(world, result):
    s = result.speed
    assert s.first_touch == "contacted"
    assert s.service_level["hours"] == W.FIRST_TOUCH["service_level_hours"]
    # first touches are log-normal from the time the lead is worked (median 3 hours):
    # most MQLs are worked at their MQL time, so about 58% are touched within 4 hours
    assert 0.5 < s.service_level["share"] < 0.85
    assert s.service_level["verdict"] == "missed"
    assert s.median_hours == pytest.approx(W.FIRST_TOUCH["median_hours"], rel=0.35)
    f = result.feedback
    assert set(f.bands["band"]) == {"mql", "sql"}
    assert (f.bands["rate"] > 0).all() and (f.bands["ci_low"] <= f.bands["rate"]).all()
    assert result.drift.sentence and len(result.drift.periods) == 18


def test_section_renders_in_markdown_and_html(result):
    from calib.report import render
    from calib.report.refine import section

    figures, tables, captions = {}, {}, {}

    def add(name, table, png, caption):
        figures[name], tables[name], captions[name] = png, table, caption

    res = type("Res", (), {"refinement": result})()
    ctx = section(res, add, tables)
    assert set(figures) == {"drift", "speed_to_lead"}
    assert all(png[:4] == b"\x89PNG" for png in figures.values())
    md = render._env(False).get_template("_since_last_review.md.j2").render(refine=ctx)
    assert "## Since the last review" in md
    assert "| MQLs per week |" in md and result.prediction.metrics[0].verdict in md
    assert result.drift.sentence in md and "figures/drift.png" in md
    assert "target missed" in md and "### Sales feedback" in md
    assert "hours).\n\n| time to first" in md  # a Markdown table needs its blank line
    html = render._env(True).get_template("_since_last_review.html.j2").render(
        refine=ctx, figures=list(figures), captions=captions,
        embedded={k: "data:image/png;base64,x" for k in figures})
    assert "<h2>Since the last review</h2>" in html and 'alt="Drift' in html
    for name in ("report.md.j2", "report.html.j2"):
        text = (render.TEMPLATES / name).read_text()
        assert text.count("_since_last_review") == 1


def test_calib_refine_command(world, capsys):
    assert main(["refine", str(world.experiment), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["prediction"]["adopted"] == "current"
    assert d["speed_to_lead"]["service_level"]["verdict"] in ("met", "missed")
    assert d["sales_feedback"]["bands"]
    assert main(["refine", str(world.data_dir)]) == 1  # a data set needs --rules
    assert "--rules" in capsys.readouterr().err


def test_calib_run_report_has_the_section(tmp_path, capsys):
    import tomllib

    import tomli_w

    world = generate_demo(tmp_path / "w", n_leads=3_000, seed=5)
    exp = tomllib.loads(world.experiment.read_text())
    exp.pop("sweep")
    exp["fit"] = {"enabled": False}  # the refinement does not depend on the proposal
    exp.pop("abtest")
    world.experiment.write_text(tomli_w.dumps(exp))
    assert main(["run", str(world.experiment), "--out", str(tmp_path / "rep")]) == 0
    md = (tmp_path / "rep" / "report.md").read_text()
    since = md.index("## Since the last review")
    assert md.index("## What changes") < since < md.index("## Funnel")
    assert (tmp_path / "rep" / "figures" / "drift.png").exists()
    summary = json.loads((tmp_path / "rep" / "summary.json").read_text())
    r = summary["refinement"]
    assert [m["metric"] for m in r["prediction"]["metrics"]] == ["mql_per_week", "rate",
                                                                 "per_week"]
    assert r["speed_to_lead"]["service_level"]["hours"] == 4
    assert {b["band"] for b in r["sales_feedback"]["bands"]} == {"mql", "sql"}
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "<h2>Since the last review</h2>" in html


def test_calib_refine_on_a_data_folder_with_a_history_table(world, tmp_path, capsys):
    history = tmp_path / "rules_history.csv"
    history.write_text(f"since,file\n2025-01-01,{world.legacy_rules}\n"
                       f"{W.ADOPTED_AT},{world.current_rules}\n")
    code = main(["refine", str(world.data_dir), "--rules", str(world.current_rules),
                 "--history", str(history), "--previous", str(world.previous_review.parent),
                 "--service-level-hours", "24", "--json"])
    assert code == 0
    d = json.loads(capsys.readouterr().out)
    assert d["prediction"]["status"] == "checked"
    assert d["speed_to_lead"]["service_level"]["hours"] == 24
    history.write_text("since,file\n2025-01-01,nowhere.toml\n")
    assert main(["refine", str(world.data_dir), "--rules", str(world.current_rules),
                 "--history", str(history)]) == 1
    assert "does not exist: nowhere.toml" in capsys.readouterr().err
