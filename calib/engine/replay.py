"""Replay: what a rule set would have done to past leads (SPEC section 3).

The work is done partition by partition of leads; each partition gives additive
:class:`~calib.engine.results.ReplayStats`, and their sum is the result.
"""

from __future__ import annotations

import math
import os
import re
import threading
import weakref
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from calib.data.dataset import SALES_OUTCOMES, Dataset, lead_slices, ns
from calib.engine.kernels import NS_PER_DAY, first_crossings, peak_by_lead, score_pass
from calib.engine.prepare import Prepared, check_event_types, prepare
from calib.engine.results import OutcomeCounts, Period, ReplayResult, ReplayStats, StageCounts
from calib.errors import CalibError
from calib.rules.config import RuleSet

TOL = 1e-9  # scores within this of a cutoff count as reaching it (exact ties are common)
PARTITION_LEADS = 200_000
WORKERS = min(4, os.cpu_count() or 1)  # partitions scored at once (threads)
MIN_THREADED_LEADS = 100_000  # fewer leads are scored in one thread
NEVER = np.iinfo(np.int64).max


# ISO 8601 only: "01/06/2026" is 1 June in most of the world and 6 January in the US
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?"
                       r"(Z|[+-]\d{2}:?\d{2})?$")


def _timestamp(value, name: str) -> pd.Timestamp | None:
    if value is None:
        return None
    if isinstance(value, str) and not _ISO_DATE.match(value.strip()):
        raise CalibError(f"The {name} date {value!r} is not an ISO 8601 date (year-month-day).",
                         code="invalid_date", suggestion="Write it like 2026-01-31.")
    try:
        ts = pd.Timestamp(value.strip() if isinstance(value, str) else value)
        if ts is pd.NaT:
            raise ValueError
        ts = ts.as_unit("ns")
    except (ValueError, TypeError, OverflowError, pd.errors.OutOfBoundsDatetime):
        raise CalibError(f"The {name} date {value!r} is not an ISO 8601 date between 1678 "
                         "and 2261.", code="invalid_date",
                         suggestion="Write it like 2026-01-31.") from None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def replay_period(ds: Dataset, start=None, end=None) -> tuple[Period, np.ndarray]:
    """The replay period and the codes of the leads created in it.

    Parameters
    ----------
    ds : Dataset
        The data set.
    start, end : str or Timestamp, optional
        ISO 8601 dates; ``end`` is inclusive. The end of the data stays the latest
        timestamp of any table.

    Returns
    -------
    (Period, ndarray)
        The period and the codes of its leads (all leads of a snapshot).

    Examples
    --------
    >>> from calib import load_dataset
    >>> ds = load_dataset("calib-demo/data")
    >>> period, codes = replay_period(ds, "2026-03-01", "2026-03-31")
    >>> str(period.start.date()), 0 < len(codes) < ds.n_leads
    ('2026-03-01', True)
    """
    start, end = _timestamp(start, "--start"), _timestamp(end, "--end")
    if start is not None and end is not None and end < start:
        raise CalibError(f"The --end date ({end.date()}) is before the --start date "
                         f"({start.date()}).", code="invalid_date")
    if ds.snapshot or "created_at" not in ds.leads:
        return Period(None, None, ds.end_of_data), np.arange(ds.n_leads)
    created = ds.leads["created_at"]
    keep = np.ones(ds.n_leads, dtype=bool)
    if start is not None:
        keep &= (created >= start).to_numpy()
    if end is not None:
        keep &= (created <= end).to_numpy()
    p_start = start if start is not None else created.min()
    p_end = end if end is not None else ds.end_of_data
    return Period(p_start, p_end, ds.end_of_data), np.flatnonzero(keep)


def _empty_period(created: pd.Series, start, end) -> str:
    opts = " and ".join(f"{o} {t.date()}" for o, t in (("--start", start), ("--end", end))
                        if t is not None)
    return (f"No lead was created in the period of {opts}: the leads of the data were "
            f"created from {created.min().date()} to {created.max().date()}.")


def outcome_names(ds: Dataset) -> list[str]:
    """Every outcome in the data, sales outcomes first in funnel order.

    Parameters
    ----------
    ds : Dataset
        The data set.

    Returns
    -------
    list of str

    Examples
    --------
    >>> from calib import load_dataset
    >>> outcome_names(load_dataset("calib-demo/data"))[:3]
    ['mql', 'sql', 'meeting']
    """
    present = set(ds.outcome_types)
    return [o for o in SALES_OUTCOMES if o in present] + sorted(present - set(SALES_OUTCOMES))


def first_outcome_times(ds: Dataset, names) -> dict[str, np.ndarray]:
    """Per outcome, each lead's first time.

    Parameters
    ----------
    ds : Dataset
        The data set.
    names : iterable of str
        The outcomes.

    Returns
    -------
    dict of str to ndarray
        int64 ns per lead; ``NEVER`` when the outcome did not occur, 0 for a
        snapshot's undated outcome that occurred.

    Examples
    --------
    >>> from calib import load_dataset
    >>> ds = load_dataset("calib-demo/data")
    >>> won = first_outcome_times(ds, ["won"])["won"]
    >>> len(won) == ds.n_leads, bool((won != NEVER).any())
    (True, True)
    """
    first = ds.first_outcomes()
    lead = first["lead"].to_numpy()
    out = {}
    times = (ns(first["occurred_at"]) if "occurred_at" in first
             else np.zeros(len(first), dtype=np.int64))
    col = first["outcome"]
    if isinstance(col.dtype, pd.CategoricalDtype):  # compare codes, not 200k strings
        cats = {str(c): i for i, c in enumerate(col.cat.categories)}
        oc, key = col.cat.codes.to_numpy(), lambda name: cats.get(name, -2)
    else:
        oc, key = col.astype(str).to_numpy(), lambda name: name
    for name in names:
        arr = np.full(ds.n_leads, NEVER, dtype=np.int64)
        m = oc == key(name)
        arr[lead[m]] = times[m]
        out[name] = arr
    return out


