"""A cache of loaded data sets, so that only the first command on a data set pays for
reading, validating and encoding it.

:func:`calib.load_dataset` keeps the validated, encoded tables of a data set as
uncompressed Arrow IPC files (memory-mapped when read back) in a cache folder:
``$CALIB_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/calib``, else ``~/.cache/calib``.
Nothing is ever written into the data set's folder.

An entry is keyed by what the loaded data set depends on: each source file's resolved
path, size, modification time (ns) and a hash of a sample of its bytes (the whole file
when it is under 1 MiB), the column mapping, calib's version and a hash of the loading
code itself. Any change to any of
them gives a new key, so a stale entry is never read; writing a new entry removes the
older entries of the same folder and mapping.

An entry is written into a uniquely named temporary folder and renamed into place in
one step, so commands running at the same time on the same data either read a complete
entry or none; when two write the same entry, one rename wins and the other's copy is
discarded. A cache that cannot be written (read-only home, full disk) or read (a
damaged entry) is skipped: the data set is then loaded from its files as usual.

The cache holds at most ``$CALIB_CACHE_MAX_GB`` gigabytes (default 5; ``0`` keeps
nothing). After an entry is written, the least recently used entries of other data
sets are removed until the whole fits (reading an entry marks it used); a data set
whose entry alone would not fit is not cached. Temporary folders left by a command
that was killed while writing are removed after an hour.

Turn it off with ``load_dataset(..., cache=False)``, ``--no-cache`` on the command
line, or ``CALIB_NO_CACHE=1``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
import uuid
from pathlib import Path

from calib.errors import ConfigError

FORMAT = 1                # bump when the stored layout or the loaded form changes
SAMPLE = 1 << 16          # bytes hashed at the start, middle and end of a large file
WHOLE_FILE = 1 << 20      # files up to this size are hashed entirely
TABLE_NAMES = ("leads", "events", "outcomes", "assignments")
MAX_GB = 5.0              # default bound on the cache's size ($CALIB_CACHE_MAX_GB)
STALE_TMP_SECONDS = 3600  # a writer's temporary folder older than this was abandoned


def cache_dir() -> Path:
    """The folder holding cached data sets.

    Returns
    -------
    Path
        ``$CALIB_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/calib``, else
        ``~/.cache/calib``.

    Examples
    --------
    >>> import os
    >>> cache_dir() == Path(os.environ["CALIB_CACHE_DIR"])
    True
    """
    if os.environ.get("CALIB_CACHE_DIR"):
        return Path(os.environ["CALIB_CACHE_DIR"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "calib"
    return Path.home() / ".cache" / "calib"


def enabled(cache: bool | None) -> bool:
    """Whether a load uses the cache.

    Parameters
    ----------
    cache : bool or None
        The caller's choice; None for the default.

    Returns
    -------
    bool
        ``cache`` when given, else on unless ``CALIB_NO_CACHE`` is set to a true value.

    Examples
    --------
    >>> enabled(False)
    False
    """
    if cache is not None:
        return bool(cache)
    return os.environ.get("CALIB_NO_CACHE", "").strip().lower() not in ("1", "true", "yes", "on")


def size_limit() -> int:
    """The most bytes the cache may hold.

    Returns
    -------
    int
        ``$CALIB_CACHE_MAX_GB`` gigabytes (10^9 bytes) if set, else 5 GB.

    Raises
    ------
    ConfigError
        When ``CALIB_CACHE_MAX_GB`` is not a number >= 0.

    Examples
    --------
    >>> import os
    >>> os.environ["CALIB_CACHE_MAX_GB"] = "0.5"
    >>> size_limit()
    500000000
    >>> del os.environ["CALIB_CACHE_MAX_GB"]
    >>> size_limit()
    5000000000
    """
    text = os.environ.get("CALIB_CACHE_MAX_GB", "").strip()
    if not text:
        return int(MAX_GB * 1e9)
    try:
        gb = float(text)
    except ValueError:
        gb = math.nan
    if not math.isfinite(gb) or gb < 0:
        raise ConfigError(f"CALIB_CACHE_MAX_GB={text!r} is not a size in gigabytes: set it "
                          "to a number such as 5 (or 0 to keep no data sets in the cache), "
                          "or unset it for the default of 5.")
    return int(gb * 1e9)


def _entry_bytes(path: Path) -> int:
    """Bytes of the files in an entry's folder (0 when it is gone)."""
    try:
        return sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    except OSError:
        return 0


def _last_used(path: Path) -> float:
    """When an entry was last written or read (its ``meta.json``'s modification time),
    or 0 when it has none (damaged: the first to go)."""
    try:
        return (path / "meta.json").stat().st_mtime
    except OSError:
        return 0.0


