"""GenePert (Chen & Zou, bioRxiv 2024): ridge regression from a perturbed gene's embedding to its
expression change.

GenePert embeds each perturbed gene with a gene embedding (originally GenePT, embeddings of the
genes' literature descriptions) and fits a ridge regression from the embedding to the perturbation's
mean expression change. In vcbench's notation, with ``Δ`` the training effects (training conditions ×
genes, ``TrainingEffects``), ``b_k`` the mean effect of context ``k``'s training conditions (the mean
over all conditions for a context without any) and ``E`` the perturbation embeddings (conditions × d:
the sum of the rows of the condition's targets in the embedding table):

    B = argmin ‖(Δ − b) − E B‖² + λ ‖B‖²  =  (EᵀE + λI)⁻¹ Eᵀ (Δ − b),
    predicted effect of (k, p) = b_k + E_p B,

returned as the query's control cells shifted by that effect (``predict_by_shift``).

Embeddings (``E``, from the featuriser ``vcbench.knowledge.featurize``, kind ``embedding``,
unscaled): by default (``embedding=None``) a gene's GO embedding (the shipped 2022 GO annotations,
IDF-weighted, SVD to 64 dimensions), a compound's Morgan fingerprint, or, for a measured gene with
neither, the training PCA gene embedding of the ``linear`` baseline; ``embedding=`` a table
(CSV/parquet/DataFrame, names in the first column, or a torch-saved ``.pt`` dict of name → vector:
e.g. GenePT embeddings), or ``"go"``/``"pca"``/``"fingerprint"`` for one source only. A training
target with no representation gets a one-hot indicator; an unseen one contributes zero. Each
perturbation's embedding is divided by its L2 norm (``normalize=True``, as GenePert normalises
its GenePT vectors; a combination: the sum, then normalised). A perturbation with no represented
target is predicted ``b_k``, the context's mean training effect (GenePert gives an unknown gene a
random unit vector, an arbitrary effect; with a zero vector it would be ``b_k − ē_k B``). With one
context this is scikit-learn's ``Ridge(alpha=λ, fit_intercept=True)`` fitted on ``(E, Δ)``.

Deviations from the original: (1) combinations are embedded as the sum of their genes' embeddings
(GenePert is defined for single genes; the sum is the rule every vcbench model uses); (2) the
regression is on effects (perturbed − control mean), centred per context, so that several contexts
share one ``B``; GenePert regresses the post-perturbation expression of one cell line, which differs
from this only by the intercept; (3) the ridge penalty ``λ`` is a parameter (default 1), not chosen
by cross-validation as in the paper's experiments (a benchmark should not tune on its own test set;
pass ``ridge=`` to set it); (4) the default embedding is the GO embedding, not GenePT: GenePT
embeddings (OpenAI text embeddings of NCBI gene summaries) cannot be downloaded at run time or
recomputed here. To run GenePert as published, save GenePT's gene → vector table as parquet/CSV
(or the ``.pt`` dict) and pass ``embedding=`` its path.
"""

from __future__ import annotations

import warnings
from typing import Self

import anndata as ad
import numpy as np
import pandas as pd

from vcbench.data import contract as c
from vcbench.errors import KnowledgeError, ModelError
from vcbench.models.base import PerturbationModel, Queries, predict_by_shift
from vcbench.models.effects import TrainingEffects, group_means_of_rows, query_control_means
from vcbench.models.embeddings import EmbeddingSource, PerturbationFeatures, training_smiles


def ridge_solution(x: np.ndarray, y: np.ndarray, ridge: float) -> np.ndarray:
    """``(XᵀX + λI)⁻¹ Xᵀ Y``, the ridge coefficients without intercept."""
    return np.linalg.solve(x.T @ x + ridge * np.eye(x.shape[1]), x.T @ y)


