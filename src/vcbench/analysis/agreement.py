"""Agreement between metrics: value correlation and the Kendall τ between model rankings."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from vcbench.analysis.common import (
    POSITIVE,
    RESULT_COLUMNS,
    TASK,
    NotAvailable,
    condition_keys,
    condition_labels,
    orientation,
    require_columns,
    role,
)
from vcbench.analysis.ranking import condition_values, fill_undefined

# Agreement statistics need this much support in a task (fewer: not shown).
MIN_MODELS, MIN_CONDITIONS = 5, 10


def metric_correlation(results: pd.DataFrame, method: str = "spearman") -> pd.DataFrame:
    """The correlation matrix between metrics over all (model, task, condition) values.

    Values are oriented so that higher is better for every metric (lower-is-better metrics are
    negated), so a positive correlation means that the metrics agree. Pairs of metrics are
    compared on the values where both are defined (``method``: ``"spearman"`` or ``"pearson"``).
    The technical replicate is left out, and so are tasks that :func:`supported_tasks` does not
    support (fewer than 5 models or 10 conditions; :class:`NotAvailable` when none is).
    """
    require_columns(results, [*RESULT_COLUMNS, "value"])
    support = supported_tasks(results)
    if not support["supported"].any():
        raise NotAvailable(
            f"metric agreement needs at least {MIN_MODELS} models (besides the controls) and "
            f"{MIN_CONDITIONS} conditions in a task"
        )
    keep = support.loc[support["supported"], TASK]
    frame = results.merge(keep, on=TASK, how="inner")
    frame = frame[frame["model"] != POSITIVE]
    frame = frame.assign(value=frame["value"].astype(np.float64) * orientation(frame["metric"]))
    keys = [*TASK, *condition_keys(frame), "model", "metric"]
    wide = frame.groupby(keys, observed=True, sort=True)["value"].mean().unstack("metric")
    if wide.shape[1] < 2:
        raise NotAvailable("metric agreement needs at least two metrics")
    metrics = list(dict.fromkeys(results["metric"]))
    return (
        wide[metrics].corr(method=method, min_periods=3).rename_axis(None).rename_axis(None, axis=1)
    )


def model_means(results: pd.DataFrame) -> pd.DataFrame:
    """Per (task, model, metric) of the non-controls: the mean over conditions (seeds aggregated
    first) with undefined values counted as the metric's worst (the ranking rules)."""
    require_columns(results, [*RESULT_COLUMNS, "value"])
    frame = fill_undefined(results[results["model"].map(role) != "control"])
    values = condition_values(frame, [*TASK, "model", "metric"])
    return (
        values.groupby([*TASK, "model", "metric"], observed=True, sort=False)["value"]
        .mean()
        .reset_index()
    )


def model_ranks(results: pd.DataFrame) -> pd.DataFrame:
    """Each non-control's rank per (task, metric): 1 = best under the metric's direction, ties get
    the mean rank; from :func:`model_means` (every model ranked on the same metrics)."""
    means = model_means(results)
    oriented = means["value"] * orientation(means["metric"])
    means["rank"] = oriented.groupby([means[c] for c in [*TASK, "metric"]], observed=True).rank(
        ascending=False, method="average", na_option="bottom"
    )
    return means


def supported_tasks(results: pd.DataFrame) -> pd.DataFrame:
    """Per task: ``n_models`` (non-controls), ``n_conditions`` (seeds aggregated) and
    ``supported``: at least :data:`MIN_MODELS` models and :data:`MIN_CONDITIONS` conditions."""
    frame = results[results["model"].map(role) != "control"]
    if frame.empty:  # only the controls have results (every other task failed)
        return pd.DataFrame(columns=[*TASK, "n_models", "n_conditions", "supported"]).astype(
            {"n_models": int, "n_conditions": int, "supported": bool}
        )
    models = frame.groupby(TASK, observed=True)["model"].nunique()
    conditions = frame.groupby(TASK, observed=True)[condition_labels(frame)].apply(
        lambda f: len(f.drop_duplicates())
    )
    table = pd.DataFrame({"n_models": models, "n_conditions": conditions}).reset_index()
    table["supported"] = (table["n_models"] >= MIN_MODELS) & (
        table["n_conditions"] >= MIN_CONDITIONS
    )
    return table


