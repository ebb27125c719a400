"""Read the kept cells and genes of X in chunks of cells, with the per-cell QC on the way.

The file may be open in backed mode (``anndata.read_h5ad(path, backed="r")``): only one chunk
of rows (``chunk_cells`` of the file's cells) is in memory besides the kept result, so a file
larger than memory is prepared within about the size of what it keeps. Per cell: genes detected
(``min_genes_per_cell``), total counts and the mitochondrial fraction (raw counts only); per gene:
the number of kept cells it is detected in, for ``min_cells_per_gene`` afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from vcbench.datasets.registry import QC
from vcbench.errors import DataContractError

CHUNK_CELLS = 20_000


@dataclass
class MatrixPass:
    """The kept matrix, which of the requested rows survived the per-cell QC, per-gene detection,
    whether X holds raw counts, and the logged steps."""

    matrix: Any
    kept_rows: np.ndarray  # positions (in the file) of the cells kept
    cells_per_gene: np.ndarray
    counts: bool
    log: list[dict[str, Any]]


def _block(x: Any, start: int, stop: int) -> Any:
    block = x[start:stop]
    if sparse.issparse(block):
        return sparse.csr_matrix(block)
    return np.asarray(block)


def _is_integral(block: Any) -> bool:
    values = block.data if sparse.issparse(block) else np.asarray(block).ravel()
    return bool(np.all(np.mod(values, 1) == 0))


def _row_stats(block: Any, mito: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if sparse.issparse(block):
        detected = np.asarray((block > 0).sum(axis=1)).ravel()
        totals = np.asarray(block.sum(axis=1)).ravel()
        mito_counts = np.asarray(block[:, mito].sum(axis=1)).ravel() if mito.any() else 0 * totals
    else:
        detected = (block > 0).sum(axis=1)
        totals = block.sum(axis=1)
        mito_counts = block[:, mito].sum(axis=1) if mito.any() else 0 * totals
    return detected, np.asarray(totals, dtype=float), np.asarray(mito_counts, dtype=float)


def _detected_per_gene(block: Any, n_genes: int) -> np.ndarray:
    if sparse.issparse(block):
        return np.bincount(block.indices[block.data > 0], minlength=n_genes)
    return (block > 0).sum(axis=0)


def read_matrix(
    x: Any,
    rows: np.ndarray,
    genes: np.ndarray,
    mito: np.ndarray,
    qc: QC,
    chunk_cells: int = CHUNK_CELLS,
) -> MatrixPass:
    """Rows ``rows`` (sorted positions) and columns ``genes`` of ``x``, after the per-cell QC.

    ``mito`` flags the mitochondrial genes among the selected columns. Count-based steps are
    skipped (and logged as skipped) when X is not raw counts, which the first chunk with values
    decides; a later chunk that disagrees is an error.
    """
    n_rows = x.shape[0]
    blocks: list[Any] = []
    kept: list[np.ndarray] = []
    cells_per_gene = np.zeros(len(genes), dtype=np.int64)
    counts: bool | None = None
    dropped = {"genes": 0, "counts": 0}
    count_qc = bool(qc.min_counts_per_cell) or qc.max_mito_fraction is not None
    for start in range(0, n_rows, chunk_cells):
        stop = min(start + chunk_cells, n_rows)
        wanted = rows[(rows >= start) & (rows < stop)]
        if not len(wanted):
            continue
        block = _block(x, start, stop)[wanted - start][:, genes]
        has_values = block.nnz if sparse.issparse(block) else block.size
        if has_values:
            integral = _is_integral(block)
            if counts is None:
                counts = integral
            elif counts and not integral:
                raise DataContractError(
                    "X holds whole numbers in its first cells and fractions later, so it is "
                    "neither raw counts nor normalised values. Check the file (or its layer)."
                )
        detected, totals, mito_counts = _row_stats(block, mito)
        keep = detected >= qc.min_genes_per_cell
        dropped["genes"] += int((~keep).sum())
        if count_qc and counts:
            by_counts = totals >= qc.min_counts_per_cell
            if qc.max_mito_fraction is not None:
                with np.errstate(invalid="ignore", divide="ignore"):
                    fraction = np.where(totals > 0, mito_counts / np.maximum(totals, 1e-300), 0.0)
                by_counts &= fraction <= qc.max_mito_fraction
            dropped["counts"] += int((keep & ~by_counts).sum())
            keep &= by_counts
        block = block[keep]
        cells_per_gene += _detected_per_gene(block, len(genes))
        blocks.append(block)
        kept.append(wanted[keep])
    kept_rows = np.concatenate(kept) if kept else np.zeros(0, dtype=np.int64)
    log: list[dict[str, Any]] = []
    before = len(rows)
    if qc.min_genes_per_cell:
        log.append(
            {
                "step": f"genes per cell >= {qc.min_genes_per_cell}",
                "cells_before": before,
                "cells_after": before - dropped["genes"],
                "dropped": dropped["genes"],
            }
        )
        before -= dropped["genes"]
    if count_qc:
        if counts:
            log.append(
                {
                    "step": f"counts per cell >= {qc.min_counts_per_cell}, mito fraction <= "
                    f"{qc.max_mito_fraction}",
                    "cells_before": before,
                    "cells_after": before - dropped["counts"],
                    "dropped": dropped["counts"],
                }
            )
        else:
            log.append({"step": "count-based QC skipped: X is not raw counts"})
    if not blocks:
        matrix: Any = sparse.csr_matrix((0, len(genes)), dtype=np.float32)
    elif sparse.issparse(blocks[0]):
        matrix = stack_rows(blocks, len(genes))
    else:
        matrix = np.vstack(blocks)
    return MatrixPass(matrix, kept_rows, cells_per_gene, bool(counts), log)


def stack_rows(blocks: list[sparse.csr_matrix], n_genes: int) -> sparse.csr_matrix:
    """Stack CSR blocks row-wise, freeing each block once copied (``blocks`` is emptied).

    The result's arrays are allocated empty and filled block by block, so memory holds about one
    copy of the data (the pages of the result are committed as the blocks are released), not the
    two of ``scipy.sparse.vstack``.
    """
    n_rows = sum(block.shape[0] for block in blocks)
    nnz = sum(block.nnz for block in blocks)
    index_type = np.int64 if nnz > np.iinfo(np.int32).max else np.int32
    data = np.empty(nnz, dtype=blocks[0].dtype)
    indices = np.empty(nnz, dtype=index_type)
    indptr = np.empty(n_rows + 1, dtype=index_type)
    indptr[0] = 0
    row = value = 0
    while blocks:
        block = blocks.pop(0)
        rows, size = block.shape[0], block.nnz
        data[value : value + size] = block.data
        indices[value : value + size] = block.indices
        indptr[row + 1 : row + rows + 1] = block.indptr[1:] + value
        row += rows
        value += size
        del block
    return sparse.csr_matrix((data, indices, indptr), shape=(n_rows, n_genes))


__all__ = ["CHUNK_CELLS", "MatrixPass", "read_matrix", "stack_rows"]
