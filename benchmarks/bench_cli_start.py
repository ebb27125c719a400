"""Start-up time and peak memory of ``vcbench --help`` and ``vcbench --version``.

Runs each command ``--repeat`` times in a fresh interpreter and prints the minimum wall time, the
peak resident memory and the load average (timings on a busy machine are noisy: compare within
one run). ``--compare SRC`` times another source tree (e.g. an older checkout's ``src``) beside it.

    python benchmarks/bench_cli_start.py [--repeat 5] [--compare /path/to/other/src]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def measure(src: Path, args: list[str], repeat: int) -> tuple[float, float, float]:
    """Minimum wall seconds, minimum CPU seconds (user + system: less sensitive to a busy machine
    than the wall time) and peak RSS (MiB) of ``python -m vcbench.cli ARGS`` over ``repeat``."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    command = [
        sys.executable,
        "-c",
        "import resource, runpy, sys\n"
        f"sys.argv = ['vcbench', *{args!r}]\n"
        "try:\n    runpy.run_module('vcbench.cli', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print('RSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)",
    ]
    times, cpus, peaks = [], [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        peaks.append(int(done.stderr.strip().rsplit("RSS", 1)[1]) / 1024)
    return min(times), min(cpus), max(peaks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--compare", type=Path, default=None, help="another source tree's src/")
    options = parser.parse_args()
    trees = [("this tree", SRC)] + ([("compared", options.compare)] if options.compare else [])
    print(f"load average before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    for label, src in trees:
        for args in (["--help"], ["--version"]):
            wall, cpu, peak = measure(src, args, options.repeat)
            print(
                f"{label:10s} vcbench {' '.join(args):10s} min of {options.repeat}: {wall:.3f} s "
                f"wall, {cpu:.3f} s CPU, peak RSS {peak:.0f} MiB"
            )
    print(f"load average after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")


if __name__ == "__main__":
    main()
