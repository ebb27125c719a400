"""Wall time and peak memory of `vcbench run` (the built-in demo benchmark) per executor.

Runs the console script in a fresh process for each executor (fresh output directory, so nothing is
reused) and prints the wall time and the peak resident memory of the run's main process and of its
largest task. Target: under two minutes on 2 cores.

    python benchmarks/bench_demo_run.py [--executors serial processes dask] [--jobs 2]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executors", nargs="+", default=["serial", "processes", "dask"])
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    executable = shutil.which("vcbench") or str(Path(sys.executable).with_name("vcbench"))
    print(f"vcbench run (built-in demo spec), jobs={args.jobs}")
    for executor in args.executors:
        with tempfile.TemporaryDirectory() as out:
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            before, cpu_before = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
            load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
            start = time.perf_counter()
            done = subprocess.run(
                [executable, "run", "--out", out, "--executor", executor, "--jobs", str(args.jobs)],
                capture_output=True,
                text=True,
            )
            wall = time.perf_counter() - start
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            peak = max(before, usage.ru_maxrss) / 1024
            cpu = usage.ru_utime + usage.ru_stime - cpu_before
            records = pd.read_parquet(Path(out) / "records.parquet")
            ok = int((records["status"] == "ok").sum())
            task_peak = records["peak_memory_mib"].astype(float).max()
            print(
                f"  {executor:9s}: {wall:6.1f} s wall, {cpu:6.1f} s CPU (process tree), exit "
                f"{done.returncode}, {ok}/{len(records)} tasks ok, peak memory {peak:.0f} MiB "
                f"(largest child so far), largest task {task_peak:.0f} MiB (load before: {load})"
            )


if __name__ == "__main__":
    main()
