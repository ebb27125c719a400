"""Aggregate tidy per-condition results."""

from __future__ import annotations

import numpy as np
import pandas as pd

OVERALL = "all"


def summarise(
    results: pd.DataFrame, by: tuple[str, ...] = ("model", "split_category", "metric")
) -> pd.DataFrame:
    """Per group: ``mean``, ``sd``, ``ci_low``/``ci_high`` (Student-t 95 % interval), ``n``
    conditions, ``n_nan`` and the metric's ``direction`` (``higher``/``lower`` is better).

    With ``seed``, ``context`` and ``perturbation`` columns, each condition's values are first
    averaged over seeds, so ``n`` counts conditions and the interval is over conditions. NaN values
    (undefined metrics) are excluded from the mean, sd and interval and counted in ``n_nan``. A
    split category ``"all"`` pools every category.
    """
    from vcbench.analysis.ranking import direction, interval

    pooled = results.assign(split_category=OVERALL) if "split_category" in by else results.iloc[0:0]
    frame = pd.concat([results, pooled], ignore_index=True)
    frame = frame.assign(value=frame["value"].astype(np.float64))
    condition = [
        c for c in ("context", "perturbation", "dose") if c in frame.columns and c not in by
    ]
    if "seed" in frame.columns and condition:
        frame = frame.groupby([*by, *condition], observed=True, sort=False)["value"].mean()
        frame = frame.reset_index()
    order = frame[list(by)].drop_duplicates()
    summary = interval(frame, list(by))
    summary = order.merge(summary, on=list(by), how="left")
    summary["n"] = summary["n"] + summary["n_nan"]
    summary["direction"] = direction(summary["metric"]) if "metric" in by else np.nan
    return summary[[*by, "mean", "sd", "ci_low", "ci_high", "n", "n_nan", "direction"]]
