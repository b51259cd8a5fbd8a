"""Any CSV (or Parquet) export with a mapping -> a data set.

The mapping is calib's column mapping (``[files]``, ``[columns.<table>]``,
``[exclude]``, as for ``calib validate --mapping``) plus, for contacts-style exports
with one date column per lifecycle stage, ``[outcome_dates]`` (and optional
``[outcome_amounts]``): each non-blank date becomes one outcome row::

    [files]
    leads = "crm_contacts.csv"          # in the source folder; or give the file as SRC
    events = "web_activity.csv"         # optional
    [columns.leads]
    lead_id = "Contact Id"
    created_at = "Created On"
    [columns.events]
    lead_id = "Contact Id"
    occurred_at = "Timestamp"
    event_type = "Activity"
    [exclude]
    leads = ["Owner", "Stage"]
    [outcome_dates]
    mql = "MQL Date"
    won = "Closed Won Date"
    [outcome_amounts]
    won = "Deal Amount"
    timezone = "America/New_York"

Unlike the vendor presets, column names are kept as they are (a mapping is explicit)
and nothing is dropped that the mapping does not exclude. An ``outcomes`` file, when
there is one, is added to the outcome rows from the wide dates.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from calib.errors import Problem
from calib.importers.base import (ColumnFinder, ExportTables, ImportMapping, ImportOptions,
                                  concat_outcomes, missing_exclusions, numeric_attributes,
                                  parse_times, raise_problems, read_export, sanitize_ids,
                                  wide_outcomes)


def _table_file(src: Path, mapping: ImportMapping, table: str) -> Path | None:
    if src.is_file():
        return src if table == "leads" else (src.parent / mapping.file_for(table)
                                             if mapping.file_for(table) else None)
    if mapping.file_for(table):
        return src / mapping.file_for(table)
    for ext in (".parquet", ".csv"):
        p = src / f"{table}{ext}"
        if p.exists():
            return p
    return None


def read(src: Path, mapping: ImportMapping, options: ImportOptions) -> ExportTables:
    """Read any export described by a mapping (or a folder in calib's own layout).

    Parameters
    ----------
    src : Path
        The leads file, or a folder with the files the mapping's ``[files]`` names (by
        default ``leads``, ``events`` and ``outcomes`` as CSV or Parquet).
    mapping : ImportMapping
        ``[columns.<table>]`` for names that are not calib's, ``[exclude]``,
        ``[outcome_dates]`` / ``[outcome_amounts]`` for wide lifecycle dates.
    options : ImportOptions
        Time zone, date order and encoding of the export.

    Returns
    -------
    ExportTables
        The leads with every other column as an attribute, the outcome rows (wide dates
        and an outcomes file together) and the events, if any.

    Examples
    --------
    >>> from pathlib import Path
    >>> from calib.importers.base import ImportMapping, ImportOptions
    >>> tables = read(Path("calib-demo/data"), ImportMapping(), ImportOptions())
    >>> [Path(s).name for s in tables.sources]
    ['leads.csv', 'events.csv', 'outcomes.csv']
    """
    lead_path = _table_file(src, mapping, "leads")
    if lead_path is None:
        raise_problems([Problem(str(src), "missing_table", "no leads file: name it in [files] "
                                "leads = \"...\" or give the file as SRC")], f"The folder '{src}'")
    result = ExportTables(format="generic", leads=None, outcomes=None, sources=[str(lead_path)])
    df = read_export(lead_path, options)
    file = lead_path.name
    id_col, created_col = _lead_columns(df, file, mapping)
    problems: list[Problem] = []
    lead_id = sanitize_ids(df[id_col])
    frames = [wide_outcomes(lead_id, df, dict(mapping.outcome_dates), file, options, problems,
                            dict(mapping.outcome_amounts))]
    consumed = {id_col, *mapping.outcome_dates.values(), *mapping.outcome_amounts.values(),
                *mapping.excluded("leads")}
    if created_col is not None:
        consumed.add(created_col)
    renames = mapping.columns.renames("leads")
    attrs = df[[c for c in df.columns if c not in consumed]].rename(columns=renames).copy()
    attrs = numeric_attributes(attrs)
    leads = attrs
    if created_col is not None:
        created = parse_times(df, created_col, file, options, problems, id_column=id_col)
        leads.insert(0, "created_at", created.to_numpy())
    leads.insert(0, "lead_id", lead_id.to_numpy())
    result.excluded.update({c: "excluded by the mapping" for c in mapping.excluded("leads")})
    result.renamed[file] = {id_col: "lead_id", **({created_col: "created_at"} if created_col
                                                  else {}),
                            **{c: f"outcome '{o}'" for o, c in mapping.outcome_dates.items()},
                            **{k: v for k, v in renames.items() if k in df.columns}}

    ev_path = _table_file(src, mapping, "events")
    if ev_path is not None and ev_path.exists():
        result.sources.append(str(ev_path))
        result.events = _long(ev_path, "events", ("lead_id", "occurred_at", "event_type"),
                              mapping, options, problems, created_col is not None)
    out_path = _table_file(src, mapping, "outcomes")
    if out_path is not None and out_path.exists():
        result.sources.append(str(out_path))
        frames.append(_long(out_path, "outcomes", ("lead_id", "outcome", "occurred_at"), mapping,
                            options, problems, created_col is not None))
    raise_problems(problems, f"The generic import of '{src}'")
    result.leads = leads
    result.outcomes = concat_outcomes(frames)
    if not len(result.outcomes):
        raise_problems([Problem(file, "empty_table", "no outcome rows: name lifecycle date "
                                "columns in [outcome_dates] or give an outcomes file",
                                column=None)], f"The export '{file}'")
    return result


def _lead_columns(df: pd.DataFrame, file: str, mapping: ImportMapping):
    """The id and (optional) creation columns of the leads file; every column the
    mapping names must be there."""
    cols = ColumnFinder(df, file, "leads", mapping)
    id_col = cols.find("lead_id", ("lead_id",))
    created_col = cols.find("created_at", ("created_at",), required=False)
    for outcome, c in [*mapping.outcome_dates.items(), *mapping.outcome_amounts.items()]:
        if c not in df.columns:
            cols.problems.append(Problem(file, "mapping_missing_column",
                                         f"the mapping names column '{c}' (for outcome "
                                         f"'{outcome}') but {file} has no such column; it has: "
                                         f"{', '.join(map(str, df.columns[:15]))}", column=c))
    cols.problems += missing_exclusions(df, mapping, "leads", file)
    raise_problems(cols.problems, f"The export '{file}'")
    return id_col, created_col


def _long(path: Path, table: str, required: tuple, mapping: ImportMapping,
          options: ImportOptions, problems: list, dated: bool) -> pd.DataFrame:
    df = read_export(path, options)
    file = path.name
    cols = ColumnFinder(df, file, table, mapping)
    found = {}
    for role in required:
        need = dated or role != "occurred_at"
        found[role] = cols.find(role, (role,), required=need)
    amount = cols.find("amount", ("amount",), required=False) if table == "outcomes" else None
    raise_problems(cols.problems, f"The export '{file}'")
    df = df.drop(columns=[c for c in mapping.excluded(table) if c in df.columns])
    out = pd.DataFrame({"lead_id": sanitize_ids(df[found["lead_id"]]).to_numpy()})
    if table == "events":
        out["event_type"] = df[found["event_type"]].to_numpy()
    else:
        out["outcome"] = df[found["outcome"]].astype("string").str.strip().str.lower().to_numpy()
    if found.get("occurred_at"):
        out["occurred_at"] = parse_times(df, found["occurred_at"], file, options, problems,
                                         id_column=found["lead_id"]).to_numpy()
    if amount is not None:
        out["amount"] = df[amount].to_numpy()  # from_frames reports non-numbers
    return out
