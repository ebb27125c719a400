"""A content fingerprint of a standardised dataset, recorded in splits and results."""

from __future__ import annotations

import hashlib

import anndata as ad
import numpy as np
from scipy import sparse

from vcbench.data.contract import STANDARD_COLUMNS


def fingerprint(adata: ad.AnnData) -> str:
    """sha256 over the shape, cell and gene names, the standard obs columns and the values of X."""
    digest = hashlib.sha256()
    digest.update(repr(adata.shape).encode())
    for names in (adata.obs_names, adata.var_names):
        digest.update("\x1f".join(map(str, names)).encode())
    for column in STANDARD_COLUMNS:
        if column in adata.obs:
            digest.update("\x1f".join(adata.obs[column].astype(str)).encode())
    matrix = adata.X
    if sparse.issparse(matrix):
        csr = sparse.csr_matrix(matrix)
        csr.sort_indices()
        for part in (csr.indptr, csr.indices, csr.data):
            digest.update(np.ascontiguousarray(part).tobytes())
    else:
        digest.update(np.ascontiguousarray(matrix).tobytes())
    return digest.hexdigest()
