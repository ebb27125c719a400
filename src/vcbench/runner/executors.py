"""Executors: run isolated jobs one at a time, in parallel local processes, or on a Dask cluster.

Every executor runs each job through ``run_isolated`` (its own child process), so the time limit,
the per-task peak memory and failure isolation are the same everywhere, and so are the numbers.
Each job's process gets ``cores // jobs`` compute threads (``vcbench.threads``), where ``jobs`` is
the number of jobs that run side by side on its machine, so parallel jobs never oversubscribe the
cores; no result depends on the thread count. Before its function runs, each job's process imports
the job's ``imports`` one process at a time (``vcbench.runner.preload``), so that parallel jobs
never race on the first import of torch, numba or gears.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, Literal

from vcbench.cluster import dask_client
from vcbench.errors import VcbenchError
from vcbench.runner.isolation import Outcome, run_isolated
from vcbench.runner.preload import import_serially
from vcbench.threads import task_threads, use_threads

ExecutorName = Literal["serial", "processes", "dask"]


@dataclass(frozen=True)
class Job:
    """One call to run: ``function(*args)``, identified by ``key``; ``imports``: modules its
    process imports first, one process at a time (``runner.preload``)."""

    key: str
    function: Callable[..., Any]
    args: tuple[Any, ...]
    imports: tuple[str, ...] = field(default=())


def _with_threads(
    side_by_side: int, imports: tuple[str, ...], function: Callable[..., Any], *args: Any
) -> Any:
    """``function(*args)`` with this process's share of the cores (it runs beside others), after
    importing ``imports`` one process at a time."""
    use_threads(task_threads(side_by_side))
    import_serially(imports)
    return function(*args)


def _run(job: Job, time_limit: float | None, side_by_side: int) -> Outcome:
    return run_isolated(
        _with_threads, (side_by_side, job.imports, job.function, *job.args), time_limit
    )


def _serial(jobs: Sequence[Job], time_limit: float | None) -> Iterator[tuple[Job, Outcome]]:
    for job in jobs:
        yield job, _run(job, time_limit, 1)


def _processes(
    jobs: Sequence[Job], time_limit: float | None, n_jobs: int
) -> Iterator[tuple[Job, Outcome]]:
    # threads only wait: each job's work happens in its own child process
    with ThreadPoolExecutor(max_workers=n_jobs) as pool:
        futures = {pool.submit(_run, job, time_limit, n_jobs): job for job in jobs}
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        finally:
            for future in futures:
                future.cancel()


def _jobs_per_host(client: Any) -> int:
    """The most jobs a Dask cluster runs at once on one machine (its worker threads per host)."""
    per_host: dict[str, int] = {}
    for address, worker in client.scheduler_info().get("workers", {}).items():
        host = str(worker.get("host", address))
        per_host[host] = per_host.get(host, 0) + int(worker.get("nthreads", 1))
    return max(per_host.values(), default=1)


def _dask(
    jobs: Sequence[Job], time_limit: float | None, n_jobs: int, scheduler: str | None
) -> Iterator[tuple[Job, Outcome]]:
    from distributed import as_completed as dask_completed

    # workers must not be daemonic, so that each job can run in a child process of its own
    with dask_client(scheduler, n_jobs, daemon=False) as client:
        side_by_side = _jobs_per_host(client)
        futures = {
            client.submit(_run, job, time_limit, side_by_side, key=job.key, pure=False): job
            for job in jobs
        }
        for future in dask_completed(list(futures)):
            yield futures[future], future.result()


def execute(
    jobs: Sequence[Job],
    executor: ExecutorName = "serial",
    *,
    n_jobs: int = 2,
    scheduler: str | None = None,
    time_limit: float | None = None,
) -> Iterator[tuple[Job, Outcome]]:
    """Run ``jobs`` and yield each (job, outcome) as it finishes (order may differ from ``jobs``)."""
    if executor == "serial":
        return _serial(jobs, time_limit)
    if executor == "processes":
        return _processes(jobs, time_limit, n_jobs)
    if executor == "dask":
        return _dask(jobs, time_limit, n_jobs, scheduler)
    raise VcbenchError(f"Unknown executor {executor!r}; choose serial, processes or dask.")
