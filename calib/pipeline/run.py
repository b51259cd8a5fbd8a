"""The main job: everything an experiment file asks for, as one result object.

:func:`run_experiment` loads the data and rule sets, replays them, sweeps, fits a
proposed rule set (when ``calib.fit`` can), compares, calibrates, analyses a live test,
and turns it all into recommendations. The report renderer only draws what this
returns.

When ``[data] path`` is a partitioned data set (written by ``calib partition``), the
sweep runs partition by partition (:func:`calib.distributed.sweep`) and so does the
fit's example building (:func:`calib.fit.fit` on the folder), in this process or on the
Dask cluster that ``scheduler`` names: the ``scheduler`` argument (``calib run
--scheduler``), else ``[engine] scheduler`` of the experiment, else
``$CALIB_SCHEDULER``. Every other step runs here on the whole data set
(:func:`calib.distributed.read_whole`). The result equals the run on the original data.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import sys
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np
import pandas as pd

from calib import __version__
from calib.data import Dataset, summarize
from calib.data.summary import DatasetSummary
from calib.engine import replay
from calib.engine.delays import resolve_window
from calib.engine.replay import outcome_names
from calib.engine.sweep import SweepResult, sweep
from calib.errors import CalibError, ConfigError
from calib.pipeline.experiment import Experiment
from calib.rules.changes import canonical_order
from calib.pipeline.recommend import N_BOOT, Recommendations, recommend
from calib.rules import RuleSet, load_rules

PRIMARY_ORDER = ("meeting", "sql", "opportunity", "won")


@dataclass(frozen=True)
class ExperimentResult:
    """Everything a report shows, computed once."""

    experiment: Experiment
    data: DatasetSummary
    outcomes: tuple[str, ...]
    primary: str
    baseline: RuleSet
    proposed: RuleSet
    proposed_source: str  # "fit", "sweep" or "cutoff"
    candidates: tuple[RuleSet, ...]
    replays: dict  # name -> ReplayResult over the whole period
    test_replays: dict  # name -> ReplayResult over the evaluation period
    evaluation: str  # "out of time (leads created from ...)" or "in sample"
    tradeoff: pd.DataFrame
    score_by_outcome: pd.DataFrame
    recommendations: Recommendations
    sweep: SweepResult | None = None
    fit: Any = None
    calibration: Any = None
    comparison: Any = None
    abtest: Any = None
    explorer: Any = None  # calib.explorer.ExplorerData (None for a snapshot)
    provenance: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    simplification: Any = None  # calib.fit.simplify.SimplifyResult
    proposal_steps: tuple[str, ...] = ()  # how the proposal's values were set, in order
    calibration_check: Any = None  # calib.calibration.large.RecentRecalibration
    refinement: Any = None  # calib.refine.RefinementResult: "Since the last review"
    window: dict = field(default_factory=dict)  # how the window was chosen (DelayWindow)

    def to_dict(self) -> dict:
        """The result as ``calib run --json`` prints it and ``summary.json`` holds it
        (JSON-safe): names, the evaluation, the recommendations, every replay,
        provenance, warnings and how the proposal and the window were chosen."""
        return {
            "experiment": self.experiment.name,
            "primary_outcome": self.primary,
            "outcomes": list(self.outcomes),
            "evaluation": self.evaluation,
            "baseline": self.baseline.name,
            "proposed": self.proposed.name,
            "proposed_source": self.proposed_source,
            "recommendations": self.recommendations.to_dict(),
            "replays": {k: v.to_dict() for k, v in self.replays.items()},
            "test_replays": {k: v.to_dict() for k, v in self.test_replays.items()},
            "provenance": self.provenance,
            "warnings": list(self.warnings),
            "simplification": (self.simplification.to_dict()
                               if self.simplification is not None else None),
            "proposal_steps": list(self.proposal_steps),
            "calibration_in_the_large": (self.calibration_check.to_dict()
                                         if self.calibration_check is not None else None),
            "refinement": self.refinement.to_dict() if self.refinement is not None else None,
            "window": self.window,
        }


def fingerprint(files: dict) -> str:
    """SHA-256 over the input files' bytes (in table order), so a report says exactly
    which data it was computed from.

    Parameters
    ----------
    files : dict
        Table name -> file path (as ``Dataset.files``).

    Returns
    -------
    str
        The hex digest.

    Examples
    --------
    >>> from calib import load_dataset
    >>> from calib.pipeline.run import fingerprint
    >>> len(fingerprint(load_dataset("calib-demo/data").files))
    64
    """
    h = hashlib.sha256()
    for table in sorted(files):
        h.update(table.encode())
        with open(files[table], "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
    return h.hexdigest()


def partition_files(path) -> dict:
    """The files of a partitioned data set to fingerprint: its facts and every
    partition's Parquet files, keyed by their path inside the folder.

    Parameters
    ----------
    path : str or Path
        A folder written by ``calib partition``.

    Returns
    -------
    dict
        Path inside the folder -> file, in a stable order.

    Examples
    --------
    >>> from calib.distributed import partition_dataset
    >>> from calib.pipeline.run import partition_files
    >>> _ = partition_dataset("calib-demo/data", "two-parts", 2, force=True)
    >>> list(partition_files("two-parts"))[0]
    '_calib_partitions.json'
    >>> all(p.endswith(".parquet") for p in list(partition_files("two-parts"))[1:])
    True
    """
    from pathlib import Path

    from calib.distributed.partitions import META_FILE

    root = Path(path)
    files = [root / META_FILE] + sorted(root.glob("part-*/*.parquet"))
    return {f.relative_to(root).as_posix(): f for f in files}


@dataclass(frozen=True)
class Engine:
    """Where an experiment's data lives and where its partition work runs."""

    partitioned: Any = None  # the partitioned data set's folder, or None
    scheduler: Any = None  # as calib.distributed.backend takes it; None: not partitioned
    source: str | None = None  # which setting chose the scheduler

    def describe(self) -> dict:
        """The scheduler in words and the setting that chose it, for provenance."""
        s = self.scheduler
        if s is not None and not isinstance(s, str):
            s = getattr(getattr(s, "scheduler", None), "address", None) or type(s).__name__
        return {"scheduler": s, "scheduler_from": self.source}


