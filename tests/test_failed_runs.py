"""A run whose tasks fail explains itself: the failure table after the run, a report (not a
traceback) when every task failed, and labels escaped in report.md."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from typer.testing import CliRunner

from vcbench.cli import app
from vcbench.report import write_report
from vcbench.runner import parse_spec, run_benchmark
from vcbench.runner.failures import failure_table, one_line, raising_frame

SPEC = """\
output: {out}
metrics: [rmse, pdcorr]
calibration: {calibration}
datasets: [{{name: demo, source: demo}}]
scenarios: [{{name: perturbation, variant: combo, options: {{context: k562}}, seeds: [0]}}]
models: [{models}]
"""


def _run(tmp_path, models: str, calibration: bool):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        SPEC.format(out=tmp_path / "out", models=models, calibration=str(calibration).lower())
    )
    return CliRunner().invoke(app, ["run", str(spec)])


def test_a_run_where_every_task_fails_prints_the_table_and_writes_a_report(tmp_path):
    # a model that passes the spec's validation and fails in its task (predict returns None)
    result = _run(
        tmp_path, "{name: 'reliability_models:ReturnsNone', label: none}", calibration=False
    )
    assert result.exit_code == 1, result.output
    output = result.output
    assert "1 task(s) failed (every task):" in output
    assert (
        "none on demo / perturbation seed 0 (combo): ModelError: Model 'returns_none': predict() "
        "returned NoneType, not an AnnData" in output
    )
    assert "raised at task.py:" in output and "record.json" in output
    assert "Traceback" not in output and "lacks column" not in output
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "Every task failed (1 of 1): there are no results to report." in markdown
    assert (
        "| demo / perturbation seed 0 (combo) | none | ModelError: Model 'returns_none'" in markdown
    )
    assert "Every task failed" in (tmp_path / "out" / "report.html").read_text()


def test_a_run_where_only_the_controls_succeed_reports_without_a_traceback(tmp_path):
    result = _run(
        tmp_path, "{name: 'reliability_models:ReturnsNone', label: mine}", calibration=True
    )
    assert result.exit_code == 1, result.output
    assert re.search(r"1 task\(s\) failed \(of \d\):", result.output)  # the controls succeeded
    assert "mine on demo / perturbation seed 0 (combo)" in result.output
    assert "Traceback" not in result.output and "No objects to concatenate" not in result.output
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "_Not available in this benchmark: " in markdown


def test_failure_table_rows():
    records = pd.DataFrame(
        {
            "task_id": ["abc"],
            "status": ["failed"],
            "error": ["ValueError: first line\nsecond line"],
            "traceback": [
                'Traceback (most recent call last):\n  File "/x/a.py", line 3, in outer\n'
                '  File "/y/b.py", line 9, in inner\nValueError: first line'
            ],
            "dataset": ["d"],
            "scenario": ["s"],
            "variant": [""],
            "seed": [2],
            "model": ["m"],
        }
    )
    table = failure_table(pd.concat([records, records.assign(status="ok")]), "/out")
    assert table.to_dict("records") == [
        {
            "task": "d / s seed 2 (default)",
            "model": "m",
            "error": "ValueError: first line",
            "where": "b.py:9 in inner",
            "record": "/out/tasks/abc/record.json",
        }
    ]
    assert one_line("x" * 500).endswith("…") and len(one_line("x" * 500)) == 160
    assert raising_frame(None) == ""


@pytest.mark.parametrize("label", ["<script>alert(1)</script>", '<img src=x onerror="alert(1)">'])
def test_report_markdown_and_html_escape_labels(tmp_path, label):
    spec = parse_spec(
        SPEC.format(out=tmp_path, models="{name: no_change}", calibration="false").replace(
            "metrics: [rmse, pdcorr]", "metrics: [rmse]"
        )
    )
    results = run_benchmark(spec).results
    results["model"] = label
    results["dataset"] = label
    results.to_parquet(tmp_path / "results.parquet")
    (tmp_path / "records.parquet").unlink()
    files = write_report(tmp_path, n_boot=10)
    for text in (files.markdown.read_text(), files.html.read_text()):
        assert "<script>alert" not in text and "<img src=x" not in text
        assert "&lt;script&gt;alert(1)&lt;" in text or "&lt;img src=x onerror=" in text
