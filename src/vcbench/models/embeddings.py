"""Embedding tables and perturbation features for the models: the knowledge layer's featuriser.

The definitions live in ``vcbench.knowledge`` (``featurize`` and ``tables``); this module is the
models' entry point to them. ``training_smiles`` reads the compound SMILES the loader recorded.
"""

from __future__ import annotations

import anndata as ad

from vcbench.data import contract as c
from vcbench.knowledge.featurize import (
    FEATURE_KINDS,
    FeatureKind,
    PerturbationFeatures,
    embed_targets,
    pca_gene_embedding,
)
from vcbench.knowledge.tables import EmbeddingSource, load_embedding

__all__ = [
    "FEATURE_KINDS",
    "EmbeddingSource",
    "FeatureKind",
    "PerturbationFeatures",
    "embed_targets",
    "load_embedding",
    "pca_gene_embedding",
    "training_smiles",
]


def training_smiles(adata: ad.AnnData) -> dict[str, str]:
    """The compound → SMILES mapping ``load_dataset`` recorded (empty when there is none)."""
    record = adata.uns.get(c.UNS_KEY, {})
    names, smiles = record.get("smiles_names"), record.get("smiles")
    if names is None or smiles is None:
        return {}
    return {str(n): str(s) for n, s in zip(list(names), list(smiles), strict=True)}
