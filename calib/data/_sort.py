"""Ordering events by (lead, time) in linear time."""

from __future__ import annotations

import numpy as np
from numba import njit

from calib import _numba


@njit(cache=True)
def _stable_by_code(codes, n_codes, index):
    """Positions of ``index`` reordered stably by ``codes[index]`` (a counting sort)."""
    start = np.zeros(n_codes + 1, dtype=np.int64)
    for i in index:
        start[codes[i] + 1] += 1
    for k in range(n_codes):
        start[k + 1] += start[k]
    out = np.empty(index.shape[0], dtype=np.int64)
    for i in index:
        c = codes[i]
        out[start[c]] = i
        start[c] += 1
    return out


def order_by_lead_time(lead: np.ndarray, t: np.ndarray, n_leads: int) -> np.ndarray:
    """The permutation sorting rows by lead code, then time (ties keep input order).

    Exports usually come in time order; then only a counting sort by lead is needed,
    linear in the number of events instead of a two-key comparison sort.
    """
    _numba.start()
    if len(t) > 1 and not (t[1:] >= t[:-1]).all():
        by_time = np.argsort(t, kind="stable")
    else:
        by_time = np.arange(len(t), dtype=np.int64)
    return _stable_by_code(lead.astype(np.int64), n_leads, by_time)
