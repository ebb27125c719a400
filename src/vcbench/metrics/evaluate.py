"""Score predictions against the truth: one tidy row per (context, perturbation, metric)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse

from vcbench.data import contract as c
from vcbench.errors import MetricError
from vcbench.metrics.definitions import ContextArrays
from vcbench.metrics.pseudobulk import group_means
from vcbench.metrics.registry import resolve_metrics

KEYS = [c.CONTEXT, c.PERTURBATION]


def _aligned_prediction(prediction: ad.AnnData, truth: ad.AnnData) -> ad.AnnData:
    """The prediction with the truth's genes in the truth's order; errors for missing columns/genes."""
    missing_columns = [k for k in KEYS if k not in prediction.obs]
    if missing_columns:
        raise MetricError(
            f"The prediction lacks obs column(s) {missing_columns}; a prediction names each cell's "
            f"context and perturbation in obs[{c.CONTEXT!r}] and obs[{c.PERTURBATION!r}]."
        )
    only_truth = truth.var_names.difference(prediction.var_names)
    only_prediction = prediction.var_names.difference(truth.var_names)
    if len(only_truth) or len(only_prediction):
        raise MetricError(
            f"Prediction and truth have different genes: {len(only_truth)} only in the truth "
            f"(e.g. {list(only_truth[:5])}), {len(only_prediction)} only in the prediction "
            f"(e.g. {list(only_prediction[:5])}). Predict exactly the truth's genes."
        )
    if not prediction.var_names.equals(truth.var_names):
        prediction = prediction[:, truth.var_names]
    values = prediction.X.data if sparse.issparse(prediction.X) else np.asarray(prediction.X)
    if not np.all(np.isfinite(values)):
        raise MetricError(
            f"The prediction holds {int((~np.isfinite(values)).sum())} NaN or infinite values. "
            "Fix the model's output; vcbench does not impute predictions."
        )
    return prediction


def _check_conditions(predicted: pd.MultiIndex, expected: pd.MultiIndex) -> None:
    missing = expected.difference(predicted)
    extra = predicted.difference(expected)
    if len(missing) or len(extra):
        raise MetricError(
            f"Prediction conditions do not match the test conditions: missing {list(missing[:10])}"
            f"{' …' if len(missing) > 10 else ''} ({len(missing)}), extra {list(extra[:10])} ({len(extra)}). "
            "Predict every test (context, perturbation) pair and nothing else."
        )


def _target_mask(perturbations: pd.Index, genes: pd.Index) -> np.ndarray:
    mask = np.zeros((len(perturbations), len(genes)), dtype=bool)
    for row, label in enumerate(perturbations):
        positions = genes.get_indexer(c.split_combination(str(label)))
        mask[row, positions[positions >= 0]] = True
    return mask


def evaluate(
    prediction: ad.AnnData,
    truth: ad.AnnData,
    *,
    metrics: str | list[str] = "fast",
    conditions: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Score a prediction against the truth (both in the standard form).

    Args:
        prediction: predicted cells (or one mean row per condition) with ``vcb_context`` and
            ``vcb_perturbation`` in ``obs``.
        truth: the real test cells plus the real control cells of their contexts. The effects of
            both prediction and truth are taken against these real controls.
        metrics: a profile name (``fast``, ``full``) or a list of metric names.
        conditions: the test conditions (columns ``vcb_context``, ``vcb_perturbation``); default:
            every perturbed (context, perturbation) of the truth.

    Returns:
        A tidy frame with columns context, perturbation, metric, value.
    """
    chosen = resolve_metrics(metrics)
    prediction = _aligned_prediction(prediction, truth)
    is_control = truth.obs[c.IS_CONTROL].to_numpy()
    truth_index, truth_means = group_means(truth[~is_control], KEYS)
    control_index, control_means = group_means(truth[is_control], [c.CONTEXT])
    expected = truth_index
    if conditions is not None:
        expected = pd.MultiIndex.from_frame(conditions[KEYS].astype(str)).unique().sort_values()
        missing = expected.difference(truth_index)
        if len(missing):
            raise MetricError(
                f"The truth has no cells of test condition(s) {list(missing[:10])}; give the real test cells."
            )
    predicted_index, predicted_means = group_means(prediction, KEYS)
    _check_conditions(predicted_index, expected)
    predicted_means = predicted_means[predicted_index.get_indexer(expected)]
    truth_means = truth_means[truth_index.get_indexer(expected)]
    truth_index = expected

    rows = []
    contexts = truth_index.get_level_values(0)
    for context in contexts.unique():
        if context not in control_index.get_level_values(0):
            raise MetricError(
                f"Context {context!r} has no real control cells in the truth; the effect metrics need them."
            )
        block = np.flatnonzero(contexts == context)
        perturbations = truth_index.get_level_values(1)[block]
        arrays = ContextArrays(
            predicted=predicted_means[block],
            observed=truth_means[block],
            control=control_means[control_index.get_level_values(0).get_loc(context)],
            target_mask=_target_mask(perturbations, truth.var_names),
        )
        for metric in chosen:
            values = metric.function(arrays)
            rows.append(
                pd.DataFrame(
                    {
                        "context": context,
                        "perturbation": perturbations,
                        "metric": metric.name,
                        "value": values,
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)
