"""Keep a task's prediction (and its split's truth) as h5ad files that ``vcbench evaluate`` can
re-score: ``tasks/<task>/prediction.h5ad`` and ``splits/<split>/truth.h5ad``.

Modes (the spec's ``keep_predictions``): ``pseudobulk`` (default) keeps one row per predicted
condition, the mean of its predicted cells, with ``n_cells``; ``cells`` keeps every predicted
cell; ``none`` keeps nothing. Re-score::

    vcbench evaluate tasks/<task>/prediction.h5ad splits/<split>/truth.h5ad \\
        --perturbation-key vcb_perturbation --context-key vcb_context
"""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from vcbench.data import contract as c
from vcbench.files import write_atomic

KEEP_MODES: tuple[str, ...] = ("pseudobulk", "cells", "none")
PREDICTION_FILE, TRUTH_FILE = "prediction.h5ad", "truth.h5ad"


def condition_keys(obs: pd.DataFrame) -> list[str]:
    """The obs columns that name a condition: context, perturbation and, when present, dose."""
    return c.condition_columns(obs.columns)


def pseudobulk(prediction: ad.AnnData) -> ad.AnnData:
    """One row per predicted condition (the mean over its predicted cells; control cells, if the
    prediction holds any, are left out) with obs = the condition keys and ``n_cells``."""
    obs = prediction.obs
    keep = (
        ~obs[c.IS_CONTROL].to_numpy(dtype=bool) if c.IS_CONTROL in obs else np.ones(len(obs), bool)
    )
    keys = condition_keys(obs)
    labels = obs.loc[keep, keys].astype(str)
    groups = labels.groupby(keys, sort=True, observed=True).indices
    matrix = prediction.X[np.flatnonzero(keep)]
    rows, names, sizes = [], [], []
    for key, index in groups.items():
        part = matrix[index]
        mean = np.asarray(part.mean(axis=0)).ravel() if sp.issparse(part) else part.mean(axis=0)
        rows.append(np.asarray(mean, dtype=np.float32))
        names.append(key if isinstance(key, tuple) else (key,))
        sizes.append(len(index))
    table = pd.DataFrame(names, columns=keys)
    table["n_cells"] = sizes
    table[c.IS_CONTROL] = False
    table.index = [f"condition_{i}" for i in range(len(table))]
    x = np.vstack(rows) if rows else np.zeros((0, prediction.n_vars), np.float32)
    return ad.AnnData(X=x, obs=table, var=pd.DataFrame(index=prediction.var_names.copy()))


def _plain(adata: ad.AnnData) -> ad.AnnData:
    """Only X, the condition keys and the var names: the rest of a model's output (layers, uns,
    embeddings) stays with the model."""
    obs = (
        adata.obs[[*condition_keys(adata.obs), c.IS_CONTROL]].copy()
        if c.IS_CONTROL in adata.obs
        else adata.obs[condition_keys(adata.obs)].copy()
    )
    return ad.AnnData(X=adata.X, obs=obs, var=pd.DataFrame(index=adata.var_names.copy()))


def _write(adata: ad.AnnData, path: Path) -> None:
    write_atomic(path, lambda temporary: adata.write_h5ad(temporary, compression="gzip"))


def keep_prediction(
    prediction: ad.AnnData, truth: ad.AnnData, task_dir: Path, split_dir: Path, mode: str
) -> Path | None:
    """Write the prediction (as ``mode`` says) to ``task_dir`` and, once per split, the truth to
    ``split_dir``; returns the prediction's path (None for ``none``)."""
    if mode not in KEEP_MODES:
        raise ValueError(f"keep_predictions: {mode!r} is not one of {', '.join(KEEP_MODES)}")
    if mode == "none":
        return None
    truth_path = Path(split_dir) / TRUTH_FILE
    if not truth_path.exists():
        _write(_plain(truth), truth_path)
    kept = pseudobulk(prediction) if mode == "pseudobulk" else _plain(prediction)
    path = Path(task_dir) / PREDICTION_FILE
    _write(kept, path)
    return path
