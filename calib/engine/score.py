"""Scores at a date, for loading a rule set's scores back into a CRM."""

from __future__ import annotations

import numpy as np
import pandas as pd

from calib.data.dataset import Dataset, ns
from calib.engine.kernels import KIND_CODES, score_at
from calib.engine.prepare import prepare
from calib.engine.replay import TOL, _timestamp
from calib.errors import CalibError
from calib.rules.config import RuleSet

BANDS = ("cold", "warm", "mql", "sql")


def bands(score: np.ndarray, fit: np.ndarray, rules: RuleSet, tol: float = TOL) -> np.ndarray:
    """The band of each score: ``sql`` and ``mql`` by the cutoffs (with ``mql_min_fit``),
    ``warm`` from half the MQL cutoff, ``cold`` below.

    Parameters
    ----------
    score, fit : ndarray
        Each lead's score and fit score.
    rules : RuleSet
        Whose thresholds set the bands.
    tol : float, default TOL
        A score within ``tol`` below a cutoff reaches it.

    Returns
    -------
    ndarray
        One of ``BANDS`` per lead.

    Examples
    --------
    >>> import numpy as np
    >>> from calib.rules import RuleSet
    >>> rules = RuleSet.from_dict({"name": "x", "thresholds": {"mql": 50, "sql": 80}})
    >>> bands(np.array([10.0, 30.0, 50.0, 90.0]), np.zeros(4), rules)
    array(['cold', 'warm', 'mql', 'sql'], dtype=object)
    """
    th = rules.thresholds
    ok_fit = np.ones(len(score), bool) if th.mql_min_fit is None else fit >= th.mql_min_fit - tol
    out = np.full(len(score), "cold", dtype=object)
    out[score >= th.mql / 2 - tol] = "warm"
    out[(score >= th.mql - tol) & ok_fit] = "mql"
    if th.sql is not None:
        out[(score >= th.sql - tol) & ok_fit] = "sql"
    return out


def score_as_of(ds: Dataset, rules: RuleSet, as_of) -> pd.DataFrame:
    """Each lead's score and band at ``as_of``.

    Events at or before ``as_of`` count, decayed to ``as_of``; leads created after it
    are left out (they did not exist yet). Columns: ``lead_id``, ``fit_score``,
    ``behavior_score``, ``score``, ``band``.

    Parameters
    ----------
    ds : Dataset
        The data set.
    rules : RuleSet
        The rule set.
    as_of : str or Timestamp
        The moment (an ISO 8601 date; UTC).

    Returns
    -------
    DataFrame
        One row per lead created by ``as_of``: ``lead_id``, ``fit_score``,
        ``behavior_score``, ``score`` and ``band`` at that moment.

    Examples
    --------
    >>> from calib import load_dataset, load_rules, score_as_of
    >>> scores = score_as_of(load_dataset("calib-demo/data"),
    ...                      load_rules("calib-demo/current.toml"), "2026-06-30")
    >>> scores.band.value_counts().to_dict()
    {'cold': 976, 'warm': 625, 'mql': 264, 'sql': 129}
    """
    t = _timestamp(as_of, "--as-of")
    if t is None:
        raise CalibError("An --as-of date is required.", code="missing_value")
    if not ds.snapshot and "created_at" in ds.leads and not (ds.leads["created_at"] <= t).any():
        raise CalibError(f"No lead was created by --as-of {t.date()}: the first lead of the "
                         f"data was created on {ds.leads['created_at'].min().date()}.",
                         code="empty_period")
    prep = prepare(ds, rules)
    fit = prep.fit_m @ np.array([r.points for r in rules.fit], dtype=float) if rules.fit \
        else np.zeros(ds.n_leads)
    d = rules.decay
    code = KIND_CODES[d.kind] if not ds.snapshot else 0
    p1 = float(d.half_life_days or d.percent or d.days or 0.0)
    p2 = float(d.every_days or 0.0)
    behaviour = np.zeros(ds.n_leads)
    col = np.empty(ds.n_leads)
    for (lead, ev_t), rule in zip(prep.rule_events, rules.behavior):
        score_at(lead, ev_t, t.value, code, p1, p2, ds.n_leads, col)
        c = col * rule.points
        if rule.cap is not None:
            c = np.clip(c, -rule.cap, rule.cap)
        behaviour += c
    total = fit + behaviour
    if rules.limits.min is not None or rules.limits.max is not None:
        total = np.clip(total, rules.limits.min, rules.limits.max)
    keep = np.ones(ds.n_leads, bool)
    if "created_at" in ds.leads:
        keep = ns(ds.leads["created_at"]) <= t.value
    df = pd.DataFrame({"lead_id": ds.leads["lead_id"].to_numpy(), "fit_score": fit,
                       "behavior_score": behaviour, "score": total,
                       "band": bands(total, fit, rules)})
    return df.loc[keep].reset_index(drop=True)
