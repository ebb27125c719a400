"""The thread policy: an even share of the cores per task process, a pool only where it pays."""

from __future__ import annotations

import multiprocessing

import pytest
from thread_jobs import threads_seen

from vcbench import threads
from vcbench.runner.executors import Job, execute


def test_task_threads_split_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "cores", lambda: 8)
    assert [threads.task_threads(j) for j in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]


def test_condition_pool_follows_the_budget() -> None:
    assert threads.condition_threads(1) == 1
    assert threads.condition_threads(threads.MIN_POOL_BUDGET) == threads.MIN_POOL_BUDGET
    assert threads.condition_threads(16) == 16


def _limited(threads_wanted: int, queue: multiprocessing.Queue) -> None:
    threads.use_threads(threads_wanted)
    queue.put(threads_seen())


def test_use_threads_limits_blas_and_the_environment() -> None:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=_limited, args=(1, queue))
    process.start()
    seen = queue.get(timeout=60)
    process.join()
    assert seen == (1, "1")


@pytest.mark.parametrize("executor", ["serial", "processes", "dask"])
def test_each_task_process_gets_its_share(executor: str) -> None:
    if executor == "dask":
        pytest.importorskip("distributed")
    jobs = [Job(f"j{i}", threads_seen, ()) for i in range(2)]
    n_jobs = 2
    side_by_side = 1 if executor == "serial" else n_jobs
    expected = threads.task_threads(side_by_side)
    outcomes = [outcome for _, outcome in execute(jobs, executor, n_jobs=n_jobs)]
    assert all(outcome.status == "ok" for outcome in outcomes), outcomes
    assert {outcome.value for outcome in outcomes} == {(expected, str(expected))}
