"""The seed paper's three findings as tested statements over a tidy results table.

1. **Context variation** (:func:`context_variation`): per task, model and headline metric, the
   between-context share of score variance ``η² = SS_between / SS_total``, where the values are the
   task's per-condition scores (one per seed × context × perturbation × category), the groups are
   the contexts, ``SS_between = Σ_k n_k (m_k − m)²`` and ``SS_total = Σ_i (x_i − m)²``. CI: the
   percentile interval of a cluster bootstrap that redraws whole contexts with replacement (all
   models together, so the median over models gets its own interval). Supported when the task has
   at least ``MIN_CONTEXTS`` contexts and at least one context is scored more than once (else the
   within-context variance, and with it the share, cannot be estimated).
2. **Strict drop** (:func:`strict_drop_test`): per scenario run in both its standard and its strict
   variant (``vcbench.analysis.variants.STANDARD_STRICT``), the paired difference ``d = strict −
   standard`` of the per-seed mean over conditions, paired on (dataset, seed, model, metric). Per
   model and metric, and pooled over models: the mean of ``d``, its 95 % t-interval, the relative
   change ``mean(d) / |mean(standard)|``, and a two-sided sign test (``scipy.stats.binomtest``) of
   "strict is worse" (``d`` oriented by the metric's direction; ties dropped). Where the splits'
   measured shift is given (:func:`split_shifts`), the strict split's extra shift is the paired
   difference of the shift (strict − standard), paired on (dataset, seed), with its t-interval. "Not reproduced here" when the CI covers 0;
   supported with at least ``MIN_SEEDS`` pairs.
3. **Metric disagreement** (:func:`metric_disagreement`): per task and pair of headline metrics,
   Kendall τ-b between the models' ranks under the two metrics (means over conditions; a metric
   undefined for a model ranks it last). CI: percentile interval of a bootstrap that redraws the
   task's conditions with replacement. Supported with at least ``MIN_MODELS`` models and
   ``MIN_CONDITIONS`` conditions.

Controls (``vcbench.analysis.common.role``: the technical replicate, ``perturbed_mean``, the
collapse control) are left out of every finding's model set; baselines (``no_change`` too) stay. Each finding renders as one sentence with its numbers
(:func:`statements`) and says when the data cannot support it. :func:`findings_table` stacks the
three tables into the columns of ``findings.csv`` (:data:`FINDING_COLUMNS`).
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from vcbench.analysis.common import (
    RESULT_COLUMNS,
    TASK,
    AnalysisError,
    condition_keys,
    condition_labels,
    orientation,
    require_columns,
    role,
)
from vcbench.analysis.variants import STANDARD_STRICT

HEADLINE = ("pdcorr", "pds", "de_overlap", "energy_distance")
POOLED = "(all models)"
MIN_CONTEXTS, MIN_SEEDS, MIN_MODELS, MIN_CONDITIONS = 3, 3, 5, 10
FINDING_COLUMNS = [
    "finding",
    "dataset",
    "scenario",
    "variant",
    "model",
    "metric",
    "metric_b",
    "estimate",
    "ci_low",
    "ci_high",
    "n",
    "n_contexts",
    "n_models",
    "n_worse",
    "p_value",
    "relative",
    "extra_shift",
    "extra_shift_ci_low",
    "extra_shift_ci_high",
    "shift_standard",
    "shift_strict",
    "supported",
    "note",
]


def is_control(model: str) -> bool:
    """Whether ``model`` is a calibration control (``vcbench.analysis.common.role``: the technical
    replicate, ``perturbed_mean``, the collapse control), left out of the findings."""
    return role(model) == "control"


def _prepare(results: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    require_columns(results, [*RESULT_COLUMNS, "value"])
    frame = results[results["metric"].isin(metrics) & ~results["model"].map(is_control)]
    frame = frame.assign(value=frame["value"].astype(np.float64))
    defined = frame.groupby([*TASK, "metric"], observed=True)["value"].transform(
        lambda v: np.isfinite(v).any()
    )
    frame = frame[defined.astype(bool)]  # a metric undefined for every model says nothing
    for column in (*condition_labels(frame), "split_category"):
        frame[column] = frame[column].astype(str)
    return frame


def _t_interval(d: np.ndarray) -> tuple[float, float]:
    if len(d) < 2:
        return (np.nan, np.nan)
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return (float(d.mean() - half), float(d.mean() + half))


def _percentile(draws: np.ndarray, n_units: int) -> tuple[float, float]:
    """The 95 % percentile interval of bootstrap ``draws`` that redrew ``n_units`` units; NaN with
    fewer than 2 units (a bootstrap of one unit is a point, not an interval)."""
    finite = draws[np.isfinite(draws)]
    if len(finite) == 0 or n_units < 2:
        return (np.nan, np.nan)
    low, high = np.percentile(finite, [2.5, 97.5])
    return (float(low), float(high))


# --- 1. context variation ----------------------------------------------------------------------


def _eta_squared(values: np.ndarray, groups: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """η² per column of ``values`` (observations × models) over ``groups`` (group index per
    observation), each observation counted ``weights`` times; NaN values are left out."""
    present = np.isfinite(values)
    w = weights[:, None] * present
    x = np.where(present, values, 0.0)
    total_w = w.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (w * x).sum(axis=0) / total_w
        n_groups = groups.max() + 1
        group_w = np.zeros((n_groups, x.shape[1]))
        group_sum = np.zeros((n_groups, x.shape[1]))
        np.add.at(group_w, groups, w)
        np.add.at(group_sum, groups, w * x)
        group_mean = group_sum / group_w
        between = np.nansum(group_w * (group_mean - mean) ** 2, axis=0)
        total = (w * (x - mean) ** 2).sum(axis=0)
        return np.where(total > 0, between / total, np.nan)


def context_variation(
    results: pd.DataFrame,
    metrics: Sequence[str] = HEADLINE,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Between-context share of score variance per task, model and metric (module doc, item 1).

    Columns: task keys, ``model`` (:data:`POOLED` for the median over models), ``metric``,
    ``estimate``, ``ci_low``, ``ci_high``, ``n`` (scores), ``n_contexts``, ``supported``, ``note``.
    """
    frame = _prepare(results, metrics)
    rng = np.random.default_rng(seed)
    rows = []
    for key, task in frame.groupby([*TASK, "metric"], observed=True, sort=True):
        wide = task.pivot_table(
            index=condition_keys(task),
            columns="model",
            values="value",
            aggfunc="mean",
            observed=True,
        )
        contexts = wide.index.get_level_values("context").to_numpy()
        names, groups = np.unique(contexts, return_inverse=True)
        if len(names) < 2:
            continue
        values = wide.to_numpy(dtype=np.float64)
        ones = np.ones(len(values))
        share = _eta_squared(values, groups, ones)
        per_context = np.bincount(groups)
        draws = np.empty((n_boot, values.shape[1]))
        for b in range(n_boot):
            picked = rng.integers(0, len(names), len(names))
            counts = np.bincount(picked, minlength=len(names))
            draws[b] = _eta_squared(values, groups, counts[groups].astype(np.float64))
        note = ""
        if len(names) < MIN_CONTEXTS:
            note = f"only {len(names)} contexts (need {MIN_CONTEXTS})"
        elif per_context.max() < 2:
            note = "each context scored once: within-context variance cannot be estimated"
        models = [*wide.columns, POOLED]
        estimates = [*share, float(np.nanmedian(share)) if np.isfinite(share).any() else np.nan]
        finite = np.isfinite(draws).any(axis=1)
        pooled_draws = np.full(n_boot, np.nan)
        pooled_draws[finite] = np.nanmedian(draws[finite], axis=1)
        intervals = [_percentile(draws[:, j], len(names)) for j in range(values.shape[1])]
        intervals.append(_percentile(pooled_draws, len(names)))
        for model, estimate, (low, high) in zip(models, estimates, intervals, strict=True):
            n = (
                int(np.isfinite(values).sum())
                if model == POOLED
                else int(np.isfinite(wide[model]).sum())
            )
            rows.append((*key, model, estimate, low, high, n, len(names), not note, note))
    columns = [*TASK, "metric", "model", "estimate", "ci_low", "ci_high", "n", "n_contexts"]
    table = pd.DataFrame(rows, columns=[*columns, "supported", "note"])
    return table[[*TASK, "model", "metric", *columns[5:], "supported", "note"]]


