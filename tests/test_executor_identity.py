"""Serial, processes and Dask give bit-identical result tables, the PCA-space distances included.

Each task process gets its own share of the cores (``vcbench.threads``), so the executors run the
numerics with different BLAS thread counts; every value must still agree to the last bit. The
serial run's later models also read the split's truth-statistics cache that the processes run
computes afresh, so this checks the cache's bit-identity end to end too.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from vcbench.runner import parse_spec, run_benchmark
from vcbench.runner.benchmark import TRUTH_CACHE_FILE

METRICS = [
    "pdcorr",
    "pds",
    "pca_delta_spearman",
    "pca_energy_distance",
    "pca_sinkhorn",
    "energy_distance",
    "sinkhorn",
    "mmd_rbf",
    "de_test_overlap",
]


def _run(out: Path, executor: str) -> pd.DataFrame:
    spec = parse_spec(
        f"""
output: {out}
metrics: [{", ".join(METRICS)}]
executor: {executor}
jobs: 2
datasets:
  - {{name: demo, source: demo}}
scenarios:
  - {{name: perturbation, variant: combo, options: {{context: k562}}, seeds: [0]}}
models:
  - name: perturbed_mean
  - name: additive
  - name: linear
"""
    )
    result = run_benchmark(spec)
    assert result.failures.empty, result.failures[["model", "error"]]
    assert list(Path(out).rglob(TRUTH_CACHE_FILE)), "the split's truth statistics were not kept"
    keys = ["model", "context", "perturbation", "metric"]
    return result.results.sort_values(keys).reset_index(drop=True)


def test_serial_processes_and_dask_give_the_same_bits(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    serial = _run(tmp_path / "serial", "serial")
    assert set(METRICS) <= set(serial["metric"])
    assert serial.loc[serial["metric"] == "pca_sinkhorn", "value"].notna().any()
    for executor in ("processes", "dask"):
        other = _run(tmp_path / executor, executor)
        pd.testing.assert_frame_equal(other, serial, check_exact=True)
