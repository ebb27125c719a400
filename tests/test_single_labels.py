"""single_unseen means seen in no training context; held out of its own context only is
single_unseen_in_context."""

from __future__ import annotations

import pytest

from vcbench.data import contract as c
from vcbench.data.simulate import simulate
from vcbench.scenarios import single_split


@pytest.fixture(scope="module")
def sim():
    return simulate(
        n_contexts=3,
        n_genes=30,
        n_singles=10,
        n_combinations=0,
        cells_per_condition=6,
        n_control_cells=20,
        seed=1,
    )


def _trained(adata, split) -> set[str]:
    rows = (split.mask(adata, "train") | split.mask(adata, "val")) & ~adata.obs[
        c.IS_CONTROL
    ].to_numpy()
    return set(adata.obs.loc[rows, c.PERTURBATION].astype(str))


@pytest.mark.parametrize("seed", [0, 1])
def test_single_variant_labels_perturbations_trained_elsewhere_honestly(sim, seed) -> None:
    split = single_split(sim.adata, "single", n_folds=3, seed=seed)
    trained = _trained(sim.adata, split)
    table = split.test_conditions.astype({"split_category": str, c.PERTURBATION: str})
    assert "single_unseen_in_context" in set(table["split_category"])  # folds differ per context
    for label, category in zip(table[c.PERTURBATION], table["split_category"], strict=True):
        expected = "single_unseen_in_context" if label in trained else "single_unseen"
        assert category == expected


def test_strict_variant_holds_out_of_every_context(sim) -> None:
    split = single_split(sim.adata, "strict", seed=0)
    assert set(split.test_conditions["split_category"].astype(str)) == {"single_unseen"}
    assert not set(split.test_conditions[c.PERTURBATION].astype(str)) & _trained(sim.adata, split)
