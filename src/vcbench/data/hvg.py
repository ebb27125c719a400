"""Highly variable gene selection on a given subset of cells.

``select_hvgs`` computes them on the cells it is given only (in a benchmark, the training cells
of a split), so that nothing about held-out cells' expression reaches the gene selection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import anndata as ad
import numpy as np
import pandas as pd
import scanpy as sc
from scipy import sparse

from vcbench.data.contract import COMBINATION_DELIMITER, COUNTS_LAYER, TARGETS
from vcbench.errors import DataContractError

HVGFlavor = Literal["seurat", "cell_ranger", "seurat_v3"]
_HVG_FLAVORS: tuple[str, ...] = ("seurat", "cell_ranger", "seurat_v3")


def select_hvgs(
    adata: ad.AnnData,
    n_top_genes: int = 2000,
    cells: Sequence[bool] | Sequence[str] | np.ndarray | pd.Index | pd.Series | None = None,
    *,
    flavor: HVGFlavor = "seurat",
    keep_perturbed_genes: bool = True,
) -> pd.Index:
    """The highly variable genes of ``adata``, computed on the given cells only.

    The genes are those that ``scanpy.pp.highly_variable_genes(flavor=flavor,
    n_top_genes=n_top_genes)`` selects on the chosen cells (``"seurat"`` and ``"cell_ranger"`` read
    log-normalised ``X``; ``"seurat_v3"`` reads ``layers["counts"]`` and needs scikit-misc). Genes
    that are constant in the chosen cells carry no variability and are never selected: they are left
    out before scanpy runs. When no more than ``n_top_genes`` genes vary, all varying genes are
    selected; when ``n_top_genes >= adata.n_vars`` every gene is returned.

    With ``keep_perturbed_genes``, every perturbed gene that is measured (a name in ``var_names``)
    is added. The perturbed genes are read from ``vcb_targets`` of *all* cells: which genes were
    targeted is part of the experimental design, not expression, so using every cell here leaks no
    information about held-out cells' responses.

    Args:
        adata: a standardised AnnData.
        n_top_genes: how many highly variable genes to select (at least 1).
        cells: the cells to compute on: a boolean mask over ``obs`` or a list of obs names; ``None``
            means every cell. In a benchmark these are the training cells of a split.
        flavor: ``"seurat"``, ``"cell_ranger"`` or ``"seurat_v3"``.
        keep_perturbed_genes: add the measured perturbed genes to the selection.

    Returns:
        The selected gene names, in ``var`` order.
    """
    if isinstance(n_top_genes, bool) or not isinstance(n_top_genes, int | np.integer):
        raise DataContractError(
            f"n_top_genes must be a whole number, got {n_top_genes!r}. Pass an int such as 2000."
        )
    if n_top_genes < 1:
        raise DataContractError(
            f"n_top_genes must be at least 1, got {n_top_genes}. Pass the number of highly variable "
            "genes to select (e.g. 2000)."
        )
    if flavor not in _HVG_FLAVORS:
        raise DataContractError(
            f"Unknown HVG flavor {flavor!r}. Use one of {', '.join(map(repr, _HVG_FLAVORS))}."
        )
    if flavor == "seurat_v3" and COUNTS_LAYER not in adata.layers:
        raise DataContractError(
            f"flavor='seurat_v3' ranks genes on raw counts, but this dataset has no "
            f"layers[{COUNTS_LAYER!r}]. Load the raw-count file of the dataset (load_dataset keeps "
            "its counts in layers['counts']), or use flavor='seurat' on the log-normalised X."
        )
    mask = _cell_mask(adata, cells)
    n_cells = int(mask.sum())
    if n_cells == 0:
        raise DataContractError(
            "No cells were selected for HVG selection (the `cells` mask or list selects none of "
            f"the {adata.n_obs} cells). Pass a non-empty selection, or cells=None to use every cell."
        )

    if n_top_genes >= adata.n_vars:
        selected = np.ones(adata.n_vars, dtype=bool)
    else:
        selected = _hvg_mask(adata, np.flatnonzero(mask), n_top_genes, flavor)

    if keep_perturbed_genes:
        selected |= adata.var_names.isin(_perturbed_genes(adata))
    return adata.var_names[selected]


def _cell_mask(adata: ad.AnnData, cells: object) -> np.ndarray:
    """A boolean mask over ``adata.obs`` from ``None``, a boolean mask, or obs names."""
    if cells is None:
        return np.ones(adata.n_obs, dtype=bool)
    if isinstance(cells, pd.Series) and pd.api.types.is_bool_dtype(cells.dtype):
        if not cells.index.equals(adata.obs_names):
            if not cells.index.isin(adata.obs_names).all() or len(cells) != adata.n_obs:
                raise DataContractError(
                    "The boolean `cells` Series is indexed by names that are not the obs names of "
                    "the dataset. Pass a mask indexed by adata.obs_names (or a plain array in obs "
                    "order)."
                )
            cells = cells.reindex(adata.obs_names)
        return cells.to_numpy(dtype=bool)
    values = np.asarray(cells)
    if values.ndim != 1:
        raise DataContractError(
            f"`cells` must be one-dimensional (a boolean mask or a list of obs names), got shape "
            f"{values.shape}."
        )
    if values.dtype == bool:
        if values.size != adata.n_obs:
            raise DataContractError(
                f"The boolean `cells` mask has {values.size} entries but the dataset has "
                f"{adata.n_obs} cells. Pass one entry per cell, in obs order."
            )
        return values
    if values.size and values.dtype.kind not in "OUS":
        raise DataContractError(
            f"`cells` holds {values.dtype} values; pass a boolean mask over obs or a list of obs "
            "names (positions are not accepted, to avoid confusing them with names)."
        )
    names = pd.Index(values.astype(str))
    missing = names[~names.isin(adata.obs_names)]
    if len(missing):
        shown = ", ".join(map(repr, missing[:5].tolist()))
        raise DataContractError(
            f"{len(missing)} of the `cells` names are not obs names of the dataset (e.g. {shown}). "
            "Pass names from adata.obs_names, or a boolean mask."
        )
    return adata.obs_names.isin(names)


def _hvg_mask(adata: ad.AnnData, rows: np.ndarray, n_top_genes: int, flavor: str) -> np.ndarray:
    """Boolean mask over genes: scanpy's HVGs on ``rows``, constant genes left out first."""
    source = adata.layers[COUNTS_LAYER] if flavor == "seurat_v3" else adata.X
    matrix = source[rows]
    varying = _varying_columns(matrix)
    selected = np.zeros(adata.n_vars, dtype=bool)
    if varying.sum() <= n_top_genes:
        selected[varying] = True
        return selected
    kept = matrix[:, np.flatnonzero(varying)]
    # scanpy handles CSR (matrix class) and dense input; CSC and sparse arrays are converted
    sub = ad.AnnData(X=sparse.csr_matrix(kept) if sparse.issparse(kept) else np.asarray(kept))
    sub.var_names = adata.var_names[varying]
    try:
        result = sc.pp.highly_variable_genes(
            sub, n_top_genes=n_top_genes, flavor=flavor, inplace=False
        )
    except ImportError as error:  # seurat_v3 needs scikit-misc
        raise ImportError(
            f"flavor={flavor!r} needs a package that is not installed ({error}). Install it "
            "(pip install scikit-misc for seurat_v3) or use flavor='seurat'."
        ) from error
    selected[varying] = np.asarray(result["highly_variable"], dtype=bool)
    return selected


def _varying_columns(matrix: np.ndarray | sparse.spmatrix | sparse.sparray) -> np.ndarray:
    """Which columns take more than one value (exact comparison of minimum and maximum)."""
    if sparse.issparse(matrix):
        low = _dense_1d(matrix.min(axis=0))
        high = _dense_1d(matrix.max(axis=0))
    else:
        values = np.asarray(matrix)
        low, high = values.min(axis=0), values.max(axis=0)
    return high > low


def _dense_1d(values: object) -> np.ndarray:
    if sparse.issparse(values):
        values = values.toarray()
    return np.asarray(values).ravel()


def _perturbed_genes(adata: ad.AnnData) -> set[str]:
    """Every gene or compound named in ``vcb_targets`` of any cell."""
    if TARGETS not in adata.obs.columns:
        raise DataContractError(
            f"keep_perturbed_genes needs the standard column obs[{TARGETS!r}], which is missing. "
            "Load the data with vcbench.data.load_dataset, or pass keep_perturbed_genes=False."
        )
    genes: set[str] = set()
    for joined in pd.unique(adata.obs[TARGETS].astype(str)):
        genes.update(part for part in joined.split(COMBINATION_DELIMITER) if part)
    return genes
