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
from dataclasses import dataclass, field
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
    which data it was computed from."""
    h = hashlib.sha256()
    for table in sorted(files):
        h.update(table.encode())
        with open(files[table], "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
    return h.hexdigest()


def partition_files(path) -> dict:
    """The files of a partitioned data set to fingerprint: its facts and every
    partition's Parquet files, keyed by their path inside the folder."""
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
        s = self.scheduler
        if s is not None and not isinstance(s, str):
            s = getattr(getattr(s, "scheduler", None), "address", None) or type(s).__name__
        return {"scheduler": s, "scheduler_from": self.source}


def resolve_engine(exp: Experiment, scheduler=None) -> Engine:
    """The data set's form and the scheduler, by precedence: ``scheduler`` (``calib run
    --scheduler``) > ``[engine] scheduler`` > ``$CALIB_SCHEDULER`` > this process.

    A scheduler given by the first two needs a partitioned data set;
    ``$CALIB_SCHEDULER`` leaves an ordinary one alone, as for the other commands.
    """
    from calib.distributed.partitions import is_partitioned

    if scheduler:
        chosen, source = scheduler, "--scheduler"
    elif exp.scheduler:
        chosen, source = exp.scheduler, "[engine] scheduler"
    else:
        chosen, source = None, None
    partitioned = not exp.url and is_partitioned(exp.data_path)
    if not partitioned:
        if chosen is not None:
            where = "the database of [data] url" if exp.url else f"'{exp.data_path}'"
            name = chosen if isinstance(chosen, str) else type(chosen).__name__
            raise CalibError(f"The scheduler {name!r} ({source} of {exp.source}) needs a "
                             f"partitioned data set, and {where} is not one.",
                             code="not_partitioned",
                             suggestion=f"Write one first: calib partition "
                                        f"{exp.data_path if not exp.url else 'DATA'} --out DIR "
                                        f"--partitions N, then set [data] path to DIR.")
        return Engine()
    if exp.preset:
        raise ConfigError(f"[data] path of {exp.source} is a partitioned data set; a 'preset' "
                          f"is applied when the data set is partitioned, not when it is read.",
                          code="invalid_usage",
                          suggestion="Remove 'preset' from [data].")
    if exp.mapping.files or exp.mapping.columns or exp.mapping.exclude:
        raise ConfigError(f"[data] path of {exp.source} is a partitioned data set; a column "
                          f"mapping is applied when the data set is partitioned, not when it "
                          f"is read.", code="invalid_usage",
                          suggestion="Pass --mapping to calib partition instead, and remove "
                                     "files, columns and exclude from [data].")
    if chosen is None:
        env = os.environ.get("CALIB_SCHEDULER")
        chosen, source = (env, "$CALIB_SCHEDULER") if env else ("sync", "default")
    return Engine(partitioned=exp.data_path, scheduler=chosen, source=source)


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
    """Whole-number MQL cutoffs from 30% to 200% of the current one."""
    lo, hi = max(1.0, 0.3 * mql), max(2 * mql, mql + 10)
    return sorted({float(round(v)) for v in np.linspace(lo, hi, n)} | {float(mql)})


