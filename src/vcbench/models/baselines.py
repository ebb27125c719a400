"""Baselines that every model must beat (numpy only)."""

from __future__ import annotations

from typing import Self

import anndata as ad
import numpy as np
import pandas as pd

from vcbench.data import contract as c
from vcbench.models.base import PerturbationModel, Queries, predict_by_shift


def _mean(adata: ad.AnnData) -> np.ndarray:
    return np.asarray(adata.X.mean(axis=0)).ravel()


class NoChange(PerturbationModel):
    """Predicts no effect: each condition's cells are its context's control cells, unchanged."""

    name = "no_change"

    def __init__(self, max_cells: int | None = 500, seed: int = 0) -> None:
        self.max_cells = max_cells
        self.seed = seed

    def fit(self, train: ad.AnnData) -> Self:
        self.genes_ = train.var_names.copy()
        return self

    def predict(self, queries: Queries) -> ad.AnnData:
        effects = np.zeros((len(queries.conditions), len(self.genes_)))
        return predict_by_shift(
            queries, effects, self.genes_, max_cells=self.max_cells, seed=self.seed
        )


class PerturbedMean(PerturbationModel):
    """Predicts the mean of all perturbed training cells of the context (of all contexts when the
    context has none), the same for every perturbation: METRICS.md's negative control.

    Returned as the context's control cells shifted so that their mean equals that mean.
    """

    name = "perturbed_mean"

    def __init__(self, max_cells: int | None = 500, seed: int = 0) -> None:
        self.max_cells = max_cells
        self.seed = seed

    def fit(self, train: ad.AnnData) -> Self:
        perturbed = train[~train.obs[c.IS_CONTROL].to_numpy()]
        if perturbed.n_obs == 0:
            raise ValueError(
                "perturbed_mean needs perturbed training cells; the training set has none."
            )
        self.genes_ = train.var_names.copy()
        self.overall_mean_ = _mean(perturbed)
        contexts = perturbed.obs[c.CONTEXT].astype(str)
        self.context_means_ = {
            ctx: _mean(perturbed[(contexts == ctx).to_numpy()]) for ctx in contexts.unique()
        }
        return self

    def predict(self, queries: Queries) -> ad.AnnData:
        rows = []
        for context in queries.conditions[c.CONTEXT].astype(str):
            control_mean = _mean(queries.controls_of(context)[:, self.genes_])
            rows.append(self.context_means_.get(context, self.overall_mean_) - control_mean)
        effects = np.vstack(rows) if rows else np.zeros((0, len(self.genes_)))
        return predict_by_shift(
            queries, effects, pd.Index(self.genes_), max_cells=self.max_cells, seed=self.seed
        )
