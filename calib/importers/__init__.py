"""Importers: CRM and marketing-automation exports, as users have them, into data sets.

Each format is a module with a ``read(src, mapping, options) -> ExportTables`` function
that reads the vendor's documented export layout (column names as the vendor's export
writes them) and translates it into calib's ``leads`` / ``events`` / ``outcomes``:

=============== ==============================================================
``hubspot``     contacts export: lifecycle-stage dates -> outcomes, counts -> attributes
``salesforce``  Lead export (+ optional Task and CampaignMember exports -> events)
``marketo``     activity-log export -> events and revenue-stage outcomes, + a leads file
``generic``     any CSV with a mapping (ColumnMapping + wide dates -> outcome rows)
``x-education`` the public "X Education" Leads.csv (a snapshot; leaking columns dropped)
``olist``       the public Olist marketing funnel (MQLs + closed deals)
=============== ==============================================================

:func:`import_export` writes a data set folder (``calib import``); :func:`load_preset`
builds the :class:`~calib.data.Dataset` in memory (an experiment file's
``[data] preset = "hubspot"``). Sources are only read, never modified.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from importlib import import_module
from pathlib import Path
from types import MappingProxyType

import pandas as pd

from calib.data import Dataset, from_frames, load_dataset
from calib.errors import ConfigError, DataError
from calib.importers.base import ExportTables, ImportMapping, ImportOptions, check_timezone

FORMATS = {
    "hubspot": "calib.importers.hubspot",
    "salesforce": "calib.importers.salesforce",
    "marketo": "calib.importers.marketo",
    "generic": "calib.importers.generic",
    "x-education": "calib.importers.x_education",
    "olist": "calib.importers.olist",
}
EXTRA_FILES = ("tasks", "campaign_members", "leads", "deals")  # files besides SRC
_ALIASES = {"x_education": "x-education", "xeducation": "x-education", "hubspot-contacts":
            "hubspot", "sfdc": "salesforce"}

__all__ = ["FORMATS", "ImportMapping", "ImportOptions", "ImportResult", "ExportTables",
           "read_tables", "to_dataset", "import_export", "load_preset", "load_experiment_data"]


def format_module(name: str):
    """The importer module of a format name.

    Parameters
    ----------
    name : str
        A key of :data:`FORMATS` (``"hubspot"``, ``"x-education"``...) or an alias
        (``"sfdc"``, ``"x_education"``), in any case.

    Returns
    -------
    (str, module)
        The format's key and its module (with a ``read`` function).

    Raises
    ------
    ConfigError
        For an unknown name, with the closest one as a suggestion.

    Examples
    --------
    >>> key, module = format_module("SFDC")
    >>> key, module.__name__
    ('salesforce', 'calib.importers.salesforce')
    """
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in FORMATS:
        from calib.rules.config import _suggest

        raise ConfigError(f"Unknown import format '{name}'.", code="unknown_format",
                          suggestion=(_suggest(key, FORMATS) or "")
                          + f" Formats: {', '.join(FORMATS)}.")
    return key, import_module(FORMATS[key])


def _options(options: ImportOptions | dict | None, mapping: ImportMapping) -> ImportOptions:
    if options is None:
        options = ImportOptions()
    elif isinstance(options, dict):
        extra = {k: v for k, v in options.items() if k not in ImportOptions.__dataclass_fields__}
        for k in extra:
            if k not in EXTRA_FILES:
                from calib.rules.config import _suggest

                allowed = [*ImportOptions.__dataclass_fields__, *EXTRA_FILES]
                allowed.remove("extra")
                raise ConfigError(f"Unknown import option '{k}'.", code="unknown_key",
                                  suggestion=_suggest(k, allowed)
                                  or f"Options: {', '.join(allowed)}.")
        opts = {k: v for k, v in options.items() if k in ImportOptions.__dataclass_fields__}
        options = ImportOptions(**opts, extra=MappingProxyType(extra))
    options = replace(options, timezone=options.timezone or mapping.timezone or "UTC")
    if mapping.day_first and not options.day_first:
        options = replace(options, day_first=True)
    check_timezone(options.timezone, "The time zone (--timezone)")
    return options


def read_tables(fmt: str, src, mapping=None, options: ImportOptions | dict | None = None
                ) -> ExportTables:
    """Read an export into calib's tables (DataFrames), without validating them.

    Parameters
    ----------
    fmt : str
        One of :data:`FORMATS`.
    src : str or Path
        The export file, or a folder holding the export's files.
    mapping : ImportMapping, ColumnMapping or dict, optional
        Column names where the export's differ from the vendor's defaults, exclusions,
        and (``generic``) wide outcome dates.
    options : ImportOptions or dict, optional
        ``timezone``, ``day_first``, ``encoding``, ``keep_leaking`` and extra files
        (``tasks``, ``campaign_members``, ``leads``, ``deals``).

    Returns
    -------
    ExportTables
        The leads, events and outcomes as calib names them, with what was renamed,
        left out and noted on the way.

    Examples
    --------
    A data set folder is already in calib's layout, so the ``generic`` format reads it
    as it is:

    >>> tables = read_tables("generic", "calib-demo/data")
    >>> tables.format, len(tables.leads), sorted(tables.outcomes["outcome"].unique())[:3]
    ('generic', 2000, ['contacted', 'disqualified', 'lost'])
    """
    key, module = format_module(fmt)
    mapping = ImportMapping.coerce(mapping)
    opts = _options(options, mapping)
    src = Path(src)
    if not src.exists():
        raise DataError(f"The {key} export '{src}' does not exist.", code="missing_table",
                        suggestion="Give the export file, or the folder holding its files.")
    tables = module.read(src, mapping, opts)
    tables.format = key
    return tables


def to_dataset(tables: ExportTables, *, name: str | None = None) -> Dataset:
    """Validate translated tables with calib's own checks (:func:`calib.data.from_frames`).

    Timestamps are kept to whole seconds, as the CSV files of a data set hold them, so a
    preset loaded in memory replays exactly like the same export imported to files.

    Parameters
    ----------
    tables : ExportTables
        From :func:`read_tables`.
    name : str, optional
        How error messages name the data; by default the format and its files.

    Returns
    -------
    Dataset
        The validated data set.

    Raises
    ------
    DataError
        Listing every problem of the tables at once.

    Examples
    --------
    >>> ds = to_dataset(read_tables("generic", "calib-demo/data"))
    >>> ds.n_leads, ds.snapshot
    (2000, False)
    """
    def secs(df, col):
        if df is not None and col in df and isinstance(df[col].dtype, pd.DatetimeTZDtype):
            df = df.copy()
            df[col] = df[col].dt.floor("s")
        return df

    leads = secs(tables.leads, "created_at")
    events = secs(tables.events, "occurred_at")
    outcomes = secs(tables.outcomes, "occurred_at")
    label = name or f"{tables.format} export {', '.join(Path(s).name for s in tables.sources)}"
    try:
        return from_frames(leads, events, outcomes, name=label)
    except DataError as e:
        raise DataError(f"The {label} does not make a valid data set ({len(e.problems)} "
                        f"problem{'s' if len(e.problems) != 1 else ''}):", code=e.code,
                        problems=e.problems, suggestion=e.suggestion) from None


def load_preset(path, preset: str, mapping=None, **options) -> Dataset:
    """An export read through a preset, as a validated :class:`~calib.data.Dataset`.

    This is what an experiment file's ``[data] preset = "hubspot"`` means: ``path`` is
    the export (file or folder) and ``mapping`` its optional ``files`` / ``columns`` /
    ``exclude`` (plus ``outcome_dates`` for ``generic``).

    Parameters
    ----------
    path : str or Path
        The export file or folder.
    preset : str
        One of :data:`FORMATS`.
    mapping : ImportMapping, ColumnMapping or dict, optional
        As for :func:`read_tables`.
    **options
        As ``options`` of :func:`read_tables` (``timezone="Europe/Berlin"``...).

    Returns
    -------
    Dataset
        The validated data set (nothing is written).

    Examples
    --------
    >>> from pathlib import Path
    >>> _ = Path("contacts.csv").write_text(
    ...     "Record ID,Create Date,Became a Marketing Qualified Lead Date,"
    ...     "Became a Sales Qualified Lead Date\\n"
    ...     "1,2025-01-06 09:14,2025-01-08 10:02,2025-01-15 16:40\\n"
    ...     "2,2025-01-07 13:30,2025-01-09 08:45,\\n"
    ...     "3,2025-01-08 11:00,,\\n")
    >>> ds = load_preset("contacts.csv", "hubspot")
    >>> ds.n_leads, ds.outcome_types
    (3, ('mql', 'sql'))
    """
    return to_dataset(read_tables(preset, path, mapping, options or None))


def load_experiment_data(exp) -> Dataset:
    """The data set of an experiment.

    Parameters
    ----------
    exp : Experiment
        An experiment (or anything with its ``data``): ``data.url`` (a SQL source,
        with ``data.tables`` / ``data.queries``), ``data.preset`` (an export read
        through a preset) or else ``data.path`` (a data set folder), and
        ``data.mapping``.

    Returns
    -------
    Dataset
        The validated data set.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> data = SimpleNamespace(url=None, preset=None, path="calib-demo/data", mapping=None)
    >>> load_experiment_data(SimpleNamespace(data=data)).n_leads
    2000
    """
    data = exp.data
    if data.url:
        from calib.importers.sql import load_sql

        return load_sql(data.url, tables=data.tables, queries=data.queries,
                        mapping=data.mapping)
    if data.preset:
        return load_preset(data.path, data.preset, data.mapping)
    return load_dataset(data.path, data.mapping)


# ------------------------------------------------------------------ result
@dataclass(frozen=True)
class ImportResult:
    """What ``calib import`` did: files read and written, counts, dropped columns.

    Attributes
    ----------
    format : str
        The format's key (:data:`FORMATS`).
    sources : tuple of str
        The export files read.
    out : str
        The data set folder written.
    table_format : str
        ``"csv"`` or ``"parquet"``.
    files : dict
        Table name to the file written.
    leads, events : int
        Rows of the leads and events tables.
    outcomes : dict
        Rows per outcome, sales outcomes first in funnel order.
    event_types : dict
        Rows per event type.
    snapshot : bool
        Whether the data set is a snapshot (no ``created_at`` or no outcome dates).
    start, end : Timestamp or None
        The first and last ``created_at``.
    attributes : tuple of str
        The lead attribute columns.
    excluded : dict
        Export column to why it was left out (personal data, leaking...).
    renamed : dict
        Per export file, export column to calib column.
    notes, warnings : tuple of str
        What the importer noted, and the data set's warnings.

    Examples
    --------
    >>> res = import_export("generic", "calib-demo/data", "demo-copy", force=True)
    >>> res.leads, res.table_format
    (2000, 'csv')
    """

    format: str
    sources: tuple[str, ...]
    out: str
    table_format: str
    files: dict
    leads: int
    events: int
    outcomes: dict
    event_types: dict
    snapshot: bool
    start: pd.Timestamp | None
    end: pd.Timestamp | None
    attributes: tuple[str, ...]
    excluded: dict
    renamed: dict
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        """The result as plain JSON types (what ``calib import --json`` prints).

        Returns
        -------
        dict
            Every field, timestamps as ISO 8601 UTC text.

        Examples
        --------
        >>> res = import_export("generic", "calib-demo/data", "demo-copy", force=True)
        >>> d = res.to_dict()
        >>> d["start"], d["outcomes"]["mql"]
        ('2025-01-01T16:29:35Z', 402)
        """
        def iso(t):
            return None if t is None or pd.isna(t) else t.strftime("%Y-%m-%dT%H:%M:%SZ")

        return {"format": self.format, "sources": list(self.sources), "out": self.out,
                "table_format": self.table_format, "files": dict(self.files),
                "leads": self.leads, "events": self.events, "outcomes": dict(self.outcomes),
                "event_types": dict(self.event_types), "snapshot": self.snapshot,
                "start": iso(self.start), "end": iso(self.end),
                "attributes": list(self.attributes), "excluded": dict(self.excluded),
                "renamed": {k: dict(v) for k, v in self.renamed.items()},
                "notes": list(self.notes), "warnings": list(self.warnings)}

    def to_frame(self) -> pd.DataFrame:
        """One row per table written, with its row count and file.

        Returns
        -------
        DataFrame
            Columns ``table``, ``rows`` and ``file``.

        Examples
        --------
        >>> res = import_export("generic", "calib-demo/data", "demo-copy", force=True)
        >>> res.to_frame()["rows"].tolist()
        [2000, 37833, 1599]
        """
        rows = [{"table": "leads", "rows": self.leads, "file": self.files.get("leads")},
                {"table": "events", "rows": self.events, "file": self.files.get("events")},
                {"table": "outcomes", "rows": sum(self.outcomes.values()),
                 "file": self.files.get("outcomes")}]
        return pd.DataFrame(rows)

    def summary(self) -> str:
        """What was imported, as ``calib import`` prints it.

        Returns
        -------
        str
            The files, counts, attributes, outcomes, what was left out, notes and warnings.

        Examples
        --------
        >>> res = import_export("generic", "calib-demo/data", "demo-copy", force=True)
        >>> print(res.summary().splitlines()[1])
          leads:    2,000, created 2025-01-01 .. 2026-06-30
        """
        src = ", ".join(self.sources)
        lines = [f"Imported the {self.format} export {src} into {self.out} ({self.table_format})"]
        when = ""
        if self.start is not None and not pd.isna(self.start):
            when = f", created {self.start.date()} .. {self.end.date()}"
        lines.append(f"  leads:    {self.leads:,}{when}" + (" (snapshot: no dates)"
                                                           if self.snapshot else ""))
        attrs = ", ".join(self.attributes[:14]) + (" ..." if len(self.attributes) > 14 else "")
        lines.append(f"  attributes: {attrs or 'none'}")
        if self.events:
            top = sorted(self.event_types.items(), key=lambda kv: -kv[1])[:8]
            lines.append(f"  events:   {self.events:,} (" + ", ".join(f"{k} {v:,}" for k, v in top)
                         + (" ..." if len(self.event_types) > 8 else "") + ")")
        else:
            lines.append("  events:   none")
        lines.append("  outcomes: " + (", ".join(f"{k} {v:,}" for k, v in self.outcomes.items())
                                       or "none"))
        if self.excluded:
            lines.append("  left out:")
            for col, why in self.excluded.items():
                lines.append(f"    - {col}: {why}")
        for n in self.notes:
            lines.append(f"  note: {n}")
        for w in self.warnings:
            lines.append(f"  warning: {w}")
        return "\n".join(lines)


def import_export(fmt: str, src, out, *, mapping=None, options: ImportOptions | dict | None = None,
                  table_format: str = "csv", force: bool = False) -> ImportResult:
    """Turn an export into a calib data set folder and check it loads.

    The tables are validated before anything is written (an invalid export writes
    nothing), written atomically, then read back with :func:`calib.data.load_dataset`.

    Parameters
    ----------
    fmt : str
        One of :data:`FORMATS`.
    src : str or Path
        The export file, or a folder holding its files.
    out : str or Path
        The data set folder to write.
    mapping, options
        As for :func:`read_tables`.
    table_format : {"csv", "parquet"}, default "csv"
        The format of the tables written.
    force : bool, default False
        Replace the table files of a non-empty ``out``.

    Returns
    -------
    ImportResult
        What was read, written and left out.

    Examples
    --------
    >>> from pathlib import Path
    >>> rows = ["Record ID,Create Date,Became a Marketing Qualified Lead Date",
    ...         "1,2025-01-06 09:14,2025-01-08 10:02", "2,2025-01-07 13:30,"]
    >>> _ = Path("hubspot-contacts.csv").write_text("\\n".join(rows) + "\\n")
    >>> res = import_export("hubspot", "hubspot-contacts.csv", "hubspot-data")
    >>> res.leads, res.outcomes
    (2, {'mql': 1})
    """
    from calib.importers.base import write_dataset_folder

    tables = read_tables(fmt, src, mapping, options)
    to_dataset(tables)  # validate before writing anything
    files = write_dataset_folder(tables, Path(out), fmt=table_format, force=force)
    ds = load_dataset(out)
    return result_of(tables, ds, out=str(out), table_format=table_format, files=files)


def result_of(tables: ExportTables, ds: Dataset, *, out: str, table_format: str,
              files: dict) -> ImportResult:
    """The :class:`ImportResult` of tables written and read back.

    Parameters
    ----------
    tables : ExportTables
        What the importer read.
    ds : Dataset
        The data set read back from ``out``.
    out : str
        The data set folder.
    table_format : str
        ``"csv"`` or ``"parquet"``.
    files : dict
        Table name to the file written.

    Returns
    -------
    ImportResult

    Examples
    --------
    >>> tables = read_tables("generic", "calib-demo/data")
    >>> res = result_of(tables, to_dataset(tables), out="calib-demo/data", table_format="csv",
    ...                 files={})
    >>> res.events
    37833
    """
    counts = ds.outcomes["outcome"].value_counts()
    order = [o for o in ("mql", "sql", "meeting", "opportunity", "won", "lost", "disqualified")
             if counts.get(o, 0)] + sorted(o for o in counts.index if o not in
                                           ("mql", "sql", "meeting", "opportunity", "won",
                                            "lost", "disqualified") and counts[o])
    ev = ds.events["event_type"].value_counts()
    return ImportResult(
        format=tables.format, sources=tuple(os.path.relpath(s) if not os.path.isabs(str(s))
                                            else str(s) for s in tables.sources),
        out=str(out), table_format=table_format, files=files, leads=ds.n_leads,
        events=len(ds.events), outcomes={str(o): int(counts[o]) for o in order},
        event_types={str(k): int(v) for k, v in ev.items() if v},
        snapshot=ds.snapshot, start=ds.start_of_data,
        end=ds.leads["created_at"].max() if "created_at" in ds.leads else None,
        attributes=tuple(c for c in ds.leads.columns if c not in ("lead_id", "created_at")),
        excluded=dict(tables.excluded), renamed=dict(tables.renamed), notes=tuple(tables.notes),
        warnings=tuple(ds.warnings))
