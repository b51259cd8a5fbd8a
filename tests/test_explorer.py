"""The what-if explorer: its grid equals calib.sweep, its fixed settings show the
report's numbers, and explorer.html works offline in a browser at 400 px."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import calib
from calib.demo import generate_demo
from calib.explorer import explorer_grid
from calib.explorer.grid import cutoff_values
from calib.importers import load_experiment_data
from calib.pipeline.experiment import load_experiment
from calib.pipeline.run import run_experiment
from calib.report.render import write_report

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("explorer")
    world = generate_demo(root / "w", n_leads=4000, seed=2)
    exp = load_experiment(world.experiment)
    res = run_experiment(exp)
    folder = write_report(res, root / "out" / "demo")
    ds = load_experiment_data(exp)
    return exp, ds, res, folder


def _sweep_of(data, ds, points, decay):
    """calib.sweep of one part of the explorer's grid, run independently."""
    (rules, grid), = [(rs, g) for p, d, rs, g in data.sweeps
                      if p == points and d == decay and len(g) == 2]
    return calib.sweep(ds, rules, grid, window_days=data.window_days, start=data.start,
                       end=data.end, progress=False), grid


def test_every_grid_point_equals_calib_sweep(demo_run):
    _, ds, res, _ = demo_run
    data = res.explorer
    checked = 0
    for points in ("current", "proposed"):
        for decay in data.controls["decay"][:3]:
            sw, _ = _sweep_of(data, ds, points, decay)
            s = sw.frame
            for _, row in s.iterrows():
                mf = row["thresholds.mql_min_fit"]
                label = "none" if mf is None or np.isnan(mf) else f"{mf:g}"
                setting = {**(data.current if points == "current" else data.proposed),
                           "decay": decay, "cutoff": float(row["thresholds.mql"]),
                           "min_fit": label}
                r = data.row(setting)
                assert r["mql_per_week"] == pytest.approx(row["mql_per_week"], rel=1e-3)
                rate = row[f"{data.primary}_rate"]
                assert r["recorded_rate"] == pytest.approx(rate, abs=1e-6, nan_ok=True) \
                    if rate is not None else np.isnan(r["recorded_rate"])
                checked += 1
    assert checked >= 6 * len(data.controls["cutoff"])


def test_fixed_settings_show_the_reports_numbers(demo_run):
    _, _, res, _ = demo_run
    data, e = res.explorer, res.recommendations.package.alone  # both rule sets as written
    p = data.primary
    for i, setting in enumerate((data.current, data.proposed)):
        r = data.row(setting)
        assert r["basis"] == "report"
        assert r["mql_per_week"] == pytest.approx(e.mql_per_week[i], rel=1e-9)
        assert r["rate"] == pytest.approx(e.rates[p][i], rel=1e-9)
        assert r["hits_per_week"] == pytest.approx(e.hits_per_week[p][i], rel=1e-9)
        # level intervals around the point (bootstrap percentiles)
        assert r["rate_low"] <= r["rate"] <= r["rate_high"]
        assert r["mql_per_week_low"] <= r["mql_per_week"] <= r["mql_per_week_high"]
    assert data.basis == e.basis


def test_volume_never_rises_with_the_cutoff(demo_run):
    data = demo_run[2].explorer
    keys = [c for c in data.controls if c != "cutoff"]
    for _, g in data.frame.groupby(keys):
        v = g.sort_values("cutoff")["mql_per_week"].to_numpy()
        assert (np.diff(v) <= 1e-12).all()


def test_cells_hold_every_lead_once(demo_run):
    res = demo_run[2]
    data = res.explorer
    n = res.test_replays["baseline"].stats.leads
    for points, g in data.cells.groupby("points"):
        assert g["leads"].sum() == n
        ok = g["rate"].notna()
        assert ((g.loc[ok, "rate_low"] <= g.loc[ok, "rate"])
                & (g.loc[ok, "rate"] <= g.loc[ok, "rate_high"])).all()


def test_cutoff_values_cover_both_cutoffs_in_round_steps():
    v = cutoff_values(85, 95, [65, 105])
    assert {85.0, 95.0, 65.0, 105.0} <= set(v)
    assert min(v) <= 42.5 and max(v) >= 142.5
    assert len(v) <= 32


def test_band_edges_from_the_rule_sets_own_points():
    from calib.explorer.grid import band_edges
    from calib.rules import RuleSet

    rules = RuleSet.from_dict({
        "name": "r", "thresholds": {"mql": 90},
        "fit": [{"field": "seniority", "equals": "vp", "points": 10},
                {"field": "seniority", "equals": "director", "points": 6},
                {"field": "employees", "min": 200, "points": 8},
                {"field": "country", "equals": "US", "points": 6}],
        "behavior": [{"event": "demo_request", "points": 30}]})
    fit, engagement = band_edges(rules)
    # highest fit score: 10 (seniority, its best rule) + 8 + 6 = 24 -> thirds 8, 16
    assert fit == (-np.inf, 8.0, 16.0)
    assert engagement == (-np.inf, 30.0, 60.0)  # thirds of the MQL cutoff


