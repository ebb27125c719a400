"""The shift of a split: how far its test cells are from its training cells, measured.

**The shift** of a split (one number, ``split_shift``; ``Split.info["shift"]``): where the split
holds out contexts, the mean over its test contexts of the ``nearest_context`` energy distance
below: how far the nearest thing a model was trained on lies from the new context, measured on
control cells, so the perturbation effect does not enter. A split that holds out no context
(perturbation and cross-dataset splits) has no such distance (its test contexts are trained on),
and its shift is the mean of its ``category`` rows. The two are never compared with each other:
the strict-drop finding pairs splits of one scenario.

Definitions (docs/scenarios.md, "Shift"). A PCA with 50 components (fewer when the
training cells or genes are fewer) is fitted on the training cells (at most 5,000, seeded). In that
space, with at most ``max_cells`` cells per sample (a seeded subsample), ``vcbench.distances.
energy_distance`` is reported for:

- ``measure="category"``: the perturbed training cells against the perturbed test cells of each
  split category (``test`` = the category, ``reference`` = ``train_perturbed``);
- ``measure="nearest_context"`` (splits with held-out contexts): for each test context, the energy
  distance between its control cells and the control cells of every training context; the row
  keeps the nearest training context (``reference``) and its distance.
"""

from __future__ import annotations

from collections.abc import Sequence

import anndata as ad
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from vcbench.data import contract as c
from vcbench.distances import energy_distance, subsample_rows
from vcbench.scenarios.build import fit_pca, project
from vcbench.scenarios.split import Split, cell_condition_index, condition_keys

SHIFT_COLUMNS = ("measure", "test", "reference", "n_test", "n_reference", "energy_distance")
TRAIN_PERTURBED = "train_perturbed"
NEAREST_CONTEXT = "nearest_context"
CATEGORY = "category"


def split_shift(table: pd.DataFrame | None) -> tuple[float, str]:
    """``(shift, measure)`` of a shift table (module doc): the mean ``nearest_context`` energy
    distance where there are such rows, else the mean ``category`` one; ``(nan, "")`` without
    rows."""
    if table is None or table.empty:
        return float("nan"), ""
    for measure in (NEAREST_CONTEXT, CATEGORY):
        rows = table.loc[table["measure"] == measure, "energy_distance"]
        if len(rows):
            return float(rows.mean()), measure
    return float("nan"), ""


def measure_shift(
    adata: ad.AnnData,
    split: Split,
    *,
    test_contexts: Sequence[str] = (),
    genes: Sequence[str] | None = None,
    n_comps: int = 50,
    max_cells: int = 500,
    seed: int = 0,
) -> pd.DataFrame:
    """The shift table of ``split`` (columns ``SHIFT_COLUMNS``; definitions in the module doc).

    ``test_contexts`` lists held-out contexts for the nearest-context rows; ``genes`` restricts the
    genes (the split's selected genes); ``adata`` is the data as the model sees it.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _measure(adata, split, test_contexts, genes, n_comps, max_cells, seed)


def _measure(
    adata: ad.AnnData,
    split: Split,
    test_contexts: Sequence[str],
    genes: Sequence[str] | None,
    n_comps: int,
    max_cells: int,
    seed: int,
) -> pd.DataFrame:
    if genes is not None:
        adata = adata[:, list(genes)]
    matrix = adata.X
    obs = adata.obs
    control = obs[c.IS_CONTROL].to_numpy()
    train = split.mask(adata, "train")
    mean, components = fit_pca(matrix, np.flatnonzero(train), n_comps, seed)

    def sample(mask: np.ndarray) -> np.ndarray:
        rows = subsample_rows(np.flatnonzero(mask), max_cells, seed)
        return project(matrix, rows, mean, components)

    rows: list[tuple] = []
    reference_mask = train & ~control
    reference = sample(reference_mask)
    keys = condition_keys(split)
    conditions = split.test_conditions
    category = pd.Series(
        conditions["split_category"].astype(str).to_numpy(),
        index=pd.MultiIndex.from_frame(conditions[keys].astype(str)),
    )
    cell_category = category.reindex(cell_condition_index(adata, keys)).to_numpy()
    test = split.mask(adata, "test") & ~control
    for name in conditions["split_category"].cat.categories:
        mask = test & (cell_category == name)
        if not mask.any():
            continue
        distance = energy_distance(reference, sample(mask))
        rows.append(
            (
                "category",
                name,
                TRAIN_PERTURBED,
                int(mask.sum()),
                int(reference_mask.sum()),
                distance,
            )
        )

    contexts = obs[c.CONTEXT].astype(str).to_numpy()
    train_contexts = sorted(set(contexts[train & control]) - set(test_contexts))
    for context in sorted(test_contexts):
        query = control & (contexts == context)
        if not train_contexts or not query.any():
            continue
        embedded = sample(query)
        distances = [
            energy_distance(embedded, sample(train & control & (contexts == other)))
            for other in train_contexts
        ]
        best = int(np.nanargmin(distances)) if not np.isnan(distances).all() else 0
        nearest = train_contexts[best]
        n_reference = int((train & control & (contexts == nearest)).sum())
        rows.append(
            ("nearest_context", context, nearest, int(query.sum()), n_reference, distances[best])
        )
    table = pd.DataFrame(rows, columns=list(SHIFT_COLUMNS))
    table["energy_distance"] = table["energy_distance"].astype(np.float64)
    for column in ("n_test", "n_reference"):
        table[column] = table[column].astype(np.int64)
    return table
