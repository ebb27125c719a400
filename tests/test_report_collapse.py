"""The report's collapse warning (vcbench.report.collapse): flagged models, models constant by
design, the section and the summary line."""

from __future__ import annotations

import pandas as pd
import pytest
from test_report import section, synthetic

from vcbench.report import build_report, render_markdown
from vcbench.report.collapse import collapse_table, collapse_warnings


def _records(rows: list[tuple[str, int, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "dataset": "d",
                "scenario": "perturbation",
                "variant": "combo",
                "seed": seed,
                "model": model,
                "status": "ok",
                "effect_diversity": diversity,
                "effect_correlation": correlation,
                "fit_seconds": 1.0,
                "predict_seconds": 0.1,
                "wall_seconds": 2.0,
                "peak_memory_mib": 100.0,
            }
            for model, seed, diversity, correlation in rows
        ]
    )


RECORDS = _records(
    [
        ("fancy", 0, 0.8, 0.30),
        ("fancy", 1, 0.6, 0.40),
        ("flat", 0, 0.05, 0.50),  # too little diversity
        ("flat", 1, 0.07, 0.50),
        ("same", 0, 0.90, 0.99),  # one direction for all
        ("perturbed_mean", 0, 0.0, 1.0),  # a control: one effect by construction
        ("no_change", 0, 0.0, float("nan")),
    ]
)


def test_the_table_averages_seeds_and_flags_by_the_thresholds() -> None:
    table = collapse_table(RECORDS).set_index("model")
    assert table.loc["fancy", "effect_diversity"] == pytest.approx(0.7)
    assert table.loc["fancy", "effect_correlation"] == pytest.approx(0.35)
    assert table.loc["flat", "effect_diversity"] == pytest.approx(0.06)
    assert table["collapsed"].to_dict() == {
        "fancy": False,
        "flat": True,
        "same": True,
        "perturbed_mean": True,
        "no_change": True,
    }
    assert sorted(table.index[table["by_design"]]) == ["no_change", "perturbed_mean"]


def test_warnings_name_the_collapsed_models_but_not_those_constant_by_design() -> None:
    (line,) = collapse_warnings(RECORDS)
    assert "d/perturbation/combo" in line
    assert "flat (diversity 0.06" in line and "same (diversity 0.9, correlation 0.990)" in line
    assert "fancy" not in line and "perturbed_mean" not in line and "no_change" not in line
    assert collapse_warnings(None) == [] and collapse_warnings(RECORDS.iloc[:2]) == []
    failed = RECORDS.assign(status="failed")
    assert collapse_warnings(failed) == []


def test_the_report_shows_the_section_and_the_warning() -> None:
    models = ("fancy", "flat", "same", "perturbed_mean", "no_change")
    report = build_report(synthetic(models), RECORDS, n_boot=20)
    shown = section(report, "collapse")
    assert shown.unavailable is None
    table = next(b.content for b in shown.blocks if b.kind == "table")
    flags = dict(zip(table["model"], table["flag"], strict=True))
    assert flags == {
        "fancy": "",
        "flat": "COLLAPSED",
        "same": "COLLAPSED",
        "perturbed_mean": "by design",
        "no_change": "by design",
    }
    (line,) = [line for line in report.summary if line.startswith("Collapse:")]
    assert line.startswith("Collapse: flat, same predict(s)")  # by-design models not named
    assert any(
        b.kind == "text" and b.content.startswith("Collapse on d/perturbation/combo")
        for b in shown.blocks
    )
    assert "## Collapse diagnostic" in render_markdown(report)
    without = section(build_report(synthetic(models), None, n_boot=20), "collapse")
    assert "effect_diversity" in without.unavailable


def test_vcbench_run_prints_the_warning_in_the_terminal(tmp_path) -> None:
    from typer.testing import CliRunner

    from vcbench.cli import app

    spec = tmp_path / "spec.yaml"
    spec.write_text(
        """
metrics: [pdcorr]
calibration: false
datasets: [{name: demo, source: demo}]
scenarios:
  - {name: perturbation, variant: combo, options: {context: k562}, seeds: [0]}
models:
  - {name: perturbed_mean}
  - {name: 'runner_models:Warns', label: flat}
  - {name: additive}
"""
    )
    result = CliRunner().invoke(app, ["run", str(spec), "--out", str(tmp_path / "res")])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())  # the console may wrap the line
    # a perturbed_mean in disguise predicts one effect for all; the real one is a control
    assert "Collapse on demo/perturbation/combo: flat (diversity" in output
    assert "perturbed_mean (diversity" not in output and "additive (diversity" not in output
