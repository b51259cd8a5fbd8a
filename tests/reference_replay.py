"""A deliberately plain reference implementation of SPEC.md section 3 (replay).

The production replay engine is vectorised and compiled; this module is what it is
checked against. It therefore reads like the SPEC, line by line, with per-lead Python
loops and no cleverness, and it never imports anything from ``calib``. Comments
quoting the SPEC mark every place where it decides something; the choices it makes
where the SPEC is silent are listed below and repeated at the place they are made.

Choices where SPEC.md is silent
-------------------------------
Inputs
    * Timestamps are normalised with ``pd.to_datetime(..., utc=True)``: naive values are
      UTC, offsets are converted (SPEC section 1).
    * Bad input raises ``ValueError`` (this is not a validator): events or outcomes of
      unknown leads, a ``created_at`` that is NaT for only some leads in a timed data
      set, a timed data set whose events have no ``occurred_at``, partly missing event
      or outcome times, unknown rule keys or decay kinds.
    * ``events`` and ``outcomes`` may be ``None`` (no events / no outcomes).
    * ``rules`` without ``[decay]`` means ``kind = "none"``.
Fit rules
    * A value is *missing* when it is None, NaN, NA, NaT or exactly the empty string
      ``""`` (a string of blanks is not missing). A field absent from the leads table
      is missing for every lead.
    * ``missing = false`` means "the value is present" (the SPEC only shows ``true``).
    * ``min``/``max`` need a real number (int or float, not bool, not NaN); a string such
      as ``"50"`` never satisfies them. ``in``/``equals`` use Python ``==``, so ``5``
      equals ``5.0`` but not ``"5"``; a missing value never satisfies them.
Behaviour rules
    * ``cap`` clamps the rule's decayed sum *at time t* to [-cap, cap] (SPEC formula
      ``clamp_cap(sum ... points_r * k(age))``): it is not a running accumulator that
      is clamped at each event and then decays.
    * ``max_per_day`` is applied per rule, per lead, per UTC calendar day: the first N
      events of the rule's event types by time are kept. Events with the same timestamp
      are ordered by their row position in the input; this cannot change any score,
      because tied events of one rule contribute identically.
    * An event row that matches at least one behaviour rule and is dropped by
      ``max_per_day`` in every rule it matches is gone entirely: no points and no
      evaluation time. An event row whose type matches no rule is still one of the
      lead's events and so still gives an evaluation time (SPEC: "right after each of
      its event timestamps"); with negative points and decay a score can rise between
      events, so this matters for MQL times.
Decay
    * ``age`` is computed exactly as a Fraction of days from integer nanoseconds, so the
      window edge (``age == days`` gives 0), the step floor and the linear zero are
      exact; only the final kernel value is a float.
Replay
    * MQL/SQL comparisons are ``score >= cutoff - tol`` and ``fit >= mql_min_fit - tol``.
    * Outcome classification checks ``late`` first: an outcome before the MQL is
      ``late`` even if ``m + W`` is after the end of the data.
    * The period is ``[start, end]`` on ``created_at`` with ``end`` inclusive of the
      instant given (a bare date means midnight of that day). Defaults: earliest
      ``created_at`` and the end of the data E. ``per_week`` is None when the period
      lasts zero days or less.
    * ``per_lead`` has one row per input lead (in input order), not only the period's
      leads; ``in_period`` says which ones the metrics count. Statuses are filled for
      every MQL lead. Extra columns: ``is_mql``, ``is_sql``, ``in_period``.
    * ``metrics["sql"]`` has exactly the keys of ``metrics["mql"]``; its
      ``median_days_to_mql`` is the median of ``sql_at - created_at`` in days.
    * ``coverage`` is None when there is no MQL; outcome names are compared exactly
      (case-sensitive).
    * ``rate``, ``ci_low`` and ``ci_high`` are None when ``hits + misses + late == 0``;
      ``recall`` is None when no lead of the period had the outcome. The Wilson bounds
      are the textbook formula clipped to [0, 1]; like statsmodels they can be an ulp
      off at rate 0 or 1 (``ci_low`` of 0/7 is 2.8e-17), so compare with a tolerance.
    * The end of the data E also takes ``assignments.assigned_at`` when given.
Imports
    * Only pandas, numpy, math and the standard library's ``fractions`` (for the exact
      ages above); nothing from ``calib``.
Snapshots
    * A data set is a snapshot when leads have no ``created_at`` (column absent or all
      NaT) or outcomes have no ``occurred_at`` (column absent, even from an empty table,
      or all NaT in a non-empty one).
    * Without ``created_at``: each lead is scored once, with kernel 1 on all its events
      (no decay: there is no time), caps and limits applied. ``start``/``end`` cannot be
      used (ValueError); ``period_start``/``period_end`` are None and every lead counts.
    * With ``created_at`` (but no outcome dates): each lead is scored once at the end of
      the data E, with the decay kernel, on all its events (all have ``t_i <= E``). This
      is the state a CRM export taken at the end of the data would show. Events without
      ``occurred_at`` get kernel 1.
    * ``max_per_day`` applies in a snapshot only when events carry ``occurred_at``.
    * ``mql_at``/``sql_at`` are NaT (there is no time); ``is_mql``/``is_sql`` tell.
      An MQL with the outcome is a ``hit``, otherwise a ``miss``; no late, no immature.
"""

