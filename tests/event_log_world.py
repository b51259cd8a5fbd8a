"""A seeded event log shaped like a public loan-application log: timestamped work items
and an accepted/declined outcome, recorded for every lead within 30 days.

Its traits are the ones that break a naive fit:

* ``a_submitted`` occurs exactly once on every lead, at its creation (the intercept);
* ``a_partlysubmitted`` and ``a_preaccepted`` always occur together (aliased);
* ``o_fasttrack`` is rare and every lead with it is accepted (separation);
* every lead gets ``won`` or ``lost`` within 30 days (no selective labels, short delays);
* ``w_call`` and ``o_sent`` raise the odds of acceptance, ``w_fix_incomplete`` lowers them.

The truth is a logistic model of acceptance on the lead's counts of its events (in its
first 10 days), so a fitted rule set can be judged against it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

START = pd.Timestamp("2016-01-01", tz="UTC")
TRUE_EFFECTS = {"w_call": 0.8, "o_sent": 1.2, "w_fix_incomplete": -0.9}

START_RULES = """name = "start"

[thresholds]
mql = 20

[decay]
kind = "none"

[[behavior]]
event = "a_submitted"
points = 5

[[behavior]]
event = "a_partlysubmitted"
points = 5

[[behavior]]
event = "w_call"
points = 10
cap = 30
"""


def event_log(n: int = 4000, days: int = 300, seed: int = 0):
    """(leads, events, outcomes) DataFrames of the log."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"A{i:06d}" for i in range(n)])
    created = START + pd.to_timedelta(np.sort(rng.uniform(0, days, n)), unit="D")
    amount = rng.choice([5000, 10000, 15000, 20000, 30000], n)
    goal = rng.choice(["car", "home", "other"], n, p=[0.4, 0.35, 0.25])
    rows = []

    def add(mask, name, lo, hi, count=None):
        idx = np.flatnonzero(mask)
        k = np.ones(len(idx), int) if count is None else count[idx]
        lead = np.repeat(idx, k)
        at = created[lead] + pd.to_timedelta(rng.uniform(lo, hi, len(lead)), unit="D")
        rows.append(pd.DataFrame({"lead_id": ids[lead], "occurred_at": at, "event_type": name}))
        return lead, at

    add(np.ones(n, bool), "a_submitted", 0, 0)
    part = rng.random(n) < 0.6
    lead_p, at_p = add(part, "a_partlysubmitted", 0.01, 0.5)
    rows.append(pd.DataFrame({"lead_id": ids[lead_p], "occurred_at": at_p,
                              "event_type": "a_preaccepted"}))
    calls = rng.poisson(1.0, n)
    add(calls > 0, "w_call", 0.5, 8, calls)
    sent = rng.random(n) < 0.5
    add(sent, "o_sent", 1, 6)
    fix = rng.random(n) < 0.3
    add(fix, "w_fix_incomplete", 0.5, 7)
    eta = (-1.0 + TRUE_EFFECTS["w_call"] * np.minimum(calls, 3) + TRUE_EFFECTS["o_sent"] * sent
           + TRUE_EFFECTS["w_fix_incomplete"] * fix)
    won = rng.random(n) < 1 / (1 + np.exp(-eta))
    # the decision: 8 to 28 days after creation, after every work item
    decided = created + pd.to_timedelta(rng.uniform(8, 28, n), unit="D")
    # a rare fast track, 1.5 to 3 days before an acceptance (never before a decline)
    fast = np.flatnonzero((rng.random(n) < 0.03) & won)
    rows.append(pd.DataFrame({"lead_id": ids[fast], "event_type": "o_fasttrack",
                              "occurred_at": decided[fast] - pd.to_timedelta(
                                  rng.uniform(1.5, 3, len(fast)), unit="D")}))
    outcomes = pd.DataFrame({"lead_id": ids, "outcome": np.where(won, "won", "lost"),
                             "occurred_at": decided})
    leads = pd.DataFrame({"lead_id": ids, "created_at": created, "amount_requested": amount,
                          "loan_goal": goal})
    events = pd.concat(rows, ignore_index=True).sort_values(["lead_id", "occurred_at"])
    return leads, events.reset_index(drop=True), outcomes
