"""What the ``biolord_official`` adapter hands to biolord, without importing biolord: pure functions.

- ``safe_batch_size``: the mini-batch size that leaves no batch of one or two cells;
- ``biolord_frame``: the training cells as the AnnData that ``biolord.Biolord.setup_anndata``
  registers (dense float32 ``X``; obs ``vcb_context`` categorical and ``vcb_is_control``; the
  perturbation's feature vector in ``obsm["vcb_perturbation_features"]``);
- ``training_rows``: for each query control cell, the training cell whose learned unknown
  attributes it uses (itself, or its nearest training control cell).
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

from vcbench.data import contract as c
from vcbench.models.adapters.conversion import CONTEXT_KEY, dense_float32

FEATURES_KEY = "vcb_perturbation_features"  # no "_rep" in the name: biolord gives it a meaning


def safe_batch_size(n_cells: int, batch_size: int) -> int:
    """The smallest batch size ≥ ``batch_size`` whose last mini-batch has 0 or at least 3 cells
    (or ``n_cells`` itself, one batch)."""
    size = batch_size
    while 0 < n_cells % size < 3 and size < n_cells:
        size += 1
    return size


def biolord_frame(
    train: ad.AnnData, is_control: np.ndarray, features: np.ndarray, genes: pd.Index
) -> ad.AnnData:
    """``train`` as biolord's input: dense float32 ``X``, obs ``vcb_context`` (categorical) and
    ``vcb_is_control``, cell names as strings, ``features`` (one row per cell) in
    ``obsm[FEATURES_KEY]``."""
    data = ad.AnnData(
        X=dense_float32(train.X),
        obs=pd.DataFrame(
            {
                CONTEXT_KEY: pd.Categorical(train.obs[c.CONTEXT].astype(str).to_numpy()),
                c.IS_CONTROL: np.asarray(is_control, dtype=bool),
            },
            index=train.obs_names.astype(str),
        ),
        var=pd.DataFrame(index=genes.astype(str)),
    )
    data.obsm[FEATURES_KEY] = np.asarray(features, dtype=np.float32)
    return data


def training_rows(data: ad.AnnData, controls: ad.AnnData, context: str) -> np.ndarray:
    """Row in ``data`` (biolord's training frame) of each cell of ``controls``: the cell itself
    when a training cell has its name and expression (``np.isclose``), else the nearest training
    control cell in Euclidean distance, among the training controls of ``context`` when there are
    any, else among all training controls."""
    x = dense_float32(controls[:, data.var_names].X)
    position = pd.Index(data.obs_names).get_indexer(controls.obs_names.astype(str))
    rows = position.copy()
    known = position >= 0
    if known.any():  # the same name must also be the same cell
        same = np.all(np.isclose(dense_float32(data.X[position[known]]), x[known]), axis=1)
        rows[np.flatnonzero(known)[~same]] = -1
    missing = rows < 0
    if missing.any():
        is_control = data.obs[c.IS_CONTROL].to_numpy(dtype=bool)
        pool = np.flatnonzero(is_control & (data.obs[CONTEXT_KEY].astype(str) == context))
        if pool.size == 0:
            pool = np.flatnonzero(is_control)
        reference = dense_float32(data.X[pool])
        distances = (
            (x[missing] ** 2).sum(axis=1)[:, None]
            - 2.0 * x[missing] @ reference.T
            + (reference**2).sum(axis=1)[None, :]
        )
        rows[missing] = pool[np.argmin(distances, axis=1)]
    return rows