from __future__ import annotations

import math
from fractions import Fraction  # exact ages at the window / step / linear edges

import numpy as np
import pandas as pd

__all__ = ["reference_replay", "reference_score_at", "wilson_interval", "WILSON_Z"]

# scipy.stats.norm.ppf(0.975)
WILSON_Z = 1.959963984540054

# SPEC section 3: "`coverage` is the share of MQLs that had any historical sales outcome
# (`mql`, `sql`, `meeting`, `opportunity`, `won`, `lost`, `disqualified`)"
SALES_OUTCOMES = ("mql", "sql", "meeting", "opportunity", "won", "lost", "disqualified")

NS_PER_DAY = 86_400 * 10**9

_TOP_KEYS = {"name", "fit", "behavior", "decay", "limits", "thresholds"}
_FIT_KEYS = {"name", "field", "in", "equals", "min", "max", "missing", "points"}
_FIT_CONDITIONS = ("in", "equals", "min", "max", "missing")
_BEHAVIOR_KEYS = {"name", "event", "events", "points", "cap", "max_per_day"}
_DECAY_PARAMS = {
    "none": (),
    "exponential": ("half_life_days",),
    "step": ("percent", "every_days"),
    "window": ("days",),
    "linear": ("days",),
}
_LIMIT_KEYS = {"min", "max"}
_THRESHOLD_KEYS = {"mql", "sql", "mql_min_fit"}


# --------------------------------------------------------------------------- helpers


def _utc(value):
    """One timestamp as a UTC ``pd.Timestamp`` (naive means UTC), or None."""
    if value is None:
        return None
    ts = pd.Timestamp(value)
    if ts is pd.NaT:
        return None
    if ts.tzinfo is None:
        return ts.tz_localize("UTC")
    return ts.tz_convert("UTC")


def _utc_column(frame, column):
    """A column as a list of UTC Timestamps / None, or None when the column is absent."""
    if frame is None or column not in frame.columns:
        return None
    converted = pd.to_datetime(frame[column], utc=True)
    return [None if pd.isna(v) else v for v in converted]


def _is_missing(value):
    # Brief: "missing = true (value is missing/NaN/None/empty string)"
    if value is None:
        return True
    if isinstance(value, str):
        return value == ""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _is_number(value):
    # "A non-numeric or missing value never satisfies min/max"
    if isinstance(value, (bool, np.bool_)):
        return False
    if not isinstance(value, (int, float, np.integer, np.floating)):
        return False
    return not math.isnan(float(value))


