"""Multiple-testing adjustment of p-values (several outcomes or arms at once)."""

from __future__ import annotations

from typing import Literal

import numpy as np

from calib.stats._validation import StatsInputError, check_choice

AdjustMethod = Literal["holm", "bh", "bonferroni"]
ADJUST_METHODS = ("holm", "bh", "bonferroni")


def adjust_pvalues(p_values, *, method: AdjustMethod = "holm") -> np.ndarray:
    """Adjust a family of p-values for multiple testing.

    Parameters
    ----------
    p_values : array_like
        P-values in [0, 1], any shape; the whole array is one family. ``nan`` entries
        (tests that could not be run) stay ``nan`` and do not count towards the family
        size, as in R's ``p.adjust``.
    method : {"holm", "bh", "bonferroni"}, default "holm"
        - ``"holm"``: Holm's step-down method, controls the family-wise error rate.
        - ``"bh"``: Benjamini-Hochberg step-up, controls the false discovery rate
          (for independent or positively dependent tests).
        - ``"bonferroni"``: ``min(1, m * p)``.

        The values equal ``statsmodels.stats.multitest.multipletests(p, method=...)[1]``
        with ``"holm"``, ``"fdr_bh"`` and ``"bonferroni"``, and R's ``p.adjust``.

    Returns
    -------
    ndarray
        Adjusted p-values, same shape as ``p_values``; reject where ``adjusted <= alpha``.

    Examples
    --------
    >>> from calib.stats import adjust_pvalues
    >>> adjust_pvalues([0.01, 0.04, 0.03, 0.005, 0.2])
    array([0.04 , 0.09 , 0.09 , 0.025, 0.2  ])
    >>> adjust_pvalues([0.01, 0.04, 0.03, 0.005, 0.2], method="bh")
    array([0.025, 0.05 , 0.05 , 0.025, 0.2  ])
    """
    func = "adjust_pvalues"
    check_choice(method, ADJUST_METHODS, "method", func)
    try:
        raw = np.asarray(p_values, dtype=float)
    except (TypeError, ValueError):
        raise StatsInputError(f"The 'p_values' of {func} must be numbers. Got {p_values!r}.",
                              code="not_numeric") from None
    known = ~np.isnan(raw)
    p = raw[known]
    if np.any((p < 0) | (p > 1)):
        raise StatsInputError(
            f"The 'p_values' of {func} must be in [0, 1]. "
            f"Got {p[(p < 0) | (p > 1)][:3]!r}.", code="invalid_probability")
    m = p.size
    adjusted = np.empty_like(p)
    if m:
        order = np.argsort(p, kind="stable")
        ranked = p[order]
        rank = np.arange(1, m + 1)
        if method == "holm":
            stepped = np.maximum.accumulate((m - rank + 1) * ranked)
        elif method == "bh":
            stepped = np.minimum.accumulate((m / rank * ranked)[::-1])[::-1]
        else:
            stepped = m * ranked
        adjusted[order] = np.minimum(stepped, 1.0)
    out = np.full(raw.shape, np.nan)
    out[known] = adjusted
    return out
