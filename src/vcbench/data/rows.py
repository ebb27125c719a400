"""Read sets of rows of an AnnData's X, in memory or backed, reading a backed file by row ranges.

anndata's backed indexing with an array of rows reads the file row by row (and checks package
versions on every call); a condition's cells are usually one contiguous range of the file. A
``RowReader`` reads each run of consecutive rows as one slice of the file's CSR arrays (or of the
dense dataset), so a condition costs a few reads whatever its size. The values are the same as
``X[rows]``. It reads an AnnData or an ``H5adFile`` (``vcbench.data.h5ad_file.open_h5ad``).
"""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np
from scipy import sparse

from vcbench.data.h5ad_file import SPAN_FACTOR, CSRFile, is_anndata_backed_sparse, rows_by_runs

Block = np.ndarray | sparse.csr_matrix
__all__ = ["SPAN_FACTOR", "Block", "RowReader"]


class RowReader:
    """``rows(index)`` = ``X[sorted(index)]`` of an AnnData or H5adFile (backed or not)."""

    def __init__(self, adata: Any) -> None:
        self._x = adata.X
        self._csr: CSRFile | None = None
        if isinstance(self._x, CSRFile):
            self._csr = self._x
        elif adata.isbacked and is_anndata_backed_sparse(self._x) and self._x.format == "csr":
            self._csr = CSRFile(self._x.group)

    def _span(self, start: int, stop: int) -> Block:
        if self._csr is None:
            return self._x[start:stop]
        return self._csr.span(start, stop)

    def rows(self, index: np.ndarray) -> Block:
        """The rows ``index`` (sorted ascending, no repeats) of X, in that order."""
        index = np.asarray(index, dtype=np.int64)
        if not isinstance(self._x, h5py.Dataset) and self._csr is None:
            return self._x[index]  # in memory (or a backed format read by anndata)
        return rows_by_runs(self._span, index, sparse_rows=self._csr is not None)
