"""Replay, sweep and compare over a partitioned data set, on one machine or a cluster.

Each function equals its one-machine counterpart on the original data set exactly
(the same ``to_dict()``): the partition tasks return additive statistics
(:mod:`calib.distributed.tasks`) and this module adds them up and builds the result
with the whole data set's facts (period, end of data, outcome names, warnings) read
from ``_calib_partitions.json``.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from calib.distributed.backend import get_backend
from calib.distributed.partitions import PartitionInfo, read_partition_info
from calib.distributed.tasks import replay_part, sweep_part
from calib.engine.kernels import NS_PER_DAY
from calib.engine.prepare import check_event_types, fit_matrix
from calib.engine.replay import PARTITION_LEADS, TOL, _timestamp
from calib.engine.results import (OutcomeCounts, Period, ReplayResult, ReplayStats,
                                  StageCounts)
from calib.errors import CalibError


# ------------------------------------------------------------------------ global facts
def global_period(info: PartitionInfo, start=None, end=None) -> Period:
    """The replay period of the whole data set (as ``replay_period`` of the engine).

    Parameters
    ----------
    info : PartitionInfo
        The layout and the whole data set's facts.
    start, end : str or Timestamp, optional
        Narrow the period to leads created in ``[start, end]``.

    Returns
    -------
    Period
        The start defaults to the earliest ``created_at`` of *all* partitions, the end
        to the end of the data.

    Raises
    ------
    CalibError
        For an end before the start, or a period without leads.

    Examples
    --------
    >>> from calib.distributed import partition_dataset
    >>> period = global_period(partition_dataset("calib-demo/data", "demo-parts", 4,
    ...                                          force=True), start="2026-01-01")
    >>> str(period.start.date()), str(period.end.date())
    ('2026-01-01', '2026-06-30')
    """
    start, end = _timestamp(start, "--start"), _timestamp(end, "--end")
    if start is not None and end is not None and end < start:
        raise CalibError(f"The --end date ({end.date()}) is before the --start date "
                         f"({start.date()}).", code="invalid_date")
    if info.snapshot or info.start_of_data is None:
        return Period(None, None, info.end_of_data)
    if (start is not None and info.end_of_data is not None and start > info.end_of_data) or (
            end is not None and end < info.start_of_data):
        opts = " and ".join(f"{o} {t.date()}" for o, t in (("--start", start), ("--end", end))
                            if t is not None)
        raise CalibError(f"No lead was created in the period of {opts}: the data runs from "
                         f"{info.start_of_data.date()} to {info.end_of_data.date()}.",
                         code="empty_period")
    return Period(start if start is not None else info.start_of_data,
                  end if end is not None else info.end_of_data, info.end_of_data)


def _check_rules(info: PartitionInfo, rule_sets) -> list[tuple[str, ...]]:
    """Fail here, before any task runs, for rules the data cannot answer (a fit field
    the leads do not have); return each rule set's warnings about the whole data."""
    first = next((p for p in info.parts if p["leads"] > 0), info.parts[0])
    schema = pq.read_schema(f"{info.path}/{first['path']}/leads.parquet")
    empty = schema.empty_table().to_pandas()
    msgs = []
    facts = SimpleNamespace(event_types=info.event_types, leads=empty)
    for rules in rule_sets:
        fit_matrix(empty, rules)
        msgs.append(tuple(check_event_types(facts, rules)))
    return msgs


def _window_ns(window_days) -> int:
    if window_days is None or not (window_days > 0):
        raise CalibError(f"The attribution window must be > 0 days. Got {window_days!r}.",
                         code="out_of_range")
    return int(round(window_days * NS_PER_DAY))


def _zero_stats(names, with_sql: bool) -> ReplayStats:
    return ReplayStats(leads=0, mql=StageCounts(), sql=StageCounts() if with_sql else None,
                       covered=0, outcomes={n: OutcomeCounts() for n in names})


def _sum(stats, names, with_sql: bool) -> ReplayStats:
    total = None
    for s in stats:
        if s is not None:
            total = s if total is None else total + s
    return total if total is not None else _zero_stats(names, with_sql)


def _in_row_order(frames, rows) -> pd.DataFrame:
    """Per-lead frames of all partitions, in the row order of the original leads table
    (the order ``replay(..., per_lead=True)`` gives)."""
    frames = [f for f in frames if f is not None and len(f)]
    rows = [r for r in rows if r is not None and len(r)]
    if not frames:
        return pd.DataFrame()
    order = np.argsort(np.concatenate(rows), kind="stable")
    return pd.concat(frames, ignore_index=True).take(order).reset_index(drop=True)


