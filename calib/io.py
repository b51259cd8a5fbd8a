"""Writing tables users open in spreadsheets: CSV or Parquet, atomically, safely."""

from __future__ import annotations

import math
import os
import re
import tempfile
from pathlib import Path

import pandas as pd

from calib.errors import CalibError

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = r"[+-]?\d+(\.\d+)?([eE][+-]?\d+)?"
# FORMULA_START as a regular expression for Arrow's compute functions (RE2)
_FORMULA_START_RE = "^[" + "".join("\\" + c if c in "-\\]^" else c for c in FORMULA_START) + "]"
# the table files of a data set folder: writing one of these into a data folder would
# change (or shadow) what calib reads next time
TABLE_FILES = re.compile(r"^(leads|events|outcomes|assignments)\.(csv|csv\.gz|parquet)$",
                         re.IGNORECASE)
# temporary files and folders calib writes next to an output: .NAME.calib-PID-RANDOM[.tmp]
_TMP_TAG = "calib-"
_TMP_RE = re.compile(r"^\.(?P<name>.+)\.calib-(?P<pid>\d+)-[A-Za-z0-9_]+(\.tmp)?$")


def _risky(text: str) -> bool:
    return text.startswith(FORMULA_START) and re.fullmatch(_PLAIN_NUMBER, text) is None


def neutralise_text(text: str) -> str:
    """``text`` with a leading apostrophe when a spreadsheet would read it as a formula.

    Parameters
    ----------
    text : str
        A cell or a column name (anything else is returned as it is).

    Returns
    -------
    str

    Examples
    --------
    >>> neutralise_text("=HYPERLINK(1)"), neutralise_text("-1042"), neutralise_text("vp")
    ("'=HYPERLINK(1)", '-1042', 'vp')
    """
    return "'" + text if isinstance(text, str) and _risky(text) else text


