"""The technical replicate: the positive control of the benchmark's calibration (docs/report.md).

For every test condition, the real test cells are split at random into two halves, and so are the
real control cells of its context. Half A of the condition's cells is scored as the prediction
against half B as the truth, with half B of the controls as the reference. It is the ceiling that
the data's own sampling noise allows. Conditions with fewer than 2 cells (or contexts with fewer
than 2 controls) cannot be halved and get NaN values.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

from vcbench.data import contract as c
from vcbench.metrics import evaluate
from vcbench.metrics.registry import resolve_metrics
from vcbench.runner.task import truth_for
from vcbench.scenarios.split import Split

REPLICATE = "technical_replicate"


def _halves(groups: pd.Series, rng: np.random.Generator) -> np.ndarray:
    """A boolean mask picking half (rounded down) of the cells of every group, at random."""
    half_a = np.zeros(len(groups), dtype=bool)
    for positions in groups.groupby(groups, observed=True, sort=True).indices.values():
        chosen = rng.permutation(positions)[: len(positions) // 2]
        half_a[chosen] = True
    return half_a


def replicate_scores(
    adata: ad.AnnData, split: Split, metrics: str | list[str], seed: int = 0
) -> pd.DataFrame:
    """Tidy scores (context, perturbation, split_category, metric, value) of the technical replicate."""
    truth = truth_for(adata, split)
    obs = truth.obs
    groups = obs[c.CONTEXT].astype(str) + "\x1f" + obs[c.PERTURBATION].astype(str)
    half_a = _halves(groups, np.random.default_rng(seed))
    conditions = split.test_conditions[[c.CONTEXT, c.PERTURBATION, "split_category"]].astype(str)
    sizes = groups.value_counts()
    control_sizes = obs.loc[obs[c.IS_CONTROL], c.CONTEXT].astype(str).value_counts()
    halvable = [
        sizes.get(f"{ctx}\x1f{pert}", 0) >= 2 and control_sizes.get(ctx, 0) >= 2
        for ctx, pert in zip(conditions[c.CONTEXT], conditions[c.PERTURBATION], strict=True)
    ]
    scored = conditions[halvable]
    is_control = obs[c.IS_CONTROL].to_numpy()
    frames = []
    if len(scored):
        prediction = truth[half_a & ~is_control].copy()
        reference = truth[~half_a].copy()
        train = adata[split.mask(adata, "train")]
        frames.append(
            evaluate(prediction, reference, metrics=metrics, conditions=scored, reference=train)
        )
    names = [m.name for m in resolve_metrics(metrics)]
    unscored = conditions[~np.asarray(halvable, dtype=bool)]
    if len(unscored):
        frames.append(
            pd.DataFrame(
                {
                    "context": np.repeat(unscored[c.CONTEXT].to_numpy(), len(names)),
                    "perturbation": np.repeat(unscored[c.PERTURBATION].to_numpy(), len(names)),
                    "metric": np.tile(names, len(unscored)),
                    "value": np.nan,
                }
            )
        )
    scores = pd.concat(frames, ignore_index=True)
    category = conditions.set_index([c.CONTEXT, c.PERTURBATION])["split_category"]
    keys = pd.MultiIndex.from_arrays([scores["context"], scores["perturbation"]])
    scores.insert(2, "split_category", category.reindex(keys).to_numpy())
    scores["value"] = scores["value"].astype(np.float64)
    return scores
