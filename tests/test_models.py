"""The model contract, the two baselines, and the registry."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from vcbench.data import contract as c
from vcbench.data.simulate import simulate
from vcbench.errors import ModelError
from vcbench.models import (
    LAZY_MODELS,
    NoChange,
    PerturbedMean,
    get_model,
    model_names,
)
from vcbench.models.base import PREDICTION_KEY, predict_by_shift
from vcbench.models.contract_checks import check_model_contract
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


FAST = {"n_epochs": 3}  # torch models: a few epochs are enough for the contract


def _model(name: str):
    """A registered model; torch models (skipped without torch) with few epochs."""
    if name in LAZY_MODELS:
        pytest.importorskip("torch")
        try:
            return get_model(name, **FAST)
        except ModelError as exc:  # an adapter whose extra is not installed
            if "needs the optional dependency" not in str(exc):
                raise
            pytest.skip(str(exc))
    return get_model(name)


@pytest.mark.parametrize("name", model_names())
def test_every_registered_model_follows_the_contract(sim, split, name: str) -> None:
    adata = sim.adata
    model = _model(name)
    prediction = check_model_contract(model, adata, split)
    queries = queries_for(adata, split)
    assert prediction.n_obs >= len(queries.conditions)
    assert prediction.uns[PREDICTION_KEY]["level"] == "cells"
    assert set(model.get_params()) >= {"max_cells", "seed"}
    # fit and predict on the runner's path too
    scores = run_model(adata, split, _model(name), ["pdcorr"])
    assert len(scores) == len(queries.conditions)


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
    queries = queries_for(adata, split)
    prediction = PerturbedMean(max_cells=None).fit(train).predict(queries)
    controls = queries.controls.X.toarray() if hasattr(queries.controls.X, "toarray") else None
    controls = np.asarray(queries.controls.X) if controls is None else controls
    # the control cells shifted to that mean, clipped at 0 (docs/validity.md)
    expected = np.maximum(controls + (expected - controls.mean(axis=0)), 0).mean(axis=0)
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
        name: run_model(sim.adata, split, get_model(name), ["pdcorr", "rmse"])
        for name in ("no_change", "perturbed_mean")
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


def test_model_names_list_core_and_torch_models() -> None:
    assert set(model_names()) == {
        "no_change",
        "perturbed_mean",
        "perturbation_mean",
        "additive",
        "linear",
        "random_perturbation",
        "linear_additive",
        "latent_additive",
        "decoder_only",
        "genepert",
        "cpa",
        "biolord",
        "sams_vae",
        "sclambda",
        "prnet",
        "gears",
        "state",
        "gears_official",
        "biolord_official",
        "state_official",
        "scgen",
    }


def test_models_import_without_torch_and_torch_models_name_the_extra() -> None:
    # a fresh interpreter in which `import torch` fails as if torch were not installed
    code = (
        "import sys\n"
        "class NoTorch:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'torch':\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, NoTorch())\n"
        "import vcbench.models as m\n"
        "m.get_model('linear')\n"
        "try:\n"
        "    m.get_model('latent_additive')\n"
        "except m.registry.ModelError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "needs the optional dependency 'torch'" in out.stdout
    assert 'pip install "vcbench[torch]"' in out.stdout


class _Shifts(PerturbedMean):
    """A test double: perturbed_mean with one defect switched on."""

    name = "shifts"

    def __init__(self, defect: str = "", max_cells: int | None = 50, seed: int = 0) -> None:
        super().__init__(max_cells=max_cells, seed=seed)
        self.defect = defect

    def fit(self, train):
        if self.defect == "returns_none":
            return None
        if self.defect == "mutates":
            train.X = train.X * 2
        return super().fit(train)

    def predict(self, queries):
        prediction = super().predict(queries)
        if self.defect == "nan":
            prediction.X[0, 0] = np.nan
        if self.defect == "genes":
            return prediction[:, ::-1].copy()
        if self.defect == "missing":
            first = prediction.obs[c.PERTURBATION] == prediction.obs[c.PERTURBATION].iloc[0]
            return prediction[~first.to_numpy()].copy()
        if self.defect == "random":
            effects = np.random.default_rng().normal(
                size=(len(queries.conditions), len(self.genes_))
            )
            return predict_by_shift(queries, effects, self.genes_)
        return prediction


@pytest.mark.parametrize(
    ("defect", "message"),
    [
        ("returns_none", "must return the model itself"),
        ("mutates", "changed the training data"),
        ("nan", "NaN or infinite"),
        ("genes", "training genes, in their order"),
        ("missing", "predicted conditions differ from the queries"),
        ("random", "predict differently"),
    ],
)
def test_contract_check_names_each_broken_rule(sim, split, defect: str, message: str) -> None:
    check_model_contract(_Shifts(), sim.adata, split)  # the intact double passes
    with pytest.raises(ModelError, match=message):
        check_model_contract(_Shifts(defect), sim.adata, split)
