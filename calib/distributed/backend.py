"""Where partition tasks run: in this process, or on a Dask cluster.

A backend has one method, ``map(func, part_ids, **kwargs)``, which runs
``func(part_id, **kwargs)`` for every partition and returns the results in the order of
``part_ids``. :class:`LocalBackend` loops in this process; :class:`DaskBackend` submits
one task per partition to a ``distributed`` scheduler. Tasks read their partition on the
worker, so only paths, rule sets and statistics cross the network; there is no shuffle.

Schedulers
----------
``None``
    ``$CALIB_SCHEDULER`` if set, else in this process (no Dask needed).
``"sync"``
    In this process, whatever ``$CALIB_SCHEDULER`` says.
``"local:N"`` (or ``"local"``)
    A ``distributed.LocalCluster`` of N single-threaded worker processes on this machine
    (N = the number of cores), bound to 127.0.0.1, no dashboard; closed afterwards.
``"tcp://host:8786"`` (any scheduler address)
    A running cluster (``dask scheduler`` + ``dask worker``, dask-kubernetes,
    dask-jobqueue...). Workers need calib installed and must see the data folder.
``"path/to/scheduler.json"``
    A scheduler file (``dask scheduler --scheduler-file``, dask-mpi, HPC setups).
a ``distributed.Client``
    Used as it is and not closed.
"""

from __future__ import annotations

import os
import pickle
import sys
import uuid

from calib.errors import CalibError

ENV_VAR = "CALIB_SCHEDULER"
DEFAULT_RETRIES = 2


class LocalBackend:
    """Run partition tasks one after another in this process.

    Attributes
    ----------
    name : str
        ``"local"``.

    Examples
    --------
    >>> LocalBackend().map(pow, [1, 2, 3], exp=2)
    [1, 4, 9]
    """

    name = "local"

    def map(self, func, part_ids, *, progress: bool | None = None, **kwargs) -> list:
        """``[func(p, **kwargs) for p in part_ids]``, here, in order.

        Parameters
        ----------
        func : callable
            A partition task, called as ``func(part_id, **kwargs)``.
        part_ids : iterable of int
            The partitions.
        progress : bool, optional
            Show a progress bar on stderr (default: when it is a terminal).
        **kwargs
            Passed to every task.

        Returns
        -------
        list
            The tasks' results in the order of ``part_ids``.

        Examples
        --------
        >>> LocalBackend().map(round, [2.675, 1.25], progress=False, ndigits=1)
        [2.7, 1.2]
        """
        from tqdm.auto import tqdm

        disable = (progress is False) or (progress is None and not sys.stderr.isatty())
        out = []
        for p in tqdm(list(part_ids), desc="partitions", unit="part", file=sys.stderr,
                      disable=disable, delay=2, leave=False):
            out.append(func(p, **kwargs))
        return out

    def close(self) -> None:
        """Nothing to release (there for the backend interface).

        Examples
        --------
        >>> with LocalBackend() as backend:
        ...     backend.map(abs, [-1])
        [1]
        """
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _import_distributed():
    try:
        import distributed
    except ImportError:  # pragma: no cover - depends on the installation
        raise CalibError("Running on a Dask cluster needs the 'dask' extra, which is not "
                         "installed.", code="missing_dependency",
                         suggestion="pip install 'calib[dask]'") from None
    return distributed