def _run_replays(data_dir, rule_sets, *, scheduler, window_days, start, end, per_lead,
                 occurred, tol, partition_leads, progress):
    info = read_partition_info(data_dir)
    window_ns = _window_ns(window_days)
    period = global_period(info, start, end)
    rule_msgs = _check_rules(info, rule_sets)
    backend, owned = get_backend(scheduler)
    try:
        parts = backend.map(replay_part, range(info.partitions), progress=progress,
                            data_dir=str(data_dir), info=info, rule_sets=tuple(rule_sets),
                            start=start, end=end, window_ns=window_ns, tol=tol,
                            per_lead=per_lead, occurred=tuple(occurred),
                            partition_leads=partition_leads)
    finally:
        if owned:
            backend.close()
    names = list(info.outcome_names)
    results = []
    for k, rules in enumerate(rule_sets):
        stats = _sum([p.stats[k] for p in parts], names, rules.thresholds.sql is not None)
        frame = (_in_row_order([p.per_lead[k] for p in parts], [p.rows for p in parts])
                 if per_lead else None)
        results.append(ReplayResult(rules=rules.name, stats=stats, period=period,
                                    window_days=float(window_days), snapshot=info.snapshot,
                                    per_lead=frame, warnings=rule_msgs[k] + info.warnings))
    occ = None
    if occurred:
        order = np.argsort(np.concatenate([p.rows for p in parts]), kind="stable")
        occ = {o: np.concatenate([p.occurred[o] for p in parts])[order] for o in occurred}
    return info, results, occ


# ------------------------------------------------------------------------ public API
def replay(data_dir, rules, *, scheduler=None, window_days: float = 90, start=None, end=None,
           per_lead: bool = False, tol: float = TOL, partition_leads: int = PARTITION_LEADS,
           progress: bool | None = None) -> ReplayResult:
    """Replay one rule set over a partitioned data set, partition by partition.

    Equals ``calib.engine.replay(load_dataset(original), rules, ...)`` (the same
    ``to_dict()`` and, with ``per_lead``, the same rows in the same order).

    Parameters
    ----------
    data_dir : str or Path
        A folder written by ``calib partition`` (:func:`partition_dataset`); on a cluster
        every worker must see it at the same path.
    rules : RuleSet
        The rule set to replay.
    scheduler : str, distributed.Client or backend, optional
        Where the partition tasks run (see :mod:`calib.distributed.backend`); default
        ``$CALIB_SCHEDULER``, else in this process.
    window_days, start, end, per_lead
        As for :func:`calib.engine.replay`. ``per_lead`` brings one row per lead back to
        this machine (about 100 bytes a lead).
    tol : float
        Scores within this of a cutoff reach it.
    partition_leads : int
        Leads a task replays at a time.
    progress : bool, optional
        Show a progress bar on stderr (default: when it is a terminal).

    Returns
    -------
    ReplayResult
        As the one-machine replay's, with the whole data set's period and warnings.

    Examples
    --------
    ``scheduler="sync"`` runs the tasks here; ``"local:2"`` on a local Dask cluster.

    >>> from calib import load_rules
    >>> from calib.distributed import partition_dataset
    >>> info = partition_dataset("calib-demo/data", "demo-parts", 8, force=True)
    >>> res = replay("demo-parts", load_rules("calib-demo/current.toml"), scheduler="sync")
    >>> res.to_dict()["mql"]["count"]
    402
    """
    _, results, _ = _run_replays(data_dir, (rules,), scheduler=scheduler,
                                 window_days=window_days, start=start, end=end,
                                 per_lead=per_lead, occurred=(), tol=tol,
                                 partition_leads=partition_leads, progress=progress)
    return results[0]


def replay_partitioned(data_dir, rules, **kwargs) -> ReplayResult:
    """:func:`replay` in this process, whatever ``$CALIB_SCHEDULER`` says.

    Parameters
    ----------
    data_dir : str or Path
        A partitioned data set.
    rules : RuleSet
        The rule set to replay.
    **kwargs
        As for :func:`replay` (``scheduler`` is set to ``"sync"``).

    Returns
    -------
    ReplayResult
        The same result :func:`replay` gives.

    Examples
    --------
    >>> from calib import distributed, load_rules
    >>> _ = distributed.partition_dataset("calib-demo/data", "demo-parts", 3, force=True)
    >>> replay_partitioned("demo-parts", load_rules("calib-demo/current.toml")).stats.leads
    2000
    """
    kwargs["scheduler"] = "sync"
    return replay(data_dir, rules, **kwargs)


