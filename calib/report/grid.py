"""The report's fit x engagement figure: the leads in cells of fit band x engagement
band with each cell's volume and rate, and the two-way MQL cutoff drawn on it. Draws
the cells :func:`calib.explorer.explorer_grid` computed (never computes)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from calib.report.figures import _PanelPerRuleSet, plt, png


@dataclass(eq=False, repr=False)
class FitEngagementDisplay(_PanelPerRuleSet):
    """Leads per cell of fit band x engagement band, one panel per rule set.

    Cells are coloured by rate and labelled with leads per week and rate (95%
    interval); each panel draws its rule set's MQL cutoff as the line fit + engagement =
    cutoff and its minimum fit as a dashed line.

    Parameters
    ----------
    cells : DataFrame
        The cells of :class:`calib.explorer.ExplorerData`: ``points`` (the rule set),
        ``cell``, the corners ``x``, ``x2``, ``y``, ``y2``, ``leads_per_week``,
        ``rate``, ``rate_low`` and ``rate_high``.
    settings : dict
        Rule set -> ``(MQL cutoff, minimum fit or None)``.
    primary : str
        The outcome whose rate colours the cells.

    Examples
    --------
    >>> import pandas as pd
    >>> from calib.report import FitEngagementDisplay
    >>> cells = pd.DataFrame({"points": "current", "cell": ["C1", "A3"], "x": [0, 20],
    ...                       "x2": [20, 40], "y": [0, 40], "y2": [40, 80],
    ...                       "leads_per_week": [50.0, 4.0], "rate": [0.05, 0.6],
    ...                       "rate_low": [0.03, 0.4], "rate_high": [0.08, 0.8]})
    >>> d = FitEngagementDisplay(cells, {"current": (60, None)}, "meeting").plot()
    >>> len(d.ax_[0].patches)  # one rectangle per cell
    2
    >>> import matplotlib.pyplot as plt; plt.close(d.figure_)
    """

    cells: pd.DataFrame
    settings: dict
    primary: str
    _data, _by, _size = "cells", "points", (5.4, 3.9)

    @classmethod
    def from_result(cls, res) -> FitEngagementDisplay:
        """The explorer's cells of a run, with its current and proposed cutoffs
        (parameters as :meth:`Display.from_result`; a ValueError when the run computed
        no cells, e.g. on a snapshot)."""
        data = getattr(res, "explorer", None)
        if data is None or data.cells.empty:
            raise ValueError("The run computed no fit x engagement cells.")
        settings = {"current": (res.baseline.thresholds.mql,
                                res.baseline.thresholds.mql_min_fit),
                    "proposed": (res.proposed.thresholds.mql,
                                 res.proposed.thresholds.mql_min_fit)}
        return cls(data.cells, settings, data.primary)

    def _draw(self, axes) -> None:
        for ax, name in zip(axes, self._rule_sets()):
            self._panel(ax, name)
        self.figure_.suptitle(f"Fit x engagement: leads per week and {self.primary} rate",
                              fontsize=9)

    def _panel(self, ax, name) -> None:
        cmap = plt.get_cmap("Blues")
        g = self.cells[self.cells["points"] == name]
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
        cutoff, min_fit = self.settings[name]
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


def add_fit_engagement(res, add) -> None:
    """Add the figure to a report being built, when the run computed the explorer's cells.

    Parameters
    ----------
    res : ExperimentResult
        The result of :func:`calib.run_experiment`.
    add : callable
        ``add(name, table, png, caption)`` of :func:`calib.report.render.build`.

    Examples
    --------
    >>> from calib.report.grid import add_fit_engagement
    >>> class Run:  # a snapshot computes no explorer cells
    ...     explorer = None
    >>> added = []
    >>> add_fit_engagement(Run(), lambda *a: added.append(a))
    >>> added
    []
    """
    data = getattr(res, "explorer", None)
    if data is None or data.cells.empty:
        return
    basis = ("the exploration holdout leads of each cell (worked from creation)"
             if (data.cells["rate_basis"] == "holdout").any() else "recorded outcomes")
    # open band edges are infinite in the computation; the CSV leaves them empty
    table = data.cells.replace([np.inf, -np.inf], np.nan)
    add("fit_engagement", table, png(FitEngagementDisplay.from_result(res)),
        f"Leads of the evaluation period by fit band (C, B, A: thirds of the highest fit "
        f"score) and engagement band (1, 2, 3: thirds of the MQL cutoff), with leads per week "
        f"and the {data.primary} rate within {data.window_days:g} days of creation among "
        f"{basis}; the red line is the MQL cutoff on fit + engagement, the dashed one the "
        f"minimum fit. The what-if explorer moves both.")
