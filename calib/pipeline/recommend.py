"""Recommendations: the proposal as a list of named changes, each judged two ways, and
the package that is exactly their sum.

Every difference between the baseline and the proposal is a change
(:func:`calib.rules.changes.rule_changes`). Each is judged on the evaluation period
(out of time when the experiment has a ``train_until``), against the baseline on the
*same leads*:

* **alone** — the baseline with only this change, at the current cutoff: what happens
  if only this is done;
* **at matched volume** — the same, with the MQL cutoff re-set so the changed rules
  route as many MQLs as the baseline (the cutoff whose volume is nearest; both volumes
  are reported and rates are compared only when they are within ``VOLUME_TOLERANCE``).

A change that moves the score scale (points, decay, rules, limits) is decided at matched
volume; a cutoff change sets the volume itself and is decided alone. The package (the
whole proposal) is judged as written and at matched volume (the baseline's cutoff
re-set to the proposal's volume), and decided at matched volume.

Intervals are 95% percentile intervals of a seeded Poisson bootstrap over leads, the
same resamples for every rule set, so the pairing is kept; the baseline is replayed
once. Bounds respect each quantity's range: a rate difference lies in [-1, 1], a
relative change of outcomes per week is the ratio's interval minus one (never below
-100%). A figure that cannot be estimated is None ("–" in reports) with a note: no
baseline outcomes, a change that moves (almost) no lead, or a correction for selective
labels that is undefined in more than ``MAX_UNDEFINED`` of the resamples.

Selective labels: outcomes are only recorded once sales works a lead. When the data has
an exploration holdout, every rate of every row is corrected as in
:func:`calib.fit.selection.corrected_rate` (over the MQLs whose whole window is
observed); a row whose correction is undefined shows "–", never a rate on another basis.

Guardrails (documented defaults): a change is held when the interval of the primary
outcome's rate per MQL reaches a drop of ``HARM_RATE`` (2 points) or (not at matched
volume, where the rate decides) the interval of its outcomes per week reaches a drop of
``HARM_HITS`` (5%), when either side rests on
fewer than ``MIN_DECIDED`` decided MQLs or ``MIN_HITS`` outcomes, or when its effect
cannot be estimated. A gain whose MQLs per week exceed the capacity by more than 5% is
only "consider". Changes with evidence of harm on their own (the whole interval of the
rate difference below zero) are left out of the package and its MQL cutoff is re-set;
the package's reasons say how many of its parts are held alone (they cannot be shown
harmless alone and belong in it only together with the others).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from calib.data import Dataset
from calib.data.dataset import ns_or_never
from calib.engine.prepare import prepare
from calib.engine.replay import (
    NEVER,
    TOL,
    classify,
    combine_scores,
    first_outcome_times,
    setup_period,
    stage_crossings,
)
from calib.engine.results import ReplayResult
from calib.io import finite_float as _f
from calib.fit.selection import (CORRECTION_KEYS, SelectionLabels, corrected_rate,
                                 correction_columns)
from calib.rules.changes import RuleChange, apply_changes, rule_changes
from calib.rules import RuleSet, dumps_rules

__all__ = [
    "HARM_HITS",
    "HARM_RATE",
    "MIN_DECIDED",
    "MIN_HITS",
    "MIN_MOVED",
    "VOLUME_TOLERANCE",
    "Change",
    "Judgement",
    "Recommendations",
    "paired_effect",
    "recommend",
    "verdict",
]

HARM_RATE = 0.02
HARM_HITS = 0.05
MIN_DECIDED = 30
MIN_HITS = 10
MIN_MOVED = 10  # leads whose MQL changes; below this a change has no measurable effect
VOLUME_TOLERANCE = 0.10  # matched volumes within 10% of each other compare rates
MAX_UNDEFINED = 0.05  # share of resamples where a corrected rate may be undefined
PRIOR_PROBES = 2.0  # weight of the pooled gap rate in each rule set's (see _Stats.rate)
N_BOOT = 400
LEVEL = 0.95


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Judgement:
    """One comparison of a changed rule set with the baseline on the same leads.

    Tuples are ``(baseline, changed, diff, ci_low, ci_high)`` with the interval of the
    difference; ``relative`` is ``(changed / baseline - 1, ci_low, ci_high)``. Any
    element may be NaN when it cannot be estimated; ``notes`` says why."""

    comparison: str  # "alone", "matched", "as written"
    description: str
    cutoffs: tuple  # (baseline, changed) MQL cutoffs used
    mql_count: tuple  # (baseline, changed) MQLs in the evaluation period
    mql_per_week: tuple
    rates: dict  # outcome -> tuple
    rate_ci: dict  # outcome -> ((lo, hi) baseline, (lo, hi) changed)
    hits_per_week: dict  # outcome -> tuple
    relative: dict  # outcome -> (relative change, lo, hi) of outcomes per week
    decided: tuple  # decided MQLs for the primary outcome (baseline, changed)
    hits: tuple  # primary hits (baseline, changed)
    moved: int  # leads whose MQL (or its time) differs
    basis: str
    comparable: bool = True  # volumes within VOLUME_TOLERANCE (matched comparisons)
    notes: tuple[str, ...] = ()

    @property
    def volume_gap(self) -> float:
        """How far apart the two MQL volumes are, relative to the baseline's."""
        a, b = self.mql_count
        return abs(b - a) / a if a else (0.0 if b == 0 else float("inf"))

    def to_dict(self) -> dict:
        """JSON-safe (NaN as None), as ``summary.json`` holds it (see
        :class:`Recommendations`)."""
        def t(x):
            return dict(zip(("baseline", "changed", "diff", "ci_low", "ci_high"),
                            [_f(v) for v in x]))
        return {
            "comparison": self.comparison, "description": self.description,
            "cutoffs": {"baseline": _f(self.cutoffs[0]), "changed": _f(self.cutoffs[1])},
            "mqls": {"baseline": int(self.mql_count[0]), "changed": int(self.mql_count[1])},
            "volume_gap": _f(self.volume_gap), "volumes_comparable": self.comparable,
            "volume_tolerance": VOLUME_TOLERANCE,
            "mql_per_week": t(self.mql_per_week),
            "rates": {o: {**t(v), "baseline_ci": [_f(x) for x in self.rate_ci[o][0]],
                          "changed_ci": [_f(x) for x in self.rate_ci[o][1]]}
                      for o, v in self.rates.items()},
            "per_week": {o: {**t(v), "relative": _f(self.relative[o][0]),
                             "relative_ci_low": _f(self.relative[o][1]),
                             "relative_ci_high": _f(self.relative[o][2])}
                         for o, v in self.hits_per_week.items()},
            "decided": {"baseline": int(self.decided[0]), "changed": int(self.decided[1])},
            "hits": {"baseline": int(self.hits[0]), "changed": int(self.hits[1])},
            "moved_leads": int(self.moved), "basis": self.basis, "notes": list(self.notes),
        }