def sweep(data_dir, rules, grid: dict, *, scheduler=None, window_days: float = 90, start=None,
          end=None, tol: float = TOL, partition_leads: int = PARTITION_LEADS,
          progress: bool | None = None):
    """Replay every combination of a grid over a partitioned data set.

    One task per partition runs *every* configuration on it (sharing the event
    matching and decay work as :func:`calib.engine.sweep.sweep` does) and returns one
    set of statistics per configuration; equals ``sweep(load_dataset(original), ...)``.

    Parameters
    ----------
    data_dir : str or Path
        A partitioned data set.
    rules : RuleSet
        The rule set the grid varies.
    grid : dict
        Parameter path to a list of values (SPEC section 4).
    scheduler : str, distributed.Client or backend, optional
        Where the partition tasks run.
    window_days, start, end, tol, partition_leads, progress
        As for :func:`replay`.

    Returns
    -------
    SweepResult
        One row per configuration, as :func:`calib.engine.sweep.sweep` gives.

    Examples
    --------
    ``scheduler="tcp://scheduler:8786"`` sends the tasks to a running Dask scheduler;
    ``"sync"`` runs them here.

    >>> from calib import load_rules
    >>> from calib.distributed import partition_dataset
    >>> info = partition_dataset("calib-demo/data", "demo-parts", 8, force=True)
    >>> res = sweep("demo-parts", load_rules("calib-demo/current.toml"),
    ...             {"thresholds.mql": [75, 85, 95]}, scheduler="sync")
    >>> res.frame[["thresholds.mql", "mql_count"]]
       thresholds.mql  mql_count
    0              75        522
    1              85        402
    2              95        307
    """
    from calib.engine.sweep import add_stats, plan_sweep, sweep_result

    plan = plan_sweep(rules, grid)
    info = read_partition_info(data_dir)
    window_ns = int(round(window_days * NS_PER_DAY))
    msgs = _check_rules(info, (rules,))[0]
    period = global_period(info, start, end)
    backend, owned = get_backend(scheduler)
    try:
        parts = backend.map(sweep_part, range(info.partitions), progress=progress,
                            data_dir=str(data_dir), info=info, plan=plan, start=start,
                            end=end, window_ns=window_ns, tol=tol,
                            partition_leads=partition_leads)
    finally:
        if owned:
            backend.close()
    totals: list = [None] * len(plan.configs)
    for p in parts:
        totals = add_stats(totals, p)
    names = list(info.outcome_names)
    totals = [t if t is not None else _zero_stats(names, th["sql"] is not None)
              for t, (_, _, th) in zip(totals, plan.configs)]
    return sweep_result(rules, plan, totals, period, info.snapshot, names, msgs)


def compare(data_dir, rules_a, rules_b, *, scheduler=None, outcomes=None,
            window_days: float = 90, start=None, end=None, n_bootstrap: int = 1000,
            seed: int = 0, alpha: float = 0.05, progress: bool | None = None):
    """Compare two rule sets on the same leads of a partitioned data set.

    Both rule sets are replayed in the same task per partition (one read). The paired
    bootstrap, McNemar's test and "who moves" need each lead's pair of results, so the
    tasks return the per-lead rows and they are put back in the original lead order on
    this machine (about 200 bytes a lead: 10 million leads need about 2 GB here); the
    bootstrap then runs here as in :func:`calib.compare.compare_rules`, which this
    equals exactly.

    Parameters
    ----------
    data_dir : str or Path
        A partitioned data set.
    rules_a, rules_b : RuleSet
        The two rule sets.
    scheduler : str, distributed.Client or backend, optional
        Where the partition tasks run.
    outcomes : list of str, optional
        The outcomes to compare on (default: every outcome of the data).
    window_days, start, end, progress
        As for :func:`replay`.
    n_bootstrap, seed, alpha
        As for :func:`calib.compare.compare_rules`.

    Returns
    -------
    CompareResult
        Both replays, the paired differences with intervals and who moves.

    Examples
    --------
    >>> import calib
    >>> import calib.distributed as cd
    >>> _ = cd.partition_dataset("calib-demo/data", "demo-parts", 2, force=True)
    >>> current, truth = (calib.load_rules(f"calib-demo/{n}.toml") for n in ("current", "truth"))
    >>> res = compare("demo-parts", current, truth, outcomes=["meeting"], n_bootstrap=200,
    ...               scheduler="sync")
    >>> res.to_dict()["a"]["mql"]["count"]
    402
    """
    from calib.compare.paired import check_compare_args

    info = read_partition_info(data_dir)
    outcomes = check_compare_args(info.outcome_names, outcomes, n_bootstrap, alpha)
    _, (ra, rb), occurred = _run_replays(
        data_dir, (rules_a, rules_b), scheduler=scheduler, window_days=window_days,
        start=start, end=end, per_lead=True, occurred=outcomes, tol=TOL,
        partition_leads=PARTITION_LEADS, progress=progress)
    return compare_from_replays(ra, rb, occurred, outcomes, n_bootstrap=n_bootstrap,
                                seed=seed, alpha=alpha)


