"""Turning a data set and a rule set into arrays the kernels use.

Everything here depends only on the *structure* of a rule set (which events each
behaviour rule counts, ``max_per_day``, the fit conditions), not on its points, decay or
cutoffs, so a sweep prepares once and scores many configurations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from calib.data.dataset import Dataset, ns
from calib.engine.kernels import (KIND_CODES, decayed_sums, evaluation_points,
                                  match_events)
from calib.errors import ConfigError
from calib.rules.config import Decay, FitRule, RuleSet


def fit_matches(leads: pd.DataFrame, rule: FitRule, source: str | None = None) -> np.ndarray:
    """Which leads satisfy a fit rule's condition (all its conditions).

    Parameters
    ----------
    leads : DataFrame
        The leads table (or any table with the rule's field).
    rule : FitRule
        The fit rule.
    source : str, optional
        The rule set's file, for the error message.

    Returns
    -------
    ndarray
        One bool per row of ``leads``.

    Raises
    ------
    ConfigError
        When ``leads`` has no column ``rule.field``.

    Examples
    --------
    >>> import pandas as pd
    >>> from calib.rules.config import FitRule
    >>> leads = pd.DataFrame({"seniority": ["vp", "ic", None]})
    >>> fit_matches(leads, FitRule(name="vp", field="seniority", points=10, equals="vp"))
    array([ True, False, False])
    """
    if rule.field not in leads.columns:
        cols = [c for c in leads.columns if c not in ("lead_id", "created_at")]
        raise ConfigError(
            f"The fit rule '{rule.name}'" + (f" in {source}" if source else "")
            + f" tests the field '{rule.field}', which the leads table does not have.",
            code="unknown_field",
            suggestion=f"Lead attributes: {', '.join(map(str, cols[:20])) or 'none'}.",
        )
    col = leads[rule.field]
    is_missing = col.isna().to_numpy().copy()
    if col.dtype == object or isinstance(col.dtype, pd.StringDtype):
        is_missing |= (col.astype("string").str.strip() == "").fillna(True).to_numpy(bool)
    ok = np.ones(len(col), dtype=bool)
    numeric = pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype)

    def equal_to(values) -> np.ndarray:
        if pd.api.types.is_bool_dtype(col.dtype):
            return col.isin([v for v in values if isinstance(v, bool)]).fillna(False).to_numpy(bool)
        nums = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if numeric:
            return col.isin(nums).to_numpy() if nums else np.zeros(len(col), bool)
        texts = [str(v).lower() if isinstance(v, bool) else str(v) for v in values]
        return col.astype("string").isin(texts).fillna(False).to_numpy().astype(bool)

    if rule.in_ is not None:
        ok &= equal_to(rule.in_)
    if rule.equals is not None:
        ok &= equal_to([rule.equals])
    if rule.min is not None or rule.max is not None:
        num = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            if rule.min is not None:
                ok &= num >= rule.min
            if rule.max is not None:
                ok &= num <= rule.max
        ok &= ~np.isnan(num)
    if rule.missing is not None:
        ok &= is_missing if rule.missing else ~is_missing
    if rule.missing is not True:
        ok &= ~is_missing
    return ok


def fit_matrix(leads: pd.DataFrame, rules: RuleSet) -> np.ndarray:
    """The 0/1 matrix of the fit conditions, one row per lead, one column per fit rule.

    Each condition is tested once per distinct value of its column and spread to the
    leads by the values' codes (the same answer as testing every lead).

    Parameters
    ----------
    leads : DataFrame
        The leads table of a :class:`~calib.data.Dataset`.
    rules : RuleSet
        Whose fit rules are tested.

    Returns
    -------
    ndarray
        (n_leads x n_fit_rules) floats, 1.0 where a lead matches a rule.

    Examples
    --------
    >>> from calib import load_dataset, load_rules
    >>> ds, rules = load_dataset("calib-demo/data"), load_rules("calib-demo/current.toml")
    >>> m = fit_matrix(ds.leads, rules)
    >>> m.shape == (ds.n_leads, len(rules.fit)), sorted(set(m.ravel().tolist()))
    (True, [0.0, 1.0])
    """
    m = np.zeros((len(leads), len(rules.fit)))
    distinct: dict = {}
    for i, r in enumerate(rules.fit):
        if r.field not in leads.columns:
            fit_matches(leads, r, rules.source)  # raises: the field is unknown
        if r.field not in distinct:
            codes, uniques = pd.factorize(leads[r.field], use_na_sentinel=False)
            values = pd.DataFrame({r.field: pd.Series(uniques, dtype=leads[r.field].dtype)})
            distinct[r.field] = (codes, values)
        codes, values = distinct[r.field]
        m[:, i] = fit_matches(values, r, rules.source)[codes]
    return m


@dataclass(frozen=True)
class Prepared:
    """The arrays of one partition of leads under one rule structure.

    ``eval_lead``/``eval_t`` are the evaluation points (sorted by lead, time);
    ``rule_events[r]`` are (lead, time) arrays of the events rule r counts;
    ``events`` the (lead, time) arrays of every event, ``rule_index[r]`` the
    positions in them of the events rule r counts and ``event_rule`` the rule counting
    each event (-1: none, -2: several) (``None`` and ``()`` when the arrays were built
    elsewhere). ``memo`` keeps arrays derived from them for a rule set's points.
    """

    n_leads: int
    eval_lead: np.ndarray
    eval_t: np.ndarray
    rule_events: tuple
    fit_m: np.ndarray
    snapshot: bool
    snapshot_decay: bool = False
    events: tuple | None = None
    rule_index: tuple = ()
    event_rule: np.ndarray | None = None
    memo: dict = field(default_factory=dict, repr=False, compare=False)

    def decay_args(self, decay: Decay) -> tuple[int, float, float]:
        """The kernels' arguments for a decay setting: (kind code, p1, p2).

        On a snapshot without times every event counts once (no decay).

        Parameters
        ----------
        decay : Decay
            The rule set's decay setting.

        Returns
        -------
        tuple of (int, float, float)
            The code of :data:`~calib.engine.kernels.KIND_CODES`, the half-life,
            percent or days, and ``every_days`` (0 when unused).
        """
        if self.snapshot and not self.snapshot_decay:
            decay = Decay()  # no time: every event counts once
        return (KIND_CODES[decay.kind], float(decay.half_life_days or decay.percent
                                              or decay.days or 0.0),
                float(decay.every_days or 0.0))

    def decayed(self, decay: Decay) -> np.ndarray:
        """Decayed event counts under a decay setting.

        Parameters
        ----------
        decay : Decay
            The decay setting.

        Returns
        -------
        ndarray
            (n_eval x n_rules), column-major: rule r's decayed count at every
            evaluation point.
        """
        n_eval = len(self.eval_lead)
        # column-major: each rule's column is contiguous for the kernel and for scoring
        out = np.zeros((n_eval, len(self.rule_events)), order="F")
        code, p1, p2 = self.decay_args(decay)
        for r, (lead, t) in enumerate(self.rule_events):
            if len(lead) == 0:
                continue
            decayed_sums(self.eval_lead, self.eval_t, lead, t, code, p1, p2, out[:, r])
        return out


def check_event_types(ds: Dataset, rules: RuleSet) -> list[str]:
    """Warnings for what a rule set names that the data cannot match.

    Parameters
    ----------
    ds : Dataset
        The data set the rules will be replayed on.
    rules : RuleSet
        The rule set to check.

    Returns
    -------
    list of str
        One sentence per behaviour rule counting event types that never occur, and per
        fit rule comparing a text column with numbers.

    Examples
    --------
    >>> from calib import load_dataset
    >>> from calib.rules import RuleSet
    >>> rules = RuleSet.from_dict({"name": "x", "behavior": [
    ...     {"event": "fax_received", "points": 5}], "thresholds": {"mql": 10}})
    >>> check_event_types(load_dataset("calib-demo/data"), rules)
    ["The behaviour rule 'fax_received' counts event type(s) 'fax_received' that never occur in the data."]
    """
    present = set(ds.event_types)
    msgs = []
    for r in rules.behavior:
        absent = [e for e in r.events if e not in present]
        if absent:
            msgs.append(f"The behaviour rule '{r.name}' counts event type(s) "
                        f"{', '.join(repr(a) for a in absent)} that never occur in the data.")
    msgs += _text_in_number_fields(ds, rules)
    return msgs


def _text_in_number_fields(ds: Dataset, rules: RuleSet) -> list[str]:
    """Warnings for fit rules comparing a lead column with numbers (min/max) where some
    values of it are text that is not a number: those leads never match the rule."""
    msgs = []
    leads = getattr(ds, "leads", None)  # partitioned data: only the facts, no lead table
    if leads is None:
        return msgs
    for r in rules.fit:
        if (r.min is None and r.max is None) or r.field not in leads:
            continue
        col = ds.leads[r.field]
        if pd.api.types.is_numeric_dtype(col.dtype):
            continue
        text = col.astype("string").str.strip()
        bad = (text.notna() & (text != "") & pd.to_numeric(text, errors="coerce").isna())
        bad = bad.fillna(False).to_numpy(bool)
        if bad.any():
            idx = np.flatnonzero(bad)[:3]
            shown = "; ".join(f"lead {ds.leads['lead_id'].iloc[i]}: {text.iloc[i]!r}" for i in idx)
            msgs.append(f"The fit rule '{r.name}' compares the leads column '{r.field}' with "
                        f"numbers, but {int(bad.sum()):,} value(s) of it are not numbers "
                        f"({shown}); those leads never match it.")
    return msgs


def _match_rules(ev, lead: np.ndarray, t: np.ndarray, rules: RuleSet):
    """Which events each behaviour rule counts, after ``max_per_day``: per rule its
    (lead, time) arrays and event rows, each event's rule (-1 none, -2 several), and
    which events are alive (counted by a rule, or counted by none: an event that
    ``max_per_day`` dropped from every rule that counts it is gone)."""
    codes = ev["event_type"].cat.codes.to_numpy()
    cats = {c: i for i, c in enumerate(ev["event_type"].cat.categories)}
    dated = not ev["occurred_at"].isna().any()
    # the rules matching each type code, the last entry for code -1 (missing)
    by_code: list[list[int]] = [[] for _ in range(len(cats) + 1)]
    for r, rule in enumerate(rules.behavior):
        for e in dict.fromkeys(rule.events):
            if e in cats:
                by_code[cats[e]].append(r)
    code_off = np.zeros(len(by_code) + 1, dtype=np.int64)
    code_off[1:] = np.cumsum([len(x) for x in by_code])
    code_rules = np.array([r for x in by_code for r in x], dtype=np.int64)
    max_per_day = np.array([r.max_per_day if r.max_per_day is not None and dated else -1
                            for r in rules.behavior], dtype=np.int64)
    rule_off = np.zeros(len(rules.behavior) + 1, dtype=np.int64)
    event_rule = np.empty(len(ev), dtype=np.int16)
    alive = np.empty(len(ev), dtype=bool)
    args = (codes, code_off, code_rules, lead, t, max_per_day)
    match_events(*args, False, rule_off, np.zeros(0, np.int64), event_rule, alive)
    rule_off = np.cumsum(rule_off)
    idx = np.empty(rule_off[-1], dtype=np.int64)
    match_events(*args, True, rule_off, idx, event_rule, alive)
    rule_index = [idx[rule_off[r]:rule_off[r + 1]] for r in range(len(rules.behavior))]
    rule_events = [(lead[i], t[i]) for i in rule_index]
    return rule_events, rule_index, event_rule, alive


def _evaluation_points(ds: Dataset, lead: np.ndarray, t: np.ndarray, alive: np.ndarray):
    """Each lead's evaluation points (lead, time), sorted: its created_at, then every
    alive event time at or after it, events sharing a timestamp as one."""
    # Evaluation points: created_at, then every event time at or after it. An event that
    # max_per_day dropped from every rule that counts it is gone ("dropped before
    # anything else"); an event no rule counts is still an event of the lead. Events are
    # sorted by (lead, time), so one pass places them without a sort.
    created = ns(ds.leads["created_at"])
    e_lead = np.empty(ds.n_leads + len(t), dtype=np.int32)
    e_t = np.empty(len(e_lead), dtype=np.int64)
    m = evaluation_points(lead, t, alive, created, e_lead, e_t)
    return e_lead[:m], e_t[:m]


def prepare(ds: Dataset, rules: RuleSet, *, as_of_end: bool = False) -> Prepared:
    """Match events to rules, apply ``max_per_day`` and build evaluation points.

    Parameters
    ----------
    ds : Dataset
        The data set (or one partition of its leads).
    rules : RuleSet
        Only its structure counts: which events each behaviour rule counts,
        ``max_per_day`` and the fit conditions.
    as_of_end : bool, default False
        Unused; kept for callers that pass it.

    Returns
    -------
    Prepared
        Each behaviour rule's counted events, the evaluation points and the fit
        conditions' matrix.

    Examples
    --------
    >>> from calib import load_dataset, load_rules
    >>> ds, rules = load_dataset("calib-demo/data"), load_rules("calib-demo/current.toml")
    >>> prep = prepare(ds, rules)
    >>> len(prep.rule_events) == len(rules.behavior), prep.fit_m.shape[1] == len(rules.fit)
    (True, True)
    """
    ev = ds.events
    lead = ev["lead"].to_numpy()
    t = ns(ev["occurred_at"])
    rule_events, rule_index, event_rule, alive = _match_rules(ev, lead, t, rules)

    n = ds.n_leads
    fit_m = fit_matrix(ds.leads, rules)
    if ds.snapshot:
        # One evaluation per lead. With created_at and dated events, it is the state an
        # export taken at the end of the data shows (decayed to then); without
        # created_at there is no time and every event counts once.
        timed = ("created_at" in ds.leads and ds.end_of_data is not None
                 and not ev["occurred_at"].isna().any())
        at = ds.end_of_data.value if timed else np.iinfo(np.int64).max
        return Prepared(n_leads=n, eval_lead=np.arange(n, dtype=np.int32),
                        eval_t=np.full(n, at, dtype=np.int64),
                        rule_events=tuple(rule_events), fit_m=fit_m, snapshot=True,
                        snapshot_decay=timed, events=(lead, t), rule_index=tuple(rule_index),
                        event_rule=event_rule)

    e_lead, e_t = _evaluation_points(ds, lead, t, alive)
    return Prepared(n_leads=n, eval_lead=e_lead, eval_t=e_t,
                    rule_events=tuple(rule_events), fit_m=fit_m, snapshot=False,
                    events=(lead, t), rule_index=tuple(rule_index), event_rule=event_rule)
