"""Terms that cannot be estimated, found before fitting.

A model term whose column is constant is the intercept over again; two terms whose
columns are equal on every lead are aliased (only their sum is identified). Left in, they
make the fit arbitrary: the likelihood is flat along a direction, and an unpenalised
estimate runs off to a bound. So before fitting:

* an event type that occurs the same number of times on every training lead is dropped
  (with its decayed count it would only measure a lead's age);
* an event type whose per-lead counts equal those of an earlier one (they always occur
  together) is dropped, its effect carried by the first (its name is reported);
* an attribute term that matches every lead or none, or exactly the leads of an earlier
  term, is dropped.

Each is reported by name with a sentence (``Screened.notes``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["Screened", "screen_events", "screen_columns", "lead_separation"]


@dataclass(frozen=True)
class Screened:
    """What was kept and dropped, with one row per dropped term (``term``, ``kind``:
    ``constant`` or ``aliased``, ``with``: the term it is aliased with, ``note``)."""

    kept: tuple
    dropped: tuple = field(default=())
    counts: np.ndarray | None = None  # (leads x event types) counts, for screen_events

    @property
    def notes(self) -> list[str]:
        return [d["note"] for d in self.dropped]


def screen_events(events: pd.DataFrame, n_leads: int, event_types) -> Screened:
    """Constant and aliased event types among ``event_types`` of the training ``events``
    (columns ``lead``, ``event_type``) of ``n_leads`` leads."""
    types = list(event_types)
    if not types or n_leads == 0:
        return Screened(kept=tuple(types))
    codes = pd.Categorical(events["event_type"].astype(str), categories=types).codes
    ok = codes >= 0
    lead = events["lead"].to_numpy()[ok].astype(np.int64)
    counts = np.zeros((n_leads, len(types)))
    np.add.at(counts, (lead, codes[ok]), 1.0)
    kept, dropped = [], []
    seen: dict[bytes, str] = {}
    for j, e in enumerate(types):
        col = counts[:, j]
        if col.max() == col.min():
            times = "once" if col[0] == 1 else f"{col[0]:g} times"
            if col[0] == 0:
                kept.append(e)  # absent from training: handled elsewhere
                continue
            dropped.append({"term": e, "kind": "constant", "with": None,
                            "note": f"'{e}' occurs {times} on every lead: it says nothing about "
                                    "which lead converts (it is the intercept), so it is left "
                                    "out of the fit"})
            continue
        key = col.tobytes()
        if key in seen:
            dropped.append({"term": e, "kind": "aliased", "with": seen[key],
                            "note": f"'{e}' always occurs together with '{seen[key]}' (same "
                                    "leads, same counts): their effects cannot be told apart, "
                                    f"so '{seen[key]}' carries both and '{e}' is left out"})
            continue
        seen[key] = e
        kept.append(e)
    return Screened(kept=tuple(kept), dropped=tuple(dropped), counts=counts)


def lead_separation(has: dict, outcome: np.ndarray) -> dict:
    """Terms (``name -> per-lead bool mask``) whose leads all had the outcome or none
    did (and some leads without the term differ): ``name -> (leads, had_outcome)``."""
    out = {}
    for name, m in has.items():
        m = np.asarray(m, bool)
        if m.any() and (~m).any():
            v = outcome[m]
            if v.min() == v.max() and outcome[~m].min() != v[0]:
                out[name] = (int(m.sum()), bool(v[0]))
    return out


def screen_columns(M: np.ndarray, names) -> Screened:
    """Constant and duplicate columns of a (leads x terms) attribute matrix ``M``; ``kept``
    holds the positions of the columns kept."""
    kept, dropped = [], []
    seen: dict[bytes, str] = {}
    for j, name in enumerate(names):
        col = np.ascontiguousarray(M[:, j])
        if len(col) == 0 or col.max() == col.min():
            dropped.append({"term": name, "kind": "constant", "with": None,
                            "note": f"'{name}' has the same value on every training lead: "
                                    "left out of the fit"})
            continue
        key = col.tobytes()
        if key in seen:
            dropped.append({"term": name, "kind": "aliased", "with": seen[key],
                            "note": f"'{name}' matches exactly the leads of '{seen[key]}': "
                                    f"their effects cannot be told apart, so '{name}' is left "
                                    "out"})
            continue
        seen[key] = name
        kept.append(j)
    return Screened(kept=tuple(kept), dropped=tuple(dropped))
