"""Selective labels: outcomes are only recorded for leads sales worked.

Sales works the leads the historical rules routed (their ``mql`` rows), leads that
route themselves (a demo request) and, where a team keeps one, a random *exploration
holdout* of the leads the rules did not route. A never-worked lead's meeting is missing,
not absent, so a rule set that routes different leads is judged partly on guesses.

Diagnosis: the share of leads with any recorded sales outcome (coverage) by score band.

Correction (inverse-probability weighting, IPW): with a holdout that is a random sample
of the leads the historical rules did not route (the demo's ``exploration_holdout``, or
any holdout drawn at random from all leads), each lead gets a weight

* ``1`` if the historical rules routed it (an ``mql`` row; without ``mql`` rows, a replay
  of the current rules decides),
* ``1 / pi`` if it is in the holdout and was not routed, where ``pi`` is the holdout
  share among the leads not routed,
* ``0`` otherwise (not routed, not in the holdout: its labels are not trusted).

Weighted counts then estimate what the whole population would have shown if every lead
had been worked, under the assumption that the holdout was drawn at random. Intervals of
weighted rates use Kish's effective sample size ``(sum w)^2 / sum w^2`` in a Wilson
interval; differences use Newcombe's method on the effective counts (an approximation
that ignores that two rule sets share leads, which makes it conservative).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from calib.data.dataset import SALES_OUTCOMES, Dataset
from calib.engine.replay import NEVER, first_outcome_times
from calib.stats import diff_ci, proportion_ci

__all__ = ["holdout_mask", "routed_mask", "ipw_weights", "weighted_rate", "coverage_by_band",
           "covered_leads"]

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


def ipw_weights(routed: np.ndarray, holdout: np.ndarray | None) -> tuple[np.ndarray | None, float | None]:
    """Per lead IPW weights and the holdout share ``pi`` among non-routed leads (None
    when there is no usable holdout)."""
    if holdout is None:
        return None, None
    not_routed = ~routed
    if not_routed.sum() == 0 or (holdout & not_routed).sum() == 0:
        return None, None
    pi = float((holdout & not_routed).sum() / not_routed.sum())
    w = np.where(routed, 1.0, np.where(holdout, 1.0 / pi, 0.0))
    return w, pi


def covered_leads(ds: Dataset) -> np.ndarray:
    """Leads with any recorded sales outcome (SPEC section 3, coverage)."""
    names = [o for o in SALES_OUTCOMES if o in ds.outcome_types]
    times = first_outcome_times(ds, names)
    cov = np.zeros(ds.n_leads, bool)
    for t in times.values():
        cov |= t != NEVER
    return cov


def weighted_rate(hit: np.ndarray, decided: np.ndarray, w: np.ndarray) -> dict:
    """Weighted hit rate with a Wilson interval on Kish's effective sample size."""
    wd = w[decided]
    sw = float(wd.sum())
    if sw <= 0:
        return {"rate": None, "ci_low": None, "ci_high": None, "n_eff": 0.0, "hits_eff": 0.0}
    rate = float((w * hit)[decided].sum() / sw)
    n_eff = sw ** 2 / float((wd ** 2).sum())
    lo, hi = proportion_ci(rate * n_eff, n_eff)
    return {"rate": rate, "ci_low": float(lo), "ci_high": float(hi), "n_eff": n_eff,
            "hits_eff": rate * n_eff}


def weighted_diff(a: dict, b: dict) -> dict:
    if not a["n_eff"] or not b["n_eff"]:
        return {"diff": None, "ci_low": None, "ci_high": None}
    lo, hi = diff_ci(a["hits_eff"], a["n_eff"], b["hits_eff"], b["n_eff"])
    return {"diff": a["rate"] - b["rate"], "ci_low": float(lo), "ci_high": float(hi)}


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
