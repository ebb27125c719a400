"""The ``note`` of every score: why a value is NaN (always said), or how it was computed.

``annotate`` takes one metric's values over the conditions of one context and returns them with a
note per condition. It also applies the minimum number of real cells: a cell-level metric (one that
compares the cells themselves, ``Metric.needs_cells``) of a condition with fewer than
``min_truth_cells`` real cells is NaN, since a distribution or a Wilcoxon test of one or two cells
is not a measurement.

The reasons follow the metric definitions (``definitions.py``, ``cells.py``): a correlation or a
cosine is undefined when one of its vectors is constant (or zero) across genes, a top-k gene set
when the effect is constant, a retrieval rank when the context has a single condition, a
Wilcoxon set metric when the set in its denominator is empty, a distribution distance when a
sample has fewer than 2 cells.
"""

from __future__ import annotations

import numpy as np

from vcbench.metrics.cells import DE_TEST_METRICS, DISTRIBUTION_METRICS, PCA_DISTRIBUTION_METRICS
from vcbench.metrics.definitions import TOP_K_DE, ContextArrays
from vcbench.metrics.registry import Metric

MIN_TRUTH_CELLS = 3
RETRIEVAL_NEEDS_TWO = "undefined: retrieval needs at least 2 conditions in the context"
MEANS_ONLY = "not computable: the prediction holds means only (no cells)"
SYSTEMA_NEEDS_TWO = "undefined: the Systema centroid needs at least 2 conditions in the context"
FEW_PREDICTED = "undefined: the prediction has fewer than 2 cells for this condition"
UNEXPLAINED = "undefined for this condition (see the metric's definition in docs/metrics.md)"

_DE_TEST_DENOMINATOR = {
    "de_test_precision": "the prediction",
    "de_test_recall": "the truth",
    "de_test_overlap": "either the prediction or the truth",
}


def few_cells_note(n: int, minimum: int) -> str:
    """The note of a cell-level metric skipped for too few real cells."""
    return f"not computed: {n} real cell(s) in this condition, fewer than min_truth_cells={minimum}"


def _constant(rows: np.ndarray, atol: float) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        centred = rows - rows.mean(axis=1, keepdims=True)
        return ~(np.sqrt(np.mean(centred**2, axis=1)) > atol)


def _zero(rows: np.ndarray, atol: float) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return ~(np.sqrt(np.mean(rows**2, axis=1)) > atol)


def _vectors(metric: Metric, arrays: ContextArrays) -> tuple[str, np.ndarray, np.ndarray] | None:
    """What a correlation-type metric correlates: (name, predicted rows, real rows)."""
    name = metric.name
    if name == "pcc":
        return "expression", arrays.predicted, arrays.observed
    if name in ("pdcorr", "rank_pdcorr"):
        return "effect (vs control)", arrays.predicted_delta, arrays.observed_delta
    if name == "pdcorr_de":
        top = arrays.observed_ranking[:, : min(TOP_K_DE, arrays.k)]
        return (
            "effect on the top real DE genes",
            np.take_along_axis(arrays.predicted_delta, top, axis=1),
            np.take_along_axis(arrays.observed_delta, top, axis=1),
        )
    if name == "pdcorr_systema" and arrays.n_conditions >= 2:
        s = arrays.observed.mean(axis=0)  # the test context's perturbed centroid
        return "effect (vs the Systema centroid)", arrays.predicted - s, arrays.observed - s
    if name in ("lfc_spearman", "lfc_cosine", "rank_lfc_cosine"):
        return "log-fold change", arrays.predicted_lfc, arrays.observed_lfc
    if name == "pca_delta_spearman" and arrays.components is not None:
        predicted, observed = arrays.pc_deltas
        return "effect in PC space", predicted, observed
    return None


def _correlation_reasons(metric: Metric, arrays: ContextArrays) -> np.ndarray | None:
    found = _vectors(metric, arrays)
    if found is None:
        return None
    what, predicted, observed = found
    tol = arrays.constant_tolerance
    flat = _zero if metric.name in ("lfc_cosine", "rank_lfc_cosine") else _constant
    word = "zero" if flat is _zero else "constant across genes"
    reasons = np.full(arrays.n_conditions, UNEXPLAINED, dtype=object)
    checks = (
        (
            np.isnan(predicted).any(axis=1),
            f"undefined: the predicted {what} holds NaN "
            "(a predicted value below −0.1, where log2(y + 0.1) is undefined)",
        ),
        (flat(predicted, tol), f"undefined: the predicted {what} is {word} (e.g. no change)"),
        (flat(observed, tol), f"undefined: the real {what} is {word}"),
    )
    for mask, text in reversed(checks):  # the first matching check wins
        reasons[mask] = text
    return reasons


def _nan_reasons(metric: Metric, arrays: ContextArrays, n_predicted: np.ndarray) -> np.ndarray:
    """Why each value of ``metric`` would be NaN (UNEXPLAINED where no rule says)."""
    p = arrays.n_conditions
    name = metric.name
    if metric.family == "retrieval" and p < 2:
        return np.full(p, RETRIEVAL_NEEDS_TWO, dtype=object)
    if name == "pdcorr_systema" and p < 2:
        return np.full(p, SYSTEMA_NEEDS_TWO, dtype=object)
    reasons = _correlation_reasons(metric, arrays)
    if reasons is not None:
        return reasons
    reasons = np.full(p, UNEXPLAINED, dtype=object)
    if name in ("de_precision", "de_recall", "de_overlap", "de_sign_error"):
        reasons[arrays.predicted_constant] = (
            "undefined: the predicted effect is constant across genes (no top-k genes)"
        )
        reasons[arrays.observed_constant] = (
            "undefined: the real effect is constant across genes (no top-k DE genes)"
        )
    elif name in ("de_sign_acc_up", "de_sign_acc_down"):
        direction = "up" if name.endswith("up") else "down"
        reasons[:] = f"undefined: no {direction}-regulated gene among the top-k real DE genes"
    elif name in DE_TEST_METRICS:
        reasons[:] = (
            f"undefined: no gene is significant (Wilcoxon, BH q < 0.05) in "
            f"{_DE_TEST_DENOMINATOR[name]}"
        )
    if metric.needs_cells:
        reasons[n_predicted < 2] = FEW_PREDICTED
    return reasons


def annotate(
    metric: Metric,
    values: np.ndarray,
    arrays: ContextArrays,
    *,
    level: str,
    n_truth: np.ndarray,
    n_predicted: np.ndarray,
    min_truth_cells: int = MIN_TRUTH_CELLS,
    max_cells: int | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """``(values, notes)`` of one metric over one context's conditions (see the module doc)."""
    values = np.array(values, dtype=np.float64)
    notes = np.full(values.shape, "", dtype=object)
    if metric.needs_cells and level != "cells":
        notes[:] = MEANS_ONLY
        values[:] = np.nan
        return values, notes
    if metric.name in DISTRIBUTION_METRICS + PCA_DISTRIBUTION_METRICS and max_cells is not None:
        notes[:] = f"cells subsampled to at most {max_cells} per sample (seed {seed})"
    missing = np.isnan(values)
    if missing.any():
        notes[missing] = _nan_reasons(metric, arrays, np.asarray(n_predicted))[missing]
    if metric.needs_cells:
        few = np.asarray(n_truth) < min_truth_cells
        values[few] = np.nan
        notes[few] = [few_cells_note(int(n), min_truth_cells) for n in np.asarray(n_truth)[few]]
    return values, notes
