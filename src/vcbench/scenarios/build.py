"""Pieces shared by the scenario builders: roles, condition tables, group means, clustering."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.decomposition import PCA
from threadpoolctl import threadpool_limits

from vcbench.data import contract as c
from vcbench.distances import subsample_rows
from vcbench.errors import ScenarioError
from vcbench.scenarios.split import SET_DTYPE

MAX_PCA_FIT_CELLS = 5000


def roles(index: pd.Index, values: np.ndarray) -> pd.Series:
    """The assignment Series (categorical over ``SETS``) from an array of set names."""
    return pd.Series(pd.Categorical(values, dtype=SET_DTYPE), index=index)


def choose(rng: np.random.Generator, items: Sequence[str], n: int) -> list[str]:
    """``n`` of ``items`` drawn at random (input sorted first, so the draw depends on the seed only)."""
    return sorted(rng.permutation(sorted(items))[:n].tolist())


def n_held_out(fraction: float, n: int, what: str) -> int:
    """``round(fraction · n)``, at least 1 and at most ``n - 1``."""
    if not 0 < fraction < 1:
        raise ScenarioError(
            f"The fraction of {what} to hold out must be in (0, 1), got {fraction}."
        )
    return int(min(max(1, round(fraction * n)), n - 1))


def condition_table(
    adata: ad.AnnData,
    test_cells: np.ndarray,
    category: np.ndarray,
    categories: Sequence[str],
) -> pd.DataFrame:
    """One row per test condition of the perturbed ``test_cells``, with its category and cell count;
    a condition is ``contract.condition_columns`` (the dose too, where the data has doses).

    ``category`` holds each cell's category (read where ``test_cells`` is true); a condition whose
    cells disagree on the category is a bug and raises.
    """
    obs = adata.obs
    keys = c.condition_columns(obs.columns)
    frame = pd.DataFrame({k: obs[k].astype(str).to_numpy()[test_cells] for k in keys})
    frame["split_category"] = np.asarray(category, dtype=object)[test_cells]
    table = frame.groupby([*keys, "split_category"]).size().rename("n_cells").reset_index()
    if table.duplicated(keys).any():  # pragma: no cover - guards the builders
        raise ScenarioError("A test condition got two split categories; this is a bug.")
    table = table.sort_values(keys, kind="stable").reset_index(drop=True)
    table["split_category"] = pd.Categorical(table["split_category"], categories=list(categories))
    table["n_cells"] = table["n_cells"].astype(np.int64)
    return table[[*keys, "split_category", "n_cells"]]


def group_means(
    matrix: np.ndarray | sparse.spmatrix, codes: np.ndarray, n_groups: int
) -> np.ndarray:
    """Mean row of ``matrix`` per group (``codes`` in ``[0, n_groups)``), as a dense array."""
    counts = np.bincount(codes, minlength=n_groups).astype(np.float64)
    indicator = sparse.csr_matrix(
        (np.ones(codes.size), (codes, np.arange(codes.size))), shape=(n_groups, codes.size)
    )
    sums = indicator @ matrix
    sums = sums.toarray() if sparse.issparse(sums) else np.asarray(sums)
    return sums / np.maximum(counts, 1)[:, None]


def fit_pca(
    matrix: np.ndarray | sparse.spmatrix, rows: np.ndarray, n_comps: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """PCA fitted on ``rows`` of ``matrix`` (at most 5,000, seeded): ``(mean, components)``.

    ``n_comps`` is capped at the number of fitted rows − 1 and the number of columns. BLAS runs on
    one thread: faster for these small matrices on a shared machine, and the same bits every run.
    """
    rows = subsample_rows(np.asarray(rows), MAX_PCA_FIT_CELLS, seed)
    if rows.size < 2:
        raise ScenarioError(
            f"A PCA needs at least 2 cells, got {rows.size}; the split leaves too few cells."
        )
    data = matrix[rows]
    data = data.toarray() if sparse.issparse(data) else np.asarray(data)
    data = data.astype(np.float32)  # halves the work; ample precision for a shift report
    n = int(min(n_comps, data.shape[0] - 1, data.shape[1]))
    with threadpool_limits(limits=1, user_api="blas"):
        pca = PCA(n_components=n, svd_solver="randomized", iterated_power=3, random_state=seed)
        pca.fit(data)
    return pca.mean_, pca.components_


def project(
    matrix: np.ndarray | sparse.spmatrix, rows: np.ndarray, mean: np.ndarray, components: np.ndarray
) -> np.ndarray:
    """Rows of ``matrix`` in a fitted PCA space (sparse stays sparse until the product)."""
    product = matrix[rows] @ components.T
    return np.asarray(product) - mean @ components.T


def cluster_holdout(
    embedding: np.ndarray, labels: Sequence[str], n_target: int, rng: np.random.Generator
) -> list[str]:
    """Hold out whole clusters of an average-linkage dendrogram until ``n_target`` items are held.

    Definition: cut the dendrogram (Euclidean distances, average linkage) into k = 2, 3, ...
    clusters; at each cut, while some cluster has no held-out member and fits the remaining need,
    hold out one such cluster (a seeded random choice). The first cuts are the coarsest, so held-out
    items come in the most separated groups the target size allows.
    """
    labels = list(labels)
    n = len(labels)
    held = np.zeros(n, dtype=bool)
    need = n_target
    tree = linkage(np.asarray(embedding, dtype=np.float64), method="average", metric="euclidean")
    for k in range(2, n + 1):
        if need <= 0:
            break
        clusters = fcluster(tree, k, criterion="maxclust")
        while need > 0:
            sizes = pd.Series(clusters).groupby(clusters).size()
            touched = pd.Series(held).groupby(clusters).any()
            fitting = sizes.index[(~touched.to_numpy()) & (sizes.to_numpy() <= need)]
            if len(fitting) == 0:
                break
            pick = int(rng.choice(np.asarray(fitting)))
            held |= clusters == pick
            need -= int((clusters == pick).sum())
    if need > 0:  # identical embeddings never split: fill up with single items
        rest = np.flatnonzero(~held)
        held[rng.permutation(rest)[:need]] = True
    return sorted(np.asarray(labels, dtype=object)[held].tolist())


MAX_CLUSTER_SETS = 10_000


def _exact_unions(sizes: Sequence[int], target: int, start: int = 0) -> Iterator[tuple[int, ...]]:
    """Index sets (increasing) of ``sizes[start:]`` whose sizes sum to exactly ``target``."""
    if target == 0:
        yield ()
        return
    for i in range(start, len(sizes)):
        if sizes[i] <= target:
            for rest in _exact_unions(sizes, target - sizes[i], i + 1):
                yield (i, *rest)


def cluster_holdout_sets(
    embedding: np.ndarray, labels: Sequence[str], n_target: int
) -> tuple[int, list[list[str]]]:
    """The equally valid strict held-out sets: ``(k, sets)``.

    Definition: cut the dendrogram (Euclidean distances, average linkage) into k = 2, 3, ...
    clusters; at the first (coarsest) cut where some union of whole clusters holds exactly
    ``n_target`` items, every such union is a valid held-out set. ``sets`` lists them (each sorted,
    the list sorted; at most ``MAX_CLUSTER_SETS``). At k = n every item is its own cluster, so a
    set always exists.
    """
    labels = np.asarray(list(labels), dtype=object)
    n = len(labels)
    if n < 2:
        return 1, [sorted(labels.tolist())[:n_target]]
    tree = linkage(np.asarray(embedding, dtype=np.float64), method="average", metric="euclidean")
    for k in range(2, n + 1):
        clusters = fcluster(tree, k, criterion="maxclust")
        ids = np.unique(clusters)
        sizes = [int((clusters == i).sum()) for i in ids]
        sets = []
        for chosen in _exact_unions(sizes, n_target):
            members = np.isin(clusters, ids[list(chosen)])
            sets.append(sorted(labels[members].tolist()))
            if len(sets) >= MAX_CLUSTER_SETS:
                break
        if sets:
            return k, sorted(sets)
    return n, [sorted(labels.tolist())[:n_target]]  # pragma: no cover - k = n always has a set