# --- 2. strict drop ----------------------------------------------------------------------------


def split_shifts(out: str | Path) -> pd.DataFrame:
    """The shift of every split of a run folder: ``vcbench.scenarios.shift.split_shift``, the
    field the split files carry (``info["shift"]``): the mean over the test contexts of the energy
    distance to the nearest training context, or for a split that holds out no context the mean of
    its ``category`` rows; columns ``dataset, scenario, variant, seed, shift, measure``. Empty
    without records."""
    from vcbench.scenarios.io import load_split
    from vcbench.scenarios.shift import split_shift

    out = Path(out)
    columns = ["dataset", "scenario", "variant", "seed", "shift", "measure"]
    records_path = out / "records.parquet"
    if not records_path.exists():
        return pd.DataFrame(columns=columns)
    records = pd.read_parquet(records_path)
    keys = records[["dataset", "scenario", "variant", "seed", "split_id"]].drop_duplicates()
    rows = []
    for dataset, scenario, variant, seed_, split_id in keys.itertuples(index=False):
        path = out / "splits" / str(split_id) / "split.parquet"
        if not path.exists():
            continue
        value, measure = split_shift(load_split(path).shift)
        if np.isfinite(value):
            rows.append((dataset, scenario, variant, int(seed_), value, measure))
    return pd.DataFrame(rows, columns=columns)