Effect = Judgement  # the name earlier versions used


@dataclass(frozen=True)
class Change:
    """One listed change (or the whole package) with both judgements and its verdict.

    ``effect`` is the judgement that decides (``decided_by``): at matched volume for
    changes that move the score scale, alone for cutoff changes; an MQL cutoff in a
    package that moves the scale is decided "in package" (the proposal with this cutoff
    against the proposal at the baseline's volume: the cutoff's only role there is to
    set the volume, e.g. to the capacity)."""

    kind: str
    what: str
    alone: Judgement
    matched: Judgement | None
    decided_by: str  # "alone" or "matched"
    verdict: str  # "recommend", "consider" or "hold"
    reasons: tuple[str, ...]
    impact: float  # change in primary outcomes per week (deciding judgement), for ranking
    change: RuleChange | None = None
    included: bool = True  # part of the package
    in_package: Judgement | None = None  # an MQL cutoff on a new scale: its role there

    @property
    def effect(self) -> Judgement:
        """The judgement that decides the verdict (``decided_by``)."""
        if self.decided_by == "in package" and self.in_package is not None:
            return self.in_package
        return self.matched if self.decided_by == "matched" and self.matched is not None \
            else self.alone

    def to_dict(self) -> dict:
        """JSON-safe, as ``summary.json`` holds it (see :class:`Recommendations`)."""
        return {"kind": self.kind, "what": self.what, "verdict": self.verdict,
                "reasons": list(self.reasons), "decided_by": self.decided_by,
                "included_in_package": self.included,
                "impact_per_week": _f(self.impact),
                "change": self.change.to_dict() if self.change is not None else None,
                "alone": self.alone.to_dict(),
                "matched": self.matched.to_dict() if self.matched is not None else None,
                "in_package": self.in_package.to_dict() if self.in_package is not None else None,
                "effect": self.effect.to_dict()}


@dataclass(frozen=True)
class Recommendations:
    """The judged proposal.

    ``to_dict()`` (JSON-safe) holds::

        primary, evaluation, per ("week" or "data set"), capacity_mql_per_week,
        basis                  # of every rate and per-week count in every row
        thresholds             # HARM_RATE, HARM_HITS, MIN_DECIDED, MIN_HITS, MIN_MOVED,
                               # VOLUME_TOLERANCE, MAX_UNDEFINED, level, n_boot
        package: Change.to_dict()      # the whole proposal
        changes: [Change.to_dict()]    # its parts (included_in_package true)
        excluded: [Change.to_dict()]   # changes of the fit left out (held)
        caveats, diff (unified TOML diff), proposed_rules (the package's TOML dict)

    and each ``Change.to_dict()``: ``what`` (the change in words), ``kind``,
    ``verdict`` (recommend / consider / hold), ``reasons`` (agreeing with the verdict),
    ``decided_by`` (alone / matched), ``change`` (how to apply it: op, key, table,
    value), ``alone`` and ``matched`` (:meth:`Judgement.to_dict`: cutoffs, MQLs in the
    period and per week, volume gap, per outcome rates and per-week counts with 95%
    intervals, relative change of outcomes per week with its interval, decided MQLs,
    hits, leads moved, basis, notes on any figure that is None) and ``effect`` (the
    deciding one)."""

    primary: str
    evaluation: str
    package: Change
    changes: tuple[Change, ...]
    caveats: tuple[str, ...]
    diff: str
    capacity_mql_per_week: float | None = None
    outcomes: tuple[str, ...] = field(default_factory=tuple)
    per: str = "week"  # "week", or "data set" for a snapshot (counts, no time)
    rules: RuleSet | None = None  # the package: baseline + every included change
    excluded: tuple[Change, ...] = ()
    basis: str = "recorded outcomes"

    def to_dict(self) -> dict:
        """JSON-safe, as described above; ``calib run --json`` prints it."""
        return {"primary": self.primary, "evaluation": self.evaluation, "per": self.per,
                "capacity_mql_per_week": self.capacity_mql_per_week, "basis": self.basis,
                "thresholds": {"harm_rate": HARM_RATE, "harm_hits": HARM_HITS,
                               "min_decided": MIN_DECIDED, "min_hits": MIN_HITS,
                               "min_moved": MIN_MOVED, "volume_tolerance": VOLUME_TOLERANCE,
                               "max_undefined": MAX_UNDEFINED, "level": LEVEL,
                               "n_boot": N_BOOT},
                "package": self.package.to_dict(),
                "changes": [c.to_dict() for c in self.changes],
                "excluded": [c.to_dict() for c in self.excluded],
                "caveats": list(self.caveats), "diff": self.diff,
                "proposed_rules": self.rules.to_dict() if self.rules is not None else None}

    def to_frame(self) -> pd.DataFrame:
        """One row per change (the package first, then the changes, then those left
        out): verdict, cutoffs, volumes, rate differences with their intervals and the
        reasons; the report's ``recommendations.csv``."""
        rows = []
        for c in (self.package, *self.changes, *self.excluded):
            row = {"change": c.what, "kind": c.kind, "verdict": c.verdict,
                   "in_package": c.included, "decided_by": c.decided_by}
            for label, j in (("alone", c.alone), ("matched", c.matched)):
                if j is None:
                    continue
                row[f"{label}_cutoff"] = j.cutoffs[1]
                row[f"{label}_mql_per_week"] = j.mql_per_week[1]
                row[f"{label}_mql_per_week_baseline"] = j.mql_per_week[0]
                for o in self.outcomes:
                    if o in j.rates:
                        r = j.rates[o]
                        row[f"{label}_{o}_rate"] = r[1]
                        row[f"{label}_{o}_rate_diff"] = r[2]
                        row[f"{label}_{o}_rate_diff_ci_low"] = r[3]
                        row[f"{label}_{o}_rate_diff_ci_high"] = r[4]
                h = j.hits_per_week[self.primary]
                row[f"{label}_{self.primary}_per_week_diff"] = h[2]
                row[f"{label}_{self.primary}_per_week_diff_ci_low"] = h[3]
                row[f"{label}_{self.primary}_per_week_diff_ci_high"] = h[4]
            row["reasons"] = "; ".join(c.reasons)
            rows.append(row)
        return pd.DataFrame(rows)

    def summary(self) -> str:
        """The verdicts in a few lines of text, as ``calib run`` prints them."""
        lines = [f"Recommendations ({self.evaluation}); primary outcome: {self.primary}; "
                 f"rates on {self.basis}"]
        for c in (self.package, *self.changes):
            lines.append(f"  [{c.verdict:<9}] {c.what}")
            for j in (c.alone, c.matched, c.in_package):
                if j is None:
                    continue
                r = j.rates[self.primary]
                mark = "*" if (j is c.effect) else " "
                lines.append(f"     {mark}{j.comparison:<10} MQLs/{self.per} "
                             f"{_num(j.mql_per_week[0])} -> {_num(j.mql_per_week[1])}; "
                             f"{self.primary} rate {_pct(r[0])} -> {_pct(r[1])} (diff "
                             f"{_pp(r[2])}, 95% CI {_pp(r[3])} to {_pp(r[4])})")
            lines.append("      " + "; ".join(c.reasons))
        for c in self.excluded:
            lines.append(f"  [left out ] {c.what}: " + "; ".join(c.reasons))
        for c in self.caveats:
            lines.append(f"  caveat: {c}")
        return "\n".join(lines)