def resolve_engine(exp: Experiment, scheduler=None) -> Engine:
    """The data set's form and the scheduler, by precedence: ``scheduler`` (``calib run
    --scheduler``) > ``[engine] scheduler`` > ``$CALIB_SCHEDULER`` > this process.

    A scheduler given by the first two needs a partitioned data set;
    ``$CALIB_SCHEDULER`` leaves an ordinary one alone, as for the other commands.

    Parameters
    ----------
    exp : Experiment
    scheduler : str or object, optional
        A scheduler as :mod:`calib.distributed.backend` takes it.

    Returns
    -------
    Engine
        Empty (everything in this process) unless ``[data] path`` is partitioned.

    Raises
    ------
    calib.errors.CalibError
        A scheduler for a data set that is not partitioned, or a preset or column
        mapping for one that is.

    Examples
    --------
    >>> from calib import load_experiment
    >>> from calib.pipeline.run import resolve_engine
    >>> resolve_engine(load_experiment("calib-demo/experiment.toml")).describe()
    {'scheduler': None, 'scheduler_from': None}
    """
    from calib.distributed.partitions import is_partitioned

    if scheduler:
        chosen, source = scheduler, "--scheduler"
    elif exp.scheduler:
        chosen, source = exp.scheduler, "[engine] scheduler"
    else:
        chosen, source = None, None
    partitioned = not exp.data.url and is_partitioned(exp.data.path)
    if not partitioned:
        if chosen is not None:
            where = "the database of [data] url" if exp.data.url else f"'{exp.data.path}'"
            name = chosen if isinstance(chosen, str) else type(chosen).__name__
            raise CalibError(f"The scheduler {name!r} ({source} of {exp.source}) needs a "
                             f"partitioned data set, and {where} is not one.",
                             code="not_partitioned",
                             suggestion=f"Write one first: calib partition "
                                        f"{exp.data.path if not exp.data.url else 'DATA'} --out DIR "
                                        f"--partitions N, then set [data] path to DIR.")
        return Engine()
    if exp.data.preset:
        raise ConfigError(f"[data] path of {exp.source} is a partitioned data set; a 'preset' "
                          f"is applied when the data set is partitioned, not when it is read.",
                          code="invalid_usage",
                          suggestion="Remove 'preset' from [data].")
    if exp.data.mapping.files or exp.data.mapping.columns or exp.data.mapping.exclude:
        raise ConfigError(f"[data] path of {exp.source} is a partitioned data set; a column "
                          f"mapping is applied when the data set is partitioned, not when it "
                          f"is read.", code="invalid_usage",
                          suggestion="Pass --mapping to calib partition instead, and remove "
                                     "files, columns and exclude from [data].")
    if chosen is None:
        env = os.environ.get("CALIB_SCHEDULER")
        chosen, source = (env, "$CALIB_SCHEDULER") if env else ("sync", "default")
    return Engine(partitioned=exp.data.path, scheduler=chosen, source=source)


