"""One refinement review: everything "Since the last review" shows, as one result."""

from __future__ import annotations

from dataclasses import dataclass

from calib.data.dataset import Dataset
from calib.errors import ConfigError
from calib.refine._scores import lead_replay
from calib.refine.config import RefineConfig
from calib.refine.drift import DriftResult, drift_audit
from calib.refine.feedback import FeedbackResult, sales_feedback
from calib.refine.history import (
    BeforeAfter,
    PredictionCheck,
    RuleHistory,
    before_after,
    check_prediction,
)
from calib.refine.speed import SpeedResult, speed_to_lead
from calib.rules import RuleSet, load_rules


@dataclass(frozen=True)
class RefinementResult:
    """The checks of a refinement review; a part is None when its input is missing (the
    reason is in ``skipped``, with other notes on what was checked)."""

    rules: str
    primary: str
    config: RefineConfig
    history: RuleHistory | None = None
    prediction: PredictionCheck | None = None
    before_after: BeforeAfter | None = None
    drift: DriftResult | None = None
    speed: SpeedResult | None = None
    feedback: FeedbackResult | None = None
    skipped: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """Every check as JSON values (None where it did not run)."""
        def part(x): return x.to_dict() if x is not None else None
        return {"rules": self.rules, "primary": self.primary, "config": self.config.to_dict(),
                "history": part(self.history), "prediction": part(self.prediction),
                "before_after": part(self.before_after) if self.prediction is None else None,
                "drift": part(self.drift), "speed_to_lead": part(self.speed),
                "sales_feedback": part(self.feedback), "skipped": list(self.skipped)}

    def summary(self) -> str:
        """The summaries of the checks that ran, then the notes of ``skipped``."""
        parts = [p.summary() for p in (self.prediction, self.before_after if self.prediction
                                       is None else None, self.drift, self.speed, self.feedback)
                 if p is not None]
        parts += [f"Note: {s}" for s in self.skipped]
        return "\n\n".join(parts)


def refine(ds: Dataset, rules: RuleSet, *, primary: str, window_days: float = 90,
           config: RefineConfig | None = None, history: RuleHistory | None = None,
           previous: dict | None = None) -> RefinementResult:
    """Check the last change, drift, speed to lead and sales feedback for ``rules``.

    Parameters
    ----------
    ds : Dataset
        The lead history (a snapshot without dates gets no checks, only the reason).
    rules : RuleSet
        The rule set live now.
    primary : str
        The outcome the checks judge by (e.g. ``"meeting"``).
    window_days : float
        Attribution window.
    config : RefineConfig, optional
    history : RuleHistory, optional
        The rule sets that were live and since when; the latest change is checked.
    previous : dict, optional
        The earlier report's ``summary.json`` (:func:`calib.refine.load_previous`).

    Returns
    -------
    RefinementResult
        The checks that could run; ``skipped`` says why the others did not.

    Examples
    --------
    >>> from calib.refine import refine
    >>> from calib import load_dataset, load_rules
    >>> res = refine(load_dataset("calib-demo/data"), load_rules("calib-demo/current.toml"),
    ...              primary="meeting")
    >>> print(res.summary().splitlines()[0])  # doctest: +ELLIPSIS
    Drift of 'current' by month of creation (reference: 2025-01 .. 2025-03): No period's ...
    """
    config = config or RefineConfig()
    skipped = []
    if ds.snapshot:
        return RefinementResult(rules.name, primary, config, history, skipped=(
            "the data set is a snapshot (no dates): nothing can be compared over time",))
    prediction, ba = _last_change(ds, rules, primary, window_days, history, previous, skipped)
    pl = lead_replay(ds, rules, window_days)  # one replay for the three checks below
    drift = drift_audit(ds, rules, outcome=primary, window_days=window_days,
                        by=config.drift_by, reference_periods=config.reference_periods,
                        score_age_days=config.score_age_days, per_lead=pl)
    speed = fb = None
    if config.first_touch:
        speed = _optional("speed to lead", skipped, lambda: speed_to_lead(
            ds, rules, outcome=primary, first_touch=config.first_touch,
            window_days=window_days, service_level_hours=config.service_level_hours,
            service_level_share=config.service_level_share, per_lead=pl))
    if config.rejected:
        fb = _optional("sales feedback", skipped, lambda: sales_feedback(
            ds, rules, rejected=config.rejected, window_days=window_days, per_lead=pl))
    return RefinementResult(rules.name, primary, config, history, prediction, ba, drift, speed,
                            fb, tuple(skipped))


def _last_change(ds, rules, primary, window_days, history, previous, skipped: list):
    """(prediction check, before/after) of the latest change of ``history``: the
    prediction when the earlier report is given, else the before/after; a note in
    ``skipped`` for what cannot be checked."""
    change = history.latest_change() if history is not None else None
    if change is None:
        skipped.append("a previous report was given but no rule-set history says when its "
                       "proposal was adopted" if previous is not None else
                       "no rule-set history: no change to check")
        return None, None
    old, new = (load_rules(e.file) for e in change)
    if new.name != rules.name:
        skipped.append(f"the latest rule set of the history is '{new.name}', not "
                       f"'{rules.name}', the rule set reviewed; the change checked is "
                       f"'{old.name}' -> '{new.name}'")
    try:
        if previous is not None:
            return check_prediction(ds, new, change[1].since, previous, primary=primary,
                                    window_days=window_days, old=old), None
        return None, before_after(ds, old, new, change[1].since, primary=primary,
                                  window_days=window_days)
    except ConfigError as e:  # a history outside the data: say so, check the rest
        if e.code != "out_of_range":
            raise
        skipped.append(str(e))
        return None, None


def _optional(name: str, skipped: list, fn):
    """``fn()``, or None with a note in ``skipped`` when the data does not record what
    the check needs (do not fail the review for it)."""
    try:
        return fn()
    except ConfigError as e:
        if e.code != "unknown_outcome":
            raise
        skipped.append(f"{name}: {e}")
        return None
