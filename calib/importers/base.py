"""What every importer shares: reading an export, finding its columns, parsing its dates,
turning wide lifecycle dates into outcome rows, checking, and writing a data set folder.

An importer reads a vendor's export *as the vendor documents it* and returns
:class:`ExportTables`: calib's ``leads`` / ``events`` / ``outcomes`` as DataFrames with
calib's column names and UTC timestamps, plus what it did (renamed, excluded and
dropped columns, notes). Nothing here writes to the source: exports are read, never
modified.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Iterable

import numpy as np
import pandas as pd

from calib.data.mapping import TABLES, ColumnMapping
from calib.errors import CalibError, ConfigError, DataError, Problem

MAX_ROWS_SHOWN = 3
IMPORT_MAPPING_KEYS = ("files", "columns", "exclude", "outcome_dates", "outcome_amounts",
                       "timezone", "day_first")
DATA_TABLES = ("leads", "events", "outcomes")
TRUE_TEXT = {"1", "true", "yes", "y", "t", "x"}
FALSE_TEXT = {"0", "false", "no", "n", "f", ""}
# Columns that identify a person. Importers drop them: calib needs none of them, and a
# data set folder gets copied around more casually than a CRM.
PERSONAL = {"email", "email address", "first name", "last name", "full name", "name",
            "phone", "phone number", "mobile", "mobile phone", "mobile phone number",
            "street", "street address", "address", "ip address", "firstname", "lastname",
            "mobilephone", "emailaddress", "linkedin url", "twitter username"}
_OFFSET = re.compile(r"(?:Z|[+-]\d{2}(?::?\d{2})?)$", re.IGNORECASE)
_THOUSANDS = re.compile(r"^-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$")
_MONTH_FIRST = ("%m/%d/%Y %I:%M %p", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y, %I:%M %p",
                "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y", "%m/%d/%y %I:%M %p",
                "%m/%d/%y %H:%M", "%m/%d/%y")
_DAY_FIRST = ("%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %I:%M %p", "%d/%m/%Y",
              "%d.%m.%Y %H:%M", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y", "%d/%m/%y %H:%M", "%d/%m/%y")


def slug(name: str) -> str:
    """A column or activity name as a calib identifier.

    Parameters
    ----------
    name : str
        Any name; runs of characters other than letters and digits become ``_``.

    Returns
    -------
    str
        Lower case; ``"unnamed"`` when nothing is left.

    Examples
    --------
    >>> slug("Number of Pageviews"), slug("Country/Region"), slug("--")
    ('number_of_pageviews', 'country_region', 'unnamed')
    """
    s = re.sub(r"[^0-9a-zA-Z]+", "_", str(name).strip()).strip("_").lower()
    return s or "unnamed"


# ------------------------------------------------------------------ the mapping
@dataclass(frozen=True)
class ImportMapping:
    """A :class:`~calib.data.ColumnMapping` plus what imports need on top of it.

    In TOML (``calib import ... --mapping FILE``)::

        [files]                        # file names inside a source folder
        leads = "contacts.csv"
        [columns.leads]                # calib's column = the export's column
        lead_id = "Contact ID"
        created_at = "Created"
        [exclude]                      # columns never to use (e.g. leaking ones)
        leads = ["Lead Status"]
        [outcome_dates]                # wide dates -> one outcome row per lead and date
        mql = "MQL Date"
        won = "Closed Won Date"
        [outcome_amounts]              # optional amount of an outcome, from a lead column
        won = "Amount"
        timezone = "Europe/Berlin"     # zone of timestamps written without an offset
        day_first = true               # 05/01/2025 is the 5th of January

    Attributes
    ----------
    columns : ColumnMapping
        ``[files]``, ``[columns.<table>]`` and ``[exclude]``.
    outcome_dates, outcome_amounts : mapping of str to str
        Outcome name to the export column holding its date (its amount).
    timezone : str or None
        IANA zone of timestamps without an offset (None: UTC, or ``--timezone``).
    day_first : bool
        Whether ``05/01/2025`` is the 5th of January.
    source : str or None
        The file the mapping came from, for messages.

    Examples
    --------
    >>> m = ImportMapping.from_dict({"columns": {"leads": {"lead_id": "Contact ID"}},
    ...                              "outcome_dates": {"MQL": "MQL Date"}})
    >>> m.column_for("leads", "lead_id"), dict(m.outcome_dates)
    ('Contact ID', {'mql': 'MQL Date'})
    """

    columns: ColumnMapping = field(default_factory=ColumnMapping)
    outcome_dates: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    outcome_amounts: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    timezone: str | None = None
    day_first: bool = False
    source: str | None = None

    @classmethod
    def from_dict(cls, d: dict | None, *, source: str | None = None) -> "ImportMapping":
        """An import mapping from its TOML table, checked.

        Parameters
        ----------
        d : dict or None
            The keys of :data:`IMPORT_MAPPING_KEYS`; outcome names are lower-cased.
        source : str, optional
            The file it came from, named in error messages.

        Returns
        -------
        ImportMapping

        Raises
        ------
        ConfigError
            For an unknown key (with the closest one), a wrong type or an unknown time zone.

        Examples
        --------
        >>> ImportMapping.from_dict({"timezone": "Europe/Berlin", "day_first": True}).day_first
        True
        """
        d = dict(d or {})
        where = f" in {source}" if source else ""
        unknown = next((k for k in d if k not in IMPORT_MAPPING_KEYS), None)
        if unknown is not None:
            raise ConfigError(f"Unknown key '{unknown}' of the import mapping{where}.",
                              code="unknown_key", suggestion=_suggest(unknown, IMPORT_MAPPING_KEYS)
                              or f"Allowed keys: {', '.join(IMPORT_MAPPING_KEYS)}.")
        cm = ColumnMapping.from_dict({k: d[k] for k in ("files", "columns", "exclude") if k in d},
                                     source=source)
        dates, amounts = {}, {}
        for key, target in (("outcome_dates", dates), ("outcome_amounts", amounts)):
            table = d.get(key, {})
            if not isinstance(table, dict):
                raise ConfigError(f"[{key}]{where} must be a table of outcome = \"export "
                                  f"column\".", code="wrong_type")
            for outcome, col in table.items():
                if not isinstance(col, str) or not col:
                    raise ConfigError(f"The '{outcome}' in [{key}]{where} must name a column of "
                                      f"the export. Got {col!r}.", code="wrong_type")
                target[str(outcome).strip().lower()] = col
        tz = d.get("timezone")
        if tz is not None:
            check_timezone(tz, f"'timezone'{where}")
        day_first = d.get("day_first", False)
        if not isinstance(day_first, bool):
            raise ConfigError(f"'day_first'{where} must be true or false. Got {day_first!r}.",
                              code="wrong_type")
        return cls(columns=cm, outcome_dates=MappingProxyType(dates),
                   outcome_amounts=MappingProxyType(amounts), timezone=tz, day_first=day_first,
                   source=source)

    @classmethod
    def coerce(cls, mapping) -> "ImportMapping":
        """An ImportMapping from None, a dict, a ColumnMapping or an ImportMapping.

        Parameters
        ----------
        mapping : None, dict, ColumnMapping or ImportMapping
            What a caller passed.

        Returns
        -------
        ImportMapping

        Examples
        --------
        >>> ImportMapping.coerce(None) == ImportMapping()
        True
        """
        if mapping is None:
            return cls()
        if isinstance(mapping, ImportMapping):
            return mapping
        if isinstance(mapping, ColumnMapping):
            return cls(columns=mapping, source=mapping.source)
        if isinstance(mapping, dict):
            return cls.from_dict(mapping)
        raise ConfigError(f"A column mapping must be a table. Got {type(mapping).__name__}.",
                          code="wrong_type")

    def to_dict(self) -> dict:
        """The mapping as its TOML table (what :meth:`from_dict` reads back).

        Returns
        -------
        dict
            Only the keys that are set.

        Examples
        --------
        >>> ImportMapping.from_dict({"outcome_dates": {"won": "Won Date"}}).to_dict()
        {'outcome_dates': {'won': 'Won Date'}}
        """
        d = self.columns.to_dict()
        if self.outcome_dates:
            d["outcome_dates"] = dict(self.outcome_dates)
        if self.outcome_amounts:
            d["outcome_amounts"] = dict(self.outcome_amounts)
        if self.timezone:
            d["timezone"] = self.timezone
        if self.day_first:
            d["day_first"] = True
        return d

    def column_for(self, table: str, calib_column: str) -> str | None:
        """The export column the mapping names for ``calib_column``, if any.

        Parameters
        ----------
        table : str
            ``"leads"``, ``"events"`` or ``"outcomes"``.
        calib_column : str
            calib's name of the column (``"lead_id"``...).

        Returns
        -------
        str or None

        Examples
        --------
        >>> m = ImportMapping.from_dict({"columns": {"leads": {"lead_id": "Contact ID"}}})
        >>> m.column_for("leads", "lead_id"), m.column_for("leads", "created_at")
        ('Contact ID', None)
        """
        return self.columns.columns.get(table, {}).get(calib_column)

    def excluded(self, table: str) -> tuple[str, ...]:
        """The export columns of ``table`` the mapping excludes.

        Parameters
        ----------
        table : str
            ``"leads"``, ``"events"`` or ``"outcomes"``.

        Returns
        -------
        tuple of str
            Empty when the mapping excludes none.

        Examples
        --------
        >>> m = ImportMapping.from_dict({"exclude": {"leads": ["Lead Status"]}})
        >>> m.excluded("leads"), m.excluded("events")
        (('Lead Status',), ())
        """
        return tuple(self.columns.exclude.get(table, ()))

    def file_for(self, table: str) -> str | None:
        """The file name the mapping gives ``table`` inside a source folder, if any.

        Parameters
        ----------
        table : {"leads", "events", "outcomes"}
            A table of the data set.

        Returns
        -------
        str or None
            The name in the mapping's ``[files]``, relative to the source folder.

        Examples
        --------
        >>> ImportMapping.from_dict({"files": {"leads": "contacts.csv"}}).file_for("leads")
        'contacts.csv'
        """
        return self.columns.files.get(table)


def _suggest(key: str, allowed: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(key, list(allowed), n=1)
    return f"Did you mean '{close[0]}'?" if close else None


def check_timezone(tz, what: str = "the time zone") -> str:
    """``tz`` if it is a time zone pandas knows, else a clear error.

    Parameters
    ----------
    tz : str
        An IANA time zone name.
    what : str, default "the time zone"
        How the message names the setting.

    Returns
    -------
    str
        ``tz`` unchanged.

    Raises
    ------
    ConfigError
        For an unknown zone.

    Examples
    --------
    >>> check_timezone("Europe/Berlin")
    'Europe/Berlin'
    """
    try:
        pd.Timestamp("2020-01-01").tz_localize(tz)
    except Exception:  # noqa: BLE001 - any failure means an unknown zone name
        raise ConfigError(f"{what} must be an IANA time zone name such as 'UTC' or "
                          f"'Europe/Berlin'. Got {tz!r}.", code="invalid_value") from None
    return tz


# ------------------------------------------------------------------ options and result
@dataclass(frozen=True)
class ImportOptions:
    """How to read an export.

    Attributes
    ----------
    timezone : str or None
        Zone of timestamps written without an offset (None: the mapping's, else UTC).
    day_first : bool
        Whether ``05/01/2025`` is the 5th of January.
    encoding : str
        The text encoding of CSV exports.
    keep_leaking : bool
        Keep columns the importer would exclude as leaking the outcome.
    extra : mapping of str to str
        Extra files besides the source (``tasks``, ``campaign_members``, ``leads``,
        ``deals``).

    Examples
    --------
    >>> ImportOptions(day_first=True).file("tasks") is None
    True
    """

    timezone: str | None = None  # None: the mapping's, else UTC
    day_first: bool = False
    encoding: str = "utf-8-sig"
    keep_leaking: bool = False
    extra: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))

    def file(self, key: str) -> Path | None:
        """The extra file given for ``key``, if any.

        Parameters
        ----------
        key : str
            ``"tasks"``, ``"campaign_members"``, ``"leads"`` or ``"deals"``.

        Returns
        -------
        Path or None

        Examples
        --------
        >>> from types import MappingProxyType
        >>> ImportOptions(extra=MappingProxyType({"tasks": "Task.csv"})).file("tasks").name
        'Task.csv'
        """
        v = self.extra.get(key)
        return Path(v) if v else None


@dataclass
class ExportTables:
    """An export translated into calib's tables (not yet validated).

    Attributes
    ----------
    format : str
        The format's key.
    leads, outcomes : DataFrame
        calib's leads and outcomes tables.
    events : DataFrame or None
        The events table, when the export has activity.
    sources : list of str
        The files read.
    renamed : dict
        Per file, export column to calib column.
    excluded : dict
        Export column to why it was left out.
    notes : list of str
        What the importer wants the user to know.

    Examples
    --------
    >>> import pandas as pd
    >>> t = ExportTables("generic", leads=pd.DataFrame({"lead_id": ["a"]}),
    ...                  outcomes=concat_outcomes([]))
    >>> t.events is None, len(t.outcomes)
    (True, 0)
    """

    format: str
    leads: pd.DataFrame
    outcomes: pd.DataFrame
    events: pd.DataFrame | None = None
    sources: list[str] = field(default_factory=list)
    renamed: dict = field(default_factory=dict)       # {file: {export column: calib column}}
    excluded: dict = field(default_factory=dict)      # {export column: reason}
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ reading
def read_export(path: Path, options: ImportOptions, *, label: str | None = None) -> pd.DataFrame:
    """Read a CSV export as text, or a Parquet export as it is.

    Every CSV cell is a string and blanks are missing; headers lose a byte-order mark
    and surrounding blanks.

    Parameters
    ----------
    path : Path
        The export file.
    options : ImportOptions
        ``encoding`` is used.
    label : str, optional
        How messages name the file (default its name).

    Returns
    -------
    DataFrame

    Raises
    ------
    DataError
        For a missing file, text that is not in the encoding or a file that is no CSV.

    Examples
    --------
    >>> from pathlib import Path
    >>> df = read_export(Path("calib-demo/data/leads.csv"), ImportOptions())
    >>> type(df["employees"].iloc[0]).__name__, bool(df["industry"].isna().any())
    ('str', True)
    """
    path = Path(path)
    name = label or path.name
    if not path.exists():
        raise DataError(f"The export file '{path}' does not exist.", code="missing_table",
                        problems=[Problem(name, "missing_table", f"no such file: {path}")])
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=options.encoding,
                         skipinitialspace=False)
    except UnicodeDecodeError as e:
        raise DataError(f"The export '{path}' is not {options.encoding} text.", code="not_utf8",
                        problems=[Problem(name, "not_utf8", f"invalid byte at offset {e.start}")],
                        suggestion="Pass --encoding cp1252 (Excel, Windows) or --encoding "
                                   "latin-1 (Salesforce 'ISO-8859-1' exports).") from None
    except Exception as e:  # noqa: BLE001 - the parser's message is about the user's file
        raise DataError(f"The export '{path}' cannot be read as CSV: {e}", code="unreadable_file",
                        problems=[Problem(name, "unreadable_file", str(e))]) from None
    df.columns = [str(c).lstrip("\ufeff").strip() for c in df.columns]
    for c in df.columns:
        s = df[c].astype("string").str.strip()
        df[c] = s.mask(s == "")
    return df


def find_files(folder: Path, patterns: Iterable[str]) -> Path | None:
    """The first file in ``folder`` whose lower-cased name matches one of ``patterns``.

    Parameters
    ----------
    folder : Path
        Where to look (not below it).
    patterns : iterable of str
        fnmatch patterns in lower case; earlier patterns win.

    Returns
    -------
    Path or None

    Examples
    --------
    >>> from pathlib import Path
    >>> find_files(Path("calib-demo/data"), ("*.parquet", "lead*.csv")).name
    'leads.csv'
    """
    import fnmatch

    files = sorted(p for p in folder.iterdir() if p.is_file())
    for pat in patterns:
        for p in files:
            if fnmatch.fnmatch(p.name.lower(), pat):
                return p
    return None


def export_file(folder: Path, mapping: ImportMapping, table: str,
                patterns: Iterable[str]) -> Path | None:
    """The file of ``table`` in an export folder.

    The one the mapping's ``files`` names, else the first matching ``patterns`` (as
    :func:`find_files`).

    Parameters
    ----------
    folder : Path
        The export folder.
    mapping : ImportMapping
        Its ``files`` are used.
    table : str
        ``"leads"``, ``"events"`` or ``"outcomes"``.
    patterns : iterable of str
        As for :func:`find_files`.

    Returns
    -------
    Path or None
        None when the mapping names none and no file matches.

    Examples
    --------
    >>> from pathlib import Path
    >>> folder = Path("calib-demo/data")
    >>> export_file(folder, ImportMapping(), "events", ("event*.csv",)).name
    'events.csv'
    >>> export_file(folder, ImportMapping.from_dict({"files": {"events": "web.csv"}}),
    ...             "events", ("event*.csv",)).name
    'web.csv'
    """
    name = mapping.file_for(table)
    return folder / name if name else find_files(folder, patterns)


class ColumnFinder:
    """Finds the export's column for each role, collecting every missing one.

    Parameters
    ----------
    df : DataFrame
        The export.
    file : str
        Its name, for problems.
    table : str
        The calib table it feeds (the mapping's ``[columns.<table>]`` apply).
    mapping : ImportMapping
        Columns the user named.

    Attributes
    ----------
    problems : list of Problem
        A ``missing_column`` problem per required role not found.
    used : dict
        Export column to the role it was found for.

    Examples
    --------
    >>> import pandas as pd
    >>> cols = ColumnFinder(pd.DataFrame(columns=["Record ID"]), "x.csv", "leads",
    ...                     ImportMapping())
    >>> cols.find("lead_id", ("record id",)), cols.find("created_at", ("Create Date",))
    ('Record ID', None)
    >>> [p.code for p in cols.problems]
    ['missing_column']
    """

    def __init__(self, df: pd.DataFrame, file: str, table: str, mapping: ImportMapping):
        self.df, self.file, self.table, self.mapping = df, file, table, mapping
        self.problems: list[Problem] = []
        self.lower = {str(c).lower(): c for c in df.columns}
        self.used: dict[str, str] = {}

    def find(self, role: str, aliases: Iterable[str], *, required: bool = True) -> str | None:
        """The export column for ``role``: the mapping's, else the first alias the file has.

        Names are matched exactly, then ignoring case (a mapped name only exactly).

        Parameters
        ----------
        role : str
            calib's name for the column (``"lead_id"``...).
        aliases : iterable of str
            The vendor's names for it, preferred first.
        required : bool, default True
            Add a ``missing_column`` problem (with the closest name) when none is found.

        Returns
        -------
        str or None

        Examples
        --------
        >>> import pandas as pd
        >>> cols = ColumnFinder(pd.DataFrame(columns=["Id"]), "Lead.csv", "leads", ImportMapping())
        >>> cols.find("lead_id", ("Lead ID", "Id"))
        'Id'
        """
        mapped = self.mapping.column_for(self.table, role)
        candidates = [mapped] if mapped else list(aliases)
        for a in candidates:
            if a in self.df.columns:
                self.used[a] = role
                return a
            if a.lower() in self.lower and not mapped:
                c = self.lower[a.lower()]
                self.used[c] = role
                return c
        if required:
            more = self.df.shape[1] - 15
            has = ", ".join(map(str, self.df.columns[:15])) + (f" (and {more} more)" if more > 0
                                                               else "")
            close = difflib.get_close_matches(candidates[0], list(map(str, self.df.columns)),
                                              n=1, cutoff=0.6)
            looked = " or ".join(f"'{a}'" for a in candidates[:4])
            msg = (f"required column {looked} (calib's '{role}') is missing; the file has: {has}"
                   + (f". Did you mean '{close[0]}'?" if close else "")
                   + ("" if mapped else f" Map it with [columns.{self.table}] {role} = "
                      f"\"<column>\"."))
            self.problems.append(Problem(self.file, "missing_column", msg, column=candidates[0]))
        return None


def raise_problems(problems: list[Problem], what: str) -> None:
    """Raise one :class:`~calib.errors.DataError` listing ``problems``, if there are any.

    Parameters
    ----------
    problems : list of Problem
        Everything found wrong.
    what : str
        What they are about (``"The Salesforce Lead export 'Lead.csv'"``).

    Raises
    ------
    DataError
        With the code of the first problem.

    Examples
    --------
    >>> from calib.errors import DataError, Problem
    >>> raise_problems([], "The export")
    >>> try:
    ...     raise_problems([Problem("x.csv", "missing_column", "no id")], "The export 'x.csv'")
    ... except DataError as e:
    ...     print(e.code)
    missing_column
    """
    if problems:
        n = len(problems)
        raise DataError(f"{what} has {n} problem{'s' if n > 1 else ''}:",
                        code=problems[0].code, problems=problems)


def _rows(df: pd.DataFrame, mask, columns) -> tuple:
    idx = np.flatnonzero(np.asarray(mask))[:MAX_ROWS_SHOWN]
    out = []
    for i in idx:
        row = {"row": int(i) + 2}
        for c in columns:
            v = df[c].iloc[i]
            row[c] = None if pd.isna(v) else str(v)
        out.append(row)
    return tuple(out)


# ------------------------------------------------------------------ values
def parse_times(df: pd.DataFrame, column: str, file: str, options: ImportOptions,
                problems: list, id_column: str | None = None) -> pd.Series:
    """A text column of timestamps as UTC (``datetime64[ns, UTC]``), NaT where blank.

    Accepts ISO 8601 (with ``T`` or a blank, with or without an offset) and the
    locale formats CRM report exports use (``1/15/2025 9:30 AM``; with
    ``day_first``, ``15/01/2025 09:30`` and ``15.01.2025``). Values without an offset
    are in ``options.timezone``. Values that parse under neither are reported.

    Parameters
    ----------
    df : DataFrame
        The export.
    column : str
        The column to parse.
    file : str
        The file's name, for problems.
    options : ImportOptions
        ``timezone`` and ``day_first``.
    problems : list
        An ``unparseable_timestamp`` problem is appended here (with a hint when the
        values look like the other date order).
    id_column : str, optional
        Shown with the offending rows.

    Returns
    -------
    Series

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"at": ["1/15/2025 9:30 AM", "2025-01-16T10:00:00+01:00", None]})
    >>> problems = []
    >>> parse_times(df, "at", "x.csv", ImportOptions(timezone="UTC"), problems).tolist()
    [Timestamp('2025-01-15 09:30:00+0000', tz='UTC'), Timestamp('2025-01-16 09:00:00+0000', tz='UTC'), NaT]
    """
    raw = df[column]
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        return raw.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    if pd.api.types.is_datetime64_dtype(raw.dtype):
        return _localize(raw, options.timezone)
    text = raw.astype("string").str.strip()
    text = text.mask(text == "")
    out = pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns, UTC]")
    aware = text.str.contains(_OFFSET, na=False) & text.str.contains(r"\d{4}-\d{2}-\d{2}",
                                                                      na=False)
    if aware.any():
        out[aware] = pd.to_datetime(text[aware], format="ISO8601", utc=True,
                                    errors="coerce").astype("datetime64[ns, UTC]")
    naive = text.notna() & ~aware
    if naive.any():
        parsed = pd.to_datetime(text[naive], format="ISO8601", errors="coerce")
        rest = parsed.isna()
        chosen, other = (_DAY_FIRST, _MONTH_FIRST) if options.day_first else (_MONTH_FIRST,
                                                                                _DAY_FIRST)
        for fmt in chosen:
            if not rest.any():
                break
            parsed[rest] = pd.to_datetime(text[naive][rest], format=fmt, errors="coerce")
            rest = parsed.isna()
        out[naive] = _localize(parsed, options.timezone)
    bad = text.notna() & out.isna()
    if bad.any():
        suggestion = ""
        sample = text[bad]
        for fmt in other:
            if pd.to_datetime(sample, format=fmt, errors="coerce").notna().any():
                suggestion = (" They look like day-first dates: pass --day-first (or "
                              "day_first = true in the mapping)." if not options.day_first
                              else " They look like month-first dates: drop --day-first.")
                break
        cols = [c for c in (id_column, column) if c]
        problems.append(Problem(file, "unparseable_timestamp",
                                f"{int(bad.sum())} value(s) are not dates calib can read (ISO "
                                f"8601 or the export's locale format).{suggestion}",
                                column=column, count=int(bad.sum()), rows=_rows(df, bad, cols)))
    return out


def _localize(s: pd.Series, tz: str) -> pd.Series:
    s = pd.to_datetime(s)
    if s.dt.tz is not None:
        return s.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    local = s.dt.tz_localize(tz or "UTC", ambiguous=False, nonexistent="shift_forward")
    return local.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")


def parse_flags(df: pd.DataFrame, column: str, file: str, problems: list) -> pd.Series:
    """A yes/no column (``1``/``0``, ``true``/``false``, ``Yes``/``No``) as booleans.

    Parameters
    ----------
    df : DataFrame
        The export.
    column : str
        The column to read; blanks are no.
    file : str
        The file's name, for problems.
    problems : list
        An ``invalid_value`` problem is appended for other values.

    Returns
    -------
    Series of bool

    Examples
    --------
    >>> import pandas as pd
    >>> problems = []
    >>> parse_flags(pd.DataFrame({"c": ["Yes", "0", None, "maybe"]}), "c", "x.csv",
    ...             problems).tolist(), problems[0].count
    ([True, False, False, False], 1)
    """
    text = df[column].astype("string").str.strip().str.lower().fillna("")
    ok = text.isin(TRUE_TEXT | FALSE_TEXT)
    if not ok.all():
        problems.append(Problem(file, "invalid_value", f"{int((~ok).sum())} value(s) are not "
                                "yes/no (1/0, true/false)", column=column,
                                count=int((~ok).sum()), rows=_rows(df, ~ok, [column])))
    return text.isin(TRUE_TEXT)


def numeric_attributes(df: pd.DataFrame, skip: Iterable[str] = ()) -> pd.DataFrame:
    """Text columns whose every value is a number become numbers (``1,200`` too).

    This is how calib's loader reads a CSV, so fit rules with ``min``/``max`` work and
    a preset loaded in memory equals the same data written and read back.

    Parameters
    ----------
    df : DataFrame
        Changed in place.
    skip : iterable of str
        Columns left as they are.

    Returns
    -------
    DataFrame
        ``df``.

    Examples
    --------
    >>> import pandas as pd
    >>> df = numeric_attributes(pd.DataFrame({"a": ["1,200", "3"], "b": ["x", "2"]}))
    >>> df["a"].tolist(), df["b"].tolist()
    ([1200, 3], ['x', '2'])
    """
    skip = set(skip)
    for c in df.columns:
        if c in skip:
            continue
        col = df[c]
        if not (col.dtype == object or isinstance(col.dtype, pd.StringDtype)):
            continue
        text = col.astype("string")
        present = text.dropna()
        if present.empty:
            continue
        if present.str.match(_THOUSANDS).all():
            text = text.str.replace(",", "", regex=False)
        num = pd.to_numeric(text, errors="coerce")
        if num[text.notna()].notna().all():
            df[c] = _tidy_number(num)
    return df


def _tidy_number(num: pd.Series) -> pd.Series:
    if num.notna().all() and (num.dropna() == num.dropna().round()).all():
        return num.astype(np.int64)
    return num.astype(float)


def missing_exclusions(df: pd.DataFrame, mapping: ImportMapping, table: str,
                       file: str) -> list[Problem]:
    """A ``mapping_missing_column`` problem per column ``[exclude]`` names for ``table``
    that the export does not have.

    Parameters
    ----------
    df : DataFrame
        The export.
    mapping : ImportMapping
        Its ``[exclude]`` is checked.
    table, file : str
        The calib table and the export file.

    Returns
    -------
    list of Problem

    Examples
    --------
    >>> import pandas as pd
    >>> m = ImportMapping.from_dict({"exclude": {"leads": ["Owner", "Stage"]}})
    >>> [p.column for p in missing_exclusions(pd.DataFrame(columns=["Owner"]), m, "leads",
    ...                                       "x.csv")]
    ['Stage']
    """
    return [Problem(file, "mapping_missing_column", f"[exclude] names column '{c}' but {file} "
                    "has no such column", column=c)
            for c in mapping.excluded(table) if c not in df.columns]


def attribute_frame(df: pd.DataFrame, *, consumed: Iterable[str], renames: dict[str, str],
                    leaking: dict[str, str], options: ImportOptions, mapping: ImportMapping,
                    table: str, file: str, result: ExportTables,
                    placeholders: Iterable[str] = ()) -> pd.DataFrame:
    """The lead attributes of an export.

    Every column not consumed (ids, dates turned into outcomes), minus personal data,
    leaking columns (unless kept) and the mapping's exclusions, renamed to calib names
    (``renames``) or to their slug, with numbers as numbers.

    Parameters
    ----------
    df : DataFrame
        The export.
    consumed : iterable of str
        Columns already used for something else.
    renames : dict
        Export column to calib attribute name.
    leaking : dict
        Export column to why it leaks the outcome.
    options : ImportOptions
        ``keep_leaking`` keeps those.
    mapping : ImportMapping
        Exclusions and named columns.
    table, file : str
        The calib table and the export file, for messages.
    result : ExportTables
        ``excluded`` and ``renamed`` are recorded here.
    placeholders : iterable of str
        Values that mean missing (``"Select"``).

    Returns
    -------
    DataFrame

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"Id": ["1"], "Email": ["a@b.c"], "Lead Status": ["Won"],
    ...                    "Page Views": ["12"]})
    >>> tables = ExportTables("generic", leads=None, outcomes=None)
    >>> attrs = attribute_frame(df, consumed={"Id"}, renames={},
    ...                         leaking={"Lead Status": "set after the outcome"},
    ...                         options=ImportOptions(), mapping=ImportMapping(), table="leads",
    ...                         file="x.csv", result=tables)
    >>> attrs.to_dict("records"), sorted(tables.excluded)
    ([{'page_views': 12}], ['Email', 'Lead Status'])
    """
    consumed = set(consumed)
    raise_problems(missing_exclusions(df, mapping, table, file), f"The export '{file}'")
    keep: dict[str, str] = {}
    taken: set[str] = {"lead_id", "created_at"}
    mapped = {v: k for k, v in mapping.columns.columns.get(table, {}).items()}
    for c in df.columns:
        if c in consumed:
            continue
        if c in mapping.excluded(table):
            result.excluded[c] = "excluded by the mapping"
            continue
        if c.lower() in PERSONAL:
            result.excluded[c] = "personal data (not needed for scoring)"
            continue
        if c in leaking and not options.keep_leaking:
            result.excluded[c] = leaking[c]
            continue
        name = mapped.get(c) or renames.get(c) or slug(c)
        base, i = name, 2
        while name in taken:
            name, i = f"{base}_{i}", i + 1
        taken.add(name)
        keep[c] = name
    out = df[list(keep)].rename(columns=keep).copy()
    for ph in placeholders:
        for c in out.columns:
            if out[c].dtype == object or isinstance(out[c].dtype, pd.StringDtype):
                out[c] = out[c].mask(out[c] == ph)
    result.renamed.setdefault(file, {}).update({k: v for k, v in keep.items() if k != v})
    return numeric_attributes(out)


def wide_outcomes(lead_ids: pd.Series, df: pd.DataFrame, dates: dict[str, str], file: str,
                  options: ImportOptions, problems: list,
                  amounts: dict[str, str] | None = None) -> pd.DataFrame:
    """The wide lifecycle dates of a contacts export as calib's long outcomes table.

    One outcome row per lead and non-blank date column.

    Parameters
    ----------
    lead_ids : Series
        The lead of each row of ``df``.
    df : DataFrame
        The export.
    dates : dict
        Outcome name to its date column.
    file : str
        The file's name, for problems.
    options : ImportOptions
        As for :func:`parse_times`.
    problems : list
        Unparseable dates are appended here.
    amounts : dict, optional
        Outcome name to the column holding its amount.

    Returns
    -------
    DataFrame
        ``lead_id``, ``outcome``, ``occurred_at`` (and ``amount``).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"MQL Date": ["2025-01-02", None], "Won Date": [None, "2025-03-01"]})
    >>> out = wide_outcomes(pd.Series(["a", "b"]), df, {"mql": "MQL Date", "won": "Won Date"},
    ...                     "x.csv", ImportOptions(timezone="UTC"), [])
    >>> out[["lead_id", "outcome"]].values.tolist()
    [['a', 'mql'], ['b', 'won']]
    """
    frames = []
    for outcome, col in dates.items():
        t = parse_times(df, col, file, options, problems, id_column=None)
        has = t.notna().to_numpy()
        part = pd.DataFrame({"lead_id": lead_ids[has].to_numpy(), "outcome": outcome,
                             "occurred_at": t[has].to_numpy()})
        if amounts and outcome in amounts:
            part["amount"] = pd.to_numeric(df.loc[has, amounts[outcome]].astype("string")
                                           .str.replace(",", "", regex=False),
                                           errors="coerce").to_numpy()
        frames.append(part)
    return concat_outcomes(frames)


def concat_outcomes(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Outcome frames as one table, sorted by lead then time.

    Parameters
    ----------
    frames : list of DataFrame or None
        Empty ones and None are skipped.

    Returns
    -------
    DataFrame
        ``occurred_at`` in UTC; an empty outcomes table when nothing is left.

    Examples
    --------
    >>> list(concat_outcomes([None]).columns)
    ['lead_id', 'outcome', 'occurred_at']
    """
    frames = [f for f in frames if f is not None and len(f)]
    if not frames:
        return pd.DataFrame({"lead_id": pd.Series([], dtype="string"),
                             "outcome": pd.Series([], dtype="string"),
                             "occurred_at": pd.Series([], dtype="datetime64[ns, UTC]")})
    out = pd.concat(frames, ignore_index=True)
    if "occurred_at" in out:
        out["occurred_at"] = pd.to_datetime(out["occurred_at"], utc=True)
        out = out.sort_values(["lead_id", "occurred_at"], kind="stable").reset_index(drop=True)
    return out


