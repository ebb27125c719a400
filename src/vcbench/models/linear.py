"""The linear model of Ahlmann-Eltze, Huber and Anders (Nature Methods 2025), on effects.

With ``Y`` the training effect matrix (genes × training conditions, ``TrainingEffects``), ``b_k`` the
mean effect of context ``k``'s training conditions (all conditions' mean for a context without
any), ``G`` the gene embedding (genes × K: the training PCA embedding of ``vcbench.models.embeddings``)
and ``P`` the perturbation embedding (conditions × K'), the model is ``Y ≈ G W Pᵀ + b`` and ``W`` is the
ridge solution on both sides:

    W = (GᵀG + λI)⁻¹ Gᵀ (Y − b) P (PᵀP + λI)⁻¹.

A perturbation's embedding ``P_p`` comes from the featuriser (``vcbench.knowledge.featurize``,
kind ``embedding``, unscaled): by default each target's GO embedding (a human gene with GO
annotations), Morgan fingerprint (a compound with a SMILES) or row of ``G`` (a measured gene without
either; Ahlmann-Eltze et al.'s choice), summed over the targets of a combination; or its targets'
rows of a user-supplied embedding table (``embedding=``; ``embedding="pca"`` is the paper's
``P = G`` exactly). A training target with none of these gets a one-hot indicator. The predicted
effect of ``(k, p)`` is ``b_k + G W P_p``; a perturbation none of whose targets has a
representation gets ``b_k``; when no training perturbation has one, every unseen perturbation is
predicted ``b_k``, with a warning. Cells are the query controls shifted by that effect (``predict_by_shift``).
"""

from __future__ import annotations

import warnings
from typing import Self

import anndata as ad
import numpy as np
import pandas as pd

from vcbench.data import contract as c
from vcbench.errors import ModelError
from vcbench.models.base import PerturbationModel, Queries, predict_by_shift
from vcbench.models.effects import TrainingEffects, group_means_of_rows, query_control_means
from vcbench.models.embeddings import (
    EmbeddingSource,
    PerturbationFeatures,
    pca_gene_embedding,
    training_smiles,
)


def ridge_both_sides(y: np.ndarray, g: np.ndarray, p: np.ndarray, ridge: float) -> np.ndarray:
    """``W = (GᵀG + λI)⁻¹ Gᵀ Y P (PᵀP + λI)⁻¹`` for ``Y`` (genes × conditions), ``G`` (genes × K),
    ``P`` (conditions × K')."""
    left = np.linalg.solve(g.T @ g + ridge * np.eye(g.shape[1]), g.T @ y)
    return np.linalg.solve(p.T @ p + ridge * np.eye(p.shape[1]), (left @ p).T).T


class Linear(PerturbationModel):
    """Ahlmann-Eltze et al.'s linear model (see the module docstring).

    Args:
        n_components: K, the number of principal components of the gene embedding (and of the
            perturbation embedding when no table is given).
        ridge: λ, the ridge penalty on both sides.
        embedding: the perturbation side's source (``PerturbationFeatures``): None (GO embedding,
            fingerprints, then the training PCA embedding), ``"go"``, ``"pca"``, ``"fingerprint"``
            or an embedding table (DataFrame, .csv, .parquet or .pt path).
        max_cells, seed: as in ``predict_by_shift``.
    """

    name = "linear"

    def __init__(
        self,
        n_components: int = 10,
        ridge: float = 0.1,
        embedding: EmbeddingSource | None = None,
        max_cells: int | None = 500,
        seed: int = 0,
    ) -> None:
        self.n_components = n_components
        self.ridge = ridge
        self.embedding = embedding
        self.max_cells = max_cells
        self.seed = seed

    def fit(self, train: ad.AnnData) -> Self:
        if self.ridge < 0:
            raise ModelError(f"ridge must be non-negative, got {self.ridge}.")
        effects = TrainingEffects.from_train(train, model=self.name)
        if len(effects.conditions) < 2:
            raise ModelError("linear needs at least 2 training conditions with effects.")
        self.genes_ = effects.genes
        contexts = effects.conditions[c.CONTEXT].to_numpy()
        labels, means = group_means_of_rows(effects.effects, contexts)
        self.context_offsets_ = dict(zip(labels.tolist(), means, strict=True))
        self.overall_offset_ = effects.effects.mean(axis=0)
        centred = effects.effects - means[np.searchsorted(labels, contexts)]
        self.gene_embedding_ = pca_gene_embedding(effects.effects, self.genes_, self.n_components)
        targets = effects.conditions["targets"].tolist()
        self.features_ = PerturbationFeatures(
            "embedding", self.embedding, self.n_components, scale=False
        ).fit(targets, effects.effects, self.genes_, smiles=training_smiles(train))
        p = self.features_.transform(targets)
        self.n_embedded_ = int(sum(any(map(self.features_.has_representation, t)) for t in targets))
        g = self.gene_embedding_.to_numpy()
        if self.n_embedded_ == 0:
            # no training target has a representation beyond its one-hot indicator: unseen
            # perturbations get b_k
            warnings.warn(
                "linear: no training perturbation targets a measured gene or a gene or compound "
                "with a representation (GO annotations, SMILES), so unseen perturbations are "
                "predicted each context's mean training effect (as perturbed_mean). Pass "
                "embedding= with a gene embedding table to use one.",
                stacklevel=2,
            )
        self.weights_ = ridge_both_sides(centred.T, g, p, self.ridge)
        return self

    def predict(self, queries: Queries) -> ad.AnnData:
        conditions = queries.conditions
        offsets = [
            self.context_offsets_.get(k, self.overall_offset_)
            for k in conditions[c.CONTEXT].astype(str)
        ]
        targets = [c.split_combination(p) for p in conditions[c.PERTURBATION].astype(str)]
        p = self.features_.transform(targets)
        effects = (
            np.vstack(offsets) + p @ (self.gene_embedding_.to_numpy() @ self.weights_).T
            if len(conditions)
            else np.zeros((0, len(self.genes_)))
        )
        query_control_means(queries, self.genes_)  # a clear error for contexts without controls
        return predict_by_shift(
            queries, effects, pd.Index(self.genes_), max_cells=self.max_cells, seed=self.seed
        )
