"""Importers: every preset's fixture (tests/fixtures/imports/<format>/, a dozen rows in
the vendor's documented layout) imports into a data set that validates and replays
to hand-computed numbers; bad exports get the foundation's errors with reason codes;
sources are never modified."""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from calib.cli.main import main
from calib.data import load_dataset
from calib.engine import replay
from calib.errors import CalibError, ConfigError, DataError
from calib.importers import (ImportMapping, import_export, load_experiment_data, load_preset,
                             read_tables)
from calib.rules import RuleSet

FIX = Path(__file__).parent / "fixtures" / "imports"

RULES = {
    "hubspot": {
        "name": "hubspot-fit",
        "fit": [{"field": "source", "in": ["Organic Search", "Paid Search", "Referrals"],
                 "points": 10},
                {"field": "page_views", "min": 20, "points": 20},
                {"field": "form_submissions", "min": 2, "points": 10},
                {"field": "employees", "in": ["100-500", "500-1000", "1000+"], "points": 10}],
        "thresholds": {"mql": 30}},
    "salesforce": {
        "name": "sf-campaigns",
        "fit": [{"field": "source", "in": ["Web", "Partner Referral"], "points": 10},
                {"field": "employees", "min": 200, "points": 10}],
        "behavior": [{"event": "campaign_response_webinar", "points": 20},
                     {"event": "campaign_response_trade_show", "points": 15},
                     {"event": "campaign_response_content", "points": 10}],
        "thresholds": {"mql": 25}},
    "marketo": {
        "name": "mkto",
        "fit": [{"field": "employees", "min": 200, "points": 10}],
        "behavior": [{"event": "fill_out_form", "points": 30},
                     {"event": "visit_webpage", "points": 10, "cap": 20},
                     {"event": "open_email", "points": 5}, {"event": "click_email", "points": 5},
                     {"event": "unsubscribe_email", "points": -20}],
        "thresholds": {"mql": 30}},
    "generic": {
        "name": "generic",
        "fit": [{"field": "seniority", "in": ["vp", "director", "c_level"], "points": 10}],
        "behavior": [{"event": "demo_request", "points": 40},
                     {"event": "pricing_page_view", "points": 15},
                     {"event": "email_open", "points": 3}],
        "thresholds": {"mql": 40}},
    "x-education": {
        "name": "xed",
        "fit": [{"field": "lead_origin", "in": ["Lead Add Form"], "points": 30},
                {"field": "occupation", "equals": "Working Professional", "points": 20},
                {"field": "time_on_website", "min": 900, "points": 20},
                {"field": "total_visits", "min": 5, "points": 10}],
        "thresholds": {"mql": 30}},
    "olist": {
        "name": "olist",
        "fit": [{"field": "origin", "in": ["paid_search", "organic_search", "direct_traffic"],
                 "points": 20},
                {"field": "landing_page_id", "equals": "a3e1b2c4d5f60718293a4b5c6d7e8f90",
                 "points": 15}],
        "thresholds": {"mql": 30}},
}

