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
        """One sentence per dropped term."""
        return [d["note"] for d in self.dropped]


def _screen(columns: np.ndarray, names, constant_note, aliased_note, *,
            keep_absent: bool = False) -> tuple[list[int], list[dict]]:
    """Positions of the columns kept, and a row per column dropped: constant
    (``constant_note(name, value)``) or equal to an earlier column
    (``aliased_note(name, earlier)``). ``keep_absent``: an all-zero column is kept."""
    kept, dropped = [], []
    seen: dict[bytes, str] = {}
    for j, name in enumerate(names):
        col = np.ascontiguousarray(columns[:, j])
        if len(col) == 0 or col.max() == col.min():
            if keep_absent and len(col) and col[0] == 0:
                kept.append(j)  # absent from training: handled elsewhere
            else:
                dropped.append({"term": name, "kind": "constant", "with": None,
                                "note": constant_note(name, col[0] if len(col) else None)})
            continue
        key = col.tobytes()
        if key in seen:
            dropped.append({"term": name, "kind": "aliased", "with": seen[key],
                            "note": aliased_note(name, seen[key])})
            continue
        seen[key] = name
        kept.append(j)
    return kept, dropped


def screen_events(events: pd.DataFrame, n_leads: int, event_types) -> Screened:
    """Constant and aliased event types among ``event_types`` of the training ``events``
    (columns ``lead``, ``event_type``) of ``n_leads`` leads.

    Examples
    --------
    >>> events = pd.DataFrame({"lead": [0, 0, 1, 1, 2], "event_type":
    ...                        ["visit", "click", "visit", "click", "demo"]})
    >>> s = screen_events(events, 3, ["visit", "click", "demo"])
    >>> s.kept, [(d["term"], d["kind"], d["with"]) for d in s.dropped]
    (('visit', 'demo'), [('click', 'aliased', 'visit')])
    """
    types = list(event_types)
    if not types or n_leads == 0:
        return Screened(kept=tuple(types))
    codes = pd.Categorical(events["event_type"].astype(str), categories=types).codes
    ok = codes >= 0
    lead = events["lead"].to_numpy()[ok].astype(np.int64)
    counts = np.zeros((n_leads, len(types)))
    np.add.at(counts, (lead, codes[ok]), 1.0)
    kept, dropped = _screen(counts, types, _constant_event, _aliased_event, keep_absent=True)
    return Screened(kept=tuple(types[j] for j in kept), dropped=tuple(dropped), counts=counts)


def _constant_event(e: str, value: float) -> str:
    times = "once" if value == 1 else f"{value:g} times"
    return (f"'{e}' occurs {times} on every lead: it says nothing about which lead converts "
            "(it is the intercept), so it is left out of the fit")


def _aliased_event(e: str, first: str) -> str:
    return (f"'{e}' always occurs together with '{first}' (same leads, same counts): their "
            f"effects cannot be told apart, so '{first}' carries both and '{e}' is left out")


def lead_separation(has: dict, outcome: np.ndarray) -> dict:
    """Terms (``name -> per-lead bool mask``) whose leads all had the outcome or none
    did (and some leads without the term differ): ``name -> (leads, had_outcome)``.

    Examples
    --------
    >>> outcome = np.array([True, True, False, False])
    >>> lead_separation({"vip": np.array([1, 1, 0, 0]), "web": np.array([1, 0, 1, 0])},
    ...                 outcome)
    {'vip': (2, True)}
    """
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
    holds the positions of the columns kept.

    Examples
    --------
    >>> M = np.array([[1., 1., 1.], [0., 1., 0.], [1., 1., 1.]])
    >>> s = screen_columns(M, ["a", "b", "c"])
    >>> s.kept, [d["kind"] for d in s.dropped]
    ((0,), ['constant', 'aliased'])
    """
    kept, dropped = _screen(
        M, names,
        lambda name, _: f"'{name}' has the same value on every training lead: left out of "
                        "the fit",
        lambda name, first: f"'{name}' matches exactly the leads of '{first}': their effects "
                            f"cannot be told apart, so '{name}' is left out")
    return Screened(kept=tuple(kept), dropped=tuple(dropped))
