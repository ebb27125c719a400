"""The runner keeps predictions as h5ad (pseudobulk by default, all cells as an option) and
``vcbench evaluate`` re-scores them to the scores of the run."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from vcbench.cli import app
from vcbench.data import contract as c
from vcbench.files import file_mode
from vcbench.runner import parse_spec, run_benchmark
from vcbench.runner.predictions import PREDICTION_FILE, TRUTH_FILE, keep_prediction, pseudobulk


def cells() -> ad.AnnData:
    rng = np.random.default_rng(0)
    obs = pd.DataFrame(
        {
            c.CONTEXT: ["k"] * 5 + ["j"] * 2,
            c.PERTURBATION: ["A", "A", "B", "control", "A+B", "A", "A"],
            c.IS_CONTROL: [False, False, False, True, False, False, False],
        },
        index=[f"cell{i}" for i in range(7)],
    )
    return ad.AnnData(X=rng.random((7, 3)), obs=obs)


def test_pseudobulk_is_the_mean_of_each_conditions_predicted_cells() -> None:
    prediction = cells()
    bulk = pseudobulk(prediction).to_df().join(pseudobulk(prediction).obs)
    bulk = bulk.set_index([c.CONTEXT, c.PERTURBATION])
    assert len(bulk) == 4  # (k, A), (k, B), (k, A+B), (j, A); the control cell is left out
    x = prediction.X
    np.testing.assert_allclose(bulk.loc[("k", "A"), ["0", "1", "2"]], x[[0, 1]].mean(0), rtol=1e-6)
    np.testing.assert_allclose(bulk.loc[("j", "A"), ["0", "1", "2"]], x[[5, 6]].mean(0), rtol=1e-6)
    assert bulk.loc[("k", "A"), "n_cells"] == 2 and bulk.loc[("k", "B"), "n_cells"] == 1


def test_modes_cells_and_none(tmp_path: Path) -> None:
    prediction, truth = cells(), cells()
    path = keep_prediction(prediction, truth, tmp_path / "task", tmp_path / "split", "cells")
    kept = ad.read_h5ad(path)
    assert path.stat().st_mode & 0o777 == file_mode()  # the user's umask, via vcbench.files
    assert kept.n_obs == 7 and np.allclose(kept.X, prediction.X)
    assert (tmp_path / "split" / TRUTH_FILE).is_file()
    assert keep_prediction(prediction, truth, tmp_path / "t2", tmp_path / "s2", "none") is None
    assert not (tmp_path / "t2").exists() and not (tmp_path / "s2").exists()
    with pytest.raises(ValueError, match="pseudobulk"):
        keep_prediction(prediction, truth, tmp_path, tmp_path, "some")


def test_a_kept_prediction_re_scores_to_the_runs_scores(tmp_path: Path) -> None:
    spec = f"""
output: {tmp_path / "run"}
metrics: [pdcorr, rmse, pds]
datasets: [{{name: demo, source: demo}}]
scenarios: [{{name: perturbation, variant: combo, options: {{context: k562}}, seeds: [0]}}]
models: [{{name: additive}}]
"""
    run_benchmark(parse_spec(spec))
    [task] = [p.parent for p in (tmp_path / "run" / "tasks").glob(f"*/{PREDICTION_FILE}")
              if pd.read_parquet(p.parent / "results.parquet")["model"].iloc[0] == "additive"]  # fmt: skip
    [truth] = list((tmp_path / "run" / "splits").glob(f"*/{TRUTH_FILE}"))
    out = tmp_path / "rescore"
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            str(task / PREDICTION_FILE),
            str(truth),
            "--perturbation-key",
            c.PERTURBATION,
            "--context-key",
            c.CONTEXT,
            "--profile",
            "pdcorr,rmse,pds",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    keys = ["context", "perturbation", "metric"]
    original = pd.read_parquet(task / "results.parquet")
    again = pd.read_parquet(out / "scores.parquet")
    both = original.merge(again, on=keys, suffixes=("_run", "_rescored"))
    assert len(both) == len(original) == len(again) > 0
    np.testing.assert_allclose(both["value_rescored"], both["value_run"], atol=1e-5)
