"""``evaluate`` with its conditions on a Dask cluster gives the serial values, bit for bit."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from test_truth_cache import _truth_and_models
from typer.testing import CliRunner

from vcbench.cli import app
from vcbench.data import contract as c
from vcbench.errors import VcbenchError
from vcbench.metrics.dask_conditions import condition_map_for, dask_condition_map
from vcbench.metrics.evaluate import evaluate
from vcbench.metrics.files import evaluate_files

pytest.importorskip("distributed")


def test_dask_condition_map_gives_the_serial_bits() -> None:
    truth, models = _truth_and_models()
    kwargs = {"metrics": "full", "max_cells": 20, "n_pcs": 5}
    serial = evaluate(models[0], truth, **kwargs)
    with dask_condition_map(n_workers=2) as condition_map:
        on_dask = evaluate(models[0], truth, condition_map=condition_map, **kwargs)
    pd.testing.assert_frame_equal(on_dask, serial, check_exact=True)


def _files(tmp_path: Path) -> tuple[Path, Path]:
    truth, models = _truth_and_models()
    paths = tmp_path / "truth.h5ad", tmp_path / "prediction.h5ad"
    for adata, path in zip((truth, models[1]), paths, strict=True):
        adata = adata.copy()
        adata.obs["condition"] = adata.obs[c.PERTURBATION].astype(str)
        adata.obs["line"] = adata.obs[c.CONTEXT].astype(str)
        adata.obs = adata.obs[["condition", "line"]]
        adata.write_h5ad(path)
    return paths


def test_cli_evaluate_on_dask_writes_the_serial_scores(tmp_path: Path) -> None:
    truth, prediction = _files(tmp_path)
    common = ["--context-key", "line", "--profile", "energy_distance,pca_sinkhorn,pdcorr"]
    for executor in ("serial", "dask"):
        result = CliRunner().invoke(
            app,
            [
                "evaluate",
                str(prediction),
                str(truth),
                *common,
                "--executor",
                executor,
                "--out",
                str(tmp_path / executor),
            ],
        )
        assert result.exit_code == 0, result.output
    serial = pd.read_parquet(tmp_path / "serial" / "scores.parquet")
    on_dask = pd.read_parquet(tmp_path / "dask" / "scores.parquet")
    pd.testing.assert_frame_equal(on_dask, serial, check_exact=True)
    assert serial["value"].notna().all()


def test_unknown_executor_and_a_stray_scheduler_are_plain_errors(tmp_path: Path) -> None:
    with pytest.raises(VcbenchError, match="choose serial or dask"), condition_map_for("threads"):
        pass
    with pytest.raises(VcbenchError, match="needs --executor dask"):
        truth, prediction = _files(tmp_path)
        evaluate_files(
            prediction, truth, context_key="line", metrics=["pdcorr"], scheduler="tcp://x:1"
        )
