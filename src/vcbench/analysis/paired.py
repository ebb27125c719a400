"""Paired comparisons of two models on the same conditions."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from vcbench.analysis.common import (
    RESULT_COLUMNS,
    TASK,
    AnalysisError,
    condition_keys,
    orientation,
    require_columns,
)


def rank_biserial(differences: np.ndarray) -> float:
    """Matched-pairs rank-biserial correlation: (R⁺ − R⁻) / (R⁺ + R⁻), R± the sums of the ranks of
    |d| over the positive / negative non-zero differences (zeros dropped); 0 when all are zero."""
    nonzero = differences[differences != 0]
    if len(nonzero) == 0:
        return 0.0
    ranks = stats.rankdata(np.abs(nonzero))
    return float((ranks[nonzero > 0].sum() - ranks[nonzero < 0].sum()) / ranks.sum())


def paired_comparison(
    results: pd.DataFrame, model_a: str, model_b: str, by: list[str] | None = None
) -> pd.DataFrame:
    """A two-sided paired Wilcoxon signed-rank test of ``model_a`` against ``model_b`` per metric.

    Pairs are the two models' values on the same (task, seed, condition); pairs with a NaN are left
    out. Differences ``d = s · (a − b)`` are oriented (``s`` = +1 when higher is better, else −1)
    so that ``d > 0`` means ``model_a`` is better. Per group of ``by`` (default: the task) and
    metric: ``n`` pairs, ``median_difference`` (of d), ``p_value`` (scipy's ``wilcoxon``, zero
    differences dropped; 1 when all are zero, NaN without pairs) and ``effect_size``, the
    matched-pairs rank-biserial correlation (+1: ``model_a`` better on every pair).
    """
    require_columns(results, [*RESULT_COLUMNS, "value"])
    by = TASK if by is None else by
    present = set(results["model"].unique())
    missing = [m for m in (model_a, model_b) if m not in present]
    if missing:
        raise AnalysisError(
            f"Model(s) {missing} are not in the results; present: {sorted(present)}."
        )
    keys = [*TASK, *condition_keys(results), "metric"]
    a = results[results["model"] == model_a].set_index(keys)["value"].rename("a")
    b = results[results["model"] == model_b].set_index(keys)["value"].rename("b")
    pairs = pd.concat([a, b], axis=1, join="inner").dropna().reset_index()
    pairs["d"] = (pairs["a"] - pairs["b"]) * orientation(pairs["metric"])
    rows = []
    for key, group in pairs.groupby([*by, "metric"], observed=True, sort=True):
        d = group["d"].to_numpy(dtype=np.float64)
        p = 1.0 if not np.any(d != 0) else float(stats.wilcoxon(d).pvalue)
        rows.append((*key, len(d), float(np.median(d)), p, rank_biserial(d)))
    columns = [*by, "metric", "n", "median_difference", "p_value", "effect_size"]
    table = pd.DataFrame(rows, columns=columns)
    return table.assign(model_a=model_a, model_b=model_b)[["model_a", "model_b", *columns]]
