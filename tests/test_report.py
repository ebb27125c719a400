"""The HTML/Markdown report: from a real demo run, and sections that the data cannot fill."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from vcbench.cli import app
from vcbench.report import build_report, render_html, render_markdown, write_report
from vcbench.runner import parse_spec, run_benchmark

SECTIONS = (
    "summary",
    "leaderboards",
    "calibration",
    "agreement",
    "strict",
    "merge",
    "paired",
    "cost",
    "guide",
)
IMAGE = '<img src="data:image/png;base64,'


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report_demo")
    spec = f"""
output: {out}
metrics: [rmse, pdcorr, pds]
datasets: [{{name: demo, source: demo}}]
scenarios:
  - {{name: perturbation, variant: combo, options: {{context: k562}}, seeds: [0, 1]}}
  - {{name: context, variant: random, options: {{contexts: [A172, T98G, U87MG]}}, seeds: [0]}}
  - {{name: context, variant: strict, options: {{contexts: [A172, T98G, U87MG]}}, seeds: [0]}}
models: [{{name: no_change}}, {{name: perturbed_mean}}]
"""
    run_benchmark(parse_spec(spec))
    return out


def test_report_from_a_demo_run(demo_run: Path) -> None:
    files = write_report(demo_run)
    assert files.html == demo_run / "report.html" and files.markdown == demo_run / "report.md"
    page = files.html.read_text()
    for key in SECTIONS:
        assert f'<section id="{key}">' in page, key
    for title in ("Leaderboards", "Calibration", "Metric agreement", "Compute cost"):
        assert f"<h2>{title}</h2>" in page
    # per-category bars (combo), agreement, ranks, strict drop, cost
    assert page.count(IMAGE) >= 5
    first = page.split(IMAGE, 1)[1].split('"', 1)[0]
    assert base64.b64decode(first)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "http://" not in page and "https://" not in page  # self-contained
    assert "<script" not in page
    # sections the demo cannot fill say why
    merge = page.split('<section id="merge">', 1)[1].split("</section>", 1)[0]
    assert "Not available in this benchmark" in merge and "cross_dataset" in merge
    # the leaderboard names every model and the split categories of the combo scenario
    for name in ("no_change", "perturbed_mean", "technical_replicate", "combo_unseen0"):
        assert name in page
    markdown = files.markdown.read_text()
    assert markdown.startswith("# vcbench report")
    for title in ("## Summary", "## Leaderboards", "## Calibration", "## Which model"):
        assert title in markdown
    assert re.search(r"\| model \| pdcorr ↑ \|", markdown)


def test_report_cli(demo_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "sub" / "page.html"
    result = CliRunner().invoke(app, ["report", str(demo_run), "--out", str(out), "--n-boot", "50"])
    assert result.exit_code == 0, result.output
    assert out.is_file() and (tmp_path / "sub" / "page.md").is_file()
    missing = CliRunner().invoke(app, ["report", str(tmp_path / "nothing")])
    assert missing.exit_code == 2
    assert "No results.parquet" in missing.output


def synthetic(models: tuple[str, ...]) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [
        (
            "d",
            "perturbation",
            "combo",
            0,
            model,
            "k",
            f"p{i}",
            "combo_unseen1",
            metric,
            rng.random(),
        )
        for model in models
        for i in range(6)
        for metric in ("pdcorr", "rmse")
    ]
    columns = [
        "dataset",
        "scenario",
        "variant",
        "seed",
        "model",
        "context",
        "perturbation",
        "split_category",
        "metric",
        "value",
    ]
    return pd.DataFrame(rows, columns=columns)


def section(report: object, key: str) -> object:
    return next(s for s in report.sections if s.key == key)  # type: ignore[attr-defined]


def test_sections_without_their_data_say_why() -> None:
    report = build_report(synthetic(("fancy",)), None, n_boot=20)
    calibration = section(report, "calibration")
    assert "perturbed_mean" in calibration.unavailable
    assert "calibration: true" in calibration.unavailable
    assert "strict" in section(report, "strict").unavailable
    assert "cross_dataset" in section(report, "merge").unavailable
    assert "records.parquet" in section(report, "cost").unavailable
    assert "perturbed_mean" in section(report, "paired").unavailable
    page = render_html(report)
    # one model: agreement needs 5 models and 10 conditions; nothing calibrated: no guide
    assert "at least 5 models" in section(report, "agreement").unavailable
    assert "calibrated" in section(report, "guide").unavailable
    assert "no model with a featuriser" in section(report, "coverage").unavailable
    assert page.count("Not available in this benchmark") == 9  # + coverage, collapse: no records
    assert "Not available in this benchmark" in render_markdown(report)


def test_report_of_an_empty_benchmark() -> None:
    report = build_report(synthetic(()), None)
    assert all(s.unavailable and "no results" in s.unavailable for s in report.sections)
    assert "Not available in this benchmark" in render_html(report)


def test_leaderboard_shows_each_models_mean_computed_independently() -> None:
    results = synthetic(("fancy", "other"))
    markdown = render_markdown(build_report(results, None, n_boot=20))
    expected = results.groupby(["model", "metric"])["value"].mean()  # one seed: the plain mean
    for model in ("fancy", "other"):
        row = re.search(rf"^\| {model} \| (.+) \|$", markdown, flags=re.M)
        assert row, f"no leaderboard row for {model}"
        cells = [re.search(r"-?[0-9.]+", cell).group() for cell in row.group(1).split(" | ")]
        # pdcorr then rmse, printed to 3 significant digits: within half a unit of the last digit
        for metric, shown in zip(("pdcorr", "rmse"), cells, strict=True):
            assert float(shown) == pytest.approx(expected[model, metric], rel=1e-3), metric
