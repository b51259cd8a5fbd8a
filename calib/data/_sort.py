"""Ordering events by (lead, time) in linear time."""

from __future__ import annotations

import threading

import numpy as np
from calib._numba import njit

_warming: threading.Thread | None = None


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


@njit(cache=True)
def _sortedness(lead, t):
    """0: rows sorted by (lead, time); 1: sorted by time only; 2: neither."""
    by_pair, by_time = True, True
    for i in range(1, t.shape[0]):
        if t[i] < t[i - 1]:
            by_time = False
            if lead[i] == lead[i - 1]:
                return 2
        if lead[i] < lead[i - 1]:
            by_pair = False
            if not by_time:
                return 2
    return 0 if by_pair else (1 if by_time else 2)


@njit(cache=True)
def _scatter_by_code(codes, n_codes, index, identity, t, kind):
    """``codes``, ``t`` and ``kind`` moved stably by code, in the order of ``index``
    (the row order when ``identity``): a counting sort that writes each row once
    instead of building a permutation and gathering three columns with it."""
    start = np.zeros(n_codes + 1, dtype=np.int64)
    for i in range(codes.shape[0]):
        start[codes[i] + 1] += 1
    for k in range(n_codes):
        start[k + 1] += start[k]
    out_codes = np.empty_like(codes)
    out_t = np.empty_like(t)
    out_kind = np.empty_like(kind)
    for j in range(codes.shape[0]):
        i = j if identity else index[j]
        c = codes[i]
        p = start[c]
        out_codes[p] = c
        out_t[p] = t[i]
        out_kind[p] = kind[i]
        start[c] = p + 1
    return out_codes, out_t, out_kind


def warm_up() -> None:
    """Load the sorting kernels from numba's cache in a background thread, while the
    caller reads files (Arrow's readers release the GIL): the first load of a command
    then does not wait for them after reading."""
    global _warming
    if _warming is None:
        _warming = threading.Thread(target=_load_kernels, name="calib-warm-up", daemon=True)
        _warming.start()


def _load_kernels() -> None:
    try:
        lead, t = np.zeros(2, np.int32), np.zeros(2, np.int64)
        _sortedness(lead, t)
        _scatter_by_code(lead, 1, np.zeros(0, np.int64), True, t, np.zeros(2, np.int8))
    except Exception:  # noqa: BLE001, S110 - only a head start: the caller loads them itself
        pass


def warmed_up() -> None:
    """Return once the warm-up, if one runs, is done."""
    if _warming is not None:
        _warming.join()


def order_by_lead_time(lead: np.ndarray, t: np.ndarray, n_leads: int) -> np.ndarray:
    """The permutation sorting rows by lead code, then time (ties keep input order).

    Exports usually come in time order; then only a counting sort by lead is needed,
    linear in the number of events instead of a two-key comparison sort.
    """
    warmed_up()
    if len(t) > 1 and not (t[1:] >= t[:-1]).all():
        by_time = np.argsort(t, kind="stable")
    else:
        by_time = np.arange(len(t), dtype=np.int64)
    return _stable_by_code(lead.astype(np.int64), n_leads, by_time)


def sort_events(lead: np.ndarray, t: np.ndarray, kind: np.ndarray,
                n_leads: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Event columns sorted by lead code, then time (ties keep input order), as
    :func:`order_by_lead_time` orders them; the inputs themselves when already sorted.

    ``lead`` holds codes in ``[0, n_leads)``, ``t`` int64 times, ``kind`` the rows'
    event-type codes.
    """
    warmed_up()
    if len(t) < 2:
        return lead, t, kind
    state = _sortedness(lead, t)
    if state == 0:
        return lead, t, kind
    by_time = np.zeros(0, np.int64) if state == 1 else np.argsort(t, kind="stable")
    return _scatter_by_code(lead, n_leads, by_time, state == 1, t, kind)
