"""Build the benchmark report (sections of tables, figures and text) from the tidy tables.

Every analysis comes from :mod:`vcbench.analysis`; a section whose data the benchmark lacks says
"not available in this benchmark: <why>" instead of disappearing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from vcbench import analysis as an
from vcbench.analysis.common import NEGATIVE, POSITIVE, RESULT_COLUMNS, TASK, family
from vcbench.analysis.correlation import interval_matrix, metric_correlation_interval
from vcbench.analysis.coverage import representation_coverage
from vcbench.analysis.findings import (
    FINDING_COLUMNS,
    POOLED,
    context_variation,
    findings_table,
    metric_disagreement,
    statements,
    strict_drop_test,
)
from vcbench.analysis.summary import OVERALL
from vcbench.report import figures as fig
from vcbench.report.background import in_background
from vcbench.report.collapse import collapse, collapse_summary
from vcbench.report.tables import DETAIL, fmt, percent, signed_intervals


@dataclass
class Block:
    """One piece of a section: text (HTML-safe plain text), a table or a figure (data URI)."""

    kind: Literal["text", "table", "figure"]
    content: str | pd.DataFrame
    caption: str = ""
    bold: pd.DataFrame | None = None
    collapsed: bool = False  # HTML: inside a closed <details>; Markdown: shown


@dataclass
class Section:
    """A titled part of the report; ``unavailable`` says why it has no content."""

    key: str
    title: str
    intro: str
    blocks: list[Block] = field(default_factory=list)
    unavailable: str | None = None


@dataclass
class Report:
    """The whole report: a title, the summary bullets, the sections and the findings table
    (the rows of ``findings.csv``, :data:`vcbench.analysis.findings.FINDING_COLUMNS`)."""

    title: str
    summary: list[str]
    sections: list[Section]
    findings: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=FINDING_COLUMNS))


def _task_label(task: tuple[object, ...]) -> str:
    return " / ".join(str(t) for t in task if str(t))


def _metric_header(metric: str) -> str:
    return f"{metric} {'↑' if an.higher_is_better(metric) else '↓'}"


def metric_order(metrics: pd.Series) -> list[str]:
    """The metrics present, by family (correlation, retrieval, differential expression, distance,
    other) and in registry order within a family; unknown metrics last, by name."""
    from vcbench.metrics.registry import METRICS

    families = ["correlation", "retrieval", "differential_expression", "distance", "other"]
    registry = {name: i for i, name in enumerate(METRICS)}
    present = list(dict.fromkeys(metrics))
    return sorted(
        present,
        key=lambda m: (families.index(family(m)), registry.get(m, len(registry)), m),
    )


class _Context:
    """Shared state of one report build: the tables and the derived analyses."""

    def __init__(
        self,
        results: pd.DataFrame,
        records: pd.DataFrame | None,
        n_boot: int,
        seed: int,
        shifts: pd.DataFrame | Callable[[], pd.DataFrame] | None = None,
        board: pd.DataFrame | None = None,
    ) -> None:
        self.results = results
        self.records = records
        self.n_boot, self.seed = n_boot, seed
        self.metrics = metric_order(results["metric"])
        self.headline = an.headline_metrics(self.metrics)
        self.one_dataset = results["dataset"].nunique() == 1
        # the slowest analysis, computed in a second process while this one builds the sections
        self._findings = in_background(_findings_of, results, self.headline, shifts, n_boot, seed)
        self.tasks = list(dict.fromkeys(zip(*(results[c] for c in TASK), strict=True)))
        self.board = an.leaderboard(results) if board is None else board
        self.standing = an.headline_ranking(self.board)
        self.ranks = an.model_ranks(results)
        overall = self.standing[self.standing["split_category"] == OVERALL]
        order = overall.groupby("model")["headline_rank"].mean().sort_values(kind="stable")
        roles = {m: an.role(m) for m in results["model"].unique()}
        ranked = [m for m in order.index if roles[m] != "control"]
        ranked += sorted(m for m in roles if roles[m] != "control" and m not in ranked)
        controls = [m for m in (POSITIVE, NEGATIVE) if m in roles]
        controls += sorted(m for m in roles if roles[m] == "control" and m not in controls)
        self.models = ranked + controls
        self.roles = roles
        self.palette = fig.colours(self.models)

    @property
    def findings(self) -> pd.DataFrame:
        """The findings table (``findings_of``)."""
        return self._findings.result()[0]

    @property
    def statements(self) -> dict[str, list[str]]:
        """The findings' sentences (``findings_of``)."""
        return self._findings.result()[1]

    def task_rows(self, table: pd.DataFrame, task: tuple[object, ...]) -> pd.DataFrame:
        """The rows of ``table`` that belong to ``task``."""
        return table[(table[TASK] == pd.Series(task, index=TASK)).all(axis=1)]

    def by_metric(self, table: pd.DataFrame) -> pd.DataFrame:
        """``table`` with its rows in the report's metric order."""
        order = {m: i for i, m in enumerate(self.metrics)}
        return table.sort_values("metric", key=lambda m: m.map(order), kind="stable")

    def task_name(self, task: tuple[object, ...]) -> str:
        """A task's label in sentences: without the dataset when the run has one dataset."""
        return _task_label(tuple(task)[1:] if self.one_dataset else tuple(task))

    def label(self, model: str) -> str:
        """A model's name as the tables show it: marked when it is a baseline or a control."""
        kind = self.roles.get(model, "model")
        return model if kind == "model" else f"{model} ({kind})"

    def wide(
        self, rows: pd.DataFrame, cell: Callable[[pd.Series], str], index: list[str]
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Rows × metric columns of formatted cells, and where each cell ranks first."""
        rows = rows.assign(
            _cell=rows.apply(cell, axis=1) if len(rows) else [],
            _best=rows["rank"] == 1 if "rank" in rows else False,
            _order=rows["model"].map({m: i for i, m in enumerate(self.models)}),
        ).sort_values("_order", kind="stable")
        if "model" in index:
            rows = rows.assign(model=rows["model"].map(self.label))
        metrics = [m for m in self.metrics if m in set(rows["metric"])]
        table = rows.pivot_table(
            index=index, columns="metric", values="_cell", aggfunc="first", sort=False
        ).reindex(columns=metrics)
        best = (
            rows.assign(_best=rows["_best"].astype(float))
            .pivot_table(index=index, columns="metric", values="_best", aggfunc="max", sort=False)
            .reindex(columns=metrics)
            .fillna(0.0)
            .astype(bool)
        )
        table.columns = [_metric_header(m) for m in metrics]
        best.columns = table.columns
        return table.fillna("—").reset_index(), best.reset_index(drop=True)


def _plus_minus(row: pd.Series) -> str:
    """``mean ± h`` with h the half-width of the 95 % interval ("n = 1" without an interval)."""
    if np.isnan(row["mean"]):
        return "—"
    if np.isnan(row["ci_high"]):
        return f"{fmt(row['mean'])} (n = {int(row['n'])})"
    return f"{fmt(row['mean'])} ± {fmt(row['ci_high'] - row['mean'], 2)}"


def _leader_cell(row: pd.Series) -> str:
    text = _plus_minus(row)
    if np.isnan(row["mean"]):
        return f"— ({int(row['n_nan'])} NaN)"
    detail = f"n = {int(row['n'])}" + (f" · {int(row['n_nan'])} NaN" if row["n_nan"] else "")
    if row["role"] != "control" and not row["calibrated"]:
        detail += " · uncalibrated"
    return text + DETAIL + detail


PLUS_MINUS = "± = 95 % CI over test conditions (each condition's seeds averaged first)"


def _headline_table(ctx: _Context, task: tuple[object, ...]) -> pd.DataFrame:
    """At most 8 columns: position, model, headline rank and one column per headline metric."""
    board = ctx.task_rows(ctx.board, task)
    board = board[(board["split_category"] == OVERALL) & board["headline"]]
    standing = ctx.task_rows(ctx.standing, task)
    standing = standing[standing["split_category"] == OVERALL].set_index("model")
    order = {m: i for i, m in enumerate(ctx.models)}
    position = standing["position"].to_dict() if len(standing) else {}

    def key(model: str) -> tuple[float, int]:
        value = position.get(model, np.nan)
        control = ctx.roles[model] == "control"
        return (np.inf if control or np.isnan(value) else value, order.get(model, len(order)))

    models = sorted(set(board["model"]), key=key)
    rows = []
    for model in models:
        cells = board[board["model"] == model].set_index("metric")
        info = standing.loc[model] if model in standing.index else None
        position = "ref." if ctx.roles[model] == "control" else "—"
        rank = "—"
        if info is not None and not np.isnan(info["headline_rank"]):
            position = str(int(info["position"]))
            rank = f"{info['headline_rank']:.1f} ({int(info['n_metrics'])})"
        row = {"#": position, "model": ctx.label(model), "mean rank (metrics)": rank}
        for metric in [m for m in ctx.headline if m in cells.index][:5]:
            entry = cells.loc[metric]
            text = _plus_minus(entry)
            if ctx.roles[model] != "control" and not entry["calibrated"]:
                text += " (uncal.)"
            row[_metric_header(metric)] = text
        rows.append(row)
    return pd.DataFrame(rows)


def _headline(ctx: _Context) -> Section:
    section = Section(
        "headline",
        "Headline leaderboard",
        "# = position by mean rank on the calibrated headline metrics (undefined = worst); "
        "ref. = control, never ranked (technical_replicate: ceiling, perturbed_mean: floor).",
    )
    for task in ctx.tasks:
        caption = f"{_task_label(task)} (± = 95 % CI over conditions)"
        section.blocks.append(Block("table", _headline_table(ctx, task), caption))
    return section


def _leaderboards(ctx: _Context) -> Section:
    section = Section(
        "leaderboards",
        "Leaderboards",
        f"Every metric. {PLUS_MINUS}; n = conditions. Bold: rank 1 among models and baselines "
        "(↑ higher is better, ↓ lower is better), on calibrated metrics only; the controls are "
        "references and are not ranked. NaN: conditions where the metric is undefined (counted "
        "as the worst value when ranking). Headline metrics are drawn; the full tables and the "
        "other metrics' figures open on click.",
    )
    for task in ctx.tasks:
        rows = ctx.task_rows(ctx.board, task)
        overall = rows[rows["split_category"] == OVERALL]
        label = _task_label(task)
        section.blocks.append(
            Block(
                "figure",
                fig.headline_figure(
                    overall[overall["headline"]], ctx.palette, f"{label}: headline metrics"
                ),
                f"{label}: headline metrics, mean with 95 % CI over conditions",
            )
        )
        table, best = ctx.wide(overall, _leader_cell, ["model"])
        categories = sorted(set(rows["split_category"]) - {OVERALL})
        n = int((overall["n"] + overall["n_nan"]).max()) if len(overall) else 0
        section.blocks.append(
            Block(
                "table",
                table,
                f"{label}: all metrics, all split categories ({n} conditions; ± = 95 % CI over "
                "conditions)",
                bold=best,
                collapsed=True,
            )
        )
        if len(categories) > 1:
            per_category = rows[rows["split_category"] != OVERALL]
            table, best = ctx.wide(per_category, _leader_cell, ["split_category", "model"])
            section.blocks.append(
                Block(
                    "table",
                    table,
                    f"{label}: per split category (± = 95 % CI over conditions)",
                    bold=best,
                    collapsed=True,
                )
            )
            section.blocks.append(
                Block(
                    "figure",
                    fig.category_lines(per_category[per_category["headline"]], ctx.palette, label),
                    f"{label}: headline metrics per split category (95 % CI)",
                )
            )
            others = per_category[~per_category["headline"]]
            if len(others):
                section.blocks.append(
                    Block(
                        "figure",
                        fig.category_lines(others, ctx.palette, label),
                        f"{label}: the other metrics per split category",
                        collapsed=True,
                    )
                )
    return section


def _calibration(ctx: _Context) -> Section:
    section = Section(
        "calibration",
        "Calibration",
        "A metric is calibrated on a task when the positive control (technical_replicate, the "
        "ceiling) beats the negative control (perturbed_mean, the floor); only calibrated metrics "
        "are ranked. Normalised score (value − floor) / (ceiling − floor): 0 = as good as the "
        "floor, 1 = as good as a technical replicate; not clipped; shown only where the metric "
        "is calibrated (— otherwise).",
    )
    status = ctx.board[(ctx.board["split_category"] == OVERALL)]
    if not status["calibrated"].any() and status["reason"].str.contains("not run").any():
        section.unavailable = str(status["reason"].iloc[0])
        return section
    flags = status.drop_duplicates([*TASK, "metric"]).assign(
        task=lambda f: f[TASK].agg(_task_label, axis=1),
        model="",
        rank=np.nan,
    )

    def flag(row: pd.Series) -> str:
        if row["calibrated"]:
            return "✓" + DETAIL + f"{fmt(row['floor'])} → {fmt(row['ceiling'])}"
        return "✗" + DETAIL + str(row["reason"])

    wide = flags.assign(_cell=flags.apply(flag, axis=1)).pivot_table(
        index="task", columns="metric", values="_cell", aggfunc="first", sort=False
    )
    wide = wide.reindex(columns=[m for m in ctx.metrics if m in wide.columns])
    wide.columns = [_metric_header(m) for m in wide.columns]
    n_calibrated = flags.groupby("task", sort=False)["calibrated"].agg(["sum", "size"])
    for task, (k, n) in n_calibrated.iterrows():
        section.blocks.append(Block("text", f"{task}: {k} of {n} metrics calibrated."))
    section.blocks.append(
        Block(
            "table",
            wide.fillna("—").reset_index(),
            "Calibrated (✓, floor → ceiling) or not (✗, why), per task and metric",
            collapsed=True,
        )
    )
    scores = status[status["role"] != "control"].assign(
        task=lambda f: f[TASK].agg(_task_label, axis=1)
    )

    def cell(row: pd.Series) -> str:
        value = row["normalised"]
        return "—" if np.isnan(value) else f"{round(value, 2) + 0.0:.2f}"  # + 0.0: no "-0.00"

    headline = scores[scores["headline"]]
    table, _ = ctx.wide(headline, cell, ["task", "model"])
    section.blocks.append(Block("table", table, "Normalised scores, headline metrics"))
    table, _ = ctx.wide(scores, cell, ["task", "model"])
    section.blocks.append(Block("table", table, "Normalised scores, every metric", collapsed=True))
    return section


HEATMAP_METRICS = 12  # a heatmap labels at most this many metrics; the tables hold them all


def _agreement(ctx: _Context) -> Section:
    section = Section(
        "agreement",
        "Metric agreement",
        "Shown only for tasks with at least 5 models and baselines and 10 conditions. Kendall τ "
        "between the model rankings two metrics give (1 = same order, −1 = reversed), per task, "
        "with a bootstrap 95 % interval over conditions; undefined values count as the worst. "
        "Spearman ρ between metric values (all models, oriented so that higher is better) with a "
        "bootstrap 95 % interval over conditions (a resample keeps a condition's every seed and "
        "model). Heatmaps: the headline metrics and the next metrics in report order, at most "
        "12; a ρ whose interval covers 0 is hatched; the full matrices open on click.",
    )
    try:
        support = an.supported_tasks(ctx.results)
        correlation = an.metric_correlation(ctx.results)
    except an.NotAvailable as exc:
        section.unavailable = str(exc)
        return section
    skipped = support[~support["supported"]]
    if len(skipped):
        section.blocks.append(
            Block(
                "text",
                "Not supported (fewer than 5 models or 10 conditions): "
                + "; ".join(
                    f"{_task_label(tuple(r[TASK]))} ({r['n_models']} models, "
                    f"{r['n_conditions']} conditions)"
                    for _, r in skipped.iterrows()
                )
                + ".",
            )
        )
    shown = [*ctx.headline, *(m for m in ctx.metrics if m not in ctx.headline)][:HEATMAP_METRICS]
    shown = [m for m in ctx.metrics if m in shown]
    correlation = correlation.reindex(index=ctx.metrics, columns=ctx.metrics)
    pairs = an.ranking_agreement(ctx.results, shown, n_boot=ctx.n_boot // 5, seed=ctx.seed)
    tau = an.tau_matrix(pairs).reindex(index=shown, columns=shown)
    rho = metric_correlation_interval(ctx.results, shown, n_boot=ctx.n_boot // 5, seed=ctx.seed)
    low = interval_matrix(rho, "rho_low").reindex(index=shown, columns=shown)
    high = interval_matrix(rho, "rho_high").reindex(index=shown, columns=shown)
    section.blocks.append(
        Block(
            "figure",
            fig.agreement_figure(correlation.loc[shown, shown], tau, (low <= 0) & (high >= 0)),
            "Agreement between metrics (hatched: the 95 % interval of ρ covers 0)",
        )
    )
    headline_rho = rho[rho["metric_a"].isin(ctx.headline) & rho["metric_b"].isin(ctx.headline)]
    section.blocks.append(
        Block(
            "table",
            pd.DataFrame(
                {
                    "metrics": headline_rho["metric_a"] + " vs " + headline_rho["metric_b"],
                    "Spearman ρ [95 % CI]": signed_intervals(headline_rho, "rho"),
                    "values": headline_rho["n"],
                }
            ),
            "Correlation of the headline metrics' values (all models and supported tasks; "
            "bootstrap 95 % CI over conditions)",
        )
    )
    cells = rho.assign(_cell=signed_intervals(rho, "rho"))
    matrix = pd.DataFrame("—", index=shown, columns=shown)
    for a, b, cell in zip(cells["metric_a"], cells["metric_b"], cells["_cell"], strict=True):
        matrix.loc[a, b] = matrix.loc[b, a] = cell
    section.blocks.append(
        Block(
            "table",
            matrix.reset_index(names="metric"),
            "Spearman ρ [95 % CI] between the heatmap's metrics",
            collapsed=True,
        )
    )
    headline = pairs[pairs["metric_a"].isin(ctx.headline) & pairs["metric_b"].isin(ctx.headline)]
    table = pd.DataFrame(
        {
            "task": headline[TASK].agg(_task_label, axis=1),
            "metrics": headline["metric_a"] + " vs " + headline["metric_b"],
            "Kendall τ [95 % CI]": signed_intervals(headline, "tau"),
            "models": headline["n_models"],
            "conditions": headline["n_conditions"],
        }
    )
    section.blocks.append(Block("table", table, "Rank agreement of the headline metrics"))
    section.blocks.append(
        Block(
            "table",
            correlation.reset_index(names="metric"),
            "Spearman ρ between metric values (every metric)",
            collapsed=True,
        )
    )
    ranks = ctx.ranks[ctx.ranks["metric"].isin(ctx.headline)]
    ranks = ranks.merge(support.loc[support["supported"], TASK], on=TASK)
    section.blocks.append(
        Block(
            "figure",
            fig.rank_figure(ranks, ctx.palette),
            "Rank of each model under each headline metric, per task",
        )
    )
    return section


def _strict(ctx: _Context) -> Section:
    section = Section(
        "strict",
        "Standard vs strict evaluation",
        "Relative drop from a scenario's standard variant (context: random, perturbation: single) "
        "to its strict variant, in percent of the standard value, oriented so that positive = "
        "worse under strict evaluation for every metric. A relative change is unstable where the "
        "standard value is near 0 (e.g. a correlation near 0); read those with the leaderboards.",
    )
    try:
        drop = an.strict_drop(ctx.results)
    except an.NotAvailable as exc:
        section.unavailable = str(exc)
        return section
    drop = drop.assign(rank=np.nan)
    note = "bars beyond ±100 % are cut there and labelled with their value"
    for shown, caption, collapsed in (
        (drop[drop["metric"].isin(ctx.headline)], "headline metrics", False),
        (drop[~drop["metric"].isin(ctx.headline)], "the other metrics", True),
    ):
        if shown.empty:
            continue
        section.blocks.append(
            Block(
                "figure",
                fig.relative_bars(
                    ctx.by_metric(shown),
                    "drop",
                    ["dataset", "scenario"],
                    ctx.palette,
                    "drop under strict (%)\n(positive = worse)",
                ),
                f"Relative drop under strict evaluation, {caption} ({note})",
                collapsed=collapsed,
            )
        )
    drop = drop.assign(task=drop["dataset"] + " / " + drop["scenario"])
    table, _ = ctx.wide(drop, lambda r: percent(r["drop"]), ["task", "model"])
    section.blocks.append(
        Block("table", table, "Relative drop (positive = worse under strict)", collapsed=True)
    )
    return section


def _merge(ctx: _Context) -> Section:
    section = Section(
        "merge",
        "Merging datasets",
        "Relative change (variant − single) / |single| of each metric for the cross_dataset "
        "scenario, shown oriented so that positive = better than training on the target "
        "dataset alone.",
    )
    try:
        effects = an.merge_effects(ctx.results)
    except an.NotAvailable as exc:
        section.unavailable = str(exc)
        return section
    effects = effects.assign(rank=np.nan)
    section.blocks.append(
        Block(
            "figure",
            fig.relative_bars(
                ctx.by_metric(effects),
                "gain",
                ["dataset", "variant"],
                ctx.palette,
                "change vs single (%)\n(positive = better)",
            ),
            "Merge effects (bars beyond ±100 % are cut there and labelled with their value)",
        )
    )
    effects = effects.assign(task=effects["dataset"] + " / " + effects["variant"])
    table, _ = ctx.wide(effects, lambda r: percent(r["effect"]), ["task", "model"])
    section.blocks.append(Block("table", table, "(variant − single) / |single| (not oriented)"))
    return section


def _paired(ctx: _Context) -> Section:
    section = Section(
        "paired",
        "Paired comparisons against perturbed_mean",
        "Each model against the negative control on the same conditions: matched-pairs "
        "rank-biserial effect size (+1: the model is better on every condition, −1: worse on "
        "every one) and the two-sided Wilcoxon signed-rank p-value.",
    )
    others = [m for m in ctx.models if ctx.roles[m] != "control"]
    if NEGATIVE not in ctx.models or not others:
        section.unavailable = (
            "needs perturbed_mean and at least one other model (`calibration: true` in the spec "
            "adds perturbed_mean)"
        )
        return section
    frames = [an.paired_comparison(ctx.results, model, NEGATIVE) for model in others]
    table = pd.concat(frames, ignore_index=True).rename(columns={"model_a": "model"})
    table = table.assign(task=table[TASK].agg(_task_label, axis=1), rank=np.nan)

    def cell(row: pd.Series) -> str:
        p = row["p_value"]
        p_text = "p < 0.001" if p < 0.001 else f"p = {p:.2g}"
        return f"{row['effect_size']:+.2f}{DETAIL}{p_text}, n = {row['n']}"

    wide, _ = ctx.wide(table[table["metric"].isin(ctx.headline)], cell, ["task", "model"])
    section.blocks.append(Block("table", wide, "Effect size (model vs perturbed_mean), headline"))
    wide, _ = ctx.wide(table, cell, ["task", "model"])
    section.blocks.append(Block("table", wide, "Effect size, every metric", collapsed=True))
    return section


def _cost(ctx: _Context) -> Section:
    section = Section(
        "cost",
        "Compute cost",
        "Mean time per task (fit, predict and the whole task including evaluation) and the "
        "largest peak memory of a task's process, beside the model's mean rank over every task "
        "and metric it was ranked on (a model that failed on a task has no rank there).",
    )
    if ctx.records is None or ctx.records.empty:
        section.unavailable = "no records.parquet with per-task timings"
        return section
    cost = an.compute_cost(ctx.records, ctx.ranks)
    section.blocks.append(
        Block("figure", fig.cost_figure(cost, ctx.palette), "Compute cost and accuracy")
    )
    shown = cost.rename(
        columns={
            "fit_seconds": "fit (s)",
            "predict_seconds": "predict (s)",
            "wall_seconds": "task (s)",
            "peak_memory_mib": "peak memory (MiB)",
            "n_ok": "tasks ok",
            "n_failed": "tasks failed",
            "mean_rank": "mean rank",
        }
    )
    section.blocks.append(Block("table", shown, "Cost per model"))
    return section


def _guide(ctx: _Context) -> Section:
    section = Section(
        "guide",
        "Which model should I use?",
        "Per task and metric family, on the family's calibrated metrics: the best model (role "
        "model) against the best simple baseline (no_change, perturbation_mean, additive, linear, "
        "random_perturbation), by rank averaged over the family's metrics. The calibration "
        'controls are never recommended. "Within": on how many metrics the baseline\'s mean '
        "lies inside the model's 95 % interval, so the data do not separate them there.",
    )
    guide = an.selection_guide(ctx.board)
    if guide.empty:
        section.unavailable = "no model or baseline is ranked on a calibrated metric"
        return section
    for task, rows in guide.groupby(TASK, sort=False):
        if not rows["model_beats_baseline"].any():
            best = rows["best_baseline"].dropna()
            which = f" ({', '.join(dict.fromkeys(best))})" if len(best) else ""
            text = (
                "only baselines were run"
                if rows["best_model"].isna().all()
                else "no model beats the best baseline"
            )
            section.blocks.append(
                Block("text", f"{_task_label(task)}: {text} in any metric family{which}.")
            )
    table = pd.DataFrame(
        {
            "task": guide[TASK].agg(_task_label, axis=1),
            "family": guide["family"].str.replace("_", " "),
            "calibrated metrics": guide["metrics"],
            "best model (mean rank)": [
                "—" if m is None else f"{m} ({r:.1f})"
                for m, r in zip(guide["best_model"], guide["best_model_rank"], strict=True)
            ],
            "best baseline (mean rank)": [
                "—" if m is None else f"{m} ({r:.1f})"
                for m, r in zip(guide["best_baseline"], guide["best_baseline_rank"], strict=True)
            ],
            "verdict": guide["verdict"],
        }
    )
    section.blocks.append(Block("table", table, "Model-selection guide"))
    return section


def _undefined(ctx: _Context) -> Section:
    section = Section(
        "undefined",
        "Undefined values",
        "NaN results per metric: where a metric is undefined for a condition (the note in "
        "results.parquet says why). When ranking, an undefined value counts as the metric's worst.",
    )
    results = ctx.results
    missing = results["value"].isna()
    if not missing.any():
        section.blocks.append(Block("text", "No undefined values."))
        return section
    note = results["note"].fillna("").astype(str) if "note" in results else None
    rows = results[missing]
    table = rows.groupby("metric", sort=False).size().rename("NaN values").to_frame()
    if note is not None:
        table["without a note"] = (note[missing] == "").groupby(rows["metric"], sort=False).sum()
    table = table.reindex([m for m in ctx.metrics if m in table.index]).reset_index()
    section.blocks.append(Block("table", table, "NaN values per metric", collapsed=True))
    return section


def findings_of(
    results: pd.DataFrame,
    metrics: list[str],
    shifts: pd.DataFrame | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """The three findings (as :func:`vcbench.analysis.findings.analyse`) on the headline
    ``metrics``: the ``findings.csv`` table and the sentences; an empty table (with the columns)
    when no finding has data."""
    empty = pd.DataFrame(columns=FINDING_COLUMNS)
    if results.empty:
        return empty, statements(empty, empty, empty)
    context = context_variation(results, metrics, n_boot, seed)
    strict = strict_drop_test(results, metrics, shifts)
    disagreement = metric_disagreement(results, metrics, n_boot, seed)
    parts = (context, strict, disagreement)
    return findings_table(*parts), statements(*parts)


def _findings_of(
    results: pd.DataFrame,
    metrics: list[str],
    shifts: pd.DataFrame | Callable[[], pd.DataFrame] | None,
    n_boot: int,
    seed: int,
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """``findings_of``, with ``shifts`` computed first where it is given as a function."""
    return findings_of(results, metrics, shifts() if callable(shifts) else shifts, n_boot, seed)


def _num(x: float) -> str:
    """A finding's number as the sentences print it (3 significant digits)."""
    return "NaN" if not np.isfinite(x) else f"{x:.3g}"


def _with_ci(row: pd.Series) -> str:
    return f"{_num(row['estimate'])} [{_num(row['ci_low'])}, {_num(row['ci_high'])}]"


def _context_line(ctx: _Context, table: pd.DataFrame) -> str:
    """Finding 1 on the task with the most contexts (supported tasks first)."""
    name = "Context variation (finding 1)"
    if table.empty:
        return f"{name}: not testable here (no task scores models on two or more contexts)."
    order = {m: i for i, m in enumerate(ctx.headline)}
    tasks = table.groupby(TASK, sort=False).agg(
        supported=("supported", "all"), n_contexts=("n_contexts", "first")
    )
    task = tasks.sort_values(["supported", "n_contexts"], ascending=False, kind="stable").index[0]
    rows = ctx.task_rows(table, task).sort_values("metric", key=lambda m: m.map(order))
    parts = ", ".join(f"{r['metric']} {_with_ci(r)}" for _, r in rows.iterrows())
    text = (
        f"{name}, {ctx.task_name(task)}, {int(rows['n_contexts'].iloc[0])} contexts: "
        f"between-context share of variance η² (median over models, 95 % CI) {parts}"
    )
    if not rows["supported"].all():
        text += f"; the data cannot support it ({rows['note'].iloc[0]})"
    if len(tasks) > 1:
        text += f"; {len(tasks) - 1} more task(s) in findings.csv"
    return text + "."


def _strict_lines(ctx: _Context, table: pd.DataFrame) -> list[str]:
    """Finding 2 per (dataset, scenario), pooled over models: worse (or better) under strict where
    the CI excludes 0 in that direction."""
    order = {m: i for i, m in enumerate(ctx.headline)}
    lines = []
    for (dataset, scenario), rows in table.groupby(["dataset", "scenario"], sort=True):
        rows = rows.sort_values("metric", key=lambda m: m.map(order))
        oriented = rows["estimate"] * an.common.orientation(rows["metric"])
        excludes = (rows["ci_low"] > 0) | (rows["ci_high"] < 0)
        worse, better = (
            int((excludes & (oriented < 0)).sum()),
            int((excludes & (oriented > 0)).sum()),
        )
        parts = [f"{r['metric']} {_with_ci(r)}" for _, r in rows.iterrows()]
        standard = an.STANDARD_STRICT.get(scenario, ("standard",))[0]
        verdict = f"worse beyond its CI on {worse} of {len(rows)}"
        if better:
            verdict += f", better on {better}"
        if not worse:
            verdict += ": not reproduced here"
        text = (
            f"Strict drop (finding 2), {scenario} {rows['variant'].iloc[0]} − {standard}"
            f"{'' if ctx.one_dataset else f' on {dataset}'} (all models, 95 % CI): "
            f"{', '.join(parts)}; {verdict}"
        )
        if not rows["supported"].all():
            text += f"; the data cannot support it ({rows['note'].iloc[0]})"
        lines.append(text + ".")
    return lines


def _disagreement_line(ctx: _Context, table: pd.DataFrame) -> str:
    """Finding 3: the least agreeing pair of headline metrics over the tasks."""
    name = "Metric disagreement (finding 3)"
    rows = table.dropna(subset=["estimate"])
    if rows.empty:
        return f"{name}: not testable here (no task has two models and two headline metrics)."
    supported = rows[rows["supported"].astype(bool)]
    pool = supported if len(supported) else rows
    low = pool.sort_values("estimate", kind="stable").iloc[0]
    text = (
        f"{name}: least agreeing rankings {low['metric']} vs {low['metric_b']} on "
        f"{ctx.task_name(tuple(low[TASK]))}, Kendall τ = {_with_ci(low)} "
        f"({int(low['n_models'])} models, {int(low['n'])} conditions); median τ "
        f"{_num(float(pool['estimate'].median()))} over {len(pool)} pairs"
    )
    if supported.empty:
        text += f"; the data cannot support it ({low['note']})"
    return text + "."


def finding_lines(ctx: _Context) -> list[str]:
    """The three findings as short sentences with their numbers (the values of findings.csv)."""
    table = ctx.findings
    pooled = table[table["model"] == POOLED]
    context = pooled[pooled["finding"] == "context_variation"]
    strict = pooled[pooled["finding"] == "strict_drop"]
    strict_lines = _strict_lines(ctx, strict) or [
        "Strict drop (finding 2): not testable here (no scenario was run in both its standard "
        "and its strict variant)."
    ]
    return [
        _context_line(ctx, context),
        *strict_lines,
        _disagreement_line(ctx, table[table["finding"] == "metric_disagreement"]),
    ]


def _findings(ctx: _Context) -> Section:
    section = Section(
        "findings",
        "The seed paper's three findings",
        "Each finding as a tested statement on the headline metrics (definitions: "
        "vcbench.analysis.findings and docs/findings.md): context variation = between-context "
        "share of score variance with a cluster-bootstrap CI over contexts; strict drop = paired "
        "strict − standard difference per seed with a t-interval and a sign test; metric "
        "disagreement = Kendall τ between model rankings with a bootstrap CI over conditions. "
        "Every number is in findings.csv beside results.parquet.",
    )
    for sentences in ctx.statements.values():
        for sentence in sentences:
            section.blocks.append(Block("text", sentence))
    if len(ctx.findings):
        shown = ctx.findings[ctx.findings["model"].isin([POOLED, ""])]
        shown = shown.dropna(axis=1, how="all").assign(
            **{c: shown[c].map(_num) for c in ("estimate", "ci_low", "ci_high") if c in shown}
        )
        section.blocks.append(
            Block(
                "table", shown, "findings.csv, pooled rows (every model: the file)", collapsed=True
            )
        )
    return section


def _coverage(ctx: _Context) -> Section:
    section = Section(
        "coverage",
        "Representation coverage",
        "Share of a task's test perturbations all of whose targets have a representation in the "
        "model's featuriser (mean over seeds; docs/representations.md). A model knows nothing "
        "about an uncovered perturbation: its result rows carry a note. Models without a "
        "featuriser record no coverage.",
    )
    table = representation_coverage(ctx.records, ctx.results)
    if table.empty:
        section.unavailable = (
            "no task recorded a representation coverage (no model with a featuriser)"
        )
        return section
    partial = table[table["min_coverage"] < 1]
    for _, r in partial.iterrows():
        names = f": {r['examples']}" if r["examples"] else ""
        section.blocks.append(
            Block(
                "text",
                f"{r['model']} covers {percent_share(r['coverage'])} of the test perturbations of "
                f"{ctx.task_name(tuple(r[TASK]))} (lowest seed {percent_share(r['min_coverage'])}"
                f"; {r['uncovered']} uncovered{names}).",
            )
        )
    if partial.empty:
        section.blocks.append(
            Block("text", "Every model with a featuriser covers 100 % of its test perturbations.")
        )
    shown = table.assign(task=table[TASK].agg(_task_label, axis=1))
    shown = shown.assign(
        model=shown["model"].map(ctx.label), _cell=shown["coverage"].map(percent_share)
    )
    wide = shown.pivot_table(
        index="model", columns="task", values="_cell", aggfunc="first", sort=False
    )
    section.blocks.append(
        Block(
            "table",
            wide.fillna("—").reset_index(),
            "Coverage per model and task (mean over seeds; — = no featuriser)",
            collapsed=partial.empty,
        )
    )
    return section


def percent_share(share: float) -> str:
    """A share in [0, 1] as a percentage; below 100 % never rounds up to "100 %"."""
    value = 100 * float(share)
    text = f"{value:.0f} %"
    return f"{np.floor(value * 10) / 10:.1f} %" if text == "100 %" and share < 1 else text


def _which_tasks(records: pd.DataFrame) -> str:
    """``model on scenario/variant`` of each distinct task of ``records``, joined."""
    pairs = zip(records["model"], records["scenario"], records["variant"], strict=True)
    return "; ".join(sorted({f"{m} on {s}/{v}" for m, s, v in pairs}))


def _summary(ctx: _Context) -> list[str]:
    """Findings: short sentences, each with its number."""
    results, records = ctx.results, ctx.records
    ranked_names = [m for m in ctx.models if ctx.roles[m] != "control"]
    lines = [
        f"{len(ctx.tasks)} task(s) on {results['dataset'].nunique()} dataset(s) "
        f"({', '.join(dict.fromkeys(results['dataset'].astype(str)))}), seeds "
        f"{', '.join(map(str, sorted(results['seed'].unique())))}; {len(ranked_names)} ranked "
        f"model(s) and baseline(s)."
    ]
    if records is not None and len(records):
        failed = records[records["status"] == "failed"]
        if len(failed):
            lines.append(
                f"{len(failed)} task(s) failed (see records.parquet): {_which_tasks(failed)}."
            )
        skipped = records[records["status"] == "not_applicable"]
        if len(skipped):
            reasons = "; ".join(sorted(set(skipped["error"].astype(str))))
            lines.append(
                f"{len(skipped)} task(s) not applicable, not fitted ({_which_tasks(skipped)}): "
                f"{reasons}"
            )
    overall = ctx.standing[ctx.standing["split_category"] == OVERALL]
    firsts, verdicts = [], []
    one_dataset = results["dataset"].nunique() == 1
    for task in ctx.tasks:
        rows = ctx.task_rows(overall, task).dropna(subset=["headline_rank"])
        label = _task_label(task[1:] if one_dataset else task)
        if rows.empty:
            firsts.append(f"nothing on {label} (no calibrated headline metric)")
            continue
        rows = rows.sort_values(["headline_rank", "model"])
        first = rows.iloc[0]
        firsts.append(
            f"{label}: {ctx.label(first['model'])} (mean rank {first['headline_rank']:.1f} of "
            f"{len(rows)} on {int(first['n_metrics'])} metrics)"
        )
        models = rows[rows["role"] == "model"]
        baselines = rows[rows["role"] == "baseline"]
        if len(models) and len(baselines):
            best_model, best_baseline = models.iloc[0], baselines.iloc[0]
            beaten = best_model["headline_rank"] < best_baseline["headline_rank"]
            verdicts.append(
                f"{label}: {best_model['model']} {'beats' if beaten else 'does not beat'} the "
                f"best baseline {best_baseline['model']} (mean rank "
                f"{best_model['headline_rank']:.1f} vs {best_baseline['headline_rank']:.1f})"
            )
        elif not len(models):
            verdicts.append(None)
    lines.append("Ranked first: " + "; ".join(firsts) + ".")
    if verdicts and all(v is None for v in verdicts):
        lines.append("Only baselines were run: no model to hold against the best baseline.")
    elif verdicts:
        lines.append("Against the best baseline: " + "; ".join(v for v in verdicts if v) + ".")
    status = ctx.board[ctx.board["split_category"] == OVERALL].drop_duplicates([*TASK, "metric"])
    counts = status.groupby(TASK, sort=False)["calibrated"].agg(["sum", "size"])
    lines.append(
        "Calibrated metrics (replicate beats perturbed_mean): "
        + "; ".join(
            f"{k} of {n} on {_task_label(t[1:] if one_dataset else t)}"
            for t, (k, n) in counts.iterrows()
        )
        + "."
    )
    lines += finding_lines(ctx)
    coverage = representation_coverage(records, results)
    partial = coverage[coverage["min_coverage"] < 1]
    if len(partial):
        shown = [
            f"{r['model']} {percent_share(r['coverage'])} on {ctx.task_name(tuple(r[TASK]))}"
            for _, r in partial.head(3).iterrows()
        ]
        more = f" and {len(partial) - 3} more" if len(partial) > 3 else ""
        lines.append(
            "Representation coverage below 100 % of the test perturbations: "
            + "; ".join(shown)
            + more
            + "."
        )
    n_nan = int(results["value"].isna().sum())
    if n_nan:
        lines.append(
            f"{n_nan} of {len(results)} results are undefined (NaN; worst value when ranking)."
        )
    return lines + collapse_summary(records)


SECTIONS = (
    _headline,
    _findings,
    _leaderboards,
    _calibration,
    _agreement,
    _strict,
    _merge,
    _paired,
    _cost,
    collapse,
    _guide,
    _coverage,
    _undefined,
)


def build_report(
    results: pd.DataFrame,
    records: pd.DataFrame | None = None,
    *,
    title: str = "vcbench report",
    n_boot: int = 1000,
    seed: int = 0,
    shifts: pd.DataFrame | Callable[[], pd.DataFrame] | None = None,
    board: pd.DataFrame | None = None,
) -> Report:
    """The report's summary and sections from a benchmark's tidy ``results`` and ``records``
    (``n_boot``/``seed``: the findings' bootstraps use ``n_boot`` resamples, the agreement
    intervals ``n_boot // 5``; ``shifts``: the splits' measured shift,
    :func:`vcbench.analysis.findings.split_shifts`, for the strict-drop finding, or a function
    that computes it (then called beside the other findings); ``board``:
    ``analysis.leaderboard(results)`` where the caller has it already)."""
    an.common.require_columns(results, [*RESULT_COLUMNS, "value"])
    if results.empty:
        reason = "the benchmark produced no results (did every task fail? see records.parquet)"
        sections = [
            Section(s.__name__.strip("_"), s.__name__.strip("_").title(), "", unavailable=reason)
            for s in SECTIONS
        ]
        return Report(title, [reason], sections)
    ctx = _Context(results, records, n_boot, seed, shifts, board)
    # the leaderboards (most of the figures) are built in another process, as are the findings,
    # while this one builds the other sections; the findings' section last, as it waits for them
    leaderboards = in_background(_leaderboards, ctx)
    built = {
        s: leaderboards.result() if s is _leaderboards else s(ctx)
        for s in sorted(SECTIONS, key=lambda s: (s is _findings, s is _leaderboards))
    }
    return Report(title, _summary(ctx), [built[s] for s in SECTIONS], ctx.findings)


__all__ = ["Block", "Report", "Section", "build_report", "findings_of"]
