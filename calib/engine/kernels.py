"""Compiled per-lead kernels.

The replay is sequential inside a lead (a decayed running sum, the first time a score
crosses a cutoff) and independent across leads. These numba kernels make one pass over
arrays sorted by (lead, time), so the logic reads like SPEC section 3 and stays exact:
an event's own contribution at its own time is exactly 1 (its points times 1).

Times are int64 nanoseconds; ages are computed as differences of integers first, so an
age of zero is exactly zero.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from calib import _numba

_numba.start()  # every user of this module calls a kernel

NS_PER_DAY = 86_400 * 1_000_000_000

KIND_CODES = {"none": 0, "exponential": 1, "step": 2, "window": 3, "linear": 4}


@njit(cache=True)
def _kernel(kind, age_ns, p1, p2):
    """Weight of one event of age ``age_ns`` (>= 0) in nanoseconds."""
    age = age_ns / NS_PER_DAY
    if kind == 0:
        return 1.0
    if kind == 1:
        return 0.5 ** (age / p1)
    if kind == 2:
        return (1.0 - p1 / 100.0) ** np.floor(age / p2)
    if kind == 3:
        return 1.0 if age < p1 else 0.0
    return max(0.0, 1.0 - age / p1)


@njit(cache=True)
def decayed_sums(eval_lead, eval_t, ev_lead, ev_t, kind, p1, p2, out):
    """For every evaluation point k, the decayed count of one rule's events.

    ``out[k] = sum over events j of lead eval_lead[k] with ev_t[j] <= eval_t[k]
    of kernel(eval_t[k] - ev_t[j])``. Both inputs are sorted by (lead, time).
    """
    n_eval = eval_lead.shape[0]
    n_ev = ev_lead.shape[0]
    j = 0          # next event not yet added
    first = 0      # first event of the current lead
    lo = 0         # first event still inside a window / linear support
    lead = -1
    s = 0.0        # running sum (none, exponential)
    last_t = 0     # time of the last added event (exponential)
    for k in range(n_eval):
        if eval_lead[k] != lead:
            lead = eval_lead[k]
            while j < n_ev and ev_lead[j] < lead:
                j += 1
            first = j
            lo = j
            s = 0.0
            last_t = 0
        t = eval_t[k]
        while j < n_ev and ev_lead[j] == lead and ev_t[j] <= t:
            if kind == 1:
                if j > first:
                    s = s * 0.5 ** (((ev_t[j] - last_t) / NS_PER_DAY) / p1)
                s += 1.0
                last_t = ev_t[j]
            else:
                s += 1.0
            j += 1
        if kind == 0:
            out[k] = s
        elif kind == 1:
            if j > first:
                out[k] = s * 0.5 ** (((t - last_t) / NS_PER_DAY) / p1)
            else:
                out[k] = 0.0
        elif kind == 3 or kind == 4:
            while lo < j and (t - ev_t[lo]) / NS_PER_DAY >= p1:
                lo += 1
            if kind == 3:
                out[k] = j - lo
            else:
                acc = 0.0
                for i in range(lo, j):
                    acc += _kernel(4, t - ev_t[i], p1, p2)
                out[k] = acc
        else:
            acc = 0.0
            for i in range(first, j):
                acc += _kernel(kind, t - ev_t[i], p1, p2)
            out[k] = acc


@njit(cache=True)
def first_crossings(eval_lead, score, eligible, cutoffs_sorted, n_leads, tol, out):
    """First evaluation index at which each lead's score reaches each cutoff.

    ``cutoffs_sorted`` is ascending; ``out`` (n_leads x n_cutoffs) is filled with the
    index, or -1 when the lead never reaches the cutoff (or is not ``eligible``).
    One pass over each lead's running maximum answers every cutoff at once.
    """
    n_cut = cutoffs_sorted.shape[0]
    out[:, :] = -1
    n = eval_lead.shape[0]
    lead = -1
    ptr = 0
    for k in range(n):
        if eval_lead[k] != lead:
            lead = eval_lead[k]
            ptr = 0
        if not eligible[lead]:
            continue
        s = score[k]
        while ptr < n_cut and s >= cutoffs_sorted[ptr] - tol:
            out[lead, ptr] = k
            ptr += 1


@njit(cache=True)
def peak_by_lead(eval_lead, score, n_leads, out):
    """The highest score of each lead over its evaluation points."""
    for i in range(n_leads):
        out[i] = -np.inf
    for k in range(eval_lead.shape[0]):
        if score[k] > out[eval_lead[k]]:
            out[eval_lead[k]] = score[k]


@njit(cache=True)
def keep_max_per_day(lead, day, n_max):
    """Mask keeping the first ``n_max`` events per (lead, day) of arrays sorted by
    (lead, time)."""
    n = lead.shape[0]
    keep = np.ones(n, dtype=np.bool_)
    run = 0
    for i in range(n):
        if i > 0 and lead[i] == lead[i - 1] and day[i] == day[i - 1]:
            run += 1
        else:
            run = 0
        if run >= n_max:
            keep[i] = False
    return keep


@njit(cache=True)
def score_at(lead_of_event, ev_t, as_of, kind, p1, p2, n_leads, out):
    """Decayed count per lead of events at or before ``as_of``."""
    for i in range(n_leads):
        out[i] = 0.0
    for j in range(ev_t.shape[0]):
        if ev_t[j] <= as_of:
            out[lead_of_event[j]] += _kernel(kind, as_of - ev_t[j], p1, p2)


@njit(cache=True)
def _factor(kind, dt_ns, p1):
    """The decay of a sum over ``dt_ns`` nanoseconds: 1 (no decay) or exponential."""
    if kind == 0:
        return 1.0
    return 0.5 ** ((dt_ns / NS_PER_DAY) / p1)


@njit(cache=True)
def _open_lead(lead, t0, ev_lead, ev_t, w, j, end, kind, p1):
    """Skip the events of earlier leads; the weighted sum of ``lead``'s events before
    ``t0``, decayed to ``t0``, and the index of its first event at or after ``t0``."""
    while j < end and ev_lead[j] < lead:
        j += 1
    acc = 0.0
    last = 0
    while j < end and ev_lead[j] == lead and ev_t[j] < t0:
        if w[j] != 0.0:
            if acc != 0.0:
                acc *= _factor(kind, ev_t[j] - last, p1)
            acc += w[j]
            last = ev_t[j]
        j += 1
    if acc != 0.0:
        acc *= _factor(kind, t0 - last, p1)
    return acc, j


@njit(cache=True)
def score_pass(eval_lead, eval_t, ev_lead, ev_t, w, cap_lead, cap_t, cap_w, cap_off,
               cap_points, cap_max, kind, p1, fit, lo, hi, cutoffs_sorted, tol, cross, peak):
    """Scores at every evaluation point in one pass, without storing them: each lead's
    first evaluation reaching each cutoff and its highest score.

    For a decay that multiplies (``kind`` 0: none, 1: exponential) the uncapped rules
    are one running sum of their events' points (``w``, 0 for an event no uncapped rule
    counts); each capped rule ``a`` keeps its own decayed count of the events
    ``cap_off[a]:cap_off[a + 1]`` of ``cap_lead``/``cap_t``. The score is ``fit[lead] +
    sum + sum_a clip(cap_points[a] * count_a, -cap_max[a], cap_max[a])``, clipped to
    [lo, hi]. ``cross`` (n_leads x n_cutoffs) gets the index of the first evaluation
    with ``score >= cutoff - tol`` (-1 if none), ``peak`` the highest score.
    """
    n_cap = cap_points.shape[0]
    n_cut = cutoffs_sorted.shape[0]
    n_ev = ev_lead.shape[0]
    cnt = np.zeros(n_cap)
    jc = cap_off[:-1].copy()
    cross[:, :] = -1
    for i in range(peak.shape[0]):
        peak[i] = -np.inf
    j = 0
    lead = -1
    s = 0.0
    prev = 0
    ptr = 0
    for k in range(eval_lead.shape[0]):
        t = eval_t[k]
        if eval_lead[k] != lead:
            lead = eval_lead[k]
            s, j = _open_lead(lead, t, ev_lead, ev_t, w, j, n_ev, kind, p1)
            for a in range(n_cap):
                cnt[a], jc[a] = _open_lead(lead, t, cap_lead, cap_t, cap_w, jc[a],
                                           cap_off[a + 1], kind, p1)
            ptr = 0
        elif kind != 0 and t != prev and (s != 0.0 or n_cap > 0):
            f = _factor(kind, t - prev, p1)
            s *= f
            for a in range(n_cap):
                cnt[a] *= f
        prev = t
        while j < n_ev and ev_lead[j] == lead and ev_t[j] <= t:
            s += w[j]
            j += 1
        score = fit[lead] + s
        for a in range(n_cap):
            end = cap_off[a + 1]
            while jc[a] < end and cap_lead[jc[a]] == lead and cap_t[jc[a]] <= t:
                cnt[a] += 1.0
                jc[a] += 1
            c = cnt[a] * cap_points[a]
            score += min(max(c, -cap_max[a]), cap_max[a])
        score = min(max(score, lo), hi)
        if score > peak[lead]:
            peak[lead] = score
        while ptr < n_cut and score >= cutoffs_sorted[ptr] - tol:
            cross[lead, ptr] = k
            ptr += 1
