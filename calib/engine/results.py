"""Sufficient statistics of a replay and the result object built from them.

Counts add up across partitions of leads (``+``), so the same code serves one machine
and a cluster. The only non-count statistic, the median days to MQL, keeps the list
of days (one float per MQL), which also concatenates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from calib.stats.intervals import proportion_ci


def _iso(ts) -> str | None:
    if ts is None or pd.isna(ts):
        return None
    return pd.Timestamp(ts).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _num(x, digits: int = 6):
    if x is None:
        return None
    x = float(x)
    if math.isnan(x):
        return None
    return round(x, digits)


@dataclass(frozen=True)
class OutcomeCounts:
    """How the MQLs of a replay fared against one outcome (SPEC section 3)."""

    hits: int = 0
    late: int = 0
    misses: int = 0
    immature: int = 0
    occurred: int = 0  # leads of the period whose outcome occurred (recall's denominator)

    def __add__(self, other: "OutcomeCounts") -> "OutcomeCounts":
        return OutcomeCounts(self.hits + other.hits, self.late + other.late,
                             self.misses + other.misses, self.immature + other.immature,
                             self.occurred + other.occurred)

    @property
    def decided(self) -> int:
        return self.hits + self.misses + self.late

    @property
    def rate(self) -> float | None:
        return self.hits / self.decided if self.decided else None

    @property
    def recall(self) -> float | None:
        return self.hits / self.occurred if self.occurred else None

    def ci(self, alpha: float = 0.05) -> tuple[float | None, float | None]:
        if not self.decided:
            return None, None
        lo, hi = proportion_ci(self.hits, self.decided, alpha=alpha, method="wilson")
        return float(lo), float(hi)

    def to_dict(self) -> dict:
        lo, hi = self.ci()
        return {"hits": self.hits, "late": self.late, "misses": self.misses,
                "immature": self.immature, "rate": _num(self.rate), "ci_low": _num(lo),
                "ci_high": _num(hi), "recall": _num(self.recall)}


@dataclass(frozen=True)
class StageCounts:
    """Leads reaching a stage (MQL or SQL), with their days from creation."""

    count: int = 0
    days: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __add__(self, other: "StageCounts") -> "StageCounts":
        return StageCounts(self.count + other.count, np.concatenate([self.days, other.days]))

    def median_days(self) -> float | None:
        d = self.days[~np.isnan(self.days)]
        return float(np.median(d)) if len(d) else None


@dataclass(frozen=True)
class ReplayStats:
    """Additive sufficient statistics of one configuration over some leads."""

    leads: int
    mql: StageCounts
    sql: StageCounts | None
    covered: int
    outcomes: dict

    def __add__(self, other: "ReplayStats") -> "ReplayStats":
        keys = list(dict.fromkeys([*self.outcomes, *other.outcomes]))
        return ReplayStats(
            leads=self.leads + other.leads,
            mql=self.mql + other.mql,
            sql=None if self.sql is None else self.sql + other.sql,
            covered=self.covered + other.covered,
            outcomes={k: self.outcomes.get(k, OutcomeCounts()) + other.outcomes.get(k, OutcomeCounts())
                      for k in keys},
        )


@dataclass(frozen=True)
class Period:
    """Which leads a replay counts (by ``created_at``) and where the data ends."""

    start: pd.Timestamp | None
    end: pd.Timestamp | None
    end_of_data: pd.Timestamp | None

    @property
    def weeks(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        days = (self.end - self.start) / pd.Timedelta(days=1)
        return days / 7 if days > 0 else None


@dataclass(frozen=True)
class ReplayResult:
    """The result of replaying one rule set over a data set.

    ``to_dict()`` is exactly what ``calib replay --json`` prints (SPEC section 4);
    ``per_lead`` holds one row per lead of the period when it was asked for.
    """

    rules: str
    stats: ReplayStats
    period: Period
    window_days: float
    snapshot: bool
    per_lead: pd.DataFrame | None = None
    warnings: tuple[str, ...] = ()

    def _stage(self, s: StageCounts | None) -> dict | None:
        if s is None:
            return None
        weeks = self.period.weeks
        per_week = None if (self.snapshot or not weeks) else s.count / weeks
        med = None if self.snapshot else s.median_days()
        return {"count": s.count, "per_week": _num(per_week, 4),
                "median_days_to_mql": _num(med, 4)}

    @property
    def mql_count(self) -> int:
        return self.stats.mql.count

    @property
    def coverage(self) -> float | None:
        return self.stats.covered / self.stats.mql.count if self.stats.mql.count else None

    def outcome(self, name: str) -> OutcomeCounts:
        return self.stats.outcomes.get(name, OutcomeCounts())

    def to_dict(self) -> dict:
        return {
            "rules": self.rules,
            "leads": self.stats.leads,
            "period_start": _iso(self.period.start),
            "period_end": _iso(self.period.end),
            "end_of_data": _iso(self.period.end_of_data),
            "snapshot": self.snapshot,
            "window_days": self.window_days,
            "mql": self._stage(self.stats.mql),
            "sql": self._stage(self.stats.sql),
            "coverage": _num(self.coverage),
            "outcomes": {k: v.to_dict() for k, v in self.stats.outcomes.items()},
            "warnings": list(self.warnings),
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per outcome with counts, rate, interval and recall."""
        rows = []
        for k, v in self.stats.outcomes.items():
            rows.append({"outcome": k, **v.to_dict()})
        return pd.DataFrame(rows)

    def summary(self) -> str:
        d = self.to_dict()
        lines = [f"Rule set '{self.rules}' over {d['leads']:,} leads"
                 + (f" created {d['period_start'][:10]} .. {d['period_end'][:10]}"
                    if d["period_start"] else "") + (" (snapshot)" if self.snapshot else "")]
        m = d["mql"]
        text = f"  MQLs: {m['count']:,}"
        if m["per_week"] is not None:
            text += f" ({m['per_week']:.1f} per week, median {m['median_days_to_mql']} days to MQL)"
        lines.append(text)
        if d["sql"] is not None:
            s = d["sql"]
            text = f"  SQLs: {s['count']:,}"
            if s["per_week"] is not None:
                text += f" ({s['per_week']:.1f} per week)"
            lines.append(text)
        if d["coverage"] is not None:
            lines.append(f"  coverage: {d['coverage']:.1%} of MQLs have a recorded sales outcome")
        if d["outcomes"]:
            lines.append(f"  within {self.window_days:g} days of MQL:" if not self.snapshot
                         else "  outcomes of MQLs:")
            lines.append(f"    {'outcome':<14}{'hits':>8}{'late':>7}{'misses':>8}{'immature':>9}"
                         f"{'rate':>8}  {'95% CI':<16}{'recall':>7}")
            for k, v in d["outcomes"].items():
                rate = "-" if v["rate"] is None else f"{v['rate']:.1%}"
                ci = "-" if v["ci_low"] is None else f"{v['ci_low']:.1%}-{v['ci_high']:.1%}"
                rec = "-" if v["recall"] is None else f"{v['recall']:.1%}"
                lines.append(f"    {k:<14}{v['hits']:>8,}{v['late']:>7,}{v['misses']:>8,}"
                             f"{v['immature']:>9,}{rate:>8}  {ci:<16}{rec:>7}")
        for w in self.warnings:
            lines.append(f"  warning: {w}")
        return "\n".join(lines)