def compare_from_replays(ra: ReplayResult, rb: ReplayResult, occurred: dict, outcomes, *,
                         n_bootstrap: int, seed: int, alpha: float):
    """The comparison of two replays with per-lead rows over the same leads.

    The same code as :func:`calib.compare.compare_rules`.

    Parameters
    ----------
    ra, rb : ReplayResult
        Replays of the two rule sets with ``per_lead`` rows, in the same lead order.
    occurred : dict
        Per outcome, whether each lead's outcome occurred (that order too).
    outcomes : list of str
        The outcomes to compare on.
    n_bootstrap, seed, alpha
        As for :func:`calib.compare.compare_rules`.

    Returns
    -------
    CompareResult
        As :func:`compare` gives it.

    Examples
    --------
    >>> import numpy as np
    >>> from calib import load_dataset, load_rules, replay
    >>> from calib.engine.replay import NEVER, first_outcome_times
    >>> ds = load_dataset("calib-demo/data")
    >>> ra, rb = (replay(ds, load_rules(f"calib-demo/{n}.toml"), per_lead=True)
    ...           for n in ("current", "truth"))
    >>> occurred = {"meeting": first_outcome_times(ds, ["meeting"])["meeting"] != NEVER}
    >>> res = compare_from_replays(ra, rb, occurred, ["meeting"], n_bootstrap=200, seed=0,
    ...                            alpha=0.05)
    >>> res.to_dict()["b"]["mql"]["count"] > 0
    True
    """
    from calib.compare.paired import compare_replays

    return compare_replays(ra, rb, occurred, outcomes, n_bootstrap=n_bootstrap, seed=seed,
                           alpha=alpha)