# format -> (source, options, expected replay numbers worked out by hand from the
# fixture rows and RULES; see the comments)
CASES = {
    # MQLs 51001, 51004, 51007 (50 points each), 51010 (40), 51011 (30). won: 51001 and
    # 51007 within 90 days; 51004/51010/51011 have none and m + 90 days passes the end of
    # the data (2025-04-07): immature. sql: all five MQLs reached it (51002 did too).
    "hubspot": (FIX / "hubspot" / "contacts.csv", {"timezone": "Europe/Berlin"},
                {"leads": 12, "mql": 5, "outcomes": {"mql": 8, "sql": 6, "opportunity": 4,
                                                     "won": 2},
                 "won": (2, 0, 3), "sql": (5, 0, 0), "sql_recall": 5 / 6, "events": 0}),
    # 18-character WhoIds in Task.csv match the report's 15-character Lead IDs. MQLs:
    # AbC01 (fit 20 + webinar), AbC04 (20 + trade show), AbC07 (20 + content, dated
    # the day it was created), AbC10 (10 + webinar). Every converted lead is one of them.
    "salesforce": (FIX / "salesforce" / "Lead.csv",
                   {"tasks": FIX / "salesforce" / "Task.csv",
                    "campaign_members": FIX / "salesforce" / "CampaignMember.csv"},
                   {"leads": 12, "mql": 4, "outcomes": {"sql": 4, "opportunity": 3,
                                                        "disqualified": 3},
                    "sql": (4, 0, 0), "sql_recall": 1.0, "events": 18}),
    # MQLs 3101 (10 + visit + form), 3104, 3107 (10 + form), 3111 (form). won: 3101 only.
    "marketo": (FIX / "marketo" / "activities.csv", {"leads": FIX / "marketo" / "leads.csv"},
                {"leads": 12, "mql": 4, "outcomes": {"mql": 4, "sql": 1, "opportunity": 1,
                                                     "won": 1},
                 "won": (1, 0, 3), "events": 14}),
    # MQLs C-01 (10 + 15 + 40), C-04, C-07 (10 + 40). won: C-01 and C-07; C-04 immature.
    "generic": (FIX / "generic", {}, {"leads": 12, "mql": 3,
                                      "outcomes": {"mql": 8, "opportunity": 4, "won": 2},
                                      "won": (2, 0, 1), "events": 12}),
    # snapshot: MQLs rows 1, 3, 6, 7 (all converted); row 10 converted without the score.
    "x-education": (FIX / "x-education" / "Leads.csv", {},
                    {"leads": 12, "mql": 4, "outcomes": {"won": 5, "lost": 7},
                     "won": (4, 0, 0), "won_recall": 0.8, "events": 0}),
    # MQLs 01, 02, 04, 07, 12 (35 points); won 01 (11 days), 04 (67 days); 02, 07, 12
    # never won and their 90 days ended before the last won date (2018-09-14): misses.
    "olist": (FIX / "olist", {}, {"leads": 12, "mql": 5, "outcomes": {"mql": 12, "won": 4},
                                  "won": (2, 3, 0), "won_recall": 0.5, "events": 0}),
}


def _mapping(fmt):
    if fmt == "generic":
        from calib.rules import read_toml

        return ImportMapping.from_dict(read_toml(FIX / "generic" / "mapping.toml"))
    return None


