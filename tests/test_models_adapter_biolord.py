"""biolord_official (vcbench.models.adapters.biolord_official): the authors' package behind the
contract."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("biolord")

from deep_model_cases import combo_case, no_change_score, seen_case

from vcbench.data import contract as c
from vcbench.errors import ModelError
from vcbench.models import get_model
from vcbench.models.contract_checks import check_model_contract
from vcbench.runner import run_model
from vcbench.runner.task import queries_for

FAST_PARAMS = {"n_epochs": 20}


@pytest.fixture(scope="module")
def fitted():
    adata, split = combo_case()
    train = adata[split.mask(adata, "train")].copy()
    return get_model("biolord_official", **FAST_PARAMS).fit(train), queries_for(adata, split)


def test_biolord_official_follows_the_contract_deterministically() -> None:
    adata, split = combo_case()
    prediction = check_model_contract(get_model("biolord_official", **FAST_PARAMS), adata, split)
    unseen = split.test_conditions.loc[split.test_conditions["split_category"] == "single_unseen"]
    assert len(unseen) and set(unseen[c.PERTURBATION]) <= set(prediction.obs[c.PERTURBATION])
    assert prediction.uns["vcbench_prediction"]["level"] == "cells"


def test_biolord_official_beats_no_change_on_seen_perturbations() -> None:
    adata, split = seen_case()
    model = get_model("biolord_official", **FAST_PARAMS)
    scores = run_model(adata, split, model, ["pdcorr", "rmse"]).groupby("metric")["value"].mean()
    assert model.losses_[-1] < model.losses_[0]  # it trained
    assert scores["rmse"] < no_change_score(seen_case(), "rmse")
    assert scores["pdcorr"] > 0.3


def test_fit_writes_nothing_and_leaves_the_global_rng_alone(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    adata, split = combo_case()
    train = adata[split.mask(adata, "train")].copy()
    np_before, torch_before = np.random.get_state()[1].copy(), _torch_state()  # noqa: NPY002
    get_model("biolord_official", n_epochs=2).fit(train)
    assert list(tmp_path.iterdir()) == []
    assert np.array_equal(np.random.get_state()[1], np_before)  # noqa: NPY002
    assert np.array_equal(_torch_state(), torch_before)


def _torch_state() -> np.ndarray:
    import torch

    return torch.random.get_rng_state().numpy().copy()


def test_query_controls_that_did_not_train_use_their_nearest_training_control(fitted) -> None:
    model, queries = fitted
    renamed = queries.controls.copy()
    renamed.obs_names = [f"new-{name}" for name in renamed.obs_names]
    again = type(queries)(conditions=queries.conditions, controls=renamed)
    # a renamed cell is not a training cell; its nearest training control is the same cell
    # the same cells through the same network in the same process: bit-identical by promise
    # (predict is deterministic given its inputs), so exact equality
    np.testing.assert_array_equal(model.predict(again).X, model.predict(queries).X)


def test_max_cells_caps_the_predicted_cells_per_condition(fitted) -> None:
    model, queries = fitted
    model.max_cells = 7
    try:
        prediction = model.predict(queries)
    finally:
        model.max_cells = FAST_PARAMS.get("max_cells", 500)
    counts = prediction.obs.groupby([c.CONTEXT, c.PERTURBATION], observed=True).size()
    assert (counts == 7).all() and len(counts) == len(queries.conditions)


@pytest.mark.parametrize(
    "params", [{"n_epochs": 0}, {"decoder_lr": 0.0}, {"n_latent": -1}, {"max_cells": 0}]
)
def test_bad_parameters_raise_a_clear_error(params) -> None:
    adata, split = combo_case()
    train = adata[split.mask(adata, "train")].copy()
    with pytest.raises(ModelError, match="biolord_official"):
        get_model("biolord_official", **params).fit(train)


def test_predict_before_fit_is_a_clear_error(fitted) -> None:
    _, queries = fitted
    with pytest.raises(ModelError, match="fit"):
        get_model("biolord_official").predict(queries)