def _age_days(t, t_i):
    """``age = t - t_i`` in days, exactly (SPEC: "with `age = t - t_i` in days")."""
    nanoseconds = (t - t_i).value  # Timedelta.value is always in nanoseconds
    return Fraction(nanoseconds, NS_PER_DAY)


def _kernel(decay, age):
    """The decay kernel k(age) of SPEC section 2; ``age=None`` means no time (k = 1)."""
    kind = decay.get("kind", "none")
    if age is None or kind == "none":
        # "`k` is the decay kernel of section 2 (1 for `none`)"
        return 1.0
    if kind == "exponential":
        # "exponential: 0.5 ** (age / half_life_days)"
        return 0.5 ** float(age / Fraction(decay["half_life_days"]))
    if kind == "step":
        # "step: percent = 25, every_days = 30 -> (1 - percent/100) ** floor(age / every_days)"
        steps = math.floor(age / Fraction(decay["every_days"]))
        return (1 - decay["percent"] / 100) ** steps
    if kind == "window":
        # "window: days = 90 -> 1 if age < days else 0 (points expire)"
        return 1.0 if age < Fraction(decay["days"]) else 0.0
    if kind == "linear":
        # "linear: days = 90 -> max(0, 1 - age / days)"
        return max(0.0, float(1 - age / Fraction(decay["days"])))
    raise ValueError(f"unknown decay kind {kind!r}")


def _clamp(value, low, high):
    if low is not None and value < low:
        value = low
    if high is not None and value > high:
        value = high
    return value


def wilson_interval(successes, n, z=WILSON_Z):
    """95% Wilson score interval for ``successes / n`` (hand-written formula).

    >>> lo, hi = wilson_interval(2, 6)
    >>> round(lo, 4), round(hi, 4)
    (0.0968, 0.7)
    """
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half_width = z / denominator * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half_width), min(1.0, centre + half_width)


# ----------------------------------------------------------------------------- rules


def _behavior_rules(rules):
    """Behaviour rules as dicts with ``name``, ``types``, ``points``, ``cap``, ``max_per_day``."""
    out = []
    for rule in rules.get("behavior", []):
        if "event" in rule:
            types = [rule["event"]]
        else:
            types = list(rule["events"])
        out.append(
            {
                # "name = ... optional; defaults to the event type"
                "name": rule.get("name", types[0]),
                "types": set(types),
                "points": rule["points"],
                "cap": rule.get("cap"),
                "max_per_day": rule.get("max_per_day"),
            }
        )
    return out


def _check_rules(rules):
    """Refuse keys this reference does not know, so a typo cannot pass silently."""
    unknown = set(rules) - _TOP_KEYS
    if unknown:
        raise ValueError(f"unknown rule-set keys {sorted(unknown)}")
    for rule in rules.get("fit", []):
        if set(rule) - _FIT_KEYS:
            raise ValueError(f"unknown fit-rule keys {sorted(set(rule) - _FIT_KEYS)}")
        if "field" not in rule or "points" not in rule:
            raise ValueError("a fit rule needs 'field' and 'points'")
        if not any(c in rule for c in _FIT_CONDITIONS):
            raise ValueError("a fit rule needs a condition: in, equals, min, max or missing")
    for rule in rules.get("behavior", []):
        if set(rule) - _BEHAVIOR_KEYS:
            raise ValueError(f"unknown behavior-rule keys {sorted(set(rule) - _BEHAVIOR_KEYS)}")
        if ("event" in rule) == ("events" in rule):
            raise ValueError("a behavior rule needs exactly one of 'event' or 'events'")
        if "points" not in rule:
            raise ValueError("a behavior rule needs 'points'")
    decay = rules.get("decay", {"kind": "none"})
    kind = decay.get("kind", "none")
    if kind not in _DECAY_PARAMS:
        raise ValueError(f"unknown decay kind {kind!r}")
    if set(decay) - {"kind"} != set(_DECAY_PARAMS[kind]):
        raise ValueError(f"decay kind {kind!r} takes exactly {_DECAY_PARAMS[kind]}")
    if set(rules.get("limits", {})) - _LIMIT_KEYS:
        raise ValueError("unknown [limits] keys")
    thresholds = rules.get("thresholds", {})
    if set(thresholds) - _THRESHOLD_KEYS or "mql" not in thresholds:
        raise ValueError("[thresholds] needs 'mql' and allows only mql, sql, mql_min_fit")


