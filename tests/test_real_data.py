"""The public data sets in <repo>/../shared/data (or $CALIB_SHARED_DATA): X Education
(a snapshot) and the Olist marketing funnel (dated, right-censored). Counts are those
of each folder's PROVENANCE.md; the data is read in place, never copied into the repo.
Skips when the folder is absent (e.g. in CI)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

from calib.cli.main import main
from calib.data import load_dataset
from calib.engine import replay
from calib.engine.sweep import sweep
from calib.importers import import_export
from calib.rules import load_rules

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CALIB_SHARED_DATA") or REPO.parent / "shared" / "data")
XED = SHARED / "x_education_leads" / "Leads.csv"
OLIST = SHARED / "olist_marketing_funnel"
EXP = REPO / "experiments"

pytestmark = pytest.mark.skipif(not (XED.exists() and OLIST.exists()),
                                reason=f"the public data sets are not in {SHARED} (set "
                                       "CALIB_SHARED_DATA to their folder)")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def x_education(tmp_path_factory):
    out = tmp_path_factory.mktemp("real") / "x_education"
    res = import_export("x-education", XED, out)
    return res, load_dataset(out)


@pytest.fixture(scope="module")
def olist(tmp_path_factory):
    out = tmp_path_factory.mktemp("real") / "olist"
    res = import_export("olist", OLIST, out)
    return res, load_dataset(out)


def test_x_education_counts_from_provenance(x_education):
    res, ds = x_education
    # PROVENANCE.md: 9,240 unique Prospect IDs; Converted 3,561 = 1 and 5,679 = 0
    assert ds.n_leads == 9240 and ds.leads["lead_id"].is_unique
    assert res.outcomes == {"won": 3561, "lost": 5679}
    assert ds.snapshot
    # the leaking columns are left out; what was known before sales follow-up stays
    for col in ("Tags", "Lead Quality", "Lead Profile", "Asymmetrique Activity Index",
                "Asymmetrique Profile Score", "Last Activity", "Last Notable Activity"):
        assert col in res.excluded
    assert not {"tags", "lead_quality", "last_activity", "last_notable_activity"} \
        & set(ds.leads.columns)
    assert {"lead_origin", "lead_source", "occupation", "total_visits", "time_on_website",
            "page_views_per_visit"} <= set(ds.leads.columns)
    # "Select" is "not filled in": Specialization 1,438 blank + 1,942 Select
    assert ds.leads["specialization"].isna().sum() == 1438 + 1942
    # TotalVisits blank for 137 leads (PROVENANCE.md)
    assert ds.leads["total_visits"].isna().sum() == 137
    # the source file is untouched (sha256 of PROVENANCE.md)
    assert sha256(XED) == "1426dffd94246b8c7f08d1080d9c04115a0c4b67eadcba1ed9d2fa10d3762802"


def test_x_education_replay_and_sweep(x_education):
    _, ds = x_education
    rules = load_rules(EXP / "x_education_rules.toml")
    d = replay(ds, rules).to_dict()
    assert d["leads"] == 9240 and d["snapshot"] and d["mql"]["per_week"] is None
    won = d["outcomes"]["won"]
    # every lead has won or lost: coverage is complete and won + lost = MQLs
    assert d["coverage"] == 1.0
    assert won["hits"] + d["outcomes"]["lost"]["hits"] == d["mql"]["count"]
    # the rule set is far better than the base rate (3,561 / 9,240 = 38.5%)
    assert won["ci_low"] > 0.385 + 0.3
    assert (d["mql"]["count"], won["hits"]) == (2400, 1909)
    sw = sweep(ds, rules, {"thresholds.mql": [10, 20, 30, 40, 50, 60, 70]})
    counts = sw.frame["mql_count"].to_numpy()
    assert (np.diff(counts) <= 0).all()  # MQL volume never rises with the cutoff
    rates = sw.frame["won_rate"].to_numpy()
    assert rates[0] < rates[3] < rates[4]


def test_x_education_keep_leaking_shows_the_leak(tmp_path):
    # Tags set by sales nearly encode the outcome: a one-rule "score" on them beats
    # every honest rule set, which is why the importer leaves them out by default.
    import_export("x-education", XED, tmp_path / "leaky", options={"keep_leaking": True})
    ds = load_dataset(tmp_path / "leaky")
    from calib.rules import RuleSet

    leak = RuleSet.from_dict({"name": "tags", "fit": [
        {"field": "tags", "in": ["Will revert after reading the email", "Closed by Horizzon",
                                 "Lost to EINS"], "points": 50}], "thresholds": {"mql": 50}})
    won = replay(ds, leak).to_dict()["outcomes"]["won"]
    assert won["rate"] > 0.95 and won["recall"] > 0.6


def test_olist_counts_from_provenance(olist):
    res, ds = olist
    # PROVENANCE.md: 8,000 unique mql_ids, 842 closed deals that all join to an MQL
    assert ds.n_leads == 8000 and ds.leads["lead_id"].is_unique
    assert res.outcomes == {"mql": 8000, "won": 842}
    assert not ds.snapshot
    counts = ds.leads["origin"].value_counts(dropna=False)
    assert counts["organic_search"] == 2296 and counts["paid_search"] == 1586
    assert counts["unknown"] == 1099 and ds.leads["origin"].isna().sum() == 60
    assert ds.leads["landing_page_id"].nunique() == 495
    assert str(ds.leads["created_at"].min().date()) == "2017-06-14"
    assert str(ds.leads["created_at"].max().date()) == "2018-05-31"
    # the deal's firmographics never become lead attributes (they leak the outcome)
    assert set(ds.leads.columns) == {"lead_id", "created_at", "origin", "landing_page_id"}
    # one deal closed two days before its first contact (PROVENANCE.md)
    assert any("1 outcome row(s) happened before" in w for w in ds.warnings)
    for f, digest in (("olist_marketing_qualified_leads_dataset.csv",
                       "5537753b7549ce4068e52e2402c29f2773c5375fc0575520ae8f3f301f666573"),
                      ("olist_closed_deals_dataset.csv",
                       "1433f402d8fff00ca167579de641d9525f6e846368958c166f699ef1b0c31f3d")):
        assert sha256(OLIST / f) == digest


def test_olist_time_to_won(olist):
    _, ds = olist
    first = ds.first_outcomes()
    won = first[first["outcome"] == "won"]
    created = ds.leads["created_at"].to_numpy()[won["lead"].to_numpy()]
    days = (won["occurred_at"].to_numpy() - created) / np.timedelta64(1, "D")
    # PROVENANCE.md: median 14 days (in whole days), 90th percentile 162, max 427
    assert 14 <= np.median(days) < 15.5
    assert 160 <= np.percentile(days, 90) <= 165
    assert 427 <= days.max() < 428.5 and (days < 0).sum() == 1


def test_olist_replay_with_a_window_every_lead_completes(olist):
    _, ds = olist
    rules = load_rules(EXP / "olist_rules.toml")
    # 160 days: the last lead (2018-05-31) is mature at the end of the data (2018-11-14)
    d = replay(ds, rules, window_days=160, end="2018-05-31").to_dict()
    won = d["outcomes"]["won"]
    assert d["leads"] == 8000 and won["immature"] == 0
    assert (d["mql"]["count"], won["hits"], won["late"]) == (4901, 593, 1)
    # the rules beat working every lead (842 / 8,000 = 10.5%), out of time too
    assert won["ci_low"] > 0.105
    test = replay(ds, rules, window_days=160, start="2018-03-01", end="2018-05-31").to_dict()
    assert test["leads"] == 3829
    assert test["outcomes"]["won"]["rate"] > 458 / 3829


def test_cli_import_and_experiment_files(tmp_path, capsys):
    from calib.pipeline.experiment import load_experiment

    code = main(["import", "olist", str(OLIST), "--out", str(tmp_path / "o"), "--json"])
    assert code == 0 and json.loads(capsys.readouterr().out)["outcomes"]["won"] == 842
    for name in ("x_education", "olist"):
        exp = load_experiment(EXP / f"{name}.toml")
        assert exp.data.path.resolve() == (REPO / "build" / name).resolve()
        assert exp.primary_outcome == "won" and exp.sweep