class GenePert(PerturbationModel):
    """GenePert's ridge regression from perturbation embeddings to effects (module docstring).

    Args:
        ridge: λ, the ridge penalty.
        embedding: the representation source (``PerturbationFeatures``): None (GO embedding,
            fingerprints, training PCA embedding), ``"go"``, ``"pca"``, ``"fingerprint"``, or an
            embedding table (DataFrame, .csv/.parquet/.pt path), e.g. GenePT gene embeddings.
        n_components: dimensions of the training PCA embedding.
        normalize: divide each perturbation's embedding by its L2 norm (GenePert's rule).
        max_cells, seed: as in ``predict_by_shift``.
    """

    name = "genepert"

    def __init__(
        self,
        ridge: float = 1.0,
        embedding: EmbeddingSource | None = None,
        n_components: int = 10,
        normalize: bool = True,
        max_cells: int | None = 500,
        seed: int = 0,
    ) -> None:
        self.ridge = ridge
        self.normalize = normalize
        self.embedding = embedding
        self.n_components = n_components
        self.max_cells = max_cells
        self.seed = seed

    def fit(self, train: ad.AnnData) -> Self:
        if self.ridge <= 0:
            raise ModelError(f"genepert: ridge must be positive, got {self.ridge}.")
        effects = TrainingEffects.from_train(train, model=self.name)
        self.genes_ = effects.genes
        contexts = effects.conditions[c.CONTEXT].to_numpy()
        labels, means = group_means_of_rows(effects.effects, contexts)
        self.context_offsets_ = dict(zip(labels.tolist(), means, strict=True))
        self.overall_offset_ = effects.effects.mean(axis=0)
        rows = np.searchsorted(labels, contexts)
        centred = effects.effects - means[rows]
        if (
            isinstance(self.embedding, str)
            and self.embedding == "pca"
            and len(effects.conditions) < 2
        ):
            raise ModelError(
                "genepert's PCA embedding needs at least 2 training conditions; supply "
                "embedding= instead."
            )
        targets = effects.conditions["targets"].tolist()
        try:
            self.features_ = PerturbationFeatures(
                "embedding", self.embedding, self.n_components, scale=False
            ).fit(targets, effects.effects, self.genes_, smiles=training_smiles(train))
        except KnowledgeError as exc:
            message = str(exc)
            raise KnowledgeError(f"genepert: {message[0].lower()}{message[1:]}") from exc
        x = self._embed(targets)
        self.n_embedded_ = int(sum(any(map(self.features_.has_representation, t)) for t in targets))
        if self.n_embedded_ == 0:
            warnings.warn(
                "genepert: no training perturbation targets a measured gene or a gene or compound "
                "with a representation (GO annotations, SMILES); unseen perturbations are predicted "
                "each context's mean training effect. Pass embedding= with a gene embedding table "
                "(e.g. GenePT).",
                stacklevel=2,
            )
        _, embedding_means = group_means_of_rows(x, contexts)
        self.embedding_offsets_ = dict(zip(labels.tolist(), embedding_means, strict=True))
        self.overall_embedding_offset_ = x.mean(axis=0)
        self.coefficients_ = ridge_solution(x - embedding_means[rows], centred, self.ridge)
        return self

    def _embed(self, targets: list[tuple[str, ...]]) -> np.ndarray:
        """``E``: each perturbation's summed embedding, divided by its L2 norm (``normalize``)."""
        x = self.features_.transform(targets)
        if self.normalize:
            norms = np.linalg.norm(x, axis=1, keepdims=True)
            x = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
        return x

    def effect_of(self, context: str, perturbation: str) -> np.ndarray:
        """The predicted effect ``b_k + (E_p − ē_k) B`` of one condition; ``b_k`` (the context's
        mean training effect) for a perturbation with no represented target."""
        targets = c.split_combination(perturbation)
        offset = self.context_offsets_.get(context, self.overall_offset_)
        if not any(map(self.features_.has_representation, targets)):
            return offset
        embedded = self._embed([targets])[0]
        centre = self.embedding_offsets_.get(context, self.overall_embedding_offset_)
        return offset + (embedded - centre) @ self.coefficients_

    def predict(self, queries: Queries) -> ad.AnnData:
        conditions = queries.conditions
        query_control_means(queries, self.genes_)  # a clear error for contexts without controls
        effects = np.zeros((len(conditions), len(self.genes_)))
        for row, (context, perturbation) in enumerate(
            zip(
                conditions[c.CONTEXT].astype(str),
                conditions[c.PERTURBATION].astype(str),
                strict=True,
            )
        ):
            effects[row] = self.effect_of(context, perturbation)
        return predict_by_shift(
            queries, effects, pd.Index(self.genes_), max_cells=self.max_cells, seed=self.seed
        )
