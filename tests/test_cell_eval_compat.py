"""cell-eval compatibility: the P-normalised PDS equals cell-eval's discrimination_score_l1, and the
export writes the shared metrics under cell-eval's own names with its values."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import vcbench
from vcbench.cli import app
from vcbench.metrics.cell_eval import CELL_EVAL_NAMES, pds_over_p, to_cell_eval

PERTURBATIONS = [f"P{i}" for i in range(7)]
GENES = [f"g{i}" for i in range(30)]


def _pair(tmp_path, seed: int = 3) -> tuple[str, str]:
    rng = np.random.default_rng(seed)
    n = 25
    labels = ["non-targeting"] * n + [p for p in PERTURBATIONS for _ in range(n)]
    effects = {p: rng.normal(0, 0.6, len(GENES)) for p in PERTURBATIONS}
    noisy = {p: e + rng.normal(0, 1.5, len(GENES)) for p, e in effects.items()}
    base = rng.gamma(2.0, 0.8, len(GENES))

    def draw(table: dict) -> np.ndarray:
        shift = np.array([table.get(lab, np.zeros(len(GENES))) for lab in labels])
        return np.clip(base + shift + rng.normal(0, 0.4, shift.shape), 0, None).astype(np.float32)

    obs = pd.DataFrame({"target_gene": labels}, index=[f"c{i}" for i in range(len(labels))])
    truth = ad.AnnData(draw(effects), obs, pd.DataFrame(index=GENES))
    predicted = draw(noisy)
    predicted[:n] = truth.X[:n]  # cell-eval takes the prediction's controls: the real ones
    prediction = ad.AnnData(predicted, obs.copy(), pd.DataFrame(index=GENES))
    paths = str(tmp_path / "truth.h5ad"), str(tmp_path / "pred.h5ad")
    truth.write_h5ad(paths[0])
    prediction.write_h5ad(paths[1])
    return paths


@pytest.fixture
def cell_eval_results(tmp_path):
    cell_eval = pytest.importorskip("cell_eval")
    truth, prediction = _pair(tmp_path)
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
    return truth, prediction, results.to_pandas().set_index("perturbation")


KEYS = {"perturbation_key": "target_gene", "context_key": None, "control": "non-targeting"}


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_p_normalised_pds_is_cell_evals_discrimination_score(cell_eval_results) -> None:
    truth, prediction, theirs = cell_eval_results
    ours = vcbench.evaluate(prediction, truth, metrics=["pds"], pds_normalisation="p", **KEYS)
    ours = ours.set_index("perturbation")["value"]
    np.testing.assert_allclose(ours, theirs.loc[ours.index, "discrimination_score_l1"], atol=1e-12)
    default = vcbench.evaluate(prediction, truth, metrics=["pds"], **KEYS)
    default = default.set_index("perturbation")["value"]
    assert (default != ours).any()  # the two normalisations differ...
    p = len(PERTURBATIONS)
    assert (ours - default).abs().max() <= 1 / p + 1e-12  # ...by at most 1/P


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_export_writes_cell_evals_names_and_values(cell_eval_results, tmp_path) -> None:
    import cell_eval.metrics as registry_module

    truth, prediction, theirs = cell_eval_results
    registered = set(registry_module.metrics_registry.list_metrics())
    assert set(CELL_EVAL_NAMES.values()) <= registered  # the names are cell-eval's own
    from vcbench.metrics.files import evaluate_files

    evaluate_files(
        prediction, truth, metrics="fast", out=tmp_path / "ev", perturbation_key="target_gene",
        context_key=None, control="non-targeting",
    )  # fmt: skip
    result = CliRunner().invoke(app, ["export", str(tmp_path / "ev"), "--format", "cell-eval"])
    assert result.exit_code == 0, result.output
    written = pd.read_csv(tmp_path / "ev" / "cell_eval" / "results.csv").set_index("perturbation")
    for name in CELL_EVAL_NAMES.values():
        np.testing.assert_allclose(written[name], theirs.loc[written.index, name], rtol=1e-5)
    aggregate = pd.read_csv(tmp_path / "ev" / "cell_eval" / "agg_results.csv")
    means = aggregate.set_index("statistic").loc["mean"]
    assert means["mse"] == pytest.approx(theirs["mse"].mean(), rel=1e-5)


def test_pds_over_p_by_hand() -> None:
    scores = pd.DataFrame(
        {
            "context": ["k"] * 4 + ["j"] * 2,
            "perturbation": ["a", "b", "c", "d", "a", "b"],
            "metric": "pds",
            "value": [1.0, 0.0, 2 / 3, np.nan, 0.0, 1.0],
            "note": "",
        }
    )
    out = pds_over_p(scores)["value"].to_numpy()
    # P = 4 in k: 1 - (1 - v)·3/4; P = 2 in j: 1 - (1 - v)/2
    np.testing.assert_allclose(out, [1.0, 0.25, 0.75, np.nan, 0.5, 1.0])
    assert to_cell_eval(scores)[0].shape[0] == 6
