"""GenePert: ridge regression from perturbation embeddings to effects, checked against
scikit-learn's Ridge and against data whose effects are exactly linear in the embeddings."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge
from sklearn.preprocessing import normalize

from vcbench.data import contract as c
from vcbench.data.loader import load_dataset
from vcbench.errors import ModelError
from vcbench.models import GenePert, NoChange, PerturbedMean
from vcbench.runner import run_model
from vcbench.scenarios.split import Split

N_GENES, DIM = 30, 4


def linear_effect_data(seed: int = 0) -> tuple[ad.AnnData, pd.DataFrame, np.ndarray, list[str]]:
    """Log data of one context whose perturbation effects are exactly ``E_p B`` (no noise in the
    condition means: each condition's cells are its mean ± a symmetric jitter)."""
    rng = np.random.default_rng(seed)
    genes = [f"G{i}" for i in range(N_GENES)]
    embedding = pd.DataFrame(rng.normal(size=(N_GENES, DIM)), index=genes)
    coefficients = rng.normal(scale=0.3, size=(DIM, N_GENES))
    control = rng.uniform(2.0, 4.0, size=N_GENES)
    jitter = rng.normal(scale=0.05, size=(5, N_GENES))
    jitter = np.vstack([jitter, -jitter])  # mean zero exactly
    perturbations = genes[:16]
    blocks, labels = [control + jitter], ["control"] * len(jitter)
    for p in perturbations:
        blocks.append(control + embedding.loc[p].to_numpy() @ coefficients + jitter)
        labels += [p] * len(jitter)
    x = np.vstack(blocks).astype(np.float64)
    raw = ad.AnnData(
        X=x,
        obs=pd.DataFrame({"condition": labels}, index=[f"c{i}" for i in range(len(labels))]),
        var=pd.DataFrame(index=genes),
    )
    adata = load_dataset(raw, context_key=None)
    return adata, embedding, coefficients, perturbations


def hold_out(adata: ad.AnnData, held: list[str]) -> Split:
    is_test = adata.obs[c.PERTURBATION].astype(str).isin(held).to_numpy()
    role = pd.Series(np.where(is_test, "test", "train"), index=adata.obs_names).astype("category")
    context = str(adata.obs[c.CONTEXT].iloc[0])
    conditions = pd.DataFrame(
        {
            c.CONTEXT: context,
            c.PERTURBATION: held,
            "split_category": "single_unseen",
            "n_cells": [int((adata.obs[c.PERTURBATION] == p).sum()) for p in held],
        }
    )
    return Split("perturbation", {}, 0, "", role, conditions)


def test_genepert_equals_scikit_learn_ridge_with_intercept() -> None:
    adata, embedding, _, perturbations = linear_effect_data()
    held = perturbations[-4:]
    train = adata[~adata.obs[c.PERTURBATION].isin(held).to_numpy()].copy()
    model = GenePert(ridge=2.5, embedding=embedding).fit(train)

    x = np.asarray(train.X)
    is_control = train.obs[c.IS_CONTROL].to_numpy()
    control = x[is_control].mean(axis=0)
    seen = perturbations[:-4]
    effects = np.vstack([x[(train.obs[c.PERTURBATION] == p).to_numpy()].mean(0) for p in seen])
    # GenePert's input: each perturbation's embedding divided by its L2 norm
    unit = pd.DataFrame(normalize(embedding.to_numpy()), index=embedding.index)
    reference = Ridge(alpha=2.5, fit_intercept=True).fit(unit.loc[seen], effects - control)
    np.testing.assert_allclose(model.coefficients_, reference.coef_.T, atol=1e-8)

    queries_effects = reference.predict(unit.loc[held])
    got = np.vstack([model.effect_of(str(train.obs[c.CONTEXT].iloc[0]), p) for p in held])
    np.testing.assert_allclose(got, queries_effects, atol=1e-8)


def test_genepert_recovers_linear_effects_of_unseen_genes() -> None:
    adata, embedding, coefficients, perturbations = linear_effect_data()
    split = hold_out(adata, perturbations[-4:])
    # the effects are linear in the raw embedding: without GenePert's normalisation
    model = GenePert(ridge=1e-6, embedding=embedding, normalize=False)
    scores = run_model(adata, split, model, ["pdcorr", "rmse"])
    mean = scores.groupby("metric")["value"].mean()
    assert mean["pdcorr"] > 0.999
    baseline = run_model(adata, split, PerturbedMean(), ["rmse"])["value"].mean()
    assert mean["rmse"] < 0.5 * baseline
    assert run_model(adata, split, NoChange(), ["rmse"])["value"].mean() > mean["rmse"]
    # the regression recovers the true coefficients (float32 storage limits the precision)
    np.testing.assert_allclose(model.coefficients_, coefficients, atol=1e-4)


def test_genepert_errors_and_default_embedding_warning() -> None:
    adata, embedding, _, perturbations = linear_effect_data()
    train = adata[~adata.obs[c.PERTURBATION].isin(perturbations[-4:]).to_numpy()].copy()
    with pytest.raises(ModelError, match="ridge must be positive"):
        GenePert(ridge=0).fit(train)
    renamed = embedding.rename(index=lambda g: f"other_{g}")
    with pytest.raises(ModelError, match="no training perturbation has a target in the embedding"):
        GenePert(embedding=renamed).fit(train)
    # default: the training PCA embedding (targets are measured genes here, so no warning)
    model = GenePert().fit(train)
    assert model.n_embedded_ == len(perturbations) - 4


def test_genepert_predicts_the_mean_training_effect_for_a_gene_without_representation() -> None:
    adata, embedding, _, perturbations = linear_effect_data()
    train = adata[~adata.obs[c.PERTURBATION].isin(perturbations[-4:]).to_numpy()].copy()
    model = GenePert(ridge=1.0, embedding=embedding).fit(train)
    x = np.asarray(train.X)
    labels = train.obs[c.PERTURBATION].astype(str).to_numpy()
    control = x[train.obs[c.IS_CONTROL].to_numpy()].mean(axis=0)
    mean_effect = np.mean([x[labels == p].mean(0) - control for p in perturbations[:-4]], axis=0)
    context = str(train.obs[c.CONTEXT].iloc[0])
    np.testing.assert_allclose(model.effect_of(context, "NOT_A_GENE"), mean_effect, atol=1e-6)
