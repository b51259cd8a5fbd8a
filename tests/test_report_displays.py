"""The report's figures as Display objects: each draws its data on the Axes it is given,
and ``from_result`` gives the data (and the pixels) of the report's figure."""

from __future__ import annotations

import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import calib.report as report  # noqa: E402
from calib.report.figures import png  # noqa: E402


def _x(line) -> list:
    return np.asarray(line.get_xdata(), dtype=float).tolist()


def _y(line) -> list:
    return np.asarray(line.get_ydata(), dtype=float).tolist()


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_funnel_draws_two_bars_per_stage_and_the_intervals():
    t = pd.DataFrame({"stage": ["MQLs", "meetings", "wins"], "baseline": [118.0, 46.0, 9.0],
                      "proposed": [82.0, 48.0, 11.0], "diff_low": [-40.0, -3.0, None],
                      "diff_high": [-30.0, 6.0, None]})
    fig, ax = plt.subplots()
    d = report.FunnelDisplay(t).plot(ax=ax)
    assert d.ax_ is ax and d.figure_ is fig
    widths = [p.get_width() for p in ax.patches]
    assert widths == t["baseline"].tolist() + t["proposed"].tolist()
    # one interval line per stage that has one, from baseline + low to baseline + high
    assert [_x(line) for line in ax.lines] == [[78.0, 88.0], [43.0, 52.0]]
    assert [tick.get_text() for tick in ax.get_yticklabels()] == ["MQLs", "meetings", "wins"]


def test_tradeoff_draws_rate_and_recall_per_rule_set_on_two_axes():
    t = pd.DataFrame({"rules": ["baseline"] * 3 + ["proposed"] * 3,
                      "mql_per_week": [120.0, 90.0, 60.0, 110.0, 80.0, 50.0],
                      "meeting_rate": [0.35, 0.41, 0.48, 0.40, 0.47, 0.55],
                      "meeting_recall": [0.8, 0.7, 0.55, 0.85, 0.72, 0.6],
                      "shown": [True, True, False, True, True, True]})
    fig, axes = plt.subplots(2, 1)
    d = report.TradeoffDisplay(t, "meeting", None, {}).plot(ax=axes)
    assert list(d.ax_) == list(axes) and d.figure_ is fig
    rate, recall = axes[0].lines, axes[1].lines
    assert len(rate) == len(recall) == 2  # one line per rule set, no marks, no capacity
    # sorted by volume; the row with too few decided MQLs is left out
    assert _x(rate[0]) == [90.0, 120.0]
    assert _y(rate[0]) == pytest.approx([41.0, 35.0])
    assert _y(recall[1]) == pytest.approx([60.0, 72.0, 85.0])
    assert t["shown"].tolist() == [True, True, False, True, True, True]  # data untouched


def test_tradeoff_on_a_snapshot_draws_counts():
    t = pd.DataFrame({"rules": "baseline", "mql_per_week": [None, None],
                      "mql_count": [300, 200], "meeting_rate": [0.3, 0.4],
                      "meeting_recall": [0.9, 0.7]})
    d = report.TradeoffDisplay(t, "meeting", capacity=None, marks={}).plot()
    assert _x(d.ax_[0].lines[0]) == [200, 300]
    assert d.ax_[1].get_xlabel() == "MQLs"


def test_score_distribution_draws_shares_per_rule_set():
    t = pd.DataFrame({"rules": ["baseline"] * 2 + ["proposed"] * 2,
                      "bin_left": [0, 50, 0, 50], "bin_right": [50, 100, 50, 100],
                      "with_outcome": [1, 3, 2, 2], "without_outcome": [9, 1, 5, 5],
                      "mql_cutoff": [60, 60, 70, 70]})
    fig, axes = plt.subplots(2, 1)
    report.ScoreDistributionDisplay(t, "meeting").plot(ax=axes)
    heights = [p.get_height() for p in axes[0].patches]
    assert heights == pytest.approx([90, 10, 25, 75])  # without, then with; each sums to 100
    assert _x(axes[1].lines[0]) == [70, 70]  # the cutoff line
    with pytest.raises(ValueError, match="2 Axes"):
        report.ScoreDistributionDisplay(t, "meeting").plot(ax=axes[0])