def fit_scores(prepared: Prepared, rules: RuleSet) -> np.ndarray:
    """Each lead's fit score: the sum of the points of the fit rules it matches.

    Parameters
    ----------
    prepared : Prepared
        From :func:`calib.engine.prepare.prepare`.
    rules : RuleSet
        The rule set whose fit points count.

    Returns
    -------
    ndarray
        One float per lead of ``prepared``.

    Examples
    --------
    >>> from calib import load_dataset, load_rules
    >>> from calib.engine.prepare import prepare
    >>> ds, rules = load_dataset("calib-demo/data"), load_rules("calib-demo/current.toml")
    >>> fit_scores(prepare(ds, rules), rules).shape == (ds.n_leads,)
    True
    """
    fit_points = np.array([r.points for r in rules.fit], dtype=float)
    return prepared.fit_m @ fit_points if len(fit_points) else np.zeros(prepared.n_leads)


def add_behaviour(score: np.ndarray, d: np.ndarray, rules: RuleSet, start: int = 0,
                  end: int | None = None) -> np.ndarray:
    """Add ``clamp_cap(points_r * d_r)`` of the behaviour rules ``start`` to ``end``
    (default: all from ``start`` on) to ``score`` in place, in rule order, so that
    every caller gets the same float sums.

    Parameters
    ----------
    score : ndarray
        Scores at every evaluation point; changed in place and returned.
    d : ndarray
        Decayed counts (n_eval x n_rules), as :meth:`Prepared.decayed` gives them.
    rules : RuleSet
        Whose behaviour points and caps count.
    start : int, default 0
        The first behaviour rule to add.
    end : int, optional
        One past the last behaviour rule to add.

    Returns
    -------
    ndarray
        ``score``.

    Examples
    --------
    >>> import numpy as np
    >>> from calib.rules import RuleSet
    >>> rules = RuleSet.from_dict({"name": "x", "behavior": [
    ...     {"event": "demo", "points": 10, "cap": 15}, {"event": "visit", "points": 2}],
    ...     "thresholds": {"mql": 20}})
    >>> add_behaviour(np.zeros(2), np.array([[1.0, 1.0], [2.0, 3.0]]), rules)
    array([12., 21.])
    """
    c = np.empty(len(score))
    for r in range(start, len(rules.behavior) if end is None else end):
        rule = rules.behavior[r]
        np.multiply(d[:, r], rule.points, out=c)
        if rule.cap is not None:
            np.clip(c, -rule.cap, rule.cap, out=c)
        score += c
    return score


def clip_to_limits(score: np.ndarray, rules: RuleSet) -> np.ndarray:
    """``score`` clipped to the rule set's ``[limits]``.

    Parameters
    ----------
    score : ndarray
        Scores.
    rules : RuleSet
        Whose limits apply.

    Returns
    -------
    ndarray
        A clipped copy, or ``score`` itself when there are no limits.

    Examples
    --------
    >>> import numpy as np
    >>> from calib.rules import RuleSet
    >>> rules = RuleSet.from_dict({"name": "x", "limits": {"max": 100},
    ...                            "thresholds": {"mql": 20}})
    >>> clip_to_limits(np.array([50.0, 150.0]), rules)
    array([ 50., 100.])
    """
    lim = rules.limits
    if lim.min is not None or lim.max is not None:
        return np.clip(score, lim.min, lim.max)
    return score


def combine_scores(d: np.ndarray, prepared: Prepared, rules: RuleSet) -> tuple[np.ndarray, np.ndarray]:
    """Scores at every evaluation point from decayed counts.

    ``clamp_limits(fit + sum_r clamp_cap(points_r * d_r))``.

    Parameters
    ----------
    d : ndarray
        Decayed counts (n_eval x n_rules) from :meth:`Prepared.decayed`.
    prepared : Prepared
        The evaluation points and fit matrix.
    rules : RuleSet
        Whose points, caps and limits count.

    Returns
    -------
    (ndarray, ndarray)
        The score at every evaluation point, and each lead's fit score.

    Examples
    --------
    >>> from calib import load_dataset, load_rules
    >>> from calib.engine.prepare import prepare
    >>> ds, rules = load_dataset("calib-demo/data"), load_rules("calib-demo/current.toml")
    >>> prep = prepare(ds, rules)
    >>> score, fit = combine_scores(prep.decayed(rules.decay), prep, rules)
    >>> len(score) == len(prep.eval_t), len(fit) == ds.n_leads
    (True, True)
    """
    fit = fit_scores(prepared, rules)
    score = add_behaviour(fit[prepared.eval_lead], d, rules)
    return clip_to_limits(score, rules), fit


