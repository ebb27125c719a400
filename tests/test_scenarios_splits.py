"""Every scenario on the simulator and the bundled demo: rules, determinism, file format, shift."""

from __future__ import annotations

import dataclasses

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from vcbench.data import contract as c
from vcbench.data.loader import load_dataset
from vcbench.data.simulate import simulate
from vcbench.datasets import demo
from vcbench.errors import ScenarioError
from vcbench.models import get_model
from vcbench.runner import queries_for, run_model, truth_for
from vcbench.scenarios import (
    describe,
    load_split,
    make_split,
    prepare,
)
from vcbench.scenarios.contexts import check_context_rules
from vcbench.scenarios.cross_dataset import check_cross_dataset_rules
from vcbench.scenarios.leakage import check_split
from vcbench.scenarios.singles import check_single_rules


def _sim(**kwargs) -> ad.AnnData:
    settings = dict(
        n_contexts=4,
        n_genes=40,
        n_singles=8,
        n_combinations=6,
        cells_per_condition=8,
        n_control_cells=20,
        seed=0,
    )
    return simulate(**(settings | kwargs)).adata


@pytest.fixture(scope="module")
def sim() -> ad.AnnData:
    return _sim()


@pytest.fixture(scope="module")
def demo_data() -> ad.AnnData:
    return demo()


def _reload(adata: ad.AnnData, **columns) -> ad.AnnData:
    """The simulator's raw counts with changed obs columns, through load_dataset again."""
    obs = adata.obs[["perturbation", "cell_type"]].astype(str).assign(**columns)
    raw = ad.AnnData(X=adata.layers[c.COUNTS_LAYER].copy(), obs=obs, var=adata.var[[]])
    keys = {k: k for k in columns if k in ("dose", "dataset")}
    return load_dataset(
        raw,
        perturbation_key="perturbation",
        context_key="cell_type",
        dose_key=keys.get("dose"),
        dataset_key=keys.get("dataset"),
    )


@pytest.fixture(scope="module")
def dosed() -> ad.AnnData:
    """One context, 6 compounds at doses 1, 10, 100 (the simulator's singles relabelled)."""
    adata = _sim(n_contexts=1, n_combinations=4, n_singles=6, cells_per_condition=9)
    perturbed = ~adata.obs[c.IS_CONTROL].to_numpy()
    dose = np.where(perturbed, np.array(["1", "10", "100"])[np.arange(adata.n_obs) % 3], "0")
    return _reload(adata, dose=dose)


@pytest.fixture(scope="module")
def two_datasets() -> ad.AnnData:
    """Two simulated datasets (one context each, the same perturbations) of different depth."""
    adata = _sim(n_contexts=2, n_combinations=0, n_singles=8, cells_per_condition=10)
    counts = adata.layers[c.COUNTS_LAYER].tocsr(copy=True)
    second = (adata.obs[c.CONTEXT] == "ctx1").to_numpy()
    thinned = sparse.diags(np.where(second, 0.3, 1.0)) @ counts
    thinned.data = np.floor(thinned.data)
    adata = adata.copy()
    adata.layers[c.COUNTS_LAYER] = thinned.tocsr()
    return _reload(adata, dataset=np.where(second, "shallow", "deep"))


# (scenario, variant, options, data fixture, whether the seed changes the split)
CASES = [
    ("context", "random", {}, "sim", True),
    ("context", "strict", {}, "sim", True),
    ("context", "leave_one_out", {"fold": 2}, "sim", False),
    ("context", "few_shot", {"n_shots": 2}, "sim", True),
    ("perturbation", "single", {"n_folds": 3, "fold": 1}, "sim", True),
    ("perturbation", "strict", {"test_fraction": 0.3}, "sim", False),  # seed picks among ties
    ("perturbation", "combo", {"context": "ctx0"}, "sim", True),
    ("perturbation", "chemical", {}, "dosed", True),
    ("perturbation", "dose", {}, "dosed", False),
    ("cross_dataset", "single", {"target": "norman19", "n_top_genes": 200}, "demo_data", True),
    ("cross_dataset", "merged", {"target": "norman19", "hvg": "merge_after"}, "demo_data", True),
    ("cross_dataset", "transfer", {"target": "mcfaline23"}, "demo_data", True),
]


