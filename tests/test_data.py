"""Data sets (SPEC section 1): loading, UTC, codes, and every kind of bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from calib.data import ColumnMapping, load_dataset, summarize
from calib.errors import DataError
from small_world import EVENTS, LEADS, OUTCOMES, write_dataset


def test_loads_and_encodes(small_data):
    ds = load_dataset(small_data)
    assert ds.n_leads == 4 and len(ds.events) == 6 and len(ds.outcomes) == 3
    assert ds.events["lead"].dtype == np.int32
    assert isinstance(ds.events["event_type"].dtype, pd.CategoricalDtype)
    # +02:00 is converted to UTC; a bare date is midnight UTC
    assert ds.leads.loc[1, "created_at"] == pd.Timestamp("2025-01-02T07:30:00Z")
    assert ds.leads.loc[2, "created_at"] == pd.Timestamp("2025-01-05T00:00:00Z")
    assert ds.end_of_data == pd.Timestamp("2025-02-04T00:00:00Z")
    # events are sorted by lead, then time
    lead = ds.events["lead"].to_numpy()
    assert (np.diff(lead) >= 0).all()
    assert not ds.snapshot


def test_parquet_equals_csv(small_data, tmp_path):
    pq = tmp_path / "pq"
    pq.mkdir()
    for name in ("leads", "events", "outcomes"):
        df = pd.read_csv(small_data / f"{name}.csv", dtype={"lead_id": "string"})
        for c in ("created_at", "occurred_at"):
            if c in df:
                df[c] = pd.to_datetime(df[c], utc=True, format="ISO8601")
        df.to_parquet(pq / f"{name}.parquet")
    a, b = load_dataset(small_data), load_dataset(pq)
    pd.testing.assert_frame_equal(a.events, b.events)
    assert (a.leads["created_at"] == b.leads["created_at"]).all()


def test_input_files_are_not_modified(small_data):
    before = {p.name: p.read_bytes() for p in small_data.iterdir()}
    load_dataset(small_data)
    assert {p.name: p.read_bytes() for p in small_data.iterdir()} == before


def test_snapshot_when_no_dates(tmp_path):
    folder = write_dataset(tmp_path / "s", leads="lead_id,page_views\na,3\nb,10\n",
                           events=None, outcomes="lead_id,outcome\nb,won\n")
    ds = load_dataset(folder)
    assert ds.snapshot and len(ds.events) == 0
    assert summarize(ds).to_dict()["snapshot"] is True


def test_mapping_renames_and_excludes(tmp_path):
    folder = write_dataset(
        tmp_path / "hs",
        leads="Record ID,Create Date,Lead Quality\n1,2025-01-01,High\n2,2025-01-02,Low\n",
        events=None,
        outcomes="Record ID,Stage,Date\n1,won,2025-02-01\n",
    )
    mapping = ColumnMapping.from_dict({
        "columns": {"leads": {"lead_id": "Record ID", "created_at": "Create Date"},
                    "outcomes": {"lead_id": "Record ID", "outcome": "Stage",
                                 "occurred_at": "Date"}},
        "exclude": {"leads": ["Lead Quality"]},
    })
    ds = load_dataset(folder, mapping)
    assert list(ds.leads.columns) == ["lead_id", "created_at"]
    assert ds.leads["lead_id"].tolist() == ["1", "2"]  # ids stay text


def problems_of(folder, mapping=None) -> set[str]:
    with pytest.raises(DataError) as err:
        load_dataset(folder, mapping)
    return err.value.codes


@pytest.mark.parametrize("tables, code", [
    ({"outcomes": None}, "missing_table"),
    ({"leads": LEADS.replace("lead_id", "id")}, "missing_column"),
    ({"events": EVENTS.replace("event_type", "type")}, "missing_column"),
    ({"leads": LEADS.replace("2025-01-05", "05/01/2025 noon")}, "unparseable_timestamp"),
    ({"events": EVENTS.replace("2025-01-06T08:00:00Z", "yesterday")}, "unparseable_timestamp"),
    ({"leads": LEADS + "L1,2025-03-01T00:00:00Z,ic,5,retail\n"}, "duplicate_lead_id"),
    ({"events": EVENTS + "L9,2025-01-03T10:00:00Z,email_open\n"}, "unknown_lead"),
    ({"outcomes": OUTCOMES + "L9,won,2025-01-03T10:00:00Z,5\n"}, "unknown_lead"),
    ({"events": "lead_id,occurred_at,event_type\n"}, "empty_table"),
    ({"leads": "lead_id,created_at\n"}, "empty_table"),
    ({"outcomes": OUTCOMES.replace(",1000", ",-1000")}, "negative_amount"),
    ({"outcomes": OUTCOMES.replace(",1000", ",lots")}, "invalid_number"),
    ({"leads": LEADS.encode("utf-8").replace(b"software", b"soft\xe9ware", 1)}, "not_utf8"),
])
def test_bad_input_gives_reason(tmp_path, tables, code):
    kwargs = {"leads": LEADS, "events": EVENTS, "outcomes": OUTCOMES, **tables}
    assert code in problems_of(write_dataset(tmp_path / "d", **kwargs))


def test_every_problem_is_reported_at_once(tmp_path):
    folder = write_dataset(
        tmp_path / "d",
        leads=LEADS + "L1,2025-03-01T00:00:00Z,ic,5,retail\n",
        events=EVENTS + "L9,2025-01-03T10:00:00Z,email_open\nL2,not a date,email_open\n",
        outcomes=OUTCOMES.replace(",1000", ",-1000"),
    )
    with pytest.raises(DataError) as err:
        load_dataset(folder)
    assert {"duplicate_lead_id", "unknown_lead", "unparseable_timestamp",
            "negative_amount"} <= err.value.codes
    text = str(err.value)
    assert "L9" in text and "not a date" in text  # offending rows are shown


def test_mapping_naming_a_missing_column(tmp_path, small_data):
    mapping = ColumnMapping.from_dict({"columns": {"leads": {"lead_id": "Record ID"}}})
    assert "mapping_missing_column" in problems_of(small_data, mapping)


def test_missing_folder(tmp_path):
    assert "missing_table" in problems_of(tmp_path / "nope")


@pytest.mark.parametrize("ids", [
    ["a", "b", "c"], ["a", " a", "b"], ["a", "b", "a "], [" x ", "x", "x\t", "y"],
    ["a", None, "b"], ["a", None, None, "b"], ["a", "", "b"], ["a", " ", "", "a"],
    ["\u2003a", "a", "b"],
])
def test_duplicate_lead_ids_are_the_stripped_ids_pandas_finds_twice(ids):
    """Distinct ids are told from the lookup of the other tables' ids; whatever that
    finds, the duplicates reported are those pandas finds among the stripped ids."""
    from calib.data.dataset import from_frames

    leads = pd.DataFrame({"lead_id": pd.Series(ids, dtype="str"),
                          "created_at": "2025-01-01T00:00:00Z"})
    stripped = leads["lead_id"].astype("string").str.strip()
    missing = stripped.isna() | (stripped == "")
    dup = (stripped.duplicated(keep=False) & ~missing).to_numpy()
    outcomes = pd.DataFrame({"lead_id": ["b"], "outcome": ["won"],
                             "occurred_at": ["2025-02-01T00:00:00Z"]})
    try:
        from_frames(leads, outcomes=outcomes)
        found = {}
    except DataError as e:
        found = {p.code: p for p in e.problems}
    assert ("duplicate_lead_id" in found) == bool(dup.any())
    if dup.any():
        p = found["duplicate_lead_id"]
        assert p.count == int(dup.sum())
        assert [r["row"] for r in p.rows] == [int(i) + 2 for i in np.flatnonzero(dup)[:3]]
