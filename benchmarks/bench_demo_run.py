"""Wall time and peak memory of `vcbench run` (the default benchmark on the bundled demo).

Runs the console script in a fresh process `--repeats` times (fresh output directory each time, so
nothing is reused) and prints the wall time of each run and the peak resident memory of the child
processes. Target (issue: foundation): under one minute on 2 cores.

    python benchmarks/bench_demo_run.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    executable = shutil.which("vcbench") or str(Path(sys.executable).with_name("vcbench"))
    walls = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            subprocess.run([executable, "run", "--out", out], check=True, capture_output=True)
            walls.append(time.perf_counter() - start)
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"vcbench run (demo), {args.repeats} runs")
    print(
        f"  wall time: median {statistics.median(walls):.2f} s (min {min(walls):.2f}, max {max(walls):.2f})"
    )
    print(f"  peak memory (max RSS of a run): {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