@pytest.mark.parametrize(("scenario", "variant", "options", "data", "seeded"), CASES)
def test_every_scenario_is_checked_deterministic_and_saved_byte_identically(
    request, tmp_path, scenario, variant, options, data, seeded
) -> None:
    adata = request.getfixturevalue(data)
    split = make_split(adata, scenario, variant, seed=0, **options)
    assert (split.scenario, split.variant) == (scenario, variant)
    assert len(split.test_conditions) > 0 and split.shift is not None
    assert split.shift["energy_distance"].notna().all()
    # the builder's leakage check is live for this scenario: one test cell moved to train fails it
    leaked = split.assignment.copy()
    perturbed = ~adata.obs[c.IS_CONTROL].to_numpy()
    leaked.iloc[np.flatnonzero(split.mask(adata, "test") & perturbed)[0]] = "train"
    with pytest.raises(ScenarioError, match="Leakage"):
        check_split(adata, dataclasses.replace(split, assignment=leaked))
    # no perturbed cell of a test condition in train/val, all of them in test
    obs = adata.obs
    keys = [k for k in (c.CONTEXT, c.PERTURBATION, c.DOSE) if k in split.test_conditions]
    cells = pd.MultiIndex.from_frame(obs[keys].astype(str))
    tested = cells.isin(pd.MultiIndex.from_frame(split.test_conditions[keys].astype(str)))
    tested &= ~obs[c.IS_CONTROL].to_numpy()
    assert (split.assignment.reindex(obs.index)[tested] == "test").all()
    assert split.test_conditions["n_cells"].sum() == tested.sum()

    first = split.save(tmp_path / "a.parquet").read_bytes()
    again = make_split(adata, scenario, variant, seed=0, **options)
    assert again.save(tmp_path / "b.parquet").read_bytes() == first
    loaded = load_split(tmp_path / "a.parquet", adata)
    assert loaded.assignment.equals(split.assignment)
    pd.testing.assert_frame_equal(loaded.test_conditions, split.test_conditions, check_exact=True)
    pd.testing.assert_frame_equal(loaded.shift, split.shift, check_exact=True)
    assert (loaded.genes, loaded.name, loaded.seed) == (split.genes, split.name, split.seed)
    assert loaded.save(tmp_path / "c.parquet").read_bytes() == first
    if seeded:
        other = [make_split(adata, scenario, variant, seed=s, **options) for s in (1, 2)]
        assert any(not o.assignment.equals(split.assignment) for o in other)


def test_loading_with_other_data_is_an_error(tmp_path, sim) -> None:
    path = make_split(sim, "context", "random").save(tmp_path / "s.parquet")
    other = sim[sim.obs_names[1:]].copy()
    with pytest.raises(ScenarioError, match=r"was made from other data.*make a new split"):
        load_split(path, other)
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(ScenarioError, match="is not a vcbench split file"):
        load_split(tmp_path / "bad.parquet")


