"""Agreement between metrics: value correlation and the Kendall τ between model rankings."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy import stats

from vcbench.analysis.common import (
    CONDITION,
    POSITIVE,
    RESULT_COLUMNS,
    TASK,
    NotAvailable,
    orientation,
    require_columns,
)


def metric_correlation(results: pd.DataFrame, method: str = "spearman") -> pd.DataFrame:
    """The correlation matrix between metrics over all (model, task, condition) values.

    Values are oriented so that higher is better for every metric (lower-is-better metrics are
    negated), so a positive correlation means that the metrics agree. Pairs of metrics are
    compared on the values where both are defined (``method``: ``"spearman"`` or ``"pearson"``).
    The technical replicate is left out.
    """
    require_columns(results, [*RESULT_COLUMNS, "value"])
    frame = results[results["model"] != POSITIVE]
    frame = frame.assign(value=frame["value"].astype(np.float64) * orientation(frame["metric"]))
    keys = [*TASK, *CONDITION, "model", "metric"]
    wide = frame.groupby(keys, observed=True, sort=True)["value"].mean().unstack("metric")
    if wide.shape[1] < 2:
        raise NotAvailable("metric agreement needs at least two metrics")
    metrics = list(dict.fromkeys(results["metric"]))
    return (
        wide[metrics].corr(method=method, min_periods=3).rename_axis(None).rename_axis(None, axis=1)
    )


def model_means(results: pd.DataFrame) -> pd.DataFrame:
    """The mean over all conditions and seeds of each (task, model, metric), replicate left out."""
    require_columns(results, [*RESULT_COLUMNS, "value"])
    frame = results[results["model"] != POSITIVE]
    return (
        frame.groupby([*TASK, "model", "metric"], observed=True, sort=False)["value"]
        .mean()
        .reset_index()
    )


def model_ranks(results: pd.DataFrame) -> pd.DataFrame:
    """Each model's rank per (task, metric): 1 = best under the metric's direction, ties get the
    mean rank; from the mean over all conditions and seeds. The replicate is not ranked."""
    means = model_means(results)
    oriented = means["value"] * orientation(means["metric"])
    means["rank"] = oriented.groupby([means[c] for c in [*TASK, "metric"]], observed=True).rank(
        ascending=False, method="average"
    )
    return means


def ranking_agreement(results: pd.DataFrame) -> pd.DataFrame:
    """Kendall τ-b between the model rankings of every pair of metrics, per task.

    For each task and pair of metrics, τ-b compares the two metrics' model means (oriented so
    higher is better) over the models that both define; 1 = same ranking, −1 = reversed. Needs at
    least two models. Columns: task keys, ``metric_a``, ``metric_b``, ``tau``, ``n_models``.
    """
    means = model_means(results)
    means = means.assign(value=means["value"] * orientation(means["metric"]))
    wide = means.pivot_table(
        index=[*TASK, "model"], columns="metric", values="value", observed=True
    )
    if means.groupby(TASK)["model"].nunique().max() < 2:
        raise NotAvailable("ranking agreement needs at least two models (besides the replicate)")
    metrics = [m for m in dict.fromkeys(results["metric"]) if m in wide.columns]
    rows = []
    for task, block in wide.groupby(level=TASK, observed=True, sort=True):
        for a, b in itertools.combinations(metrics, 2):
            both = block[[a, b]].dropna()
            tau = np.nan
            if len(both) >= 2 and both[a].nunique() > 1 and both[b].nunique() > 1:
                tau = float(stats.kendalltau(both[a], both[b]).statistic)
            rows.append((*task, a, b, tau, len(both)))
    return pd.DataFrame(rows, columns=[*TASK, "metric_a", "metric_b", "tau", "n_models"])


def tau_matrix(agreement: pd.DataFrame) -> pd.DataFrame:
    """The mean τ over tasks of :func:`ranking_agreement` as a symmetric metric × metric matrix."""
    mean = agreement.groupby(["metric_a", "metric_b"], sort=False)["tau"].mean()
    metrics = list(dict.fromkeys([*agreement["metric_a"], *agreement["metric_b"]]))
    matrix = pd.DataFrame(np.eye(len(metrics)), index=metrics, columns=metrics)
    for (a, b), tau in mean.items():
        matrix.loc[a, b] = matrix.loc[b, a] = tau
    return matrix
