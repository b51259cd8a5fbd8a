"""How long outcomes take to arrive, and the attribution window that follows from it.

A window longer than the data allows leaves no lead mature ("tested on 0 leads"); one
much longer than the outcomes need only throws recent leads away. So, unless a window is
given, every command with a window measures, per outcome, the delay from a lead's
``created_at`` (or its ``assigned_at`` in a live test) to the outcome's first
occurrence, and uses a high quantile of it (95% by default), rounded up to whole days::

    >>> from calib import load_dataset
    >>> w = window_from_data(load_dataset("calib-demo/data"), ["meeting"])
    >>> w.days
    197.0

An explicit window always wins (:func:`resolve_window`). With fewer than ``MIN_LEADS``
leads with the outcome the quantile is not trusted and ``default`` is kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from calib.data.dataset import Dataset, ns

__all__ = ["DelayWindow", "mql_times", "outcome_delays", "window_from_data", "resolve_window",
           "window_from_times", "mature_hint", "window_hint", "QUANTILE", "MIN_LEADS"]

QUANTILE = 0.95
MIN_LEADS = 20
NS_PER_DAY = 86_400 * 10**9


@dataclass(frozen=True)
class DelayWindow:
    """The window chosen from the data (or given) and why.

    ``days`` is the window; ``source`` is ``"given"``, ``"data"``, ``"default"`` or
    ``"snapshot"`` (undated data: no window is needed, ``days`` is only nominal);
    ``per_outcome`` holds, per outcome, the number of leads with it and the quantiles
    (days) of their delays; ``sentence`` says it in plain words."""

    days: float
    source: str
    start: str
    quantile: float
    per_outcome: dict = field(default_factory=dict)
    sentence: str = ""

    def to_dict(self) -> dict:
        """The window as a JSON-ready dict (``days``, ``source``, ``start``,
        ``quantile``, ``per_outcome``, ``sentence``)."""
        return {"days": self.days, "source": self.source, "start": self.start,
                "quantile": self.quantile, "per_outcome": self.per_outcome,
                "sentence": self.sentence}


NEVER = np.iinfo(np.int64).max


def _plural(outcome: str) -> str:
    return f"'{outcome}' outcomes"


def mql_times(ds: Dataset, rules) -> np.ndarray:
    """When ``rules`` make each lead an MQL: the decisive moment an attribution window
    runs from.

    Parameters
    ----------
    ds : Dataset
        The data set.
    rules : RuleSet
        The rule set whose MQL cutoff counts.

    Returns
    -------
    ndarray
        int64 nanoseconds per lead, ``NEVER`` for a lead that never becomes an MQL (0
        for one that does in snapshot data, which has no times).

    Examples
    --------
    >>> from calib import load_dataset, load_rules, replay
    >>> ds, rules = load_dataset("calib-demo/data"), load_rules("calib-demo/current.toml")
    >>> int((mql_times(ds, rules) != NEVER).sum()) == replay(ds, rules).stats.mql.count
    True
    """
    from calib.engine.replay import lead_times

    # the scoring pass of a replay (kept for the replay that usually follows)
    return lead_times(ds, rules).mql


def outcome_delays(ds: Dataset, outcome: str, *, start="created") -> np.ndarray:
    """Days from each lead's start to its first ``outcome``.

    Parameters
    ----------
    ds : Dataset
        The data set.
    outcome : str
        The outcome whose first occurrence counts.
    start : str or ndarray, default "created"
        ``created`` (``created_at``), ``assigned`` (its ``assigned_at`` in the
        assignments table) or an int64 ns array of per-lead start times, such as
        :func:`mql_times`, ``NEVER`` for none.

    Returns
    -------
    ndarray
        The delays in days of the leads that have the outcome at or after their start
        (empty for snapshot data).

    Examples
    --------
    >>> from calib import load_dataset
    >>> d = outcome_delays(load_dataset("calib-demo/data"), "meeting")
    >>> len(d) > 0 and bool((d >= 0).all())
    True
    """
    if ds.snapshot or "occurred_at" not in ds.outcomes:
        return np.zeros(0)
    o = ds.outcomes
    o = o.loc[o["outcome"].astype(str) == outcome, ["lead", "occurred_at"]]
    if o.empty:
        return np.zeros(0)
    first = o.groupby("lead", observed=True)["occurred_at"].min()
    lead = first.index.to_numpy()
    t = ns(first)
    if not isinstance(start, str):
        s = np.asarray(start, dtype=np.int64).copy()
        s[s == np.iinfo(np.int64).max] = np.iinfo(np.int64).min
    elif start == "assigned":
        a = ds.assignments
        if a is None or "assigned_at" not in a:
            return np.zeros(0)
        at = a.groupby("lead", observed=True)["assigned_at"].min()
        s = np.full(ds.n_leads, np.iinfo(np.int64).min, dtype=np.int64)
        s[at.index.to_numpy()] = ns(at)
    else:
        s = ns(ds.leads["created_at"])
    s = s[lead]
    ok = (s != np.iinfo(np.int64).min) & (t >= s)
    return (t[ok] - s[ok]) / NS_PER_DAY


def window_from_times(outcome_ns: dict, start_ns: np.ndarray, *, since: str = "assignment",
                      label: str = "assigned", quantile: float = QUANTILE,
                      default: float = 90.0) -> DelayWindow:
    """:func:`window_from_data` from times already at hand.

    Parameters
    ----------
    outcome_ns : dict
        Each outcome's first time per lead (int64 ns, ``NEVER`` for none).
    start_ns : ndarray
        The same leads' start times (a live test's assignment times); only outcomes at
        or after the start count.
    since, label : str
        How the sentence names the start, and the window's ``start``.
    quantile, default : float
        As :func:`window_from_data`.

    Returns
    -------
    DelayWindow
        The window in days, the delays per outcome it was measured on, and the
        sentence that says so.

    Examples
    --------
    >>> import numpy as np
    >>> day = 86_400 * 10**9
    >>> w = window_from_times({"won": np.arange(1, 41) * day}, np.zeros(40, dtype=np.int64))
    >>> w.days, w.source
    (39.0, 'data')
    """
    never = np.iinfo(np.int64).max
    start = np.asarray(start_ns, dtype=np.int64)
    delays = {}
    for oc, o in outcome_ns.items():
        o = np.asarray(o, dtype=np.int64)
        ok = (o != never) & (start != never) & (o >= start)
        delays[oc] = (o[ok] - start[ok]) / NS_PER_DAY
    return _window(delays, since=since, label=label, quantile=quantile, default=default)


def _window(delays: dict, *, since: str, label: str, quantile: float,
            default: float) -> DelayWindow:
    """The window from the delays (days) of each outcome: the largest, over outcomes with
    at least MIN_LEADS delays, of their ``quantile``, rounded up to whole days (at least
    1); the default, said so, when no outcome has enough."""
    per, parts, best = {}, [], None
    for oc, d in delays.items():
        qs = {f"q{int(q * 100)}": float(np.quantile(d, q)) for q in (0.5, 0.9, quantile, 0.99)} \
            if len(d) else {}
        per[oc] = {"leads": int(len(d)), **qs}
        if len(d) < MIN_LEADS:
            continue
        days = max(1.0, float(math.ceil(np.quantile(d, quantile) - 1e-9)))
        parts.append(f"{quantile:.0%} of {_plural(oc)} arrive within {days:g} days of {since} "
                     f"({len(d):,} leads with one)")
        best = days if best is None else max(best, days)
    if best is None:
        few = ", ".join(f"{per[o]['leads']} with {o}" for o in delays)
        return DelayWindow(days=float(default), source="default", start=label,
                           quantile=quantile, per_outcome=per,
                           sentence=f"too few leads with a dated outcome to measure how long "
                                    f"outcomes take ({few}; {MIN_LEADS} needed): the default "
                                    f"window of {default:g} days is used")
    return DelayWindow(days=best, source="data", start=label, quantile=quantile,
                       per_outcome=per,
                       sentence="; ".join(parts) + f": window {best:g} days (set --window-days "
                                                   "to change it)")


def window_from_data(ds: Dataset, outcomes, *, start="created", since: str | None = None,
                     quantile: float = QUANTILE, default: float = 90.0) -> DelayWindow:
    """The attribution window: the largest, over ``outcomes``, of the ``quantile`` of
    the delays (:func:`outcome_delays`), rounded up to whole days (at least 1).

    Parameters
    ----------
    ds : Dataset
        The data set.
    outcomes : str or list of str
        The outcomes whose delays count.
    start : str or ndarray, default "created"
        As :func:`outcome_delays`.
    since : str, optional
        How the sentence names the start.
    quantile : float, default QUANTILE
        The share of outcomes the window holds.
    default : float, default 90
        The window when fewer than ``MIN_LEADS`` leads have an outcome.

    Returns
    -------
    DelayWindow

    Examples
    --------
    >>> from calib import load_dataset
    >>> window_from_data(load_dataset("calib-demo/data"), "meeting").source
    'data'
    """
    outcomes = [outcomes] if isinstance(outcomes, str) else list(outcomes)
    if since is None:
        since = "assignment" if start == "assigned" else "lead creation"
    label = start if isinstance(start, str) else "mql"
    delays = {oc: outcome_delays(ds, oc, start=start) for oc in outcomes}
    return _window(delays, since=since, label=label, quantile=quantile, default=default)


def resolve_window(ds: Dataset, window_days, outcomes, *, start: str = "created",
                   rules=None, default: float = 90.0) -> DelayWindow:
    """``window_days`` when given (it always wins), else :func:`window_from_data`.

    Parameters
    ----------
    ds : Dataset
        The data set.
    window_days : float or None
        A window given by the user.
    outcomes : list of str
        The outcomes whose delays count.
    start : str, default "created"
        As :func:`outcome_delays`.
    rules : RuleSet, optional
        Measure from the MQL under these rules (the moment a replay's window runs
        from), falling back to ``start`` when too few leads have an outcome after
        their MQL.
    default : float, default 90
        The window when too few leads have an outcome.

    Returns
    -------
    DelayWindow

    Examples
    --------
    >>> import calib
    >>> resolve_window(calib.load_dataset("calib-demo/data"), 30, ["meeting"]).sentence
    'window 30 days (given)'
    """
    if window_days is not None:
        return DelayWindow(days=float(window_days), source="given", start=start,
                           quantile=QUANTILE, sentence=f"window {float(window_days):g} days "
                                                       "(given)")
    if ds.snapshot:
        return DelayWindow(days=float(default), source="snapshot", start=start,
                           quantile=QUANTILE, sentence="snapshot data: no window needed")
    if rules is not None and start == "created":
        w = window_from_data(ds, outcomes, start=mql_times(ds, rules),
                             since=f"the MQL under '{rules.name}'", default=default)
        if w.source == "data":
            return w
    return window_from_data(ds, outcomes, start=start, default=default)


def mature_hint(ds: Dataset, starts_ns: np.ndarray, window_days: float, outcomes,
                *, start: str = "created", what: str = "leads") -> str:
    """Why no lead is mature, and what window would give some.

    Parameters
    ----------
    ds : Dataset
        The data set.
    starts_ns : ndarray
        The leads' start times (int64 ns).
    window_days : float
        The window that leaves no lead mature.
    outcomes : list of str
        The outcomes whose delays suggest a window.
    start : str, default "created"
        As :func:`outcome_delays`.
    what : str, default "leads"
        How the sentence names the leads.

    Returns
    -------
    str
        A sentence naming the end of the data, the latest start a ``window_days``
        window allows, and the window (from the data's delays) that would make some
        of ``starts_ns`` mature.

    Examples
    --------
    >>> from calib import load_dataset
    >>> from calib.data.dataset import ns
    >>> ds = load_dataset("calib-demo/data")
    >>> mature_hint(ds, ns(ds.leads["created_at"]), 5000, ["meeting"]).startswith(
    ...     "a 5000-day window needs leads started by")
    True
    """
    end = ds.end_of_data
    last = end - pd.Timedelta(days=window_days)
    text = (f"a {window_days:g}-day window needs {what} started by {last.date()} "
            f"(the data end on {end.date()})")
    s = np.asarray(starts_ns, dtype=np.int64)
    if len(s):
        span = (end.value - s.min()) / NS_PER_DAY
        w = window_from_data(ds, outcomes, start=start, default=window_days)
        if w.source == "data" and w.days < window_days and w.days <= span:
            n = int((s + w.days * NS_PER_DAY <= end.value).sum())
            text += (f"; {w.sentence.split(': window')[0]}, and --window-days {w.days:g} "
                     f"would leave {n:,} of them mature")
        elif span >= 1:
            n = int((s + math.floor(span / 2) * NS_PER_DAY <= end.value).sum())
            text += (f"; --window-days {math.floor(span / 2):g} would leave {n:,} of them "
                     "mature")
    return text


def window_hint(outcome_ns: dict, start_ns: np.ndarray, end_ns: int,
                quantile: float = QUANTILE) -> str:
    """For a live test none of whose leads is mature: how long its outcomes took after
    assignment and the window that would make leads mature.

    Parameters
    ----------
    outcome_ns : dict
        Each outcome's first time per assigned lead (int64 ns, ``NEVER`` for none).
    start_ns : ndarray
        The assignment times (int64 ns).
    end_ns : int
        The end of the data (int64 ns).
    quantile : float, default QUANTILE
        The share of outcomes the suggested window holds.

    Returns
    -------
    str
        The sentence ("" when too few leads have an outcome).

    Examples
    --------
    >>> import numpy as np
    >>> day = 86_400 * 10**9
    >>> window_hint({"won": np.arange(1, 41) * day}, np.zeros(40, dtype=np.int64), 100 * day)
    "95% of the recorded 'won' outcomes arrived within 39 days of assignment: --window-days 39 would leave 40 lead(s) mature."
    """
    never = np.iinfo(np.int64).max
    start = np.asarray(start_ns, dtype=np.int64)
    best, parts = None, []
    for name, o in outcome_ns.items():
        o = np.asarray(o, dtype=np.int64)
        ok = (o != never) & (start != never) & (o >= start)
        if ok.sum() < MIN_LEADS:
            continue
        d = (o[ok] - start[ok]) / NS_PER_DAY
        days = max(1.0, float(math.ceil(np.quantile(d, quantile) - 1e-9)))
        parts.append(f"{quantile:.0%} of the recorded '{name}' outcomes arrived within "
                     f"{days:g} days of assignment")
        best = days if best is None else max(best, days)
    if best is None:
        return ""
    dated = start[start != never]
    n = int((dated + best * NS_PER_DAY <= end_ns).sum())
    span = (end_ns - dated.min()) / NS_PER_DAY if len(dated) else 0.0
    if n == 0 and span >= 2:  # the test is younger than its outcomes take: say so
        half = math.floor(span / 2)
        n = int((dated + half * NS_PER_DAY <= end_ns).sum())
        return (f"{'; '.join(parts).capitalize()}, but the first lead was assigned only "
                f"{span:.0f} days before the end of the data: --window-days {half:g} would "
                f"leave {n:,} lead(s) mature (counting only the outcomes of their first "
                f"{half:g} days), or wait until {best:g} days have passed.")
    return (f"{'; '.join(parts).capitalize()}: --window-days {best:g} would leave {n:,} "
            "lead(s) mature.")

