"""The combination scenario on the simulator and on the demo's K562 cells."""

from __future__ import annotations

import numpy as np
import pytest

from vcbench.data import contract as c
from vcbench.data.simulate import simulate
from vcbench.datasets import demo
from vcbench.errors import ScenarioError
from vcbench.scenarios import combo_split
from vcbench.scenarios.combo import check_combo_rules
from vcbench.scenarios.split import check_no_test_leakage


@pytest.fixture(scope="module")
def demo_data():
    return demo()


def _training_targets(adata, split) -> tuple[set[str], set[str]]:
    obs = adata.obs[split.mask(adata, "train") & ~adata.obs[c.IS_CONTROL].to_numpy()]
    alone = set(obs.loc[obs[c.N_TARGETS] == 1, c.TARGETS])
    anywhere = {g for t in obs[c.TARGETS] for g in t.split("+")}
    return alone, anywhere


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_demo_combo_categories_follow_the_rules(demo_data, seed: int) -> None:
    split = combo_split(demo_data, "k562", seed=seed)
    alone, anywhere = _training_targets(demo_data, split)
    for label, category in zip(
        split.test_conditions[c.PERTURBATION], split.test_conditions["split_category"], strict=True
    ):
        parts = label.split("+")
        if category == "single_unseen":
            assert len(parts) == 1 and parts[0] not in anywhere
        else:
            assert len(parts) == 2
            assert sum(p not in alone for p in parts) == int(category[-1])  # unseen genes
    # every perturbed test cell is in test, none in train/val; other contexts unused
    test_cells = split.mask(demo_data, "test")
    assert (demo_data.obs.loc[test_cells, c.CONTEXT] == "k562").all()
    assert not (demo_data.obs.loc[test_cells, c.IS_CONTROL]).any()
    assert split.mask(demo_data, "unused").sum() == (demo_data.obs[c.CONTEXT] != "k562").sum()
    assert split.test_conditions["n_cells"].sum() == test_cells.sum()


def test_demo_combo_is_deterministic_and_seed_dependent(demo_data) -> None:
    a, b = combo_split(demo_data, "k562", seed=0), combo_split(demo_data, "k562", seed=0)
    assert a.assignment.equals(b.assignment)
    assert a.test_conditions.equals(b.test_conditions)
    other = combo_split(demo_data, "k562", seed=1)
    assert not a.assignment.equals(other.assignment)


def test_simulated_combos_get_every_category() -> None:
    sim = simulate(
        n_contexts=1,
        n_genes=60,
        n_singles=12,
        n_combinations=30,
        cells_per_condition=5,
        n_control_cells=20,
        seed=0,
    )
    split = combo_split(
        sim.adata, unseen_fraction=0.4, seen2_train_fraction=0.3, val_fraction=0.2, seed=3
    )
    assert set(split.test_conditions["split_category"]) == {
        "single_unseen",
        "combo_unseen2",
        "combo_unseen1",
        "combo_unseen0",
    }
    assert split.mask(sim.adata, "val").sum() > 0
    n_seen2 = (split.test_conditions["split_category"] == "combo_unseen0").sum()
    trained_combos = sim.adata.obs.loc[
        split.mask(sim.adata, "train") & (sim.adata.obs[c.N_TARGETS] == 2).to_numpy(),
        c.PERTURBATION,
    ].nunique()
    assert trained_combos == int(0.3 * (n_seen2 + trained_combos))


def test_leakage_checks_catch_a_corrupted_split(demo_data) -> None:
    split = combo_split(demo_data, "k562", seed=0)
    leaked = split.assignment.copy()
    first_test_cell = np.flatnonzero(split.mask(demo_data, "test"))[0]
    leaked.iloc[first_test_cell] = "train"
    corrupted = type(split)(
        split.scenario, split.params, split.seed, split.fingerprint, leaked, split.test_conditions
    )
    with pytest.raises(ScenarioError, match="Leakage: 1 perturbed cells of test conditions"):
        check_no_test_leakage(demo_data, corrupted)
    relabelled = split.test_conditions.copy()
    relabelled["split_category"] = (
        relabelled["split_category"].astype(str).replace({"combo_unseen2": "combo_unseen0"})
    )
    wrong = type(split)(
        split.scenario, split.params, split.seed, split.fingerprint, split.assignment, relabelled
    )
    with pytest.raises(ScenarioError, match="breaks the rule of its category 'combo_unseen0'"):
        check_combo_rules(demo_data, wrong)


def test_a_single_unseen_gene_trained_in_a_combination_is_rejected(demo_data) -> None:
    # the rule is "seen nowhere in training", not "never seen alone": move one test combination
    # holding a single_unseen gene into training, and that gene's category must be rejected
    split = combo_split(demo_data, "k562", seed=0)
    tests = split.test_conditions
    unseen = set(tests.loc[tests["split_category"] == "single_unseen", c.PERTURBATION].astype(str))
    labels = tests[c.PERTURBATION].astype(str)
    combo = next(x for x in labels if "+" in x and set(x.split("+")) & unseen)
    gene = sorted(set(combo.split("+")) & unseen)[0]
    moved = (demo_data.obs[c.PERTURBATION].astype(str) == combo).to_numpy()
    moved &= (demo_data.obs[c.CONTEXT] == "k562").to_numpy()
    assignment = split.assignment.copy()
    assignment.iloc[np.flatnonzero(moved)] = "train"
    corrupted = type(split)(
        split.scenario,
        split.params,
        split.seed,
        split.fingerprint,
        assignment,
        tests[labels != combo].reset_index(drop=True),
    )
    alone, anywhere = _training_targets(demo_data, corrupted)
    assert gene in anywhere and gene not in alone  # exactly the case a "seen alone" check misses
    with pytest.raises(ScenarioError, match=f"{gene!r} breaks the rule of its category 'single"):
        check_combo_rules(demo_data, corrupted)


def test_errors_name_what_the_data_lacks(demo_data) -> None:
    with pytest.raises(
        ScenarioError, match=r"Context 'A172' has no combination perturbations.*\['k562'\]"
    ):
        combo_split(demo_data, "A172")
    sim = simulate(
        n_contexts=1,
        n_combinations=0,
        n_singles=5,
        n_genes=20,
        cells_per_condition=3,
        n_control_cells=5,
    )
    with pytest.raises(ScenarioError, match=r"contexts with combinations: none"):
        combo_split(sim.adata)
