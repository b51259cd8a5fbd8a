"""Tables of the refinement results as JSON-safe records (their ``to_dict``)."""

from __future__ import annotations

import json

import pandas as pd


def records(frame: pd.DataFrame) -> list[dict]:
    """The rows of ``frame`` as dicts of JSON values, timestamps as ISO text."""
    return json.loads(frame.to_json(orient="records", date_format="iso"))
