"""state_official (vcbench.models.adapters.state_official): Arc Institute's STATE package behind
the contract."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("state")

from deep_model_cases import combo_case, no_change_score, seen_case

from vcbench.data import contract as c
from vcbench.errors import ModelError
from vcbench.models.adapters.state_official import STATEOfficial
from vcbench.models.contract_checks import check_model_contract
from vcbench.runner import run_model

FAST_PARAMS = {"n_epochs": 100}


def test_state_official_follows_the_contract_deterministically() -> None:
    adata, split = combo_case()
    prediction = check_model_contract(STATEOfficial(**FAST_PARAMS), adata, split)
    unseen = split.test_conditions.loc[split.test_conditions["split_category"] == "single_unseen"]
    assert len(unseen) and set(unseen[c.PERTURBATION]) <= set(prediction.obs[c.PERTURBATION])
    assert prediction.uns["vcbench_prediction"]["level"] == "cells"


def test_state_official_beats_no_change_on_seen_perturbations() -> None:
    adata, split = seen_case()
    model = STATEOfficial(**FAST_PARAMS)
    scores = run_model(adata, split, model, ["pdcorr", "rmse"]).groupby("metric")["value"].mean()
    assert model.losses_[-1] < model.losses_[0]  # it trained
    assert scores["rmse"] < no_change_score(seen_case(), "rmse")
    assert scores["pdcorr"] > 0.3


def test_fit_writes_nothing_and_leaves_the_global_rng_alone(tmp_path, monkeypatch) -> None:
    import torch

    monkeypatch.chdir(tmp_path)
    adata, split = combo_case()
    train = adata[split.mask(adata, "train")].copy()
    np_before = np.random.get_state()[1].copy()  # noqa: NPY002
    torch_before = torch.random.get_rng_state().numpy().copy()
    STATEOfficial(n_epochs=2).fit(train)
    assert list(tmp_path.iterdir()) == []
    assert np.array_equal(np.random.get_state()[1], np_before)  # noqa: NPY002
    assert np.array_equal(torch.random.get_rng_state().numpy(), torch_before)


@pytest.mark.parametrize(
    "params",
    [{"n_epochs": 0}, {"lr": 0.0}, {"hidden_dim": 30, "n_heads": 4}, {"max_cells": 0}],
)
def test_bad_parameters_raise_a_clear_error(params) -> None:
    adata, split = combo_case()
    train = adata[split.mask(adata, "train")].copy()
    with pytest.raises(ModelError, match="state_official"):
        STATEOfficial(**params).fit(train)


def test_predict_before_fit_is_a_clear_error() -> None:
    from vcbench.runner.task import queries_for

    adata, split = combo_case()
    with pytest.raises(ModelError, match="fit"):
        STATEOfficial().predict(queries_for(adata, split))
