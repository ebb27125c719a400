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
from vcbench.analysis.summary import OVERALL
from vcbench.report import figures as fig
from vcbench.report.tables import DETAIL, fmt, percent


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
    """The whole report: a title, the summary bullets and the sections."""

    title: str
    summary: list[str]
    sections: list[Section]


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
        self, results: pd.DataFrame, records: pd.DataFrame | None, n_boot: int, seed: int
    ) -> None:
        self.results = results
        self.records = records
        self.metrics = metric_order(results["metric"])
        self.tasks = list(dict.fromkeys(zip(*(results[c] for c in TASK), strict=True)))
        self.board = an.leaderboard(results, n_boot=n_boot, seed=seed)
        self.ranks = an.model_ranks(results)
        order = self.ranks.groupby("model")["rank"].mean().sort_values(kind="stable")
        models = [m for m in order.index if m != NEGATIVE]
        if NEGATIVE in set(results["model"]):
            models.append(NEGATIVE)
        if POSITIVE in set(results["model"]):
            models.append(POSITIVE)
        self.models = models
        self.palette = fig.colours(models)

    def by_metric(self, table: pd.DataFrame) -> pd.DataFrame:
        """``table`` with its rows in the report's metric order."""
        order = {m: i for i, m in enumerate(self.metrics)}
        return table.sort_values("metric", key=lambda m: m.map(order), kind="stable")

    def wide(
        self, rows: pd.DataFrame, cell: Callable[[pd.Series], str], index: list[str]
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Rows × metric columns of formatted cells, and where each cell ranks first."""
        rows = rows.assign(
            _cell=rows.apply(cell, axis=1) if len(rows) else [],
            _best=rows["rank"] == 1 if "rank" in rows else False,
            _order=rows["model"].map({m: i for i, m in enumerate(self.models)}),
        ).sort_values("_order", kind="stable")
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


def _leader_cell(row: pd.Series) -> str:
    if np.isnan(row["mean"]):
        return f"— ({int(row['n_nan'])} NaN)"
    text = fmt(row["mean"]) + ("" if np.isnan(row["sd"]) else f" ± {fmt(row['sd'], 2)}")
    text += f"{DETAIL}[{fmt(row['ci_low'])}, {fmt(row['ci_high'])}]"
    return text + (f" · {int(row['n_nan'])} NaN" if row["n_nan"] else "")


def _leaderboards(ctx: _Context) -> Section:
    section = Section(
        "leaderboards",
        "Leaderboards",
        "Mean ± sd over seeds of the per-seed mean over test conditions; below it, the bootstrap "
        "95 % interval over conditions (1,000 resamples). Bold: best model per metric "
        "(↑ higher is better, ↓ lower is better). technical_replicate is the noise ceiling, "
        "not a model, and is not ranked. NaN: conditions where the metric is undefined.",
    )
    for task in ctx.tasks:
        rows = ctx.board[(ctx.board[TASK] == pd.Series(task, index=TASK)).all(axis=1)]
        overall = rows[rows["split_category"] == OVERALL]
        table, best = ctx.wide(overall, _leader_cell, ["model"])
        categories = sorted(set(rows["split_category"]) - {OVERALL})
        what = (
            "all split categories"
            if len(categories) > 1
            else f"split category {', '.join(categories)}"
        )
        n = int((overall["n_conditions"] + overall["n_nan"]).max()) if len(overall) else 0
        seeds = ctx.results.loc[
            (ctx.results[TASK] == pd.Series(task, index=TASK)).all(axis=1), "seed"
        ].nunique()
        section.blocks.append(
            Block(
                "table",
                table,
                f"{_task_label(task)}: {what} ({n} conditions over {seeds} seed(s))",
                bold=best,
            )
        )
        if len(categories) > 1:  # one category: the table says it all
            per_category = rows[rows["split_category"] != OVERALL]
            table, best = ctx.wide(per_category, _leader_cell, ["split_category", "model"])
            section.blocks.append(
                Block(
                    "table",
                    table,
                    f"{_task_label(task)}: per split category",
                    bold=best,
                    collapsed=True,
                )
            )
            section.blocks.append(
                Block(
                    "figure",
                    fig.category_bars(rows, ctx.palette, _task_label(task)),
                    f"{_task_label(task)}: mean per split category with bootstrap 95 % intervals.",
                )
            )
    return section


def _calibration(ctx: _Context) -> Section:
    section = Section(
        "calibration",
        "Calibration",
        "Calibrated score (u − b) / (r − b): 0 = as good as perturbed_mean (negative control), "
        "1 = as good as a technical replicate (positive control); not clipped, so below 0 is "
        "worse than the mean baseline and above 1 beats the replicate. u, b, r are per-seed "
        "means over the conditions where all three are defined; shown: mean ± sd over seeds. "
        "A metric is discriminative on a task when the replicate beats perturbed_mean on most "
        "conditions; where it is not, that metric cannot separate good from bad models there.",
    )
    try:
        scores = an.calibrated_scores(ctx.results)
        trust = an.discriminative(ctx.results)
    except an.AnalysisError as exc:
        section.unavailable = str(exc)
        return section
    overall = scores[scores["split_category"] == OVERALL]
    defined = overall.groupby([*TASK, "model"])["score"].transform(lambda v: v.notna().any())
    overall = overall[defined]  # a model that failed on a task has no row there

    def cell(row: pd.Series) -> str:
        if np.isnan(row["score"]):
            return "—"
        sd = "" if np.isnan(row["score_sd"]) else f" ± {row['score_sd']:.2f}"
        return f"{round(row['score'], 2) + 0.0:.2f}{sd}"  # + 0.0: no "-0.00"

    table, _ = ctx.wide(
        overall.assign(task=overall[TASK].agg(_task_label, axis=1)), cell, ["task", "model"]
    )
    section.blocks.append(Block("table", table, "Calibrated scores (all split categories)"))
    trust = trust.assign(
        task=trust[TASK].agg(_task_label, axis=1),
        model="",
        _cell=[
            f"{100 * f:.0f} % {'✓' if d else '✗'}{DETAIL}of {n}"
            for f, d, n in zip(
                trust["fraction"], trust["discriminative"], trust["n_conditions"], strict=True
            )
        ],
    )
    wide = trust.pivot_table(
        index="task", columns="metric", values="_cell", aggfunc="first", sort=False
    )
    wide = wide.reindex(columns=[m for m in ctx.metrics if m in wide.columns])
    wide.columns = [_metric_header(m) for m in wide.columns]
    section.blocks.append(
        Block(
            "table",
            wide.fillna("—").reset_index(),
            "Share of conditions where technical_replicate beats perturbed_mean "
            "(✓ discriminative: more than half; ✗ not)",
        )
    )
    return section


def _agreement(ctx: _Context) -> Section:
    section = Section(
        "agreement",
        "Metric agreement",
        "Left: Spearman correlation between metrics over every (model, task, condition) value, "
        "each metric oriented so that higher is better (positive = the metrics agree). Right: "
        "Kendall τ between the model rankings that two metrics give, averaged over tasks. Below: "
        "each model's rank under each metric; crossing lines mean the metrics disagree about "
        "which model is best.",
    )
    try:
        correlation = an.metric_correlation(ctx.results)
    except an.NotAvailable as exc:
        section.unavailable = str(exc)
        return section
    correlation = correlation.reindex(index=ctx.metrics, columns=ctx.metrics)
    try:
        tau = an.tau_matrix(an.ranking_agreement(ctx.results))
        tau = tau.reindex(index=ctx.metrics, columns=ctx.metrics)
    except an.NotAvailable as exc:
        tau = None
        section.blocks.append(Block("text", f"Ranking agreement not available: {exc}."))
    section.blocks.append(
        Block("figure", fig.agreement_figure(correlation, tau), "Agreement between metrics")
    )
    section.blocks.append(
        Block(
            "table",
            correlation.reset_index(names="metric"),
            "Spearman ρ between metric values",
            collapsed=True,
        )
    )
    if tau is not None:
        section.blocks.append(
            Block(
                "table",
                tau.reset_index(names="metric"),
                "Mean Kendall τ between model rankings",
                collapsed=True,
            )
        )
        ranks = ctx.ranks[ctx.ranks["model"].isin(ctx.models)]
        section.blocks.append(
            Block(
                "figure",
                fig.rank_figure(ranks, ctx.palette),
                "Rank of each model under each metric, per task",
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
    section.blocks.append(
        Block(
            "figure",
            fig.relative_bars(
                ctx.by_metric(drop),
                "drop",
                ["dataset", "scenario"],
                ctx.palette,
                "drop under strict (%)\n(positive = worse)",
            ),
            "Relative drop under strict evaluation (bars beyond ±100 % are cut there and labelled with their value)",
        )
    )
    drop = drop.assign(task=drop["dataset"] + " / " + drop["scenario"])
    table, _ = ctx.wide(drop, lambda r: percent(r["drop"]), ["task", "model"])
    section.blocks.append(Block("table", table, "Relative drop (positive = worse under strict)"))
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
    others = [m for m in ctx.models if m not in (NEGATIVE, POSITIVE)]
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

    wide, _ = ctx.wide(table, cell, ["task", "model"])
    section.blocks.append(Block("table", wide, "Effect size (model vs perturbed_mean)"))
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
        "Per task and metric family: the model with the best rank averaged over the family's "
        "metrics; the runner-up; and the best other simple baseline (no_change, "
        'perturbed_mean, perturbation_mean, additive, linear, random_perturbation). "Within '
        "on k of n\": on k of the family's n metrics that model's mean lies inside the best "
        "model's bootstrap 95 % interval, so the data do not separate them there; a simple "
        "baseline within the interval means the extra complexity buys nothing measurable.",
    )
    guide = an.selection_guide(ctx.board)
    if guide.empty:
        section.unavailable = "no ranked model"
        return section

    def verdict(model: str | None, within: float | None, n: int) -> str:
        if model is None:
            return "—"
        return f"{model} ({int(within)} of {n})"

    table = pd.DataFrame(
        {
            "task": guide[TASK].agg(_task_label, axis=1),
            "family": guide["family"].str.replace("_", " "),
            "metrics": guide["metrics"],
            "best model (mean rank)": [
                f"{m} ({r:.1f})" + (" · simple baseline" if b else "")
                for m, r, b in zip(
                    guide["best_model"],
                    guide["best_mean_rank"],
                    guide["best_is_baseline"],
                    strict=True,
                )
            ],
            "runner-up (within best's interval on k of n metrics)": [
                verdict(m, w, n)
                for m, w, n in zip(
                    guide["runner_up"], guide["runner_up_within"], guide["n_metrics"], strict=True
                )
            ],
            "best other simple baseline (within on k of n)": [
                verdict(m, w, n)
                for m, w, n in zip(
                    guide["baseline"], guide["baseline_within"], guide["n_metrics"], strict=True
                )
            ],
        }
    )
    section.blocks.append(Block("table", table, "Model-selection guide"))
    return section


def _summary(ctx: _Context) -> list[str]:
    results, records = ctx.results, ctx.records
    lines = [
        f"{results['dataset'].nunique()} dataset(s), {len(ctx.tasks)} task(s) "
        f"({', '.join(_task_label(t) for t in ctx.tasks)}), seeds "
        f"{', '.join(map(str, sorted(results['seed'].unique())))}; models: "
        f"{', '.join(m for m in ctx.models if m not in (NEGATIVE, POSITIVE))}"
        f" and the controls {NEGATIVE} (negative) and {POSITIVE} (positive), where run; "
        f"metrics: {', '.join(ctx.metrics)}."
    ]
    if records is not None and len(records):
        failed = records[records["status"] != "ok"]
        if len(failed):
            which = sorted(
                {
                    f"{m} on {s}/{v}"
                    for m, s, v in zip(
                        failed["model"], failed["scenario"], failed["variant"], strict=True
                    )
                }
            )
            lines.append(f"{len(failed)} task(s) failed (see records.parquet): {'; '.join(which)}.")
    ranked = ctx.ranks[ctx.ranks["model"] != POSITIVE]
    for task, rows in ranked.groupby(TASK, sort=False):
        mean_rank = rows.groupby("model")["rank"].mean().sort_values(kind="stable")
        lines.append(
            f"{_task_label(task)}: best model by mean rank over {rows['metric'].nunique()} "
            f"metric(s) is {mean_rank.index[0]} (mean rank {mean_rank.iloc[0]:.1f} of "
            f"{len(mean_rank)})."
        )
    try:
        drop = an.strict_drop(ctx.results)
        for scenario, rows in drop.groupby("scenario"):
            lines.append(
                f"Strict evaluation ({scenario}): median drop {percent(rows['drop'].median())} "
                f"over models and metrics (positive = worse)."
            )
    except an.NotAvailable:
        pass
    try:
        correlation = an.metric_correlation(ctx.results)
        values = correlation.where(np.triu(np.ones(correlation.shape, dtype=bool), 1)).stack()
        if len(values):
            (a, b), low = values.idxmin(), values.min()
            lines.append(f"Least agreeing metrics: {a} and {b} (Spearman ρ = {low:.2f}).")
    except an.NotAvailable:
        pass
    try:
        trust = an.discriminative(ctx.results)
        weak = trust[~trust["discriminative"]]
        if len(weak):
            lines.append(
                "Not discriminative (the replicate does not beat perturbed_mean on most "
                "conditions): "
                + "; ".join(
                    f"{_task_label(task)}: {', '.join(rows['metric'])}"
                    for task, rows in weak.groupby(TASK, sort=False)
                )
                + "."
            )
    except an.AnalysisError as exc:
        lines.append(f"Calibration not available: {exc}")
    guide = an.selection_guide(ctx.board)
    if len(guide):
        lines.append(
            f"A simple baseline is the best model in {int(guide['best_is_baseline'].sum())} of "
            f"{len(guide)} (task, metric family) cells."
        )
    return lines


SECTIONS = (_leaderboards, _calibration, _agreement, _strict, _merge, _paired, _cost, _guide)


def build_report(
    results: pd.DataFrame,
    records: pd.DataFrame | None = None,
    *,
    title: str = "vcbench report",
    n_boot: int = 1000,
    seed: int = 0,
) -> Report:
    """The report's summary and sections from a benchmark's tidy ``results`` and ``records``."""
    an.common.require_columns(results, [*RESULT_COLUMNS, "value"])
    if results.empty:
        reason = "the benchmark produced no results (did every task fail? see records.parquet)"
        sections = [
            Section(s.__name__.strip("_"), s.__name__.strip("_").title(), "", unavailable=reason)
            for s in SECTIONS
        ]
        return Report(title, [reason], sections)
    ctx = _Context(results, records, n_boot, seed)
    return Report(title, _summary(ctx), [section(ctx) for section in SECTIONS])


__all__ = ["Block", "Report", "Section", "build_report"]