def _num(x):
    return "–" if x is None or not np.isfinite(x) else f"{x:.1f}"


def _pct(x):
    return "–" if x is None or not np.isfinite(x) else f"{100 * x:.1f}%"


def _pp(x):
    return "–" if x is None or not np.isfinite(x) else f"{100 * x:+.1f} pts"


# ----------------------------------------------------------------------------- engine
@dataclass
class _Side:
    """One rule set at one cutoff on the evaluation leads: its per-lead MQL times and the
    column sums (point and bootstrap) every statistic is computed from."""

    m_time: np.ndarray
    cutoff: float
    point: dict
    boot: dict
    count: int
    sql_count: int | None = None


class _Stats:
    """Column sums and the statistics computed from them, for rule sets replayed on the
    same leads: the selective-label columns and the bootstrap weights are shared."""

    def __init__(self, *, outcomes, primary, capacity, weeks, labels, n, n_boot, seed,
                 window_ns, end_ns, snapshot):
        self.outcomes, self.primary, self.capacity = tuple(outcomes), primary, capacity
        self.weeks, self.labels, self.n, self.n_boot, self.seed = weeks, labels, n, n_boot, seed
        self.window_ns, self.end_ns, self.snapshot = window_ns, end_ns, snapshot
        self._w = None
        self.prior_gap: dict | None = None  # outcome -> pooled gap rate (see rate)

    # -- bootstrap weights: the same resamples for every rule set
    def weights(self, rows: np.ndarray) -> np.ndarray:
        if self._w is None:
            rng = np.random.default_rng(self.seed)
            self._w = rng.poisson(1.0, size=(self.n_boot, self.n)).astype(np.float32)
        return self._w[:, rows]

    def _sums(self, m_time: np.ndarray, cutoff: float, sql_count=None, statuses=None) -> _Side:
        """Sums of one side; ``statuses`` (outcome -> status codes of every lead, as
        :func:`calib.engine.replay.classify`) default to those of ``m_time``."""
        is_mql = m_time != NEVER
        rows = np.flatnonzero(is_mql)
        cols = {"mql": np.ones(len(rows))}
        for o in self.outcomes:
            st = (classify(m_time[rows], self.otimes[o][rows], self.window_ns, self.end_ns,
                           self.snapshot) if statuses is None else statuses[o][rows])
            hit = st == 1
            cols[f"h_{o}"] = hit
            cols[f"d_{o}"] = (st == 1) | (st == 2) | (st == 3)
            if self.labels is not None:
                lb = self.labels
                m = m_time[rows]
                decided = cols[f"d_{o}"] & (m <= self.end_ns - self.window_ns)
                r = lb.routed_at[rows]
                routed = r != NEVER
                cc = correction_columns(decided=decided, hit=hit, seen=routed & (r <= m),
                                        hit_routed=hit & routed & (lb.outcome_at[o][rows] >= r),
                                        holdout=lb.holdout[rows])
                for k, v in cc.items():
                    cols[f"c{k}_{o}"] = v
        names = list(cols)
        mat = np.column_stack([np.asarray(cols[k], np.float32) for k in names]) \
            if len(rows) else np.zeros((0, len(names)), np.float32)
        point = dict(zip(names, mat.sum(axis=0, dtype=np.float64)))
        bs = self.weights(rows) @ mat if len(rows) else np.zeros((self.n_boot, len(names)))
        boot = {k: bs[:, i].astype(np.float64) for i, k in enumerate(names)}
        return _Side(m_time=m_time, cutoff=cutoff, point=point, boot=boot,
                     count=int(is_mql.sum()), sql_count=sql_count)

    # -- statistics
    def corrected(self) -> bool:
        return self.labels is not None

    def rate(self, s: dict, o: str):
        """The primary statistic per MQL: recorded ``hits / decided``, or with a holdout
        the difference estimator of :func:`calib.fit.selection.corrected_rate`. With a
        ``prior_gap``, the gap rate of the unseen MQLs is ``(g + k G) / (p + k)``: the
        rule set's own probes plus ``k = PRIOR_PROBES`` pseudo-probes at the pooled rate
        ``G`` of the proposal's probes, so a change whose few unseen MQLs hold no holdout
        lead still has a rate (close to its own when it has many probes)."""
        if self.labels is not None:
            c = {k: np.asarray(s[f"c{k}_{o}"], float) for k in CORRECTION_KEYS}
            if self.prior_gap is not None and o in self.prior_gap:
                k, G = PRIOR_PROBES, self.prior_gap[o]
                with np.errstate(invalid="ignore", divide="ignore"):
                    gap = (c["g"] + k * G) / (c["p"] + k)
                    return (c["yp"] + c["u"] * gap) / c["d"]
            return corrected_rate(c)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(s[f"h_{o}"], float) / s[f"d_{o}"]

    def per_week(self, s: dict, o: str):
        """Outcomes per week sales can work: rate x MQLs per week (capped at the
        capacity); recorded hits per week without a correction or capacity."""
        vol = np.asarray(s["mql"], float) / self.weeks
        if self.labels is None and self.capacity is None:
            return np.asarray(s[f"h_{o}"], float) / self.weeks
        r = self.rate(s, o)
        return r * (vol if self.capacity is None else np.minimum(vol, self.capacity))


