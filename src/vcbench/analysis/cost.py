"""Compute cost beside accuracy."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vcbench.analysis.common import POSITIVE, require_columns

COST_COLUMNS = ["fit_seconds", "predict_seconds", "wall_seconds", "peak_memory_mib"]


def compute_cost(records: pd.DataFrame, ranks: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per model: the mean fit, predict and wall seconds per task, the largest peak memory (MiB),
    and the number of scored and failed tasks (a task skipped as not applicable is neither), from
    ``records.parquet``.

    With ``ranks`` (:func:`vcbench.analysis.model_ranks`), ``mean_rank`` is the model's rank averaged
    over every (task, metric): accuracy beside the cost (1 = best everywhere).
    """
    require_columns(records, ["model", "status", *COST_COLUMNS], what="records")
    frame = records.assign(
        **{c: pd.to_numeric(records[c], errors="coerce") for c in COST_COLUMNS},
        ok=records["status"] == "ok",
        failed=records["status"] == "failed",  # not "not_applicable": skipped, not failed
    )
    done = frame[frame["ok"]]
    table = done.groupby("model", sort=True).agg(
        fit_seconds=("fit_seconds", "mean"),
        predict_seconds=("predict_seconds", "mean"),
        wall_seconds=("wall_seconds", "mean"),
        peak_memory_mib=("peak_memory_mib", "max"),
    )
    counts = frame.groupby("model", sort=True)["ok"].agg(n_ok="sum")
    table = counts.join(table)
    table["n_failed"] = frame.groupby("model", sort=True)["failed"].sum()
    if ranks is not None:
        table["mean_rank"] = ranks.groupby("model")["rank"].mean()
    table.loc[table.index == POSITIVE, "fit_seconds"] = np.nan  # the replicate is not fitted
    return table.reset_index()
