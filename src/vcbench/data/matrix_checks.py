"""Checks of an AnnData's expression matrix and gene names, each raising a clear error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import h5py
import numpy as np
from scipy import sparse

from vcbench.data.h5ad_file import CSRFile, is_anndata_backed_sparse
from vcbench.errors import DataContractError

if TYPE_CHECKING:
    import anndata as ad


def stored_values(matrix: np.ndarray | sparse.spmatrix | sparse.sparray) -> np.ndarray:
    """The explicitly stored values of a matrix (the non-zero structure of a sparse one), flat."""
    if sparse.issparse(matrix):
        return np.asarray(matrix.data)
    return np.asarray(matrix).ravel()


CHUNK_VALUES = 1 << 18  # values per chunk of a check: temporaries of about 1 MB, not of X's size


def value_chunks(matrix: object) -> Iterator[np.ndarray]:
    """The stored values of a matrix in consecutive flat chunks (views where possible).

    A backed matrix (an ``h5py.Dataset``, a ``CSRFile`` of ``open_h5ad``, or the sparse X of an
    AnnData opened with ``backed="r"``) is read chunk by chunk from the file, never whole.
    """
    if isinstance(matrix, h5py.Dataset):  # backed dense X: blocks of whole rows
        n_rows, n_columns = matrix.shape
        step = max(1, CHUNK_VALUES // max(n_columns, 1))
        for start in range(0, n_rows, step):
            yield np.asarray(matrix[start : start + step]).ravel()
        return
    if isinstance(matrix, CSRFile) or is_anndata_backed_sparse(matrix):  # backed sparse X
        data = matrix.data if isinstance(matrix, CSRFile) else matrix.group["data"]  # type: ignore[attr-defined]
        for start in range(0, data.shape[0], CHUNK_VALUES):
            yield np.asarray(data[start : start + CHUNK_VALUES])
        return
    values = stored_values(matrix)  # type: ignore[arg-type]
    for start in range(0, values.size, CHUNK_VALUES):
        yield values[start : start + CHUNK_VALUES]


def check_not_empty(adata: ad.AnnData) -> None:
    """Error when the matrix has no cells, no genes, or no non-zero value."""
    n_obs, n_vars = adata.shape
    if n_obs == 0 or n_vars == 0:
        raise DataContractError(
            f"The expression matrix is empty ({n_obs} cells × {n_vars} genes). "
            "Load a file that contains cells and genes, or check the filtering that produced it."
        )
    if not any(np.any(chunk) for chunk in value_chunks(adata.X)):
        raise DataContractError(
            f"The expression matrix ({n_obs} cells × {n_vars} genes) holds only zeros. "
            "Check that X holds the expression values (or pass `layer=` naming the layer that does)."
        )


def check_unique_genes(adata: ad.AnnData) -> None:
    """Error when gene names (``var_names``) repeat."""
    duplicated = adata.var_names[adata.var_names.duplicated()].unique()
    if len(duplicated):
        shown = ", ".join(map(str, duplicated[:10]))
        raise DataContractError(
            f"{len(duplicated)} gene names appear more than once in var_names (e.g. {shown}). "
            "Make them unique (adata.var_names_make_unique()) or sum the duplicated genes first."
        )


def check_unique_cells(adata: ad.AnnData) -> None:
    """Error when cell names (``obs_names``) repeat: splits and predictions map cells by name."""
    duplicated = adata.obs_names[adata.obs_names.duplicated()].unique()
    if len(duplicated):
        shown = ", ".join(map(str, duplicated[:5]))
        raise DataContractError(
            f"{len(duplicated)} cell names appear more than once in obs_names (e.g. {shown}); "
            "splits assign cells by name, so each must be unique. Make them unique first "
            "(adata.obs_names_make_unique())."
        )


IMPLAUSIBLE_ABOVE = 1e15
IMPLAUSIBLE_BELOW = 1e-30


def check_plausible(values: np.ndarray) -> None:
    """Error when non-zero values lie outside every expression scale (magnitude above
    ``IMPLAUSIBLE_ABOVE`` or below ``IMPLAUSIBLE_BELOW``): the bytes of a damaged file."""
    with np.errstate(invalid="ignore", over="ignore"):
        magnitude = np.abs(values[np.isfinite(values) & (values != 0)])
    odd = magnitude[(magnitude > IMPLAUSIBLE_ABOVE) | (magnitude < IMPLAUSIBLE_BELOW)]
    if odd.size:
        raise DataContractError(
            f"The expression matrix holds {odd.size} values that no expression data has "
            f"(magnitudes from {odd.min():.3g} to {odd.max():.3g}): the file is probably "
            "corrupted (damaged bytes). Download or write the file again."
        )


def check_finite_non_negative(adata: ad.AnnData) -> None:
    """Error when the matrix holds implausible (corrupt), NaN, infinite or negative values."""
    n_nan = n_inf = n_negative = 0
    minimum = np.inf
    for chunk in value_chunks(adata.X):
        check_plausible(chunk)
        n_nan += int(np.isnan(chunk).sum())
        n_inf += int(np.isinf(chunk).sum())
        negative = chunk < 0
        if negative.any():
            n_negative += int(negative.sum())
            minimum = min(minimum, float(chunk[negative].min()))
    if n_nan or n_inf:
        raise DataContractError(
            f"The expression matrix holds {n_nan} NaN and {n_inf} infinite values. "
            "Remove or impute them before loading (expression must be finite)."
        )
    if n_negative:
        raise DataContractError(
            f"The expression matrix holds {n_negative} negative values (minimum {minimum:.4g}). "
            "vcbench expects raw counts or log1p-normalised expression, which are never negative; "
            "pass the data before scaling/centering (e.g. adata.raw or a counts layer)."
        )