class _Evaluator(_Stats):
    """Shared work for judging many rule sets on the same evaluation leads: the leads,
    outcome times, selective-label columns and bootstrap weights are set up once, scores
    are cached by rule structure and decay."""

    def __init__(self, ds: Dataset, base_res: ReplayResult, outcomes, primary: str,
                 window_days: float, start, end, capacity, seed: int, n_boot: int):
        self.ds, self.period, _, window_ns, end_ns = setup_period(ds, start, end, window_days)
        if not (self.ds.leads["lead_id"].to_numpy() ==
                base_res.per_lead["lead_id"].to_numpy()).all():
            raise ValueError("the baseline replay must cover the evaluation leads in order")
        super().__init__(outcomes=outcomes, primary=primary, capacity=capacity,
                         weeks=1.0 if self.ds.snapshot else (base_res.period.weeks or np.nan),
                         labels=SelectionLabels.from_dataset(ds, base_res.per_lead, outcomes,
                                                             window_days),
                         n=self.ds.n_leads, n_boot=n_boot, seed=seed, window_ns=window_ns,
                         end_ns=end_ns, snapshot=self.ds.snapshot)
        self.otimes = first_outcome_times(self.ds, self.outcomes)
        self._cache: dict = {}

    # -- scores
    def scores(self, rules: RuleSet):
        skey = (tuple((r.events, r.max_per_day) for r in rules.behavior),
                tuple((r.field, r.in_, r.equals, r.min, r.max, r.missing) for r in rules.fit))
        if ("prep", skey) not in self._cache:
            self._cache = {k: v for k, v in self._cache.items() if k[0] == "base"}
            self._cache[("prep", skey)] = prepare(self.ds, rules)
        prep = self._cache[("prep", skey)]
        dkey = ("d", skey, rules.decay)
        if dkey not in self._cache:
            for k in [k for k in self._cache if k[0] == "d"]:
                del self._cache[k]
            self._cache[dkey] = prep.decayed(rules.decay)
        score, fit = combine_scores(self._cache[dkey], prep, rules)
        return prep, score, fit

    def peaks(self, rules: RuleSet) -> np.ndarray:
        """Each lead's peak score among leads that may become MQLs (-inf otherwise)."""
        from calib.engine.kernels import peak_by_lead

        prep, score, fit = self.scores(rules)
        peak = np.empty(self.n)
        peak_by_lead(prep.eval_lead, score, self.n, peak)
        if rules.thresholds.mql_min_fit is not None:
            peak[fit < rules.thresholds.mql_min_fit - TOL] = -np.inf
        return peak

    def nearest_cutoff(self, rules: RuleSet, target: int) -> float:
        """The MQL cutoff whose volume is nearest ``target`` MQLs: the rule set's own
        cutoff when none is nearer, else a peak score (ties: the higher cutoff)."""
        peak = self.peaks(rules)
        p = np.sort(peak[np.isfinite(peak)])[::-1]
        own = float(rules.thresholds.mql)
        if len(p) == 0:
            return own
        vals = np.unique(p)[::-1]  # candidate cutoffs, high to low
        counts = np.searchsorted(-p, -vals - TOL, side="right")  # leads with peak >= v - TOL
        gap = np.abs(counts - target)
        best = np.flatnonzero(gap == gap.min())[0]
        if abs(int((p >= own - TOL).sum()) - target) <= gap[best]:
            return own
        return float(vals[best])

    def side(self, rules: RuleSet, cutoff: float | None = None, *, sql: bool = False) -> _Side:
        prep, score, fit = self.scores(rules)
        mql = rules.thresholds.mql if cutoff is None else cutoff
        cuts = [mql] + ([rules.thresholds.sql] if sql and rules.thresholds.sql else [])
        cross = stage_crossings(prep, score, fit, cuts, rules.thresholds.mql_min_fit)
        m_time = np.where(cross[:, 0] >= 0, prep.eval_t[cross[:, 0]], NEVER)
        if self.snapshot:
            m_time = np.where(cross[:, 0] >= 0, 0, NEVER)
        sql_count = int((cross[:, 1] >= 0).sum()) if len(cuts) > 1 else None
        return self._sums(m_time, float(mql), sql_count)


def _interval(boot: np.ndarray, point_ok: bool) -> tuple[float, float, float]:
    """(lo, hi, share undefined) of a percentile interval over finite replicates."""
    ok = np.isfinite(boot)
    und = 1.0 - ok.mean() if len(boot) else 1.0
    if not point_ok or not ok.any() or und > MAX_UNDEFINED:
        return np.nan, np.nan, und
    lo, hi = np.percentile(boot[ok], [(1 - LEVEL) / 2 * 100, (1 + LEVEL) / 2 * 100])
    return float(lo), float(hi), und


def _judge(ev: _Evaluator, a: _Side, b: _Side, comparison: str, description: str,
           basis: str, check_volume: bool = False) -> Judgement:
    notes = []
    moved = int((a.m_time != b.m_time).sum())
    degenerate = moved < MIN_MOVED
    if moved == 0:
        notes.append("no lead's MQL changes, so every difference is exactly zero")
    elif degenerate:
        notes.append(f"only {moved} lead(s) change their MQL: too few for an interval")
    comparable = True
    if check_volume and a.count:
        gap = abs(b.count - a.count) / a.count
        if gap > VOLUME_TOLERANCE:
            comparable = False
            notes.append(f"at the nearest cutoffs the baseline routes {a.count:,} MQLs and the "
                         f"changed rules {b.count:,} ({100 * gap:.0f}% apart, more than the "
                         f"{100 * VOLUME_TOLERANCE:.0f}% tolerance): scores tie, so the volumes "
                         "cannot be matched closer and the rates are not compared")

    def tup(fa, fb, ratio=False):
        pa, pb = float(fa(a.point)), float(fb(b.point))
        ok = np.isfinite(pa) and np.isfinite(pb)
        if moved == 0 and ok:
            return (pa, pb, 0.0, np.nan, np.nan), (0.0 if pa else np.nan, np.nan, np.nan), 0.0
        with np.errstate(invalid="ignore", divide="ignore"):
            ba, bb = np.asarray(fa(a.boot), float), np.asarray(fb(b.boot), float)
            lo, hi, und = _interval(bb - ba, ok and not degenerate)
            rel = (np.nan, np.nan, np.nan)
            if pa > 0 and ok:
                rlo, rhi, _ = _interval(bb / ba, not degenerate)
                rel = (pb / pa - 1, rlo - 1, rhi - 1)
        return (pa, pb, pb - pa if ok else np.nan, lo, hi), rel, und

    def side_ci(side, f):
        with np.errstate(invalid="ignore", divide="ignore"):
            lo, hi, _ = _interval(np.asarray(f(side.boot), float),
                                  bool(np.isfinite(f(side.point))))
        return (lo, hi)

    def vol(s): return np.asarray(s["mql"], float) / ev.weeks
    mql_t, _, _ = tup(vol, vol)
    rates, rate_ci, hits, rel = {}, {}, {}, {}
    undefined = 0.0
    for o in ev.outcomes:
        def rf(s, o=o): return ev.rate(s, o)
        def hf(s, o=o): return ev.per_week(s, o)
        rates[o], _, und = tup(rf, rf)
        rate_ci[o] = (side_ci(a, rf), side_ci(b, rf))
        hits[o], rel[o], und2 = tup(hf, hf, ratio=True)
        if o == ev.primary:
            undefined = max(und, und2)
    r = rates[ev.primary]
    if not (np.isfinite(r[0]) and np.isfinite(r[1])):
        notes.append(f"the {ev.primary} rate corrected for selective labels is undefined: no "
                     "holdout lead among the MQLs whose outcomes may be missing")
    elif undefined > MAX_UNDEFINED and not degenerate:
        notes.append(f"the correction for selective labels is undefined in {100 * undefined:.0f}% "
                     "of the resamples (few holdout leads among the MQLs it needs), so no "
                     "interval is given")
    if not np.isfinite(hits[ev.primary][0]) or hits[ev.primary][0] == 0:
        notes.append(f"the baseline has no {ev.primary}s, so no relative change is given")
    p = ev.primary
    return Judgement(
        comparison=comparison, description=description, cutoffs=(a.cutoff, b.cutoff),
        mql_count=(a.count, b.count), mql_per_week=mql_t, rates=rates, rate_ci=rate_ci,
        hits_per_week=hits, relative=rel,
        decided=(int(a.point[f"d_{p}"]), int(b.point[f"d_{p}"])),
        hits=(int(a.point[f"h_{p}"]), int(b.point[f"h_{p}"])), moved=moved, basis=basis,
        comparable=comparable, notes=tuple(notes))


