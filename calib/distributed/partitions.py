"""Data sets partitioned by lead, for a cluster (``calib partition``).

A partitioned data set is a folder::

    DIR/_calib_partitions.json          # the partition count, the hash scheme, global facts
    DIR/part-00000/leads.parquet        # one ordinary calib data set per partition
    DIR/part-00000/events.parquet
    DIR/part-00000/outcomes.parquet
    DIR/part-00000/assignments.parquet  # when the data set has assignments
    DIR/part-00000/_lead_rows.parquet   # each lead's row in the original leads table
    ...

A lead belongs to partition ``int.from_bytes(md5(lead_id.encode("utf-8")).digest()[:8],
"big") % partitions`` (:func:`lead_partitions`): stable across machines, Python versions
and runs, and computable in any SQL engine that has ``md5``, so a warehouse job can write
the same layout. Each lead's events, outcomes and assignment are in its lead's partition,
so a partition is replayed on its own, without a shuffle.

Facts about the *whole* data set are written once, at partition time, into
``_calib_partitions.json``: the end of the data (the latest timestamp in any table),
the earliest ``created_at`` (the default start of the replay period), the outcome names
(every outcome of the data, sales outcomes first), the event types, the snapshot flag,
the load warnings and the row counts. A partition never uses its own latest timestamp:
that would misclassify ``immature`` MQLs.

Each partition folder is also a valid data set for :func:`calib.load_dataset` (when none
of its tables is empty), but calib reads it with :func:`read_partition`, which trusts
the validation done at partition time and restores the global facts.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from calib.data.dataset import UTC_NS, Dataset, load_dataset
from calib.errors import CalibError

META_FILE = "_calib_partitions.json"
ROWS_FILE = "_lead_rows.parquet"
FORMAT = "calib-partitions"
FORMAT_VERSION = 1
HASH_SCHEME = "md5-uint64-mod"
HASH_DESCRIPTION = ('partition = int.from_bytes(md5(lead_id.encode("utf-8")).digest()[:8], '
                    '"big") % partitions; lead_id as in the leads table after trimming blanks')
MAX_PARTITIONS = 100_000


def lead_partitions(lead_ids, partitions: int) -> np.ndarray:
    """The partition of each lead id (int64 array), by the stable hash scheme.

    The first 8 bytes of the MD5 digest of the UTF-8 ``lead_id``, as a big-endian
    unsigned integer, modulo ``partitions``.

    Parameters
    ----------
    lead_ids : iterable of str
        Lead ids as in the leads table.
    partitions : int
        The number of partitions.

    Returns
    -------
    ndarray of int64

    Examples
    --------
    >>> lead_partitions(["L1", "L2", "L3"], 4).tolist()
    [0, 1, 0]
    """
    digests = b"".join(hashlib.md5(str(s).encode("utf-8")).digest()[:8] for s in lead_ids)
    h = np.frombuffer(digests, dtype=">u8")
    return (h % np.uint64(partitions)).astype(np.int64)


def _ts(value) -> pd.Timestamp | None:
    if value is None:
        return None
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _iso_ns(ts) -> str | None:
    # isoformat keeps nanoseconds, so the global facts round-trip exactly
    return None if ts is None or pd.isna(ts) else pd.Timestamp(ts).tz_convert("UTC").isoformat()


@dataclass(frozen=True)
class PartitionInfo:
    """What ``_calib_partitions.json`` says: the layout and the global facts.

    Attributes
    ----------
    path : str
        The partitioned folder.
    partitions : int
        Number of partitions (some may hold no leads).
    end_of_data : Timestamp or None
        The latest timestamp in any table of the whole data set.
    start_of_data : Timestamp or None
        The earliest ``created_at`` (None for a snapshot).
    snapshot : bool
    outcome_names : tuple of str
        Every outcome of the data, sales outcomes first (``outcome_names`` of the engine).
    event_types : tuple of str
    warnings : tuple of str
        The warnings :func:`calib.load_dataset` gave for the whole data set.
    rows : dict
        Row counts of each table of the whole data set.
    parts : tuple of dict
        Per partition: ``id``, ``path`` (relative), and its row counts.
    source : str
        The data set it was written from.
    """

    path: str
    partitions: int
    end_of_data: pd.Timestamp | None
    start_of_data: pd.Timestamp | None
    snapshot: bool
    outcome_names: tuple[str, ...]
    event_types: tuple[str, ...]
    warnings: tuple[str, ...]
    rows: dict
    parts: tuple
    source: str = ""
    hash_scheme: str = HASH_SCHEME

    def part_path(self, part_id: int) -> str:
        """The folder of one partition.

        Parameters
        ----------
        part_id : int
            From 0 to ``partitions - 1``.

        Returns
        -------
        str
            ``path`` joined with the partition's relative folder.

        Examples
        --------
        >>> info = partition_dataset("calib-demo/data", "demo-parts", 4, force=True)
        >>> info.part_path(3)
        'demo-parts/part-00003'
        """
        return os.path.join(self.path, self.parts[part_id]["path"])

    @property
    def n_leads(self) -> int:
        """The number of leads of the whole data set.

        Examples
        --------
        >>> read_partition_info(partition_dataset("calib-demo/data", "demo-parts", 2,
        ...                                       force=True).path).n_leads
        2000
        """
        return int(self.rows.get("leads", 0))

    def to_dict(self) -> dict:
        """The content of ``_calib_partitions.json``.

        Returns
        -------
        dict
            JSON-safe; timestamps as ISO 8601 text with nanoseconds, so they round-trip.

        Examples
        --------
        >>> info = partition_dataset("calib-demo/data", "demo-parts", 2, force=True)
        >>> d = info.to_dict()
        >>> d["format"], d["partitions"], d["hash"]["scheme"]
        ('calib-partitions', 2, 'md5-uint64-mod')
        """
        return {
            "format": FORMAT, "version": FORMAT_VERSION, "partitions": self.partitions,
            "hash": {"scheme": self.hash_scheme, "column": "lead_id",
                     "description": HASH_DESCRIPTION},
            "source": self.source,
            "end_of_data": _iso_ns(self.end_of_data),
            "start_of_data": _iso_ns(self.start_of_data),
            "snapshot": self.snapshot,
            "outcome_names": list(self.outcome_names),
            "event_types": list(self.event_types),
            "warnings": list(self.warnings),
            "rows": dict(self.rows),
            "parts": [dict(p) for p in self.parts],
        }

    @classmethod
    def from_dict(cls, d: dict, path: str) -> "PartitionInfo":
        """The layout read back from the content of ``_calib_partitions.json``.

        Parameters
        ----------
        d : dict
            As :meth:`to_dict` wrote it.
        path : str
            The partitioned folder.

        Returns
        -------
        PartitionInfo

        Raises
        ------
        CalibError
            For another format, version or hash scheme.

        Examples
        --------
        >>> info = partition_dataset("calib-demo/data", "demo-parts", 2, force=True)
        >>> PartitionInfo.from_dict(info.to_dict(), "demo-parts") == info
        True
        """
        if d.get("format") != FORMAT or d.get("version") != FORMAT_VERSION:
            raise CalibError(f"'{path}' is not a calib partitioned data set of version "
                             f"{FORMAT_VERSION} (format {d.get('format')!r}, version "
                             f"{d.get('version')!r}).", code="invalid_partitions",
                             suggestion="Write it again with calib partition.")
        scheme = d.get("hash", {}).get("scheme")
        if scheme != HASH_SCHEME:
            raise CalibError(f"'{path}' uses the hash scheme {scheme!r}; calib knows "
                             f"{HASH_SCHEME!r}.", code="invalid_partitions")
        return cls(path=str(path), partitions=int(d["partitions"]),
                   end_of_data=_ts(d.get("end_of_data")), start_of_data=_ts(d.get("start_of_data")),
                   snapshot=bool(d["snapshot"]), outcome_names=tuple(d["outcome_names"]),
                   event_types=tuple(d["event_types"]), warnings=tuple(d.get("warnings", ())),
                   rows=dict(d["rows"]), parts=tuple(d["parts"]), source=d.get("source", ""),
                   hash_scheme=scheme)

    def summary(self) -> str:
        """The layout in a few lines, as ``calib partition`` prints it.

        Returns
        -------
        str
            The partitions, the rows, the spread of leads and events over the
            partitions, and the end of the data.

        Examples
        --------
        >>> summary = partition_dataset("calib-demo/data", "demo-parts", 2, force=True).summary()
        >>> print(summary.splitlines()[0])
        Partitioned data set demo-parts: 2 partitions by md5-uint64-mod of lead_id
        """
        sizes = np.array([p["leads"] for p in self.parts])
        ev = np.array([p["events"] for p in self.parts])
        lines = [f"Partitioned data set {self.path}: {self.partitions} partitions by "
                 f"{self.hash_scheme} of lead_id",
                 f"  {self.rows.get('leads', 0):,} leads, {self.rows.get('events', 0):,} events, "
                 f"{self.rows.get('outcomes', 0):,} outcome rows"
                 + (" (snapshot)" if self.snapshot else ""),
                 f"  leads per partition: {sizes.min():,} .. {sizes.max():,}; events per "
                 f"partition: {ev.min():,} .. {ev.max():,}"]
        if self.end_of_data is not None:
            lines.append(f"  end of data {_iso_ns(self.end_of_data)}")
        return "\n".join(lines)


def is_partitioned(path) -> bool:
    """Whether ``path`` is a folder written by :func:`partition_dataset`.

    Parameters
    ----------
    path : str or Path
        The folder to check; a file or a path that does not exist gives False.

    Returns
    -------
    bool
        True when it holds ``_calib_partitions.json`` (written last, so the folder is
        complete).

    Examples
    --------
    >>> _ = partition_dataset("calib-demo/data", "demo-parts", 2, force=True)
    >>> is_partitioned("demo-parts"), is_partitioned("calib-demo/data")
    (True, False)
    """
    return Path(path, META_FILE).is_file()


def read_partition_info(path) -> PartitionInfo:
    """Read ``_calib_partitions.json`` of a partitioned data set.

    Parameters
    ----------
    path : str or Path
        The partitioned folder.

    Returns
    -------
    PartitionInfo
        The layout and the whole data set's facts.

    Raises
    ------
    CalibError
        When ``path`` is not a partitioned data set (code ``not_partitioned``).

    Examples
    --------
    >>> _ = partition_dataset("calib-demo/data", "demo-parts", 2, force=True)
    >>> read_partition_info("demo-parts").rows["leads"]
    2000
    """
    meta = Path(path, META_FILE)
    if not meta.is_file():
        raise CalibError(f"'{path}' is not a partitioned data set (no {META_FILE}).",
                         code="not_partitioned",
                         suggestion=f"Write one with: calib partition DATA --out {path} "
                                    "--partitions N.")
    with open(meta, encoding="utf-8") as f:
        return PartitionInfo.from_dict(json.load(f), str(path))


# ---------------------------------------------------------------------------- writing
def _arrow(df: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(df, preserve_index=False)


def _text(values: pd.Series) -> pa.Array:
    """A categorical or string column as an Arrow string array (no Python objects)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        cats = pa.array(np.asarray(values.cat.categories, dtype=object), type=pa.string())
        codes = pa.array(values.cat.codes.to_numpy().astype(np.int32),
                         mask=values.isna().to_numpy())
        return pa.DictionaryArray.from_arrays(codes, cats).cast(pa.string())
    return pa.array(values, from_pandas=True, type=pa.string())


