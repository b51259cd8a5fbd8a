"""What runs on a worker: one partition in, additive statistics out.

Each task gets a partitioned data set's path, a partition id and a rule set (or a sweep
plan), reads that partition's Parquet files itself, and returns
:class:`~calib.engine.results.ReplayStats` (plus per-lead rows when asked). Only paths,
rule sets and the global facts travel to a worker; only statistics travel back. Tasks
are plain module-level functions so any executor (Dask, a process pool, a loop) can run
them, and they are idempotent, so a scheduler may rerun one after a worker is lost.

:func:`examples_part` is the exception that returns rows rather than sums: the training
examples of ``fit`` that fall in one partition (after the sampling of negatives), with
the events needed to recompute their features under any decay.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from calib.data.dataset import Dataset, lead_slices, ns
from calib.distributed.partitions import PartitionInfo, lead_rows, read_partition
from calib.engine.replay import (NEVER, PARTITION_LEADS, TOL, first_outcome_times,
                                 replay_period, replay_stats)
from calib.engine.sweep import SweepPlan, add_stats, sweep_stats
from calib.fit.examples import example_candidates, sample_negatives, truncate


@dataclass(frozen=True)
class PartReplay:
    """One partition's share of one or more replays (:func:`replay_part`).

    Attributes
    ----------
    stats : tuple
        ``stats[k]`` belongs to rule set k: its additive
        :class:`~calib.engine.results.ReplayStats`, None when no lead of the partition
        is in the period.
    per_lead : tuple or None
        ``per_lead[k]``: rule set k's per-lead rows (when asked).
    rows : ndarray or None
        Each lead's row in the original leads table.
    occurred : dict or None
        Per outcome, whether each lead's outcome occurred (when asked).

    Examples
    --------
    >>> PartReplay(stats=(None,)).per_lead is None
    True
    """

    stats: tuple
    per_lead: tuple | None = None
    rows: np.ndarray | None = None
    occurred: dict | None = None


def _period_part(data_dir: str, part_id: int, info: PartitionInfo, start, end,
                 with_rows: bool) -> tuple[Dataset, np.ndarray | None]:
    """The partition's leads created in the period (as ``replay`` selects them)."""
    ds = read_partition(data_dir, part_id, info)
    rows = lead_rows(data_dir, part_id, info) if with_rows else None
    _, codes = replay_period(ds, start, end)
    if len(codes) < ds.n_leads:
        ds = ds.subset(codes)
        rows = rows[codes] if rows is not None else None
    return ds, rows


def replay_part(part_id: int, *, data_dir: str, info: PartitionInfo, rule_sets: tuple,
                start=None, end=None, window_ns: int, tol: float = TOL,
                per_lead: bool = False, occurred: tuple = (),
                partition_leads: int = PARTITION_LEADS) -> PartReplay:
    """Replay each rule set of ``rule_sets`` over one partition (read once).

    Parameters
    ----------
    part_id : int
        The partition.
    data_dir : str
        The partitioned folder (as the worker sees it).
    info : PartitionInfo
        Its layout and the whole data set's facts.
    rule_sets : tuple of RuleSet
        The rule sets to replay.
    start, end : str or Timestamp, optional
        The replay period, as for :func:`calib.engine.replay`.
    window_ns : int
        The attribution window in nanoseconds.
    tol : float
        Scores within this of a cutoff reach it.
    per_lead : bool, default False
        Also return each lead's rows.
    occurred : tuple of str
        Outcomes whose occurrence per lead to return.
    partition_leads : int
        Leads replayed at a time.

    Returns
    -------
    PartReplay
        Additive statistics per rule set, to be summed over the partitions.

    Examples
    --------
    >>> from calib import load_rules
    >>> from calib.distributed import partition_dataset
    >>> info = partition_dataset("calib-demo/data", "demo-parts", 4, force=True)
    >>> part = replay_part(0, data_dir="demo-parts", info=info,
    ...                    rule_sets=(load_rules("calib-demo/current.toml"),),
    ...                    window_ns=90 * 86_400 * 10**9)
    >>> part.stats[0].leads
    482
    """
    ds, rows = _period_part(data_dir, part_id, info, start, end, per_lead or bool(occurred))
    if ds.n_leads == 0:
        return PartReplay(stats=(None,) * len(rule_sets),
                          per_lead=(None,) * len(rule_sets) if per_lead else None,
                          rows=rows, occurred={o: np.zeros(0, bool) for o in occurred})
    end_ns = info.end_of_data.value if info.end_of_data is not None else NEVER
    names = list(info.outcome_names)
    totals: list = [None] * len(rule_sets)
    frames: list[list] = [[] for _ in rule_sets]
    for _, sl in lead_slices(ds, partition_leads):
        for k, rules in enumerate(rule_sets):
            st, fr = replay_stats(sl, rules, names, window_ns, end_ns, tol, per_lead=per_lead)
            totals[k] = st if totals[k] is None else totals[k] + st
            if per_lead:
                frames[k].append(fr)
    occ = None
    if occurred:
        ot = first_outcome_times(ds, list(occurred))
        occ = {o: ot[o] != NEVER for o in occurred}
    return PartReplay(stats=tuple(totals),
                      per_lead=(tuple(pd.concat(f, ignore_index=True) for f in frames)
                                if per_lead else None),
                      rows=rows, occurred=occ)


