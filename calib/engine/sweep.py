"""Sweeps: replay every combination of a grid of rule-set parameters, sharing work.

Configurations are grouped so that each piece of work is done once:

1. rule *structure* (which events count, ``max_per_day``): events are matched once;
2. *decay* setting: per-rule decayed counts are computed once (the compiled pass);
3. *points, caps, limits*: scores at every evaluation point, the fit points and the
   behaviour rules before the first one whose points or cap differ computed once;
4. *cutoffs* (``mql``, ``sql``, ``mql_min_fit``): all answered from one pass over
   each lead's running maximum.

With no decay or an exponential one, steps 2 to 4 are compiled passes over the events
(:func:`calib.engine.replay.variant_crossings`, the replay's own pass): the score
settings that differ only in the points of uncapped rules are variants of one pass (up
to ``FAMILY_SIZE`` at once: the events are read and decayed once for all of them), with
each lead's fit and each event's points kept for the settings that share them, followed
by one compiled count of every cutoff (:func:`calib.engine.kernels.cutoff_counts`);
both release the GIL, so up to four passes are scored and counted at once on the
machine's cores.

Leads are processed in partitions; each gives additive statistics per configuration.
"""

from __future__ import annotations

import itertools
import math
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from calib.data.dataset import Dataset, lead_slices, ns
from calib.engine.prepare import check_event_types, prepare
from calib.engine.kernels import cutoff_counts
from calib.engine.replay import (NEVER, PARTITION_LEADS, TOL, add_behaviour, clip_to_limits,
                                 combine_scores, covered_mask, fit_scores,
                                 first_outcome_times, in_order, one_pass, setup_period,
                                 stage_crossings, variant_crossings, variant_key)
from calib.engine.results import OutcomeCounts, ReplayResult, ReplayStats, StageCounts
from calib.errors import CalibError, ConfigError
from calib.rules.config import RuleSet
from calib.rules.io import read_toml

if TYPE_CHECKING:
    from calib.engine.config import SweepConfig

FAMILY_SIZE = 8      # configurations scored in one pass at most (memory: 8 bytes per
                     # lead, cutoff and configuration)
FAMILY_VARYING = 4   # rules whose points differ within one pass at most (8 bytes per
                     # event and rule)
THRESHOLD_PATHS = ("thresholds.mql", "thresholds.sql", "thresholds.mql_min_fit")
MAX_CONFIGS = 200_000


def load_grid(path) -> SweepConfig:
    """Read a grid TOML file (what ``calib sweep --grid`` reads).

    Parameters
    ----------
    path : str or PathLike
        The file, e.g. ``"thresholds.mql" = [40, 50, 60]``.

    Returns
    -------
    SweepConfig
        Parameter path -> list of values, checked as an experiment file's ``[sweep]``
        table is.

    Examples
    --------
    >>> load_grid("calib-demo/grid.toml")["thresholds.mql"][:3]
    [65, 75, 85]
    """
    from calib.engine.config import SweepConfig

    return SweepConfig.from_dict(read_toml(path, what="grid file"), source=str(path))


def check_grid(d: dict, source: str | None = None) -> dict[str, list]:
    """Check a grid: non-empty lists of distinct finite values, at most ``MAX_CONFIGS``
    combinations; nested tables are flattened to dotted paths.

    Parameters
    ----------
    d : dict
        The grid as read from TOML.
    source : str, optional
        Its file, for error messages.

    Returns
    -------
    dict
        Parameter path -> list of values.

    Raises
    ------
    ConfigError
        For an empty grid, an empty, repeated or non-finite entry, or too many
        combinations.

    Examples
    --------
    >>> check_grid({"thresholds": {"mql": [40, 50]}, "decay.half_life_days": [14]})
    {'thresholds.mql': [40, 50], 'decay.half_life_days': [14]}
    """
    where = f" in {source}" if source else ""
    if not d:
        raise ConfigError(f"The grid{where} is empty.", code="empty_grid",
                          suggestion='Write e.g. "thresholds.mql" = [40, 50, 60].')
    grid = {}
    for key, values in _flatten(d).items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"The grid entry '{key}'{where} must be a non-empty list of "
                              f"values. Got {values!r}.", code="wrong_type")
        bad = [v for v in values if isinstance(v, float) and not math.isfinite(v)]
        if bad:
            raise ConfigError(f"The grid entry '{key}'{where} holds {bad[0]!r}; grid values "
                              f"must be finite numbers or names.", code="wrong_type")
        if len(set(map(repr, values))) != len(values):
            raise ConfigError(f"The grid entry '{key}'{where} repeats a value.",
                              code="duplicate_value")
        grid[key] = values
    n = math.prod(len(v) for v in grid.values())
    if n > MAX_CONFIGS:
        raise ConfigError(f"The grid{where} has {n:,} combinations; calib sweeps at most "
                          f"{MAX_CONFIGS:,} at once.", code="grid_too_large",
                          suggestion="Sweep in stages: coarse first, then finer near the best.")
    return grid