def _primary(exp: Experiment, outcomes) -> str:
    if exp.primary_outcome:
        if exp.primary_outcome not in outcomes:
            raise ConfigError(f"The primary outcome '{exp.primary_outcome}' of {exp.source} is "
                              f"not in the data (outcomes: {', '.join(outcomes)}).",
                              code="unknown_outcome")
        return exp.primary_outcome
    for o in PRIMARY_ORDER:
        if o in outcomes:
            return o
    if not outcomes:
        raise CalibError("The data set has no outcome besides 'mql' to evaluate rule sets on.",
                         code="no_outcome")
    return outcomes[0]


def cutoff_grid(mql: float, n: int = 25) -> list[float]:
    """Whole-number MQL cutoffs from 30% to 200% of the current one.

    Parameters
    ----------
    mql : float
        The current MQL cutoff (always in the grid).
    n : int, default 25
        Points spread over the range before rounding.

    Returns
    -------
    list of float
        Sorted, without repeats.

    Examples
    --------
    >>> from calib.pipeline.run import cutoff_grid
    >>> cutoff_grid(50, n=5)
    [15.0, 36.0, 50.0, 58.0, 79.0, 100.0]
    """
    lo, hi = max(1.0, 0.3 * mql), max(2 * mql, mql + 10)
    return sorted({float(round(v)) for v in np.linspace(lo, hi, n)} | {float(mql)})


def tradeoff_table(ds: Dataset, rules: RuleSet, label: str, *, window_days, start=None,
                   end=None, whole: bool = False) -> pd.DataFrame:
    """MQL volume, rates and recall over a range of MQL cutoffs (one sweep); with
    ``whole``, every whole-number cutoff of that range.

    Parameters
    ----------
    ds : Dataset
    rules : RuleSet
        Swept over its MQL cutoff (:func:`cutoff_grid`), without an SQL cutoff.
    label : str
        The ``rules`` column of the table.
    window_days : float
    start, end : optional
        The leads' creation period, as in :func:`calib.replay`.
    whole : bool, default False
        Every whole-number cutoff from the grid's lowest to its highest.

    Returns
    -------
    pandas.DataFrame
        One row per cutoff: ``rules``, ``cutoff`` and the sweep's columns.

    Examples
    --------
    >>> from calib import load_dataset, load_rules
    >>> from calib.pipeline.run import tradeoff_table
    >>> t = tradeoff_table(load_dataset("calib-demo/data"),
    ...                    load_rules("calib-demo/current.toml"), "current", window_days=90)
    >>> t["mql_count"].is_monotonic_decreasing
    True
    """
    grid = {"thresholds.mql": cutoff_grid(rules.thresholds.mql)}
    if whole:
        g = grid["thresholds.mql"]
        grid = {"thresholds.mql": [float(v) for v in range(int(g[0]), int(g[-1]) + 1)]}
    base = rules
    if rules.thresholds.sql is not None:
        base = rules.with_params({"thresholds.sql": None})
    res = sweep(ds, base, grid, window_days=window_days, start=start, end=end, progress=False)
    f = res.frame.rename(columns={"thresholds.mql": "cutoff"})
    f.insert(0, "rules", label)
    return f


def capacity_cutoff(table: pd.DataFrame, capacity: float | None, current: float) -> float:
    """The lowest cutoff whose MQL volume fits the capacity (most outcomes while sales can
    still work every MQL); the current cutoff when no capacity is given.

    Parameters
    ----------
    table : pandas.DataFrame
        ``cutoff`` and ``mql_per_week`` columns (:func:`tradeoff_table`).
    capacity : float, optional
        MQLs per week sales can work.
    current : float
        The cutoff to keep without a capacity.

    Returns
    -------
    float
        The highest cutoff of the table when none fits.

    Examples
    --------
    >>> import pandas as pd
    >>> from calib.pipeline.run import capacity_cutoff
    >>> t = pd.DataFrame({"cutoff": [40, 50, 60], "mql_per_week": [90, 70, 50]})
    >>> capacity_cutoff(t, 75, 50), capacity_cutoff(t, None, 50), capacity_cutoff(t, 10, 50)
    (50.0, 50, 60.0)
    """
    if capacity is None:
        return current
    ok = table[table["mql_per_week"] <= capacity]
    if ok.empty:
        return float(table["cutoff"].max())
    return float(ok["cutoff"].min())


