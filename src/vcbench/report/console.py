"""Render a summary table for the terminal."""

from __future__ import annotations

import math

import pandas as pd
from rich.table import Table

from vcbench.analysis.summary import OVERALL
from vcbench.metrics.registry import METRICS

# Shown in the terminal when present; every metric is in summary.csv and results.parquet.
HEADLINE_METRICS = ("pdcorr", "pds", "rmse", "de_overlap", "lfc_spearman", "energy_distance")


def summary_table(summary: pd.DataFrame, title: str = "vcbench results") -> Table:
    """A rich table: one row per (model, split category), one column per metric.

    Cells show mean ± sd over conditions, and ``[k NaN]`` when the metric is undefined for k
    conditions (e.g. PDCorr of a prediction without effect); the mean and sd leave those out.
    """
    metrics = list(dict.fromkeys(summary["metric"]))
    table = Table(title=title)
    table.add_column("model", no_wrap=True)
    table.add_column("split category", no_wrap=True)
    for name in metrics:
        arrow = "↑" if name in METRICS and METRICS[name].higher_is_better else "↓"
        table.add_column(f"{name} {arrow}", justify="right", no_wrap=True)
    table.add_column("conditions", justify="right")
    order = {name: i for i, name in enumerate(dict.fromkeys(summary["model"]))}
    summary = summary.assign(
        _model=summary["model"].map(order), _all=summary["split_category"] == OVERALL
    ).sort_values(["_model", "_all", "split_category"], kind="stable")
    for (model, category), group in summary.groupby(["model", "split_category"], sort=False):
        cells = []
        for name in metrics:
            row = group[group["metric"] == name]
            if row.empty:
                cells.append("")
                continue
            mean, sd, n_nan = (
                float(row["mean"].iloc[0]),
                float(row["sd"].iloc[0]),
                int(row["n_nan"].iloc[0]),
            )
            text = (
                "NaN"
                if math.isnan(mean)
                else f"{mean:.3f}"
                if math.isnan(sd)
                else f"{mean:.3f} ± {sd:.3f}"
            )
            cells.append(f"{text} [{n_nan} NaN]" if n_nan else text)
        table.add_row(str(model), str(category), *cells, str(int(group["n"].max())))
    return table


def summary_tables(
    summary: pd.DataFrame, metrics: tuple[str, ...] = HEADLINE_METRICS
) -> list[Table]:
    """One table per (dataset, scenario, variant) of a benchmark summary, with the ``metrics`` that
    are present (all metrics when none of them is)."""
    if summary.empty:
        return []
    shown = [m for m in metrics if m in set(summary["metric"])] or list(
        dict.fromkeys(summary["metric"])
    )
    tables = []
    for (dataset, scenario, variant), group in summary.groupby(
        ["dataset", "scenario", "variant"], sort=False
    ):
        title = f"{dataset}: {scenario}" + (f" / {variant}" if variant else "")
        tables.append(summary_table(group[group["metric"].isin(shown)], title=title))
    return tables
