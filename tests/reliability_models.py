"""Models and job functions for the reliability tests (imported by name in child processes)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from vcbench.models import PerturbedMean


def virtual_memory_bytes() -> int:
    """This process's address-space size (Linux ``/proc/self/status`` VmSize)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize")


def allocate_under_cap(headroom_mib: int, mib: int) -> int:
    """Cap this process at its current size + ``headroom_mib``, then try to allocate ``mib``."""
    from vcbench.runner.isolation import limit_memory

    limit_memory(virtual_memory_bytes() + headroom_mib * 2**20)
    block = np.empty(mib * 2**20 // 8)  # address space only: never touches the pages
    return int(block.size)


def write_then_sleep(folder: str, seconds: float) -> str:
    """Write ``started`` (with this pid, atomically: a reader never sees it empty), sleep, then
    write ``finished``."""
    partial = Path(folder, ".started.tmp")
    partial.write_text(str(os.getpid()))
    partial.replace(Path(folder, "started"))
    time.sleep(seconds)
    Path(folder, "finished").write_text("too late")
    return "done"


class Hungry(PerturbedMean):
    """Reserves 6 GiB of address space in fit (untouched: costs no memory without a cap)."""

    name = "hungry"

    def fit(self, train):
        self.block = np.empty(6 * 2**30 // 8)
        return super().fit(train)


class ReturnsNone(PerturbedMean):
    """A predict that forgets to return."""

    name = "returns_none"

    def predict(self, queries):
        super().predict(queries)


class PredictsCounts(PerturbedMean):
    """Predicts on the raw-count scale (expm1 of the log values, times 10)."""

    name = "predicts_counts"

    def predict(self, queries):
        prediction = super().predict(queries)
        prediction.X = np.round(np.expm1(np.asarray(prediction.X)) * 10)
        return prediction