# -------------------------------------------------------------------------- scoring


def _fit_condition_holds(rule, value):
    """All conditions of one fit rule ("A rule with several conditions needs all of them")."""
    missing = _is_missing(value)
    if "missing" in rule:
        # "missing = true": the value is missing (false: the value is present).
        if missing != bool(rule["missing"]):
            return False
    if "in" in rule:
        # "missing values never satisfy in/equals"
        if missing or value not in rule["in"]:
            return False
    if "equals" in rule:
        if missing or not value == rule["equals"]:
            return False
    if "min" in rule:
        # "min / max (numeric, inclusive: value >= min, value <= max)"
        if not _is_number(value) or not value >= rule["min"]:
            return False
    if "max" in rule:
        if not _is_number(value) or not value <= rule["max"]:
            return False
    return True


def _fit_points(attributes, fit_rules):
    """SPEC: "fit_j = sum of points of the fit rules whose condition holds for lead j"."""
    fit = 0
    for rule in fit_rules:
        value = attributes.get(rule["field"])  # a field absent from the table is missing
        if _fit_condition_holds(rule, value):
            fit += rule["points"]
    return fit


def _apply_max_per_day(lead_events, behavior):
    """Which of one lead's events each rule counts, after ``max_per_day``.

    ``lead_events`` is a list of ``(row_position, occurred_at or None, event_type)`` in
    input order. Returns ``(kept_by_rule, surviving)``: for each rule the list of kept
    event times (in time order), and the event rows that still exist.

    SPEC: "`max_per_day` drops the extra events before anything else." Each rule keeps
    the first N events of its types per UTC calendar day, by time; events with the same
    timestamp are taken in input order (unavoidable, and harmless: tied events of one
    rule contribute identically).
    """
    has_times = all(t is not None for _, t, _ in lead_events)
    ordered = sorted(lead_events, key=lambda e: (e[1], e[0])) if has_times else list(lead_events)
    kept_by_rule = []
    kept_rows = set()
    for rule in behavior:
        kept = []
        per_day = {}
        for position, t, event_type in ordered:
            if event_type not in rule["types"]:
                continue
            if rule["max_per_day"] is not None and t is not None:
                day = t.tz_convert("UTC").date()  # "per lead per UTC day"
                per_day[day] = per_day.get(day, 0) + 1
                if per_day[day] > rule["max_per_day"]:
                    continue
            kept.append(t)
            kept_rows.add(position)
        kept_by_rule.append(kept)
    # An event dropped by every rule it matches no longer exists; an event that no rule
    # matches is still one of the lead's events.
    all_types = set()
    for rule in behavior:
        all_types |= rule["types"]
    surviving = [e for e in lead_events if e[0] in kept_rows or e[2] not in all_types]
    return kept_by_rule, surviving


def _score(fit, kept_by_rule, behavior, decay, limits, t):
    """SPEC section 3, at time ``t`` (``t=None``: no time, every event with k = 1)::

        rule_r(j, t) = clamp_cap( sum over lead j's events i of rule r with t_i <= t
                                  of points_r * k(age) )
        score_j(t)   = clamp_limits( fit_j + sum_r rule_r(j, t) )
    """
    total = float(fit)
    for rule, times in zip(behavior, kept_by_rule):
        rule_sum = 0.0
        for t_i in times:
            if t is None or t_i is None:
                age = None  # no time: kernel 1
            else:
                if t_i > t:
                    continue  # "with t_i <= t"
                age = _age_days(t, t_i)
            rule_sum += rule["points"] * _kernel(decay, age)
        if rule["cap"] is not None:
            # "cap = 40: this rule contributes at most 40 points (at least -40 if negative)"
            rule_sum = _clamp(rule_sum, -rule["cap"], rule["cap"])
        total += rule_sum
    # "[limits] optional clamp of the total score"
    return float(_clamp(total, limits.get("min"), limits.get("max")))


