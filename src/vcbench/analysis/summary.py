"""Aggregate tidy per-condition results."""

from __future__ import annotations

import pandas as pd

OVERALL = "all"


def summarise(
    results: pd.DataFrame, by: tuple[str, ...] = ("model", "split_category", "metric")
) -> pd.DataFrame:
    """Mean, standard deviation, number of conditions and number of NaN values per group.

    NaN values (undefined metrics) are excluded from the mean and sd and counted in ``n_nan``. A
    split category ``"all"`` pools every category.
    """
    pooled = results.assign(split_category=OVERALL) if "split_category" in by else results.iloc[0:0]
    frame = pd.concat([results, pooled], ignore_index=True)
    grouped = frame.groupby(list(by), observed=True, sort=False)["value"]
    summary = grouped.agg(mean="mean", sd="std", n="size", n_nan=lambda v: int(v.isna().sum()))
    return summary.reset_index()
