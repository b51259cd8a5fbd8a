"""Arrow-native encoding: the hot path of loading a data set.

An events table holds millions of rows. It is read as Arrow columns (Parquet or CSV,
only the three columns calib keeps, event types dictionary-encoded by the reader),
its lead ids matched to the leads' ids in one hashing pass (``index_in``), its times
taken as int64 once and its event types from the reader's dictionary: no Python
object per row and no pandas text column. When any row would be a problem the
encoder returns None, and the loader's pandas checks then report every problem with
its rows, as for any other table.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from calib.data._read import read_file
from calib.data._sort import sort_events

EVENT_COLUMNS = ("lead_id", "occurred_at", "event_type")
SPLIT_ROWS = 1 << 21  # ids looked up in two threads from this many on


# ---------------------------------------------------------------------- text and codes
def arrow_text(s, trim: bool = True) -> pa.Array:
    """A column as an Arrow string array with surrounding blanks removed (fast hashing
    and encoding of tens of millions of ids without Python objects)."""
    arr = s if isinstance(s, (pa.Array, pa.ChunkedArray)) else pa.array(s, from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not pa.types.is_string(arr.type):
        arr = pc.cast(arr, pa.string())
    return pc.utf8_trim_whitespace(arr) if trim else arr


def match_ids(ids, lead_keys: pa.Array) -> np.ndarray:
    """Positions of ``ids`` (Arrow text, plain or chunked) in ``lead_keys``, -1 when
    absent, as a new int32 array. One hashing pass over the raw ids; only the ids not
    found are retried without surrounding blanks (trimming every one of millions of
    ids costs a pass)."""
    codes = _index_in(ids, lead_keys)
    miss = codes < 0
    if miss.any():
        if isinstance(ids, pa.ChunkedArray):
            ids = ids.combine_chunks()
        retry = pc.index_in(pc.utf8_trim_whitespace(ids.filter(pa.array(miss))),
                            value_set=lead_keys)
        codes[miss] = retry.fill_null(-1).to_numpy(zero_copy_only=False)
    return codes


def match_ids_of(columns: list, lead_keys: pa.Array) -> list[np.ndarray]:
    """:func:`match_ids` of several id columns (pandas or Arrow text) in one lookup:
    each lookup hashes all of ``lead_keys`` again, which for a few hundred thousand
    leads costs as much as looking up a table of outcomes. Arrow text columns are
    looked up chunk by chunk, without a copy."""
    chunks, sizes = [], []
    for c in columns:
        if isinstance(c, pa.ChunkedArray) and pa.types.is_string(c.type):
            chunks += c.chunks
        else:
            chunks.append(arrow_text(c, trim=False))
        sizes.append(len(c))
    if not columns:
        return []
    codes = match_ids(pa.chunked_array(chunks, type=pa.string()), lead_keys)
    return np.split(codes, np.cumsum(sizes)[:-1])


def _index_in(ids, lead_keys: pa.Array) -> np.ndarray:
    """``index_in`` as a new int32 array (-1: not found); millions of ids are looked
    up in two halves at once (Arrow's kernels release the GIL). Each half's result
    is copied once, straight into its place in the answer."""
    n = len(ids)
    out = np.empty(n, dtype=np.int32)
    bounds = [0, n] if n < SPLIT_ROWS else [0, n // 2, n]

    def look_up(lo: int, hi: int) -> None:
        found = pc.index_in(ids.slice(lo, hi - lo), value_set=lead_keys)
        if found.null_count:
            found = found.fill_null(-1)
        for chunk in (found.chunks if isinstance(found, pa.ChunkedArray) else [found]):
            out[lo:lo + len(chunk)] = chunk.to_numpy(zero_copy_only=False)
            lo += len(chunk)

    if len(bounds) == 2:
        look_up(0, n)
    else:
        with ThreadPoolExecutor(len(bounds) - 1) as pool:
            list(pool.map(look_up, bounds[:-1], bounds[1:]))
    return out


def text_codes(s: pd.Series) -> tuple[np.ndarray, pa.Array]:
    """(row codes, distinct stripped values) of a text column; code -1 for missing."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        codes = s.cat.codes.to_numpy().astype(np.int32)
        values = arrow_text(pd.Series(s.cat.categories, dtype=object))
        return codes, values
    enc = pc.dictionary_encode(arrow_text(s))
    return enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32), \
        enc.dictionary


def categorical(row_codes: np.ndarray, values: pa.Array) -> pd.Categorical:
    """Row codes into (possibly repeated, after stripping) values -> a pandas
    Categorical with sorted distinct categories (code -1: missing)."""
    codes, dtype = category_codes(row_codes, values)
    return pd.Categorical.from_codes(codes, dtype=dtype, validate=False)


