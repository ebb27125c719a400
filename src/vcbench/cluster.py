"""A Dask client: on the cluster at a scheduler address, or on a local cluster started for it.

Shared by the runner (tasks on Dask) and by ``evaluate`` (conditions on Dask); bottom layer, so the
metrics never import the runner.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from vcbench.errors import VcbenchError


@contextlib.contextmanager
def dask_client(scheduler: str | None, n_workers: int, daemon: bool = True) -> Iterator[Any]:
    """A ``distributed.Client`` on ``scheduler``, or on a local cluster of ``n_workers`` processes.

    ``daemon=False`` lets each worker start child processes of its own (the runner's isolation).
    """
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise VcbenchError(
            'The dask executor needs dask.distributed: pip install "vcbench[dask]".'
        ) from exc
    with dask.config.set({"distributed.worker.daemon": daemon}):
        if scheduler:
            with Client(scheduler) as client:
                yield client
            return
        with (
            LocalCluster(
                n_workers=max(1, n_workers),
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
