"""The Arrow path of loading (calib.data._arrow, _read, _sort): what it returns is what
the pandas checks return for the same files, whatever the file's layout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import calib.data.dataset as dataset_module
from calib.data import load_dataset
from calib.data._read import check_utf8
from calib.data._sort import order_by_lead_time, sort_events
from calib.errors import DataError

TABLES = ("leads", "events", "outcomes", "assignments")


@pytest.fixture(scope="module")
def demo_parquet(tmp_path_factory):
    from calib.demo import generate_demo

    root = tmp_path_factory.mktemp("demo")
    generate_demo(root, n_leads=400, seed=5, fmt="parquet")
    return root / "data"


def pandas_path(monkeypatch):
    """Every events table through the pandas checks, as when some row is wrong."""
    monkeypatch.setattr(dataset_module, "encode_events", lambda *a, **k: None)


def assert_identical(a, b) -> None:
    for table in TABLES:
        x, y = getattr(a, table), getattr(b, table)
        if x is None or y is None:
            assert x is None and y is None
            continue
        pd.testing.assert_frame_equal(x, y, check_exact=True, obj=table)
        for c in x.columns:
            if isinstance(x[c].dtype, pd.CategoricalDtype):
                assert x[c].cat.codes.dtype == y[c].cat.codes.dtype, (table, c)
    assert (a.end_of_data, a.warnings, a.snapshot) == (b.end_of_data, b.warnings, b.snapshot)


def rewrite_events(src, dst, change, fmt="parquet", **write):
    """A copy of the data set whose events table went through ``change``."""
    dst.mkdir()
    for p in src.iterdir():
        if p.name.startswith("events"):
            continue
        (dst / p.name).write_bytes(p.read_bytes())
    t = change(pq.read_table(src / "events.parquet"))
    if fmt == "parquet":
        pq.write_table(t, dst / "events.parquet", **write)
    else:
        t.to_pandas().to_csv(dst / "events.csv", index=False)
    return dst


def shuffled_ms_extra(t):
    order = np.random.default_rng(0).permutation(t.num_rows)
    t = t.take(order).append_column("extra", pa.array(np.arange(t.num_rows)))
    return t.set_column(1, "occurred_at", t.column("occurred_at").cast(pa.timestamp("ms", "UTC")))


def naive_with_blanks(t):
    ids = [f" {s}" if i % 7 == 0 else s for i, s in enumerate(t.column("lead_id").to_pylist())]
    kinds = [f"{s} " if i % 5 == 0 else s
             for i, s in enumerate(t.column("event_type").to_pylist())]
    return pa.table({"lead_id": ids, "occurred_at": t.column("occurred_at").cast(
        pa.timestamp("ns")), "event_type": kinds})


def by_lead_then_time(t):
    return t.sort_by([("lead_id", "ascending"), ("occurred_at", "ascending")])


@pytest.mark.parametrize("change, fmt, write", [
    (lambda t: t, "parquet", {}),
    (shuffled_ms_extra, "parquet", {"row_group_size": 500}),
    (naive_with_blanks, "parquet", {"use_dictionary": False}),
    (by_lead_then_time, "parquet", {}),
    (lambda t: t, "parquet", {"row_group_size": 300, "dictionary_pagesize_limit": 200}),
    (lambda t: t, "csv", {}),
    (shuffled_ms_extra, "csv", {}),
    (by_lead_then_time, "csv", {}),
], ids=["as-written", "shuffled-ms-extra-column", "naive-times-blanks", "sorted",
        "small-dictionary-pages", "csv", "csv-shuffled", "csv-sorted"])
def test_the_arrow_path_equals_the_pandas_checks(demo_parquet, tmp_path, monkeypatch,
                                                 change, fmt, write):
    folder = rewrite_events(demo_parquet, tmp_path / "d", change, fmt, **write)
    encoded = []
    real = dataset_module.encode_events
    monkeypatch.setattr(dataset_module, "encode_events",
                        lambda *a: encoded.append(real(*a)) or encoded[-1])
    fast = load_dataset(folder, cache=False)
    assert len(encoded) == 1 and encoded[0] is not None  # the Arrow path was taken
    pandas_path(monkeypatch)
    assert_identical(fast, load_dataset(folder, cache=False))


def test_a_mapping_renames_and_excludes_on_the_arrow_path(demo_parquet, tmp_path,
                                                          monkeypatch):
    folder = rewrite_events(demo_parquet, tmp_path / "d", lambda t: t.rename_columns(
        ["Contact", "When", "What"]).append_column("lead_id", t.column("lead_id")))
    mapping = {"columns": {"events": {"lead_id": "Contact", "occurred_at": "When",
                                      "event_type": "What"}},
               "exclude": {"events": ["lead_id"]}}
    fast = load_dataset(folder, mapping, cache=False)
    assert len(fast.events) == pq.read_metadata(folder / "events.parquet").num_rows
    pandas_path(monkeypatch)
    assert_identical(fast, load_dataset(folder, mapping, cache=False))


def test_bad_parquet_events_are_reported_with_their_rows(demo_parquet, tmp_path):
    def spoil(t):
        df = t.to_pandas()
        df.loc[3, "lead_id"] = "NOPE"
        df.loc[10, "event_type"] = " "
        df.loc[12, "occurred_at"] = pd.NaT
        return pa.Table.from_pandas(df, preserve_index=False)

    folder = rewrite_events(demo_parquet, tmp_path / "d", spoil)
    with pytest.raises(DataError) as err:
        load_dataset(folder, cache=False)
    got = {p.code: (p.count, p.rows[0]["row"]) for p in err.value.problems}
    # row numbers count the header line and from 1, as in a spreadsheet
    assert got == {"unknown_lead": (1, 5), "missing_value": (1, 12),
                   "missing_timestamp": (1, 14)}


def test_every_column_of_a_fresh_load_can_be_written(demo_parquet, tmp_path):
    """Sorted events skip the sort: their columns must still be the data set's own."""
    folder = rewrite_events(demo_parquet, tmp_path / "d", by_lead_then_time)
    ds = load_dataset(folder, cache=False)
    for c in ds.events.columns:
        ds.events.loc[0, c] = ds.events[c].iloc[-1]
        assert ds.events[c].iloc[0] == ds.events[c].iloc[-1]