def _digest(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("fmt", list(CASES))
def test_fixture_imports_validates_and_replays(fmt, tmp_path):
    src, options, want = CASES[fmt]
    before = _digest(FIX / fmt)
    res = import_export(fmt, src, tmp_path / "data", mapping=_mapping(fmt), options=options)
    assert _digest(FIX / fmt) == before  # the export is never modified

    ds = load_dataset(tmp_path / "data")
    assert ds.n_leads == want["leads"] == res.leads
    assert res.outcomes == want["outcomes"]
    assert len(ds.events) == want["events"] == res.events
    r = replay(ds, RuleSet.from_dict(RULES[fmt]))
    d = r.to_dict()
    assert d["mql"]["count"] == want["mql"]
    for outcome in ("won", "sql"):
        if outcome in want:
            o = d["outcomes"][outcome]
            assert (o["hits"], o["misses"], o["immature"]) == want[outcome], outcome
        if f"{outcome}_recall" in want:
            assert d["outcomes"][outcome]["recall"] == pytest.approx(want[f"{outcome}_recall"])
    # the preset loaded in memory replays exactly like the imported files
    mem = load_preset(src, fmt, _mapping(fmt), **options)
    assert replay(mem, RuleSet.from_dict(RULES[fmt])).to_dict() == d


def test_parquet_output_replays_like_csv(tmp_path):
    src, options, _ = CASES["salesforce"]
    import_export("salesforce", src, tmp_path / "csv", options=options)
    import_export("salesforce", src, tmp_path / "pq", options=options, table_format="parquet")
    assert sorted(p.name for p in (tmp_path / "pq").iterdir()) == [
        "events.parquet", "leads.parquet", "outcomes.parquet"]
    rules = RuleSet.from_dict(RULES["salesforce"])
    assert (replay(load_dataset(tmp_path / "pq"), rules).to_dict()
            == replay(load_dataset(tmp_path / "csv"), rules).to_dict())


def test_hubspot_timezone_and_leaking_columns(tmp_path):
    t = read_tables("hubspot", FIX / "hubspot" / "contacts.csv",
                    options={"timezone": "Europe/Berlin"})
    # "2025-01-06 09:14" in Berlin (UTC+1 in winter)
    assert t.leads.loc[0, "created_at"] == pd.Timestamp("2025-01-06 08:14", tz="UTC")
    for col in ("Lifecycle Stage", "Lead Status", "HubSpot Score", "Became a Lead Date",
                "Email", "First Name"):
        assert col in t.excluded
    assert {"page_views", "sessions", "form_submissions", "employees", "country",
            "source"} <= set(t.leads.columns)
    assert "lifecycle_stage" not in t.leads.columns
    kept = read_tables("hubspot", FIX / "hubspot" / "contacts.csv",
                       options={"keep_leaking": True})
    assert {"lifecycle_stage", "hubspot_score"} <= set(kept.leads.columns)
    assert "email" not in kept.leads.columns  # personal data is never kept


def test_salesforce_ids_tasks_and_campaigns():
    src, options, _ = CASES["salesforce"]
    t = read_tables("salesforce", src, options=options)
    ev = t.events
    # 12 task rows - 1 open task - 1 contact's task; 12 members - 4 that never responded
    assert (ev["event_type"].str.startswith("task_")).sum() == 10
    assert (ev["event_type"].str.startswith("campaign_response_")).sum() == 8
    assert set(ev["lead_id"]) <= set(t.leads["lead_id"])
    assert t.leads["lead_id"].str.len().eq(15).all()
    # "1,200" and "5,000" employees are numbers
    assert t.leads.set_index("lead_id").loc["00Q5g00000AbC04", "employees"] == 1200
    conv = t.outcomes[t.outcomes["outcome"] == "sql"]
    assert sorted(conv["lead_id"]) == ["00Q5g00000AbC01", "00Q5g00000AbC04",
                                       "00Q5g00000AbC07", "00Q5g00000AbC10"]
    # US report dates, read as UTC
    row = conv[conv["lead_id"] == "00Q5g00000AbC01"].iloc[0]
    assert row["occurred_at"] == pd.Timestamp("2025-01-20", tz="UTC")


def test_marketo_stage_changes_become_outcomes_and_system_activities_are_dropped():
    t = read_tables("marketo", FIX / "marketo" / "activities.csv",
                    options={"leads": FIX / "marketo" / "leads.csv"})
    assert set(t.events["event_type"]) == {"visit_webpage", "fill_out_form", "open_email",
                                           "click_email", "unsubscribe_email"}
    o = t.outcomes.set_index(["lead_id", "outcome"])["occurred_at"]
    assert o[("3101", "won")] == pd.Timestamp("2025-03-03 15:20", tz="UTC")
    assert o[("3107", "opportunity")] == pd.Timestamp("2025-02-24 16:45", tz="UTC")
    assert "leadScore" in t.excluded and "updatedAt" in t.excluded


def test_marketo_activity_type_names_work_as_well(tmp_path):
    (tmp_path / "leads.csv").write_text("Id,Created At,Job Title\n1,2025-01-01T00:00:00Z,VP\n"
                                        "2,2025-01-02T00:00:00Z,IC\n")
    (tmp_path / "activity_log.csv").write_text(textwrap.dedent("""\
        Lead ID,Activity Date,Activity Type,Primary Attribute Value,New Stage
        1,2025-01-01T10:00:00Z,Visit Webpage,/pricing,
        1,2025-01-02T10:00:00Z,Fill Out Form,Contact us,
        1,2025-01-03T10:00:00Z,Change Revenue Stage,Revenue Model,Marketing Qualified
        2,2025-01-03T11:00:00Z,Open Email,Newsletter,
        2,2025-01-04T11:00:00Z,Change Data Value,Job Title,
        """))
    ds = load_preset(tmp_path, "marketo")
    assert ds.event_types == ("fill_out_form", "open_email", "visit_webpage")
    assert ds.outcome_types == ("mql",)


def test_generic_wide_dates_amounts_and_day_first(tmp_path):
    t = read_tables("generic", FIX / "generic", _mapping("generic"))
    won = t.outcomes[t.outcomes["outcome"] == "won"].set_index("lead_id")
    assert won.loc["C-07", "amount"] == 58000
    # "07/04/2025 10:00" day first, Berlin summer time (UTC+2)
    assert won.loc["C-07", "occurred_at"] == pd.Timestamp("2025-04-07 08:00", tz="UTC")
    assert "Owner" not in t.leads.columns and "MQL Date" not in t.leads.columns
    assert {"seniority", "employees"} <= set(t.leads.columns)


def test_month_first_dates_that_are_day_first_get_a_suggestion(tmp_path):
    mapping = _mapping("generic").to_dict()
    mapping.pop("day_first")
    with pytest.raises(DataError) as e:
        read_tables("generic", FIX / "generic", mapping)
    assert e.value.codes == {"unparseable_timestamp"}
    assert "--day-first" in str(e.value) and "crm_contacts.csv" in str(e.value)


def test_missing_columns_are_all_reported_with_what_the_file_has(tmp_path):
    df = pd.read_csv(FIX / "hubspot" / "contacts.csv", dtype=str)
    df.drop(columns=["Record ID", "Create Date"]).to_csv(tmp_path / "contacts.csv", index=False)
    with pytest.raises(DataError) as e:
        read_tables("hubspot", tmp_path / "contacts.csv")
    assert e.value.codes == {"missing_column"}
    assert {p.column for p in e.value.problems} == {"Record ID", "Create Date"}
    text = str(e.value)
    assert "contacts.csv" in text and "the file has: First Name, Last Name" in text


def test_a_mapping_can_name_the_column(tmp_path):
    df = pd.read_csv(FIX / "hubspot" / "contacts.csv", dtype=str)
    df.rename(columns={"Record ID": "Contact Key"}).to_csv(tmp_path / "contacts.csv",
                                                           index=False)
    ds = load_preset(tmp_path / "contacts.csv", "hubspot",
                     {"columns": {"leads": {"lead_id": "Contact Key"}},
                      "exclude": {"leads": ["Industry"]}})
    assert ds.n_leads == 12 and "industry" not in ds.leads.columns


def test_mapping_errors(tmp_path):
    with pytest.raises(ConfigError) as e:
        ImportMapping.from_dict({"outcome_date": {"mql": "MQL Date"}})
    assert e.value.code == "unknown_key" and "outcome_dates" in str(e.value)
    with pytest.raises(ConfigError) as e:
        ImportMapping.from_dict({"timezone": "Mars/Olympus"})
    assert e.value.code == "invalid_value"
    bad = _mapping("generic").to_dict()
    bad["outcome_dates"]["won"] = "Won On"
    bad["exclude"] = {"leads": ["Nope"]}
    with pytest.raises(DataError) as e:
        read_tables("generic", FIX / "generic", bad)
    assert e.value.codes == {"mapping_missing_column"} and len(e.value.problems) == 2


def test_invalid_values_are_found_by_the_foundation(tmp_path):
    # a duplicate Record ID and an unparseable date: both reported, nothing written
    text = (FIX / "hubspot" / "contacts.csv").read_text().splitlines()
    text[2] = text[2].replace("51002", "51001", 1).replace("2025-01-07 13:30", "yesterday", 1)
    (tmp_path / "contacts.csv").write_text("\n".join(text) + "\n")
    with pytest.raises(DataError) as e:
        import_export("hubspot", tmp_path / "contacts.csv", tmp_path / "out")
    assert "unparseable_timestamp" in e.value.codes
    assert not (tmp_path / "out").exists()
    text[2] = text[2].replace("yesterday", "2025-01-07 13:30")
    (tmp_path / "contacts.csv").write_text("\n".join(text) + "\n")
    with pytest.raises(DataError) as e:
        import_export("hubspot", tmp_path / "contacts.csv", tmp_path / "out")
    assert e.value.codes == {"duplicate_lead_id"}
    assert not (tmp_path / "out").exists()


def test_unknown_format_and_missing_source(tmp_path):
    with pytest.raises(ConfigError) as e:
        read_tables("hubspt", FIX / "hubspot")
    assert e.value.code == "unknown_format" and "hubspot" in str(e.value)
    with pytest.raises(DataError) as e:
        read_tables("hubspot", tmp_path / "nope.csv")
    assert e.value.code == "missing_table"
    with pytest.raises(DataError) as e:
        read_tables("marketo", FIX / "marketo" / "activities.csv",
                    options={"leads": tmp_path / "none.csv"})
    assert e.value.code == "missing_table"


def test_output_folder_rules(tmp_path):
    out = tmp_path / "data"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(CalibError) as e:
        import_export("olist", FIX / "olist", out)
    assert e.value.code == "exists"
    (out / "leads.parquet").write_bytes(b"stale")  # another format's table is replaced
    import_export("olist", FIX / "olist", out, force=True)
    assert sorted(p.name for p in out.iterdir()) == ["leads.csv", "notes.txt", "outcomes.csv"]
    # a generic import whose source files are calib-named is never written over
    src = tmp_path / "export"
    src.mkdir()
    (src / "leads.csv").write_text("lead_id,created_at\na,2025-01-01\n")
    (src / "outcomes.csv").write_text("lead_id,outcome,occurred_at\na,won,2025-01-02\n")
    before = _digest(src)
    with pytest.raises(CalibError) as e:
        import_export("generic", src, src, force=True)
    assert e.value.code == "exists" and _digest(src) == before


def test_experiment_file_preset(tmp_path):
    from calib.pipeline.experiment import load_experiment

    (tmp_path / "rules.toml").write_text('name = "r"\n[thresholds]\nmql = 30\n'
                                         '[[fit]]\nfield = "page_views"\nmin = 20\npoints = 30\n')
    (tmp_path / "exp.toml").write_text(textwrap.dedent(f"""\
        name = "hs"
        [data]
        path = "{(FIX / 'hubspot' / 'contacts.csv').as_posix()}"
        preset = "hubspot"
        [data.exclude]
        leads = ["Industry"]
        [rules]
        baseline = "rules.toml"
        """))
    exp = load_experiment(tmp_path / "exp.toml")
    ds = load_experiment_data(exp)
    assert ds.n_leads == 12 and "industry" not in ds.leads.columns
    assert replay(ds, RuleSet.from_dict({"name": "r", "thresholds": {"mql": 30}, "fit": [
        {"field": "page_views", "min": 20, "points": 30}]})).mql_count == 5


# ------------------------------------------------------------------ command line
def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_import_json(capsys, tmp_path):
    code, out, err = run(capsys, "import", "salesforce", FIX / "salesforce", "--out",
                         tmp_path / "sf", "--json")
    assert code == 0
    d = json.loads(out)
    assert d["leads"] == 12 and d["events"] == 18 and d["outcomes"]["sql"] == 4
    assert "Lead Status" in d["excluded"]
    code, out, err = run(capsys, "validate", tmp_path / "sf", "--json")
    assert code == 0 and json.loads(out)["leads"] == 12


def test_cli_import_text_and_errors(capsys, tmp_path):
    code, out, err = run(capsys, "import", "generic", FIX / "generic", "--mapping",
                         FIX / "generic" / "mapping.toml", "--out", tmp_path / "g")
    assert code == 0 and "outcomes: mql 8, opportunity 4, won 2" in out
    code, out, err = run(capsys, "import", "hubspot", FIX / "salesforce" / "Lead.csv",
                         "--out", tmp_path / "h")
    assert code == 1 and "Traceback" not in err and "[missing_column]" in err
    assert "Record ID" in err and "Lead.csv" in err
    assert not (tmp_path / "h").exists()
    code, out, err = run(capsys, "import", "hubspot", FIX / "hubspot" / "contacts.csv",
                         "--out", tmp_path / "h", "--deals", "x.csv")
    assert code == 1 and "--deals is for the olist format" in err
    with pytest.raises(SystemExit) as e:
        main(["import", "dynamics", "x.csv", "--out", str(tmp_path / "d")])
    assert e.value.code == 2


def test_unknown_option_is_an_error():
    with pytest.raises(ConfigError) as e:
        read_tables("hubspot", FIX / "hubspot" / "contacts.csv", options={"timezon": "UTC"})
    assert e.value.code == "unknown_key" and "timezone" in str(e.value)
