"""Confidence intervals for one proportion, a difference and a relative lift.

Every function is vectorised: counts may be numbers or numpy arrays that broadcast
against each other, and the bounds come back with the broadcast shape (numpy scalars
for scalar input). An arm with ``n == 0`` gives ``nan`` bounds, never an exception.
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Literal

import numpy as np

from calib._lazy import lazy_modules
from calib.stats._validation import (
    check_alpha,
    check_choice,
    check_counts,
    check_two_arms,
    scalar_or_array,
)

(special,) = lazy_modules("scipy.special")

ProportionMethod = Literal["wilson", "agresti_coull", "jeffreys", "clopper_pearson"]
DiffMethod = Literal["newcombe", "score", "wald", "agresti_caffo"]
RatioMethod = Literal["katz", "log_adjusted"]

PROPORTION_METHODS = ("wilson", "agresti_coull", "jeffreys", "clopper_pearson")
DIFF_METHODS = ("newcombe", "score", "wald", "agresti_caffo")
RATIO_METHODS = ("katz", "log_adjusted")

# Bisection on [-1, 1] halves the bracket each step: 64 steps reach float64 spacing.
_BISECTION_STEPS = 64


def _z(alpha: float) -> float:
    """The two-sided normal quantile ``z_{1 - alpha/2}`` (Python's own inverse normal
    CDF, equal to scipy's to a few units in the last place, without importing
    ``scipy.stats`` into every replay)."""
    return -NormalDist().inv_cdf(alpha / 2)


def proportion_ci(x, n, *, alpha: float = 0.05, method: ProportionMethod = "wilson"):
    """Two-sided confidence interval for a binomial proportion ``x / n``.

    Parameters
    ----------
    x : int or array_like
        Number of successes (e.g. MQLs that reached a meeting), ``0 <= x <= n``.
    n : int or array_like
        Number of trials; broadcast against ``x``.
    alpha : float, default 0.05
        One minus the confidence level.
    method : {"wilson", "agresti_coull", "jeffreys", "clopper_pearson"}, default "wilson"
        - ``"wilson"``: score interval (Wilson 1927), inverts the score test.
        - ``"agresti_coull"``: Wald interval around ``(x + z²/2) / (n + z²)``
          (Agresti & Coull 1998), clipped to [0, 1].
        - ``"jeffreys"``: equal-tailed Beta(x + 1/2, n - x + 1/2) posterior interval,
          with the lower bound set to 0 when ``x == 0`` and the upper bound to 1 when
          ``x == n`` (Brown, Cai & DasGupta 2001, section 4.1.2), so the interval always
          contains ``x / n``. Otherwise equal to statsmodels' ``"jeffreys"``.
        - ``"clopper_pearson"``: exact (conservative) interval from Beta quantiles.

    Returns
    -------
    low, high : float or ndarray
        Bounds in [0, 1]; ``nan`` where ``n == 0``.

    Raises
    ------
    StatsInputError
        On negative counts, ``x > n``, non-finite input, a bad ``alpha`` or ``method``.

    Examples
    --------
    >>> from calib.stats import proportion_ci
    >>> low, high = proportion_ci(12, 50)
    >>> print(f"{low:.4f} {high:.4f}")
    0.1430 0.3741
    >>> proportion_ci([0, 5], [0, 10], method="clopper_pearson")[0]
    array([       nan, 0.18708603])
    """
    func = "proportion_ci"
    x, n = check_counts(x, n, func)
    alpha = check_alpha(alpha, func)
    check_choice(method, PROPORTION_METHODS, "method", func)
    low, high = _proportion_ci(x, n, alpha, method)
    return scalar_or_array(low), scalar_or_array(high)


def _proportion_ci(x: np.ndarray, n: np.ndarray, alpha: float, method: str):
    """Unchecked core of :func:`proportion_ci` on float arrays."""
    empty = n == 0
    n_safe = np.where(empty, 1.0, n)
    if method == "wilson":
        low, high = _wilson(x, n_safe, alpha)
    else:
        from statsmodels.stats.proportion import proportion_confint

        sm_method = "beta" if method == "clopper_pearson" else method
        with np.errstate(invalid="ignore", divide="ignore"):
            low, high = proportion_confint(x, n_safe, alpha=alpha, method=sm_method)
        # the edge rule statsmodels lacks for Jeffreys (Brown, Cai & DasGupta 2001,
        # 4.1.2): the interval always holds x / n; the other methods already end at 0
        # for x == 0 and at 1 for x == n
        low = np.where(x == 0, 0.0, low)
        high = np.where(x == n_safe, 1.0, high)
    low = np.where(empty, np.nan, np.clip(low, 0.0, 1.0))
    high = np.where(empty, np.nan, np.clip(high, 0.0, 1.0))
    return low, high


def _wilson(x: np.ndarray, n: np.ndarray, alpha: float):
    """The Wilson interval, written out rather than taken from statsmodels'
    ``proportion_confint(method="wilson")`` (the same numbers; a test compares them):
    every replay reports one, and importing statsmodels' proportion module would load
    ``scipy.stats`` into each replay (about a second on a small command). The bounds
    are exact at the edges, where rounding would otherwise leave ``1 - 1e-16`` for
    ``x == n``."""
    p = x / n
    z = _z(alpha)
    z2 = z * z
    denom = 1 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z2 / (4 * n**2)) / denom
    return np.where(x == 0, 0.0, center - half), np.where(x == n, 1.0, center + half)


def diff_ci(x1, n1, x2, n2, *, alpha: float = 0.05, method: DiffMethod = "newcombe"):
    """Two-sided confidence interval for the difference of proportions ``p1 - p2``.

    Parameters
    ----------
    x1, n1 : int or array_like
        Successes and trials of the first arm (e.g. the treatment).
    x2, n2 : int or array_like
        Successes and trials of the second arm (e.g. the control).
    alpha : float, default 0.05
        One minus the confidence level.
    method : {"newcombe", "score", "wald", "agresti_caffo"}, default "newcombe"
        - ``"newcombe"``: hybrid score interval, method 10 of Newcombe (1998), built
          from the two Wilson intervals without continuity correction. Good coverage
          and defined even with zero successes.
        - ``"score"``: inverts the score test of ``p1 - p2 = d`` with the restricted
          maximum-likelihood variance (Mee 1984; Miettinen & Nurminen 1985 without
          their ``N / (N - 1)`` factor). At ``d = 0`` this test is the pooled z-test
          of :func:`two_proportion_ztest`, so the interval excludes 0 exactly when
          that test rejects at ``alpha``.
        - ``"wald"``: ``p1 - p2 ± z * se`` with the unpooled standard error, clipped
          to [-1, 1]. Poor coverage for small counts; kept for comparison.
        - ``"agresti_caffo"``: Wald interval after adding one success and one failure
          to each arm (Agresti & Caffo 2000), clipped to [-1, 1].

    Returns
    -------
    low, high : float or ndarray
        Bounds in [-1, 1]; ``nan`` where ``n1 == 0`` or ``n2 == 0``.

    Examples
    --------
    Newcombe (1998), Table II, example (a): 56/70 versus 48/80.

    >>> from calib.stats import diff_ci
    >>> low, high = diff_ci(56, 70, 48, 80)
    >>> print(f"{low:.4f} {high:.4f}")
    0.0524 0.3339
    """
    func = "diff_ci"
    x1, n1, x2, n2 = check_two_arms(x1, n1, x2, n2, func)
    alpha = check_alpha(alpha, func)
    check_choice(method, DIFF_METHODS, "method", func)
    low, high = _diff_ci(x1, n1, x2, n2, alpha, method)
    return scalar_or_array(low), scalar_or_array(high)


def _diff_ci(x1, n1, x2, n2, alpha: float, method: str):
    """Unchecked core of :func:`diff_ci` on broadcast float arrays."""
    empty = (n1 == 0) | (n2 == 0)
    n1s, n2s = np.where(n1 == 0, 1.0, n1), np.where(n2 == 0, 1.0, n2)
    if method == "score":
        # statsmodels 0.15's score interval for a difference is wrong (see
        # _restricted_mle), so this one is calib's own
        low, high = _score_diff_ci(x1, n1s, x2, n2s, _z(alpha))
    else:
        from statsmodels.stats.proportion import confint_proportions_2indep

        sm_method = {"newcombe": "newcomb", "agresti_caffo": "agresti-caffo"}.get(method,
                                                                                 method)
        # vectorised over arrays of counts (one numpy expression per bound)
        low, high = confint_proportions_2indep(x1, n1s, x2, n2s, method=sm_method,
                                               compare="diff", alpha=alpha)
        low, high = np.clip(low, -1, 1), np.clip(high, -1, 1)  # statsmodels does not clip
    low = np.where(empty, np.nan, low)
    high = np.where(empty, np.nan, high)
    return low, high


def _restricted_mle(x1, n1, x2, n2, delta):
    """Maximum-likelihood ``(p1, p2)`` under ``p1 - p2 = delta``.

    The score equation ``(x1 - n1 p1) p2 (1 - p2) + (x2 - n2 p2) p1 (1 - p1) = 0``
    with ``p1 = p2 + delta`` is a cubic in ``p2`` (Miettinen & Nurminen 1985;
    Farrington & Manning 1990), solved in closed (trigonometric) form, vectorised.
    The linear coefficient has ``n2 * delta**2``; statsmodels 0.14-0.15 has
    ``x2 * delta**2`` there (statsmodels issue #10269), which is why calib does not
    use statsmodels' score interval for a difference.
    """
    n, x = n1 + n2, x1 + x2
    c3 = n
    c2 = (n1 + 2 * n2) * delta - n - x
    c1 = (n2 * delta - n - 2 * x2) * delta + x
    c0 = x2 * delta * (1 - delta)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = (c2 / (3 * c3)) ** 3 - c1 * c2 / (6 * c3**2) + c0 / (2 * c3)
        r = np.where(q < 0, -1.0, 1.0) * np.sqrt(
            np.maximum((c2 / (3 * c3)) ** 2 - c1 / (3 * c3), 0.0)
        )
        cos_arg = np.clip(np.where(r == 0, 0.0, q / r**3), -1.0, 1.0)
        angle = (np.pi + np.arccos(cos_arg)) / 3
        p2_tilde = 2 * r * np.cos(angle) - c2 / (3 * c3)
    # The cubic's root is the maximiser when it lies inside the feasible range; when
    # the maximum sits on the boundary (zero successes, or only successes) the root
    # is spurious. The log-likelihood is concave in p2, so the best of the clipped
    # root and the two ends of the range is the constrained maximum.
    low = np.maximum(0.0, -delta)
    high = np.minimum(1.0, 1.0 - delta)
    candidates = np.stack([np.clip(np.nan_to_num(p2_tilde, nan=0.5), low, high), low, high])
    p1_cand = np.clip(candidates + delta, 0.0, 1.0)
    loglik = (special.xlogy(x1, p1_cand) + special.xlog1py(n1 - x1, -p1_cand)
              + special.xlogy(x2, candidates) + special.xlog1py(n2 - x2, -candidates))
    best = np.argmax(np.nan_to_num(loglik, nan=-np.inf), axis=0)
    p2_tilde = np.take_along_axis(candidates, best[None, ...], axis=0)[0]
    p1_tilde = np.clip(p2_tilde + delta, 0.0, 1.0)
    return p1_tilde, p2_tilde


def _score_diff_statistic(x1, n1, x2, n2, delta):
    """Score statistic ``(p1_hat - p2_hat - delta) / se_restricted(delta)``."""
    p1t, p2t = _restricted_mle(x1, n1, x2, n2, delta)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(p1t * (1 - p1t) / n1 + p2t * (1 - p2t) / n2)
        return (x1 / n1 - x2 / n2 - delta) / se


def _score_diff_ci(x1, n1, x2, n2, z: float):
    """Invert the restricted-MLE score test by vectorised bisection.

    The statistic decreases in ``delta``: the lower bound is where it falls to ``z``
    on [-1, diff], the upper bound where it falls to ``-z`` on [diff, 1].
    """
    diff = x1 / n1 - x2 / n2
    lo, hi = np.full_like(diff, -1.0), diff.copy()
    for _ in range(_BISECTION_STEPS):
        mid = (lo + hi) / 2
        above = _score_diff_statistic(x1, n1, x2, n2, mid) > z
        lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
    low = hi
    lo, hi = diff.copy(), np.full_like(diff, 1.0)
    for _ in range(_BISECTION_STEPS):
        mid = (lo + hi) / 2
        above = _score_diff_statistic(x1, n1, x2, n2, mid) >= -z
        lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
    high = lo
    return low, high


def ratio_ci(x1, n1, x2, n2, *, alpha: float = 0.05, method: RatioMethod = "katz"):
    """Two-sided confidence interval for the relative lift ``p1 / p2 - 1``.

    Parameters
    ----------
    x1, n1 : int or array_like
        Successes and trials of the first arm (the treatment).
    x2, n2 : int or array_like
        Successes and trials of the second arm (the baseline the lift is relative to).
    alpha : float, default 0.05
        One minus the confidence level.
    method : {"katz", "log_adjusted"}, default "katz"
        - ``"katz"``: the log method of Katz et al. (1978): ``log(p1 / p2) ± z * se``
          with ``se² = 1/x1 - 1/n1 + 1/x2 - 1/n2``, back-transformed. Undefined (``nan``)
          when either arm has zero successes. Equals statsmodels'
          ``confint_proportions_2indep(..., compare="ratio", method="log") - 1``.
        - ``"log_adjusted"``: the same after adding 1/2 to every count and trial
          (statsmodels' ``method="log-adjusted"``); defined with zero successes.

    Returns
    -------
    low, high : float or ndarray
        Bounds of the lift, in [-1, inf); ``nan`` where ``n1 == 0`` or ``n2 == 0``,
        and for ``"katz"`` also where ``x1 == 0`` or ``x2 == 0``.

    Examples
    --------
    >>> from calib.stats import ratio_ci
    >>> low, high = ratio_ci(120, 1000, 100, 1000)
    >>> print(f"{low:+.3f} {high:+.3f}")
    -0.066 +0.542
    """
    func = "ratio_ci"
    x1, n1, x2, n2 = check_two_arms(x1, n1, x2, n2, func)
    alpha = check_alpha(alpha, func)
    check_choice(method, RATIO_METHODS, "method", func)
    from statsmodels.stats.proportion import confint_proportions_2indep

    add = 0.5 if method == "log_adjusted" else 0.0
    # statsmodels gives inf or nan with warnings where the log is undefined: those
    # cells get placeholder counts here and nan below
    undefined = (n1 == 0) | (n2 == 0) | (x1 + add == 0) | (x2 + add == 0)
    x1, x2 = np.where(undefined, 1.0, x1), np.where(undefined, 1.0, x2)
    n1, n2 = np.where(undefined, 2.0, n1), np.where(undefined, 2.0, n2)
    low, high = confint_proportions_2indep(x1, n1, x2, n2, compare="ratio", alpha=alpha,
                                           method=method.replace("katz", "log").replace("_", "-"))
    low = np.where(undefined, np.nan, np.asarray(low) - 1)
    high = np.where(undefined, np.nan, np.asarray(high) - 1)
    return scalar_or_array(low), scalar_or_array(high)
