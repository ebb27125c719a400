"""The adapters' data conversion, without the packages: pure numpy/AnnData functions.

What the scGen and STATE adapters hand to their package and read back, split from the calls into
the package so that CI tests it where the package is not installed:

- ``training_frame``: the training cells as the AnnData that ``pertpy.tl.Scgen.setup_anndata``
  registers (dense float32 ``X``; obs ``vcb_context``, ``vcb_perturbation`` as categoricals);
- ``latent_deltas``: scGen's latent shift δ_p of each perturbation, from the latent means;
- ``training_groups`` and ``cell_set_batch``: STATE's training sets (a perturbed cell set and a
  control cell set of its context, with the perturbation's feature row);
- ``subsample_controls`` and ``cells_prediction``: a context's query controls (seeded subsample)
  and the predicted cells assembled into vcbench's prediction AnnData.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

from vcbench.data import contract as c
from vcbench.models.base import PREDICTION_KEY

CONTEXT_KEY = "vcb_context"
PERTURBATION_KEY = "vcb_perturbation"


def dense_float32(x: object) -> np.ndarray:
    """A dense float32 matrix (``torch_utils.dense_float32`` without importing torch)."""
    return np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=np.float32)


def training_frame(train: ad.AnnData, is_control: np.ndarray) -> ad.AnnData:
    """``train`` as a dense float32 AnnData with obs ``vcb_context``, ``vcb_perturbation``
    (categoricals) and ``vcb_is_control``, indexed by the cell names, genes as ``var``."""
    obs = train.obs
    return ad.AnnData(
        X=dense_float32(train.X),
        obs=pd.DataFrame(
            {
                CONTEXT_KEY: pd.Categorical(obs[c.CONTEXT].astype(str).to_numpy()),
                PERTURBATION_KEY: pd.Categorical(obs[c.PERTURBATION].astype(str).to_numpy()),
                c.IS_CONTROL: np.asarray(is_control, dtype=bool),
            },
            index=train.obs_names.astype(str),
        ),
        var=pd.DataFrame(index=train.var_names.astype(str)),
    )


def latent_deltas(
    latent: np.ndarray, labels: np.ndarray, context: np.ndarray, is_control: np.ndarray
) -> dict[str, np.ndarray]:
    """δ_p per perturbation label: per training context where ``p`` has cells, the mean latent of
    ``p``'s cells minus that of the context's controls (all controls when the context has none),
    averaged over those contexts with equal weight."""
    all_controls = latent[is_control].mean(axis=0)
    control_means = {
        k: latent[is_control & (context == k)].mean(axis=0) for k in np.unique(context[is_control])
    }
    deltas = {}
    for label in np.unique(labels[~is_control]):
        cells = ~is_control & (labels == label)
        shifts = [
            latent[cells & (context == k)].mean(axis=0) - control_means.get(k, all_controls)
            for k in np.unique(context[cells])
        ]
        deltas[str(label)] = np.mean(shifts, axis=0)
    return deltas


def training_groups(
    context: np.ndarray, labels: np.ndarray, is_control: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """One group per perturbed (context, label): its cells' positions, the positions of its
    context's control cells (all controls when the context has none) and the label; sorted by
    (context, label)."""
    all_controls = np.flatnonzero(is_control)
    frame = pd.DataFrame({"context": context, "label": labels})
    groups = []
    for (ctx, label), rows in frame[~is_control].groupby(["context", "label"]).groups.items():
        pool = np.flatnonzero(is_control & (context == ctx))
        cells = np.asarray(rows, dtype=np.int64)  # frame has a RangeIndex: labels are positions
        groups.append((cells, pool if pool.size else all_controls, str(label)))
    return groups


def cell_set_batch(
    x: np.ndarray,
    groups: list[tuple[np.ndarray, np.ndarray, str]],
    feature_rows: np.ndarray,
    chosen: np.ndarray,
    size: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each chosen group, ``size`` perturbed cells and ``size`` control cells drawn from its
    pools (with replacement only when a pool is smaller than ``size``), and its feature row repeated
    ``size`` times. Returns (target ``(n, size, G)``, basal ``(n·size, G)``, features
    ``(n·size, F)``)."""
    target, basal, pert = [], [], []
    for g in chosen:
        cells, pool, _ = groups[g]
        target.append(x[rng.choice(cells, size, replace=cells.size < size)])
        basal.append(x[rng.choice(pool, size, replace=pool.size < size)])
        pert.append(np.repeat(feature_rows[g][None, :], size, axis=0))
    return np.stack(target), np.concatenate(basal), np.concatenate(pert)


def subsample_controls(
    controls: ad.AnnData, max_cells: int | None, rng: np.random.Generator
) -> ad.AnnData:
    """At most ``max_cells`` of ``controls`` (a seeded subsample, in their original order)."""
    if max_cells is not None and controls.n_obs > max_cells:
        return controls[np.sort(rng.choice(controls.n_obs, max_cells, replace=False))]
    return controls


def cells_prediction(
    blocks: list[tuple[str, str, np.ndarray]], genes: pd.Index, method: str
) -> ad.AnnData:
    """The prediction AnnData from (context, perturbation, predicted cells) blocks: float32 ``X``,
    obs ``vcb_context`` and ``vcb_perturbation``, string index, ``uns`` level ``cells``."""
    matrices = [np.zeros((0, len(genes)), dtype=np.float32)]
    frames = [pd.DataFrame({c.CONTEXT: [], c.PERTURBATION: []}, dtype=str)]
    for context, label, cells in blocks:
        matrices.append(np.asarray(cells, dtype=np.float32))
        frames.append(
            pd.DataFrame({c.CONTEXT: str(context), c.PERTURBATION: label}, index=range(len(cells)))
        )
    obs = pd.concat(frames, ignore_index=True)
    obs.index = obs.index.astype(str)
    prediction = ad.AnnData(X=np.vstack(matrices), obs=obs, var=pd.DataFrame(index=genes))
    prediction.uns[PREDICTION_KEY] = {"level": "cells", "method": method}
    return prediction
