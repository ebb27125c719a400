"""Kill a benchmark run mid-grid, resume it, and compare its results bit for bit with a run that was
never interrupted, for each executor.

For each executor: start `vcbench run` in a fresh output folder, wait until `--kill-after` tasks
have finished, SIGKILL the run's main process (only it: its task processes must die on their own),
count the processes of the run that survive it, then run the same command again (it must take over
the stale lock and reuse the finished tasks) and compare `results.parquet` with the reference
(an uninterrupted serial run): the number of values that differ in their bits and the largest
difference. Prints one line per executor and exits 1 when anything differs or survives.

    python benchmarks/bench_faults.py [--executors serial processes dask] [--seeds 0 1]
                                      [--metrics fast] [--kill-after 2] [--jobs 2]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

KEYS = ["dataset", "scenario", "variant", "seed", "model", "context", "perturbation", "metric"]
SPEC = """\
output: {out}
metrics: {metrics}
executor: serial
datasets: [{{name: demo, source: demo}}]
scenarios: [{{name: perturbation, variant: combo, options: {{context: k562}}, seeds: {seeds}}}]
models: [{{name: no_change}}, {{name: additive}}, {{name: linear}}]
"""


def _command(executable: str, spec: Path, out: Path, executor: str, jobs: int) -> list[str]:
    return [
        executable,
        "run",
        str(spec),
        "--out",
        str(out),
        "--executor",
        executor,
        "--jobs",
        str(jobs),
    ]


def _finished(out: Path) -> int:
    return sum('"status": "ok"' in p.read_text() for p in out.glob("tasks/*/record.json"))


def _group_members(group: int) -> list[int]:
    """Live (non-zombie) processes of a process group (Linux /proc)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def _results(out: Path) -> pd.DataFrame:
    table = pd.read_parquet(out / "results.parquet")
    return table.sort_values(KEYS, kind="stable").reset_index(drop=True)


def _compare(result: pd.DataFrame, reference: pd.DataFrame) -> tuple[int, float, int]:
    """(values whose bits differ, largest absolute difference, rows) of two sorted tables."""
    if len(result) != len(reference) or not result[KEYS].equals(reference[KEYS]):
        return -1, float("nan"), len(result)
    a = result["value"].to_numpy(np.float64)
    b = reference["value"].to_numpy(np.float64)
    differ = a.view(np.uint64) != b.view(np.uint64)
    with np.errstate(invalid="ignore"):
        largest = float(np.nanmax(np.abs(a - b))) if differ.any() else 0.0
    return int(differ.sum()), largest, len(result)


def _interrupted_run(command: list[str], out: Path, kill_after: int) -> tuple[int, int, float]:
    """Run ``command``, SIGKILL its main process once ``kill_after`` tasks finished; returns
    (tasks finished at the kill, processes of the run alive 3 s after it, seconds to the kill)."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        while _finished(out) < kill_after and process.poll() is None:
            time.sleep(0.05)
        at_kill = _finished(out)
        waited = time.perf_counter() - start
        process.send_signal(signal.SIGKILL)
        process.wait()
        time.sleep(3.0)
        survivors = _group_members(process.pid)
    finally:
        with_survivors = _group_members(process.pid)
        if with_survivors:
            os.killpg(process.pid, signal.SIGKILL)  # clean up whatever outlived the run
    return at_kill, len(survivors), waited


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executors", nargs="+", default=["serial", "processes", "dask"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--metrics", default="fast", help="a profile or comma-separated metrics")
    parser.add_argument("--kill-after", type=int, default=2, help="finished tasks before the kill")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    executable = shutil.which("vcbench") or str(Path(sys.executable).with_name("vcbench"))
    metrics = args.metrics if "," not in args.metrics else f"[{args.metrics}]"
    seeds = "[" + ", ".join(map(str, args.seeds)) + "]"
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        spec = root / "spec.yaml"
        spec.write_text(SPEC.format(out=root / "unused", metrics=metrics, seeds=seeds))
        reference_out = root / "reference"
        start = time.perf_counter()
        subprocess.run(
            _command(executable, spec, reference_out, "serial", args.jobs),
            capture_output=True,
            check=False,
        )
        reference = _results(reference_out)
        n_tasks = len(list(reference_out.glob("tasks/*/record.json")))
        print(
            f"reference: uninterrupted serial run, {n_tasks} tasks, {len(reference)} values, "
            f"{time.perf_counter() - start:.1f} s; metrics {args.metrics}, seeds {args.seeds}"
        )
        for executor in args.executors:
            out = root / executor
            command = _command(executable, spec, out, executor, args.jobs)
            at_kill, survivors, waited = _interrupted_run(command, out, args.kill_after)
            leftovers = len(list(out.rglob("*.tmp")))
            start = time.perf_counter()
            resumed = subprocess.run(command, capture_output=True, text=True, check=False)
            seconds = time.perf_counter() - start
            match = re.search(r"(\d+) tasks \((\d+) reused\)", resumed.stdout)
            reused = f"{match.group(2)}/{match.group(1)} reused" if match else "no summary line"
            if not (out / "results.parquet").is_file():
                print(
                    f"{executor:9s}: resume failed (exit {resumed.returncode}): {resumed.stderr[-300:]}"
                )
                failed = True
                continue
            differ, largest, rows = _compare(_results(out), reference)
            failed |= differ != 0 or survivors > 0 or resumed.returncode != 0
            verdict = (
                "bit-identical"
                if differ == 0
                else (
                    "different rows"
                    if differ < 0
                    else f"{differ} of {rows} values differ (max |Δ| {largest:.3g})"
                )
            )
            print(
                f"{executor:9s}: killed after {at_kill} finished task(s) at {waited:.1f} s; "
                f"{survivors} process(es) of the run survived the kill; {leftovers} temporary "
                f"file(s) left; resume exit {resumed.returncode}, {reused}, {seconds:.1f} s; "
                f"results vs reference: {verdict}"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
