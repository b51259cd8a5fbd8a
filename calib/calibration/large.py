"""Calibration in the large: does a score's probability predict as many outcomes as
happen, out of time, and does a recalibration on recent data fix it?

* :func:`observed_over_expected`: observed outcomes over the sum of predicted
  probabilities (O/E), with an interval over leads (a lead contributes several weekly
  snapshots, which are not independent). O/E below 1 means the score
  over-predicts, above 1 that it under-predicts.
* :func:`intercept_shift`: the shift of the log-odds that makes the predictions of a set of
  snapshots add up to their outcomes (the "recalibration in the large" of Steyerberg,
  *Clinical Prediction Models*, ch. 20: refit the intercept, keep the slope).
* :func:`recalibrate_recent`: both, on a rule set: the map of :func:`calibrate` (fitted
  on every snapshot before the split) judged out of time, then shifted on the snapshots
  whose window closed in the last weeks before the split and judged again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit, logit
from scipy.stats import chi2, norm

from calib.calibration import metrics as M
from calib.calibration.calibrate import _snapshots, fit_map
from calib.data.dataset import Dataset
from calib.engine.kernels import NS_PER_DAY
from calib.engine.prepare import prepare
from calib.engine.replay import combine_scores
from calib.errors import CalibError
from calib.io import finite_float as _f
from calib.fit.examples import outcome_time
from calib.rules.config import RuleSet

__all__ = ["LargeCalibration", "RecentRecalibration", "observed_over_expected",
           "intercept_shift", "shift_probabilities", "recalibrate_recent"]

EPS = 1e-6


@dataclass(frozen=True)
class LargeCalibration:
    """Observed outcomes against the sum of predicted probabilities."""

    n: int  # snapshots
    observed: float  # outcomes that happened
    expected: float  # sum of the predicted probabilities
    ratio: float  # observed / expected
    ci_low: float
    ci_high: float
    level: float = 0.95

    @property
    def verdict(self) -> str:
        """"over-predicts", "under-predicts" or "agrees" (the interval holds 1)."""
        if not np.isfinite(self.ci_high) or not np.isfinite(self.ci_low):
            return "unknown"
        if self.ci_high < 1:
            return "over-predicts"
        if self.ci_low > 1:
            return "under-predicts"
        return "agrees"

    def to_dict(self) -> dict:
        """The check as a JSON-safe dict (with its verdict).

        Returns
        -------
        dict
        """
        return {"n": self.n, "observed": float(self.observed), "expected": float(self.expected),
                "ratio": _f(self.ratio), "ci_low": _f(self.ci_low), "ci_high": _f(self.ci_high),
                "level": self.level, "verdict": self.verdict}


def observed_over_expected(y, p, *, groups=None, level: float = 0.95) -> LargeCalibration:
    """O/E of outcomes ``y`` (0/1) against probabilities ``p``, with an interval that lets
    the rows of one group move together (``groups``, e.g. lead ids: the weekly snapshots
    of one lead are not independent; default: every row alone).

    The interval is the ratio estimator's (Cochran, *Sampling Techniques*, 6.4) with the
    cluster-robust variance ``sum_g (o_g - R e_g)^2 * G / (G - 1) / E^2``, on the log
    scale; with no outcome at all, the upper end is the exact Poisson one.

    Examples
    --------
    >>> r = observed_over_expected([1, 0, 0, 1], [0.5, 0.5, 0.5, 0.5])
    >>> r.ratio
    1.0
    """
    y = np.asarray(y, float)
    p = np.asarray(p, float)
    if y.shape != p.shape:
        raise CalibError(f"y and p must have the same length. Got {len(y)} and {len(p)}.",
                         code="invalid_value")
    if len(y) == 0 or p.sum() <= 0:
        return LargeCalibration(len(y), float(y.sum()), float(p.sum()), np.nan, np.nan, np.nan,
                                level)
    codes = np.arange(len(y)) if groups is None else pd.factorize(np.asarray(groups))[0]
    o_g = np.bincount(codes, weights=y)
    e_g = np.bincount(codes, weights=p)
    obs, exp_ = float(y.sum()), float(p.sum())
    ratio = obs / exp_
    z = norm.ppf(0.5 + level / 2)
    if obs == 0:
        return LargeCalibration(len(y), obs, exp_, 0.0, 0.0,
                                float(chi2.ppf(0.5 + level / 2, 2) / 2 / exp_), level)
    G = len(o_g)
    var = float(((o_g - ratio * e_g) ** 2).sum()) * G / max(G - 1, 1) / exp_ ** 2
    half = z * np.sqrt(var) / ratio  # on the log scale
    return LargeCalibration(len(y), obs, exp_, ratio, float(ratio * np.exp(-half)),
                            float(ratio * np.exp(half)), level)


def intercept_shift(y, p) -> float:
    """The shift ``d`` of the log-odds with ``sum(expit(logit(p) + d)) == sum(y)``.

    Examples
    --------
    >>> round(intercept_shift([1, 0, 0, 0], [0.5, 0.5, 0.5, 0.5]), 4)  # logit(.25) - logit(.5)
    -1.0986
    """
    y = np.asarray(y, float)
    lp = logit(np.clip(np.asarray(p, float), EPS, 1 - EPS))
    target = float(y.sum())
    if len(y) == 0:
        return 0.0
    if target <= 0 or target >= len(y):
        raise CalibError("Recalibration needs snapshots with and without the outcome.",
                         code="no_examples")

    def gap(d):
        return float(expit(lp + d).sum()) - target

    return float(brentq(gap, -30, 30, xtol=1e-10))


def shift_probabilities(p, d: float) -> np.ndarray:
    """Probabilities with their log-odds moved by ``d``.

    Examples
    --------
    >>> shift_probabilities([0.5, 0.2], 0.0).round(6).tolist()
    [0.5, 0.2]
    >>> float(shift_probabilities([0.5], np.log(3))[0].round(6))
    0.75
    """
    return expit(logit(np.clip(np.asarray(p, float), EPS, 1 - EPS)) + d)


@dataclass(frozen=True)
class RecentRecalibration:
    """The calibrated score out of time, before and after an intercept shift fitted on
    the last ``recent_weeks`` weeks before the split."""

    outcome: str
    train_until: str
    recent_weeks: int
    recent_snapshots: int
    shift: float  # log-odds
    before: LargeCalibration
    after: LargeCalibration
    reliability: pd.DataFrame  # predicted (before/after), observed per equal-count bin
    by_month: pd.DataFrame  # cohort month: snapshots, observed, expected before/after

    def to_frame(self) -> pd.DataFrame:
        """The reliability table before and after the shift.

        Returns
        -------
        DataFrame
        """
        return self.reliability.copy()

    def to_dict(self) -> dict:
        """The shift and both checks as a JSON-safe dict.

        Returns
        -------
        dict
        """
        return {"outcome": self.outcome, "train_until": self.train_until,
                "recent_weeks": self.recent_weeks, "recent_snapshots": self.recent_snapshots,
                "shift_log_odds": self.shift, "before": self.before.to_dict(),
                "after": self.after.to_dict(),
                "by_month": self.by_month.to_dict("records")}


def recalibrate_recent(ds: Dataset, rules: RuleSet, *, outcome: str, window_days: float,
                       train_until, recent_weeks: int = 8, method: str = "isotonic",
                       every_days: float = 7.0, n_bins: int = 10,
                       max_examples: int = 2_000_000, seed: int = 0) -> RecentRecalibration:
    """Calibration in the large of ``rules``' calibrated score out of time, and the same
    after an intercept shift fitted on recent snapshots (see the module docstring).

    The snapshots and the map are those of :func:`calib.calibration.calibrate` with the
    same arguments; the shift uses only snapshots whose outcome window closed before
    ``train_until``, so the check after it is still out of time.

    Examples
    --------
    >>> from calib import load_dataset, load_rules
    >>> ds = load_dataset("calib-demo/data")
    >>> chk = recalibrate_recent(ds, load_rules("calib-demo/truth.toml"), outcome="meeting",
    ...                          window_days=30, train_until="2026-01-01")
    >>> chk.recent_weeks, chk.before.verdict in ("agrees", "over-predicts", "under-predicts")
    (8, True)
    """
    if ds.snapshot:
        raise CalibError("Recalibration on recent data needs dated leads, and this data set is "
                         "a snapshot.", code="invalid_usage")
    T = pd.Timestamp(train_until)
    T = T.tz_localize("UTC") if T.tzinfo is None else T.tz_convert("UTC")
    o = outcome_time(ds, outcome)
    lead, t, y = _snapshots(ds, o, every_days, window_days, max_examples, seed)
    w = int(round(window_days * NS_PER_DAY))
    train = t + w <= T.value
    test = t >= T.value
    recent = train & (t + w > T.value - int(recent_weeks * 7 * NS_PER_DAY))
    if not test.any() or not recent.any():
        raise CalibError(f"The split at {T.date()} leaves no snapshot to test on or none in the "
                         f"last {recent_weeks} weeks before it.", code="no_examples")
    prep = prepare(ds, rules)
    p2 = replace(prep, eval_lead=np.ascontiguousarray(lead), eval_t=np.ascontiguousarray(t))
    score, _ = combine_scores(p2.decayed(rules.decay), p2, rules)
    mp = fit_map(score[train], y[train], method)
    prob = mp.predict(score)
    d = intercept_shift(y[recent], prob[recent])
    shifted = shift_probabilities(prob, d)
    yt, pt, st, lt = y[test], prob[test], shifted[test], lead[test]
    before = observed_over_expected(yt, pt, groups=lt)
    after = observed_over_expected(yt, st, groups=lt)
    rel = M.reliability_table(yt, pt, n_bins).rename(columns={"mean_predicted": "predicted"})
    # the same bins, their mean prediction after the shift (the observed share is unchanged)
    edges = np.r_[rel["p_low"].to_numpy(), rel["p_high"].to_numpy()[-1]]
    idx = np.clip(np.searchsorted(edges, pt, side="right") - 1, 0, len(edges) - 2)
    n_bin = np.bincount(idx, minlength=len(rel))
    with np.errstate(invalid="ignore", divide="ignore"):
        rel["predicted_after"] = np.bincount(idx, weights=st, minlength=len(rel)) / n_bin
    month = pd.to_datetime(t[test], utc=True).strftime("%Y-%m")
    by_month = (pd.DataFrame({"month": month, "observed": yt, "expected_before": pt,
                              "expected_after": st})
                .groupby("month", as_index=False)
                .agg(snapshots=("observed", "size"), observed=("observed", "sum"),
                     expected_before=("expected_before", "sum"),
                     expected_after=("expected_after", "sum")))
    return RecentRecalibration(outcome=outcome, train_until=str(T.date()),
                               recent_weeks=int(recent_weeks), recent_snapshots=int(recent.sum()),
                               shift=d, before=before, after=after, reliability=rel,
                               by_month=by_month)