def paired_effect(a: ReplayResult, b: ReplayResult, outcomes, primary: str, *,
                  capacity_mql_per_week: float | None = None, n_boot: int = N_BOOT,
                  seed: int = 0, labels: SelectionLabels | None = None) -> Judgement:
    """Rule set ``b`` against ``a`` from two replays of the same leads (``per_lead=True``),
    with the bootstrap and the correction for selective labels (``labels``) that
    :func:`recommend` uses; the replays' statuses are taken as they are.

    Parameters
    ----------
    a, b : ReplayResult
        Replays of the same leads in the same order, with ``per_lead=True``.
    outcomes : sequence of str
    primary : str
        The outcome whose decided MQLs and hits the judgement counts.
    capacity_mql_per_week : float, optional
        Outcomes per week count at most this many MQLs a week.
    n_boot : int, default N_BOOT
        Bootstrap resamples over leads.
    seed : int, default 0
    labels : SelectionLabels, optional
        The holdout's columns, to correct every rate for selective labels.

    Returns
    -------
    Judgement
        Compared "as written" (each rule set at its own cutoff).

    Raises
    ------
    ValueError
        When the replays do not cover the same leads.

    Examples
    --------
    >>> from calib import load_dataset, load_rules, replay
    >>> from calib.pipeline.recommend import paired_effect
    >>> ds = load_dataset("calib-demo/data")
    >>> a = replay(ds, load_rules("calib-demo/current.toml"), window_days=90, per_lead=True)
    >>> b = replay(ds, load_rules("calib-demo/truth.toml"), window_days=90, per_lead=True)
    >>> e = paired_effect(a, b, ["meeting"], "meeting")
    >>> e.comparison, e.mql_count == (a.mql_count, b.mql_count)
    ('as written', True)
    """
    pa, pb = a.per_lead, b.per_lead
    if len(pa) != len(pb) or not (pa["lead_id"].to_numpy() == pb["lead_id"].to_numpy()).all():
        raise ValueError("paired_effect needs two replays of the same leads")
    codes = {name: i for i, name in enumerate([None, "hit", "late", "miss", "immature"])}
    w_ns = int(round(a.window_days * 86_400e9))
    end_ns = int(labels.end_ns) if labels is not None else NEVER
    st = _Stats(outcomes=outcomes, primary=primary, capacity=capacity_mql_per_week,
                weeks=1.0 if a.snapshot else (a.period.weeks or np.nan), labels=labels,
                n=len(pa), n_boot=n_boot, seed=seed, window_ns=w_ns, end_ns=end_ns,
                snapshot=a.snapshot)

    def side(res):
        pl = res.per_lead
        m = (ns_or_never(pl["mql_at"]) if "mql_at" in pl else
             np.where(pl["mql"].to_numpy(bool), 0, NEVER))
        statuses = {o: pl[f"status_{o}"].astype(object).map(codes).fillna(0).to_numpy(np.int8)
                    for o in outcomes}
        return st._sums(m, float("nan"), statuses=statuses)

    return _judge(st, side(a), side(b), "as written", f"'{b.rules}' against '{a.rules}'",
                  basis_text(labels))


def basis_text(labels: SelectionLabels | None) -> str:
    """What every rate and per-week count of a judgement rests on, in words.

    Parameters
    ----------
    labels : SelectionLabels, optional
        The holdout's columns when rates are corrected for selective labels.

    Returns
    -------
    str

    Examples
    --------
    >>> from calib.pipeline.recommend import basis_text
    >>> basis_text(None)
    'recorded outcomes'
    """
    if labels is None:
        return "recorded outcomes"
    return (f"outcomes corrected for selective labels with the holdout "
            f"({int(labels.holdout.sum()):,} leads), over the MQLs whose window is observed")


# ----------------------------------------------------------------------------- verdicts
def verdict(e: Judgement, primary: str, capacity_mql_per_week: float | None,
            per: str = "week") -> tuple[str, tuple[str, ...]]:
    """The verdict on one judgement and the reasons for it.

    Parameters
    ----------
    e : Judgement
        A changed rule set against the baseline on the same leads.
    primary : str
        The outcome that decides.
    capacity_mql_per_week : float, optional
        MQLs per ``per`` sales can work; a gain beyond it by more than 5% is only
        "consider".
    per : str, default "week"
        The unit of volumes ("data set" for a snapshot).

    Returns
    -------
    tuple
        ``(label, reasons)``: "recommend", "consider" or "hold", and the reasons,
        which always agree with the label.

    Examples
    --------
    >>> from calib import load_dataset, load_rules, replay
    >>> from calib.pipeline.recommend import paired_effect, verdict
    >>> ds = load_dataset("calib-demo/data")
    >>> a = replay(ds, load_rules("calib-demo/current.toml"), window_days=90, per_lead=True)
    >>> e = paired_effect(a, a, ["meeting"], "meeting")
    >>> verdict(e, "meeting", None)
    ('consider', ('no MQL changes on the evaluation leads: no effect on its own',))
    """
    capacity = capacity_mql_per_week
    r = e.rates[primary]
    early = _cannot_decide(e, primary)
    if early is not None:
        return early
    where = f" {per} sales can work" if capacity else f" {per}"
    harm = _harm(e, primary, where)
    if harm:
        return "hold", ("material harm cannot be ruled out: " + "; ".join(harm),)
    fin = np.isfinite
    h = e.hits_per_week[primary]
    # at matched volume the rate per MQL is the comparison; outcomes per week still
    # carry what is left of the volume gap, so they inform but do not decide
    matched = e.comparison == "matched"
    over = capacity is not None and fin(e.mql_per_week[1]) and \
        e.mql_per_week[1] > 1.05 * capacity
    gain_rate = r[3] > 0
    gain_hits = fin(h[3]) and h[3] > 0 and (gain_rate or not matched)
    gain = gain_rate or gain_hits
    fewer = fin(e.mql_per_week[2]) and e.mql_per_week[2] < -0.05
    if not gain and r[4] < 0 and not fewer:
        return "hold", (f"the {primary} rate per MQL is lower ({100 * r[2]:+.1f} points, "
                        f"{_rate_ci(r)}); the drop is within the {100 * HARM_RATE:.0f}-point "
                        "tolerance, but nothing is gained for it",)
    if gain:
        reasons = ([f"{primary} rate per MQL {100 * r[2]:+.1f} points ({_rate_ci(r)})"]
                   if gain_rate else [])
        if gain_hits:
            reasons.append(f"{h[2]:+.1f} {primary}s per{where} (95% CI {h[3]:+.1f} to "
                           f"{h[4]:+.1f})")
    else:
        reasons = [f"no measurable gain or harm: the {primary} rate changes by "
                   f"{100 * r[2]:+.1f} points ({_rate_ci(r)})"]
    if fewer:
        reasons.append(f"{-e.mql_per_week[2]:.1f} fewer MQLs per {per} "
                       + ("for sales to work" if gain else "at no measurable loss"))
    if over:
        reasons.append(_over_capacity(e.mql_per_week[1], capacity, per))
    return ("recommend" if gain and not over else "consider"), tuple(reasons)