@pytest.mark.parametrize("variant", ["random", "strict", "leave_one_out", "few_shot"])
def test_context_splits_hold_out_whole_contexts(sim, variant) -> None:
    split = make_split(sim, "context", variant, seed=1)
    obs = sim.obs
    control = obs[c.IS_CONTROL].to_numpy()
    role = split.assignment.reindex(obs.index).astype(str).to_numpy()
    test_contexts = split.info["test_contexts"]
    held = obs[c.CONTEXT].isin(test_contexts).to_numpy()
    shots = split.info["few_shot"]
    moved = np.zeros(len(obs), dtype=bool)
    for context, labels in shots.items():
        moved |= (obs[c.CONTEXT] == context).to_numpy() & obs[c.PERTURBATION].isin(labels)
    assert (len(shots) > 0) == (variant == "few_shot")
    assert (role[held & control] == "test").all()  # query inputs, not training data
    assert (role[held & ~control & ~moved] == "test").all()
    assert (role[moved] == "train").all()
    assert (role[~held] == "train").all()
    assert set(split.test_conditions[c.CONTEXT]) == set(test_contexts)
    assert set(split.test_conditions["split_category"]) == {"unseen_context"}
    nearest = split.shift[split.shift["measure"] == "nearest_context"]
    assert sorted(nearest["test"]) == sorted(test_contexts)
    assert not set(nearest["reference"]) & set(test_contexts)
    # the runner's queries and truth: the held-out contexts' controls, and no training cell of them
    queries, truth = queries_for(sim, split), truth_for(sim, split)
    assert set(queries.controls.obs[c.CONTEXT]) == set(test_contexts)
    assert queries.controls.obs[c.IS_CONTROL].all()
    assert truth.n_obs == (role == "test").sum()
    scores = run_model(sim, split, get_model("perturbed_mean"), ["rmse"])
    assert set(scores["split_category"]) == {"unseen_context"}


def test_leave_one_out_folds_cover_every_context_once(sim) -> None:
    held = [
        make_split(sim, "context", "leave_one_out", fold=k).info["test_contexts"][0]
        for k in range(4)
    ]
    assert sorted(held) == sorted(sim.obs[c.CONTEXT].unique())


def test_context_rules_catch_corruption(sim) -> None:
    obs = sim.obs
    split = make_split(sim, "context", "leave_one_out", fold=0)
    leaked = split.assignment.copy()
    first = np.flatnonzero(split.mask(sim, "test") & ~obs[c.IS_CONTROL].to_numpy())[0]
    leaked.iloc[first] = "val"
    broken = dataclasses.replace(split, assignment=leaked)
    with pytest.raises(ScenarioError, match=r"Leakage: 1 perturbed cells"):
        check_split(sim, broken)
    with pytest.raises(ScenarioError, match=r"held-out contexts \['ctx0'\] are in train/val"):
        check_context_rules(sim, broken)
    relabelled = split.test_conditions.copy()
    relabelled["split_category"] = relabelled["split_category"].cat.rename_categories(
        {"unseen_context": "x", "unseen_context_unseen_perturbation": "unseen_context"}
    )
    with pytest.raises(ScenarioError, match="breaks the rule of its category"):
        check_context_rules(sim, dataclasses.replace(split, test_conditions=relabelled))


def test_unseen_perturbation_in_an_unseen_context_gets_its_own_category(sim) -> None:
    keep = ~((sim.obs[c.PERTURBATION] == sim.obs[c.PERTURBATION].cat.categories[1]).to_numpy())
    keep |= (sim.obs[c.CONTEXT] == "ctx0").to_numpy()
    only = sim.obs[c.PERTURBATION].cat.categories[1]
    adata = sim[keep].copy()
    split = make_split(adata, "context", "leave_one_out", fold=0)
    categories = split.test_conditions.set_index(c.PERTURBATION)["split_category"]
    assert categories[only] == "unseen_context_unseen_perturbation"
    assert (categories.drop(only) == "unseen_context").all()


def _family_contexts() -> ad.AnnData:
    """8 contexts in two families: ctx6 and ctx7 have 4× the counts of half the genes."""
    adata = _sim(n_contexts=8, n_combinations=0, n_singles=4, context_offset_sd=0.05)
    counts = adata.layers[c.COUNTS_LAYER].toarray()
    family = adata.obs[c.CONTEXT].isin(["ctx6", "ctx7"]).to_numpy()
    counts[np.ix_(family, np.arange(20))] *= 4
    adata = adata.copy()
    adata.layers[c.COUNTS_LAYER] = sparse.csr_matrix(counts)
    return _reload(adata)


