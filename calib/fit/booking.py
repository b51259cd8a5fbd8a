"""When was the outcome decided? A booking-delay model for the label time.

An outcome is recorded some time after the moment that decided it: a meeting is held
days after it was booked. Placing the label at ``occurred_at - lag`` with a fixed lag
credits the booking to whatever the lead did while waiting for the meeting (fresh
events), which biases the half-life low. Instead the label is spread over the moments
that could have booked it, by their posterior probability (an EM algorithm for a
discrete-time hazard whose event time is observed with a random delay):

    P(booked at moment k | outcome at o) ∝ S(k-1) * h(k) * f(o - t_k)

with ``h`` the model's hazard at the lead's moments, ``S(k-1)`` the probability of no
booking before moment ``k`` and ``f`` the delay distribution, a histogram over
``BIN_DAYS``-wide bins up to ``max_delay`` days, itself re-estimated from the posteriors
(the M-step). A moment then enters the fit with the weight of "not booked before it"
(``R_k``: the posterior mass at or after it) and the label ``r_k / R_k``: the
expected-data likelihood of the hazard model, which a weighted logistic fit maximises.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DelayModel", "spread_labels", "update_delays", "initial_delays", "BIN_DAYS"]

BIN_DAYS = 0.5
NS_PER_DAY = 86_400 * 10**9
NEVER = np.iinfo(np.int64).max


@dataclass(frozen=True)
class DelayModel:
    """A histogram of the delay from booking to outcome: ``p[b]`` is the probability of
    a delay in ``[b * BIN_DAYS, (b + 1) * BIN_DAYS)`` days."""

    p: np.ndarray

    @property
    def max_delay(self) -> float:
        """The longest delay the histogram allows, in days."""
        return len(self.p) * BIN_DAYS

    def logpdf(self, d: np.ndarray) -> np.ndarray:
        """Log density of delays ``d`` (days); ``-inf`` outside ``[0, max_delay)``.

        Examples
        --------
        >>> initial_delays(1.0).logpdf(np.array([0.2, 5.0]))
        array([  0., -inf])
        """
        b = np.floor(d / BIN_DAYS).astype(np.int64)
        out = np.full(len(d), -np.inf)
        ok = (b >= 0) & (b < len(self.p))
        out[ok] = np.log(np.maximum(self.p[b[ok]], 1e-300)) - np.log(BIN_DAYS)
        return out

    def quantile(self, q: float) -> float:
        """The ``q`` quantile of the delay in days (the upper edge of its bin).

        Examples
        --------
        >>> initial_delays(2.0).quantile(0.95)
        2.0
        """
        c = np.cumsum(self.p)
        return float((np.searchsorted(c, q) + 1) * BIN_DAYS)

    def mean(self) -> float:
        """The mean delay in days (bins at their centres).

        Examples
        --------
        >>> initial_delays(2.0).mean()
        1.0
        """
        return float(((np.arange(len(self.p)) + 0.5) * BIN_DAYS * self.p).sum())


def initial_delays(max_delay: float) -> DelayModel:
    """A flat start over ``[0, max_delay)`` days.

    Parameters
    ----------
    max_delay : float
        The longest delay in days (rounded up to a whole bin).

    Returns
    -------
    DelayModel

    Examples
    --------
    >>> initial_delays(2.0).p
    array([0.25, 0.25, 0.25, 0.25])
    """
    n = max(int(np.ceil(max_delay / BIN_DAYS)), 1)
    return DelayModel(np.full(n, 1.0 / n))


def _starts(lead: np.ndarray) -> np.ndarray:
    """Index of the first example of each example's lead (examples sorted by lead)."""
    first = np.r_[True, lead[1:] != lead[:-1]]
    return np.maximum.accumulate(np.where(first, np.arange(len(lead)), 0))


