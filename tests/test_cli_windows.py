"""Every command with a window measures it from the data unless it is given: a seeded
world whose outcomes all arrive within ``N`` days of creation (and of assignment, and of
the MQL, which here is the moment of creation) gets a window near ``N`` from replay,
sweep, compare, abtest and run; an explicit window wins and leaves the text output as
it was."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from calib.cli.main import main

N = 10  # every outcome arrives within N days of its lead's creation
# every lead matches the fit rule, so it is an MQL the moment it is created and the
# delay from the MQL is the delay from creation
RULES = """name = "instant"

[[fit]]
field = "tier"
equals = "a"
points = 60

[[behavior]]
event = "web_visit"
points = 5

[decay]
kind = "none"

[thresholds]
mql = {mql}
"""
GRID = '"thresholds.mql" = [50, 55]\n'


def _world(folder, *, n=800, days=180, seed=3, delay=N, meeting_share=0.5,
           assigned_days=None):
    """Leads created over ``days`` days, a meeting (and for some an sql) within
    ``delay`` days of creation, assignments to two arms at creation for the leads of
    the last ``assigned_days`` days (all leads when None)."""
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp("2025-01-01", tz="UTC")
    created = t0 + pd.to_timedelta(np.sort(rng.uniform(0, days, n)), "D")
    ids = [f"L{i:04d}" for i in range(n)]
    iso = lambda t: pd.Series(t).dt.strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    leads = pd.DataFrame({"lead_id": ids, "created_at": iso(created), "tier": "a"})
    events = pd.DataFrame({"lead_id": ids, "occurred_at": iso(created),
                           "event_type": "web_visit"})
    rows = []
    for name, share in (("meeting", meeting_share), ("sql", meeting_share / 2)):
        has = rng.random(n) < share
        when = created[has] + pd.to_timedelta(rng.uniform(0.2, delay, has.sum()), "D")
        rows.append(pd.DataFrame({"lead_id": np.array(ids)[has], "outcome": name,
                                  "occurred_at": iso(when).to_numpy()}))
    outcomes = pd.concat(rows, ignore_index=True)
    folder.mkdir(parents=True, exist_ok=True)
    leads.to_csv(folder / "leads.csv", index=False)
    events.to_csv(folder / "events.csv", index=False)
    outcomes.to_csv(folder / "outcomes.csv", index=False)
    keep = np.ones(n, dtype=bool) if assigned_days is None else \
        created >= created.max() - pd.Timedelta(days=assigned_days)
    pd.DataFrame({"lead_id": np.array(ids)[keep],
                  "arm": np.where(rng.random(keep.sum()) < 0.5, "control", "b"),
                  "assigned_at": iso(created[keep]).to_numpy()}).to_csv(
        folder / "assignments.csv", index=False)
    return folder


@pytest.fixture
def world(tmp_path):
    data = _world(tmp_path / "data")
    for name, cutoff in (("a", 50), ("b", 55)):
        (tmp_path / f"{name}.toml").write_text(RULES.format(mql=cutoff), encoding="utf-8")
    (tmp_path / "grid.toml").write_text(GRID, encoding="utf-8")
    return tmp_path, data


def _json(capsys, *argv):
    code = main([str(a) for a in argv] + ["--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out), out.err


def _text(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out, out.err


def _commands(root, data):
    a, b = root / "a.toml", root / "b.toml"
    return {
        "replay": ["replay", data, "--rules", a],
        "sweep": ["sweep", data, "--rules", a, "--grid", root / "grid.toml"],
        "compare": ["compare", data, "--rules", a, "--rules", b, "--bootstrap", "20"],
        "abtest": ["abtest", data, "--outcome", "meeting"],
    }


@pytest.mark.parametrize("command", ["replay", "sweep", "compare", "abtest"])
def test_default_window_is_measured_near_n(capsys, world, command):
    root, data = world
    d, _ = _json(capsys, *_commands(root, data)[command])
    w = d["window"]
    assert w["source"] == "data"
    # the 95% quantile of delays uniform on (0.2, N) is 9.5: rounded up, N
    assert N - 2 <= w["days"] <= N, w
    assert f"95% of 'meeting' outcomes arrive within {w['days']:g} days" in w["sentence"]
    if command != "sweep":
        assert d["window_days"] == w["days"]
    text, _ = _text(capsys, *_commands(root, data)[command])
    assert f"Window: 95% of 'meeting' outcomes arrive within {w['days']:g} days" in text
    if command == "abtest":
        assert "of assignment" in text and f"within {w['days']:g} days after assignment" in text
    else:
        assert "of the MQL under 'instant'" in text


@pytest.mark.parametrize("command", ["replay", "sweep", "compare", "abtest"])
def test_an_explicit_window_wins_and_leaves_the_text_as_it_was(capsys, world, command):
    root, data = world
    argv = _commands(root, data)[command] + ["--window-days", "30"]
    d, _ = _json(capsys, *argv)
    assert d["window"]["source"] == "given" and d["window"]["days"] == 30
    if command != "sweep":
        assert d["window_days"] == 30
    text, _ = _text(capsys, *argv)
    assert "Window:" not in text


def test_sweep_rows_use_the_measured_window(capsys, world):
    """The window reaches the replays: with it measured, the hits are those of an
    explicit window of the same length, and more than with a window of 2 days."""
    root, data = world
    argv = _commands(root, data)["sweep"]
    d, _ = _json(capsys, *argv)
    same, _ = _json(capsys, *argv, "--window-days", f"{d['window']['days']:g}")
    short, _ = _json(capsys, *argv, "--window-days", "2")
    hits = [r["meeting_hits"] for r in d["top"]]
    assert hits == [r["meeting_hits"] for r in same["top"]]
    assert sum(hits) > sum(r["meeting_hits"] for r in short["top"])


def test_abtest_of_a_week_long_test_compares_by_default(capsys, tmp_path):
    """The e-mail test of the issue: outcomes within 7 days of assignment, a test 20 days
    long. A 90-day window compares nothing; the measured one does."""
    data = _world(tmp_path / "data", n=1500, days=200, delay=7, assigned_days=20)
    d, err = _json(capsys, "abtest", data, "--outcome", "meeting", "--window-days", "90")
    assert "nothing can be compared yet" in err and "--window-days 7" in err
    d, err = _json(capsys, "abtest", data, "--outcome", "meeting")
    assert "nothing can be compared yet" not in err
    assert d["window_days"] == 7 and d["window"]["start"] == "assigned"
    assert sum(d["mature"].values()) > 0


def test_no_mature_lead_says_why_and_which_window_would_give_some(capsys, tmp_path):
    """Too few dated outcomes to measure (the 90-day default) in data 60 days long: no
    lead is old enough, and the warning says so and names a window that leaves some."""
    data = _world(tmp_path / "data", n=300, days=60, meeting_share=0.04)
    (tmp_path / "a.toml").write_text(RULES.format(mql=50), encoding="utf-8")
    d, err = _json(capsys, "replay", data, "--rules", tmp_path / "a.toml")
    assert d["window"]["source"] == "default" and d["window_days"] == 90
    assert "No lead of the period is old enough for the 90-day window" in err
    assert "--window-days" in err and "of them mature" in err


def _experiment(root, data, window=None):
    text = ('name = "w"\noutcomes = ["meeting", "sql"]\n'
            + (f"window_days = {window}\n" if window is not None else "")
            + f'[data]\npath = "{data.name}"\n[rules]\nbaseline = "a.toml"\n'
            + '[fit]\nenabled = false\n[report]\nbootstrap = 20\n'
            + '[abtest]\nassignments = "data/assignments.csv"\ncontrol = "control"\n')
    p = root / f"exp{window or ''}.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_run_measures_the_window_unless_the_file_sets_one(capsys, world):
    root, data = world
    d, _ = _json(capsys, "run", _experiment(root, data), "--out", root / "r1")
    w = d["window"]
    assert w["source"] == "data" and N - 2 <= w["days"] <= N
    md = (root / "r1" / "report.md").read_text(encoding="utf-8")
    assert f"95% of 'meeting' outcomes arrive within {w['days']:g} days" in md
    # the live test measures its own window, from assignment (here: at creation)
    assert "days of assignment (95% of 'meeting' outcomes arrive within" in md
    d, _ = _json(capsys, "run", _experiment(root, data, 30), "--out", root / "r2")
    assert d["window"]["source"] == "given" and d["window"]["days"] == 30
    md = (root / "r2" / "report.md").read_text(encoding="utf-8")
    assert "outcomes arrive within" not in md
    assert "outcomes within 30 days of assignment;" in md


def test_snapshot_data_needs_no_window(capsys, tmp_path):
    """Undated data: replay says nothing of a window in its text, and its JSON says why."""
    rng = np.random.default_rng(1)
    n = 300
    ids = [f"S{i}" for i in range(n)]
    folder = tmp_path / "snap"
    folder.mkdir()
    pd.DataFrame({"lead_id": ids, "tier": rng.choice(["a", "b"], n)}).to_csv(
        folder / "leads.csv", index=False)
    pd.DataFrame({"lead_id": ids, "event_type": "web_visit"}).to_csv(
        folder / "events.csv", index=False)
    pd.DataFrame({"lead_id": ids[: n // 3], "outcome": "meeting"}).to_csv(
        folder / "outcomes.csv", index=False)
    (tmp_path / "a.toml").write_text(RULES.format(mql=50), encoding="utf-8")
    argv = ["replay", folder, "--rules", tmp_path / "a.toml"]
    d, _ = _json(capsys, *argv)
    assert d["window"]["source"] == "snapshot" and "no window needed" in d["window"]["sentence"]
    text, _ = _text(capsys, *argv)
    assert "Window:" not in text and "days" not in text and "outcomes of MQLs:" in text
