"""The spec's ``negative_predictions`` policy: clip by default, or fail the task; part of the task
identity when it is not the default, so changing it recomputes instead of reusing."""

from __future__ import annotations

from pathlib import Path

from vcbench.runner import parse_spec, run_benchmark
from vcbench.runner.grid import split_jobs, tasks_for


def _spec(out: Path, policy: str | None):
    line = f"negative_predictions: {policy}" if policy else ""
    return parse_spec(
        f"""
output: {out}
calibration: false
metrics: [rmse, pdcorr]
{line}
datasets:
  - {{name: demo, source: demo}}
scenarios:
  - {{name: perturbation, variant: combo, options: {{context: k562}}, seeds: [0]}}
models:
  - {{name: 'runner_models:PredictsNegatives', label: negatives}}
"""
    )


def test_negative_values_are_clipped_and_counted_by_default(tmp_path) -> None:
    result = run_benchmark(_spec(tmp_path, None))
    record = result.records.iloc[0]
    assert record["status"] == "ok"
    assert record["negative_values"] > 0  # perturbed_mean − 1 is negative wherever it was < 1
    assert result.results["value"].notna().any()


def test_policy_error_fails_the_task_naming_the_negative_values(tmp_path) -> None:
    result = run_benchmark(_spec(tmp_path, "error"))
    record = result.records.iloc[0]
    assert record["status"] != "ok"
    assert "negative values" in str(record["error"])


def test_a_changed_policy_is_a_different_task(tmp_path) -> None:
    def task_ids(policy: str | None) -> list[str]:
        spec = _spec(tmp_path, policy)
        splits = split_jobs(spec, {"demo": "fingerprint"})
        return [task.task_id for task in tasks_for(spec, splits, tmp_path)]

    assert task_ids(None) == task_ids("clip")
    assert task_ids("warn") != task_ids("clip") != task_ids("error")
