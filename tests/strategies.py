"""Hypothesis strategies for replay tests: small raw data sets and valid rule sets.

The data sets are built to hit the SPEC's edge cases often: whole-second timestamps on a
small grid of days and times of day (so ties, same-UTC-day events and events at exactly
``created_at`` are common), events before ``created_at``, outcomes before any event,
repeated outcomes (the first occurrence counts), missing attribute values, and event
types that no rule uses. Rule sets use integer points, cutoffs and integer-ish decay
parameters, so scores land exactly on cutoffs.

Usage::

    from strategies import EVENT_TYPES, rule_sets, small_datasets

    @given(small_datasets(), rule_sets(EVENT_TYPES))
    def test_something(data, rules):
        leads, events, outcomes = data
"""

from __future__ import annotations

import pandas as pd
from hypothesis import strategies as st

__all__ = [
    "BASE_TIME",
    "EVENT_TYPES",
    "OUTCOME_TYPES",
    "SENIORITIES",
    "rule_sets",
    "small_datasets",
    "snapshot_datasets",
]

BASE_TIME = pd.Timestamp("2025-03-01T00:00:00Z")
EVENT_TYPES = ("pricing_page_view", "email_open", "webinar", "unsubscribe")
OUTCOME_TYPES = ("meeting", "sql", "won")
SENIORITIES = ("c_level", "vp", "director", "manager", "ic")

DAY = 86_400
# A few times of day, including both ends of a UTC day, so that same-day and
# same-second events are frequent.
SECONDS_OF_DAY = (0, 1, 3_600, 43_200, 86_399)


def _at(seconds):
    """``BASE_TIME`` plus whole seconds, as a tz-aware UTC Timestamp."""
    return BASE_TIME + pd.Timedelta(seconds=int(seconds))


def _utc_series(seconds):
    return pd.Series([_at(s) for s in seconds], dtype="datetime64[ns, UTC]")


@st.composite
def _grid_seconds(draw, low_day=0, high_day=12):
    """Whole seconds since BASE_TIME on a small grid of days and times of day."""
    day = draw(st.integers(low_day, high_day))
    second = draw(st.one_of(st.sampled_from(SECONDS_OF_DAY), st.integers(0, DAY - 1)))
    return day * DAY + second


@st.composite
def _event_seconds(draw, created):
    """An event time relative to ``created``: exactly at it, whole days off, or on the grid."""
    choice = draw(st.sampled_from(("at_created", "days_off", "days_off", "grid", "grid")))
    if choice == "at_created":
        return created
    if choice == "days_off":
        return created + draw(st.integers(-3, 8)) * DAY + draw(st.sampled_from((0, 0, 1, 3_600)))
    return draw(_grid_seconds())


def _attributes(draw):
    seniority = draw(st.one_of(st.sampled_from(SENIORITIES), st.sampled_from((None, ""))))
    employees = draw(
        st.one_of(
            st.sampled_from((float("nan"), 10.0, 50.0, 200.0, 1000.0)),
            st.integers(1, 5_000).map(float),
        )
    )
    return seniority, employees


@st.composite
def small_datasets(draw):
    """``(leads, events, outcomes)`` raw tables of SPEC section 1, timed.

    1-8 leads created on days 2-8 of the grid; 0-10 events each over 3-4 event types
    (some before ``created_at``, some exactly at it); 0-3 outcome rows each among
    meeting/sql/won (possibly repeated, possibly before any event); attributes
    ``seniority`` (categorical with None and "") and ``employees`` (float with NaN).
    """
    n_leads = draw(st.integers(1, 8))
    n_types = draw(st.integers(3, 4))
    event_types = list(EVENT_TYPES[:n_types])

    lead_rows, event_rows, outcome_rows = [], [], []
    for j in range(n_leads):
        lead_id = f"L{j:02d}"
        created = draw(_grid_seconds(low_day=2, high_day=8))
        seniority, employees = _attributes(draw)
        lead_rows.append((lead_id, created, seniority, employees))
        for _ in range(draw(st.integers(0, 10))):
            event_rows.append(
                (lead_id, draw(_event_seconds(created)), draw(st.sampled_from(event_types)))
            )
        for _ in range(draw(st.integers(0, 3))):
            offset = draw(st.integers(-2, 40)) * DAY + draw(st.sampled_from((0, 1, 43_200)))
            outcome_rows.append((lead_id, draw(st.sampled_from(OUTCOME_TYPES)), created + offset))

    leads = pd.DataFrame(
        {
            "lead_id": [r[0] for r in lead_rows],
            "created_at": _utc_series([r[1] for r in lead_rows]),
            "seniority": pd.Series([r[2] for r in lead_rows], dtype=object),
            "employees": pd.Series([r[3] for r in lead_rows], dtype=float),
        }
    )
    events = pd.DataFrame(
        {
            "lead_id": pd.Series([r[0] for r in event_rows], dtype=object),
            "occurred_at": _utc_series([r[1] for r in event_rows]),
            "event_type": pd.Series([r[2] for r in event_rows], dtype=object),
        }
    )
    outcomes = pd.DataFrame(
        {
            "lead_id": pd.Series([r[0] for r in outcome_rows], dtype=object),
            "outcome": pd.Series([r[1] for r in outcome_rows], dtype=object),
            "occurred_at": _utc_series([r[2] for r in outcome_rows]),
        }
    )
    return leads, events, outcomes


