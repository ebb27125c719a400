"""Checks of a prediction and its truth before scoring, each failing early with a plain message.

- Both are AnnData; gene names are unique in each.
- The truth holds perturbed cells (not only controls).
- **Scale**: the truth is log1p-normalised expression (the standard form), so a prediction must be
  on the same scale. On up to ``SAMPLE_ROWS`` rows of each (seeded) we compare

  - the per-row total ``S = Σ_g value`` (linear in the values, so a mean row and the cells it
    averages have the same expected total: means-level and cell-level predictions compare alike);
    ``ratio = median S(prediction) / median S(truth)``;
  - the maximum value, and whether the non-zero values are integers (raw counts);
  - the fraction of negative values (log-normalised expression is never negative).

  A clear mismatch raises ``MetricError`` naming the likely cause: more than ``NEGATIVE_ERROR``
  of the values negative (centred or z-scored values, effects), or counts-like values (ratio >
  ``COUNTS_RATIO``, or integer values above the truth's maximum, or a maximum above
  ``COUNTS_MAX_FACTOR`` × the truth's and above ``COUNTS_MAX_ABSOLUTE``). A borderline one raises a
  ``ScaleWarning`` (recorded in a task's record by ``vcbench run``): more than
  ``NEGATIVE_CENTRED`` of the values negative with row totals below ``CENTRED_RATIO`` × the
  truth's (the same message as the error: likely centred values), any other negative value, a ratio
  outside ``[1 / WARN_RATIO, WARN_RATIO]``, or a maximum above ``WARN_MAX_FACTOR`` × the truth's.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import sparse

from vcbench.data import contract as c
from vcbench.data.h5ad_file import H5adFile, is_anndata
from vcbench.errors import MetricError

if TYPE_CHECKING:
    import anndata as ad

SAMPLE_ROWS = 500
COUNTS_RATIO = 8.0
COUNTS_MAX_FACTOR = 3.0
COUNTS_MAX_ABSOLUTE = 20.0
NEGATIVE_ERROR = 0.5
NEGATIVE_CENTRED = 0.25
CENTRED_RATIO = 0.25
WARN_RATIO = 1.4
WARN_MAX_FACTOR = 1.4
LOG_SCALE = "log1p-normalised expression (normalize_total to 1e4, then log1p)"


class ScaleWarning(UserWarning):
    """A prediction's values look borderline against the truth's scale."""


@dataclass(frozen=True)
class ScaleStats:
    """Summary of sampled rows of an expression matrix."""

    median_total: float
    maximum: float
    minimum: float
    negative_fraction: float
    integer_valued: bool


def check_anndata(value: object, what: str) -> None:
    """Error unless ``value`` is an AnnData (or an ``H5adFile``, an .h5ad opened by ``open_h5ad``)."""
    if not (is_anndata(value) or isinstance(value, H5adFile)):
        raise MetricError(
            f"The {what} must be an AnnData, got {type(value).__name__}. "
            "Pass the AnnData (cells × genes) itself."
        )


def check_unique_gene_names(genes: pd.Index, what: str) -> None:
    """Error naming the gene names that repeat in ``genes``."""
    repeated = genes[genes.duplicated()].unique()
    if len(repeated):
        raise MetricError(
            f"The {what} has {len(repeated)} gene name(s) that appear more than once "
            f"(e.g. {list(map(str, repeated[:5]))}). Give each gene one column "
            "(adata.var_names_make_unique(), or sum the duplicated genes)."
        )


def check_truth_has_perturbed_cells(truth: ad.AnnData) -> None:
    """Error when every cell of the truth is a control (nothing to score)."""
    if c.IS_CONTROL in truth.obs and truth.obs[c.IS_CONTROL].to_numpy(dtype=bool).all():
        raise MetricError(
            f"The truth holds only control cells ({truth.n_obs} cells, no perturbed cell): there is "
            "nothing to score. Give a truth file with the real test (perturbed) cells and the "
            "controls of their contexts."
        )


def _sample(adata: ad.AnnData, seed: int, rows: np.ndarray | None) -> np.ndarray:
    rows = np.arange(adata.n_obs) if rows is None else np.sort(np.asarray(rows, dtype=np.int64))
    if len(rows) > SAMPLE_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(rows, SAMPLE_ROWS, replace=False))
    block = adata.X[rows]
    block = block.toarray() if sparse.issparse(block) else np.asarray(block)
    return block.astype(np.float64, copy=False)


def scale_stats(adata: ad.AnnData, seed: int = 0, rows: np.ndarray | None = None) -> ScaleStats:
    """``ScaleStats`` of up to ``SAMPLE_ROWS`` of ``rows`` (default all) of ``adata.X`` (works on
    backed AnnData)."""
    values = _sample(adata, seed, rows)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return ScaleStats(np.nan, np.nan, np.nan, 0.0, False)
    totals = np.where(np.isfinite(values), values, 0.0).sum(axis=1)
    nonzero = finite[finite != 0]
    return ScaleStats(
        median_total=float(np.median(totals)),
        maximum=float(finite.max()),
        minimum=float(finite.min()),
        negative_fraction=float((finite < 0).mean()),
        integer_valued=bool(nonzero.size) and bool(np.all(nonzero == np.round(nonzero))),
    )


def scale_problem(predicted: ScaleStats, truth: ScaleStats) -> tuple[str, str] | None:
    """``("error" | "warning", message)`` for a prediction on another scale than the truth."""
    if not np.isfinite(predicted.maximum) or not np.isfinite(truth.maximum):
        return None  # the non-finite check reports this
    ratio = predicted.median_total / truth.median_total if truth.median_total > 0 else np.nan
    facts = (
        f"prediction: median row total {predicted.median_total:.4g}, max {predicted.maximum:.4g}; "
        f"truth: median row total {truth.median_total:.4g}, max {truth.maximum:.4g}"
    )
    centred = predicted.negative_fraction > NEGATIVE_CENTRED and (
        not np.isfinite(ratio) or ratio < CENTRED_RATIO
    )
    if predicted.negative_fraction > NEGATIVE_ERROR or centred:
        return "error" if predicted.negative_fraction > NEGATIVE_ERROR else "warning", (
            f"{predicted.negative_fraction:.0%} of the prediction's values are negative (min "
            f"{predicted.minimum:.4g}); {LOG_SCALE} is never negative. The model likely outputs "
            "centred or scaled values (z-scores) or effects (differences to control): predict "
            "expression on the truth's scale."
        )
    counts_like = (
        (np.isfinite(ratio) and ratio > COUNTS_RATIO)
        or (predicted.integer_valued and predicted.maximum > max(truth.maximum, 1.0))
        or predicted.maximum > max(COUNTS_MAX_FACTOR * truth.maximum, COUNTS_MAX_ABSOLUTE)
    )
    if counts_like:
        return "error", (
            f"The prediction's values are far larger than the truth's ({facts}): it looks like raw "
            f"or normalised counts, not {LOG_SCALE}. Predict on the truth's scale (e.g. "
            "scanpy.pp.normalize_total(target_sum=1e4) then scanpy.pp.log1p)."
        )
    if predicted.negative_fraction > 0:
        return "warning", (
            f"{predicted.negative_fraction:.2%} of the prediction's (sampled) values are negative "
            f"(min {predicted.minimum:.4g}); log-normalised expression is never negative "
            "(consider clipping the prediction at 0)."
        )
    if np.isfinite(ratio) and not 1 / WARN_RATIO <= ratio <= WARN_RATIO:
        return "warning", (
            f"The prediction's row totals are {ratio:.3g} × the truth's ({facts}); check that it "
            f"is {LOG_SCALE} like the truth."
        )
    if predicted.maximum > WARN_MAX_FACTOR * truth.maximum:
        return "warning", (
            f"The prediction's maximum is {predicted.maximum / truth.maximum:.3g} × the truth's "
            f"({facts}); check that it is {LOG_SCALE} like the truth."
        )
    return None


def check_scale(
    prediction: ad.AnnData, truth: ad.AnnData, rows: np.ndarray | None = None, seed: int = 0
) -> None:
    """Raise ``MetricError`` for a clear scale mismatch, warn (``ScaleWarning``) for a borderline
    one; ``rows``: the prediction's rows that are scored (default all)."""
    problem = scale_problem(scale_stats(prediction, seed, rows), scale_stats(truth, seed))
    if problem is None:
        return
    kind, message = problem
    if kind == "error":
        raise MetricError(message)
    warnings.warn(message, ScaleWarning, stacklevel=3)


def check_inputs(prediction: object, truth: object) -> None:
    """The checks that need no scoring state, in order: types, gene names, a perturbed truth."""
    check_anndata(prediction, "prediction")
    check_anndata(truth, "truth")
    prediction_: Any = prediction
    truth_: Any = truth
    check_unique_gene_names(prediction_.var_names, "prediction")
    check_unique_gene_names(truth_.var_names, "truth")
    check_truth_has_perturbed_cells(truth_)