def tradeoff_table(ds: Dataset, rules: RuleSet, label: str, *, window_days, start=None,
                   end=None, whole: bool = False) -> pd.DataFrame:
    """MQL volume, rates and recall over a range of MQL cutoffs (one sweep); with
    ``whole``, every whole-number cutoff of that range."""
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
    still work every MQL); the current cutoff when no capacity is given."""
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
    from calib.abtest.assign import ArmAllocation, read_assignment_table
    from calib.abtest.live import ABTestConfig

    a = exp.abtest
    planned = None
    if a.planned:
        planned = ArmAllocation.from_dict(a.planned) if hasattr(ArmAllocation, "from_dict") \
            else ArmAllocation(**a.planned)
    # the outcomes the experiment asks about, not every outcome in the data
    cfg = ABTestConfig(control=a.control, outcomes=a.outcomes or outcomes, guardrails=a.guardrails,
                       window_days=a.window_days or exp.window_days, planned=planned,
                       correction=a.correction)  # neither set: measured from assignment
    table = read_assignment_table(a.assignments) if a.assignments is not None else None
    return abtest(ds, table, cfg)


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

    ``change_progress`` is called once per change the recommendations judge (with the
    change's text), e.g. to advance a progress bar.

    ``scheduler`` (``calib run --scheduler``) overrides ``[engine] scheduler``; with
    either, ``[data] path`` must be a partitioned data set (see the module docstring).

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
    warnings: list[str] = []

    from calib.importers import load_experiment_data

    say(f"loading {exp.data_path if not exp.url else 'the database'}")
    if engine.partitioned is not None:
        from calib.distributed.partitions import read_whole

        # the steps that run here need the whole data set; the sweep and the fit's
        # examples run partition by partition
        ds = read_whole(engine.partitioned)
    else:
        ds = load_experiment_data(exp)  # a folder, an export through a preset, or SQL
    data = summarize(ds)
    warnings += list(ds.warnings)
    baseline = load_rules(exp.baseline)
    candidates = tuple(load_rules(c) for c in exp.candidates)
    all_outcomes = [o for o in outcome_names(ds) if o != "mql"]
    outcomes = tuple(o for o in (exp.outcomes or all_outcomes))
    missing = [o for o in outcomes if o not in all_outcomes]
    if missing:
        raise ConfigError(f"Outcome(s) {', '.join(missing)} of {exp.source} are not in the data "
                          f"(it has: {', '.join(all_outcomes) or 'none'}).",
                          code="unknown_outcome")
    primary = _primary(exp, list(outcomes))
    # the window: as the file sets it, else measured from the data (the delay from the
    # baseline's MQL to the primary outcome)
    window = resolve_window(ds, exp.window_days, [primary], rules=baseline)
    W = window.days
    if window.source in ("data", "default"):
        say(f"window: {window.sentence.replace('--window-days', 'window_days in the file')}")

    # ---- evaluation period
    start_test = None
    evaluation = "in sample (no train_until: the proposal is judged on the data it was tuned on)"
    if exp.train_until and not ds.snapshot:
        start_test = pd.Timestamp(exp.train_until)
        start_test = start_test.tz_localize("UTC") if start_test.tzinfo is None else start_test
        created = ds.leads["created_at"]
        n_train = int((created < start_test).sum())
        n_test = ds.n_leads - n_train
        if n_train < 100 or n_test < 100:
            raise ConfigError(f"train_until = {exp.train_until} in {exp.source} leaves {n_train} "
                              f"leads to learn from and {n_test} to evaluate on; both need at "
                              f"least 100.", code="out_of_range")
        evaluation = (f"out of time: tuned on leads created before {start_test.date()}, judged on "
                      f"the {n_test:,} leads created from then on")
    train_end = (start_test - pd.Timedelta(seconds=1)) if start_test is not None else None
    # Volumes per week are measured over the weeks leads arrived in: outcome dates after
    # the last lead (deals closing months later) must not dilute MQLs per week.
    intake_end = None if ds.snapshot else ds.leads["created_at"].max()

    # ---- sweep (on the training period)
    sw = None
    if exp.sweep:
        say(f"sweeping {np.prod([len(v) for v in exp.sweep.values()]):,} configurations")
        if engine.partitioned is not None:
            from calib import distributed

            sw = distributed.sweep(engine.partitioned, baseline, exp.sweep,
                                   scheduler=partition_backend(), window_days=W,
                                   end=train_end or intake_end, progress=False)
        else:
            sw = sweep(ds, baseline, exp.sweep, window_days=W, end=train_end or intake_end,
                       progress=None if progress is not None else False)

    # ---- a proposed rule set
    fit_res = simplification = None
    steps: list[str] = []
    proposed, source = None, "cutoff"
    if exp.fit:
        from calib.fit import fit as fit_rules

        say("fitting points, decay and cutoffs")
        opts = dict(exp.fit_options)
        points_step = opts.pop("points_step", 5)
        if engine.partitioned is not None:  # the examples are built per partition
            from calib.distributed import fit as fit_partitioned
            fit_rules = functools.partial(fit_partitioned, scheduler=partition_backend())
        bar = _bar("fitting the decay", "refit", enabled=progress is not None)
        try:
            fit_res = fit_rules(ds if engine.partitioned is None else engine.partitioned,
                                baseline, outcome=opts.pop("outcome", primary),
                                train_until=exp.train_until, window_days=W,
                                capacity_mql_per_week=exp.capacity_mql_per_week, seed=exp.seed,
                                progress=bar, **opts)
        finally:
            bar.close()
        proposed, source = fit_res.rules, "fit"
        steps.append(f"calib fit proposed '{proposed.name}' with "
                     f"{len(proposed.fit) + len(proposed.behavior)} rules and an MQL "
                     f"cutoff of {proposed.thresholds.mql:g} on the training leads")
        from calib.fit.simplify import simplify

        say("simplifying the fitted rule set")
        simplification = simplify(ds, fit_res, points_step=points_step, window_days=W,
                                  seed=exp.seed)
        proposed = simplification.rules
        steps.append(f"simplified to {simplification.n_rules} rules (points in steps of "
                     f"{simplification.points_step:g}; kept the {simplification.kept} set), "
                     f"MQL cutoff {proposed.thresholds.mql:g} for the same training volume")
    if proposed is None and sw is not None:
        best = sw.top(1, objective=f"{primary}_hits", capacity_per_week=exp.capacity_mql_per_week)
        if not best.empty:
            params = {p: best.iloc[0][p] for p in sw.params}
            params = {k: (v.item() if hasattr(v, "item") else v) for k, v in params.items()}
            proposed, source = baseline.with_params(params), "sweep"
    if proposed is None:
        say("tuning the cutoff")
        table = tradeoff_table(ds, baseline, baseline.name, window_days=W,
                               end=train_end or intake_end)
        cut = capacity_cutoff(table, exp.capacity_mql_per_week, baseline.thresholds.mql)
        proposed = baseline.with_params({"thresholds.mql": cut, **(
            {"thresholds.sql": None} if baseline.thresholds.sql is not None
            and baseline.thresholds.sql <= cut else {})})
    if exp.capacity_mql_per_week is not None and start_test is not None and source != "cutoff":
        proposed = _recent_capacity_cutoff(ds, proposed, exp.capacity_mql_per_week, train_end, W,
                                           say)
        steps.append(f"MQL cutoff set to {proposed.thresholds.mql:g} so the leads of the last "
                     f"{RECENT_WEEKS} weeks before the split fill the capacity of "
                     f"{exp.capacity_mql_per_week:g} MQLs per week")
    if proposed.name == baseline.name:
        d = proposed.to_dict()
        d["name"] = f"{baseline.name}-proposed"
        proposed = RuleSet.from_dict(d)
    proposed = canonical_order(baseline, proposed)

    # ---- recommendations: every change judged; held changes leave the package
    say("building recommendations")
    base_test = replay(ds, baseline, window_days=W, start=start_test, end=intake_end,
                       per_lead=True)
    recut = None
    if exp.capacity_mql_per_week is not None and start_test is not None and source != "cutoff":
        def recut(r):
            return canonical_order(baseline, _recent_capacity_cutoff(
                ds, r, exp.capacity_mql_per_week, train_end, W, lambda m: None))
    bar = _bar("judging changes", "change", enabled=progress is not None)
    try:
        recs = recommend(ds, baseline, proposed, base_test, primary=primary, outcomes=outcomes,
                         window_days=W, start=start_test, end=intake_end,
                         capacity_per_week=exp.capacity_mql_per_week, evaluation=evaluation,
                         seed=exp.seed, recut=recut, progress=change_progress or bar)
    finally:
        bar.close()
    if recs.rules is not None and recs.rules != proposed:
        steps.append(f"{len(recs.excluded)} change(s) that lower the {primary} rate on their "
                     f"own left out; MQL cutoff {recs.rules.thresholds.mql:g}")
        proposed = recs.rules
    steps.append(f"final rule set (proposed_rules.toml): {len(proposed.fit) + len(proposed.behavior)}"
                 f" rules, MQL cutoff {proposed.thresholds.mql:g}"
                 + (f", SQL cutoff {proposed.thresholds.sql:g}" if proposed.thresholds.sql
                    is not None else ", no SQL cutoff"))

    # ---- replays
    say("replaying rule sets")
    sets = {"baseline": baseline, "proposed": proposed}
    for c in candidates:
        sets[c.name if c.name not in sets else f"candidate-{c.name}"] = c
    replays = {k: replay(ds, r, window_days=W, end=intake_end, per_lead=True)
               for k, r in sets.items()}
    test_replays = ({k: (base_test if k == "baseline" else
                         replay(ds, r, window_days=W, start=start_test, end=intake_end,
                                per_lead=True))
                     for k, r in sets.items()} if start_test is not None else replays)

    say("threshold trade-off")
    tradeoff = pd.concat([tradeoff_table(ds, r, k, window_days=W, start=start_test, end=intake_end)
                          for k, r in sets.items() if k in ("baseline", "proposed")],
                         ignore_index=True)
    score_by_outcome = _score_by_outcome(ds, {k: test_replays[k] for k in ("baseline", "proposed")},
                                         outcomes)

    # ---- optional capabilities
    comparison = calibration = ab = calibration_check = None
    try:
        from calib.compare.paired import compare_rules
    except ImportError:
        compare_rules = None
    if compare_rules is not None:
        say("comparing baseline and proposal")
        comparison = compare_rules(ds, baseline, proposed, outcomes=outcomes, window_days=W,
                                   start=start_test, n_bootstrap=exp.bootstrap, seed=exp.seed)
    try:
        from calib.calibration import calibrate
    except ImportError:
        calibrate = None
    if calibrate is not None:
        say("calibrating the proposal")
        calibration = calibrate(ds, proposed, outcome=primary, window_days=W,
                                train_until=exp.train_until)
        if start_test is not None:
            from calib.calibration.large import recalibrate_recent

            say("checking calibration in the large, out of time")
            try:
                calibration_check = recalibrate_recent(ds, proposed, outcome=primary,
                                                       window_days=W,
                                                       train_until=exp.train_until,
                                                       seed=exp.seed)
            except CalibError as e:  # too few snapshots: the report says so, the run goes on
                warnings.append(f"Calibration in the large was not checked: {e}")
    if exp.abtest is not None:
        try:
            from calib.abtest.live import abtest
        except ImportError:
            abtest = None
            warnings.append("The experiment asks for a live A/B analysis, which this version of "
                            "calib cannot do yet.")
        if abtest is not None:
            say("analysing the live test")
            ab = _abtest(abtest, ds, exp, W, outcomes)

    refinement = None
    if exp.refine is not None:
        say("checking the last review: history, drift, speed to lead, sales feedback")
        from calib.refine import load_previous, refine

        refinement = refine(ds, baseline, primary=primary, window_days=W, config=exp.refine,
                            history=exp.history,
                            previous=load_previous(exp.previous) if exp.previous else None)

    explorer = None
    if not ds.snapshot:
        from calib.explorer import explorer_grid

        say("precomputing the what-if explorer")
        explorer = explorer_grid(
            ds, baseline, proposed, primary=primary, window_days=W, start=start_test,
            end=intake_end, capacity_per_week=recs.capacity_per_week, evaluation=evaluation,
            replays={"current": test_replays["baseline"], "proposed": test_replays["proposed"]},
            changes=[c.what for c in recs.changes], sweep_grid=exp.sweep, n_boot=N_BOOT,
            seed=exp.seed)

    import matplotlib
    import numba
    import scipy
    import statsmodels

    provenance = {
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
    return ExperimentResult(
        experiment=exp, data=data, outcomes=outcomes, primary=primary, baseline=baseline,
        proposed=proposed, proposed_source=source, candidates=candidates, replays=replays,
        test_replays=test_replays, evaluation=evaluation, tradeoff=tradeoff,
        score_by_outcome=score_by_outcome, recommendations=recs, sweep=sw, fit=fit_res,
        calibration=calibration, comparison=comparison, abtest=ab, explorer=explorer,
        provenance=provenance,
        warnings=tuple(warnings), simplification=simplification, proposal_steps=tuple(steps),
        calibration_check=calibration_check, refinement=refinement, window=window.to_dict(),
    )