def _shift_difference(
    shifts: pd.DataFrame | None, dataset: str, scenario: str, standard: str, strict: str
) -> tuple[float, float, float, float, float]:
    """``(mean d, ci_low, ci_high, mean standard shift, mean strict shift)`` over the seeds both
    variants share, ``d`` = strict − standard shift."""
    missing = (np.nan,) * 5
    if shifts is None or shifts.empty:
        return missing
    rows = shifts[(shifts["dataset"] == dataset) & (shifts["scenario"] == scenario)]
    wide = rows.pivot_table(index="seed", columns="variant", values="shift", aggfunc="mean")
    if standard not in wide.columns or strict not in wide.columns:
        return missing
    both = wide[[standard, strict]].dropna()
    d = (both[strict] - both[standard]).to_numpy()
    if len(d) == 0:
        return missing
    return (float(d.mean()), *_t_interval(d), float(both[standard].mean()), both[strict].mean())


def strict_drop_test(
    results: pd.DataFrame,
    metrics: Sequence[str] = HEADLINE,
    shifts: pd.DataFrame | None = None,
    pairs: dict[str, tuple[str, str]] | None = None,
) -> pd.DataFrame:
    """Paired strict − standard differences per model and metric (module doc, item 2).

    Columns: ``dataset, scenario, variant`` (the strict variant), ``model`` (:data:`POOLED` for
    all models' pairs together), ``metric``, ``estimate`` (mean of strict − standard), ``ci_low``,
    ``ci_high``, ``n`` (pairs), ``n_worse`` (pairs where strict is worse), ``p_value`` (sign
    test), ``relative``, ``extra_shift`` with its CI, ``shift_standard`` and ``shift_strict``
    (the variants' mean shifts over the paired seeds), ``supported``, ``note``.
    """
    pairs = STANDARD_STRICT if pairs is None else pairs
    frame = _prepare(results, metrics)
    per_seed = (
        frame.groupby(["dataset", "scenario", "variant", "seed", "model", "metric"], observed=True)[
            "value"
        ]
        .mean()
        .reset_index()
    )
    rows = []
    for scenario, (standard, strict) in pairs.items():
        rows_s = per_seed[per_seed["scenario"] == scenario]
        keys = ["dataset", "seed", "model", "metric"]
        a = rows_s[rows_s["variant"] == standard].set_index(keys)["value"].rename("standard")
        b = rows_s[rows_s["variant"] == strict].set_index(keys)["value"].rename("strict")
        paired = pd.concat([a, b], axis=1, join="inner").dropna().reset_index()
        if paired.empty:
            continue
        paired["d"] = paired["strict"] - paired["standard"]
        paired["worse"] = paired["d"] * orientation(paired["metric"])
        for dataset, by_dataset in paired.groupby("dataset", sort=True):
            shift = _shift_difference(shifts, dataset, scenario, standard, strict)
            groups = [
                *(
                    (model, metric, g)
                    for (model, metric), g in by_dataset.groupby(["model", "metric"])
                ),
                *((POOLED, metric, g) for metric, g in by_dataset.groupby("metric")),
            ]
            for model, metric, group in groups:
                d = group["d"].to_numpy(dtype=np.float64)
                oriented = group["worse"].to_numpy(dtype=np.float64)
                n_worse, n_better = int((oriented < 0).sum()), int((oriented > 0).sum())
                p = (
                    float(stats.binomtest(n_worse, n_worse + n_better, 0.5).pvalue)
                    if n_worse + n_better
                    else 1.0
                )
                low, high = _t_interval(d)
                base = abs(group["standard"].mean())
                relative = float(d.mean() / base) if base > 0 else np.nan
                n_seeds = group["seed"].nunique()
                note = "" if n_seeds >= MIN_SEEDS else f"only {n_seeds} seed(s) (need {MIN_SEEDS})"
                rows.append(
                    (
                        dataset,
                        scenario,
                        strict,
                        model,
                        metric,
                        float(d.mean()),
                        low,
                        high,
                        len(d),
                        n_worse,
                        p,
                        relative,
                        *shift,
                        not note,
                        note,
                    )
                )
    columns = [
        "dataset",
        "scenario",
        "variant",
        "model",
        "metric",
        "estimate",
        "ci_low",
        "ci_high",
        "n",
        "n_worse",
        "p_value",
        "relative",
        "extra_shift",
        "extra_shift_ci_low",
        "extra_shift_ci_high",
        "shift_standard",
        "shift_strict",
        "supported",
        "note",
    ]
    return pd.DataFrame(rows, columns=columns)


