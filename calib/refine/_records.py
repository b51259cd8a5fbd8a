"""What the refinement results share: their main table and their JSON form."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd


def records(frame: pd.DataFrame) -> list[dict]:
    """The rows of ``frame`` as dicts of JSON values, timestamps as ISO text."""
    return json.loads(frame.to_json(orient="records", date_format="iso"))


class Tables:
    """A frozen dataclass of tables and values: ``to_frame()`` is its main table (the
    field ``_main``), ``to_dict()`` every field in order, tables as records, tuples as
    lists, a field named in ``_keys`` under that key."""

    _main = ""
    _keys: dict = {}

    def to_frame(self) -> pd.DataFrame:
        """The main table (see the class)."""
        return getattr(self, self._main)

    def to_dict(self) -> dict:
        """Every field as JSON values (tables as lists of records, dates as ISO text)."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, pd.DataFrame):
                v = records(v)
            elif isinstance(v, tuple):
                v = list(v)
            out[self._keys.get(f.name, f.name)] = v
        return out
