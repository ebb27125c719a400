"""Score the conditions of an evaluation on a Dask cluster (``evaluate(..., condition_map=...)``).

``dask_condition_map`` yields a drop-in for the in-process condition pool: it maps the per-condition
scoring function over the conditions on the cluster's workers, in order, with at most a few
conditions per worker in flight (so memory stays that of a few conditions). Each worker scores with
single-threaded BLAS, as the in-process pool does, so the values are bit-identical to a serial run.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from vcbench.cluster import dask_client
from vcbench.errors import VcbenchError
from vcbench.threads import cores, deterministic_blas

T = TypeVar("T")
R = TypeVar("R")
ConditionMap = Callable[[Callable[[Any], Any], Iterable[Any]], Iterator[Any]]


def _call(function: Callable[[T], R], item: T) -> R:
    return deterministic_blas(function)(item)


@contextlib.contextmanager
def dask_condition_map(scheduler: str | None = None, n_workers: int = 2) -> Iterator[ConditionMap]:
    """A condition map on the Dask cluster at ``scheduler`` (default: a local one of ``n_workers``)."""
    with dask_client(scheduler, n_workers) as client:
        slots = max(1, sum(client.nthreads().values()))

        def condition_map(function: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
            shared = client.scatter(function, broadcast=True, hash=False)  # sent once per worker
            pending: deque[Any] = deque()
            for item in items:
                pending.append(client.submit(_call, shared, item, pure=False))
                if len(pending) >= 2 * slots:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()

        yield condition_map


@contextlib.contextmanager
def condition_map_for(executor: str, scheduler: str | None = None) -> Iterator[ConditionMap | None]:
    """The condition map of an executor name: ``serial`` (None: in this process) or ``dask``."""
    if executor == "serial":
        if scheduler:
            raise VcbenchError("--scheduler needs --executor dask.")
        yield None
        return
    if executor != "dask":
        raise VcbenchError(f"Unknown executor {executor!r}; choose serial or dask.")
    with dask_condition_map(scheduler, n_workers=cores()) as condition_map:
        yield condition_map
