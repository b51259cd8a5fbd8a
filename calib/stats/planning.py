"""Sample size, power and minimum detectable effect for a test of two rates.

Two normal approximations are offered for the two-sided test of ``p_control =
p_treatment`` with ``n_treatment = ratio * n_control``, ``Δ = p_treatment - p_control``,
``z_a = Φ⁻¹(1 - α'/2)``, ``z_b = Φ⁻¹(power)`` and ``α' = alpha / n_treatments``:

``method="normal"`` (default): the pooled z-test that :func:`two_proportion_ztest`
runs, with its null variance at the pooled rate ``p̄ = (p_c + ratio p_t) / (1 + ratio)``
and its variance under the alternative unpooled (Fleiss, Levin & Paik 2003, eq. 4.14,
without continuity correction)::

    σ0 = sqrt(p̄ (1 - p̄) (1 + 1/ratio))
    σ1 = sqrt(p_c (1 - p_c) + p_t (1 - p_t) / ratio)
    n_control = ((z_a σ0 + z_b σ1) / Δ)²
    power     = Φ((|Δ| sqrt(n_control) - z_a σ0) / σ1)

With ``ratio = 1`` this is R's ``power.prop.test`` (whose default ``strict = FALSE``
also counts only the tail in the direction of the effect). For any ratio it is
statsmodels' ``power_proportions_2indep(Δ, p_c, ratio * n_control, ratio=1/ratio)``
(statsmodels' first sample is the treatment) without that function's opposite tail:
the two differ by the probability of rejecting in the wrong direction, which is
small at the powers one plans for but not at low power (0.006 at power 0.11, ratio
1/4). It is the default because it describes the test calib actually runs.

``method="arcsine"``: Cohen's effect size ``h = 2 asin(sqrt(p_t)) - 2 asin(sqrt(p_c))``
with the variance-stabilised normal approximation (Cohen 1988, ch. 6), as statsmodels'
``NormalIndPower`` with ``proportion_effectsize``::

    n_control = ((z_a + z_b) / h)² (1 + 1/ratio)
    power     = Φ(|h| sqrt(n_control / (1 + 1/ratio)) - z_a)

statsmodels' ``NormalIndPower`` adds the far tail ``Φ(-|h| ... - z_a)``, which is
below 1e-5 whenever power >= 0.5 at alpha = 0.05; here both methods ignore it, so
:func:`power` and :func:`sample_size` are exact inverses.

Several treatment arms, each compared with the control, are handled by a Bonferroni
split of alpha over ``n_treatments`` comparisons; each treatment arm then needs
``ratio * n_control`` leads.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from calib._lazy import lazy_modules
from calib.stats._validation import (
    StatsInputError,
    check_alpha,
    check_choice,
    check_positive,
    check_rate,
    scalar_or_array,
)

(stats,) = lazy_modules("scipy.stats")

PowerMethod = Literal["normal", "arcsine"]
POWER_METHODS = ("normal", "arcsine")
_BISECTION_STEPS = 80


def _check_common(func, p_control, alpha, ratio, method, n_treatments):
    """The checked baseline rate, the level per comparison and the ratio."""
    p_c = check_rate(p_control, "p_control", func)
    alpha = check_alpha(alpha, func)
    ratio = check_positive(ratio, "ratio", func)
    check_choice(method, POWER_METHODS, "method", func)
    if not (isinstance(n_treatments, (int, np.integer)) and n_treatments >= 1):
        raise StatsInputError(
            f"The 'n_treatments' of {func} must be a whole number >= 1. Got {n_treatments!r}.",
            code="invalid_arms")
    return p_c, alpha / n_treatments, ratio


def _sigmas(p_c, p_t, ratio):
    pooled = (p_c + ratio * p_t) / (1 + ratio)
    sigma0 = np.sqrt(pooled * (1 - pooled) * (1 + 1 / ratio))
    sigma1 = np.sqrt(p_c * (1 - p_c) + p_t * (1 - p_t) / ratio)
    return sigma0, sigma1


def _power(p_c, p_t, n_c, alpha, ratio, method):
    z_a = stats.norm.isf(alpha / 2)
    if method == "normal":
        sigma0, sigma1 = _sigmas(p_c, p_t, ratio)
        return stats.norm.cdf((np.abs(p_t - p_c) * np.sqrt(n_c) - z_a * sigma0) / sigma1)
    h = 2 * np.arcsin(np.sqrt(p_t)) - 2 * np.arcsin(np.sqrt(p_c))
    return stats.norm.cdf(np.abs(h) * np.sqrt(n_c / (1 + 1 / ratio)) - z_a)


def sample_size(p_control, p_treatment, *, alpha: float = 0.05, power: float = 0.8,
                ratio: float = 1.0, method: PowerMethod = "normal", n_treatments: int = 1):
    """Leads needed in the control arm to detect ``p_control -> p_treatment``.

    Parameters
    ----------
    p_control : float or array_like
        Baseline rate, in (0, 1).
    p_treatment : float or array_like
        Rate under the treatment, in [0, 1].
    alpha : float, default 0.05
        Two-sided level (before the Bonferroni split over ``n_treatments``).
    power : float, default 0.8
        Target power, in (0, 1).
    ratio : float, default 1.0
        ``n_treatment / n_control``.
    method : {"normal", "arcsine"}, default "normal"
        See the module docstring: ``"normal"`` matches R's ``power.prop.test`` and
        statsmodels' ``samplesize_proportions_2indep_onetail``; ``"arcsine"`` matches
        statsmodels' ``NormalIndPower`` with Cohen's h.
    n_treatments : int, default 1
        Number of treatment arms each compared with the control (Bonferroni).

    Returns
    -------
    float or ndarray
        Unrounded ``n_control`` (round up before use); ``inf`` where the rates are equal.

    Examples
    --------
    >>> from calib.stats import sample_size
    >>> print(f"{sample_size(0.10, 0.12):.2f}")  # R: power.prop.test(p1=.1, p2=.12, power=.8)
    3840.85
    >>> print(f"{sample_size(0.10, 0.12, method='arcsine'):.2f}")
    3834.61
    """
    func = "sample_size"
    p_c, alpha, ratio = _check_common(func, p_control, alpha, ratio, method, n_treatments)
    p_t = check_rate(p_treatment, "p_treatment", func, closed=True)
    power = check_alpha(power, func, name="power")
    z_a, z_b = stats.norm.isf(alpha / 2), stats.norm.ppf(power)
    with np.errstate(divide="ignore"):
        if method == "normal":
            sigma0, sigma1 = _sigmas(p_c, p_t, ratio)
            n = (np.maximum(z_a * sigma0 + z_b * sigma1, 0.0) / np.abs(p_t - p_c)) ** 2
        else:
            h = 2 * np.arcsin(np.sqrt(p_t)) - 2 * np.arcsin(np.sqrt(p_c))
            n = (max(z_a + z_b, 0.0) / np.abs(h)) ** 2 * (1 + 1 / ratio)
    return scalar_or_array(n)


def power(p_control, p_treatment, n_control, *, alpha: float = 0.05, ratio: float = 1.0,
          method: PowerMethod = "normal", n_treatments: int = 1):
    """Power of the two-sided test of two rates for a given control-arm size.

    Parameters
    ----------
    p_control, p_treatment : float or array_like
        Baseline rate, in (0, 1), and the rate under the treatment, in [0, 1].
    n_control : float or array_like
        Leads in the control arm (> 0); the treatment arm has ``ratio * n_control``.
    alpha, ratio, method, n_treatments
        As in :func:`sample_size`.

    Returns
    -------
    float or ndarray
        Probability of rejecting in the direction of the effect (the far tail is
        ignored, see the module docstring).

    Examples
    --------
    >>> from calib.stats import power
    >>> print(f"{power(0.10, 0.12, 3000):.4f}")  # R: power.prop.test(p1=.1, p2=.12, n=3000)
    0.6970
    """
    func = "power"
    p_c, alpha, ratio = _check_common(func, p_control, alpha, ratio, method, n_treatments)
    p_t = check_rate(p_treatment, "p_treatment", func, closed=True)
    n_c = check_positive(n_control, "n_control", func)
    return scalar_or_array(_power(p_c, p_t, n_c, alpha, ratio, method))


def mde(p_control, n_control, *, alpha: float = 0.05, power: float = 0.8,
        ratio: float = 1.0, relative: bool = False, method: PowerMethod = "normal",
        n_treatments: int = 1):
    """Minimum detectable effect: the smallest increase reaching ``power``.

    Solves ``power(p_control, p_control + d, n_control) = power`` for ``d > 0`` by
    bisection (vectorised; the power grows with ``d``), the reverse of
    :func:`sample_size`.

    Parameters
    ----------
    p_control : float or array_like
        Baseline rate, in (0, 1).
    n_control : float or array_like
        Leads in the control arm (> 0).
    alpha, power, ratio, method, n_treatments
        As in :func:`sample_size`.
    relative : bool, default False
        Return ``d / p_control`` (relative lift) instead of the absolute ``d``.

    Returns
    -------
    float or ndarray
        The absolute (or relative) increase; ``nan`` where even a treatment rate of
        1 would not reach the power.

    Examples
    --------
    >>> from calib.stats import mde
    >>> print(f"{mde(0.10, 3840.85):.4f}")
    0.0200
    >>> print(f"{mde(0.10, 3840.85, relative=True):.3f}")
    0.200
    """
    func = "mde"
    p_c, alpha, ratio = _check_common(func, p_control, alpha, ratio, method, n_treatments)
    n_c = check_positive(n_control, "n_control", func)
    target = check_alpha(power, func, name="power")
    p_c, n_c, ratio = np.broadcast_arrays(p_c, n_c, ratio)
    lo, hi = np.zeros_like(p_c), 1 - p_c
    reachable = _power(p_c, hi + p_c, n_c, alpha, ratio, method) >= target
    for _ in range(_BISECTION_STEPS):
        mid = (lo + hi) / 2
        enough = _power(p_c, p_c + mid, n_c, alpha, ratio, method) >= target
        lo, hi = np.where(enough, lo, mid), np.where(enough, mid, hi)
    d = np.where(reachable, hi, np.nan)
    return scalar_or_array(d / p_c if relative else d)
