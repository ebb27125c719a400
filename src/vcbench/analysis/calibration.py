"""Calibration against the controls (docs/report.md, calibration)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vcbench.analysis.common import (
    NEGATIVE,
    POSITIVE,
    RESULT_COLUMNS,
    TASK,
    AnalysisError,
    NotAvailable,
    condition_keys,
    condition_labels,
    higher_is_better,
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
    keys = [*TASK, *condition_keys(results), "metric", "model"]
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


NO_CHANGE = "no_change"
COLLAPSE = "collapse_control"
NEGATIVE_CONTROLS = (NEGATIVE, NO_CHANGE, COLLAPSE)
STATUS_KEYS = [*TASK, "split_category", "metric"]
MIN_CONDITIONS = 3  # a bootstrap over fewer conditions has too few distinct resamples to mean much
STATUS_COLUMNS = [*STATUS_KEYS, "calibrated", "reason", "floor", "ceiling", "n_conditions"]


def _cell_metrics() -> set[str]:
    from vcbench.metrics.registry import METRICS

    return {name for name, metric in METRICS.items() if metric.needs_cells}


def _paired_interval(
    differences: np.ndarray, rng: np.random.Generator, n_boot: int, level: float
) -> tuple[float, float]:
    """The ``level`` percentile interval of the bootstrap mean of paired ``differences``."""
    draws = rng.integers(0, len(differences), size=(n_boot, len(differences)))
    means = differences[draws].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def _status_row(
    group: pd.DataFrame,
    metric: str,
    negatives: list[str],
    sign: float,
    rng: np.random.Generator,
    n_boot: int,
    level: float,
) -> dict[str, object]:
    """Calibration of one (task, split category, metric); ``group``: conditions × models."""
    positive = group[POSITIVE] if POSITIVE in group else pd.Series(np.nan, index=group.index)
    means = {name: float(group[name].mean()) for name in negatives if group[name].notna().any()}
    floor = max(means.values(), key=lambda v: sign * v) if means else np.nan
    ceiling = float(positive.mean()) if positive.notna().any() else np.nan
    defined = positive.notna()
    for name in negatives:
        defined &= group[name].notna()
    n = int(defined.sum())
    row: dict[str, object] = {"floor": floor, "ceiling": ceiling, "n_conditions": n}
    if POSITIVE not in group or not positive.notna().any():
        return {**row, "calibrated": False, "reason": f"{POSITIVE} undefined on this metric"}
    if not negatives:
        return {**row, "calibrated": False, "reason": "no negative control in the results"}
    if n < MIN_CONDITIONS:
        return {
            **row,
            "calibrated": False,
            "reason": f"{n} condition(s) with every control defined; the test needs at least "
            f"{MIN_CONDITIONS}",
        }
    failures = []
    for name in negatives:
        differences = sign * (positive[defined] - group.loc[defined, name]).to_numpy(np.float64)
        low, high = _paired_interval(differences, rng, n_boot, level)
        if not low > 0:
            verdict = "beats" if differences.mean() > 0 else "does not beat"
            failures.append(
                f"{POSITIVE} {verdict} {name} only within noise, not beyond noise "
                f"(paired {level:.0%} CI of the advantage [{low:.3g}, {high:.3g}])"
                if verdict == "beats"
                else f"{POSITIVE} does not beat {name} "
                f"(paired {level:.0%} CI of the advantage [{low:.3g}, {high:.3g}])"
            )
    if failures:
        return {**row, "calibrated": False, "reason": "; ".join(failures)}
    return {**row, "calibrated": True, "reason": ""}


def calibration_status(
    results: pd.DataFrame, *, n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> pd.DataFrame:
    """Whether each metric separates the positive control from every negative control, per task.

    One row per (dataset, scenario, variant, split_category, metric); the split category ``"all"``
    pools every category. Seeds are aggregated first: each model's value of a condition (context,
    perturbation, split category) is its mean over the seeds that scored it. The negative controls
    are ``perturbed_mean``, ``no_change`` and ``collapse_control`` (each where present in the
    results; ``collapse_control`` only on cell-level metrics, since on a mean-level metric it is the
    exact true mean, an oracle rather than a floor). A metric is ``calibrated`` when, for every
    negative control, the ``level`` percentile interval of a paired bootstrap (``n_boot`` resamples
    of the conditions where all the controls are defined, seeded by ``seed``) of the mean advantage
    of ``technical_replicate`` over that control, in the metric's direction, lies above 0, over at
    least ``MIN_CONDITIONS`` (3) conditions.

    Columns: the keys, ``calibrated`` (bool), ``reason`` (why not; empty when calibrated),
    ``floor`` (the mean of the best negative control over its defined conditions), ``ceiling`` (the
    positive control's mean), ``n_conditions`` (conditions in the paired test). Normalised scores
    ``(value − floor) / (ceiling − floor)`` are meaningful only where ``calibrated``.
    """
    require_columns(results, [*RESULT_COLUMNS, "value"])
    controls = [POSITIVE, *NEGATIVE_CONTROLS]
    frame = with_overall(results[results["model"].isin(controls)])
    frame = frame.assign(value=frame["value"].astype(np.float64))
    keys = [*STATUS_KEYS, *condition_labels(frame), "model"]
    wide = frame.groupby(keys, observed=True, sort=True)["value"].mean().unstack("model")
    cell_metrics = _cell_metrics()
    rng = np.random.default_rng(seed)
    rows = []
    for key, group in wide.groupby(level=STATUS_KEYS, observed=True, sort=True):
        metric = str(key[-1])
        negatives = [
            name
            for name in NEGATIVE_CONTROLS
            if name in group
            and group[name].notna().any()
            and (name != COLLAPSE or metric in cell_metrics)
        ]
        sign = 1.0 if higher_is_better(metric) else -1.0
        found = _status_row(group, metric, negatives, sign, rng, n_boot, level)
        rows.append(dict(zip(STATUS_KEYS, key, strict=True)) | found)
    table = pd.DataFrame(rows, columns=STATUS_COLUMNS)
    return table.astype({"calibrated": bool, "reason": str, "n_conditions": np.int64})
