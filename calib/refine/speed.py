"""Speed to lead: how fast sales first touched each MQL, and what followed.

The first touch is an outcome (e.g. ``contacted``) or event type the user names. Per
MQL the response time is the first touch minus the MQL time; a touch before the MQL
(a self-booked or explored lead) counts as an immediate response. The primary outcome's
rate by response-time bucket is an *association*: sales may call the best-looking
leads first, so a gap between buckets is not proof that speed causes it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from calib.data.dataset import Dataset, ns
from calib.refine._records import Tables
from calib.errors import ConfigError
from calib.rules import RuleSet
from calib.stats import diff_ci, proportion_ci

NEVER = np.iinfo(np.int64).max
HOUR_NS = 3600 * 10**9
MIN_DECIDED = 30
BUCKETS_HOURS = (1, 4, 24, 72)


def first_times(ds: Dataset, name: str, what: str = "first_touch",
                key: str = "first_touch") -> np.ndarray:
    """Each lead's first ``name`` (an outcome, else an event type), in nanoseconds.

    Parameters
    ----------
    ds : Dataset
    name : str
        An outcome type, else an event type, of the data.
    what, key : str
        How an error message names the setting (``[refine] key``).

    Returns
    -------
    ndarray of int64
        One time per lead, in the data set's lead order; ``NEVER`` for a lead without one.

    Raises
    ------
    ConfigError
        ``unknown_outcome`` when ``name`` is neither an outcome nor an event type.

    Examples
    --------
    >>> from calib import load_dataset
    >>> t = first_times(load_dataset("calib-demo/data"), "contacted")
    >>> int((t != NEVER).sum()), len(t)
    (630, 2000)
    """
    out = np.full(ds.n_leads, NEVER, dtype=np.int64)
    if name in ds.outcome_types:
        o = ds.outcomes[ds.outcomes["outcome"] == name]
        lead, t = o["lead"].to_numpy(), ns(o["occurred_at"])
    elif len(ds.events) and name in ds.event_types:
        e = ds.events[ds.events["event_type"] == name]
        lead, t = e["lead"].to_numpy(), ns(e["occurred_at"])
    else:
        raise ConfigError(f"The {what} '{name}' is neither an outcome nor an event type of the "
                          f"data (outcomes: {', '.join(ds.outcome_types) or 'none'}).",
                          code="unknown_outcome",
                          suggestion=f"Name the outcome or event that records it with "
                                     f"[refine] {key} (or --{key.replace('_', '-')}).")
    np.minimum.at(out, lead, t)
    return out


def bucket_labels(edges=BUCKETS_HOURS) -> list[str]:
    """The names of the response-time buckets cut at ``edges`` (hours).

    Parameters
    ----------
    edges : sequence of float
        Upper edges of the buckets but the last, in hours.

    Returns
    -------
    list of str

    Examples
    --------
    >>> bucket_labels((1, 24))
    ['< 1 h', '1–24 h', '24 h or more']
    """
    e = list(edges)
    return ([f"< {e[0]:g} h"] + [f"{a:g}–{b:g} h" for a, b in itertools.pairwise(e)]
            + [f"{e[-1]:g} h or more"])


@dataclass(frozen=True)
class SpeedResult(Tables):
    """Speed to lead of one rule set's MQLs.

    ``buckets``: MQLs and the outcome's rate (Wilson interval) per response-time bucket
    (plus "touched before MQL" and "not touched"); ``bands``: response-time quantiles per
    band; ``weeks``: per week of MQL; ``service_level``: the verdict on the target, or
    None without one; ``association``: fastest vs slowest bucket, or None."""

    rules: str
    first_touch: str
    outcome: str
    window_days: float
    mqls: int
    touched: int
    median_hours: float | None
    buckets: pd.DataFrame
    bands: pd.DataFrame
    weeks: pd.DataFrame
    service_level: dict | None
    association: dict | None
    sentence: str

    _main = "buckets"

    def summary(self) -> str:
        """The sentence, then one line per bucket."""
        lines = [f"Speed to lead ('{self.first_touch}' after MQL, rules '{self.rules}'): "
                 + self.sentence]
        for r in self.buckets.itertuples():
            rate = "–" if np.isnan(r.rate) else (f"{100 * r.rate:.1f}% ({100 * r.ci_low:.1f}–"
                                                  f"{100 * r.ci_high:.1f}%)")
            lines.append(f"  {r.bucket:<20}{r.mqls:>8,} MQLs   {self.outcome} rate {rate}")
        return "\n".join(lines)


def speed_to_lead(ds: Dataset, rules: RuleSet, *, outcome: str, first_touch: str = "contacted",
                  window_days: float = 90, service_level_hours: float | None = None,
                  service_level_share: float = 0.9, buckets_hours=BUCKETS_HOURS,
                  per_lead: pd.DataFrame | None = None) -> SpeedResult:
    """Response times of MQLs and the outcome's rate by response time.

    Parameters
    ----------
    ds : Dataset
    rules : RuleSet
        The rule set that made the MQLs.
    outcome : str
        The outcome whose rate is compared across response times.
    first_touch : str
        The outcome type that records sales' first touch of a lead.
    window_days : float
        Attribution window.
    service_level_hours : float, optional
        The target response time; without it there is no service-level verdict.
    service_level_share : float
        The share of MQLs the target asks to be touched within ``service_level_hours``.
    buckets_hours : sequence of float
        Upper edges of the response-time buckets, in hours.
    per_lead : DataFrame, optional
        The rule set's per-lead replay, when the caller has it (it is replayed otherwise).

    Returns
    -------
    SpeedResult
        With the service-level verdict (None without a target) and the association of
        speed with the outcome.

    Examples
    --------
    >>> from calib import load_dataset, load_rules, speed_to_lead
    >>> res = speed_to_lead(load_dataset("calib-demo/data"),
    ...                     load_rules("calib-demo/current.toml"), outcome="meeting",
    ...                     service_level_hours=4)
    >>> res.service_level["mqls"], res.service_level["within"], res.service_level["verdict"]
    (402, 277, 'missed')
    """
    touch = first_times(ds, first_touch)
    from calib.refine._scores import lead_replay

    pl = per_lead if per_lead is not None else lead_replay(ds, rules, window_days)
    codes = np.flatnonzero(pl["mql_at"].notna().to_numpy())
    m = ns(pl["mql_at"].iloc[codes])
    t = touch[codes]
    touched = t != NEVER
    hours = np.where(touched, np.maximum(t - m, 0) / HOUR_NS, np.nan)
    before = touched & (t < m)
    status = pl[f"status_{outcome}"].iloc[codes].astype(str).to_numpy()
    labels = bucket_labels(buckets_hours)
    buckets = _bucket_table(hours, touched, before, status, buckets_hours, labels)
    band = np.where(pl["sql_at"].notna().to_numpy()[codes] if "sql_at" in pl else False,
                    "sql", "mql")
    weeks, sla = _service_level(m, hours, ds.end_of_data.value, service_level_hours,
                                service_level_share)
    after = touched & ~before
    median = float(np.nanmedian(hours[after])) if after.any() else None
    assoc = _association(buckets, labels)
    return SpeedResult(rules.name, first_touch, outcome, float(window_days), int(codes.size),
                       int(touched.sum()), median, buckets, _band_hours(band, hours, touched),
                       weeks, sla, assoc, _sentence(buckets, sla, assoc, outcome, median))


def _bucket_table(hours, touched, before, status, buckets_hours, labels) -> pd.DataFrame:
    """MQLs, decided MQLs and the outcome's rate (Wilson interval) per response-time
    bucket, with "touched before MQL" first and "not touched" last."""
    hit, decided = status == "hit", np.isin(status, ("hit", "miss", "late"))
    idx = np.searchsorted(np.asarray(buckets_hours, float), hours, side="right")
    bucket = np.where(~touched, "not touched",
                      np.where(before, "touched before MQL",
                               np.array(labels, dtype=object)[np.minimum(idx, len(labels) - 1)]))
    rows = []
    for b in ["touched before MQL"] + labels + ["not touched"]:
        sel = bucket == b
        n, x = int(decided[sel].sum()), int(hit[sel].sum())
        lo, hi = proportion_ci(x, n) if n else (np.nan, np.nan)
        rows.append({"bucket": b, "mqls": int(sel.sum()), "decided": n, "hits": x,
                     "rate": x / n if n else np.nan, "ci_low": float(lo), "ci_high": float(hi)})
    return pd.DataFrame(rows)


def _band_hours(band, hours, touched) -> pd.DataFrame:
    """Response-time quantiles of the touched MQLs per band (mql, sql)."""
    rows = []
    for b in ("mql", "sql"):
        h = hours[(band == b) & touched]
        if (band == b).any():
            rows.append({"band": b, "mqls": int((band == b).sum()), "touched": int(h.size),
                         **{f"p{q}_hours": float(np.percentile(h, q)) if h.size else np.nan
                            for q in (25, 50, 75, 90)}})
    return pd.DataFrame(rows)


def _service_level(m, hours, end_ns: int, target, target_share) -> tuple[pd.DataFrame,
                                                                         dict | None]:
    """(per week of MQL: MQLs, median hours and the share within the target; the verdict
    on the target over the MQLs whose target time has passed, or None without one)."""
    week = pd.to_datetime(m, utc=True).tz_localize(None).to_period("W-SUN").start_time
    w = pd.DataFrame({"week": week, "hours": hours,
                      "within": (hours <= target) if target else np.nan,
                      "eligible": (m + int((target or 0) * HOUR_NS) <= end_ns)})
    weeks = (w.groupby("week").agg(mqls=("hours", "size"), median_hours=("hours", "median"),
                                   within=("within", "mean")).reset_index())
    weeks["week"] = weeks["week"].dt.strftime("%Y-%m-%d")
    if not target:
        return weeks.drop(columns="within"), None
    elig = w["eligible"].to_numpy()
    n, x = int(elig.sum()), int((hours[elig] <= target).sum())  # NaN (not touched) fails
    lo, hi = proportion_ci(x, n) if n else (np.nan, np.nan)
    share = x / n if n else np.nan
    return weeks, {"hours": target, "target_share": target_share, "mqls": n, "within": x,
                   "share": share, "ci_low": float(lo), "ci_high": float(hi),
                   "verdict": ("met" if share >= target_share else "missed")
                   if n else "unknown"}


def _association(buckets: pd.DataFrame, labels) -> dict | None:
    ok = buckets[buckets["bucket"].isin(labels) & (buckets["decided"] >= MIN_DECIDED)]
    if len(ok) < 2:
        return None
    fast, slow = ok.iloc[0], ok.iloc[-1]
    # a 99% interval: a finding should rarely be noise (speed is reviewed every time)
    lo, hi = diff_ci(int(fast["hits"]), int(fast["decided"]), int(slow["hits"]),
                     int(slow["decided"]), alpha=0.01)
    return {"fast": fast["bucket"], "slow": slow["bucket"], "fast_rate": float(fast["rate"]),
            "slow_rate": float(slow["rate"]), "diff": float(fast["rate"] - slow["rate"]),
            "ci_low": float(lo), "ci_high": float(hi), "found": bool(lo > 0 or hi < 0)}


def _sentence(buckets, sla, assoc, outcome, median) -> str:
    parts = []
    if median is not None:
        parts.append(f"the median MQL waited {median:.1f} hours for a first touch")
    if sla is not None and sla["mqls"]:
        parts.append(f"{100 * sla['share']:.0f}% ({100 * sla['ci_low']:.0f}–"
                     f"{100 * sla['ci_high']:.0f}%) were touched within {sla['hours']:g} hours "
                     f"against a target of {100 * sla['target_share']:.0f}%: target "
                     f"{sla['verdict']}")
    if assoc is not None:
        if assoc["found"]:
            parts.append(f"MQLs touched {assoc['fast']} after MQL reached {outcome} at "
                         f"{100 * assoc['fast_rate']:.0f}%, those touched {assoc['slow']} after "
                         f"at {100 * assoc['slow_rate']:.0f}% (difference "
                         f"{100 * assoc['ci_low']:+.0f} to {100 * assoc['ci_high']:+.0f} points, "
                         f"99% CI)"
                         f" — an association, not proof that speed causes it")
        else:
            parts.append(f"the {outcome} rate does not differ measurably between the fastest "
                         f"and the slowest responses")
    text = "; ".join(parts) + "." if parts else "No MQL was touched."
    return text[0].upper() + text[1:]
