"""From a logistic model of the outcome to integer points, and a review of the current rules.

The model (see :mod:`calib.fit.examples` for the examples) is

    logit P(outcome in the label window) = b0 + sum_terms b_k * x_k

with one *behaviour term* per current behaviour rule (the sum of the decayed counts of
its event types, clipped at the rule's cap expressed in events: ``cap / points``), one per
event type no current rule counts, and the fit-attribute terms of
:mod:`calib.fit.design`. The estimates are ridge estimates: an L2 penalty on
standardised columns, its strength chosen by time-series cross-validation
(:func:`choose_l2`), keeps rare and quasi-separated terms finite and shrinks them. The
95% intervals come from the same penalised fit, with a cluster-robust (by lead) sandwich
covariance, since a lead's examples share its outcome (:func:`penalised_covariance`).
Terms whose examples all share one label (the data separate) are named
(:func:`separating_terms`).

Points are ``round(s * b_k)`` with ``s`` points per unit of log-odds, chosen by the
caller so that the proposed MQL cutoff sits on the current rules' scale.

A current rule is reviewed by the effect the data support for it, in points on the
*current rules' own scale* (the median of points / effect over the current rules with a
clear effect of the right sign), so a rule is judged against the others of its rule
set: for a behaviour rule,
the (frequency-weighted) coefficient of its event types; for a fit rule, the contrast
``mean(x | rule matches) - mean(x | not)`` applied to the attribute coefficients (so a
rule on a field the model splits differently, such as ``employees >= 200``, is still
judged). In points, with its interval, a rule is:

* ``vanity``: it gives points but the interval of its effect includes 0;
* ``wrong_sign``: its effect is significantly of the opposite sign;
* ``over_weighted``: more points than the upper end of the interval supports;
* ``under_weighted``: fewer points than the lower end supports;
* ``ok`` otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats

from calib.fit.logistic import fit_logit, gram
from calib.rules.config import RuleSet

__all__ = ["BehaviorTerm", "behavior_terms", "split_terms", "term_matrix", "ModelFit",
           "fit_model", "choose_l2", "penalised_covariance", "separating_terms",
           "equality_pvalue", "review_rules", "RULE_STATUSES"]

RULE_STATUSES = ("ok", "vanity", "wrong_sign", "over_weighted", "under_weighted")


@dataclass(frozen=True)
class BehaviorTerm:
    """A behaviour column of the model: the decayed count of ``events`` (clipped at
    ``cap_count`` events), named after the current rule it comes from when there is one."""

    name: str
    events: tuple[str, ...]
    cap_count: float | None = None
    max_per_day: int | None = None
    source: str | None = None
    group: str | None = None  # the multi-event current rule it was split from


def behavior_terms(event_types, current: RuleSet) -> list[BehaviorTerm]:
    """Terms following the current behaviour rules, plus one per uncovered event type.

    Parameters
    ----------
    event_types : sequence of str
        The event types of the training data.
    current : RuleSet

    Returns
    -------
    list of BehaviorTerm

    Examples
    --------
    >>> from calib.rules import RuleSet
    >>> rules = RuleSet.from_dict({"behavior": [{"name": "web", "events": ["visit", "click"],
    ...                                          "points": 5}], "thresholds": {"mql": 10}})
    >>> [(t.name, t.events) for t in behavior_terms(["visit", "click", "demo"], rules)]
    [('web', ('visit', 'click')), ('demo', ('demo',))]
    """
    present = set(event_types)
    terms: list[BehaviorTerm] = []
    taken: set[str] = set()
    for r in current.behavior:
        events = tuple(e for e in r.events if e in present and e not in taken)
        if not events:
            continue
        taken.update(events)
        cap = r.cap / abs(r.points) if (r.cap is not None and r.points) else None
        terms.append(BehaviorTerm(name=r.name, events=events, cap_count=cap,
                                  max_per_day=r.max_per_day, source=r.name))
    names = {t.name for t in terms}
    for e in event_types:
        if e not in taken:
            name = e if e not in names else f"{e}_events"
            terms.append(BehaviorTerm(name=name, events=(e,)))
            names.add(name)
    return terms


def split_terms(terms: list[BehaviorTerm]) -> list[BehaviorTerm]:
    """Multi-event terms split into one term per event type (to test whether the types
    of a group really are worth the same).

    Examples
    --------
    >>> terms = [BehaviorTerm(name="web", events=("visit", "click"))]
    >>> [(t.name, t.group) for t in split_terms(terms)]
    [('visit', 'web'), ('click', 'web')]
    """
    names = {t.name for t in terms}
    out = []
    for t in terms:
        if len(t.events) == 1:
            out.append(t)
            continue
        for e in t.events:
            name = e if e not in names else f"{t.name}_{e}"
            out.append(BehaviorTerm(name=name, events=(e,), cap_count=t.cap_count,
                                    max_per_day=t.max_per_day, source=None, group=t.name))
    return out


def term_matrix(counts: np.ndarray, event_types, terms: list[BehaviorTerm]) -> np.ndarray:
    """(n x n_terms) behaviour columns from per event type counts (summed over a term's
    events, capped at its ``cap_count``).

    Examples
    --------
    >>> counts = np.array([[1., 2.], [3., 0.]])
    >>> term_matrix(counts, ["visit", "click"],
    ...             [BehaviorTerm(name="web", events=("visit", "click"), cap_count=2.5)])
    array([[2.5],
           [2.5]])
    """
    index = {e: i for i, e in enumerate(event_types)}
    out = np.zeros((counts.shape[0], len(terms)))
    for j, t in enumerate(terms):
        for e in t.events:
            out[:, j] += counts[:, index[e]]
        if t.cap_count is not None:
            np.minimum(out[:, j], t.cap_count, out=out[:, j])
    return out


@dataclass(frozen=True)
class ModelFit:
    """A fitted model: names and kinds of the columns (intercept first), the penalised
    (ridge) coefficients with their cluster-robust sandwich covariance, and the
    unpenalised coefficients for reference (they can be huge or arbitrary when the data
    separate; nothing is reported from them)."""

    names: tuple[str, ...]
    kinds: tuple[str, ...]
    coef: np.ndarray
    coef_mle: np.ndarray
    cov: np.ndarray
    loglik: float
    log_sampling: float
    l2: float = 0.0
    separated: tuple[str, ...] = ()

    @property
    def se(self) -> np.ndarray:
        """Cluster-robust standard errors of the coefficients."""
        return np.sqrt(np.maximum(np.diag(self.cov), 0))

    def frame(self) -> pd.DataFrame:
        """One row per column: coefficient, unpenalised coefficient, standard error and
        95% interval (the intercept corrected for the subsampling of negatives).

        Returns
        -------
        DataFrame
        """
        z = stats.norm.isf(0.025)
        df = pd.DataFrame({"term": self.names, "kind": self.kinds, "coef": self.coef,
                           "coef_unpenalised": self.coef_mle, "se": self.se})
        df["ci_low"] = df["coef"] - z * df["se"]
        df["ci_high"] = df["coef"] + z * df["se"]
        df["separates"] = df["term"].isin(self.separated)
        df.loc[0, ["coef", "coef_unpenalised", "ci_low", "ci_high"]] += self.log_sampling
        return df


def penalised_covariance(X, y, coef, groups, weight, l2, sd=None) -> np.ndarray:
    """Cluster-robust sandwich covariance of a ridge fit: ``B M B * G / (G - 1)`` with
    ``B`` the inverse of the *penalised* Hessian and ``M`` the sum over clusters of the
    outer products of their score contributions (the penalised estimating equation
    ``sum_i u_i - P beta = 0`` of an M-estimator).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.poisson(1.0, 2000).astype(float)
    >>> X = np.column_stack([np.ones(2000), x])
    >>> y = (rng.random(2000) < special.expit(-1 + 0.5 * x)).astype(float)
    >>> f = fit_logit(X, y, l2=1.0)
    >>> V = penalised_covariance(X, y, f.coef, np.arange(2000), None, 1.0)
    >>> V.shape, bool(np.all(np.diag(V) > 0))
    ((2, 2), True)
    """
    w = np.ones(len(y)) if weight is None else weight
    if sd is None:
        sd = X.std(axis=0)
    pen = l2 * sd ** 2
    pen[0] = 0.0
    _, inv = np.unique(groups, return_inverse=True)
    G = inv.max() + 1
    keep = np.flatnonzero(w != 0)  # rows of weight zero add nothing to either matrix
    X, y, w, inv = X[keep], np.asarray(y)[keep], w[keep], inv[keep]
    p = special.expit(X @ coef)
    B = np.linalg.pinv(gram(X, w * p * (1 - p)) + np.diag(pen))
    u = X * (w * (y - p))[:, None]
    U = np.column_stack([np.bincount(inv, weights=u[:, j], minlength=G)
                         for j in range(X.shape[1])])
    factor = G / (G - 1) if G > 1 else 1.0
    return factor * B @ (U.T @ U) @ B


L2_GRID = (1.0, 10.0, 100.0, 1000.0)


def choose_l2(X: np.ndarray, y: np.ndarray, weight: np.ndarray, t: np.ndarray, *,
              grid=L2_GRID, folds: int = 3) -> tuple[float, pd.DataFrame]:
    """The ridge strength with the smallest out-of-time deviance.

    Time-series cross-validation: the examples, ordered by their moment ``t``, are cut
    into ``folds + 1`` blocks of equal size; fold ``k`` trains on blocks ``0..k-1`` and
    scores the (weighted) deviance of block ``k``. Returns the best strength and the
    table of deviances (``l2``, ``deviance``).

    Examples
    --------
    >>> t = np.arange(3000)
    >>> X, y = np.column_stack([np.ones(3000), t % 4]), (t % 7 < 1 + t % 4).astype(float)
    >>> l2, cv = choose_l2(X, y, np.ones(3000), t)
    >>> l2 in L2_GRID, list(cv.columns)
    (True, ['l2', 'deviance'])
    """
    order = np.argsort(t, kind="stable")
    edges = np.linspace(0, len(t), folds + 2).astype(int)
    dev = np.zeros(len(grid))
    for k in range(1, folds + 1):
        tr, va = order[:edges[k]], order[edges[k]:edges[k + 1]]
        if len(va) == 0 or y[tr].min() == y[tr].max():
            continue
        # the fold's rows once for every strength; rows of weight zero add nothing
        X_tr = X[tr]
        sd = X_tr.std(axis=0)
        tr = tr[weight[tr] != 0]
        va = va[weight[va] != 0]
        X_tr, y_tr, w_tr = X[tr], y[tr], weight[tr]
        X_va, y_va, w_va = X[va], y[va], weight[va]
        start = None
        for i, l2 in enumerate(grid):
            f = fit_logit(X_tr, y_tr, weight=w_tr, l2=l2, start=start, max_iter=30, sd=sd)
            start = f.coef
            eta = X_va @ f.coef
            dev[i] += float(2 * (w_va * (y_va * np.logaddexp(0, -eta)
                                         + (1 - y_va) * np.logaddexp(0, eta))).sum())
    best = float(grid[int(np.argmin(dev))]) if dev.any() else float(grid[0])
    return best, pd.DataFrame({"l2": list(grid), "deviance": dev})


def separating_terms(X: np.ndarray, y: np.ndarray, names) -> tuple[str, ...]:
    """Terms whose non-zero examples all have the same label (the data separate: an
    unpenalised estimate would be infinite).

    Examples
    --------
    >>> X = np.column_stack([np.ones(4), [1, 0, 0, 0], [1, 1, 0, 0]])
    >>> separating_terms(X, np.array([1., 0., 1., 0.]), ["intercept", "a", "b"])
    ('a',)
    """
    out = []
    for j in range(1, X.shape[1]):
        nz = X[:, j] != 0
        if nz.any() and (~nz).any() and y[nz].min() == y[nz].max():
            out.append(names[j])
    return tuple(out)


def fit_model(X: np.ndarray, y: np.ndarray, weight: np.ndarray, groups: np.ndarray, names,
              kinds, *, l2: float, log_sampling: float = 0.0) -> ModelFit:
    """Ridge point estimates with cluster-robust sandwich intervals from the same fit.

    Parameters
    ----------
    X : ndarray
        The design, intercept first.
    y, weight, groups : ndarray
        Labels, weights and the cluster (lead) of each example.
    names, kinds : sequence of str
        Name and kind (``intercept``, ``behavior``, ``fit``) of each column.
    l2 : float
        Ridge strength on standardised columns.
    log_sampling : float, default 0
        Log of the share of negatives kept (corrects the intercept).

    Returns
    -------
    ModelFit

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> vip = (rng.random(1000) < 0.5).astype(float)
    >>> y = (rng.random(1000) < 0.2 + 0.3 * vip).astype(float)
    >>> m = fit_model(np.column_stack([np.ones(1000), vip]), y, np.ones(1000),
    ...               np.arange(1000) // 2, ["intercept", "visits"], ["intercept", "fit"], l2=1.0)
    >>> m.frame()["term"].tolist(), bool(m.frame()["ci_low"].iloc[1] > 0)
    (['intercept', 'visits'], True)
    """
    sd = X.std(axis=0)  # the penalty's column scales, once for the three
    ridge = fit_logit(X, y, weight=weight, l2=l2, sd=sd)
    mle = fit_logit(X, y, weight=weight, l2=1e-4, start=ridge.coef, max_iter=25, sd=sd)
    V = penalised_covariance(X, y, ridge.coef, groups, weight, l2, sd=sd)
    return ModelFit(names=tuple(names), kinds=tuple(kinds), coef=ridge.coef,
                    coef_mle=mle.coef, cov=V, loglik=ridge.loglik, log_sampling=log_sampling,
                    l2=float(l2), separated=separating_terms(X, y, list(names)))


def equality_pvalue(model: ModelFit, members) -> float:
    """Wald test (cluster-robust) that the coefficients of ``members`` are equal.

    Examples
    --------
    Two columns with the same effect (the same counts twice):

    >>> k = np.arange(900) % 3
    >>> y = (np.arange(900) % 5 < 1 + k).astype(float)
    >>> m = fit_model(np.column_stack([np.ones(900), k, k]), y, np.ones(900), np.arange(900),
    ...               ["intercept", "a", "b"], ["intercept", "behavior", "behavior"], l2=1.0)
    >>> equality_pvalue(m, ["a", "b"]) > 0.5, equality_pvalue(m, ["a"])
    (True, 1.0)
    """
    idx = [model.names.index(m) for m in members]
    if len(idx) < 2:
        return 1.0
    C = np.zeros((len(idx) - 1, len(model.names)))
    for r in range(len(idx) - 1):
        C[r, idx[r]] = 1.0
        C[r, idx[r + 1]] = -1.0
    d = C @ model.coef
    W = float(d @ np.linalg.pinv(C @ model.cov @ C.T) @ d)
    return float(stats.chi2.sf(W, len(idx) - 1))


def _status(points: float, lo: float, hi: float) -> str:
    if points == 0:
        return "ok"
    if lo <= 0 <= hi:
        return "vanity"
    if (points > 0 and hi < 0) or (points < 0 and lo > 0):
        return "wrong_sign"
    if (points > 0 and points > hi) or (points < 0 and points < lo):
        return "over_weighted"
    if (points > 0 and points < lo) or (points < 0 and points > hi):
        return "under_weighted"
    return "ok"


def review_rules(current: RuleSet, model: ModelFit, *, scale: float | None = None, fit_terms,
                 attr_matrix: np.ndarray, fit_matrix: np.ndarray, event_freq: dict,
                 event_term: dict, fallback_scale: float = 10.0) -> pd.DataFrame:
    """One row per current rule: its points, the points the evidence supports (with a
    95% interval) on the proposed scale, and a status (see the module docstring).

    ``attr_matrix`` is the model's attribute terms and ``fit_matrix`` the current fit
    rules' matches, both per training lead; ``event_term`` maps each event type to the
    model term that counts it alone.

    Examples
    --------
    :func:`calib.fit.fit` reviews the current rules with it:

    >>> from calib import load_dataset, load_rules
    >>> from calib.fit import FitConfig, fit
    >>> cfg = FitConfig(max_examples=5000, kinds=("exponential",), l2=10.0)
    >>> review = fit(load_dataset("calib-demo/data"), load_rules("calib-demo/current.toml"),
    ...              cfg).review
    >>> {"rule", "points", "supported_points", "status"} <= set(review.columns)
    True
    """
    z = stats.norm.isf(0.025)
    rows = []
    names = list(model.names)
    # effects first (scale 1: log-odds), then points on the chosen scale

    n_coef = len(names)
    attr_idx = [names.index(t.name) for t in fit_terms]
    for r in current.behavior:
        c = np.zeros(n_coef)
        members = [e for e in r.events if event_term.get(e) in names]
        if not members:
            rows.append({"rule": r.name, "kind": "behavior", "points": r.points,
                         "effect": np.nan, "se": np.nan, "effect_ridge": np.nan})
            continue
        freq = np.array([max(event_freq.get(e, 0), 1) for e in members], float)
        for e, f in zip(members, freq / freq.sum()):
            c[names.index(event_term[e])] = f
        rows.append(_row(r.name, "behavior", r.points, c, model))
    for i, r in enumerate(current.fit):
        match = fit_matrix[:, i] > 0
        c = np.zeros(n_coef)
        if match.any() and (~match).any():
            c[attr_idx] = attr_matrix[match].mean(axis=0) - attr_matrix[~match].mean(axis=0)
        rows.append(_row(r.name, "fit", r.points, c, model))
    df = pd.DataFrame(rows)
    if scale is None:
        scale = current_scale(df, z) or fallback_scale
    df["scale"] = scale
    # the penalised estimate, the centre of its interval (both from the ridge fit that
    # the proposed points use)
    df["supported_points"] = scale * df["effect"]
    df["supported_low"] = scale * (df["effect"] - z * df["se"])
    df["supported_high"] = scale * (df["effect"] + z * df["se"])
    df["status"] = [("no_data" if e != e else _status(p, lo, hi)) for p, e, lo, hi in
                    zip(df["points"], df["effect"], df["supported_low"], df["supported_high"])]
    return df


def current_scale(df: pd.DataFrame, z: float) -> float | None:
    """The current rules' own points per unit of log-odds: the median of points / effect
    over the rules whose effect is clearly non-zero and of the same sign as their
    points. A rule is then over- or under-weighted *relative to the other current rules*.

    Examples
    --------
    >>> df = pd.DataFrame({"effect": [1.0, 2.0, 0.01], "se": [0.1, 0.1, 0.1],
    ...                    "points": [10.0, 30.0, 5.0]})
    >>> current_scale(df, 1.96)
    12.5
    """
    eff, se, pts = df["effect"].to_numpy(), df["se"].to_numpy(), df["points"].to_numpy()
    ok = (np.abs(eff) > z * se) & (np.sign(eff) == np.sign(pts)) & (pts != 0)
    if not ok.any():
        return None
    return float(np.median(pts[ok] / eff[ok]))


def _row(name, kind, points, c, model):
    return {"rule": name, "kind": kind, "points": float(points),
            "effect": float(c @ model.coef),
            "se": float(np.sqrt(max(c @ model.cov @ c, 0.0))),
            "effect_ridge": float(c @ model.coef)}
