"""Column mappings: use a CRM export as it is, without editing it.

A mapping is a TOML table (in an experiment file as ``[data]``, or a file of its own
passed with ``--mapping``)::

    [files]                      # optional: file names when they differ from leads.csv...
    leads = "contacts.csv"

    [columns.leads]              # calib's column = the export's column
    lead_id = "Record ID"
    created_at = "Create Date"

    [columns.outcomes]
    occurred_at = "Date"

    [exclude]                    # columns that must never be used (e.g. leaking ones)
    leads = ["Lead Quality", "Tags"]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType

from calib.errors import ConfigError

TABLES = ("leads", "events", "outcomes", "assignments")
SPEC_COLUMNS = {
    "leads": ("lead_id", "created_at"),
    "events": ("lead_id", "occurred_at", "event_type"),
    "outcomes": ("lead_id", "outcome", "occurred_at", "amount"),
    "assignments": ("lead_id", "arm", "assigned_at"),
}
MAPPING_KEYS = ("files", "columns", "exclude")


def _frozen(d):
    return MappingProxyType(dict(d))


@dataclass(frozen=True)
class ColumnMapping:
    """Which file holds each table, which export column is each calib column, and
    which columns to drop on load.

    Attributes
    ----------
    files : mapping
        table -> file name inside the data set folder.
    columns : mapping
        table -> {calib column: export column}.
    exclude : mapping
        table -> columns dropped on load.
    source : str or None
        Where the mapping was read from (for messages).

    Examples
    --------
    >>> m = ColumnMapping.from_dict({"columns": {"leads": {"lead_id": "Record ID"}}})
    >>> m.source_column("leads", "lead_id")
    'Record ID'
    """

    files: MappingProxyType = field(default_factory=lambda: _frozen({}))
    columns: MappingProxyType = field(default_factory=lambda: _frozen({}))
    exclude: MappingProxyType = field(default_factory=lambda: _frozen({}))
    source: str | None = field(default=None, compare=False)

    @classmethod
    def from_dict(cls, d: dict | None, *, source: str | None = None) -> "ColumnMapping":
        """A mapping from its TOML table, checked.

        Parameters
        ----------
        d : dict or None
            ``{"files": ..., "columns": ..., "exclude": ...}`` (all optional).
        source : str, optional
            Where it was read from, for messages.

        Returns
        -------
        ColumnMapping

        Raises
        ------
        ConfigError
            On an unknown key or table, a value of the wrong type, a file outside the
            data set folder, or one export column mapped twice.

        Examples
        --------
        >>> ColumnMapping.from_dict({"exclude": {"leads": ["Tags"]}}).exclude["leads"]
        ('Tags',)
        """
        d = dict(d or {})
        where = f" in {source}" if source else ""
        for key in d:
            if key not in MAPPING_KEYS:
                raise ConfigError(f"Unknown key '{key}' of the column mapping{where}.",
                                  code="unknown_key",
                                  suggestion=f"Allowed keys: {', '.join(MAPPING_KEYS)}.")
        files = d.get("files", {})
        columns = d.get("columns", {})
        exclude = d.get("exclude", {})
        for name, table in (("files", files), ("columns", columns), ("exclude", exclude)):
            if not isinstance(table, dict):
                raise ConfigError(f"[{name}] of the column mapping{where} must be a table.",
                                  code="wrong_type")
            for t in table:
                if t not in TABLES:
                    raise ConfigError(f"Unknown table '{t}' in [{name}] of the column "
                                      f"mapping{where}.", code="unknown_key",
                                      suggestion=f"Tables: {', '.join(TABLES)}.")
        for t, f in files.items():
            if not isinstance(f, str) or not f:
                raise ConfigError(f"The file of '{t}' in [files]{where} must be a file name. "
                                  f"Got {f!r}.", code="wrong_type")
            parts = f.replace("\\", "/").split("/")
            if f.startswith(("/", "\\", "~")) or ":" in parts[0] or ".." in parts:
                raise ConfigError(f"The file of '{t}' in [files]{where} must be a file inside "
                                  f"the data set folder. Got {f!r}.", code="invalid_path",
                                  suggestion="Copy or link the file into the data set folder.")
        cols = {}
        for t, m in columns.items():
            if not isinstance(m, dict):
                raise ConfigError(f"[columns.{t}]{where} must be a table of "
                                  f"calib_column = \"export column\".", code="wrong_type")
            used = {}
            for k, v in m.items():
                if not isinstance(v, str):
                    raise ConfigError(f"The column '{k}' in [columns.{t}]{where} must name a "
                                      f"column of the export. Got {v!r}.", code="wrong_type")
                if v in used:
                    raise ConfigError(f"[columns.{t}]{where} maps both '{used[v]}' and '{k}' to "
                                      f"the export column '{v}'; each export column can be "
                                      f"one calib column.", code="duplicate_column")
                used[v] = k
            cols[t] = _frozen(m)
        excl = {}
        for t, v in exclude.items():
            if not isinstance(v, list) or not all(isinstance(c, str) for c in v):
                raise ConfigError(f"The '{t}' in [exclude]{where} must be a list of column "
                                  f"names.", code="wrong_type")
            excl[t] = tuple(v)
        return cls(files=_frozen(files), columns=_frozen(cols), exclude=_frozen(excl),
                   source=source)

    def to_dict(self) -> dict:
        """The mapping as its TOML table (empty parts left out).

        Returns
        -------
        dict
            ``files``, ``columns`` and ``exclude`` as the experiment file's ``[data]``
            table writes them; ``ColumnMapping.from_dict`` reads it back.

        Examples
        --------
        >>> ColumnMapping.from_dict({"files": {"leads": "contacts.csv"}}).to_dict()
        {'files': {'leads': 'contacts.csv'}}
        """
        d = {}
        if self.files:
            d["files"] = dict(self.files)
        if self.columns:
            d["columns"] = {t: dict(m) for t, m in self.columns.items()}
        if self.exclude:
            d["exclude"] = {t: list(v) for t, v in self.exclude.items()}
        return d

    def source_column(self, table: str, column: str) -> str:
        """The export's name of calib's ``column`` in ``table``.

        Parameters
        ----------
        table, column : str
            A table and one of calib's columns.

        Returns
        -------
        str
            The mapped name, or ``column`` itself.

        Examples
        --------
        >>> ColumnMapping().source_column("leads", "lead_id")
        'lead_id'
        """
        return self.columns.get(table, {}).get(column, column)

    def renames(self, table: str) -> dict[str, str]:
        """``{export column: calib column}`` for ``table``.

        Parameters
        ----------
        table : str

        Returns
        -------
        dict

        Examples
        --------
        >>> m = ColumnMapping.from_dict({"columns": {"leads": {"lead_id": "Record ID"}}})
        >>> m.renames("leads")
        {'Record ID': 'lead_id'}
        """
        return {v: k for k, v in self.columns.get(table, {}).items()}
