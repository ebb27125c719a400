"""Collapse diagnostic of a prediction: does the model predict (nearly) one effect for every perturbation?

Notation as in docs/metrics.md: for a test condition ``c = (context, perturbation)``, ``x_c`` the
mean of its real cells, ``y_c`` the mean of its predicted cells (or its predicted mean row),
``x_0`` the mean of the context's real control cells, observed delta ``d_c = x_c − x_0`` and
predicted delta ``e_c = y_c − x_0`` (vectors over the ``G`` genes).

- **Effect diversity** ``D``: for each context with at least two test perturbations and each gene
  ``g``, ``s_pred(context, g)`` is the sample standard deviation (ddof 1) of ``e_c[g]`` over the
  context's test perturbations and ``s_obs(context, g)`` the same of ``d_c[g]``; then
  ``D = mean(s_pred) / mean(s_obs)``, both means over every (context, gene). ``D = 1``: the
  predicted effects differ between perturbations as much as the real ones; ``D = 0``: one effect
  for all. NaN when no context has two test perturbations or the real effects do not vary.
- **Effect correlation** ``R``: the mean, over every pair of distinct test perturbations of the
  same context, of the Pearson correlation over genes of their predicted deltas ``e_c``. A delta
  that is constant over genes (root-mean-square deviation from its own mean at most
  ``CONSTANT_RTOL · (1 + rms(x_0))``, as the metrics) has no correlation and is left out; NaN
  when no pair is left. ``R = 1``: every perturbation is predicted as the same effect up to scale.

Both are task-level numbers: the runner stores them in each task's record (``effect_diversity``,
``effect_correlation``) and the report warns when a model collapses (``vcbench.report.collapse``).
"""

from __future__ import annotations

from dataclasses import dataclass

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse

from vcbench.data import contract as c
from vcbench.metrics.definitions import CONSTANT_RTOL

KEYS = [c.CONTEXT, c.PERTURBATION]


@dataclass(frozen=True)
class EffectCollapse:
    """The task-level collapse diagnostic (module docstring)."""

    effect_diversity: float
    effect_correlation: float

    def as_record(self) -> dict[str, float]:
        """The record fields ``effect_diversity`` and ``effect_correlation``."""
        return {
            "effect_diversity": self.effect_diversity,
            "effect_correlation": self.effect_correlation,
        }


def group_means(adata: ad.AnnData, group: np.ndarray, n_groups: int, genes: pd.Index) -> np.ndarray:
    """The mean row of ``adata`` (columns ``genes``) of each group ``0 … n_groups − 1``, where
    ``group`` gives each row's group (−1: no group); a group without rows gets a NaN row."""
    rows = np.flatnonzero(group >= 0)
    counts = np.bincount(group[rows], minlength=n_groups).astype(np.float64)
    weights = 1.0 / np.maximum(counts, 1.0)[group[rows]]
    indicator = sparse.csr_matrix((weights, (group[rows], rows)), shape=(n_groups, adata.n_obs))
    means = indicator @ adata.X
    means = means.toarray() if sparse.issparse(means) else np.asarray(means)
    means = means[:, adata.var_names.get_indexer(genes)].astype(np.float64)
    means[counts == 0] = np.nan
    return means


def diversity_and_correlation(
    predicted: list[np.ndarray], observed: list[np.ndarray], controls: list[np.ndarray]
) -> EffectCollapse:
    """The diagnostic from each context's predicted and observed condition means (P × G each,
    rows aligned) and its control mean (G): ``D`` and ``R`` of the module docstring."""
    s_pred, s_obs = [], []
    pair_sum, n_pairs = 0.0, 0
    for y, x, x0 in zip(predicted, observed, controls, strict=True):
        e, d = y - x0, x - x0
        if len(e) >= 2:
            s_pred.append(e.std(axis=0, ddof=1))
            s_obs.append(d.std(axis=0, ddof=1))
        centred = e - e.mean(axis=1, keepdims=True)
        rms = np.sqrt(np.mean(centred**2, axis=1))
        tolerance = CONSTANT_RTOL * (1.0 + float(np.sqrt(np.mean(x0**2))))
        unit = centred[rms > tolerance] / np.linalg.norm(centred[rms > tolerance], axis=1)[:, None]
        n = len(unit)
        if n >= 2:  # Σ_{i<j} u_i·u_j = (‖Σ u_i‖² − Σ ‖u_i‖²) / 2, without the P × P matrix
            pair_sum += (float(np.sum(unit.sum(axis=0) ** 2)) - n) / 2.0
            n_pairs += n * (n - 1) // 2
    observed_sd = float(np.mean(np.concatenate(s_obs))) if s_obs else np.nan
    diversity = (
        float(np.mean(np.concatenate(s_pred))) / observed_sd
        if s_obs and observed_sd > 0
        else np.nan
    )
    correlation = float(np.clip(pair_sum / n_pairs, -1.0, 1.0)) if n_pairs else np.nan
    return EffectCollapse(diversity, correlation)


def effect_collapse(
    prediction: ad.AnnData, truth: ad.AnnData, conditions: pd.DataFrame
) -> EffectCollapse:
    """The collapse diagnostic of ``prediction`` (cells or one mean row per condition) against
    ``truth`` (the real test cells and the real control cells of their contexts) over the test
    ``conditions`` (columns ``vcb_context``, ``vcb_perturbation``); the prediction's own control
    rows are ignored, as in ``vcbench.metrics.evaluate``."""
    keys = pd.MultiIndex.from_tuples(
        sorted(set(map(tuple, conditions[KEYS].astype(str).to_numpy()))), names=KEYS
    )
    is_control = truth.obs[c.IS_CONTROL].to_numpy(dtype=bool)
    predicted = group_means(
        prediction, keys.get_indexer(_labels(prediction)), len(keys), truth.var_names
    )
    in_truth = np.where(is_control, -1, keys.get_indexer(_labels(truth)))
    observed = group_means(truth, in_truth, len(keys), truth.var_names)
    contexts = pd.Index(sorted(set(keys.get_level_values(0))))
    of_context = contexts.get_indexer(truth.obs[c.CONTEXT].astype(str))
    controls = group_means(
        truth, np.where(is_control, of_context, -1), len(contexts), truth.var_names
    )
    found = ~np.isnan(predicted).any(axis=1) & ~np.isnan(observed).any(axis=1)
    rows = [np.flatnonzero((keys.get_level_values(0) == ctx) & found) for ctx in contexts]
    return diversity_and_correlation(
        [predicted[r] for r in rows], [observed[r] for r in rows], list(controls)
    )


def _labels(adata: ad.AnnData) -> pd.MultiIndex:
    return pd.MultiIndex.from_frame(adata.obs[KEYS].astype(str))