def prune(root: Path, limit: int, keep: Path | None = None) -> list[Path]:
    """Remove the least recently used entries until the cache holds at most ``limit``
    bytes, and temporary folders abandoned by killed writers.

    Parameters
    ----------
    root : Path
        The folder holding the entries.
    limit : int
        The most bytes the entries may take.
    keep : Path, optional
        An entry never removed (the one just written).

    Returns
    -------
    list of Path
        The entries removed, least recently used first.

    Examples
    --------
    >>> prune(Path("no-such-cache"), 0)
    []
    """
    try:
        children = [p for p in root.iterdir() if p.is_dir()]
    except OSError:
        return []
    now = time.time()
    for p in children:
        if p.name.startswith(".tmp-"):
            try:
                stale = now - p.stat().st_mtime > STALE_TMP_SECONDS
            except OSError:
                stale = False
            if stale:
                shutil.rmtree(p, ignore_errors=True)
    entries = sorted((p for p in children if not p.name.startswith(".")), key=_last_used)
    sizes = {p: _entry_bytes(p) for p in entries}
    total = sum(sizes.values())
    removed = []
    for p in entries:
        if total <= limit:
            break
        if p == keep:
            continue
        shutil.rmtree(p, ignore_errors=True)
        total -= sizes[p]
        removed.append(p)
    return removed


