"""Negative predicted values: counted, recorded and handled by one policy (docs/validity.md).

Log-normalised expression is non-negative, so a negative predicted value is impossible. The
runner counts them in every prediction (recorded as ``negative_values``); the policy says what
happens next: ``clip`` (default) sets them to 0 and warns, ``warn`` warns and keeps them (the
scoring then refuses a prediction that is mostly negative, ``metrics.input_checks``), ``error``
stops the task.
"""

from __future__ import annotations

import warnings
from typing import Literal

import anndata as ad
import numpy as np
from scipy import sparse

from vcbench.errors import ModelError

NegativePolicy = Literal["warn", "clip", "error"]
POLICIES = ("warn", "clip", "error")


def handle_negatives(
    prediction: ad.AnnData, model: str, policy: NegativePolicy = "clip"
) -> tuple[ad.AnnData, int]:
    """The prediction after ``policy`` and the number of negative values it held."""
    if policy not in POLICIES:
        raise ModelError(f"Unknown negative-value policy {policy!r}; choose one of {POLICIES}.")
    x = prediction.X
    values = x.data if sparse.issparse(x) else np.asarray(x)
    count = int((values < 0).sum())
    if not count:
        return prediction, 0
    share = count / max(prediction.n_obs * prediction.n_vars, 1)
    message = (
        f"Model {model!r} predicted {count} negative values ({share:.1%}) on log-normalised "
        "expression"
    )
    if policy == "error":
        raise ModelError(
            f"{message}; fix the model's output or use negative_predictions: clip (the default)."
        )
    if policy == "clip":
        prediction = prediction.copy()
        if sparse.issparse(prediction.X):
            prediction.X.data = np.maximum(prediction.X.data, 0)
            prediction.X.eliminate_zeros()
        else:
            prediction.X = np.maximum(np.asarray(prediction.X), 0)
        warnings.warn(f"{message}; clipped at 0 (policy 'clip').", UserWarning, stacklevel=2)
        return prediction, count
    warnings.warn(f"{message}; kept as predicted (policy 'warn').", UserWarning, stacklevel=2)
    return prediction, count