def _rate_ci(r) -> str:
    """"95% CI +1.0 to +3.0" for the interval of a rate difference, in points."""
    return f"95% CI {100 * r[3]:+.1f} to {100 * r[4]:+.1f}"


def _cannot_decide(e: Judgement, primary: str) -> tuple[str, tuple[str, ...]] | None:
    """The verdict when the judgement cannot decide (too few outcomes, no lead moved,
    unmatched volumes, no interval); None when it can."""
    r = e.rates[primary]
    if min(e.decided) < MIN_DECIDED or min(e.hits) < MIN_HITS:
        return "hold", (f"too few outcomes to judge ({min(e.decided)} decided MQLs, "
                        f"{min(e.hits)} {primary}s on the smaller side; at least {MIN_DECIDED} "
                        f"and {MIN_HITS} are needed)",)
    if e.moved == 0:
        return "consider", ("no MQL changes on the evaluation leads: no effect on its own",)
    if e.moved < MIN_MOVED:
        return "consider", (f"only {e.moved} lead(s) change their MQL: no measurable effect "
                            "on its own",)
    if not e.comparable:
        return "hold", (e.notes[-1] if e.notes else "volumes could not be matched",)
    if not (np.isfinite(r[3]) and np.isfinite(r[4])):
        why = [n for n in e.notes if "undefined" in n] or ["the interval cannot be estimated"]
        return "hold", (f"the effect cannot be estimated: {why[0]}",)
    return None


def _harm(e: Judgement, primary: str, where: str) -> list[str]:
    """The guardrails the judgement's intervals reach: the primary rate's drop beyond
    ``HARM_RATE`` and (not at matched volume) outcomes per week beyond ``HARM_HITS``."""
    r, rel = e.rates[primary], e.relative[primary]
    harm = []
    if r[3] < -HARM_RATE:
        harm.append(f"the 95% interval of the {primary} rate reaches a drop of "
                    f"{-100 * r[3]:.1f} points (tolerance {100 * HARM_RATE:.0f})")
    if e.comparison != "matched" and np.isfinite(rel[1]) and rel[1] < -HARM_HITS:
        harm.append(f"the 95% interval of {primary}s per{where} reaches a drop of "
                    f"{-100 * rel[1]:.0f}% (tolerance {100 * HARM_HITS:.0f}%)")
    return harm


def _over_capacity(volume: float, capacity: float, per: str) -> str:
    return (f"but {volume:.0f} MQLs per {per} exceed the capacity of {capacity:g} by "
            f"{100 * (volume / capacity - 1):.0f}%, so not all can be worked: consider a higher "
            "cutoff")


# ----------------------------------------------------------------------------- recommend
def recommend(ds: Dataset, baseline: RuleSet, proposed: RuleSet, base_res: ReplayResult,
              prop_res: ReplayResult | None = None, *, primary: str, outcomes,
              window_days: float, start=None, end=None,
              capacity_mql_per_week: float | None = None, evaluation: str = "", seed: int = 0,
              n_boot: int = N_BOOT, drop_harmful: bool = True,
              recut: Callable[[RuleSet], RuleSet] | None = None,
              progress: Callable[[str], None] | None = None) -> Recommendations:
    """Judge every change of ``proposed`` against ``baseline``, alone and at matched
    volume, and the package (the sum of the changes that are kept).

    Parameters
    ----------
    ds : Dataset
    baseline, proposed : RuleSet
        ``proposed`` should be in :func:`calib.rules.changes.canonical_order`, so that
        the package is exactly the sum of its listed changes.
    base_res : ReplayResult
        The baseline replayed with ``per_lead=True`` on the evaluation period (``start``
        to ``end``); its leads are the evaluation leads.
    prop_res : ReplayResult, optional
        Unused; kept for callers of earlier versions.
    primary, outcomes, window_days, start, end, capacity_mql_per_week, evaluation, seed
        As in the experiment.
    drop_harmful : bool, default True
        Leave out of the package the changes (other than cutoffs) whose deciding
        judgement shows harm: the whole 95% interval of the primary rate's difference
        below zero.
    recut : callable, optional
        Re-sets the MQL cutoff of a package that lost changes (``calib run`` sets it to
        the capacity on the last weeks before the split); default: the cutoff whose
        volume on the evaluation leads is nearest the proposal's.
    progress : callable, optional
        Called with the change's text once per judged change, and once for the package.

    Returns
    -------
    Recommendations
        The package (the changes that are kept), each change with its verdict, the
        changes left out, and the caveats.

    Examples
    --------
    >>> from calib import load_dataset, load_rules, replay
    >>> ds = load_dataset("calib-demo/data")
    >>> base = load_rules("calib-demo/current.toml")
    >>> recs = recommend(ds, base, load_rules("calib-demo/truth.toml"),
    ...                  replay(ds, base, per_lead=True), primary="meeting",
    ...                  outcomes=["meeting"], window_days=90)
    >>> print(recs.summary())  # doctest: +ELLIPSIS
    Recommendations ...; primary outcome: meeting; ...
      [recommend] adopt 'truth' as a whole
    ...
    """
    bench, prop_side = _bench(ds, baseline, proposed, base_res, tuple(outcomes), primary,
                              window_days, start, end, capacity_mql_per_week, seed, n_boot,
                              progress)
    package_rules, included, excluded = _judge_changes(bench, proposed, prop_side,
                                                       drop_harmful, recut)
    bench.tick(f"adopt '{package_rules.name}' as a whole")
    p_side = bench.ev.side(package_rules) if package_rules is not proposed else prop_side
    package = _judge_package(bench, package_rules, p_side, included)
    order = {"recommend": 0, "consider": 1, "hold": 2}
    included.sort(key=lambda c: (order[c.verdict], -abs(c.impact)))
    caveats = _caveats(ds, bench.ev, base_res, p_side, primary, evaluation, bench.basis,
                       window_days)
    if excluded:
        caveats.insert(0, f"{len(excluded)} change(s) of the fit lower the {primary} rate on "
                       "their own and were left out of the package: "
                       + "; ".join(c.what for c in excluded) + ".")
    return Recommendations(primary=primary, evaluation=evaluation, package=package,
                           changes=tuple(included), caveats=tuple(caveats),
                           diff=_rules_diff(baseline, package_rules),
                           capacity_mql_per_week=bench.capacity, outcomes=bench.ev.outcomes,
                           per=bench.per, rules=package_rules, excluded=tuple(excluded),
                           basis=bench.basis)


