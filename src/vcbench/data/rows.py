"""Read sets of rows of an AnnData's X, in memory or backed, reading a backed file by row ranges.

anndata's backed indexing with an array of rows reads the file row by row (and checks package
versions on every call); a condition's cells are usually one contiguous range of the file. A
``RowReader`` reads each run of consecutive rows as one slice of the file's CSR arrays (or of the
dense dataset), so a condition costs a few reads whatever its size. The values are the same as
``X[rows]``.
"""

from __future__ import annotations

import anndata as ad
import h5py
import numpy as np
from scipy import sparse

Block = np.ndarray | sparse.csr_matrix

# a backed read covers the whole span min(rows) … max(rows) when it holds at most this many
# times the rows asked for; otherwise one read per run of consecutive rows (scattered samples)
SPAN_FACTOR = 4


class RowReader:
    """``rows(index)`` = ``X[sorted(index)]`` of an AnnData (backed or not), as read from X."""

    def __init__(self, adata: ad.AnnData) -> None:
        self._x = adata.X
        self._csr: tuple[h5py.Dataset, h5py.Dataset, np.ndarray] | None = None
        if adata.isbacked and isinstance(self._x, ad.abc.CSRDataset):
            group = self._x.group  # type: ignore[attr-defined]
            self._csr = (group["data"], group["indices"], np.asarray(group["indptr"][...]))

    def _span(self, start: int, stop: int) -> Block:
        if self._csr is None:
            return self._x[start:stop]
        data, indices, indptr = self._csr
        first, last = int(indptr[start]), int(indptr[stop])
        return sparse.csr_matrix(
            (data[first:last], indices[first:last], indptr[start : stop + 1] - first),
            shape=(stop - start, self._x.shape[1]),
        )

    def rows(self, index: np.ndarray) -> Block:
        """The rows ``index`` (sorted ascending, no repeats) of X, in that order."""
        index = np.asarray(index, dtype=np.int64)
        if not isinstance(self._x, h5py.Dataset) and self._csr is None:
            return self._x[index]  # in memory (or a backed format read by anndata)
        if index.size == 0:
            return self._span(0, 0)
        low, high = int(index[0]), int(index[-1]) + 1
        if high - low <= SPAN_FACTOR * index.size:
            block = self._span(low, high)
            return block if high - low == index.size else block[index - low]
        breaks = np.flatnonzero(np.diff(index) != 1) + 1
        parts = [self._span(int(run[0]), int(run[-1]) + 1) for run in np.split(index, breaks)]
        return sparse.vstack(parts, format="csr") if self._csr is not None else np.vstack(parts)