def _write(table: pa.Table, path: Path, compression: str) -> None:
    pq.write_table(table, path, compression=compression)


def partition_dataset(data, out, partitions: int, *, mapping=None, force: bool = False,
                      compression: str = "zstd",
                      max_partitions_per_lead: float = math.inf) -> PartitionInfo:
    """Write a data set as Parquet partitioned by a stable hash of ``lead_id``.

    Parameters
    ----------
    data : str, Path or Dataset
        A data set folder (read with :func:`calib.load_dataset`, so it is validated
        first) or a loaded :class:`~calib.data.Dataset`.
    out : str or Path
        Folder to write; it must not exist or be empty (see ``force``).
    partitions : int
        Number of partitions, >= 1. A partition should hold a few hundred thousand to a
        few million leads (see the sizing notes in the README).
    mapping : ColumnMapping or dict, optional
        Column mapping applied while reading ``data``.
    max_partitions_per_lead : float, default no limit
        Refuse more partitions than this many per lead (``calib partition`` passes 1:
        more partitions than leads are mostly empty folders).
    force : bool, default False
        Replace an earlier partitioned data set in ``out`` (a non-empty folder that is
        not one is never replaced).

    Returns
    -------
    PartitionInfo

    Examples
    --------
    >>> info = partition_dataset("calib-demo/data", "demo-parts", 8, force=True)
    >>> info.partitions, info.n_leads
    (8, 2000)
    """
    from calib.io import temporary_folder

    partitions, out = _check_output(data, out, partitions, force)
    ds = data if isinstance(data, Dataset) else load_dataset(data, mapping)
    if partitions > max(ds.n_leads, 1) * max_partitions_per_lead:
        raise CalibError(f"--partitions {partitions:,} is more than the {ds.n_leads:,} leads of "
                         "the data set; most partitions would be empty.", code="out_of_range",
                         suggestion="Aim for 0.5-5 million events per partition.")
    tmp = temporary_folder(out)
    try:
        info = _partition_info(ds, out, partitions, _write_parts(ds, tmp, partitions,
                                                                   compression))
        # the metadata file is written last: its presence marks a complete folder
        with open(tmp / META_FILE, "w", encoding="utf-8") as f:
            json.dump(info.to_dict(), f, indent=1)
        os.chmod(tmp, 0o755)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return info