# ----------------------------------------------------------------------------- tables


def _lead_attributes(leads):
    """lead_id -> {column: value} for every lead, in input order."""
    records = leads.to_dict(orient="records")
    return {record["lead_id"]: record for record in records}


def _events_by_lead(events, known_leads):
    """lead_id -> [(row_position, occurred_at or None, event_type)] in input order."""
    by_lead = {lead_id: [] for lead_id in known_leads}
    if events is None or len(events) == 0:
        return by_lead, False
    times = _utc_column(events, "occurred_at")
    has_times = times is not None and any(t is not None for t in times)
    if has_times and any(t is None for t in times):
        raise ValueError("events.occurred_at is missing for some rows")
    if not has_times:
        times = [None] * len(events)
    for position, (lead_id, t, event_type) in enumerate(
        zip(events["lead_id"], times, events["event_type"])
    ):
        if lead_id not in by_lead:
            raise ValueError(f"events for unknown lead {lead_id!r}")
        by_lead[lead_id].append((position, t, event_type))
    return by_lead, has_times


# ------------------------------------------------------------------------ public API


def reference_score_at(leads, events, rules, lead_id, t):
    """Score of one lead at an arbitrary time ``t`` (used for ``calib score --as-of``).

    Every event of the lead with ``t_i <= t`` counts, whether before or after the lead's
    ``created_at``; ``max_per_day`` is applied first. ``t=None`` scores the lead without
    time: every event counts with kernel 1 (the snapshot score).

    >>> t0 = pd.Timestamp("2025-01-01", tz="UTC")
    >>> leads = pd.DataFrame({"lead_id": ["a"], "created_at": [t0]})
    >>> events = pd.DataFrame({"lead_id": ["a"], "occurred_at": [t0], "event_type": ["demo"]})
    >>> rules = {"name": "r", "behavior": [{"event": "demo", "points": 40}],
    ...          "decay": {"kind": "exponential", "half_life_days": 7}, "thresholds": {"mql": 10}}
    >>> reference_score_at(leads, events, rules, "a", "2025-01-08")
    20.0
    """
    _check_rules(rules)
    behavior = _behavior_rules(rules)
    decay = rules.get("decay", {"kind": "none"})
    limits = rules.get("limits", {})
    attributes = _lead_attributes(leads)
    events_by_lead, _ = _events_by_lead(events, attributes)
    fit = _fit_points(attributes[lead_id], rules.get("fit", []))
    kept_by_rule, _ = _apply_max_per_day(events_by_lead[lead_id], behavior)
    return _score(fit, kept_by_rule, behavior, decay, limits, _utc(t))