def test_strict_context_split_is_farther_from_training_than_random() -> None:
    adata = _family_contexts()

    def nearest(variant: str, seed: int) -> float:
        shift = make_split(adata, "context", variant, seed=seed).shift
        return float(shift.loc[shift["measure"] == "nearest_context", "energy_distance"].mean())

    strict = [nearest("strict", s) for s in range(3)]
    random = [nearest("random", s) for s in range(3)]
    assert make_split(adata, "context", "strict").info["test_contexts"] == ["ctx6", "ctx7"]
    assert np.mean(strict) > 2 * np.mean(random)


def test_strict_context_split_with_an_obsm_embedding(sim) -> None:
    adata = sim.copy()
    position = {"ctx0": 0.0, "ctx1": 0.1, "ctx2": 10.0, "ctx3": 0.2}
    adata.obsm["X_fm"] = np.c_[
        adata.obs[c.CONTEXT].map(position).to_numpy(float), np.zeros(adata.n_obs)
    ]
    split = make_split(adata, "context", "strict", embedding="X_fm", seed=4)
    assert split.info["test_contexts"] == ["ctx2"]
    with pytest.raises(ScenarioError, match=r"obsm\['nope'\] does not exist.*X_fm"):
        make_split(adata, "context", "strict", embedding="nope")


def test_single_folds_partition_each_contexts_singles(sim) -> None:
    held = [make_split(sim, "perturbation", "single", n_folds=3, fold=k) for k in range(3)]
    for split in held:
        check_single_rules(sim, split)
        combos = (sim.obs[c.N_TARGETS] >= 2).to_numpy()
        assert (split.assignment[combos] == "unused").all()
    tested = pd.concat([s.test_conditions for s in held])
    assert not tested.duplicated([c.CONTEXT, c.PERTURBATION]).any()
    singles = sim.obs[sim.obs[c.N_TARGETS] == 1][[c.CONTEXT, c.PERTURBATION]].astype(str)
    assert len(tested) == len(singles.drop_duplicates())


def test_strict_single_holds_genes_out_of_every_context(sim) -> None:
    split = make_split(sim, "perturbation", "strict", test_fraction=0.3, val_fraction=0.3)
    held = set(split.info["held_out"]["all"])
    assert len(held) == 2 and split.mask(sim, "val").any()
    trained = sim.obs.loc[split.mask(sim, "train"), c.TARGETS].astype(str)
    assert not {g for t in trained for g in t.split("+") if g} & held
    assert set(split.test_conditions[c.PERTURBATION]) == held
    assert split.test_conditions[c.CONTEXT].nunique() == 4
    # corrupt: the held-out gene trains in ctx2 and is no longer tested there
    gene = sorted(held)[0]
    cells = (sim.obs[c.PERTURBATION] == gene).to_numpy() & (sim.obs[c.CONTEXT] == "ctx2").to_numpy()
    conditions = split.test_conditions
    kept = ~((conditions[c.PERTURBATION] == gene) & (conditions[c.CONTEXT] == "ctx2"))
    corrupt = dataclasses.replace(
        split,
        assignment=split.assignment.where(~cells, "train"),
        test_conditions=conditions[kept].reset_index(drop=True),
    )
    with pytest.raises(
        ScenarioError, match=rf"held-out perturbation '{gene}' occurs in a training"
    ):
        check_split(sim, corrupt)
    relabelled = corrupt.test_conditions.assign(split_category="single_unseen_in_context")
    as_single = dataclasses.replace(corrupt, variant="single", test_conditions=relabelled)
    check_single_rules(sim, as_single)  # allowed there, under its honest category
    with pytest.raises(ScenarioError, match="occurs in a training"):  # not as single_unseen
        check_single_rules(sim, dataclasses.replace(corrupt, variant="single"))