def _check_output(data, out, partitions, force: bool) -> tuple[int, Path]:
    """The number of partitions and the output folder, refused before anything is read
    when they cannot be used."""
    if isinstance(partitions, bool) or not isinstance(partitions, (int, np.integer)) \
            or not 1 <= partitions <= MAX_PARTITIONS:
        raise CalibError(f"--partitions must be a whole number from 1 to {MAX_PARTITIONS:,}. "
                         f"Got {partitions!r}.", code="out_of_range")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CalibError(f"'{out}' exists and is not a folder.", code="exists")
    if not isinstance(data, Dataset) and Path(data).resolve() == out.resolve():
        raise CalibError("--out must not be the data set folder itself.", code="invalid_path")
    if out.exists() and any(out.iterdir()):
        if not is_partitioned(out):  # never delete a folder calib did not write
            raise CalibError(f"The folder '{out}' exists, is not empty and is not a "
                             "partitioned data set.", code="exists",
                             suggestion="Choose another --out.")
        if not force:
            raise CalibError(f"The folder '{out}' holds a partitioned data set.",
                             code="exists", suggestion="Add --force to replace it.")
    return int(partitions), out


def _partition_info(ds: Dataset, out: Path, partitions: int, parts: list) -> PartitionInfo:
    """The layout and the whole data set's facts, for ``_calib_partitions.json``."""
    from calib.engine.replay import outcome_names

    rows = {"leads": int(ds.n_leads), "events": int(len(ds.events)),
            "outcomes": int(len(ds.outcomes))}
    if ds.assignments is not None:
        rows["assignments"] = int(len(ds.assignments))
    return PartitionInfo(
        path=str(out), partitions=partitions, end_of_data=ds.end_of_data,
        start_of_data=ds.start_of_data, snapshot=ds.snapshot,
        outcome_names=tuple(outcome_names(ds)), event_types=tuple(ds.event_types),
        warnings=tuple(ds.warnings), rows=rows, parts=tuple(parts), source=str(ds.path))