# ------------------------------------------------------------------------ fit
def fit_examples(data_dir, ds, train_ds, rules, outcome: str, *, horizon_days: float,
                 lag_days: float = 1.0, lead_weight=None, max_examples: int = 600_000,
                 seed: int = 0, scheduler=None, progress: bool | None = None,
                 whole_positive_leads: bool = False):
    """``fit``'s training examples, built partition by partition (on a cluster when
    ``scheduler`` says so); equal to :func:`calib.fit.build_examples` on ``train_ds``.

    What travels: to every worker once, the rules, the global facts and, when the
    training leads are not simply those created by the split date, one bit per lead of
    the whole data set; back, per example 13 bytes and per event its examples can see
    12 bytes, so that ``counts(decay)`` can be recomputed here for every decay the
    profile tries. When the data may hold more than ``max_examples`` moments, a first
    pass counts the candidates of every partition to set the share of negatives to keep.

    Parameters
    ----------
    data_dir : str or Path
        A partitioned data set (``calib partition``).
    ds : Dataset
        The whole data set, lead codes being rows of the original leads table
        (:func:`~calib.distributed.partitions.read_whole` of ``data_dir``).
    train_ds : Dataset
        The training data: ``truncate(ds, T)`` for a time split, or ``ds.subset(codes)``.
        The examples' lead codes are its codes.
    rules : RuleSet
        The current rules (only ``max_per_day`` is used).
    outcome : str
        The outcome to predict.
    horizon_days, lag_days, lead_weight, max_examples, seed, whole_positive_leads
        As for :func:`calib.fit.build_examples` (``lead_weight`` per lead of ``train_ds``).
    scheduler, progress
        As for :func:`replay`.

    Returns
    -------
    calib.fit.examples.Examples
        The examples, with the training data's lead codes.

    Examples
    --------
    >>> from calib import load_rules
    >>> from calib.distributed import partition_dataset, read_whole
    >>> import pandas as pd
    >>> from calib.fit.examples import truncate
    >>> _ = partition_dataset("calib-demo/data", "demo-parts", 4, force=True)
    >>> whole = read_whole("demo-parts")
    >>> ex = fit_examples("demo-parts", whole, truncate(whole, pd.Timestamp("2026-01-01", tz="UTC")),
    ...                   load_rules("calib-demo/current.toml"), "meeting", horizon_days=30,
    ...                   scheduler="sync")
    >>> len(ex.lead) == len(ex.y) > 0
    True
    """
    from calib.fit.examples import Examples

    info = read_partition_info(data_dir)
    train_rows = _training_rows(data_dir, info, ds, train_ds)
    n_train = train_ds.n_leads
    w_lead = np.ones(n_train) if lead_weight is None else np.asarray(lead_weight, float)
    until = None if train_ds.snapshot else train_ds.end_of_data
    kw = {"data_dir": str(data_dir), "info": info, "rules": rules, "outcome": outcome.lower(),
          "until": until, "lead_ok": _lead_filter(ds, train_rows, w_lead, lead_weight, until),
          "horizon_days": float(horizon_days), "lag_days": float(lag_days),
          "seed": int(seed), "whole_positive_leads": bool(whole_positive_leads)}
    # a lead's moments are its created_at and its event times: when they fit, so do
    # the candidates, and no counting pass is needed
    counting = n_train + len(train_ds.events) > max_examples
    parts, rate = _example_tasks(scheduler, info, kw, max_examples if counting else None,
                                 progress)
    lead, t, y, rule_events = _gathered(parts, ds.n_leads, train_rows, len(info.event_types))
    t, features = _feature_space(train_ds, lead, t, rule_events)
    weight, log_r = _example_weights(train_ds, outcome, lead, w_lead, rate,
                                     whole_positive_leads)
    return Examples(lead=lead, t=t, y=y.astype(float), weight=weight,
                    log_sampling=log_r,
                    horizon_days=float(horizon_days),
                    n_candidates=int(sum(p.n_candidates for p in parts)),
                    features=features,
                    sample_rate=1.0 if rate is None else float(rate))


def _training_rows(data_dir, info: PartitionInfo, ds, train_ds) -> np.ndarray:
    """The rows of the whole data set's leads table that are the training leads."""
    if ds.n_leads != info.n_leads or tuple(train_ds.event_types) != tuple(info.event_types):
        raise CalibError(f"The data set given does not match the partitioned data set "
                         f"'{data_dir}' ({ds.n_leads:,} leads against {info.n_leads:,}).",
                         code="invalid_partitions",
                         suggestion="Pass read_whole(data_dir) of the same folder.")
    train_rows = pd.Index(ds.leads["lead_id"]).get_indexer(train_ds.leads["lead_id"])
    if (train_rows < 0).any():
        raise CalibError("Some training leads are not leads of the whole data set.",
                         code="invalid_partitions")
    return train_rows


def _lead_filter(ds, train_rows, w_lead, lead_weight, until):
    """One bit per lead of the whole data set (packed), or None when the training leads
    are simply those created by ``until``."""
    from calib.data.dataset import ns

    if lead_weight is None and until is not None and np.array_equal(
            np.flatnonzero(ns(ds.leads["created_at"]) <= until.value), train_rows):
        return None
    ok = np.zeros(ds.n_leads, bool)
    ok[train_rows] = w_lead > 0
    return np.packbits(ok)


def _example_tasks(scheduler, info: PartitionInfo, kw: dict, max_examples, progress):
    """The partitions' examples, and the sampling rate of negatives (None: all kept).
    With ``max_examples``, a first pass counts the candidates to set that rate."""
    from calib.distributed.tasks import examples_part
    from calib.fit.examples import sampling_rate

    backend, owned = get_backend(scheduler)
    try:
        rate = None
        if max_examples is not None:
            counts = backend.map(examples_part, range(info.partitions), progress=progress,
                                 rate=None, counts_only=True, **kw)
            n_cand = sum(c.n_candidates for c in counts)
            n_pos = sum(c.n_positive for c in counts)
            rate = sampling_rate(n_pos, n_cand - n_pos, max_examples)
        parts = backend.map(examples_part, range(info.partitions), progress=progress,
                            rate=rate, counts_only=False, **kw)
    finally:
        if owned:
            backend.close()
    return parts, rate


