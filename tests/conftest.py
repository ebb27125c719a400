"""Shared test helpers: tiny hand-made datasets and the location of the real shared data."""

from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from vcbench.datasets.demo import demo_path

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


SHARED_SKIP = "shared data file not available: "
# files of ../shared/data that vcbench ships byte for byte (sha256-checked by demo_path)
BUNDLED = {"perturbench_devel_norman2019_mcfaline2023/perturbench_devel.h5ad": demo_path}


def shared_file(relative: str) -> Path:
    """A file under ../shared/data (the bundled copy when vcbench ships the same bytes), or a skip
    when it is absent; the skips are summed up in one line at the end of the run."""
    if relative in BUNDLED:
        return BUNDLED[relative]()
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"{SHARED_SKIP}{path}")
    return path


def pytest_configure(config) -> None:
    """In a pytest-xdist worker, import GEARS (whose ``dcor`` compiles and caches numba code as it
    is imported) under the runner's import lock, before collection. Two workers compiling it at
    once crashed one in LLVM (CI, 2026-12-07: "Fatal Python error: Aborted" in numba's
    ``finalize_object`` while collecting the GEARS adapter's tests); task processes take the same
    lock (``vcbench.runner.preload``). Outside xdist, or without the extra, nothing is imported."""
    if "PYTEST_XDIST_WORKER" in os.environ and find_spec("gears") is not None:
        from vcbench.runner.preload import import_serially

        import_serially(["numba", "gears"])


def pytest_terminal_summary(terminalreporter) -> None:
    """One line naming the tests skipped for want of ../shared/data, and which files they need."""
    files: set[str] = set()
    n = 0
    for report in terminalreporter.stats.get("skipped", []):
        message = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if SHARED_SKIP in message:
            n += 1
            files.add(Path(message.split(SHARED_SKIP, 1)[1].strip()).name)
    if n:
        terminalreporter.write_line(
            f"vcbench: {n} tests skipped because {SHARED_DATA} (real datasets, not shipped) lacks "
            f"{', '.join(sorted(files))}"
        )


def make_raw(
    labels: list[str] | None = None,
    contexts: list[str] | None = None,
    n_genes: int = 6,
    counts: bool = True,
    seed: int = 0,
) -> ad.AnnData:
    """A small raw AnnData with obs 'condition' and 'cell_type' (counts or log values)."""
    labels = labels or ["control"] * 4 + ["A"] * 3 + ["B"] * 3 + ["A+B"] * 3
    contexts = contexts or ["k1"] * len(labels)
    rng = np.random.default_rng(seed)
    x = rng.poisson(3.0, size=(len(labels), n_genes)).astype(np.float32) + 1
    if not counts:
        x = np.log1p(x / x.sum(axis=1, keepdims=True) * 1e4).astype(np.float32)
    obs = pd.DataFrame(
        {"condition": labels, "cell_type": contexts}, index=[f"cell{i}" for i in range(len(labels))]
    )
    var = pd.DataFrame(index=[f"g{j}" for j in range(n_genes)])
    return ad.AnnData(X=sparse.csr_matrix(x), obs=obs, var=var)
