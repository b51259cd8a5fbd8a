"""Calibration and discrimination metrics of predicted probabilities and scores.

Vectorised numpy/scipy; every function takes labels ``y`` (0/1) and predictions or scores
of the same length and returns plain numbers or a DataFrame.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
from scipy import stats

from calib.stats import proportion_ci

__all__ = ["brier_score", "log_loss", "reliability_table", "expected_calibration_error",
           "auc", "ks_statistic", "lift_table", "psi", "psi_level"]


def brier_score(y, p) -> float:
    """Mean squared difference of prediction and outcome.

    Examples
    --------
    >>> brier_score([1, 0], [0.8, 0.4])
    0.1
    """
    y, p = np.asarray(y, float), np.asarray(p, float)
    return float(np.mean((p - y) ** 2)) if len(y) else float("nan")


def log_loss(y, p, eps: float = 1e-15) -> float:
    """Mean negative log-likelihood (natural log), predictions clipped to [eps, 1 - eps].

    Examples
    --------
    >>> round(log_loss([1, 0], [0.8, 0.4]), 6)
    0.366985
    """
    y = np.asarray(y, float)
    p = np.clip(np.asarray(p, float), eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p))) if len(y) else float("nan")


def reliability_table(y, p, n_bins: int = 10, strategy: str = "quantile") -> pd.DataFrame:
    """Observed rate against mean prediction per bin of the prediction.

    ``strategy="quantile"`` makes bins of (about) equal counts, ties kept together;
    ``"uniform"`` uses equal-width bins on [0, 1]. Empty bins are left out.

    Returns
    -------
    DataFrame
        ``bin``, ``p_low``, ``p_high``, ``count``, ``mean_predicted``, ``observed``,
        ``ci_low``, ``ci_high`` (Wilson).

    Examples
    --------
    >>> t = reliability_table([0, 0, 1, 1], [0.1, 0.1, 0.9, 0.9], n_bins=2)
    >>> t[["count", "mean_predicted", "observed"]].values.tolist()
    [[2.0, 0.1, 0.0], [2.0, 0.9, 1.0]]
    """
    y, p = np.asarray(y, float), np.asarray(p, float)
    if strategy == "quantile":
        edges = np.unique(np.quantile(p, np.linspace(0, 1, n_bins + 1)))
    else:
        edges = np.linspace(0, 1, n_bins + 1)
    if len(edges) < 2:
        edges = np.array([p.min(), p.max() + 1e-12]) if len(p) else np.array([0.0, 1.0])
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, len(edges) - 2)
    count = np.bincount(idx, minlength=len(edges) - 1)
    s_p = np.bincount(idx, weights=p, minlength=len(edges) - 1)
    s_y = np.bincount(idx, weights=y, minlength=len(edges) - 1)
    keep = count > 0
    c = count[keep]
    lo, hi = proportion_ci(s_y[keep], c)
    return pd.DataFrame({"bin": np.flatnonzero(keep), "p_low": edges[:-1][keep],
                         "p_high": edges[1:][keep], "count": c, "mean_predicted": s_p[keep] / c,
                         "observed": s_y[keep] / c, "ci_low": lo, "ci_high": hi})


def expected_calibration_error(y, p, n_bins: int = 10, strategy: str = "quantile") -> float:
    """``sum_b (n_b / n) * |observed_b - mean_predicted_b|`` over the bins of
    :func:`reliability_table`.

    Examples
    --------
    >>> expected_calibration_error([0, 1, 0, 1], [0.0, 1.0, 0.0, 1.0])
    0.0
    """
    t = reliability_table(y, p, n_bins, strategy)
    if t.empty:
        return float("nan")
    return float((t["count"] * (t["observed"] - t["mean_predicted"]).abs()).sum() / t["count"].sum())


def _ranking_measure(measure):
    """``measure(y, score)`` with ``y`` as booleans and ``score`` as floats, and NaN
    without calling it when ``y`` holds one class only (no ranking measure is defined
    then)."""

    @functools.wraps(measure)
    def checked(y, score) -> float:
        y = np.asarray(y, bool)
        if y.all() or (~y).all():
            return float("nan")
        return measure(y, np.asarray(score, float))

    return checked


@_ranking_measure
def auc(y, score) -> float:
    """Area under the ROC curve by the Mann–Whitney statistic (ties count one half).

    Parameters
    ----------
    y : array_like of bool
        Whether each example had the outcome.
    score : array_like of float
        Its score (higher: more likely).

    Returns
    -------
    float
        The probability that a random positive outranks a random negative; NaN when
        ``y`` holds one class only.

    Examples
    --------
    >>> auc([0, 0, 1, 1], [1, 2, 2, 3])
    0.875
    """
    n1, n0 = int(y.sum()), int((~y).sum())
    r = stats.rankdata(score)
    return float((r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


@_ranking_measure
def ks_statistic(y, score) -> float:
    """Largest distance between the score distributions of positives and negatives.

    Parameters
    ----------
    y, score : array_like
        Labels (bool) and scores (float) of the examples.

    Returns
    -------
    float
        The two-sample Kolmogorov-Smirnov statistic (0 to 1); NaN with one class only.

    Examples
    --------
    >>> ks_statistic([0, 0, 1, 1], [1, 2, 3, 4])
    1.0
    """
    grid = np.unique(score)
    f1 = np.searchsorted(np.sort(score[y]), grid, side="right") / y.sum()
    f0 = np.searchsorted(np.sort(score[~y]), grid, side="right") / (~y).sum()
    return float(np.max(np.abs(f1 - f0)))


def lift_table(y, score, n_groups: int = 10) -> pd.DataFrame:
    """Rate, lift and cumulative gains by decile of the score (decile 1 = highest).

    Leads are ordered by score (descending, ties in input order) and cut into groups of
    equal size.

    Examples
    --------
    >>> t = lift_table([1, 0, 1, 0], [4, 3, 2, 1], n_groups=2)
    >>> t[["decile", "rate", "lift", "cumulative_gain"]].values.tolist()
    [[1.0, 0.5, 1.0, 0.5], [2.0, 0.5, 1.0, 1.0]]
    """
    y = np.asarray(y, float)
    s = np.asarray(score, float)
    n = len(y)
    order = np.argsort(-s, kind="stable")
    group = (np.arange(n) * n_groups) // max(n, 1)
    g = np.empty(n, int)
    g[order] = group
    cnt = np.bincount(g, minlength=n_groups)
    pos = np.bincount(g, weights=y, minlength=n_groups)
    smin = pd.Series(s).groupby(g).min().reindex(range(n_groups)).to_numpy()
    base = y.mean() if n else float("nan")
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = pos / cnt
        df = pd.DataFrame({"decile": np.arange(1, n_groups + 1), "count": cnt,
                           "min_score": smin, "positives": pos, "rate": rate,
                           "lift": rate / base,
                           "cumulative_gain": np.cumsum(pos) / max(y.sum(), 1e-300),
                           "cumulative_share": np.cumsum(cnt) / max(n, 1)})
    return df[df["count"] > 0].reset_index(drop=True)


def psi(expected, actual, n_bins: int = 10, eps: float = 1e-4) -> float:
    """Population stability index of ``actual`` against ``expected`` (bins: deciles of
    ``expected``; shares floored at ``eps``).

    ``sum_b (a_b - e_b) * ln(a_b / e_b)``: < 0.1 stable, 0.1-0.25 moderate shift,
    > 0.25 major shift.

    Examples
    --------
    >>> psi(np.arange(100), np.arange(100))
    0.0
    """
    e = np.asarray(expected, float)
    a = np.asarray(actual, float)
    if len(e) == 0 or len(a) == 0:
        return float("nan")
    edges = np.unique(np.quantile(e, np.linspace(0, 1, n_bins + 1)[1:-1]))
    be = np.bincount(np.searchsorted(edges, e, side="right"), minlength=len(edges) + 1) / len(e)
    ba = np.bincount(np.searchsorted(edges, a, side="right"), minlength=len(edges) + 1) / len(a)
    be, ba = np.maximum(be, eps), np.maximum(ba, eps)
    return float(np.sum((ba - be) * np.log(ba / be)))


def psi_level(value: float) -> str:
    """The population stability index in words: ``stable`` (< 0.1), ``moderate`` (up to
    0.25), ``major`` or ``unknown`` (NaN).

    Examples
    --------
    >>> psi_level(0.05), psi_level(0.2), psi_level(0.4), psi_level(float("nan"))
    ('stable', 'moderate', 'major', 'unknown')
    """
    if value != value:
        return "unknown"
    if value < 0.1:
        return "stable"
    if value <= 0.25:
        return "moderate"
    return "major"