# --- 3. metric disagreement --------------------------------------------------------------------


def _ranks(means: np.ndarray, signs: np.ndarray) -> np.ndarray:
    """Ranks of models (rows) per metric (columns), 1 = best; NaN (undefined) ranks last."""
    oriented = np.where(np.isfinite(means), means * signs, -np.inf)
    return np.column_stack(
        [stats.rankdata(-oriented[:, j], method="average") for j in range(means.shape[1])]
    )


def _model_means(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted means over conditions (axis 0) of values (conditions × models × metrics)."""
    present = np.isfinite(values)
    w = weights[:, None, None] * present
    with np.errstate(invalid="ignore", divide="ignore"):
        return (w * np.where(present, values, 0.0)).sum(axis=0) / w.sum(axis=0)


def metric_disagreement(
    results: pd.DataFrame,
    metrics: Sequence[str] = HEADLINE,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Kendall τ-b between model rankings of each pair of metrics, per task (module doc, item 3).

    Columns: task keys, ``metric``, ``metric_b``, ``estimate`` (τ), ``ci_low``, ``ci_high``,
    ``n_models``, ``n`` (conditions), ``supported``, ``note``.
    """
    frame = _prepare(results, metrics)
    rng = np.random.default_rng(seed)
    rows = []
    for key, task in frame.groupby(TASK, observed=True, sort=True):
        cube = task.pivot_table(
            index=condition_keys(task), columns=["model", "metric"], values="value", aggfunc="mean"
        )
        models = sorted(set(cube.columns.get_level_values("model")))
        present = [m for m in metrics if m in set(cube.columns.get_level_values("metric"))]
        if len(models) < 2 or len(present) < 2:
            continue
        cube = cube.reindex(columns=pd.MultiIndex.from_product([models, present]))
        values = cube.to_numpy(dtype=np.float64).reshape(len(cube), len(models), len(present))
        signs = orientation(pd.Series(present))
        ranks = _ranks(_model_means(values, np.ones(len(cube))), signs)
        boot = np.empty((n_boot, len(models), len(present)))
        for b in range(n_boot):
            counts = np.bincount(rng.integers(0, len(cube), len(cube)), minlength=len(cube))
            boot[b] = _ranks(_model_means(values, counts.astype(np.float64)), signs)
        note = []
        if len(models) < MIN_MODELS:
            note.append(f"only {len(models)} models (need {MIN_MODELS})")
        if len(cube) < MIN_CONDITIONS:
            note.append(f"only {len(cube)} conditions (need {MIN_CONDITIONS})")
        counts = (len(models), len(cube))
        for i, j in itertools.combinations(range(len(present)), 2):
            tau = float(stats.kendalltau(ranks[:, i], ranks[:, j]).statistic)
            draws = np.array([stats.kendalltau(r[:, i], r[:, j]).statistic for r in boot])
            low, high = _percentile(draws, len(cube))
            rows.append(
                (*key, present[i], present[j], tau, low, high, *counts, not note, "; ".join(note))
            )
    columns = [*TASK, "metric", "metric_b", "estimate", "ci_low", "ci_high", "n_models", "n"]
    return pd.DataFrame(rows, columns=[*columns, "supported", "note"])


# --- sentences and the findings table ----------------------------------------------------------


def _fmt(x: float) -> str:
    return "NaN" if not np.isfinite(x) else f"{x:.3g}" if abs(x) < 1000 else f"{x:.0f}"


def ci_text(estimate: float, low: float, high: float, n: int | None = None) -> str:
    """``estimate [low, high]``; ``estimate (n = 1)`` where there is no interval, never a point
    interval such as ``[0.851, 0.851]`` (``(no spread over n = k)`` where all k values agree)."""
    if not np.isfinite(low) or not np.isfinite(high):
        return f"{_fmt(estimate)} (n = {n})" if n is not None and n < 2 else f"{_fmt(estimate)}"
    if _fmt(low) == _fmt(high):
        return f"{_fmt(estimate)} (no spread over n = {n})" if n is not None else _fmt(estimate)
    return f"{_fmt(estimate)} [{_fmt(low)}, {_fmt(high)}]"


def _ci(row: pd.Series) -> str:
    n = int(row["n"]) if "n" in row and pd.notna(row["n"]) else None
    return ci_text(row["estimate"], row["ci_low"], row["ci_high"], n)


def _task(row: pd.Series) -> str:
    return f"{row['dataset']} {row['scenario']}/{row['variant']}"


def context_sentences(table: pd.DataFrame) -> list[str]:
    """One sentence per task from :func:`context_variation`."""
    if table.empty:
        return []
    sentences = []
    for _, rows in table.groupby([*TASK], sort=True):
        first = rows.iloc[0]
        parts = []
        for metric, by_metric in rows.groupby("metric", sort=False):
            pooled = by_metric[by_metric["model"] == POOLED].iloc[0]
            parts.append(f"{metric} {_ci(pooled)} ({len(by_metric) - 1} models)")
        text = (
            f"Context variation, {_task(first)}: the between-context share of score variance "
            f"(median over models, 95% CI) is {', '.join(parts)}, over {first['n_contexts']} "
            "contexts"
        )
        if not rows["supported"].all():
            text += f"; the data cannot support this finding ({first['note']})"
        sentences.append(text + ".")
    return sentences


def strict_sentences(table: pd.DataFrame) -> list[str]:
    """One sentence per (dataset, scenario) from :func:`strict_drop_test`."""
    if table.empty:
        return []
    sentences = []
    pooled = table[table["model"] == POOLED]
    for (dataset, scenario), rows in pooled.groupby(["dataset", "scenario"], sort=True):
        parts = []
        for _, r in rows.iterrows():
            covers = not (r["ci_low"] > 0 or r["ci_high"] < 0)
            verdict = (
                "not reproduced here"
                if covers or not np.isfinite(r["ci_low"])
                else "worse under strict"
                if r["estimate"] * orientation(pd.Series([r["metric"]]))[0] < 0
                else "better under strict (reversed)"
            )
            parts.append(
                f"{r['metric']} {_ci(r)} ({_fmt(100 * r['relative'])}%, strict worse in "
                f"{r['n_worse']}/{r['n']} pairs, sign test p = {_fmt(r['p_value'])}: {verdict})"
            )
        first = rows.iloc[0]
        standard = STANDARD_STRICT.get(scenario, ("standard",))[0]
        text = (
            f"Strict drop, {dataset} {scenario}/{first['variant']}: strict − {standard} (mean "
            f"over (seed, model) pairs, 95% CI) is " + "; ".join(parts)
        )
        measure = (
            "mean energy distance of a test context to its nearest training context"
            if scenario == "context"
            else "energy distance of test to training perturbed cells"
        )
        if np.isfinite(first["extra_shift"]):
            extra = first["extra_shift"]
            low, high = first["extra_shift_ci_low"], first["extra_shift_ci_high"]
            verdict = (
                "farther from training than"
                if low > 0
                else "closer to training than"
                if high < 0
                else "not clearly farther from training than"
            )
            text += (
                f"; by the shift ({measure}), the strict split is {verdict} {standard} "
                f"({standard} {_fmt(first['shift_standard'])}, strict "
                f"{_fmt(first['shift_strict'])}; strict − {standard} "
                f"{ci_text(extra, low, high)})"
            )
        else:
            text += "; the splits' shift was not measured"
        if not rows["supported"].all():
            text += f"; the data cannot support this finding ({first['note']})"
        sentences.append(text + ".")
    return sentences


def disagreement_sentences(table: pd.DataFrame, n_pairs: int = 2) -> list[str]:
    """One sentence per task from :func:`metric_disagreement`, naming the ``n_pairs`` pairs of
    metrics that disagree most (lowest τ)."""
    if table.empty:
        return []
    sentences = []
    for _, rows in table.groupby(TASK, sort=True):
        first = rows.iloc[0]
        ordered = rows.sort_values("estimate", na_position="last")
        worst = "; ".join(
            f"{r['metric']} vs {r['metric_b']} τ = {_ci(r)}"
            for _, r in ordered.head(n_pairs).iterrows()
        )
        text = (
            f"Metric disagreement, {_task(first)}: over {first['n_models']} models and "
            f"{first['n']} conditions, the pairs of metrics whose model rankings agree least are "
            f"{worst} (Kendall τ, 95% CI; median τ over {len(rows)} pairs "
            f"{_fmt(float(rows['estimate'].median()))}; τ = 1 is the same ranking, −1 reversed)"
        )
        if not first["supported"]:
            text += f"; the data cannot support this finding ({first['note']})"
        sentences.append(text + ".")
    return sentences


def findings_table(
    context: pd.DataFrame, strict: pd.DataFrame, disagreement: pd.DataFrame
) -> pd.DataFrame:
    """The three findings' tables in the columns of ``findings.csv`` (:data:`FINDING_COLUMNS`)."""
    frames = [
        context.assign(finding="context_variation"),
        strict.assign(finding="strict_drop"),
        disagreement.assign(finding="metric_disagreement", model=""),
    ]
    frames = [f for f in frames if not f.empty]
    if not frames:  # a failed run or a single model: no finding has data
        return pd.DataFrame(columns=list(FINDING_COLUMNS))
    return pd.concat(frames, ignore_index=True).reindex(columns=FINDING_COLUMNS)


def statements(
    context: pd.DataFrame, strict: pd.DataFrame, disagreement: pd.DataFrame
) -> dict[str, list[str]]:
    """The findings as sentences, by finding (a finding without data says so)."""
    return {
        "context_variation": context_sentences(context)
        or ["Context variation: no task scores models on two or more contexts."],
        "strict_drop": strict_sentences(strict)
        or ["Strict drop: no scenario was run in both its standard and its strict variant."],
        "metric_disagreement": disagreement_sentences(disagreement)
        or ["Metric disagreement: no task has two models and two headline metrics."],
    }


def write_findings(table: pd.DataFrame, path: str | Path) -> Path:
    """Write ``table`` as CSV atomically (a temporary file renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(handle)
    try:
        table.to_csv(temporary, index=False)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def analyse(
    results: pd.DataFrame,
    shifts: pd.DataFrame | None = None,
    metrics: Sequence[str] = HEADLINE,
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """All three findings: the ``findings.csv`` table and the sentences."""
    if results.empty:
        raise AnalysisError("The results table is empty: run a benchmark first.")
    context = context_variation(results, metrics, n_boot, seed)
    strict = strict_drop_test(results, metrics, shifts)
    disagreement = metric_disagreement(results, metrics, n_boot, seed)
    return findings_table(context, strict, disagreement), statements(context, strict, disagreement)
