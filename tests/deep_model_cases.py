"""Shared cases for the deep-model tests (tests/test_models_deep_*.py).

- ``seen_case()``: two simulated contexts with nearly the same effects; every perturbation trains in
  ``ctx0``, half of them also in ``ctx1``, and the other half is tested in ``ctx1`` ("seen
  perturbations": a model that learns the perturbations' effects must beat ``no_change`` there).
- ``combo_case()``: one simulated context, GEARS-style combination split (``single_unseen`` and
  ``combo_unseen*`` conditions: unseen perturbations must get a finite prediction).
- ``demo_combo_case()``: the bundled demo's K562 combination split, on the 200 most variable genes
  of its training cells (a real-data smoke test).
- ``check_deep_model(name, params)``: the assertions every deep model must pass on these cases.
"""

from __future__ import annotations

from functools import cache

import anndata as ad
import numpy as np
import pandas as pd

from vcbench.data import contract as c
from vcbench.data.preprocess import select_hvgs
from vcbench.data.simulate import simulate
from vcbench.datasets import demo
from vcbench.models import NoChange, get_model
from vcbench.models.contract_checks import check_model_contract
from vcbench.runner import run_model
from vcbench.scenarios import combo_split
from vcbench.scenarios.split import Split


def seen_in_other_context_split(adata: ad.AnnData, seed: int = 0) -> Split:
    """Test half of ``ctx1``'s perturbations; everything else (controls included) trains."""
    obs = adata.obs
    in_ctx1 = (obs[c.CONTEXT] == "ctx1").to_numpy()
    labels = sorted(obs.loc[~obs[c.IS_CONTROL].to_numpy(), c.PERTURBATION].astype(str).unique())
    held = sorted(np.random.default_rng(seed).permutation(labels)[: len(labels) // 2])
    is_test = in_ctx1 & obs[c.PERTURBATION].astype(str).isin(held).to_numpy()
    role = pd.Series(np.where(is_test, "test", "train"), index=obs.index).astype("category")
    conditions = pd.DataFrame(
        {
            c.CONTEXT: "ctx1",
            c.PERTURBATION: held,
            "split_category": "seen_other_context",
            "n_cells": [int((is_test & (obs[c.PERTURBATION] == p).to_numpy()).sum()) for p in held],
        }
    )
    return Split("seen", {}, seed, "", role, conditions)


@cache
def seen_case() -> tuple[ad.AnnData, Split]:
    sim = simulate(
        n_contexts=2,
        n_genes=60,
        n_singles=10,
        n_combinations=6,
        cells_per_condition=40,
        n_control_cells=100,
        context_modulation=0.1,
        seed=6,
    )
    return sim.adata, seen_in_other_context_split(sim.adata)


@cache
def combo_case() -> tuple[ad.AnnData, Split]:
    sim = simulate(
        n_contexts=1, n_genes=60, n_singles=12, n_combinations=10, cells_per_condition=40, seed=3
    )
    return sim.adata, combo_split(sim.adata, "ctx0", seed=0)


@cache
def demo_combo_case() -> tuple[ad.AnnData, Split]:
    adata = demo()
    split = combo_split(adata, "k562", seed=0)
    genes = select_hvgs(adata, n_top_genes=200, cells=split.mask(adata, "train"))
    return adata[:, genes].copy(), split


def no_change_score(case: tuple[ad.AnnData, Split], metric: str) -> float:
    adata, split = case
    return float(run_model(adata, split, NoChange(), [metric])["value"].mean())


def check_deep_model(name: str, params: dict) -> None:
    """Contract (with determinism) on the combination case, finite predictions for unseen
    perturbations, better ``pdcorr`` and ``rmse`` than ``no_change`` on seen perturbations, and a
    scored run on the demo's K562 combination split."""
    adata, split = combo_case()
    prediction = check_model_contract(get_model(name, **params), adata, split)
    assert np.isfinite(prediction.X).all()
    unseen = split.test_conditions.loc[split.test_conditions["split_category"] == "single_unseen"]
    assert len(unseen) and set(unseen[c.PERTURBATION]) <= set(prediction.obs[c.PERTURBATION])

    adata, split = seen_case()
    model = get_model(name, **params)
    scores = run_model(adata, split, model, ["pdcorr", "rmse"]).groupby("metric")["value"].mean()
    assert model.losses_[-1] < model.losses_[0]  # it trained
    assert scores["rmse"] < no_change_score(seen_case(), "rmse")
    # no_change has no effect, so its pdcorr is undefined (NaN); a learned effect must correlate
    assert scores["pdcorr"] > 0.5

    adata, split = demo_combo_case()
    demo_params = {**params, "n_epochs": min(params.get("n_epochs", 5), 5)}
    scores = run_model(adata, split, get_model(name, **demo_params), ["pdcorr", "pds"])
    assert set(scores["split_category"]) == set(split.test_conditions["split_category"])
    assert np.isfinite(scores["value"]).all()
