"""Wall and CPU time and peak memory of `vcbench run` (the built-in demo benchmark) per executor.

Runs the console script in a fresh process for each executor and repeat (fresh output directory,
so nothing is reused) and prints, per run: the wall time; the CPU time of the whole process tree
(user + system), split into the main process (loading, splitting, scheduling, the report, with its helper
process) and
the tasks (their ``cpu_seconds`` in records.parquet); the peak resident memory; and the load
average before the run. The best wall time of the repeats is printed last per executor.

On a shared machine the wall time depends on the load; the CPU time much less. A quiet-machine
estimate is also printed: the main process's CPU time plus the tasks' CPU time divided by the
number of parallel jobs (``1`` for serial), i.e. the wall time if the main process's work were
serial, the tasks spread evenly over the jobs and nothing else ran. Target: at most 45 s on 2 cores.

    python benchmarks/bench_demo_run.py [--executors serial processes dask] [--jobs 2] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd


def _children_cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def run_once(executable: str, executor: str, jobs: int) -> dict[str, float | str]:
    """One fresh `vcbench run` of the demo; its times, memory and the load before it."""
    with tempfile.TemporaryDirectory() as out:
        cpu_before, _ = _children_cpu()
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        start = time.perf_counter()
        done = subprocess.run(
            [executable, "run", "--out", out, "--executor", executor, "--jobs", str(jobs)],
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - start
        cpu_after, peak = _children_cpu()
        records = pd.read_parquet(Path(out) / "records.parquet")
    cpu = cpu_after - cpu_before
    tasks_cpu = float(pd.to_numeric(records.get("cpu_seconds"), errors="coerce").sum())
    parallel = 1 if executor == "serial" else jobs
    return {
        "wall": wall,
        "cpu": cpu,
        "main_cpu": cpu - tasks_cpu,
        "tasks_cpu": tasks_cpu,
        "quiet_estimate": cpu - tasks_cpu + tasks_cpu / parallel,
        "exit": done.returncode,
        "ok": int((records["status"] == "ok").sum()),
        "n": len(records),
        "peak": peak,
        "task_peak": float(records["peak_memory_mib"].astype(float).max()),
        "load": load,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executors", nargs="+", default=["serial", "processes", "dask"])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    executable = shutil.which("vcbench") or str(Path(sys.executable).with_name("vcbench"))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"vcbench run (built-in demo spec), jobs={args.jobs}, {cores} cores")
    for executor in args.executors:
        walls = []
        for _ in range(args.repeat):
            r = run_once(executable, executor, args.jobs)
            walls.append(r["wall"])
            print(
                f"  {executor:9s}: {r['wall']:6.1f} s wall, {r['cpu']:6.1f} s CPU (main process "
                f"{r['main_cpu']:.1f} s, tasks {r['tasks_cpu']:.1f} s), quiet estimate "
                f"{r['quiet_estimate']:.1f} s, exit {r['exit']}, {r['ok']}/{r['n']} tasks ok, "
                f"peak memory {r['peak']:.0f} MiB (largest process so far), largest task "
                f"{r['task_peak']:.0f} MiB (load before: {r['load']})",
                flush=True,
            )
        print(f"  {executor:9s}: best wall {min(walls):.1f} s of {len(walls)}", flush=True)


if __name__ == "__main__":
    main()
