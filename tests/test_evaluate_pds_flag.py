"""`vcbench evaluate --pds-normalisation`: vcbench's pds over P − 1 or cell-eval's over P."""

from __future__ import annotations

import numpy as np
import pandas as pd
from test_metrics_cli import PERTURBATIONS, _files
from typer.testing import CliRunner

from vcbench.cli import app

runner = CliRunner()
ARGS = ["--perturbation-key", "target_gene", "--control", "non-targeting", "--context-key", "none"]


def _pds(tmp_path, *flag: str) -> pd.DataFrame:
    truth, prediction = _files(tmp_path)
    out = tmp_path / ("out" + "_".join(flag))
    result = runner.invoke(
        app, ["evaluate", prediction, truth, *ARGS, "--metrics", "pds", "--out", str(out), *flag]
    )
    assert result.exit_code == 0, result.output
    return pd.read_parquet(out / "scores.parquet").set_index("perturbation")


def test_pds_normalisation_p_is_cell_evals(tmp_path) -> None:
    default = _pds(tmp_path)
    explicit = _pds(tmp_path, "--pds-normalisation", "p_minus_1")
    over_p = _pds(tmp_path, "--pds-normalisation", "p")
    assert np.allclose(default["value"], explicit["value"])
    # vcbench's pds = 1 − (other conditions closer than the true one) / (P − 1); cell-eval's
    # discrimination_score_l1 divides the same count by P (docs/metrics.md)
    p = len(PERTURBATIONS)
    ahead = (1 - default["value"]) * (p - 1)
    assert np.allclose(over_p["value"], 1 - ahead / p)
    assert (default["value"] < 1).any()  # two swapped predictions: the two differ somewhere
    assert not np.allclose(over_p["value"], default["value"])
    assert over_p["note"].str.contains("normalised by P").all()


def test_unknown_pds_normalisation_is_refused(tmp_path) -> None:
    truth, prediction = _files(tmp_path)
    result = runner.invoke(
        app, ["evaluate", prediction, truth, *ARGS, "--pds-normalisation", "p-1"]
    )
    assert result.exit_code == 2
    assert "p_minus_1" in result.output and "--pds-normalisation" in result.output
