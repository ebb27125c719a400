"""Count scaling of datasets to a common median library size.

The seed paper (Mao et al., "Benchmarking virtual cell models for in-the-wild perturbation
response", arXiv:2604.27646, 2026) compares ways of merging datasets of different studies and
reports that "naive dataset aggregation can even reduce performance" (abstract). Its project
page (maoxinjie.github.io/VCBench-demo, cross-dataset task, the paper's Figure 4) lists among
the take-aways that "Count scaling helps reduce global count-level shifts". We could not read
the methods text that says exactly how the counts were scaled, so the exact operation is not
taken from the paper; this project (docs/scenarios.md) reads it as: before
normalisation, bring each dataset's per-cell total counts to a common median.

The subtlety: multiplying every count of a dataset by a constant ``c`` is undone exactly by
per-cell library-size normalisation (``x / total`` is unchanged when both are multiplied by
``c``), so a plain rescale leaves log-normalised ``X`` the same up to floating-point rounding.
It only changes steps that read raw counts (``seurat_v3`` HVG selection, count-likelihood
models). What really differs between a deep and a shallow dataset after normalisation is the
sampling noise (more zeros, coarser values in the shallow one). The defensible way to remove
that difference is to make the deeper dataset shallower the way a shallower sequencing run
would: binomial thinning, keeping each counted molecule independently with probability ``f``.
``scale_counts`` therefore offers

- ``method="downsample"`` (default): each count ``n`` of a dataset deeper than the target becomes
  ``Binomial(n, f)`` with ``f = target / median_total <= 1``; the target defaults to the smallest
  dataset median. This changes ``X`` after normalisation.
- ``method="scale"``: counts are multiplied by ``target / median_total`` (target defaulting to the
  median of the datasets' medians): the literal reading; ``X`` stays the same.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from typing import Literal

import anndata as ad
import numpy as np
from scipy import sparse

from vcbench.data.contract import COUNTS_LAYER, TARGET_SUM, UNS_KEY
from vcbench.data.harmonize import dataset_names, vcbench_record
from vcbench.data.matrix_checks import stored_values
from vcbench.errors import DataContractError

ScaleMethod = Literal["downsample", "scale"]
_SCALE_METHODS: tuple[str, ...] = ("downsample", "scale")


def scale_counts(
    adatas: Sequence[ad.AnnData],
    *,
    method: ScaleMethod = "downsample",
    target: float | None = None,
    seed: int = 0,
    names: Sequence[str] | None = None,
) -> list[ad.AnnData]:
    """Bring the datasets' median library size (total counts per cell) to a common target.

    Needs raw counts (``layers["counts"]``) in every dataset. The library size of a cell is the sum
    of its counts over the genes the dataset has (call ``harmonize_genes`` first to count over the
    shared genes only). For a dataset with median library size ``m``:

    - ``method="downsample"`` (default): binomial thinning. With ``f = target / m``, every count
      ``n`` becomes a draw from ``Binomial(n, f)``, which is what sequencing a fraction ``f`` of the
      molecules would give; the median library size becomes about ``target``. ``target`` defaults to
      the smallest median. Thinning can only lower depth: a dataset whose median is already at or
      below ``target`` is left unchanged (with a warning when it is strictly below). Counts must be
      integers.
    - ``method="scale"``: counts are multiplied by ``target / m`` (``target`` defaults to the median
      of the datasets' medians), so medians match exactly. Per-cell library-size normalisation
      cancels the factor, so this changes only steps that read raw counts (e.g. ``seurat_v3`` HVG
      selection); log-normalised ``X`` stays the same.

    ``X`` is then recomputed from the new counts as ``log1p(normalize_total(target_sum=1e4))``
    (sparse stays sparse), and ``uns["vcbench"]["count_scaling"]`` records the method, target,
    seed, and every dataset's factor and median before and after. Other layers are copied as they
    are. Deterministic given ``seed``. Returns copies; the inputs are not changed.

    Args:
        adatas: one or more standardised datasets with raw counts.
        method: ``"downsample"`` or ``"scale"``.
        target: the common median library size; default as above.
        seed: seed of the random thinning (``downsample`` only).
        names: a name per dataset for messages and the record (default as in ``harmonize_genes``).
    """
    adatas = list(adatas)
    if not adatas:
        raise DataContractError(
            "scale_counts got no datasets. Pass a list of one or more datasets."
        )
    if method not in _SCALE_METHODS:
        raise DataContractError(
            f"Unknown count scaling method {method!r}. Use one of "
            f"{', '.join(map(repr, _SCALE_METHODS))}."
        )
    labels = dataset_names(adatas, names)
    for adata, label in zip(adatas, labels, strict=True):
        _check_counts(adata, label, integer=method == "downsample")

    counts = [adata.layers[COUNTS_LAYER] for adata in adatas]
    medians = []
    for matrix, label in zip(counts, labels, strict=True):
        median = float(np.median(_row_sums(matrix)))
        if median <= 0:
            raise DataContractError(
                f"Dataset {label!r} has a median of 0 total counts per cell, so it cannot be scaled "
                "to a common depth. Remove empty cells (e.g. scanpy.pp.filter_cells(adata, "
                "min_counts=1)) before count scaling."
            )
        medians.append(median)

    if target is None:
        target = min(medians) if method == "downsample" else float(np.median(medians))
    target = float(target)
    if not np.isfinite(target) or target <= 0:
        raise DataContractError(
            f"The count scaling target must be a positive number, got {target!r}. Pass a median "
            "library size such as 5000, or target=None for the default."
        )

    if method == "downsample":
        factors = [min(1.0, target / m) for m in medians]
        shallow = [label for label, m in zip(labels, medians, strict=True) if m < target]
        if shallow:
            warnings.warn(
                f"Datasets {shallow} have a median library size below the target {target:g}; "
                "downsampling cannot add counts, so they are left unchanged. Use a lower target "
                "(the default is the smallest median) or method='scale'.",
                UserWarning,
                stacklevel=2,
            )
        rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(adatas))]
        new_counts = [
            _thin(matrix, f, rng) for matrix, f, rng in zip(counts, factors, rngs, strict=True)
        ]
    else:
        factors = [target / m for m in medians]
        new_counts = [_multiply(matrix, f) for matrix, f in zip(counts, factors, strict=True)]

    medians_after = [float(np.median(_row_sums(matrix))) for matrix in new_counts]
    record = {
        "method": method,
        "target": target,
        "seed": int(seed),
        "datasets": list(labels),
        "factors": [float(f) for f in factors],
        "medians_before": medians,
        "medians_after": medians_after,
        "x": f"recomputed from the scaled counts as log1p(normalize_total(target_sum={TARGET_SUM:g}))",
    }
    result = []
    for i, adata in enumerate(adatas):
        out = adata.copy()
        out.layers[COUNTS_LAYER] = new_counts[i]
        out.X = _log_normalise(new_counts[i], like=adata.X)
        uns = vcbench_record(out)
        uns["count_scaling"] = {
            **copy.deepcopy(record),
            "dataset": labels[i],
            "factor": float(factors[i]),
            "median_before": medians[i],
            "median_after": medians_after[i],
        }
        out.uns[UNS_KEY] = uns
        result.append(out)
    return result


def _check_counts(adata: ad.AnnData, label: str, *, integer: bool) -> None:
    if COUNTS_LAYER not in adata.layers:
        raise DataContractError(
            f"Dataset {label!r} has no raw counts (layers[{COUNTS_LAYER!r}] is missing): count "
            "scaling needs raw counts. Load the raw-count file of this dataset (load_dataset keeps "
            "raw counts in layers['counts']), or run without count scaling."
        )
    values = stored_values(adata.layers[COUNTS_LAYER])
    if values.size and (not np.all(np.isfinite(values)) or values.min() < 0):
        raise DataContractError(
            f"layers[{COUNTS_LAYER!r}] of dataset {label!r} holds negative, NaN or infinite "
            "values, so it is not raw counts. Load the raw-count file of this dataset."
        )
    if integer and values.size and not np.all(np.mod(values, 1) == 0):
        raise DataContractError(
            f"layers[{COUNTS_LAYER!r}] of dataset {label!r} holds non-integer values, but "
            "method='downsample' draws binomial samples of integer counts. Load the raw (UMI) "
            "count file of this dataset, or use method='scale'."
        )


def _row_sums(matrix: np.ndarray | sparse.spmatrix | sparse.sparray) -> np.ndarray:
    return np.asarray(matrix.sum(axis=1), dtype=np.float64).ravel()


def _as_csr_or_dense(
    matrix: np.ndarray | sparse.spmatrix | sparse.sparray,
) -> np.ndarray | sparse.spmatrix | sparse.sparray:
    """A copy of ``matrix``: sparse as CSR (keeping matrix/array class), dense as ndarray."""
    if sparse.issparse(matrix):
        return matrix.tocsr(copy=True)
    return np.array(matrix)


def _thin(
    matrix: np.ndarray | sparse.spmatrix | sparse.sparray, fraction: float, rng: np.random.Generator
) -> np.ndarray | sparse.spmatrix | sparse.sparray:
    """Binomial thinning: every count ``n`` becomes ``Binomial(n, fraction)``, dtype kept."""
    out = _as_csr_or_dense(matrix)
    if fraction >= 1.0:
        return out
    if sparse.issparse(out):
        drawn = rng.binomial(np.rint(out.data).astype(np.int64), fraction)
        out.data = drawn.astype(out.dtype, copy=False)
        out.eliminate_zeros()
        return out
    drawn = rng.binomial(np.rint(out).astype(np.int64), fraction)
    return drawn.astype(out.dtype, copy=False)


def _multiply(
    matrix: np.ndarray | sparse.spmatrix | sparse.sparray, factor: float
) -> np.ndarray | sparse.spmatrix | sparse.sparray:
    """Counts times ``factor``, in a floating dtype (float64 unless they were float32)."""
    out = _as_csr_or_dense(matrix)
    dtype = out.dtype if np.issubdtype(out.dtype, np.floating) else np.float64
    out = out.astype(dtype)
    if sparse.issparse(out):
        out.data *= factor
        return out
    return out * factor


def _log_normalise(
    counts: np.ndarray | sparse.spmatrix | sparse.sparray,
    like: np.ndarray | sparse.spmatrix | sparse.sparray,
) -> np.ndarray | sparse.spmatrix | sparse.sparray:
    """``log1p(counts / total * 1e4)`` per cell (empty cells stay 0), sparse iff ``like`` is."""
    dtype = like.dtype if np.issubdtype(like.dtype, np.floating) else np.float32
    totals = _row_sums(counts)
    scale = np.divide(TARGET_SUM, totals, out=np.zeros_like(totals), where=totals > 0)
    if sparse.issparse(counts):
        normalised = counts.tocsr().astype(np.float64)
        normalised.data *= np.repeat(scale, np.diff(normalised.indptr))
        np.log1p(normalised.data, out=normalised.data)
        normalised = normalised.astype(dtype)
        return normalised if sparse.issparse(like) else normalised.toarray()
    normalised = np.log1p(np.asarray(counts, dtype=np.float64) * scale[:, None]).astype(dtype)
    return sparse.csr_matrix(normalised) if sparse.issparse(like) else normalised
