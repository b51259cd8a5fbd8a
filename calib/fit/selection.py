"""Selective labels: outcomes are only recorded for leads sales worked, from the time
sales worked them.

Sales works the leads the historical rules routed (their ``mql`` rows, from the routing
time on), leads that route themselves (a demo request) and, where a team keeps one, a
random *exploration holdout*: a small share of new leads routed to sales at creation
whatever their score. A meeting of a lead nobody was working yet is missing, not absent,
so a rule set that flags other leads, or the same leads earlier, is judged partly on
guesses: its naive rates are too low.

Diagnosis: the share of leads with any recorded sales outcome (coverage) by score band.

Corrections, valid when the holdout is a random share ``pi`` of all leads (drawn at
creation, before any score is known):

* **Training** (:func:`calib.fit.fit._example_weights`): a point-in-time example (lead,
  moment) has a trustworthy label when sales was working the lead from that moment on:
  weight 1 once the historical rules had routed the lead, ``1 / pi`` for holdout leads
  before that, 0 otherwise.
* **Evaluation** (:func:`corrected_comparison`): among a rule set's MQLs, hits at or after
  the historical routing time are recorded for every lead; the hits that came earlier
  (or without any routing) are counted on the holdout and scaled up to all MQLs the
  historical rules had not routed by the rule set's MQL time (a difference estimator),
  with a paired Poisson bootstrap interval.

A holdout drawn only among the leads the rules never routed cannot stand in for leads
they routed *late*, and without any holdout no correction is possible; calib then says
so and recommends keeping one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from calib.data.dataset import SALES_OUTCOMES, Dataset, ns_or_never
from calib.engine.replay import NEVER, first_outcome_times
from calib.io import finite_float as _num

__all__ = ["holdout_mask", "routed_mask", "routed_times", "coverage_by_band", "covered_leads",
           "correction_columns", "corrected_rate", "corrected_comparison", "SelectionLabels"]

AUTO = "auto"


def holdout_mask(ds: Dataset, column: str | None) -> np.ndarray | None:
    """Boolean holdout flag per lead, or None without a holdout column.

    Parameters
    ----------
    ds : Dataset
    column : str or None
        The leads column (true/false, yes/no or 1/0 in any case).

    Returns
    -------
    ndarray of bool or None

    Raises
    ------
    CalibError
        ``invalid_value`` when a value is neither true nor false.

    Examples
    --------
    >>> from calib import load_dataset
    >>> ds = load_dataset("calib-demo/data")
    >>> hold = holdout_mask(ds, "exploration_holdout")
    >>> len(hold) == ds.n_leads, bool(0 < hold.mean() < 0.5), holdout_mask(ds, None)
    (True, True, None)
    """
    if column is None or column not in ds.leads.columns:
        return None
    col = ds.leads[column]
    text = col.astype("string").str.strip().str.lower()
    truthy = text.isin(["1", "1.0", "true", "yes", "y", "t"]).fillna(False)
    known = truthy | text.isin(["0", "0.0", "false", "no", "n", "f"]).fillna(False)
    if not known.all():
        from calib.errors import CalibError

        bad = np.flatnonzero(~known.to_numpy(bool))
        shown = ", ".join(f"lead {ds.lead_ids([i])[0]}: "
                          f"{'blank' if pd.isna(col.iloc[i]) or str(col.iloc[i]).strip() == '' else repr(str(col.iloc[i]))}"
                          for i in bad[:3])
        raise CalibError(f"The holdout column '{column}' of the leads table must be true or "
                         f"false for every lead; {len(bad):,} value(s) are not: {shown}.",
                         code="invalid_value",
                         suggestion="Fill it in with true/false (or 1/0), or pass "
                                    "--holdout-column none.")
    return truthy.to_numpy(bool)


def routed_mask(ds: Dataset, replayed_mql: np.ndarray | None = None) -> np.ndarray:
    """Leads the historical rules routed: an ``mql`` outcome row, else the replay.

    Parameters
    ----------
    ds : Dataset
        The data; its ``mql`` outcome rows, when it has any, decide.
    replayed_mql : ndarray of bool, optional
        Whether a replay of the current rules made each lead an MQL (used when the data
        have no ``mql`` rows); without it, every lead counts as routed.

    Returns
    -------
    ndarray of bool
        One per lead, in the order of ``ds.leads``: True where sales had the lead.

    Examples
    --------
    >>> from calib import load_dataset
    >>> ds = load_dataset("calib-demo/data")
    >>> routed_mask(ds).dtype.name, len(routed_mask(ds)) == ds.n_leads
    ('bool', True)
    """
    if "mql" in ds.outcome_types:
        return first_outcome_times(ds, ["mql"])["mql"] != NEVER
    if replayed_mql is not None:
        return np.asarray(replayed_mql, bool)
    return np.ones(ds.n_leads, bool)


def routed_times(ds: Dataset, replayed_mql_at: np.ndarray | None = None) -> np.ndarray:
    """When the historical rules routed each lead (ns since the epoch, ``NEVER`` if not):
    its first ``mql`` row, else the replayed MQL time of the current rules.

    Examples
    --------
    >>> from calib import load_dataset
    >>> ds = load_dataset("calib-demo/data")
    >>> t = routed_times(ds)
    >>> t.dtype.name, len(t) == ds.n_leads
    ('int64', True)
    """
    if "mql" in ds.outcome_types:
        return first_outcome_times(ds, ["mql"])["mql"]
    if replayed_mql_at is not None:
        return np.asarray(replayed_mql_at, np.int64)
    return np.full(ds.n_leads, np.iinfo(np.int64).min, np.int64)  # all routed from the start


CORRECTION_KEYS = ("d", "yp", "u", "p", "g")  # the columns of correction_columns


def outcome_indicators(res, outcome: str) -> tuple[np.ndarray, np.ndarray]:
    """Per lead of a replay's ``per_lead`` table: 1.0 where the outcome is a hit, and 1.0
    where it is decided (a hit, a miss or late), else 0.0.

    Examples
    --------
    >>> from calib import load_dataset, load_rules, replay
    >>> res = replay(load_dataset("calib-demo/data"), load_rules("calib-demo/current.toml"),
    ...              per_lead=True)
    >>> hit, decided = outcome_indicators(res, "meeting")
    >>> bool((hit <= decided).all()), int(hit.sum()) == res.outcome("meeting").hits
    (True, True)
    """
    st = res.per_lead[f"status_{outcome}"].astype(object).to_numpy()
    hit = st == "hit"
    decided = hit | (st == "miss") | (st == "late")
    return hit.astype(float), decided.astype(float)


def correction_columns(*, decided, hit, seen, hit_routed, holdout) -> dict:
    """Per-lead 0/1 columns of the difference estimator for one rule set.

    ``decided``: the MQLs that count in the rate; ``hit``: a recorded hit; ``seen``: the
    historical rules had routed the lead by this rule set's MQL time, so sales worked it
    from then on and every outcome after that time is recorded; ``hit_routed``: a hit at
    or after the historical routing time (recorded whenever it happened, for every lead;
    for a seen MQL it equals ``hit``); ``holdout``: worked from creation.

    Returns ``d`` (decided), ``yp`` (decided hits after routing), ``u`` (decided and not
    seen), ``p`` (unseen holdout leads: the probes) and ``g`` (probes with a hit before
    routing), whose sums give :func:`corrected_rate`.

    Examples
    --------
    >>> a = correction_columns(decided=[1, 1, 1, 1], hit=[1, 0, 1, 0], seen=[1, 1, 0, 0],
    ...                        hit_routed=[1, 0, 0, 0], holdout=[0, 0, 1, 1])
    >>> {k: int(v.sum()) for k, v in a.items()}
    {'d': 4, 'yp': 1, 'u': 2, 'p': 2, 'g': 1}
    """
    decided = np.asarray(decided, bool)
    unseen = decided & ~np.asarray(seen, bool)
    probe = unseen & np.asarray(holdout, bool)
    after = decided & np.asarray(hit_routed, bool)
    return {"d": decided, "yp": after, "u": unseen, "p": probe,
            "g": probe & np.asarray(hit, bool) & ~after}


def corrected_rate(s: dict):
    """The difference estimator from column sums (scalars or arrays of bootstrap sums)::

        rate = (hits after routing + unseen MQLs * gap rate of the probes) / decided MQLs

    where the gap rate is the share of unseen holdout MQLs with a hit before routing. It
    is unbiased when the holdout was drawn at random among all leads, whatever the other
    routes to sales (self-booking) were. NaN when unseen MQLs have no probe.

    Examples
    --------
    One hit after routing, two unseen MQLs whose probes had a hit half the time, four
    MQLs: (1 + 2 * 0.5) / 4.

    >>> float(corrected_rate({"d": 4, "yp": 1, "u": 2, "p": 2, "g": 1}))
    0.5
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = np.where(s["u"] > 0, s["g"] / s["p"], 0.0)
        return (s["yp"] + s["u"] * gap) / s["d"]


