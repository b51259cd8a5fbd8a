"""Tests of calib.io's table writer for pyarrow Tables (the demo world writes through it)."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from calib.io import write_table


def _table(text) -> pa.Table:
    ts = pd.to_datetime(["2025-03-04T13:22:05.750", "2026-01-01T00:00:00.000"], utc=True)
    return pa.table({
        "lead_id": pa.array(["L1", "L2"]),
        "text": pa.array(text),
        "at": pa.array(ts, type=pa.timestamp("us", tz="UTC")),
        "flag": pa.array([True, False]),
        "amount": pa.array([11600.0, None]),
        "kind": pa.array(["a", "b"]).dictionary_encode(),
    })


def test_arrow_csv_layout(tmp_path):
    path = tmp_path / "t.csv"
    write_table(_table(["plain", "-12"]), path)
    # whole seconds in UTC (truncated like the pandas path's date_format), lower-case
    # booleans, no quotes where no value needs them, null as an empty field
    assert path.read_text().splitlines() == [
        "lead_id,text,at,flag,amount,kind",
        "L1,plain,2025-03-04T13:22:05Z,true,11600,a",
        "L2,-12,2026-01-01T00:00:00Z,false,,b",
    ]


def test_arrow_csv_guards_formulas_and_quotes_when_needed(tmp_path):
    path = tmp_path / "t.csv"
    write_table(_table(["=HYPERLINK(1)", 'a, "b"']), path)
    back = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert back["text"].tolist() == ["'=HYPERLINK(1)", 'a, "b"']
    assert back["at"].tolist() == ["2025-03-04T13:22:05Z", "2026-01-01T00:00:00Z"]


def test_arrow_csv_guards_column_names(tmp_path):
    path = tmp_path / "t.csv"
    write_table(pa.table({"=x": ["1"], "a,b": ["2"]}), path)
    assert path.read_text().splitlines()[0] == "'=x,\"a,b\""


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_arrow_and_pandas_write_the_same_values(tmp_path, suffix):
    table = _table(["x", "y"]).drop_columns(["at", "kind"])
    write_table(table, tmp_path / f"a{suffix}")
    write_table(table.to_pandas(), tmp_path / f"p{suffix}")
    read = pd.read_csv if suffix == ".csv" else pd.read_parquet
    pd.testing.assert_frame_equal(read(tmp_path / f"a{suffix}"), read(tmp_path / f"p{suffix}"))