def test_decays_that_read_alike_stay_apart():
    from calib.explorer.grid import _decays
    from calib.rules import RuleSet

    def rules(h):
        return RuleSet.from_dict({"name": "r", "thresholds": {"mql": 50},
                                  "decay": {"kind": "exponential", "half_life_days": h},
                                  "behavior": [{"event": "demo_request", "points": 30}]})
    # both print as "half-life 14 days" (six significant digits)
    opts, own = _decays(rules(14.000001), rules(14.000004), [7, 14])
    table = dict(opts)
    assert own["current"] != own["proposed"]
    assert table[own["current"]]["half_life_days"] == 14.000001
    assert table[own["proposed"]]["half_life_days"] == 14.000004
    # the grid's 14 days reads like the current decay and is left out
    assert sum(d["half_life_days"] == 14.0 for d in table.values()) == 0
    assert len(opts) == 3  # the two own decays and 7


def test_sentence_in_words():
    from collections import namedtuple

    from calib.explorer.grid import sentence

    Row = namedtuple("Row", "cutoff mql_per_week rate rate_low rate_high hits_per_week")
    r = Row(70.0, 82.2, 0.52, 0.48, 0.56, 39.0)
    assert sentence(r, "meeting", 75).startswith(
        "At cutoff 70: 82 MQLs a week, above capacity by 7; meeting rate 52% (48-56%)")
    assert "below capacity by 5" in sentence(r._replace(mql_per_week=70.0), "meeting", 75)
    assert "capacity" not in sentence(r, "meeting", None)


def test_report_has_the_grid_figure(demo_run):
    folder = demo_run[3]
    assert (folder / "figures" / "fit_engagement.png").is_file()
    cells = pd.read_csv(folder / "tables" / "fit_engagement.csv")
    assert set(cells["cell"]) == {f + e for f in "ABC" for e in "123"}
    assert "figures/fit_engagement.png" in (folder / "report.md").read_text(encoding="utf-8")


def test_explorer_grid_alone_and_in_partitions_matches(demo_run):
    """Called alone (no replays handed in) and scoring 700 leads at a time, the
    computation gives the same grid as in the run."""
    exp, ds, res, _ = demo_run
    data = res.explorer
    again = explorer_grid(ds, res.baseline, res.proposed, primary=data.primary,
                          window_days=data.window_days, start=data.start, end=data.end,
                          capacity_mql_per_week=data.capacity_mql_per_week,
                          changes=[c.what for c in res.recommendations.changes],
                          sweep_grid=exp.sweep, partition_leads=700)
    assert res.test_replays["baseline"].stats.leads > 1400  # three partitions or more
    pd.testing.assert_frame_equal(again.frame, data.frame)
    pd.testing.assert_frame_equal(again.cells, data.cells)
    d = again.to_dict()
    assert len(d["rows"]) == len(data.frame) and d["controls"] == data.controls
    json.loads(json.dumps(d, allow_nan=False))  # JSON-safe: no NaN or infinity


def test_report_links_the_explorer(demo_run):
    folder = demo_run[3]
    assert (folder / "explorer.html").is_file()
    assert 'href="explorer.html"' in (folder / "report.html").read_text(encoding="utf-8")
    assert "(explorer.html)" in (folder / "report.md").read_text(encoding="utf-8")
    size = (folder / "explorer.html").stat().st_size
    assert size < 5e6


# ------------------------------------------------------------------------- in a browser
def _browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    pw = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    return pw.sync_playwright


def _open(p, path: Path, width: int):
    browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors, outside = [], []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    def route(r):
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()
    page.route("**/*", route)
    page.goto(path.resolve().as_uri())
    page.wait_for_selector("svg text", timeout=30_000)
    return browser, page, errors, outside


def _shown(page, primary):
    """The figures the page displays for the chosen setting."""
    texts = page.evaluate("Array.from(document.querySelectorAll('svg text'))"
                          ".map(t => t.textContent)")
    text = " ".join(texts)
    mql = re.search(r"MQLs per week: ([\d,.]+)", text)
    rate = re.search(rf"{primary} rate per MQL: ([\d.]+)%", text)
    cut = re.search(r"At cutoff ([\d.]+):", text)
    return (float(mql.group(1).replace(",", "")), float(rate.group(1)) / 100,
            float(cut.group(1)))