def corrected_comparison(a: dict, b: dict, *, n_boot: int = 2000, seed: int = 0,
                         level: float = 0.95) -> dict:
    """Corrected rates of two rule sets on the same leads (``a`` and ``b``: their
    :func:`correction_columns`), with a paired bootstrap interval of the difference.

    The interval comes from a Poisson bootstrap over leads (each lead weighted by a
    Poisson(1) draw, the same draws for both rule sets, so the pairing is kept). Without
    a probe among the unseen MQLs the corrected rate is undefined (None).

    Examples
    --------
    >>> a = correction_columns(decided=[1, 1, 1, 1], hit=[1, 0, 1, 0], seen=[1, 1, 0, 0],
    ...                        hit_routed=[1, 0, 0, 0], holdout=[0, 0, 1, 1])
    >>> res = corrected_comparison(a, a, n_boot=200)
    >>> res["a"]["rate"], res["difference"]["diff"]
    (0.5, 0.0)
    """
    keep = np.flatnonzero(a["d"] | b["d"])
    cols = {side: {k: v[keep].astype(float) for k, v in x.items()}
            for side, x in (("a", a), ("b", b))}

    def rates(w):
        return [corrected_rate({k: w @ v for k, v in cols[side].items()}) for side in "ab"]

    def block(side, r):
        c = cols[side]
        return {"rate": _num(r), "decided": int(c["d"].sum()),
                "hits_after_routing": int(c["yp"].sum()), "unseen": int(c["u"].sum()),
                "holdout_unseen": int(c["p"].sum()),
                "holdout_hits_before_routing": int(c["g"].sum())}

    ra, rb = (float(v[0]) for v in rates(np.ones((1, keep.size))))
    res = {"method": "difference estimator on the holdout; paired Poisson bootstrap",
           "n_boot": n_boot, "a": block("a", ra), "b": block("b", rb)}
    if not (np.isfinite(ra) and np.isfinite(rb)):
        res["difference"] = {"diff": None, "ci_low": None, "ci_high": None}
        res["reason"] = "no holdout lead among the MQLs whose outcomes may be missing"
        return res
    rng = np.random.default_rng(seed)
    da, db = [], []
    for start in range(0, n_boot, 200):
        w = rng.poisson(1.0, size=(min(200, n_boot - start), keep.size)).astype(float)
        x, y = rates(w)
        da.append(x), db.append(y)
    da, db = np.concatenate(da), np.concatenate(db)
    dd = da - db
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    for key, v in (("a", da), ("b", db)):
        f = np.isfinite(v)
        lo, hi = np.percentile(v[f], q) if f.any() else (np.nan, np.nan)
        res[key].update(ci_low=_num(lo), ci_high=_num(hi))
    ok = np.isfinite(dd)
    lo, hi = np.percentile(dd[ok], q) if ok.any() else (np.nan, np.nan)
    res["difference"] = {"diff": ra - rb, "ci_low": _num(lo), "ci_high": _num(hi),
                         "method": "paired Poisson bootstrap, percentile",
                         "replicates_undefined": int((~ok).sum())}
    return res