def sanitize_ids(s: pd.Series) -> pd.Series:
    """Ids as stripped text (``12.0`` read from a numeric column becomes ``12``).

    Parameters
    ----------
    s : Series
        An id column.

    Returns
    -------
    Series of string

    Examples
    --------
    >>> import pandas as pd
    >>> sanitize_ids(pd.Series([12.0, 7.0])).tolist(), sanitize_ids(pd.Series([" a "])).tolist()
    (['12', '7'], ['a'])
    """
    if pd.api.types.is_float_dtype(s.dtype) and (s.dropna() == s.dropna().round()).all():
        s = s.astype("Int64")
    return s.astype("string").str.strip()


def salesforce_ids(*series: pd.Series) -> list[pd.Series]:
    """Salesforce ids as 15 characters when the exports mix 15- and 18-character ids.

    Reports give 15, the Data Export and the API 18 (the last 3 are a checksum), so that
    a Task's ``Who ID`` finds its lead either way.

    Parameters
    ----------
    *series : Series of string
        Id columns of the exports (the leads' ids, a Task's ``Who ID``, ...), missing
        ids allowed.

    Returns
    -------
    list of Series
        The same columns in the same order: every 18-character id cut to its first 15
        when both lengths occur among all of them, unchanged otherwise.

    Examples
    --------
    >>> import pandas as pd
    >>> leads, tasks = salesforce_ids(pd.Series(["00Q000000000001"]),
    ...                               pd.Series(["00Q000000000001AAA"]))
    >>> tasks.tolist()
    ['00Q000000000001']
    """
    lengths = set()
    for s in series:
        lengths |= set(s.dropna().str.len().unique().tolist())
    if {15, 18} <= lengths:
        return [s.where(s.str.len() != 18, s.str.slice(0, 15)) for s in series]
    return list(series)