def category_codes(row_codes: np.ndarray,
                   values: pa.Array) -> tuple[np.ndarray, pd.CategoricalDtype]:
    """The codes and dtype of :func:`categorical`'s result, the codes a new writable
    array. The recoding is worked out on the few distinct values; the rows are
    gathered once, straight into the code type pandas keeps."""
    enc = pc.dictionary_encode(values)
    uniq = enc.dictionary.to_pylist()
    to_uniq = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    order = (np.argsort(np.array(uniq, dtype=object), kind="stable") if uniq
             else np.zeros(0, int))
    remap = np.empty(len(uniq), dtype=np.int64)
    remap[order] = np.arange(len(uniq))
    lut = np.where(to_uniq >= 0, remap[np.maximum(to_uniq, 0)] if len(uniq) else -1, -1)
    lut = np.append(lut, -1).astype(_code_type(len(uniq)))  # row code -1 -> lut[-1]
    return lut[row_codes], pd.CategoricalDtype([uniq[i] for i in order])


def _code_type(n: int) -> type:
    """The integer type pandas keeps the codes of ``n`` categories in."""
    for t in (np.int8, np.int16, np.int32):
        if n < np.iinfo(t).max:
            return t
    return np.int64


# ---------------------------------------------------------------------- reading
class ArrowEvents:
    """An events table read as Arrow columns, kept so until encoded.

    ``columns`` are the names of every column of the file (after the mapping's
    exclusions and renames, once :meth:`select` applied them); ``table`` holds only
    the columns the encoder uses, under calib's names.
    """

    def __init__(self, table: pa.Table, names: list[str], path: Path, id_cols: list[str],
                 exclude=(), renames=None, n_rows: int | None = None):
        self.table, self.names, self.path, self.id_cols = table, names, path, id_cols
        self.exclude, self.renames = tuple(exclude), dict(renames or {})
        self.n_rows = table.num_rows if n_rows is None else n_rows
        # False when the mapped table lacks a column or names one twice
        self.encodable = set(EVENT_COLUMNS) <= set(table.column_names)

    @property
    def columns(self) -> pd.Index:
        kept = [c for c in self.names if c not in self.exclude]
        return pd.Index([self.renames.get(c, c) for c in kept])

    def __len__(self) -> int:
        return self.n_rows

    def select(self, exclude, renames: dict) -> "ArrowEvents":
        """The table with the mapping's exclusions and renames applied."""
        source = _event_sources(self.names, exclude, renames)
        t = self.table
        if source is not None and all(s in t.column_names for s in source.values()):
            t = pa.table({c: t.column(s) for c, s in source.items()})
        else:  # a required column is missing: the pandas checks name it
            t = t.select([])
        return ArrowEvents(t, self.names, self.path, self.id_cols, exclude, renames,
                           n_rows=self.n_rows)

    def to_pandas(self) -> pd.DataFrame:
        """The table exactly as the pandas path reads it (:func:`read_file`), mapped."""
        df = read_file(self.path, self.id_cols, dictionary=self.id_cols[1:])
        df = df.drop(columns=[c for c in self.exclude if c in df.columns])
        return df.rename(columns=self.renames)


def _event_sources(names: list[str], exclude, renames: dict) -> dict | None:
    """{calib column: file column} of the three event columns, or None when one is
    missing or a name would occur twice after renaming."""
    final = [(renames.get(c, c), c) for c in names if c not in exclude]
    finals = [f for f, _ in final]
    if len(set(finals)) != len(finals):
        return None
    source = {f: c for f, c in final if f in EVENT_COLUMNS}
    return source if len(source) == len(EVENT_COLUMNS) else None


def read_events(path: Path, id_cols: list[str], exclude=(), renames=None) -> ArrowEvents | None:
    """An events file as :class:`ArrowEvents`, or None when it is not a plain Parquet
    or CSV file Arrow reads (then the pandas reader reads it as any other table).

    Parquet is read with only the columns calib keeps and the event types as a
    dictionary; CSV with the same column types as the pandas path's Arrow reader.
    """
    renames = dict(renames or {})
    if path.suffix == ".parquet" and path.is_file():
        schema = pq.read_schema(path)
        names = list(schema.names)
        source = _event_sources(names, exclude, renames)
        columns = list(source.values()) if source is not None else []
        # lead ids stay plain text: with many distinct ids Parquet's dictionary pages
        # fall back to plain ones, and Arrow then builds dictionaries per page, several
        # times slower than one hashing pass over the ids
        etype = id_cols[1]
        dictionary = [etype] if (etype in columns
                                 and pa.types.is_string(schema.field(etype).type)) else []
        table = pq.read_table(path, columns=columns, read_dictionary=dictionary)
        return ArrowEvents(table, names, path, id_cols)
    return _read_events_csv(path, id_cols) if path.suffix == ".csv" else None


