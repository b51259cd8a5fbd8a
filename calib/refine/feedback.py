"""Sales feedback: how often sales reject the leads each band and each rule sends them.

A rejection is the first ``disqualified`` (or the outcome the user names) at most
``window_days`` after the MQL, or before it. Per rule, MQLs are grouped by the rule that
gave them the most points at their MQL time ("MQL'd mainly by"), and each group's
rejection rate is set against all other MQLs with a Katz interval for the ratio, at a
Bonferroni-corrected level over the rules tested. A rule whose MQLs sales reject far
more often is a candidate for the vanity-rule review.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from calib.data.dataset import Dataset, ns
from calib.refine._records import Tables
from calib.refine.speed import NEVER, first_times
from calib.rules import RuleSet
from calib.stats import proportion_ci, ratio_ci

MIN_MQLS = 30


@dataclass(frozen=True)
class FeedbackResult(Tables):
    """Rejection rates per band (``bands``) and per main rule (``rules_frame``), with the
    rules flagged (rejected clearly more often than other MQLs)."""

    rules: str
    rejected: str
    window_days: float
    mqls: int
    bands: pd.DataFrame
    rules_frame: pd.DataFrame
    flagged: tuple[str, ...]
    sentence: str

    _main = "rules_frame"
    _keys = {"rules_frame": "by_rule"}

    def summary(self) -> str:
        """The sentence, then one line per band."""
        lines = [f"Sales feedback ('{self.rejected}', rules '{self.rules}'): {self.sentence}"]
        for r in self.bands.itertuples():
            lines.append(f"  band {r.band:<6}{r.mqls:>8,} MQLs  rejected {100 * r.rate:.1f}% "
                         f"({100 * r.ci_low:.1f}–{100 * r.ci_high:.1f}%)")
        return "\n".join(lines)


def sales_feedback(ds: Dataset, rules: RuleSet, *, rejected: str = "disqualified",
                   window_days: float = 90, per_lead: pd.DataFrame | None = None
                   ) -> FeedbackResult:
    """Rejection rate of MQLs per band and per the rule that mainly made them MQLs.

    Parameters
    ----------
    ds : Dataset
        The lead history, with the rejections among its outcomes or events.
    rules : RuleSet
        The rule set whose MQLs sales judged.
    rejected : str
        The outcome (or event type) that records sales rejecting a lead.
    window_days : float
        How long after its MQL a rejection counts.
    per_lead : DataFrame, optional
        As for :func:`calib.refine.speed_to_lead`.

    Returns
    -------
    FeedbackResult
        With the rules rejected clearly more often than other MQLs in ``flagged``.

    Examples
    --------
    >>> from calib import load_dataset, load_rules, sales_feedback
    >>> res = sales_feedback(load_dataset("calib-demo/data"),
    ...                      load_rules("calib-demo/current.toml"))
    >>> res.flagged
    ()
    """
    from calib.refine._scores import lead_replay, rule_contributions

    r_t = first_times(ds, rejected, "rejection outcome", key="rejected")
    pl = per_lead if per_lead is not None else lead_replay(ds, rules, window_days)
    codes = np.flatnonzero(pl["mql_at"].notna().to_numpy())
    m = ns(pl["mql_at"].iloc[codes])
    r = r_t[codes]
    W = int(window_days * 86_400 * 10**9)
    rej = (r != NEVER) & (r <= m + W)
    decided = rej | (m + W <= ds.end_of_data.value)
    band = np.where(pl["sql_at"].notna().to_numpy()[codes] if "sql_at" in pl else False,
                    "sql", "mql")

    def rate_row(sel, **key):
        n, x = int(decided[sel].sum()), int(rej[sel & decided].sum())
        lo, hi = proportion_ci(x, n) if n else (np.nan, np.nan)
        return {**key, "mqls": int(sel.sum()), "decided": n, "rejected": x,
                "rate": x / n if n else np.nan, "ci_low": float(lo), "ci_high": float(hi)}

    bands = pd.DataFrame([rate_row(band == b, band=b) for b in ("mql", "sql")
                          if (band == b).any()])
    contrib, names, _ = rule_contributions(ds, rules, codes, m)
    main = np.array(names, dtype=object)[contrib.argmax(axis=1)] if contrib.size else \
        np.array([], dtype=object)
    rows = []
    tested = [n for n in names if (main == n).sum() >= MIN_MQLS and (main != n).sum() >= MIN_MQLS]
    alpha = 0.05 / max(len(tested), 1)
    for name in names:
        sel = main == name
        if not sel.any():
            continue
        row = rate_row(sel, rule=name)
        other = rate_row(~sel)
        row["other_rate"] = other["rate"]
        row["ratio"] = row["rate"] / other["rate"] if other["rate"] else np.nan
        lo = hi = np.nan
        if name in tested and row["rejected"] and other["rejected"]:
            lo, hi = ratio_ci(row["rejected"], row["decided"], other["rejected"],
                              other["decided"], alpha=alpha)
            lo, hi = 1 + float(lo), 1 + float(hi)
        row.update(ratio_low=lo, ratio_high=hi, flagged=bool(not np.isnan(lo) and lo > 1))
        rows.append(row)
    frame = pd.DataFrame(rows).sort_values("ratio", ascending=False, na_position="last") \
        if rows else pd.DataFrame()
    flagged = tuple(frame.loc[frame["flagged"], "rule"]) if len(frame) else ()
    return FeedbackResult(rules.name, rejected, float(window_days), int(codes.size), bands,
                          frame.reset_index(drop=True), flagged,
                          _sentence(bands, frame, flagged, rejected))


def _sentence(bands, frame, flagged, rejected) -> str:
    parts = []
    for r in bands.itertuples():
        if r.decided:
            parts.append(f"{100 * r.rate:.0f}% of {r.band.upper()}-band leads were {rejected} "
                         f"({100 * r.ci_low:.0f}–{100 * r.ci_high:.0f}%)")
    for name in flagged:
        r = frame[frame["rule"] == name].iloc[0]
        parts.append(f"leads MQL'd mainly by `{name}` are {rejected} {r['ratio']:.1f}x as often "
                     f"as other MQLs ({r['ratio_low']:.1f}–{r['ratio_high']:.1f}x)")
    if not flagged and len(frame):
        parts.append("no rule's MQLs are rejected measurably more often than the others")
    text = "; ".join(parts) + "." if parts else f"No MQL has a '{rejected}' outcome yet."
    return text[0].upper() + text[1:]