def _write_parts(ds: Dataset, folder: Path, partitions: int, compression: str) -> list[dict]:
    lead_ids = ds.leads["lead_id"]
    part_of_lead = lead_partitions(lead_ids.tolist(), partitions)
    lead_order = np.argsort(part_of_lead, kind="stable")  # original order within a partition
    lead_bounds = np.searchsorted(part_of_lead[lead_order], np.arange(partitions + 1))
    # each lead's code inside its partition: its rank there
    new_code = np.empty(ds.n_leads, dtype=np.int64)
    for p in range(partitions):
        idx = lead_order[lead_bounds[p]:lead_bounds[p + 1]]
        new_code[idx] = np.arange(len(idx))
    id_arrow = pa.array(lead_ids, from_pandas=True, type=pa.string())

    def split(df):
        """Row order of a lead-keyed table grouped by partition (stable), and bounds."""
        if df is None:
            return None, None
        part = part_of_lead[df["lead"].to_numpy()]
        order = np.argsort(part, kind="stable")
        return order, np.searchsorted(part[order], np.arange(partitions + 1))

    ev_order, ev_bounds = split(ds.events)
    out_order, out_bounds = split(ds.outcomes)
    asg_order, asg_bounds = split(ds.assignments)

    ev = ds.events
    ev_lead = ev["lead"].to_numpy()
    ev_type = _text(ev["event_type"])
    ev_time = pa.array(ev["occurred_at"].astype(UTC_NS), from_pandas=True)
    oc = ds.outcomes
    oc_other = [c for c in oc.columns if c not in ("lead", "outcome")]

    parts = []
    for p in range(partitions):
        name = f"part-{p:05d}"
        d = folder / name
        d.mkdir()
        lidx = lead_order[lead_bounds[p]:lead_bounds[p + 1]]
        _write(_arrow(ds.leads.iloc[lidx].reset_index(drop=True)), d / "leads.parquet",
               compression)
        _write(pa.table({"row": pa.array(lidx.astype(np.int64))}), d / ROWS_FILE, compression)
        # events: grouped by partition, still sorted by (original lead, time) inside, and
        # the new lead codes keep the original lead order, so they stay sorted
        eidx = pa.array(ev_order[ev_bounds[p]:ev_bounds[p + 1]])
        _write(pa.table({"lead_id": id_arrow.take(pa.array(ev_lead).take(eidx)),
                         "occurred_at": ev_time.take(eidx),
                         "event_type": ev_type.take(eidx)}), d / "events.parquet", compression)
        oidx = out_order[out_bounds[p]:out_bounds[p + 1]]
        sub = oc.iloc[oidx]
        ot = {"lead_id": id_arrow.take(pa.array(sub["lead"].to_numpy())),
              "outcome": _text(sub["outcome"])}
        ot_rest = _arrow(sub[oc_other].reset_index(drop=True))
        otab = pa.table(ot)
        for c in ot_rest.column_names:
            otab = otab.append_column(c, ot_rest.column(c))
        _write(otab, d / "outcomes.parquet", compression)
        n_asg = 0
        if ds.assignments is not None:
            aidx = asg_order[asg_bounds[p]:asg_bounds[p + 1]]
            a = ds.assignments.iloc[aidx]
            at = pa.table({"lead_id": id_arrow.take(pa.array(a["lead"].to_numpy())),
                           "arm": _text(a["arm"])})
            if "assigned_at" in a:
                at = at.append_column("assigned_at", pa.array(a["assigned_at"], from_pandas=True))
            _write(at, d / "assignments.parquet", compression)
            n_asg = len(aidx)
        parts.append({"id": p, "path": name, "leads": int(len(lidx)),
                      "events": int(ev_bounds[p + 1] - ev_bounds[p]),
                      "outcomes": int(len(oidx)),
                      **({"assignments": n_asg} if ds.assignments is not None else {})})
    return parts


