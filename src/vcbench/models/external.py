"""Predictions made outside vcbench (another environment, another language), scored like any model.

``vcbench export SPEC.yaml`` writes each split's training cells and queries as h5ad files (format:
``vcbench.runner.export``); the user's code writes one prediction h5ad per split, and a spec entry
``{name: my_model, predictions: "preds/{dataset}/{scenario}-{variant}/seed{seed}.h5ad"}`` points the
runner at them. ``PredictionsFile`` is the model the runner uses for such an entry: ``fit`` only
records the training genes, and ``predict`` reads the file and checks it against the queries.

A prediction file holds predicted cells (or one mean row per condition) with ``obs`` columns
``vcb_context`` and ``vcb_perturbation`` and the training genes (any order; they are reordered).
Every query condition must be answered; extra conditions are an error (they usually mean the file
belongs to another split).
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

import anndata as ad
import numpy as np

from vcbench.data import contract as c
from vcbench.errors import ModelError
from vcbench.models.base import PREDICTION_KEY, PerturbationModel, Queries


class PredictionsFile(PerturbationModel):
    """Reads the prediction of one split from ``path`` (an h5ad written by the user's model)."""

    name = "predictions_file"

    def __init__(self, path: str = "") -> None:
        self.path = path

    def fit(self, train: ad.AnnData) -> Self:
        self.genes_ = train.var_names.copy()
        return self

    def predict(self, queries: Queries) -> ad.AnnData:
        path = Path(self.path)
        if not path.is_file():
            raise ModelError(
                f"No predictions file at {path}. Write your model's prediction for this split "
                "there (see the README that `vcbench export` writes), or fix the spec's "
                "`predictions` pattern."
            )
        try:
            prediction = ad.read_h5ad(path)
        except Exception as exc:
            raise ModelError(f"{path} is not a readable h5ad file: {exc}") from exc
        missing_columns = [k for k in (c.CONTEXT, c.PERTURBATION) if k not in prediction.obs]
        if missing_columns:
            raise ModelError(
                f"{path}: obs has no column(s) {missing_columns}; name each predicted cell's "
                f"context and perturbation in obs[{c.CONTEXT!r}] and obs[{c.PERTURBATION!r}]."
            )
        genes = prediction.var_names
        absent, extra = self.genes_.difference(genes), genes.difference(self.genes_)
        if len(absent) or len(extra):
            raise ModelError(
                f"{path}: the genes differ from the training genes ({len(absent)} missing, e.g. "
                f"{list(absent[:5])}; {len(extra)} extra, e.g. {list(extra[:5])}). Predict the "
                "genes of train.h5ad."
            )
        asked = set(
            zip(
                queries.conditions[c.CONTEXT].astype(str),
                queries.conditions[c.PERTURBATION].astype(str),
                strict=True,
            )
        )
        keys = list(
            zip(
                prediction.obs[c.CONTEXT].astype(str),
                prediction.obs[c.PERTURBATION].astype(str),
                strict=True,
            )
        )
        given = set(keys)
        if asked - given or given - asked:
            raise ModelError(
                f"{path}: the predicted conditions differ from the queries: "
                f"{len(asked - given)} unanswered (e.g. {sorted(asked - given)[:5]}), "
                f"{len(given - asked)} not asked (e.g. {sorted(given - asked)[:5]})."
            )
        prediction = prediction[:, self.genes_].copy()
        values = prediction.X.data if hasattr(prediction.X, "data") else np.asarray(prediction.X)
        if not np.isfinite(values).all():
            raise ModelError(f"{path}: the prediction has NaN or infinite values.")
        level = "mean" if len(keys) == len(given) else "cells"
        prediction.uns[PREDICTION_KEY] = {"level": level, "method": f"read from {path}"}
        return prediction
