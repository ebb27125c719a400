"""The one place that decides how many threads a process and its thread pools use.

Policy (the cores are split evenly, never oversubscribed):

- A task process that runs beside ``jobs - 1`` others gets ``cores() // jobs`` threads (at least
  1) for BLAS, OpenMP, numba and torch: ``task_threads(jobs)``, applied by ``use_threads``. The
  executors apply it in every task process, and a Dask worker's tasks get the same share of their
  own machine.
- Scoring (``metrics.evaluate``) runs its BLAS calls single-threaded (``deterministic_blas``):
  a multi-threaded BLAS may split a reduction differently with another thread count (measured:
  PCA components and distances then differ in the last bits between a 2-thread serial task and a
  1-thread parallel one). Its parallelism is the pool that scores conditions side by side, with
  ``condition_threads()`` threads from the process's budget (``budget()``): results are collected
  in input order and each condition's arithmetic is the same on any thread, so the numbers never
  depend on the executor, the number of jobs or the cores. A process that only scores
  (``vcbench evaluate``) therefore loads its BLAS with one thread (``one_blas_thread_process``).
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from threadpoolctl import threadpool_info, threadpool_limits

P = ParamSpec("P")
R = TypeVar("R")
MIN_POOL_BUDGET = 2
_budget: int | None = None  # set by use_threads; None: all cores
_THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)
_BLAS_VARIABLES = tuple(name for name in _THREAD_VARIABLES if name != "NUMBA_NUM_THREADS")


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
    global _budget
    threads = max(1, int(threads))
    _budget = threads
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


def one_blas_thread_process() -> bool:
    """Set up a process whose BLAS only ever runs on one thread (``vcbench evaluate``: scoring is
    ``deterministic_blas``): the BLAS libraries loaded after this start no worker threads, which
    would otherwise spin idle after start-up (~0.1 s of CPU per library, measured). For a fresh
    process only: once numpy is loaded (the command run in-process, as in tests) it does nothing
    and returns False. The condition pool is unaffected: ``budget()`` is still the cores.
    """
    if "numpy" in sys.modules:
        return False
    for name in _BLAS_VARIABLES:
        os.environ[name] = "1"
    return True


def budget() -> int:
    """This process's thread budget: what ``use_threads`` set, else all its cores."""
    return cores() if _budget is None else _budget


def blas_threads() -> int:
    """The BLAS thread limit now in force in this process (1 when no BLAS library is loaded)."""
    counts = [info["num_threads"] for info in threadpool_info() if info.get("user_api") == "blas"]
    return max(1, min(counts, default=1))


def condition_threads(threads: int | None = None) -> int:
    """Threads of the condition pool for a budget of ``threads`` (default: ``budget()``).

    1 below ``MIN_POOL_BUDGET``, else the budget.
    """
    threads = budget() if threads is None else max(1, int(threads))
    return threads if threads >= MIN_POOL_BUDGET else 1


def single_threaded_blas() -> threadpool_limits:
    """A context in which BLAS runs on one thread (for work spread over a thread pool)."""
    return threadpool_limits(limits=1, user_api="blas")


def deterministic_blas(function: Callable[P, R]) -> Callable[P, R]:
    """Decorate ``function`` to run with single-threaded BLAS (bits independent of the cores)."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with single_threaded_blas():
            return function(*args, **kwargs)

    return wrapper
