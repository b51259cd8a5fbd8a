"""Cluster commands: ``calib partition``, and the ``--scheduler`` option's helpers.

``replay``, ``sweep``, ``compare`` and ``fit`` accept a partitioned data set (written by
``calib partition``) as DATA; with ``--scheduler`` (or ``$CALIB_SCHEDULER``) its
partitions run on a Dask cluster, otherwise one after another in this process (``fit``
builds its training examples that way and runs the rest in this process).
"""

from __future__ import annotations

from calib.cli.common import Command, data_args, emit, load_data, measured_window, number
from calib.errors import CalibError


# ------------------------------------------------------------------ --scheduler helpers
def scheduler_arg(p) -> None:
    """Add ``--scheduler`` to a command that reads a data set.

    Parameters
    ----------
    p : argparse.ArgumentParser
        The parser of a command that accepts a partitioned data set.

    Examples
    --------
    >>> import argparse
    >>> p = argparse.ArgumentParser()
    >>> scheduler_arg(p)
    >>> p.parse_args(["--scheduler", "local:2"]).scheduler
    'local:2'
    """
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on a Dask cluster: tcp://host:8786, local:N (N worker "
                   "processes here) or a scheduler .json file; DATA must be written by "
                   "'calib partition' (default: $CALIB_SCHEDULER)")


def use_partitions(args) -> bool:
    """Whether the command runs on a partitioned data set (written by ``calib partition``).

    A partitioned data set without ``--scheduler`` gets ``$CALIB_SCHEDULER``, else
    ``"sync"`` (one partition after another here), set on ``args.scheduler``.

    Parameters
    ----------
    args : argparse.Namespace
        The command's arguments: ``data``, and ``scheduler`` and ``mapping`` where it
        has them.

    Returns
    -------
    bool

    Raises
    ------
    calib.errors.CalibError
        ``--scheduler`` with ordinary DATA (code ``"not_partitioned"``), or ``--mapping``
        with a partitioned data set (``"invalid_usage"``).

    Examples
    --------
    >>> import argparse
    >>> use_partitions(argparse.Namespace(data="calib-demo/data"))
    False
    >>> use_partitions(argparse.Namespace(data="calib-demo/data", scheduler="local:2"))
    Traceback (most recent call last):
    calib.errors.CalibError: --scheduler needs a partitioned data set, and 'calib-demo/data' is not one. Suggestion: Write one first: calib partition calib-demo/data --out DIR --partitions N, then pass DIR.
    """
    import os

    from calib.distributed.partitions import is_partitioned

    partitioned = is_partitioned(args.data)
    scheduler = getattr(args, "scheduler", None)
    if scheduler and not partitioned:
        raise CalibError(f"--scheduler needs a partitioned data set, and '{args.data}' is "
                         "not one.", code="not_partitioned",
                         suggestion=f"Write one first: calib partition {args.data} --out "
                                    "DIR --partitions N, then pass DIR.")
    if partitioned and getattr(args, "mapping", None):
        raise CalibError("A column mapping is applied when the data set is partitioned, "
                         "not when it is read.", code="invalid_usage",
                         suggestion="Pass --mapping to calib partition instead.")
    if partitioned and not scheduler:
        args.scheduler = os.environ.get("CALIB_SCHEDULER") or "sync"
    return partitioned


def data_and_window(args, outcomes=None, *, rules=None):
    """DATA as a command that accepts a partitioned data set runs on it, and its window.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments with ``data``, ``window_days``, ``start`` and ``end`` (see
        :func:`~calib.cli.common.data_args` and :func:`~calib.cli.common.period_args`).
    outcomes : sequence of str, optional
        The outcomes whose delays set a measured window.
    rules : calib.rules.RuleSet, optional
        Measure the window from the MQL under these rules.

    Returns
    -------
    partitioned : bool
        Whether DATA is a partitioned data set (see :func:`use_partitions`).
    data : calib.data.DataSet or str
        The loaded data set, or the partitioned data set's folder.
    window : calib.engine.delays.DelayWindow
        The window (see :func:`~calib.cli.common.measured_window`).

    Examples
    --------
    >>> import argparse
    >>> args = argparse.Namespace(data="calib-demo/data", window_days=30.0, start=None,
    ...                           end=None)
    >>> parts, ds, window = data_and_window(args)
    >>> parts, len(ds.leads), window.days
    (False, 2000, 30.0)
    """
    parts = use_partitions(args)
    ds = args.data if parts else load_data(args)
    window = measured_window(args, ds, outcomes, rules=rules, start=args.start, end=args.end)
    return parts, ds, window


# ------------------------------------------------------------------ partition
def _partition_args(p):
    data_args(p)
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write")
    p.add_argument("--partitions", required=True, type=number(low=1, high=10_000, integer=True), metavar="N",
                   help="number of partitions (aim for 0.5-5 million events each)")
    p.add_argument("--force", action="store_true",
                   help="replace an earlier partitioned data set in --out")


def _partition(args):
    from calib.cli.common import load_mapping
    from calib.distributed.partitions import partition_dataset

    info = partition_dataset(args.data, args.out, args.partitions,
                             mapping=load_mapping(args.mapping), force=args.force,
                             max_partitions_per_lead=1)
    emit(args, info)


COMMANDS = [
    Command("partition", "write a data set as Parquet partitioned by lead, for a cluster",
            "Validate a data set and write it as Parquet partitioned by a stable hash of "
            "lead_id (DIR/part-NNNNN/{leads,events,outcomes}.parquet and "
            "DIR/_calib_partitions.json with the partition count, the hash scheme and the "
            "whole data set's facts: end of data, outcomes, event types, row counts). A "
            "lead's events never straddle two partitions. replay, sweep, compare and fit "
            "accept DIR; with --scheduler they run its partitions on a Dask cluster.",
            "calib partition calib-demo/data --out demo-parts --partitions 8",
            _partition_args, _partition),
]
