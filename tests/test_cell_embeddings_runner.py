"""The spec's ``cell_embedding_key``: passed to the models that take one, checked before running,
part of the task identity, and the training-cell PCA computed per split (``vcb_train_pca``)."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from vcbench.errors import SpecError
from vcbench.runner import parse_spec, run_benchmark
from vcbench.runner.grid import split_jobs, tasks_for
from vcbench.runner.validate import spec_problems, validate_spec
from vcbench.scenarios.io import load_split

MODELS = """
models:
  - name: latent_additive
    label: latent_additive_cells
    params: {n_epochs: 25, hidden: 64, latent_dim: 16}
  - name: latent_additive
    label: latent_additive_expression
    params: {n_epochs: 25, hidden: 64, latent_dim: 16, cell_embedding_key: null}
  - name: perturbed_mean
"""


def _spec(out: Path, datasets: str, models: str = MODELS, extra: str = ""):
    return parse_spec(
        f"""
output: {out}
calibration: false
metrics: [rmse, pdcorr]
{extra}
datasets:
{datasets}
scenarios:
  - {{name: perturbation, variant: combo, options: {{context: k562}}, seeds: [0]}}
{models}
"""
    )


def _tiny_file(path: Path, obsm: dict[str, np.ndarray]) -> Path:
    obs = pd.DataFrame(
        {"condition": ["control", "A", "B", "A+B"] * 5, "cell_type": "k562"},
        index=[f"c{i}" for i in range(20)],
    )
    adata = ad.AnnData(np.ones((20, 4), dtype=np.float32), obs=obs)
    for key, value in obsm.items():
        adata.obsm[key] = value
    adata.write_h5ad(path)
    return path


def test_the_dataset_key_goes_to_the_models_that_take_it(tmp_path) -> None:
    spec = _spec(
        tmp_path,
        "  - {name: demo, source: demo, cell_embedding_key: vcb_train_pca}\n"
        "  - {name: plain, source: demo}",
    )
    splits = split_jobs(spec, {"demo": "x", "plain": "x"})
    tasks = tasks_for(spec, splits, tmp_path)
    params = {(t.split.dataset.name, t.model.result_name): t.model.params for t in tasks}
    assert params["demo", "latent_additive_cells"]["cell_embedding_key"] == "vcb_train_pca"
    assert params["demo", "latent_additive_expression"]["cell_embedding_key"] is None
    assert "cell_embedding_key" not in params["demo", "perturbed_mean"]
    assert "cell_embedding_key" not in params["plain", "latent_additive_cells"]
    # part of the identity: the same model and data, with and without the embedding
    ids = {(t.split.dataset.name, t.model.result_name): t.task_id for t in tasks}
    assert ids["demo", "latent_additive_cells"] != ids["plain", "latent_additive_cells"]
    assert len(set(ids.values())) == len(ids)
    assert splits[0].split_id != splits[1].split_id  # the PCA makes the split's data differ


def test_a_key_absent_from_obsm_is_refused_in_one_line(tmp_path) -> None:
    path = _tiny_file(tmp_path / "cells.h5ad", {"X_scgpt": np.zeros((20, 3))})
    spec = _spec(
        tmp_path / "out",
        f"  - {{name: mine, source: {path}, perturbation_key: condition, context_key: cell_type, "
        "cell_embedding_key: X_scgtp}",
    )
    problems = spec_problems(spec)
    (problem,) = [p for p in problems if p.key == "datasets.0.cell_embedding_key"]
    assert "has no obsm key 'X_scgtp'" in problem.message
    assert "X_scgpt" in problem.message and "vcb_train_pca" in problem.message
    assert "\n" not in problem.message
    with pytest.raises(SpecError, match=r"datasets\.0\.cell_embedding_key"):
        validate_spec(spec)
    assert not (tmp_path / "out").exists()


def test_a_present_key_passes_and_the_demo_has_none(tmp_path) -> None:
    path = _tiny_file(tmp_path / "cells.h5ad", {"X_scgpt": np.zeros((20, 3))})
    good = _spec(
        tmp_path,
        f"  - {{name: mine, source: {path}, perturbation_key: condition, context_key: cell_type, "
        "cell_embedding_key: X_scgpt}",
    )
    assert not [p for p in spec_problems(good) if "cell_embedding" in p.key]
    demo = _spec(tmp_path, "  - {name: demo, source: demo, cell_embedding_key: X_pca}")
    (problem,) = [p for p in spec_problems(demo) if "cell_embedding" in p.key]
    assert "the demo has no obsm key 'X_pca'" in problem.message


def test_model_params_naming_a_key_are_checked(tmp_path) -> None:
    models = MODELS.replace("cell_embedding_key: null", "cell_embedding_key: vcb_train_pca")
    spec = _spec(tmp_path, "  - {name: demo, source: demo}", models)
    (problem,) = [p for p in spec_problems(spec) if "cell_embedding" in p.key]
    assert problem.key == "models.1.params.cell_embedding_key"
    assert "set it on the dataset entry" in problem.message
    refused = MODELS + "  - {name: linear_additive, params: {cell_embedding_key: X}}\n"
    spec = _spec(tmp_path, "  - {name: demo, source: demo}", refused)
    messages = [p.message for p in spec_problems(spec) if p.key == "models.3.params"]
    assert messages and "linear_additive cannot take a cell embedding" in messages[0]


def test_the_runner_computes_the_training_pca_and_passes_it(tmp_path) -> None:
    spec = _spec(tmp_path, "  - {name: demo, source: demo, cell_embedding_key: vcb_train_pca}")
    result = run_benchmark(spec)
    assert result.failures.empty, result.failures["error"].tolist()
    records = result.records.set_index("model")
    assert (
        records.loc["latent_additive_cells", "model_params.cell_embedding_key"] == "vcb_train_pca"
    )
    assert pd.isna(records.loc["latent_additive_expression", "model_params.cell_embedding_key"])
    (split_dir,) = (tmp_path / "splits").iterdir()
    data = ad.read_h5ad(split_dir / "data.h5ad")
    split = load_split(split_dir / "split.parquet")
    embedding = data.obsm["vcb_train_pca"]
    assert embedding.shape == (data.n_obs, 50)
    # independent check: the principal axes of the training cells only
    x = np.asarray(data.X.toarray() if hasattr(data.X, "toarray") else data.X, dtype=np.float64)
    train = split.mask(data, "train")
    centre = x[train].mean(axis=0)
    _, _, vt = np.linalg.svd(x[train] - centre, full_matrices=False)
    expected = (x - centre) @ vt[:5].T
    np.testing.assert_allclose(np.abs(embedding[:, :5]), np.abs(expected), atol=2e-3)
    values = result.results.pivot_table(
        index=["perturbation", "metric"], columns="model", values="value"
    )
    assert not np.allclose(values["latent_additive_cells"], values["latent_additive_expression"])
