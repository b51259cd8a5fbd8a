"""A SQL database as a data set: tables or queries -> DataFrames -> :func:`from_frames`.

In an experiment file::

    [data]
    url = "postgresql://analyst@warehouse.internal/crm"   # or "env:CALIB_DATABASE_URL"
    tables = {leads = "marketing.leads", events = "marketing.web_events",
              outcomes = "marketing.lifecycle"}
    # or: queries = {leads = "select ... from ...", ...}   (a table is given one way only)
    [data.columns.leads]                                   # as for files
    lead_id = "contact_id"

Any database SQLAlchemy reaches works; PostgreSQL needs the ``sql`` extra
(``pip install 'calib[sql]'``: SQLAlchemy and psycopg 3). A ``postgresql://`` URL uses
psycopg 3 when psycopg2 is not installed. Passwords never appear in messages; keep them
out of experiment files with ``url = "env:VARIABLE"``.
"""

from __future__ import annotations

import os

import pandas as pd

from calib.data import Dataset, from_frames
from calib.data.mapping import TABLES, ColumnMapping
from calib.errors import CalibError, ConfigError, DataError, Problem

__all__ = ["load_sql", "read_sql"]


def _sqlalchemy():
    try:
        import sqlalchemy
    except ImportError:
        raise CalibError("Reading from a database needs SQLAlchemy, which is not installed.",
                         code="missing_dependency",
                         suggestion="pip install 'calib[sql]' (SQLAlchemy and psycopg for "
                                    "PostgreSQL).") from None
    return sqlalchemy


def resolve_url(url: str):
    """A SQLAlchemy URL from ``url``.

    Parameters
    ----------
    url : str
        A SQLAlchemy URL, or ``env:NAME`` to read it from the environment variable
        ``NAME``.

    Returns
    -------
    sqlalchemy.engine.URL
        With psycopg 3 as the PostgreSQL driver when psycopg2 is absent.

    Raises
    ------
    ConfigError
        For an empty or invalid URL (never echoed: it may hold a password) or an unset
        variable.

    Examples
    --------
    >>> import os
    >>> os.environ["CRM_URL"] = "sqlite:///crm.db"
    >>> resolve_url("env:CRM_URL").drivername
    'sqlite'
    """
    sa = _sqlalchemy()
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"The database 'url' must be a URL such as "
                          f"'postgresql://user@host/db'. Got {url!r}.", code="invalid_value")
    url = url.strip()
    if url.startswith("env:"):
        name = url[4:]
        if not os.environ.get(name):
            raise ConfigError(f"The database url names the environment variable '{name}', "
                              "which is not set.", code="missing_key")
        url = os.environ[name]
    try:
        u = sa.engine.make_url(url)
    except Exception:  # noqa: BLE001 - sqlalchemy's ArgumentError; never echo the url
        raise ConfigError("The database 'url' is not a valid URL (expected "
                          "dialect[+driver]://user@host[:port]/database).",
                          code="invalid_value") from None
    if u.drivername == "postgresql":
        try:
            import psycopg2  # noqa: F401
        except ImportError:
            u = u.set(drivername="postgresql+psycopg")
    return u


def masked(u) -> str:
    """A URL as text with its password hidden, for messages.

    Parameters
    ----------
    u : sqlalchemy.engine.URL
        From :func:`resolve_url`.

    Returns
    -------
    str
        The URL with ``***`` in place of the password (unchanged without one).

    Examples
    --------
    >>> masked(resolve_url("mysql://analyst:secret@db.internal/crm"))
    'mysql://analyst:***@db.internal/crm'
    """
    return u.render_as_string(hide_password=True)