def _flatten(d: dict, prefix: str = "") -> dict:
    """Accept both ``"thresholds.mql" = [...]`` and ``[thresholds] mql = [...]``."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


@dataclass(frozen=True)
class SweepResult:
    """One row per configuration of the grid (SPEC section 4 columns)."""

    rules: str
    params: tuple[str, ...]
    frame: pd.DataFrame
    outcomes: tuple[str, ...]
    stats: tuple  # ReplayStats per row
    skipped: int = 0
    warnings: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """A copy of the rows (SPEC section 4 columns)."""
        return self.frame.copy()

    @property
    def default_objective(self) -> str:
        """Hits of the first sales outcome after the MQL (meeting, sql, opportunity, won)."""
        for o in ("meeting", "sql", "opportunity", "won"):
            if o in self.outcomes:
                return f"{o}_hits"
        return f"{self.outcomes[0]}_hits" if self.outcomes else "mql_count"

    def top(self, n: int = 10, *, objective: str | None = None,
            capacity_mql_per_week: float | None = None) -> pd.DataFrame:
        """The ``n`` best rows by ``objective`` among those within a capacity.

        Parameters
        ----------
        n : int, default 10
            Rows returned.
        objective : str, optional
            A column to rank by (default :attr:`default_objective`).
        capacity_mql_per_week : float, optional
            Keep only rows with at most this many MQLs per week.

        Returns
        -------
        DataFrame
        """
        f = self.frame
        if objective is None:
            objective = self.default_objective
        if objective not in f.columns:
            raise CalibError(f"Unknown objective '{objective}'.", code="unknown_key",
                             suggestion=f"Columns: {', '.join(c for c in f.columns if c not in self.params)}.")
        if capacity_mql_per_week is not None:
            if f["mql_per_week"].isna().all():
                raise CalibError("A capacity needs MQLs per week, which a snapshot data set "
                                 "does not have.", code="snapshot")
            f = f[f["mql_per_week"] <= capacity_mql_per_week]
        return f.sort_values(objective, ascending=False, kind="stable").head(n)

    def to_dict(self) -> dict:
        """Every row and the sweep's facts as ``calib sweep --json`` prints them."""
        rows = self.frame.astype(object).where(self.frame.notna(), None).to_dict("records")
        return {"rules": self.rules, "params": list(self.params), "configurations": len(rows),
                "skipped": self.skipped, "outcomes": list(self.outcomes), "rows": rows,
                "warnings": list(self.warnings)}

    def summary(self, n: int = 10) -> str:
        """The sweep's size and its ``n`` best rows, as text.

        Parameters
        ----------
        n : int, default 10
            Rows shown.

        Returns
        -------
        str
        """
        lines = [f"Sweep of '{self.rules}': {len(self.frame):,} configurations over "
                 f"{', '.join(self.params)}"]
        if self.skipped:
            lines.append(f"  ({self.skipped} invalid combinations skipped, e.g. sql <= mql)")
        cols = list(self.params) + ["mql_count", "mql_per_week"]
        for o in self.outcomes[:3]:
            cols += [f"{o}_hits", f"{o}_rate"]
        lines.append(self.top(n)[cols].to_string(index=False, float_format=lambda x: f"{x:.4g}"))
        return "\n".join(lines)