def test_chemical_and_dose_splits(dosed) -> None:
    chemical = make_split(dosed, "perturbation", "chemical", test_fraction=0.4, seed=2)
    held = set(chemical.info["held_out"])
    singles = chemical.test_conditions[
        chemical.test_conditions["split_category"] == "compound_unseen"
    ]
    assert set(singles[c.PERTURBATION]) == held and len(held) == 2
    assert singles.groupby(c.PERTURBATION)[c.DOSE].nunique().eq(3).all()  # every dose
    trained = dosed.obs.loc[chemical.mask(dosed, "train"), c.TARGETS].astype(str)
    assert not {g for t in trained for g in t.split("+")} & held
    dose = make_split(dosed, "perturbation", "dose")
    assert set(dose.test_conditions[c.DOSE]) == {"100"}
    assert dose.test_conditions[c.PERTURBATION].nunique() == 6
    train = dosed.obs[dose.mask(dosed, "train") & ~dosed.obs[c.IS_CONTROL].to_numpy()]
    assert set(train[c.DOSE]) == {"1", "10"}
    with pytest.raises(ScenarioError, match=r"needs doses.*dose_key="):
        make_split(_sim(n_contexts=1), "perturbation", "dose")


def test_cross_dataset_variants_share_the_test_set_and_follow_their_rules(demo_data) -> None:
    splits = {
        v: make_split(demo_data, "cross_dataset", v, target="norman19", n_top_genes=200, seed=3)
        for v in ("single", "merged", "transfer")
    }
    shared = {"MAP2K3", "MAP2K6", "MAP3K21", "MAP4K3", "MAP4K5", "MAPK1", "PLK4", "SGK1", "TGFBR2"}
    for split in splits.values():
        pd.testing.assert_frame_equal(
            split.test_conditions, splits["single"].test_conditions, check_exact=True
        )
        assert set(split.test_conditions[c.PERTURBATION]) <= shared
        assert split.info["shared_perturbations"] == sorted(shared)
    source = (demo_data.obs[c.DATASET] == "mcfaline23").to_numpy()
    target = ~source
    assert not splits["single"].mask(demo_data, "train")[source].any()
    assert splits["merged"].mask(demo_data, "train")[source].all()
    merged_target = splits["merged"].mask(demo_data, "train") & target
    assert (merged_target == (splits["single"].mask(demo_data, "train") & target)).all()
    assert not splits["transfer"].mask(demo_data, "train")[target].any()
    overlap = splits["merged"].info["hvg_overlap"]
    assert overlap["n_hvgs"] == {"mcfaline23": 200, "norman19": 200}
    assert 0 < overlap["n_shared"] < 200 and 0 < overlap["jaccard"] < 1
    for variant in ("single", "merged", "transfer"):
        check_cross_dataset_rules(demo_data, splits[variant])
    broken = dataclasses.replace(splits["merged"], genes=splits["merged"].genes[1:])
    with pytest.raises(ScenarioError, match="not the genes selected on its training cells"):
        check_cross_dataset_rules(demo_data, broken)


def test_cross_dataset_gene_selection_ignores_test_cells(demo_data) -> None:
    split = make_split(demo_data, "cross_dataset", "single", target="norman19", n_top_genes=100)
    changed = demo_data.copy()
    test = split.mask(changed, "test")
    x = changed.X.toarray()
    x[test] = np.random.default_rng(0).gamma(2.0, 2.0, size=x[test].shape)
    changed.X = sparse.csr_matrix(x)
    again = make_split(changed, "cross_dataset", "single", target="norman19", n_top_genes=100)
    assert again.genes == split.genes
    assert prepare(demo_data, split).n_vars == len(split.genes)


def test_count_scaling_brings_depths_together(two_datasets) -> None:
    split = make_split(
        two_datasets,
        "cross_dataset",
        "merged",
        target="shallow",
        count_scaling="downsample",
        hvg=None,
    )
    assert split.params["count_scaling"] == "downsample" and split.genes is None
    data = prepare(two_datasets, split)
    totals = np.asarray(data.layers[c.COUNTS_LAYER].sum(axis=1)).ravel()
    by_dataset = pd.Series(totals).groupby(data.obs[c.DATASET].to_numpy()).median()
    assert abs(by_dataset["deep"] / by_dataset["shallow"] - 1) < 0.1
    raw = np.asarray(two_datasets.layers[c.COUNTS_LAYER].sum(axis=1)).ravel()
    raw_by = pd.Series(raw).groupby(two_datasets.obs[c.DATASET].to_numpy()).median()
    assert raw_by["deep"] / raw_by["shallow"] > 2
    with pytest.raises(ScenarioError, match=r"count_scaling needs raw counts.*norman19"):
        make_split(demo(), "cross_dataset", "merged", target="norman19", count_scaling="downsample")


