"""``fit``: learn points, decay and cutoffs from outcomes, validated out of time.

The steps (each in its own module):

1. **Split** (:mod:`calib.fit.split`): the model sees the data as it was at
   ``train_until`` (leads created by then, events and outcomes up to then); the leads
   created after it are the test period. Snapshot data sets (no time) use a seeded
   random third of the leads as the test set instead.
2. **Examples** (:mod:`calib.fit.examples`): leads at their evaluation points, per event
   type decayed counts, labels over a short window (a discrete-time hazard design).
3. **Decay** (:mod:`calib.fit.decay`): kinds compared and the parameter profiled.
4. **Points** (:mod:`calib.fit.points`): the logistic model, integer points on the
   current rules' scale, a review of every current rule (vanity and over-weighted rules).
5. **Cutoffs** (:mod:`calib.fit.cutoffs`): MQL by capacity or volume, SQL by precision.
6. **Out-of-time check** (:mod:`calib.fit.evaluation`): current and proposed rules
   replayed on the test leads, the proposed cutoff set so both route the same number of
   MQLs; rates with Wilson intervals, the difference with Newcombe's interval; the same
   corrected for selective labels where a holdout allows (a difference estimator with a
   paired bootstrap interval, :mod:`calib.fit.selection`).
"""

from __future__ import annotations

import math
import warnings as _warnings
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from calib.data.dataset import Dataset, ns, ns_or_never
from calib.engine.delays import resolve_window
from calib.engine.prepare import fit_matrix, prepare
from calib.engine.replay import NEVER, combine_scores, replay
from calib.engine.results import ReplayResult, _num
from calib.errors import CalibError, ConfigError
from calib.fit.booking import initial_delays, spread_labels, update_delays
from calib.fit.config import FitConfig
from calib.fit.cutoffs import choose_mql_cutoff, choose_sql_cutoff, cutoff_curve
from calib.fit.decay import DecayProfile, make_decay, profile_decay
from calib.fit.design import attribute_matrix, attribute_terms
from calib.fit.evaluation import evaluate, evaluate_out_of_time
from calib.fit.examples import Examples, build_examples, outcome_time
from calib.fit.logistic import fit_logit
from calib.fit.points import (BehaviorTerm, ModelFit, behavior_terms, choose_l2,
                              equality_pvalue, fit_model, review_rules, split_terms,
                              term_matrix)
from calib.fit.result import (CutoffChoice, ExampleSummary, FitResult, FitSplit, Penalty,
                              SelectionReport)
from calib.fit.screen import lead_separation, screen_columns, screen_events
from calib.fit.selection import holdout_mask, routed_times
from calib.fit.split import holdout_column, split_leads
from calib.rules.config import Decay, RuleSet

__all__ = ["fit", "FitResult", "evaluate"]

EM_ROUNDS = 4  # booking-delay EM iterations at the starting decay
MIN_PROBE_POSITIVES = 30  # holdout examples with the outcome, before routing, to weight a fit
DAY = pd.Timedelta(days=1)


