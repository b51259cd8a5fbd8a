"""What `calib validate` prints: a summary of a loaded data set."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from calib.data.dataset import Dataset
from calib.io import iso_utc as _iso


@dataclass(frozen=True)
class DatasetSummary:
    """Counts, date range and frequencies of a data set.

    Attributes
    ----------
    path : str
        The data set folder.
    leads, events, outcomes : int
        Row counts.
    assignments : int or None
        Rows of the assignments table (None without one).
    snapshot : bool
        True for a snapshot data set.
    start, end : str or None
        First lead creation and last timestamp (ISO 8601, UTC).
    attributes : tuple of str
        The leads' attribute columns.
    event_types, outcome_types : dict
        Events per type; leads with at least one outcome, per type.
    arms : dict or None
        Leads per arm.
    warnings : tuple of str
        The data set's warnings.

    Examples
    --------
    >>> from calib.data import load_dataset
    >>> s = summarize(load_dataset("calib-demo/data"))
    >>> s.leads, s.snapshot
    (2000, False)
    """

    path: str
    leads: int
    events: int
    outcomes: int
    assignments: int | None
    snapshot: bool
    start: str | None
    end: str | None
    attributes: tuple[str, ...]
    event_types: dict
    outcome_types: dict
    arms: dict | None
    warnings: tuple[str, ...]

    def to_dict(self) -> dict:
        """The summary as JSON-safe values (what ``calib validate --json`` prints).

        Returns
        -------
        dict
            One key per field; timestamps as ISO 8601 text, counts as whole numbers.

        Examples
        --------
        >>> import json
        >>> from calib.data import load_dataset
        >>> d = summarize(load_dataset("calib-demo/data")).to_dict()
        >>> json.loads(json.dumps(d)) == d and d["valid"]
        True
        """
        return {
            "path": self.path, "valid": True, "snapshot": self.snapshot,
            "leads": self.leads, "events": self.events, "outcomes": self.outcomes,
            "assignments": self.assignments, "start": self.start, "end": self.end,
            "attributes": list(self.attributes), "event_types": dict(self.event_types),
            "outcome_types": dict(self.outcome_types), "arms": self.arms,
            "warnings": list(self.warnings),
        }

    def to_frame(self) -> pd.DataFrame:
        """Event-type and outcome frequencies as one table.

        Returns
        -------
        DataFrame
            Columns ``kind`` (``event_type`` or ``outcome``), ``value``, ``count``.

        Examples
        --------
        >>> from calib.data import load_dataset, summarize
        >>> summarize(load_dataset("calib-demo/data")).to_frame().columns.tolist()
        ['kind', 'value', 'count']
        """
        rows = [("event_type", k, v) for k, v in self.event_types.items()]
        rows += [("outcome", k, v) for k, v in self.outcome_types.items()]
        return pd.DataFrame(rows, columns=["kind", "value", "count"])

    def summary(self) -> str:
        """The summary as text (what ``calib validate`` prints).

        Returns
        -------
        str
            Lines for a person: the tables' sizes, the time span, the event and outcome
            types with their counts, then any warnings.

        Examples
        --------
        >>> from calib import data
        >>> text = data.summarize(data.load_dataset("calib-demo/data")).summary()
        >>> text.splitlines()[1].split()
        ['leads', '2,000']
        """
        lines = [f"Data set {self.path}: valid" + (" (snapshot)" if self.snapshot else ""),
                 f"  leads     {self.leads:>12,}",
                 f"  events    {self.events:>12,}",
                 f"  outcomes  {self.outcomes:>12,}"]
        if self.assignments is not None:
            lines.append(f"  assigned  {self.assignments:>12,}  arms: "
                         + ", ".join(f"{k} {v:,}" for k, v in (self.arms or {}).items()))
        if self.start:
            lines.append(f"  period    {self.start} .. {self.end}")
        if self.attributes:
            lines.append(f"  attributes: {', '.join(self.attributes)}")
        if self.event_types:
            lines.append("  event types:")
            lines += [f"    {k:<28}{v:>12,}" for k, v in self.event_types.items()]
        lines.append("  outcomes (leads with at least one):")
        lines += [f"    {k:<28}{v:>12,}" for k, v in self.outcome_types.items()]
        for w in self.warnings:
            lines.append(f"  warning: {w}")
        return "\n".join(lines)


def summarize(ds: Dataset) -> DatasetSummary:
    """Summarise a loaded data set.

    Parameters
    ----------
    ds : Dataset
        A loaded data set.

    Returns
    -------
    DatasetSummary

    Examples
    --------
    >>> from calib.data import load_dataset
    >>> summarize(load_dataset("calib-demo/data")).events > 0
    True
    """
    attrs = tuple(c for c in ds.leads.columns if c not in ("lead_id", "created_at"))
    ev = ds.events["event_type"].value_counts().sort_values(ascending=False)
    first = ds.first_outcomes()
    oc = first["outcome"].value_counts().sort_values(ascending=False)
    arms = None
    if ds.assignments is not None:
        arms = {str(k): int(v) for k, v in ds.assignments["arm"].value_counts().sort_index().items()}
    return DatasetSummary(
        path=ds.path, leads=ds.n_leads, events=len(ds.events), outcomes=len(ds.outcomes),
        assignments=None if ds.assignments is None else len(ds.assignments),
        snapshot=ds.snapshot, start=_iso(ds.start_of_data), end=_iso(ds.end_of_data),
        attributes=attrs, event_types={str(k): int(v) for k, v in ev.items() if v > 0},
        outcome_types={str(k): int(v) for k, v in oc.items() if v > 0}, arms=arms,
        warnings=ds.warnings,
    )