def _set(page, name, value):
    radio = page.locator(f"input[type='radio'][name='{name}'][value='{value}']")
    if radio.count():
        radio.check()
        page.wait_for_timeout(300)
        return
    page.locator(f"[name='{name}']").first.evaluate(
        "(el, v) => { el.value = v; el.dispatchEvent(new Event(el.tagName === 'SELECT' ? "
        "'change' : 'input', {bubbles: true})); }", str(value))
    page.wait_for_timeout(300)


def test_page_in_chromium_moves_with_the_cutoff(demo_run):
    sync_playwright = _browser()
    _, ds, res, folder = demo_run
    data = res.explorer
    e = res.recommendations.package.alone  # both rule sets as written
    with sync_playwright() as p:
        browser, page, errors, outside = _open(p, folder / "explorer.html", 1000)
        try:
            # opens at the proposed setting: the report's numbers
            mql, rate, cut = _shown(page, data.primary)
            assert cut == data.proposed["cutoff"]
            assert mql == pytest.approx(e.mql_per_week[1], abs=0.05)
            assert rate == pytest.approx(e.rates[data.primary][1], abs=0.0005)
            # another decay (outside the report-basis subset) and other cutoffs: the
            # sweep's values for that cutoff
            decay = next(d for d in data.controls["decay"] if d != data.proposed["decay"])
            _set(page, "decay", decay)
            sw, _ = _sweep_of(data, ds, "proposed", decay)
            s = sw.frame
            mf = data.proposed["min_fit"]
            s = s[s["thresholds.mql_min_fit"].isna()] if mf == "none" else \
                s[s["thresholds.mql_min_fit"] == float(mf)]
            for c in (data.controls["cutoff"][2], data.controls["cutoff"][-3]):
                _set(page, "cutoff", c)
                mql, rate, cut = _shown(page, data.primary)
                row = s[s["thresholds.mql"] == c].iloc[0]
                assert cut == c
                assert mql == pytest.approx(row["mql_per_week"], abs=0.05)
                assert rate == pytest.approx(row[f"{data.primary}_rate"], abs=0.0005)
            # back at the current setting: the report's numbers for the current rules
            for k in ("points", "decay", "min_fit", *[f"r{i}" for i in range(len(data.rules))]):
                key = data.rules[int(k[1:])][0] if k.startswith("r") and k[1:].isdigit() else k
                v = data.current[key]
                _set(page, k, f"{v:g}" if isinstance(v, float) else v)
            _set(page, "cutoff", data.current["cutoff"])
            mql, rate, _ = _shown(page, data.primary)
            assert mql == pytest.approx(e.mql_per_week[0], abs=0.05)
            assert rate == pytest.approx(e.rates[data.primary][0], abs=0.0005)
        finally:
            browser.close()
    assert errors == []
    assert outside == []


def test_page_works_at_400_px(demo_run):
    sync_playwright = _browser()
    folder = demo_run[3]
    with sync_playwright() as p:
        browser, page, errors, outside = _open(p, folder / "explorer.html", 400)
        try:
            assert page.evaluate("document.documentElement.scrollWidth") <= 400
            box = page.locator("[name='cutoff']").first.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 400
        finally:
            browser.close()
    assert errors == [] and outside == []


@pytest.mark.parametrize("holdout", [True, False])
def test_fixed_settings_match_paired_effect_without_capacity(demo_run, holdout):
    """Without a capacity (and without a holdout: recorded outcomes), the fixed settings
    still show what calib.pipeline.recommend.paired_effect gives."""
    import dataclasses

    from calib.fit.selection import SelectionLabels
    from calib.pipeline.recommend import paired_effect

    _, ds, res, _ = demo_run
    if not holdout:
        ds = dataclasses.replace(ds, leads=ds.leads.drop(columns=["exploration_holdout"]))
    data = res.explorer
    a, b = res.test_replays["baseline"], res.test_replays["proposed"]
    labels = SelectionLabels.from_dataset(ds, a.per_lead, (data.primary,), data.window_days)
    assert (labels is not None) == holdout
    e = paired_effect(a, b, (data.primary,), data.primary, capacity_mql_per_week=None, labels=labels)
    again = explorer_grid(ds, res.baseline, res.proposed, primary=data.primary,
                          window_days=data.window_days, start=data.start, end=data.end,
                          replays={"current": a, "proposed": b})
    assert again.basis == e.basis
    for i, setting in enumerate((again.current, again.proposed)):
        r = again.row(setting)
        assert r["mql_per_week"] == pytest.approx(e.mql_per_week[i], rel=1e-9)
        assert r["rate"] == pytest.approx(e.rates[data.primary][i], rel=1e-9)
        assert r["hits_per_week"] == pytest.approx(e.hits_per_week[data.primary][i], rel=1e-9)