def sweep_part(part_id: int, *, data_dir: str, info: PartitionInfo, plan: SweepPlan,
               start=None, end=None, window_ns: int, tol: float = TOL,
               partition_leads: int = PARTITION_LEADS) -> list:
    """Statistics of every configuration of a sweep plan over one partition.

    Parameters
    ----------
    part_id, data_dir, info
        As for :func:`replay_part`.
    plan : SweepPlan
        From :func:`calib.engine.sweep.plan_sweep`.
    start, end, window_ns, tol, partition_leads
        As for :func:`replay_part`.

    Returns
    -------
    list
        One :class:`~calib.engine.results.ReplayStats` per configuration (None when no
        lead of the partition is in the period).

    Examples
    --------
    >>> from calib import load_rules
    >>> from calib.distributed import partition_dataset
    >>> from calib.engine.sweep import plan_sweep
    >>> info = partition_dataset("calib-demo/data", "demo-parts", 4, force=True)
    >>> plan = plan_sweep(load_rules("calib-demo/current.toml"), {"thresholds.mql": [75, 95]})
    >>> stats = sweep_part(0, data_dir="demo-parts", info=info, plan=plan,
    ...                    window_ns=90 * 86_400 * 10**9)
    >>> stats[0].mql.count > stats[1].mql.count
    True
    """
    ds, _ = _period_part(data_dir, part_id, info, start, end, False)
    totals: list = [None] * len(plan.configs)
    if ds.n_leads == 0:
        return totals
    end_ns = info.end_of_data.value if info.end_of_data is not None else NEVER
    names = list(info.outcome_names)
    for _, sl in lead_slices(ds, partition_leads):
        totals = add_stats(totals, sweep_stats(sl, plan, names, window_ns, end_ns, tol))
    return totals


