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

from calib.fit.logistic import cluster_covariance, fit_logit
from calib.rules.config import Decay

__all__ = ["DecayProfile", "profile_decay", "PARAM_GRID_DAYS"]

PARAM_GRID_DAYS = (1.0, 2.0, 4.0, 7.0, 10.0, 14.0, 21.0, 30.0, 45.0, 60.0, 90.0, 120.0,
                   180.0, 270.0, 365.0)
KINDS = ("none", "exponential", "window", "linear")
EXTEND_STEPS = 4  # grid extensions past an end, each doubling (or halving) the last value
MIN_DAYS, MAX_DAYS = 0.1, 3650.0
_PARAM = {"exponential": "half_life_days", "window": "days", "linear": "days"}


def make_decay(kind: str, value: float | None) -> Decay:
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
        if self.decay.kind == "none":
            return None
        return float(getattr(self.decay, _PARAM[self.decay.kind]))

    def to_frame(self) -> pd.DataFrame:
        return self.curve.copy()

    def to_dict(self) -> dict:
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
    n = len(y)
    ones = np.ones((n, 1))
    rows = []
    starts: dict = {}

    def ll(kind, value):
        D = space.counts(make_decay(kind, value))
        if transform is not None:
            D = transform(D)
        X = np.hstack([ones, D, fixed])
        f = fit_logit(X, y, weight=weight, l2=l2, start=starts.get(kind))
        starts[kind] = f.coef
        rows.append({"kind": kind, "parameter_days": np.nan if value is None else float(value),
                     "loglik": f.loglik, "n_coef": X.shape[1]})
        if progress is not None:
            progress()
        return f.loglik

    for kind in kinds:
        if kind == "none":
            ll("none", None)
        else:
            for v in grid:
                ll(kind, v)
    df = pd.DataFrame(rows)
    df["aic"] = -2 * df["loglik"] + 2 * (df["n_coef"] + (df["kind"] != "none"))
    best_rows = df.loc[df.groupby("kind")["aic"].idxmin()]
    best = best_rows.loc[best_rows["aic"].idxmin()]
    kind = str(best["kind"])
    value = None if kind == "none" else float(best["parameter_days"])

    if kind != "none":
        # an optimum at an end of the grid: extend the grid on that side
        tried = sorted(set(df.loc[df.kind == kind, "parameter_days"]))
        for _ in range(EXTEND_STEPS):
            if value >= tried[-1]:
                nxt = tried[-1] * 1.5
            elif value <= tried[0]:
                nxt = tried[0] / 2
            else:
                break
            if ll(kind, nxt) > float(df.loc[(df.kind == kind) & (df.parameter_days == value),
                                             "loglik"].max()):
                value = nxt
            df = pd.DataFrame(rows)
            tried = sorted(set(df.loc[df.kind == kind, "parameter_days"]))
            if value not in (tried[0], tried[-1]):
                break
        df["aic"] = -2 * df["loglik"] + 2 * (df["n_coef"] + (df["kind"] != "none"))
        best = df.loc[(df.kind == kind) & (df.parameter_days == value)].iloc[0]
        grid = tuple(tried)

    if kind != "none" and refine:
        g = np.log(np.asarray(grid, float))
        i = int(np.argmin(np.abs(g - np.log(value))))
        lo_g, hi_g = g[max(i - 1, 0)], g[min(i + 1, len(g) - 1)]
        if hi_g > lo_g:
            res = optimize.minimize_scalar(lambda x: -ll(kind, float(np.exp(x))),
                                           bounds=(lo_g, hi_g), method="bounded",
                                           options={"xatol": 0.02})
            cand = float(np.exp(res.x))
            if -res.fun > best["loglik"]:
                value = cand
    df = pd.DataFrame(rows)
    df["aic"] = -2 * df["loglik"] + 2 * (df["n_coef"] + (df["kind"] != "none"))
    decay = make_decay(kind, value)

    # design effect at the best decay, from an unpenalised fit
    D = space.counts(decay)
    if transform is not None:
        D = transform(D)
    X = np.hstack([ones, D, fixed])
    f = fit_logit(X, y, weight=weight, l2=l2, start=starts.get(kind))
    B, V = cluster_covariance(X, y, f.coef, groups, weight)
    cols = [j for j in range(1, 1 + D.shape[1]) if X[:, j].std() > 0 and B[j, j] > 0]
    deff = float(np.mean(np.diag(V)[cols] / np.diag(B)[cols])) if cols else 1.0
    if weight is not None and not np.allclose(weight, 1.0):
        deff = max(deff, 1.0)
    deff = max(deff, 1.0)
    # the maximum of the same (penalised) fits the profile is made of: an unpenalised
    # maximum would sit above every point of the profile when the data separate
    max_ll = float(df.loc[df.kind == kind, "loglik"].max())
    drop = deff * stats.chi2.ppf(0.95, 1) / 2

    ci_low = ci_high = None
    if kind != "none":
        sub = df[df.kind == kind].drop_duplicates("parameter_days").sort_values("parameter_days")
        p = sub["parameter_days"].to_numpy()
        lls = sub["loglik"].to_numpy()
        target = max_ll - drop

        def side(mask, reverse):
            pts = p[mask]
            vals = lls[mask]
            if reverse:
                pts, vals = pts[::-1], vals[::-1]
            # walk away from the optimum to the first grid value below the target; past
            # the end of the grid, extend it (None: the profile stays above the target)
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
                    vals.append(ll(kind, v))
                if j >= len(pts):
                    return None
                if vals[j] < target:
                    a = np.log(pts[j - 1]) if j > 0 else np.log(value)
                    b = np.log(pts[j])
                    fa = (vals[j - 1] if j > 0 else max_ll) - target
                    try:
                        r = optimize.brentq(lambda x: ll(kind, float(np.exp(x))) - target,
                                            min(a, b), max(a, b), xtol=0.01) \
                            if fa > 0 else b
                    except ValueError:
                        r = b
                    return float(np.exp(r))
                j += 1

        ci_low = side(p <= value, reverse=True)
        ci_high = side(p >= value, reverse=False)
        df = pd.DataFrame(rows)
        df["aic"] = -2 * df["loglik"] + 2 * (df["n_coef"] + (df["kind"] != "none"))

    curve = (df.drop(columns="n_coef").drop_duplicates(["kind", "parameter_days"])
             .sort_values(["kind", "parameter_days"]).reset_index(drop=True))
    kinds_df = (curve.loc[curve.groupby("kind")["aic"].idxmin()]
                .sort_values("aic").reset_index(drop=True))
    kinds_df["delta_aic"] = kinds_df["aic"] - kinds_df["aic"].min()
    tried = curve.loc[curve.kind == kind, "parameter_days"].dropna()
    return DecayProfile(curve=curve, decay=decay, loglik=max_ll, ci_low=ci_low,
                        ci_high=ci_high, deff=deff, kinds=kinds_df,
                        searched_low=float(tried.min()) if len(tried) else None,
                        searched_high=float(tried.max()) if len(tried) else None)