def _decay_key(rs: RuleSet):
    return rs.decay


def _structure_key(rs: RuleSet):
    return tuple(r.max_per_day for r in rs.behavior)


def _score_key(rs: RuleSet):
    return (tuple((r.points, r.cap) for r in rs.behavior), tuple(r.points for r in rs.fit),
            rs.limits)


@dataclass(frozen=True)
class SweepPlan:
    """The configurations of a grid and how they share work (no data involved).

    ``configs`` holds one ``(row values, rule-set key, thresholds)`` per row;
    ``groups`` maps structure -> decay -> score key -> config indices.
    """

    params: tuple[str, ...]
    configs: tuple
    rulesets: dict
    groups: dict
    skipped: int

    @property
    def with_sql(self) -> bool:
        """Whether any configuration has an SQL cutoff."""
        return any(th["sql"] is not None for _, _, th in self.configs)

    @property
    def steps(self) -> int:
        """Score computations per partition (for progress bars)."""
        return sum(len(g) for s in self.groups.values() for g in s.values())


def plan_sweep(rules: RuleSet, grid: dict) -> SweepPlan:
    """Check a grid against a rule set and group its combinations (see the module
    docstring).

    Parameters
    ----------
    rules : RuleSet
        The base rule set.
    grid : dict
        Parameter path -> list of values.

    Returns
    -------
    SweepPlan

    Raises
    ------
    ConfigError
        For a bad grid, or when every combination is invalid.

    Examples
    --------
    >>> from calib import load_rules
    >>> plan = plan_sweep(load_rules("calib-demo/current.toml"),
    ...                   {"thresholds.mql": [75, 85], "decay.kind": ["exponential"],
    ...                    "decay.half_life_days": [14, 30]})
    >>> len(plan.configs), plan.steps  # one score per decay answers both cutoffs
    (4, 2)
    """
    grid = check_grid(dict(grid))
    params = tuple(grid)
    combos = list(itertools.product(*grid.values()))
    # Build one rule set per combination of non-threshold parameters.
    other = [p for p in params if p not in THRESHOLD_PATHS]
    rulesets: dict[tuple, RuleSet] = {}
    configs = []  # (row params, base ruleset key, thresholds)
    skipped = 0
    for combo in combos:
        values = dict(zip(params, combo))
        key = tuple(values[p] for p in other)
        if key not in rulesets:
            try:
                rulesets[key] = rules.with_params({p: values[p] for p in other})
            except ConfigError as e:
                if e.code in ("unknown_key", "wrong_type") and not _applies_to_other_kind(e):
                    raise
                rulesets[key] = None
        base = rulesets[key]
        th = {"mql": rules.thresholds.mql, "sql": rules.thresholds.sql,
              "mql_min_fit": rules.thresholds.mql_min_fit}
        for p in THRESHOLD_PATHS:
            if p in values:
                th[p.split(".")[1]] = values[p]
        for k, v in th.items():
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise ConfigError(f"The grid values of 'thresholds.{k}' must be numbers. "
                                  f"Got {v!r}.", code="wrong_type")
        if base is None or (th["sql"] is not None and th["sql"] <= th["mql"]):
            skipped += 1
            continue
        configs.append((values, key, th))
    if not configs:
        raise ConfigError("Every combination of the grid is invalid (e.g. sql <= mql).",
                          code="empty_grid")
    # group: structure -> decay -> score key -> [config indices]
    groups: dict = {}
    for i, (_, key, _) in enumerate(configs):
        rs = rulesets[key]
        groups.setdefault(_structure_key(rs), {}).setdefault(_decay_key(rs), {}) \
            .setdefault(_score_key(rs), []).append(i)
    return SweepPlan(params=params, configs=tuple(configs), rulesets=rulesets, groups=groups,
                     skipped=skipped)


