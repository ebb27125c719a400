"""Leaderboards: mean ± sd over seeds and a bootstrap interval over conditions, per metric."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vcbench.analysis.common import POSITIVE, RESULT_COLUMNS, TASK, orientation, require_columns
from vcbench.analysis.summary import OVERALL

GROUP = [*TASK, "split_category", "model", "metric"]


def with_overall(results: pd.DataFrame) -> pd.DataFrame:
    """``results`` plus a copy of every row under the split category ``"all"``."""
    return pd.concat([results, results.assign(split_category=OVERALL)], ignore_index=True)


def _bootstrap(
    values: np.ndarray, strata: np.ndarray, rng: np.random.Generator, n_boot: int
) -> np.ndarray:
    """Bootstrap replicates of the mean of per-stratum means, resampling within each stratum."""
    means = []
    for stratum in np.unique(strata):
        chosen = values[strata == stratum]
        draws = rng.integers(0, len(chosen), size=(n_boot, len(chosen)))
        means.append(chosen[draws].mean(axis=1))
    return np.mean(means, axis=0)


def leaderboard(
    results: pd.DataFrame, *, n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> pd.DataFrame:
    """Per (dataset, scenario, variant, split category, model, metric): the mean and sd over seeds
    of the per-seed means over conditions, a bootstrap interval over conditions and the model's rank.

    The split category ``"all"`` pools every category. NaN values (undefined metrics) are left out
    and counted in ``n_nan``. ``ci_low``/``ci_high``: the ``level`` percentile interval of
    ``n_boot`` bootstrap replicates of the mean, conditions resampled with replacement within each
    seed (seeded by ``seed``). ``rank``: 1 = best under the metric's direction among the models of
    the group (ties share the best rank; the technical replicate is a reference, not ranked).
    """
    require_columns(results, [*RESULT_COLUMNS, "value"])
    frame = with_overall(results)
    frame = frame.assign(value=frame["value"].astype(np.float64))
    per_seed = frame.groupby([*GROUP, "seed"], observed=True, sort=True)["value"].mean()
    table = per_seed.groupby(GROUP, observed=True, sort=True).agg(mean="mean", sd="std")
    table["n_seeds"] = per_seed.notna().groupby(GROUP, observed=True, sort=True).sum()
    counts = frame.groupby(GROUP, observed=True, sort=True)["value"]
    table["n_conditions"] = counts.count()
    table["n_nan"] = counts.size() - table["n_conditions"]
    defined = frame.dropna(subset=["value"]).sort_values(GROUP, kind="stable")
    rng = np.random.default_rng(seed)
    bounds = {}
    tail = (1 - level) / 2 * 100
    for key, group in defined.groupby(GROUP, observed=True, sort=True):
        boot = _bootstrap(group["value"].to_numpy(), group["seed"].to_numpy(), rng, n_boot)
        bounds[key] = np.percentile(boot, [tail, 100 - tail])
    interval = pd.DataFrame.from_dict(bounds, orient="index", columns=["ci_low", "ci_high"])
    if len(interval):
        interval.index = pd.MultiIndex.from_tuples(interval.index, names=GROUP)
    table = table.join(interval).reset_index()
    ranked = table["model"] != POSITIVE
    oriented = table["mean"] * orientation(table["metric"])
    table["rank"] = (
        oriented.where(ranked)
        .groupby([table[c] for c in [*TASK, "split_category", "metric"]], observed=True)
        .rank(ascending=False, method="min")
    )
    columns = [*GROUP, "mean", "sd", "ci_low", "ci_high", "n_seeds", "n_conditions", "n_nan"]
    return table[[*columns, "rank"]]