@dataclass
class _Bench:
    """What every judgement of one :func:`recommend` call shares: the evaluator, the
    baseline on the evaluation leads, and how verdicts are worded."""

    ev: _Evaluator
    baseline: RuleSet
    base_side: _Side
    basis: str
    capacity: float | None
    per: str  # "week", or "data set" for a snapshot
    tick: Callable[[str], None]

    @property
    def primary(self) -> str:
        return self.ev.primary


def _bench(ds, baseline, proposed, base_res, outcomes, primary, window_days, start, end,
           capacity, seed, n_boot, progress) -> tuple[_Bench, _Side]:
    """The shared setting, and the proposal at its own cutoff (whose selective-label
    probes give every rule set's pooled gap rate)."""
    if base_res.snapshot:
        capacity = None  # a capacity per week means nothing without time
    ev = _Evaluator(ds, base_res, outcomes, primary, window_days, start, end, capacity, seed,
                    n_boot)
    basis = basis_text(ev.labels)
    bench = _Bench(ev, baseline, ev.side(baseline, sql=True), basis, capacity,
                   "data set" if base_res.snapshot else "week", progress or (lambda what: None))
    prop_side = ev.side(proposed)
    if ev.labels is not None:
        ev.prior_gap = {o: prop_side.point[f"cg_{o}"] / prop_side.point[f"cp_{o}"]
                        for o in outcomes if prop_side.point[f"cp_{o}"] > 0}
    return bench, prop_side


def _judge_changes(bench: _Bench, proposed: RuleSet, prop_side: _Side, drop_harmful: bool,
                   recut) -> tuple[RuleSet, list[Change], list[Change]]:
    """Every listed change judged; with ``drop_harmful`` the harmful ones leave the
    package, whose cutoff is re-set and whose cutoff changes are judged anew. Returns
    the package's rules, its changes and the changes left out."""
    baseline, primary = bench.baseline, bench.primary
    listed = rule_changes(baseline, proposed)
    scale = any(c.moves_scale for c in listed)
    judged = [_judge_change(bench, c, proposed, scale) for c in listed]
    harmful = [c for c in judged if c.kind != "cutoff" and _harmful(c.effect, primary)] \
        if drop_harmful else []
    package_rules = proposed
    if harmful:
        kept = [c.change for c in judged if c not in harmful]
        package_rules = apply_changes(baseline, kept, name=proposed.name)
        if recut is not None:
            package_rules = recut(package_rules)
        else:
            package_rules = _with_mql(package_rules,
                                      bench.ev.nearest_cutoff(package_rules, prop_side.count))
        # the cutoff changes follow the package's new cutoff: list and judge them anew
        new_cuts = [c for c in rule_changes(baseline, package_rules) if c.kind == "cutoff"]
        scale = any(c.moves_scale for c in rule_changes(baseline, package_rules))
        judged = [c for c in judged if c.kind != "cutoff"] + \
            [_judge_change(bench, c, package_rules, scale) for c in new_cuts]
    included = [c for c in judged if c not in harmful]
    excluded = [replace(c, reasons=c.reasons + ("left out of the package: it lowers the "
                                                f"{primary} rate on its own",), included=False)
                for c in harmful]
    return package_rules, included, excluded


def _judge_change(bench: _Bench, c: RuleChange, package: RuleSet, moves_scale: bool) -> Change:
    """One change alone, and at matched volume when it moves the score scale (an MQL
    cutoff on a new scale: its role in the package)."""
    ev, primary, baseline = bench.ev, bench.primary, bench.baseline
    changed = apply_changes(baseline, [c], name=f"{baseline.name}+change", drop_invalid_sql=True)
    bench.tick(c.text)
    b = ev.side(changed, sql=c.op == "threshold" and c.key == "sql")
    alone = _judge(ev, bench.base_side, b, "alone", "the baseline with only this change, at "
                   "its cutoff", bench.basis)
    matched = in_pkg = None
    if c.moves_scale:
        cut = ev.nearest_cutoff(changed, bench.base_side.count)
        bm = b if cut == changed.thresholds.mql else ev.side(changed, cut)
        matched = _judge(ev, bench.base_side, bm, "matched",
                         f"the MQL cutoff re-set to {cut:.4g} so the changed rules route "
                         "as many MQLs as the baseline", bench.basis, check_volume=True)
        decided_by, j = "matched", matched
    elif c.op == "threshold" and c.key == "mql" and moves_scale:
        # a new cutoff on a new score scale: what it does is set the package's volume
        cut = ev.nearest_cutoff(package, bench.base_side.count)
        in_pkg = _judge(ev, ev.side(package, cut), ev.side(package), "in package",
                        f"the proposal with this cutoff against the proposal at the "
                        f"baseline's volume (cutoff {cut:.4g})", bench.basis)
        decided_by, j = "in package", in_pkg
    else:
        decided_by, j = "alone", alone
    v, reasons = verdict(j, primary, bench.capacity if c.kind == "cutoff" else None, bench.per)
    if c.op == "threshold" and c.key == "sql":
        reasons = reasons + (_sql_volume(bench, b.sql_count, c.value is None),)
    return Change(c.kind, c.text, alone, matched, decided_by, v, reasons,
                  float(np.nan_to_num(j.hits_per_week[primary][2])), change=c,
                  in_package=in_pkg)


def _sql_volume(bench: _Bench, changed_count: int | None, removed: bool) -> str:
    """"SQLs per week 3.0 → 2.0": what an SQL cutoff change does to the SQL volume."""
    wk = bench.ev.weeks
    return (f"SQLs per {bench.per} {_num((bench.base_side.sql_count or 0) / wk)} → "
            f"{_num((changed_count or 0) / wk)}" + (" (no SQL stage)" if removed else ""))