def test_a_list_of_datasets_is_combined(two_datasets) -> None:
    parts = [
        two_datasets[(two_datasets.obs[c.DATASET] == d).to_numpy()].copy()
        for d in ("deep", "shallow")
    ]
    split = make_split(
        parts, "cross_dataset", "transfer", target="shallow", hvg="merge_after", n_top_genes=10
    )
    assert split.info["hvg_overlap"]["no_training_cells"] == ["shallow"]
    assert len(split.genes) >= 10


@pytest.mark.parametrize(
    ("scenario", "variant", "options", "match"),
    [
        ("context", "strict", {"contexts": ["ctx0", "ctx1"]}, r"at least 3 contexts.*has 2"),
        ("context", "few_shot", {"n_shots": 99}, r"test context 'ctx\d' has 14 perturbation"),
        ("context", "random", {"contexts": ["nope"]}, r"no perturbed cells.*\['ctx0'"),
        ("perturbation", "combo", {"context": "ctx9"}, r"Context 'ctx9' has no combination"),
        ("perturbation", "single", {"n_folds": 30, "fold": 29}, r"holds out no perturbation"),
        ("cross_dataset", "single", {"target": "simulated"}, r"needs 2 or more datasets"),
        ("perturbation", "single", {"target": "x"}, r"do not apply to perturbation/single"),
        ("nope", None, {}, r"Unknown scenario 'nope'"),
        ("context", "nope", {}, r"has no variant 'nope'"),
    ],
)
def test_errors_name_what_the_data_lacks(sim, scenario, variant, options, match) -> None:
    with pytest.raises(ScenarioError, match=match):
        make_split(sim, scenario, variant, **options)


def test_cross_dataset_errors(demo_data) -> None:
    with pytest.raises(
        ScenarioError, match=r"target=None is not a dataset.*'mcfaline23', 'norman19'"
    ):
        make_split(demo_data, "cross_dataset", "single")
    relabelled = demo_data.copy()
    source = (relabelled.obs[c.DATASET] == "mcfaline23").to_numpy()
    labels = relabelled.obs[c.PERTURBATION].astype(str).to_numpy().copy()
    labels[source & ~relabelled.obs[c.IS_CONTROL].to_numpy()] = "OTHER"
    relabelled.obs[c.PERTURBATION] = pd.Categorical(labels)
    with pytest.raises(ScenarioError, match=r"shares no perturbation with the other datasets"):
        make_split(relabelled, "cross_dataset", "single", target="norman19")
    clash = demo_data.copy()
    clash.obs[c.CONTEXT] = pd.Categorical(np.where(source, "k562", "k562"))
    with pytest.raises(ScenarioError, match=r"Contexts \['k562'\] occur in more than one dataset"):
        make_split(clash, "cross_dataset", "single", target="norman19")


def test_describe_counts_sets_and_categories(demo_data) -> None:
    split = make_split(demo_data, "perturbation", "combo", context="k562", seed=0)
    table = describe(demo_data, split)
    sets = table[table["split_category"] == ""].set_index("set")
    assert sets["cells"].sum() == demo_data.n_obs
    assert sets.loc["unused", "cells"] == (demo_data.obs[c.CONTEXT] != "k562").sum()
    categories = table[table["split_category"] != ""]
    assert list(categories["split_category"]) == [
        "single_unseen",
        "combo_unseen2",
        "combo_unseen1",
        "combo_unseen0",
    ]
    assert categories["cells"].sum() == sets.loc["test", "cells"]
    assert categories["energy_distance"].gt(0).all()
