"""scgen (vcbench.models.adapters.scgen_pertpy): scGen through pertpy behind the contract."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pertpy")

from deep_model_cases import no_change_score, seen_case

from vcbench.data import contract as c
from vcbench.errors import ModelError
from vcbench.models.adapters.scgen_pertpy import ScGenPertpy
from vcbench.models.contract_checks import check_model_contract
from vcbench.runner import run_model
from vcbench.runner.task import queries_for

FAST_PARAMS = {"n_epochs": 20}


def test_scgen_follows_the_contract_deterministically() -> None:
    adata, split = seen_case()
    prediction = check_model_contract(ScGenPertpy(**FAST_PARAMS), adata, split)
    assert np.isfinite(prediction.X).all()
    assert set(split.test_conditions[c.PERTURBATION]) <= set(prediction.obs[c.PERTURBATION])
    assert prediction.uns["vcbench_prediction"]["level"] == "cells"


def test_scgen_beats_no_change_on_perturbations_seen_in_another_context() -> None:
    adata, split = seen_case()
    model = ScGenPertpy(**FAST_PARAMS)
    scores = run_model(adata, split, model, ["pdcorr", "rmse"]).groupby("metric")["value"].mean()
    assert model.losses_[-1] < model.losses_[0]  # it trained
    assert scores["rmse"] < no_change_score(seen_case(), "rmse")
    assert scores["pdcorr"] > 0.3


def test_a_perturbation_unseen_in_training_is_a_clear_error() -> None:
    adata, split = seen_case()
    held = split.test_conditions[c.PERTURBATION].iloc[0]
    # drop every training cell of one tested perturbation: scGen has no shift for it
    train_mask = split.mask(adata, "train") & (adata.obs[c.PERTURBATION] != held).to_numpy()
    model = ScGenPertpy(n_epochs=2).fit(adata[train_mask].copy())
    with pytest.raises(ModelError, match=f"scgen.*{held}"):
        model.predict(queries_for(adata, split))


def test_fit_writes_nothing_and_leaves_the_global_rng_alone(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    adata, split = seen_case()
    train = adata[split.mask(adata, "train")].copy()
    np_before, torch_before = np.random.get_state()[1].copy(), _torch_state()  # noqa: NPY002
    ScGenPertpy(n_epochs=2).fit(train)
    assert list(tmp_path.iterdir()) == []
    assert np.array_equal(np.random.get_state()[1], np_before)  # noqa: NPY002
    assert np.array_equal(_torch_state(), torch_before)


def _torch_state() -> np.ndarray:
    import torch

    return torch.random.get_rng_state().numpy().copy()


@pytest.mark.parametrize(
    "params",
    [{"n_epochs": 0}, {"lr": 0.0}, {"n_latent": -1}, {"max_cells": 0}, {"dropout_rate": 1.0}],
)
def test_bad_parameters_raise_a_clear_error(params) -> None:
    adata, split = seen_case()
    train = adata[split.mask(adata, "train")].copy()
    with pytest.raises(ModelError, match="scgen"):
        ScGenPertpy(**params).fit(train)


def test_predict_before_fit_is_a_clear_error() -> None:
    adata, split = seen_case()
    with pytest.raises(ModelError, match="fit"):
        ScGenPertpy().predict(queries_for(adata, split))
