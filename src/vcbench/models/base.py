"""The model contract (scikit-learn style).

A model takes hyper-parameters only in its constructor, learns in ``fit(train) -> self`` and answers
``predict(queries) -> AnnData``. ``queries`` lists the test conditions and carries each queried
context's real control cells as input. The prediction is an AnnData of predicted cells with the
standard ``obs`` columns ``vcb_context`` and ``vcb_perturbation`` and the training genes.

A model that only predicts a mean expression per condition returns cells with ``predict_by_shift``:
the query's control cells shifted by the predicted effect (predicted mean − control mean), so that
their mean is the predicted mean and distribution metrics stay defined.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Self

import anndata as ad
import numpy as np
import pandas as pd

from vcbench.data import contract as c
from vcbench.errors import ModelError

if TYPE_CHECKING:
    from vcbench.scenarios.split import Split

PREDICTION_KEY = c.PREDICTION_KEY  # defined in the data contract (scoring reads it too)


@dataclass(frozen=True)
class Queries:
    """What a model is asked to predict.

    Attributes:
        conditions: one row per test condition, columns ``vcb_context`` and ``vcb_perturbation``
            (and ``vcb_dose`` when the data has doses).
        controls: the real control cells of every queried context (standard form).
    """

    conditions: pd.DataFrame
    controls: ad.AnnData

    def controls_of(self, context: str) -> ad.AnnData:
        """The control cells of one context."""
        return self.controls[self.controls.obs[c.CONTEXT].astype(str) == context]


def queries_for(adata: ad.AnnData, split: Split) -> Queries:
    """The split's test conditions with the real control cells of their contexts (what a model
    is asked; the runner and the contract checks build it the same way)."""
    keys = c.condition_columns(split.test_conditions.columns)
    conditions = split.test_conditions[keys].reset_index(drop=True)
    return Queries(conditions=conditions, controls=controls_of_test_contexts(adata, split))


def controls_of_test_contexts(adata: ad.AnnData, split: Split) -> ad.AnnData:
    """The control cells of the contexts that ``split`` tests (a copy)."""
    contexts = split.test_conditions[c.CONTEXT].astype(str).unique()
    mask = (
        adata.obs[c.IS_CONTROL].to_numpy()
        & adata.obs[c.CONTEXT].astype(str).isin(contexts).to_numpy()
    )
    return adata[mask].copy()


class PerturbationModel(ABC):
    """Base class of every model. Subclasses set ``name`` and implement ``fit`` and ``predict``."""

    name: ClassVar[str]
    # perturbations represented by the ``features``/``embedding`` parameters of the featuriser
    # (``PerturbationFeatures``): the one-hot applicability rule applies (``not_applicable``)
    featurised: ClassVar[bool] = False

    @abstractmethod
    def fit(self, train: ad.AnnData) -> Self:
        """Learn from the training cells (standard form; perturbed and control cells)."""

    @abstractmethod
    def predict(self, queries: Queries) -> ad.AnnData:
        """Predicted cells for every query condition."""

    @classmethod
    def not_applicable(cls, unseen: str | None, params: Mapping[str, Any]) -> str | None:
        """Why the model, with ``params`` (the rest at their defaults), has no way to represent
        what a scenario's test conditions hold out (``unseen``: ``"perturbation"``,
        ``"combination"``, ``"context"`` or None; ``vcbench.scenarios.registry.unseen_in_test``), or None where it applies. The
        runner skips a task that is not applicable and records this reason. Default: a
        ``featurised`` model follows ``embeddings.onehot_not_applicable``; others apply."""
        if not cls.featurised:
            return None
        from vcbench.models.embeddings import onehot_not_applicable

        return onehot_not_applicable(cls, unseen, params)

    @classmethod
    def _param_names(cls) -> list[str]:
        parameters = inspect.signature(cls.__init__).parameters.values()
        return [
            p.name
            for p in parameters
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's parameters and their current values (scikit-learn's convention; a
        parameter is kept as an attribute of the same name). ``deep`` is accepted for
        compatibility: vcbench models hold no nested estimators."""
        return {name: getattr(self, name) for name in self._param_names() if hasattr(self, name)}

    def set_params(self, **params: Any) -> Self:
        """Set constructor parameters by name (scikit-learn's convention) and return the model.

        Refit after changing parameters: a fitted state is not updated.
        """
        from vcbench.suggest import did_you_mean

        names = list(self.get_params())
        for key in params:
            if key not in names:
                raise ModelError(
                    f"{type(self).__name__} has no parameter {key!r}{did_you_mean(key, names)}; "
                    f"its parameters: {names}."
                )
        for key, value in params.items():
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        """``ClassName(param=value, ...)`` with the parameters that differ from their defaults."""
        defaults = {
            p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()
        }
        shown = []
        for name, value in self.get_params().items():
            default = defaults.get(name, inspect.Parameter.empty)
            try:
                same = default is not inspect.Parameter.empty and bool(value == default)
            except Exception:  # arrays and other values without a plain truth value
                same = False
            if not same:
                shown.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"