def _read_events_csv(path: Path, id_cols: list[str]) -> ArrowEvents | None:
    """An events CSV file read as the pandas path's Arrow reader reads it, or None when
    Arrow cannot read it or it is not all UTF-8 (the loader then checks its text and
    reads it with pandas, which say more).

    Arrow validates the UTF-8 of every text column (the ids and types raise; a column
    it infers falls back to binary), so with a valid header line a file read here
    needs no separate UTF-8 pass.
    """
    with open(path, "rb") as f:
        header = f.readline(1 << 16)
    try:
        header.decode("utf-8")
    except UnicodeDecodeError:
        return None
    types = {c: pa.string() for c in id_cols}
    types.update({c: pa.dictionary(pa.int32(), pa.string()) for c in id_cols[1:]})
    try:
        table = pa_csv.read_csv(path, convert_options=pa_csv.ConvertOptions(
            column_types=types, strings_can_be_null=True))
    except (pa.ArrowException, OSError):
        return None  # ragged rows, text that is not UTF-8 and the like
    if any(pa.types.is_binary(t) or pa.types.is_large_binary(t) for t in table.schema.types):
        return None
    names = [str(c).lstrip("\ufeff").strip() for c in table.column_names]
    return ArrowEvents(table.rename_columns(names), names, path, id_cols)


# ---------------------------------------------------------------------- encoding
def encode_events(t: pa.Table, lead_keys: pa.Array, n_leads: int,
                  codes: np.ndarray | None = None) -> pd.DataFrame | None:
    """The events of an Arrow table encoded and sorted by lead then time, or None when
    any row would be a problem (then the pandas checks report it with its rows).

    Lead ids are hashed once against the leads' ids (unless ``codes`` holds their
    :func:`match_ids` already), event types are the reader's dictionary codes and
    times the int64 values of the timestamp column.
    """
    if not set(EVENT_COLUMNS) <= set(t.column_names):
        return None
    when, etype, lid = t.column("occurred_at"), t.column("event_type"), t.column("lead_id")
    if not pa.types.is_timestamp(when.type) or when.null_count or lid.null_count:
        return None
    if not (pa.types.is_string(lid.type) and pa.types.is_dictionary(etype.type)
            and pa.types.is_string(etype.type.value_type)):
        return None
    if codes is None:
        codes = match_ids(lid, lead_keys)
    if len(codes) and codes.min() < 0:
        return None
    t_ns = _int64_ns(when)
    types = _event_types(etype)
    if t_ns is None or types is None:
        return None
    lead, t_ns, kind = sort_events(codes, t_ns, types[0], n_leads)
    # naive nanoseconds given the UTC dtype: the same values as localising a
    # DatetimeIndex to UTC, which checks every value for a time-zone shift (2x slower)
    stamps = pd.Series(t_ns.view("M8[ns]"), dtype="datetime64[ns, UTC]")
    return pd.DataFrame({"lead": lead, "occurred_at": stamps,
                         "event_type": pd.Categorical.from_codes(kind, dtype=types[1],
                                                                 validate=False)},
                        copy=False)


def _int64_ns(when: pa.ChunkedArray) -> np.ndarray | None:
    """A timestamp column as a new int64 array of nanoseconds, or None when some value
    is outside what pandas can hold (the pandas checks report those rows).

    The values are scaled in place in the one copy numpy makes of the column: an
    Arrow cast to nanoseconds first would write a second array as long as the events.
    """
    per_unit = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[when.type.unit]
    raw = (when.cast(pa.int64()).to_numpy() if when.num_chunks  # in the column's unit
           else np.zeros(0, np.int64))
    if not raw.flags.writeable:  # one chunk is viewed, not copied; the table is the user's
        raw = raw.copy()
    if not len(raw):
        return raw
    # Python integers: the bounds are checked before anything can overflow; the lowest
    # bound leaves out the one value pandas reads as NaT
    if (int(raw.min()) * per_unit < pd.Timestamp.min.value
            or int(raw.max()) * per_unit > np.iinfo(np.int64).max):
        return None
    if per_unit > 1:
        raw *= per_unit
    return raw


def _event_types(etype: pa.ChunkedArray) -> tuple[np.ndarray, pd.CategoricalDtype] | None:
    """Dictionary-encoded event types as (codes, dtype) of stripped, sorted types, or
    None when one is missing or blank."""
    if etype.null_count:
        return None
    etype = pa.table({"e": etype}).unify_dictionaries().column("e")
    values = (etype.chunk(0).dictionary if etype.num_chunks else pa.array([], pa.string()))
    values = pc.utf8_trim_whitespace(values)
    blank = pc.fill_null(pc.equal(values, ""), True).to_numpy(zero_copy_only=False)
    chunks = [c.indices.to_numpy(zero_copy_only=False) for c in etype.chunks]
    if blank.any() and any(blank[c].any() for c in chunks):  # unused blank types are fine
        return None
    # each dictionary entry's code, then each chunk's rows gathered straight into the
    # answer: no int32 copy of all the rows' indices first
    per_value, dtype = category_codes(np.arange(len(values)), values)
    codes = np.empty(len(etype), per_value.dtype)
    start = 0
    for c in chunks:
        np.take(per_value, c, out=codes[start:start + len(c)])
        start += len(c)
    return codes, dtype
