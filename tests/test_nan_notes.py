"""Every NaN score carries a note that says why; cell-level metrics need min_truth_cells real cells."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from vcbench.data import contract as c
from vcbench.metrics import evaluate
from vcbench.metrics.notes import UNEXPLAINED
from vcbench.metrics.registry import METRICS, PROFILES

GENES = [f"G{i}" for i in range(15)]


def _adata(labels: list[str], contexts: list[str], x: np.ndarray) -> ad.AnnData:
    obs = pd.DataFrame({c.CONTEXT: contexts, c.PERTURBATION: labels})
    obs[c.IS_CONTROL] = obs[c.PERTURBATION] == c.CONTROL
    obs.index = [f"c{i}" for i in range(len(obs))]
    return ad.AnnData(np.clip(x, 0, None).astype(np.float32), obs, pd.DataFrame(index=GENES))


def _pair(n_cells: int, perts: dict[str, list[str]], seed: int = 0, effect: float = 0.8):
    """Truth (20 controls + n_cells per condition) and a noisy cell prediction, per context.
    Condition ``NULL``'s real cells are copies of the controls: its real effect is exactly zero."""
    rng = np.random.default_rng(seed)
    g = len(GENES)
    truth_parts, prediction_parts = [], []
    for context, names in perts.items():
        controls = np.abs(rng.normal(2.0, 0.3, (20, g)))
        labels, rows = [c.CONTROL] * 20, [controls]
        shift = {}
        for name in names:
            shift[name] = np.zeros(g) if name == "NULL" else rng.normal(0, effect, g)
            cells = controls if name == "NULL" else np.abs(rng.normal(2.0, 0.3, (n_cells, g)))
            rows.append(cells + shift[name])
            labels += [name] * len(cells)
        truth_parts.append(_adata(labels, [context] * len(labels), np.vstack(rows)))
        predicted = [p for p in names for _ in range(n_cells)]
        y = np.abs(rng.normal(2.0, 0.3, (len(predicted), g))) + np.array(
            [shift[p] for p in predicted]
        )
        prediction_parts.append(
            _adata(predicted, [context] * len(predicted), y + rng.normal(0, 0.3, y.shape))
        )
    return ad.concat(prediction_parts, index_unique="-"), ad.concat(truth_parts, index_unique="-")


def _assert_every_nan_explained(scores: pd.DataFrame) -> pd.DataFrame:
    missing = scores[scores["value"].isna()]
    assert (missing["note"].str.len() > 0).all(), missing[missing["note"] == ""]
    assert not (missing["note"] == UNEXPLAINED).any(), missing[missing["note"] == UNEXPLAINED]
    return missing


def test_full_profile_on_two_cells_per_group_explains_every_nan():
    prediction, truth = _pair(2, {"k": ["A", "B", "NULL"], "solo": ["C"]})
    scores = evaluate(prediction, truth, metrics="full", max_cells=50)
    assert set(scores["metric"]) == set(PROFILES["full"])
    missing = _assert_every_nan_explained(scores)
    needs_cells = scores["metric"].map(lambda m: METRICS[m].needs_cells)
    cell_level = scores[needs_cells & (scores["perturbation"] != "NULL")]
    assert cell_level["value"].isna().all()
    assert (
        cell_level["note"]
        .str.fullmatch(
            r"not computed: 2 real cell\(s\) in this condition, fewer than min_truth_cells=3"
        )
        .all()
    )
    solo = missing[(missing["context"] == "solo") & (missing["metric"] == "pds")]
    assert solo["note"].tolist() == [
        "undefined: retrieval needs at least 2 conditions in the context"
    ]
    systema = scores[(scores["metric"] == "pdcorr_systema") & (scores["context"] == "solo")]
    assert systema["note"].tolist() == [
        "undefined: the Systema centroid needs at least 2 conditions in the context"
    ]
    null = missing[(missing["perturbation"] == "NULL") & (missing["metric"] == "pdcorr")]
    assert null["note"].tolist() == [
        "undefined: the real effect (vs control) is constant across genes"
    ]


def test_no_change_and_means_only_predictions_explain_every_nan():
    prediction, truth = _pair(6, {"k": ["A", "B", "C"]})
    control_mean = truth[truth.obs[c.IS_CONTROL].to_numpy()].X.mean(axis=0)
    prediction.X = np.tile(control_mean, (prediction.n_obs, 1))
    scores = evaluate(prediction, truth, metrics="full", max_cells=50)
    missing = _assert_every_nan_explained(scores)
    pdcorr = missing[missing["metric"] == "pdcorr"]
    assert len(pdcorr) == 3
    assert set(pdcorr["note"]) == {
        "undefined: the predicted effect (vs control) is constant across genes (e.g. no change)"
    }
    means = prediction[~prediction.obs[c.PERTURBATION].duplicated().to_numpy()].copy()
    scores = evaluate(means, truth, metrics="full")
    missing = _assert_every_nan_explained(scores)
    assert (
        missing[missing["metric"] == "energy_distance"]["note"]
        == "not computable: the prediction holds means only (no cells)"
    ).all()


@pytest.mark.parametrize("minimum", [1, 3, 7])
def test_min_truth_cells_is_configurable(minimum):
    prediction, truth = _pair(4, {"k": ["A", "B"]})
    scores = evaluate(
        prediction,
        truth,
        metrics=["energy_distance", "rmse"],
        min_truth_cells=minimum,
        max_cells=50,
    )
    energy = scores[scores["metric"] == "energy_distance"]
    assert energy["value"].isna().all() == (minimum > 4)
    assert energy["value"].notna().all() == (minimum <= 4)
    assert scores[scores["metric"] == "rmse"]["value"].notna().all()  # mean metrics are kept