def spread_labels(lead: np.ndarray, t: np.ndarray, o: np.ndarray, eta: np.ndarray,
                  delays: DelayModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The E-step: per example (sorted by lead, then time) its label, its weight factor
    and its posterior booking probability ``r``.

    ``o`` is the outcome time of each example's lead (``NEVER`` when none; examples of
    such leads keep label 0 and weight 1) and ``eta`` the model's log-odds at each
    example. Examples before the delay window of their lead's outcome are certain
    non-bookings (label 0, weight 1); those after the last possible booking get weight 0.
    A positive lead with no moment inside the window books at its last moment.

    Returns
    -------
    y, R, r : ndarray
        Label, weight factor and posterior booking probability of each example.

    Examples
    --------
    One lead seen at days 0, 1 and 2 with its outcome at day 2.2, an even hazard and
    delays of at most one day: only the moment of day 2 can have booked it.

    >>> day = NS_PER_DAY
    >>> y, R, r = spread_labels(np.zeros(3, np.int64), np.array([0, day, 2 * day]),
    ...                         np.full(3, int(2.2 * day)), np.zeros(3), initial_delays(1.0))
    >>> y, R
    (array([0., 0., 1.]), array([1., 1., 1.]))
    """
    n = len(t)
    pos = o != NEVER
    d = np.where(pos, (o - t) / NS_PER_DAY, np.inf)
    logf = np.full(n, -np.inf)
    logf[pos] = delays.logpdf(d[pos])
    log_h = -np.logaddexp(0, -eta)
    log_1mh = -np.logaddexp(0, eta)
    st = _starts(lead)
    c = np.cumsum(log_1mh)
    surv = c - log_1mh - (c[st] - log_1mh[st])  # sum of log(1 - h) before k in its lead
    logr = np.where(np.isfinite(logf), log_h + surv + logf, -np.inf)
    # normalise per lead (a segment max then a segment sum)
    seg = np.flatnonzero(np.r_[True, lead[1:] != lead[:-1]])
    mx = np.maximum.reduceat(logr, seg)
    ids = np.repeat(np.arange(len(seg)), np.diff(np.r_[seg, n]))
    mxe = mx[ids]
    e = np.where(np.isfinite(logr), np.exp(logr - np.where(np.isfinite(mxe), mxe, 0.0)), 0.0)
    tot = np.add.reduceat(e, seg)[ids]
    r = np.where(tot > 0, e / np.where(tot > 0, tot, 1.0), 0.0)
    # positive leads with no possible moment: their last moment books
    last = np.r_[lead[1:] != lead[:-1], True]
    none = pos & (tot == 0) & last
    r[none] = 1.0
    # R_k: posterior mass at or after k within the lead (reverse segment cumsum)
    rc = np.cumsum(r[::-1])[::-1]
    end_next = np.r_[seg[1:], n]  # one past each segment's end
    after_seg = np.r_[rc, 0.0][end_next][ids]
    R = rc - after_seg
    R = np.where(pos, np.clip(R, 0.0, 1.0), 1.0)
    y = np.where(pos & (R > 1e-12), r / np.maximum(R, 1e-12), 0.0)
    return np.clip(y, 0.0, 1.0), R, r


def update_delays(lead: np.ndarray, t: np.ndarray, o: np.ndarray, r: np.ndarray,
                  delays: DelayModel, prior: float = 0.5) -> DelayModel:
    """The M-step of the delay histogram: the posterior mass of every delay bin, with
    ``prior`` pseudo-leads spread over the bins (keeps empty bins possible).

    Parameters
    ----------
    lead, t, o, r : ndarray
        As for :func:`spread_labels` (``r`` its posterior booking probabilities).
    delays : DelayModel
        The current histogram (its bins are kept).
    prior : float, default 0.5
        Pseudo-leads spread evenly over the bins.

    Returns
    -------
    DelayModel

    Examples
    --------
    >>> day = NS_PER_DAY
    >>> new = update_delays(np.zeros(1, np.int64), np.array([0]), np.array([day // 4]),
    ...                     np.ones(1), initial_delays(1.0))
    >>> new.p
    array([0.83333333, 0.16666667])
    """
    pos = (o != NEVER) & (r > 0)
    d = (o[pos] - t[pos]) / NS_PER_DAY
    b = np.clip(np.floor(d / BIN_DAYS).astype(np.int64), 0, len(delays.p) - 1)
    mass = np.bincount(b, weights=r[pos], minlength=len(delays.p)) + prior / len(delays.p)
    return DelayModel(mass / mass.sum())
