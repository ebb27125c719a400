"""Valid predictions: shift-based baselines clip at 0, torch models end in a softplus, and the
runner counts negative values with a warn / clip / error policy."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from vcbench.data.simulate import simulate
from vcbench.errors import ModelError
from vcbench.models import get_model
from vcbench.models.base import PerturbationModel, Queries
from vcbench.runner.negatives import handle_negatives
from vcbench.runner.task import queries_for, run_model_timed
from vcbench.scenarios import combo_split


@pytest.fixture(scope="module")
def task():
    sim = simulate(
        n_contexts=1, n_genes=40, n_singles=8, n_combinations=5, effect_scale=1.5, seed=2
    )
    return sim.adata, combo_split(sim.adata, unseen_fraction=0.4, seed=0)


def _dense(x) -> np.ndarray:
    return x.toarray() if hasattr(x, "toarray") else np.asarray(x)


@pytest.mark.parametrize("name", ["additive", "linear", "perturbed_mean"])
def test_shift_baselines_predict_no_negative_value_and_lfc_is_defined(task, name) -> None:
    adata, split = task
    model = get_model(name).fit(adata[split.mask(adata, "train")].copy())
    assert _dense(model.predict(queries_for(adata, split)).X).min() >= 0
    scores, timings = run_model_timed(adata, split, get_model(name), ["lfc_spearman", "lfc_cosine"])
    assert timings["negative_values"] == 0
    assert scores["value"].notna().all()


@pytest.mark.parametrize("name", ["linear_additive", "latent_additive", "decoder_only"])
def test_torch_simple_models_end_in_a_softplus(task, name) -> None:
    pytest.importorskip("torch")
    adata, split = task
    model = get_model(name, n_epochs=2).fit(adata[split.mask(adata, "train")].copy())
    assert _dense(model.predict(queries_for(adata, split)).X).min() >= 0


def _prediction(values: np.ndarray) -> ad.AnnData:
    return ad.AnnData(values.astype(np.float32), pd.DataFrame(index=[f"c{i}" for i in range(3)]))


def test_policies_warn_clip_and_error() -> None:
    values = np.array([[1.0, -0.5], [-2.0, 0.0], [3.0, 4.0]])
    with pytest.warns(UserWarning, match=r"2 negative values \(33.3%\)"):
        kept, count = handle_negatives(_prediction(values), "m", "warn")
    assert count == 2 and _dense(kept.X).min() == -2.0
    clipped, count = handle_negatives(_prediction(values), "m", "clip")
    assert count == 2 and np.array_equal(_dense(clipped.X), np.maximum(values, 0))
    with pytest.raises(ModelError, match="negative values"):
        handle_negatives(_prediction(values), "m", "error")
    with pytest.raises(ModelError, match="Unknown negative-value policy"):
        handle_negatives(_prediction(values), "m", "ignore")  # type: ignore[arg-type]


class _Negative(PerturbationModel):
    """Additive, with its first gene set to −0.05 in every cell: a few negative values."""

    name = "negative"

    def fit(self, train: ad.AnnData) -> _Negative:
        self.inner = get_model("additive").fit(train)
        return self

    def predict(self, queries: Queries) -> ad.AnnData:
        prediction = self.inner.predict(queries)
        x = _dense(prediction.X).copy()
        x[:, 0] = -0.05
        prediction.X = x
        return prediction


def test_runner_counts_and_records_negative_values(task) -> None:
    adata, split = task
    with pytest.warns(UserWarning, match="negative values"):
        _, timings = run_model_timed(adata, split, _Negative(), ["rmse"])
    assert timings["negative_values"] > 0
    _, clipped = run_model_timed(adata, split, _Negative(), ["rmse"], negatives="clip")
    assert clipped["negative_values"] == timings["negative_values"]
