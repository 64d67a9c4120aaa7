"""Where a sweep's runs execute: in this process (the default), or on Dask.

``--workers N`` starts a local cluster of N worker processes (one thread each, loopback only, no
dashboard); ``--scheduler ADDRESS`` connects to a running one (``dask scheduler`` plus
``dask worker`` processes, or a cluster that dask-jobqueue or dask-kubernetes started). The
workers need no shared disk: each run's result comes back to this process, which writes its file.
Timing is never distributed: ``mtlperf scaling`` refuses both options.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Callable, Iterable, Iterator

INSTALL_HINT = "pip install 'mtlperf[distributed]' (dask.distributed)"


def check_cluster_options(workers: int | None, scheduler: str | None) -> None:
    """A one-line ValueError for options that cannot work, before any data is loaded."""
    if workers is not None and scheduler is not None:
        raise ValueError("--workers starts a local cluster and --scheduler uses an existing one: give one of them")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ValueError(f"--workers must be a positive integer, got {workers!r}")
    if scheduler is not None and not scheduler.strip():
        raise ValueError("--scheduler must be an address such as tcp://10.0.0.5:8786")
    if (workers is not None or scheduler is not None) and importlib.util.find_spec("distributed") is None:
        raise ValueError(f"--workers and --scheduler need dask's distributed scheduler: {INSTALL_HINT}")


@contextlib.contextmanager
def sweep_client(workers: int | None = None, scheduler: str | None = None) -> Iterator[object | None]:
    """A ``distributed.Client`` for the options given, closed afterwards; None (run serially) without them."""
    check_cluster_options(workers, scheduler)
    if workers is None and scheduler is None:
        yield None
        return
    from distributed import Client, LocalCluster

    if scheduler is not None:
        with Client(scheduler) as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def current_worker():
    """The Dask worker running this code, or None (in the client process, or without Dask)."""
    try:
        from distributed import get_worker

        return get_worker()
    except (ImportError, ValueError):
        return None


def on_one_thread(function: Callable, *args):
    """``function(*args)`` with one torch thread: a worker runs as many tasks at once as it has threads."""
    import torch

    torch.set_num_threads(1)
    return function(*args)


def map_on_cluster(function: Callable, items: Iterable) -> list | None:
    """``[function(item) ...]`` as tasks of the cluster, when called inside a task on a Dask worker; else None.

    A run of a per-task strategy (STL: one network per task) calls this, so that a sweep on a
    cluster spreads its networks over the workers. ``function`` (which carries the data set) is sent
    to the cluster once, not once per item; the calling task leaves its thread while it waits.
    """
    if current_worker() is None:
        return None
    from distributed import worker_client

    items = list(items)
    with worker_client() as client:
        [shipped] = client.scatter([function])
        return client.gather(client.map(on_one_thread, [shipped] * len(items), items, pure=False))
