"""Drift audit: has the scored population moved since the reference period?

By month (or week) of lead creation: the score distribution (population stability index
against the first periods), MQL volume, conversion per band with Wilson intervals, and
the event-type mix. Scores and the event mix are compared at the same lead age
(``score_age_days`` after creation) so that older leads, which had longer to gather
activity, do not look different just for that.

The PSI threshold of a period is the larger of 0.1 (the usual "investigate" level) and
the 99th percentile of the PSI that sampling noise alone gives at those sample sizes
(under no drift, PSI is about ``(1/n_ref + 1/n) * chi2(bins - 1)``), so a period is
flagged only when its shift is both material and more than noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from calib.data.dataset import Dataset, ns
from calib.refine._records import Tables
from calib.rules import RuleSet
from calib.stats import adjust_pvalues, diff_ci, proportion_ci

PSI_FLOOR = 0.1
MIN_LEADS = 30        # fewer mature leads in a period: no event-mix test
MIN_PSI_LEADS = 100   # fewer: no PSI (the chi-square approximation of its noise fails)
MATERIAL_CHANGE = 0.2  # an event type's rate per lead must move by at least 20% ...
ALPHA = 0.01          # ... with a Holm-adjusted p-value below this


def psi(expected: np.ndarray, actual: np.ndarray, edges: np.ndarray) -> float:
    """Population stability index of ``actual`` against ``expected`` over bins cut at
    ``edges`` (interior cut points): ``sum (a - e) * ln(a / e)`` of bin shares, with
    empty bins floored at 1e-4.

    Parameters
    ----------
    expected, actual : ndarray
        Scores of the reference and of the period audited.
    edges : ndarray
        The interior cut points of the bins.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> round(psi(np.array([1, 1, 1, 4]), np.array([4, 4, 4, 1]), np.array([2.5])), 4)  # ln 3
    1.0986
    """
    e = np.bincount(np.searchsorted(edges, expected, side="right"), minlength=len(edges) + 1)
    a = np.bincount(np.searchsorted(edges, actual, side="right"), minlength=len(edges) + 1)
    e = np.maximum(e / max(e.sum(), 1), 1e-4)
    a = np.maximum(a / max(a.sum(), 1), 1e-4)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_threshold(n_ref: int, n: int, bins: int) -> float:
    """The PSI beyond which a period has drifted: max(0.1, the 99th percentile of PSI
    under no drift at these sample sizes, from its chi-square approximation).

    Parameters
    ----------
    n_ref, n : int
        Leads of the reference and of the period.
    bins : int
        Bins of the PSI.

    Returns
    -------
    float

    Examples
    --------
    >>> psi_threshold(1000, 1000, 10), round(float(psi_threshold(100, 100, 10)), 3)
    (0.1, 0.433)
    """
    return max(PSI_FLOOR, (1 / max(n_ref, 1) + 1 / max(n, 1)) * stats.chi2.ppf(0.99, bins - 1))


@dataclass(frozen=True)
class DriftResult(Tables):
    """The drift audit of one rule set.

    ``periods``: one row per period (leads, mature leads, MQLs within ``score_age_days``
    of creation and their number per week, PSI, its threshold, drifted); ``bands``: conversion per band and period; ``mix``: events per
    lead by type and period with the ratio to the reference and the adjusted p-value;
    ``findings``: sentences, empty when nothing moved; ``sentence``: the headline.
    """

    rules: str
    outcome: str
    by: str
    reference: str
    score_age_days: float
    window_days: float
    periods: pd.DataFrame
    bands: pd.DataFrame
    mix: pd.DataFrame
    findings: tuple[str, ...]
    sentence: str

    _main = "periods"

    def summary(self) -> str:
        """The headline, then one line per finding."""
        lines = [(f"Drift of '{self.rules}' by {self.by} of creation (reference: "
                  f"{self.reference}): {self.sentence}")]
        lines += [f"  - {f}" for f in self.findings]
        return "\n".join(lines)


def _period_labels(created: pd.Series, by: str) -> pd.Series:
    naive = created.dt.tz_convert("UTC").dt.tz_localize(None)
    return naive.dt.to_period("M" if by == "month" else "W-SUN").dt.start_time


def _label(ts: pd.Timestamp, by: str) -> str:
    return ts.strftime("%Y-%m") if by == "month" else ts.strftime("%Y-%m-%d")


def drift_audit(ds: Dataset, rules: RuleSet, *, outcome: str, window_days: float = 90,
                by: str = "month", reference_periods: int = 3, score_age_days: float = 30,
                bins: int = 10, per_lead: pd.DataFrame | None = None) -> DriftResult:
    """Audit score, volume, conversion and event mix by period of lead creation.

    Parameters
    ----------
    ds : Dataset
    rules : RuleSet
        The rule set whose scores and MQLs are audited.
    outcome : str
        The outcome whose rate per band is compared.
    window_days : float
        Attribution window.
    by : {"month", "week"}
        The periods of lead creation.
    reference_periods : int
        The first periods, the reference the others are compared with.
    score_age_days : float
        Scores and event mix are taken this many days after creation.
    bins : int
        Bins of the PSI.
    per_lead : DataFrame, optional
        The per-lead replay of ``rules`` over every lead (:func:`calib.refine.refine`
        shares one between its checks); replayed here when not given.

    Returns
    -------
    DriftResult
        Its ``sentence`` is the headline; ``findings`` say what moved.

    Examples
    --------
    >>> from calib import drift_audit, load_dataset, load_rules
    >>> res = drift_audit(load_dataset("calib-demo/data"),
    ...                   load_rules("calib-demo/current.toml"), outcome="meeting")
    >>> print(res.sentence)
    No period's scores or event mix moved beyond sampling noise.
    """
    from calib.refine._scores import lead_replay, rule_contributions

    created = ds.leads["created_at"]
    end = ds.end_of_data
    period = _period_labels(created, by)
    pl = per_lead if per_lead is not None else lead_replay(ds, rules, window_days)
    age = pd.Timedelta(days=score_age_days)
    mature = (created + age <= end).to_numpy()
    codes = np.flatnonzero(mature)
    at = ns(created)[codes] + age.value
    _, _, score = rule_contributions(ds, rules, codes, at)
    score_all = np.full(ds.n_leads, np.nan)
    score_all[codes] = score

    labels = sorted(period.unique())
    mature_labels = [p for p in labels if mature[(period == p).to_numpy()].sum() >= MIN_LEADS]
    ref = mature_labels[:reference_periods]
    ref_mask = period.isin(ref).to_numpy() & mature
    ref_scores = score_all[ref_mask]
    edges = (np.unique(np.quantile(ref_scores, np.linspace(0, 1, bins + 1)[1:-1]))
             if ref_scores.size else np.array([]))
    # MQL by the same lead age, so that recent leads (less time to qualify) compare fairly
    is_mql = (pl["mql_at"].to_numpy() <= (created + age).to_numpy()) & mature
    periods = _period_rows(period, labels, ref, by, mature, score_all, ref_mask, edges,
                           is_mql, created.max())
    bands = _bands(ds, pl, period, labels, ref, outcome, window_days, by)
    mix = _event_mix(ds, period, mature, labels, ref, age, by)
    scored = frozenset(e for r in rules.behavior for e in r.events)
    findings = _findings(periods, bands, mix, outcome, score_age_days, scored)
    sentence = _sentence(periods, bands, mix, outcome, scored)
    ref_text = (f"{_label(ref[0], by)} .. {_label(ref[-1], by)}" if ref else "none")
    return DriftResult(rules.name, outcome, by, ref_text, float(score_age_days),
                       float(window_days), periods, bands, mix, tuple(findings), sentence)


def _period_rows(period, labels, ref, by, mature, score_all, ref_mask, edges, is_mql,
                 last) -> pd.DataFrame:
    """One row per period: leads, mature leads, median score, MQLs (per week of the
    mature part), PSI against the reference with its threshold, and whether it drifted."""
    ref_scores, k = score_all[ref_mask], len(edges) + 1
    rows = []
    for p in labels:
        m = (period == p).to_numpy()
        mm = m & mature
        nxt = p + (pd.DateOffset(months=1) if by == "month" else pd.Timedelta(days=7))
        p_end = min(nxt.tz_localize("UTC"), last)
        days = max((p_end - p.tz_localize("UTC")) / pd.Timedelta(days=1), 1.0)
        share = mm.sum() / max(m.sum(), 1)  # MQLs per week of the mature part of the period
        value = (psi(ref_scores, score_all[mm], edges)
                 if mm.sum() >= MIN_PSI_LEADS and ref_scores.size >= MIN_PSI_LEADS
                 else np.nan)
        thr = psi_threshold(int(ref_mask.sum()), int(mm.sum()), k) if not np.isnan(value) else np.nan
        rows.append({"period": _label(p, by), "role": "reference" if p in ref else "audit",
                     "leads": int(m.sum()), "mature_leads": int(mm.sum()),
                     "median_score": float(np.median(score_all[mm])) if mm.any() else None,
                     "mql": int(is_mql[m].sum()),
                     "mql_per_week": is_mql[m].sum() / (days * share) * 7 if share else np.nan,
                     "psi": value, "psi_threshold": thr,
                     "drifted": bool(p not in ref and not np.isnan(value) and value > thr)})
    return pd.DataFrame(rows)


def _bands(ds, pl, period, labels, ref, outcome, W, by) -> pd.DataFrame:
    """Share of leads with ``outcome`` within W days of creation, per band and period,
    over leads whose W days are complete."""
    created = ds.leads["created_at"]
    first = ds.first_outcomes()
    o = first[first["outcome"] == outcome]
    when = pd.Series(pd.NaT, index=range(ds.n_leads), dtype=created.dtype)
    when.iloc[o["lead"].to_numpy()] = o["occurred_at"].to_numpy()
    window = pd.Timedelta(days=W)
    complete = (created + window <= ds.end_of_data).to_numpy()
    hit = ((when >= created) & (when <= created + window)).to_numpy()
    band = np.where(pl["sql_at"].notna().to_numpy() if "sql_at" in pl else False, "sql",
                    np.where(pl["mql_at"].notna().to_numpy(), "mql", "below mql"))
    rows = []
    for b in [x for x in ("sql", "mql", "below mql") if (band == x).any()]:
        for p in labels + ["reference"]:
            m = (band == b) & complete & (period.isin(ref).to_numpy() if p == "reference"
                                          else (period == p).to_numpy())
            n, x = int(m.sum()), int(hit[m].sum())
            lo, hi = proportion_ci(x, n) if n else (np.nan, np.nan)
            rows.append({"period": p if p == "reference" else _label(p, by), "band": b,
                         "leads": n, "hits": x, "rate": x / n if n else np.nan,
                         "ci_low": float(lo), "ci_high": float(hi)})
    return pd.DataFrame(rows)


def _event_mix(ds, period, mature, labels, ref, age, by) -> pd.DataFrame:
    """Events per lead by type in the first ``age`` after creation, per period, with the
    ratio to the reference periods and a Welch test on the per-lead counts (activity is
    over-dispersed: a Poisson test would flag noise)."""
    ev = ds.events
    created = ds.leads["created_at"]
    empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in MIX_COLUMNS.items()})
    if ev.empty:
        return empty
    c = ns(created)[ev["lead"].to_numpy()]
    t = ns(ev["occurred_at"])
    keep = (t >= c) & (t <= c + age.value) & mature[ev["lead"].to_numpy()]
    sub = ev.loc[keep, ["lead", "event_type"]]
    counts = pd.crosstab(sub["lead"], sub["event_type"].astype(str))
    mature_codes = np.flatnonzero(mature)
    counts = counts.reindex(mature_codes, fill_value=0)
    per = period.to_numpy()[mature_codes]
    ref_m = np.isin(per, np.array(ref, dtype=per.dtype))
    rows = []
    for p in labels:
        m = per == p
        if m.sum() < MIN_LEADS:
            continue
        for e in counts.columns:
            x = counts[e].to_numpy()
            r_mean, p_mean = x[ref_m].mean() if ref_m.any() else np.nan, x[m].mean()
            pv = np.nan
            if p not in ref and ref_m.any() and (x[ref_m].var() > 0 or x[m].var() > 0):
                pv = float(stats.ttest_ind(x[m], x[ref_m], equal_var=False).pvalue)
            rows.append({"period": _label(p, by), "role": "reference" if p in ref else "audit",
                         "event_type": e, "leads": int(m.sum()), "per_lead": float(p_mean),
                         "reference_per_lead": float(r_mean),
                         "ratio": float(p_mean / r_mean) if r_mean else np.nan, "p": pv})
    if not rows:
        return empty
    mix = pd.DataFrame(rows)
    tested = mix["p"].notna()
    mix["p_adj"] = np.nan
    if tested.any():
        mix.loc[tested, "p_adj"] = adjust_pvalues(mix.loc[tested, "p"].to_numpy(),
                                                  method="holm")
    mix["flagged"] = (mix["p_adj"] < ALPHA) & ((mix["ratio"] - 1).abs() >= MATERIAL_CHANGE)
    return mix


MIX_COLUMNS = {"period": object, "role": object, "event_type": object, "leads": int,
               "per_lead": float, "reference_per_lead": float, "ratio": float, "p": float,
               "p_adj": float, "flagged": bool}


def _shifts(mix: pd.DataFrame, scored: frozenset = frozenset()) -> list[dict]:
    """Event types whose rate moved from some period on and stayed moved (same direction
    in every later period); types the rules score first, then the largest change."""
    out = []
    audit = mix[mix["role"] == "audit"]
    for e, g in audit.groupby("event_type", sort=True):
        g = g.sort_values("period")
        flags = (g["flagged"] & (g["ratio"] < 1)).to_numpy(), (g["flagged"] & (g["ratio"] > 1)
                                                                ).to_numpy()
        for direction, f in zip(("fell", "rose"), flags):
            if not f.any() or not f[-1]:
                continue
            start = len(f) - 1
            while start > 0 and f[start - 1]:
                start -= 1
            tail = g.iloc[start:]
            ratio = tail["per_lead"].mean() / tail["reference_per_lead"].iloc[0]
            out.append({"event_type": e, "direction": direction,
                        "since": tail["period"].iloc[0], "ratio": float(ratio),
                        "before": float(tail["reference_per_lead"].iloc[0]),
                        "after": float(tail["per_lead"].mean())})
    return sorted(out, key=lambda s: (s["event_type"] not in scored,
                                      -abs(np.log(max(s["ratio"], 1e-3)))))


def _latest_band(bands: pd.DataFrame, band: str):
    b = bands[(bands["band"] == band) & (bands["period"] != "reference") & (bands["leads"] >= MIN_LEADS)]
    return None if b.empty else b.iloc[-1]


def _findings(periods, bands, mix, outcome, age, scored) -> list[str]:
    out = []
    for s in _shifts(mix, scored):
        out.append(f"{s['event_type'].replace('_', '-')} events per lead (first {age:g} days) "
                   f"{s['direction']} {abs(100 * (s['ratio'] - 1)):.0f}% since {s['since']} "
                   f"({s['before']:.2f} -> {s['after']:.2f} per lead)")
    d = periods[periods["drifted"]]
    if len(d):
        worst = d.loc[d["psi"].idxmax()]
        out.append(f"the score distribution moved in {len(d)} period(s), most in "
                   f"{worst['period']} (PSI {worst['psi']:.2f} against a threshold of "
                   f"{worst['psi_threshold']:.2f})")
    for band in ("mql", "sql"):
        last = _latest_band(bands, band)
        ref = bands[(bands["band"] == band) & (bands["period"] == "reference")]
        if last is None or ref.empty or not ref.iloc[0]["leads"]:
            continue
        r = ref.iloc[0]
        lo, hi = diff_ci(int(last["hits"]), int(last["leads"]), int(r["hits"]), int(r["leads"]),
                         alpha=ALPHA)
        if lo > 0 or hi < 0:
            out.append(f"the {band.upper()} band's {outcome} rate moved from "
                       f"{100 * r['rate']:.0f}% in the reference to {100 * last['rate']:.0f}% "
                       f"in {last['period']} (difference {100 * lo:+.0f} to {100 * hi:+.0f} "
                       f"points, 99% CI)")
    return out


def _sentence(periods, bands, mix, outcome, scored) -> str:
    parts = []
    shifts = _shifts(mix, scored)
    if shifts:
        s = shifts[0]
        parts.append(f"{s['event_type'].replace('_', '-')} events per lead {s['direction']} "
                     f"{abs(100 * (s['ratio'] - 1)):.0f}% since {s['since']}")
    elif not periods["drifted"].any():
        parts.append("no period's scores or event mix moved beyond sampling noise")
    else:
        parts.append(f"the score distribution moved in {int(periods['drifted'].sum())} "
                     f"period(s)")
    last = _latest_band(bands, "mql")
    if last is not None:
        parts.append(f"the MQL band converts to {outcome} at {100 * last['rate']:.0f}% "
                     f"({100 * last['ci_low']:.0f}–{100 * last['ci_high']:.0f}%) in "
                     f"{last['period']}")
    text = "; ".join(parts) + "."
    return text[0].upper() + text[1:]