def stage_crossings(prepared: Prepared, score: np.ndarray, fit: np.ndarray, cutoffs,
                    min_fit: float | None, tol: float = TOL) -> np.ndarray:
    """Each lead's first evaluation reaching each cutoff.

    Parameters
    ----------
    prepared : Prepared
        The evaluation points.
    score, fit : ndarray
        Scores at every evaluation point and each lead's fit score.
    cutoffs : sequence of float
        In any order.
    min_fit : float or None
        Leads with a fit score below it reach no cutoff.
    tol : float, default TOL
        A score within ``tol`` below a cutoff reaches it.

    Returns
    -------
    ndarray
        (n_leads x n_cutoffs) index of the first evaluation reaching each cutoff, -1
        if none.

    Examples
    --------
    >>> import numpy as np
    >>> from calib.engine.prepare import Prepared
    >>> prep = Prepared(n_leads=1, eval_lead=np.zeros(3, dtype=np.int32),
    ...                 eval_t=np.arange(3), rule_events=(), fit_m=np.zeros((1, 0)),
    ...                 snapshot=False)
    >>> score, fit = np.array([10.0, 50.0, 80.0]), np.array([0.0])
    >>> stage_crossings(prep, score, fit, [60, 40], None)  # evaluation 2 for 60, 1 for 40
    array([[2, 1]])
    >>> stage_crossings(prep, score, fit, [60, 40], min_fit=5)  # fit 0 < 5: never
    array([[-1, -1]])
    """
    cutoffs = np.asarray(cutoffs, dtype=float)
    order = np.argsort(cutoffs, kind="stable")
    eligible = np.ones(prepared.n_leads, dtype=bool)
    if min_fit is not None:
        eligible = fit >= min_fit - tol
    out = np.empty((prepared.n_leads, len(cutoffs)), dtype=np.int64)
    first_crossings(prepared.eval_lead, score, eligible, cutoffs[order], prepared.n_leads, tol, out)
    res = np.empty_like(out)
    res[:, order] = out
    return res


def one_pass(prepared: Prepared, rules: RuleSet) -> bool:
    """Whether :func:`score_crossings` scores ``rules`` in one compiled pass.

    Parameters
    ----------
    prepared : Prepared
        From :func:`calib.engine.prepare.prepare` (with its events).
    rules : RuleSet
        Whose decay decides: one that multiplies (none or exponential) is scored in
        one pass, the others from stored decayed counts.

    Returns
    -------
    bool
        True when the one-pass scoring applies.

    Examples
    --------
    >>> from calib import load_dataset, load_rules
    >>> from calib.engine.prepare import prepare
    >>> rules = load_rules("calib-demo/current.toml")  # no decay
    >>> ds = load_dataset("calib-demo/data")
    >>> one_pass(prepare(ds, rules), rules)
    True
    >>> step = rules.with_params({"decay.kind": "step", "decay.percent": 50,
    ...                           "decay.every_days": 7})
    >>> one_pass(prepare(ds, step), step)
    False
    """
    code, _, _ = prepared.decay_args(rules.decay)
    return prepared.events is not None and code in (0, 1)


