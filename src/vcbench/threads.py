"""The one place that decides how many threads a process and its thread pools use.

Policy (the cores are split evenly, never oversubscribed):

- A task process that runs beside ``jobs - 1`` others gets ``cores() // jobs`` threads (at least
  1) for BLAS, OpenMP, numba and torch: ``task_threads(jobs)``, applied by ``use_threads``. The
  executors apply it in every task process, and a Dask worker's tasks get the same share of their
  own machine.
- Inside a process, the pool that scores conditions side by side gets ``condition_threads()``
  threads, from the process's BLAS budget; each pool thread then runs single-threaded BLAS. Below
  ``MIN_POOL_BUDGET`` cores the pool is off (1 thread), and BLAS keeps the budget: on 2 cores a
  2-thread pool was measured slower than 1 thread (memory bandwidth, not cores, is the limit there).

Threads never change a result: every reduction runs in a fixed order whatever the thread count
(single-threaded BLAS inside pool threads; the numba kernels are sequential), and the results of a
pool are collected in input order.
"""

from __future__ import annotations

import os
import sys

from threadpoolctl import threadpool_info, threadpool_limits

MIN_POOL_BUDGET = 4
_THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


def cores() -> int:
    """CPU cores this process may run on (its affinity mask where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)  # pragma: no cover - macOS / Windows


def task_threads(jobs: int) -> int:
    """Threads of each of ``jobs`` task processes running side by side: ``cores() // jobs`` (≥ 1)."""
    return max(1, cores() // max(1, int(jobs)))


def use_threads(threads: int) -> None:
    """Limit this process (and the processes it starts) to ``threads`` compute threads.

    Sets the BLAS and OpenMP pools (threadpoolctl), numba's thread pool where it has started,
    torch's thread count where torch is loaded, and the environment variables that libraries loaded later read.
    """
    threads = max(1, int(threads))
    for name in _THREAD_VARIABLES:
        os.environ[name] = str(threads)
    threadpool_limits(limits=threads)
    parallel = sys.modules.get("numba.np.ufunc.parallel")
    if parallel is not None and getattr(parallel, "_is_initialized", False):
        # only a pool numba has started already (starting one here would cost for nothing)
        parallel.set_num_threads(min(threads, parallel.NUM_THREADS))
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


def blas_threads() -> int:
    """The BLAS thread limit now in force in this process (1 when no BLAS library is loaded)."""
    counts = [info["num_threads"] for info in threadpool_info() if info.get("user_api") == "blas"]
    return max(1, min(counts, default=1))


def condition_threads(budget: int | None = None) -> int:
    """Threads of the condition pool for a process with ``budget`` cores (default: its BLAS limit).

    1 below ``MIN_POOL_BUDGET``, else the budget.
    """
    budget = blas_threads() if budget is None else max(1, int(budget))
    return budget if budget >= MIN_POOL_BUDGET else 1


def single_threaded_blas() -> threadpool_limits:
    """A context in which BLAS runs on one thread (for work spread over a thread pool)."""
    return threadpool_limits(limits=1, user_api="blas")