def test_bands_draw_rates_in_band_order():
    t = pd.DataFrame({"rules": ["baseline"] * 3, "band": ["mql", "cold", "warm"],
                      "leads": [80, 500, 200], "rate": [0.4, 0.02, 0.1]})
    fig, ax = plt.subplots()
    report.BandsDisplay(t, "meeting").plot(ax=ax)
    assert [p.get_height() for p in ax.patches] == pytest.approx([2, 10, 40])
    assert [tick.get_text() for tick in ax.get_xticklabels()] == ["cold", "warm", "mql"]


def test_decay_draws_the_line_and_the_marks():
    t = pd.DataFrame({"h": [5.0, 10.0, 20.0], "ll": [-530.0, -512.0, -520.0]})
    fig, ax = plt.subplots()
    report.DecayDisplay(t, "h", "ll", "t", "x", "y", mark=10.0, truth=12.0).plot(ax=ax)
    assert _y(ax.lines[0]) == t["ll"].tolist()
    assert [_x(line)[0] for line in ax.lines[1:]] == [10.0, 12.0]


def test_reliability_draws_before_and_after():
    t = pd.DataFrame({"predicted": [0.1, 0.3], "observed": [0.08, 0.2], "n": [100, 50],
                      "predicted_after": [0.09, 0.22]})
    fig, ax = plt.subplots()
    report.ReliabilityDisplay(t, "meeting").plot(ax=ax)
    before, after = ax.collections
    assert before.get_offsets().tolist() == [[0.1, 0.08], [0.3, 0.2]]
    assert after.get_offsets().tolist() == [[0.09, 0.08], [0.22, 0.2]]
    assert before.get_sizes().tolist() == [200.0, 110.0]  # 20 + 180 * n / max(n)


def test_who_moves_and_the_live_test_draw_their_rows():
    fig, (ax1, ax2) = plt.subplots(2, 1)
    t = pd.DataFrame({"cell": ["a", "b", "c"], "leads": [40, 7, 3]})
    report.WhoMovesDisplay(t).plot(ax=ax1)
    assert [p.get_width() for p in ax1.patches] == [40, 7, 3]
    f = pd.DataFrame({"label": ["meeting · B", "won · B"], "diff": [0.04, -0.01],
                      "ci_low": [0.01, -0.03], "ci_high": [0.07, 0.01],
                      "significant": [True, False]})
    report.ABTestDisplay(f).plot(ax=ax2)
    intervals = ax2.lines[0:4:2]
    assert sum((_x(line) for line in intervals), []) == pytest.approx([1, 7, -3, 1])
    assert [line.get_color() for line in intervals] == ["#2e8b57", "#8a8a8a"]


def test_speed_to_lead_leaves_out_undecided_buckets():
    b = pd.DataFrame({"bucket": ["< 1 h", "1-4 h", "never"], "decided": [120, 80, 0],
                      "rate": [0.5, 0.4, np.nan], "ci_low": [0.4, 0.3, np.nan],
                      "ci_high": [0.6, 0.5, np.nan]})
    fig, ax = plt.subplots()
    report.SpeedToLeadDisplay(b, "meeting").plot(ax=ax)
    assert [p.get_height() for p in ax.patches] == pytest.approx([50, 40])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["< 1 h\n(n=120)", "1-4 h\n(n=80)"]


def test_a_new_figure_has_the_reports_size_unless_told():
    t = pd.DataFrame({"cell": ["a", "b"], "leads": [4, 2]})
    assert tuple(report.WhoMovesDisplay(t).plot().figure_.get_size_inches()) == (5.6, 2.6)
    d = report.WhoMovesDisplay(t).plot(figsize=(3, 2))
    assert tuple(d.figure_.get_size_inches()) == (3, 2)


# ------------------------------------------------------------- from a run's result
DISPLAYS = {"funnel": "FunnelDisplay", "tradeoff": "TradeoffDisplay",
            "score_distribution": "ScoreDistributionDisplay", "bands": "BandsDisplay",
            "decay": "DecayDisplay", "reliability": "ReliabilityDisplay",
            "who_moves": "WhoMovesDisplay", "abtest": "ABTestDisplay",
            "fit_engagement": "FitEngagementDisplay", "drift": "DriftDisplay",
            "speed_to_lead": "SpeedToLeadDisplay"}


