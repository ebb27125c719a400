"""`vcbench evaluate` on files, and the cross-check against the peer tool cell-eval."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from vcbench.cli import app
from vcbench.metrics.files import evaluate_files

runner = CliRunner()
GENES = [f"G{i}" for i in range(40)]
PERTURBATIONS = [f"G{i}" for i in range(8)]


def _files(tmp_path, seed: int = 0, n: int = 40) -> tuple[str, str]:
    """truth.h5ad and prediction.h5ad, obs 'target_gene', control 'non-targeting'; the prediction's
    control cells are the real controls (as cell-eval expects)."""
    rng = np.random.default_rng(seed)
    labels = ["non-targeting"] * n + [p for p in PERTURBATIONS for _ in range(n)]
    effects = {
        p: rng.normal(0, 0.7, len(GENES)) * (rng.random(len(GENES)) < 0.4) for p in PERTURBATIONS
    }
    effect = np.array([effects.get(lab, np.zeros(len(GENES))) for lab in labels])
    swapped = {**effects, "G0": effects["G1"], "G1": effects["G0"]}  # two wrong predictions
    predicted_effect = np.array([swapped.get(lab, np.zeros(len(GENES))) for lab in labels])
    base = rng.gamma(2.0, 0.8, len(GENES))

    def draw(shift: np.ndarray) -> np.ndarray:
        return np.clip(base + shift + rng.normal(0, 0.5, shift.shape), 0, None).astype(np.float32)

    obs = pd.DataFrame({"target_gene": labels}, index=[f"c{i}" for i in range(len(labels))])
    truth = ad.AnnData(draw(effect), obs, pd.DataFrame(index=GENES))
    predicted = draw(predicted_effect)
    predicted[:n] = truth.X[:n]
    prediction = ad.AnnData(predicted, obs.copy(), pd.DataFrame(index=GENES))
    paths = str(tmp_path / "truth.h5ad"), str(tmp_path / "prediction.h5ad")
    truth.write_h5ad(paths[0])
    prediction.write_h5ad(paths[1])
    return paths


def test_cli_writes_scores_and_summary(tmp_path) -> None:
    truth, prediction = _files(tmp_path)
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "evaluate", prediction, truth,
            "--perturbation-key", "target_gene", "--control", "non-targeting",
            "--metrics", "paper", "--context-key", "none", "--out", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    scores = pd.read_parquet(out / "scores.parquet")
    summary = pd.read_csv(out / "summary.csv")
    assert len(scores) == 13 * len(PERTURBATIONS)
    assert set(summary.columns) >= {"metric", "mean", "sd", "n", "n_nan", "ci_low", "ci_high"}
    assert (summary["n"] == len(PERTURBATIONS)).all()
    assert "sinkhorn" in result.output
    assert (out / "scores.csv").exists() and (out / "summary.parquet").exists()


def test_cli_error_names_the_missing_column(tmp_path) -> None:
    truth, prediction = _files(tmp_path)
    args = ["--perturbation-key", "guide", "--context-key", "none", "--out", str(tmp_path)]
    result = runner.invoke(app, ["evaluate", prediction, truth, *args])
    assert result.exit_code == 2
    assert "obs['guide'] does not exist" in result.output


def test_missing_prediction_conditions_are_listed(tmp_path) -> None:
    truth, prediction = _files(tmp_path)
    adata = ad.read_h5ad(prediction)
    adata[adata.obs["target_gene"] != "G3"].copy().write_h5ad(prediction)
    result = runner.invoke(
        app,
        ["evaluate", prediction, truth, "--perturbation-key", "target_gene",
         "--control", "non-targeting", "--context-key", "none", "--out", str(tmp_path / "o")],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "missing [('all', 'G3')]" in result.output


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_cross_check_with_cell_eval(tmp_path) -> None:
    """pdcorr, mse, mae equal cell-eval's pearson_delta, mse, mae; pds equals its
    discrimination_score_l1 after converting the denominator and the tie convention.

    cell-eval: ``s = 1 − rank/P``, rank = position of the own real effect among all P real effects
    sorted by L1 distance (itself included, no tie credit). Without ties, rank = #closer, so
    ``#closer = P·(1 − s)`` and vcbench's ``pds = 1 − #closer/(P − 1) = 1 − P·(1 − s)/(P − 1)``.
    """
    cell_eval = pytest.importorskip("cell_eval")
    truth, prediction = _files(tmp_path, seed=1)
    ours = evaluate_files(
        prediction,
        truth,
        perturbation_key="target_gene",
        control="non-targeting",
        metrics=["pdcorr", "mse", "mae", "pds"],
    ).scores.pivot(index="perturbation", columns="metric", values="value")
    evaluator = cell_eval.MetricsEvaluator(
        adata_pred=ad.read_h5ad(prediction),
        adata_real=ad.read_h5ad(truth),
        control_pert="non-targeting",
        pert_col="target_gene",
        num_threads=1,
        outdir=str(tmp_path / "cell-eval"),
        skip_de=True,
    )
    results, _ = evaluator.compute(profile="anndata")
    theirs = results.to_pandas().set_index("perturbation").loc[ours.index]
    p = len(PERTURBATIONS)
    np.testing.assert_allclose(ours["pdcorr"], theirs["pearson_delta"], rtol=1e-5)
    np.testing.assert_allclose(ours["mse"], theirs["mse"], rtol=1e-5)
    np.testing.assert_allclose(ours["mae"], theirs["mae"], rtol=1e-5)
    converted = 1 - p * (1 - theirs["discrimination_score_l1"]) / (p - 1)
    np.testing.assert_allclose(ours["pds"], converted, atol=1e-12)
    assert ours["pds"].min() < 1  # the check covers a non-trivial ranking
