"""Where the heavy work runs: this process, or a Dask cluster (``compute:`` in params.yaml).

``dask_client`` is the one way in: it yields ``None`` for the local engine, else a
``distributed.Client``: on a ``LocalCluster`` it starts (worker processes on loopback, closed
on exit) or on the user's scheduler at ``compute.address`` / ``SHOPREC_DASK_ADDRESS``
(dask-kubernetes, Coiled, YARN or ``dask scheduler`` by hand; left running on exit). Code that
can fan out takes the client and falls back to a plain loop when it is ``None``, so both
engines run the same functions and give the same results.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from shoprec.config import ComputeParams
from shoprec.errors import ConfigError

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)
CONNECT_TIMEOUT_S = 30


def _distributed():
    try:
        import distributed
    except ImportError:  # the dask extra is not installed
        raise ConfigError(
            "compute.engine: dask needs Dask: pip install 'shoprec[dask]' "
            "(dask[dataframe], distributed, prefect-dask)"
        ) from None
    return distributed


@contextmanager
def dask_client(settings: ComputeParams) -> Iterator[Client | None]:
    """``None`` for ``engine: local``; a connected client for ``engine: dask``."""
    if settings.engine == "local":
        yield None
        return
    distributed = _distributed()
    address = settings.resolved_address()
    if address:
        try:
            client = distributed.Client(address, timeout=CONNECT_TIMEOUT_S)
        except OSError as exc:
            raise ConfigError(
                f"compute.address: no Dask scheduler answers at {address} "
                f"within {CONNECT_TIMEOUT_S} s ({exc})"
            ) from None
        log.info("dask: connected to %s (%d workers)", address, _worker_count(client))
        try:
            yield client
        finally:
            client.close()
        return
    cluster = distributed.LocalCluster(
        n_workers=settings.n_workers,
        threads_per_worker=settings.threads_per_worker,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        memory_limit=settings.memory_limit,
    )
    client = distributed.Client(cluster)
    log.info(
        "dask: LocalCluster of %d workers × %d threads at %s",
        settings.n_workers,
        settings.threads_per_worker,
        cluster.scheduler_address,
    )
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def _worker_count(client: Client) -> int:
    return len(client.scheduler_info().get("workers", {}))


def trim_memory() -> None:
    """Give the memory a finished task freed back to the system. glibc keeps freed memory in
    the arena of the thread that used it, and a Dask worker runs tasks on pool threads, so
    without this a worker's resident memory grows with every task it has run (measured: about
    300 MB per 2M-event validation task, 2.3 GiB after six) though nothing is still held.
    Great Expectations' objects hold a checked frame in reference cycles, which only the
    cycle collector frees, so it runs first."""
    import pyarrow

    gc.collect()
    pyarrow.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):  # not glibc (macOS, musl): no trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _then_trim(function: Callable, item: Any, **kwargs: Any) -> Any:
    try:
        return function(item, **kwargs)
    finally:
        trim_memory()


def fan_out(client: Client | None, function: Callable, items: Iterable, **kwargs: Any) -> list:
    """``[function(item, **kwargs) for item in items]``, as Dask tasks when there is a client
    (results in the order of ``items``; the first task that fails raises here). The keyword
    values are sent to every worker once (``scatter``), not inside each task: a large value in
    the task graph is slow, and Dask mis-keys one over 100 kB. Each result is fetched as its
    task finishes and released on its worker then, so the workers do not hold every result
    until the last task is done; after each task the worker trims its memory
    (``trim_memory``)."""
    items = list(items)
    if client is None:
        return [function(item, **kwargs) for item in items]
    from distributed import Future, as_completed

    shared = {
        key: value
        if isinstance(value, Future)
        else client.scatter([value], broadcast=True, hash=False)[0]
        for key, value in kwargs.items()
    }
    name = getattr(function, "__name__", "task")
    futures = client.map(
        functools.partial(_then_trim, function),
        items,
        key=[f"{name}-{uuid.uuid4().hex}" for _ in items],
        **shared,
    )
    where = {future.key: k for k, future in enumerate(futures)}
    results: list[Any] = [None] * len(futures)
    for future, result in as_completed(futures, with_results=True):
        results[where[future.key]] = result
        future.release()
    return results


def dask_task_runner(settings: ComputeParams):
    """The Prefect task runner for the work a flow can do at once: prefect-dask's
    ``DaskTaskRunner`` on the scheduler at the address, else on a ``LocalCluster`` it starts
    for the flow run; None for the local engine (tasks run one by one, as they always did)."""
    if settings.engine != "dask":
        return None
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:
        raise ConfigError(
            "compute.engine: dask needs prefect-dask: pip install 'shoprec[dask]'"
        ) from None
    address = settings.resolved_address()
    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": settings.n_workers,
            "threads_per_worker": settings.threads_per_worker,
            "processes": True,
            "host": "127.0.0.1",
            "dashboard_address": "127.0.0.1:0",
            "memory_limit": settings.memory_limit,
        },
    )


__all__ = ["dask_client", "dask_task_runner", "fan_out"]
