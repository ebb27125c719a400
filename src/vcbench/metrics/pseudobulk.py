"""Per-group mean expression without densifying the whole matrix."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse


def group_means(adata: ad.AnnData, keys: list[str]) -> tuple[pd.MultiIndex, np.ndarray]:
    """Mean of X over the cells of each group of ``obs[keys]`` (groups sorted by key values).

    Computed as a sparse indicator matrix product, so memory is one dense row per group.
    """
    frame = adata.obs[keys].astype(str)
    groups = pd.MultiIndex.from_frame(frame)
    unique = groups.unique().sort_values()
    codes = unique.get_indexer(groups)
    indicator = sparse.csr_matrix(
        (np.ones(len(codes)), (codes, np.arange(len(codes)))), shape=(len(unique), len(codes))
    )
    sums = indicator @ adata.X
    sums = sums.toarray() if sparse.issparse(sums) else np.asarray(sums)
    counts = np.asarray(indicator.sum(axis=1)).ravel()
    return unique, sums / counts[:, None]
