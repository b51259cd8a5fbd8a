"""Matching events to behaviour rules (``calib.engine.kernels.match_events``, two
compiled passes) against the plain definition: a rule counts the events of its types,
at most ``max_per_day`` of them per lead and UTC day in time order; an event is alive
when some rule counts it or no rule matches its type."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calib.engine.kernels import NS_PER_DAY
from calib.engine.prepare import _match_rules
from calib.rules import RuleSet

TYPES = ["a", "b", "c", "d"]


def _plain(lead, t, types, rules):
    """Rule by rule, event by event, as the rules read."""
    rule_index, event_rule = [], [-1] * len(t)
    matched_any = [False] * len(t)
    for r, rule in enumerate(rules.behavior):
        kept, seen = [], {}
        for i in range(len(t)):
            if types[i] not in rule.events:
                continue
            matched_any[i] = True
            day = (int(lead[i]), int(t[i]) // NS_PER_DAY)
            seen[day] = seen.get(day, 0) + 1
            if rule.max_per_day is None or seen[day] <= rule.max_per_day:
                kept.append(i)
                event_rule[i] = r if event_rule[i] == -1 else -2
        rule_index.append(kept)
    alive = [event_rule[i] != -1 or not matched_any[i] for i in range(len(t))]
    return rule_index, event_rule, alive


@st.composite
def worlds(draw):
    n = draw(st.integers(0, 40))
    lead = np.sort(np.array(draw(st.lists(st.integers(0, 4), min_size=n, max_size=n)),
                            dtype=np.int32))
    # times sorted within each lead, some on the same day, some across midnight
    steps = draw(st.lists(st.sampled_from([0, 1, 3600 * 10**9, NS_PER_DAY - 1, NS_PER_DAY]),
                          min_size=n, max_size=n))
    t = np.cumsum(np.array(steps, dtype=np.int64)) + 20_000 * NS_PER_DAY
    types = draw(st.lists(st.sampled_from(TYPES + ["unused"]), min_size=n, max_size=n))
    behaviour = []
    for k in range(draw(st.integers(1, 4))):
        rule = {"name": f"r{k}", "points": 5,
                "events": draw(st.lists(st.sampled_from(TYPES), min_size=1, max_size=3,
                                        unique=True))}
        limit = draw(st.none() | st.integers(1, 3))
        if limit is not None:
            rule["max_per_day"] = limit
        behaviour.append(rule)
    rules = RuleSet.from_dict({"name": "r", "thresholds": {"mql": 10}, "behavior": behaviour})
    return lead, t, types, rules


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(world=worlds())
def test_matching_equals_the_plain_definition(world):
    lead, t, types, rules = world
    ev = pd.DataFrame({
        "lead": lead,
        "occurred_at": pd.to_datetime(t, utc=True),
        "event_type": pd.Categorical(types, categories=sorted(set(types) | {"zz"}))})
    rule_events, rule_index, event_rule, alive = _match_rules(ev, lead, t, rules)
    want_index, want_rule, want_alive = _plain(lead, t, types, rules)
    assert [list(i) for i in rule_index] == want_index
    assert event_rule.tolist() == want_rule
    assert alive.tolist() == want_alive
    for (e_lead, e_t), idx in zip(rule_events, want_index):
        assert e_lead.tolist() == lead[idx].tolist() and e_t.tolist() == t[idx].tolist()