class DaskBackend:
    """Run partition tasks on a Dask ``distributed`` cluster.

    Parameters
    ----------
    scheduler : str or distributed.Client, optional
        See the module docstring; default ``$CALIB_SCHEDULER``.
    retries : int, default 2
        How often a task that *raised* is retried (e.g. a flaky network file system).
        A task lost with its worker is rescheduled by Dask anyway.

    Examples
    --------
    This starts a cluster of two worker processes, so the doctests skip it:

    >>> with DaskBackend("local:2") as backend:  # doctest: +SKIP
    ...     backend.map(pow, [1, 2, 3], exp=2)
    [1, 4, 9]
    """

    name = "dask"

    def __init__(self, scheduler=None, *, retries: int = DEFAULT_RETRIES):
        distributed = _import_distributed()
        scheduler = scheduler if scheduler is not None else os.environ.get(ENV_VAR)
        if not scheduler:
            raise CalibError("No Dask scheduler given.", code="missing_scheduler",
                             suggestion=f"Pass --scheduler tcp://host:8786 or local:N, or set "
                                        f"${ENV_VAR}.")
        self.retries = int(retries)
        self.cluster = None
        self._own_client = True
        if isinstance(scheduler, distributed.Client):
            self.client = scheduler
            self._own_client = False
        elif not isinstance(scheduler, str):
            raise CalibError(f"A scheduler must be an address, 'local:N' or a Client. Got "
                             f"{type(scheduler).__name__}.", code="wrong_type")
        elif scheduler == "local" or scheduler.startswith("local:"):
            n = scheduler.partition(":")[2]
            try:
                n_workers = int(n) if n else (os.cpu_count() or 1)
            except ValueError:
                n_workers = 0
            if n_workers < 1:
                raise CalibError(f"The scheduler 'local:N' needs a number of workers >= 1. "
                                 f"Got {scheduler!r}.", code="invalid_scheduler")
            import logging

            self.cluster = distributed.LocalCluster(
                n_workers=n_workers, threads_per_worker=1, processes=True,
                host="127.0.0.1", dashboard_address=None, silence_logs=logging.ERROR)
            self.client = distributed.Client(self.cluster)
        elif scheduler.endswith(".json"):
            self.client = distributed.Client(scheduler_file=scheduler)
        else:
            try:
                self.client = distributed.Client(scheduler, timeout="30s")
            except OSError as e:
                raise CalibError(f"Cannot reach the Dask scheduler at {scheduler!r}: {e}",
                                 code="scheduler_unreachable",
                                 suggestion="Check the address and that 'dask scheduler' "
                                            "runs there.") from None

    @property
    def n_workers(self) -> int:
        """The number of workers the scheduler has now.

        Examples
        --------
        >>> import distributed
        >>> client = distributed.Client(processes=False, n_workers=1, dashboard_address=None)
        >>> DaskBackend(client).n_workers
        1
        >>> client.close()
        """
        return len(self.client.scheduler_info(n_workers=-1)["workers"])

    def map(self, func, part_ids, *, progress: bool | None = None, **kwargs) -> list:
        """``[func(p, **kwargs) for p in part_ids]``, one task per partition.

        Arguments larger than a few kilobytes are sent to every worker once (broadcast),
        not once per task.

        Parameters
        ----------
        func, part_ids, progress, **kwargs
            As for :meth:`LocalBackend.map`; ``func`` must be importable on the workers
            and the arguments picklable.

        Returns
        -------
        list
            The tasks' results, gathered here, in the order of ``part_ids``.

        Examples
        --------
        An in-process cluster (a real one is the same call):

        >>> import distributed
        >>> client = distributed.Client(processes=False, n_workers=2, dashboard_address=None)
        >>> DaskBackend(client).map(pow, [1, 2, 3], exp=2)
        [1, 4, 9]
        >>> client.close()
        """
        distributed = _import_distributed()
        run = uuid.uuid4().hex[:12]
        name = getattr(func, "__name__", "task")
        # Arguments every task shares (the partitioning facts, a sweep plan, rule sets)
        # go to every worker once, not once per task: with thousands of partitions
        # that is the difference between kilobytes and gigabytes through the scheduler.
        # Broadcast, so losing a worker never loses the only copy.
        shared = [k for k, v in kwargs.items() if _large(v)]
        if shared:
            kwargs = dict(kwargs)
            for k in shared:
                # in a list: scatter would split a tuple or dict into one future each
                kwargs[k] = self.client.scatter([kwargs[k]], broadcast=True, hash=False)[0]
        futures = [self.client.submit(func, p, **kwargs, key=f"calib-{name}-{run}-{p}",
                                      retries=self.retries, pure=False)
                   for p in part_ids]
        show = (progress is True) or (progress is None and sys.stderr.isatty())
        if show:
            from tqdm.auto import tqdm

            with tqdm(total=len(futures), desc="partitions", unit="part", file=sys.stderr,
                      leave=False) as bar:
                for _ in distributed.as_completed(futures):
                    bar.update(1)
        try:
            return self.client.gather(futures)
        finally:
            for f in futures + [kwargs[k] for k in shared]:
                f.release()

    def close(self) -> None:
        """Close the client and the local cluster this backend started (not a client it was given).

        Examples
        --------
        >>> import distributed
        >>> client = distributed.Client(processes=False, n_workers=1, dashboard_address=None)
        >>> backend = DaskBackend(client)
        >>> backend.close()
        >>> client.status
        'running'
        >>> client.close()
        """
        if self._own_client:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _large(value, limit: int = 2048) -> bool:
    if isinstance(value, (str, bytes, int, float, bool, type(None))):
        return False
    try:
        return len(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)) > limit
    except Exception:  # noqa: BLE001 - unpicklable here: let Dask's serialisation decide
        return False


def get_backend(scheduler=None):
    """The backend of a scheduler argument, and whether the caller owns it.

    Parameters
    ----------
    scheduler : None, str, distributed.Client, LocalBackend or DaskBackend
        See the module docstring; a backend is used as it is.

    Returns
    -------
    (backend, bool)
        Close the backend afterwards when the flag (owned) is true.

    Examples
    --------
    >>> backend, owned = get_backend("sync")
    >>> backend.name, owned
    ('local', True)
    >>> get_backend(backend)[1]
    False
    """
    if isinstance(scheduler, (LocalBackend, DaskBackend)):
        return scheduler, False
    if scheduler is None:
        scheduler = os.environ.get(ENV_VAR) or None
    if scheduler is None or scheduler == "sync":
        return LocalBackend(), True
    return DaskBackend(scheduler), True