def _score_by_outcome(ds, res: dict, outcomes) -> pd.DataFrame:
    rows = []
    first = ds.first_outcomes()
    for label, r in res.items():
        pl = r.per_lead
        has = {}
        for o in outcomes:
            codes = first.loc[first["outcome"] == o, "lead"].to_numpy()
            ids = set(ds.lead_ids(codes))
            has[o] = pl["lead_id"].isin(ids).to_numpy()
        for o in outcomes:
            rows.append(pd.DataFrame({"rules": label, "outcome": o, "had_outcome": has[o],
                                      "peak_score": pl["peak_score"].to_numpy()}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def _abtest(abtest, ds, exp: Experiment, W: float, outcomes=None):
    from dataclasses import replace

    a = exp.abtest
    # the outcomes the experiment asks about, not every outcome in the data; with
    # neither window set, the window is measured from the assignment times
    cfg = replace(a, outcomes=a.outcomes or outcomes,
                  window_days=a.window_days or exp.window_days)
    return abtest(ds, None, cfg)  # the config's assignments file, else the data set's


def _bar(desc: str, unit: str, *, enabled: bool):
    """A tqdm bar on stderr, ticked once per call (a library step's ``progress``); shown
    only when the caller reports progress and stderr is a terminal, as the sweep's is.
    A call may pass ``total=`` to set the length once it is known."""
    from tqdm.auto import tqdm

    bar = tqdm(desc=desc, unit=unit, file=sys.stderr, delay=2, leave=False,
               disable=not enabled or not sys.stderr.isatty())

    class Tick:
        def __call__(self, *args, total=None, **kwargs):
            if total is not None and bar.total != total:
                bar.total = total
                bar.refresh()
            bar.update(1)

        def close(self):
            bar.close()

    return Tick()


RECENT_WEEKS = 8


def _recent_capacity_cutoff(ds, rules: RuleSet, capacity: float, train_end, W, say) -> RuleSet:
    """Set the MQL cutoff so the leads of the last ``RECENT_WEEKS`` weeks before the split
    would have filled the capacity: lead volume trends, and the latest weeks are the
    best guide to the next ones. The SQL cutoff keeps its distance above the MQL one."""
    start = train_end - pd.Timedelta(weeks=RECENT_WEEKS)
    say(f"setting the MQL cutoff for {capacity:g} MQLs per week on the last {RECENT_WEEKS} "
        "weeks before the split")
    table = tradeoff_table(ds, rules, rules.name, window_days=W, start=start, end=train_end,
                           whole=True)
    cut = capacity_cutoff(table, capacity, rules.thresholds.mql)
    th = rules.thresholds
    params = {"thresholds.mql": int(cut) if float(cut).is_integer() else cut}
    if th.sql is not None:
        params["thresholds.sql"] = max(th.sql - th.mql + params["thresholds.mql"],
                                       params["thresholds.mql"] + 1)
    return rules.with_params(params)


def run_experiment(exp: Experiment, *, command: str = "", progress: Callable[[str], None] | None
                   = None, scheduler=None,
                   change_progress: Callable[[str], None] | None = None) -> ExperimentResult:
    """Run an experiment end to end and return what the report shows.

    Parameters
    ----------
    exp : Experiment
        As :func:`load_experiment` reads it.
    command : str, optional
        The command line to record in the provenance (default: ``calib run FILE``).
    progress : callable, optional
        Called with a line of text as each step starts; progress bars show only with it.
    scheduler : str or object, optional
        ``calib run --scheduler``: overrides ``[engine] scheduler``; with either,
        ``[data] path`` must be a partitioned data set (see the module docstring).
    change_progress : callable, optional
        Called once per change the recommendations judge (with the change's text),
        e.g. to advance a progress bar.

    Returns
    -------
    ExperimentResult

    Examples
    --------
    A small experiment next to the demo's rule sets. With no fit and no sweep the
    proposal is the baseline cut to the MQL capacity; with no capacity given, at its
    own cutoff:

    >>> from pathlib import Path
    >>> from calib import load_experiment, run_experiment
    >>> _ = Path("calib-demo/quick.toml").write_text(
    ...     'name = "quick"\\noutcomes = ["meeting"]\\nwindow_days = 90\\n'
    ...     '[data]\\npath = "data"\\n'
    ...     '[rules]\\nbaseline = "current.toml"\\ncandidates = ["truth.toml"]\\n'
    ...     '[fit]\\nenabled = false\\n')
    >>> res = run_experiment(load_experiment("calib-demo/quick.toml"))
    >>> res.baseline.name, res.proposed.name, res.proposed_source
    ('current', 'current-proposed', 'cutoff')
    >>> res.baseline.thresholds.mql, res.proposed.thresholds.mql
    (85, 85)
    """
    engine = resolve_engine(exp, scheduler)
    backend = None
    try:
        def partition_backend():
            """One backend for every partitioned step (one LocalCluster for local:N)."""
            nonlocal backend
            if backend is None:
                from calib.distributed.backend import get_backend

                backend = get_backend(engine.scheduler)
            return backend[0]

        return _run(exp, engine, partition_backend, command=command, progress=progress,
                    change_progress=change_progress)
    finally:
        if backend is not None and backend[1]:
            backend[0].close()


def _run(exp: Experiment, engine: Engine, partition_backend, *, command: str,
         progress, change_progress=None) -> ExperimentResult:
    say = progress or (lambda msg: None)
    ds = _load_data(exp, engine, say)
    data = summarize(ds)
    warnings: list[str] = list(ds.warnings)
    baseline = load_rules(exp.baseline)
    candidates = tuple(load_rules(c) for c in exp.candidates)
    outcomes = _outcomes(exp, ds)
    primary = _primary(exp, list(outcomes))
    # the window: as the file sets it, else measured from the data (the delay from the
    # baseline's MQL to the primary outcome)
    window = resolve_window(ds, exp.window_days, [primary], rules=baseline)
    if window.source in ("data", "default"):
        say(f"window: {window.sentence.replace('--window-days', 'window_days in the file')}")
    job = _Job(exp=exp, ds=ds, baseline=baseline, outcomes=outcomes, primary=primary,
               window_days=window.days, period=_split(exp, ds), say=say, progress=progress)

    sw = _sweep(job, engine, partition_backend)
    recs, base_test, proposal = _recommend(job, _propose(job, engine, partition_backend, sw),
                                           change_progress)
    proposed = proposal.rules
    sets = {"baseline": baseline, "proposed": proposed}
    for c in candidates:
        sets[c.name if c.name not in sets else f"candidate-{c.name}"] = c
    replays, test_replays = _replays(job, sets, base_test)
    say("threshold trade-off")
    tradeoff = pd.concat([tradeoff_table(ds, r, k, window_days=job.window_days, start=job.period.start,
                                         end=job.period.intake_end)
                          for k, r in sets.items() if k in ("baseline", "proposed")],
                         ignore_index=True)
    score_by_outcome = _score_by_outcome(ds, {k: test_replays[k] for k in ("baseline", "proposed")},
                                         outcomes)
    comparison, calibration, calibration_check = _checks(job, proposed, warnings)
    ab, refinement = _live_test(job), _refinement(job)
    return ExperimentResult(
        experiment=exp, data=data, outcomes=outcomes, primary=primary, baseline=baseline,
        proposed=proposed, proposed_source=proposal.source, candidates=candidates,
        replays=replays, test_replays=test_replays, evaluation=job.period.evaluation,
        tradeoff=tradeoff, score_by_outcome=score_by_outcome, recommendations=recs, sweep=sw,
        fit=proposal.fit, calibration=calibration, comparison=comparison,
        abtest=ab, explorer=_explorer(job, proposed, recs, test_replays),
        provenance=_provenance(exp, engine, ds, command), warnings=tuple(warnings),
        simplification=proposal.simplification, proposal_steps=proposal.steps,
        calibration_check=calibration_check, refinement=refinement,
        window=window.to_dict(),
    )


@dataclass(frozen=True)
class _Period:
    """The evaluation split of a run: leads created from ``start`` on are judged (all of
    them, in sample, when ``start`` is None)."""

    start: pd.Timestamp | None
    train_end: pd.Timestamp | None  # the last moment of the training period
    intake_end: pd.Timestamp | None  # the last lead's creation (None for a snapshot)
    evaluation: str  # in words, for the report

    @property
    def tune_end(self) -> pd.Timestamp | None:
        """Where tuning (sweep, cutoffs) stops: the split, else the last lead."""
        return self.train_end or self.intake_end


@dataclass(frozen=True)
class _Job:
    """What every step of one run shares."""

    exp: Experiment
    ds: Dataset
    baseline: RuleSet
    outcomes: tuple[str, ...]
    primary: str
    window_days: float
    period: _Period
    say: Callable[[str], None]
    progress: Callable[[str], None] | None  # the caller's: bars show only with one

    @property
    def recut(self) -> bool:
        """Whether the proposal's MQL cutoff is set to the capacity on the last weeks
        before the split."""
        return self.exp.capacity_mql_per_week is not None and self.period.start is not None


@dataclass(frozen=True)
class _Proposal:
    """The proposed rule set, where it came from and how its values were set."""

    rules: RuleSet
    source: str  # "fit", "sweep" or "cutoff"
    steps: tuple[str, ...]
    fit: Any = None
    simplification: Any = None


def _load_data(exp: Experiment, engine: Engine, say) -> Dataset:
    """The experiment's data set, whole: a partitioned one read back (the sweep and the
    fit's examples still run partition by partition), a folder, an export through a
    preset, or SQL."""
    from calib.importers import load_experiment_data

    say(f"loading {exp.data.path if not exp.data.url else 'the database'}")
    if engine.partitioned is not None:
        from calib.distributed.partitions import read_whole

        return read_whole(engine.partitioned)
    return load_experiment_data(exp)


def _outcomes(exp: Experiment, ds: Dataset) -> tuple[str, ...]:
    """The outcomes the experiment asks about (default: every one in the data but
    ``mql``); each must be in the data."""
    all_outcomes = [o for o in outcome_names(ds) if o != "mql"]
    outcomes = tuple(o for o in (exp.outcomes or all_outcomes))
    missing = [o for o in outcomes if o not in all_outcomes]
    if missing:
        raise ConfigError(f"Outcome(s) {', '.join(missing)} of {exp.source} are not in the data "
                          f"(it has: {', '.join(all_outcomes) or 'none'}).",
                          code="unknown_outcome")
    return outcomes


def _split(exp: Experiment, ds: Dataset) -> _Period:
    """The evaluation period: out of time from ``train_until`` (both sides need 100
    leads), else in sample. Volumes per week are measured over the weeks leads arrived
    in: outcome dates after the last lead (deals closing months later) must not dilute
    MQLs per week."""
    start = None
    evaluation = "in sample (no train_until: the proposal is judged on the data it was tuned on)"
    if exp.train_until and not ds.snapshot:
        start = pd.Timestamp(exp.train_until)
        start = start.tz_localize("UTC") if start.tzinfo is None else start
        n_train = int((ds.leads["created_at"] < start).sum())
        n_test = ds.n_leads - n_train
        if n_train < 100 or n_test < 100:
            raise ConfigError(f"train_until = {exp.train_until} in {exp.source} leaves {n_train} "
                              f"leads to learn from and {n_test} to evaluate on; both need at "
                              f"least 100.", code="out_of_range")
        evaluation = (f"out of time: tuned on leads created before {start.date()}, judged on "
                      f"the {n_test:,} leads created from then on")
    return _Period(start=start,
                   train_end=(start - pd.Timedelta(seconds=1)) if start is not None else None,
                   intake_end=None if ds.snapshot else ds.leads["created_at"].max(),
                   evaluation=evaluation)


def _sweep(job: _Job, engine: Engine, partition_backend) -> SweepResult | None:
    """The experiment's grid on the training period (partition by partition on a
    partitioned data set)."""
    grid = job.exp.sweep
    if not grid:
        return None
    job.say(f"sweeping {np.prod([len(v) for v in grid.values()]):,} configurations")
    if engine.partitioned is not None:
        from calib import distributed

        return distributed.sweep(engine.partitioned, job.baseline, grid,
                                 scheduler=partition_backend(), window_days=job.window_days,
                                 end=job.period.tune_end, progress=False)
    return sweep(job.ds, job.baseline, grid, window_days=job.window_days, end=job.period.tune_end,
                 progress=None if job.progress is not None else False)


def _propose(job: _Job, engine: Engine, partition_backend, sw) -> _Proposal:
    """A proposed rule set: fitted and simplified, else the sweep's best within the
    capacity, else the baseline at the cutoff that fills the capacity; its MQL cutoff
    then set on the last weeks before the split (see :func:`_recent_capacity_cutoff`)."""
    exp, baseline = job.exp, job.baseline
    if exp.fit:
        proposal = _fit_proposal(job, engine, partition_backend)
    else:
        proposal = _sweep_proposal(job, sw) if sw is not None else None
        proposal = proposal or _cutoff_proposal(job)
    proposed, steps = proposal.rules, proposal.steps
    if job.recut and proposal.source != "cutoff":
        proposed = _recent_capacity_cutoff(job.ds, proposed, exp.capacity_mql_per_week,
                                           job.period.train_end, job.window_days, job.say)
        steps += (f"MQL cutoff set to {proposed.thresholds.mql:g} so the leads of the last "
                  f"{RECENT_WEEKS} weeks before the split fill the capacity of "
                  f"{exp.capacity_mql_per_week:g} MQLs per week",)
    if proposed.name == baseline.name:
        d = proposed.to_dict()
        d["name"] = f"{baseline.name}-proposed"
        proposed = RuleSet.from_dict(d)
    return replace(proposal, rules=canonical_order(baseline, proposed), steps=steps)


def _fit_proposal(job: _Job, engine: Engine, partition_backend) -> _Proposal:
    """``calib fit`` on the training leads (its examples built per partition on a
    partitioned data set), then simplified (:func:`calib.fit.simplify.simplify`)."""
    from calib.fit import fit as fit_rules
    from calib.fit.simplify import simplify

    exp = job.exp
    job.say("fitting points, decay and cutoffs")
    opts = dict(exp.fit_options)
    points_step = opts.pop("points_step", 5)
    if engine.partitioned is not None:  # the examples are built per partition
        from calib.distributed import fit as fit_partitioned
        fit_rules = functools.partial(fit_partitioned, scheduler=partition_backend())
    bar = _bar("fitting the decay", "refit", enabled=job.progress is not None)
    try:
        fit_res = fit_rules(job.ds if engine.partitioned is None else engine.partitioned,
                            job.baseline, outcome=opts.pop("outcome", job.primary),
                            train_until=exp.train_until, window_days=job.window_days,
                            capacity_mql_per_week=exp.capacity_mql_per_week, seed=exp.seed,
                            progress=bar, **opts)
    finally:
        bar.close()
    fitted = fit_res.rules
    steps = [f"calib fit proposed '{fitted.name}' with {len(fitted.fit) + len(fitted.behavior)} "
             f"rules and an MQL cutoff of {fitted.thresholds.mql:g} on the training leads"]
    job.say("simplifying the fitted rule set")
    s = simplify(job.ds, fit_res, points_step=points_step, window_days=job.window_days, seed=exp.seed)
    steps.append(f"simplified to {s.n_rules} rules (points in steps of {s.points_step:g}; kept "
                 f"the {s.kept} set), MQL cutoff {s.rules.thresholds.mql:g} for the same "
                 "training volume")
    return _Proposal(s.rules, "fit", tuple(steps), fit=fit_res, simplification=s)


def _sweep_proposal(job: _Job, sw: SweepResult) -> _Proposal | None:
    """The sweep's configuration with the most primary outcomes within the capacity
    (None when none fits)."""
    best = sw.top(1, objective=f"{job.primary}_hits",
                  capacity_mql_per_week=job.exp.capacity_mql_per_week)
    if best.empty:
        return None
    params = {p: best.iloc[0][p] for p in sw.params}
    params = {k: (v.item() if hasattr(v, "item") else v) for k, v in params.items()}
    return _Proposal(job.baseline.with_params(params), "sweep", ())


def _cutoff_proposal(job: _Job) -> _Proposal:
    """The baseline with the MQL cutoff that fills the capacity on the training period
    (its own cutoff without a capacity); an SQL cutoff at or below it is dropped."""
    baseline = job.baseline
    job.say("tuning the cutoff")
    table = tradeoff_table(job.ds, baseline, baseline.name, window_days=job.window_days,
                           end=job.period.tune_end)
    cut = capacity_cutoff(table, job.exp.capacity_mql_per_week, baseline.thresholds.mql)
    return _Proposal(baseline.with_params({"thresholds.mql": cut, **(
        {"thresholds.sql": None} if baseline.thresholds.sql is not None
        and baseline.thresholds.sql <= cut else {})}), "cutoff", ())


def _recommend(job: _Job, proposal: _Proposal,
               change_progress) -> tuple[Recommendations, Any, _Proposal]:
    """Every change judged on the evaluation period; held changes leave the package,
    which becomes the proposal. Returns the recommendations, the baseline's replay of
    the evaluation period and the final proposal."""
    ds, baseline, exp, period = job.ds, job.baseline, job.exp, job.period
    job.say("building recommendations")
    base_test = replay(ds, baseline, window_days=job.window_days, start=period.start,
                       end=period.intake_end, per_lead=True)
    recut = None
    if job.recut and proposal.source != "cutoff":
        def recut(r):
            return canonical_order(baseline, _recent_capacity_cutoff(
                ds, r, exp.capacity_mql_per_week, period.train_end, job.window_days, lambda m: None))
    bar = _bar("judging changes", "change", enabled=job.progress is not None)
    try:
        recs = recommend(ds, baseline, proposal.rules, base_test, primary=job.primary,
                         outcomes=job.outcomes, window_days=job.window_days, start=period.start,
                         end=period.intake_end, capacity_mql_per_week=exp.capacity_mql_per_week,
                         evaluation=period.evaluation, seed=exp.seed, recut=recut,
                         progress=change_progress or bar)
    finally:
        bar.close()
    proposed, steps = proposal.rules, list(proposal.steps)
    if recs.rules is not None and recs.rules != proposed:
        steps.append(f"{len(recs.excluded)} change(s) that lower the {job.primary} rate on "
                     f"their own left out; MQL cutoff {recs.rules.thresholds.mql:g}")
        proposed = recs.rules
    th = proposed.thresholds
    steps.append(f"final rule set (proposed_rules.toml): "
                 f"{len(proposed.fit) + len(proposed.behavior)} rules, MQL cutoff {th.mql:g}"
                 + (f", SQL cutoff {th.sql:g}" if th.sql is not None else ", no SQL cutoff"))
    return recs, base_test, replace(proposal, rules=proposed, steps=tuple(steps))


def _replays(job: _Job, sets: dict, base_test) -> tuple[dict, dict]:
    """Every rule set replayed over the whole period and over the evaluation period
    (the same replays when it is in sample)."""
    job.say("replaying rule sets")
    ds, window_days, period = job.ds, job.window_days, job.period
    replays = {k: replay(ds, r, window_days=window_days, end=period.intake_end, per_lead=True)
               for k, r in sets.items()}
    if period.start is None:
        return replays, replays
    return replays, {k: (base_test if k == "baseline" else
                         replay(ds, r, window_days=window_days, start=period.start, end=period.intake_end,
                                per_lead=True))
                     for k, r in sets.items()}


def _checks(job: _Job, proposed: RuleSet, warnings: list[str]) -> tuple:
    """The paired comparison of baseline and proposal, the proposal's calibration and,
    out of time, its calibration in the large (a warning when it cannot be checked)."""
    from calib.calibration import calibrate
    from calib.calibration.large import recalibrate_recent
    from calib.compare.paired import compare_rules

    exp, ds, window_days, start = job.exp, job.ds, job.window_days, job.period.start
    job.say("comparing baseline and proposal")
    comparison = compare_rules(ds, job.baseline, proposed, outcomes=job.outcomes, window_days=window_days,
                               start=start, n_bootstrap=exp.report.bootstrap, seed=exp.seed)
    job.say("calibrating the proposal")
    calibration = calibrate(ds, proposed, outcome=job.primary, window_days=window_days,
                            train_until=exp.train_until)
    check = None
    if start is not None:
        job.say("checking calibration in the large, out of time")
        try:
            check = recalibrate_recent(ds, proposed, outcome=job.primary, window_days=window_days,
                                       train_until=exp.train_until, seed=exp.seed)
        except CalibError as e:  # too few snapshots: the report says so, the run goes on
            warnings.append(f"Calibration in the large was not checked: {e}")
    return comparison, calibration, check


def _live_test(job: _Job):
    """The live A/B test of ``[abtest]`` (None without one)."""
    if job.exp.abtest is None:
        return None
    from calib.abtest.live import abtest

    job.say("analysing the live test")
    return _abtest(abtest, job.ds, job.exp, job.window_days, job.outcomes)


def _refinement(job: _Job):
    """"Since the last review": history, drift, speed to lead and sales feedback (None
    without ``[refine]``, ``[rules] history`` or a previous report)."""
    exp = job.exp
    if exp.refine is None:
        return None
    job.say("checking the last review: history, drift, speed to lead, sales feedback")
    from calib.refine import load_previous, refine

    return refine(job.ds, job.baseline, primary=job.primary, window_days=job.window_days,
                  config=exp.refine, history=exp.history,
                  previous=load_previous(exp.report.previous) if exp.report.previous else None)


def _explorer(job: _Job, proposed: RuleSet, recs: Recommendations, test_replays: dict):
    """The what-if explorer's precomputed grid (None for a snapshot)."""
    if job.ds.snapshot:
        return None
    from calib.explorer import explorer_grid

    job.say("precomputing the what-if explorer")
    period = job.period
    return explorer_grid(
        job.ds, job.baseline, proposed, primary=job.primary, window_days=job.window_days,
        start=period.start, end=period.intake_end, capacity_mql_per_week=recs.capacity_mql_per_week,
        evaluation=period.evaluation,
        replays={"current": test_replays["baseline"], "proposed": test_replays["proposed"]},
        changes=[c.what for c in recs.changes], sweep_grid=job.exp.sweep, n_boot=N_BOOT,
        seed=job.exp.seed)


def _provenance(exp: Experiment, engine: Engine, ds: Dataset, command: str) -> dict:
    """What the report was computed with: the command, versions, seed and the data's
    fingerprint."""
    import matplotlib
    import numba
    import scipy
    import statsmodels

    return {
        "command": command or f"calib run {exp.source}",
        "experiment_file": str(exp.source),
        "calib": __version__, "python": platform.python_version(),
        "numpy": np.__version__, "pandas": pd.__version__, "scipy": scipy.__version__,
        "statsmodels": statsmodels.__version__, "numba": numba.__version__,
        "matplotlib": matplotlib.__version__, "seed": exp.seed,
        "data_fingerprint": ("sha256:" + fingerprint(partition_files(engine.partitioned))
                             if engine.partitioned is not None
                             else "sha256:" + fingerprint(ds.files) if ds.files else None),
        **engine.describe(),
        "platform": f"{platform.system()} {platform.machine()}",
        "argv": " ".join(sys.argv[1:]) if sys.argv else "",
    }