def _judge_package(bench: _Bench, package_rules: RuleSet, p_side: _Side,
                   included: list[Change]) -> Change:
    """The package as written and at matched volume (the baseline's cutoff re-set),
    decided at matched volume."""
    ev, primary = bench.ev, bench.primary
    as_written = _judge(ev, bench.base_side, p_side, "as written",
                        "the proposal with its own cutoff against the baseline", bench.basis)
    cut_b = ev.nearest_cutoff(bench.baseline, p_side.count)
    b_at = ev.side(bench.baseline, cut_b)
    pm = _judge(ev, b_at, p_side, "matched", f"the baseline's MQL cutoff re-set to {cut_b:.4g} "
                "so it routes as many MQLs as the proposal", bench.basis, check_volume=True)
    if not pm.comparable:  # the baseline's scores tie: move the proposal's cutoff too
        cut_p = ev.nearest_cutoff(package_rules, b_at.count)
        pm2 = _judge(ev, b_at, ev.side(package_rules, cut_p), "matched",
                     f"the baseline's MQL cutoff re-set to {cut_b:.4g} and the proposal's to "
                     f"{cut_p:.4g}, so both route about as many MQLs", bench.basis,
                     check_volume=True)
        pm = pm2 if pm2.comparable else pm
    v, reasons = _package_verdict(bench, pm, as_written, included)
    return Change("package", f"adopt '{package_rules.name}' as a whole", as_written, pm,
                  "matched", v, reasons, float(np.nan_to_num(pm.hits_per_week[primary][2])))


def _package_verdict(bench: _Bench, pm: Judgement, as_written: Judgement,
                     included: list[Change]) -> tuple[str, tuple[str, ...]]:
    """The package's verdict at matched volume, with its volume against the capacity
    and the parts that are held alone."""
    capacity, per = bench.capacity, bench.per
    v, reasons = verdict(pm, bench.primary, None, per)
    volume, today = as_written.mql_per_week[1], as_written.mql_per_week[0]
    if v == "recommend" and capacity is not None and volume > 1.05 * capacity:
        over = _over_capacity(volume, capacity, per)
        if volume < today:
            # still over capacity, but closer to it than today's rules: adopting it is
            # a step towards what sales can work, and the excess is a risk to state
            reasons = reasons + (f"{over[4:]} (the current rules route {today:.0f})",)
        else:
            v, reasons = "consider", reasons + (over,)
    held_parts = [c for c in included if c.verdict == "hold"]
    if held_parts and v != "hold":
        reasons = reasons + (f"{len(held_parts)} of its {len(included)} changes cannot be shown "
                             "harmless on their own (held alone); they belong in it only "
                             "together with the others, whose joint effect this row measures",)
    return v, reasons


def _rules_diff(baseline: RuleSet, package_rules: RuleSet) -> str:
    """The unified diff of the two rule sets' TOML."""
    return "".join(difflib.unified_diff(
        dumps_rules(baseline).splitlines(keepends=True),
        dumps_rules(package_rules).splitlines(keepends=True),
        fromfile=f"{baseline.name}.toml", tofile=f"{package_rules.name}.toml"))


def _harmful(j: Judgement, primary: str) -> bool:
    """Evidence of harm: the whole 95% interval of the primary rate's difference below 0."""
    r = j.rates[primary]
    return bool(j.comparable and np.isfinite(r[4]) and r[4] < 0)


def _with_mql(rules: RuleSet, cut: float) -> RuleSet:
    th = rules.thresholds
    cut = float(round(cut))
    params = {"thresholds.mql": int(cut)}
    if th.sql is not None:
        params["thresholds.sql"] = int(round(max(th.sql - th.mql + cut, cut + 1)))
    return rules.with_params(params)


def _caveats(ds, ev: _Evaluator, base_res, p_side: _Side, primary, evaluation, basis,
             window_days) -> list[str]:
    out = []
    corrected = ev.labels is not None
    base_mql = (base_res.per_lead["mql_at"].notna().to_numpy() if "mql_at" in base_res.per_lead
                else base_res.per_lead["mql"].to_numpy(bool))
    new = (p_side.m_time != NEVER) & ~base_mql
    if corrected:
        p = p_side.point
        out.append(
            f"Selective labels: {int(p[f'cu_{primary}']):,} of the proposal's "
            f"{int(p[f'cd_{primary}']):,} MQLs with a full window were routed late or never by "
            f"the historical rules, so their early '{primary}' outcomes may be missing from the "
            f"data; the rates are corrected with the {int(ev.labels.holdout.sum()):,} holdout "
            f"leads ({int(p[f'cp_{primary}']):,} of them among those MQLs), which widens the "
            "intervals.")
    from calib.data import SALES_OUTCOMES

    first = ds.first_outcomes()
    worked = set(ds.lead_ids(first.loc[first["outcome"].isin(SALES_OUTCOMES), "lead"]))
    ids = ev.ds.leads["lead_id"]
    mqls = p_side.m_time != NEVER
    if mqls.any():
        cov = float(ids[mqls].isin(worked).mean())
        if cov < 0.995:
            out.append(f"Coverage: {cov:.0%} of the proposal's MQLs have a recorded sales "
                       "outcome; the rest were never worked, so their outcomes are unknown"
                       + ("; the holdout stands in for them in the corrected rates." if corrected
                          else " and count as misses."))
    if new.any():
        share = float(ids[new].isin(worked).mean())
        if share < 0.5:
            out.append(f"{int(new.sum()):,} leads would become MQLs only under the proposal; "
                       f"only {share:.0%} of them were ever worked by sales, so the estimate "
                       "for them rests on few observed outcomes (selective labels)"
                       + (", corrected with the holdout." if corrected else "."))
        else:
            out.append(f"{int(new.sum()):,} leads would become MQLs only under the proposal; "
                       f"{share:.0%} of them were worked by sales, so their outcomes are "
                       "observed.")
    if not ev.snapshot:
        open_ = int((mqls & (p_side.m_time > ev.end_ns - ev.window_ns)).sum())
        if open_:
            out.append(f"{open_:,} of the proposal's MQLs came too late for their whole "
                       f"{window_days:g}-day window to be observed"
                       + (" and are left out of the corrected rates." if corrected else
                          "; those without the outcome yet are left out of rates (immature)."))
    if "in sample" in evaluation:
        out.append("The proposal is judged on the same period it was tuned on, which flatters "
                   "it; set train_until in the experiment file for an out-of-time check.")
    holdout = [c for c in ds.leads.columns if "holdout" in str(c).lower()]
    worked_share = first.loc[first["outcome"].isin(SALES_OUTCOMES), "lead"].nunique() / \
        max(ds.n_leads, 1)
    if not holdout and worked_share < 0.95:
        out.append(f"The data has no exploration holdout: {1 - worked_share:.0%} of leads have no "
                   "recorded sales outcome, because the old rules never sent them to sales. "
                   "Route a small random share (e.g. 5%) of below-cutoff leads to sales, marked "
                   "in a column, so future analyses can measure what the old rules missed.")
    out.append("Each change is judged alone on the current rules (at the current cutoff, and "
               "at matched volume: its MQL cutoff re-set to route as many MQLs as the current "
               "rules); changes work together, so the package is what to adopt. Rates and "
               f"per-week counts: {basis}.")
    return out

