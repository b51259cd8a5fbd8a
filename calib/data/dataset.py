"""Loading and validating a data set (SPEC section 1).

A data set is a folder with ``leads``, ``events`` (optional) and ``outcomes`` tables as
CSV or Parquet, and optionally ``assignments``. :func:`load_dataset` reads it, applies a
column mapping, converts timestamps to UTC, checks everything lazily (every problem of
every table is reported at once) and returns a :class:`Dataset` whose lead ids and event
types are integer codes, so tens of millions of events fit in memory (14 bytes an event).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from calib.data._arrow import (ArrowEvents, arrow_text, categorical, encode_events, match_ids,
                               match_ids_of, read_events, text_codes)
from calib.data._read import EXTENSIONS, check_utf8, find_file, read_file
from calib.data._sort import order_by_lead_time
from calib.data.mapping import SPEC_COLUMNS, TABLES, ColumnMapping
from calib.errors import DataError, Problem

SALES_OUTCOMES = ("mql", "sql", "meeting", "opportunity", "won", "lost", "disqualified")
MAX_ROWS_SHOWN = 3
UTC_NS = "datetime64[ns, UTC]"
NAT = np.iinfo(np.int64).min  # how numpy and pandas store a missing timestamp
COUNT_ROWS = 1 << 16  # events counted at a time for the warnings
# the columns read as text (and, after the first, dictionary-encoded) in each table
ID_COLUMNS = {"leads": ("lead_id",), "events": ("lead_id", "event_type"),
              "outcomes": ("lead_id", "outcome"), "assignments": ("lead_id", "arm")}


@dataclass(frozen=True, eq=False)
class Dataset:
    """A validated data set.

    Attributes
    ----------
    leads : DataFrame
        One row per lead; the row position is the lead's integer code. Columns
        ``lead_id`` (string), ``created_at`` (UTC; absent for snapshots) and every
        attribute column of the file.
    events : DataFrame
        ``lead`` (int32 code), ``occurred_at`` (UTC), ``event_type`` (categorical),
        sorted by lead then time. Empty when the data set has no events table.
    outcomes : DataFrame
        ``lead`` (int32), ``outcome`` (categorical), ``occurred_at`` (UTC; absent for
        snapshots) and ``amount`` (float, NaN when not given).
    assignments : DataFrame or None
        ``lead``, ``arm`` (categorical), ``assigned_at`` (UTC or absent).
    snapshot : bool
        True when leads have no ``created_at`` or outcomes no ``occurred_at``.
    end_of_data : Timestamp or None
        The latest timestamp in any table.
    path : str
        The folder the data set was read from.
    files : dict
        The file each table was read from.
    warnings : tuple of str
        What the user should know about a valid data set (leads without events, ...).

    Examples
    --------
    >>> ds = load_dataset("calib-demo/data")
    >>> ds.events.dtypes["lead"], ds.snapshot
    (dtype('int32'), False)
    """

    leads: pd.DataFrame
    events: pd.DataFrame
    outcomes: pd.DataFrame
    assignments: pd.DataFrame | None = None
    path: str = ""
    snapshot: bool = False
    end_of_data: pd.Timestamp | None = None
    files: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def n_leads(self) -> int:
        """The number of leads (lead codes run from 0 to ``n_leads - 1``)."""
        return len(self.leads)

    @property
    def event_types(self) -> tuple[str, ...]:
        """The event types of the events table, sorted."""
        return tuple(self.events["event_type"].cat.categories)

    @property
    def outcome_types(self) -> tuple[str, ...]:
        """The outcome types that occur at least once, sorted."""
        present = self.outcomes["outcome"].value_counts()
        return tuple(str(c) for c in self.outcomes["outcome"].cat.categories if present[c] > 0)

    @property
    def start_of_data(self) -> pd.Timestamp | None:
        """The first lead's creation time (None for a snapshot)."""
        if "created_at" not in self.leads:
            return None
        return self.leads["created_at"].min()

    def lead_ids(self, codes) -> np.ndarray:
        """The original ``lead_id`` strings of integer lead codes.

        Parameters
        ----------
        codes : array-like of int
            Lead codes (row positions in :attr:`leads`).

        Returns
        -------
        ndarray
            The ids, in the order of ``codes``.

        Examples
        --------
        >>> ds = load_dataset("calib-demo/data")
        >>> list(ds.lead_ids([0, 1])) == list(ds.leads["lead_id"][:2])
        True
        """
        return self.leads["lead_id"].to_numpy()[np.asarray(codes)]

    def first_outcomes(self) -> pd.DataFrame:
        """The first occurrence of each outcome per lead (the one that counts).

        Returns
        -------
        DataFrame
            :attr:`outcomes` without later repeats of an outcome of a lead.

        Examples
        --------
        >>> ds = load_dataset("calib-demo/data")
        >>> first = ds.first_outcomes()
        >>> bool(first.duplicated(["lead", "outcome"]).any())
        False
        """
        o = self.outcomes
        if "occurred_at" in o:
            o = o.sort_values(["lead", "occurred_at"], kind="stable")
        return o.drop_duplicates(["lead", "outcome"], keep="first").reset_index(drop=True)

    def subset(self, lead_codes) -> "Dataset":
        """The data set restricted to some leads, re-coded from 0 (used for partitions).

        Parameters
        ----------
        lead_codes : array-like of int
            The leads to keep; their new codes are their positions here.

        Returns
        -------
        Dataset
            Every table restricted to those leads, events sorted by lead then time.

        Examples
        --------
        >>> ds = load_dataset("calib-demo/data")
        >>> part = ds.subset([5, 3])
        >>> part.n_leads, list(part.lead_ids([0, 1])) == list(ds.lead_ids([5, 3]))
        (2, True)
        """
        codes = np.asarray(lead_codes)
        remap = np.full(len(self.leads), -1, dtype=np.int64)
        remap[codes] = np.arange(len(codes))

        def take(df):
            if df is None:
                return None
            new = remap[df["lead"].to_numpy()]
            keep = new >= 0
            out = df.loc[keep].copy()
            out["lead"] = new[keep].astype(np.int32)
            return out.reset_index(drop=True)

        return Dataset(
            leads=self.leads.iloc[codes].reset_index(drop=True),
            events=take(self.events).sort_values(["lead", "occurred_at"], kind="stable")
            .reset_index(drop=True),
            outcomes=take(self.outcomes), assignments=take(self.assignments),
            path=self.path, snapshot=self.snapshot, end_of_data=self.end_of_data,
            files=self.files, warnings=self.warnings,
        )


