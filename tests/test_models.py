"""The model contract, the two baselines, and the registry."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vcbench.data import contract as c
from vcbench.data.simulate import simulate
from vcbench.errors import ModelError
from vcbench.models import MODELS, NoChange, PerturbationModel, PerturbedMean, get_model
from vcbench.models.base import PREDICTION_KEY
from vcbench.runner import queries_for, run_model
from vcbench.scenarios import combo_split


@pytest.fixture(scope="module")
def sim():
    return simulate(
        n_contexts=1,
        n_genes=80,
        n_singles=12,
        n_combinations=12,
        cells_per_condition=60,
        n_control_cells=150,
        systematic_shift=1.0,
        seed=1,
    )


@pytest.fixture(scope="module")
def split(sim):
    return combo_split(sim.adata, unseen_fraction=0.3, seed=0)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_registered_model_follows_the_contract(sim, split, name: str) -> None:
    adata = sim.adata
    model = get_model(name)
    assert isinstance(model, PerturbationModel)
    train = adata[split.mask(adata, "train")].copy()
    assert model.fit(train) is model
    queries = queries_for(adata, split)
    prediction = model.predict(queries)
    assert list(prediction.var_names) == list(train.var_names)
    predicted = set(zip(prediction.obs[c.CONTEXT], prediction.obs[c.PERTURBATION], strict=True))
    assert predicted == set(
        zip(queries.conditions[c.CONTEXT], queries.conditions[c.PERTURBATION], strict=True)
    )
    assert np.isfinite(prediction.X).all()
    assert prediction.uns[PREDICTION_KEY]["level"] == "cells"
    again = get_model(name).fit(train).predict(queries)
    np.testing.assert_array_equal(prediction.X, again.X)  # deterministic
    assert set(model.get_params()) >= {"max_cells", "seed"}


def test_no_change_returns_the_controls(sim, split) -> None:
    adata = sim.adata
    queries = queries_for(adata, split)
    prediction = NoChange(max_cells=None).fit(adata).predict(queries)
    first = prediction[prediction.obs[c.PERTURBATION] == queries.conditions[c.PERTURBATION].iloc[0]]
    np.testing.assert_array_equal(first.X, queries.controls.X.toarray())


def test_perturbed_mean_predicts_the_mean_of_perturbed_training_cells(sim, split) -> None:
    adata = sim.adata
    train = adata[split.mask(adata, "train")].copy()
    expected = np.asarray(train[~train.obs[c.IS_CONTROL].to_numpy()].X.mean(axis=0)).ravel()
    prediction = PerturbedMean().fit(train).predict(queries_for(adata, split))
    for _, group in prediction.obs.groupby(c.PERTURBATION, observed=True):
        np.testing.assert_allclose(
            prediction[group.index].X.mean(axis=0), expected, rtol=1e-5, atol=1e-6
        )


def test_perturbed_mean_falls_back_to_all_contexts() -> None:
    two = simulate(
        n_contexts=2,
        n_genes=30,
        n_singles=4,
        n_combinations=0,
        cells_per_condition=20,
        n_control_cells=30,
        seed=2,
    )
    adata = two.adata
    only_ctx0 = adata[
        (adata.obs[c.CONTEXT] == "ctx0").to_numpy() | adata.obs[c.IS_CONTROL].to_numpy()
    ].copy()
    model = PerturbedMean().fit(only_ctx0)
    queries = queries_for(adata, combo_split_like(adata))
    prediction = model.predict(queries)
    ctx1 = prediction[(prediction.obs[c.CONTEXT] == "ctx1").to_numpy()]
    np.testing.assert_allclose(ctx1.X.mean(axis=0), model.overall_mean_, rtol=1e-5, atol=1e-6)


def combo_split_like(adata):
    """A minimal split with one test condition per context (for the fallback test)."""
    from vcbench.scenarios.split import Split

    conditions = pd.DataFrame(
        {
            c.CONTEXT: ["ctx0", "ctx1"],
            c.PERTURBATION: ["G0000", "G0000"],
            "split_category": "x",
            "n_cells": 1,
        }
    )
    return Split("manual", {}, 0, "", pd.Series("train", index=adata.obs_names), conditions)


def test_known_answer_shared_shift_makes_perturbed_mean_beat_no_change(sim, split) -> None:
    # The simulator adds one systematic shift to every perturbation, so the mean of all perturbed
    # cells carries real signal about any unseen perturbation's effect, and "no change" carries none.
    scores = {
        name: run_model(sim.adata, split, get_model(name), ["pdcorr", "rmse"]) for name in MODELS
    }
    mean = {name: s.groupby("metric")["value"].mean() for name, s in scores.items()}
    assert mean["perturbed_mean"]["pdcorr"] > 0.3
    assert scores["no_change"].query("metric == 'pdcorr'")["value"].isna().all()
    assert mean["perturbed_mean"]["rmse"] < mean["no_change"]["rmse"]


def test_registry_import_path_and_errors() -> None:
    model = get_model("vcbench.models.baselines:NoChange", max_cells=10)
    assert isinstance(model, NoChange) and model.max_cells == 10
    with pytest.raises(ModelError, match=r"Unknown model 'nope'.*no_change"):
        get_model("nope")
    with pytest.raises(ModelError, match=r"Cannot import model 'no_such_pkg:Model'"):
        get_model("no_such_pkg:Model")
    with pytest.raises(ModelError, match=r"not a subclass of vcbench.models.PerturbationModel"):
        get_model("pandas:DataFrame")


def test_a_failing_model_is_reported_as_a_model_error(sim, split) -> None:
    class Broken(NoChange):
        name = "broken"

        def predict(self, queries):
            raise RuntimeError("out of memory")

    with pytest.raises(ModelError, match=r"Model 'broken' failed: RuntimeError: out of memory"):
        run_model(sim.adata, split, Broken(), ["rmse"])
