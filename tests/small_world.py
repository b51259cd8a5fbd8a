"""A small data set written as files, the way users have them: four leads, six events,
three outcomes and a rule set that touches every kind of rule. The fixtures of
``conftest.py`` and the tests that write variants of it import it from here (a module
of its own, so that a process that unpickles a test's function finds it by name)."""

from __future__ import annotations

from pathlib import Path

LEADS = """lead_id,created_at,seniority,employees,industry
L1,2025-01-01T00:00:00Z,vp,250,software
L2,2025-01-02T09:30:00+02:00,ic,,retail
L3,2025-01-05,manager,5000,software
L4,2025-02-01T00:00:00Z,c_level,12,
"""
EVENTS = """lead_id,occurred_at,event_type
L1,2024-12-30T10:00:00Z,email_open
L1,2025-01-01T10:00:00Z,pricing_page_view
L1,2025-01-01T10:00:00Z,email_open
L2,2025-01-03T10:00:00Z,pricing_page_view
L3,2025-01-06T08:00:00Z,demo_request
L3,2025-01-06T09:00:00Z,unsubscribe
"""
OUTCOMES = """lead_id,outcome,occurred_at,amount
L1,meeting,2025-01-04T00:00:00Z,
L1,won,2025-02-04T00:00:00Z,1000
L3,meeting,2025-01-02T00:00:00Z,
"""
RULES = """name = "small"

[[fit]]
field = "seniority"
in = ["vp", "c_level"]
points = 10

[[behavior]]
name = "pricing"
event = "pricing_page_view"
points = 20

[[behavior]]
event = "email_open"
points = 5
cap = 10

[[behavior]]
event = "unsubscribe"
points = -30

[[behavior]]
event = "demo_request"
points = 40

[decay]
kind = "exponential"
half_life_days = 30

[thresholds]
mql = 20
"""


def write_dataset(folder: Path, leads=LEADS, events=EVENTS, outcomes=OUTCOMES,
                  assignments=None) -> Path:
    """Write CSV tables into ``folder`` (None leaves a table out)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (("leads", leads), ("events", events), ("outcomes", outcomes),
                       ("assignments", assignments)):
        if text is not None:
            data = text if isinstance(text, bytes) else text.encode("utf-8")
            (folder / f"{name}.csv").write_bytes(data)
    return folder
