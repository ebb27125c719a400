"""Embedding tables and perturbation features for the models: the knowledge layer's featuriser.

The definitions live in ``vcbench.knowledge`` (``featurize`` and ``tables``); this module is the
models' entry point to them. ``training_smiles`` reads the compound SMILES the loader recorded;
``onehot_not_applicable`` is the applicability rule of a model featurised only by one-hot indicators.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import anndata as ad

from vcbench.data import contract as c
from vcbench.knowledge.featurize import (
    FEATURE_KINDS,
    FeatureKind,
    PerturbationFeatures,
    embed_targets,
    pca_gene_embedding,
    represents_unseen_targets,
)
from vcbench.knowledge.tables import EmbeddingSource, load_embedding

if TYPE_CHECKING:
    from vcbench.models.base import PerturbationModel

__all__ = [
    "FEATURE_KINDS",
    "EmbeddingSource",
    "FeatureKind",
    "PerturbationFeatures",
    "embed_targets",
    "load_embedding",
    "onehot_not_applicable",
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


def _param_value(cls: type, params: Mapping[str, Any], name: str) -> Any:
    """``params[name]``, else the constructor's default for it (None when it has none)."""
    if name in params:
        return params[name]
    parameter = inspect.signature(cls.__init__).parameters.get(name)
    empty = parameter is None or parameter.default is inspect.Parameter.empty
    return None if empty else parameter.default


def onehot_not_applicable(
    cls: type[PerturbationModel], unseen: str | None, params: Mapping[str, Any]
) -> str | None:
    """Why a model whose perturbations are its ``features``/``embedding`` parameters (the
    featuriser's) cannot be scored where the test perturbations are unseen, or None: one-hot
    indicators exist only for training targets, so an unseen perturbation has no representation
    and every one gets the same prediction."""
    kind, embedding = _param_value(cls, params, "features"), _param_value(cls, params, "embedding")
    if unseen != "perturbation" or represents_unseen_targets(kind, embedding):
        return None
    given = f"features={kind!r}" if kind == "onehot" else f"embedding={embedding!r}"
    return (
        f"{given}: one-hot perturbation features represent training targets only, so an unseen "
        "perturbation has none; give features='onehot+embedding' to score it here"
    )