def _check_sources(tables, queries) -> dict[str, tuple[str, str]]:
    tables, queries = dict(tables or {}), dict(queries or {})
    out = {}
    for kind, d in (("tables", tables), ("queries", queries)):
        for t, v in d.items():
            if t not in TABLES:
                raise ConfigError(f"Unknown table '{t}' in '{kind}' of [data].",
                                  code="unknown_key", suggestion=f"Tables: {', '.join(TABLES)}.")
            if not isinstance(v, str) or not v.strip():
                raise ConfigError(f"The '{t}' in '{kind}' of [data] must be a "
                                  f"{'table name' if kind == 'tables' else 'SQL query'}. "
                                  f"Got {v!r}.", code="wrong_type")
            if t in out:
                raise ConfigError(f"The table '{t}' is given both in 'tables' and in 'queries' "
                                  "of [data]; give it one way.", code="invalid_value")
            out[t] = (kind, v.strip())
    for t in ("leads", "outcomes"):
        if t not in out:
            raise ConfigError(f"A SQL source needs the '{t}' table in 'tables' or 'queries' of "
                              "[data].", code="missing_key")
    return out


def read_sql(url: str, tables: dict | None = None, queries: dict | None = None,
             mapping: ColumnMapping | dict | None = None) -> dict[str, pd.DataFrame]:
    """Read calib's tables from a database as DataFrames with calib's column names.

    Every problem (a missing table, a failing query, a mapped column that is not there)
    is collected and raised together as one :class:`~calib.errors.DataError`.

    Parameters
    ----------
    url : str
        A SQLAlchemy URL, or ``env:NAME`` (see :func:`resolve_url`).
    tables : dict, optional
        calib table to a database table (``{"leads": "crm.leads", ...}``).
    queries : dict, optional
        calib table to a SQL query, for tables not given in ``tables``.
    mapping : ColumnMapping or dict, optional
        ``columns`` and ``exclude`` as for files.

    Returns
    -------
    dict of str to DataFrame
        ``leads`` and ``outcomes``, and ``events`` / ``assignments`` when given.

    Examples
    --------
    >>> import sqlite3
    >>> con = sqlite3.connect("crm.db")
    >>> _ = con.execute("drop table if exists contacts")
    >>> _ = con.execute("create table contacts (id text, created text, mql text)")
    >>> _ = con.execute("insert into contacts values ('c1', '2025-01-02', '2025-01-05')")
    >>> con.commit(); con.close()
    >>> frames = read_sql("sqlite:///crm.db", tables={"leads": "contacts"},
    ...                   queries={"outcomes": "select id, 'mql' as outcome, mql as occurred_at "
    ...                                        "from contacts where mql is not null"},
    ...                   mapping={"columns": {"leads": {"lead_id": "id", "created_at": "created"},
    ...                                        "outcomes": {"lead_id": "id"}}})
    >>> frames["leads"].columns.tolist(), len(frames["outcomes"])
    (['lead_id', 'created_at', 'mql'], 1)
    """
    sa = _sqlalchemy()
    sources = _check_sources(tables, queries)
    if not isinstance(mapping, ColumnMapping):
        mapping = ColumnMapping.from_dict(mapping)
    if mapping.files:
        raise ConfigError("[data.files] has no meaning for a SQL source; name tables in "
                          "'tables' instead.", code="invalid_value")
    u = resolve_url(url)
    where = masked(u)
    problems: list[Problem] = []
    frames: dict[str, pd.DataFrame] = {}
    try:
        engine = sa.create_engine(u)
    except Exception as e:  # noqa: BLE001 - e.g. a driver that is not installed
        raise CalibError(f"Cannot use the database {where}: {type(e).__name__}: "
                         f"{_first_line(e)}", code="connection_failed",
                         suggestion="pip install 'calib[sql]' for PostgreSQL.") from None
    try:
        with engine.connect() as conn:
            for table, (kind, what) in sources.items():
                df = _read_source(sa, conn, table, kind, what, where, problems)
                if df is not None:
                    frames[table] = _apply_mapping(df, table, mapping, problems)
    except sa.exc.OperationalError as e:
        raise DataError(f"Cannot connect to the database {where}: {_first_line(e.orig or e)}",
                        code="connection_failed",
                        problems=[Problem(where, "connection_failed",
                                          _first_line(e.orig or e))]) from None
    finally:
        engine.dispose()
    if problems:
        raise DataError(f"The database {where} has {len(problems)} problem"
                        f"{'s' if len(problems) > 1 else ''}:", code=problems[0].code,
                        problems=problems)
    return frames