@dataclass(frozen=True)
class SelectionLabels:
    """What the correction needs, per lead, aligned with a replay's ``per_lead`` rows:
    the historical routing time (ns, ``NEVER`` if never), the holdout flag, each
    outcome's first time (ns), the end of the data (ns) and the window."""

    routed_at: np.ndarray
    holdout: np.ndarray
    outcome_at: dict
    end_ns: int
    window_days: float

    @classmethod
    def from_dataset(cls, ds: Dataset, per_lead: pd.DataFrame, outcomes, window_days: float,
                     column: str | None = "exploration_holdout") -> "SelectionLabels | None":
        """For the leads of ``per_lead`` (a replay of the historical rules, used for the
        routing times when the data has no ``mql`` rows); None without a usable holdout
        or without time (a snapshot).

        Examples
        --------
        >>> from calib import load_dataset, load_rules, replay
        >>> ds = load_dataset("calib-demo/data")
        >>> res = replay(ds, load_rules("calib-demo/current.toml"), per_lead=True)
        >>> labels = SelectionLabels.from_dataset(ds, res.per_lead, ["meeting"], 90)
        >>> sorted(labels.columns(res.per_lead, "meeting"))
        ['d', 'g', 'p', 'u', 'yp']
        """
        if ds.snapshot or column is None or column not in ds.leads.columns \
                or "mql_at" not in per_lead:
            return None
        hold = holdout_mask(ds, column)
        if hold is None or not hold.any() or hold.all():
            return None
        codes = pd.Index(ds.leads["lead_id"]).get_indexer(per_lead["lead_id"])
        if (codes < 0).any():
            return None
        full = np.full(ds.n_leads, NEVER, np.int64)
        full[codes] = ns_or_never(per_lead["mql_at"])
        routed = routed_times(ds, full)
        names = [o for o in outcomes if o in ds.outcome_types]
        first = first_outcome_times(ds, names) if names else {}
        return cls(routed_at=routed[codes], holdout=hold[codes],
                   outcome_at={o: (first[o][codes] if o in first else np.full(len(codes), NEVER))
                               for o in outcomes},
                   end_ns=int(ds.end_of_data.value), window_days=float(window_days))

    def columns(self, per_lead: pd.DataFrame, outcome: str) -> dict:
        """:func:`correction_columns` of one replay (its ``per_lead`` rows, same leads in
        the same order) for one outcome, over the MQLs whose whole window is observed."""
        m_ns = ns_or_never(per_lead["mql_at"])
        w_ns = int(round(self.window_days * 86_400e9))
        st = per_lead[f"status_{outcome}"].astype(object).to_numpy()
        decided = (m_ns != NEVER) & (m_ns <= self.end_ns - w_ns) & \
            np.isin(st, ["hit", "miss", "late"])
        r = self.routed_at
        routed = r != NEVER
        hit = st == "hit"
        return correction_columns(decided=decided, hit=hit, seen=routed & (r <= m_ns),
                                  hit_routed=hit & routed & (self.outcome_at[outcome] >= r),
                                  holdout=self.holdout)