@st.composite
def snapshot_datasets(draw):
    """``(leads, events, outcomes)`` of a snapshot (SPEC section 1).

    Either the leads have no ``created_at`` (and the events have no ``occurred_at``, or
    ``events`` is None), or the leads are dated but the outcomes have no ``occurred_at``
    (then the events are dated). Leads carry ``seniority``, ``employees`` and an
    aggregate ``page_views`` count, as a contacts export would.
    """
    timed, events, outcomes = draw(small_datasets())
    kind = draw(st.sampled_from(("no_created_at", "no_created_at_no_events", "undated_outcomes")))
    leads = timed.copy()
    leads["page_views"] = [float(draw(st.integers(0, 30))) for _ in range(len(leads))]
    outcomes = outcomes.drop(columns=["occurred_at"])
    if kind == "undated_outcomes":
        return leads, events, outcomes
    leads = leads.drop(columns=["created_at"])
    if kind == "no_created_at_no_events":
        return leads, None, outcomes
    return leads, events.drop(columns=["occurred_at"]), outcomes


@st.composite
def _fit_rule(draw, index):
    points = draw(st.integers(-10, 30))
    kinds = ("in", "equals", "missing", "min", "max", "range", "missing_employees")
    kind = draw(st.sampled_from(kinds))
    if kind == "in":
        values = draw(st.lists(st.sampled_from(SENIORITIES), min_size=1, max_size=3, unique=True))
        rule = {"field": "seniority", "in": values}
    elif kind == "equals":
        rule = {"field": "seniority", "equals": draw(st.sampled_from(SENIORITIES))}
    elif kind == "missing":
        rule = {"field": "seniority", "missing": True}
    elif kind == "missing_employees":
        rule = {"field": "employees", "missing": True}
    elif kind == "min":
        rule = {"field": "employees", "min": draw(st.sampled_from((10, 50, 200, 1000)))}
    elif kind == "max":
        rule = {"field": "employees", "max": draw(st.sampled_from((10, 50, 200, 1000)))}
    else:
        low = draw(st.sampled_from((10, 50, 200)))
        rule = {"field": "employees", "min": low, "max": low + draw(st.sampled_from((0, 40, 800)))}
    rule["name"] = f"fit{index}"
    rule["points"] = points
    return rule


@st.composite
def _behavior_rule(draw, index, event_types):
    types = draw(st.lists(st.sampled_from(list(event_types)), min_size=1, max_size=2, unique=True))
    rule = {"name": f"b{index}"}
    if len(types) == 1 and draw(st.booleans()):
        rule["event"] = types[0]
    else:
        rule["events"] = types
    rule["points"] = draw(st.integers(-15, 25))
    if draw(st.booleans()):
        rule["cap"] = draw(st.integers(1, 50))
    if draw(st.booleans()):
        rule["max_per_day"] = draw(st.integers(1, 3))
    return rule


@st.composite
def _decays(draw):
    """Every decay kind equally often, with integer-ish parameters."""
    kind = draw(st.sampled_from(("none", "exponential", "step", "window", "linear")))
    if kind == "exponential":
        return {"kind": kind, "half_life_days": draw(st.integers(1, 30))}
    if kind == "step":
        return {
            "kind": kind,
            "percent": draw(st.sampled_from((10, 25, 50, 100))),
            "every_days": draw(st.integers(1, 10)),
        }
    if kind in ("window", "linear"):
        return {"kind": kind, "days": draw(st.integers(1, 10))}
    return {"kind": "none"}


@st.composite
def rule_sets(draw, event_types=EVENT_TYPES):
    """A valid rule-set dict, as ``tomllib.loads`` of a SPEC section 2 file gives it.

    Every decay kind (integer-ish parameters), 0-3 fit rules on ``seniority`` and
    ``employees``, 1-4 behaviour rules (caps, negative points, ``max_per_day``, one or
    several event types; behaviour rules are always named so names are unique),
    sometimes ``[limits]``, and thresholds with optional ``sql > mql`` and optional
    ``mql_min_fit``. All points and cutoffs are integers, so exact ties occur.
    """
    rules = {"name": f"rules-{draw(st.integers(0, 99))}"}
    n_fit = draw(st.integers(0, 3))
    if n_fit:
        rules["fit"] = [draw(_fit_rule(i)) for i in range(n_fit)]
    rules["behavior"] = [
        draw(_behavior_rule(i, event_types)) for i in range(draw(st.integers(1, 4)))
    ]
    rules["decay"] = draw(_decays())
    if draw(st.booleans()):
        limits = {}
        low = draw(st.sampled_from((None, 0, -10)))
        high = draw(st.sampled_from((None, 40, 60, 100)))
        if low is not None:
            limits["min"] = low
        if high is not None:
            limits["max"] = high
        if limits:
            rules["limits"] = limits
    thresholds = {"mql": draw(st.integers(1, 60))}
    if draw(st.booleans()):
        thresholds["sql"] = thresholds["mql"] + draw(st.integers(1, 30))
    if draw(st.booleans()):
        thresholds["mql_min_fit"] = draw(st.integers(-5, 20))
    rules["thresholds"] = thresholds
    return rules