def partition_stats(ds_part: Dataset, rules, *, window_days: float = 90, start=None,
                    end=None, end_of_data, names, tol: float = TOL,
                    partition_leads: int = PARTITION_LEADS):
    """Additive statistics of one rule set over one partition held in memory.

    ``end_of_data`` and ``names`` are the whole data set's (never the partition's own):
    from :class:`~calib.distributed.partitions.PartitionInfo` or the original
    ``Dataset``. Summing this over partitions gives ``replay(...).stats``.

    Parameters
    ----------
    ds_part : Dataset
        One partition.
    rules : RuleSet
        The rule set.
    window_days : float, default 90
        The attribution window.
    start, end : str or Timestamp, optional
        The replay period.
    end_of_data : Timestamp or None
        The end of the whole data.
    names : sequence of str
        Every outcome of the whole data.
    tol : float
        Scores within this of a cutoff reach it.
    partition_leads : int
        Leads replayed at a time.

    Returns
    -------
    ReplayStats or None
        None when no lead of the partition is in the period.

    Examples
    --------
    >>> from calib import load_dataset, load_rules, replay
    >>> from calib.engine.replay import outcome_names
    >>> ds = load_dataset("calib-demo/data")
    >>> rules = load_rules("calib-demo/current.toml")
    >>> halves = [partition_stats(ds.subset(codes), rules, end_of_data=ds.end_of_data,
    ...                           names=outcome_names(ds))
    ...           for codes in (range(0, 1000), range(1000, 2000))]
    >>> (halves[0] + halves[1]).mql.count == replay(ds, rules).stats.mql.count
    True
    """
    from dataclasses import replace

    from calib.engine.kernels import NS_PER_DAY

    end_of_data = pd.Timestamp(end_of_data) if end_of_data is not None else None
    # the kernels read the end of the data from the Dataset too (timed snapshots)
    ds_part = replace(ds_part, end_of_data=end_of_data)
    _, codes = replay_period(ds_part, start, end)
    if len(codes) < ds_part.n_leads:
        ds_part = ds_part.subset(codes)
    if ds_part.n_leads == 0:
        return None
    end_ns = end_of_data.value if end_of_data is not None else NEVER
    window_ns = int(round(window_days * NS_PER_DAY))
    total = None
    for _, sl in lead_slices(ds_part, partition_leads):
        st, _ = replay_stats(sl, rules, list(names), window_ns, end_ns, tol)
        total = st if total is None else total + st
    return total


# ------------------------------------------------------------------ fit's examples
@dataclass(frozen=True)
class PartExamples:
    """One partition's training examples for ``fit`` (:func:`examples_part`).

    Attributes
    ----------
    n_candidates, n_positive : int
        The examples (and the positive ones) before the sampling of negatives.
    rows : ndarray or None
        The original leads-table row of each lead with an example (ascending); None, as
        the rest, when only counts were asked.
    lead : ndarray or None
        Per example, an index into ``rows`` (int32).
    t : ndarray or None
        Per example, its moment (int64 ns).
    y : ndarray or None
        Per example, whether the outcome followed (bool).
    events : tuple or None
        ``events[k]`` is ``(lead, t)`` of the events of event type ``k`` of those leads
        up to their last example; sorted by lead then time, as the examples are.

    Examples
    --------
    >>> PartExamples(n_candidates=10, n_positive=1).rows is None
    True
    """

    n_candidates: int
    n_positive: int
    rows: np.ndarray | None = None
    lead: np.ndarray | None = None
    t: np.ndarray | None = None
    y: np.ndarray | None = None
    events: tuple | None = None