@pytest.mark.parametrize("layout", ["sorted", "time-ordered", "random", "ties"])
def test_sort_events_is_the_stable_lead_time_order(layout):
    rng = np.random.default_rng(7)
    n, n_leads = 5000, 300
    lead = rng.integers(0, n_leads, n).astype(np.int32)
    t = rng.integers(0, 50 if layout == "ties" else 10**12, n).astype(np.int64)
    if layout == "time-ordered":
        t.sort()
    if layout == "sorted":
        order = np.lexsort((t, lead))
        lead, t = lead[order], t[order]
    kind = np.arange(n).astype(np.int16)  # the row number: shows where each row went
    order = order_by_lead_time(lead, t, n_leads)
    got_lead, got_t, got_kind = sort_events(lead, t, kind, n_leads)
    assert (got_kind == kind[order]).all()
    assert (got_lead == lead[order]).all() and (got_t == t[order]).all()
    # the reference: a stable sort by time, then a stable sort by lead
    by_time = np.argsort(t, kind="stable")
    assert (order == by_time[np.argsort(lead[by_time], kind="stable")]).all()


@pytest.mark.parametrize("data", [
    b"plain ascii\n", "caf\u00e9, \u20ac, \U0001f600\n".encode(), b"\xef\xbb\xbfbom\n",
    b"bad \xe9 latin-1\n", b"overlong \xc0\xaf\n", b"surrogate \xed\xa0\x80\n",
    b"beyond \xf4\x90\x80\x80\n", b"cut \xe2\x82", b"stray \x80\n", b"\xff\xfe",
], ids=["ascii", "multibyte", "bom", "latin-1", "overlong", "surrogate", "beyond-10ffff",
        "truncated", "continuation", "utf-16-bom"])
def test_the_utf8_check_agrees_with_python(tmp_path, data):
    path = tmp_path / "t.csv"
    path.write_bytes(data)
    try:
        data.decode("utf-8")
        valid = True
    except UnicodeDecodeError as e:
        valid, bad_at = False, e.start
    problem = check_utf8(path)
    assert (problem is None) == valid
    if not valid:
        assert problem.code == "not_utf8"
        if bad_at + 3 < len(data):  # a file cut inside a character is named at its end
            assert f"invalid byte at offset {bad_at})" in problem.message


def test_ids_looked_up_in_two_halves_match_one_pass(monkeypatch):
    import calib.data._arrow as arrow_module

    keys = pa.array([f"L{i}" for i in range(100)])
    ids = pa.chunked_array([[f"L{i}" for i in range(0, 300, 3)], [" L5", "nope", None, "L7 "]])
    whole = arrow_module.match_ids(ids, keys)
    monkeypatch.setattr(arrow_module, "SPLIT_ROWS", 10)
    halves = arrow_module.match_ids(ids, keys)
    expected = [i if i < 100 else -1 for i in range(0, 300, 3)] + [5, -1, -1, 7]
    assert whole.tolist() == expected and halves.tolist() == expected
    assert halves.dtype == whole.dtype == np.int32


@pytest.mark.parametrize("spoil", [
    lambda text: text.replace(b"email_open", b"email_\xe9pen", 1),
    lambda text: text.replace(b"2025-01-06T08:00:00Z", b"2025-01-06T08:00:00\xff", 1),
    lambda text: b"".join(line.rstrip(b"\n") + (b",note\n" if i == 0 else b",caf\xe9\n")
                          for i, line in enumerate(text.splitlines(keepends=True))),
    lambda text: text.replace(b"event_type", b"event_\xe9type"),
], ids=["event-type", "time", "extra-column", "header"])
def test_an_events_csv_that_is_not_utf8_is_named_with_its_offset(tmp_path, spoil):
    from small_world import EVENTS, LEADS, OUTCOMES, write_dataset

    folder = write_dataset(tmp_path / "d", leads=LEADS, events=EVENTS, outcomes=OUTCOMES)
    data = spoil(EVENTS.encode())
    (folder / "events.csv").write_bytes(data)
    with pytest.raises(DataError) as err:
        load_dataset(folder, cache=False)
    (problem,) = err.value.problems
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        offset = e.start
    assert problem.code == "not_utf8" and problem.table == "events"
    assert f"invalid byte at offset {offset})" in problem.message


