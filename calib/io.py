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
    """``text`` with a leading apostrophe when a spreadsheet would read it as a formula."""
    return "'" + text if isinstance(text, str) and _risky(text) else text


def unneutralise_text(s: pd.Series) -> pd.Series:
    """Undo :func:`neutralise_formulas` on a text column read back from a CSV calib
    wrote: ``'=x`` becomes ``=x`` again (only where the apostrophe guards a formula
    start, so ids that really begin with an apostrophe followed by a letter stay)."""
    s = s.astype("string")
    guarded = s.str.startswith("'") & s.str.slice(1).str.startswith(FORMULA_START)
    guarded = guarded & ~s.str.slice(1).str.fullmatch(_PLAIN_NUMBER)
    guarded = guarded.fillna(False)
    return s.where(~guarded, s.str.slice(1)) if guarded.any() else s


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells and column names starting with = + - @ (a spreadsheet
    formula) get a leading apostrophe, so opening the CSV in Excel cannot run anything
    (OWASP CSV injection). Numbers, and text that is a plain number such as an id
    "-1042", are left alone: a spreadsheet reads those as numbers, not formulas."""
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
    """Refuse an output ``path`` that is (a link to) one of the ``inputs`` or a table
    file of the data set folder(s) ``data``, before anything is computed.

    ``inputs`` are files or folders the command reads; a folder protects every file
    in it. Paths are compared after resolving symbolic links, and by inode (hard
    links). Raises :class:`CalibError` (code ``"overwrites_input"``) naming the option
    and the file; also a name without one of the ``suffixes`` or in a folder that does
    not exist. Returns ``path`` as a :class:`Path`."""
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
    """Remove temporaries of the output ``name`` in ``folder`` left by a calib process
    that no longer runs (killed during a write). Returns what was removed."""
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
    """Prefix of a unique temporary next to ``path``, recognised by
    :func:`clean_stale_temporaries`."""
    return f".{path.name}.{_TMP_TAG}{os.getpid()}-"


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write ``df`` as ``.csv`` or ``.parquet`` (by extension) via a uniquely named
    temporary file moved into place, so a failure never leaves half a file and two
    writers of one path leave one complete file (the last one's)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise CalibError(f"Cannot write '{path}': use a .csv or .parquet file name.",
                         code="invalid_path")
    if not path.parent.is_dir():
        raise CalibError(f"Cannot write '{path}': the folder '{path.parent}' does not exist.",
                         code="invalid_path")
    if path.is_dir():
        raise CalibError(f"Cannot write '{path}': it is a folder.", code="invalid_path")
    clean_stale_temporaries(path.parent, path.name)
    try:
        fd, name = tempfile.mkstemp(prefix=temp_prefix(path), suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise CalibError(f"Cannot write '{path}': {e.strerror or e}.", code="unwritable") from None
    os.close(fd)
    tmp = Path(name)
    try:
        if suffix == ".csv":
            neutralise_formulas(df).to_csv(tmp, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
        else:
            df.to_parquet(tmp, index=False)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as e:
        raise CalibError(f"Cannot write '{path}': {e.strerror or e}.", code="unwritable") from None
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(text: str, path: str | os.PathLike) -> None:
    """Write a text file (UTF-8) atomically, like :func:`write_table`."""
    path = Path(path)
    if not path.parent.is_dir():
        raise CalibError(f"Cannot write '{path}': the folder '{path.parent}' does not exist.",
                         code="invalid_path")
    if path.is_dir():
        raise CalibError(f"Cannot write '{path}': it is a folder.", code="invalid_path")
    clean_stale_temporaries(path.parent, path.name)
    tmp = None
    try:
        fd, name = tempfile.mkstemp(prefix=temp_prefix(path), suffix=".tmp", dir=path.parent)
        tmp = Path(name)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as e:
        raise CalibError(f"Cannot write '{path}': {e.strerror or e}.", code="unwritable") from None
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()


def finite_float(x) -> float | None:
    """A number as a JSON-safe float: None for None, NaN and infinities."""
    return None if x is None else json_safe(float(x))


def json_safe(obj):
    """Plain JSON types: numpy scalars to Python, NaN and infinities to null."""
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
