"""The training / test split of :func:`calib.fit.fit` and the holdout column.

The model sees the data as they were at ``train_until`` (leads created by then, events
and outcomes up to then); the leads created after it, early enough to have had their
whole attribution window, are the test leads. Snapshot data sets (no time) use a seeded
random third of the leads as the test set instead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from calib.data.dataset import Dataset, ns
from calib.engine.delays import mature_hint
from calib.engine.replay import _timestamp
from calib.engine.results import _iso
from calib.errors import CalibError
from calib.fit.config import AUTO
from calib.fit.examples import truncate
from calib.fit.result import FitSplit

__all__ = ["split_leads", "holdout_column", "DEFAULT_HOLDOUT"]

DEFAULT_HOLDOUT = "exploration_holdout"


def holdout_column(ds: Dataset, column: str | None) -> str | None:
    """The leads column of the exploration holdout, or None.

    Parameters
    ----------
    ds : Dataset
    column : str or None
        A column name, ``"auto"`` (``exploration_holdout`` when the leads have it) or
        None (no holdout).

    Returns
    -------
    str or None

    Raises
    ------
    CalibError
        ``unknown_field`` when a named column is not a column of the leads.

    Examples
    --------
    >>> from calib import load_dataset
    >>> holdout_column(load_dataset("calib-demo/data"), "auto")
    'exploration_holdout'
    """
    hcol = DEFAULT_HOLDOUT if column == AUTO else column
    if hcol is not None and hcol not in ds.leads.columns:
        if column != AUTO:
            raise CalibError(f"The holdout column '{hcol}' is not a column of the leads table.",
                             code="unknown_field")
        hcol = None
    return hcol


def default_train_until(ds: Dataset) -> pd.Timestamp:
    """Two thirds of the way from the first ``created_at`` to the end of the data (a day).

    Examples
    --------
    >>> from calib import load_dataset
    >>> default_train_until(load_dataset("calib-demo/data")) < pd.Timestamp.now("UTC")
    True
    """
    start = ds.leads["created_at"].min()
    end = ds.end_of_data
    return (start + (end - start) * 2 / 3).floor("D")


def split_leads(ds: Dataset, train_until, seed: int, window_days: float = 90.0,
                outcomes=()) -> tuple[Dataset, np.ndarray, FitSplit]:
    """The training data, the test lead codes and a description of the split.

    Parameters
    ----------
    ds : Dataset
    train_until : str or Timestamp or None
        The split date (default :func:`default_train_until`); ignored for snapshot data.
    seed : int
        Seed of the random split of snapshot data.
    window_days : float, default 90
        A test lead must have had its whole window before the end of the data.
    outcomes : sequence of str
        The outcomes, for the hint when no test lead is mature.

    Returns
    -------
    train_ds : Dataset
        The data as known at the split date (or the training leads).
    test_codes : ndarray
        Lead codes of the test leads in ``ds``.
    split : FitSplit

    Examples
    --------
    >>> from calib import load_dataset
    >>> train, test, split = split_leads(load_dataset("calib-demo/data"), None, 0)
    >>> split.kind, len(test) > 0
    ('time', True)
    """
    if ds.snapshot:
        rng = np.random.default_rng(seed)
        test = rng.random(ds.n_leads) < 1 / 3
        train_ds = ds.subset(np.flatnonzero(~test))
        return train_ds, np.flatnonzero(test), FitSplit(kind="random", train_until=None,
                                                         seed=seed)
    T = default_train_until(ds) if train_until is None \
        else _timestamp(train_until, "--train-until")
    start = ds.leads["created_at"].min()
    if not (start < T < ds.end_of_data):
        raise CalibError(f"--train-until ({T.date()}) must fall inside the data "
                         f"({start.date()} to {ds.end_of_data.date()}).", code="invalid_date")
    created = ns(ds.leads["created_at"])
    # test leads: created after T and early enough to have had the whole attribution
    # window before the end of the data
    last = ds.end_of_data - pd.Timedelta(days=window_days)
    after = created > T.value
    test = np.flatnonzero(after & (created <= last.value))
    reason = None
    if len(test) == 0 and after.any():
        reason = (f"{int(after.sum()):,} leads were created after {T.date()}, but none is "
                  "mature: " + mature_hint(ds, created[after], window_days, outcomes))
    split = FitSplit(kind="time", train_until=_iso(T), test_created_until=_iso(last),
                     no_test_reason=reason)
    return truncate(ds, T), test, split
