"""Terminal tables that fit the terminal: the headline leaderboard of each task, laid out wide,
one table per split category, or vertically, whichever fits the width (never cut)."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from vcbench.analysis.summary import OVERALL
from vcbench.metrics.registry import METRICS

# Shown in the terminal when present (summary_tables); every metric is in summary.csv.
HEADLINE_METRICS = ("pdcorr", "pds", "rmse", "de_overlap", "lfc_spearman", "energy_distance")
PLUS_MINUS = "± = 95 % CI over conditions"
MARK = {"model": "", "baseline": " (b)", "control": " (ctrl)"}


def _arrow(metric: str) -> str:
    higher = METRICS[metric].higher_is_better if metric in METRICS else True
    return f"{metric} {'↑' if higher else '↓'}"


def _number(value: float) -> str:
    return f"{value:.3g}"


def _cell(mean: float, low: float, high: float, n_nan: int) -> str:
    """``mean ±h`` (h = half-width of the 95 % CI), ``mean (n=1)`` without one, ``NaN``."""
    if math.isnan(mean):
        text = "NaN"
    elif math.isnan(high):
        text = f"{_number(mean)} (n=1)"
    else:
        text = f"{_number(mean)} ±{high - mean:.2g}"
    return f"{text} [{n_nan} NaN]" if n_nan else text


def width_of(table: Table) -> int:
    """The number of terminal columns ``table`` needs when nothing is wrapped."""
    buffer = io.StringIO()
    Console(file=buffer, width=10_000, color_system=None).print(table)
    return max((len(line.rstrip()) for line in buffer.getvalue().splitlines()), default=0)


def _category_order(categories: list[str]) -> list[str]:
    def key(name: str) -> tuple[int, float, str]:
        digits = name[len(name.rstrip("0123456789")) :]
        return (name != OVERALL, float(digits) if digits else np.inf, name)

    return sorted(categories, key=key)


def _wide(rows: pd.DataFrame, metrics: list[str], title: str, split: bool) -> Table:
    table = Table(
        title=title, caption=f"{PLUS_MINUS}; * uncalibrated, not ranked", title_justify="left"
    )
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("model", no_wrap=True)
    if split:
        table.add_column("split", no_wrap=True)
    for metric in metrics:
        table.add_column(_arrow(metric), justify="right", no_wrap=True)
    for (model, category), group in rows.groupby(["model", "split_category"], sort=False):
        cells = group.set_index("metric")
        values = []
        for metric in metrics:
            if metric not in cells.index:
                values.append("")
                continue
            r = cells.loc[metric]
            text = _cell(r["mean"], r["ci_low"], r["ci_high"], int(r["n_nan"]))
            values.append(text + ("*" if r["role"] != "control" and not r["calibrated"] else ""))
        first = group.iloc[0]
        position = "ref" if first["role"] == "control" else first["position_text"]
        label = f"{model}{MARK[first['role']]}"
        table.add_row(position, label, *([str(category)] if split else []), *values)
    return table


def _vertical(rows: pd.DataFrame, metrics: list[str], title: str) -> Table:
    table = Table(title=title, caption=PLUS_MINUS, title_justify="left")
    table.add_column("model · split / metric", overflow="fold")
    table.add_column("mean ±CI", justify="right", overflow="fold")
    for (model, category), group in rows.groupby(["model", "split_category"], sort=False):
        cells = group.set_index("metric")
        first = group.iloc[0]
        position = "ref" if first["role"] == "control" else first["position_text"]
        table.add_row(f"[bold]{position}. {model}{MARK[first['role']]} · {category}[/]", "")
        for metric in (m for m in metrics if m in cells.index):
            r = cells.loc[metric]
            calibrated = r["role"] == "control" or r["calibrated"]
            text = _cell(r["mean"], r["ci_low"], r["ci_high"], int(r["n_nan"]))
            table.add_row(f"  {_arrow(metric)}", text + ("" if calibrated else "*"))
    return table


def leaderboard_tables(
    results: pd.DataFrame, width: int = 80, metrics: list[str] | None = None
) -> list[Table]:
    """Per task, the headline leaderboard (models by position, then the controls; every split
    category) as tables at most ``width`` columns wide: one wide table; else one table per split
    category; else a vertical table (model, split, metric, value)."""
    from vcbench.analysis import headline_metrics, headline_ranking, leaderboard

    if results.empty:
        return []
    board = leaderboard(results)
    standing = headline_ranking(board)
    keys = ["dataset", "scenario", "variant", "split_category", "model"]
    board = board.merge(standing[[*keys, "position"]], on=keys, how="left")
    overall = board[board["split_category"] == OVERALL].groupby([*keys[:3], "model"])["position"]
    board = board.drop(columns="position").merge(
        overall.first().reset_index(), on=[*keys[:3], "model"], how="left"
    )
    board["position_text"] = [  # the position over all split categories, on every row
        "-" if np.isnan(p) else str(int(p)) for p in board["position"].to_numpy(dtype=float)
    ]
    tables: list[Table] = []
    for (dataset, scenario, variant), rows in board.groupby(
        ["dataset", "scenario", "variant"], sort=False
    ):
        shown = metrics or headline_metrics(rows["metric"])
        shown = [m for m in shown if m in set(rows["metric"])]
        control = rows["role"] == "control"
        rows = rows.assign(
            _pos=rows["position"].fillna(np.inf).where(~control, np.inf),
            _control=control,
            _cat=rows["split_category"].map(
                {c: i for i, c in enumerate(_category_order(list(set(rows["split_category"]))))}
            ),
        ).sort_values(["_control", "_pos", "model", "_cat"], kind="stable")
        if rows["split_category"].nunique() == 2:  # one category: "all" repeats it
            rows = rows[rows["split_category"] != OVERALL]
        title = f"{dataset}: {scenario}" + (f" / {variant}" if variant else "")
        table = _wide(rows, shown, title, split=True)
        if width_of(table) <= width:
            tables.append(table)
            continue
        per_category = [
            _wide(part, shown, f"{title} · {category}", split=False)
            for category, part in rows.groupby("split_category", sort=False)
        ]
        per_category.sort(key=lambda t: _category_order([str(t.title).rsplit("· ", 1)[-1]]))
        if all(width_of(t) <= width for t in per_category):
            tables.extend(per_category)
        else:
            tables.append(_vertical(rows, shown, title))
    return tables


def summary_table(summary: pd.DataFrame, title: str = "vcbench results") -> Table:
    """A rich table of a :func:`~vcbench.analysis.summarise` table: one row per (model, split
    category), one column per metric; cells show the mean ± the half-width of its 95 % CI over
    conditions, and ``[k NaN]`` when the metric is undefined for k conditions."""
    metrics = list(dict.fromkeys(summary["metric"]))
    table = Table(title=title, caption=PLUS_MINUS)
    table.add_column("model", no_wrap=True)
    table.add_column("split category", no_wrap=True)
    for name in metrics:
        table.add_column(_arrow(name), justify="right", no_wrap=True)
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
            r = row.iloc[0]
            cells.append(
                _cell(float(r["mean"]), float(r["ci_low"]), float(r["ci_high"]), int(r["n_nan"]))
            )
        table.add_row(str(model), str(category), *cells, str(int(group["n"].max())))
    return table


def summary_tables(
    summary: pd.DataFrame, metrics: tuple[str, ...] = HEADLINE_METRICS
) -> list[Table]:
    """One :func:`summary_table` per (dataset, scenario, variant), with the ``metrics`` that are
    present (all metrics when none of them is)."""
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