def covered_leads(ds: Dataset) -> np.ndarray:
    """Leads with any recorded sales outcome (SPEC section 3, coverage).

    Examples
    --------
    >>> from calib import load_dataset
    >>> ds = load_dataset("calib-demo/data")
    >>> cov = covered_leads(ds)
    >>> len(cov) == ds.n_leads, bool(0 < cov.mean() < 1)
    (True, True)
    """
    names = [o for o in SALES_OUTCOMES if o in ds.outcome_types]
    times = first_outcome_times(ds, names)
    cov = np.zeros(ds.n_leads, bool)
    for t in times.values():
        cov |= t != NEVER
    return cov


def coverage_by_band(band: np.ndarray, covered: np.ndarray, label: str) -> pd.DataFrame:
    """Leads and the share with any sales outcome, per band.

    Examples
    --------
    >>> band = np.array(["cold", "cold", "mql", "mql"])
    >>> coverage_by_band(band, np.array([False, True, True, True]), "current")[
    ...     ["band", "leads", "coverage"]].to_dict("records")
    [{'band': 'cold', 'leads': 2, 'coverage': 0.5}, {'band': 'mql', 'leads': 2, 'coverage': 1.0}]
    """
    rows = []
    for b in ("cold", "warm", "mql", "sql"):
        m = band == b
        if m.sum() == 0:
            continue
        rows.append({"rules": label, "band": b, "leads": int(m.sum()),
                     "covered": int(covered[m].sum()), "coverage": float(covered[m].mean())})
    return pd.DataFrame(rows)


def coverage_by_routing(routed: np.ndarray, covered: np.ndarray, *, min_leads: int = 20,
                        gap: float = 0.1) -> dict:
    """Are the labels selective? The share of leads with any recorded sales outcome among
    the leads the historical rules routed and among the others.

    Labels are selective when coverage depends on routing: the not-routed leads (at least
    ``min_leads``) are covered ``gap`` (10 points) or more less often than the routed ones.
    When every lead has an outcome whatever its routing (a process that decides every
    application, say), nothing needs correcting and no warning is due.

    Examples
    --------
    >>> routed = np.arange(100) < 50
    >>> coverage_by_routing(routed, routed)["selective"]
    True
    >>> coverage_by_routing(routed, np.ones(100, bool))["selective"]
    False
    """
    routed = np.asarray(routed, bool)
    covered = np.asarray(covered, bool)
    out = {}
    for key, m in (("routed", routed), ("not_routed", ~routed)):
        n = int(m.sum())
        out[key] = {"leads": n, "coverage": float(covered[m].mean()) if n else None}
    r, nr = out["routed"]["coverage"], out["not_routed"]["coverage"]
    if r is None:
        selective = None
        sentence = "no lead was routed: whether outcomes depend on routing cannot be measured"
    elif out["not_routed"]["leads"] < min_leads:
        selective = False
        n_not = out["not_routed"]["leads"]
        sentence = ((f"the historical rules routed every one of the {len(routed):,} leads"
                     if n_not == 0 else f"the historical rules routed all but {n_not} of "
                     f"the {len(routed):,} leads")
                    + ", so sales worked (nearly) every lead: the labels are not selective "
                    "and need no correction")
    else:
        selective = bool(nr < r - gap)
        sentence = (f"{nr:.0%} of the {out['not_routed']['leads']:,} leads the historical rules "
                    f"did not route have a recorded outcome, against {r:.0%} of the "
                    f"{out['routed']['leads']:,} routed ones: "
                    + ("outcomes are recorded mainly where sales worked the lead (selective "
                       "labels)" if selective else "outcomes are recorded whatever the routing, "
                       "so the labels are not selective and need no correction"))
    out.update(selective=selective, sentence=sentence)
    return out

