"""A cell embedding computed from training cells only, for models that take one as input.

A real single-cell foundation-model embedding (scGPT, Geneformer, Stack, ...) is computed outside
vcbench, per cell, and stored in ``adata.obsm``. None can be downloaded here, so tests and the demo
use a stand-in that cannot leak test cells: a PCA fitted on the training cells' log-normalised
expression (centred on their mean) and applied to every cell. A benchmark spec asks for it with
``cell_embedding_key: vcb_train_pca``; the runner then computes it for each split on that split's
training cells and genes (docs/representations.md).
"""

from __future__ import annotations

import anndata as ad
import numpy as np

from vcbench.errors import DataContractError

TRAIN_PCA_KEY = "vcb_train_pca"  # the obsm key the runner fills with ``train_pca_embedding``
DEFAULT_COMPONENTS = 50


def train_pca_embedding(
    adata: ad.AnnData,
    train: np.ndarray,
    n_components: int = DEFAULT_COMPONENTS,
    seed: int = 0,
) -> np.ndarray:
    """The PCA embedding of every cell of ``adata`` (cells × components, float32), the principal
    axes and the centre fitted on the cells where ``train`` is true only.

    ``n_components`` is capped at the number of training cells minus one and of genes.
    """
    from sklearn.decomposition import PCA

    train = np.asarray(train, dtype=bool)
    if train.shape != (adata.n_obs,):
        raise DataContractError(
            f"train must be a boolean mask of the {adata.n_obs} cells, got shape {train.shape}."
        )
    n_train = int(train.sum())
    if n_train < 2:
        raise DataContractError(
            f"A training-cell PCA needs at least 2 training cells, got {n_train}."
        )
    if n_components < 1:
        raise DataContractError(f"n_components must be at least 1, got {n_components}.")
    k = min(n_components, n_train - 1, adata.n_vars)
    x = adata.X
    dense = np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=np.float32)
    pca = PCA(n_components=k, svd_solver="auto", random_state=seed).fit(dense[train])
    return pca.transform(dense).astype(np.float32)