@pytest.fixture(scope="module")
def built(demo_report):
    from calib.report.render import build

    _, res, folder = demo_report
    _, figures, tables = build(res)
    return res, figures, tables, folder


def _data(display) -> pd.DataFrame:
    for field in ("table", "cells", "periods", "buckets"):
        if hasattr(display, field):
            return getattr(display, field)
    raise AssertionError(display)


@pytest.mark.parametrize("name", sorted(DISPLAYS))
def test_from_result_gives_the_reports_data_and_pixels(built, name):
    res, figures, tables, folder = built
    d = getattr(report, DISPLAYS[name]).from_result(res)
    expected = tables[name]
    if name == "who_moves":  # the CSV holds every cell, the figure the MQL ones
        expected = expected[expected["label"].str.startswith("MQL")]
        pd.testing.assert_series_equal(d.table["leads"], expected["leads"])
    elif name == "fit_engagement":  # the CSV leaves open band edges empty
        pd.testing.assert_frame_equal(d.cells.replace([np.inf, -np.inf], np.nan), expected)
    else:
        pd.testing.assert_frame_equal(_data(d), expected)
    assert png(d) == figures[name] == (folder / "figures" / f"{name}.png").read_bytes()


def test_from_result_says_what_a_run_lacks(built):
    res = built[0]
    from dataclasses import replace

    bare = replace(res, abtest=None, comparison=None, refinement=None, explorer=None,
                   calibration=None, calibration_check=None)
    for name in ("ABTestDisplay", "WhoMovesDisplay", "DriftDisplay", "SpeedToLeadDisplay",
                 "FitEngagementDisplay", "ReliabilityDisplay"):
        with pytest.raises(ValueError):
            getattr(report, name).from_result(bare)


def test_every_display_is_public_and_imports_without_plotting():
    """``import calib.report`` loads no matplotlib; every name of its ``__all__`` then
    imports (in a fresh interpreter) and is a display with its own data and drawing."""
    code = ("import sys, calib.report as r\n"
            "before = 'matplotlib' in sys.modules\n"
            "print(before, *(getattr(r, n).__name__ for n in r.__all__))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    plotting, *names = out.stdout.split()
    assert plotting == "False"
    assert names == report.__all__ and len(names) == len(DISPLAYS) + 1
    for name in set(DISPLAYS.values()):
        cls = getattr(report, name)
        assert issubclass(cls, report.Display)
        assert {"from_result", "_draw"} <= set(vars(cls))


# ------------------------------------------------------------ the rules table's decay
@pytest.mark.parametrize("decay, words", [
    ({"kind": "none"}, "none (points never fade)"),
    ({"kind": "exponential", "half_life_days": 12.5}, "exponential, half-life 12.5 days"),
    ({"kind": "step", "percent": 50, "every_days": 7}, "step, 50% off every 7 days"),
    ({"kind": "window", "days": 30}, "window, points count for 30 days"),
    ({"kind": "linear", "days": 45}, "linear to zero over 45 days"),
])
def test_the_rules_table_says_each_decay_as_the_change_list_does(small_rules, decay, words):
    """One wording of a decay in the report: the rules table's and the rule changes'."""
    from types import SimpleNamespace

    from calib.report._context import rules_rows
    from calib.rules import RuleSet, load_rules
    from calib.rules.changes import rule_changes

    base = load_rules(small_rules)
    new = RuleSet.from_dict({**base.to_dict(), "decay": decay})
    res = SimpleNamespace(baseline=base, proposed=new)
    row = next(r for r in rules_rows(res, pd.DataFrame()) if r["rule"] == "decay")
    assert (row["current"], row["proposed"]) == ("exponential, half-life 30 days", words)
    assert row["changed"] == (words != row["current"])
    changes = [c.text for c in rule_changes(base, new) if c.kind == "decay"]
    assert changes == [f"decay {row['current']} → {words}"]