def sweep_stats(part: Dataset, plan: SweepPlan, names, window_ns: int, end_ns: int,
                tol: float = TOL, step=None) -> list[ReplayStats]:
    """Additive statistics of every configuration of ``plan`` on one partition of leads.

    As :func:`calib.engine.replay.replay_stats`: every lead of ``part`` is counted and
    the whole data set's facts (``names``, ``end_ns``) are arguments.

    Parameters
    ----------
    part, names, window_ns, end_ns, tol
        As :func:`calib.engine.replay.replay_stats`.
    plan : SweepPlan
        From :func:`plan_sweep`.
    step : callable, optional
        Called after each score computation (progress).

    Returns
    -------
    list of ReplayStats
        One per configuration of ``plan``.

    Examples
    --------
    >>> from calib import load_dataset, load_rules
    >>> from calib.engine.replay import setup_period
    >>> ds, rules = load_dataset("calib-demo/data"), load_rules("calib-demo/current.toml")
    >>> part, _, names, window_ns, end_ns = setup_period(ds, None, None, 90)
    >>> plan = plan_sweep(rules, {"thresholds.mql": [60, 70]})
    >>> [s.mql.count >= 0 for s in sweep_stats(part, plan, names, window_ns, end_ns)]
    [True, True]
    """
    configs, rulesets = plan.configs, plan.rulesets
    out: list[ReplayStats | None] = [None] * len(configs)
    ctx = _Counting(part, names, window_ns, end_ns)
    for struct, decays in plan.groups.items():
        first_idx = next(iter(next(iter(decays.values())).values()))[0]
        prep = prepare(part, rulesets[configs[first_idx][1]])
        stored, passes = [], []  # (decay, scores) kept apart from the one-pass scores
        for decay, scores in decays.items():
            rs_of = [(rulesets[configs[idxs[0]][1]], idxs) for idxs in scores.values()]
            (passes.extend(_families(rs_of)) if one_pass(prep, rs_of[0][0]) else
             stored.append((decay, rs_of)))
        for family, counted in _in_threads(prep, passes, configs, ctx, tol):
            for (_, idxs), c in zip(family, counted):
                ctx.add(c, [configs[i][2] for i in idxs], idxs, out)
                if step is not None:
                    step()
        for decay, rs_of in stored:
            shared = _SharedScores(prep.decayed(decay), prep, [rs for rs, _ in rs_of])
            for rs, idxs in rs_of:
                ths = [configs[i][2] for i in idxs]
                counted = ctx.count(prep, ths, lambda cutoffs, min_fit, rs=rs:
                                    shared.crossings(rs, cutoffs, min_fit, tol))
                ctx.add(counted, ths, idxs, out)
                if step is not None:
                    step()
    return out


def _every_cutoff(ths) -> list:
    """The distinct cutoffs of some configurations' thresholds, ascending."""
    return sorted({v for th in ths for v in (th["mql"], th["sql"]) if v is not None})


def _families(rs_of: list, size: int = FAMILY_SIZE, most_varying: int = FAMILY_VARYING
              ) -> list:
    """The (rule set, config indices) of one decay in families scored in one pass
    (:func:`~calib.engine.replay.variant_crossings`): rule sets that differ only in
    the points of uncapped rules, at most ``size`` together and in at most
    ``most_varying`` rules (each one is a column of 8 bytes per event), else alone."""
    by_key: dict = {}
    for item in rs_of:
        by_key.setdefault(variant_key(item[0]), []).append(item)
    out = []
    for items in by_key.values():
        for family in (items[i:i + size] for i in range(0, len(items), size)):
            points = {tuple(r.points for r in rs.behavior) for rs, _ in family}
            varying = sum(len({p[r] for p in points}) > 1 for r in range(len(next(iter(points)))))
            out += [family] if varying <= most_varying else [[item] for item in family]
    return out


