"""Baselines that every model must beat (numpy only).

Doses: where the data has doses (``vcb_dose``), the effect-based baselines learn one effect per
(context, perturbation, dose) and answer a query at its own dose; a dose never seen in training
falls back to the perturbation's effect over its training doses (docs/validity.md).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Self

import anndata as ad
import numpy as np
import pandas as pd

from vcbench.data import contract as c
from vcbench.models.base import PerturbationModel, Queries, predict_by_shift
from vcbench.models.effects import TrainingEffects, group_means_of_rows, query_control_means


def _mean(adata: ad.AnnData) -> np.ndarray:
    return np.asarray(adata.X.mean(axis=0)).ravel()


class NoChange(PerturbationModel):
    """Predicts no effect: each condition's cells are its context's control cells, unchanged."""

    name = "no_change"

    def __init__(self, max_cells: int | None = 500, seed: int = 0) -> None:
        self.max_cells = max_cells
        self.seed = seed

    def fit(self, train: ad.AnnData) -> Self:
        self.genes_ = train.var_names.copy()
        return self

    def predict(self, queries: Queries) -> ad.AnnData:
        effects = np.zeros((len(queries.conditions), len(self.genes_)))
        return predict_by_shift(
            queries, effects, self.genes_, max_cells=self.max_cells, seed=self.seed
        )


class PerturbedMean(PerturbationModel):
    """Predicts the mean of all perturbed training cells of the context (of all contexts when the
    context has none), the same for every perturbation: docs/metrics.md's negative control.

    Returned as the context's control cells shifted so that their mean equals that mean.
    """

    name = "perturbed_mean"

    def __init__(self, max_cells: int | None = 500, seed: int = 0) -> None:
        self.max_cells = max_cells
        self.seed = seed

    def fit(self, train: ad.AnnData) -> Self:
        perturbed = train[~train.obs[c.IS_CONTROL].to_numpy()]
        if perturbed.n_obs == 0:
            raise ValueError(
                "perturbed_mean needs perturbed training cells; the training set has none."
            )
        self.genes_ = train.var_names.copy()
        self.overall_mean_ = _mean(perturbed)
        contexts = perturbed.obs[c.CONTEXT].astype(str)
        self.context_means_ = {
            ctx: _mean(perturbed[(contexts == ctx).to_numpy()]) for ctx in contexts.unique()
        }
        return self

    def predict(self, queries: Queries) -> ad.AnnData:
        rows = []
        for context in queries.conditions[c.CONTEXT].astype(str):
            control_mean = _mean(queries.controls_of(context)[:, self.genes_])
            rows.append(self.context_means_.get(context, self.overall_mean_) - control_mean)
        effects = np.vstack(rows) if rows else np.zeros((0, len(self.genes_)))
        return predict_by_shift(
            queries, effects, pd.Index(self.genes_), max_cells=self.max_cells, seed=self.seed
        )


class _EffectBaseline(PerturbationModel):
    """A baseline that adds an effect learned from the training conditions (``TrainingEffects``) to
    the query's control cells (``predict_by_shift``)."""

    def __init__(self, max_cells: int | None = 500, seed: int = 0) -> None:
        self.max_cells = max_cells
        self.seed = seed

    def fit(self, train: ad.AnnData) -> Self:
        self.effects_ = TrainingEffects.from_train(train, model=self.name)
        self.genes_ = self.effects_.genes
        return self

    @abstractmethod
    def _effects(self, queries: Queries, control_means: np.ndarray) -> np.ndarray:
        """The predicted effect of each query (conditions × genes)."""

    def predict(self, queries: Queries) -> ad.AnnData:
        control_means = query_control_means(queries, self.genes_)
        effects = self._effects(queries, control_means)
        return predict_by_shift(
            queries, effects, pd.Index(self.genes_), max_cells=self.max_cells, seed=self.seed
        )


def _dose_labels(conditions: pd.DataFrame) -> np.ndarray | None:
    """``perturbation␟dose`` per row where ``conditions`` has doses, else None."""
    if c.DOSE not in conditions.columns:
        return None
    return c.joined_labels(conditions[[c.PERTURBATION, c.DOSE]])


