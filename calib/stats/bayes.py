"""Bayesian comparison of two rates with independent Beta posteriors."""

from __future__ import annotations

import math

import numpy as np

from calib._lazy import lazy_modules
from calib.stats._validation import (
    StatsInputError,
    check_counts,
    check_positive,
    scalar_or_array,
)

integrate, special, stats = lazy_modules("scipy.integrate", "scipy.special", "scipy.stats")

#: Mass of each posterior tail left out of the numerical integral (see prob_beat).
_TAIL = 1e-15
#: Absolute error asked of scipy.integrate.quad.
QUAD_EPSABS = 1e-12


def prob_beat(x_treatment, n_treatment, x_control, n_control, *, prior=(1.0, 1.0)):
    """Posterior probability that the treatment rate exceeds the control rate.

    Each arm's rate gets an independent ``Beta(a, b)`` prior, so the posteriors are
    ``A ~ Beta(a + x_control, b + n_control - x_control)`` and
    ``B ~ Beta(a + x_treatment, b + n_treatment - x_treatment)``; this returns
    ``P(B > A)``. No Monte Carlo is involved:

    - when the treatment posterior's shapes ``αB, βB`` are whole numbers (a whole
      prior such as the default uniform one, with whole counts), the exact finite sum
      of Evan Miller ("Formulas for Bayesian A/B testing", 2015)::

          P(B > A) = sum_{i=0}^{αB-1} B(αA + i, βA + βB)
                                      / ((βB + i) B(1 + i, βB) B(αA, βA))

      evaluated by a term recurrence in log space, in ``O(n_treatment)`` time, with a
      relative rounding error below 1e-10 at 10^5 leads (checked against 40-digit
      arithmetic);
    - else, when the control posterior's shapes are whole, ``1 - P(A > B)`` by the
      same sum;
    - else ``∫ f_B(p) F_A(p) dp`` by ``scipy.integrate.quad`` over the central
      ``1 - 2e-15`` of B's posterior (the tails left out change the result by at
      most 2e-15), with requested absolute error ``1e-12``.

    Parameters
    ----------
    x_treatment, n_treatment : int or array_like
        Successes and trials of the treatment arm (first, as in every two-arm function
        of :mod:`calib.stats`).
    x_control, n_control : int or array_like
        Successes and trials of the control arm.
    prior : tuple of two floats, default (1, 1)
        Beta prior ``(a, b)`` shared by both arms; ``(1, 1)`` is uniform,
        ``(0.5, 0.5)`` is Jeffreys'.

    Returns
    -------
    float or ndarray
        ``P(p_treatment > p_control | data)``. With no data in either arm it is 0.5.

    Examples
    --------
    >>> from calib.stats import prob_beat
    >>> print(f"{prob_beat(130, 1000, 100, 1000):.4f}")  # treatment 13%, control 10%
    0.9822
    >>> print(f"{prob_beat(0, 0, 0, 0):.2f}")
    0.50
    """
    func = "prob_beat"
    x_c, n_c = check_counts(x_control, n_control, func, "_control")
    x_t, n_t = check_counts(x_treatment, n_treatment, func, "_treatment")
    prior = np.asarray(prior, dtype=float)
    if prior.shape != (2,):
        raise StatsInputError(f"The 'prior' of {func} must be a pair (a, b). Got {prior!r}.",
                              code="invalid_prior")
    a, b = check_positive(prior, "prior", func)
    x_c, n_c, x_t, n_t = np.broadcast_arrays(x_c, n_c, x_t, n_t)
    out = np.empty(x_c.shape)
    for idx in np.ndindex(x_c.shape):
        out[idx] = _prob_b_beats_a(a + x_c[idx], b + n_c[idx] - x_c[idx],
                                   a + x_t[idx], b + n_t[idx] - x_t[idx])
    return scalar_or_array(out)


def _is_whole(value: float) -> bool:
    return float(value).is_integer()


def _miller_sum(alpha_a, beta_a, alpha_b, beta_b) -> float:
    """``P(B > A)`` by Evan Miller's sum; ``alpha_b`` and ``beta_b`` must be whole.

    The terms ``t_i`` follow the recurrence
    ``t_{i+1} / t_i = (αA + i)(βB + i) / ((αA + βA + βB + i)(1 + i))`` from
    ``t_0 = B(αA, βA + βB) / B(αA, βA) = prod_{j < βB} (βA + j) / (αA + βA + j)``;
    both are summed in log space. Differencing ``betaln`` of large arguments instead
    would lose up to 1e-9 of relative accuracy at 10^5 leads.
    """
    j = np.arange(int(beta_b), dtype=float)
    log_t0 = math.fsum(np.log1p(-alpha_a / (alpha_a + beta_a + j)))
    i = np.arange(int(alpha_b) - 1, dtype=float)
    log_ratios = (np.log(alpha_a + i) + np.log(beta_b + i)
                  - np.log(alpha_a + beta_a + beta_b + i) - np.log1p(i))
    log_terms = log_t0 + np.concatenate(([0.0], np.cumsum(log_ratios)))
    return float(np.exp(special.logsumexp(log_terms)))


def _prob_b_beats_a(alpha_a, beta_a, alpha_b, beta_b) -> float:
    if _is_whole(alpha_b) and _is_whole(beta_b):
        p = _miller_sum(alpha_a, beta_a, alpha_b, beta_b)
    elif _is_whole(alpha_a) and _is_whole(beta_a):
        p = 1.0 - _miller_sum(alpha_b, beta_b, alpha_a, beta_a)
    else:
        p = _quad_prob(alpha_a, beta_a, alpha_b, beta_b)
    return min(max(p, 0.0), 1.0)


def _quad_prob(alpha_a, beta_a, alpha_b, beta_b) -> float:
    """``P(B > A) = ∫ f_B(q) F_A(q) dq`` by adaptive quadrature (any real shapes)."""
    post_b = stats.beta(alpha_b, beta_b)
    post_a = stats.beta(alpha_a, beta_a)
    lo, hi = post_b.ppf(_TAIL), post_b.isf(_TAIL)
    # Break at both means so that quad sees a sharp F_A wherever it sits.
    points = [post_b.mean()] + [m for m in (post_a.mean(),) if lo < m < hi]
    p, _ = integrate.quad(lambda q: post_b.pdf(q) * post_a.cdf(q), lo, hi,
                          points=points, epsabs=QUAD_EPSABS, limit=200)
    return p
