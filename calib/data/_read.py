"""Reading table files: finding them, checking their text, reading them into pandas."""

from __future__ import annotations

import codecs
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from calib.data.mapping import ColumnMapping
from calib.errors import Problem

EXTENSIONS = (".parquet", ".csv", ".csv.gz")


def find_file(folder: Path, table: str, mapping: ColumnMapping) -> Path | None:
    """The file of ``table`` (the mapped one, existing or not), or None."""
    if table in mapping.files:
        return folder / mapping.files[table]  # a missing mapped file is reported by the caller
    for ext in EXTENSIONS:
        p = folder / f"{table}{ext}"
        if p.exists():
            return p
    return None


def check_utf8(path: Path) -> Problem | None:
    """A problem when the text file is not UTF-8, naming the offset of the first bad byte.

    An uncompressed file is checked by Arrow's validator on a memory map (a pass at
    memory speed); Python's decoder runs only to name the offset of a bad byte, and
    on compressed files.
    """
    if path.suffix != ".gz" and _valid_utf8(path):
        return None
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    opener = open
    if path.suffix == ".gz":
        import gzip

        opener = gzip.open
    with opener(path, "rb") as f:
        while True:
            chunk = f.read(1 << 22)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as e:
                return Problem(path.name, "not_utf8",
                               f"the file is not UTF-8 text (invalid byte at offset "
                               f"{offset + e.start}); save it as UTF-8 and retry")
            if not chunk:
                return None
            offset += len(chunk)


def _valid_utf8(path: Path) -> bool:
    """True when Arrow finds the whole file valid UTF-8 (False also when it cannot
    tell: an empty or unmappable file)."""
    try:
        with pa.memory_map(str(path)) as source:
            data = source.read_buffer()
            offsets = pa.array([0, data.size], pa.int64()).buffers()[1]
            raw = pa.LargeBinaryArray.from_buffers(pa.large_binary(), 1, [None, offsets, data])
            raw.cast(pa.large_string())  # raises on invalid UTF-8
        return True
    except (pa.ArrowException, OSError, ValueError):
        return False


def read_file(path: Path, string_columns, dictionary=()) -> pd.DataFrame:
    """Read a table; ``string_columns`` stay text. Columns in ``dictionary`` (event
    types, outcome names: few distinct values repeated millions of times) are read
    dictionary-encoded, as pandas categoricals."""
    if path.suffix == ".parquet" or path.is_dir():
        if not dictionary:
            return pd.read_parquet(path)
        schema = pq.read_schema(path) if path.is_file() else None
        cols = [c for c in dictionary if schema is not None and c in schema.names
                and pa.types.is_string(schema.field(c).type)]
        table = pq.read_table(path, read_dictionary=cols)
        if cols:  # one dictionary per column: pandas then builds each categorical once
            table = table.unify_dictionaries().combine_chunks()
        return table.to_pandas()
    if dictionary:
        try:
            types = {c: pa.string() for c in string_columns}
            types.update({c: pa.dictionary(pa.int32(), pa.string()) for c in dictionary})
            table = pa_csv.read_csv(path, convert_options=pa_csv.ConvertOptions(
                column_types=types, strings_can_be_null=True))
            df = table.to_pandas()
            df.columns = [str(c).lstrip("\ufeff").strip() for c in df.columns]
            return df
        except Exception:  # noqa: BLE001 - fall back to the plain readers below
            pass
    dtype = {c: "string" for c in string_columns}
    try:
        df = pd.read_csv(path, dtype=dtype, engine="pyarrow")
    except Exception:  # pyarrow is strict about ragged rows; pandas' parser says more
        df = pd.read_csv(path, dtype=dtype, encoding="utf-8", keep_default_na=True)
    df.columns = [str(c).lstrip("\ufeff").strip() for c in df.columns]
    return df
