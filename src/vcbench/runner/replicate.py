"""The calibration controls that are scored rather than fitted: the technical replicate (positive
control) and the collapse control (a negative control of the cell-level metrics).

Both are scored on the models' footing (``runner.halves``): the truth is half B of every test
condition's real cells plus all the real controls of its context, the reference the training cells.

- ``technical_replicate``: half A of the condition's real cells is the prediction. It estimates the
  score of an independent repeat of the experiment with ``n // 2`` cells, against the very truth the
  models are scored on. Conditions with fewer than 2 cells cannot be halved and get NaN values.
- ``collapse_control``: every predicted cell equals the truth's condition mean (a point mass at the
  true mean). It is perfect on mean-level metrics (an oracle there, not a floor), and exposes the
  distribution metrics that reward collapse.
"""

from __future__ import annotations

from collections.abc import Callable

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse

from vcbench.data import contract as c
from vcbench.metrics import evaluate
from vcbench.metrics.registry import resolve_metrics
from vcbench.metrics.truth_cache import TruthCache
from vcbench.models.base import PREDICTION_KEY
from vcbench.runner.halves import half_a_mask
from vcbench.runner.task import SCORE_KEYS, truth_for, with_split_category
from vcbench.scenarios.split import Split

REPLICATE = "technical_replicate"
COLLAPSE = "collapse_control"


def _with_categories(scores: pd.DataFrame, split: Split) -> pd.DataFrame:
    scores = with_split_category(scores, split)
    scores["value"] = scores["value"].astype(np.float64)
    return scores


def _nan_rows(conditions: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            **{
                SCORE_KEYS[key]: np.repeat(conditions[key].to_numpy(), len(names))
                for key in c.condition_columns(conditions.columns)
            },
            "metric": np.tile(names, len(conditions)),
            "value": np.nan,
            "note": "undefined: a condition with one cell cannot be halved",
        }
    )


def replicate_scores(
    adata: ad.AnnData,
    split: Split,
    metrics: str | list[str],
    seed: int = 0,
    truth_cache: TruthCache | None = None,
) -> pd.DataFrame:
    """Tidy scores (context, perturbation[, dose], split_category, metric, value, note) of the replicate:
    half A against half B (seeded by ``seed``, the split seed), all controls, training reference.
    ``truth_cache``: the split's truth-side statistics, shared with its models (same scores)."""
    half_a = half_a_mask(adata, split, seed)
    truth = truth_for(adata, split, seed)
    keys = c.condition_columns(split.test_conditions.columns)
    conditions = split.test_conditions[keys].astype(str).drop_duplicates()
    predicted = adata.obs.loc[half_a, keys].astype(str).drop_duplicates()
    keys = pd.MultiIndex.from_frame(conditions)
    halvable = keys.isin(pd.MultiIndex.from_frame(predicted))
    scored = conditions[halvable]
    frames = []
    if len(scored):
        train = adata[split.mask(adata, "train")]
        frames.append(
            evaluate(
                adata[half_a].copy(),
                truth,
                metrics=metrics,
                conditions=scored,
                reference=train,
                truth_cache=truth_cache,
            )
        )
    if (~halvable).any():
        frames.append(_nan_rows(conditions[~halvable], [m.name for m in resolve_metrics(metrics)]))
    return _with_categories(pd.concat(frames, ignore_index=True), split)


def collapse_prediction(truth: ad.AnnData) -> ad.AnnData:
    """The truth's perturbed cells, each replaced by its (context, perturbation[, dose]) mean."""
    perturbed = truth[~truth.obs[c.IS_CONTROL].to_numpy(dtype=bool)]
    keys = c.condition_columns(perturbed.obs.columns)
    x = perturbed.X.toarray() if sparse.issparse(perturbed.X) else np.asarray(perturbed.X)
    x = x.astype(np.float64)
    labels = c.joined_labels(perturbed.obs[keys])
    codes, _ = pd.factorize(labels)
    sums = np.zeros((codes.max() + 1, x.shape[1]))
    np.add.at(sums, codes, x)
    means = sums / np.bincount(codes)[:, None]
    prediction = ad.AnnData(
        X=means[codes].astype(np.float32), obs=perturbed.obs[keys].copy(), var=perturbed.var[[]]
    )
    prediction.uns[PREDICTION_KEY] = {"level": "cells"}
    return prediction


def collapse_scores(
    adata: ad.AnnData,
    split: Split,
    metrics: str | list[str],
    seed: int = 0,
    truth_cache: TruthCache | None = None,
) -> pd.DataFrame:
    """Tidy scores of the collapse control against the held-out half B (seeded by ``seed``);
    ``truth_cache`` as in ``replicate_scores``."""
    truth = truth_for(adata, split, seed)
    train = adata[split.mask(adata, "train")]
    scores = evaluate(
        collapse_prediction(truth),
        truth,
        metrics=metrics,
        conditions=split.test_conditions,
        reference=train,
        truth_cache=truth_cache,
    )
    return _with_categories(scores, split)


ScoredControl = Callable[[ad.AnnData, Split, str | list[str], int, TruthCache | None], pd.DataFrame]
SCORED_CONTROLS: dict[str, ScoredControl] = {
    REPLICATE: replicate_scores,
    COLLAPSE: collapse_scores,
}
