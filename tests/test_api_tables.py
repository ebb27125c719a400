"""`vcbench.run` from bare Python writes leaderboard.csv and findings.csv as `vcbench run` does."""

from __future__ import annotations

import pandas as pd
import pytest

import vcbench
from vcbench.analysis import LEADERBOARD_COLUMNS
from vcbench.analysis.findings import FINDING_COLUMNS


def test_run_writes_the_leaderboard_and_the_findings(tmp_path) -> None:
    out = tmp_path / "out"
    spec = {
        "output": str(out),
        "metrics": ["pdcorr", "rmse"],
        "calibration": False,
        "datasets": [{"name": "demo", "source": "demo"}],
        "scenarios": [{"name": "perturbation", "variant": "single", "seeds": [0, 1]}],
        "models": [{"name": "no_change"}, {"name": "perturbation_mean"}],
    }
    results = vcbench.run(spec)
    board = pd.read_csv(out / "leaderboard.csv")
    assert list(board.columns) == LEADERBOARD_COLUMNS
    # the overall mean of a model: seeds averaged per condition first, then over conditions
    rows = results[(results["model"] == "perturbation_mean") & (results["metric"] == "rmse")]
    expected = rows.groupby(["context", "perturbation"])["value"].mean().mean()
    overall = board[
        (board["model"] == "perturbation_mean")
        & (board["metric"] == "rmse")
        & (board["split_category"] == "all")
    ]
    assert overall["mean"].item() == pytest.approx(expected, rel=1e-9)
    findings = pd.read_csv(out / "findings.csv")
    assert list(findings.columns) == FINDING_COLUMNS
    assert "metric_disagreement" in set(findings["finding"])  # two models, two headline metrics
    assert not (out / "report.html").exists()  # the pages are `vcbench report`'s