def _bits(packed: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Bits ``rows`` of a ``np.packbits`` array (big bit order), as bool."""
    return ((packed[rows >> 3] >> (7 - (rows & 7)).astype(np.uint8)) & 1).astype(bool)


def examples_part(part_id: int, *, data_dir: str, info: PartitionInfo, rules, outcome: str,
                  until, lead_ok: np.ndarray | None, horizon_days: float, lag_days: float,
                  rate: float | None, seed: int, counts_only: bool = False,
                  whole_positive_leads: bool = False) -> PartExamples:
    """The training examples of one partition, as :func:`calib.fit.build_examples`
    builds them on the whole data set.

    The partition is read here and cut to the data as known at ``until`` (leads created
    by then, events and outcomes up to then; None for a snapshot).

    Parameters
    ----------
    part_id, data_dir, info
        As for :func:`replay_part`.
    rules : RuleSet
        The current rules (only their ``max_per_day`` settings are used).
    outcome : str
        The outcome to predict.
    until : Timestamp or None
        The end of the training data.
    lead_ok : ndarray of uint8, optional
        ``np.packbits`` of a mask over the rows of the original leads table: the leads
        that may give examples (training leads of positive weight); None: all leads of
        the cut partition.
    horizon_days, lag_days : float
        As for :func:`calib.fit.build_examples`.
    rate : float, optional
        The share of negatives to keep, from the counts of *all* partitions (None: keep
        every candidate). Each negative's draw is a hash of ``(seed, lead_id, moment)``
        (:func:`calib.fit.examples.example_draws`), so the sample is the one-machine one.
    seed : int
        The seed of those draws.
    counts_only : bool
        Return the candidate counts only (the first pass, which sets ``rate``).
    whole_positive_leads : bool
        Keep every candidate of the leads with the outcome and subsample only the others
        (as :func:`calib.fit.build_examples` does for the booking-delay model).

    Returns
    -------
    PartExamples
        Only the counts when ``counts_only``.

    Examples
    --------
    >>> from calib import distributed, load_rules
    >>> info = distributed.partition_dataset("calib-demo/data", "demo-parts", 4, force=True)
    >>> rules = load_rules("calib-demo/current.toml")
    >>> part = examples_part(0, data_dir="demo-parts", info=info, rules=rules, outcome="meeting",
    ...                      until=None, lead_ok=None, horizon_days=30, lag_days=1, rate=None,
    ...                      seed=0, counts_only=True)
    >>> part.n_candidates > part.n_positive > 0
    True
    """
    ds, rows = _training_part(data_dir, part_id, info, until)
    if ds.n_leads == 0:
        return PartExamples(0, 0) if counts_only else _no_examples(len(info.event_types))
    ok = _bits(lead_ok, rows) if lead_ok is not None else None
    o = first_outcome_times(ds, [outcome])[outcome]
    prep, y, idx = example_candidates(ds, rules, o, horizon_days=horizon_days,
                                      lag_days=lag_days, lead_ok=ok)
    n_cand, n_pos = len(idx), int(np.count_nonzero(y[idx]))
    if counts_only:
        return PartExamples(n_cand, n_pos)
    if rate is not None and whole_positive_leads:
        marker = np.zeros(len(y))
        marker[idx] = o[prep.eval_lead[idx]] != np.iinfo(np.int64).max
        idx = sample_negatives(ds, prep, marker, idx, rate, seed)
    elif rate is not None:
        idx = sample_negatives(ds, prep, y, idx, rate, seed)
    lead, t = prep.eval_lead[idx], prep.eval_t[idx]
    used, code, events = _seen_events(prep, lead, t, ds.n_leads)
    return PartExamples(n_cand, n_pos, rows=rows[used], lead=code.astype(np.int32), t=t,
                        y=y[idx] == 1, events=events)


def _training_part(data_dir: str, part_id: int, info: PartitionInfo, until):
    """The partition as known at ``until``, and its leads' rows in the original table."""
    ds = read_partition(data_dir, part_id, info)
    rows = lead_rows(data_dir, part_id, info)
    # feature columns are the event types of the whole data set, not of this partition
    ev = ds.events.copy()
    ev["event_type"] = ev["event_type"].cat.set_categories(list(info.event_types))
    ds = replace(ds, events=ev)
    if until is not None:
        until = pd.Timestamp(until)
        rows = rows[np.flatnonzero(ns(ds.leads["created_at"]) <= until.value)]  # as truncate
        ds = truncate(ds, until)
    return ds, rows


def _seen_events(prep, lead: np.ndarray, t: np.ndarray, n_leads: int):
    """The leads with an example (ascending), each example's index among them, and per
    event type the events those leads had up to their last example (the decayed counts
    of the examples are sums over these)."""
    used, code = np.unique(lead, return_inverse=True)
    last = np.full(n_leads, np.iinfo(np.int64).min, dtype=np.int64)
    ends = np.flatnonzero(np.append(lead[1:] != lead[:-1], True)) if len(lead) else lead
    last[lead[ends]] = t[ends]  # sorted by (lead, time): each lead's last example
    remap = np.full(n_leads, -1, dtype=np.int32)
    remap[used] = np.arange(len(used), dtype=np.int32)
    events = []
    for ev_lead, ev_t in prep.rule_events:
        m = (remap[ev_lead] >= 0) & (ev_t <= last[ev_lead])
        events.append((remap[ev_lead[m]], ev_t[m]))
    return used, code, tuple(events)


def _no_examples(n_types: int) -> PartExamples:
    e = (np.zeros(0, np.int32), np.zeros(0, np.int64))
    return PartExamples(0, 0, rows=np.zeros(0, np.int64), lead=e[0], t=e[1],
                        y=np.zeros(0, bool), events=(e,) * n_types)