# ---------------------------------------------------------------------------- reading
def _codes(ids: pa.ChunkedArray | pa.Array, lead_keys: pa.Array) -> np.ndarray:
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks() if ids.num_chunks else pa.array([], pa.string())
    codes = pc.index_in(ids.cast(pa.string()), value_set=lead_keys)
    codes = codes.fill_null(-1).to_numpy(zero_copy_only=False)
    if (codes < 0).any():
        raise CalibError("A partition refers to a lead that is not in its leads table; the "
                         "partitioned data set is damaged.", code="invalid_partitions",
                         suggestion="Write it again with calib partition.")
    return codes.astype(np.int32)


def _categorical(arr: pa.Array) -> pd.Categorical:
    """Arrow strings to a pandas Categorical with sorted categories (as ``load_dataset``
    encodes event types, outcomes and arms), without Python objects per row."""
    enc = pc.dictionary_encode(arr)
    values = enc.dictionary.to_pylist()
    order = np.argsort(np.array(values, dtype=object), kind="stable") if values else \
        np.zeros(0, dtype=np.int64)
    remap = np.empty(len(values), dtype=np.int32)
    remap[order] = np.arange(len(values), dtype=np.int32)
    idx = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    codes = np.where(idx >= 0, remap[np.maximum(idx, 0)], -1) if len(values) else idx
    return pd.Categorical.from_codes(codes.astype(np.int32),
                                     categories=[values[i] for i in order])


