"""Pseudobulk means and effects of the training conditions, shared by the mean-based models.

Definitions (expression as stored in ``X``, log1p-normalised):

- the *mean* of a set of cells is the per-gene mean over its cells;
- the *effect* of a training condition ``(k, p)`` is ``mean(cells of p in k) − mean(controls of k)``,
  both from the training cells; it is only defined for contexts that have training control cells.
  Where the data has doses a condition is ``(k, p, dose)`` (``contract.condition_columns``).
"""

from __future__ import annotations

from dataclasses import dataclass

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from vcbench.data import contract as c
from vcbench.errors import ModelError
from vcbench.models.base import Queries


def group_means(adata: ad.AnnData, groups: pd.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-gene means of the cells of each group (a sparse indicator product, ``X`` never densified).

    Returns ``(labels, means)``: the sorted unique group labels and an array (groups × genes).
    """
    labels, codes = np.unique(np.asarray(groups), return_inverse=True)
    indicator = sp.csr_matrix(
        (np.ones(codes.size), (codes, np.arange(codes.size))), shape=(labels.size, codes.size)
    )
    sums = indicator @ adata.X
    sums = sums.toarray() if sp.issparse(sums) else np.asarray(sums)
    counts = np.asarray(indicator.sum(axis=1)).ravel()
    return labels, sums / counts[:, None]


def training_control_mask(train: ad.AnnData, model: str) -> np.ndarray:
    """Which training cells are controls; an error naming ``model`` when the training set has no
    perturbed cells or no control cells (models that learn from, or predict from, both)."""
    is_control = train.obs[c.IS_CONTROL].to_numpy(dtype=bool)
    if is_control.all():
        raise ModelError(f"{model} needs perturbed training cells; the training set has none.")
    if not is_control.any():
        raise ModelError(f"{model} needs training control cells; the training set has none.")
    return is_control


@dataclass(frozen=True)
class TrainingEffects:
    """The training conditions of a dataset and their effects.

    Attributes:
        conditions: one row per training condition ``(vcb_context, vcb_perturbation[, vcb_dose])``
            of a context with training controls, with its ``targets`` (a tuple) and ``n_cells``.
        effects: array (conditions × genes), row ``i`` the effect of ``conditions.iloc[i]``.
        control_means: the mean of the training controls of each context that has them.
        perturbed_means: the mean of all perturbed training cells of each context that has them.
        overall_perturbed_mean: the mean of all perturbed training cells.
        genes: the genes (columns of ``effects``).
    """

    conditions: pd.DataFrame
    effects: np.ndarray
    control_means: dict[str, np.ndarray]
    perturbed_means: dict[str, np.ndarray]
    overall_perturbed_mean: np.ndarray
    genes: pd.Index

    @classmethod
    def from_train(cls, train: ad.AnnData, model: str = "this model") -> TrainingEffects:
        """Compute the effects of every training condition of ``train`` (standard form)."""
        obs = train.obs
        is_control = obs[c.IS_CONTROL].to_numpy(dtype=bool)
        if is_control.all():
            raise ModelError(f"{model} needs perturbed training cells; the training set has none.")
        context = obs[c.CONTEXT].astype(str).to_numpy()

        ctx_labels, ctx_control = group_means(train[is_control], context[is_control])
        control_means = dict(zip(ctx_labels.tolist(), ctx_control, strict=True))
        perturbed = train[~is_control]
        ctx_labels, ctx_perturbed = group_means(perturbed, context[~is_control])
        perturbed_means = dict(zip(ctx_labels.tolist(), ctx_perturbed, strict=True))
        overall = np.asarray(perturbed.X.mean(axis=0)).ravel()

        usable = ~is_control & np.isin(context, list(control_means))
        if not usable.any():
            raise ModelError(
                f"{model} needs training control cells in a context with perturbed training "
                f"cells, to measure effects; contexts with controls: {sorted(control_means)}."
            )
        columns = c.condition_columns(obs.columns)
        labels = obs[columns].astype(str).to_numpy()[usable]
        keys = pd.MultiIndex.from_arrays(list(labels.T), names=columns)
        codes, uniques = pd.factorize(keys, sort=True)
        _, means = group_means(train[usable], codes)
        table = pd.DataFrame(
            {key: uniques.get_level_values(i).astype(str) for i, key in enumerate(columns)}
        )
        table["targets"] = table[c.PERTURBATION].map(c.split_combination)
        table["n_cells"] = np.bincount(codes, minlength=len(uniques))
        base = np.vstack([control_means[k] for k in table[c.CONTEXT]])
        return cls(
            conditions=table,
            effects=means - base,
            control_means=control_means,
            perturbed_means=perturbed_means,
            overall_perturbed_mean=overall,
            genes=train.var_names.copy(),
        )

    def perturbed_mean_effects(self, queries: Queries, control_means: np.ndarray) -> np.ndarray:
        """``perturbed_mean``'s effect for each query: the context's perturbed mean (all contexts'
        when it has none) minus the query's control mean."""
        contexts = queries.conditions[c.CONTEXT].astype(str)
        means = [self.perturbed_means.get(k, self.overall_perturbed_mean) for k in contexts]
        if not means:
            return np.zeros((0, len(self.genes)))
        return np.vstack(means) - control_means


def group_means_of_rows(values: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the rows of ``values`` per group label: ``(sorted labels, groups × columns)``."""
    labels, codes = np.unique(groups, return_inverse=True)
    sums = np.zeros((labels.size, values.shape[1]))
    np.add.at(sums, codes, values)
    return labels, sums / np.bincount(codes, minlength=labels.size)[:, None]


def query_control_means(queries: Queries, genes: pd.Index) -> np.ndarray:
    """The mean of the query controls of each condition's context (conditions × genes)."""
    contexts = queries.conditions[c.CONTEXT].astype(str).to_numpy()
    controls = queries.controls[:, genes]
    missing = sorted(set(contexts) - set(controls.obs[c.CONTEXT].astype(str)))
    if missing:
        raise ModelError(f"The queries have no control cells for the contexts {missing}.")
    labels, means = group_means(controls, controls.obs[c.CONTEXT].astype(str).to_numpy())
    return means[np.searchsorted(labels, contexts)] if contexts.size else means[:0]