def reference_replay(
    leads,
    events,
    outcomes,
    rules,
    *,
    window_days=90,
    start=None,
    end=None,
    tol=1e-9,
    assignments=None,
):
    """Replay a rule set over historical leads, as SPEC.md section 3 defines it.

    Parameters
    ----------
    leads, events, outcomes : pandas.DataFrame
        Raw tables of SPEC section 1 (``events`` and ``outcomes`` may be None).
    rules : dict
        ``tomllib.loads`` of a SPEC section 2 rule set.
    window_days : float
        Attribution window W in days.
    start, end : timestamp-like, optional
        Replay period on ``created_at``, both inclusive.
    tol : float
        ``score >= cutoff - tol`` counts as reaching the cutoff.
    assignments : pandas.DataFrame, optional
        Only its ``assigned_at`` is used, for the end of the data.

    Returns
    -------
    per_lead : pandas.DataFrame
        One row per input lead: ``lead_id, fit, peak_score, is_mql, mql_at, is_sql,
        sql_at, in_period`` and ``status_<X>`` per outcome X.
    metrics : dict
        The keys of ``calib replay --json`` (SPEC section 4).

    Examples
    --------
    >>> t0 = pd.Timestamp("2025-01-01", tz="UTC")
    >>> leads = pd.DataFrame({"lead_id": ["a"], "created_at": [t0], "seniority": ["vp"]})
    >>> outcomes = pd.DataFrame({"lead_id": ["a"], "outcome": ["meeting"],
    ...                          "occurred_at": [t0 + pd.Timedelta(days=3)]})
    >>> rules = {"name": "r", "fit": [{"field": "seniority", "equals": "vp", "points": 50}],
    ...          "thresholds": {"mql": 50}}
    >>> per_lead, metrics = reference_replay(leads, None, outcomes, rules, window_days=7)
    >>> metrics["outcomes"]["meeting"]["hits"], per_lead.loc[0, "status_meeting"]
    (1, 'hit')
    """
    _check_rules(rules)
    if leads is None or len(leads) == 0:
        raise ValueError("leads is empty")
    if leads["lead_id"].duplicated().any():
        raise ValueError("duplicate lead_id in leads")

    fit_rules = rules.get("fit", [])
    behavior = _behavior_rules(rules)
    decay = rules.get("decay", {"kind": "none"})
    limits = rules.get("limits", {})
    thresholds = rules["thresholds"]
    mql_cutoff = thresholds["mql"]
    sql_cutoff = thresholds.get("sql")
    min_fit = thresholds.get("mql_min_fit")

    attributes = _lead_attributes(leads)
    lead_ids = list(attributes)
    events_by_lead, events_have_times = _events_by_lead(events, attributes)

    # ---- timestamps of every table ---------------------------------------------------
    created = _utc_column(leads, "created_at")
    if created is not None and all(c is None for c in created):
        created = None
    created_at = dict(zip(lead_ids, created)) if created is not None else None

    outcome_rows = []  # (lead_id, outcome, occurred_at or None)
    outcome_times = _utc_column(outcomes, "occurred_at")
    outcomes_have_times = outcome_times is not None and any(o is not None for o in outcome_times)
    if outcomes is not None and len(outcomes) > 0:
        if outcomes_have_times and any(o is None for o in outcome_times):
            raise ValueError("outcomes.occurred_at is missing for some rows")
        if not outcomes_have_times:
            outcome_times = [None] * len(outcomes)
        for lead_id, outcome, o in zip(outcomes["lead_id"], outcomes["outcome"], outcome_times):
            if lead_id not in attributes:
                raise ValueError(f"outcomes for unknown lead {lead_id!r}")
            outcome_rows.append((lead_id, outcome, o))
    outcome_types = sorted({outcome for _, outcome, _ in outcome_rows})

    # SPEC section 1: "a data set whose leads have no `created_at`, or whose outcomes have
    # no `occurred_at`, is a **snapshot**: each lead is evaluated once"
    # "outcomes have no `occurred_at`": the column is absent (even from an empty table),
    # or every row's time is missing.
    if outcomes is None:
        outcomes_dated = True
    elif "occurred_at" not in outcomes.columns:
        outcomes_dated = False
    else:
        outcomes_dated = len(outcomes) == 0 or outcomes_have_times
    snapshot = created_at is None or not outcomes_dated

    if not snapshot:
        if any(c is None for c in created_at.values()):
            raise ValueError("leads.created_at is missing for some leads")
        if events is not None and len(events) > 0 and not events_have_times:
            raise ValueError("events need occurred_at when leads have created_at")

    # SPEC: "the end of the data (the latest timestamp in any table) ... the end of the
    # data stays the latest timestamp either way"
    all_times = []
    if created_at is not None:
        all_times += list(created_at.values())
    for lead_events in events_by_lead.values():
        all_times += [t for _, t, _ in lead_events if t is not None]
    all_times += [o for _, _, o in outcome_rows if o is not None]
    assigned = _utc_column(assignments, "assigned_at")
    if assigned is not None:
        all_times += [a for a in assigned if a is not None]
    end_of_data = max(all_times) if all_times else None

    # ---- first occurrence per lead per outcome ("A lead's first occurrence of an outcome
    # is the one that counts") --------------------------------------------------------
    first_outcome = {}  # (lead_id, outcome) -> time (None in a dateless snapshot)
    for lead_id, outcome, o in outcome_rows:
        key = (lead_id, outcome)
        if key not in first_outcome:
            first_outcome[key] = o
        elif o is not None and o < first_outcome[key]:
            first_outcome[key] = o

    # ---- replay period ---------------------------------------------------------------
    if created_at is None:
        if start is not None or end is not None:
            raise ValueError("start/end need leads.created_at")
        period_start = period_end = None
        in_period = {lead_id: True for lead_id in lead_ids}
    else:
        # "The replay period runs from the earliest `created_at` to the end of the data
        # ... unless `--start`/`--end` narrow it" (end inclusive)
        period_start = _utc(start) if start is not None else min(created_at.values())
        period_end = _utc(end) if end is not None else end_of_data
        in_period = {
            lead_id: period_start <= created_at[lead_id] <= period_end for lead_id in lead_ids
        }

    window = pd.Timedelta(days=window_days)

    # ---- per lead ----------------------------------------------------------------------
    rows = []
    for lead_id in lead_ids:
        fit = _fit_points(attributes[lead_id], fit_rules)
        kept_by_rule, surviving = _apply_max_per_day(events_by_lead[lead_id], behavior)
        # "(and `fit >= mql_min_fit` if set) ... the `mql_min_fit` condition applies to
        # it too, so every SQL is an MQL"
        fit_ok = min_fit is None or fit >= min_fit - tol

        if snapshot:
            if created_at is not None and events_have_times:
                # Choice: a dated snapshot is scored once, at the end of the data.
                scores = [(None, _score(fit, kept_by_rule, behavior, decay, limits, end_of_data))]
            else:
                # "each lead is evaluated once": kernel 1 on every event.
                scores = [(None, _score(fit, kept_by_rule, behavior, decay, limits, None))]
        else:
            c = created_at[lead_id]
            # "Scores are evaluated at the lead's `created_at` and right after each of its
            # event timestamps at or after `created_at` (events sharing a timestamp apply
            # together); earlier events still count, decayed, from those times on."
            evaluation_times = {c}
            for _, t, _ in surviving:
                if t >= c:
                    evaluation_times.add(t)
            scores = [
                (t, _score(fit, kept_by_rule, behavior, decay, limits, t))
                for t in sorted(evaluation_times)
            ]

        peak = max(score for _, score in scores)
        # "A lead becomes an MQL at the first evaluation time `m` at which `score >= mql`"
        is_mql, mql_at = False, None
        for t, score in scores:
            if score >= mql_cutoff - tol and fit_ok:
                is_mql, mql_at = True, t
                break
        # "likewise SQL with the `sql` cutoff"
        is_sql, sql_at = False, None
        if sql_cutoff is not None:
            for t, score in scores:
                if score >= sql_cutoff - tol and fit_ok:
                    is_sql, sql_at = True, t
                    break

        row = {
            "lead_id": lead_id,
            "fit": float(fit),
            "peak_score": float(peak),
            "is_mql": is_mql,
            "mql_at": mql_at,
            "is_sql": is_sql,
            "sql_at": sql_at,
            "in_period": in_period[lead_id],
        }
        for outcome in outcome_types:
            row[f"status_{outcome}"] = None
            if not is_mql:
                continue
            has_outcome = (lead_id, outcome) in first_outcome
            if snapshot:
                # "windows, `late` and `immature` do not apply (an MQL with the outcome is
                # a hit)"
                row[f"status_{outcome}"] = "hit" if has_outcome else "miss"
                continue
            o = first_outcome.get((lead_id, outcome))
            m = mql_at
            if o is not None and o < m:
                status = "late"  # "`late`: `o < m` (the flag came after the outcome)"
            elif o is not None and m <= o <= m + window:
                status = "hit"  # "`hit`: `m <= o <= m + W`"
            elif m + window > end_of_data:
                status = "immature"  # "not a hit and `m + W` is after the end of the data"
            else:
                status = "miss"  # "otherwise"
            row[f"status_{outcome}"] = status
        rows.append(row)

    per_lead = pd.DataFrame(rows)
    for column in ("mql_at", "sql_at"):
        per_lead[column] = pd.to_datetime(per_lead[column], utc=True)
    for outcome in outcome_types:
        # object dtype so that non-MQL leads hold None (pandas would infer NaN for str)
        column = f"status_{outcome}"
        per_lead[column] = pd.Series([row[column] for row in rows], dtype=object)

    # ---- metrics -----------------------------------------------------------------------
    counted = [row for row in rows if row["in_period"]]
    if period_start is not None and period_end is not None and not snapshot:
        period_days = (period_end - period_start) / pd.Timedelta(days=1)
    else:
        period_days = None

    def volume(flag, at):
        flagged = [row for row in counted if row[flag]]
        count = len(flagged)
        per_week = None
        median_days = None
        if period_days is not None and period_days > 0:
            # "`per_week = MQLs / (period days / 7)`"
            per_week = count / (period_days / 7)
        if not snapshot and count > 0:
            # "`median_days_to_mql` is the median of `m - created_at` in days over the MQLs"
            days = [
                (row[at] - created_at[row["lead_id"]]) / pd.Timedelta(days=1) for row in flagged
            ]
            median_days = float(np.median(days))
        return {"count": count, "per_week": per_week, "median_days_to_mql": median_days}

    mqls = [row for row in counted if row["is_mql"]]
    if mqls:
        covered = [
            row
            for row in mqls
            if any((row["lead_id"], outcome) in first_outcome for outcome in SALES_OUTCOMES)
        ]
        coverage = len(covered) / len(mqls)
    else:
        coverage = None

    outcome_metrics = {}
    for outcome in outcome_types:
        counts = {"hit": 0, "late": 0, "miss": 0, "immature": 0}
        for row in mqls:
            counts[row[f"status_{outcome}"]] += 1
        hits, late, misses = counts["hit"], counts["late"], counts["miss"]
        n = hits + misses + late
        # "`rate = hits / (hits + misses + late)`, with a 95% Wilson interval"
        if n > 0:
            rate = hits / n
            ci_low, ci_high = wilson_interval(hits, n)
        else:
            rate = ci_low = ci_high = None
        # "`recall = hits / (leads of the period whose X occurred)`"
        occurred = sum(1 for row in counted if (row["lead_id"], outcome) in first_outcome)
        recall = hits / occurred if occurred > 0 else None
        outcome_metrics[outcome] = {
            "hits": hits,
            "late": late,
            "misses": misses,
            "immature": counts["immature"],
            "rate": rate,
            "ci_low": ci_low,
            "ci_high": ci_high,
            "recall": recall,
        }

    def iso(ts):
        return None if ts is None else ts.isoformat().replace("+00:00", "Z")

    metrics = {
        "rules": rules.get("name"),
        "leads": len(counted),
        "period_start": iso(period_start),
        "period_end": iso(period_end),
        "mql": volume("is_mql", "mql_at"),
        "sql": volume("is_sql", "sql_at") if sql_cutoff is not None else None,
        "coverage": coverage,
        "outcomes": outcome_metrics,
    }
    return per_lead, metrics
