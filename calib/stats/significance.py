"""Hypothesis tests for rates: two-proportion z-test, exact tests, sample-ratio
mismatch and McNemar's paired test, plus :func:`compare_proportions`, which picks the
z-test or an exact test and reports which one it used.

A test whose statistic is undefined (an arm with no trials, or no variation at all
under the null) returns ``nan``, never an exception.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from calib._lazy import lazy_modules
from calib.stats._validation import (
    StatsInputError,
    as_float_array,
    check_alpha,
    check_choice,
    broadcast,
    check_counts,
    check_two_arms,
    check_whole,
    scalar_or_array,
)
from calib.stats.intervals import diff_ci, ratio_ci

(stats,) = lazy_modules("scipy.stats")

Alternative = Literal["two-sided", "larger", "smaller"]
ALTERNATIVES = ("two-sided", "larger", "smaller")
EXACT_METHODS = ("fisher", "boschloo")

#: Cochran's rule: the z-test's normal approximation needs every expected cell >= 5.
MIN_EXPECTED_COUNT = 5.0


def _p_from_z(z, alternative: str):
    if alternative == "two-sided":
        return 2 * stats.norm.sf(np.abs(z))
    if alternative == "larger":
        return stats.norm.sf(z)
    return stats.norm.cdf(z)


def two_proportion_ztest(x1, n1, x2, n2, *, alternative: Alternative = "two-sided"):
    """Pooled two-proportion z-test of ``p1 = p2``.

    ``z = (p1 - p2) / sqrt(p (1 - p) (1/n1 + 1/n2))`` with the pooled rate
    ``p = (x1 + x2) / (n1 + n2)``; the same as statsmodels'
    ``proportions_ztest([x1, x2], [n1, n2])`` and, for two sides, as R's
    ``prop.test(c(x1, x2), c(n1, n2), correct=FALSE)`` (whose statistic is ``z²``).

    Parameters
    ----------
    x1, n1 : int or array_like
        Successes and trials of the first arm.
    x2, n2 : int or array_like
        Successes and trials of the second arm.
    alternative : {"two-sided", "larger", "smaller"}, default "two-sided"
        ``"larger"`` tests ``p1 > p2``, ``"smaller"`` tests ``p1 < p2``.

    Returns
    -------
    z, p_value : float or ndarray
        ``nan`` where an arm has no trials or the pooled rate is 0 or 1 (no variation:
        the test is undefined).

    Examples
    --------
    >>> from calib.stats import two_proportion_ztest
    >>> z, p = two_proportion_ztest(56, 70, 48, 80)
    >>> print(f"{z:.4f} {p:.5f}")
    2.6502 0.00805
    >>> print(f"{z**2:.4f}")  # R: prop.test(c(56, 48), c(70, 80), correct=FALSE)
    7.0234
    """
    func = "two_proportion_ztest"
    x1, n1, x2, n2 = check_two_arms(x1, n1, x2, n2, func)
    check_choice(alternative, ALTERNATIVES, "alternative", func)
    z = _pooled_z(x1, n1, x2, n2)
    return scalar_or_array(z), scalar_or_array(_p_from_z(z, alternative))


def _pooled_z(x1, n1, x2, n2):
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = (x1 + x2) / (n1 + n2)
        se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        z = (x1 / n1 - x2 / n2) / se
    undefined = (n1 == 0) | (n2 == 0) | (se == 0) | ~np.isfinite(z)
    return np.where(undefined, np.nan, z)


def exact_test(x1, n1, x2, n2, *, method: Literal["fisher", "boschloo"] = "fisher",
               alternative: Alternative = "two-sided"):
    """Exact test of ``p1 = p2`` for small counts.

    Parameters
    ----------
    x1, n1, x2, n2 : int or array_like
        Successes and trials of the two arms (integers).
    method : {"fisher", "boschloo"}, default "fisher"
        ``"fisher"``: Fisher's exact test (``scipy.stats.fisher_exact``), conditional
        on both margins, the same p-value as R's ``fisher.test``. ``"boschloo"``:
        Boschloo's unconditional test (``scipy.stats.boschloo_exact``), uniformly more
        powerful but slower (seconds for arms of a few hundred).
    alternative : {"two-sided", "larger", "smaller"}, default "two-sided"
        ``"larger"`` tests ``p1 > p2``.

    Returns
    -------
    p_value : float or ndarray
        ``nan`` where an arm has no trials. With no successes (or no failures) in
        either arm the conditional test has a single possible table and Fisher's
        p-value is 1, as in scipy and R.

    Notes
    -----
    The tests are computed one 2x2 table at a time (they are not vectorisable);
    an array of tables is looped over.

    Examples
    --------
    >>> from calib.stats import exact_test
    >>> print(f"{exact_test(2, 20, 9, 20):.5f}")
    0.03095
    """
    func = "exact_test"
    x1, n1, x2, n2 = check_two_arms(x1, n1, x2, n2, func)
    check_choice(method, EXACT_METHODS, "method", func)
    check_choice(alternative, ALTERNATIVES, "alternative", func)
    for name, arr in (("x1", x1), ("n1", n1), ("x2", x2), ("n2", n2)):
        if np.any(arr != np.round(arr)):
            raise StatsInputError(
                f"The '{name}' of exact_test must be whole numbers. Got {arr!r}.",
                code="not_integer",
                suggestion="Use two_proportion_ztest for weighted (fractional) counts.",
            )
    # scipy's "greater" is about the odds ratio of [[x1, n1-x1], [x2, n2-x2]] > 1,
    # i.e. p1 > p2.
    scipy_alt = {"two-sided": "two-sided", "larger": "greater", "smaller": "less"}[alternative]
    out = np.full(x1.shape, np.nan)
    for idx in np.ndindex(x1.shape):
        if n1[idx] == 0 or n2[idx] == 0:
            continue
        table = np.array([[x1[idx], n1[idx] - x1[idx]], [x2[idx], n2[idx] - x2[idx]]],
                         dtype=np.int64)
        if method == "fisher":
            out[idx] = stats.fisher_exact(table, alternative=scipy_alt).pvalue
        else:
            out[idx] = _boschloo(table, scipy_alt)
    return scalar_or_array(np.minimum(out, 1.0))


def _boschloo(table: np.ndarray, alternative: str) -> float:
    if (table[:, 0].sum() == 0) or (table[:, 1].sum() == 0):
        return 1.0  # no variation: every table is as extreme as the observed one
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(stats.boschloo_exact(table, alternative=alternative).pvalue)


@dataclass(frozen=True)
class ProportionComparison:
    """Comparison of two rates, as returned by :func:`compare_proportions`.

    ``diff`` is ``p1 - p2`` with a Newcombe interval and ``lift`` is ``p1 / p2 - 1``
    with a Katz log interval; ``test`` names the test behind ``p_value`` (``"z"``,
    ``"fisher"`` or ``"none"`` when no test is possible), and ``status``/``reason``
    say why a value is missing.
    """

    x1: float
    n1: float
    x2: float
    n2: float
    p1: float
    p2: float
    diff: float
    diff_low: float
    diff_high: float
    lift: float
    lift_low: float
    lift_high: float
    test: str
    statistic: float
    p_value: float
    alpha: float
    status: str
    reason: str

    @property
    def significant(self) -> bool:
        """Whether ``p_value < alpha`` (False when no test was possible)."""
        return bool(self.p_value < self.alpha)

    def to_dict(self) -> dict:
        """JSON-safe dict: ``nan`` becomes ``None``."""
        return {k: (None if isinstance(v, float) and math.isnan(v) else v)
                for k, v in asdict(self).items()}

    def to_frame(self):
        """One-row :class:`pandas.DataFrame`."""
        import pandas as pd

        return pd.DataFrame([asdict(self)])

    def summary(self) -> str:
        """A one-line human summary."""
        if self.status == "no_data":
            return f"No comparison: {self.reason}"
        pct = 1 - self.alpha
        text = (f"{self.p1:.2%} vs {self.p2:.2%}: difference {self.diff:+.2%} "
                f"({pct:.0%} CI {self.diff_low:+.2%} to {self.diff_high:+.2%})")
        if self.test == "none":
            return f"{text}; not tested: {self.reason}"
        return f"{text}; {self.test} test p = {self.p_value:.3g}"


def comparison_status(x1, n1, x2, n2) -> tuple[str, str]:
    """Say whether two rates can be compared, as ``(status, reason)``.

    Parameters
    ----------
    x1, n1, x2, n2 : int
        Successes and trials of the two arms (scalars).

    Returns
    -------
    status : {"ok", "no_data", "no_variation"}
    reason : str
        Empty when ``status == "ok"``.

    Examples
    --------
    >>> from calib.stats import comparison_status
    >>> comparison_status(0, 100, 0, 120)
    ('no_variation', 'no successes in either arm: the difference cannot be tested')
    """
    x1, n1 = check_counts(x1, n1, "comparison_status", "1")
    x2, n2 = check_counts(x2, n2, "comparison_status", "2")
    if x1.size != 1 or x2.size != 1:
        raise StatsInputError("comparison_status takes one comparison (scalar counts).",
                              code="not_scalar")
    x1, n1, x2, n2 = float(x1), float(n1), float(x2), float(n2)
    if n1 == 0 and n2 == 0:
        return "no_data", "both arms have no trials"
    if n1 == 0 or n2 == 0:
        return "no_data", f"arm {1 if n1 == 0 else 2} has no trials"
    if x1 + x2 == 0:
        return "no_variation", "no successes in either arm: the difference cannot be tested"
    if x1 + x2 == n1 + n2:
        return "no_variation", "all trials succeeded in both arms: the difference cannot be tested"
    return "ok", ""


def compare_proportions(x1, n1, x2, n2, *, alpha: float = 0.05) -> ProportionComparison:
    """Compare two rates: difference, lift, intervals and a suitable test.

    The test is the pooled z-test (:func:`two_proportion_ztest`) unless an expected
    cell count of the 2x2 table under ``p1 = p2`` is below 5 (Cochran's rule), in
    which case it is Fisher's exact test (:func:`exact_test`). The result says which.

    Parameters
    ----------
    x1, n1 : int
        Successes and trials of the first arm (the treatment).
    x2, n2 : int
        Successes and trials of the second arm (the control).
    alpha : float, default 0.05
        Level of the test and one minus the confidence level of the intervals.

    Returns
    -------
    ProportionComparison
        With ``status`` ``"ok"``, ``"no_data"`` (an arm has no trials: everything is
        ``nan``) or ``"no_variation"`` (no successes, or only successes, in both arms:
        the interval for the difference is reported, the test is not).

    Examples
    --------
    >>> from calib.stats import compare_proportions
    >>> res = compare_proportions(1, 15, 7, 15)  # an expected count is 4 < 5
    >>> res.test, round(res.p_value, 5)
    ('fisher', 0.03518)
    >>> compare_proportions(130, 1000, 100, 1000).test
    'z'
    """
    func = "compare_proportions"
    alpha = check_alpha(alpha, func)
    status, reason = comparison_status(x1, n1, x2, n2)
    x1, n1, x2, n2 = (float(v) for v in (x1, n1, x2, n2))
    nan = float("nan")
    if status == "no_data":
        return ProportionComparison(x1, n1, x2, n2, *(nan,) * 8, "none", nan, nan,
                                    alpha, status, reason)
    p1, p2 = x1 / n1, x2 / n2
    d_low, d_high = (float(v) for v in diff_ci(x1, n1, x2, n2, alpha=alpha))
    l_low, l_high = (float(v) for v in ratio_ci(x1, n1, x2, n2, alpha=alpha))
    lift = p1 / p2 - 1 if p2 > 0 else nan
    if status == "no_variation":
        test, statistic, p_value = "none", nan, nan
    else:
        pooled = (x1 + x2) / (n1 + n2)
        expected = np.array([n1, n2])[:, None] * np.array([pooled, 1 - pooled])[None, :]
        if expected.min() < MIN_EXPECTED_COUNT:
            test, statistic = "fisher", nan
            p_value = float(exact_test(x1, n1, x2, n2))
        else:
            test = "z"
            statistic, p_value = (float(v) for v in two_proportion_ztest(x1, n1, x2, n2))
    return ProportionComparison(x1, n1, x2, n2, p1, p2, p1 - p2, d_low, d_high, lift,
                                l_low, l_high, test, statistic, p_value, alpha, status,
                                reason)


def srm_test(observed_counts, expected_weights):
    """Sample-ratio-mismatch check: chi-square goodness of fit of arm sizes.

    A live test meant to split leads 50/50 that ends with 5,200 versus 4,800 leads
    probably has a broken assignment; its rate comparisons should not be trusted.

    Parameters
    ----------
    observed_counts : array_like, shape (..., k)
        Leads per arm (k >= 2 arms along the last axis; leading axes are separate
        experiments).
    expected_weights : array_like, shape (k,) or broadcastable
        Intended allocation, any positive scale (``[1, 1]`` or ``[0.5, 0.5]``).

    Returns
    -------
    chi2, p_value : float or ndarray
        Pearson's statistic with ``k - 1`` degrees of freedom (as
        ``scipy.stats.chisquare`` and R's ``chisq.test(x, p=w)``); ``nan`` where no
        lead was assigned.

    Examples
    --------
    >>> from calib.stats import srm_test
    >>> chi2, p = srm_test([5040, 4960], [0.5, 0.5])
    >>> print(f"{chi2:.2f} {p:.4f}")
    0.64 0.4237
    """
    func = "srm_test"
    observed = check_whole(as_float_array(observed_counts, "observed_counts", func),
                           "observed_counts", func)
    weights = as_float_array(expected_weights, "expected_weights", func)
    if observed.ndim == 0 or observed.shape[-1] < 2:
        raise StatsInputError(
            f"The 'observed_counts' of {func} must hold at least 2 arms along the last "
            f"axis. Got shape {observed.shape}.", code="too_few_arms")
    if np.any(observed < 0):
        raise StatsInputError(f"The 'observed_counts' of {func} must be >= 0.",
                              code="negative_count")
    if np.any(weights <= 0):
        raise StatsInputError(
            f"The 'expected_weights' of {func} must be > 0. Got {weights!r}.",
            code="not_positive",
            suggestion="Leave an arm with zero allocation out of both arguments.")
    observed, weights = broadcast((observed, weights), ("observed_counts", "expected_weights"),
                                  func, must="have the same number of arms")
    total = observed.sum(axis=-1, keepdims=True)
    empty = total[..., 0] == 0
    # scipy cannot test an experiment without leads (0 / 0): a placeholder, then nan
    observed = np.where(total == 0, weights, observed)
    expected = observed.sum(axis=-1, keepdims=True) * weights / weights.sum(axis=-1,
                                                                            keepdims=True)
    res = stats.chisquare(observed, expected, axis=-1)
    chi2 = np.where(empty, np.nan, res.statistic)
    p_value = np.where(empty, np.nan, res.pvalue)
    return scalar_or_array(chi2), scalar_or_array(p_value)


def mcnemar(b, c, *, exact: bool = False, correction: bool = True):
    """McNemar's test for paired binary outcomes (e.g. the same leads under two rules).

    Only the discordant pairs matter: ``b`` leads flagged by rule A only and ``c``
    by rule B only. Matches R's ``mcnemar.test``, which leaves out the continuity
    correction when ``b == c`` (statistic 0, p = 1; statsmodels'
    ``contingency_tables.mcnemar`` subtracts it there too and gives p = 0.4795 at
    ``b = c = 1``), and statsmodels everywhere else.

    Parameters
    ----------
    b, c : int or array_like
        Discordant counts (off-diagonal cells of the paired 2x2 table), whole numbers.
    exact : bool, default False
        If True, the binomial test: ``statistic = min(b, c)`` and
        ``p = min(1, 2 * P(Binomial(b + c, 1/2) <= min(b, c)))``.
    correction : bool, default True
        Continuity correction of the chi-square statistic
        ``(|b - c| - 1)² / (b + c)`` (ignored when ``exact``), as R's default.

    Returns
    -------
    statistic, p_value : float or ndarray
        ``nan`` where ``b + c == 0`` (no discordant pair, no information; R returns
        ``NaN`` for the chi-square version, statsmodels an infinite statistic with
        p = 0 for it and p = 1 for the exact one).

    Examples
    --------
    >>> from calib.stats import mcnemar
    >>> stat, p = mcnemar(150, 86)
    >>> print(f"{stat:.4f} {p:.3g}")
    16.8178 4.11e-05
    """
    func = "mcnemar"
    b = check_whole(as_float_array(b, "b", func), "b", func)
    c = check_whole(as_float_array(c, "c", func), "c", func)
    if np.any(b < 0) or np.any(c < 0):
        raise StatsInputError(f"The 'b' and 'c' of {func} must be >= 0.",
                              code="negative_count")
    b, c = np.broadcast_arrays(b, c)
    total = b + c
    empty = total == 0
    safe_total = np.where(empty, 1.0, total)
    if exact:
        if np.any(total != np.round(total)):
            raise StatsInputError(f"The 'b' and 'c' of {func} must be whole numbers when "
                                  "exact=True.", code="not_integer")
        statistic = np.minimum(b, c)
        p_value = np.minimum(1.0, 2 * stats.binom.cdf(statistic, safe_total, 0.5))
    else:
        # R: the correction only where b != c (there |b - c| >= 1, so it never
        # overshoots zero)
        corr = np.where(b != c, float(correction), 0.0)
        statistic = (np.abs(b - c) - corr) ** 2 / safe_total
        p_value = stats.chi2.sf(statistic, 1)
    statistic = np.where(empty, np.nan, statistic)
    p_value = np.where(empty, np.nan, p_value)
    return scalar_or_array(statistic), scalar_or_array(p_value)