def unneutralise_text(s: pd.Series) -> pd.Series:
    """Undo :func:`neutralise_formulas` on a text column read back from a CSV calib wrote.

    ``'=x`` becomes ``=x`` again, only where the apostrophe guards a formula start, so ids
    that really begin with an apostrophe followed by a letter stay.

    Parameters
    ----------
    s : pandas.Series
        A text column.

    Returns
    -------
    pandas.Series
        The column as text (``string`` dtype).

    Examples
    --------
    >>> import pandas as pd
    >>> unneutralise_text(pd.Series(["'=1+1", "'abc", "'-7"])).tolist()
    ['=1+1', "'abc", "'-7"]
    """
    s = s.astype("string")
    guarded = s.str.startswith("'") & s.str.slice(1).str.startswith(FORMULA_START)
    guarded = guarded & ~s.str.slice(1).str.fullmatch(_PLAIN_NUMBER)
    guarded = guarded.fillna(False)
    return s.where(~guarded, s.str.slice(1)) if guarded.any() else s


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` that a spreadsheet cannot run (OWASP CSV injection).

    Text cells and column names starting with = + - @ (a spreadsheet formula) get a
    leading apostrophe. Numbers, and text that is a plain number such as an id "-1042",
    are left alone: a spreadsheet reads those as numbers, not formulas.

    Parameters
    ----------
    df : pandas.DataFrame
        The table to write.

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"lead_id": ["-1042", "=cmd()"], "@note": ["+1 call", "ok"]})
    >>> neutralise_formulas(df).to_dict("list")
    {'lead_id': ['-1042', "'=cmd()"], "'@note": ["'+1 call", 'ok']}
    """
    out = df.copy()
    for c in out.columns:
        col = out[c]
        if col.dtype == object or isinstance(col.dtype, (pd.StringDtype, pd.CategoricalDtype)):
            s = col.astype("string")
            risky = (s.str.startswith(FORMULA_START)
                     & ~s.str.fullmatch(_PLAIN_NUMBER)).fillna(False)
            if risky.any():
                out[c] = s.where(~risky, "'" + s)
    out.columns = [neutralise_text(str(c)) for c in out.columns]
    return out


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _linked_into(p: Path, folder: Path) -> bool:
    """Whether the existing file ``p`` is a hard link to a file directly in ``folder``."""
    if not (p.is_file() and folder.is_dir()):
        return False
    try:
        st = p.stat()
        return st.st_nlink > 1 and any(
            c.is_file() and os.path.samefile(c, p) for c in folder.iterdir())
    except OSError:
        return False


def check_output(path, inputs=(), *, data=None, what: str = "output",
                 suffixes: tuple = ()) -> Path:
    """Refuse an output ``path`` that would overwrite an input, before anything is computed.

    An output may not be (a link to) one of the ``inputs`` or a table file of the data
    set folder(s) ``data``. ``inputs`` are files or folders the command reads; a folder
    protects every file in it. Paths are compared after resolving symbolic links, and by
    inode (hard links).

    Parameters
    ----------
    path : str or os.PathLike
        The output file.
    inputs : iterable of str or os.PathLike
        Files and folders the command reads (None entries are ignored).
    data : str, os.PathLike or iterable of them, optional
        Data set folders: their table files (leads, events, outcomes, assignments) are
        protected too.
    what : str
        How the output is named in messages, e.g. ``"--out"``.
    suffixes : tuple of str
        The allowed file name endings (any when empty).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    calib.errors.CalibError
        Code ``"overwrites_input"``; or ``"invalid_path"`` for a folder, a name without
        one of the ``suffixes`` or a folder that does not exist.

    Examples
    --------
    >>> check_output("scores.csv", ["calib-demo/current.toml"], data="calib-demo/data",
    ...              what="--out", suffixes=(".csv",))
    PosixPath('scores.csv')
    >>> check_output("calib-demo/data/leads.csv", data="calib-demo/data", what="--out")
    Traceback (most recent call last):
    calib.errors.CalibError: --out 'calib-demo/data/leads.csv' would write the table file leads.csv of the data set 'calib-demo/data'; calib never modifies its input. Suggestion: Write the output outside the data set folder.
    """
    p = Path(path)
    real = Path(os.path.realpath(p))
    if p.is_dir():
        raise CalibError(f"{what} '{p}' is a folder; give a file name.", code="invalid_path")
    for d in [data] if isinstance(data, (str, os.PathLike)) else list(data or ()):
        dreal = Path(os.path.realpath(d))
        if real.parent == dreal and TABLE_FILES.match(real.name):
            raise CalibError(f"{what} '{p}' would write the table file {real.name} of the data "
                             f"set '{d}'; calib never modifies its input.",
                             code="overwrites_input",
                             suggestion="Write the output outside the data set folder.")
        inputs = [*inputs, d]
    for i in inputs:
        if i is None:
            continue
        ip = Path(i)
        ireal = Path(os.path.realpath(ip))
        if real == ireal or _same_file(p, ip) or (ip.is_dir() and ireal in real.parents
                                                  and p.exists()) or _linked_into(p, ip):
            raise CalibError(f"{what} '{p}' is the input '{i}'; calib never modifies its input.",
                             code="overwrites_input",
                             suggestion="Write the output to another file.")
    if suffixes and not p.name.lower().endswith(tuple(suffixes)):
        raise CalibError(f"{what} '{p}': use a {' or '.join(suffixes)} file name.",
                         code="invalid_path")
    if not p.parent.is_dir():
        raise CalibError(f"{what} '{p}': the folder '{p.parent}' does not exist.",
                         code="invalid_path")
    return p


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but not ours
        return True
    return True


def clean_stale_temporaries(folder, name: str) -> list[Path]:
    """Remove the temporaries of an output left by a calib process that no longer runs.

    Such temporaries stay behind when a process is killed during a write.

    Parameters
    ----------
    folder : str or os.PathLike
        The folder of the output.
    name : str
        The output's file name.

    Returns
    -------
    list of pathlib.Path
        What was removed.

    Examples
    --------
    >>> from pathlib import Path
    >>> folder = Path("stale-example")
    >>> folder.mkdir(exist_ok=True)
    >>> _ = (folder / ".t.csv.calib-999999999-x1.tmp").write_text("half")
    >>> _ = (folder / (temp_prefix(folder / "t.csv") + "x2.tmp")).write_text("mine")
    >>> [p.name for p in clean_stale_temporaries(folder, "t.csv")]
    ['.t.csv.calib-999999999-x1.tmp']
    """
    import shutil

    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for e in entries:
        m = _TMP_RE.match(e.name)
        if not m or m.group("name") != name or _pid_alive(int(m.group("pid"))):
            continue
        try:
            shutil.rmtree(e) if e.is_dir() and not e.is_symlink() else e.unlink()
            removed.append(e)
        except OSError:
            pass
    return removed


def temp_prefix(path: Path) -> str:
    """Prefix of a unique temporary next to ``path``, recognised by :func:`clean_stale_temporaries`.

    Parameters
    ----------
    path : pathlib.Path
        The output file.

    Returns
    -------
    str
        ``.NAME.calib-PID-``: hidden, and naming the process that writes it.

    Examples
    --------
    >>> import os
    >>> from pathlib import Path
    >>> temp_prefix(Path("out/scores.csv")) == f".scores.csv.calib-{os.getpid()}-"
    True
    """
    return f".{path.name}.{_TMP_TAG}{os.getpid()}-"


def temporary_folder(path: str | os.PathLike) -> Path:
    """A new, uniquely named folder next to ``path`` to write an output folder into
    before it is moved into place (temporaries of ``path`` left by a killed calib
    process are removed first; the parent folder is created if needed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(path.parent, path.name)
    return Path(tempfile.mkdtemp(prefix=temp_prefix(path), dir=path.parent))


def write_table(df, path: str | os.PathLike) -> None:
    """Write ``df`` as ``.csv`` or ``.parquet`` (by extension), atomically.

    The table goes to a uniquely named temporary file moved into place, so a failure never
    leaves half a file and two writers of one path leave one complete file (the last
    one's). A CSV has its formulas neutralised (:func:`neutralise_formulas`) and times as
    ``YYYY-MM-DDTHH:MM:SSZ``.

    A pyarrow Table is written by Arrow, not through pandas (fast for millions of rows):
    Parquet with zstd, CSV with booleans as ``true``/``false``, whole-number floats
    without ``.0`` and text quoted only when some value needs it.

    Parameters
    ----------
    df : pandas.DataFrame or pyarrow.Table
        The table.
    path : str or os.PathLike
        A ``.csv`` or ``.parquet`` file in a folder that exists.

    Raises
    ------
    calib.errors.CalibError
        Code ``"invalid_path"`` (another extension, a missing folder, a folder) or
        ``"unwritable"``.

    Examples
    --------
    >>> import pandas as pd
    >>> from pathlib import Path
    >>> out = Path("example-scores.csv")
    >>> write_table(pd.DataFrame({"lead_id": ["L1", "=1+1"], "score": [85, 40]}), out)
    >>> print(out.read_text(), end="")
    lead_id,score
    L1,85
    '=1+1,40
    >>> write_table(pd.DataFrame(), out.with_suffix(".xlsx"))
    Traceback (most recent call last):
    calib.errors.CalibError: Cannot write 'example-scores.xlsx': use a .csv or .parquet file name.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise CalibError(f"Cannot write '{path}': use a .csv or .parquet file name.",
                         code="invalid_path")

    def write(tmp: Path) -> None:
        if not isinstance(df, pd.DataFrame):
            _write_arrow(df, tmp, suffix)
        elif suffix == ".csv":
            neutralise_formulas(df).to_csv(tmp, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
        else:
            df.to_parquet(tmp, index=False)

    _write_atomically(path, write)


_ROWS_PER_WRITE = 1 << 20


def _write_arrow(table, path: Path, suffix: str) -> None:
    """A pyarrow Table as Parquet (zstd, row groups of 2**20 rows) or as CSV with one
    header row, timestamps as ``2025-03-04T13:22:05Z`` (UTC, whole seconds), booleans as
    ``true``/``false``, text quoted only when some value of the table needs it, and
    text and column names guarded against spreadsheet formulas as in
    :func:`neutralise_formulas`."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    if suffix == ".parquet":
        pq.write_table(table, path, compression="zstd", row_group_size=_ROWS_PER_WRITE)
        return
    names = [neutralise_text(str(c)) for c in table.column_names]
    ready = [_csv_column(table.slice(0, 0).column(i)) for i in range(table.num_columns)]
    schema = pa.schema([pa.field(n, c.type) for n, c in zip(names, ready)])
    quote = _needs_quotes(table) or any(_needs_quotes_text(n) for n in names)
    header = ",".join('"' + n.replace('"', '""') + '"' if _needs_quotes_text(n) else n
                      for n in names)
    options = pa_csv.WriteOptions(include_header=False,
                                  quoting_style="needed" if quote else "none")
    with open(path, "wb") as sink:
        sink.write((header + "\n").encode("utf-8"))
        with pa_csv.CSVWriter(sink, schema, write_options=options) as writer:
            for start in range(0, table.num_rows, _ROWS_PER_WRITE):
                part = table.slice(start, _ROWS_PER_WRITE)
                writer.write_table(pa.table([_csv_column(c) for c in part.columns],
                                            schema=schema))


def _is_text(type_) -> bool:
    import pyarrow as pa

    return pa.types.is_string(type_) or pa.types.is_large_string(type_)


def _csv_column(col):
    """One column as the CSV shows it: timestamps as ISO 8601 UTC text, dictionary
    columns as their values, formula-like text behind an apostrophe."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if pa.types.is_timestamp(col.type):
        seconds = col.cast(pa.timestamp("s", tz="UTC"), safe=False)
        return pc.strftime(seconds, format="%Y-%m-%dT%H:%M:%SZ")
    if _is_text(col.type) and len(col):
        risky = pc.and_not(pc.match_substring_regex(col, _FORMULA_START_RE),
                           pc.match_substring_regex(col, f"^{_PLAIN_NUMBER}$"))
        if pc.any(risky).as_py():
            col = pc.if_else(risky, pc.binary_join_element_wise("'", col, ""), col)
    return col


def _needs_quotes(table) -> bool:
    """Whether a text value of ``table`` holds a comma, a quote or a line break."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for col in table.columns:
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        if _is_text(col.type) and pc.any(pc.match_substring_regex(col, '[,"\r\n]')).as_py():
            return True
    return False


def _needs_quotes_text(text: str) -> bool:
    return any(ch in text for ch in ',"\r\n')


def write_text(text: str, path: str | os.PathLike) -> None:
    """Write a text file (UTF-8) atomically, like :func:`write_table`.

    Parameters
    ----------
    text : str
        The text.
    path : str or os.PathLike
        The file, in a folder that exists.

    Raises
    ------
    calib.errors.CalibError
        ``"invalid_path"`` when the folder does not exist or ``path`` is a folder,
        ``"unwritable"`` when the file cannot be written.

    Examples
    --------
    >>> from pathlib import Path
    >>> out = Path("example-rules.toml")
    >>> write_text('name = "r"\\n', out)
    >>> out.read_text()
    'name = "r"\\n'
    """

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    _write_atomically(Path(path), write)


def _write_atomically(path: Path, write) -> None:
    """Call ``write`` on a unique temporary next to ``path``, then move it into place;
    the temporary never outlives a failure."""
    if not path.parent.is_dir():
        raise CalibError(f"Cannot write '{path}': the folder '{path.parent}' does not exist.",
                         code="invalid_path")
    if path.is_dir():
        raise CalibError(f"Cannot write '{path}': it is a folder.", code="invalid_path")
    clean_stale_temporaries(path.parent, path.name)
    tmp = None
    try:
        fd, name = tempfile.mkstemp(prefix=temp_prefix(path), suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp = Path(name)
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as e:
        raise CalibError(f"Cannot write '{path}': {e.strerror or e}.", code="unwritable") from None
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()


def finite_float(x) -> float | None:
    """A number as a JSON-safe float: None for None, NaN and infinities.

    Parameters
    ----------
    x : float, numpy scalar or None

    Returns
    -------
    float or None

    Examples
    --------
    >>> import numpy as np
    >>> finite_float(np.float32(0.5)), finite_float(float("inf")), finite_float(None)
    (0.5, None, None)
    """
    return None if x is None else json_safe(float(x))


def json_safe(obj):
    """Plain JSON types: numpy scalars to Python, NaN and infinities to null.

    Dict keys become text, tuples lists; nested containers are converted throughout.

    Parameters
    ----------
    obj : object
        A dict, list, tuple or scalar.

    Returns
    -------
    object

    Examples
    --------
    >>> import json
    >>> import numpy as np
    >>> json.dumps(json_safe({"n": np.int64(3), "rates": (np.float64("nan"), 0.25), 1: "x"}))
    '{"n": 3, "rates": [null, 0.25], "1": "x"}'
    """
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def iso_utc(ts) -> str | None:
    """A timestamp as ISO 8601 text in UTC to the second, as calib's JSON writes times.

    Parameters
    ----------
    ts : Timestamp, datetime64 or None
        A time zone-aware time (or a missing one).

    Returns
    -------
    str or None
        ``YYYY-MM-DDTHH:MM:SSZ``; None for None or NaT.

    Examples
    --------
    >>> iso_utc(pd.Timestamp("2026-01-31 10:00", tz="Europe/Berlin"))
    '2026-01-31T09:00:00Z'
    >>> iso_utc(pd.NaT) is None
    True
    """
    if ts is None or pd.isna(ts):
        return None
    return pd.Timestamp(ts).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