def _gathered(parts, n_leads: int, train_rows, n_types: int):
    """The partitions' examples (lead, moment, label) and the events they can see per
    event type, with the training data's lead codes, in lead order."""
    from calib.fit.examples import no_examples_error

    code_of = np.full(n_leads, -1, dtype=np.int64)
    code_of[train_rows] = np.arange(len(train_rows))
    codes = [code_of[p.rows] for p in parts]
    lead, (t, y) = _gather(codes, [p.lead for p in parts],
                           [[p.t for p in parts], [p.y for p in parts]])
    if len(lead) == 0:
        raise no_examples_error()
    rule_events = []
    for k in range(n_types):
        ev_lead, (ev_t,) = _gather(codes, [p.events[k][0] for p in parts],
                                   [[p.events[k][1] for p in parts]])
        rule_events.append((ev_lead, ev_t))
    return lead, t, y, rule_events


def _gather(codes, lead_idx, values):
    """Concatenated over partitions and put in lead order (each lead's rows come from
    one partition, already in time order)."""
    lead = np.concatenate([c[i] for c, i in zip(codes, lead_idx)])
    order = np.argsort(lead, kind="stable")
    return lead[order].astype(np.int32), [np.concatenate(v)[order] for v in values]


def _feature_space(train_ds, lead, t, rule_events):
    """The examples' moments and their :class:`~calib.fit.examples.FeatureSpace`."""
    from calib.engine.prepare import Prepared
    from calib.fit.examples import FeatureSpace

    n_train = train_ds.n_leads
    timed = False
    if train_ds.snapshot:
        # one moment per lead, as prepare() sets it for the whole data set (a partition
        # without events cannot tell whether the data's events are dated)
        timed = ("created_at" in train_ds.leads and train_ds.end_of_data is not None
                 and not train_ds.events["occurred_at"].isna().any())
        t = np.full(len(lead), train_ds.end_of_data.value if timed else np.iinfo(np.int64).max,
                    dtype=np.int64)
    prep = Prepared(n_leads=n_train, eval_lead=lead, eval_t=t, rule_events=tuple(rule_events),
                    fit_m=np.zeros((n_train, 0)), snapshot=train_ds.snapshot,
                    snapshot_decay=timed)
    return t, FeatureSpace(prep, tuple(train_ds.event_types))


def _example_weights(train_ds, outcome: str, lead, w_lead, rate, whole_positive_leads):
    """Each example's weight and the log of the sampling correction."""
    weight = w_lead[lead]
    log_r = float(np.log(rate)) if rate is not None else 0.0
    if rate is not None and whole_positive_leads:
        # examples of leads without the outcome were subsampled: weighted up instead
        from calib.engine.replay import NEVER, first_outcome_times
        o_train = first_outcome_times(train_ds, [outcome.lower()])[outcome.lower()]
        weight = weight * np.where(o_train[lead] != NEVER, 1.0, 1.0 / rate)
        log_r = 0.0
    return weight, log_r


def fit(data_dir, rules, *, scheduler=None, **kwargs):
    """:func:`calib.fit.fit` on a partitioned data set.

    The training examples are built partition by partition, on a cluster when
    ``scheduler`` says so (:func:`fit_examples`); the rest of the fit runs here on the
    whole data set, which is read into memory. The proposed rules equal
    ``fit(load_dataset(original), ...)``.

    Parameters
    ----------
    data_dir : str or Path
        A partitioned data set.
    rules : RuleSet
        The current rules.
    scheduler : str, distributed.Client or backend, optional
        Where the example tasks run.
    **kwargs
        As for :func:`calib.fit.fit`.

    Returns
    -------
    FitResult
        The proposed rules and the evidence for them.

    Examples
    --------
    >>> from calib import load_rules
    >>> from calib.distributed import partition_dataset
    >>> from calib.rules import write_rules
    >>> info = partition_dataset("calib-demo/data", "demo-parts", 8, force=True)
    >>> res = fit("demo-parts", load_rules("calib-demo/current.toml"), scheduler="sync",
    ...           max_examples=5000)
    >>> write_rules(res.rules, "proposed.toml")
    """
    from calib.distributed.partitions import read_whole
    from calib.fit import fit as fit_

    def examples(ds, train_ds, rules, outcome, **options):
        return fit_examples(data_dir, ds, train_ds, rules, outcome, scheduler=scheduler,
                            **options)

    return fit_(read_whole(data_dir), rules, examples_builder=examples, **kwargs)
