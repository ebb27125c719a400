"""The model-selection guide: per task and metric family, the best model against the best
baseline, under the ranking rules (calibrated metrics only, controls never recommended)."""

from __future__ import annotations

import pandas as pd

from vcbench.analysis.common import TASK, require_columns
from vcbench.analysis.summary import OVERALL

GUIDE_COLUMNS = [
    *TASK,
    "family",
    "metrics",
    "best_model",
    "best_model_rank",
    "best_baseline",
    "best_baseline_rank",
    "model_beats_baseline",
    "within",
    "n_metrics",
    "verdict",
]


def _within(block: pd.DataFrame, best: str, other: str) -> int:
    """On how many metrics ``other``'s mean lies within ``best``'s 95 % interval."""
    rows = block.set_index(["model", "metric"])
    mine, theirs = rows.loc[best], rows.loc[other]
    common = mine.index.intersection(theirs.index)
    mean = theirs.loc[common, "mean"]
    inside = (mean >= mine.loc[common, "ci_low"]) & (mean <= mine.loc[common, "ci_high"])
    return int(inside.sum())


def _verdict(
    model: str | None, baseline: str | None, beats: bool, within: int | None, n: int
) -> str:
    if model is None and baseline is None:
        return "no model or baseline ranked"
    if model is None:
        return f"only baselines were run; best baseline: {baseline}"
    if baseline is None:
        return f"use {model} (no baseline was run to compare with)"
    if not beats:
        return f"no model beats the best baseline ({baseline}); {model} is the best model"
    if within:
        return (
            f"{model} ranks above {baseline}, but {baseline} lies within its interval on "
            f"{within} of {n} metric(s)"
        )
    return f"use {model}: it beats the best baseline ({baseline}) on every metric of the family"


def selection_guide(board: pd.DataFrame) -> pd.DataFrame:
    """Per (task, metric family): the best model and the best baseline, and whether the model
    beats it.

    From a :func:`leaderboard` (split category ``"all"``, calibrated metrics only, controls left
    out): a candidate's family rank is its rank averaged over the family's calibrated metrics
    (ties: first by name). ``best_model`` is the best of role ``model``, ``best_baseline`` the best
    of role ``baseline``; ``model_beats_baseline`` when the model's family rank is strictly
    better; ``within`` counts the family's metrics (of ``n_metrics``) on which the baseline's mean
    lies inside the model's 95 % interval. ``verdict`` says it in words. A family without a
    calibrated metric is left out.
    """
    needed = [*TASK, "split_category", "model", "role", "metric_family", "metric", "mean"]
    require_columns(board, [*needed, "ci_low", "ci_high", "rank", "calibrated"], what="leaderboard")
    rows = board[
        (board["split_category"] == OVERALL) & (board["role"] != "control") & board["calibrated"]
    ]
    rows = rows.dropna(subset=["rank"])
    out = []
    for (*task, fam), block in rows.groupby([*TASK, "metric_family"], sort=True):
        mean_rank = block.groupby("model")["rank"].mean().sort_index().sort_values(kind="stable")
        roles = block.groupby("model")["role"].first()
        models = [m for m in mean_rank.index if roles[m] == "model"]
        baselines = [m for m in mean_rank.index if roles[m] == "baseline"]
        model = str(models[0]) if models else None
        baseline = str(baselines[0]) if baselines else None
        beats = model is not None and (baseline is None or mean_rank[model] < mean_rank[baseline])
        n = block["metric"].nunique()
        within = _within(block, model, baseline) if model and baseline else None
        out.append(
            (
                *task,
                fam,
                ", ".join(dict.fromkeys(block["metric"])),
                model,
                float(mean_rank[model]) if model else float("nan"),
                baseline,
                float(mean_rank[baseline]) if baseline else float("nan"),
                bool(beats),
                within,
                n,
                _verdict(model, baseline, bool(beats), within, n),
            )
        )
    return pd.DataFrame(out, columns=GUIDE_COLUMNS)