class PerturbationMean(_EffectBaseline):
    """For a perturbation seen in training, its mean effect over the training contexts where it was
    seen (each context weighted equally), added to the query context's controls (scPerturBench's
    ``trainMean``); other perturbations get ``perturbed_mean``'s prediction. With doses: the mean
    effect of the perturbation at the query's dose, else over all its training doses."""

    name = "perturbation_mean"

    def _effects(self, queries: Queries, control_means: np.ndarray) -> np.ndarray:
        out = self.effects_.perturbed_mean_effects(queries, control_means)
        trained, queried = self.effects_.conditions, queries.conditions
        lookups = [(trained[c.PERTURBATION].astype(str).to_numpy(), queried[c.PERTURBATION])]
        dosed_train, dosed_query = _dose_labels(trained), _dose_labels(queried)
        if dosed_train is not None and dosed_query is not None:
            lookups.append((dosed_train, dosed_query))  # the dose-specific effect wins
        for groups, wanted in lookups:
            labels, means = group_means_of_rows(self.effects_.effects, groups)
            position = pd.Index(labels).get_indexer(np.asarray(wanted, dtype=str))
            found = position >= 0
            out[found] = means[position[found]]
        return out


class Additive(_EffectBaseline):
    """The additive baseline (Ahlmann-Eltze et al. 2025): the effect of a perturbation with targets
    ``t_1 … t_n`` is ``Σ_i effect(t_i)``, ``effect(t)`` the effect of the single perturbation ``t`` in
    the query context's training data (else its mean over the other training contexts). A target
    never seen alone in training contributes ``perturbed_mean``'s effect. With doses, ``effect(t)``
    is taken at the part's dose (the query's ``+``-joined dose label), else over all doses of ``t``.

    A shift shared by all perturbations is counted once per part (as in the original baseline).
    """

    name = "additive"

    def _effects(self, queries: Queries, control_means: np.ndarray) -> np.ndarray:
        conditions = self.effects_.conditions
        singles = (conditions["targets"].map(len) == 1).to_numpy()
        dosed = c.DOSE in conditions.columns and c.DOSE in queries.conditions.columns
        single = conditions[singles].astype({c.PERTURBATION: str})
        # a single's key: its label, with "␟dose" where doses are modelled
        single_key = _dose_labels(single) if dosed else single[c.PERTURBATION].to_numpy()
        single_effects = self.effects_.effects[singles]
        by_context = pd.MultiIndex.from_arrays([single[c.CONTEXT].astype(str), single_key])
        key_labels, key_means = group_means_of_rows(single_effects, np.asarray(single_key, str))
        label_labels, label_means = group_means_of_rows(
            single_effects, single[c.PERTURBATION].to_numpy(dtype=str)
        )
        by_key, by_label = pd.Index(key_labels), pd.Index(label_labels)
        fallback = self.effects_.perturbed_mean_effects(queries, control_means)
        out = np.zeros_like(fallback)
        contexts = queries.conditions[c.CONTEXT].astype(str).to_numpy()
        labels_q = queries.conditions[c.PERTURBATION].astype(str).to_numpy()
        doses_q = (
            queries.conditions[c.DOSE].astype(str).to_numpy() if dosed else [""] * len(labels_q)
        )
        for i, (context, label, dose) in enumerate(zip(contexts, labels_q, doses_q, strict=True)):
            parts = c.split_combination(label)
            part_doses = dose.split(c.COMBINATION_DELIMITER) if dosed else []
            for j, part in enumerate(parts):
                key = f"{part}\x1f{part_doses[j]}" if len(part_doses) == len(parts) else part
                in_context = by_context.get_indexer([(context, key)])[0]
                anywhere = by_key.get_indexer([key])[0]
                any_dose = by_label.get_indexer([part])[0]
                if in_context >= 0:
                    out[i] += single_effects[in_context]
                elif anywhere >= 0:
                    out[i] += key_means[anywhere]
                elif any_dose >= 0:
                    out[i] += label_means[any_dose]
                else:
                    out[i] += fallback[i]
        return out


class RandomPerturbation(_EffectBaseline):
    """The effect of a training perturbation drawn at random (uniformly, seeded) for each query,
    among the training conditions of the query context (of all contexts when it has none): the
    chance reference of the seed paper's sign-error figure."""

    name = "random_perturbation"

    def _effects(self, queries: Queries, control_means: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        contexts = self.effects_.conditions[c.CONTEXT].to_numpy()
        out = np.zeros_like(control_means)
        for i, context in enumerate(queries.conditions[c.CONTEXT].astype(str)):
            pool = np.flatnonzero(contexts == context)
            if pool.size == 0:
                pool = np.arange(contexts.size)
            out[i] = self.effects_.effects[rng.choice(pool)]
        return out
