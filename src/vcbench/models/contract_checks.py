"""A reusable check that a model follows the model contract (``vcbench.models.base``).

``check_model_contract(model, adata, split)`` fits the model on the split's training cells, predicts
the split's queries and raises ``ModelError`` naming the first broken rule:

1. the model is a ``PerturbationModel``; ``get_params()`` returns a dict whose keys are constructor
   parameters, and ``type(model)(**get_params())`` builds an equal model;
2. ``fit(train)`` returns the model itself and leaves ``train`` unchanged;
3. ``predict(queries)`` returns an AnnData with the training genes in the same order, ``obs``
   columns ``vcb_context`` and ``vcb_perturbation``, at least one cell for every query condition
   and none for other conditions, finite values, and ``uns[PREDICTION_KEY]["level"]`` ``"cells"``
   or ``"mean"``;
4. the prediction is deterministic: a fresh model built from the same parameters, fitted on the same
   data, predicts the same values.
"""

from __future__ import annotations

import inspect

import anndata as ad
import numpy as np

from vcbench.data import contract as c
from vcbench.errors import ModelError
from vcbench.models.base import PREDICTION_KEY, PerturbationModel, queries_for
from vcbench.scenarios.split import Split


def _dense(x) -> np.ndarray:
    return x.toarray() if hasattr(x, "toarray") else np.asarray(x)


def _fail(model: object, rule: str) -> ModelError:
    return ModelError(
        f"Model {getattr(model, 'name', type(model).__name__)!r} breaks the contract: {rule}"
    )


def check_model_contract(
    model: PerturbationModel, adata: ad.AnnData, split: Split, *, check_determinism: bool = True
) -> ad.AnnData:
    """Check ``model`` against the contract on ``adata`` split by ``split``; returns its prediction."""
    if not isinstance(model, PerturbationModel):
        raise _fail(model, "it is not a vcbench.models.PerturbationModel.")
    params = model.get_params()
    accepted = set(inspect.signature(type(model).__init__).parameters) - {"self"}
    if not isinstance(params, dict) or not set(params) <= accepted:
        raise _fail(model, f"get_params() must return constructor parameters {sorted(accepted)}.")

    train = adata[split.mask(adata, "train")].copy()
    before = _dense(train.X).copy()
    if model.fit(train) is not model:
        raise _fail(model, "fit(train) must return the model itself.")
    if not np.array_equal(_dense(train.X), before):
        raise _fail(model, "fit(train) changed the training data.")

    queries = queries_for(adata, split)
    prediction = model.predict(queries)
    if not isinstance(prediction, ad.AnnData):
        raise _fail(model, f"predict() returned {type(prediction).__name__}, not an AnnData.")
    if list(prediction.var_names) != list(train.var_names):
        raise _fail(model, "the prediction's genes must be the training genes, in their order.")
    for column in (c.CONTEXT, c.PERTURBATION):
        if column not in prediction.obs.columns:
            raise _fail(model, f"the prediction has no obs column {column!r}.")
    predicted = set(
        zip(
            prediction.obs[c.CONTEXT].astype(str),
            prediction.obs[c.PERTURBATION].astype(str),
            strict=True,
        )
    )
    asked = set(
        zip(
            queries.conditions[c.CONTEXT].astype(str),
            queries.conditions[c.PERTURBATION].astype(str),
            strict=True,
        )
    )
    if predicted != asked:
        missing, extra = sorted(asked - predicted)[:3], sorted(predicted - asked)[:3]
        raise _fail(
            model,
            f"predicted conditions differ from the queries (missing {missing}, extra {extra}).",
        )
    values = _dense(prediction.X)
    if not np.isfinite(values).all():
        raise _fail(model, "the prediction has NaN or infinite values.")
    level = prediction.uns.get(PREDICTION_KEY, {}).get("level")
    if level not in ("cells", "mean"):
        raise _fail(
            model, f"uns[{PREDICTION_KEY!r}]['level'] must be 'cells' or 'mean', got {level!r}."
        )

    if check_determinism:
        again = type(model)(**params).fit(adata[split.mask(adata, "train")].copy())
        if not np.array_equal(_dense(again.predict(queries).X), values):
            raise _fail(model, "two fits with the same parameters and data predict differently.")
    return prediction
