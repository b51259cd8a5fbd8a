"""What the what-if explorer shows, precomputed: every setting of a grid around the
current and the proposed rule set, with volume, rate and outcomes per week.

The grid crosses

* the *points*: the current rule set's or the proposal's (every other rule),
* the *decay*: the current one, the proposed one and exponential half-lives,
* the MQL cutoff (whole numbers around both cutoffs) and the minimum fit for an MQL,
* the points of the few rules the recommendation changes most (their current and their
  proposed points),

and is replayed with :func:`calib.engine.sweep.sweep` (one sweep per points and decay
kind; the sweep shares the work between cutoffs, fits and points). Every grid point gets
the sweep's figures: MQLs per week, the primary outcome's rate per MQL on recorded
outcomes with its Wilson interval, and outcomes per week within capacity.

The *report's basis* (the rates corrected for selective labels when the data has an
exploration holdout, intervals from a seeded bootstrap over leads with the weights of
:func:`calib.pipeline.recommend.paired_effect`) is computed for a documented subset:
every cutoff at the current setting and at the proposed setting. There the explorer
shows the report's numbers; elsewhere it shows the sweep's and says so.

The fit x engagement grid puts the leads of the evaluation period in cells of fit band x
engagement band (bands from the rule set's own points, see :func:`band_edges`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from calib.data import Dataset
from calib.data.dataset import lead_slices, ns
from calib.engine.prepare import prepare
from calib.engine.replay import (
    NEVER,
    PARTITION_LEADS,
    TOL,
    combine_scores,
    covered_mask,
    first_outcome_times,
    setup_period,
    stage_crossings,
    stats_for,
)
from calib.engine.results import ReplayResult
from calib.engine.sweep import SweepPlan, add_stats, plan_sweep, sweep_stats
from calib.fit.selection import (CORRECTION_KEYS, SelectionLabels, corrected_rate,
                                 outcome_indicators)
from calib.rules import RuleSet
from calib.rules.changes import decay_text
from calib.stats import proportion_ci

HALF_LIVES = (7.0, 14.0, 30.0, 60.0)
MAX_CUTOFFS = 30
MAX_HALF_LIVES = 5
N_RULES = 2
SUBSET_NOTE = ("Intervals on the report's basis are computed for every cutoff at the current "
               "and at the proposed setting; elsewhere the page shows the sweep's figures on "
               "recorded outcomes (Wilson interval of the rate), with no interpolation.")


@dataclass(frozen=True)
class ExplorerData:
    """Every grid point of the explorer with its figures (``frame``), the controls,
    the two fixed settings and the fit x engagement cells.

    ``frame`` columns: ``points``, ``decay``, ``cutoff``, ``min_fit``, one per varied
    rule (its points), then ``mql_per_week``, ``rate``, ``hits_per_week`` with
    ``*_low``/``*_high`` 95% intervals (NaN where none), ``basis`` ("report" or
    "sweep"), ``recorded_rate`` (the sweep's) and ``sentence``.
    """

    primary: str
    capacity_mql_per_week: float | None
    window_days: float
    evaluation: str
    basis: str  # how the report-basis rates are computed
    frame: pd.DataFrame
    controls: dict  # name -> list of values (labels for points/decay/min_fit)
    current: dict  # control -> value of the current setting
    proposed: dict  # control -> value of the proposed setting
    rules: tuple  # (path, label) of the varied rules' points
    cells: pd.DataFrame  # fit x engagement cells, per points setting
    fit_edges: dict  # points -> (lower edges of the fit bands)
    engagement_edges: dict  # points -> (lower edges of the engagement bands)
    sweeps: tuple = field(default=(), repr=False)  # (points, decay, RuleSet, grid) per sweep
    start: object = None  # the evaluation period, as given to calib.sweep
    end: object = None
    n_boot: int = 400
    seed: int = 0
    note: str = SUBSET_NOTE

    def to_frame(self) -> pd.DataFrame:
        """Every grid point with its figures (a copy of ``frame``)."""
        return self.frame.copy()

    def to_dict(self) -> dict:
        """Everything as JSON values (open band edges and missing values as None)."""
        def rows(f):
            f = f.replace([np.inf, -np.inf], np.nan)
            return f.astype(object).where(f.notna(), None).to_dict("records")
        def edges(v):
            return [None if not np.isfinite(x) else x for x in v]
        return {"primary": self.primary, "capacity_mql_per_week": self.capacity_mql_per_week,
                "window_days": self.window_days, "evaluation": self.evaluation,
                "basis": self.basis, "note": self.note, "controls": self.controls,
                "current": self.current, "proposed": self.proposed,
                "rules": [list(r) for r in self.rules], "n_boot": self.n_boot,
                "seed": self.seed, "start": None if self.start is None else str(self.start),
                "end": None if self.end is None else str(self.end), "rows": rows(self.frame), "cells": rows(self.cells),
                "fit_edges": {k: edges(v) for k, v in self.fit_edges.items()},
                "engagement_edges": {k: edges(v) for k, v in self.engagement_edges.items()}}

    def summary(self) -> str:
        """One line: the settings, the primary outcome and how many are on the report's
        basis."""
        return (f"What-if explorer: {len(self.frame):,} settings of {', '.join(self.controls)}; "
                f"primary outcome {self.primary}; {int((self.frame['basis'] == 'report').sum())}"
                f" on the report's basis ({self.basis})")

    def row(self, setting: dict) -> pd.Series:
        """The grid point of a setting (control -> value)."""
        f = self.frame
        m = np.ones(len(f), bool)
        for k, v in setting.items():
            m &= (f[k] == v).to_numpy()
        if m.sum() != 1:
            raise KeyError(f"{m.sum()} grid points match {setting}")
        return f[m].iloc[0]


# ----------------------------------------------------------------------------- the grid
def cutoff_values(current: float, proposed: float, extra=()) -> list[float]:
    """Whole-number cutoffs from half the lower to 1.5 times the higher of the two, in a
    round step (at most ``MAX_CUTOFFS``), plus both cutoffs and ``extra`` values.

    Parameters
    ----------
    current, proposed : float
        The two rule sets' MQL cutoffs.
    extra : sequence of float
        More cutoffs to include (e.g. the experiment's sweep grid).

    Returns
    -------
    list of float
        Sorted.

    Examples
    --------
    >>> cutoff_values(40, 50)
    [20.0, 22.0, 24.0, 26.0, 28.0, 30.0, 32.0, 34.0, 36.0, 38.0, 40.0, 42.0, 44.0, 46.0, 48.0, 50.0, 52.0, 54.0, 56.0, 58.0, 60.0, 62.0, 64.0, 66.0, 68.0, 70.0, 72.0, 74.0]
    """
    lo = math.floor(0.5 * min(current, proposed, *extra))
    hi = math.ceil(1.5 * max(current, proposed, *extra))
    step = next(s for s in (1, 2, 5, 10, 20, 25, 50, 100, 200, 500, 1000, 10_000)
                if (hi - lo) / s <= MAX_CUTOFFS - 2) if hi > lo else 1
    vals = {float(v) for v in range(int(math.ceil(lo / step) * step), hi + 1, step)}
    return sorted(vals | {float(current), float(proposed)} | {float(v) for v in extra})


def band_edges(rules: RuleSet) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Lower edges of the fit bands C, B, A and the engagement bands 1, 2, 3.

    Fit bands split the rule set's highest attainable fit score (its positive fit points,
    one rule per field counted at its largest) in thirds; engagement bands split the MQL
    cutoff in thirds, so a lead at the top of both is well above it.

    Parameters
    ----------
    rules : RuleSet

    Returns
    -------
    fit_edges, engagement_edges : tuple of float
        Three lower edges each, the first ``-inf``.

    Examples
    --------
    >>> from calib import load_rules
    >>> fit, engagement = band_edges(load_rules("calib-demo/current.toml"))
    >>> engagement
    (-inf, 28.0, 57.0)
    """
    best: dict = {}
    for r in rules.fit:
        key = getattr(r, "field", r.name)
        best[key] = max(best.get(key, 0.0), float(r.points))
    top = sum(best.values()) or 3.0
    mql = float(rules.thresholds.mql)
    return ((-math.inf, float(round(top / 3)), float(round(2 * top / 3))),
            (-math.inf, float(round(mql / 3)), float(round(2 * mql / 3))))


def _varied_rules(baseline: RuleSet, proposed: RuleSet, changes, n: int):
    """(path, label, current points, proposed points) of the rules in both rule sets whose
    points differ, in the order of ``changes`` (the recommendation's change texts)."""
    out = []
    for kind, ra, rb in (("behavior", baseline.behavior, proposed.behavior),
                         ("fit", baseline.fit, proposed.fit)):
        by_b = {r.name: r for r in rb}
        for r in ra:
            other = by_b.get(r.name)
            if other is not None and float(other.points) != float(r.points):
                out.append((f"{kind}.{r.name}.points", f"{kind} rule '{r.name}'",
                            float(r.points), float(other.points)))
    order = list(changes)

    def rank(item):
        hits = [i for i, text in enumerate(order) if text.startswith(item[1])]
        return hits[0] if hits else len(order)
    return sorted(out, key=rank)[:n]


def _decays(baseline: RuleSet, proposed: RuleSet, half_lives) -> tuple[list, dict]:
    """(label, [decay] table) of the decay options: current, proposed, half-lives; and
    the label of each rule set's own decay (two decays that read alike are told apart)."""
    opts, own = {}, {}
    for points, rs in (("current", baseline), ("proposed", proposed)):
        label, decay = decay_text(rs), rs.to_dict()["decay"]
        if label in opts and opts[label] != decay:
            label = f"{label} ({points})"
        opts[label], own[points] = decay, label
    for h in half_lives:
        d = {"kind": "exponential", "half_life_days": float(h)}
        label = decay_text(_base(baseline, d))
        if label not in opts:
            opts[label] = d
    return list(opts.items()), own


def _base(rules: RuleSet, decay: dict) -> RuleSet:
    d = rules.to_dict()
    d["decay"] = decay
    d["thresholds"] = {k: v for k, v in d["thresholds"].items() if k != "sql"}
    return RuleSet.from_dict(d)


def _min_fit_label(v) -> str:
    return "none" if v is None or np.isnan(v) else f"{v:g}"


def explorer_grid(ds: Dataset, baseline: RuleSet, proposed: RuleSet, *, primary: str,
                  window_days: float = 90, start=None, end=None,
                  capacity_mql_per_week: float | None = None, replays: dict | None = None,
                  changes=(), sweep_grid: dict | None = None, n_rules: int = N_RULES,
                  n_boot: int = 400, seed: int = 0, evaluation: str = "",
                  partition_leads: int = PARTITION_LEADS) -> ExplorerData:
    """Precompute the what-if explorer of ``baseline`` (current) and ``proposed``.

    Parameters
    ----------
    ds : Dataset
    baseline, proposed : RuleSet
    primary : str
        The outcome whose rate and count per week the explorer shows.
    window_days, start, end
        As for :func:`calib.replay`: the evaluation period of the report.
    capacity_mql_per_week : float, optional
        MQLs per week sales can work; outcomes per week count only that many MQLs.
    replays : dict, optional
        ``{"current": ..., "proposed": ...}``: the two rule sets' replays of the period
        with ``per_lead`` (the ones the recommendations use); replayed here when not
        given.
    changes : sequence of str
        The recommendation's change texts, most important first: the rules whose points
        the explorer varies are taken in this order.
    sweep_grid : dict, optional
        The experiment's sweep grid: its MQL cutoffs and half-lives widen the ranges.
    partition_leads : int
        Leads scored at once (memory); the result does not depend on it.

    Examples
    --------
    >>> from calib import load_dataset, load_rules
    >>> data = explorer_grid(load_dataset("calib-demo/data"),
    ...                      load_rules("calib-demo/current.toml"),
    ...                      load_rules("calib-demo/truth.toml"), primary="meeting",
    ...                      capacity_mql_per_week=70)
    >>> round(float(data.row(data.proposed)["mql_per_week"]), 2)
    3.76
    """
    sweep_grid = sweep_grid or {}
    cutoffs, half_lives = _ranges(baseline, proposed, sweep_grid)
    decays, own_decay = _decays(baseline, proposed, half_lives)
    min_fits = list(dict.fromkeys([baseline.thresholds.mql_min_fit,
                                   proposed.thresholds.mql_min_fit, None,
                                   *band_edges(baseline)[0][1:]]))
    varied = _varied_rules(baseline, proposed, changes, n_rules)
    labels_of = {"current": baseline, "proposed": proposed}

    subs = _sub_grids(baseline, proposed, decays, own_decay, cutoffs, min_fits, varied)
    frame = _sweep_frame(ds, subs, varied, primary, window_days, start, end, partition_leads)
    fixed = {points: _setting(rs, points, own_decay, varied) for points, rs in labels_of.items()}
    replays = _replays(ds, labels_of, replays, window_days, start, end)
    base_replay = replays["current"]
    basis, exact = _report_basis(ds, base_replay,
                                 {p: (labels_of[p], fixed[p]) for p in labels_of}, cutoffs,
                                 primary, window_days, start, end, capacity_mql_per_week,
                                 n_boot, seed, partition_leads)
    weeks = 1.0 if base_replay.snapshot else (base_replay.period.weeks or np.nan)
    frame = _combine(frame, exact, fixed, capacity_mql_per_week, primary, weeks)
    cells, eng_edges = _cells(ds, replays, labels_of, primary, window_days, start, end)
    controls = {"points": ["current", "proposed"], "decay": [d for d, _ in decays],
                "cutoff": cutoffs, "min_fit": [_min_fit_label(v) for v in min_fits]}
    for path, _, a, b in varied:
        controls[path] = sorted({a, b})
    return ExplorerData(
        primary=primary, capacity_mql_per_week=capacity_mql_per_week,
        window_days=float(window_days), evaluation=evaluation, basis=basis, frame=frame,
        controls=controls, current=fixed["current"], proposed=fixed["proposed"],
        rules=tuple((p, label) for p, label, _, _ in varied), cells=cells,
        fit_edges={k: band_edges(v)[0] for k, v in labels_of.items()},
        engagement_edges=eng_edges, sweeps=tuple(subs), start=start, end=end, n_boot=n_boot,
        seed=seed)


def _ranges(baseline: RuleSet, proposed: RuleSet, sweep_grid: dict) -> tuple[list, list]:
    """The cutoffs and the half-lives of the grid, widened by the experiment's sweep grid
    (at most ``MAX_HALF_LIVES`` half-lives, spread over its range: the cost is linear)."""
    cutoffs = cutoff_values(baseline.thresholds.mql, proposed.thresholds.mql,
                            [v for v in sweep_grid.get("thresholds.mql", [])
                             if isinstance(v, (int, float))])
    half_lives = sorted({float(v) for v in sweep_grid.get("decay.half_life_days", HALF_LIVES)
                         if isinstance(v, (int, float)) and v > 0})
    if len(half_lives) > MAX_HALF_LIVES:
        idx = np.linspace(0, len(half_lives) - 1, MAX_HALF_LIVES).round().astype(int)
        half_lives = [half_lives[i] for i in sorted(set(idx))]
    return cutoffs, half_lives


def _setting(rs: RuleSet, points: str, own_decay: dict, varied) -> dict:
    """The grid point (control -> value) of a rule set as it is."""
    s = {"points": points, "decay": own_decay[points], "cutoff": float(rs.thresholds.mql),
         "min_fit": _min_fit_label(rs.thresholds.mql_min_fit)}
    for path, _, a, b in varied:
        s[path] = a if points == "current" else b
    return s


def _replays(ds, rulesets: dict, replays: dict | None, window_days, start, end) -> dict:
    """The two rule sets' replays with ``per_lead``: the ones given, else replayed here."""
    from calib.engine import replay

    replays = dict(replays or {})
    for points, rs in rulesets.items():
        if replays.get(points) is None or replays[points].per_lead is None:
            replays[points] = replay(ds, rs, window_days=window_days, start=start, end=end,
                                     per_lead=True)
    return replays


def _sub_grids(baseline, proposed, decays, own_decay, cutoffs, min_fits, varied) -> list:
    """(points, decay label, rule set, grid) of each part of the explorer's grid: every
    cutoff x minimum fit at every decay for both points, and the varied rules' points
    at each rule set's own decay and minimum fit."""
    subs = []
    for points, rs in (("current", baseline), ("proposed", proposed)):
        for dlabel, decay in decays:
            subs.append((points, dlabel, _base(rs, decay),
                         {"thresholds.mql": cutoffs, "thresholds.mql_min_fit": min_fits}))
        if varied:
            grid = {"thresholds.mql": cutoffs,
                    "thresholds.mql_min_fit": [rs.thresholds.mql_min_fit]}
            for path, _, a, b in varied:
                grid[path] = sorted({a, b})
            subs.append((points, own_decay[points], _base(rs, rs.to_dict()["decay"]), grid))
    return subs


def _sweep_frame(ds, subs, varied, primary, window_days, start, end,
                 partition_leads=PARTITION_LEADS) -> pd.DataFrame:
    """Replay every sub-grid as one sweep plan (the decays and points of both rule sets
    share the engine's grouping: one event matching per rule set) and tabulate."""
    plans = [plan_sweep(rs, grid) for _, _, rs, grid in subs]
    configs, rulesets, groups = [], {}, {}
    for i, ((points, _, _, _), plan) in enumerate(zip(subs, plans)):
        offset = len(configs)
        configs += [((i, values), (i, key), th) for values, key, th in plan.configs]
        rulesets.update({(i, k): v for k, v in plan.rulesets.items()})
        for struct, decays in plan.groups.items():
            # rule sets of the same points share their events; the other's do not
            by_decay = groups.setdefault((points, struct), {})
            for decay, scores in decays.items():
                by_score = by_decay.setdefault(decay, {})
                for skey, idxs in scores.items():
                    by_score.setdefault(skey, []).extend(offset + j for j in idxs)
    merged = SweepPlan(params=(), configs=tuple(configs), rulesets=rulesets, groups=groups,
                       skipped=0)
    part, period, names, window_ns, end_ns = setup_period(ds, start, end, window_days)
    totals = [None] * len(configs)
    for _, piece in lead_slices(part, partition_leads):
        totals = add_stats(totals, sweep_stats(piece, merged, names, window_ns, end_ns))
    weeks = 1.0 if part.snapshot else (period.weeks or np.nan)
    rows = []
    for ((i, values), _, th), st in zip(configs, totals):
        points, dlabel, rs, _ = subs[i]
        o = st.outcomes[primary]
        row = {"points": points, "decay": dlabel, "cutoff": float(th["mql"]),
               "min_fit": _min_fit_label(th["mql_min_fit"])}
        for path, _, _, _ in varied:
            row[path] = float(values.get(path, _points(rs, path)))
        row.update(mql_count=st.mql.count, mql_per_week=st.mql.count / weeks, hits=o.hits,
                   decided=o.decided)
        rows.append(row)
    f = pd.DataFrame(rows)
    keys = [c for c in f.columns if c not in ("mql_count", "mql_per_week", "hits", "decided")]
    f = f.drop_duplicates(keys, ignore_index=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        f["recorded_rate"] = f["hits"] / f["decided"]
    lo, hi = proportion_ci(f["hits"].to_numpy(), f["decided"].to_numpy(), method="wilson")
    f["recorded_low"], f["recorded_high"] = lo, hi
    return f


def _points(rs: RuleSet, path: str) -> float:
    kind, name, _ = path.split(".")
    return next(float(r.points) for r in getattr(rs, kind) if r.name == name)


# ------------------------------------------------------------------- the report's basis
def _per_lead_times(ds: Dataset, rules: RuleSet, cutoffs, primary, window_days, start, end,
                    partition_leads: int = PARTITION_LEADS):
    """The lead ids and, per cutoff, the MQL times of ``rules`` and the status codes of
    ``primary``: one scoring pass per partition of leads."""
    whole, period, names, window_ns, end_ns = setup_period(ds, start, end, window_days)
    ids, times, status = [], [], []
    for _, part in lead_slices(whole, partition_leads):
        prep = prepare(part, rules)
        score, fit = combine_scores(prep.decayed(rules.decay), prep, rules)
        cross = stage_crossings(prep, score, fit, cutoffs, rules.thresholds.mql_min_fit, TOL)
        if part.snapshot:
            t = np.where(cross >= 0, 0, NEVER)
            created = np.zeros(part.n_leads, np.int64)
        else:
            t = np.where(cross >= 0, prep.eval_t[np.maximum(cross, 0)], NEVER)
            created = ns(part.leads["created_at"])
        otimes = first_outcome_times(part, names)
        covered = covered_mask(otimes, part.n_leads)
        st = []
        for j in range(len(cutoffs)):
            _, by_outcome = stats_for(t[:, j], np.full(part.n_leads, NEVER), created,
                                      {primary: otimes[primary]}, window_ns, end_ns,
                                      part.snapshot, False, covered)
            st.append(by_outcome[primary])
        ids.append(part.leads["lead_id"].to_numpy())
        times.append(t)
        status.append(np.column_stack(st))
    times, status = np.concatenate(times), np.concatenate(status)
    out = [(times[:, j], {primary: status[:, j]}) for j in range(len(cutoffs))]
    return np.concatenate(ids), period, out


def _report_basis(ds, base_replay, settings, cutoffs, primary, window_days, start, end,
                  capacity, n_boot, seed, partition_leads=PARTITION_LEADS):
    """Figures with intervals on the report's basis for every cutoff of the two fixed
    settings: {(points, cutoff): (mql_pw, lo, hi, rate, lo, hi, hits_pw, lo, hi)}."""
    labels = SelectionLabels.from_dataset(ds, base_replay.per_lead, (primary,), window_days)
    passes = {}
    for points, (rules, _) in settings.items():
        rs = _base(rules, rules.to_dict()["decay"])
        ids, _, per_cut = _per_lead_times(ds, rs, cutoffs, primary, window_days, start, end,
                                          partition_leads)
        if not (ids == base_replay.per_lead["lead_id"].to_numpy()).all():
            raise ValueError("explorer_grid needs the baseline replay of the same period")
        passes[points] = (rs, per_cut)
    keep, columns, keys = _basis_columns(ids, passes, cutoffs, labels, base_replay, primary,
                                         window_days)
    corrected = labels is not None and all(
        np.isfinite(corrected_rate({k: c["c" + k].sum() for k in CORRECTION_KEYS}))
        for c, (p, cut) in zip(columns, keys)
        if cut == settings[p][1]["cutoff"])
    names = ["mql", "h", "d"] + (["c" + k for k in CORRECTION_KEYS] if corrected else [])
    m = np.column_stack([c[k] for c in columns for k in names])
    boot = _bootstrap(m, keep, n_boot, seed)
    weeks = 1.0 if base_replay.snapshot else (base_replay.period.weeks or np.nan)
    width = len(names)
    out = {}
    for i, key in enumerate(keys):
        sl = slice(i * width, (i + 1) * width)
        p = _basis_figures(m.sum(axis=0)[sl], names, weeks, capacity, corrected)
        b = _basis_figures(boot[:, sl], names, weeks, capacity, corrected)
        vals = []
        for pv, bv in zip(p, b):
            ok = np.isfinite(bv)
            lo, hi = np.percentile(bv[ok], [2.5, 97.5]) if ok.any() else (np.nan, np.nan)
            vals += [float(pv), float(lo), float(hi)]
        out[key] = tuple(vals)
    return _basis_words(labels, corrected), out


def _basis_columns(ids, passes: dict, cutoffs, labels, base_replay, primary, window_days):
    """(leads kept, one dict of per-lead columns per (points, cutoff), their keys).

    Every column is zero for a lead that is no MQL even at the lowest cutoff, so only the
    other leads are kept (the bootstrap weights are still drawn over all leads)."""
    snapshot = base_replay.snapshot
    low = int(np.argmin(cutoffs))
    keep = np.zeros(len(ids), bool)
    for _, per_cut in passes.values():
        keep |= per_cut[low][0] != NEVER
    columns, keys = [], []
    for points, (rs, per_cut) in passes.items():
        for c, (m_time, statuses) in zip(cutoffs, per_cut):
            pl = _status_frame(ids, m_time, statuses[primary], primary, snapshot)
            res = ReplayResult(rules=rs.name, stats=None, period=base_replay.period,
                               window_days=float(window_days), snapshot=snapshot, per_lead=pl)
            h, d = outcome_indicators(res, primary)
            cols = {"mql": (m_time != NEVER)[keep].astype(float), "h": h[keep], "d": d[keep]}
            if labels is not None:
                for k, v in labels.columns(pl, primary).items():
                    cols["c" + k] = v[keep].astype(float)
            columns.append(cols)
            keys.append((points, float(c)))
    return keep, columns, keys


def _basis_words(labels, corrected: bool) -> str:
    """What the report-basis figures are computed on, in the words of paired_effect."""
    if labels is None:
        return "recorded outcomes"
    if corrected:
        return (f"outcomes corrected for selective labels with the holdout "
                f"({int(labels.holdout.sum()):,} leads), over the MQLs whose window is observed")
    return ("recorded outcomes (not corrected for selective labels: no holdout lead among "
            "the MQLs the correction needs)")


def _bootstrap(m: np.ndarray, keep: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Column sums of ``m`` (rows: the kept leads) under ``n_boot`` bootstrap weightings
    of all leads: the weights of calib.pipeline.recommend.paired_effect, multinomial over
    leads, seeded, drawn in batches that bound the memory."""
    n = len(keep)
    rng = np.random.default_rng(seed)
    boot = np.empty((n_boot, m.shape[1]))
    batch = max(1, min(n_boot, int(2e7 // max(n, 1))))
    done = 0
    while done < n_boot:
        k = min(batch, n_boot - done)
        w = rng.multinomial(n, np.full(n, 1.0 / n), size=k) if n else np.zeros((k, 0))
        boot[done:done + k] = w[:, keep] @ m
        done += k
    return boot


def _basis_figures(sums, names, weeks, capacity, corrected):
    """(MQLs per week, rate, hits per week) from the column sums of one setting (the
    last axis of ``sums`` holds ``names``)."""
    s = {k: sums[..., j] for j, k in enumerate(names)}
    vol = s["mql"] / weeks
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = corrected_rate({k: s["c" + k] for k in CORRECTION_KEYS}) if corrected \
            else s["h"] / s["d"]
    if capacity is None and not corrected:  # as paired_effect: hits per week
        return vol, rate, s["h"] / weeks
    worked = vol if capacity is None else np.minimum(vol, capacity)
    return vol, rate, np.nan_to_num(rate) * worked


def _status_frame(ids, m_time, status, outcome, snapshot) -> pd.DataFrame:
    from calib.engine.replay import STATUS_NAMES

    df = pd.DataFrame({"lead_id": ids})
    if snapshot:
        df["mql"] = m_time != NEVER
    else:
        df["mql_at"] = pd.to_datetime(np.where(m_time == NEVER, np.iinfo(np.int64).min, m_time),
                                      utc=True)
    df[f"status_{outcome}"] = pd.Categorical(STATUS_NAMES[status],
                                             categories=list(STATUS_NAMES[1:]))
    return df


def _combine(frame, exact, settings, capacity, primary, weeks) -> pd.DataFrame:
    """The figures the page shows: the report's basis where computed, else the sweep's."""
    f = frame.copy()
    worked = f["mql_per_week"] if capacity is None else np.minimum(f["mql_per_week"], capacity)
    f["rate"] = f["recorded_rate"]
    f["rate_low"], f["rate_high"] = f["recorded_low"], f["recorded_high"]
    f["hits_per_week"] = f["recorded_rate"].fillna(0) * worked
    if capacity is None:  # recorded outcomes and no capacity: every hit counts
        f["hits_per_week"] = f["hits"] / weeks
    for c in ("mql_per_week_low", "mql_per_week_high", "hits_per_week_low",
              "hits_per_week_high"):
        f[c] = np.nan
    f["basis"] = "sweep"
    cols = ["mql_per_week", "mql_per_week_low", "mql_per_week_high", "rate", "rate_low",
            "rate_high", "hits_per_week", "hits_per_week_low", "hits_per_week_high"]
    for points, s in settings.items():
        m = np.ones(len(f), bool)
        for k, v in s.items():
            if k != "cutoff":
                m &= (f[k] == v).to_numpy()
        for i in np.flatnonzero(m):
            key = (points, float(f.at[i, "cutoff"]))
            # a corrected rate undefined at this cutoff (no probe among its unseen MQLs):
            # the sweep's recorded figures, labelled as such
            if key in exact and np.isfinite(exact[key][3]):
                f.loc[i, cols] = exact[key]
                f.at[i, "basis"] = "report"
    f["sentence"] = [sentence(r, primary, capacity) for r in f.itertuples(index=False)]
    return f


def sentence(r, primary: str, capacity: float | None) -> str:
    """A grid point in words, for the page.

    Parameters
    ----------
    r : namedtuple
        A row of the explorer's frame (``cutoff``, ``mql_per_week``, ``rate``,
        ``rate_low``, ``rate_high``, ``hits_per_week``).
    primary : str
        The outcome.
    capacity : float or None
        MQLs per week sales can work.

    Returns
    -------
    str

    Examples
    --------
    >>> from collections import namedtuple
    >>> Row = namedtuple("Row", "cutoff mql_per_week rate rate_low rate_high hits_per_week")
    >>> sentence(Row(70, 82.0, 0.52, 0.48, 0.56, 39.0), "meeting", 75)
    'At cutoff 70: 82 MQLs a week, above capacity by 7; meeting rate 52% (48-56%); 39.0 meetings a week within capacity'
    """
    text = f"At cutoff {r.cutoff:g}: {r.mql_per_week:,.0f} MQLs a week"
    if capacity is not None:
        gap = r.mql_per_week - capacity
        text += (f", above capacity by {gap:,.0f}" if gap >= 0.5 else
                 f", below capacity by {-gap:,.0f}" if gap <= -0.5 else ", at capacity")
    if np.isfinite(r.rate):
        text += f"; {primary} rate {_pct(r.rate)}"
        if np.isfinite(r.rate_low):
            text += f" ({100 * r.rate_low:.0f}-{_pct(r.rate_high)})"
        text += f"; {r.hits_per_week:,.1f} {primary}s a week"
        text += " within capacity" if capacity is not None else ""
    else:
        text += f"; no decided MQL to measure the {primary} rate on"
    return text


def _pct(x) -> str:
    return f"{100 * x:.0f}%"


# --------------------------------------------------------------- fit x engagement cells
FIT_BANDS = ("C", "B", "A")
ENGAGEMENT_BANDS = ("1", "2", "3")


def _cells(ds, replays: dict, rulesets: dict, primary, window_days, start, end):
    """Leads per fit band x engagement band under each rule set, with the primary
    outcome's rate: among the exploration holdout leads of the cell (worked from creation,
    so no selective labels) when the data has one, else among all its leads (recorded)."""
    from calib.fit.selection import holdout_mask

    part, period, _, window_ns, end_ns = setup_period(ds, start, end, window_days)
    weeks = 1.0 if part.snapshot else (period.weeks or np.nan)
    o_time = first_outcome_times(part, [primary])[primary]
    if part.snapshot:
        got = o_time != NEVER
        mature = np.ones(part.n_leads, bool)
    else:
        created = ns(part.leads["created_at"])
        got = (o_time != NEVER) & (o_time - created <= window_ns)
        mature = created <= end_ns - window_ns
    hold = holdout_mask(part, "exploration_holdout")
    use_hold = hold is not None and hold.any() and not hold.all()
    rows, eng = [], {}
    for points, rules in rulesets.items():
        pl = replays[points].per_lead
        fit = pl["fit_score"].to_numpy(float)
        behaviour = pl["peak_score"].to_numpy(float) - fit
        fe, ee = band_edges(rules)
        eng[points] = ee
        fb = np.searchsorted(np.asarray(fe[1:]), fit, side="right")
        eb = np.searchsorted(np.asarray(ee[1:]), behaviour, side="right")
        # where to draw each band: the open ends at the data's range, the top bands
        # half again as wide as the band below
        fx = [min(0.0, float(fit.min(initial=0.0))), *fe[1:],
              max(1.5 * fe[-1], float(fit.max(initial=0.0)))]
        ey = [min(0.0, float(behaviour.min(initial=0.0))), *ee[1:], 1.5 * ee[-1]]
        for i, fband in enumerate(FIT_BANDS):
            for j, eband in enumerate(ENGAGEMENT_BANDS):
                cell = (fb == i) & (eb == j)
                base = cell & mature & (hold if use_hold else True)
                n, x = int(base.sum()), int((base & got).sum())
                lo, hi = proportion_ci(x, n, method="wilson") if n else (np.nan, np.nan)
                rows.append({"points": points, "fit_band": fband, "engagement_band": eband,
                             "cell": f"{fband}{eband}", "fit_low": fe[i],
                             "engagement_low": ee[j], "x": fx[i], "x2": fx[i + 1],
                             "y": ey[j], "y2": ey[j + 1], "leads": int(cell.sum()),
                             "leads_per_week": cell.sum() / weeks, "rated_leads": n,
                             "rate": x / n if n else np.nan, "rate_low": float(lo),
                             "rate_high": float(hi),
                             "rate_basis": "holdout" if use_hold else "recorded"})
    return pd.DataFrame(rows), eng