# ---------------------------------------------------------------------------- checks
def _rows(df: pd.DataFrame, mask, columns) -> tuple:
    idx = np.flatnonzero(np.asarray(mask))[:MAX_ROWS_SHOWN]
    out = []
    for i in idx:
        row = {"row": int(i) + 2}  # +2: header line, 1-based
        for c in columns:
            v = df[c].iloc[i]
            row[c] = None if pd.isna(v) else (v.item() if hasattr(v, "item") else v)
        out.append(row)
    return tuple(out)


def _drop_out_of_range(parsed: pd.Series, df: pd.DataFrame, table: str, column: str,
                       problems: list) -> pd.Series:
    """Timestamps calib cannot hold (before 1677-09-22 or after 2262-04-11, nanoseconds
    since 1970 in 64 bits) reported as a problem with their rows, and set missing."""
    bad = _out_of_range(parsed.array)
    if not bad.any():
        return parsed
    problems.append(Problem(table, "timestamp_out_of_range",
                            f"{int(bad.sum())} value(s) are before 1677-09-22 or after "
                            f"2262-04-11, outside the dates calib can hold",
                            column=column, count=int(bad.sum()),
                            rows=_rows(df, bad, [column])))
    return parsed.mask(bad)


def _out_of_range(stamps: pd.arrays.DatetimeArray) -> np.ndarray:
    """Which timestamps lie outside what 64-bit nanoseconds hold, compared as integers
    in the column's own unit (pandas compares mixed units value by value, several
    times slower); the bounds are rounded inwards, so the test is exact."""
    per_unit = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[stamps.unit]
    lo = -(-pd.Timestamp.min.value // per_unit)  # ceiling division
    hi = pd.Timestamp.max.value // per_unit
    values = stamps.asi8
    return (values != NAT) & ((values < lo) | (values > hi))


def parse_timestamps(df: pd.DataFrame, table: str, column: str, problems: list,
                     allow_missing: bool = False) -> pd.Series | None:
    """A column as UTC timestamps (offsets converted, naive values UTC).

    Parameters
    ----------
    df : DataFrame
        The table.
    table, column : str
        The table's name (for problems) and the column to parse.
    problems : list of Problem
        Values that are not ISO 8601, outside the dates calib can hold and (unless
        ``allow_missing``) missing in a partly filled column are added here with a
        few offending rows.
    allow_missing : bool, optional
        Accept missing values without a problem.

    Returns
    -------
    Series
        ``datetime64[ns, UTC]``, NaT where the value is missing or bad.

    Examples
    --------
    >>> problems = []
    >>> df = pd.DataFrame({"at": ["2025-01-01T10:00:00+02:00", "soon"]})
    >>> parse_timestamps(df, "leads", "at", problems).iloc[0]
    Timestamp('2025-01-01 08:00:00+0000', tz='UTC')
    >>> [p.code for p in problems]
    ['unparseable_timestamp']
    """
    raw = df[column]
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        parsed = raw.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(raw.dtype):
        parsed = raw.dt.tz_localize("UTC")
    else:
        text = raw.astype("string").str.strip()
        text = text.mask(text == "")
        parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
        bad = text.notna() & parsed.isna()
        if bad.any():
            problems.append(Problem(table, "unparseable_timestamp",
                                    f"{int(bad.sum())} value(s) are not ISO 8601 timestamps",
                                    column=column, count=int(bad.sum()),
                                    rows=_rows(df, bad, [column])))
    parsed = _drop_out_of_range(parsed, df, table, column, problems).astype(UTC_NS)
    missing = raw.isna() if not isinstance(raw.dtype, pd.StringDtype) else raw.isna() | (raw.str.strip() == "")
    if not allow_missing and missing.any() and not missing.all():
        problems.append(Problem(table, "missing_timestamp",
                                f"{int(missing.sum())} row(s) have no {column}",
                                column=column, count=int(missing.sum()),
                                rows=_rows(df, missing, ["lead_id"] if "lead_id" in df else [])))
    return parsed


def load_dataset(path: str | os.PathLike,
                 mapping: ColumnMapping | dict | None = None, *,
                 cache: bool | None = None) -> Dataset:
    """Load, validate and encode a data set folder.

    Parameters
    ----------
    path : str or Path
        A folder holding ``leads``, ``events`` (optional), ``outcomes`` and optionally
        ``assignments`` as ``.csv`` or ``.parquet``.
    mapping : ColumnMapping or dict, optional
        File names and column names when the export's differ from calib's.
    cache : bool, optional
        Reuse (and keep) the loaded form in calib's cache folder, so that only the
        first load of unchanged files reads and validates them (see
        :mod:`calib.data.cache`). Default: on, unless ``CALIB_NO_CACHE=1``.

    Returns
    -------
    Dataset
        The validated data set, lead ids and event types as integer codes.

    Raises
    ------
    DataError
        With every problem found in every table (``error.problems``; reason codes in
        ``error.codes``).

    Examples
    --------
    >>> from calib import load_dataset
    >>> ds = load_dataset("calib-demo/data")
    >>> ds.n_leads, ds.event_types[:2]
    (2000, ('blog_view', 'careers_page_view'))
    """
    folder = Path(path)
    if not isinstance(mapping, ColumnMapping):
        mapping = ColumnMapping.from_dict(mapping)
    if not folder.is_dir():
        raise DataError(f"The data set folder '{folder}' does not exist.", code="missing_table",
                        problems=[Problem(str(folder), "missing_table", "no such folder")])
    cached = _cache_entry(folder, mapping, cache)
    if cached is not None:
        ds = cached.read(str(folder), _source_files(folder, mapping))
        if ds is not None:
            return ds
    raw, files, problems = _read_tables(folder, mapping)
    if problems:
        _raise(folder, problems)
    _unguard_ids(raw, files)
    ds = _build(raw, str(folder), files)
    if cached is not None:
        cached.write(ds)
    return ds


# ---------------------------------------------------------------------------- reading
def _file_problem(folder: Path, table: str, mapping: ColumnMapping, f: Path) -> Problem | None:
    """A table file calib must not guess about: two files for one table (a stale copy),
    a folder where a CSV file should be, a file that cannot be opened, or a header
    naming one column twice."""
    if table not in mapping.files:
        found = [p.name for p in (folder / f"{table}{ext}" for ext in EXTENSIONS)
                 if p.exists()]
        if len(found) > 1:
            return Problem(table, "ambiguous_table",
                           f"both {' and '.join(found)} are in {folder}; calib will not guess "
                           f"which one is current: remove or rename the stale one")
    if f.is_dir() and f.suffix != ".parquet":
        return Problem(table, "unreadable_file", f"{f.name} is a folder, not a file")
    if f.is_dir():
        return None
    try:
        with open(f, "rb") as fh:
            head = fh.read(1 << 16)
    except OSError as e:
        return Problem(table, "unreadable_file", f"{f.name} cannot be read: {e.strerror or e}")
    if f.suffix == ".parquet":
        try:
            names = list(pq.read_schema(f).names)
        except Exception as e:  # noqa: BLE001 - a damaged file is the user's file
            return Problem(table, "unreadable_file", f"{f.name} is not a readable Parquet file "
                           f"({type(e).__name__})")
    else:
        names = _csv_header(f, head)
    seen = {}
    for i, c in enumerate(names):
        if c in seen and c:  # blank names (trailing commas) are the reader's to number
            return Problem(table, "duplicate_column",
                           f"{f.name}: the header names column '{c}' twice (columns "
                           f"{seen[c] + 1} and {i + 1}); rename or remove one", column=c)
        seen[c] = i
    return None


def _csv_header(f: Path, head: bytes) -> list[str]:
    """The column names on the first line of a (possibly gzipped) CSV file."""
    import csv
    import gzip

    if f.suffix == ".gz":
        try:
            with gzip.open(f, "rb") as fh:
                head = fh.read(1 << 16)
        except (OSError, EOFError):
            head = b""  # the reader reports a damaged file
    line = head.decode("utf-8", "replace").lstrip("\ufeff").splitlines()[:1]
    return [c.strip() for c in next(csv.reader(line), [])] if line else []


def _read_tables(folder: Path, mapping: ColumnMapping) -> tuple[dict, dict, list[Problem]]:
    """(tables, files, problems) of a data set folder: each table read and mapped (the
    events as :class:`~calib.data._arrow.ArrowEvents` when Arrow reads them), the file
    of each table, and every problem found in any file."""
    problems: list[Problem] = []
    raw, files = {}, {}
    for table in TABLES:
        f = find_file(folder, table, mapping)
        if f is None or not f.exists():
            if table in ("leads", "outcomes") or table in mapping.files:
                name = mapping.files.get(table, f"{table}.csv or {table}.parquet")
                problems.append(Problem(table, "missing_table", f"no file {name} in {folder}"))
            continue
        files[table] = str(f)
        df = _read_table(folder, f, table, mapping, problems)
        if df is None:
            continue
        problems += _mapping_problems(df.columns, table, mapping, f)
        if isinstance(df, ArrowEvents):
            df = df.select(mapping.exclude.get(table, ()), mapping.renames(table))
        else:
            df = df.drop(columns=[c for c in mapping.exclude.get(table, ())
                                  if c in df.columns])
            df = df.rename(columns=mapping.renames(table))
        raw[table] = df
    return raw, files, problems


def _read_table(folder: Path, f: Path, table: str, mapping: ColumnMapping, problems: list):
    """One table file read (a DataFrame, or ArrowEvents for the events), or None with
    its problem added."""
    p = _file_problem(folder, table, mapping, f)
    if p is not None:
        problems.append(p)
        return None
    id_cols = [mapping.source_column(table, c) for c in ID_COLUMNS[table]]
    try:  # Arrow checks the text it reads: an events file it reads needs no UTF-8 pass
        df = (read_events(f, id_cols, mapping.exclude.get(table, ()), mapping.renames(table))
              if table == "events" else None)
    except Exception as e:  # noqa: BLE001 - any reader failure is the user's file
        problems.append(Problem(table, "unreadable_file", f"{f.name} cannot be read: {e}"))
        return None
    if df is not None:
        return df
    if f.suffix != ".parquet":
        p = check_utf8(f)
        if p is not None:
            problems.append(Problem(table, p.code, f"{f.name}: {p.message}"))
            return None
    try:
        return read_file(f, id_cols, dictionary=id_cols[1:])
    except Exception as e:  # noqa: BLE001 - any reader failure is the user's file
        problems.append(Problem(table, "unreadable_file", f"{f.name} cannot be read: {e}"))
        return None


def _mapping_problems(columns, table: str, mapping: ColumnMapping, f: Path) -> list[Problem]:
    """The mapping must name columns that exist."""
    out = []
    for calib_col, src in mapping.columns.get(table, {}).items():
        if src not in columns:
            out.append(Problem(table, "mapping_missing_column",
                               f"the mapping names column '{src}' (for '{calib_col}') "
                               f"but {f.name} has no such column; it has: "
                               f"{', '.join(map(str, columns[:12]))}", column=src))
    for c in mapping.exclude.get(table, ()):
        if c not in columns:
            out.append(Problem(table, "mapping_missing_column",
                               f"[exclude] names column '{c}' but {f.name} has no "
                               f"such column", column=c))
    return out


def _source_files(folder: Path, mapping: ColumnMapping) -> dict[str, str]:
    """The file each table is read from (as ``Dataset.files``), existing ones only."""
    found = {t: find_file(folder, t, mapping) for t in TABLES}
    return {t: str(f) for t, f in found.items() if f is not None and f.exists()}


def _cache_entry(folder: Path, mapping: ColumnMapping, cache: bool | None):
    """The data-set cache entry for these files and this mapping, or None (cache
    turned off, or files that cannot be fingerprinted)."""
    from calib import __version__
    from calib.data import cache as _cache

    if not _cache.enabled(cache):
        return None
    return _cache.entry(folder, mapping.to_dict(), _source_files(folder, mapping), __version__)


def _unguard_ids(raw: dict, files: dict) -> None:
    """Lead ids and arms read back from CSV files calib wrote (``calib import``,
    ``calib assign``) as they were: CSV output guards text such as ``=A1`` against
    spreadsheet formulas with a leading apostrophe. Only when the leads table has such
    ids (or the assignments table such arms) is anything changed, so ordinary data
    costs one pass over the lead ids."""
    from calib.io import unneutralise_text

    def guarded(s: pd.Series) -> bool:
        return bool(s.astype("string").str.startswith("'").fillna(False).any())

    csv = {t for t, f in files.items() if not str(f).endswith(".parquet")}
    leads = raw.get("leads")
    ids = leads is not None and "leads" in csv and "lead_id" in leads and guarded(
        leads["lead_id"])
    for table in list(raw):
        if table not in csv:
            continue
        cols = (["lead_id"] if ids else []) + (["arm"] if table == "assignments" else [])
        if cols and isinstance(raw[table], ArrowEvents):
            raw[table] = raw[table].to_pandas()
        df = raw[table]
        for c in cols:
            if c in df and (c == "lead_id" or guarded(df[c])):
                fixed = unneutralise_text(df[c])
                df[c] = fixed.astype("category") if isinstance(
                    df[c].dtype, pd.CategoricalDtype) else fixed


def from_frames(leads: pd.DataFrame, events: pd.DataFrame | None = None,
                outcomes: pd.DataFrame | None = None, assignments: pd.DataFrame | None = None,
                *, name: str = "<frames>") -> Dataset:
    """Validate and encode a data set held in pandas DataFrames.

    Parameters
    ----------
    leads, events, outcomes, assignments : DataFrame
        The tables, with the columns of SPEC section 1; ``events`` and
        ``assignments`` are optional, ``outcomes`` is required.
    name : str, optional
        How error messages name the data set.

    Returns
    -------
    Dataset
        Checked and encoded as :func:`load_dataset` does.

    Raises
    ------
    DataError
        With every problem found in every table, as ``calib validate`` lists them for
        files (the messages name ``name`` instead of a file).

    Examples
    --------
    >>> ds = from_frames(pd.DataFrame({"lead_id": ["a"], "created_at": ["2025-01-01"]}),
    ...                  outcomes=pd.DataFrame({"lead_id": ["a"], "outcome": ["won"],
    ...                                         "occurred_at": ["2025-02-01"]}))
    >>> ds.n_leads
    1
    """
    raw = {"leads": leads, "outcomes": outcomes}
    if events is not None:
        raw["events"] = events
    if assignments is not None:
        raw["assignments"] = assignments
    if outcomes is None:
        _raise(name, [Problem("outcomes", "missing_table", "no outcomes table given")])
    return _build({k: v.reset_index(drop=True) for k, v in raw.items()}, name, {})


# ---------------------------------------------------------------------------- encoding
def _build(raw: dict, folder: str, files: dict) -> Dataset:
    """Check and encode the tables read from a data set: every problem of every table
    is collected before raising; a valid data set gets its warnings."""
    undated = _undated(raw["leads"], raw["outcomes"])
    _check_shape(raw, undated, folder)
    problems: list[Problem] = []
    leads = _strip_ids(raw["leads"])
    lead_keys = arrow_text(leads["lead_id"])  # duplicates are reported; the first counts
    found = _look_up_ids(raw, lead_keys, leads["lead_id"])
    leads = _encode_leads(leads, problems, found["leads"])
    events, events_sorted = _encode_events(raw.get("events"), lead_keys, len(leads),
                                           undated, problems, found.get("events"))
    outcomes = _encode_outcomes(raw["outcomes"], lead_keys, problems, found.get("outcomes"))
    assignments = raw.get("assignments")
    if assignments is not None:
        assignments = _encode_assignments(assignments, lead_keys, problems,
                                          found.get("assignments"))
    if problems:
        _raise(folder, problems)
    if not events_sorted:
        order = order_by_lead_time(events["lead"].to_numpy(), ns(events["occurred_at"]),
                                   len(leads))
        if not (order == np.arange(len(order))).all():
            events = events.take(order).reset_index(drop=True)
    snapshot = "created_at" not in leads or "occurred_at" not in outcomes
    return Dataset(leads=leads.reset_index(drop=True), events=events, outcomes=outcomes,
                   assignments=assignments, path=folder, snapshot=snapshot,
                   end_of_data=_end_of_data(leads, events, outcomes, assignments),
                   files=files, warnings=_warnings(leads, events, outcomes, snapshot))


def _undated(leads: pd.DataFrame, outcomes: pd.DataFrame) -> bool:
    """True for a snapshot: leads without creation times or outcomes without dates."""
    return bool("created_at" not in leads or leads["created_at"].isna().all()
                or "occurred_at" not in outcomes or outcomes["occurred_at"].isna().all())


def _check_shape(raw: dict, undated: bool, folder: str) -> None:
    """Raise for missing required columns and empty tables (nothing else can be
    checked without them). Events read by Arrow become a DataFrame when a column is
    missing, so that the message lists the file's columns as for any table."""
    # a snapshot's events may be undated (a list of what each lead did)
    required = {"leads": ("lead_id",), "outcomes": ("lead_id", "outcome"),
                "events": (("lead_id", "event_type") if undated
                           else ("lead_id", "occurred_at", "event_type")),
                "assignments": ("lead_id", "arm")}
    events = raw.get("events")
    if isinstance(events, ArrowEvents) and not (
            events.encodable and all(c in events.columns for c in required["events"])):
        raw["events"] = events.to_pandas()
    problems = []
    for table, df in raw.items():
        for c in [c for c in required[table] if c not in df.columns]:
            problems.append(Problem(table, "missing_column",
                                    f"required column '{c}' is missing; the file has: "
                                    f"{', '.join(map(str, df.columns[:12]))}", column=c))
        if len(df) == 0:
            problems.append(Problem(table, "empty_table", "the table has no rows"))
    if problems:
        _raise(folder, problems)


def _strip_ids(leads: pd.DataFrame) -> pd.DataFrame:
    """A copy of the leads with their ids as text without surrounding blanks."""
    leads = leads.copy()
    leads["lead_id"] = leads["lead_id"].astype("string").str.strip()
    return leads


def _encode_leads(leads: pd.DataFrame, problems: list, own: np.ndarray) -> pd.DataFrame:
    """The leads (ids stripped) with UTC creation times (the column dropped for a
    snapshot); missing and duplicate ids reported. ``own``: where each id was found
    among the lead keys, the ids stripped once more (:func:`_look_up_ids`)."""
    null_id = leads["lead_id"].isna() | (leads["lead_id"] == "")
    if null_id.any():
        problems.append(Problem("leads", "missing_value", f"{int(null_id.sum())} row(s) have no "
                                "lead_id", column="lead_id", count=int(null_id.sum()),
                                rows=_rows(leads, null_id, ["lead_id"])))
    if np.array_equal(own, np.arange(len(own))):
        # each id found at its own row: the keys, so the ids, are distinct (the lookup
        # of the other tables' ids hashed them; pandas only to name duplicates)
        dup = np.zeros(len(own), bool)
    else:  # duplicates, or ids that differ from their keys: pandas decides
        dup = leads["lead_id"].duplicated(keep=False) & ~null_id
    if dup.any():
        problems.append(Problem("leads", "duplicate_lead_id",
                                f"{int(leads['lead_id'][dup].nunique())} lead_id value(s) occur "
                                "more than once", column="lead_id", count=int(dup.sum()),
                                rows=_rows(leads, dup, ["lead_id"])))
    if "created_at" in leads and not leads["created_at"].isna().all():
        leads["created_at"] = parse_timestamps(leads, "leads", "created_at", problems)
    else:
        leads = leads.drop(columns=["created_at"], errors="ignore")
    return leads


def _look_up_ids(raw: dict, lead_keys: pa.Array, lead_ids: pd.Series) -> dict[str, np.ndarray]:
    """{table: positions of its ids in ``lead_keys``} of the leads' own ``lead_ids``,
    of the events read by Arrow and of the outcomes and assignments whose ids are
    plain text, looked up together: each lookup hashes all the leads' ids again
    (20-35 ms for 200k leads, about 130 ms for 1M), longer than looking up 200k
    outcomes."""
    columns = {"leads": lead_ids}
    events = raw.get("events")
    if isinstance(events, ArrowEvents) and "lead_id" in events.table.column_names:
        ids = events.table.column("lead_id")
        if pa.types.is_string(ids.type) and not ids.null_count:  # else not encoded by Arrow
            columns["events"] = ids
    for table in ("outcomes", "assignments"):
        df = raw.get(table)
        if (df is not None and "lead_id" in df
                and not isinstance(df["lead_id"].dtype, pd.CategoricalDtype)):
            columns[table] = df["lead_id"]
    return dict(zip(columns, match_ids_of(list(columns.values()), lead_keys)))


def _lead_codes(df: pd.DataFrame, table: str, lead_keys: pa.Array,
                problems: list, found: np.ndarray | None = None) -> np.ndarray:
    """The int32 lead codes of a table's ``lead_id`` column (-1 and a problem for ids
    that are not in the leads table); ``found``: its ids already looked up."""
    s = df["lead_id"]
    if found is not None:
        codes = found
    elif isinstance(s.dtype, pd.CategoricalDtype):
        row_codes, values = text_codes(s)
        known = pc.index_in(values, value_set=lead_keys).fill_null(-1).to_numpy(
            zero_copy_only=False)
        codes = np.where(row_codes >= 0, known[np.maximum(row_codes, 0)] if len(known)
                         else -1, -1)
    else:
        codes = match_ids(arrow_text(s, trim=False), lead_keys)
    unknown = codes < 0
    if unknown.any():
        problems.append(Problem(table, "unknown_lead",
                                f"{int(unknown.sum())} row(s) refer to a lead_id that is not "
                                "in the leads table", column="lead_id", count=int(unknown.sum()),
                                rows=_rows(df, unknown, ["lead_id"])))
    return codes.astype(np.int32)


def _encode_events(events, lead_keys: pa.Array, n_leads: int, undated: bool,
                   problems: list, found: np.ndarray | None = None
                   ) -> tuple[pd.DataFrame, bool]:
    """(encoded events, whether they are sorted yet). Events read by Arrow are encoded
    without pandas when every row is valid (``found``: their ids already looked up);
    otherwise (and for frames) the pandas checks below report each problem with its
    rows."""
    if events is None:
        return pd.DataFrame({"lead": np.zeros(0, np.int32),
                             "occurred_at": pd.Series([], dtype=UTC_NS),
                             "event_type": pd.Categorical([])}), False
    if isinstance(events, ArrowEvents):
        fast = encode_events(events.table, lead_keys, n_leads, found)
        if fast is not None:
            return fast, True
        events = events.to_pandas()
    ev_codes = _lead_codes(events, "events", lead_keys, problems)
    if "occurred_at" in events and not (undated and events["occurred_at"].isna().all()):
        ev_time = parse_timestamps(events, "events", "occurred_at", problems)
    else:
        ev_time = pd.Series(pd.NaT, index=events.index, dtype=UTC_NS)
    et_codes, et_values = text_codes(events["event_type"])
    empty = pc.fill_null(pc.equal(et_values, ""), True).to_numpy(zero_copy_only=False)
    bad_type = (et_codes < 0) | (empty[np.maximum(et_codes, 0)] if len(empty) else True)
    if bad_type.any():
        problems.append(Problem("events", "missing_value", f"{int(bad_type.sum())} row(s) have "
                                "no event_type", column="event_type", count=int(bad_type.sum()),
                                rows=_rows(events, bad_type, ["lead_id", "event_type"])))
    return pd.DataFrame({"lead": ev_codes, "occurred_at": ev_time,
                         "event_type": categorical(et_codes, et_values)}), False


def _encode_outcomes(outcomes: pd.DataFrame, lead_keys: pa.Array, problems: list,
                     found: np.ndarray | None = None) -> pd.DataFrame:
    """Outcomes as lead codes, lower-case outcome names, UTC times (absent for a
    snapshot) and amounts (NaN when not given), extra columns kept; ``found``: the
    ids already looked up."""
    out_codes = _lead_codes(outcomes, "outcomes", lead_keys, problems, found)
    names = _clean_categories(outcomes["outcome"], _outcome_name)
    if names is None:  # text, or a missing or blank name: checked row by row
        oc = _outcome_name(outcomes["outcome"])
        bad_oc = oc.isna() | (oc == "")
        if bad_oc.any():
            problems.append(Problem("outcomes", "missing_value", f"{int(bad_oc.sum())} row(s) "
                                    "have no outcome", column="outcome", count=int(bad_oc.sum()),
                                    rows=_rows(outcomes, bad_oc, ["lead_id", "outcome"])))
        names = pd.Categorical(oc.astype(str))
    new_out = pd.DataFrame({"lead": out_codes, "outcome": names})
    if "occurred_at" in outcomes and not outcomes["occurred_at"].isna().all():
        new_out["occurred_at"] = parse_timestamps(outcomes, "outcomes", "occurred_at",
                                                  problems).reset_index(drop=True)
    new_out["amount"] = (_amounts(outcomes, problems) if "amount" in outcomes else np.nan)
    for c in [c for c in outcomes.columns if c not in SPEC_COLUMNS["outcomes"]]:
        new_out[c] = outcomes[c].to_numpy()
    return new_out


def _outcome_name(s: pd.Series) -> pd.Series:
    """Outcome names as calib compares them: without surrounding blanks, lower case."""
    return s.astype("string").str.strip().str.lower()


def _arm_name(s: pd.Series) -> pd.Series:
    """Arm names without surrounding blanks."""
    return s.astype("string").str.strip()


def _clean_categories(s: pd.Series, clean, blank_ok: bool = False) -> pd.Categorical | None:
    """A categorical text column (as read, one dictionary per column) cleaned by
    ``clean`` category by category: the Categorical ``pd.Categorical(clean(s).astype(str))``
    builds row by row, at the cost of the few distinct values. None when the column is
    not categorical or a value is missing (or, unless ``blank_ok``, blank once
    cleaned): the row-by-row path then reports those rows."""
    if not isinstance(s.dtype, pd.CategoricalDtype):
        return None
    codes = s.cat.codes.to_numpy()
    if len(codes) and codes.min() < 0:
        return None
    used = np.bincount(codes, minlength=len(s.cat.categories)) > 0
    cleaned = clean(pd.Series(s.cat.categories[used]))
    if cleaned.isna().any() or (not blank_ok and (cleaned == "").any()):
        return None
    # distinct categories may coincide once cleaned: Categorical merges them as it
    # would for the rows, and its categories come out sorted as they would
    few = pd.Categorical(cleaned.astype(str))
    to_few = np.full(len(used), -1, dtype=np.int64)
    to_few[used] = few.codes
    return pd.Categorical.from_codes(to_few[codes], dtype=few.dtype, validate=False)


def _amounts(outcomes: pd.DataFrame, problems: list) -> np.ndarray:
    """The ``amount`` column as floats; text, infinite and negative amounts reported."""
    amt_raw = outcomes["amount"]
    amt = pd.to_numeric(amt_raw, errors="coerce")
    bad_num = amt.isna() & amt_raw.notna()
    if bad_num.any():  # only text can fail to convert: blank text is a missing amount
        bad_num &= amt_raw.astype("string").str.strip() != ""
    bad_num |= np.isinf(amt.astype(float)).fillna(False)  # "inf", "1e309": not an amount
    if bad_num.any():
        problems.append(Problem("outcomes", "invalid_number", f"{int(bad_num.sum())} amount(s) "
                                "are not finite numbers", column="amount", count=int(bad_num.sum()),
                                rows=_rows(outcomes, bad_num, ["lead_id", "amount"])))
    neg = amt < 0
    if neg.any():
        problems.append(Problem("outcomes", "negative_amount", f"{int(neg.sum())} amount(s) are "
                                "negative; amounts must be >= 0", column="amount",
                                count=int(neg.sum()), rows=_rows(outcomes, neg,
                                                                 ["lead_id", "amount"])))
    return amt.astype(float).to_numpy()


def _encode_assignments(assignments: pd.DataFrame, lead_keys: pa.Array, problems: list,
                        found: np.ndarray | None = None) -> pd.DataFrame:
    """Assignments as lead codes, arms and UTC times; a lead assigned twice reported;
    ``found``: the ids already looked up."""
    a_codes = _lead_codes(assignments, "assignments", lead_keys, problems, found)
    arms = _clean_categories(assignments["arm"], _arm_name, blank_ok=True)
    if arms is None:
        arms = pd.Categorical(_arm_name(assignments["arm"]).astype(str))
    new_a = pd.DataFrame({"lead": a_codes, "arm": arms})
    dup_a = pd.Series(a_codes).duplicated(keep=False) & (a_codes >= 0)
    if dup_a.any():
        problems.append(Problem("assignments", "duplicate_lead_id",
                                f"{int(dup_a.sum())} row(s) assign a lead more than once",
                                column="lead_id", count=int(dup_a.sum()),
                                rows=_rows(assignments, dup_a.to_numpy(), ["lead_id", "arm"])))
    if "assigned_at" in assignments and not assignments["assigned_at"].isna().all():
        new_a["assigned_at"] = parse_timestamps(assignments, "assignments", "assigned_at",
                                                problems).reset_index(drop=True)
    return new_a


def _end_of_data(leads, events, outcomes, assignments) -> pd.Timestamp | None:
    """The latest timestamp in any table, or None when nothing is dated."""
    stamps = [events["occurred_at"].max()]
    if "created_at" in leads:
        stamps.append(leads["created_at"].max())
    if "occurred_at" in outcomes:
        stamps.append(outcomes["occurred_at"].max())
    if assignments is not None and "assigned_at" in assignments:
        stamps.append(assignments["assigned_at"].max())
    stamps = [s for s in stamps if not pd.isna(s)]
    return max(stamps) if stamps else None


def _warnings(leads, events, outcomes, snapshot: bool) -> tuple[str, ...]:
    """What a valid data set's user should know: leads without events, activity and
    outcomes before a lead's creation, unknown outcome types, a snapshot."""
    warnings = []
    if len(events):
        created = ns(leads["created_at"]) if "created_at" in leads else None
        n_with, n_before = _event_counts(events["lead"].to_numpy(), ns(events["occurred_at"]),
                                         created)
        n_without = len(leads) - n_with
        if n_without:
            warnings.append(f"{n_without} lead(s) ({n_without / len(leads):.1%}) have no events.")
        if n_before:
            warnings.append(f"{n_before} event(s) ({n_before / len(events):.1%}) happened before "
                            "their lead was created (anonymous activity); they count, decayed, "
                            "from created_at on.")
    unknown_out = sorted(set(outcomes["outcome"].cat.categories) - set(SALES_OUTCOMES))
    if unknown_out:
        warnings.append("Outcome type(s) not among calib's sales outcomes (they are still "
                        f"analysed, but do not count toward coverage): {', '.join(unknown_out)}.")
    if snapshot:
        warnings.append("This is a snapshot data set (no created_at or no outcome dates): each "
                        "lead is evaluated once; windows, 'late' and 'immature' do not apply.")
    if "created_at" in leads and "occurred_at" in outcomes:
        first = outcomes.dropna(subset=["occurred_at"])
        early = ns(first["occurred_at"]) < ns(leads["created_at"])[first["lead"].to_numpy()]
        if early.any():
            warnings.append(f"{int(early.sum())} outcome row(s) happened before their lead was "
                            "created.")
    return tuple(warnings)


def _event_counts(lead: np.ndarray, t: np.ndarray,
                  created: np.ndarray | None) -> tuple[int, int]:
    """(leads with events, events before their lead's ``created`` time; 0 without
    creation times) of events sorted by lead, as the loader leaves them. Counted a
    slice of rows at a time, so that no temporary as long as the events is written:
    the gathered creation times stay in the processor's cache."""
    n_with, n_before, previous = 0, 0, -1
    for lo in range(0, len(lead), COUNT_ROWS):
        part = lead[lo:lo + COUNT_ROWS]
        n_with += int(part[0] != previous) + int(np.count_nonzero(part[1:] != part[:-1]))
        previous = part[-1]
        if created is not None:
            n_before += int(np.count_nonzero(t[lo:lo + COUNT_ROWS] < created[part]))
    return n_with, n_before


def _raise(folder, problems: list[Problem]) -> None:
    n = len(problems)
    raise DataError(
        f"The data set '{folder}' has {n} problem{'s' if n > 1 else ''}:",
        code=problems[0].code,
        problems=problems,
    )


def lead_slices(ds: Dataset, partition_leads: int):
    """Yield contiguous partitions of a data set, ``partition_leads`` leads each.

    Events are sorted by lead, so a partition is a slice of every table: no copy of
    the whole data set, and a lead's events never straddle two partitions.

    Parameters
    ----------
    ds : Dataset
        The data set.
    partition_leads : int
        Leads per partition (the last one may have fewer).

    Yields
    ------
    (int, Dataset)
        The first lead code of the partition and the partition, its leads re-coded
        from 0.

    Examples
    --------
    >>> ds = load_dataset("calib-demo/data")
    >>> [(lo, part.n_leads) for lo, part in lead_slices(ds, 800)]
    [(0, 800), (800, 800), (1600, 400)]
    """
    n = ds.n_leads
    ev_lead = ds.events["lead"].to_numpy()
    out_sorted = ds.outcomes.sort_values("lead", kind="stable")
    out_lead = out_sorted["lead"].to_numpy()
    asg = ds.assignments.sort_values("lead", kind="stable") if ds.assignments is not None else None
    for lo in range(0, max(n, 1), max(partition_leads, 1)):
        hi = min(n, lo + partition_leads)
        e0, e1 = _bounds(ev_lead, lo, hi)
        o0, o1 = _bounds(out_lead, lo, hi)
        # slices share the data set's columns (copy-on-write); only the re-based lead
        # codes are new arrays, so partitioning costs no copy of the tables
        events = _rebase(ds.events.iloc[e0:e1], lo)
        outcomes = _rebase(out_sorted.iloc[o0:o1], lo)
        a = None
        if asg is not None:
            a0, a1 = _bounds(asg["lead"].to_numpy(), lo, hi)
            a = _rebase(asg.iloc[a0:a1], lo).reset_index(drop=True)
        yield lo, Dataset(leads=ds.leads.iloc[lo:hi].reset_index(drop=True),
                          events=events.reset_index(drop=True),
                          outcomes=outcomes.reset_index(drop=True), assignments=a,
                          path=ds.path, snapshot=ds.snapshot, end_of_data=ds.end_of_data,
                          files=ds.files, warnings=ds.warnings)


def _bounds(codes: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Where the sorted lead ``codes`` of leads ``lo`` to ``hi`` start and end (the keys
    in the codes' own type: Python ints would make numpy cast the whole column)."""
    return np.searchsorted(codes, np.array([lo, hi]).astype(codes.dtype))


def _rebase(df: pd.DataFrame, lo: int) -> pd.DataFrame:
    """A slice of a table with lead codes counted from ``lo``."""
    return df.assign(lead=(df["lead"].to_numpy() - lo).astype(np.int32))


def ns_or_never(values) -> np.ndarray:
    """Timestamps as int64 nanoseconds, missing ones as the largest int64.

    Parameters
    ----------
    values : array-like
        Anything pandas reads as datetimes; naive ones are UTC.

    Returns
    -------
    ndarray of int64
        Nanoseconds since 1970, ``calib.engine.replay.NEVER`` where missing.

    Examples
    --------
    >>> ns_or_never(["1970-01-01T00:00:01Z", None])
    array([         1000000000, 9223372036854775807])
    """
    t = pd.DatetimeIndex(pd.to_datetime(pd.Series(values).reset_index(drop=True), utc=True))
    out = t.as_unit("ns").asi8.copy()
    out[t.isna()] = np.iinfo(np.int64).max
    return out


def ns(values) -> np.ndarray:
    """UTC timestamps as int64 nanoseconds.

    Parameters
    ----------
    values : Series, DatetimeIndex or array
        ``datetime64[ns, UTC]`` values (or naive ``datetime64`` read as UTC).

    Returns
    -------
    ndarray of int64
        Nanoseconds since 1970.

    Examples
    --------
    >>> ns(pd.Series(pd.to_datetime(["1970-01-01T00:00:02Z"])))
    array([2000000000])
    """
    if isinstance(values, pd.Series):
        values = values.array
    if isinstance(values, pd.arrays.DatetimeArray) or isinstance(values, pd.DatetimeIndex):
        return np.asarray(values.as_unit("ns").asi8)
    return np.asarray(values).astype("datetime64[ns]").view(np.int64)
