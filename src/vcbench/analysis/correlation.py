"""An interval for the correlation between metric values (the value heatmap of the report).

:func:`metric_correlation_interval` bootstraps :func:`vcbench.analysis.agreement.metric_correlation`:
the same values (the supported tasks' (task, seed, condition, model) rows without the technical
replicate, oriented so that higher is better) and the same pairwise-complete correlation, with a
percentile interval over resamples of the conditions: a resample draws (task, context,
perturbation) clusters with replacement and keeps all of a drawn cluster's rows (every seed, model
and metric), as :func:`~vcbench.analysis.agreement.ranking_agreement` resamples conditions for τ.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from vcbench.analysis.agreement import supported_tasks
from vcbench.analysis.common import (
    CONDITION,
    POSITIVE,
    RESULT_COLUMNS,
    TASK,
    NotAvailable,
    orientation,
    require_columns,
)

CORRELATION_COLUMNS = ["metric_a", "metric_b", "rho", "rho_low", "rho_high", "n"]


def _values(results: pd.DataFrame, metrics: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """The oriented (task, condition, model) × metric table and each row's condition cluster."""
    support = supported_tasks(results)
    if not support["supported"].any():
        raise NotAvailable("metric agreement needs a task with 5 models and 10 conditions")
    frame = results.merge(support.loc[support["supported"], TASK], on=TASK, how="inner")
    frame = frame[(frame["model"] != POSITIVE) & frame["metric"].isin(metrics)]
    frame = frame.assign(value=frame["value"].astype(np.float64) * orientation(frame["metric"]))
    keys = [*TASK, *CONDITION, "model", "metric"]
    wide = frame.groupby(keys, observed=True, sort=True)["value"].mean().unstack("metric")
    wide = wide.reindex(columns=[m for m in metrics if m in wide.columns])
    index = wide.index.to_frame(index=False)
    cluster = index.groupby([*TASK, "context", "perturbation"], sort=False, observed=True).ngroup()
    return wide, cluster.to_numpy()


def metric_correlation_interval(
    results: pd.DataFrame,
    metrics: list[str],
    *,
    method: str = "spearman",
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Per pair of ``metrics``: ``rho`` (as ``metric_correlation``), its ``level`` percentile
    interval ``rho_low``/``rho_high`` over ``n_boot`` condition resamples (module doc; seeded) and
    ``n`` (rows where both are defined). Raises :class:`NotAvailable` when no task is supported."""
    require_columns(results, [*RESULT_COLUMNS, "value"])
    wide, cluster = _values(results, list(metrics))
    present = list(wide.columns)
    point = wide.corr(method=method, min_periods=3)
    order = np.argsort(cluster, kind="stable")
    starts = np.searchsorted(cluster[order], np.arange(cluster.max() + 1))
    members = np.split(order, starts[1:])
    rng = np.random.default_rng(seed)
    values = wide.to_numpy()
    draws = np.full((n_boot, len(present), len(present)), np.nan)
    for b in range(n_boot):
        rows = np.concatenate([members[k] for k in rng.integers(0, len(members), len(members))])
        sample = pd.DataFrame(values[rows], columns=present)
        draws[b] = sample.corr(method=method, min_periods=3).to_numpy()
    tail = (1 - level) / 2 * 100
    defined = wide.notna().to_numpy(dtype=np.int64)
    both = defined.T @ defined
    out = []
    for i, j in itertools.combinations(range(len(present)), 2):
        sample = draws[:, i, j][np.isfinite(draws[:, i, j])]
        low, high = np.percentile(sample, [tail, 100 - tail]) if len(sample) else (np.nan,) * 2
        out.append(
            (present[i], present[j], point.iat[i, j], float(low), float(high), int(both[i, j]))
        )
    return pd.DataFrame(out, columns=CORRELATION_COLUMNS)


def interval_matrix(table: pd.DataFrame, column: str) -> pd.DataFrame:
    """``column`` of :func:`metric_correlation_interval` as a symmetric metric × metric matrix
    (diagonal 1)."""
    metrics = list(dict.fromkeys([*table["metric_a"], *table["metric_b"]]))
    matrix = pd.DataFrame(np.eye(len(metrics)), index=metrics, columns=metrics)
    for a, b, value in zip(table["metric_a"], table["metric_b"], table[column], strict=True):
        matrix.loc[a, b] = matrix.loc[b, a] = value
    return matrix
