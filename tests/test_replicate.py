"""The technical replicate: disjoint halves, NaN for unsplittable conditions, a known ceiling."""

from __future__ import annotations

from vcbench.data import contract as c
from vcbench.data.simulate import simulate
from vcbench.runner.halves import half_a_mask
from vcbench.runner.replicate import replicate_scores
from vcbench.scenarios import combo_split


def test_half_a_takes_half_of_every_test_condition() -> None:
    sim = simulate(n_contexts=1, n_genes=20, n_singles=6, n_combinations=4, seed=1)
    split = combo_split(sim.adata, unseen_fraction=0.3, seed=0)
    mask = half_a_mask(sim.adata, split, seed=0)
    counts = sim.adata.obs.loc[split.mask(sim.adata, "test"), c.PERTURBATION].value_counts()
    halves = sim.adata.obs.loc[mask, c.PERTURBATION].value_counts()
    for perturbation, n in counts.items():
        if perturbation != c.CONTROL:
            assert halves.get(perturbation, 0) == n // 2


def test_replicate_on_the_simulator_approaches_a_perfect_score() -> None:
    sim = simulate(
        n_contexts=1,
        n_genes=60,
        n_singles=10,
        n_combinations=6,
        cells_per_condition=400,
        n_control_cells=800,
        effect_scale=0.6,
        seed=4,
    )
    split = combo_split(sim.adata, unseen_fraction=0.3, seed=0)
    scores = replicate_scores(sim.adata, split, ["pdcorr", "pds"])
    means = scores.groupby("metric")["value"].mean()
    assert means["pdcorr"] > 0.95 and means["pds"] > 0.95
    assert set(scores["split_category"]) == set(split.test_conditions["split_category"].astype(str))


def test_a_condition_with_one_cell_gets_nan() -> None:
    sim = simulate(
        n_contexts=1,
        n_genes=30,
        n_singles=6,
        n_combinations=4,
        cells_per_condition=20,
        n_control_cells=40,
        seed=5,
    )
    split = combo_split(sim.adata, unseen_fraction=0.3, seed=0)
    first = split.test_conditions[c.PERTURBATION].iloc[0]
    cells = sim.adata.obs_names[(sim.adata.obs[c.PERTURBATION] == first).to_numpy()]
    adata = sim.adata[~sim.adata.obs_names.isin(cells[1:])].copy()  # keep one cell of it
    scores = replicate_scores(adata, split, ["rmse"])
    assert scores.loc[scores["perturbation"] == first, "value"].isna().all()
    assert scores.loc[scores["perturbation"] != first, "value"].notna().all()
