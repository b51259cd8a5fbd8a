"""Writing tables users open in spreadsheets: CSV or Parquet, atomically, safely."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd

from calib.errors import CalibError

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells starting with = + - @ (a spreadsheet formula) get a
    leading apostrophe, so opening the CSV in Excel cannot run anything (OWASP CSV
    injection). Numbers, and text that is a plain number such as an id "-1042", are
    left alone: a spreadsheet reads those as numbers, not formulas."""
    out = df.copy()
    for c in out.columns:
        col = out[c]
        if col.dtype == object or isinstance(col.dtype, (pd.StringDtype, pd.CategoricalDtype)):
            s = col.astype("string")
            risky = (s.str.startswith(FORMULA_START)
                     & ~s.str.fullmatch(r"[+-]?\d+(\.\d+)?([eE][+-]?\d+)?")).fillna(False)
            if risky.any():
                out[c] = s.where(~risky, "'" + s)
    return out


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write ``df`` as ``.csv`` or ``.parquet`` (by extension) via a temporary file
    moved into place, so a failure never leaves half a file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise CalibError(f"Cannot write '{path}': use a .csv or .parquet file name.",
                         code="invalid_path")
    if not path.parent.exists():
        raise CalibError(f"Cannot write '{path}': the folder '{path.parent}' does not exist.",
                         code="invalid_path")
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        if suffix == ".csv":
            neutralise_formulas(df).to_csv(tmp, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
        else:
            df.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


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
