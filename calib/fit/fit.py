"""``fit``: learn points, decay and cutoffs from outcomes, validated out of time.

The steps (each in its own module):

1. **Split** (:func:`_split`): the model sees the data as it was at ``train_until``
   (leads created by then, events and outcomes up to then); the leads created after it
   are the test period. Snapshot data sets (no time) use a seeded random third of the
   leads as the test set instead.
2. **Examples** (:mod:`calib.fit.examples`): leads at their evaluation points, per event
   type decayed counts, labels over a short window (a discrete-time hazard design).
3. **Decay** (:mod:`calib.fit.decay`): kinds compared and the parameter profiled.
4. **Points** (:mod:`calib.fit.points`): the logistic model, integer points on the
   current rules' scale, a review of every current rule (vanity and over-weighted rules).
5. **Cutoffs** (:mod:`calib.fit.cutoffs`): MQL by capacity or volume, SQL by precision.
6. **Out-of-time check**: current and proposed rules replayed on the test leads, the
   proposed cutoff set so both route the same number of MQLs; rates with Wilson
   intervals, the difference with Newcombe's interval; the same corrected for selective
   labels where a holdout allows (a difference estimator with a paired bootstrap
   interval, :mod:`calib.fit.selection`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from calib.data.dataset import SALES_OUTCOMES, Dataset, ns, ns_or_never
from calib.engine.delays import mature_hint, resolve_window
from calib.engine.prepare import fit_matrix, prepare
from calib.engine.replay import NEVER, _timestamp, combine_scores, replay
from calib.engine.results import _iso, _num
from calib.engine.score import bands
from calib.errors import CalibError
from calib.fit.booking import initial_delays, spread_labels, update_delays
from calib.fit.cutoffs import (choose_mql_cutoff, choose_sql_cutoff, cutoff_curve,
                               equal_volume_cutoff)
from calib.fit.decay import KINDS, DecayProfile, make_decay, profile_decay
from calib.fit.design import attribute_matrix, attribute_terms
from calib.fit.examples import build_examples, outcome_time, truncate
from calib.fit.logistic import fit_logit
from calib.fit.points import (BehaviorTerm, behavior_terms, choose_l2, equality_pvalue,
                              fit_model, review_rules, split_terms, term_matrix)
from calib.fit.screen import lead_separation, screen_columns, screen_events
from calib.fit.selection import (AUTO, covered_leads, coverage_by_band, coverage_by_routing,
                                 holdout_mask, SelectionLabels, corrected_comparison,
                                 routed_mask, routed_times)
from calib.rules.config import Decay, RuleSet
from calib.stats import diff_ci, proportion_ci

__all__ = ["fit", "FitResult"]

DEFAULT_HOLDOUT = "exploration_holdout"
EM_ROUNDS = 4  # booking-delay EM iterations at the starting decay
MIN_PROBE_POSITIVES = 30  # holdout examples with the outcome, before routing, to weight a fit
DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class FitResult:
    """What :func:`fit` learnt and how the proposal did out of time.

    Attributes
    ----------
    rules : RuleSet
        The proposed rule set (write it with :func:`calib.rules.write_rules`).
    current : str
        Name of the current rule set.
    decay : DecayProfile
        Decay kinds compared and the profile of the chosen one.
    effects : DataFrame
        One row per model term: coefficient (ridge), unpenalised coefficient, 95%
        cluster-robust interval, points, and the current rule it comes from.
    review : DataFrame
        One row per current rule: points, effect (log-odds) with its standard error,
        supported points with interval on the current rules' own scale, status
        (``ok``, ``vanity``, ``wrong_sign``, ``over_weighted``, ``under_weighted``).
    event_effects : DataFrame
        Per event type effect (log-odds of one fresh event) with its interval, from the
        model with one term per event type.
    cutoffs : dict
        The chosen MQL and SQL cutoffs and how they were chosen.
    curve : DataFrame
        Volume and hit rate of every integer cutoff over the training leads.
    comparison : dict
        Out-of-time comparison at equal MQL volume (observed, and IPW-corrected when a
        holdout allows).
    selection : dict
        Coverage by score band, holdout, weighting and recommendations.
    """

    rules: RuleSet
    current: str
    outcome: str
    split: dict
    examples: dict
    points_per_logit: float
    decay: DecayProfile
    effects: pd.DataFrame
    review: pd.DataFrame
    event_effects: pd.DataFrame
    new_rules: tuple[str, ...]
    cutoffs: dict
    curve: pd.DataFrame
    comparison: dict
    selection: dict
    warnings: tuple[str, ...] = field(default=())
    screened: tuple = field(default=())
    penalty: dict = field(default_factory=dict)
    separation: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ output
    def to_frame(self) -> pd.DataFrame:
        """The model terms with their points (one row per term)."""
        return self.effects.copy()

    @property
    def flagged(self) -> pd.DataFrame:
        """Current rules whose points the data do not support."""
        return self.review[~self.review["status"].isin(["ok", "no_data"])]

    def to_dict(self) -> dict:
        def records(df):
            return [{k: (_num(v) if isinstance(v, (float, np.floating)) else
                         (v.item() if hasattr(v, "item") else v)) for k, v in r.items()}
                    for r in df.to_dict("records")]

        return {
            "rules": self.rules.to_dict(),
            "current": self.current,
            "proposed": self.rules.name,
            "outcome": self.outcome,
            "split": self.split,
            "examples": self.examples,
            "points_per_logit": _num(self.points_per_logit),
            "decay": {**self.decay.to_dict(), "curve": records(self.decay.curve),
                      "by_kind": records(self.decay.kinds)},
            "effects": records(self.effects),
            "review": records(self.review),
            "event_effects": records(self.event_effects),
            "flagged": records(self.flagged),
            "new_rules": list(self.new_rules),
            "cutoffs": self.cutoffs,
            "comparison": self.comparison,
            "selection": self.selection,
            "warnings": list(self.warnings),
            "screened": list(self.screened),
            "penalty": self.penalty,
            "separation": self.separation,
        }

    def summary(self) -> str:
        L = []
        s = self.split
        L.append(f"Fit of '{self.outcome}' from rule set '{self.current}' -> proposed "
                 f"'{self.rules.name}'")
        if s["kind"] == "time":
            L.append(f"  trained on {s['train_leads']:,} leads created up to "
                     f"{s['train_until'][:10]} (data as known then); tested on "
                     f"{s['test_leads']:,} leads created after")
        else:
            L.append(f"  snapshot data: trained on {s['train_leads']:,} leads, tested on a "
                     f"random {s['test_leads']:,}")
        w = s.get("window")
        if w:
            L.append(f"  window: {w['sentence']}")
        e = self.examples
        if s["kind"] == "time":
            L.append(f"  {e['n']:,} point-in-time examples ({e['positives']:,} positive) from "
                     f"{e['leads']:,} leads; label window: until the next moment, at most "
                     f"{e['horizon_days']:g} days")
        else:
            L.append(f"  {e['n']:,} examples ({e['positives']:,} with the outcome), one per lead")
        lt = e.get("label_time") or {}
        if lt.get("model") == "booking delay":
            L.append(f"  label time: each outcome spread over the moments that could have "
                     f"decided it; estimated delay from decision to outcome {lt['mean_days']:.1f} "
                     f"days on average, 95% within {lt['q95_days']:g} days"
                     + ("; the decay is learnt from the holdout leads (their labels are "
                        "complete)" if lt.get("decay_from") == "holdout leads" else ""))
        L.append("  " + self.decay.summary())
        if len(self.decay.kinds) > 1:
            L.append("    kinds by AIC: " + ", ".join(
                f"{r.kind}{'' if np.isnan(r.parameter_days) else f' ({r.parameter_days:.3g} d)'}"
                f" +{r.delta_aic:.1f}" for r in self.decay.kinds.itertuples()))
        L.append(f"  points: {self.points_per_logit:.2f} points per unit of log-odds")
        pen = self.penalty
        if pen:
            L.append(f"  estimates: {pen['method']}, strength {pen['l2']:g} "
                     f"({pen['chosen_by']}); every interval is a 95% cluster-robust "
                     "interval of the penalised fit")
        L.append("  proposed rules:")
        for r in self.rules.behavior:
            extra = f", cap {r.cap:g}" if r.cap is not None else ""
            new = " (new)" if r.name in self.new_rules else ""
            L.append(f"    behavior {r.name:<24}{r.points:>+5g}{extra}{new}")
        for r in self.rules.fit:
            new = " (new)" if r.name in self.new_rules else ""
            L.append(f"    fit      {r.name:<24}{r.points:>+5g}{new}")
        c = self.cutoffs
        L.append(f"  cutoffs: mql {c['mql']:g} ({c['mql_basis']})"
                 + (f", sql {c['sql']:g} (precision target {c['sql_target']:.1%})"
                    if c.get("sql") is not None else ", no sql cutoff"))
        fl = self.flagged
        if len(fl):
            sc = self.review["scale"].iloc[0] if len(self.review) else float("nan")
            L.append(f"  current rules the data do not support (points on the current rules' "
                     f"own scale, {sc:.1f} per unit of log-odds):")
            for r in fl.itertuples():
                L.append(f"    {r.status:<15}{r.rule:<22} has {r.points:+g}, evidence "
                         f"supports {r.supported_points:+.1f} ({r.supported_low:+.1f} to "
                         f"{r.supported_high:+.1f})")
        cmp_ = self.comparison
        if cmp_.get("status") == "ok":
            where = ("out of time" if s["kind"] == "time" else "on the held-out leads")
            within = (f" within {cmp_['window_days']:g} days" if s["kind"] == "time" else "")
            L.append(f"  {where} at matched MQL volume (current {cmp_['mql_count']:,} MQLs, "
                     f"proposed {cmp_['proposed']['mql_count']:,} at cutoff "
                     f"{cmp_['proposed_cutoff']:.4g}), {self.outcome}{within}:")
            L.append(f"    {'':<10}{'MQLs with the whole window observed':<44}"
                     f"{'replay rate (hits/decided)':<28}hits per MQL")
            for key in ("current", "proposed"):
                r = cmp_[key]
                m = r["mature"]
                L.append(f"    {key:<9} {m['hits']:>6,} / {m['decided']:<6,} = {_pct(m['rate']):>6} "
                         f"({_pct(m['ci_low'])} to {_pct(m['ci_high'])})   "
                         f"{r['hits']:>6,} / {r['decided']:<6,} = {_pct(r['rate']):<8}"
                         f"{_pct(r['hits_per_mql'])}")
            d = cmp_["difference"]
            L.append(f"    difference {d['diff'] * 100:+.1f} points ({d['ci_low'] * 100:+.1f} to "
                     f"{d['ci_high'] * 100:+.1f}, Newcombe; {d['basis']})")
            at = cmp_.get("at_proposed_volume")
            if at and at.get("difference"):
                d2 = at["difference"]
                L.append(f"    at the proposed cutoff's volume ({at['mql_count']:,} MQLs; current "
                         f"cutoff raised to {at['current_cutoff']:.4g}): current "
                         f"{_pct(at['current']['mature']['rate'])}, proposed "
                         f"{_pct(at['proposed']['mature']['rate'])}, difference "
                         f"{d2['diff'] * 100:+.1f} points ({d2['ci_low'] * 100:+.1f} to "
                         f"{d2['ci_high'] * 100:+.1f})")
            cor = cmp_.get("corrected")
            if cor:
                d3 = cor["difference"]
                if d3.get("diff") is None:
                    L.append(f"    corrected for selective labels: not possible ({cor.get('reason')})")
                else:
                    L.append(f"    corrected for selective labels (meetings missed where the historical rules "
                             f"routed late or never, estimated from the {cor['holdout_leads']:,} holdout leads):")
                    for key in ("current", "proposed"):
                        r = cor[key]
                        L.append(f"    {key:<9} {_pct(r['rate']):>6} ({_pct(r['ci_low'])} to "
                                 f"{_pct(r['ci_high'])}); {r['unseen']:,} of {r['decided']:,} MQLs "
                                 f"routed late or never, {r['holdout_unseen']:,} of them in the holdout")
                    L.append(f"    difference {d3['diff'] * 100:+.1f} points ({d3['ci_low'] * 100:+.1f} to "
                             f"{d3['ci_high'] * 100:+.1f}, paired bootstrap)")
            if cmp_.get("new_mql_unworked_share") is not None:
                L.append(f"    {cmp_['new_mql_unworked_share']:.1%} of the proposed MQLs were "
                         "never routed historically nor in a holdout (their outcomes may be "
                         "missing)")
        else:
            L.append(f"  out-of-time comparison: {cmp_.get('reason')}")
        sel = self.selection
        if sel.get("coverage_by_band"):
            L.append("  coverage (share of test leads with any sales outcome) by band of peak score:")
            for r in sel["coverage_by_band"]:
                L.append(f"    {r['rules']:<9}{r['band']:<6}{r['leads']:>8,} leads  {r['coverage']:.1%}")
        for rec in sel.get("recommendations", []):
            L.append(f"  note: {rec}")
        for w in self.warnings:
            L.append(f"  warning: {w}")
        return "\n".join(L)


def _example_weights(ex, routed_at: np.ndarray, holdout: np.ndarray, pi: float) -> np.ndarray:
    """Inverse-probability weights of training examples under selective labels.

    An example (lead j, moment t) has a trustworthy label when sales was working the lead
    from t on: the historical rules had routed it by then (``routed_at[j] <= t``; weight
    1), or it is in the holdout, worked from its creation (weight ``1 / pi``, standing in
    for the leads not yet routed at their moment). Other examples (not yet routed, not
    in the holdout) get weight 0: a meeting they led to may be missing from the data.
    Valid when the holdout is a random share ``pi`` of all leads."""
    r = routed_at[ex.lead]
    seen = (r != NEVER) & (r <= ex.t)
    return np.where(seen, 1.0, np.where(holdout[ex.lead], 1.0 / pi, 0.0))


def _separation_notes(separated: dict, points: dict, bound: float, outcome: str,
                      warnings: list) -> dict:
    """Plain-words warnings for the terms the data separate (``name -> (leads,
    had_outcome)``), whose points are clipped at ``bound``, and for finite effects beyond
    it, which are kept (``points``: unrounded points per term); returns the
    ``separation`` table of :class:`FitResult`."""
    clipped = {n for n, p in points.items() if abs(p) >= bound and n in separated}
    quiet = []  # separated terms whose points are not clipped: named together
    for t_name, (n_sep, had) in separated.items():
        if t_name not in clipped and len(separated) > 3:
            quiet.append(t_name)
            continue
        who = (f"all {n_sep:,} training leads with it {'had' if had else 'lacked'} "
               f"'{outcome}'" if n_sep else "every training example with it had the same label")
        warnings.append(f"The data separate on '{t_name}': {who}, so its effect has no finite "
                        "unpenalised estimate; its points are the penalised (shrunk) estimate"
                        + (f", clipped at {bound:g} points" if t_name in clipped else "") + ".")
    if quiet:
        shown = ", ".join(f"'{q}'" for q in quiet[:5])
        more = f" and {len(quiet) - 5} more" if len(quiet) > 5 else ""
        warnings.append(f"The data separate on {len(quiet)} terms ({shown}{more}): every "
                        "lead or example with one had the same label, so they have no finite "
                        "unpenalised estimate; their points are penalised (shrunk) estimates, "
                        "none at the bound.")
    for t_name, p in points.items():
        if abs(p) >= bound and t_name not in separated:
            warnings.append(f"'{t_name}' is worth {p:+.0f} points, more than twice the MQL "
                            "cutoff: on its own it decides whether a lead can become an MQL "
                            "(a finite, penalised estimate, so it is kept as it is).")
    return {k: {"leads": v[0], "had_outcome": v[1], "clipped": k in clipped}
            for k, v in separated.items()}


def _max_delay(lead, t, o, horizon_days: float) -> float:
    """The longest delay from booking to outcome the booking-delay model allows: twice
    the 95% quantile of the gap from a positive lead's last moment to its outcome, plus a
    day, between 3 days and the horizon."""
    pos = o != NEVER
    last = np.r_[lead[1:] != lead[:-1], True] & pos
    gaps = (o[last] - t[last]) / 86_400e9
    q = float(np.quantile(gaps, 0.95)) if len(gaps) else 1.0
    return float(np.clip(2 * q + 1, 3.0, max(horizon_days, 3.0)))


def _pct(x) -> str:
    return "-" if x is None else f"{x:.1%}"


def evaluate(ds: Dataset, current: RuleSet, candidate: RuleSet, *, outcome: str = "meeting",
             train_until=None, window_days: float | None = None,
             holdout_column: str | None = AUTO, seed: int = 0) -> dict:
    """The out-of-time comparison of :func:`fit` for any candidate rule set: on the leads
    created after ``train_until``, ``candidate`` at ``current``'s MQL volume, observed and
    corrected for selective labels with the holdout (see :mod:`calib.fit.selection`).

    Returns the ``comparison`` dict of :class:`FitResult` (``current``, ``proposed``: the
    candidate, ``difference``, ``corrected``, ``at_proposed_volume``)."""
    outcome_time(ds, outcome)
    window_days = resolve_window(ds, window_days, [outcome], rules=current).days
    _, test_codes, split = _split(ds, train_until, seed, window_days, [outcome])
    hcol = _holdout_column(ds, holdout_column)
    comparison, _ = _evaluate(ds, current, candidate, test_codes, outcome, window_days, hcol,
                              split)
    return comparison


# ---------------------------------------------------------------------------- helpers
def _holdout_column(ds: Dataset, holdout_column: str | None) -> str | None:
    """The leads column of the exploration holdout, or None (``auto``: the default name
    when present)."""
    hcol = DEFAULT_HOLDOUT if holdout_column == AUTO else holdout_column
    if hcol is not None and hcol not in ds.leads.columns:
        if holdout_column != AUTO:
            raise CalibError(f"The holdout column '{hcol}' is not a column of the leads table.",
                             code="unknown_field")
        hcol = None
    return hcol


def _default_train_until(ds: Dataset) -> pd.Timestamp:
    start = ds.leads["created_at"].min()
    end = ds.end_of_data
    return (start + (end - start) * 2 / 3).floor("D")


def _split(ds: Dataset, train_until, seed: int, window_days: float = 90.0, outcomes=()):
    if ds.snapshot:
        rng = np.random.default_rng(seed)
        test = rng.random(ds.n_leads) < 1 / 3
        train_ds = ds.subset(np.flatnonzero(~test))
        return train_ds, np.flatnonzero(test), {"kind": "random", "train_until": None,
                                                 "seed": seed}
    T = _default_train_until(ds) if train_until is None \
        else _timestamp(train_until, "--train-until")
    start = ds.leads["created_at"].min()
    if not (start < T < ds.end_of_data):
        raise CalibError(f"--train-until ({T.date()}) must fall inside the data "
                         f"({start.date()} to {ds.end_of_data.date()}).", code="invalid_date")
    created = ns(ds.leads["created_at"])
    # test leads: created after T and early enough to have had the whole attribution
    # window before the end of the data
    last = ds.end_of_data - pd.Timedelta(days=window_days)
    after = created > T.value
    test = np.flatnonzero(after & (created <= last.value))
    split = {"kind": "time", "train_until": _iso(T), "test_created_until": _iso(last)}
    if len(test) == 0 and after.any():
        split["no_test_reason"] = (f"{int(after.sum()):,} leads were created after "
                                   f"{T.date()}, but none is mature: "
                                   + mature_hint(ds, created[after], window_days, outcomes))
    return truncate(ds, T), test, split


def _scores(ds: Dataset, rules: RuleSet):
    prep = prepare(ds, rules)
    d = prep.decayed(rules.decay)
    score, fit = combine_scores(d, prep, rules)
    return prep, score, fit


def _int_points(x: float) -> int:
    return int(np.round(x))


def _rule_dict(name, decay: Decay, b_terms, b_points, f_terms, f_points, limits) -> dict:
    behavior = []
    for t, p in zip(b_terms, b_points):
        if p == 0:
            continue
        r = {"name": t.name}
        if len(t.events) == 1:
            r["event"] = t.events[0]
        else:
            r["events"] = list(t.events)
        r["points"] = p
        if t.cap_count is not None:
            cap = abs(p) * t.cap_count
            r["cap"] = int(math.ceil(cap - 1e-9)) if isinstance(p, int) else float(cap)
        if t.max_per_day is not None:
            r["max_per_day"] = t.max_per_day
        behavior.append(r)
    fit_rules = []
    for t, p in zip(f_terms, f_points):
        if p == 0:
            continue
        d = t.to_dict()
        d["name"] = t.name
        d["points"] = p
        fit_rules.append(d)
    out = {"name": name}
    if fit_rules:
        out["fit"] = fit_rules
    if behavior:
        out["behavior"] = behavior
    out["decay"] = decay.to_dict()
    if limits:
        out["limits"] = limits
    return out


# ------------------------------------------------------------------------------- fit
def fit(ds: Dataset, rules: RuleSet, *, outcome: str = "meeting", train_until=None,
        horizon_days: float | None = None, lag_days: float = 1.0,
        window_days: float | None = None, capacity_per_week: float | None = None, sql_precision: float | None = None,
        holdout_column: str | None = AUTO, weighting: str = "auto",
        kinds=KINDS, l2: float | None = None, max_examples: int = 600_000,
        exclude_columns=(), name: str | None = None, seed: int = 0,
        examples_builder=None, label_delay: str = "model", progress=None) -> FitResult:
    """Learn points, decay and cutoffs from outcomes and validate them out of time.

    Parameters
    ----------
    ds : Dataset
        The history (:func:`calib.load_dataset`). For a partitioned data set (``calib
        partition``) use :func:`calib.distributed.fit`, which builds the training
        examples partition by partition and gives the same result.
    rules : RuleSet
        The current rule set: the structure to keep (rule names, caps, ``max_per_day``),
        the scale to match and the baseline to beat.
    outcome : str, default "meeting"
        The outcome to predict.
    train_until : str or Timestamp, optional
        Fit on the data as known at this date; test on leads created after. Default:
        two thirds of the way from the first ``created_at`` to the end of the data.
    horizon_days : float, optional
        Longest label window of an example (see :mod:`calib.fit.examples`). Default: the
        attribution window, at most 30 days.
    lag_days : float, default 1
        Time from the decisive moment to the recorded outcome.
    window_days : float, optional
        Attribution window of the replays (cutoffs and the out-of-time check). Default:
        from the data, the 95% quantile of the delay from the MQL (else from lead
        creation) to the outcome
        (:func:`calib.engine.delays.window_from_data`; 90 days when too few leads have it).
    capacity_per_week : float, optional
        MQLs per week sales can take; without it the MQL cutoff keeps the current
        rules' volume.
    sql_precision : float, optional
        Target hit rate of SQLs (default: the current rules' SQL hit rate on the
        training leads, else twice the MQL hit rate).
    holdout_column : str or None, default "auto"
        Lead column flagging a random exploration holdout (``auto``: ``exploration_holdout``
        when present).
    weighting : {"auto", "none", "ipw"}, default "auto"
        Inverse-probability weighting of the training examples (see
        :mod:`calib.fit.selection`). ``auto`` weights when the holdout gives at least
        ``MIN_PROBE_POSITIVES`` (30) examples with the outcome from before the historical
        routing.
    kinds : tuple of str
        Decay kinds to compare.
    l2 : float, optional
        Ridge penalty on standardised columns. Default: chosen by time-series
        cross-validation (:func:`calib.fit.points.choose_l2`).
    max_examples : int
        Negatives are subsampled above this many examples.
    exclude_columns : sequence of str
        Lead columns never to use (e.g. ones filled in by sales after the fact).
    name : str, optional
        Name of the proposed rule set (default: ``<current>-fitted``).
    seed : int, default 0
        Seed of the subsampling and of the snapshot split.
    examples_builder : callable, optional
        ``examples_builder(ds, train_ds, rules, outcome, **options)`` returns the training
        examples (:class:`calib.fit.examples.Examples`) that
        :func:`calib.fit.build_examples` would build from ``train_ds``; default: built
        here. :func:`calib.distributed.fit` passes one that works partition by partition.
    progress : callable, optional
        Called once after each refit of the decay profile, the longest part of the fit
        (a progress bar's tick).
    label_delay : {"model", "fixed"}, default "model"
        When an outcome was decided: ``model`` spreads each label over the moments that
        could have booked it, with a delay distribution estimated from the data
        (:mod:`calib.fit.booking`); ``fixed`` places it ``lag_days`` before the outcome.

    Returns
    -------
    FitResult

    Examples
    --------
    >>> from calib import load_dataset, load_rules
    >>> res = fit(load_dataset("calib-demo/data"), load_rules("calib-demo/current.toml"),
    ...           max_examples=5000)
    >>> print(res.summary().splitlines()[0])
    Fit of 'meeting' from rule set 'current' -> proposed 'current-fitted'
    """
    if not isinstance(ds, Dataset):
        raise CalibError("fit needs a data set (calib.load_dataset); for a partitioned one "
                         "use calib.distributed.fit.", code="not_a_dataset")
    outcome = outcome.lower()
    warnings: list[str] = []
    if weighting not in ("auto", "none", "ipw"):
        raise CalibError(f"weighting must be 'auto', 'none' or 'ipw'. Got {weighting!r}.",
                         code="invalid_value")
    for k in kinds:
        if k not in KINDS:
            raise CalibError(f"Unknown decay kind {k!r} to compare; allowed: {', '.join(KINDS)}.",
                             code="invalid_value")
    outcome_time(ds, outcome)  # raises on an unknown outcome
    window = resolve_window(ds, window_days, [outcome], rules=rules)
    window_days = window.days
    if horizon_days is None:
        horizon_days = min(30.0, window_days)
    if not horizon_days > 0 or not window_days > 0 or lag_days < 0:
        raise CalibError("horizon_days and window_days must be > 0 and lag_days >= 0.",
                         code="out_of_range")
    if capacity_per_week is not None and not capacity_per_week > 0:
        raise CalibError(f"The capacity must be > 0 MQLs per week. Got {capacity_per_week!r}.",
                         code="out_of_range")
    hcol = _holdout_column(ds, holdout_column)
    excluded = set(exclude_columns) | ({hcol} if hcol else set())
    for c in exclude_columns:
        if c not in ds.leads.columns:
            raise CalibError(f"The excluded column '{c}' is not a column of the leads table.",
                             code="unknown_field")

    train_ds, test_codes, split = _split(ds, train_until, seed, window_days, [outcome])
    split["window"] = window.to_dict()
    o_train = outcome_time(train_ds, outcome) if outcome in train_ds.outcome_types \
        else np.full(train_ds.n_leads, NEVER)
    if (o_train != NEVER).sum() < 10:
        raise CalibError(f"Only {(o_train != NEVER).sum()} lead(s) have the outcome "
                         f"'{outcome}' in the training data; at least 10 are needed.",
                         code="too_few_outcomes",
                         suggestion="Use a later --train-until or another --outcome.")

    # selective labels: which training examples can be trusted (see _example_weights)
    cur_train = replay(train_ds, rules, window_days=window_days, per_lead=True)
    r_at_tr = routed_times(train_ds, None if train_ds.snapshot
                           else ns_or_never(cur_train.per_lead["mql_at"]))
    hold_tr = holdout_mask(train_ds, hcol)
    pi_tr = float(hold_tr.mean()) if hold_tr is not None and hold_tr.any() else None
    if weighting == "ipw" and (pi_tr is None or hold_tr.all()):
        raise CalibError("weighting='ipw' needs a holdout column: a random share of the "
                         "leads, worked from their creation whatever their score.",
                         code="no_holdout")
    lead_weight = None

    # examples and design
    if label_delay not in ("model", "fixed"):
        raise CalibError(f"label_delay must be 'model' or 'fixed'. Got {label_delay!r}.",
                         code="invalid_value")
    booking = not train_ds.snapshot and label_delay == "model"
    kw = dict(horizon_days=horizon_days, lag_days=0.0 if booking else lag_days,
              lead_weight=lead_weight, max_examples=max_examples, seed=seed,
              whole_positive_leads=booking)
    if examples_builder is None:
        ex = build_examples(train_ds, rules, o_train, **kw)
    else:  # e.g. partition by partition, on a cluster (calib.distributed.fit)
        ex = examples_builder(ds, train_ds, rules, outcome, **kw)
    use_ipw, n_probe_pos = False, 0
    sample_weight = ex.weight
    if pi_tr is not None and not train_ds.snapshot and not hold_tr.all():
        w_ex = _example_weights(ex, r_at_tr, hold_tr, pi_tr)
        n_probe_pos = int(((w_ex > 1) & (ex.y > 0)).sum())
        use_ipw = weighting == "ipw" or (weighting == "auto" and n_probe_pos >= MIN_PROBE_POSITIVES)
        if use_ipw and booking:
            # every moment stays (weight 0 where untrusted): the booking-delay model
            # needs a lead's whole history to tell when its outcome was decided
            ex = replace(ex, weight=w_ex * ex.weight)
        elif use_ipw:
            keep = np.flatnonzero(w_ex > 0)
            ex = replace(ex, lead=ex.lead[keep], t=ex.t[keep], y=ex.y[keep],
                         weight=w_ex[keep] * ex.weight[keep],
                         features=ex.features.at(ex.lead[keep], ex.t[keep]))
    if ex.n_positive < 50:
        warnings.append(f"Only {ex.n_positive} training example(s) have the outcome in their "
                        "label window: points and cutoffs rest on very little evidence.")
    f_terms = attribute_terms(train_ds.leads, rules, exclude=excluded)
    A_leads = attribute_matrix(train_ds.leads, f_terms)
    types = ex.features.event_types
    # terms that cannot be estimated (constant, aliased) are dropped and named
    scr_f = screen_columns(A_leads, [t.name for t in f_terms])
    scr_e = screen_events(train_ds.events, train_ds.n_leads, types)
    screened = list(scr_e.dropped) + list(scr_f.dropped)
    f_terms = [f_terms[j] for j in scr_f.kept]
    A_leads = A_leads[:, list(scr_f.kept)]
    A = A_leads[ex.lead]
    b_terms = behavior_terms(scr_e.kept, rules)
    b_split = split_terms(b_terms)
    groups = {t.name: [s.name for s in b_split if s.group == t.name]
              for t in b_terms if len(t.events) > 1}
    ones = np.ones((ex.n, 1))
    # the decay is learnt from uncapped counts: a cap clips the counts that a longer
    # half-life accumulates, which would pull the half-life short
    b_uncapped = [replace(t, cap_count=None) for t in b_split]

    def design(decay, terms):
        counts = ex.features.counts(decay)
        return np.hstack([ones, term_matrix(counts, types, terms), A])

    start_decay = rules.decay if rules.decay.kind in ("exponential", "window", "linear") \
        else make_decay("exponential", 14.0)
    label_info = {"model": "fixed lag", "lag_days": lag_days}
    base_weight = ex.weight
    o_ex = o_train[ex.lead]
    delays = None
    R_last = np.ones(ex.n)
    if booking and ex.n_positive:
        delays = initial_delays(_max_delay(ex.lead, ex.t, o_ex, horizon_days))

    def spread(decay, rounds):
        """The booking-delay EM at ``decay`` (see calib.fit.booking)."""
        nonlocal delays, R_last
        X = design(decay, b_uncapped)
        sd = X.std(axis=0)  # the penalty's scale, the same in every round
        y_b, R = ex.y, base_weight
        coef = None
        eta = np.full(ex.n, float(np.log(max(ex.y.mean(), 1e-6))))
        for _ in range(rounds):
            y_b, R, r = spread_labels(ex.lead, ex.t, o_ex, eta, delays)
            delays = update_delays(ex.lead, ex.t, o_ex, r, delays)
            f = fit_logit(X, y_b, weight=base_weight * R, l2=1.0 if l2 is None else l2,
                          start=coef, sd=sd)
            coef = f.coef
            eta = X @ coef
        R_last = R
        return replace(ex, y=y_b, weight=base_weight * R)

    if delays is not None:
        ex = spread(start_decay, EM_ROUNDS)

    # penalty strength: time-series cross-validation at the starting decay
    penalty = {"method": "ridge (L2 on standardised columns)", "l2": l2, "chosen_by": "given"}
    if l2 is None:
        l2, cv = choose_l2(design(start_decay, b_split), ex.y, ex.weight,
                           ex.t if not train_ds.snapshot else np.arange(ex.n))
        penalty.update(l2=l2, chosen_by="time-series cross-validation (3 folds)"
                       if not train_ds.snapshot else "cross-validation (3 folds, in lead order)",
                       cv=cv.to_dict("records"))

    # decay profile (fit attributes enter as one column: their linear predictor)
    if train_ds.snapshot or len(types) == 0:
        prof = DecayProfile(curve=pd.DataFrame({"kind": ["none"], "parameter_days": [np.nan],
                                                "loglik": [np.nan], "aic": [np.nan]}),
                            decay=Decay(), loglik=float("nan"), ci_low=None, ci_high=None,
                            deff=1.0, kinds=pd.DataFrame({"kind": ["none"],
                                                          "parameter_days": [np.nan],
                                                          "loglik": [np.nan], "aic": [np.nan],
                                                          "delta_aic": [0.0]}))
        if train_ds.snapshot and len(types):
            warnings.append("Snapshot data: no decay can be learnt (each lead is seen once).")
    else:
        X0 = design(start_decay, b_uncapped)
        f0 = fit_logit(X0, ex.y, weight=ex.weight, l2=l2)
        lp = (A @ f0.coef[1 + len(b_split):])[:, None]

        class _Space:  # per-type counts -> split behaviour terms (uncapped)
            def __init__(self, features):
                self.features = features

            def counts(self, decay):
                return term_matrix(self.features.counts(decay), types, b_uncapped)

        def prof_weight():
            """With selective labels and a holdout, the decay is learnt from the holdout
            leads alone: worked from creation, their labels are complete (elsewhere a
            meeting missed before routing leaves a lead looking at risk afterwards)."""
            if use_ipw and delays is not None:
                return sample_weight * hold_tr[ex.lead] * R_last
            return ex.weight

        def profile(lp):
            """The decay profile on the examples that carry weight: the others add
            nothing to the likelihood, and the profile refits the model dozens of times
            (with the holdout alone that is about a tenth of the examples)."""
            w = prof_weight()
            keep = np.flatnonzero(w > 0)
            if len(keep) == ex.n:
                return profile_decay(_Space(ex.features), lp, ex.y, w, ex.lead,
                                     kinds=tuple(kinds), l2=l2, progress=progress)
            return profile_decay(_Space(ex.features.at(ex.lead[keep], ex.t[keep])), lp[keep],
                                 ex.y[keep], w[keep], ex.lead[keep], kinds=tuple(kinds), l2=l2,
                                 progress=progress)

        prof = profile(lp)
        if delays is not None and prof.decay != start_decay:
            # the labels again at the decay found, and the profile on them
            ex = spread(prof.decay, 2)
            f0 = fit_logit(design(prof.decay, b_uncapped), ex.y, weight=ex.weight, l2=l2)
            lp = (A @ f0.coef[1 + len(b_split):])[:, None]
            prof = profile(lp)
    decay = prof.decay
    if delays is not None:
        label_info = {"model": "booking delay", "mean_days": delays.mean(),
                      "q95_days": delays.quantile(0.95), "max_days": delays.max_delay,
                      "decay_from": "holdout leads" if use_ipw else "all leads"}

    # per event type model (for the review and the group tests)
    kinds_col = ["intercept"] + ["behavior"] * len(b_split) + ["fit"] * len(f_terms)
    names_split = ["intercept"] + [t.name for t in b_split] + [t.name for t in f_terms]
    m_split = fit_model(design(decay, b_split), ex.y, ex.weight, ex.lead, names_split, kinds_col,
                        l2=l2, log_sampling=ex.log_sampling)
    final_terms: list[BehaviorTerm] = []
    group_p = {}
    for t in b_terms:
        if len(t.events) > 1:
            p = equality_pvalue(m_split, groups[t.name])
            group_p[t.name] = p
            if p < 0.05:
                final_terms.extend(s for s in b_split if s.group == t.name)
                continue
        final_terms.append(t)
    kinds_f = ["intercept"] + ["behavior"] * len(final_terms) + ["fit"] * len(f_terms)
    names_f = ["intercept"] + [t.name for t in final_terms] + [t.name for t in f_terms]
    model = m_split if final_terms == b_split else fit_model(
        design(decay, final_terms), ex.y, ex.weight, ex.lead, names_f, kinds_f, l2=l2,
        log_sampling=ex.log_sampling)
    beta = model.coef
    b_beta = beta[1:1 + len(final_terms)]
    f_beta = beta[1 + len(final_terms):]

    # scale: points per unit of log-odds so that the MQL cutoff (at the current volume, or
    # at the capacity) lands on the current rules' MQL cutoff
    o_full_train = o_train
    cur_count = cur_train.mql_count
    end_train = train_ds.end_of_data.value if not train_ds.snapshot else NEVER
    real = RuleSet.from_dict(_rule_dict("real", decay, final_terms, list(b_beta), f_terms,
                                        list(f_beta), None) | {"thresholds": {"mql": 1.0}})
    prep_r, score_r, _ = _scores(train_ds, real)
    qs = np.unique(np.quantile(score_r, np.linspace(0, 1, 4001)))
    curve_r = cutoff_curve(prep_r.eval_lead, prep_r.eval_t, score_r, o_full_train, qs,
                           window_days=window_days, end_ns=end_train, snapshot=train_ds.snapshot)
    weeks_train = None
    if not train_ds.snapshot:
        # the weeks in which the training leads arrived (to the last lead's creation, as
        # `calib run` counts them): outcomes recorded long after the last lead (e.g. deals
        # closing months later) must not thin out the weekly volumes
        created = train_ds.leads["created_at"]
        weeks_train = max((created.max() - created.min()) / DAY, 1.0) / 7
    target = cur_count
    if capacity_per_week is not None and weeks_train:
        target = capacity_per_week * weeks_train  # the cutoff that fills the capacity
    c_star = float(curve_r.loc[curve_r["mql_count"] >= target, "cutoff"].max()) \
        if (curve_r["mql_count"] >= target).any() else float(qs[-1])
    base = float(rules.thresholds.mql)
    scale = base / c_star if c_star > 0 and base > 0 else 10.0
    if not np.isfinite(scale) or scale <= 0:
        scale = 10.0
        warnings.append("The points scale could not be matched to the current cutoff; "
                        "10 points per unit of log-odds used.")

    # a point value beyond twice the MQL cutoff only says "always" or "never"; only the
    # terms the data separate (no finite unpenalised estimate) are clipped there, below
    bound = 2 * max(base, 1.0)
    # separation: terms whose leads all had the outcome (or none did)
    ev_col = {e: j for j, e in enumerate(types)}
    has = {t.name: (scr_e.counts[:, [ev_col[e] for e in t.events]].sum(axis=1) > 0)
           for t in final_terms}
    has.update({t.name: A_leads[:, j] > 0 for j, t in enumerate(f_terms)})
    if not train_ds.snapshot:  # leads whose outcome had its whole window to arrive
        mature_l = ns(train_ds.leads["created_at"]) + int(window_days * 86_400e9) \
            <= train_ds.end_of_data.value
        has = {k: v & mature_l for k, v in has.items()}
    separated = lead_separation(has, o_train != NEVER)
    for t_name in model.separated:
        separated.setdefault(t_name, (None, None))
    all_names = [t.name for t in final_terms] + [t.name for t in f_terms]
    points = {n: scale * b for n, b in zip(all_names, list(b_beta) + list(f_beta))}
    separation = _separation_notes(separated, points, bound, outcome, warnings)

    def clip(name, b):
        v = scale * b
        return _int_points(np.clip(v, -bound, bound) if name in separated or not np.isfinite(v)
                           else v)

    b_pts = [clip(t.name, b) for t, b in zip(final_terms, b_beta)]
    f_pts = [clip(t.name, b) for t, b in zip(f_terms, f_beta)]
    for d in screened:
        warnings.append(d["note"][0].upper() + d["note"][1:] + ".")
    limits = {"min": rules.limits.min} if rules.limits.min is not None else None
    pname = name or f"{rules.name}-fitted"
    draft = RuleSet.from_dict(_rule_dict(pname, decay, final_terms, b_pts, f_terms, f_pts, limits)
                              | {"thresholds": {"mql": 1.0}})

    # cutoffs on the training leads
    prep_i, score_i, fit_i = _scores(train_ds, draft)
    lo_c = math.floor(float(score_i.min()))
    hi_c = math.ceil(float(score_i.max()))
    grid = np.arange(lo_c, hi_c + 1, dtype=float)
    curve = cutoff_curve(prep_i.eval_lead, prep_i.eval_t, score_i, o_full_train, grid,
                         window_days=window_days, end_ns=end_train, snapshot=train_ds.snapshot,
                         weeks=weeks_train)
    mql, basis = choose_mql_cutoff(curve, capacity_per_week=capacity_per_week
                                   if weeks_train else None, min_volume=cur_count)
    if capacity_per_week is not None and not weeks_train:
        warnings.append("Snapshot data have no weeks: --capacity is ignored; the current "
                        "rules' MQL volume is kept.")
    cur_oc = cur_train.outcome(outcome)
    mql_rate = curve.loc[curve["cutoff"] == mql, "rate"].iloc[0]
    if sql_precision is None:
        if rules.thresholds.sql is not None:
            sres = replay(train_ds, rules.with_params({"thresholds.mql": rules.thresholds.sql,
                                                       "thresholds.sql": None}),
                          window_days=window_days)
            sql_target = sres.outcome(outcome).rate
            target_basis = "the current rules' SQL hit rate"
        else:
            sql_target, target_basis = None, None
        if sql_target is None or (mql_rate == mql_rate and sql_target <= mql_rate):
            sql_target = min(0.95, 2 * mql_rate) if mql_rate == mql_rate else None
            target_basis = "twice the MQL hit rate"
    else:
        sql_target, target_basis = float(sql_precision), "given"
    sql = choose_sql_cutoff(curve, mql, sql_target) if sql_target is not None else None
    thresholds = {"mql": int(mql) if float(mql).is_integer() else mql}
    if sql is not None:
        thresholds["sql"] = int(sql) if float(sql).is_integer() else sql
    proposed = RuleSet.from_dict(_rule_dict(pname, decay, final_terms, b_pts, f_terms, f_pts,
                                            limits) | {"thresholds": thresholds})
    cutoffs = {"mql": float(mql), "mql_basis": basis, "sql": sql, "sql_target": sql_target,
               "sql_target_basis": target_basis,
               "current_mql_count_train": int(cur_count),
               "current_rate_train": _num(cur_oc.rate),
               "proposed_mql_count_train": float(curve.loc[curve["cutoff"] == mql,
                                                           "mql_count"].iloc[0]),
               "proposed_rate_train": _num(mql_rate),
               "capacity_per_week": capacity_per_week}

    # effects table
    eff = model.frame()
    pts = [np.nan] + [float(p) for p in b_pts] + [float(p) for p in f_pts]
    eff["points"] = pts
    src = [None] + [t.source for t in final_terms] + [_fit_source(t, rules) for t in f_terms]
    eff["current_rule"] = src
    eff["events_or_field"] = [None] + [",".join(t.events) for t in final_terms] + \
        [t.field for t in f_terms]
    new_rules = tuple(r for r, s_, p, lo, hi in zip(eff["term"], eff["current_rule"], eff["points"],
                                                    eff["ci_low"], eff["ci_high"])
                      if r != "intercept" and s_ is None and p == p and p != 0
                      and (lo > 0 or hi < 0))
    eff["new"] = eff["term"].isin(new_rules)

    # review of the current rules
    event_freq = {e: int(v) for e, v in train_ds.events["event_type"].value_counts().items()}
    event_term = {s.events[0]: s.name for s in b_split}
    review = review_rules(rules, m_split, fit_terms=f_terms, attr_matrix=A_leads,
                          fit_matrix=fit_matrix(train_ds.leads, rules), event_freq=event_freq,
                          event_term=event_term, fallback_scale=scale)
    if group_p:
        review["group_equal_p"] = review["rule"].map(group_p)

    ee = m_split.frame()
    ee = ee[ee["kind"] == "behavior"].copy()
    inv = {v: k for k, v in event_term.items()}
    ee.insert(0, "event_type", ee["term"].map(inv))
    ee["points"] = scale * ee["coef"]
    event_effects = ee.drop(columns=["kind"]).reset_index(drop=True)

    # out-of-time comparison and selective labels
    comparison, selection = _evaluate(ds, rules, proposed, test_codes, outcome, window_days,
                                      hcol, split)
    by_routing = selection.get("coverage_by_routing") or {}
    if by_routing.get("selective") is False:
        selection["recommendations"].append(by_routing["sentence"][0].upper()
                                            + by_routing["sentence"][1:] + ".")
    elif pi_tr is None:
        selection["recommendations"].append(
            "No usable exploration holdout: outcomes of leads the current rules routed late or "
            "never are unknown, so rates of newly routed leads are lower bounds and the fit "
            "partly learns the old rules back. Keep a random holdout (e.g. 5% of new leads, "
            "routed to sales at creation whatever their score) to measure them.")
    selection["training_weighting"] = "ipw" if use_ipw else "none"
    selection["holdout_share_train"] = pi_tr
    selection["holdout_positive_examples"] = n_probe_pos
    if pi_tr is not None and not use_ipw and weighting == "auto":
        selection["recommendations"].append(
            f"The holdout has {n_probe_pos} positive example(s) from before the historical "
            f"routing ({MIN_PROBE_POSITIVES} needed to weight the fit); the fit is unweighted "
            "and the holdout is used to correct the evaluation.")

    split.update({"train_leads": int(train_ds.n_leads), "test_leads": int(len(test_codes))})
    examples = {"n": ex.n, "positives": ex.n_positive, "leads": ex.n_leads,
                "candidates": ex.n_candidates,
                "negatives_kept_share": (float(np.exp(ex.log_sampling)) if ex.log_sampling
                                         else ex.sample_rate),
                "horizon_days": horizon_days, "lag_days": lag_days, "label_time": label_info}
    return FitResult(rules=proposed, current=rules.name, outcome=outcome, split=split,
                     examples=examples, points_per_logit=float(scale), decay=prof, effects=eff,
                     review=review, event_effects=event_effects, new_rules=new_rules, cutoffs=cutoffs, curve=curve,
                     comparison=comparison, selection=selection, warnings=tuple(warnings),
                     screened=tuple(screened), penalty=penalty, separation=separation)


def _fit_source(term, rules: RuleSet):
    for r in rules.fit:
        if r.field != term.field:
            continue
        if term.equals is not None and (r.equals == term.equals
                                        or (r.in_ is not None and len(r.in_) == 1
                                            and r.in_[0] == term.equals)):
            return r.name
        if term.min is not None and r.min == term.min and r.max is None:
            return r.name
    return None


def _evaluate(ds, current, proposed, test_codes, outcome, window_days, hcol, split):
    """Equal-volume comparison on the test leads, observed and IPW-corrected, and the
    coverage of every score band."""
    selection: dict = {"holdout_column": hcol, "recommendations": []}
    if len(test_codes) == 0:
        return {"status": "no_test_leads",
                "reason": split.get("no_test_reason", "no leads in the test period")}, selection
    test = ds.subset(test_codes) if split["kind"] == "random" else None
    kw = {"window_days": window_days, "per_lead": True}
    if test is None:
        start = pd.Timestamp(split["train_until"]) + pd.Timedelta(seconds=1)
        end = pd.Timestamp(split["test_created_until"])
        run = lambda r: replay(ds, r, start=start, end=end, **kw)  # noqa: E731
        sub = ds.subset(test_codes)
    else:
        run = lambda r: replay(test, r, **kw)  # noqa: E731
        sub = test
    rc = run(current)
    rp_own = run(proposed)
    n_c = rc.mql_count
    c_eq = equal_volume_cutoff(rp_own.per_lead["peak_score"].to_numpy(), n_c)
    eq_params = {"thresholds.mql": c_eq}
    if proposed.thresholds.sql is not None:
        eq_params["thresholds.sql"] = None
    rp = run(proposed.with_params(eq_params))
    oc_c, oc_p = rc.outcome(outcome), rp.outcome(outcome)

    w_ns = pd.Timedelta(days=window_days)

    def mature(res):
        """Counts over the MQLs whose whole window is observed (MQL + W before the end of
        the data). The replay's rate also counts hits of MQLs whose window is still open
        but leaves their misses out (immature), which favours rules that flag late."""
        pl = res.per_lead
        st = pl[f"status_{outcome}"].astype(object).to_numpy()
        if sub.snapshot:
            ok = pl["mql"].to_numpy(bool)
        else:
            m = pl["mql_at"]
            ok = (m.notna() & (m + w_ns <= ds.end_of_data)).to_numpy()
        hits = int((ok & (st == "hit")).sum())
        dec = int((ok & np.isin(st, ["hit", "miss", "late"])).sum())
        lo, hi = proportion_ci(hits, dec) if dec else (np.nan, np.nan)
        return {"mqls": int(ok.sum()), "hits": hits, "decided": dec,
                "rate": _num(hits / dec) if dec else None, "ci_low": _num(lo), "ci_high": _num(hi)}

    def block(res, oc):
        lo, hi = oc.ci()
        return {"mql_count": res.mql_count, "hits": oc.hits, "late": oc.late, "misses": oc.misses,
                "immature": oc.immature, "decided": oc.decided, "rate": _num(oc.rate),
                "hits_per_mql": _num(oc.hits / res.mql_count) if res.mql_count else None,
                "ci_low": _num(lo), "ci_high": _num(hi), "coverage": _num(res.coverage),
                "mature": mature(res)}

    comparison = {"status": "ok", "window_days": window_days, "mql_count": int(n_c),
                  "proposed_cutoff": float(c_eq), "current": block(rc, oc_c),
                  "proposed": block(rp, oc_p), "proposed_as_written": block(rp_own, rp_own.outcome(outcome))}
    if not oc_c.decided or not oc_p.decided:
        comparison["status"] = "no_decided_mqls"
        comparison["reason"] = "no decided MQLs in the test period (all immature?)"
        return comparison, selection
    lo, hi = diff_ci(oc_p.hits, oc_p.decided, oc_c.hits, oc_c.decided, method="newcombe")
    comparison["difference_replay_rate"] = {"diff": _num(oc_p.rate - oc_c.rate),
                                            "ci_low": _num(lo), "ci_high": _num(hi),
                                            "method": "newcombe"}
    mp, mc = comparison["proposed"]["mature"], comparison["current"]["mature"]
    if mp["decided"] and mc["decided"]:
        lo, hi = diff_ci(mp["hits"], mp["decided"], mc["hits"], mc["decided"], method="newcombe")
        comparison["difference"] = {"diff": _num(mp["rate"] - mc["rate"]), "ci_low": _num(lo),
                                    "ci_high": _num(hi), "method": "newcombe",
                                    "basis": "MQLs with the whole window observed"}
    else:
        comparison["difference"] = {**comparison["difference_replay_rate"],
                                    "basis": "replay rate (no MQL has its whole window observed)"}

    # at the proposed rules' own volume (e.g. a capacity): the current rules with their
    # MQL cutoff raised to route as many leads
    n_p = rp_own.mql_count
    if 0 < n_p < 0.95 * n_c:
        c_cur = equal_volume_cutoff(rc.per_lead["peak_score"].to_numpy(), n_p)
        cur_params = {"thresholds.mql": c_cur}
        if current.thresholds.sql is not None:
            cur_params["thresholds.sql"] = None
        rc2 = run(current.with_params(cur_params))
        b_c, b_p = block(rc2, rc2.outcome(outcome)), comparison["proposed_as_written"]
        at = {"mql_count": int(n_p), "current_cutoff": float(c_cur), "current": b_c,
              "proposed": b_p}
        mp2, mc2 = b_p["mature"], b_c["mature"]
        if mp2["decided"] and mc2["decided"]:
            lo, hi = diff_ci(mp2["hits"], mp2["decided"], mc2["hits"], mc2["decided"])
            at["difference"] = {"diff": _num(mp2["rate"] - mc2["rate"]), "ci_low": _num(lo),
                                "ci_high": _num(hi), "method": "newcombe",
                                "basis": "MQLs with the whole window observed"}
        comparison["at_proposed_volume"] = at

    # selective labels on the test leads
    covered = covered_leads(sub)
    routed = routed_mask(sub, rc.per_lead["mql_at"].notna().to_numpy()
                         if not sub.snapshot else rc.per_lead["mql"].to_numpy())
    hold = holdout_mask(sub, hcol)
    pi = float(hold.mean()) if hold is not None and hold.any() else None
    is_mql_p = (rp.per_lead["mql_at"].notna() if not sub.snapshot
                else rp.per_lead["mql"]).to_numpy()
    trusted = routed | (hold if hold is not None else False)
    # only meaningful when the data record routing (mql rows) or hold some leads out
    comparison["new_mql_unworked_share"] = (
        float((is_mql_p & ~trusted).sum() / max(is_mql_p.sum(), 1))
        if ("mql" in sub.outcome_types or hold is not None) else None)
    labels = SelectionLabels.from_dataset(ds, rc.per_lead, [outcome], window_days, hcol)
    if labels is not None:
        cc = corrected_comparison(labels.columns(rp.per_lead, outcome),
                                  labels.columns(rc.per_lead, outcome), seed=0)
        comparison["corrected"] = {"proposed": cc["a"], "current": cc["b"],
                                   "difference": cc["difference"], "method": cc["method"],
                                   "holdout_leads": int(labels.holdout.sum()),
                                   **({"reason": cc["reason"]} if "reason" in cc else {})}
    has_sales = any(o in SALES_OUTCOMES for o in sub.outcome_types)
    for label, res, rs in (("current", rc, current), ("proposed", rp, proposed.with_params(eq_params))):
        if not has_sales:
            break
        peak = res.per_lead["peak_score"].to_numpy()
        band = bands(peak, res.per_lead["fit_score"].to_numpy(), rs)
        selection.setdefault("coverage_by_band", []).extend(
            coverage_by_band(band, covered, label).to_dict("records"))
    if has_sales:
        selection["coverage_by_routing"] = coverage_by_routing(routed, covered)
    selection["holdout_leads_test"] = int(hold.sum()) if hold is not None else 0
    selection["holdout_share_test"] = pi
    return comparison, selection
