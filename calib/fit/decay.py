"""How fast does interest fade? The decay kind and its parameter by profile likelihood.

For each decay kind (``none``, ``exponential``, ``window``, ``linear``) and each value of
its parameter (half-life or window length in days) the logistic model of
:mod:`calib.fit.points` is refitted on the same examples with the per event type decayed
counts recomputed; the maximised log-likelihood as a function of the parameter is the
profile. The kind with the smallest AIC wins, and the parameter's 95% interval is the set
of values whose log-likelihood is within ``deff * chi2(1, 0.95) / 2`` (= 1.92 for
independent examples) of the maximum.

``deff`` corrects for examples not being independent: a lead contributes one example per
evaluation point, and those share its outcome. It is the mean, over the behaviour
coefficients, of the ratio of the cluster-robust (by lead) to the model-based variance at
the best decay: the usual adjustment of a composite likelihood ratio (a heuristic for
one parameter, documented as such).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from calib.fit.config import KINDS  # the decay kinds the profile compares
from calib.fit.logistic import cluster_covariance, fit_logit
from calib.rules.config import Decay

__all__ = ["DecayProfile", "profile_decay", "PARAM_GRID_DAYS"]

PARAM_GRID_DAYS = (1.0, 2.0, 4.0, 7.0, 10.0, 14.0, 21.0, 30.0, 45.0, 60.0, 90.0, 120.0,
                   180.0, 270.0, 365.0)
EXTEND_STEPS = 4  # grid extensions past an end, each doubling (or halving) the last value
MIN_DAYS, MAX_DAYS = 0.1, 3650.0
_PARAM = {"exponential": "half_life_days", "window": "days", "linear": "days"}


def make_decay(kind: str, value: float | None) -> Decay:
    """The decay of ``kind`` with its parameter ``value`` in days.

    Parameters
    ----------
    kind : {"none", "exponential", "window", "linear"}
    value : float or None
        The half-life (``exponential``) or the length (``window``, ``linear``) in days;
        ignored for ``none``.

    Returns
    -------
    Decay

    Examples
    --------
    >>> make_decay("exponential", 14).half_life_days
    14.0
    """
    if kind == "none":
        return Decay()
    return Decay(kind=kind, **{_PARAM[kind]: float(value)})


@dataclass(frozen=True)
class DecayProfile:
    """The decay profile: every (kind, parameter) tried with its log-likelihood.

    Attributes
    ----------
    curve : DataFrame
        ``kind``, ``parameter_days`` (NaN for ``none``), ``loglik``, ``aic``.
    decay : Decay
        The chosen decay (best AIC over kinds, best parameter within the kind).
    ci_low, ci_high : float or None
        95% profile-likelihood interval of the chosen parameter (None when the profile
        does not drop far enough inside the grid on that side).
    deff : float
        Design effect used to widen the likelihood-ratio drop.
    """

    curve: pd.DataFrame
    decay: Decay
    loglik: float
    ci_low: float | None
    ci_high: float | None
    deff: float
    kinds: pd.DataFrame
    searched_low: float | None = None
    searched_high: float | None = None

    @property
    def parameter(self) -> float | None:
        """The chosen decay's parameter in days (None for no decay)."""
        if self.decay.kind == "none":
            return None
        return float(getattr(self.decay, _PARAM[self.decay.kind]))

    def to_frame(self) -> pd.DataFrame:
        """The profile: one row per (kind, parameter) tried.

        Returns
        -------
        DataFrame
            A copy of :attr:`curve`: ``kind``, ``parameter_days`` (NaN for ``none``),
            ``loglik`` and ``aic``.
        """
        return self.curve.copy()

    def to_dict(self) -> dict:
        """The chosen decay, its interval and the profile as a JSON-safe dict.

        Returns
        -------
        dict
            ``decay`` and ``parameter_days``, the interval (``ci_low``, ``ci_high``, in
            words as ``interval``), the log-likelihood drop it used (``lr_drop``, with
            ``deff``), and the best fit per kind and the whole profile as records
            (``by_kind``, ``curve``).
        """
        return {
            "decay": self.decay.to_dict(),
            "parameter_days": self.parameter,
            "ci_low": self.ci_low, "ci_high": self.ci_high,
            "interval": self.interval_text() if self.parameter is not None else None,
            "lr_drop": float(self.deff * stats.chi2.ppf(0.95, 1) / 2),
            "deff": self.deff,
            "by_kind": self.kinds.to_dict("records"),
            "curve": self.curve.to_dict("records"),
        }

    def summary(self) -> str:
        """The chosen decay and its interval in one line.

        Returns
        -------
        str
        """
        d = self.decay.to_dict()
        text = f"decay: {d['kind']}"
        if self.parameter is not None:
            text += f", {_PARAM[self.decay.kind]} = {self.parameter:.3g}"
            text += f" ({self.interval_text()})"
        return text

    def interval_text(self) -> str:
        """The 95% interval in words; one-sided when the profile does not drop far
        enough on a side within the values tried (never a point)."""
        lo, hi = self.ci_low, self.ci_high
        top = "" if self.searched_high is None else f"{self.searched_high:,.3g}"
        bottom = "" if self.searched_low is None else f"{self.searched_low:,.3g}"
        if lo is not None and hi is not None:
            return f"95% profile-likelihood interval {lo:.3g} to {hi:.3g} days"
        if lo is not None:
            return (f"95% profile-likelihood interval: at least {lo:.3g} days; the data "
                    f"cannot rule out longer, up to the {top} days tried")
        if hi is not None:
            return (f"95% profile-likelihood interval: at most {hi:.3g} days; the data "
                    f"cannot rule out shorter, down to the {bottom} days tried")
        return (f"not determined by the data: the profile likelihood is flat from {bottom} "
                f"to {top} days")


