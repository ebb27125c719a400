"""The held-out half: the split of each test condition's cells that puts the positive control on the
models' footing (docs/validity.md, "The positive control").

With calibration on, every test condition's real cells are split at random, once per split seed,
into half A and half B (half A gets ``n // 2`` cells). Every model, the technical replicate and the
collapse control are scored against the same truth: half B plus all the real controls of the test
contexts, with the same training cells as reference. Half A is the technical replicate's
prediction and is seen by no model. A condition with a single cell cannot be halved: it stays whole
in the truth and the replicate is NaN there.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

from vcbench.data import contract as c
from vcbench.scenarios.split import Split


def half_a_mask(adata: ad.AnnData, split: Split, seed: int) -> np.ndarray:
    """Boolean mask over ``adata``'s rows: half A of the real cells of every test condition."""
    obs = adata.obs
    test = split.mask(adata, "test") & ~obs[c.IS_CONTROL].to_numpy(dtype=bool)
    keys = c.condition_columns(obs.columns)
    rows = np.flatnonzero(test)
    labels = pd.Series(c.joined_labels(obs.iloc[rows][keys]))
    rng = np.random.default_rng(seed)
    mask = np.zeros(adata.n_obs, dtype=bool)
    for positions in labels.groupby(labels, sort=True).indices.values():
        chosen = rng.permutation(positions)[: len(positions) // 2]
        mask[rows[chosen]] = True
    return mask
