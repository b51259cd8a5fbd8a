"""The report's fit x engagement figure: the leads in cells of fit band x engagement
band with each cell's volume and rate, and the two-way MQL cutoff drawn on it. Draws
the cells :func:`calib.explorer.explorer_grid` computed (never computes)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from calib.report.figures import _png, plt


def fit_engagement(cells: pd.DataFrame, settings: dict, primary: str) -> bytes:
    """One panel per rule set (``cells["points"]``): cells coloured by rate, labelled
    with leads per week and rate (95% interval); ``settings`` maps the rule set to its
    (MQL cutoff, minimum fit or None), drawn as the line fit + engagement = cutoff and a
    dashed line at the minimum fit."""
    names = list(dict.fromkeys(cells["points"]))
    fig, axes = plt.subplots(len(names), 1, figsize=(5.4, 3.9 * len(names)), squeeze=False)
    cmap = plt.get_cmap("Blues")
    for ax, name in zip(axes[:, 0], names):
        g = cells[cells["points"] == name]
        for r in g.itertuples():
            rate = r.rate if np.isfinite(r.rate) else np.nan
            color = cmap(0.15 + 0.8 * rate) if np.isfinite(rate) else "#f2f2f2"
            ax.add_patch(plt.Rectangle((r.x, r.y), r.x2 - r.x, r.y2 - r.y, facecolor=color,
                                       edgecolor="white", linewidth=1.5))
            label = f"{r.cell}: {r.leads_per_week:,.1f}/wk\n" + (
                f"{100 * r.rate:.0f}% ({100 * r.rate_low:.0f}-{100 * r.rate_high:.0f}%)"
                if np.isfinite(r.rate) else "rate –")
            ax.text((r.x + r.x2) / 2, (r.y + r.y2) / 2, label, ha="center", va="center",
                    fontsize=6.5, color="white" if np.isfinite(rate) and rate > 0.5 else "#111")
        x0, x1 = g["x"].min(), g["x2"].max()
        y0, y1 = g["y"].min(), g["y2"].max()
        cutoff, min_fit = settings[name]
        xs = np.linspace(x0, x1, 50)
        ax.plot(xs, cutoff - xs, color="#c0392b", linewidth=1.8, label=f"cutoff {cutoff:g}")
        if min_fit is not None:
            ax.axvline(min_fit, color="#c0392b", linestyle="--", linewidth=1.4,
                       label=f"minimum fit {min_fit:g}")
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_xlabel("fit points")
        ax.set_ylabel("engagement (peak behaviour points)")
        ax.set_title(f"{name} rules", fontsize=9)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2,
                  frameon=False)
    fig.suptitle(f"Fit x engagement: leads per week and {primary} rate", fontsize=9)
    return _png(fig)


def add_fit_engagement(res, add) -> None:
    """Add the figure to a report being built (``add(name, table, png, caption)`` of
    :func:`calib.report.render.build`) when the run computed the explorer's cells."""
    data = getattr(res, "explorer", None)
    if data is None or data.cells.empty:
        return
    settings = {"current": (res.baseline.thresholds.mql, res.baseline.thresholds.mql_min_fit),
                "proposed": (res.proposed.thresholds.mql, res.proposed.thresholds.mql_min_fit)}
    basis = ("the exploration holdout leads of each cell (worked from creation)"
             if (data.cells["rate_basis"] == "holdout").any() else "recorded outcomes")
    # open band edges are infinite in the computation; the CSV leaves them empty
    table = data.cells.replace([np.inf, -np.inf], np.nan)
    add("fit_engagement", table, fit_engagement(data.cells, settings, data.primary),
        f"Leads of the evaluation period by fit band (C, B, A: thirds of the highest fit "
        f"score) and engagement band (1, 2, 3: thirds of the MQL cutoff), with leads per week "
        f"and the {data.primary} rate within {data.window_days:g} days of creation among "
        f"{basis}; the red line is the MQL cutoff on fit + engagement, the dashed one the "
        f"minimum fit. The what-if explorer moves both.")