def _file_facts(path: Path) -> list | None:
    """[resolved path, size, mtime_ns, sample hash] of a source file, or None when it
    cannot be fingerprinted (missing, a folder of Parquet parts, unreadable)."""
    try:
        st = path.stat()
        if not path.is_file():
            return None
        h = hashlib.blake2b(digest_size=16)
        with open(path, "rb") as f:
            if st.st_size <= WHOLE_FILE:
                h.update(f.read())
            else:
                for at in (0, st.st_size // 2, st.st_size - SAMPLE):
                    f.seek(at)
                    h.update(f.read(SAMPLE))
        return [str(path.resolve()), st.st_size, st.st_mtime_ns, h.hexdigest()]
    except OSError:
        return None


def _writable(df):
    """The frame with every column backed by writable memory. Arrow's conversion
    copies numbers and times into new arrays, but a categorical's codes stay a
    read-only view of the mapped file; calib's code (and a user's) may write into a
    table like into a freshly loaded one."""
    import pandas as pd

    for c in df.columns:
        if isinstance(df[c].dtype, pd.CategoricalDtype):
            df[c] = df[c].copy(deep=True)
    return df


class Entry:
    """The cache entry of one data set folder read with one mapping.

    Parameters
    ----------
    root : Path
        The folder holding the entries.
    source_id : str
        A hash of the data set folder and the mapping.
    key : str
        A hash of everything the loaded form depends on (see :func:`entry`).
    limit : int, optional
        The most bytes the cache may hold (default :func:`size_limit`).

    Examples
    --------
    >>> e = Entry(Path("cache"), "0123", "abcd")
    >>> e.path.name
    '0123-abcd'
    """

    def __init__(self, root: Path, source_id: str, key: str, limit: int | None = None):
        self.root = root
        self.source_id = source_id
        self.path = root / f"{source_id}-{key}"
        self.limit = size_limit() if limit is None else limit

    # ------------------------------------------------------------------ reading
    def read(self, folder: str, files: dict):
        """The cached data set, or None (no entry, or a damaged one).

        The tables are read from memory-mapped Arrow IPC files and converted to
        pandas, which copies them into writable memory.

        Parameters
        ----------
        folder : str
            The data set folder (``Dataset.path``).
        files : dict
            The file of each table (``Dataset.files``).

        Returns
        -------
        Dataset or None

        Examples
        --------
        >>> Entry(Path("no-such-cache"), "0123", "abcd").read("data", {}) is None
        True
        """
        if not (self.path / "meta.json").is_file():
            return None
        try:
            return self._read(folder, files)
        except Exception:  # noqa: BLE001 - a damaged entry: load from the source instead
            return None

    def _read(self, folder: str, files: dict):
        import pandas as pd
        import pyarrow as pa

        from calib.data.dataset import Dataset

        meta = json.loads((self.path / "meta.json").read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            return None
        frames = {}
        for name in meta["tables"]:
            with pa.memory_map(str(self.path / f"{name}.arrow")) as source:
                table = pa.ipc.open_file(source).read_all()
            frames[name] = _writable(table.to_pandas())
        end = meta["end_of_data"]
        try:
            os.utime(self.path / "meta.json")  # used now: the last to go when pruning
        except OSError:
            pass
        return Dataset(leads=frames["leads"], events=frames["events"],
                       outcomes=frames["outcomes"], assignments=frames.get("assignments"),
                       path=folder, snapshot=meta["snapshot"],
                       end_of_data=None if end is None else pd.Timestamp(end),
                       files=dict(files), warnings=tuple(meta["warnings"]))

    # ------------------------------------------------------------------ writing
    def write(self, ds) -> bool:
        """Store a loaded data set, then prune the cache to its size limit (see
        :func:`prune`).

        Parameters
        ----------
        ds : Dataset
            The loaded data set.

        Returns
        -------
        bool
            True when the entry exists afterwards; False (and nothing left behind)
            when it cannot be written or would alone exceed the size limit.

        Examples
        --------
        >>> from calib.data import load_dataset
        >>> ds = load_dataset("calib-demo/data", cache=False)
        >>> e = Entry(cache_dir() / "doctest", "0123", "abcd")
        >>> e.write(ds), e.read(ds.path, ds.files).n_leads
        (True, 2000)
        """
        if self.path.exists():
            return True
        limit = self.limit
        tmp = self.root / f".tmp-{self.path.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            import pyarrow as pa

            tables = {"leads": ds.leads, "events": ds.events, "outcomes": ds.outcomes}
            if ds.assignments is not None:
                tables["assignments"] = ds.assignments
            tables = {name: pa.Table.from_pandas(df, preserve_index=False)
                      for name, df in tables.items()}
            if sum(t.nbytes for t in tables.values()) > limit:
                return False  # the files are about this size (uncompressed IPC)
            tmp.mkdir(parents=True)
            for name, table in tables.items():
                with pa.OSFile(str(tmp / f"{name}.arrow"), "wb") as sink, \
                        pa.ipc.new_file(sink, table.schema) as writer:
                    writer.write_table(table)
            end = ds.end_of_data
            meta = {"format": FORMAT, "tables": list(tables), "snapshot": bool(ds.snapshot),
                    "end_of_data": None if end is None else end.isoformat(),
                    "warnings": list(ds.warnings)}
            (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
            try:
                os.rename(tmp, self.path)  # atomic; fails when another command won the race
            except OSError:
                if not (self.path / "meta.json").is_file():
                    raise
        except Exception:  # noqa: BLE001 - caching is an optimisation, never an error
            shutil.rmtree(tmp, ignore_errors=True)
            return False
        shutil.rmtree(tmp, ignore_errors=True)
        self._remove_older()
        prune(self.root, limit, keep=self.path)
        return True

    def _remove_older(self) -> None:
        """Drop entries of the same folder and mapping made from earlier file versions."""
        try:
            for p in self.root.glob(f"{self.source_id}-*"):
                if p != self.path:
                    shutil.rmtree(p, ignore_errors=True)
        except OSError:
            pass


def code_version(version: str) -> str:
    """calib's version plus a hash of the code that produces the loaded form.

    A changed loader (a development checkout, a patched install) then never reads
    entries an older one wrote under the same version number.

    Parameters
    ----------
    version : str
        calib's version.

    Returns
    -------
    str
        ``version+hash``.

    Examples
    --------
    >>> code_version("1.0").startswith("1.0+")
    True
    """
    h = hashlib.blake2b(digest_size=8)
    here = Path(__file__).resolve().parent
    for name in ("dataset.py", "mapping.py", "_arrow.py", "_read.py", "_sort.py", "cache.py"):
        try:
            h.update((here / name).read_bytes())
        except OSError:
            h.update(name.encode())
    return f"{version}+{h.hexdigest()}"


def entry(folder: Path, mapping_dict: dict, sources: dict, version: str) -> Entry | None:
    """The cache entry of a data set folder.

    Parameters
    ----------
    folder : Path
        The data set folder.
    mapping_dict : dict
        The column mapping (``ColumnMapping.to_dict()``).
    sources : dict
        table -> the file it is read from (or None).
    version : str
        calib's version.

    Returns
    -------
    Entry or None
        None when a source cannot be fingerprinted (missing, a folder of Parquet
        parts, unreadable).

    Raises
    ------
    ConfigError
        When ``CALIB_CACHE_MAX_GB`` is not a size (before any data is read).

    Examples
    --------
    >>> from calib import __version__
    >>> e = entry(Path("calib-demo/data"), {}, {"leads": "calib-demo/data/leads.csv"},
    ...           __version__)
    >>> e.path.parent == cache_dir() / "datasets"
    True
    """
    limit = size_limit()
    facts = {}
    for table in TABLE_NAMES:
        p = sources.get(table)
        if p is None:
            facts[table] = None
            continue
        f = _file_facts(Path(p))
        if f is None:
            return None
        facts[table] = f
    try:
        where = str(folder.resolve())
    except OSError:
        return None
    mapping_text = json.dumps(mapping_dict, sort_keys=True)
    source_id = hashlib.blake2b(f"{where}\n{mapping_text}".encode(), digest_size=8).hexdigest()
    key = hashlib.blake2b(json.dumps([FORMAT, code_version(version), facts],
                                     sort_keys=True).encode(),
                          digest_size=12).hexdigest()
    return Entry(cache_dir() / "datasets", source_id, key, limit)
