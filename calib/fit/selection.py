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

import numpy as np
import pandas as pd

from calib.data.dataset import SALES_OUTCOMES, Dataset
from calib.engine.replay import NEVER, first_outcome_times

__all__ = ["holdout_mask", "routed_mask", "routed_times", "coverage_by_band", "covered_leads",
           "corrected_comparison"]

AUTO = "auto"


def holdout_mask(ds: Dataset, column: str | None) -> np.ndarray | None:
    """Boolean holdout flag per lead, or None without a holdout column."""
    if column is None or column not in ds.leads.columns:
        return None
    col = ds.leads[column]
    if pd.api.types.is_bool_dtype(col.dtype):
        return col.fillna(False).to_numpy(bool)
    text = col.astype("string").str.strip().str.lower()
    return text.isin(["1", "true", "yes", "y", "t"]).fillna(False).to_numpy(bool)


def routed_mask(ds: Dataset, replayed_mql: np.ndarray | None = None) -> np.ndarray:
    """Leads the historical rules routed: an ``mql`` outcome row, else the replay."""
    if "mql" in ds.outcome_types:
        return first_outcome_times(ds, ["mql"])["mql"] != NEVER
    if replayed_mql is not None:
        return np.asarray(replayed_mql, bool)
    return np.ones(ds.n_leads, bool)


def routed_times(ds: Dataset, replayed_mql_at: np.ndarray | None = None) -> np.ndarray:
    """When the historical rules routed each lead (ns since the epoch, ``NEVER`` if not):
    its first ``mql`` row, else the replayed MQL time of the current rules."""
    if "mql" in ds.outcome_types:
        return first_outcome_times(ds, ["mql"])["mql"]
    if replayed_mql_at is not None:
        return np.asarray(replayed_mql_at, np.int64)
    return np.full(ds.n_leads, np.iinfo(np.int64).min, np.int64)  # all routed from the start


def corrected_comparison(a: dict, b: dict, holdout: np.ndarray, *, n_boot: int = 2000,
                         seed: int = 0, level: float = 0.95) -> dict:
    """Rates of two rule sets on the same leads, corrected for selective labels, with a
    paired bootstrap interval of their difference.

    ``a`` and ``b`` hold per-lead boolean arrays: ``decided`` (the MQLs that count in the
    rate), ``hit``, ``seen`` (the historical rules had routed the lead by this rule set's
    MQL time, so sales worked it from then on and every outcome after that time is
    recorded) and ``hit_routed`` (a hit at or after the historical routing time: recorded
    whenever it happened, for every lead). For a seen MQL ``hit_routed == hit``. For an
    unseen one, a hit before the routing time (or with no routing at all) is recorded
    only if sales happened to work the lead anyway; the holdout leads, worked from their
    creation, show how many such hits there are. The difference estimator::

        rate = (sum of hit_routed + unseen MQLs * mean(hit - hit_routed over the
                holdout's unseen MQLs)) / decided MQLs

    is unbiased when the holdout was drawn at random among all leads, whatever the
    other routes to sales (self-booking) were. The interval comes from a Poisson
    bootstrap over leads (each lead weighted by a Poisson(1) draw, the same draws for
    both rule sets, so the pairing is kept). Without holdout leads among the unseen MQLs
    the corrected rate is undefined (None).
    """
    holdout = np.asarray(holdout, bool)
    keep = np.flatnonzero(a["decided"] | b["decided"])

    def parts(x):
        dec = x["decided"][keep]
        unseen = dec & ~x["seen"][keep]
        probe = unseen & holdout[keep]
        yp = dec & x["hit_routed"][keep]
        gap = probe & x["hit"][keep] & ~x["hit_routed"][keep]
        return {"dec": dec, "unseen": unseen, "probe": probe, "yp": yp, "gap": gap,
                "hit": dec & x["hit"][keep]}

    pa, pb = parts(a), parts(b)

    def rates(w):
        out = []
        for p in (pa, pb):
            n_u, n_p = w @ p["unseen"], w @ p["probe"]
            with np.errstate(invalid="ignore", divide="ignore"):
                g = np.where(n_p > 0, (w @ p["gap"]) / np.where(n_p > 0, n_p, 1.0),
                             np.where(n_u > 0, np.nan, 0.0))
                out.append((w @ p["yp"] + n_u * g) / (w @ p["dec"]))
        return out

    def block(p, r):
        return {"rate": _num(r), "decided": int(p["dec"].sum()),
                "hits_recorded": int(p["hit"].sum()), "hits_after_routing": int(p["yp"].sum()),
                "unseen": int(p["unseen"].sum()), "holdout_unseen": int(p["probe"].sum()),
                "holdout_hits_before_routing": int(p["gap"].sum())}

    ra, rb = (float(v[0]) for v in rates(np.ones((1, keep.size))))
    res = {"method": "difference estimator on the holdout; paired Poisson bootstrap",
           "n_boot": n_boot, "a": block(pa, ra), "b": block(pb, rb)}
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


def _num(x):
    x = float(x)
    return x if np.isfinite(x) else None


def covered_leads(ds: Dataset) -> np.ndarray:
    """Leads with any recorded sales outcome (SPEC section 3, coverage)."""
    names = [o for o in SALES_OUTCOMES if o in ds.outcome_types]
    times = first_outcome_times(ds, names)
    cov = np.zeros(ds.n_leads, bool)
    for t in times.values():
        cov |= t != NEVER
    return cov


def coverage_by_band(band: np.ndarray, covered: np.ndarray, label: str) -> pd.DataFrame:
    """Leads and the share with any sales outcome, per band."""
    rows = []
    for b in ("cold", "warm", "mql", "sql"):
        m = band == b
        if m.sum() == 0:
            continue
        rows.append({"rules": label, "band": b, "leads": int(m.sum()),
                     "covered": int(covered[m].sum()), "coverage": float(covered[m].mean())})
    return pd.DataFrame(rows)
