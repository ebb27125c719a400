"""Detect what X holds (raw counts or log-normalised values) and bring it to the standard form.

Standard form: X = log1p(x / total * 1e4) per cell, raw counts (when given) in ``layers["counts"]``.
Detection: X holds raw counts when every stored value is a non-negative integer. Non-integer values
whose maximum exceeds ``MAX_LOG_VALUE`` are taken to be normalised but not log-transformed, which is
an error (log1p of 1e4-normalised data stays below log1p(1e4) ≈ 9.2; even a 1e6 target stays below 14).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from scipy import sparse

from vcbench.data.contract import COUNTS_LAYER, TARGET_SUM
from vcbench.data.matrix_checks import value_chunks
from vcbench.errors import DataContractError

if TYPE_CHECKING:
    import anndata as ad

XKind = Literal["auto", "counts", "log"]
MAX_LOG_VALUE = 50.0


def detect_x_kind(
    matrix: np.ndarray | sparse.spmatrix | sparse.sparray,
) -> Literal["counts", "log"]:
    """``"counts"`` when every stored value is an integer, ``"log"`` for log-normalised values."""
    integers, maximum = True, -np.inf
    for chunk in value_chunks(matrix):  # temporaries of one chunk, not of the whole matrix
        integers = integers and bool(np.all(np.mod(chunk, 1) == 0))
        if chunk.size:
            maximum = max(maximum, float(chunk.max()))
    if integers:
        return "counts"
    if maximum > MAX_LOG_VALUE:
        raise DataContractError(
            f"X holds non-integer values up to {maximum:.4g}: it looks normalised but not "
            "log-transformed. Pass raw counts (vcbench normalises them) or log1p-normalised data "
            "(e.g. apply scanpy.pp.log1p first)."
        )
    return "log"


def to_standard_form(
    adata: ad.AnnData,
    x_kind: XKind = "auto",
    detected: Literal["counts", "log"] | None = None,
) -> dict[str, str]:
    """Normalise ``adata`` in place when X holds counts; return the record of what was done.

    Counts are copied to ``layers["counts"]``, then X = log1p(normalize_total(target_sum=1e4)).
    Log data is used as is. ``detected``: ``detect_x_kind(adata.X)`` when the caller has it.
    """
    if detected is None:
        detected = detect_x_kind(adata.X)
    if x_kind == "counts" and detected != "counts":
        raise DataContractError(
            "x_kind='counts' was given but X holds non-integer values, so it is not raw counts. "
            "Pass x_kind='auto' or 'log', or load the raw-count matrix."
        )
    kind = detected if x_kind == "auto" else x_kind
    if kind == "log":
        return {"input_x": "log1p", "normalization": "none: X was already log-normalised"}
    totals = np.asarray(adata.X.sum(axis=1)).ravel()
    n_empty = int((totals == 0).sum())
    if n_empty:
        raise DataContractError(
            f"{n_empty} cells have no counts at all, so they cannot be library-size normalised. "
            "Filter them first, e.g. scanpy.pp.filter_cells(adata, min_counts=1)."
        )
    import scanpy as sc  # only for counts: importing scanpy costs ~85 MiB and ~1 s

    counts = sparse.csr_matrix(adata.X, dtype=np.float32)
    adata.layers[COUNTS_LAYER] = counts
    adata.X = counts.copy()
    sc.pp.normalize_total(adata, target_sum=TARGET_SUM)
    sc.pp.log1p(adata)
    return {
        "input_x": "counts",
        "normalization": f"normalize_total(target_sum={TARGET_SUM:g}) then log1p; counts in layers['counts']",
    }