# ------------------------------------------------------------------ output
def write_dataset_folder(tables: ExportTables, out: Path, *, fmt: str = "csv",
                         force: bool = False) -> dict[str, str]:
    """Write ``leads`` / ``events`` / ``outcomes`` into ``out`` (CSV or Parquet).

    Files are written to a temporary folder next to ``out`` and moved into place, so a
    failure leaves nothing half-written. A non-empty ``out`` is refused unless
    ``force``; then only calib's table files in it are replaced. A source file is
    never overwritten.

    Parameters
    ----------
    tables : ExportTables
        What an importer read.
    out : Path
        The data set folder.
    fmt : {"csv", "parquet"}, default "csv"
        The table format.
    force : bool, default False
        Replace the table files of a non-empty ``out``.

    Returns
    -------
    dict
        Table name to the file written.

    Examples
    --------
    >>> from pathlib import Path
    >>> from calib.importers import read_tables
    >>> files = write_dataset_folder(read_tables("generic", "calib-demo/data"),
    ...                              Path("demo-parquet"), fmt="parquet", force=True)
    >>> sorted(Path(f).name for f in files.values())
    ['events.parquet', 'leads.parquet', 'outcomes.parquet']
    """
    if fmt not in ("csv", "parquet"):
        raise ConfigError(f"The output format must be 'csv' or 'parquet'. Got {fmt!r}.",
                          code="invalid_value")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CalibError(f"'{out}' exists and is not a folder.", code="exists")
    if out.exists() and any(out.iterdir()) and not force:
        raise CalibError(f"The folder '{out}' exists and is not empty.", code="exists",
                         suggestion="Choose another --out or add --force to replace the "
                                    "data set tables in it.")
    sources = {Path(s).resolve() for s in tables.sources}
    table_files = [out / f"{t}{ext}" for t in TABLES for ext in (".csv", ".parquet", ".csv.gz")]
    clash = [p for p in table_files if p.resolve() in sources]
    if clash:
        raise CalibError(f"Writing to '{out}' would replace the source file '{clash[0]}'; "
                         "exports are never modified.", code="exists",
                         suggestion="Choose another --out folder.")
    from calib.io import temporary_folder

    tmp = temporary_folder(out)
    written: dict[str, str] = {}
    try:
        from calib.io import write_table

        for name in DATA_TABLES:
            df = getattr(tables, name)
            if df is None:
                continue
            write_table(_for_file(df), tmp / f"{name}.{fmt}")
            written[name] = str(out / f"{name}.{fmt}")
        out.mkdir(parents=True, exist_ok=True)
        for p in table_files:
            if p.exists():
                p.unlink()
        for name in written:
            os.replace(tmp / f"{name}.{fmt}", out / f"{name}.{fmt}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return written


def _for_file(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.DatetimeTZDtype):
            out[c] = out[c].dt.tz_convert("UTC")
    return out