def _plain(col: pa.ChunkedArray) -> pa.Array:
    col = col.combine_chunks() if col.num_chunks else pa.array([], col.type)
    if pa.types.is_dictionary(col.type):
        col = col.cast(pa.string())
    return col.cast(pa.string())


def _times(col: pa.ChunkedArray) -> pd.Series:
    return col.to_pandas().astype(UTC_NS).reset_index(drop=True)


def read_partition(path, part_id: int, info: PartitionInfo | None = None) -> Dataset:
    """One partition as a :class:`~calib.data.Dataset`.

    It carries the *global* end of the data, snapshot flag and warnings of the whole
    data set. Lead codes are positions in the partition's leads table;
    ``lead_rows(path, part_id)`` gives each lead's row in the original leads table.

    Parameters
    ----------
    path : str or Path
        The partitioned folder.
    part_id : int
        The partition.
    info : PartitionInfo, optional
        Its layout, when already read.

    Returns
    -------
    Dataset
        Lead codes from 0 in the partition's own lead order.

    Examples
    --------
    >>> info = partition_dataset("calib-demo/data", "demo-parts", 4, force=True)
    >>> part = read_partition("demo-parts", 1, info)
    >>> part.n_leads, part.end_of_data == info.end_of_data
    (514, True)
    """
    info = info or read_partition_info(path)
    folder = Path(info.part_path(part_id))
    leads = pq.read_table(folder / "leads.parquet").to_pandas()
    lead_keys = pa.array(leads["lead_id"], from_pandas=True, type=pa.string())

    et = pq.read_table(folder / "events.parquet")
    events = pd.DataFrame({"lead": _codes(et.column("lead_id"), lead_keys),
                           "occurred_at": _times(et.column("occurred_at")),
                           "event_type": _categorical(_plain(et.column("event_type")))})

    ot = pq.read_table(folder / "outcomes.parquet")
    outcomes = pd.DataFrame({"lead": _codes(ot.column("lead_id"), lead_keys),
                             "outcome": _categorical(_plain(ot.column("outcome")))})
    for c in ot.column_names:
        if c in ("lead_id", "outcome"):
            continue
        outcomes[c] = (_times(ot.column(c)) if c == "occurred_at"
                       else ot.column(c).to_pandas().reset_index(drop=True))
    if "amount" in outcomes:
        outcomes["amount"] = outcomes["amount"].astype(float)

    assignments = None
    if (folder / "assignments.parquet").exists():
        at = pq.read_table(folder / "assignments.parquet")
        assignments = pd.DataFrame({"lead": _codes(at.column("lead_id"), lead_keys),
                                    "arm": _categorical(_plain(at.column("arm")))})
        if "assigned_at" in at.column_names:
            assignments["assigned_at"] = _times(at.column("assigned_at"))

    return Dataset(leads=leads, events=events, outcomes=outcomes, assignments=assignments,
                   path=str(folder), snapshot=info.snapshot, end_of_data=info.end_of_data,
                   files={}, warnings=info.warnings)


def lead_rows(path, part_id: int, info: PartitionInfo | None = None) -> np.ndarray:
    """Each lead's row (int64) in the original leads table, in partition order.

    Parameters
    ----------
    path, part_id, info
        As for :func:`read_partition`.

    Returns
    -------
    ndarray of int64
        Ascending.

    Examples
    --------
    >>> info = partition_dataset("calib-demo/data", "demo-parts", 4, force=True)
    >>> rows = lead_rows("demo-parts", 1, info)
    >>> len(rows), bool((rows[1:] > rows[:-1]).all())
    (514, True)
    """
    info = info or read_partition_info(path)
    t = pq.read_table(Path(info.part_path(part_id)) / ROWS_FILE)
    return t.column("row").to_numpy().astype(np.int64)