def _in_threads(prep, families: list, configs, ctx, tol):
    """Yield each family of (rule set, config indices) of ``families`` with the counts
    (:meth:`_Counting.count`) of each member's cutoffs, in order; the compiled passes
    and counts (which release the GIL) of several families run at once on the
    machine's cores (:func:`~calib.engine.replay.in_order`)."""

    def counted(family):
        every = _every_cutoff([configs[i][2] for _, idxs in family for i in idxs])
        (crosses, _), fit = variant_crossings(prep, [rs for rs, _ in family], every, tol)
        out = []
        for (_, idxs), cross in zip(family, crosses):
            def cross_of(cutoffs, min_fit, cross=cross):
                if cutoffs == every and min_fit is None:
                    return cross
                c = cross[:, [every.index(v) for v in cutoffs]]
                if min_fit is not None:
                    c[fit < min_fit - tol] = -1
                return c

            out.append(ctx.count(prep, [configs[i][2] for i in idxs], cross_of))
        return out

    yield from in_order(counted, families, None if len(families) > 1 else 1)


class _Counting:
    """What counting the configurations of one partition needs, and the counting: every
    cutoff of a score is counted once (:func:`~calib.engine.kernels.cutoff_counts`),
    and each configuration's statistics are read from its cutoffs' counts. They equal
    :func:`calib.engine.replay.stats_for`'s: statuses are classified for the MQLs only
    (the other leads' status is "none", which no count includes)."""

    def __init__(self, part: Dataset, names, window_ns: int, end_ns: int):
        otimes = first_outcome_times(part, names)
        self.names, self.n_leads, self.snapshot = list(names), part.n_leads, part.snapshot
        self.otimes = (np.stack([otimes[x] for x in self.names]) if self.names
                       else np.zeros((0, part.n_leads), np.int64))
        self.occurred = [int((o != NEVER).sum()) for o in self.otimes]
        self.covered = covered_mask(otimes, part.n_leads)
        self.created = (ns(part.leads["created_at"]) if not part.snapshot
                        else np.zeros(part.n_leads, np.int64))
        self.window_ns, self.end_ns = int(window_ns), int(end_ns)

    def count(self, prep, ths, cross_of) -> dict:
        """Per ``mql_min_fit`` of the configurations ``ths`` (their thresholds): its
        cutoffs, their counts and days; ``cross_of(cutoffs, min_fit)`` gives the
        crossings of the leads allowed to reach them."""
        by_min_fit: dict = {}
        for th in ths:
            by_min_fit.setdefault(th["mql_min_fit"], []).append(th)
        res = {}
        for min_fit, items in by_min_fit.items():
            cutoffs = _every_cutoff(items)
            cross = np.ascontiguousarray(cross_of(cutoffs, min_fit))
            counts = np.empty((len(cutoffs), 2 + 4 * len(self.names)), dtype=np.int64)
            days = np.empty((len(cutoffs), 0 if self.snapshot else self.n_leads))
            cutoff_counts(cross, prep.eval_t, self.created, self.otimes, self.covered,
                          self.window_ns, self.end_ns, self.snapshot, counts, days)
            res[min_fit] = (cutoffs, counts, days)
        return res

    def add(self, counted: dict, ths, idxs, totals: list) -> None:
        """Add the statistics of the configurations ``idxs`` (thresholds ``ths``) to
        ``totals`` from :meth:`count`'s ``counted``."""
        stages: dict = {}  # a cutoff's StageCounts, shared by every config using it
        for th, i in zip(ths, idxs):
            cutoffs, counts, days = counted[th["mql_min_fit"]]
            mql, c = self._stage(stages, th["mql_min_fit"], cutoffs, counts, days, th["mql"])
            sql = (None if th["sql"] is None else
                   self._stage(stages, th["mql_min_fit"], cutoffs, counts, days, th["sql"])[0])
            row = counts[c].tolist()
            outcomes = {x: OutcomeCounts(hits=row[2 + 4 * j], late=row[3 + 4 * j],
                                         misses=row[4 + 4 * j], immature=row[5 + 4 * j],
                                         occurred=self.occurred[j])
                        for j, x in enumerate(self.names)}
            stats = ReplayStats(leads=self.n_leads, mql=mql, sql=sql, covered=row[1],
                                outcomes=outcomes)
            totals[i] = stats if totals[i] is None else totals[i] + stats

    def _stage(self, stages, min_fit, cutoffs, counts, days, cutoff) -> tuple:
        """(StageCounts, column) of a cutoff, made once."""
        key = (min_fit, cutoff)
        if key not in stages:
            c = cutoffs.index(cutoff)
            n = int(counts[c, 0])
            stages[key] = (StageCounts(n, days[c, :n].copy() if not self.snapshot
                                       else np.zeros(0)), c)
        return stages[key]


