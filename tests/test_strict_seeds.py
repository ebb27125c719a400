"""The strict context split draws different, equally valid held-out sets across seeds and says when
only one exists (issue #15, item 5; docs/validity.md)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest

from vcbench.data import contract as c
from vcbench.data.simulate import simulate
from vcbench.scenarios import make_split
from vcbench.scenarios.build import cluster_holdout_sets
from vcbench.scenarios.contexts import StrictSplitWarning

LABELS = list("ABCDEFGH")


def test_every_union_of_whole_clusters_at_the_coarsest_exact_cut_is_listed() -> None:
    # pairs at 0, 10, 100 and 115: the 2-cluster cut gives sizes 4 + 4 (no union of 2 items);
    # the 3-cluster cut splits the right family (its pairs are farther apart): {E,F} and {G,H}
    positions = np.array([0, 0.1, 10, 10.1, 100, 100.1, 115, 115.1])[:, None]
    cut, sets = cluster_holdout_sets(positions, LABELS, 2)
    assert cut == 3
    assert sets == [["E", "F"], ["G", "H"]]
    # target 4: the coarsest cut already has two exact unions, the two families
    assert cluster_holdout_sets(positions, LABELS, 4) == (
        2,
        [["A", "B", "C", "D"], ["E", "F", "G", "H"]],
    )
    # one outlier pair: a single valid set
    lone = np.array([0, 0.1, 0.2, 0.3, 0.4, 0.5, 50, 50.1])[:, None]
    assert cluster_holdout_sets(lone, LABELS, 2) == (2, [["G", "H"]])


@pytest.fixture(scope="module")
def sim() -> ad.AnnData:
    settings = dict(n_contexts=4, n_genes=40, n_singles=6, n_combinations=0, seed=0)
    return simulate(**settings, cells_per_condition=8, n_control_cells=20).adata


def _with_embedding(adata: ad.AnnData, position: dict[str, float]) -> ad.AnnData:
    adata = adata.copy()
    where = adata.obs[c.CONTEXT].astype(str).map(position).to_numpy(float)
    adata.obsm["X_fm"] = np.c_[where, np.zeros(adata.n_obs)]
    return adata


def test_strict_seeds_hold_out_different_valid_sets(sim, recwarn) -> None:
    # ctx0/ctx1 close, ctx2 and ctx3 apart from them and from each other: holding out 1 context,
    # the first exact cut (3 clusters) offers ctx2 or ctx3, both whole clusters
    adata = _with_embedding(sim, {"ctx0": 0.0, "ctx1": 0.1, "ctx2": 10.0, "ctx3": 13.0})
    held = [make_split(adata, "context", "strict", embedding="X_fm", seed=s).info for s in range(3)]
    assert [info["test_contexts"] for info in held] == [["ctx2"], ["ctx3"], ["ctx2"]]
    assert all(info["strict_sets"] == 2 and info["strict_cut"] == 3 for info in held)
    assert not [w for w in recwarn if issubclass(w.category, StrictSplitWarning)]


def test_strict_says_when_only_one_valid_set_exists(sim) -> None:
    adata = _with_embedding(sim, {"ctx0": 0.0, "ctx1": 0.1, "ctx2": 10.0, "ctx3": 0.2})
    with pytest.warns(StrictSplitWarning, match=r"only one valid strict held-out set.*ctx2"):
        split = make_split(adata, "context", "strict", embedding="X_fm", seed=1)
    assert split.info["strict_sets"] == 1
    assert "every seed holds out the same contexts" in split.info["strict_note"]
