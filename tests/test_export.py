"""Models that run outside vcbench: `vcbench export` writes the splits, the user's code writes
prediction files, and a spec's `predictions:` entry scores them like any model."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from vcbench.cli import app
from vcbench.data import contract as c
from vcbench.errors import SpecError
from vcbench.runner import parse_spec, run_benchmark
from vcbench.scenarios.io import load_split

SPEC = """
output: {out}
calibration: false
metrics: [rmse, pdcorr]
datasets:
  - {{name: demo, source: demo, n_top_genes: 300}}
scenarios:
  - {{name: perturbation, variant: combo, options: {{context: k562}}, seeds: [0]}}
models:
  - name: no_change
  - name: my_model
    predictions: "{export}/{{split}}/prediction.h5ad"
"""


def external_model(folder: Path) -> ad.AnnData:
    """A user's model, written against the exported files only: every condition is predicted as
    the mean of the perturbed training cells (one mean row per condition)."""
    train = ad.read_h5ad(folder / "train.h5ad")
    conditions = pd.read_csv(folder / "conditions.csv")
    perturbed = np.asarray(train.X[~train.obs[c.IS_CONTROL].to_numpy()].mean(axis=0)).ravel()
    x = np.tile(perturbed, (len(conditions), 1)).astype(np.float32)
    obs = conditions[[c.CONTEXT, c.PERTURBATION]].astype(str)
    obs.index = obs.index.astype(str)
    return ad.AnnData(X=x, obs=obs, var=pd.DataFrame(index=train.var_names))


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("byom")
    out, export = root / "results", root / "export"
    spec_file = root / "spec.yaml"
    spec_file.write_text(SPEC.format(out=out, export=export))
    result = CliRunner().invoke(app, ["export", str(spec_file), "--out", str(export)])
    assert result.exit_code == 0, result.output
    assert "Exported 1 split(s)" in result.output
    return spec_file, out, export / "demo" / "perturbation-combo" / "seed0"


def test_export_writes_training_cells_queries_and_conditions(exported) -> None:
    _, out, folder = exported
    assert (folder.parents[2] / "README.md").read_text().count("predictions:") == 1
    train = ad.read_h5ad(folder / "train.h5ad")
    queries = ad.read_h5ad(folder / "queries.h5ad")
    conditions = pd.read_csv(folder / "conditions.csv")
    assert queries.obs[c.IS_CONTROL].all()
    data = ad.read_h5ad(next((out / "splits").glob("*/data.h5ad")))  # the prepared split's data
    assert list(train.var_names) == list(queries.var_names) == list(data.var_names)
    split = load_split(next((out / "splits").glob("*/split.parquet")))
    expected = split.test_conditions[[c.CONTEXT, c.PERTURBATION]].astype(str)
    pd.testing.assert_frame_equal(conditions.astype(str), expected.reset_index(drop=True))
    # exactly the training cells; no test perturbation among them
    assert set(train.obs_names) == set(data.obs_names[split.mask(data, "train")])
    assert not set(conditions[c.PERTURBATION]) & set(train.obs[c.PERTURBATION].astype(str))


def test_prediction_files_are_scored_like_a_model(exported) -> None:
    spec_file, out, folder = exported
    spec = parse_spec(spec_file.read_text())

    missing = run_benchmark(spec)  # no file written yet: a clear failure, the rest goes on
    failed = missing.failures
    assert list(failed["model"]) == ["my_model"]
    assert "No predictions file" in failed["error"].iloc[0]

    prediction = external_model(folder)
    prediction[:-1].copy().write_h5ad(folder / "prediction.h5ad")  # one condition unanswered
    partial = run_benchmark(spec)
    assert "1 unanswered" in partial.failures["error"].iloc[0]

    prediction.write_h5ad(folder / "prediction.h5ad")  # a changed file is scored again
    result = run_benchmark(spec)
    assert result.failures.empty and result.n_reused == 1  # no_change reused, my_model re-scored
    scores = result.results[result.results["model"] == "my_model"]
    assert len(scores) == 2 * len(prediction)

    # rmse by hand: the prediction's row against the mean of the real test cells
    data = ad.read_h5ad(next((out / "splits").glob("*/data.h5ad")))
    test = load_split(next((out / "splits").glob("*/split.parquet"))).mask(data, "test")
    x = data.X.toarray() if hasattr(data.X, "toarray") else np.asarray(data.X)
    rmse = scores[scores["metric"] == "rmse"].set_index("perturbation")["value"]
    for row, perturbation in enumerate(prediction.obs[c.PERTURBATION]):
        truth = x[test & (data.obs[c.PERTURBATION] == perturbation).to_numpy()].mean(axis=0)
        expected = np.sqrt(np.mean((prediction.X[row] - truth) ** 2))
        assert rmse[perturbation] == pytest.approx(expected, rel=1e-5)


def test_a_predictions_entry_takes_no_params() -> None:
    with pytest.raises(SpecError, match="takes no `params`"):
        parse_spec(
            SPEC.format(out="x", export="y").replace(
                'prediction.h5ad"', 'prediction.h5ad"\n    params: {alpha: 1}'
            )
        )
