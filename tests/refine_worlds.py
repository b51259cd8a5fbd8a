"""Small seeded worlds for the refinement checks, each effect planted on request.

Leads are created over 2025; each gets its events in the first 30 days after creation.
The rule set ``RULES`` decides who is an MQL (a replay); sales then touch each MQL
after a log-normal response time, meetings follow the touch, and some MQLs are
disqualified. Planted effects (all off by default):

``drift_from``      pricing-page views per lead drop from 1.2 to 0.4 for leads created
                    from this date on;
``slow_followup``   an MQL touched within 4 hours books a meeting with probability 0.5,
                    later ones with 0.2 (otherwise 0.35 whatever the response time);
``reject_spam``     "email spammers" (many opens, little else; MQL'd mainly by
                    ``email_open``) are disqualified with probability 0.5 (otherwise
                    everyone with 0.12).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from calib.data import from_frames
from calib.engine import replay
from calib.rules import RuleSet

START = pd.Timestamp("2025-01-01", tz="UTC")
DAYS = 365
RULES = RuleSet.from_dict({
    "name": "world-rules",
    "behavior": [
        {"event": "email_open", "points": 10, "cap": 40},
        {"event": "pricing_page_view", "points": 15, "cap": 30},
        {"event": "webinar_attended", "points": 10},
        {"event": "demo_request", "points": 30},
    ],
    "thresholds": {"mql": 30},
})


def make_world(seed: int, n: int = 6000, *, drift_from: str | None = None,
               slow_followup: bool = False, reject_spam: bool = False):
    rng = np.random.default_rng(seed)
    created = START + pd.to_timedelta(np.sort(rng.uniform(0, DAYS, n)), unit="D")
    created = created.floor("s")
    ids = np.array([f"W{i:06d}" for i in range(n)])
    spammer = rng.random(n) < 0.15
    pricing_rate = np.full(n, 1.2)
    if drift_from is not None:
        pricing_rate[created >= pd.Timestamp(drift_from, tz="UTC")] = 0.4
    counts = {
        "email_open": np.where(spammer, rng.poisson(6.0, n), rng.poisson(0.8, n)),
        "pricing_page_view": rng.poisson(pricing_rate),
        "webinar_attended": rng.poisson(0.3, n),
        "demo_request": (rng.random(n) < 0.12).astype(int),
    }
    rows = []
    for etype, k in counts.items():
        lead = np.repeat(np.arange(n), k)
        t = created[lead] + pd.to_timedelta(rng.uniform(0, 30, lead.size), unit="D")
        rows.append(pd.DataFrame({"lead_id": ids[lead], "occurred_at": t.floor("s"),
                                  "event_type": etype}))
    events = pd.concat(rows, ignore_index=True).sort_values(["lead_id", "occurred_at"])
    leads = pd.DataFrame({"lead_id": ids, "created_at": created})
    stub = pd.DataFrame({"lead_id": ids[:1], "outcome": ["mql"], "occurred_at": created[:1]})
    pre = from_frames(leads, events, stub)
    pl = replay(pre, RULES, window_days=90, per_lead=True).per_lead
    mql_at = pd.to_datetime(pl.set_index("lead_id").reindex(ids)["mql_at"], utc=True)
    is_mql = mql_at.notna().to_numpy()

    hours = rng.lognormal(np.log(4.0), 1.5, n)
    touch = mql_at + pd.to_timedelta(hours, unit="h")
    if slow_followup:
        p_meet = np.where(hours < 4, 0.5, 0.2)
    else:
        p_meet = np.full(n, 0.35)
    meet = is_mql & (rng.random(n) < p_meet)
    meet_t = touch + pd.to_timedelta(rng.uniform(1, 20, n), unit="D")
    cold_meet = ~is_mql & (rng.random(n) < 0.03)
    cold_t = created + pd.to_timedelta(rng.uniform(0, 60, n), unit="D")
    p_dq = np.where(reject_spam & spammer, 0.5, 0.12)
    dq = is_mql & (rng.random(n) < p_dq)
    dq_t = touch + pd.to_timedelta(rng.uniform(1, 30, n), unit="D")
    out = [
        pd.DataFrame({"lead_id": ids[is_mql], "outcome": "contacted",
                      "occurred_at": touch[is_mql]}),
        pd.DataFrame({"lead_id": ids[meet], "outcome": "meeting", "occurred_at": meet_t[meet]}),
        pd.DataFrame({"lead_id": ids[cold_meet], "outcome": "meeting",
                      "occurred_at": cold_t[cold_meet]}),
        pd.DataFrame({"lead_id": ids[dq], "outcome": "disqualified", "occurred_at": dq_t[dq]}),
        # the end of the data: every lead's 90-day window is complete
        pd.DataFrame({"lead_id": ids[-1:], "outcome": "mql_review",
                      "occurred_at": [START + pd.Timedelta(days=DAYS + 180)]}),
    ]
    outcomes = pd.concat(out, ignore_index=True)
    outcomes["occurred_at"] = pd.to_datetime(outcomes["occurred_at"], utc=True).dt.floor("s")
    return from_frames(leads, events, outcomes)