def read_partitioned(path) -> Iterator[tuple[int, Dataset]]:
    """Yield ``(part_id, Dataset)`` for every partition of a partitioned data set.

    Each Dataset carries the global facts (end of the data, snapshot flag, warnings);
    see :func:`read_partition`.

    Parameters
    ----------
    path : str or Path
        The partitioned folder.

    Yields
    ------
    (int, Dataset)

    Examples
    --------
    >>> info = partition_dataset("calib-demo/data", "demo-parts", 4, force=True)
    >>> for part_id, ds in read_partitioned("demo-parts"):
    ...     print(part_id, ds.n_leads)
    0 482
    1 514
    2 503
    3 501
    """
    info = read_partition_info(path)
    for p in range(info.partitions):
        yield p, read_partition(path, p, info)


def with_global_facts(ds: Dataset, info: PartitionInfo) -> Dataset:
    """A partition read some other way with the whole data set's facts restored.

    Parameters
    ----------
    ds : Dataset
        A partition, e.g. ``load_dataset`` of a part folder.
    info : PartitionInfo
        The layout of the whole partitioned data set.

    Returns
    -------
    Dataset
        ``ds`` with the whole data set's end of data, snapshot flag and warnings.

    Examples
    --------
    >>> from calib import load_dataset
    >>> info = partition_dataset("calib-demo/data", "demo-parts", 4, force=True)
    >>> part = with_global_facts(load_dataset(info.part_path(0)), info)
    >>> part.end_of_data == info.end_of_data
    True
    """
    return replace(ds, end_of_data=info.end_of_data, snapshot=info.snapshot,
                   warnings=info.warnings)


def read_whole(path) -> Dataset:
    """All partitions of a partitioned data set as one :class:`~calib.data.Dataset`.

    The leads are in the original lead order: the same leads and events as
    ``load_dataset`` of the original folder (lead codes are rows of the original leads
    table). Outcome and assignment rows come grouped by lead (in file order within a
    lead), not in the original file order; every calculation of calib takes a lead's
    first outcome, so that changes no result. The whole data set is in memory here, as
    with ``load_dataset``: this is for the steps that still run on one machine
    (``calib fit`` beyond its training examples).

    Parameters
    ----------
    path : str or Path
        A folder written by :func:`partition_dataset`.

    Returns
    -------
    Dataset
        Lead codes are rows of the original leads table.

    Raises
    ------
    CalibError
        When the partitions do not hold every lead exactly once.

    Examples
    --------
    >>> from calib import load_dataset
    >>> _ = partition_dataset("calib-demo/data", "demo-parts", 4, force=True)
    >>> whole = read_whole("demo-parts")
    >>> whole.leads["lead_id"].equals(load_dataset("calib-demo/data").leads["lead_id"])
    True
    """
    info = read_partition_info(path)
    parts, rows = [], []
    for p in range(info.partitions):
        parts.append(read_partition(path, p, info))
        rows.append(lead_rows(path, p, info))
    row = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    if not np.array_equal(np.sort(row), np.arange(info.n_leads)):
        raise CalibError(f"The partitions of '{path}' do not hold every lead of the data set "
                         "exactly once; the partitioned data set is damaged.",
                         code="invalid_partitions",
                         suggestion="Write it again with calib partition.")
    order = np.argsort(row, kind="stable")
    leads = pd.concat([d.leads for d in parts], ignore_index=True).take(order) \
        .reset_index(drop=True)

    def table(name: str, category: str, categories=None) -> pd.DataFrame | None:
        frames = [getattr(d, name) for d in parts]
        if any(f is None for f in frames):
            return None
        cats = categories if categories is not None else sorted(
            set().union(*(f[category].cat.categories for f in frames)))
        out = []
        for f, r in zip(frames, rows):
            f = f.copy()
            f["lead"] = r[f["lead"].to_numpy()]
            f[category] = f[category].cat.set_categories(list(cats))
            out.append(f)
        df = pd.concat(out, ignore_index=True)
        # by lead, stably: a lead's rows are all in one partition, in their original order
        df = df.take(np.argsort(df["lead"].to_numpy(), kind="stable")).reset_index(drop=True)
        df["lead"] = df["lead"].to_numpy().astype(np.int32)
        return df

    return Dataset(leads=leads, events=table("events", "event_type", info.event_types),
                   outcomes=table("outcomes", "outcome"),
                   assignments=table("assignments", "arm"), path=str(path),
                   snapshot=info.snapshot, end_of_data=info.end_of_data, files={},
                   warnings=info.warnings)