def profile_decay(space, fixed: np.ndarray, y: np.ndarray, weight: np.ndarray,
                  groups: np.ndarray, *, kinds=KINDS, grid=PARAM_GRID_DAYS, l2: float = 0.0,
                  transform=None, refine: bool = True, progress=None) -> DecayProfile:
    """Profile the log-likelihood over decay kinds and parameters.

    Parameters
    ----------
    space : FeatureSpace
        Per event type counts at the examples' moments (``space.counts(decay)``).
    fixed : ndarray
        The columns that do not depend on the decay (fit attributes), per example.
    y, weight, groups : ndarray
        Labels, weights and the lead of each example (the clusters).
    kinds : tuple of str
        Decay kinds to compare.
    grid : tuple of float
        Parameter values (days) tried for each kind with a parameter; the best kind's
        optimum is then refined by a golden-section search between its neighbours.
    transform : callable, optional
        Applied to the count matrix before fitting (e.g. caps).
    progress : callable, optional
        Called once after each refit of the model (a progress bar's tick).

    Examples
    --------
    >>> import numpy as np
    >>> from calib import load_dataset, load_rules
    >>> from calib.fit.examples import build_examples
    >>> from calib.refine.speed import first_times
    >>> ds = load_dataset("calib-demo/data")
    >>> ex = build_examples(ds, load_rules("calib-demo/current.toml"),
    ...                     first_times(ds, "meeting"), horizon_days=30, max_examples=5000)
    >>> prof = profile_decay(ex.features, np.zeros((ex.n, 0)), ex.y, ex.weight, ex.lead)
    >>> prof.decay.kind, round(prof.decay.half_life_days, 1)
    ('exponential', 12.7)
    """
    prof = _Profiler(space, fixed, y, weight, l2, transform, progress)
    for kind in kinds:
        if kind == "none":
            prof.ll("none", None)
        else:
            for v in grid:
                prof.ll(kind, v)
    df = prof.frame()
    best_rows = df.loc[df.groupby("kind")["aic"].idxmin()]
    best = best_rows.loc[best_rows["aic"].idxmin()]
    kind = str(best["kind"])
    value = None if kind == "none" else float(best["parameter_days"])
    if kind != "none":
        value, grid, best = _extend_grid(prof, kind, value)
    if kind != "none" and refine:
        value = _refine(prof, kind, value, grid, best)
    decay = make_decay(kind, value)
    deff = _design_effect(prof, decay, kind, groups)
    # the maximum of the same (penalised) fits the profile is made of: an unpenalised
    # maximum would sit above every point of the profile when the data separate
    df = prof.frame()
    max_ll = float(df.loc[df.kind == kind, "loglik"].max())
    ci_low = ci_high = None
    if kind != "none":
        ci_low, ci_high = _interval(prof, kind, value, max_ll,
                                    deff * stats.chi2.ppf(0.95, 1) / 2)
    curve = (prof.frame().drop(columns="n_coef").drop_duplicates(["kind", "parameter_days"])
             .sort_values(["kind", "parameter_days"]).reset_index(drop=True))
    kinds_df = (curve.loc[curve.groupby("kind")["aic"].idxmin()]
                .sort_values("aic").reset_index(drop=True))
    kinds_df["delta_aic"] = kinds_df["aic"] - kinds_df["aic"].min()
    tried = curve.loc[curve.kind == kind, "parameter_days"].dropna()
    return DecayProfile(curve=curve, decay=decay, loglik=max_ll, ci_low=ci_low,
                        ci_high=ci_high, deff=deff, kinds=kinds_df,
                        searched_low=float(tried.min()) if len(tried) else None,
                        searched_high=float(tried.max()) if len(tried) else None)


