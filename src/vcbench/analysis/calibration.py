"""Calibration against the controls (docs/report.md, calibration)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vcbench.analysis.common import (
    CONDITION,
    NEGATIVE,
    POSITIVE,
    RESULT_COLUMNS,
    TASK,
    AnalysisError,
    NotAvailable,
    orientation,
    require_columns,
)
from vcbench.analysis.leaderboard import with_overall


class CalibrationError(AnalysisError):
    """The results lack a calibration control."""


def _require_controls(results: pd.DataFrame) -> None:
    present = set(results["model"].unique())
    roles = {NEGATIVE: "negative control", POSITIVE: "positive control"}
    missing = [f"{name!r} ({role})" for name, role in roles.items() if name not in present]
    if missing:
        raise CalibrationError(
            f"Calibration needs model(s) {', '.join(missing)} in the results; models present: "
            f"{sorted(present)}. `calibration: true` in the benchmark spec (the default) adds them."
        )


def _wide(results: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, condition, metric), one column per model."""
    keys = [*TASK, *CONDITION, "metric", "model"]
    return results.groupby(keys, observed=True, sort=True)["value"].mean().unstack("model")


def calibrated_scores(results: pd.DataFrame) -> pd.DataFrame:
    """Calibrated scores ``(u − b) / (r − b)`` per (task, split category, model, metric).

    ``u``, ``b`` and ``r`` are the means, over one seed's conditions of the (task, split category),
    of the model, of ``perturbed_mean`` (negative control) and of ``technical_replicate`` (positive
    control), over the conditions where all three are defined. 0 = as good as the mean baseline,
    1 = as good as a technical replicate; never clipped; NaN where ``r = b``. ``score`` is the
    mean over seeds, ``score_sd`` the sd over seeds. The split category ``"all"`` pools every
    category. The controls themselves are not listed (they score 0 and 1 by definition).
    """
    require_columns(results, [*RESULT_COLUMNS, "value"])
    _require_controls(results)
    wide = _wide(with_overall(results))
    negative, positive = wide.pop(NEGATIVE), wide.pop(POSITIVE)
    keys = [*TASK, "seed", "split_category", "metric"]
    frames = []
    for model in wide.columns:
        u = wide[model]
        both = u.notna() & negative.notna() & positive.notna()
        means = (
            pd.DataFrame({"u": u, "b": negative, "r": positive})
            .where(both)
            .groupby(keys, observed=True)
            .mean()
        )
        spread = means["r"] - means["b"]
        score = (means["u"] - means["b"]) / spread.where(spread != 0)
        frames.append(score.rename("value").reset_index().assign(model=model))
    if not frames:
        raise NotAvailable(
            "no model besides the calibration controls has results (did the other tasks fail? "
            "see the failure table)"
        )
    per_seed = pd.concat(frames, ignore_index=True)
    group = [*TASK, "split_category", "model", "metric"]
    table = per_seed.groupby(group, observed=True, sort=True)["value"].agg(
        score="mean", score_sd="std", n_seeds="count"
    )
    return table.reset_index()


def discriminative(results: pd.DataFrame, threshold: float = 0.5) -> pd.DataFrame:
    """Per (task, metric): the fraction of conditions where the positive control beats the negative.

    "Beats" is strictly better under the metric's direction (a tie does not beat); conditions
    where either control is NaN are left out. ``n_conditions`` counts the compared conditions
    (pooled over seeds and split categories), and a metric is ``discriminative`` on the task when
    the fraction exceeds ``threshold`` ("most conditions").
    """
    require_columns(results, [*RESULT_COLUMNS, "value"])
    _require_controls(results)
    wide = _wide(results[results["model"].isin([NEGATIVE, POSITIVE])])
    wide = wide.dropna(subset=[NEGATIVE, POSITIVE]).reset_index()
    sign = orientation(wide["metric"])
    wide["beats"] = (wide[POSITIVE] - wide[NEGATIVE]) * sign > 0
    table = wide.groupby([*TASK, "metric"], observed=True, sort=True)["beats"].agg(
        fraction="mean", n_conditions="size"
    )
    table["discriminative"] = table["fraction"] > threshold
    return table.reset_index().astype({"fraction": np.float64})
