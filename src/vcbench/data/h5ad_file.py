"""Open an ``.h5ad`` file with h5py alone: obs, var and X (left in the file), without anndata.

Importing anndata imports dask, zarr, xarray and ``sparse`` where they are installed (34 MiB and
0.6 s of CPU measured); ``vcbench evaluate`` needs none of them. ``open_h5ad`` reads anndata's on-disk format
(the ``encoding-type`` attributes): a ``dataframe`` obs and var whose columns are numeric, boolean
or string arrays, categoricals (codes and categories) or nullable integers or booleans;
an X that is a dense dataset or a ``csr_matrix`` group; and from uns only the entries named in
``uns_keys``. The obs and var frames equal ``anndata.read_h5ad``'s (tested). A file in any other
layout (an old anndata format, a CSC X, another column encoding) gives ``None``, and the caller
reads it with anndata.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
from scipy import sparse


def is_anndata(value: object) -> bool:
    """Whether ``value`` is an AnnData (without importing anndata: none exists before its import)."""
    anndata = sys.modules.get("anndata")
    return anndata is not None and isinstance(value, anndata.AnnData)


def is_anndata_backed_sparse(value: object) -> bool:
    """Whether ``value`` is an X of an AnnData opened backed, stored sparse (CSR or CSC)."""
    anndata = sys.modules.get("anndata")
    return anndata is not None and isinstance(
        value, anndata.abc.CSRDataset | anndata.abc.CSCDataset
    )


class UnknownLayout(Exception):
    """The file uses an encoding this reader does not read (the caller falls back to anndata)."""


# a read of rows covers the whole span min(rows) … max(rows) when it holds at most this many
# times the rows asked for; otherwise one read per run of consecutive rows (scattered samples)
SPAN_FACTOR = 4


def rows_by_runs(
    span: Callable[[int, int], Any], index: np.ndarray, *, sparse_rows: bool
) -> np.ndarray | sparse.csr_matrix:
    """The rows ``index`` (ascending, no repeats) of a stored matrix whose ``span(start, stop)``
    reads rows ``start:stop``: one read of the span, or one per run of consecutive rows."""
    if index.size == 0:
        return span(0, 0)
    low, high = int(index[0]), int(index[-1]) + 1
    if high - low <= SPAN_FACTOR * index.size:
        block = span(low, high)
        return block if high - low == index.size else block[index - low]
    breaks = np.flatnonzero(np.diff(index) != 1) + 1
    parts = [span(int(run[0]), int(run[-1]) + 1) for run in np.split(index, breaks)]
    return sparse.vstack(parts, format="csr") if sparse_rows else np.vstack(parts)


class CSRFile:
    """A CSR matrix stored in an .h5ad group (``data``, ``indices``, ``indptr``), read by rows."""

    def __init__(self, group: h5py.Group) -> None:
        self.data: h5py.Dataset = group["data"]
        self.indices: h5py.Dataset = group["indices"]
        self.indptr = np.asarray(group["indptr"][...])
        self.shape = (int(group.attrs["shape"][0]), int(group.attrs["shape"][1]))
        self.dtype = self.data.dtype

    def span(self, start: int, stop: int) -> sparse.csr_matrix:
        """Rows ``start:stop`` as one read of the stored arrays."""
        first, last = int(self.indptr[start]), int(self.indptr[stop])
        return sparse.csr_matrix(
            (
                self.data[first:last],
                self.indices[first:last],
                self.indptr[start : stop + 1] - first,
            ),
            shape=(stop - start, self.shape[1]),
        )

    def __getitem__(self, index: slice | np.ndarray) -> sparse.csr_matrix:
        """Rows by a slice (step 1) or by an ascending array of row numbers."""
        if isinstance(index, slice):
            start, stop, step = index.indices(self.shape[0])
            if step != 1:
                raise IndexError("CSRFile reads row slices with step 1 only")
            return self.span(start, max(start, stop))
        return rows_by_runs(self.span, np.asarray(index, dtype=np.int64), sparse_rows=True)

    def to_memory(self) -> sparse.csr_matrix:
        """The whole matrix, read into memory."""
        return self.span(0, self.shape[0])


class H5adFile:
    """What ``open_h5ad`` read: ``obs``, ``var``, ``uns`` (the entries asked for) and ``X``.

    ``X`` is an ``h5py.Dataset`` (dense) or a ``CSRFile`` when ``isbacked``, else an array or a
    CSR matrix in memory. The attributes used by ``load_dataset`` and ``evaluate`` have AnnData's
    names (``obs_names``, ``var_names``, ``n_obs``, ``n_vars``, ``shape``, ``isbacked``).
    """

    def __init__(
        self,
        obs: pd.DataFrame,
        var: pd.DataFrame,
        x: Any,
        uns: dict[str, Any],
        file: h5py.File | None,
        filename: Path,
    ) -> None:
        self.obs, self.var, self.X, self.uns = obs, var, x, uns
        self.file, self.filename = file, filename

    @property
    def isbacked(self) -> bool:
        return self.file is not None

    @property
    def obs_names(self) -> pd.Index:
        return self.obs.index

    @property
    def var_names(self) -> pd.Index:
        return self.var.index

    @property
    def n_obs(self) -> int:
        return len(self.obs)

    @property
    def n_vars(self) -> int:
        return len(self.var)

    @property
    def shape(self) -> tuple[int, int]:
        return self.n_obs, self.n_vars

    def __repr__(self) -> str:
        where = "backed" if self.isbacked else "in memory"
        return f"H5adFile({self.filename}, {self.n_obs} × {self.n_vars}, X {where})"


def _encoding(obj: h5py.Group | h5py.Dataset) -> str:
    value = obj.attrs.get("encoding-type", "")
    return value.decode() if isinstance(value, bytes) else str(value)


def _strings(dataset: h5py.Dataset) -> np.ndarray:
    return np.asarray(dataset.asstr()[...], dtype=object)


def _array(obj: h5py.Group | h5py.Dataset) -> Any:
    """One obs/var column (or an index) as anndata reads it."""
    kind = _encoding(obj)
    if kind == "string-array":
        return _strings(obj)
    if kind == "array":
        return np.asarray(obj[...])
    if kind == "categorical":
        categories = pd.Index(_array(obj["categories"]))
        return pd.Categorical.from_codes(
            np.asarray(obj["codes"][...]), categories, ordered=bool(obj.attrs.get("ordered"))
        )
    if kind in ("nullable-integer", "nullable-boolean"):
        values, mask = np.asarray(obj["values"][...]), np.asarray(obj["mask"][...], dtype=bool)
        if kind == "nullable-boolean":
            return pd.arrays.BooleanArray(values.astype(bool), mask)
        return pd.arrays.IntegerArray(values, mask)
    raise UnknownLayout(f"{obj.name}: encoding {kind!r}")


def _frame(group: h5py.Group) -> pd.DataFrame:
    if _encoding(group) != "dataframe":
        raise UnknownLayout(f"{group.name} is not an anndata dataframe")
    index_key = group.attrs["_index"]
    index_key = index_key.decode() if isinstance(index_key, bytes) else str(index_key)
    order = [str(name) for name in np.atleast_1d(group.attrs.get("column-order", []))]
    columns = {name: _array(group[name]) for name in order}
    index = pd.Index(_array(group[index_key]), name=None if index_key == "_index" else index_key)
    return pd.DataFrame(columns, index=index)


def _uns_entry(obj: h5py.Group | h5py.Dataset) -> Any:
    kind = _encoding(obj)
    if kind == "dict":
        return {name: _uns_entry(obj[name]) for name in obj}
    if kind == "string":
        return obj.asstr()[()]
    if kind == "numeric-scalar":
        return obj[()]
    return _array(obj)


def _matrix(file: h5py.File) -> h5py.Dataset | CSRFile:
    if "X" not in file:
        raise UnknownLayout("no X")
    x = file["X"]
    if isinstance(x, h5py.Dataset):
        if x.ndim != 2:
            raise UnknownLayout("X is not 2-D")
        return x
    if _encoding(x) != "csr_matrix":
        raise UnknownLayout(f"X encoding {_encoding(x)!r}")
    return CSRFile(x)


def open_h5ad(
    path: str | Path, *, backed: bool = True, uns_keys: Iterable[str] = ()
) -> H5adFile | None:
    """Open ``path`` (an existing file) with h5py: obs, var and ``uns_keys`` of uns are read, X
    stays in the file when ``backed`` (else it is read into memory). ``None`` for a layout this
    reader does not read (or cannot parse: anndata then reads it, or names the problem); h5py's
    error for a file that is not HDF5."""
    path = Path(path)
    file = h5py.File(path, "r")
    try:
        if _encoding(file) != "anndata":
            raise UnknownLayout("not written by anndata ≥ 0.8")
        obs, var = _frame(file["obs"]), _frame(file["var"])
        x = _matrix(file)
        uns_group = file.get("uns")
        uns = {
            key: _uns_entry(uns_group[key])
            for key in uns_keys
            if uns_group is not None and key in uns_group
        }
        if x.shape != (len(obs), len(var)):
            raise UnknownLayout("X's shape is not obs × var")
    except Exception:  # UnknownLayout, or anything this reader did not expect: anndata reads it
        file.close()
        return None
    if backed:
        return H5adFile(obs, var, x, uns, file, path)
    x = x.to_memory() if isinstance(x, CSRFile) else np.asarray(x[...])
    file.close()
    return H5adFile(obs, var, x, uns, None, path)
