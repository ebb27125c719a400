"""Comparisons between variants of a scenario: standard vs strict, and merge effects."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vcbench.analysis.common import (
    RESULT_COLUMNS,
    NotAvailable,
    orientation,
    require_columns,
)

# scenario -> (standard variant, strict variant)
STANDARD_STRICT: dict[str, tuple[str, str]] = {
    "context": ("random", "strict"),
    "perturbation": ("single", "strict"),
}
CROSS_DATASET, SINGLE = "cross_dataset", "single"


def variant_means(results: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds of the per-seed mean over all conditions, per (dataset, scenario, variant,
    model, metric)."""
    require_columns(results, [*RESULT_COLUMNS, "value"])
    keys = ["dataset", "scenario", "variant", "model", "metric"]
    per_seed = results.groupby([*keys, "seed"], observed=True)["value"].mean()
    return per_seed.groupby(keys, observed=True).mean().rename("mean").reset_index()


def _paired(means: pd.DataFrame, scenario: str, reference: str, other: str) -> pd.DataFrame:
    keys = ["dataset", "model", "metric"]
    rows = means[means["scenario"] == scenario]
    left = rows[rows["variant"] == reference].set_index(keys)["mean"].rename(reference)
    right = rows[rows["variant"] == other].set_index(keys)["mean"].rename("value")
    return pd.concat([left, right], axis=1, join="inner").reset_index()


def strict_drop(
    results: pd.DataFrame, pairs: dict[str, tuple[str, str]] | None = None
) -> pd.DataFrame:
    """The relative drop of each metric from a scenario's standard variant to its strict variant.

    ``drop = s · (standard − strict) / |standard|`` with ``s = +1`` for higher-is-better metrics and
    ``−1`` for lower-is-better ones, so a positive drop means worse under strict evaluation for
    every metric; ``standard`` and ``strict`` are :func:`variant_means`. NaN where standard = 0.
    ``pairs``: scenario → (standard, strict) variants, default :data:`STANDARD_STRICT`.
    """
    pairs = STANDARD_STRICT if pairs is None else pairs
    means = variant_means(results)
    frames = []
    for scenario, (standard, strict) in pairs.items():
        paired = _paired(means, scenario, standard, strict)
        if paired.empty:
            continue
        paired = paired.rename(columns={standard: "standard", "value": "strict"})
        frames.append(
            paired.assign(scenario=scenario, standard_variant=standard, strict_variant=strict)
        )
    if not frames:
        wanted = ", ".join(f"{s} ({a} and {b})" for s, (a, b) in pairs.items())
        raise NotAvailable(
            f"no scenario was run in both its standard and its strict variant: {wanted}"
        )
    table = pd.concat(frames, ignore_index=True)
    base = table["standard"].abs().replace(0, np.nan)
    table["drop"] = orientation(table["metric"]) * (table["standard"] - table["strict"]) / base
    columns = ["dataset", "scenario", "standard_variant", "strict_variant", "model", "metric"]
    return table[[*columns, "standard", "strict", "drop"]]


def merge_effects(results: pd.DataFrame, reference: str = SINGLE) -> pd.DataFrame:
    """Merge effects of cross-dataset scenarios: ``(variant − single) / |single|`` per (dataset,
    variant, model, metric), for every cross_dataset variant other than ``reference``
    (``merged``, ``transfer``), from :func:`variant_means`.

    ``effect`` is the relative change as docs/scenarios.md defines it (the absolute value in the
    denominator keeps the sign for a negative reference); ``gain`` is the effect oriented so
    that positive = better than the single-dataset reference for every metric.
    """
    means = variant_means(results)
    rows = means[means["scenario"] == CROSS_DATASET]
    others = [v for v in dict.fromkeys(rows["variant"]) if v != reference]
    if reference not in set(rows["variant"]) or not others:
        raise NotAvailable(
            "no cross_dataset scenario with both a 'single' variant and a merged or transfer "
            "variant was run"
        )
    frames = [
        _paired(means, CROSS_DATASET, reference, other)
        .rename(columns={reference: "single"})
        .assign(variant=other)
        for other in others
    ]
    table = pd.concat(frames, ignore_index=True)
    table["effect"] = (table["value"] - table["single"]) / table["single"].abs().replace(0, np.nan)
    table["gain"] = table["effect"] * orientation(table["metric"])
    columns = ["dataset", "variant", "model", "metric", "single", "value", "effect", "gain"]
    return table[columns]
