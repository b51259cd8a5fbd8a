"""The "Since the last review" section: its context and its figures.

:func:`section` turns a :class:`calib.refine.RefinementResult` into the template
context of ``_since_last_review.{md,html}.j2`` and adds the section's figures and
tables to the report. The displays only draw the tables they are given.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from calib.report.figures import BLUE, GREY, ORANGE, RED, Display, png


def _part(result, name: str):
    """The refinement check ``name`` of a result: the check itself, or the one of a
    :class:`~calib.refine.RefinementResult` or of a run's ``refinement``."""
    if hasattr(result, "refinement"):
        result = result.refinement
    if result is not None and hasattr(result, "skipped"):
        result = getattr(result, name)
    if result is None:
        raise ValueError(f"The result holds no {name} check.")
    return result


@dataclass(eq=False, repr=False)
class DriftDisplay(Display):
    """Drift by period of lead creation, in four panels.

    The PSI of the score against its threshold, MQLs per week, the MQL band's outcome
    rate with its interval, and events per lead of the event types that moved most,
    relative to the reference.

    Parameters
    ----------
    periods, bands, mix : DataFrame
        The tables of a :class:`calib.refine.DriftResult`.
    outcome : str
        The outcome of the MQL band's rate panel.

    Examples
    --------
    >>> from calib import drift_audit, load_dataset, load_rules
    >>> from calib.report import DriftDisplay
    >>> drift = drift_audit(load_dataset("calib-demo/data"),
    ...                     load_rules("calib-demo/current.toml"), outcome="meeting")
    >>> d = DriftDisplay.from_result(drift).plot()
    >>> len(d.ax_[0].patches) == len(drift.periods)  # one PSI bar per period
    True
    >>> import matplotlib.pyplot as plt; plt.close(d.figure_)
    """

    periods: pd.DataFrame
    bands: pd.DataFrame
    mix: pd.DataFrame
    outcome: str
    panels = True

    @classmethod
    def from_result(cls, result) -> DriftDisplay:
        """The drift audit of ``result``: a ``DriftResult``, or the one of a
        ``RefinementResult`` or of a run (as :meth:`Display.from_result`; a ValueError
        when there is none)."""
        d = _part(result, "drift")
        return cls(d.periods, d.bands, d.mix, d.outcome)

    def _layout(self):
        # one column: legible at a phone's width, each panel with its whole title
        return 4, (5.6, 10.0), {}

    def _draw(self, axes) -> None:
        periods = self.periods
        x = np.arange(len(periods))
        ticks = periods["period"].tolist()
        step = max(1, len(ticks) // 8)
        self._psi(axes[0], x)
        ax = axes[1]
        ax.plot(x, periods["mql_per_week"], "-o", ms=3, color=BLUE)
        ax.set_title("MQLs per week (MQL by the same lead age)")
        ax.set_ylim(bottom=0)
        self._band_rate(axes[2], x, ticks)
        self._mix(axes[3], x, ticks)
        for ax in axes:
            ax.set_xticks(x[::step], ticks[::step], rotation=45, ha="right", fontsize=7)

    def _psi(self, ax, x) -> None:
        periods = self.periods
        colors = [RED if d else (GREY if r == "reference" else BLUE)
                  for d, r in zip(periods["drifted"], periods["role"])]
        ax.bar(x, periods["psi"].fillna(0), color=colors)
        ax.plot(x, periods["psi_threshold"], color="black", ls="--", lw=1, label="threshold")
        ax.set_title("score shift (PSI vs reference)")
        ax.legend(frameon=False, fontsize=8)

    def _band_rate(self, ax, x, ticks) -> None:
        bands = self.bands
        b = bands[(bands["band"] == "mql") & (bands["period"] != "reference")]
        b = b.set_index("period").reindex(ticks)
        ok = b["leads"].fillna(0).to_numpy() > 0
        ax.errorbar(x[ok], 100 * b["rate"].to_numpy()[ok],
                    yerr=100 * np.vstack([(b["rate"] - b["ci_low"]).to_numpy()[ok],
                                          (b["ci_high"] - b["rate"]).to_numpy()[ok]]),
                    fmt="o", ms=3, color=ORANGE, capsize=2)
        ax.set_title(f"MQL band: {self.outcome} rate (%, 95% CI)")

    def _mix(self, ax, x, ticks) -> None:
        mix = self.mix
        if not mix.empty:
            moved = (mix[mix["role"] == "audit"]
                     .assign(d=lambda f: np.log(f["ratio"].clip(lower=1e-3)).abs())
                     .groupby("event_type")["d"].max().sort_values(ascending=False))
            for e in moved.index[:4]:
                g = mix[mix["event_type"] == e].set_index("period").reindex(ticks)
                ax.plot(x, g["ratio"], "-o", ms=2.5, label=e)
            ax.axhline(1, color=GREY, lw=1)
            ax.legend(frameon=False, fontsize=7)
        ax.set_title("events per lead vs reference (ratio)")


@dataclass(eq=False, repr=False)
class SpeedToLeadDisplay(Display):
    """The outcome's rate per response-time bucket with 95% intervals (n under each).

    Parameters
    ----------
    buckets : DataFrame
        The ``buckets`` of a :class:`calib.refine.SpeedResult`: ``bucket``,
        ``decided``, ``rate``, ``ci_low`` and ``ci_high``; buckets with nothing decided
        are left out.
    outcome : str
        The outcome whose rate per MQL the bars show.

    Examples
    --------
    >>> import pandas as pd
    >>> from calib.report import SpeedToLeadDisplay
    >>> buckets = pd.DataFrame({"bucket": ["< 1 h", "1-4 h", "> 4 h"],
    ...                         "decided": [120, 80, 0], "rate": [0.5, 0.4, float("nan")],
    ...                         "ci_low": [0.41, 0.3, float("nan")],
    ...                         "ci_high": [0.59, 0.51, float("nan")]})
    >>> d = SpeedToLeadDisplay(buckets, "meeting").plot()
    >>> [round(p.get_height()) for p in d.ax_.patches]  # percent, decided buckets only
    [50, 40]
    >>> import matplotlib.pyplot as plt; plt.close(d.figure_)
    """

    buckets: pd.DataFrame
    outcome: str

    @classmethod
    def from_result(cls, result) -> SpeedToLeadDisplay:
        """The speed-to-lead check of ``result``: a ``SpeedResult``, or the one of a
        ``RefinementResult`` or of a run (as :meth:`Display.from_result`; a ValueError
        when there is none)."""
        s = _part(result, "speed")
        return cls(s.buckets, s.outcome)

    def _layout(self):
        return 1, (5.6, 2.8), {}

    def _draw(self, axes) -> None:
        ax = axes[0]
        b = self.buckets[self.buckets["decided"] > 0]
        x = np.arange(len(b))
        ax.bar(x, 100 * b["rate"], color=BLUE, alpha=0.8)
        ax.errorbar(x, 100 * b["rate"], yerr=100 * np.vstack([b["rate"] - b["ci_low"],
                                                              b["ci_high"] - b["rate"]]),
                    fmt="none", ecolor="black", capsize=3, lw=1)
        ax.set_xticks(x, [f"{lab}\n(n={n:,})" for lab, n in zip(b["bucket"], b["decided"])],
                      fontsize=7)
        ax.set_ylabel(f"{self.outcome} rate per MQL (%)")
        ax.set_title("outcome by time to first touch (association, not cause)")


def section(res, add, tables: dict) -> dict | None:
    """Context of "Since the last review"; adds the section's figures and tables.

    Parameters
    ----------
    res : ExperimentResult
        A run; its ``refinement`` is drawn.
    add : callable
        ``add(name, table, png, caption)`` of :func:`calib.report.render.build`: takes
        each figure.
    tables : dict
        Takes the section's other tables (name -> DataFrame).

    Returns
    -------
    dict or None
        The template context; None when the run has no refinement.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> section(SimpleNamespace(refinement=None), print, {}) is None
    True
    """
    r = getattr(res, "refinement", None)
    if r is None:
        return None
    out = {"skipped": list(r.skipped), "primary": r.primary, "rules": r.rules,
           "prediction": None, "before_after": None, "drift": None, "speed": None,
           "feedback": None}
    p = r.prediction
    if p is not None:
        out["prediction"] = {"headline": p.headline(), "status": p.status,
                             "metrics": [m.to_dict() for m in p.metrics],
                             "period": p.realised_period, "previous": p.previous,
                             "caveat": p.caveat}
        if p.status == "checked":
            tables["since_prediction"] = p.to_frame()
    ba = r.before_after if r.before_after is not None else (p.before_after if p else None)
    if ba is not None:
        out["before_after"] = {"summary": ba.summary(), "caveat": ba.caveat,
                               "rows": ba.frame.to_dict("records")}
        tables["since_before_after"] = ba.frame
    d = r.drift
    if d is not None:
        add("drift", d.periods, png(DriftDisplay.from_result(d)),
            f"Drift by {d.by} of lead creation against the reference ({d.reference}); red "
            f"bars: the score distribution moved beyond its threshold. Scores and event mix "
            f"at {d.score_age_days:g} days after creation.")
        tables["drift_bands"] = d.bands
        tables["drift_event_mix"] = d.mix
        out["drift"] = {"sentence": d.sentence, "findings": list(d.findings), "by": d.by,
                        "reference": d.reference}
    s = r.speed
    if s is not None:
        add("speed_to_lead", s.buckets, png(SpeedToLeadDisplay.from_result(s)),
            f"{s.outcome.capitalize()} rate of MQLs by the time from MQL to the first "
            f"'{s.first_touch}'. An association: sales may call the best leads first.")
        tables["speed_to_lead_weeks"] = s.weeks
        out["speed"] = {"sentence": s.sentence, "first_touch": s.first_touch,
                        "buckets": s.buckets.to_dict("records"),
                        "bands": s.bands.to_dict("records"), "sla": s.service_level}
    f = r.feedback
    if f is not None:
        tables["sales_feedback_bands"] = f.bands
        tables["sales_feedback_rules"] = f.rules_frame
        out["feedback"] = {"sentence": f.sentence, "rejected": f.rejected,
                           "bands": f.bands.to_dict("records"),
                           "rules": f.rules_frame.head(10).to_dict("records"),
                           "flagged": list(f.flagged)}
    return out