def score_crossings(prepared: Prepared, rules: RuleSet, cutoffs, min_fit: float | None,
                    tol: float = TOL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each lead's first evaluation reaching each cutoff, its fit and its highest score.

    A replay and every configuration of a sweep are scored by this one function, so a
    sweep's row equals the replay of its configuration. With no decay or an
    exponential one (:func:`one_pass`), one compiled pass over the evaluation points
    keeps the uncapped rules as one running sum of their events' points and stores no
    score; otherwise the scores come from :meth:`Prepared.decayed`.

    Parameters
    ----------
    prepared : Prepared
        From :func:`calib.engine.prepare.prepare` for ``rules``' structure.
    rules : RuleSet
        The rule set (its thresholds are not used: see ``cutoffs``).
    cutoffs, min_fit, tol
        As :func:`stage_crossings`.

    Returns
    -------
    (ndarray, ndarray, ndarray)
        (n_leads x n_cutoffs) index of the first evaluation reaching each cutoff (-1
        if none), each lead's fit score, each lead's highest score.

    Examples
    --------
    >>> from calib import load_dataset, load_rules
    >>> from calib.engine.prepare import prepare
    >>> ds, rules = load_dataset("calib-demo/data"), load_rules("calib-demo/current.toml")
    >>> cross, fit, peak = score_crossings(prepare(ds, rules), rules, [40, 60], None)
    >>> bool(((cross[:, 1] >= 0) <= (cross[:, 0] >= 0)).all())  # 60 only after 40
    True
    """
    if not one_pass(prepared, rules):
        score, fit = combine_scores(prepared.decayed(rules.decay), prepared, rules)
        peak = np.empty(prepared.n_leads)
        peak_by_lead(prepared.eval_lead, score, prepared.n_leads, peak)
        return stage_crossings(prepared, score, fit, cutoffs, min_fit, tol), fit, peak
    (cross, peak), fit = variant_crossings(prepared, [rules], cutoffs, tol)
    cross, peak = cross[0], peak[0]
    if min_fit is not None:
        cross[fit < min_fit - tol] = -1
    return cross, fit, peak


def variant_crossings(prepared: Prepared, variants, cutoffs,
                      tol: float = TOL) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """:func:`score_crossings` of several rule sets in one compiled pass, when they
    differ only in the points of uncapped behaviour rules (a sweep over such points).

    The events are read and decayed once: the rules whose points are the same in every
    variant are one running sum of their points, each rule whose points vary is a
    running count, and each variant's score combines them with its own points.

    Parameters
    ----------
    prepared : Prepared
        From :func:`calib.engine.prepare.prepare` for the rule sets' structure.
    variants : list of RuleSet
        Rule sets with the same decay (none or exponential: :func:`one_pass`), fit
        points, limits and capped rules.
    cutoffs : sequence of float
        The cutoffs whose crossings are wanted.
    tol : float, default TOL
        A score within ``tol`` below a cutoff reaches it.

    Returns
    -------
    ((list of ndarray, list of ndarray), ndarray)
        Per variant ``cross`` (n_leads x n_cutoffs, as :func:`score_crossings`'s, no
        ``mql_min_fit`` applied) and ``peak`` (n_leads); the leads' fit scores.

    Raises
    ------
    ValueError
        If the rule sets differ in anything but the points of uncapped rules.

    Examples
    --------
    >>> from calib import load_dataset, load_rules
    >>> from calib.engine.prepare import prepare
    >>> ds, rules = load_dataset("calib-demo/data"), load_rules("calib-demo/current.toml")
    >>> more = rules.with_params({"behavior.demo_request.points": 60})
    >>> prep = prepare(ds, rules)
    >>> (cross, peak), fit = variant_crossings(prep, [rules, more], [40])
    >>> bool((cross[0] == score_crossings(prep, rules, [40], None)[0]).all())
    True
    >>> bool((peak[1] >= peak[0]).all())  # more points for demo requests
    True
    """
    first = variants[0]
    if any(variant_key(rs) != variant_key(first) for rs in variants):
        raise ValueError("variant_crossings scores rule sets that differ only in the points "
                         "of uncapped behaviour rules")
    fit = _memo(prepared, ("fit", tuple(r.points for r in first.fit)),
                lambda: fit_scores(prepared, first))
    points = np.array([[float(r.points) for r in rs.behavior] for rs in variants])
    varying = tuple(r for r, rule in enumerate(first.behavior)
                    if rule.cap is None and len(variants) > 1
                    and (points[:, r] != points[0, r]).any())
    W = _memo(prepared, ("W", tuple(None if r in varying or rule.cap is not None
                                    else rule.points for r, rule in enumerate(first.behavior)),
                         varying),
              lambda: _event_weights(prepared, first, varying))
    P = np.ones((len(variants), 1 + len(varying)))
    P[:, 1:] = points[:, list(varying)]
    cutoffs = np.asarray(cutoffs, dtype=float)
    order = np.argsort(cutoffs, kind="stable")
    # lead-major, so one lead's variants are written side by side
    cross = np.empty((prepared.n_leads, len(variants), len(cutoffs)), dtype=np.int64)
    peak = np.empty((prepared.n_leads, len(variants)))
    score_pass(*_pass_args(prepared, first, W, P), fit, *_limits(first), cutoffs[order], tol,
               cross, peak)
    res = [np.empty((prepared.n_leads, len(cutoffs)), dtype=np.int64) for _ in variants]
    for v, r in enumerate(res):
        r[:, order] = cross[:, v, :]
    return (res, [peak[:, v].copy() for v in range(len(variants))]), fit


def variant_key(rules: RuleSet) -> tuple:
    """What the variants of one pass (:func:`variant_crossings`) share: everything that
    shapes a score but the points of the uncapped behaviour rules.

    Parameters
    ----------
    rules : RuleSet
        The rule set.

    Returns
    -------
    tuple
        Equal for two rule sets that can be scored as variants of one pass.

    Examples
    --------
    >>> from calib import load_rules
    >>> rules = load_rules("calib-demo/current.toml")
    >>> more = rules.with_params({"behavior.demo_request.points": 60})
    >>> variant_key(rules) == variant_key(more)
    True
    >>> variant_key(rules) == variant_key(rules.with_params({"thresholds.mql": 1}))
    True
    """
    return (rules.decay, rules.limits, tuple(r.points for r in rules.fit),
            tuple((r.cap, None if r.cap is None else r.points, r.max_per_day)
                  for r in rules.behavior))


def _limits(rules: RuleSet) -> tuple[float, float]:
    lim = rules.limits
    return (-np.inf if lim.min is None else float(lim.min),
            np.inf if lim.max is None else float(lim.max))


_MEMO_LOCK = threading.Lock()


def _memo(prepared: Prepared, key, make):
    """``make()``, kept in ``prepared.memo`` under ``key`` (a sweep scores many
    configurations that share their fit points or their behaviour points, some at once
    in threads: each is made once)."""
    with _MEMO_LOCK:
        if key not in prepared.memo:
            prepared.memo[key] = make()
        return prepared.memo[key]


def _event_weights(prepared: Prepared, rules: RuleSet, varying: tuple) -> np.ndarray:
    """(n_events x (1 + len(varying))): each event's summed points of the uncapped rules
    counting it that are not in ``varying``, then per rule of ``varying`` whether it
    counts the event (1 or 0)."""
    pts = np.array([0.0 if r.cap is not None or i in varying else float(r.points)
                    for i, r in enumerate(rules.behavior)] + [0.0])  # -1: no rule
    er = prepared.event_rule
    if er is not None and not (er == -2).any():
        base = pts[er]
    else:
        base = np.zeros(len(prepared.events[0]))
        for r, idx in enumerate(prepared.rule_index):
            base[idx] += pts[r]
    if not varying:
        return base[:, None]  # a view: one column, no copy
    W = np.zeros((len(base), 1 + len(varying)))
    W[:, 0] = base
    for c, r in enumerate(varying, start=1):
        W[prepared.rule_index[r], c] = 1.0
    return W


def _pass_args(prepared: Prepared, rules: RuleSet, W: np.ndarray, P: np.ndarray) -> tuple:
    """The arguments of :func:`~calib.engine.kernels.score_pass` before ``fit``: every
    event with its weights ``W`` and the variants' factors ``P``, and the events of
    each capped rule."""
    lead, t = prepared.events
    capped = [r for r, rule in enumerate(rules.behavior) if rule.cap is not None]
    ev = [prepared.rule_events[r] for r in capped]
    cap_lead = np.concatenate([e[0] for e in ev]) if ev else np.zeros(0, np.int32)
    cap_t = np.concatenate([e[1] for e in ev]) if ev else np.zeros(0, np.int64)
    cap_off = np.zeros(len(ev) + 1, dtype=np.int64)
    cap_off[1:] = np.cumsum([len(e[0]) for e in ev])
    code, p1, _ = prepared.decay_args(rules.decay)
    return (prepared.eval_lead, prepared.eval_t, lead, t, W, P, cap_lead.astype(lead.dtype),
            cap_t, np.ones(len(cap_t)), cap_off,
            np.array([rules.behavior[r].points for r in capped], dtype=float),
            np.array([rules.behavior[r].cap for r in capped], dtype=float), code, p1)


def classify(m_time: np.ndarray, o_time: np.ndarray, window_ns: int, end_ns: int,
             snapshot: bool) -> np.ndarray:
    """Status codes of MQLs against one outcome (SPEC section 3).

    Parameters
    ----------
    m_time, o_time : ndarray
        Each lead's MQL time and first outcome time (int64 ns, ``NEVER`` for none).
    window_ns, end_ns : int
        The attribution window and the end of the data (ns).
    snapshot : bool
        Undated data: an outcome that occurred is a hit, else a miss.

    Returns
    -------
    ndarray
        int8 codes: 0 none (not an MQL), 1 hit, 2 late, 3 miss, 4 immature.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.array([10, 10, 10, NEVER])
    >>> o = np.array([15, 5, NEVER, 15])
    >>> classify(m, o, window_ns=10, end_ns=100, snapshot=False)
    array([1, 2, 3, 0], dtype=int8)
    """
    status = np.zeros(len(m_time), dtype=np.int8)
    is_mql = m_time != NEVER
    occurred = o_time != NEVER
    if snapshot:
        status[is_mql & occurred] = 1
        status[is_mql & ~occurred] = 3
        return status
    late = is_mql & occurred & (o_time < m_time)
    # m + W can pass the int64 range only for absurd windows; compare in a safe order
    hit = is_mql & occurred & ~late & (o_time - m_time <= window_ns)
    immature = is_mql & ~hit & ~late & (m_time > end_ns - window_ns)
    status[is_mql] = 3
    status[late] = 2
    status[hit] = 1
    status[immature] = 4
    return status


STATUS_NAMES = np.array([None, "hit", "late", "miss", "immature"], dtype=object)


def stats_for(m_time, s_time, created_ns, outcome_times: dict, window_ns: int, end_ns: int,
              snapshot: bool, with_sql: bool, covered_any: np.ndarray):
    """Additive statistics of one configuration on one partition, and status codes.

    Parameters
    ----------
    m_time, s_time : ndarray
        Each lead's MQL and SQL time (int64 ns, ``NEVER`` for none).
    created_ns : ndarray
        Each lead's ``created_at`` (ns; zeros for a snapshot).
    outcome_times : dict
        From :func:`first_outcome_times`.
    window_ns, end_ns : int
        The attribution window and the end of the data (ns).
    snapshot, with_sql : bool
        Undated data; whether the rule set has an SQL cutoff.
    covered_any : ndarray
        From :func:`covered_mask`.

    Returns
    -------
    (ReplayStats, dict)
        The statistics and, per outcome, the status codes of :func:`classify`.

    Examples
    --------
    >>> import numpy as np
    >>> m, o = np.array([10, NEVER]), {"won": np.array([15, NEVER])}
    >>> stats, _ = stats_for(m, np.full(2, NEVER), np.zeros(2, dtype=np.int64), o, 10, 100,
    ...                      False, False, covered_mask(o, 2))
    >>> stats.mql.count, stats.outcomes["won"].hits
    (1, 1)
    """
    is_mql = m_time != NEVER
    days = ((m_time[is_mql] - created_ns[is_mql]) / NS_PER_DAY) if not snapshot else np.zeros(0)
    mql = StageCounts(int(is_mql.sum()), days.astype(float))
    sql = None
    if with_sql:
        is_sql = s_time != NEVER
        sd = ((s_time[is_sql] - created_ns[is_sql]) / NS_PER_DAY) if not snapshot else np.zeros(0)
        sql = StageCounts(int(is_sql.sum()), sd.astype(float))
    outcomes = {}
    statuses = {}
    for name, o in outcome_times.items():
        st = classify(m_time, o, window_ns, end_ns, snapshot)
        counts = np.bincount(st, minlength=5)
        outcomes[name] = OutcomeCounts(hits=int(counts[1]), late=int(counts[2]),
                                       misses=int(counts[3]), immature=int(counts[4]),
                                       occurred=int((o != NEVER).sum()))
        statuses[name] = st
    stats = ReplayStats(leads=len(m_time), mql=mql, sql=sql,
                        covered=int((is_mql & covered_any).sum()), outcomes=outcomes)
    return stats, statuses


def covered_mask(outcome_times: dict, n: int) -> np.ndarray:
    """Which leads have any sales outcome (``SALES_OUTCOMES``): the leads coverage counts.

    Parameters
    ----------
    outcome_times : dict
        From :func:`first_outcome_times`.
    n : int
        The number of leads.

    Returns
    -------
    ndarray
        One bool per lead.

    Examples
    --------
    >>> import numpy as np
    >>> covered_mask({"won": np.array([5, NEVER]), "webinar": np.array([NEVER, 5])}, 2)
    array([ True, False])
    """
    cov = np.zeros(n, dtype=bool)
    for name in SALES_OUTCOMES:
        if name in outcome_times:
            cov |= outcome_times[name] != NEVER
    return cov


def setup_period(ds: Dataset, start, end, window_days: float):
    """What every replay of a period needs.

    Parameters
    ----------
    ds : Dataset
        The data set.
    start, end : str or Timestamp, optional
        The period (see :func:`replay_period`).
    window_days : float
        The attribution window.

    Returns
    -------
    tuple
        The data set of the leads of the period, the period, every outcome of the data
        (even one no lead of the period has), the window and the end of the data in
        nanoseconds.

    Examples
    --------
    >>> from calib import load_dataset
    >>> part, period, names, window_ns, end_ns = setup_period(
    ...     load_dataset("calib-demo/data"), "2026-03-01", None, 90)
    >>> window_ns == 90 * 86_400 * 10**9, "meeting" in names
    (True, True)
    """
    period, codes = replay_period(ds, start, end)
    if len(codes) == 0 and ds.n_leads and (start is not None or end is not None):
        raise CalibError(_empty_period(ds.leads["created_at"], _timestamp(start, "--start"),
                                       _timestamp(end, "--end")), code="empty_period")
    names = outcome_names(ds)
    if len(codes) < ds.n_leads:
        ds = ds.subset(codes)
    window_ns = int(round(window_days * NS_PER_DAY))
    end_ns = ds.end_of_data.value if ds.end_of_data is not None else NEVER
    return ds, period, names, window_ns, end_ns


def replay(ds: Dataset, rules: RuleSet, *, window_days: float = 90, start=None, end=None,
           per_lead: bool = False, partition_leads: int = PARTITION_LEADS,
           tol: float = TOL) -> ReplayResult:
    """Replay one rule set over a data set, point in time.

    Parameters
    ----------
    ds : Dataset
        From :func:`calib.load_dataset`.
    rules : RuleSet
        From :func:`calib.load_rules`.
    window_days : float, default 90
        Attribution window W: an outcome within W days after the MQL is a hit.
    start, end : str or Timestamp, optional
        Count only leads created in [start, end]. The end of the data (for ``immature``)
        stays the latest timestamp in any table.
    per_lead : bool, default False
        Also return one row per lead (``result.per_lead``).
    partition_leads : int, default PARTITION_LEADS
        Leads scored at once (memory against speed).
    tol : float, default TOL
        A score within ``tol`` below a cutoff reaches it.

    Returns
    -------
    ReplayResult
        The funnel counts (MQLs, SQLs, each outcome within the window), the rates with
        their Wilson intervals, and the per-lead rows when asked for.

    Examples
    --------
    >>> from calib import load_dataset, load_rules, replay
    >>> ds = load_dataset("calib-demo/data")
    >>> res = replay(ds, load_rules("calib-demo/current.toml"), window_days=90)
    >>> res.to_dict()["mql"]["count"]
    402
    """
    if window_days is None or not (0 < window_days <= 36_500):
        raise CalibError(f"The attribution window must be > 0 and at most 36,500 days. Got "
                         f"{window_days!r}.", code="out_of_range")
    msgs = tuple(check_event_types(ds, rules)) + tuple(ds.warnings)
    ds, period, names, window_ns, end_ns = setup_period(ds, start, end, window_days)
    total = None
    frames = []

    def stats_of(part, times):
        return _stats_of(part, times, names, window_ns, end_ns, per_lead)

    for _, _, (stats, frame) in _scored_partitions(ds, rules, tol, partition_leads,
                                                    then=stats_of):
        total = stats if total is None else total + stats
        if per_lead:
            frames.append(frame)
    return ReplayResult(rules=rules.name, stats=total, period=period,
                        window_days=float(window_days), snapshot=ds.snapshot,
                        per_lead=pd.concat(frames, ignore_index=True) if per_lead else None,
                        warnings=msgs)


def replay_stats(part: Dataset, rules: RuleSet, names, window_ns: int, end_ns: int,
                 tol: float = TOL, *, per_lead: bool = False
                 ) -> tuple[ReplayStats, pd.DataFrame | None]:
    """Additive statistics of one rule set on one partition of leads.

    Every lead of ``part`` is counted (restrict it to the replay period first). The
    facts that belong to the whole data set are arguments, never taken from the
    partition: ``names`` (every outcome of the data), ``end_ns`` (the end of the data,
    int64 ns; ``NEVER`` if unknown) and ``window_ns`` (the attribution window in ns).
    :func:`replay` sums this over partitions; so does a cluster
    (:mod:`calib.distributed`).

    Parameters
    ----------
    part : Dataset
        One partition of leads.
    rules : RuleSet
        The rule set.
    names : list of str
        Every outcome of the data.
    window_ns, end_ns : int
        The attribution window and the end of the data (ns).
    tol : float, default TOL
        A score within ``tol`` below a cutoff reaches it.
    per_lead : bool, default False
        Also return one row per lead.

    Returns
    -------
    (ReplayStats, DataFrame or None)
        The statistics, and one row per lead (as ``ReplayResult.per_lead``) when
        ``per_lead`` is true.

    Examples
    --------
    >>> from calib import load_dataset, load_rules, replay
    >>> ds, rules = load_dataset("calib-demo/data"), load_rules("calib-demo/current.toml")
    >>> part, _, names, window_ns, end_ns = setup_period(ds, None, None, 90)
    >>> stats, _ = replay_stats(part, rules, names, window_ns, end_ns)
    >>> stats.mql.count == replay(ds, rules, window_days=90).stats.mql.count
    True
    """
    return _stats_of(part, _times_of(part, rules, tol), names, window_ns, end_ns, per_lead)


@dataclass(frozen=True)
class LeadTimes:
    """Each lead's moments under a rule set: the scoring pass of a replay.

    Attributes
    ----------
    mql, sql : ndarray
        When each lead becomes an MQL and an SQL (int64 ns; ``NEVER`` for never, 0 for
        yes in snapshot data); ``sql`` is all ``NEVER`` without an SQL cutoff.
    fit, peak : ndarray
        Each lead's fit score and highest score.
    with_sql : bool
        Whether the rule set has an SQL cutoff.
    """

    mql: np.ndarray
    sql: np.ndarray
    fit: np.ndarray
    peak: np.ndarray
    with_sql: bool

    def slice(self, lo: int, hi: int) -> "LeadTimes":
        """The leads ``lo`` to ``hi`` (codes).

        Parameters
        ----------
        lo, hi : int
            The first lead code and one past the last.

        Returns
        -------
        LeadTimes
        """
        return LeadTimes(self.mql[lo:hi], self.sql[lo:hi], self.fit[lo:hi], self.peak[lo:hi],
                         self.with_sql)


# The last LeadTimes of each data set (a Dataset is not modified after loading): a
# command that measures its window from the MQL under its rules, then replays them,
# scores the leads once.
_LAST_TIMES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_TIMES_LOCK = threading.Lock()


def lead_times(ds: Dataset, rules: RuleSet, *, tol: float = TOL,
               partition_leads: int = PARTITION_LEADS) -> LeadTimes:
    """Each lead's MQL and SQL times, fit and highest score under ``rules``.

    The last result for a data set is kept with it (one per data set), so the window
    measured from the MQL (:func:`calib.engine.delays.mql_times`) and the replay that
    follows score the leads once.

    Parameters
    ----------
    ds : Dataset
        The data set.
    rules : RuleSet
        The rule set.
    tol : float, default TOL
        A score within ``tol`` below a cutoff reaches it.
    partition_leads : int, default PARTITION_LEADS
        Leads scored at once (memory against speed).

    Returns
    -------
    LeadTimes

    Examples
    --------
    >>> from calib import load_dataset, load_rules, replay
    >>> ds, rules = load_dataset("calib-demo/data"), load_rules("calib-demo/current.toml")
    >>> times = lead_times(ds, rules)
    >>> int((times.mql != NEVER).sum()) == replay(ds, rules).stats.mql.count
    True
    >>> lead_times(ds, rules) is times  # kept for the next command step
    True
    """
    kept = _kept_times(ds, rules, tol, partition_leads)
    if kept is not None:
        return kept
    whole: list[LeadTimes] = []
    for _ in _scored_partitions(ds, rules, tol, partition_leads, whole):
        pass
    return whole[0]


def _kept_times(ds: Dataset, rules: RuleSet, tol: float, partition_leads: int):
    """The data set's kept :class:`LeadTimes` if they are for these arguments, else
    None."""
    with _TIMES_LOCK:
        kept = _LAST_TIMES.get(ds)
    return kept[1] if kept is not None and kept[0] == (rules, tol, partition_leads) else None


def _scored_partitions(ds: Dataset, rules: RuleSet, tol: float, partition_leads: int,
                       whole: list | None = None, then=None):
    """Yield each partition of ``ds`` with its leads' :class:`LeadTimes` and
    ``then(part, times)`` (None without ``then``), in order: from the data set's kept
    times when they are for these rules, else scored now and kept (and appended to
    ``whole``) once every partition is scored. Partitions are scored in threads (see
    :func:`_in_threads`)."""
    kept = _kept_times(ds, rules, tol, partition_leads)

    def work(lo: int, part: Dataset):
        times = (kept.slice(lo, lo + part.n_leads) if kept is not None
                 else _times_of(part, rules, tol))
        return times, (then(part, times) if then is not None else None)

    parts = []
    for part, (times, extra) in _in_threads(ds, partition_leads, work):
        parts.append(times)
        yield part, times, extra
    if kept is None:
        kept = LeadTimes(*(np.concatenate([getattr(p, f) for p in parts]) if parts
                           else np.zeros(0, dtype) for f, dtype in
                           (("mql", np.int64), ("sql", np.int64), ("fit", float),
                            ("peak", float))),
                         with_sql=rules.thresholds.sql is not None)
        with _TIMES_LOCK:
            _LAST_TIMES[ds] = ((rules, tol, partition_leads), kept)
    if whole is not None:
        whole.append(kept)


def threaded_partition_leads(n_leads: int, partition_leads: int,
                             workers: int | None = None) -> int:
    """Leads per partition when partitions are scored ``workers`` at a time: at most
    ``partition_leads``, in a number of partitions that is a multiple of ``workers`` so
    that no core idles at the end (1M leads in 200k partitions on 2 cores: 6 partitions
    of 166,667). Data sets under ``MIN_THREADED_LEADS`` leads keep ``partition_leads``.

    Parameters
    ----------
    n_leads : int
        Leads in the data set.
    partition_leads : int
        The most leads in one partition.
    workers : int, optional
        Partitions scored at once (default :data:`WORKERS`).

    Returns
    -------
    int

    Examples
    --------
    >>> threaded_partition_leads(1_000_000, 200_000, 2)
    166667
    >>> threaded_partition_leads(200_000, 200_000, 2), threaded_partition_leads(2_000, 800, 2)
    (100000, 800)
    """
    workers = WORKERS if workers is None else workers
    if workers < 2 or n_leads < MIN_THREADED_LEADS:
        return partition_leads
    k = math.ceil(n_leads / max(partition_leads, 1))
    k = math.ceil(k / workers) * workers
    return math.ceil(n_leads / k)


def in_order(fn, items, workers: int | None = None, name: str = "calib"):
    """Yield ``(item, fn(item))`` for each of ``items``, in their order, ``workers`` at
    once in threads named ``name`` (default :data:`WORKERS`; one or fewer: in this
    thread).

    At most one more item than there are workers is taken from ``items`` ahead of the
    results, so a generator of large items (partitions of leads) is not drawn in all at
    once. ``fn`` should release the interpreter lock for most of its work (compiled
    kernels, numpy) for the threads to run at once.

    Examples
    --------
    >>> list(in_order(lambda x: x * x, range(4), workers=2))
    [(0, 0), (1, 1), (2, 4), (3, 9)]
    """
    workers = WORKERS if workers is None else workers
    if workers < 2:
        for item in items:
            yield item, fn(item)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name) as pool:
        pending: deque = deque()
        for item in items:
            pending.append((item, pool.submit(fn, item)))
            if len(pending) > workers:
                first, done = pending.popleft()
                yield first, done.result()
        while pending:
            first, done = pending.popleft()
            yield first, done.result()


def _in_threads(ds: Dataset, partition_leads: int, work):
    """Yield ``(part, work(lo, part))`` for each partition of ``ds``, in order.

    On a machine with several cores, :data:`WORKERS` partitions are worked on at once
    (:func:`in_order`), in partitions of :func:`threaded_partition_leads` leads, so
    memory grows with the workers, not with the data. Each lead is scored on its own,
    so how the leads are cut does not change any result.
    """
    threaded = WORKERS >= 2 and ds.n_leads >= MIN_THREADED_LEADS
    size = threaded_partition_leads(ds.n_leads, partition_leads) if threaded else partition_leads
    for (lo, part), out in in_order(lambda lp: work(*lp), lead_slices(ds, size),
                                    WORKERS if threaded else 1, "calib-replay"):
        yield part, out


def _times_of(part: Dataset, rules: RuleSet, tol: float) -> LeadTimes:
    """:class:`LeadTimes` of one partition."""
    with_sql = rules.thresholds.sql is not None
    cutoffs = [rules.thresholds.mql] + ([rules.thresholds.sql] if with_sql else [])
    prep = prepare(part, rules)
    cross, fit, peak = score_crossings(prep, rules, cutoffs, rules.thresholds.mql_min_fit, tol)
    at = np.zeros(part.n_leads, dtype=np.int64) if part.snapshot else None
    m_time = np.where(cross[:, 0] >= 0, prep.eval_t[cross[:, 0]] if at is None else at, NEVER)
    s_time = (np.where(cross[:, 1] >= 0, prep.eval_t[cross[:, 1]] if at is None else at, NEVER)
              if with_sql else np.full(part.n_leads, NEVER))
    return LeadTimes(m_time.astype(np.int64), s_time.astype(np.int64), fit, peak, with_sql)


def _stats_of(part: Dataset, times: LeadTimes, names, window_ns: int, end_ns: int,
              per_lead: bool) -> tuple[ReplayStats, pd.DataFrame | None]:
    """:func:`replay_stats` of one partition from its leads' times."""
    created_ns = (np.zeros(part.n_leads, dtype=np.int64) if part.snapshot
                  else ns(part.leads["created_at"]))
    otimes = first_outcome_times(part, names)
    stats, statuses = stats_for(times.mql, times.sql, created_ns, otimes, window_ns, end_ns,
                                part.snapshot, times.with_sql,
                                covered_mask(otimes, part.n_leads))
    frame = (_per_lead_frame(part, times.peak, times.fit, times.mql, times.sql, statuses,
                             times.with_sql) if per_lead else None)
    return stats, frame


def _per_lead_frame(part, peak, fit, m_time, s_time, statuses, with_sql) -> pd.DataFrame:
    def ts(a):
        out = pd.to_datetime(np.where(a == NEVER, np.iinfo(np.int64).min, a), utc=True)
        return out if not part.snapshot else pd.NaT

    df = pd.DataFrame({"lead_id": part.leads["lead_id"].to_numpy(), "fit_score": fit,
                       "peak_score": peak})
    if part.snapshot:
        df["mql"] = m_time != NEVER
        if with_sql:
            df["sql"] = s_time != NEVER
    else:
        df["created_at"] = part.leads["created_at"].to_numpy()
        df["mql_at"] = ts(m_time)
        if with_sql:
            df["sql_at"] = ts(s_time)
    for name, st in statuses.items():
        df[f"status_{name}"] = pd.Categorical(STATUS_NAMES[st], categories=list(STATUS_NAMES[1:]))
    return df
