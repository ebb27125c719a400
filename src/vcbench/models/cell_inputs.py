"""A cell embedding as a model's cell input (the seed paper's Fig. 2d–e arm "with cell embeddings").

A model that takes the parameter ``cell_embedding_key`` reads ``obsm[cell_embedding_key]`` (cells ×
dimensions, e.g. a scGPT, Geneformer or Stack embedding computed elsewhere) of its training cells
and of the query's control cells, and feeds it to its networks where it would otherwise feed a cell's
expression ``x`` as the *cell input*; it still predicts expression over the training genes (each
model's docstring says where the embedding enters). ``None`` (default): the cell input is ``x``.

The models that can: ``CELL_EMBEDDING_MODELS`` (the five the paper runs with cell embeddings). Any
other model given the key is refused with ``cell_embedding_error``. The demo and the tests use
``vcbench.data.cell_embedding.train_pca_embedding`` (a PCA fitted on training cells only).
"""

from __future__ import annotations

import inspect

import anndata as ad
import numpy as np

from vcbench.errors import ModelError

CELL_EMBEDDING_PARAM = "cell_embedding_key"
CELL_EMBEDDING_MODELS = ("biolord", "cpa", "latent_additive", "prnet", "state")


def accepts_cell_embedding(cls: type) -> bool:
    """Whether a model class takes ``cell_embedding_key`` in its constructor."""
    return CELL_EMBEDDING_PARAM in inspect.signature(cls.__init__).parameters


def cell_embedding_error(model: str) -> str:
    """The one-line refusal of a model that cannot take a cell embedding."""
    return (
        f"{model} cannot take a cell embedding ({CELL_EMBEDDING_PARAM}); the models that can: "
        f"{', '.join(CELL_EMBEDDING_MODELS)}. Remove {CELL_EMBEDDING_PARAM} from its params."
    )


def cell_embedding(adata: ad.AnnData, key: str, model: str, width: int | None = None) -> np.ndarray:
    """``adata.obsm[key]`` as a float32 matrix (cells × dimensions), checked: present, 2-d with one
    row per cell, at least one column (``width`` columns when given: the training embedding's, for
    the query controls), finite."""
    if key not in adata.obsm:
        from vcbench.suggest import did_you_mean

        keys = list(adata.obsm)
        raise ModelError(
            f"{model}: cell_embedding_key {key!r} is not in the data's obsm"
            f"{did_you_mean(key, keys)} (obsm keys: {keys}); store the embedding in "
            f"obsm[{key!r}] or use 'vcb_train_pca' in the spec (docs/representations.md)."
        )
    values = adata.obsm[key]
    values = values.toarray() if hasattr(values, "toarray") else np.asarray(values)
    if values.ndim != 2 or values.shape[0] != adata.n_obs or values.shape[1] < 1:
        raise ModelError(
            f"{model}: obsm[{key!r}] has shape {values.shape}; a cell embedding needs one row per "
            f"cell ({adata.n_obs}) and at least one column."
        )
    if width is not None and values.shape[1] != width:
        raise ModelError(
            f"{model}: obsm[{key!r}] of the query controls has {values.shape[1]} dimensions, the "
            f"training cells' {width}; use the same embedding for both."
        )
    try:
        values = values.astype(np.float32)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{model}: obsm[{key!r}] is not numeric ({exc}).") from exc
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        raise ModelError(
            f"{model}: obsm[{key!r}] has NaN or infinite values in {int(bad.sum())} cells (e.g. "
            f"{list(adata.obs_names[bad][:3])}); recompute or drop those cells."
        )
    return values