class _Profiler:
    """The model refitted at one decay after another, warm-started per kind; every
    (kind, parameter, log-likelihood) is kept."""

    def __init__(self, space, fixed, y, weight, l2, transform, progress):
        self.space, self.fixed, self.y, self.weight = space, fixed, y, weight
        self.l2, self.transform, self.progress = l2, transform, progress
        self.ones = np.ones((len(y), 1))
        self.rows: list[dict] = []
        self.starts: dict = {}

    def design(self, decay: Decay) -> tuple[np.ndarray, int]:
        """The design matrix at ``decay`` and its number of decayed columns."""
        D = self.space.counts(decay)
        if self.transform is not None:
            D = self.transform(D)
        return np.hstack([self.ones, D, self.fixed]), D.shape[1]

    def ll(self, kind: str, value) -> float:
        """The log-likelihood at (``kind``, ``value``), recorded."""
        X, _ = self.design(make_decay(kind, value))
        f = fit_logit(X, self.y, weight=self.weight, l2=self.l2, start=self.starts.get(kind))
        self.starts[kind] = f.coef
        self.rows.append({"kind": kind,
                          "parameter_days": np.nan if value is None else float(value),
                          "loglik": f.loglik, "n_coef": X.shape[1]})
        if self.progress is not None:
            self.progress()
        return f.loglik

    def frame(self) -> pd.DataFrame:
        """Every fit so far with its AIC (the decay's parameter counts as one)."""
        df = pd.DataFrame(self.rows)
        df["aic"] = -2 * df["loglik"] + 2 * (df["n_coef"] + (df["kind"] != "none"))
        return df


def _extend_grid(prof: _Profiler, kind: str, value: float):
    """An optimum at an end of the grid: extend the grid on that side. Returns the
    optimum, the values tried and the optimum's row."""
    df = prof.frame()
    tried = sorted(set(df.loc[df.kind == kind, "parameter_days"]))
    for _ in range(EXTEND_STEPS):
        if value >= tried[-1]:
            nxt = tried[-1] * 1.5
        elif value <= tried[0]:
            nxt = tried[0] / 2
        else:
            break
        if prof.ll(kind, nxt) > float(df.loc[(df.kind == kind) & (df.parameter_days == value),
                                              "loglik"].max()):
            value = nxt
        df = prof.frame()
        tried = sorted(set(df.loc[df.kind == kind, "parameter_days"]))
        if value not in (tried[0], tried[-1]):
            break
    df = prof.frame()
    return value, tuple(tried), df.loc[(df.kind == kind) & (df.parameter_days == value)].iloc[0]


