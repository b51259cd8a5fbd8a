"""Figures of the report. Each function draws a table it is given (never computes)
and returns PNG bytes; the same table is written beside it as CSV."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

DPI = 130  # pixels per inch of the PNGs
BLUE, ORANGE, GREY, GREEN, RED = "#1f5fa8", "#e07b1a", "#8a8a8a", "#2e8b57", "#c0392b"
COLORS = {"baseline": BLUE, "proposed": ORANGE}
# Figures are drawn at most 6 inches wide with 11-point text: shown 360 px wide on a phone,
# their text stays about 9 px tall.
plt.rcParams.update({"font.size": 11, "axes.spines.top": False, "axes.spines.right": False,
                     "axes.titlesize": 12, "figure.dpi": 110, "legend.fontsize": 10})


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    return buf.getvalue()


def funnel(table: pd.DataFrame, unit: str = "per week") -> bytes:
    """Current against proposed per stage (columns: stage, baseline, proposed, and
    optionally diff_low, diff_high: the 95% interval of the change, drawn as a bar under
    the pair)."""
    fig, ax = plt.subplots(figsize=(5.6, 0.9 * len(table) + 1.1))
    y = np.arange(len(table))
    h = 0.36
    ax.barh(y - h / 2, table["baseline"], h, color=BLUE, label="current")
    ax.barh(y + h / 2, table["proposed"], h, color=ORANGE, label="proposed")
    for i, (a, b) in enumerate(zip(table["baseline"], table["proposed"])):
        ax.text(a, i - h / 2, f" {a:,.1f}", va="center", fontsize=10)
        ax.text(b, i + h / 2, f" {b:,.1f}", va="center", fontsize=10)
    if {"diff_low", "diff_high"} <= set(table):
        lows = pd.to_numeric(table["diff_low"], errors="coerce")  # None: no interval
        highs = pd.to_numeric(table["diff_high"], errors="coerce")
        for i, (r, dl, dh) in enumerate(zip(table.itertuples(), lows, highs)):
            if np.isfinite(dl) and np.isfinite(dh):
                lo, hi = r.baseline + dl, r.baseline + dh
                ax.plot([max(lo, 0), hi], [i + h + 0.06] * 2, color=ORANGE, lw=2.5,
                        solid_capstyle="butt")
    ax.set_yticks(y, table["stage"])
    ax.invert_yaxis()
    ax.set_xlim(0, float(np.nanmax(table[["baseline", "proposed"]].to_numpy())) * 1.25)
    ax.set_xlabel(unit)
    ax.legend(loc="lower right", frameon=False)
    ax.set_title("Current vs proposed")
    return _png(fig)


def tradeoff(table: pd.DataFrame, primary: str, capacity: float | None,
             marks: dict) -> bytes:
    """Rate (with its 95% interval) and recall against MQL volume as the cutoff moves, per
    rule set; rows whose ``shown`` is False (too few decided MQLs) are left out.

    ``marks`` maps rule set label -> (mql_per_week, rate, recall, cutoff) of the chosen
    cutoffs.
    """
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(5.6, 6.4), sharex=True)
    if "shown" in table:
        table = table[table["shown"]]
    table = table.copy()
    for col in table.columns:  # missing values (None) as NaN, e.g. per week on a snapshot
        if col != "rules" and table[col].dtype == object:
            table[col] = pd.to_numeric(table[col], errors="coerce")
    # a snapshot has no weeks: volume is the number of MQLs
    xcol, xlabel = ("mql_per_week", "MQLs per week")
    if table["mql_per_week"].isna().all() and "mql_count" in table:
        xcol, xlabel = ("mql_count", "MQLs")
    for label, g in table.groupby("rules", sort=False):
        g = g.sort_values(xcol)
        c = COLORS.get(label, GREY)
        name = "current" if label == "baseline" else label
        x = g[xcol]
        ax1.plot(x, g[f"{primary}_rate"] * 100, "-o", ms=3, color=c, label=name)
        if f"{primary}_ci_low" in g:
            ax1.fill_between(x, g[f"{primary}_ci_low"] * 100, g[f"{primary}_ci_high"] * 100,
                             color=c, alpha=0.15, lw=0)
        ax2.plot(x, g[f"{primary}_recall"] * 100, "-o", ms=3, color=c, label=name)
    for label, (x, rate, recall, cut) in marks.items():
        c = COLORS.get(label, GREY)
        ax1.plot([x], [rate * 100], marker="*", ms=14, color=c, mec="black", mew=0.6, ls="none")
        ax1.annotate(f"cutoff {cut:.0f}", (x, rate * 100), textcoords="offset points",
                     xytext=(6, 6), fontsize=10)
        ax2.plot([x], [recall * 100], marker="*", ms=14, color=c, mec="black", mew=0.6, ls="none")
    for ax in (ax1, ax2):
        if capacity is not None:
            ax.axvline(capacity, color=GREY, ls="--", lw=1)
            ax.text(capacity, ax.get_ylim()[0], " capacity", color=GREY, va="bottom",
                    fontsize=10)
    ax2.set_xlabel(xlabel)
    ax1.set_ylabel(f"{primary} rate (%)")
    ax2.set_ylabel(f"{primary} recall (%)")
    ax1.set_title(f"{primary} rate per MQL vs volume (as recorded)")
    ax2.set_title(f"share of all {primary}s caught")
    ax1.legend(frameon=False)
    return _png(fig)


def score_distribution(table: pd.DataFrame, primary: str) -> bytes:
    """Histograms of peak scores, leads with and without the outcome (columns: rules,
    bin_left, bin_right, with_outcome, without_outcome)."""
    labels = list(dict.fromkeys(table["rules"]))
    fig, axes = plt.subplots(len(labels), 1, figsize=(5.6, 2.8 * len(labels)), squeeze=False)
    for ax, label in zip(axes[:, 0], labels):
        g = table[table["rules"] == label]
        width = (g["bin_right"] - g["bin_left"]).to_numpy()
        n_with = max(g["with_outcome"].sum(), 1)
        n_without = max(g["without_outcome"].sum(), 1)
        ax.bar(g["bin_left"], g["without_outcome"] / n_without * 100, width=width, align="edge",
               color=GREY, alpha=0.6, label=f"no {primary}")
        ax.bar(g["bin_left"], g["with_outcome"] / n_with * 100, width=width, align="edge",
               color=COLORS.get(label, BLUE), alpha=0.6, label=primary)
        thr = g["mql_cutoff"].iloc[0]
        ax.axvline(thr, color="black", lw=1, ls="--")
        ax.text(thr, ax.get_ylim()[1], " MQL", va="top")
        ax.set_title("current" if label == "baseline" else label)
        ax.set_xlabel("peak score")
        ax.set_ylabel("% of leads")
        ax.legend(frameon=False)
    return _png(fig)


def bands(table: pd.DataFrame, primary: str) -> bytes:
    """Outcome rate by score band (columns: rules, band, leads, rate)."""
    fig, ax = plt.subplots(figsize=(5.6, 3.2))
    labels = list(dict.fromkeys(table["rules"]))
    order = [b for b in ("cold", "warm", "mql", "sql") if b in set(table["band"])]
    x = np.arange(len(order))
    w = 0.8 / max(len(labels), 1)
    for i, label in enumerate(labels):
        g = table[table["rules"] == label].set_index("band").reindex(order)
        ax.bar(x + i * w - 0.4 + w / 2, g["rate"] * 100, w, color=COLORS.get(label, GREY),
               label="current" if label == "baseline" else label)
    ax.set_xticks(x, order)
    ax.set_ylabel(f"% with {primary}")
    ax.set_title(f"{primary} by highest score band reached")
    ax.legend(frameon=False)
    return _png(fig)


def curve(table: pd.DataFrame, x: str, y: str, title: str, xlabel: str, ylabel: str,
          mark: float | None = None, truth: float | None = None) -> bytes:
    """A line (e.g. the decay profile: half-life vs log-likelihood)."""
    fig, ax = plt.subplots(figsize=(5.6, 3.2))
    ax.plot(table[x], table[y], "-o", ms=3, color=BLUE)
    if mark is not None:
        ax.axvline(mark, color=ORANGE, lw=1.2, label=f"chosen {mark:.1f}")
    if truth is not None:
        ax.axvline(truth, color=GREEN, lw=1, ls=":", label=f"truth {truth:.1f}")
    if mark is not None or truth is not None:
        ax.legend(frameon=False)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return _png(fig)


def reliability(table: pd.DataFrame, primary: str) -> bytes:
    """Predicted vs observed probability (columns: predicted, observed, count or n, and
    optionally predicted_after: the same bins after a recalibration)."""
    fig, ax = plt.subplots(figsize=(4.6, 4.3))
    ax.plot([0, 1], [0, 1], color=GREY, lw=1, ls="--")
    n = table["count"] if "count" in table else table["n"]
    s = 20 + 180 * n / max(n.max(), 1)
    ax.scatter(table["predicted"], table["observed"], s=s, color=BLUE, alpha=0.8,
               label="calibrated on training")
    cols = ["predicted", "observed"]
    if "predicted_after" in table:
        ax.scatter(table["predicted_after"], table["observed"], s=s, color=ORANGE, alpha=0.8,
                   marker="D", label="recalibrated on recent weeks")
        cols.append("predicted_after")
        ax.legend(frameon=False, loc="upper left")
    hi = max(float(table[cols].max().max()) * 1.1, 0.05)
    ax.set_xlim(0, min(1, hi))
    ax.set_ylim(0, min(1, hi))
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed share")
    ax.set_title(f"Reliability: {primary}, out of time")
    return _png(fig)


def who_moves(table: pd.DataFrame) -> bytes:
    """Leads per who-moves cell (columns: cell, leads)."""
    fig, ax = plt.subplots(figsize=(5.6, 2.6))
    ax.barh(table["cell"], table["leads"], color=[BLUE, ORANGE, GREEN, GREY][:len(table)])
    for i, v in enumerate(table["leads"]):
        ax.text(v, i, f" {int(v):,}", va="center", fontsize=10)
    ax.invert_yaxis()
    ax.set_xlabel("leads")
    ax.set_title("Who becomes an MQL: current vs proposed")
    return _png(fig)


def forest(table: pd.DataFrame) -> bytes:
    """A/B differences with intervals (columns: label, diff, ci_low, ci_high, significant)."""
    fig, ax = plt.subplots(figsize=(5.6, 0.5 * len(table) + 1.2))
    y = np.arange(len(table))
    for i, row in enumerate(table.itertuples()):
        c = GREEN if row.significant else GREY
        ax.plot([row.ci_low * 100, row.ci_high * 100], [i, i], color=c, lw=2)
        ax.plot([row.diff * 100], [i], "o", color=c, zorder=3)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y, table["label"])
    ax.invert_yaxis()
    ax.set_xlabel("vs control (pts, 95% interval)")
    ax.set_title("Live test")
    return _png(fig)
