"""Isolation and executors: results, failures, time limits, crashes and peak memory."""

from __future__ import annotations

import pytest
import runner_jobs as jobs_module

from vcbench.runner.executors import Job, execute
from vcbench.runner.isolation import run_isolated


def test_isolated_call_returns_value_and_peak_memory() -> None:
    small = run_isolated(jobs_module.allocate, (1,))
    large = run_isolated(jobs_module.allocate, (300,))
    assert small.status == "ok" and small.value == 1024 * 1024 // 8
    assert large.peak_memory_mib - small.peak_memory_mib > 250  # the 300 MiB block is measured


def test_isolated_failure_timeout_and_crash_are_outcomes() -> None:
    failed = run_isolated(jobs_module.fail, ("boom",))
    assert failed.status == "failed" and failed.error == "ValueError: boom"
    assert "raise ValueError(message)" in failed.traceback
    slow = run_isolated(jobs_module.sleep, (30,), time_limit=0.5)
    assert slow.status == "failed" and "exceeded the time limit of 0.5 s" in slow.error
    assert slow.wall_seconds < 10
    crashed = run_isolated(jobs_module.die, ())
    assert crashed.status == "failed" and "died without reporting (exit code 3)" in crashed.error


@pytest.mark.parametrize("executor", ["serial", "processes", "dask"])
def test_every_executor_gives_the_same_outcomes(executor: str) -> None:
    if executor == "dask":
        pytest.importorskip("distributed")
    jobs = [Job(f"square-{i}", jobs_module.square, (i,)) for i in range(5)] + [
        Job("fail", jobs_module.fail, ("x",))
    ]
    outcomes = {job.key: outcome for job, outcome in execute(jobs, executor, n_jobs=2)}
    assert {k: o.value for k, o in outcomes.items() if o.status == "ok"} == {
        f"square-{i}": i * i for i in range(5)
    }
    assert outcomes["fail"].status == "failed" and outcomes["fail"].error == "ValueError: x"
