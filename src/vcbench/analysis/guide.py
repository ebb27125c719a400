"""The model-selection guide: per scenario, the best models per metric family."""

from __future__ import annotations

import pandas as pd

from vcbench.analysis.common import POSITIVE, TASK, family, is_simple_baseline, require_columns
from vcbench.analysis.summary import OVERALL

GUIDE_COLUMNS = [
    *TASK,
    "family",
    "metrics",
    "best_model",
    "best_mean_rank",
    "best_is_baseline",
    "runner_up",
    "runner_up_within",
    "baseline",
    "baseline_within",
    "n_metrics",
]


def _within(block: pd.DataFrame, best: str, other: str | None) -> int | None:
    """On how many metrics ``other``'s mean lies within ``best``'s bootstrap interval."""
    if other is None:
        return None
    rows = block.set_index(["model", "metric"])
    mine, theirs = rows.loc[best], rows.loc[other]
    common = mine.index.intersection(theirs.index)
    mean = theirs.loc[common, "mean"]
    inside = (mean >= mine.loc[common, "ci_low"]) & (mean <= mine.loc[common, "ci_high"])
    return int(inside.sum())


def selection_guide(board: pd.DataFrame) -> pd.DataFrame:
    """Per (task, metric family): the best model, and whether the runner-up and a simple baseline
    are distinguishable from it.

    From a :func:`leaderboard` (split category ``"all"``, technical replicate left out), the best
    model of a family has the lowest rank averaged over the family's metrics (ties: first by name),
    the runner-up the next lowest. ``baseline`` is the best-ranked simple baseline
    (:data:`SIMPLE_BASELINES`) other than the best model. ``runner_up_within`` and
    ``baseline_within`` count the family's metrics (of ``n_metrics``) on which that model's mean
    lies within the best model's bootstrap interval (None when there is no such model).
    """
    needed = [*TASK, "split_category", "model", "metric", "mean", "ci_low", "ci_high", "rank"]
    require_columns(board, needed, what="leaderboard")
    rows = board[(board["split_category"] == OVERALL) & (board["model"] != POSITIVE)]
    rows = rows.dropna(subset=["rank"])
    rows = rows.assign(family=rows["metric"].map(family))
    out = []
    for (*task, fam), block in rows.groupby([*TASK, "family"], sort=True):
        mean_rank = block.groupby("model")["rank"].mean().sort_index().sort_values(kind="stable")
        models = [str(m) for m in mean_rank.index]
        best = models[0]
        runner_up = models[1] if len(models) > 1 else None
        simple = [m for m in models[1:] if is_simple_baseline(m)]
        baseline = simple[0] if simple else None
        out.append(
            (
                *task,
                fam,
                ", ".join(dict.fromkeys(block["metric"])),
                best,
                float(mean_rank.iloc[0]),
                is_simple_baseline(best),
                runner_up,
                _within(block, best, runner_up),
                baseline,
                _within(block, best, baseline),
                block["metric"].nunique(),
            )
        )
    return pd.DataFrame(out, columns=GUIDE_COLUMNS)
