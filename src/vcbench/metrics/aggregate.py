"""Aggregate tidy per-condition scores: mean, sd, n, NaN count and a bootstrap 95 % interval."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vcbench.metrics.registry import METRICS


def bootstrap_interval(
    values: np.ndarray, *, n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean over conditions (NaN values left out).

    Resamples the defined values with replacement ``n_boot`` times (one vectorised draw); NaN bounds
    when no value is defined.
    """
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    draws = np.random.default_rng(seed).integers(0, values.size, size=(n_boot, values.size))
    means = values[draws].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def aggregate(
    scores: pd.DataFrame,
    by: tuple[str, ...] = ("context", "metric"),
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per group of ``by``: mean and sd over the defined conditions, ``n`` conditions,
    ``n_nan`` undefined ones, the bootstrap 95 % interval of the mean (``ci_low``, ``ci_high``), and
    the metric's family and best value.
    """
    rows = []
    for key, group in scores.groupby(list(by), sort=False, observed=True):
        values = group["value"].to_numpy(dtype=np.float64)
        low, high = bootstrap_interval(values, n_boot=n_boot, seed=seed)
        defined = values[~np.isnan(values)]
        rows.append(
            (
                *(key if isinstance(key, tuple) else (key,)),
                float(defined.mean()) if defined.size else np.nan,
                float(defined.std(ddof=1)) if defined.size > 1 else np.nan,
                len(values),
                int(np.isnan(values).sum()),
                low,
                high,
            )
        )
    out = pd.DataFrame(rows, columns=[*by, "mean", "sd", "n", "n_nan", "ci_low", "ci_high"])
    if "metric" in out:
        out["family"] = out["metric"].map(lambda m: METRICS[m].family if m in METRICS else "")
        out["best"] = out["metric"].map(lambda m: METRICS[m].best if m in METRICS else np.nan)
    return out
