"""Report figures (matplotlib, Agg backend), returned as PNG data URIs.

Colours: the Okabe–Ito palette (colour-blind safe); the technical replicate is grey. Every figure
states the metric's direction ("↑ better" / "↓ better") and its units.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
import pandas as pd

from vcbench.analysis.common import POSITIVE, higher_is_better

OKABE_ITO = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#F0E442",
    "#000000",
)
GREY = "#999999"
CLIP = 100.0  # relative changes beyond ±100 % are drawn at the limit, with their value written
DPI = 100


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.size": 10,
            "axes.titlesize": 11,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.axisbelow": True,
        }
    )
    return plt


def colours(models: Sequence[str]) -> dict[str, str]:
    """A stable colour per model: Okabe–Ito in order (repeating with hatching beyond 8), grey for
    the technical replicate."""
    palette = iter(OKABE_ITO * (len(models) // len(OKABE_ITO) + 1))
    return {m: GREY if m == POSITIVE else next(palette) for m in models}


def arrow(metric: str) -> str:
    """``"metric (↑ better)"`` or ``"metric (↓ better)"``."""
    return f"{metric} ({'↑' if higher_is_better(metric) else '↓'} better)"


def to_data_uri(figure: object) -> str:
    """The figure as a base64 PNG data URI (the figure is closed).

    A constrained-layout figure (the grids) is laid out once and then drawn once: it fits its
    canvas already (matplotlib would otherwise lay it out and draw it twice, once dry). The other
    figures are cropped to their content (``bbox_inches="tight"``, which draws them twice).
    """
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    plt = _pyplot()
    buffer = io.BytesIO()
    engine = figure.get_layout_engine()  # type: ignore[attr-defined]
    if isinstance(engine, ConstrainedLayoutEngine):
        engine.execute(figure)
        figure.set_layout_engine(None)  # type: ignore[attr-defined]
        figure.savefig(buffer, format="png", dpi=DPI)  # type: ignore[attr-defined]
    else:
        figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")  # type: ignore[attr-defined]
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _grid(n: int, ncols: int, width: float, height: float):
    plt = _pyplot()
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    figure, axes = plt.subplots(
        nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, layout="constrained"
    )
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return figure, axes.ravel()


ANNOTATE_UP_TO = 12  # heatmaps with more metrics show colours only


def heatmap(
    matrix: pd.DataFrame,
    title: str,
    label: str,
    ax: object | None = None,
    vmin: float = -1.0,
    hatched: pd.DataFrame | None = None,
) -> object:
    """A metric × metric heatmap (diverging, −1 to 1), with the values written in the cells when
    there are at most ``ANNOTATE_UP_TO`` metrics (the tables beside it hold them all); the cells
    where ``hatched`` (same shape, boolean) is true are hatched."""
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4.4))
    values = matrix.to_numpy(dtype=float)
    image = ax.imshow(values, cmap="PuOr_r", vmin=vmin, vmax=1)  # type: ignore[attr-defined]
    n = len(matrix)
    ax.set_xticks(range(n), matrix.columns, rotation=45, ha="right")  # type: ignore[attr-defined]
    ax.set_yticks(range(n), matrix.index)  # type: ignore[attr-defined]
    ax.grid(False)  # type: ignore[attr-defined]
    if n > ANNOTATE_UP_TO:
        ax.tick_params(labelsize=7)  # type: ignore[attr-defined]
    for i in range(n if n <= ANNOTATE_UP_TO else 0):
        for j in range(n):
            v = values[i, j]
            text = "—" if np.isnan(v) else f"{v:.2f}"
            ax.text(  # type: ignore[attr-defined]
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=8,
                color="white" if not np.isnan(v) and abs(v) > 0.6 else "black",
            )
    if hatched is not None:
        from matplotlib.patches import Rectangle

        for i, j in zip(*np.nonzero(hatched.to_numpy(dtype=bool)), strict=True):
            if i != j:
                ax.add_patch(  # type: ignore[attr-defined]
                    Rectangle(
                        (j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", edgecolor="#777",
                        linewidth=0,
                    )
                )  # fmt: skip
    ax.set_title(title)  # type: ignore[attr-defined]
    ax.figure.colorbar(image, ax=ax, label=label, shrink=0.8)  # type: ignore[attr-defined]
    return ax


def agreement_figure(
    correlation: pd.DataFrame, tau: pd.DataFrame | None, uncertain: pd.DataFrame | None = None
) -> str:
    """Side-by-side heatmaps: correlation of metric values (hatched where ``uncertain``: its
    interval covers 0), and mean Kendall τ of model rankings."""
    plt = _pyplot()
    panels = 1 if tau is None else 2
    side = max(4.6, 0.45 * len(correlation) + 1.5)  # room for one label and value per cell
    figure, axes = plt.subplots(1, panels, figsize=((side + 1) * panels, side), squeeze=False)
    heatmap(
        correlation,
        "Correlation of values\n(all models, tasks, conditions)",
        "Spearman ρ",
        axes[0, 0],
        hatched=uncertain,
    )
    if tau is not None:
        heatmap(tau, "Agreement of model rankings\n(mean over tasks)", "Kendall τ", axes[0, 1])
    figure.tight_layout()
    return to_data_uri(figure)


def rank_figure(ranks: pd.DataFrame, palette: dict[str, str]) -> str:
    """One panel per task: each model's rank (1 = best) under each metric, models as lines."""
    tasks = list(
        dict.fromkeys(zip(ranks["dataset"], ranks["scenario"], ranks["variant"], strict=True))
    )
    n_metrics = ranks["metric"].nunique()
    figure, axes = _grid(len(tasks), 3 if n_metrics <= 12 else 1, max(4.6, 0.4 * n_metrics), 3.6)
    n_models = ranks["model"].nunique()
    for ax, task in zip(axes, tasks, strict=False):
        rows = ranks[
            (ranks["dataset"] == task[0])
            & (ranks["scenario"] == task[1])
            & (ranks["variant"] == task[2])
        ]
        metrics = list(dict.fromkeys(rows["metric"]))
        wide = rows.pivot_table(index="model", columns="metric", values="rank").reindex(
            columns=metrics
        )
        for k, (model, line) in enumerate(wide.iterrows()):
            jitter = (k - (len(wide) - 1) / 2) * 0.06  # separate tied lines
            ax.plot(
                range(len(metrics)),
                line.to_numpy(dtype=float) + jitter,
                marker="o",
                color=palette.get(str(model), GREY),
                label=model,
                linewidth=1.6,
            )
        ax.set_xticks(
            range(len(metrics)),
            [arrow(m).replace(" better", "") for m in metrics],
            rotation=35,
            ha="right",
        )
        ax.set_yticks(range(1, n_models + 1))
        ax.set_ylim(n_models + 0.5, 0.5)
        ax.set_ylabel("rank (1 = best)")
        ax.set_title(" / ".join(str(t) for t in task))
    handles, labels = {}, {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            handles[lab] = h
    labels = list(handles)
    figure.legend(
        [handles[lab] for lab in labels],
        labels,
        loc="outside upper center",
        ncol=min(len(labels), 6),
        frameon=False,
    )
    return to_data_uri(figure)


def relative_bars(
    table: pd.DataFrame, value: str, panel: list[str], palette: dict[str, str], ylabel: str
) -> str:
    """Grouped bars of a relative change in percent: one panel per distinct ``panel`` key, metrics
    on the x axis, one bar per model."""
    keys = list(dict.fromkeys(map(tuple, table[panel].to_numpy())))
    n_metrics = table["metric"].nunique()
    figure, axes = _grid(len(keys), 2 if n_metrics <= 12 else 1, max(6.0, 0.45 * n_metrics), 3.6)
    models = [m for m in palette if m in set(table["model"])]
    width = 0.8 / max(len(models), 1)
    for ax, key in zip(axes, keys, strict=False):
        rows = table[(table[panel] == pd.Series(key, index=panel)).all(axis=1)]
        metrics = list(dict.fromkeys(rows["metric"]))
        x = np.arange(len(metrics))
        indexed = rows.set_index(["metric", "model"])[value]
        for k, model in enumerate(models):
            heights = 100 * indexed.reindex([(m, model) for m in metrics]).to_numpy(dtype=float)
            shown = np.clip(np.nan_to_num(heights), -CLIP, CLIP)
            offset = x + (k - (len(models) - 1) / 2) * width
            ax.bar(offset, shown, width, color=palette[model], label=model)
            for position, change in zip(offset, heights, strict=True):
                if abs(change) > CLIP:  # a near-zero reference: say the change, keep the scale
                    ax.text(
                        position,
                        np.sign(change) * CLIP * 0.95,
                        f"{change:+.0f} %",
                        ha="center",
                        va="top" if change > 0 else "bottom",
                        fontsize=7,
                        rotation=90,
                        color="white",
                        fontweight="bold",
                    )
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(x, metrics, rotation=30, ha="right")
        ax.set_ylabel(ylabel)
        ax.set_title(" / ".join(str(k) for k in key))
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(
        handles, labels, loc="outside upper center", ncol=min(len(models), 6), frameon=False
    )
    return to_data_uri(figure)


def _plain_log_ticks(ax: object) -> None:
    """Tick labels of a log axis as plain numbers (0.3, 1, 10) rather than powers of ten."""
    from matplotlib.ticker import FuncFormatter

    plain = FuncFormatter(lambda value, _: f"{value:g}")
    ax.xaxis.set_major_formatter(plain)  # type: ignore[attr-defined]
    ax.xaxis.set_minor_formatter(plain)  # type: ignore[attr-defined]


def cost_figure(cost: pd.DataFrame, palette: dict[str, str]) -> str:
    """Left: mean wall time per task (log scale). Right: mean rank against wall time."""
    plt = _pyplot()
    rows = cost.dropna(subset=["wall_seconds"])
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
    order = rows.sort_values("wall_seconds")
    left.barh(
        order["model"], order["wall_seconds"], color=[palette.get(m, GREY) for m in order["model"]]
    )
    left.set_xscale("log")
    _plain_log_ticks(left)
    left.set_xlabel("mean wall time per task (s, log scale)")
    left.set_title("Compute cost")
    ranked = rows.dropna(subset=["mean_rank"]) if "mean_rank" in rows else rows.iloc[0:0]
    for _, row in ranked.iterrows():
        right.scatter(
            row["wall_seconds"], row["mean_rank"], s=60, color=palette.get(row["model"], GREY)
        )
        right.annotate(
            row["model"],
            (row["wall_seconds"], row["mean_rank"]),
            textcoords="offset points",
            xytext=(6, 4),
            fontsize=9,
        )
    right.set_xscale("log")
    _plain_log_ticks(right)
    right.invert_yaxis()
    right.set_xlabel("mean wall time per task (s, log scale)")
    right.set_ylabel("mean rank over tasks and metrics\n(1 = best)")
    right.set_title("Accuracy against cost")
    figure.tight_layout()
    return to_data_uri(figure)


def _trailing_number(category: str) -> tuple[float, str]:
    """Sort key of a split category by its trailing number (``combo_unseen2`` → 2), then name."""
    digits = ""
    for char in reversed(category):
        if not char.isdigit():
            break
        digits = char + digits
    return (float(digits) if digits else np.inf, category)


def headline_figure(board: pd.DataFrame, palette: dict[str, str], title: str) -> str:
    """One panel per headline metric of one task (split category ``all``): each ranked model's
    mean with its 95 % interval over conditions as a horizontal bar, best first; the controls as
    dashed reference lines (ceiling: technical replicate; floors: the negative controls)."""
    rows = board[board["split_category"] == "all"]
    metrics = list(dict.fromkeys(rows["metric"]))
    figure, axes = _grid(len(metrics), 4, 3.2, 0.35 * rows["model"].nunique() + 1.4)
    for ax, metric in zip(axes, metrics, strict=False):
        part = rows[rows["metric"] == metric]
        ranked = part[part["role"] != "control"].sort_values("rank", na_position="last")
        y = np.arange(len(ranked))[::-1]
        mean = ranked["mean"].to_numpy(dtype=float)
        low = np.clip(mean - ranked["ci_low"].to_numpy(dtype=float), 0, None)
        high = np.clip(ranked["ci_high"].to_numpy(dtype=float) - mean, 0, None)
        ax.barh(
            y,
            np.nan_to_num(mean),
            xerr=np.nan_to_num(np.vstack([low, high])),
            color=[palette.get(m, GREY) for m in ranked["model"]],
            error_kw={"elinewidth": 0.8, "capsize": 2},
        )
        for position in y[np.isnan(mean)]:
            ax.text(0, position, " NaN", va="center", fontsize=7)
        labels = [
            f"{m}{' (b)' if r == 'baseline' else ''}"
            for m, r in zip(ranked["model"], ranked["role"], strict=True)
        ]
        ax.set_yticks(y, labels, fontsize=8)
        for _, control in part[part["role"] == "control"].iterrows():
            if np.isfinite(control["mean"]):
                ax.axvline(control["mean"], color=GREY, linestyle="--", linewidth=1)
                ax.text(
                    control["mean"],
                    len(ranked) - 0.4,
                    control["model"],
                    rotation=90,
                    fontsize=6,
                    color="#555555",
                    ha="right",
                    va="top",
                )
        ax.set_title(arrow(metric), fontsize=9)
        ax.grid(axis="y", visible=False)
    figure.suptitle(title + "  ((b) = baseline; dashed = controls)", fontsize=10)
    return to_data_uri(figure)


def category_lines(board: pd.DataFrame, palette: dict[str, str], title: str) -> str:
    """One panel per metric: the mean per split category (ordered by the category's trailing
    number, e.g. combo_unseen0/1/2) with 95 % intervals, one line per model (one task)."""
    rows = board[board["split_category"] != "all"]
    categories = sorted(set(rows["split_category"]), key=_trailing_number)
    metrics = list(dict.fromkeys(rows["metric"]))
    models = [m for m in palette if m in set(rows["model"])]
    figure, axes = _grid(len(metrics), 4, 3.2, 2.8)
    x = np.arange(len(categories))
    for ax, metric in zip(axes, metrics, strict=False):
        part = rows[rows["metric"] == metric].set_index(["split_category", "model"])
        for k, model in enumerate(models):
            line = part.reindex([(c, model) for c in categories])
            mean = line["mean"].to_numpy(dtype=float)
            low = np.clip(mean - line["ci_low"].to_numpy(dtype=float), 0, None)
            high = np.clip(line["ci_high"].to_numpy(dtype=float) - mean, 0, None)
            dashed = (line["role"] == "control").any()
            ax.errorbar(
                x + (k - (len(models) - 1) / 2) * 0.04,
                mean,
                yerr=np.nan_to_num(np.vstack([low, high])),
                color=palette[model],
                marker="o",
                markersize=3,
                linewidth=1.2,
                linestyle="--" if dashed else "-",
                capsize=2,
                label=model,
            )
        ax.set_xticks(x, categories, rotation=30, ha="right", fontsize=8)
        ax.set_title(arrow(metric), fontsize=9)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(
        handles,
        labels,
        loc="outside upper center",
        ncol=min(len(models), 4),
        frameon=False,
        title=title,
    )
    return to_data_uri(figure)
