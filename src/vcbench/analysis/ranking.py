"""The ranking rules (docs/report.md, "Ranking rules"): one set of metrics for every model,
undefined = worst, seeds aggregated before the interval over conditions, a headline set with one
metric per family."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from vcbench.analysis.common import (
    TASK,
    condition_keys,
    condition_labels,
    family,
    higher_is_better,
    orientation,
    role,
)

# One metric per family, in the order the report shows them; a family whose headline metric was
# not run falls back to its first metric present (registry order).
HEADLINE = {
    "correlation": "pdcorr",
    "retrieval": "pds",
    "differential_expression": "de_overlap",
    "distance": "energy_distance",
}
FAMILIES = ("correlation", "retrieval", "differential_expression", "distance", "other")
LEVEL = 0.95

# The worst value a bounded metric can take (definitions: docs/metrics.md); an unbounded metric
# (errors, distances) takes the worst value any ranked model reached on the same condition.
_WORST_BOUND = {
    "correlation": -1.0,
    "rank_pdcorr": 1.0,
    "rank_lfc_cosine": 1.0,
    "pds": 0.0,
    "centroid_accuracy": 0.0,
    "de_precision": 0.0,
    "de_recall": 0.0,
    "de_overlap": 0.0,
    "de_sign_error": 1.0,
    "de_sign_acc_up": 0.0,
    "de_sign_acc_down": 0.0,
    "de_test_precision": 0.0,
    "de_test_recall": 0.0,
    "de_test_overlap": 0.0,
}


def worst_bound(metric: str) -> float:
    """The worst value ``metric`` can take, NaN where it is unbounded (errors, distances)."""
    if metric in _WORST_BOUND:
        return _WORST_BOUND[metric]
    return _WORST_BOUND["correlation"] if family(metric) == "correlation" else np.nan


def headline_metrics(metrics: pd.Series | list[str]) -> list[str]:
    """The headline set among ``metrics``: :data:`HEADLINE`'s metric of each family, or the
    family's first metric present when that one was not run (registry order)."""
    from vcbench.metrics.registry import METRICS

    present = list(dict.fromkeys(metrics))
    order = {name: i for i, name in enumerate(METRICS)}
    chosen = []
    for fam in FAMILIES:
        members = sorted((m for m in present if family(m) == fam), key=lambda m: order.get(m, 1e9))
        if not members:
            continue
        chosen.append(HEADLINE[fam] if HEADLINE.get(fam) in members else members[0])
    return chosen


def fill_undefined(results: pd.DataFrame) -> pd.DataFrame:
    """``results`` with each NaN value of a ranked model (role model or baseline) replaced by the
    metric's worst value on that condition: its bound (:func:`worst_bound`) where it has one,
    else the worst value that a ranked model reached on the same (task, condition, metric). A
    value stays NaN only where no ranked model is defined there (every model ties). Controls are
    left as they are."""
    frame = results.assign(value=results["value"].astype(np.float64))
    ranked = frame["model"].map(role) != "control"
    sign = orientation(frame["metric"])
    keys = [frame[c] for c in [*TASK, *condition_keys(frame), "metric"]]
    oriented = pd.Series(np.where(ranked, frame["value"] * sign, np.nan), index=frame.index)
    observed_worst = oriented.groupby(keys, observed=True).transform("min") * sign
    bounds = frame["metric"].map({m: worst_bound(m) for m in pd.unique(frame["metric"])})
    worst = bounds.where(bounds.notna(), observed_worst)
    fill = ranked & frame["value"].isna()
    frame.loc[fill, "value"] = worst[fill]
    return frame


def condition_values(results: pd.DataFrame, group: list[str]) -> pd.DataFrame:
    """One value per (``group``, context, perturbation): the mean over seeds of the condition
    (seeds aggregated first; NaN when the condition is undefined in every seed)."""
    keys = [*group, *condition_labels(results)]
    return results.groupby(keys, observed=True, sort=True)["value"].mean().reset_index()


def interval(values: pd.DataFrame, group: list[str], level: float = LEVEL) -> pd.DataFrame:
    """Per ``group``: ``mean``, ``sd`` (sample sd), ``n`` (defined values), ``n_nan`` and the
    Student-t ``level`` interval ``mean ± t(n − 1) · sd / √n`` over the values (``ci_low``,
    ``ci_high``; NaN where n < 2: one condition has no interval)."""
    grouped = values.groupby(group, observed=True, sort=True)["value"]
    table = grouped.agg(mean="mean", sd="std", n="count", size="size")
    table["n_nan"] = table.pop("size") - table["n"]
    n = table["n"].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        half = (
            stats.t.ppf(0.5 + level / 2, np.where(n > 1, n - 1, np.nan)) * table["sd"] / np.sqrt(n)
        )
    table["ci_low"] = table["mean"] - half
    table["ci_high"] = table["mean"] + half
    return table.reset_index()


def direction(metrics: pd.Series) -> pd.Series:
    """``"higher"`` or ``"lower"``: which values of each row's metric are better."""
    names = {m: "higher" if higher_is_better(m) else "lower" for m in pd.unique(metrics)}
    return metrics.map(names)