def _refine(prof: _Profiler, kind: str, value: float, grid, best) -> float:
    """The optimum refined by a bounded search between its neighbours on the grid."""
    g = np.log(np.asarray(grid, float))
    i = int(np.argmin(np.abs(g - np.log(value))))
    lo_g, hi_g = g[max(i - 1, 0)], g[min(i + 1, len(g) - 1)]
    if hi_g > lo_g:
        res = optimize.minimize_scalar(lambda x: -prof.ll(kind, float(np.exp(x))),
                                       bounds=(lo_g, hi_g), method="bounded",
                                       options={"xatol": 0.02})
        cand = float(np.exp(res.x))
        if -res.fun > best["loglik"]:
            value = cand
    return value


def _design_effect(prof: _Profiler, decay: Decay, kind: str, groups) -> float:
    """The mean ratio of cluster-robust to model-based variance of the decayed
    coefficients at ``decay`` (at least 1)."""
    X, n_decayed = prof.design(decay)
    f = fit_logit(X, prof.y, weight=prof.weight, l2=prof.l2, start=prof.starts.get(kind))
    B, V = cluster_covariance(X, prof.y, f.coef, groups, prof.weight)
    cols = [j for j in range(1, 1 + n_decayed) if X[:, j].std() > 0 and B[j, j] > 0]
    deff = float(np.mean(np.diag(V)[cols] / np.diag(B)[cols])) if cols else 1.0
    if prof.weight is not None and not np.allclose(prof.weight, 1.0):
        deff = max(deff, 1.0)
    return max(deff, 1.0)


def _interval(prof: _Profiler, kind: str, value: float, max_ll: float, drop: float):
    """The 95% profile-likelihood interval (None on a side where the profile stays
    above ``max_ll - drop`` up to the end of the grid and its extensions)."""
    df = prof.frame()
    sub = df[df.kind == kind].drop_duplicates("parameter_days").sort_values("parameter_days")
    p = sub["parameter_days"].to_numpy()
    lls = sub["loglik"].to_numpy()
    target = max_ll - drop
    lo = _side(prof, kind, value, p[p <= value][::-1], lls[p <= value][::-1], max_ll, target,
               reverse=True)
    hi = _side(prof, kind, value, p[p >= value], lls[p >= value], max_ll, target,
               reverse=False)
    return lo, hi


def _side(prof: _Profiler, kind: str, value: float, pts, vals, max_ll: float,
          target: float, reverse: bool):
    """Walk away from the optimum to the first grid value below the target; past the end
    of the grid, extend it (None: the profile stays above the target)."""
    pts, vals = list(pts), list(vals)
    j = ext = 0
    while True:
        if j == len(pts):
            if ext >= EXTEND_STEPS or (
                    pts[-1] >= MAX_DAYS if not reverse else pts[-1] <= MIN_DAYS):
                return None
            ext += 1
            v = pts[-1] / 2 if reverse else pts[-1] * 2
            pts.append(v)
            vals.append(prof.ll(kind, v))
        if j >= len(pts):
            return None
        if vals[j] < target:
            a = np.log(pts[j - 1]) if j > 0 else np.log(value)
            b = np.log(pts[j])
            fa = (vals[j - 1] if j > 0 else max_ll) - target
            try:
                r = optimize.brentq(lambda x: prof.ll(kind, float(np.exp(x))) - target,
                                    min(a, b), max(a, b), xtol=0.01) if fa > 0 else b
            except ValueError:
                r = b
            return float(np.exp(r))
        j += 1
