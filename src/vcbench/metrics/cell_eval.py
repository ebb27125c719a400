"""Compatibility with cell-eval (Arc Institute's evaluation package): its names and PDS normalisation.

vcbench's ``pds`` and cell-eval's ``discrimination_score_l1`` rank the same L1 distances between a
condition's predicted effect and every real effect of its context, but normalise differently:

- vcbench: ``pds = 1 − (#closer + ½·#ties) / (P − 1)``, the own condition left out of the P
  candidates, so a random prediction scores 0.5 and a perfect ranking 1;
- cell-eval: ``s = 1 − rank / P``, ``rank`` the position of the own real effect among all P
  (itself included, ties broken by sort order), so without ties ``s = 1 − #closer / P``.

Without ties the two are related by ``s = 1 − (1 − pds)·(P − 1)/P``; they differ by at most
``1/P`` (0.05 at P = 20). ``pds_over_p`` applies that conversion (``normalisation="p"`` of
``vcbench.evaluate(..., pds_normalisation="p")``); ties keep vcbench's half credit. vcbench
leaves the condition's target gene(s) out of the distance, cell-eval the gene named like the
perturbation (the same for single-gene perturbations).

``to_cell_eval`` writes the metrics that both packages compute with the same definition (checked
against cell-eval in the tests) under cell-eval's names: ``pdcorr`` → ``pearson_delta``, ``mse``,
``mae`` and ``pds`` (P-normalised) → ``discrimination_score_l1``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from vcbench.errors import MetricError

Normalisation = Literal["p_minus_1", "p"]

CELL_EVAL_NAMES: dict[str, str] = {
    "pdcorr": "pearson_delta",
    "mse": "mse",
    "mae": "mae",
    "pds": "discrimination_score_l1",
}
"""vcbench metric -> the cell-eval metric with the same definition (``pds`` after ``pds_over_p``)."""


def _group_keys(scores: pd.DataFrame) -> list[str]:
    """The columns that identify one scoring of one context (all label columns but the
    perturbation and its dose): P is counted within each such group."""
    skip = {"perturbation", "dose", "metric", "value", "note"}
    labels = [c for c in scores.columns if c not in skip]
    return [c for c in labels if c != "split_category"]


def pds_over_p(scores: pd.DataFrame, normalisation: Normalisation = "p") -> pd.DataFrame:
    """A copy of a scores/results table with ``pds`` normalised by P (cell-eval's convention).

    ``P`` is the number of conditions of the context that were ranked (the ``pds`` rows of the
    context in one scoring). ``normalisation="p_minus_1"`` returns the table unchanged.
    """
    if normalisation == "p_minus_1":
        return scores
    if normalisation != "p":
        raise MetricError(
            f"normalisation={normalisation!r} is not 'p' (cell-eval's) or 'p_minus_1' (vcbench's)."
        )
    out = scores.copy()
    rows = out["metric"] == "pds"
    if not rows.any():
        return out
    keys = _group_keys(out)
    p = out[rows].groupby(keys, observed=True, dropna=False)["value"].transform("size")
    value = out.loc[rows, "value"]
    out.loc[rows, "value"] = 1.0 - (1.0 - value) * (p - 1) / p
    note = "normalised by P as cell-eval's discrimination_score_l1"
    notes = out.loc[rows, "note"].fillna("").astype(str)
    out.loc[rows, "note"] = np.where(notes == "", note, notes + "; " + note)
    return out


def to_cell_eval(scores: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """cell-eval's two tables from a vcbench scores/results table: per perturbation (columns
    ``perturbation`` then cell-eval's metric names, after the group labels) and the aggregate
    (one row per group and statistic, cell-eval's ``statistic`` column)."""
    shared = scores[scores["metric"].isin(list(CELL_EVAL_NAMES))]
    if shared.empty:
        raise MetricError(
            f"The scores hold none of the metrics shared with cell-eval ({list(CELL_EVAL_NAMES)}); "
            "score with a profile that includes them (fast or full)."
        )
    shared = pds_over_p(shared)
    keys = [k for k in _group_keys(shared) if k != "context"] + ["context"]
    condition = ["perturbation", *(["dose"] if "dose" in shared.columns else [])]
    wide = (
        shared.assign(metric=shared["metric"].map(CELL_EVAL_NAMES))
        .set_index([*keys, *condition, "metric"])["value"]
        .unstack("metric")
        .reset_index()
    )
    wide.columns.name = None
    metrics = [CELL_EVAL_NAMES[m] for m in CELL_EVAL_NAMES if CELL_EVAL_NAMES[m] in wide]
    wide = wide[[*keys, *condition, *metrics]]
    frames = []
    for group, block in wide.groupby(keys, observed=True, dropna=False, sort=True):
        values = block[metrics]
        stats = {
            "count": values.notna().sum(),
            "null_count": values.isna().sum(),
            "mean": values.mean(),
            "std": values.std(),
            "min": values.min(),
            "25%": values.quantile(0.25),
            "50%": values.quantile(0.5),
            "75%": values.quantile(0.75),
            "max": values.max(),
        }
        table = pd.DataFrame(stats).T.reset_index(names="statistic")
        labels = dict(zip(keys, group if isinstance(group, tuple) else (group,), strict=True))
        frames.append(table.assign(**labels)[[*keys, "statistic", *metrics]])
    return wide, pd.concat(frames, ignore_index=True)