@pytest.mark.parametrize("layout", ["time-ordered", "random"])
def test_sorting_beyond_64_bit_keys_gives_the_same_order(layout, monkeypatch):
    """Rows and leads too many for one 64-bit key each take numpy's stable sort."""
    import calib.data._sort as sort_module

    rng = np.random.default_rng(11)
    n, n_leads = 3000, 200
    lead = rng.integers(0, n_leads, n).astype(np.int32)
    t = rng.integers(0, 40, n).astype(np.int64)
    if layout == "time-ordered":
        t.sort()
    kind = np.arange(n).astype(np.int16)
    keyed = order_by_lead_time(lead, t, n_leads), sort_events(lead, t, kind, n_leads)
    monkeypatch.setattr(sort_module, "_KEY_BITS", 8)
    plain = order_by_lead_time(lead, t, n_leads), sort_events(lead, t, kind, n_leads)
    assert (keyed[0] == plain[0]).all()
    assert all((a == b).all() and a.dtype == b.dtype for a, b in zip(keyed[1], plain[1]))


@pytest.mark.parametrize("seed", range(40))
def test_cleaning_categories_equals_cleaning_rows(seed):
    """Outcome and arm names cleaned once per category give the row-by-row result:
    categories that coincide once cleaned merge, unused ones vanish, and a missing
    (or, for outcomes, blank) value leaves the rows to the row-by-row checks."""
    from calib.data.dataset import _arm_name, _clean_categories, _outcome_name

    rng = np.random.default_rng(seed)
    pool = ["won", " Won", "WON ", "lost", "mql", "", "  ", "Sql", "sql", "é", "É "]
    cats = list(rng.choice(pool, rng.integers(1, 8), replace=False))
    codes = rng.integers(-1 if seed % 3 == 0 else 0, len(cats), rng.integers(0, 30))
    s = pd.Series(pd.Categorical.from_codes(codes, categories=pd.Index(cats, dtype="str")))
    for clean, blank_ok in ((_outcome_name, False), (_arm_name, True)):
        fast = _clean_categories(s, clean, blank_ok=blank_ok)
        if fast is None:
            cleaned = clean(s)
            assert cleaned.isna().any() or (not blank_ok and (cleaned == "").any())
            continue
        rows = pd.Categorical(clean(s).astype(str))
        pd.testing.assert_series_equal(pd.Series(fast), pd.Series(rows))
        assert fast.codes.dtype == rows.codes.dtype
    assert _clean_categories(s.astype("str"), _arm_name) is None


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_event_times_in_nanoseconds_match_arrows_checked_cast(unit):
    """Times scaled in numpy equal Arrow's checked cast to nanoseconds, and a column
    with a value that overflows it or that pandas reads as NaT is left to the pandas
    checks (None)."""
    from calib.data._arrow import _int64_ns

    def reference(when):
        try:
            t = pc.cast(when, pa.timestamp("ns", "UTC")).cast(pa.int64()).to_numpy()
        except pa.ArrowInvalid:
            return None
        return None if len(t) and t.min() < pd.Timestamp.min.value else t

    big, per = np.iinfo(np.int64), {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[unit]
    edges = [big.min, big.min + 1, big.max, 0, -1] + [
        b // per + d for b in (big.min, big.max) for d in (-1, 0, 1)]
    for v in [v for v in edges if big.min <= v <= big.max]:
        for chunks in ([[v]], [[0, v], [5]], [[7], []]):
            when = pa.chunked_array([pa.array(c, pa.int64()).cast(pa.timestamp(unit, "UTC"))
                                     for c in chunks])
            got, want = _int64_ns(when), reference(when)
            assert (got is None) == (want is None), (unit, v, chunks)
            if got is not None:
                assert got.dtype == np.int64 and got.flags.writeable and (got == want).all()


def test_ids_of_several_tables_looked_up_together_as_one_by_one():
    from calib.data._arrow import match_ids, match_ids_of

    keys = pa.array(["a", "b", "c d", "e"])
    columns = [pd.Series(["b", " a ", "x", None], dtype="str"), pd.Series([], dtype="str"),
               pd.Series(["c d", "e\t", "b"], dtype="str"), pa.array(["e", "zz"])]
    for n in range(len(columns) + 1):
        together = match_ids_of(columns[:n], keys)
        assert len(together) == n
        for col, got in zip(columns, together):
            alone = match_ids(dataset_module.arrow_text(col, trim=False), keys)
            assert got.tolist() == alone.tolist()
    assert match_ids_of(columns, keys)[0].tolist() == [1, 0, -1, -1]
