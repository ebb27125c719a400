"""Bounded tasks: default time limit, memory cap reported as out of memory, death with the parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import reliability_models as jobs

from vcbench.errors import SpecError
from vcbench.runner import parse_spec, run_benchmark
from vcbench.runner.isolation import parse_memory, run_isolated
from vcbench.runner.spec import DEFAULT_TIME_LIMIT

TESTS = Path(__file__).resolve().parent
LINUX = sys.platform.startswith("linux")

BASE = """
datasets: [{name: demo, source: demo}]
scenarios: [{name: perturbation, variant: combo, options: {context: k562}, seeds: [0]}]
models: [{name: no_change}]
"""


def test_a_task_has_a_generous_time_limit_by_default_and_null_removes_it():
    assert parse_spec(BASE).time_limit == DEFAULT_TIME_LIMIT == 7200
    assert parse_spec("time_limit: null\n" + BASE).time_limit is None
    assert parse_spec("time_limit: 30\n" + BASE).time_limit == 30


@pytest.mark.parametrize(
    ("text", "expected"),
    [("8GB", 8_000_000_000), ("512 MiB", 512 * 2**20), ("1.5g", 1_500_000_000), (4096, 4096)],
)
def test_memory_sizes(text, expected):
    assert parse_memory(text) == expected
    assert parse_spec(f"memory_limit: {text}\n" + BASE).memory_limit == expected


def test_a_bad_memory_size_is_a_spec_error_with_its_line():
    with pytest.raises(SpecError, match=r"line 1: memory_limit: .*'lots' is not a memory size"):
        parse_spec("memory_limit: lots\n" + BASE)


@pytest.mark.skipif(not LINUX, reason="reads /proc/self/status")
def test_a_task_over_its_memory_cap_is_recorded_as_out_of_memory():
    outcome = run_isolated(jobs.allocate_under_cap, (200, 4096))
    assert outcome.status == "failed"
    assert outcome.error.startswith(
        "MemoryError: out of memory (the task exceeded its memory_limit"
    )
    fine = run_isolated(jobs.allocate_under_cap, (400, 50))
    assert fine.status == "ok" and fine.value == 50 * 2**20 // 8


@pytest.mark.skipif(not LINUX, reason="reads /proc/self/status")
def test_a_benchmark_records_out_of_memory_and_goes_on(tmp_path):
    cap = jobs.virtual_memory_bytes() + 3 * 2**30
    spec = parse_spec(
        f"output: {tmp_path}\ncalibration: false\nmetrics: [rmse]\nmemory_limit: {cap}\n"
        + BASE.replace(
            "[{name: no_change}]",
            "[{name: no_change}, {name: 'reliability_models:Hungry', label: hungry}]",
        )
    )
    result = run_benchmark(spec)
    failed = result.failures
    assert list(failed["model"]) == ["hungry"]
    assert "out of memory (the task exceeded its memory_limit of" in failed["error"].iloc[0]
    assert set(result.results["model"]) == {"no_change"}


PARENT = """
import sys
sys.path.insert(0, {tests!r})
from vcbench.runner.isolation import run_isolated
import reliability_models as jobs
run_isolated(jobs.write_then_sleep, ({folder!r}, 3.0))
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0): look at its state
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "\nState:\tZ" in status.read_text())


@pytest.mark.skipif(not LINUX, reason="the parent-death signal is Linux's")
def test_a_killed_parent_leaves_no_task_computing_or_writing(tmp_path):
    script = PARENT.format(tests=str(TESTS), folder=str(tmp_path))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], env=env)
    started = tmp_path / "started"
    deadline = time.monotonic() + 60
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert started.exists(), "the task never started"
    child = int(started.read_text())
    assert _alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the task process outlived its parent"
    time.sleep(3.5)  # past the moment the task would have written
    assert not (tmp_path / "finished").exists()