def _read_source(sa, conn, table: str, kind: str, what: str, where: str,
                 problems: list) -> pd.DataFrame | None:
    """One calib table from a database table or a query; None (and a problem) when it
    is missing or the query fails."""
    try:
        if kind == "tables":
            schema, _, name = what.rpartition(".")
            t = sa.Table(name, sa.MetaData(), schema=schema or None, autoload_with=conn)
            return pd.read_sql(sa.select(t), conn)
        return pd.read_sql_query(sa.text(what), conn)
    except sa.exc.NoSuchTableError:
        schema, _, name = what.rpartition(".")
        have = sorted(sa.inspect(conn).get_table_names(schema=schema or None))
        problems.append(Problem(table, "missing_table", f"no table '{what}' in {where}; it "
                                f"has: {', '.join(have[:15]) or 'no tables'}"))
    except (sa.exc.DBAPIError, pd.errors.DatabaseError) as e:
        conn.rollback()
        cause = e.__cause__ if isinstance(e, pd.errors.DatabaseError) else e
        source = "query" if kind == "queries" else f"table '{what}'"
        reason = _first_line(getattr(cause, "orig", None) or cause or e)
        problems.append(Problem(table, "query_failed",
                                f"reading the {source} of '{table}' failed: {reason}"))
    return None


def _apply_mapping(df: pd.DataFrame, table: str, mapping: ColumnMapping, problems) -> pd.DataFrame:
    for calib_col, src in mapping.columns.get(table, {}).items():
        if src not in df.columns:
            problems.append(Problem(table, "mapping_missing_column",
                                    f"the mapping names column '{src}' (for '{calib_col}') but "
                                    f"the result has no such column; it has: "
                                    f"{', '.join(map(str, df.columns[:12]))}", column=src))
    for c in mapping.exclude.get(table, ()):
        if c not in df.columns:
            problems.append(Problem(table, "mapping_missing_column", f"[exclude] names column "
                                    f"'{c}' but the result has no such column", column=c))
    df = df.drop(columns=[c for c in mapping.exclude.get(table, ()) if c in df.columns])
    return df.rename(columns=mapping.renames(table))


def _first_line(e) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def load_sql(url: str, tables: dict | None = None, queries: dict | None = None,
             mapping: ColumnMapping | dict | None = None) -> Dataset:
    """A validated :class:`~calib.data.Dataset` read from a database.

    Parameters
    ----------
    url : str
        A SQLAlchemy URL (``postgresql://user@host:5432/db``), or ``env:NAME`` to read it
        from the environment variable ``NAME``.
    tables : dict, optional
        ``{"leads": "schema.table", "events": ..., "outcomes": ...}``.
    queries : dict, optional
        ``{"leads": "select ...", ...}`` for tables not given in ``tables``.
    mapping : ColumnMapping or dict, optional
        ``columns`` and ``exclude`` as for files.

    Returns
    -------
    Dataset
        Validated as :func:`calib.data.from_frames` does, named after the URL (password
        hidden).

    Examples
    --------
    The demo world's tables copied into SQLite, then read back as a data set:

    >>> import sqlite3
    >>> import pandas as pd
    >>> with sqlite3.connect("demo.db") as con:
    ...     for name in ("leads", "events", "outcomes"):
    ...         frame = pd.read_csv(f"calib-demo/data/{name}.csv")
    ...         _ = frame.to_sql(name, con, index=False, if_exists="replace")
    >>> ds = load_sql("sqlite:///demo.db",
    ...               tables={"leads": "leads", "events": "events", "outcomes": "outcomes"})
    >>> ds.n_leads, len(ds.events)
    (2000, 37833)
    """
    frames = read_sql(url, tables, queries, mapping)
    name = f"database {masked(resolve_url(url))}"
    return from_frames(frames["leads"], frames.get("events"), frames["outcomes"],
                       frames.get("assignments"), name=name)
