"""``calibrate``: what a score means as a probability, and whether it still does.

Examples are *snapshots*: every ``every_days`` (default 7) from the first ``created_at``,
each lead that exists and has not yet had the outcome contributes its score at that
date (as ``calib score --as-of`` would give it), labelled 1 if the outcome follows within
``window_days``. Snapshots whose window runs past the end of the data are left out.
Calibration maps score -> probability:

* ``isotonic``: the pool-adjacent-violators fit of the outcome on the score
  (``scipy.optimize.isotonic_regression`` on the distinct scores, weighted by counts),
  interpolated linearly between distinct scores and flat beyond them;
* ``platt``: a logistic regression of the outcome on the score (statsmodels ``GLM``).

The map is fitted on the snapshots whose window ends by ``train_until`` and evaluated on
snapshots taken after it (out of time); a snapshot data set (no time) uses a seeded
random third of the leads instead. Reported: reliability table (equal-count bins),
Brier score, log loss, ECE (10 equal-count bins), AUC (Mann–Whitney), KS, lift and gains
by decile, the rate by band (``cold``/``warm``/``mql``/``sql``) with coverage (share of
leads with any sales outcome: outcomes of never-worked leads are missing), by cohort
month and by a segment column, and the population stability index of the score between
the training and the test snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.optimize import isotonic_regression

from calib.calibration import metrics as M
from calib.data.dataset import Dataset, ns
from calib.engine.delays import resolve_window
from calib.engine.kernels import NS_PER_DAY
from calib.engine.prepare import prepare
from calib.engine.replay import NEVER, combine_scores
from calib.engine.results import _iso, _num
from calib.engine.score import bands
from calib.errors import CalibError
from calib.fit.examples import outcome_time
from calib.fit.selection import covered_leads
from calib.rules.config import RuleSet

__all__ = ["calibrate", "CalibrationResult", "CalibrationMap"]

Method = Literal["isotonic", "platt"]


@dataclass(frozen=True)
class CalibrationMap:
    """A fitted score -> probability map (``predict``)."""

    method: str
    x: np.ndarray          # isotonic: distinct scores; platt: unused
    y: np.ndarray          # isotonic: fitted probabilities; platt: (intercept, slope)

    def predict(self, score) -> np.ndarray:
        """The probability at each score.

        Parameters
        ----------
        score : array_like of float

        Returns
        -------
        ndarray

        Examples
        --------
        >>> fit_map([0, 1, 2, 3], [0, 0, 1, 1]).predict([0.5, 2.5]).tolist()
        [0.0, 1.0]
        """
        s = np.asarray(score, float)
        if self.method == "isotonic":
            return np.interp(s, self.x, self.y)
        return 1 / (1 + np.exp(-(self.y[0] + self.y[1] * s)))

    def table(self, scores=None) -> pd.DataFrame:
        """The map as a table of ``score`` and ``probability``.

        Parameters
        ----------
        scores : array_like, optional
            Where to read the map (default: its own distinct scores for isotonic, 0 to
            100 in steps of 5 for Platt).

        Returns
        -------
        DataFrame
        """
        if scores is None:
            scores = np.unique(np.round(self.x, 6)) if self.method == "isotonic" else \
                np.linspace(0, 100, 21)
        return pd.DataFrame({"score": scores, "probability": self.predict(scores)})


def fit_map(score, y, method: Method = "isotonic") -> CalibrationMap:
    """Fit a calibration map on scores and 0/1 outcomes.

    Examples
    --------
    >>> m = fit_map([0, 1, 2, 3], [0, 0, 1, 1])
    >>> m.predict([0, 3]).tolist()
    [0.0, 1.0]
    """
    s = np.asarray(score, float)
    y = np.asarray(y, float)
    if method == "isotonic":
        xs, inv = np.unique(s, return_inverse=True)
        cnt = np.bincount(inv)
        mean = np.bincount(inv, weights=y) / cnt
        fitted = isotonic_regression(mean, weights=cnt, increasing=True).x
        return CalibrationMap("isotonic", xs, np.asarray(fitted))
    if method == "platt":
        xs, inv = np.unique(s, return_inverse=True)
        cnt = np.bincount(inv)
        pos = np.bincount(inv, weights=y)
        X = sm.add_constant(xs, has_constant="add")
        res = sm.GLM(np.column_stack([pos, cnt - pos]), X,
                     family=sm.families.Binomial()).fit()
        return CalibrationMap("platt", xs, np.asarray(res.params, float))
    raise CalibError(f"The calibration method must be 'isotonic' or 'platt'. Got {method!r}.",
                     code="invalid_value")


@dataclass(frozen=True)
class CalibrationResult:
    """Calibration of a rule set's score against one outcome (see module docstring).

    ``metrics`` holds ``test`` and ``train`` dicts (brier, log_loss, ece, auc, ks, base
    rate, n); the tables are DataFrames computed on the test snapshots.
    """

    rules: str
    outcome: str
    window_days: float
    method: str
    split: dict
    metrics: dict
    reliability: pd.DataFrame
    lift: pd.DataFrame
    by_band: pd.DataFrame
    by_cohort: pd.DataFrame
    by_segment: pd.DataFrame | None
    psi: dict
    mapping: CalibrationMap
    window: dict = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """The reliability table (the curve's data)."""
        return self.reliability.copy()

    def to_dict(self) -> dict:
        """Every metric and table as a JSON-safe dict (what ``calib calibrate --json``
        prints).

        Returns
        -------
        dict
        """
        def rec(df):
            if df is None:
                return None
            return [{k: (_num(v) if isinstance(v, (float, np.floating)) else
                         (v.item() if hasattr(v, "item") else v)) for k, v in r.items()}
                    for r in df.to_dict("records")]

        return {"rules": self.rules, "outcome": self.outcome, "window_days": self.window_days,
                "method": self.method, "split": self.split,
                "metrics": {k: {kk: _num(vv) if isinstance(vv, float) else vv
                                for kk, vv in v.items()} for k, v in self.metrics.items()},
                "reliability": rec(self.reliability), "lift": rec(self.lift),
                "by_band": rec(self.by_band), "by_cohort": rec(self.by_cohort),
                "by_segment": rec(self.by_segment), "psi": self.psi,
                "mapping": rec(self.mapping.table()), "window": self.window}

    def summary(self) -> str:
        """The calibration in a few lines of text.

        Returns
        -------
        str
        """
        t = self.metrics["test"]
        within = ("" if self.window.get("source") == "snapshot"
                  else f" within {self.window_days:g} days")
        L = [f"Calibration of '{self.rules}': P({self.outcome}{within} | score), {self.method}"]
        if self.window.get("source") in ("data", "default", "snapshot"):
            L.append(f"  window: {self.window['sentence']}")
        s = self.split
        L.append(f"  fitted on {self.metrics['train']['n']:,} snapshots "
                 + (f"before {s['train_until'][:10]}" if s["kind"] == "time" else "(random 2/3)")
                 + f", evaluated on {t['n']:,} "
                 + ("later ones (out of time)" if s["kind"] == "time" else "held-out leads"))
        L.append(f"  test: base rate {t['base_rate']:.2%}, Brier {t['brier']:.4f}, log loss "
                 f"{t['log_loss']:.4f}, ECE {t['ece']:.4f}, AUC {t['auc']:.3f}, KS {t['ks']:.3f}")
        L.append("  reliability (test, equal-count bins of the predicted probability):")
        L.append(f"    {'predicted':>10}{'observed':>10}{'95% CI':>18}{'count':>10}")
        for r in self.reliability.itertuples():
            L.append(f"    {r.mean_predicted:>10.2%}{r.observed:>10.2%}"
                     f"{f'{r.ci_low:.1%}-{r.ci_high:.1%}':>18}{r.count:>10,}")
        L.append("  lift by decile of score (test):")
        for r in self.lift.itertuples():
            L.append(f"    {r.decile:>2}  score >= {r.min_score:>7.4g}  rate {r.rate:>7.2%}  "
                     f"lift {r.lift:>5.2f}  gain {r.cumulative_gain:>6.1%}")
        L.append("  by band (test): " + "; ".join(
            f"{r.band} {r.rate:.1%} of {r.count:,} (coverage {r.coverage:.0%})"
            for r in self.by_band.itertuples()))
        p = self.psi
        if p.get("value") is not None:
            L.append(f"  score stability (PSI train -> test): {p['value']:.3f} ({p['level']})")
        return "\n".join(L)


def _snapshots(ds: Dataset, o: np.ndarray, every_days: float, window_days: float,
               max_examples: int, seed: int):
    created = ns(ds.leads["created_at"])
    step = int(round(every_days * NS_PER_DAY))
    w = int(round(window_days * NS_PER_DAY))
    d0 = int(pd.Timestamp(created.min()).floor("D").value)
    end = ds.end_of_data.value
    K = int((end - w - d0) // step) + 1  # d_k + W <= end
    if K <= 0:
        raise CalibError(f"The data span less than the window of {window_days:g} days: no "
                         "snapshot can be labelled.", code="no_examples",
                         suggestion="Use a shorter --window-days.")
    first = np.maximum(-((d0 - created) // step), 0)           # ceil((created - d0) / step)
    o_k = np.where(o == NEVER, K, -((d0 - o) // step))        # first k with d_k >= o
    last = np.minimum(K - 1, o_k - 1)
    n = np.maximum(last - first + 1, 0)
    total = int(n.sum())
    lead = np.repeat(np.arange(ds.n_leads, dtype=np.int32), n)
    k = np.arange(total) - np.repeat(np.cumsum(n) - n, n) + np.repeat(first, n)
    if total > max_examples:
        keep = np.sort(np.random.default_rng(seed).choice(total, max_examples, replace=False))
        lead, k = lead[keep], k[keep]
    t = d0 + k.astype(np.int64) * step
    y = (o[lead] != NEVER) & (o[lead] <= t + w)
    return lead, t, y.astype(float)


def calibrate(ds: Dataset, rules: RuleSet, *, outcome: str = "meeting",
              window_days: float | None = None, method: Method = "isotonic", train_until=None,
              segment: str | None = None, every_days: float = 7.0, n_bins: int = 10,
              max_examples: int = 2_000_000, seed: int = 0) -> CalibrationResult:
    """Calibrate a rule set's score to the probability of an outcome within a window.

    Parameters
    ----------
    ds : Dataset
    rules : RuleSet
    outcome : str, default "meeting"
    window_days : float, optional
        W: the probability is of the outcome within W days of the snapshot. Default:
        from the data, the 95% quantile of the delay from the MQL (else from lead
        creation) to the outcome
        (:func:`calib.engine.delays.window_from_data`; 90 days when too few leads have it).
    method : {"isotonic", "platt"}, default "isotonic"
    train_until : str or Timestamp, optional
        Fit on snapshots whose window ends by this date, evaluate on later snapshots.
        Default: two thirds of the way through the data.
    segment : str, optional
        Lead column to break the test results down by (e.g. ``source``).
    every_days : float, default 7
        Spacing of the snapshots.
    n_bins : int, default 10
        Bins of the reliability table and the ECE.
    max_examples : int
        Snapshots are subsampled (uniformly, seeded) above this many.

    Examples
    --------
    >>> from calib import load_dataset, load_rules
    >>> res = calibrate(load_dataset("calib-demo/data"), load_rules("calib-demo/truth.toml"))
    >>> res.metrics["test"]["ece"] < 0.02, round(res.metrics["test"]["auc"], 2)
    (True, 0.94)
    """
    if method not in ("isotonic", "platt"):
        raise CalibError(f"The calibration method must be 'isotonic' or 'platt'. Got {method!r}.",
                         code="invalid_value")
    window = _window(ds, rules, outcome, window_days)
    window_days = window.days
    if not window_days > 0 or not every_days > 0:
        raise CalibError("window_days and every_days must be > 0.", code="out_of_range")
    if segment is not None and segment not in ds.leads.columns:
        raise CalibError(f"The segment column '{segment}' is not a column of the leads table.",
                         code="unknown_field")
    o = outcome_time(ds, outcome)
    prep = prepare(ds, rules)
    lead, t, y, test, split = _split_snapshots(ds, o, prep, every_days, window_days,
                                               train_until, max_examples, seed)
    p2 = replace(prep, eval_lead=np.ascontiguousarray(lead), eval_t=np.ascontiguousarray(t))
    score, fit = combine_scores(p2.decayed(rules.decay), p2, rules)
    train = ~test
    if train.sum() == 0 or test.sum() == 0:
        raise _no_split_error(ds, rules, outcome, window_days, split)
    mp = fit_map(score[train], y[train], method)
    prob = mp.predict(score)
    met = {"train": _metrics(y, prob, score, train, n_bins),
           "test": _metrics(y, prob, score, test, n_bins)}
    yt, pt, st = y[test], prob[test], score[test]
    by_band, by_cohort, by_segment = _breakdowns(ds, rules, lead[test], yt, pt, st,
                                                 fit[lead[test]], segment)
    value = M.psi(score[train], score[test])
    psi = {"value": _num(value), "level": M.psi_level(value),
           "between": "training snapshots -> test snapshots",
           "levels": "< 0.1 stable, 0.1-0.25 moderate, > 0.25 major"}
    return CalibrationResult(rules=rules.name, outcome=outcome.lower(),
                             window_days=float(window_days), method=method, split=split,
                             metrics=met, reliability=M.reliability_table(yt, pt, n_bins),
                             lift=M.lift_table(yt, st), by_band=by_band,
                             by_cohort=by_cohort, by_segment=by_segment, psi=psi, mapping=mp,
                             window=window.to_dict())


def _window(ds: Dataset, rules: RuleSet, outcome: str, window_days):
    """The window: given, else from the data when the outcome is in it, else 90 days."""
    if window_days is None and outcome.lower() in ds.outcome_types:
        return resolve_window(ds, None, [outcome.lower()], rules=rules)
    return resolve_window(ds, 90.0 if window_days is None else window_days, [outcome])


def _split_snapshots(ds: Dataset, o, prep, every_days, window_days, train_until,
                     max_examples, seed):
    """The examples (lead, moment, label) and which are test examples: snapshots whose
    window ends by ``train_until`` train, those taken after it test (a random third of
    the leads for snapshot data). Returns (lead, t, y, test, split)."""
    if ds.snapshot:
        lead = np.arange(ds.n_leads, dtype=np.int32)
        test = np.random.default_rng(seed).random(ds.n_leads) < 1 / 3
        return (lead, prep.eval_t, (o != NEVER).astype(float), test,
                {"kind": "random", "train_until": None, "seed": seed})
    lead, t, y = _snapshots(ds, o, every_days, window_days, max_examples, seed)
    if train_until is None:
        start = ds.leads["created_at"].min()
        T = (start + (ds.end_of_data - start) * 2 / 3).floor("D")
    else:
        T = pd.Timestamp(train_until)
        T = T.tz_localize("UTC") if T.tzinfo is None else T.tz_convert("UTC")
    w = int(round(window_days * NS_PER_DAY))
    train = t + w <= T.value
    test = t >= T.value
    keep = train | test
    return (lead[keep], t[keep], y[keep], test[keep],
            {"kind": "time", "train_until": _iso(T), "every_days": every_days})


def _no_split_error(ds: Dataset, rules: RuleSet, outcome: str, window_days: float,
                    split: dict) -> CalibError:
    """Why the split leaves no training or no test snapshot, and what would work."""
    why = ""
    if not ds.snapshot:
        T = pd.Timestamp(split["train_until"])
        first = ds.leads["created_at"].min()
        why = (f" A training snapshot needs its whole {window_days:g}-day window before "
               f"--train-until ({T.date()}), and the data start on {first.date()}; a test "
               f"snapshot needs its window before the end of the data "
               f"({ds.end_of_data.date()}).")
        w = resolve_window(ds, None, [outcome.lower()], rules=rules, default=window_days)
        if w.source == "data" and w.days < window_days:
            why += f" {w.sentence[0].upper()}{w.sentence[1:].split(': window')[0]}."
        hint = (f"Use a shorter --window-days (e.g. {w.days:g}) or another --train-until."
                if w.source == "data" and w.days < window_days
                else "Use a shorter --window-days or another --train-until.")
    else:
        hint = "Choose another --train-until."
    return CalibError("The split leaves no training or no test snapshots." + why,
                      code="no_examples", suggestion=hint)


def _metrics(y, prob, score, mask, n_bins: int) -> dict:
    """Calibration and discrimination of the examples in ``mask``."""
    yy, pp, ss = y[mask], prob[mask], score[mask]
    return {"n": int(mask.sum()), "positives": int(yy.sum()), "base_rate": float(yy.mean()),
            "mean_predicted": float(pp.mean()), "brier": M.brier_score(yy, pp),
            "log_loss": M.log_loss(yy, pp),
            "ece": M.expected_calibration_error(yy, pp, n_bins),
            "auc": M.auc(yy, ss), "ks": M.ks_statistic(yy, ss)}


def _breakdowns(ds: Dataset, rules: RuleSet, lead, yt, pt, st, fit, segment):
    """Observed and predicted rates of the test examples (of leads ``lead``) by band,
    by cohort month and by ``segment``, with the coverage of sales outcomes."""
    covered = covered_leads(ds)[lead]

    def breakdown(keys, name):
        df = pd.DataFrame({name: keys, "y": yt, "p": pt, "covered": covered})
        g = df.groupby(name, observed=True, dropna=False)
        out = g.agg(count=("y", "size"), observed=("y", "mean"), mean_predicted=("p", "mean"),
                    coverage=("covered", "mean")).reset_index()
        out["rate"] = out["observed"]
        return out

    by_band = breakdown(bands(st, fit, rules), "band")
    by_band["order"] = by_band["band"].map({"cold": 0, "warm": 1, "mql": 2, "sql": 3})
    by_band = by_band.sort_values("order").drop(columns="order").reset_index(drop=True)
    if "created_at" in ds.leads:
        by_cohort = breakdown(ds.leads["created_at"].dt.strftime("%Y-%m").to_numpy()[lead],
                              "cohort_month")
    else:
        by_cohort = pd.DataFrame()
    by_segment = None
    if segment is not None:
        seg = ds.leads[segment].astype("string").fillna("(missing)").to_numpy()[lead]
        by_segment = breakdown(seg, segment)
    return by_band, by_cohort, by_segment
