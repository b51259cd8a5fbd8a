"""calib beyond one machine: partitioned data sets and a Dask backend.

``calib partition DATA --out DIR --partitions N`` writes a data set as Parquet
partitioned by a stable hash of ``lead_id`` (:mod:`calib.distributed.partitions`).
:func:`replay`, :func:`sweep` and :func:`compare` then run one task per partition, in
this process or on a Dask cluster (:mod:`calib.distributed.backend`; ``pip install
'calib[dask]'``), and add up the partitions' statistics; each equals its one-machine
counterpart on the original data set exactly. :func:`fit` (``calib.fit.fit`` on a
partitioned data set) builds its training examples the same way
(:func:`fit_examples`); the rest of the fit runs on the client.

Examples
--------
``scheduler="sync"`` runs the tasks in this process, one after another;
``scheduler="local:2"`` runs the same on a cluster of two local worker processes.

>>> from calib import load_rules
>>> from calib.distributed import partition_dataset, replay
>>> info = partition_dataset("calib-demo/data", "demo-parts", 8, force=True)
>>> res = replay("demo-parts", load_rules("calib-demo/current.toml"), scheduler="sync")
>>> print(res.summary().splitlines()[0])
Rule set 'current' over 2,000 leads created 2025-01-01 .. 2026-06-30
"""

from importlib import import_module

# Loaded on first use: checking whether DATA is partitioned (every replay does) must
# not import the fit and its scipy dependencies.
_EXPORTS = {
    **dict.fromkeys(("compare", "fit", "fit_examples", "global_period", "replay",
                     "replay_partitioned", "sweep"), "calib.distributed.api"),
    **dict.fromkeys(("DaskBackend", "LocalBackend", "get_backend"), "calib.distributed.backend"),
    **dict.fromkeys(("PartitionInfo", "is_partitioned", "lead_partitions", "partition_dataset",
                     "read_partition", "read_partition_info", "read_partitioned", "read_whole"),
                    "calib.distributed.partitions"),
    **dict.fromkeys(("examples_part", "partition_stats"), "calib.distributed.tasks"),
}

__all__ = ["replay", "sweep", "compare", "fit", "fit_examples", "replay_partitioned",
           "partition_dataset", "read_partitioned", "read_partition", "read_partition_info",
           "read_whole", "is_partitioned", "lead_partitions", "partition_stats",
           "examples_part", "global_period", "PartitionInfo",
           "DaskBackend", "LocalBackend", "get_backend"]


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'calib.distributed' has no attribute {name!r}")