def sweep(ds: Dataset, rules: RuleSet, grid: dict, *, window_days: float = 90, start=None,
          end=None, partition_leads: int = PARTITION_LEADS, tol: float = TOL,
          progress: bool | None = None) -> SweepResult:
    """Replay every combination of ``grid`` (parameter path -> values) on ``ds``.

    Every row equals :func:`calib.replay` of that configuration.

    Parameters
    ----------
    ds : Dataset
        From :func:`calib.load_dataset`.
    rules : RuleSet
        The base rule set.
    grid : dict
        Parameter path -> list of values.
    window_days : float, default 90
        The attribution window.
    start, end : str or Timestamp, optional
        Count only leads created in [start, end].
    partition_leads : int, default PARTITION_LEADS
        Leads scored at once (memory against speed).
    tol : float, default TOL
        A score within ``tol`` below a cutoff reaches it.
    progress : bool, optional
        Show a progress bar (default: when stderr is a terminal).

    Returns
    -------
    SweepResult
        One row per configuration of the grid, with the same counts and rates a replay
        of that configuration gives.

    Examples
    --------
    >>> from calib import load_dataset, load_rules, sweep
    >>> res = sweep(load_dataset("calib-demo/data"), load_rules("calib-demo/current.toml"),
    ...             {"thresholds.mql": [75, 85, 95], "decay.kind": ["exponential"],
    ...              "decay.half_life_days": [14, 30]}, window_days=90)
    >>> len(res.frame)
    6
    >>> best = res.top(3, objective="meeting_hits", capacity_mql_per_week=60)
    >>> best[["thresholds.mql", "decay.half_life_days", "mql_count", "meeting_hits"]]
       thresholds.mql  decay.half_life_days  mql_count  meeting_hits
    1              75                    30        243           106
    0              75                    14        146            75
    3              85                    30        161            70
    """
    plan = plan_sweep(rules, grid)

    msgs = tuple(check_event_types(ds, rules))
    ds, period, names, window_ns, end_ns = setup_period(ds, start, end, window_days)

    n_parts = max(1, math.ceil(ds.n_leads / partition_leads))
    bar = _progress(n_parts * plan.steps, progress)
    totals: list[ReplayStats | None] = [None] * len(plan.configs)
    for lo, part in lead_slices(ds, partition_leads):
        part_stats = sweep_stats(part, plan, names, window_ns, end_ns, tol,
                                 step=lambda: bar.update(1))
        totals = add_stats(totals, part_stats)
    bar.close()
    return sweep_result(rules, plan, totals, period, ds.snapshot, names, msgs)


def add_stats(totals: list, more: list) -> list:
    """Element-wise sum of two lists of per-configuration statistics.

    Parameters
    ----------
    totals, more : list
        ``ReplayStats`` or ``None`` (nothing yet) per configuration.

    Returns
    -------
    list

    Examples
    --------
    >>> add_stats([None, 1], [2, 3])
    [2, 4]
    """
    return [b if a is None else a if b is None else a + b for a, b in zip(totals, more)]


def sweep_result(rules: RuleSet, plan: SweepPlan, totals: list, period, snapshot: bool,
                 names, warnings=()) -> SweepResult:
    """The result of a sweep from its summed statistics.

    Parameters
    ----------
    rules : RuleSet
        The base rule set.
    plan : SweepPlan
        The plan ``totals`` follow.
    totals : list of ReplayStats
        One per configuration of ``plan``.
    period : Period
        The replay period.
    snapshot : bool
        Undated data.
    names : list of str
        Every outcome of the data.
    warnings : sequence of str, optional
        Warnings to keep.

    Returns
    -------
    SweepResult

    Examples
    --------
    >>> import calib
    >>> from calib.engine.replay import setup_period
    >>> ds = calib.load_dataset("calib-demo/data")
    >>> rules = calib.load_rules("calib-demo/current.toml")
    >>> part, period, names, window_ns, end_ns = setup_period(ds, None, None, 90)
    >>> plan = plan_sweep(rules, {"thresholds.mql": [60, 70]})
    >>> totals = sweep_stats(part, plan, names, window_ns, end_ns)
    >>> len(sweep_result(rules, plan, totals, period, ds.snapshot, names).frame)
    2
    """
    frame = _frame(plan.configs, plan.params, totals, period, snapshot, names, plan.with_sql)
    return SweepResult(rules=rules.name, params=plan.params, frame=frame, outcomes=tuple(names),
                       stats=tuple(totals), skipped=plan.skipped, warnings=tuple(warnings))