# ------------------------------------------------------------------------------- fit
def fit(ds: Dataset, rules: RuleSet, config: FitConfig | None = None, *,
        examples_builder=None, progress=None, **options) -> FitResult:
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
    config : FitConfig, optional
        Every option of the fit (outcome, split, window, capacity, weighting, decay
        kinds, penalty...); see :class:`calib.fit.FitConfig`. Default: ``FitConfig()``.
    examples_builder : callable, optional
        ``examples_builder(ds, train_ds, rules, outcome, **options)`` returns the training
        examples (:class:`calib.fit.examples.Examples`) that
        :func:`calib.fit.build_examples` would build from ``train_ds``; default: built
        here. :func:`calib.distributed.fit` passes one that works partition by partition.
    progress : callable, optional
        Called once after each refit of the decay profile, the longest part of the fit
        (a progress bar's tick).
    **options
        Fields of :class:`FitConfig` that override ``config`` (``capacity_per_week``: the
        deprecated name of ``capacity_mql_per_week``).

    Returns
    -------
    FitResult

    Raises
    ------
    ConfigError
        An unknown option (with the closest name as suggestion) or a bad value.
    CalibError
        Data that cannot be fitted (unknown outcome, too few outcomes, a split date
        outside the data...).

    Examples
    --------
    >>> from calib import load_dataset, load_rules
    >>> res = fit(load_dataset("calib-demo/data"), load_rules("calib-demo/current.toml"),
    ...           max_examples=5000)
    >>> print(res.summary().splitlines()[0])
    Fit of 'meeting' from rule set 'current' -> proposed 'current-fitted'
    """
    cfg = _resolve_config(config, options)
    setup = _prepare_split(ds, rules, cfg)
    history = _historical_routing(setup, rules, cfg)
    train = _training_examples(ds, rules, setup, history, cfg, examples_builder)
    design = _screened_design(setup, rules, train.examples)
    em = _BookingDelays.start(setup, train.examples)
    ex = em.spread(train.examples, design, _start_decay(rules), EM_ROUNDS, cfg.l2)
    penalty = _choose_penalty(setup, ex, design, _start_decay(rules), cfg.l2)
    prof, ex, decay_notes = _learn_decay(setup, ex, design, em, train, rules, penalty.l2,
                                         cfg.kinds, progress)
    model = _learn_points(ex, design, prof.decay, penalty.l2)
    scale, scale_notes = _points_scale(setup, rules, history, design, model, prof.decay, cfg)
    points, separation, point_notes = _whole_points(setup, design, model, scale,
                                                    rules.thresholds.mql)
    proposed, cutoffs, curve, cutoff_notes = _choose_cutoffs(setup, rules, history, design,
                                                            model, points, prof.decay, cfg)
    effects, new_rules = _effects_table(rules, design, model, points)
    review, event_effects = _review_current(setup, rules, design, model, scale)
    comparison, selection = evaluate_out_of_time(ds, rules, proposed, setup.test_codes,
                                                 setup.outcome, setup.window_days,
                                                 setup.hcol, setup.split)
    selection = _training_notes(selection, history, train, cfg.weighting)
    return FitResult(
        rules=proposed, current=rules.name, outcome=setup.outcome,
        split=replace(setup.split, train_leads=int(setup.train_ds.n_leads),
                      test_leads=int(len(setup.test_codes))),
        examples=_example_summary(ex, setup, em, cfg, train.use_ipw),
        points_per_logit=float(scale), decay=prof, effects=effects, review=review, event_effects=event_effects, new_rules=new_rules,
        cutoffs=cutoffs, curve=curve, comparison=comparison, selection=selection,
        warnings=tuple(train.notes + decay_notes + scale_notes + point_notes
                       + [_sentence(d["note"]) for d in design.screened] + cutoff_notes),
        screened=tuple(design.screened), penalty=penalty, separation=separation)


# ------------------------------------------------------------------------- the steps
def _resolve_config(config: FitConfig | None, options: dict) -> FitConfig:
    """``config`` (default ``FitConfig()``) with the keyword ``options`` applied."""
    if config is not None and not isinstance(config, FitConfig):
        raise ConfigError(f"config must be a FitConfig. Got {type(config).__name__}.",
                          code="wrong_type")
    cfg = config or FitConfig()
    if "capacity_per_week" in options:
        _warnings.warn("fit(capacity_per_week=...) is now capacity_mql_per_week=...",
                       DeprecationWarning, stacklevel=3)
        options["capacity_mql_per_week"] = options.pop("capacity_per_week")
    return cfg.replace(**options) if options else cfg


@dataclass(frozen=True)
class _Setup:
    """The fit's data: the split, the window and the training outcomes."""

    outcome: str
    window_days: float
    horizon_days: float
    hcol: str | None
    excluded: frozenset
    train_ds: Dataset
    test_codes: np.ndarray
    split: FitSplit
    o_train: np.ndarray  # outcome time per training lead (NEVER: none)
    booking: bool  # labels spread by the booking-delay model


def _prepare_split(ds: Dataset, rules: RuleSet, cfg: FitConfig) -> _Setup:
    """Check the inputs, resolve the window and split the leads into training and test."""
    if not isinstance(ds, Dataset):
        raise CalibError("fit needs a data set (calib.load_dataset); for a partitioned one "
                         "use calib.distributed.fit.", code="not_a_dataset")
    outcome = cfg.outcome
    outcome_time(ds, outcome)  # raises on an unknown outcome
    window = resolve_window(ds, cfg.window_days, [outcome], rules=rules)
    horizon_days = min(30.0, window.days) if cfg.horizon_days is None else cfg.horizon_days
    if not horizon_days > 0 or not window.days > 0:
        raise CalibError("horizon_days and window_days must be > 0 and lag_days >= 0.",
                         code="out_of_range")
    hcol = holdout_column(ds, cfg.holdout_column)
    for c in cfg.exclude_columns:
        if c not in ds.leads.columns:
            raise CalibError(f"The excluded column '{c}' is not a column of the leads table.",
                             code="unknown_field")
    train_ds, test_codes, split = split_leads(ds, cfg.train_until, cfg.seed, window.days,
                                              [outcome])
    o_train = outcome_time(train_ds, outcome) if outcome in train_ds.outcome_types \
        else np.full(train_ds.n_leads, NEVER)
    if (o_train != NEVER).sum() < 10:
        raise CalibError(f"Only {(o_train != NEVER).sum()} lead(s) have the outcome "
                         f"'{outcome}' in the training data; at least 10 are needed.",
                         code="too_few_outcomes",
                         suggestion="Use a later --train-until or another --outcome.")
    return _Setup(outcome=outcome, window_days=window.days, horizon_days=horizon_days,
                  hcol=hcol, excluded=frozenset(cfg.exclude_columns) | ({hcol} if hcol
                                                                         else set()),
                  train_ds=train_ds, test_codes=test_codes,
                  split=replace(split, window=window.to_dict()), o_train=o_train,
                  booking=not train_ds.snapshot and cfg.label_delay == "model")


@dataclass(frozen=True)
class _History:
    """What the historical rules did to the training leads (see :func:`_example_weights`)."""

    current: ReplayResult  # the current rules on the training data (per lead)
    routed_at: np.ndarray
    holdout: np.ndarray | None
    pi: float | None  # holdout share of the training leads


def _historical_routing(setup: _Setup, rules: RuleSet, cfg: FitConfig) -> _History:
    """The current rules on the training data: when each lead was routed, and the
    holdout (selective labels: which training examples can be trusted)."""
    train_ds = setup.train_ds
    cur = replay(train_ds, rules, window_days=setup.window_days, per_lead=True)
    routed_at = routed_times(train_ds, None if train_ds.snapshot
                             else ns_or_never(cur.per_lead["mql_at"]))
    hold = holdout_mask(train_ds, setup.hcol)
    pi = float(hold.mean()) if hold is not None and hold.any() else None
    if cfg.weighting == "ipw" and (pi is None or hold.all()):
        raise CalibError("weighting='ipw' needs a holdout column: a random share of the "
                         "leads, worked from their creation whatever their score.",
                         code="no_holdout")
    return _History(current=cur, routed_at=routed_at, holdout=hold, pi=pi)


@dataclass(frozen=True)
class _Training:
    """The training examples, weighted for selective labels where the holdout allows."""

    examples: Examples
    sample_weight: np.ndarray  # the examples' own weights, before inverse probabilities
    use_ipw: bool
    probe_positives: int  # holdout examples with the outcome from before the routing
    holdout: np.ndarray | None  # holdout mask of the training leads
    notes: list = field(default_factory=list)


def _training_examples(ds: Dataset, rules: RuleSet, setup: _Setup, history: _History,
                       cfg: FitConfig, examples_builder) -> _Training:
    """Point-in-time examples of the training leads, weighted by
    :func:`_example_weights` when ``weighting`` asks for it."""
    train_ds = setup.train_ds
    kw = dict(horizon_days=setup.horizon_days, lag_days=0.0 if setup.booking else cfg.lag_days,
              lead_weight=None, max_examples=cfg.max_examples, seed=cfg.seed,
              whole_positive_leads=setup.booking)
    if examples_builder is None:
        ex = build_examples(train_ds, rules, setup.o_train, **kw)
    else:  # e.g. partition by partition, on a cluster (calib.distributed.fit)
        ex = examples_builder(ds, train_ds, rules, setup.outcome, **kw)
    use_ipw, n_probe_pos = False, 0
    sample_weight = ex.weight
    hold, pi = history.holdout, history.pi
    if pi is not None and not train_ds.snapshot and not hold.all():
        w_ex = _example_weights(ex, history.routed_at, hold, pi)
        n_probe_pos = int(((w_ex > 1) & (ex.y > 0)).sum())
        use_ipw = cfg.weighting == "ipw" or (cfg.weighting == "auto"
                                             and n_probe_pos >= MIN_PROBE_POSITIVES)
        if use_ipw and setup.booking:
            # every moment stays (weight 0 where untrusted): the booking-delay model
            # needs a lead's whole history to tell when its outcome was decided
            ex = replace(ex, weight=w_ex * ex.weight)
        elif use_ipw:
            keep = np.flatnonzero(w_ex > 0)
            ex = replace(ex, lead=ex.lead[keep], t=ex.t[keep], y=ex.y[keep],
                         weight=w_ex[keep] * ex.weight[keep],
                         features=ex.features.at(ex.lead[keep], ex.t[keep]))
    notes = []
    if ex.n_positive < 50:
        notes.append(f"Only {ex.n_positive} training example(s) have the outcome in their "
                     "label window: points and cutoffs rest on very little evidence.")
    return _Training(examples=ex, sample_weight=sample_weight, use_ipw=use_ipw,
                     probe_positives=n_probe_pos, holdout=hold, notes=notes)


@dataclass(frozen=True)
class _Design:
    """The model's terms and the columns that do not depend on the decay."""

    types: tuple  # event types of the examples' counts
    f_terms: list  # fit (attribute) terms kept
    A_leads: np.ndarray  # training leads x fit terms
    A: np.ndarray  # examples x fit terms
    event_counts: np.ndarray  # training leads x event types (from the screening)
    screened: list  # terms left out, with a note each
    b_terms: list  # behaviour terms (groups of events as in the current rules)
    b_split: list  # one behaviour term per event type
    groups: dict  # group term -> its split terms

    @property
    def b_uncapped(self) -> list:
        """The split terms without caps: the decay is learnt from uncapped counts (a cap
        clips the counts that a longer half-life accumulates, which would pull the
        half-life short)."""
        return [replace(t, cap_count=None) for t in self.b_split]

    def matrix(self, ex, decay: Decay, terms) -> np.ndarray:
        """Intercept, behaviour terms at ``decay`` and fit terms, per example."""
        counts = ex.features.counts(decay)
        return np.hstack([np.ones((ex.n, 1)), term_matrix(counts, self.types, terms), self.A])


def _screened_design(setup: _Setup, rules: RuleSet, ex) -> _Design:
    """The terms of the model; those that cannot be estimated (constant, aliased) are
    dropped and named."""
    train_ds = setup.train_ds
    f_terms = attribute_terms(train_ds.leads, rules, exclude=set(setup.excluded))
    A_leads = attribute_matrix(train_ds.leads, f_terms)
    types = ex.features.event_types
    scr_f = screen_columns(A_leads, [t.name for t in f_terms])
    scr_e = screen_events(train_ds.events, train_ds.n_leads, types)
    f_terms = [f_terms[j] for j in scr_f.kept]
    A_leads = A_leads[:, list(scr_f.kept)]
    b_terms = behavior_terms(scr_e.kept, rules)
    b_split = split_terms(b_terms)
    groups = {t.name: [s.name for s in b_split if s.group == t.name]
              for t in b_terms if len(t.events) > 1}
    return _Design(types=types, f_terms=f_terms, A_leads=A_leads, A=A_leads[ex.lead],
                   event_counts=scr_e.counts,
                   screened=list(scr_e.dropped) + list(scr_f.dropped), b_terms=b_terms,
                   b_split=b_split, groups=groups)


def _start_decay(rules: RuleSet) -> Decay:
    """The decay the model starts from: the current rules' when it has a parameter."""
    return rules.decay if rules.decay.kind in ("exponential", "window", "linear") \
        else make_decay("exponential", 14.0)


class _BookingDelays:
    """The booking-delay EM (:mod:`calib.fit.booking`): when each outcome was decided."""

    def __init__(self, ex, o_ex: np.ndarray, delays):
        self.base_weight = ex.weight
        self.o_ex = o_ex
        self.delays = delays  # None: labels at a fixed lag
        self.R_last = np.ones(ex.n)

    @classmethod
    def start(cls, setup: _Setup, ex) -> _BookingDelays:
        o_ex = setup.o_train[ex.lead]
        delays = None
        if setup.booking and ex.n_positive:
            delays = initial_delays(_max_delay(ex.lead, ex.t, o_ex, setup.horizon_days))
        return cls(ex, o_ex, delays)

    def spread(self, ex, design: _Design, decay: Decay, rounds: int, l2: float | None):
        """The examples with their labels spread at ``decay`` (unchanged without the
        model)."""
        if self.delays is None:
            return ex
        X = design.matrix(ex, decay, design.b_uncapped)
        sd = X.std(axis=0)  # the penalty's scale, the same in every round
        y_b, R = ex.y, self.base_weight
        coef = None
        eta = np.full(ex.n, float(np.log(max(ex.y.mean(), 1e-6))))
        for _ in range(rounds):
            y_b, R, r = spread_labels(ex.lead, ex.t, self.o_ex, eta, self.delays)
            self.delays = update_delays(ex.lead, ex.t, self.o_ex, r, self.delays)
            f = fit_logit(X, y_b, weight=self.base_weight * R,
                          l2=1.0 if l2 is None else l2, start=coef, sd=sd)
            coef = f.coef
            eta = X @ coef
        self.R_last = R
        return replace(ex, y=y_b, weight=self.base_weight * R)

    def label_time(self, lag_days: float, use_ipw: bool) -> dict:
        """How the moment that decided an outcome was placed, for the result."""
        if self.delays is None:
            return {"model": "fixed lag", "lag_days": lag_days}
        d = self.delays
        return {"model": "booking delay", "mean_days": d.mean(), "q95_days": d.quantile(0.95),
                "max_days": d.max_delay,
                "decay_from": "holdout leads" if use_ipw else "all leads"}


def _choose_penalty(setup: _Setup, ex, design: _Design, start: Decay,
                    l2: float | None) -> Penalty:
    """The ridge strength: given, or by time-series cross-validation at ``start``."""
    method = "ridge (L2 on standardised columns)"
    if l2 is not None:
        return Penalty(method=method, l2=l2, chosen_by="given")
    snapshot = setup.train_ds.snapshot
    l2, cv = choose_l2(design.matrix(ex, start, design.b_split), ex.y, ex.weight,
                       ex.t if not snapshot else np.arange(ex.n))
    return Penalty(method=method, l2=l2, cv=tuple(cv.to_dict("records")),
                   chosen_by="time-series cross-validation (3 folds)" if not snapshot
                   else "cross-validation (3 folds, in lead order)")


def _flat_profile() -> DecayProfile:
    """The profile of data with no decay to learn (snapshots, no events)."""
    row = {"kind": ["none"], "parameter_days": [np.nan], "loglik": [np.nan], "aic": [np.nan]}
    return DecayProfile(curve=pd.DataFrame(row), decay=Decay(), loglik=float("nan"),
                        ci_low=None, ci_high=None, deff=1.0,
                        kinds=pd.DataFrame({**row, "delta_aic": [0.0]}))


def _learn_decay(setup: _Setup, ex, design: _Design, em: _BookingDelays, train: _Training,
                 rules: RuleSet, l2: float, kinds, progress):
    """The decay profile (fit attributes enter as one column, their linear predictor);
    with the booking-delay model, the labels are spread again at the decay found and the
    profile redone on them. Returns (profile, examples, warnings)."""
    if setup.train_ds.snapshot or len(design.types) == 0:
        notes = ["Snapshot data: no decay can be learnt (each lead is seen once)."] \
            if setup.train_ds.snapshot and len(design.types) else []
        return _flat_profile(), ex, notes
    start = _start_decay(rules)
    prof = _profile(ex, design, em, train, start, l2, kinds, progress)
    if em.delays is not None and prof.decay != start:
        ex = em.spread(ex, design, prof.decay, 2, l2)
        prof = _profile(ex, design, em, train, prof.decay, l2, kinds, progress)
    return prof, ex, []


class _SplitCounts:
    """Per event type counts -> the split behaviour terms (uncapped), for the profile."""

    def __init__(self, features, design: _Design):
        self.features, self.design = features, design

    def counts(self, decay: Decay) -> np.ndarray:
        return term_matrix(self.features.counts(decay), self.design.types,
                           self.design.b_uncapped)


def _profile(ex, design: _Design, em: _BookingDelays, train: _Training, at: Decay,
             l2: float, kinds, progress) -> DecayProfile:
    """The decay profile on the examples that carry weight, with the fit attributes'
    linear predictor at decay ``at`` fixed. The others add nothing to the likelihood,
    and the profile refits the model dozens of times (with the holdout alone that is
    about a tenth of the examples)."""
    f0 = fit_logit(design.matrix(ex, at, design.b_uncapped), ex.y, weight=ex.weight, l2=l2)
    lp = (design.A @ f0.coef[1 + len(design.b_split):])[:, None]
    if train.use_ipw and em.delays is not None:
        # with selective labels and a holdout, the decay is learnt from the holdout
        # leads alone: worked from creation, their labels are complete (elsewhere a
        # meeting missed before routing leaves a lead looking at risk afterwards)
        w = train.sample_weight * train.holdout[ex.lead] * em.R_last
    else:
        w = ex.weight
    keep = np.flatnonzero(w > 0)
    opts = dict(kinds=tuple(kinds), l2=l2, progress=progress)
    if len(keep) == ex.n:
        return profile_decay(_SplitCounts(ex.features, design), lp, ex.y, w, ex.lead, **opts)
    return profile_decay(_SplitCounts(ex.features.at(ex.lead[keep], ex.t[keep]), design),
                         lp[keep], ex.y[keep], w[keep], ex.lead[keep], **opts)


@dataclass(frozen=True)
class _Model:
    """The fitted model: one term per event type (``split``) and the final terms (a
    group of events kept as one rule unless the data say its events differ)."""

    split: ModelFit  # one behaviour term per event type
    final: ModelFit  # the final terms
    final_terms: list
    group_p: dict  # group -> p-value of equal effects of its events

    @property
    def b_beta(self) -> np.ndarray:
        return self.final.coef[1:1 + len(self.final_terms)]

    @property
    def f_beta(self) -> np.ndarray:
        return self.final.coef[1 + len(self.final_terms):]


def _learn_points(ex, design: _Design, decay: Decay, l2: float) -> _Model:
    """The ridge model at ``decay``, per event type, then with the groups of events
    whose effects do not differ (Wald test at 5%) as one term."""
    f_names = [t.name for t in design.f_terms]

    def model(terms):
        kinds = ["intercept"] + ["behavior"] * len(terms) + ["fit"] * len(design.f_terms)
        names = ["intercept"] + [t.name for t in terms] + f_names
        return fit_model(design.matrix(ex, decay, terms), ex.y, ex.weight, ex.lead, names,
                         kinds, l2=l2, log_sampling=ex.log_sampling)

    m_split = model(design.b_split)
    final_terms: list[BehaviorTerm] = []
    group_p = {}
    for t in design.b_terms:
        if len(t.events) > 1:
            p = equality_pvalue(m_split, design.groups[t.name])
            group_p[t.name] = p
            if p < 0.05:
                final_terms.extend(s for s in design.b_split if s.group == t.name)
                continue
        final_terms.append(t)
    final = m_split if final_terms == design.b_split else model(final_terms)
    return _Model(split=m_split, final=final, final_terms=final_terms, group_p=group_p)


def _training_weeks(train_ds: Dataset) -> float | None:
    """The weeks in which the training leads arrived (to the last lead's creation, as
    ``calib run`` counts them): outcomes recorded long after the last lead (e.g. deals
    closing months later) must not thin out the weekly volumes. None for snapshots."""
    if train_ds.snapshot:
        return None
    created = train_ds.leads["created_at"]
    return max((created.max() - created.min()) / DAY, 1.0) / 7


def _end_ns(train_ds: Dataset) -> int:
    return train_ds.end_of_data.value if not train_ds.snapshot else NEVER


def _points_scale(setup: _Setup, rules: RuleSet, history: _History, design: _Design,
                  model: _Model, decay: Decay, cfg: FitConfig):
    """Points per unit of log-odds, so that the MQL cutoff (at the current volume, or at
    the capacity) lands on the current rules' MQL cutoff. Returns (scale, warnings)."""
    train_ds = setup.train_ds
    real = RuleSet.from_dict(_rule_dict("real", decay, model.final_terms, list(model.b_beta),
                                        design.f_terms, list(model.f_beta), None)
                             | {"thresholds": {"mql": 1.0}})
    prep_r, score_r, _ = _scores(train_ds, real)
    qs = np.unique(np.quantile(score_r, np.linspace(0, 1, 4001)))
    curve_r = cutoff_curve(prep_r.eval_lead, prep_r.eval_t, score_r, setup.o_train, qs,
                           window_days=setup.window_days, end_ns=_end_ns(train_ds),
                           snapshot=train_ds.snapshot)
    weeks_train = _training_weeks(train_ds)
    target = history.current.mql_count
    if cfg.capacity_mql_per_week is not None and weeks_train:
        target = cfg.capacity_mql_per_week * weeks_train  # the cutoff that fills the capacity
    c_star = float(curve_r.loc[curve_r["mql_count"] >= target, "cutoff"].max()) \
        if (curve_r["mql_count"] >= target).any() else float(qs[-1])
    base = float(rules.thresholds.mql)
    scale = base / c_star if c_star > 0 and base > 0 else 10.0
    if not np.isfinite(scale) or scale <= 0:
        return 10.0, ["The points scale could not be matched to the current cutoff; "
                      "10 points per unit of log-odds used."]
    return scale, []


@dataclass(frozen=True)
class _Points:
    """Whole points of the final behaviour terms and of the fit terms."""

    behavior: list
    fit: list


def _whole_points(setup: _Setup, design: _Design, model: _Model, scale: float,
                  mql_cutoff: float):
    """Points rounded to whole numbers. A point value beyond twice the MQL cutoff only
    says "always" or "never"; only the terms the data separate (no finite unpenalised
    estimate) are clipped there. Returns (points, separation table, warnings)."""
    bound = 2 * max(float(mql_cutoff), 1.0)
    separated = _separated_terms(setup, design, model)
    all_names = [t.name for t in model.final_terms] + [t.name for t in design.f_terms]
    raw = {n: scale * b for n, b in zip(all_names, list(model.b_beta) + list(model.f_beta))}
    notes: list[str] = []
    separation = _separation_notes(separated, raw, bound, setup.outcome, notes)

    def clip(name, b):
        v = scale * b
        return _int_points(np.clip(v, -bound, bound) if name in separated or not np.isfinite(v)
                           else v)

    return _Points(behavior=[clip(t.name, b) for t, b in zip(model.final_terms, model.b_beta)],
                   fit=[clip(t.name, b) for t, b in zip(design.f_terms, model.f_beta)]), \
        separation, notes


def _separated_terms(setup: _Setup, design: _Design, model: _Model) -> dict:
    """Terms whose leads all had the outcome (or none did), among the leads whose
    outcome had its whole window to arrive, plus those the model found separated."""
    train_ds = setup.train_ds
    ev_col = {e: j for j, e in enumerate(design.types)}
    has = {t.name: (design.event_counts[:, [ev_col[e] for e in t.events]].sum(axis=1) > 0)
           for t in model.final_terms}
    has.update({t.name: design.A_leads[:, j] > 0 for j, t in enumerate(design.f_terms)})
    if not train_ds.snapshot:
        mature_l = ns(train_ds.leads["created_at"]) + int(setup.window_days * 86_400e9) \
            <= train_ds.end_of_data.value
        has = {k: v & mature_l for k, v in has.items()}
    separated = lead_separation(has, setup.o_train != NEVER)
    for t_name in model.final.separated:
        separated.setdefault(t_name, (None, None))
    return separated


def _proposal(name: str, rules: RuleSet, decay: Decay, model: _Model, design: _Design,
              points: _Points, thresholds: dict) -> RuleSet:
    """The proposed rule set with ``thresholds``."""
    limits = {"min": rules.limits.min} if rules.limits.min is not None else None
    return RuleSet.from_dict(_rule_dict(name, decay, model.final_terms, points.behavior,
                                        design.f_terms, points.fit, limits)
                             | {"thresholds": thresholds})


def _choose_cutoffs(setup: _Setup, rules: RuleSet, history: _History, design: _Design,
                    model: _Model, points: _Points, decay: Decay, cfg: FitConfig):
    """The MQL cutoff (capacity or current volume) and the SQL cutoff (precision) on
    the training leads. Returns (proposed rules, cutoffs, curve, warnings)."""
    train_ds, capacity = setup.train_ds, cfg.capacity_mql_per_week
    pname = cfg.name or f"{rules.name}-fitted"
    draft = _proposal(pname, rules, decay, model, design, points, {"mql": 1.0})
    prep_i, score_i, _ = _scores(train_ds, draft)
    grid = np.arange(math.floor(float(score_i.min())), math.ceil(float(score_i.max())) + 1,
                     dtype=float)
    weeks_train = _training_weeks(train_ds)
    cur_count = history.current.mql_count
    curve = cutoff_curve(prep_i.eval_lead, prep_i.eval_t, score_i, setup.o_train, grid,
                         window_days=setup.window_days, end_ns=_end_ns(train_ds),
                         snapshot=train_ds.snapshot, weeks=weeks_train)
    mql, basis = choose_mql_cutoff(curve, capacity_mql_per_week=capacity
                                   if weeks_train else None, min_volume=cur_count)
    notes = []
    if capacity is not None and not weeks_train:
        notes.append("Snapshot data have no weeks: --capacity is ignored; the current "
                     "rules' MQL volume is kept.")
    mql_rate = curve.loc[curve["cutoff"] == mql, "rate"].iloc[0]
    sql_target, target_basis = _sql_target(setup, rules, mql_rate, cfg.sql_precision)
    sql = choose_sql_cutoff(curve, mql, sql_target) if sql_target is not None else None
    thresholds = {"mql": int(mql) if float(mql).is_integer() else mql}
    if sql is not None:
        thresholds["sql"] = int(sql) if float(sql).is_integer() else sql
    cutoffs = CutoffChoice(
        mql=float(mql), mql_basis=basis, sql=sql, sql_target=sql_target,
        sql_target_basis=target_basis, current_mql_count_train=int(cur_count),
        current_rate_train=_num(history.current.outcome(setup.outcome).rate),
        proposed_mql_count_train=float(curve.loc[curve["cutoff"] == mql, "mql_count"].iloc[0]),
        proposed_rate_train=_num(mql_rate), capacity_mql_per_week=capacity)
    proposed = _proposal(pname, rules, decay, model, design, points, thresholds)
    return proposed, cutoffs, curve, notes


def _sql_target(setup: _Setup, rules: RuleSet, mql_rate: float, sql_precision):
    """The SQL hit rate to aim at and where it comes from: given, else the current
    rules' SQL hit rate on the training leads, else (or when that is no higher than the
    MQL hit rate) twice the MQL hit rate."""
    if sql_precision is not None:
        return float(sql_precision), "given"
    sql_target, target_basis = None, None
    if rules.thresholds.sql is not None:
        sres = replay(setup.train_ds, rules.with_params({"thresholds.mql": rules.thresholds.sql,
                                                         "thresholds.sql": None}),
                      window_days=setup.window_days)
        sql_target = sres.outcome(setup.outcome).rate
        target_basis = "the current rules' SQL hit rate"
    if sql_target is None or (mql_rate == mql_rate and sql_target <= mql_rate):
        sql_target = min(0.95, 2 * mql_rate) if mql_rate == mql_rate else None
        target_basis = "twice the MQL hit rate"
    return sql_target, target_basis


def _effects_table(rules: RuleSet, design: _Design, model: _Model, points: _Points):
    """One row per model term with its points and the current rule it comes from, and
    the new rules (no current counterpart, interval away from zero)."""
    eff = model.final.frame()
    eff["points"] = [np.nan] + [float(p) for p in points.behavior] + \
        [float(p) for p in points.fit]
    eff["current_rule"] = [None] + [t.source for t in model.final_terms] + \
        [_fit_source(t, rules) for t in design.f_terms]
    eff["events_or_field"] = [None] + [",".join(t.events) for t in model.final_terms] + \
        [t.field for t in design.f_terms]
    new_rules = tuple(r for r, s_, p, lo, hi in zip(eff["term"], eff["current_rule"],
                                                    eff["points"], eff["ci_low"],
                                                    eff["ci_high"])
                      if r != "intercept" and s_ is None and p == p and p != 0
                      and (lo > 0 or hi < 0))
    eff["new"] = eff["term"].isin(new_rules)
    return eff, new_rules


def _review_current(setup: _Setup, rules: RuleSet, design: _Design, model: _Model,
                    scale: float):
    """The review of every current rule (:func:`calib.fit.points.review_rules`) and the
    effect of every event type, from the model with one term per event type."""
    train_ds = setup.train_ds
    event_freq = {e: int(v) for e, v in train_ds.events["event_type"].value_counts().items()}
    event_term = {s.events[0]: s.name for s in design.b_split}
    review = review_rules(rules, model.split, fit_terms=design.f_terms,
                          attr_matrix=design.A_leads,
                          fit_matrix=fit_matrix(train_ds.leads, rules), event_freq=event_freq,
                          event_term=event_term, fallback_scale=scale)
    if model.group_p:
        review["group_equal_p"] = review["rule"].map(model.group_p)
    ee = model.split.frame()
    ee = ee[ee["kind"] == "behavior"].copy()
    inv = {v: k for k, v in event_term.items()}
    ee.insert(0, "event_type", ee["term"].map(inv))
    ee["points"] = scale * ee["coef"]
    return review, ee.drop(columns=["kind"]).reset_index(drop=True)


def _training_notes(selection: SelectionReport, history: _History, train: _Training,
                    weighting: str) -> SelectionReport:
    """How the training examples were weighted, and what to change when the labels are
    selective."""
    recs = list(selection.recommendations)
    by_routing = selection.coverage_by_routing or {}
    if by_routing.get("selective") is False:
        recs.append(_sentence(by_routing["sentence"]))
    elif history.pi is None:
        recs.append(
            "No usable exploration holdout: outcomes of leads the current rules routed late or "
            "never are unknown, so rates of newly routed leads are lower bounds and the fit "
            "partly learns the old rules back. Keep a random holdout (e.g. 5% of new leads, "
            "routed to sales at creation whatever their score) to measure them.")
    if history.pi is not None and not train.use_ipw and weighting == "auto":
        recs.append(
            f"The holdout has {train.probe_positives} positive example(s) from before the "
            f"historical routing ({MIN_PROBE_POSITIVES} needed to weight the fit); the fit is "
            "unweighted and the holdout is used to correct the evaluation.")
    return replace(selection, recommendations=tuple(recs),
                   training_weighting="ipw" if train.use_ipw else "none",
                   holdout_share_train=history.pi,
                   holdout_positive_examples=train.probe_positives)


def _example_summary(ex, setup: _Setup, em: _BookingDelays, cfg: FitConfig,
                     use_ipw: bool) -> ExampleSummary:
    """The counts of the training examples for the result."""
    return ExampleSummary(
        n=ex.n, positives=ex.n_positive, leads=ex.n_leads, candidates=ex.n_candidates,
        negatives_kept_share=(float(np.exp(ex.log_sampling)) if ex.log_sampling
                              else ex.sample_rate),
        horizon_days=setup.horizon_days, lag_days=cfg.lag_days,
        label_time=em.label_time(cfg.lag_days, use_ipw))


def _sentence(text: str) -> str:
    """``text`` as a sentence: a capital first letter and a full stop."""
    return text[0].upper() + text[1:] + "."


# ---------------------------------------------------------------------------- helpers
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


