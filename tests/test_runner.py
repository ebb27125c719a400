"""The runner: failure isolation, resume after a crash, identical results on every executor."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from vcbench.cli import app
from vcbench.runner import parse_spec, run_benchmark

TESTS = Path(__file__).resolve().parent


def _spec(
    out: Path, models: str, seeds: str = "[0, 1]", extra: str = "", calibration: bool = False
):
    return parse_spec(
        f"""
output: {out}
calibration: {str(calibration).lower()}
metrics: [rmse, pdcorr, pds]
{extra}
datasets:
  - {{name: demo, source: demo}}
scenarios:
  - {{name: perturbation, variant: combo, options: {{context: k562}}, seeds: {seeds}}}
models:
{models}
"""
    )


BASELINES = "  - name: no_change\n  - name: perturbed_mean\n"


def _comparable(results: pd.DataFrame) -> pd.DataFrame:
    return results.sort_values(["seed", "model", "perturbation", "metric"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> pd.DataFrame:
    return run_benchmark(_spec(tmp_path_factory.mktemp("ref"), BASELINES)).results


def test_a_failing_model_is_recorded_and_the_rest_completes(tmp_path, reference) -> None:
    models = BASELINES + "  - name: runner_models:Failing\n    label: failing\n"
    result = run_benchmark(_spec(tmp_path, models))
    assert result.n_tasks == 6
    failures = result.failures
    assert sorted(failures["model"]) == ["failing", "failing"]
    assert failures["error"].str.contains("RuntimeError: this model always fails").all()
    assert failures["traceback"].str.contains("raise RuntimeError").all()
    pd.testing.assert_frame_equal(
        _comparable(result.results), _comparable(reference), check_exact=True
    )
    records = pd.read_parquet(tmp_path / "records.parquet")
    ok = records[records["status"] == "ok"]
    assert (
        (
            ok[["fit_seconds", "predict_seconds", "evaluate_seconds", "peak_memory_mib"]].astype(
                float
            )
            > 0
        )
        .all()
        .all()
    )


def test_cli_exits_non_zero_and_names_the_failures(tmp_path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f"output: {tmp_path / 'out'}\nmetrics: [rmse]\ndatasets: [{{name: demo, source: demo}}]\n"
        "scenarios: [{name: perturbation, variant: combo, options: {context: k562}, seeds: [0]}]\n"
        "models: [{name: no_change}, {name: 'runner_models:Failing', label: failing}]\n"
    )
    result = CliRunner().invoke(app, ["run", str(spec)])
    assert result.exit_code == 1
    assert (
        "1 task(s) failed" in result.output
        and "failing on demo / perturbation seed 0" in result.output
    )


def test_a_model_that_kills_its_process_is_recorded_and_resumed(tmp_path, reference) -> None:
    models = f"  - name: no_change\n  - name: runner_models:KillsItsProcessOnce\n    label: perturbed_mean\n    params: {{marker_dir: '{tmp_path}'}}\n"
    first = run_benchmark(_spec(tmp_path / "out", models))
    assert sorted(first.failures["error"].str.contains("died without reporting").tolist()) == [
        True,
        True,
    ]
    second = run_benchmark(_spec(tmp_path / "out", models))
    assert second.n_reused == 2 and second.failures.empty
    pd.testing.assert_frame_equal(
        _comparable(second.results), _comparable(reference), check_exact=True
    )


def test_a_run_killed_mid_grid_resumes_to_the_uninterrupted_results(tmp_path, reference) -> None:
    out = tmp_path / "out"
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); from test_runner import _spec, BASELINES;"
        "from vcbench.runner import run_benchmark; run_benchmark(_spec(sys.argv[2], BASELINES))"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(TESTS), str(out)], start_new_session=True
    )
    deadline = time.time() + 120
    while time.time() < deadline and len(list(out.glob("tasks/*/record.json"))) < 1:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the whole run dies at once, mid-grid
    process.wait()
    finished_before = len(list(out.glob("tasks/*/record.json")))
    assert 1 <= finished_before < 4, "the run should have been killed mid-grid"
    resumed = run_benchmark(_spec(out, BASELINES))
    assert resumed.n_reused == finished_before
    pd.testing.assert_frame_equal(
        _comparable(resumed.results), _comparable(reference), check_exact=True
    )
    assert not list(out.rglob("*.tmp"))


def test_changed_model_params_recompute_the_task_and_unchanged_params_reuse_it(tmp_path) -> None:
    def run(max_cells: int):
        models = f"  - name: perturbed_mean\n    params: {{max_cells: {max_cells}}}\n"
        return run_benchmark(_spec(tmp_path, models, seeds="[0]"))

    first = run(300)
    assert (first.n_tasks, first.n_reused) == (1, 0)
    assert run(300).n_reused == 1  # same params: the stored result is reused
    changed = run(200)
    assert changed.n_reused == 0  # other params: a new task, not the stale result
    assert changed.records["task_id"].iloc[0] != first.records["task_id"].iloc[0]
    assert run(300).n_reused == 1  # the first result is still there under its own identity


def test_time_limit_fails_the_slow_task_only(tmp_path) -> None:
    # 20 s: room for a no_change task (process start, imports, scoring) on a loaded 2-core
    # machine (3 s failed at load 11), far below the 60 s that Sleeps sleeps
    models = "  - name: no_change\n  - name: runner_models:Sleeps\n    label: sleeps\n"
    result = run_benchmark(_spec(tmp_path, models, seeds="[0]", extra="time_limit: 20"))
    assert result.failures["model"].tolist() == ["sleeps"]
    assert "exceeded the time limit of 20 s" in result.failures["error"].iloc[0]
    assert set(result.results["model"]) == {"no_change"}


@pytest.mark.parametrize("executor", ["processes", "dask"])
def test_executors_give_identical_results(tmp_path, reference, executor: str) -> None:
    if executor == "dask":
        pytest.importorskip("distributed")
    result = run_benchmark(_spec(tmp_path, BASELINES, extra=f"executor: {executor}\njobs: 2"))
    assert result.failures.empty
    pd.testing.assert_frame_equal(
        _comparable(result.results), _comparable(reference), check_exact=True
    )


def test_calibration_adds_both_controls_and_the_replicate_is_near_the_ceiling(tmp_path) -> None:
    result = run_benchmark(_spec(tmp_path, "  - name: no_change\n", seeds="[0]", calibration=True))
    assert set(result.results["model"]) == {
        "no_change",
        "perturbed_mean",
        "technical_replicate",
        "collapse_control",
    }
    means = result.results.groupby(["model", "metric"])["value"].mean()
    # halves of the same real cells agree far better than the negative control does
    assert means["technical_replicate", "pdcorr"] > 0.8 > means["perturbed_mean", "pdcorr"]
    assert means["technical_replicate", "rmse"] < means["perturbed_mean", "rmse"] / 2


def test_task_warnings_go_to_the_record(tmp_path) -> None:
    models = "  - name: runner_models:Warns\n    label: warns\n"
    result = run_benchmark(_spec(tmp_path, models, seeds="[0]"))
    assert result.failures.empty
    assert "UserWarning: careful: this model warns" in result.records["warnings"].iloc[0]


def test_runner_passes_training_cells_so_pdcorr_systema_is_defined() -> None:
    from vcbench.datasets import demo
    from vcbench.models import get_model
    from vcbench.runner import run_model
    from vcbench.scenarios import combo_split

    adata = demo()
    scores = run_model(adata, combo_split(adata, "k562"), get_model("additive"), ["pdcorr_systema"])
    assert scores["value"].notna().all()
