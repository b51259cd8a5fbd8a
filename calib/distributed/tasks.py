"""What runs on a worker: one partition in, additive statistics out.

Each task gets a partitioned data set's path, a partition id and a rule set (or a sweep
plan), reads that partition's Parquet files itself, and returns
:class:`~calib.engine.results.ReplayStats` (plus per-lead rows when asked). Only paths,
rule sets and the global facts travel to a worker; only statistics travel back. Tasks
are plain module-level functions so any executor (Dask, a process pool, a loop) can run
them, and they are idempotent, so a scheduler may rerun one after a worker is lost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from calib.data.dataset import Dataset, lead_slices
from calib.distributed.partitions import PartitionInfo, lead_rows, read_partition
from calib.engine.replay import (NEVER, PARTITION_LEADS, TOL, first_outcome_times,
                                 replay_period, replay_stats)
from calib.engine.sweep import SweepPlan, add_stats, sweep_stats


@dataclass(frozen=True)
class PartReplay:
    """One partition's share of one or more replays.

    ``stats[k]`` belongs to rule set k (None when no lead of the partition is in the
    period); ``per_lead[k]`` are its per-lead rows (when asked); ``rows`` each lead's row
    in the original leads table; ``occurred`` per outcome whether each lead's outcome
    occurred (when asked).
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
    """Replay each rule set of ``rule_sets`` over one partition (read once)."""
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
    """Statistics of every configuration of a sweep plan over one partition."""
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
    ``Dataset``. Returns None when no lead of the partition is in the period. Summing
    this over partitions gives ``replay(...).stats``.
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
