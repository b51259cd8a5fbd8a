"""MQL and SQL cutoffs from the volume and hit rate of every cutoff at once.

A lead first reaches cutoff ``c`` at the first evaluation point where its running maximum
score reaches ``c``. So each lead contributes one *record* per rise of its running
maximum (time ``m``, previous maximum ``lo``, new maximum ``hi``): every cutoff in
``(lo, hi]`` is first reached at ``m``. Classifying each record against the outcome (hit,
late, miss, immature, SPEC section 3) and adding the records over cutoff ranges gives,
in one pass, the MQL count and outcome counts of every cutoff: exactly what
:func:`calib.engine.replay` reports for each of them.

Rules for choosing cutoffs (documented in the README section of ``calib fit``):

* **MQL** with a capacity: the lowest cutoff whose MQLs per week (training period) do
  not exceed the capacity. Without one: the highest cutoff whose MQL volume is still at
  least ``min_volume`` (by default the current rules' volume over the same leads): among
  cutoffs that do not reduce volume, the one with the most outcomes per MQL, since the
  rate per MQL rises with the cutoff.
* **SQL**: the lowest cutoff above the MQL cutoff whose hit rate reaches the target
  precision (by default the current rules' SQL hit rate, else twice the MQL hit rate);
  none when no cutoff with at least 20 decided leads reaches it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from calib._numba import njit
from calib.engine.kernels import NS_PER_DAY
from calib.engine.replay import NEVER, TOL, classify  # noqa: F401 (NEVER: in the example)

__all__ = ["crossing_records", "cutoff_curve", "choose_mql_cutoff", "choose_sql_cutoff",
           "equal_volume_cutoff"]


@njit(cache=True)
def _records(eval_lead, score, out_idx, out_lo, out_hi):
    n = eval_lead.shape[0]
    lead = -1
    best = -np.inf
    r = 0
    for k in range(n):
        if eval_lead[k] != lead:
            lead = eval_lead[k]
            best = -np.inf
        s = score[k]
        if s > best:
            out_idx[r] = k
            out_lo[r] = best
            out_hi[r] = s
            r += 1
            best = s
    return r


def crossing_records(eval_lead: np.ndarray, score: np.ndarray):
    """Every rise of each lead's running maximum: (evaluation index, previous max, new
    max). Evaluation points are sorted by lead then time.

    Parameters
    ----------
    eval_lead : ndarray of int
        The lead of each evaluation point.
    score : ndarray of float
        The score at each evaluation point.

    Returns
    -------
    idx, previous, new : ndarray
        Where each lead's running maximum rises, from what to what (the first point of a
        lead rises from ``-inf``).

    Examples
    --------
    >>> idx, lo, hi = crossing_records(np.array([0, 0, 0, 1]), np.array([3., 2., 5., 1.]))
    >>> idx.tolist(), lo.tolist(), hi.tolist()
    ([0, 2, 3], [-inf, 3.0, -inf], [3.0, 5.0, 1.0])
    """
    n = len(eval_lead)
    idx = np.empty(n, np.int64)
    lo = np.empty(n)
    hi = np.empty(n)
    r = _records(np.ascontiguousarray(eval_lead), np.ascontiguousarray(score, dtype=float),
                 idx, lo, hi)
    return idx[:r], lo[:r], hi[:r]


def cutoff_curve(eval_lead: np.ndarray, eval_t: np.ndarray, score: np.ndarray,
                 o_time: np.ndarray, cutoffs, *, window_days: float, end_ns: int,
                 snapshot: bool = False, lead_weight: np.ndarray | None = None,
                 weeks: float | None = None, tol: float = TOL) -> pd.DataFrame:
    """MQL count and outcome statuses of every cutoff.

    Parameters
    ----------
    eval_lead, eval_t, score : ndarray
        Evaluation points (sorted by lead, time) and the score at each.
    o_time : ndarray
        First outcome time per lead (``NEVER`` if none).
    cutoffs : array_like
        Cutoffs to evaluate.
    lead_weight : ndarray, optional
        Per lead weight (inverse-probability weights); counts become weighted sums.
    weeks : float, optional
        Length of the period, for ``mql_per_week``.

    Returns
    -------
    DataFrame
        ``cutoff``, ``mql_count``, ``hits``, ``late``, ``misses``, ``immature``,
        ``decided``, ``rate``, and ``mql_per_week`` when ``weeks`` is given.

    Examples
    --------
    >>> lead = np.array([0, 0, 1]); t = np.array([0, 10, 0]); s = np.array([10., 60., 55.])
    >>> o = np.array([20, NEVER])
    >>> cutoff_curve(lead, t, s, o, [50, 58], window_days=90, end_ns=10**18)[["cutoff", "mql_count", "hits"]].to_dict("list")
    {'cutoff': [50.0, 58.0], 'mql_count': [2.0, 1.0], 'hits': [1.0, 1.0]}
    """
    cut = np.sort(np.asarray(cutoffs, float))
    k, lo, hi = crossing_records(eval_lead, score)
    lead = eval_lead[k]
    m = eval_t[k] if not snapshot else np.zeros(len(k), np.int64)
    status = classify(m, o_time[lead], int(round(window_days * NS_PER_DAY)), end_ns, snapshot)
    w = np.ones(len(k)) if lead_weight is None else np.asarray(lead_weight, float)[lead]
    # cutoff c is first reached at this record when lo < c - tol <= hi
    a = np.searchsorted(cut - tol, lo, side="right")
    b = np.searchsorted(cut - tol, hi, side="right")
    nc = len(cut)

    def spread(mask):
        d = (np.bincount(a[mask], weights=w[mask], minlength=nc + 1)
             - np.bincount(b[mask], weights=w[mask], minlength=nc + 1))
        return np.cumsum(d)[:nc]

    everything = np.ones(len(k), bool)
    df = pd.DataFrame({"cutoff": cut, "mql_count": spread(everything),
                       "hits": spread(status == 1), "late": spread(status == 2),
                       "misses": spread(status == 3), "immature": spread(status == 4)})
    df["decided"] = df["hits"] + df["late"] + df["misses"]
    with np.errstate(invalid="ignore", divide="ignore"):
        df["rate"] = np.where(df["decided"] > 0, df["hits"] / df["decided"], np.nan)
    if weeks:
        df["mql_per_week"] = df["mql_count"] / weeks
    return df


def choose_mql_cutoff(curve: pd.DataFrame, *, capacity_mql_per_week: float | None = None,
                      min_volume: float | None = None) -> tuple[float, str]:
    """The MQL cutoff and the rule that chose it (see the module docstring).

    Parameters
    ----------
    curve : DataFrame
        :func:`cutoff_curve`'s table (``cutoff``, ``mql_count``, ``mql_per_week``).
    capacity_mql_per_week : float, optional
        The lowest cutoff whose MQLs per week fit this capacity.
    min_volume : float, optional
        Else the highest cutoff keeping at least this many MQLs.

    Returns
    -------
    (float, str)
        The cutoff and how it was chosen.

    Examples
    --------
    >>> curve = pd.DataFrame({"cutoff": [10., 20., 30.], "mql_count": [90, 60, 20],
    ...                       "mql_per_week": [9., 6., 2.]})
    >>> choose_mql_cutoff(curve, capacity_mql_per_week=7)
    (20.0, 'lowest cutoff with at most 7 MQLs per week')
    >>> choose_mql_cutoff(curve, min_volume=60)[0]
    20.0
    """
    c = curve.sort_values("cutoff")
    if capacity_mql_per_week is not None:
        ok = c[c["mql_per_week"] <= capacity_mql_per_week + 1e-9]
        if len(ok):
            return float(ok["cutoff"].iloc[0]), (f"lowest cutoff with at most "
                                                 f"{capacity_mql_per_week:g} MQLs per week")
        return float(c["cutoff"].iloc[-1]), "no cutoff meets the capacity; the highest tried"
    if min_volume is not None:
        ok = c[c["mql_count"] >= min_volume - 1e-9]
        if len(ok):
            return float(ok["cutoff"].iloc[-1]), ("highest cutoff keeping the current rules' "
                                                  "MQL volume")
    return float(c["cutoff"].iloc[0]), "lowest cutoff tried"


def choose_sql_cutoff(curve: pd.DataFrame, mql: float, target: float,
                      min_decided: int = 20) -> float | None:
    """The lowest cutoff above ``mql`` whose hit rate reaches ``target``.

    Parameters
    ----------
    curve : DataFrame
        :func:`cutoff_curve`'s table (``cutoff``, ``decided``, ``rate``).
    mql : float
        The MQL cutoff (an SQL cutoff lies above it).
    target : float
        The hit rate to reach.
    min_decided : int, default 20
        Cutoffs with fewer decided MQLs are not trusted.

    Returns
    -------
    float or None
        None when no cutoff reaches the target.

    Examples
    --------
    >>> curve = pd.DataFrame({"cutoff": [10., 20., 30.], "decided": [90, 60, 25],
    ...                       "rate": [0.2, 0.3, 0.5]})
    >>> choose_sql_cutoff(curve, 10, 0.25), choose_sql_cutoff(curve, 10, 0.9)
    (20.0, None)
    """
    c = curve[(curve["cutoff"] > mql) & (curve["decided"] >= min_decided)]
    ok = c[c["rate"] >= target]
    return float(ok["cutoff"].iloc[0]) if len(ok) else None


def equal_volume_cutoff(peaks: np.ndarray, n: int) -> float:
    """The cutoff at which about ``n`` leads (by their peak score) become MQLs: the n-th
    highest peak, or the next higher peak when ties at the n-th would route more leads
    beyond ``n`` than the higher one leaves out.

    Parameters
    ----------
    peaks : ndarray
        Each lead's highest score.
    n : int
        The number of MQLs to match.

    Returns
    -------
    float

    Examples
    --------
    >>> equal_volume_cutoff(np.array([5, 4, 4, 4, 4, 1]), 2)
    5.0
    >>> equal_volume_cutoff(np.array([5, 4, 4, 4, 4, 1]), 4)
    4.0
    """
    p = np.sort(np.asarray(peaks, float))[::-1]
    if n <= 0:
        return float(p[0] + 1) if len(p) else 0.0
    v = float(p[min(n, len(p)) - 1])
    # ties at v can route many more than n leads: the next value up may be closer
    above = p[p > v]
    if len(above):
        u = float(above.min())
        if n - len(above) < int((p >= v).sum()) - n:
            return u
    return v
