"""What :func:`calib.fit.fit` returns: :class:`FitResult` and its typed pieces.

Each piece is a small frozen dataclass with a ``to_dict()`` (the JSON of ``calib fit
--json``). For code written against the plain dicts of earlier versions, a piece also
reads like one (``res.comparison["current"]["mature"]["hits"]``): ``piece[key]`` and
``piece.get(key)`` look the key up in ``piece.to_dict()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from calib.engine.results import _num
from calib.fit.decay import DecayProfile
from calib.rules.config import RuleSet

__all__ = ["FitResult", "FitSplit", "ExampleSummary", "CutoffChoice", "Penalty",
           "MatureRates", "ArmRates", "RateDifference", "AtProposedVolume",
           "CorrectedComparison", "Comparison", "SelectionReport"]


class _Piece:
    """Read access by key, for code written against the plain dicts."""

    def to_dict(self) -> dict:  # pragma: no cover - every piece defines its own
        raise NotImplementedError

    def __getitem__(self, key: str):
        return self.to_dict()[key]

    def get(self, key: str, default=None):
        """``to_dict().get(key, default)``.

        Examples
        --------
        >>> Penalty(method="ridge", l2=1.0, chosen_by="given").get("cv", [])
        []
        """
        return self.to_dict().get(key, default)

    def __contains__(self, key: str) -> bool:
        return key in self.to_dict()


def _dict(x):
    return x.to_dict() if x is not None else None


def _compact(d: dict, keep=()) -> dict:
    """``d`` without its None values, but for the keys in ``keep`` (always shown)."""
    return {k: v for k, v in d.items() if v is not None or k in keep}


@dataclass(frozen=True)
class FitSplit(_Piece):
    """How the data were split into training and test leads.

    Attributes
    ----------
    kind : {"time", "random"}
        ``time``: trained on the data as known at ``train_until``, tested on the leads
        created after it; ``random``: snapshot data, a seeded random third tested.
    train_until : str or None
        The split date (ISO 8601, UTC); None for a random split.
    seed : int, optional
        Seed of a random split.
    test_created_until : str, optional
        Last creation time of a test lead (its whole window observed), time split only.
    no_test_reason : str, optional
        Why no lead created after ``train_until`` can be tested.
    window : dict, optional
        The attribution window and where it comes from (``DelayWindow.to_dict()``).
    train_leads, test_leads : int, optional
        Number of training and test leads.
    """

    kind: str
    train_until: str | None
    seed: int | None = None
    test_created_until: str | None = None
    no_test_reason: str | None = None
    window: dict | None = None
    train_leads: int | None = None
    test_leads: int | None = None

    def to_dict(self) -> dict:
        """The split as a JSON-safe dict (keys of the fields that apply).

        Examples
        --------
        >>> FitSplit(kind="random", train_until=None, seed=0).to_dict()
        {'kind': 'random', 'train_until': None, 'seed': 0}
        """
        return _compact({"kind": self.kind, "train_until": self.train_until, "seed": self.seed,
                         "test_created_until": self.test_created_until,
                         "no_test_reason": self.no_test_reason, "window": self.window,
                         "train_leads": self.train_leads, "test_leads": self.test_leads},
                        keep=("kind", "train_until"))


@dataclass(frozen=True)
class ExampleSummary(_Piece):
    """The training examples the model saw.

    Attributes
    ----------
    n, positives, leads, candidates : int
        Examples, those with the outcome in their label window, leads with an example,
        and the moments before subsampling of the negatives.
    negatives_kept_share : float
        Share of the negative examples kept by the subsampling.
    horizon_days, lag_days : float
        Longest label window and the fixed lag (see :class:`calib.fit.FitConfig`).
    label_time : dict
        How the moment that decided an outcome was placed (``model``: ``fixed lag`` or
        ``booking delay`` with the estimated delay).
    """

    n: int
    positives: int
    leads: int
    candidates: int
    negatives_kept_share: float
    horizon_days: float
    lag_days: float
    label_time: dict

    def to_dict(self) -> dict:
        """The counts as a JSON-safe dict.

        Examples
        --------
        >>> ExampleSummary(10, 2, 5, 12, 1.0, 30, 1, {"model": "fixed lag"}).to_dict()["n"]
        10
        """
        return {"n": self.n, "positives": self.positives, "leads": self.leads,
                "candidates": self.candidates,
                "negatives_kept_share": self.negatives_kept_share,
                "horizon_days": self.horizon_days, "lag_days": self.lag_days,
                "label_time": self.label_time}


@dataclass(frozen=True)
class CutoffChoice(_Piece):
    """The proposed MQL and SQL cutoffs and how they were chosen (training leads).

    Attributes
    ----------
    mql : float
        The MQL cutoff.
    mql_basis : str
        How it was chosen (the current volume, or the capacity).
    sql, sql_target : float or None
        The SQL cutoff and the hit rate it aims at.
    sql_target_basis : str or None
        Where the target comes from.
    current_mql_count_train, current_rate_train : float
        MQLs and hit rate of the current rules on the training leads.
    proposed_mql_count_train, proposed_rate_train : float
        The same for the proposed rules.
    capacity_mql_per_week : float or None
        The capacity the cutoff fills (the same name in ``to_dict()``).
    """

    mql: float
    mql_basis: str
    sql: float | None
    sql_target: float | None
    sql_target_basis: str | None
    current_mql_count_train: int
    current_rate_train: float | None
    proposed_mql_count_train: float
    proposed_rate_train: float | None
    capacity_mql_per_week: float | None

    def to_dict(self) -> dict:
        """The cutoffs as a JSON-safe dict.

        Examples
        --------
        >>> c = CutoffChoice(50.0, "current volume", None, None, None, 10, 0.2, 10, 0.3, None)
        >>> c.to_dict()["mql"], c["sql"]
        (50.0, None)
        """
        return {"mql": self.mql, "mql_basis": self.mql_basis, "sql": self.sql,
                "sql_target": self.sql_target, "sql_target_basis": self.sql_target_basis,
                "current_mql_count_train": self.current_mql_count_train,
                "current_rate_train": self.current_rate_train,
                "proposed_mql_count_train": self.proposed_mql_count_train,
                "proposed_rate_train": self.proposed_rate_train,
                "capacity_mql_per_week": self.capacity_mql_per_week}


@dataclass(frozen=True)
class Penalty(_Piece):
    """The ridge penalty of the model and how its strength was chosen.

    Attributes
    ----------
    method : str
        The penalty in words.
    l2 : float
        Its strength (on standardised columns).
    chosen_by : str
        ``given`` or the cross-validation that chose it.
    cv : tuple of dict, optional
        The cross-validation's table (one row per strength tried).
    """

    method: str
    l2: float | None
    chosen_by: str
    cv: tuple | None = None

    def to_dict(self) -> dict:
        """The penalty as a JSON-safe dict.

        Examples
        --------
        >>> Penalty(method="ridge", l2=1.0, chosen_by="given").to_dict()
        {'method': 'ridge', 'l2': 1.0, 'chosen_by': 'given'}
        """
        return _compact({"method": self.method, "l2": self.l2, "chosen_by": self.chosen_by,
                         "cv": list(self.cv) if self.cv is not None else None},
                        keep=("method", "l2", "chosen_by"))


@dataclass(frozen=True)
class MatureRates(_Piece):
    """Hits over the MQLs whose whole window is observed, with a Wilson interval.

    Attributes
    ----------
    mqls, hits, decided : int
        MQLs with the whole window observed, those with the outcome in it, and those
        decided (hit, miss or late).
    rate, ci_low, ci_high : float or None
        ``hits / decided`` and its 95% interval.
    """

    mqls: int
    hits: int
    decided: int
    rate: float | None
    ci_low: float | None
    ci_high: float | None

    def to_dict(self) -> dict:
        """The counts as a JSON-safe dict.

        Examples
        --------
        >>> MatureRates(10, 3, 8, 0.375, 0.1, 0.7).to_dict()["rate"]
        0.375
        """
        return {"mqls": self.mqls, "hits": self.hits, "decided": self.decided,
                "rate": self.rate, "ci_low": self.ci_low, "ci_high": self.ci_high}


@dataclass(frozen=True)
class ArmRates(_Piece):
    """One rule set replayed on the test leads: the replay's counts and the mature ones.

    Attributes
    ----------
    mql_count, hits, late, misses, immature, decided : int
        The replay's MQLs and their outcome status counts.
    rate, ci_low, ci_high : float or None
        The replay's hit rate with its interval.
    hits_per_mql : float or None
        Hits over all MQLs.
    coverage : float or None
        Share of the MQLs with any sales outcome.
    mature : MatureRates
        The counts over the MQLs whose whole window is observed.
    """

    mql_count: int
    hits: int
    late: int
    misses: int
    immature: int
    decided: int
    rate: float | None
    hits_per_mql: float | None
    ci_low: float | None
    ci_high: float | None
    coverage: float | None
    mature: MatureRates

    def to_dict(self) -> dict:
        """The counts as a JSON-safe dict.

        Examples
        --------
        >>> m = MatureRates(10, 3, 8, 0.375, 0.1, 0.7)
        >>> ArmRates(10, 3, 0, 5, 2, 8, 0.375, 0.3, 0.1, 0.7, 1.0, m)["mature"]["hits"]
        3
        """
        return {"mql_count": self.mql_count, "hits": self.hits, "late": self.late,
                "misses": self.misses, "immature": self.immature, "decided": self.decided,
                "rate": self.rate, "hits_per_mql": self.hits_per_mql, "ci_low": self.ci_low,
                "ci_high": self.ci_high, "coverage": self.coverage,
                "mature": self.mature.to_dict()}


@dataclass(frozen=True)
class RateDifference(_Piece):
    """A difference of two rates (proposed - current) with its 95% interval.

    Attributes
    ----------
    diff, ci_low, ci_high : float or None
        The difference and its interval.
    method : str
        The interval's method (``newcombe``).
    basis : str, optional
        Which rates were compared.
    """

    diff: float | None
    ci_low: float | None
    ci_high: float | None
    method: str
    basis: str | None = None

    def to_dict(self) -> dict:
        """The difference as a JSON-safe dict.

        Examples
        --------
        >>> RateDifference(0.1, 0.02, 0.18, "newcombe").to_dict()["ci_low"]
        0.02
        """
        return _compact({"diff": self.diff, "ci_low": self.ci_low, "ci_high": self.ci_high,
                         "method": self.method, "basis": self.basis},
                        keep=("diff", "ci_low", "ci_high", "method"))


@dataclass(frozen=True)
class AtProposedVolume(_Piece):
    """Both rule sets at the proposed rules' own MQL volume (e.g. a capacity).

    Attributes
    ----------
    mql_count : int
        The proposed rules' MQLs on the test leads.
    current_cutoff : float
        The current rules' MQL cutoff raised to route as many leads.
    current, proposed : ArmRates
        The two replays.
    difference : RateDifference, optional
        Mature rate of the proposed minus the current rules.
    """

    mql_count: int
    current_cutoff: float
    current: ArmRates
    proposed: ArmRates
    difference: RateDifference | None = None

    def to_dict(self) -> dict:
        """The comparison as a JSON-safe dict.

        Examples
        --------
        >>> m = MatureRates(10, 3, 8, 0.375, 0.1, 0.7)
        >>> a = ArmRates(10, 3, 0, 5, 2, 8, 0.375, 0.3, 0.1, 0.7, 1.0, m)
        >>> sorted(AtProposedVolume(10, 60.0, a, a).to_dict())
        ['current', 'current_cutoff', 'mql_count', 'proposed']
        """
        return _compact({"mql_count": self.mql_count, "current_cutoff": self.current_cutoff,
                         "current": self.current.to_dict(),
                         "proposed": self.proposed.to_dict(),
                         "difference": _dict(self.difference)},
                        keep=("mql_count", "current_cutoff"))


@dataclass(frozen=True)
class CorrectedComparison(_Piece):
    """Rates corrected for selective labels with the holdout
    (:func:`calib.fit.selection.corrected_comparison`).

    Attributes
    ----------
    proposed, current : dict
        Corrected rate with its interval, and the MQLs routed late or never.
    difference : dict
        Proposed minus current with a paired bootstrap interval (``diff`` None when it
        cannot be estimated, ``reason`` says why).
    method : str
        The estimator.
    holdout_leads : int
        Holdout leads among the test leads.
    reason : str, optional
        Why no corrected difference could be estimated.
    """

    proposed: dict
    current: dict
    difference: dict
    method: str
    holdout_leads: int
    reason: str | None = None

    def to_dict(self) -> dict:
        """The corrected comparison as a JSON-safe dict.

        Examples
        --------
        >>> c = CorrectedComparison({}, {}, {"diff": None}, "ipw", 0, reason="no holdout")
        >>> c.to_dict()["reason"]
        'no holdout'
        """
        return _compact({"proposed": self.proposed, "current": self.current,
                         "difference": self.difference, "method": self.method,
                         "holdout_leads": self.holdout_leads, "reason": self.reason},
                        keep=("method",))


@dataclass(frozen=True)
class Comparison(_Piece):
    """The out-of-time comparison of the proposed rules with the current ones.

    Attributes
    ----------
    status : {"ok", "no_test_leads", "no_decided_mqls"}
        Whether the comparison could be made.
    reason : str, optional
        Why not, when it could not.
    window_days : float
        Attribution window of the replays.
    mql_count : int
        The current rules' MQLs on the test leads (the matched volume).
    proposed_cutoff : float
        The proposed rules' MQL cutoff at that volume.
    current, proposed, proposed_as_written : ArmRates
        The replays: current rules, proposed at the matched volume, proposed as written.
    difference_replay_rate, difference : RateDifference
        Proposed minus current, on the replay rate and on the mature rate.
    at_proposed_volume : AtProposedVolume, optional
        Both at the proposed rules' own (smaller) volume.
    new_mql_unworked_share : float or None
        Share of the proposed MQLs never routed historically nor held out.
    corrected : CorrectedComparison, optional
        The same corrected for selective labels, when a holdout allows.
    """

    status: str
    reason: str | None = None
    window_days: float | None = None
    mql_count: int | None = None
    proposed_cutoff: float | None = None
    current: ArmRates | None = None
    proposed: ArmRates | None = None
    proposed_as_written: ArmRates | None = None
    difference_replay_rate: RateDifference | None = None
    difference: RateDifference | None = None
    at_proposed_volume: AtProposedVolume | None = None
    new_mql_unworked_share: float | None = None
    corrected: CorrectedComparison | None = None

    def to_dict(self) -> dict:
        """The comparison as a JSON-safe dict (the keys that apply to its status).

        Examples
        --------
        >>> Comparison(status="no_test_leads", reason="none").to_dict()
        {'status': 'no_test_leads', 'reason': 'none'}
        """
        d: dict = {"status": self.status}
        if self.current is None:
            d["reason"] = self.reason
            return d
        d.update(window_days=self.window_days, mql_count=self.mql_count,
                 proposed_cutoff=self.proposed_cutoff, current=self.current.to_dict(),
                 proposed=self.proposed.to_dict(),
                 proposed_as_written=self.proposed_as_written.to_dict())
        if self.status != "ok":
            d["reason"] = self.reason
            return d
        d["difference_replay_rate"] = self.difference_replay_rate.to_dict()
        d["difference"] = self.difference.to_dict()
        if self.at_proposed_volume is not None:
            d["at_proposed_volume"] = self.at_proposed_volume.to_dict()
        d["new_mql_unworked_share"] = self.new_mql_unworked_share
        if self.corrected is not None:
            d["corrected"] = self.corrected.to_dict()
        return d


@dataclass(frozen=True)
class SelectionReport(_Piece):
    """Selective labels: coverage of the test leads, the holdout and what to do.

    Attributes
    ----------
    holdout_column : str or None
        The lead column of the exploration holdout.
    recommendations : tuple of str
        What to change so that outcomes can be measured.
    coverage_by_band : tuple of dict, optional
        Share of test leads with any sales outcome by band of peak score.
    coverage_by_routing : dict, optional
        Coverage of routed against never-routed leads.
    holdout_leads_test : int, optional
        Holdout leads among the test leads (None: no test leads evaluated).
    holdout_share_test : float or None
        Their share.
    training_weighting : {"ipw", "none"}, optional
        Whether the training examples were weighted.
    holdout_share_train : float or None
        Holdout share of the training leads.
    holdout_positive_examples : int, optional
        Holdout examples with the outcome from before the historical routing.
    """

    holdout_column: str | None
    recommendations: tuple[str, ...] = ()
    coverage_by_band: tuple | None = None
    coverage_by_routing: dict | None = None
    holdout_leads_test: int | None = None
    holdout_share_test: float | None = None
    training_weighting: str | None = None
    holdout_share_train: float | None = None
    holdout_positive_examples: int | None = None

    def to_dict(self) -> dict:
        """The report as a JSON-safe dict (the keys that apply).

        Examples
        --------
        >>> SelectionReport(holdout_column=None).to_dict()
        {'holdout_column': None, 'recommendations': []}
        """
        d = _compact({"holdout_column": self.holdout_column,
                      "recommendations": list(self.recommendations),
                      "coverage_by_band": (list(self.coverage_by_band)
                                           if self.coverage_by_band is not None else None),
                      "coverage_by_routing": self.coverage_by_routing},
                     keep=("holdout_column",))
        if self.holdout_leads_test is not None:
            d.update(holdout_leads_test=self.holdout_leads_test,
                     holdout_share_test=self.holdout_share_test)
        if self.training_weighting is not None:
            d.update(training_weighting=self.training_weighting,
                     holdout_share_train=self.holdout_share_train,
                     holdout_positive_examples=self.holdout_positive_examples)
        return d


@dataclass(frozen=True)
class FitResult:
    """What :func:`calib.fit.fit` learnt and how the proposal did out of time.

    Attributes
    ----------
    rules : RuleSet
        The proposed rule set (write it with :func:`calib.rules.write_rules`).
    current : str
        Name of the current rule set.
    outcome : str
        The outcome predicted.
    split : FitSplit
        How training and test leads were split.
    examples : ExampleSummary
        The training examples.
    points_per_logit : float
        Points per unit of log-odds (the scale of the proposed points).
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
    new_rules : tuple of str
        Proposed rules with no current counterpart and an interval away from zero.
    cutoffs : CutoffChoice
        The chosen MQL and SQL cutoffs and how they were chosen.
    curve : DataFrame
        Volume and hit rate of every integer cutoff over the training leads.
    comparison : Comparison
        Out-of-time comparison at equal MQL volume (observed, and IPW-corrected when a
        holdout allows).
    selection : SelectionReport
        Coverage by score band, holdout, weighting and recommendations.
    warnings : tuple of str
        What the user should know about the fit.
    screened : tuple of dict
        Terms left out (constant or aliased), with a note each.
    penalty : Penalty
        The ridge penalty and how it was chosen.
    separation : dict
        Terms the data separate: ``name -> {leads, had_outcome, clipped}``.
    """

    rules: RuleSet
    current: str
    outcome: str
    split: FitSplit
    examples: ExampleSummary
    points_per_logit: float
    decay: DecayProfile
    effects: pd.DataFrame
    review: pd.DataFrame
    event_effects: pd.DataFrame
    new_rules: tuple[str, ...]
    cutoffs: CutoffChoice
    curve: pd.DataFrame
    comparison: Comparison
    selection: SelectionReport
    warnings: tuple[str, ...] = field(default=())
    screened: tuple = field(default=())
    penalty: Penalty | None = None
    separation: dict = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """The model terms with their points (one row per term).

        Returns
        -------
        DataFrame
            A copy of :attr:`effects`: each term's coefficients, interval, points and
            the current rule it comes from.
        """
        return self.effects.copy()

    @property
    def flagged(self) -> pd.DataFrame:
        """Current rules whose points the data do not support."""
        return self.review[~self.review["status"].isin(["ok", "no_data"])]

    def to_dict(self) -> dict:
        """Everything as a JSON-safe dict (the output of ``calib fit --json``).

        Returns
        -------
        dict
            One key per attribute (and ``proposed``, ``flagged``), each part as its own
            ``to_dict()``, tables as lists of records with None for NaN.
        """
        return {
            "rules": self.rules.to_dict(),
            "current": self.current,
            "proposed": self.rules.name,
            "outcome": self.outcome,
            "split": self.split.to_dict(),
            "examples": self.examples.to_dict(),
            "points_per_logit": _num(self.points_per_logit),
            "decay": {**self.decay.to_dict(), "curve": _records(self.decay.curve),
                      "by_kind": _records(self.decay.kinds)},
            "effects": _records(self.effects),
            "review": _records(self.review),
            "event_effects": _records(self.event_effects),
            "flagged": _records(self.flagged),
            "new_rules": list(self.new_rules),
            "cutoffs": self.cutoffs.to_dict(),
            "comparison": self.comparison.to_dict(),
            "selection": self.selection.to_dict(),
            "warnings": list(self.warnings),
            "screened": list(self.screened),
            "penalty": _dict(self.penalty) or {},
            "separation": self.separation,
        }

    def summary(self) -> str:
        """The fit in a few lines of text (what ``calib fit`` prints).

        Returns
        -------
        str
        """
        from calib.fit.summary import fit_summary

        return fit_summary(self)


def _records(df: pd.DataFrame) -> list[dict]:
    """Rows of ``df`` as JSON-safe dicts (NaN as None, numpy scalars as Python ones)."""
    return [{k: (_num(v) if isinstance(v, (float, np.floating)) else
                 (v.item() if hasattr(v, "item") else v)) for k, v in r.items()}
            for r in df.to_dict("records")]
