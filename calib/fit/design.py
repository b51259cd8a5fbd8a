"""Fit attributes as model terms that are also fit rules.

Every term is a :class:`~calib.rules.config.FitRule` with 1 point, so the fitted model
and the proposed rule set match leads in exactly the same way:

* text, boolean and low-cardinality number columns: one ``equals`` term per level with
  enough leads; the most frequent level is the reference (no term, 0 points) and rare
  levels are pooled with it; a ``missing = true`` term when enough values are missing;
* other number columns: cumulative ``min`` terms ("employees >= 200") at cut points made
  of rounded quintiles of the training leads plus the cut points the current rules use,
  so each term's points are the step up (or down) at its cut.

Columns with one value, identifier-like columns (more distinct values than half the leads)
and excluded columns (the holdout flag, ``lead_id``, ``created_at``) are not used.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from calib.engine.prepare import fit_matches
from calib.rules.config import FitRule, RuleSet

__all__ = ["attribute_terms", "attribute_matrix"]

MAX_LEVELS = 30
FEW_VALUES = 6


def _min_count(n: int) -> int:
    return max(20, int(0.002 * n))


def _nice(x: float) -> float:
    if x == 0 or not math.isfinite(x):
        return float(x)
    v = float(f"{x:.1g}")
    return int(v) if v.is_integer() else v


def _slug(v) -> str:
    text = str(v).strip().lower()
    out = "".join(c if c.isalnum() else "_" for c in text).strip("_")
    return out or "blank"


def _is_text(col: pd.Series) -> bool:
    return (col.dtype == object or isinstance(col.dtype, pd.StringDtype)
            or isinstance(col.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(col.dtype))


def _current_cuts(current: RuleSet, field: str, integer: bool) -> list[float]:
    cuts = []
    for r in current.fit:
        if r.field != field:
            continue
        if r.min is not None:
            cuts.append(r.min)
        if r.max is not None and integer:
            cuts.append(r.max + 1)
    return cuts


def attribute_terms(leads: pd.DataFrame, current: RuleSet, exclude=()) -> list[FitRule]:
    """The model terms of the fit attributes of ``leads`` (the training leads).

    Examples
    --------
    >>> leads = pd.DataFrame({"lead_id": [str(i) for i in range(100)],
    ...                       "seniority": ["ic"] * 50 + ["vp"] * 30 + ["manager"] * 20})
    >>> [t.name for t in attribute_terms(leads, RuleSet.from_dict({"thresholds": {"mql": 1}}))]
    ['seniority_vp', 'seniority_manager']
    """
    skip = {"lead_id", "created_at", *exclude}
    n = len(leads)
    mc = _min_count(n)
    terms: list[FitRule] = []
    for field in leads.columns:
        if field in skip:
            continue
        col = leads[field]
        is_bool = pd.api.types.is_bool_dtype(col.dtype)
        numeric = pd.api.types.is_numeric_dtype(col.dtype) and not is_bool
        missing = col.isna().to_numpy()
        if _is_text(col) and not is_bool:
            text = col.astype("string").str.strip()
            missing = (text.isna() | (text == "")).to_numpy(bool)
            values = text[~missing]
        else:
            values = col[~missing]
        if len(values) == 0:
            continue
        counts = values.value_counts()
        if len(counts) < 2 and missing.sum() < mc:
            continue
        if numeric and len(counts) > FEW_VALUES:
            num = pd.to_numeric(values, errors="coerce").to_numpy(float)
            integer = bool(np.all(np.mod(num, 1) == 0))
            qs = [_nice(q) for q in np.quantile(num, [0.2, 0.4, 0.6, 0.8])]
            cuts = sorted(set(qs) | set(_current_cuts(current, field, integer)))
            for c in cuts:
                above = int((num >= c).sum())
                if above < mc or len(num) - above < mc:
                    continue
                terms.append(FitRule(field=field, points=1.0, name=f"{field}_min_{_slug(c)}",
                                     min=c, named=True))
        else:
            if len(counts) > n / 2 and not numeric:
                continue  # an identifier, not an attribute
            # the most frequent level (counts.index[0]) is the reference at 0 points
            for level, k in counts.iloc[1:MAX_LEVELS + 1].items():
                if k < mc:
                    continue
                value = level
                if is_bool:
                    value = bool(level)
                elif numeric:
                    value = level.item() if hasattr(level, "item") else level
                else:
                    value = str(level)
                terms.append(FitRule(field=field, points=1.0, name=f"{field}_{_slug(level)}",
                                     equals=value, named=True))
        if missing.sum() >= mc and (~missing).sum() >= mc:
            terms.append(FitRule(field=field, points=1.0, name=f"{field}_missing",
                                 missing=True, named=True))
    # unique names
    seen: dict[str, int] = {}
    out = []
    for t in terms:
        name = t.name
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[t.name]}"
        seen.setdefault(name, 0)
        out.append(FitRule(field=t.field, points=t.points, name=name, in_=t.in_,
                           equals=t.equals, min=t.min, max=t.max, missing=t.missing, named=True))
    return out


def attribute_matrix(leads: pd.DataFrame, terms) -> np.ndarray:
    """(n_leads x n_terms) 0/1 matrix: which leads each term matches.

    Parameters
    ----------
    leads : DataFrame
        The leads table.
    terms : sequence of FitTerm
        The attribute terms (:func:`attribute_terms`).

    Returns
    -------
    ndarray of float, shape (n_leads, n_terms)
        1.0 where the lead matches the term, else 0.0 (a lead that matches several
        terms of a field has a 1 in each column).

    Examples
    --------
    >>> from calib import load_dataset, load_rules
    >>> ds = load_dataset("calib-demo/data")
    >>> terms = attribute_terms(ds.leads, load_rules("calib-demo/current.toml"))
    >>> attribute_matrix(ds.leads, terms).shape == (ds.n_leads, len(terms))
    True
    """
    m = np.zeros((len(leads), len(terms)))
    for i, t in enumerate(terms):
        m[:, i] = fit_matches(leads, t)
    return m