def query_obs(conditions: pd.DataFrame, row: object, n: int) -> pd.DataFrame:
    """``n`` obs rows naming query condition ``row`` of ``conditions``: its context, perturbation
    and, where the queries have doses, its dose (``contract.condition_columns``), as strings."""
    keys = c.condition_columns(conditions.columns)
    return pd.DataFrame({key: str(conditions.at[row, key]) for key in keys}, index=range(n))


def predict_by_shift(
    queries: Queries,
    effects: np.ndarray,
    genes: pd.Index,
    *,
    max_cells: int | None = 500,
    seed: int = 0,
) -> ad.AnnData:
    """Cells for each query condition: its context's control cells plus the condition's effect,
    clipped at 0 (log-normalised expression is non-negative; docs/validity.md). The cells carry the
    condition's keys (``contract.condition_columns``: the dose too, where the queries have doses).

    Args:
        queries: the queries; row ``i`` of ``queries.conditions`` gets ``effects[i]``.
        effects: array (n_conditions × n_genes) of predicted mean − control mean, genes in ``genes``.
        genes: the genes of ``effects``; the query controls are reordered to match.
        max_cells: at most this many control cells per condition (a seeded subsample).
        seed: seed of the subsample.
    """
    conditions = queries.conditions.reset_index(drop=True)
    if effects.shape != (len(conditions), len(genes)):
        raise ModelError(
            f"effects has shape {effects.shape}, expected {(len(conditions), len(genes))}."
        )
    missing = genes.difference(queries.controls.var_names)
    if len(missing):
        raise ModelError(
            f"{len(missing)} model genes are not in the query controls (e.g. {list(missing[:5])})."
        )
    rng = np.random.default_rng(seed)
    blocks, obs_blocks = [], []
    for context, rows in conditions.groupby(c.CONTEXT, observed=True, sort=False).groups.items():
        controls = queries.controls_of(str(context))[:, genes]
        x = controls.X.toarray() if hasattr(controls.X, "toarray") else np.asarray(controls.X)
        if max_cells is not None and x.shape[0] > max_cells:
            x = x[np.sort(rng.choice(x.shape[0], max_cells, replace=False))]
        for row in rows:
            blocks.append(np.maximum(x + effects[row], 0).astype(x.dtype, copy=False))
            obs_blocks.append(query_obs(conditions, row, x.shape[0]))  # the dose travels too
    obs = pd.concat(obs_blocks, ignore_index=True)
    obs.index = obs.index.astype(str)
    prediction = ad.AnnData(X=np.vstack(blocks), obs=obs, var=pd.DataFrame(index=genes))
    prediction.uns[PREDICTION_KEY] = {
        "level": "cells",
        "method": "control cells shifted by the predicted effect",
    }
    return prediction
