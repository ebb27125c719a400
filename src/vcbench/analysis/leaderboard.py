"""Leaderboards: per metric, the mean and 95 % interval over conditions (seeds aggregated first),
the rank under the ranking rules, and the score normalised between the calibration controls."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vcbench.analysis.common import RESULT_COLUMNS, TASK, family, orientation, require_columns, role
from vcbench.analysis.ranking import (
    LEVEL,
    condition_values,
    fill_undefined,
    headline_metrics,
    interval,
)
from vcbench.analysis.summary import OVERALL

GROUP = [*TASK, "split_category", "model", "metric"]
# The columns of leaderboard.csv (docs/report.md).
LEADERBOARD_COLUMNS = [
    *TASK,
    "split_category",
    "model",
    "role",
    "metric_family",
    "metric",
    "mean",
    "ci_low",
    "ci_high",
    "n",
    "rank",
    "normalised",
]


def with_overall(results: pd.DataFrame) -> pd.DataFrame:
    """``results`` plus a copy of every row under the split category ``"all"``."""
    return pd.concat([results, results.assign(split_category=OVERALL)], ignore_index=True)


def leaderboard(results: pd.DataFrame, *, level: float = LEVEL) -> pd.DataFrame:
    """Per (dataset, scenario, variant, split category, model, metric), under the ranking rules.

    Each condition's values are first averaged over seeds; ``mean``, ``sd``, ``n`` (defined
    conditions) and the Student-t ``level`` interval ``ci_low``/``ci_high`` are over those
    condition values, NaN (undefined) ones left out and counted in ``n_nan``. ``score`` is the
    same mean with every undefined value of a ranked model counted as the metric's worst value
    (:func:`~vcbench.analysis.ranking.fill_undefined`). ``rank``: 1 = best ``score`` among the
    non-controls of the group (ties share the best rank), NaN for controls and where the metric is
    uncalibrated on the (task, split category). ``normalised`` = (mean − floor) / (ceiling −
    floor) with the controls' means from the calibration status, NaN where uncalibrated.
    ``role``: model, baseline or control; ``headline``: in the task's headline set.
    The split category ``"all"`` pools every category.
    """
    from vcbench.analysis.status import STATUS_KEYS, calibration_status

    require_columns(results, [*RESULT_COLUMNS, "value"])
    frame = with_overall(results).assign(value=lambda f: f["value"].astype(np.float64))
    table = interval(condition_values(frame, GROUP), GROUP, level)
    n_seeds = frame.dropna(subset=["value"]).groupby(GROUP, observed=True)["seed"].nunique()
    table = table.merge(n_seeds.rename("n_seeds").reset_index(), on=GROUP, how="left")
    table["n_seeds"] = table["n_seeds"].fillna(0).astype(int)
    filled = condition_values(fill_undefined(frame), GROUP)
    score = filled.groupby(GROUP, observed=True, sort=True)["value"].mean()
    table = table.merge(score.rename("score").reset_index(), on=GROUP, how="left")
    table["role"] = table["model"].map(role)
    table["metric_family"] = table["metric"].map(family)
    status = calibration_status(results)[[*STATUS_KEYS, "calibrated", "reason", "floor", "ceiling"]]
    table = table.merge(status, on=STATUS_KEYS, how="left")
    table["calibrated"] = table["calibrated"].fillna(False).astype(bool)
    ranked = (table["role"] != "control") & table["calibrated"]
    oriented = table["score"] * orientation(table["metric"])
    table["rank"] = (
        oriented.where(ranked)
        .groupby([table[c] for c in [*TASK, "split_category", "metric"]], observed=True)
        .rank(ascending=False, method="min")
    )
    spread = (table["ceiling"] - table["floor"]).where(table["calibrated"])
    table["normalised"] = (table["mean"] - table["floor"]) / spread
    headline = {
        task: set(headline_metrics(rows["metric"]))
        for task, rows in table.groupby(TASK, observed=True, sort=False)
    }
    table["headline"] = [
        metric in headline[task]
        for task, metric in zip(
            zip(*(table[c] for c in TASK), strict=True), table["metric"], strict=True
        )
    ]
    columns = [
        *GROUP,
        "role",
        "metric_family",
        "headline",
        "mean",
        "sd",
        "ci_low",
        "ci_high",
        "n",
        "n_nan",
        "n_seeds",
        "score",
        "rank",
        "calibrated",
        "reason",
        "floor",
        "ceiling",
        "normalised",
    ]
    return table[columns]


def headline_ranking(board: pd.DataFrame) -> pd.DataFrame:
    """Per (task, split category, model): ``headline_rank``, the model's rank averaged over the
    task's calibrated headline metrics (NaN for controls and where none is calibrated),
    ``n_metrics`` (how many), and ``position`` (1 = best headline rank; ties share it)."""
    rows = board[board["headline"]]
    keys = [*TASK, "split_category", "model"]
    calibrated = rows[rows["calibrated"]]
    table = rows.groupby(keys, observed=True, sort=False)["role"].first().reset_index()
    means = calibrated.groupby(keys, observed=True)["rank"].agg(
        headline_rank="mean", n_metrics="count"
    )
    table = table.merge(means.reset_index(), on=keys, how="left")
    table["n_metrics"] = table["n_metrics"].fillna(0).astype(int)
    table.loc[table["role"] == "control", "headline_rank"] = np.nan
    table["position"] = table.groupby([*TASK, "split_category"], observed=True)[
        "headline_rank"
    ].rank(method="min")
    return table


def leaderboard_csv(board: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard with exactly :data:`LEADERBOARD_COLUMNS` (the layout of leaderboard.csv)."""
    table = board[LEADERBOARD_COLUMNS].reset_index(drop=True)
    return table.astype({"rank": "Int64", "n": "Int64"})
