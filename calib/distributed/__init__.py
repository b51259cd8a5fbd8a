"""calib beyond one machine: partitioned data sets and a Dask backend.

``calib partition DATA --out DIR --partitions N`` writes a data set as Parquet
partitioned by a stable hash of ``lead_id`` (:mod:`calib.distributed.partitions`).
:func:`replay`, :func:`sweep` and :func:`compare` then run one task per partition, in
this process or on a Dask cluster (:mod:`calib.distributed.backend`; ``pip install
'calib[dask]'``), and add up the partitions' statistics; each equals its one-machine
counterpart on the original data set exactly.

Examples
--------
>>> from calib.distributed import partition_dataset, replay  # doctest: +SKIP
>>> partition_dataset("calib-demo/data", "demo-parts", 8)  # doctest: +SKIP
>>> replay("demo-parts", load_rules("calib-demo/current.toml"),
...        scheduler="local:2").summary()  # doctest: +SKIP
"""

from calib.distributed.api import compare, global_period, replay, replay_partitioned, sweep
from calib.distributed.backend import DaskBackend, LocalBackend, get_backend
from calib.distributed.partitions import (PartitionInfo, is_partitioned, lead_partitions,
                                          partition_dataset, read_partition,
                                          read_partition_info, read_partitioned)
from calib.distributed.tasks import partition_stats

__all__ = ["replay", "sweep", "compare", "replay_partitioned", "partition_dataset",
           "read_partitioned", "read_partition", "read_partition_info", "is_partitioned",
           "lead_partitions", "partition_stats", "global_period", "PartitionInfo",
           "DaskBackend", "LocalBackend", "get_backend"]