def _applies_to_other_kind(e: ConfigError) -> bool:
    return "does not apply to kind" in e.message


class _SharedScores:
    """:func:`calib.engine.replay.combine_scores` for the score settings of one decay
    that is not scored in one pass (:func:`calib.engine.replay.one_pass`), with the
    part they share computed once: the fit points of every lead and the behaviour rules
    before the first one whose points or cap differ (a sweep over one rule's points).
    Each score then adds the remaining rules in the same order, so it is bit for bit
    the score ``combine_scores`` gives."""

    def __init__(self, d: np.ndarray, prep, rulesets: list):
        self.d, self.prep = d, prep
        fits = {tuple(r.points for r in rs.fit) for rs in rulesets}
        behav = [tuple((r.points, r.cap) for r in rs.behavior) for rs in rulesets]
        self.shared = len(rulesets) > 1 and len(fits) == 1 and len({len(b) for b in behav}) == 1
        n = 0
        while self.shared and n < len(behav[0]) and len({b[n] for b in behav}) == 1:
            n += 1
        self.n, self.base, self.fit = n, None, None

    def combine(self, rules: RuleSet) -> tuple[np.ndarray, np.ndarray]:
        if not self.shared:
            return combine_scores(self.d, self.prep, rules)
        if self.base is None:
            self.fit = fit_scores(self.prep, rules)
            self.base = add_behaviour(self.fit[self.prep.eval_lead], self.d, rules, 0,
                                      end=self.n)
        score = add_behaviour(self.base.copy(), self.d, rules, self.n)
        return clip_to_limits(score, rules), self.fit

    def crossings(self, rules: RuleSet, cutoffs, min_fit, tol) -> np.ndarray:
        score, fit = self.combine(rules)
        return stage_crossings(self.prep, score, fit, cutoffs, min_fit, tol)


def _frame(configs, params, totals, period, snapshot, names, with_sql) -> pd.DataFrame:
    rows = []
    for (values, _, _), st in zip(configs, totals):
        res = ReplayResult(rules="", stats=st, period=period, window_days=0, snapshot=snapshot)
        d = res.to_dict()
        row = {p: values[p] for p in params}
        row["mql_count"] = d["mql"]["count"]
        row["mql_per_week"] = d["mql"]["per_week"]
        row["median_days_to_mql"] = d["mql"]["median_days_to_mql"]
        if with_sql:
            row["sql_count"] = d["sql"]["count"] if d["sql"] else None
            row["sql_per_week"] = d["sql"]["per_week"] if d["sql"] else None
        row["coverage"] = d["coverage"]
        for x in names:
            o = d["outcomes"][x]
            row[f"{x}_hits"] = o["hits"]
            row[f"{x}_rate"] = o["rate"]
            row[f"{x}_ci_low"] = o["ci_low"]
            row[f"{x}_ci_high"] = o["ci_high"]
            row[f"{x}_recall"] = o["recall"]
            row[f"{x}_late"] = o["late"]
            row[f"{x}_misses"] = o["misses"]
            row[f"{x}_immature"] = o["immature"]
        rows.append(row)
    return pd.DataFrame(rows)


class _NoBar:
    """A progress bar that shows nothing (without importing tqdm)."""

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, progress: bool | None):
    if (progress is False) or (progress is None and not sys.stderr.isatty()):
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="sweep", unit="step", file=sys.stderr, delay=2, leave=False)
