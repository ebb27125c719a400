"""Serialised first imports (vcbench.runner.preload): parallel task processes import their heavy
modules one at a time, and two GEARS tasks give the same results under serial and processes."""

from __future__ import annotations

import itertools
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import runner_jobs as jobs_module

from vcbench.runner import parse_spec, run_benchmark
from vcbench.runner.executors import Job, execute
from vcbench.runner.preload import import_serially, metric_imports, model_imports


def test_parallel_jobs_import_one_process_at_a_time(tmp_path: Path, monkeypatch) -> None:
    log = tmp_path / "imports.log"
    monkeypatch.setenv("VCBENCH_PROBE_LOG", str(log))
    sys.modules.pop("preload_probe", None)  # the children must import it themselves
    jobs = [Job(f"j{i}", jobs_module.square, (i,), ("preload_probe",)) for i in range(3)]
    outcomes = {job.key: outcome for job, outcome in execute(jobs, "processes", n_jobs=3)}
    assert {k: o.value for k, o in outcomes.items()} == {"j0": 0, "j1": 1, "j2": 4}
    spans = sorted(tuple(map(float, line.split()[1:])) for line in log.read_text().splitlines())
    assert len(spans) == 3  # each process imported it once
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end - 1e-3, spans  # never two imports at once


def test_imports_of_a_model_and_failed_imports() -> None:
    assert model_imports("linear") == ()
    assert model_imports("gears") == ("torch", "vcbench.models.deep.gears")
    assert model_imports("gears_official")[-1] == "vcbench.models.adapters.gears_official"
    assert "numba" in model_imports("gears_official")
    assert model_imports("my_package.models:Mine") == ("my_package.models",)
    # a module that cannot be imported is left to the task (its import reports the error)
    sys.modules.pop("colorsys", None)
    assert import_serially(["vcbench_no_such_module", "colorsys", "json"]) == ["colorsys"]


def test_the_sinkhorn_kernel_is_warmed_once_under_the_lock() -> None:
    warm = "vcbench.runner.preload:warm_sinkhorn_kernel"
    assert metric_imports(["pdcorr", "rmse"]) == ()
    assert metric_imports(["pdcorr", "pca_sinkhorn"]) == (warm,)
    assert metric_imports("full") == (warm,)
    assert metric_imports(["no_such_metric"]) == ()  # the task reports it
    from vcbench.metrics.sinkhorn_kernel import KERNEL, row_logsumexp
    from vcbench.runner import preload

    # a run earlier in this worker process may have warmed it (the runner warms the kernel in the
    # parent before forking tasks): start from a process that has not
    preload._warmed.discard(warm)
    assert import_serially([warm]) == [warm]
    if KERNEL == "numba":
        assert row_logsumexp.signatures  # compiled (or loaded from numba's cache)
    assert import_serially([warm]) == []  # once per process


def _two_gears_tasks(out: Path, executor: str) -> pd.DataFrame:
    spec = parse_spec(
        f"""
output: {out}
metrics: [pdcorr, rmse, de_overlap]
executor: {executor}
jobs: 2
datasets:
  - {{name: demo, source: demo}}
scenarios:
  - {{name: perturbation, variant: combo, options: {{context: k562}}, seeds: [0, 1]}}
models:
  - name: gears
    params: {{n_epochs: 1, batch_size: 64, hidden_size: 16, go_terms: null}}
"""
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_benchmark(spec)
    assert result.failures.empty, result.failures[["model", "error"]]
    gears = result.records[result.records["model"] == "gears"]
    assert len(gears) == 2 and (gears["status"] == "ok").all()
    assert gears[["effect_diversity", "effect_correlation"]].notna().all().all()  # recorded
    keys = ["seed", "model", "context", "perturbation", "metric"]
    return result.results.sort_values(keys).reset_index(drop=True)


def test_two_gears_tasks_in_parallel_processes_match_serial(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    serial = _two_gears_tasks(tmp_path / "serial", "serial")
    parallel = _two_gears_tasks(tmp_path / "processes", "processes")
    fitted = serial[serial["model"] == "gears"]
    assert set(fitted["seed"]) == {0, 1} and np.isfinite(fitted["value"]).any()
    pd.testing.assert_frame_equal(parallel, serial, check_exact=True)