def kendall_tau_b(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall τ-b between the last axes of ``x`` and ``y`` (same shape, ``[..., k]``):
    Σ sgn(xᵢ − xⱼ) sgn(yᵢ − yⱼ) / √(Σ sgn(xᵢ − xⱼ)² · Σ sgn(yᵢ − yⱼ)²) over pairs i < j; NaN where
    either ties every pair."""
    i, j = np.triu_indices(x.shape[-1], 1)
    sx, sy = np.sign(x[..., i] - x[..., j]), np.sign(y[..., i] - y[..., j])
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sx * sy).sum(-1) / np.sqrt((sx**2).sum(-1) * (sy**2).sum(-1))


def ranking_agreement(
    results: pd.DataFrame,
    metrics: list[str] | None = None,
    *,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Kendall τ-b between the model rankings of every pair of ``metrics`` (default: all), per
    supported task (:func:`supported_tasks`), with a bootstrap interval over conditions.

    Model means are :func:`model_means` (undefined = worst, controls left out), oriented so that
    higher is better; τ-b compares two metrics' model means (1 = same ranking, −1 = reversed).
    ``tau_low``/``tau_high``: the ``level`` percentile interval of τ over ``n_boot`` resamples of
    the task's conditions (with replacement, the same conditions for every model and metric;
    seeded). Columns: task keys, ``metric_a``, ``metric_b``, ``tau``, ``tau_low``, ``tau_high``,
    ``n_models``, ``n_conditions``. Raises :class:`NotAvailable` when no task is supported.
    """
    require_columns(results, [*RESULT_COLUMNS, "value"])
    support = supported_tasks(results)
    if not support["supported"].any():
        raise NotAvailable(
            f"ranking agreement needs at least {MIN_MODELS} models (besides the controls) and "
            f"{MIN_CONDITIONS} conditions in a task; the largest task has "
            f"{support['n_models'].max()} models and {support['n_conditions'].max()} conditions"
        )
    frame = fill_undefined(results[results["model"].map(role) != "control"])
    chosen = list(dict.fromkeys(frame["metric"])) if metrics is None else list(metrics)
    frame = frame[frame["metric"].isin(chosen)]
    values = condition_values(frame, [*TASK, "model", "metric"])
    rng = np.random.default_rng(seed)
    tail = (1 - level) / 2 * 100
    rows = []
    for task in support.loc[support["supported"], TASK].itertuples(index=False):
        block = values[(values[TASK] == pd.Series(tuple(task), index=TASK)).all(axis=1)]
        cube = block.pivot_table(
            index=condition_labels(block),
            columns=["model", "metric"],
            values="value",
            observed=True,
            dropna=False,
        )
        models = list(dict.fromkeys(cube.columns.get_level_values(0)))
        present = [m for m in chosen if m in set(cube.columns.get_level_values(1))]
        cube = cube.reindex(columns=pd.MultiIndex.from_product([models, present]))
        array = cube.to_numpy().reshape(len(cube), len(models), len(present))
        array = array * orientation(pd.Series(present))[None, None, :]
        draws = rng.integers(0, len(array), size=(n_boot, len(array)))
        with np.errstate(invalid="ignore"):
            point = np.nanmean(array, axis=0)  # [models, metrics]
            boot = np.stack([np.nanmean(array[d], axis=0) for d in draws])
        for a, b in itertools.combinations(range(len(present)), 2):
            tau = float(kendall_tau_b(point[:, a], point[:, b]))
            sample = kendall_tau_b(boot[:, :, a], boot[:, :, b])
            sample = sample[~np.isnan(sample)]
            low, high = np.percentile(sample, [tail, 100 - tail]) if len(sample) else (np.nan,) * 2
            rows.append((*task, present[a], present[b], tau, low, high, len(models), len(array)))
    columns = [*TASK, "metric_a", "metric_b", "tau", "tau_low", "tau_high"]
    return pd.DataFrame(rows, columns=[*columns, "n_models", "n_conditions"])


def tau_matrix(agreement: pd.DataFrame) -> pd.DataFrame:
    """The mean τ over tasks of :func:`ranking_agreement` as a symmetric metric × metric matrix."""
    mean = agreement.groupby(["metric_a", "metric_b"], sort=False)["tau"].mean()
    metrics = list(dict.fromkeys([*agreement["metric_a"], *agreement["metric_b"]]))
    matrix = pd.DataFrame(np.eye(len(metrics)), index=metrics, columns=metrics)
    for (a, b), tau in mean.items():
        matrix.loc[a, b] = matrix.loc[b, a] = tau
    return matrix
