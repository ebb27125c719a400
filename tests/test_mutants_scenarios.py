"""scenarios/leakage.py, combo.py and singles.py pinned (mutants the scenario tests let survive): the
leakage checks on hand-made splits of a 14-cell dataset, each rule broken once. Fast, in-process."""

from __future__ import annotations

import dataclasses

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from vcbench.data import contract as c
from vcbench.data.loader import load_dataset
from vcbench.errors import ScenarioError
from vcbench.scenarios.combo import check_combo_rules
from vcbench.scenarios.leakage import (
    check_split,
    check_targets_unseen,
    check_test_cells,
    seen_targets,
)
from vcbench.scenarios.split import SET_DTYPE, Split

#            0          1          2    3    4    5    6      7      8          9          10   11   12   13
LABELS = (
    ["control"] * 2 + ["A"] * 2 + ["B"] * 2 + ["A+B"] * 2 + ["control"] * 2 + ["A"] * 2 + ["C"] * 2
)
CONTEXTS = ["k1"] * 8 + ["k2"] * 6


@pytest.fixture(scope="module")
def data() -> ad.AnnData:
    x = np.random.default_rng(0).poisson(5.0, size=(len(LABELS), 3)).astype(np.float32) + 1
    obs = pd.DataFrame(
        {"condition": LABELS, "cell_type": CONTEXTS}, index=[f"c{i}" for i in range(len(LABELS))]
    )
    return load_dataset(
        ad.AnnData(sparse.csr_matrix(x), obs, pd.DataFrame(index=["g0", "g1", "g2"]))
    )


def _split(
    roles: list[str], tests: list[tuple[str, str, str, int]], variant: str = "single"
) -> Split:
    """A perturbation split with the given role per cell and (context, label, category, n_cells)."""
    return Split(
        scenario="perturbation",
        params={},
        seed=0,
        fingerprint="",
        assignment=pd.Series(roles, index=[f"c{i}" for i in range(len(LABELS))]).astype(SET_DTYPE),
        test_conditions=pd.DataFrame(
            tests, columns=[c.CONTEXT, c.PERTURBATION, "split_category", "n_cells"]
        ),
        variant=variant,
    )


T, V, X, U = "train", "val", "test", "unused"


def test_seen_targets_are_the_context_gene_pairs_of_perturbed_cells(data) -> None:
    everything = np.ones(data.n_obs, dtype=bool)
    pairs = seen_targets(data, everything)
    assert sorted(map(tuple, pairs.to_numpy().tolist())) == [
        ("k1", "A"),
        ("k1", "B"),
        ("k2", "A"),
        ("k2", "C"),
    ]
    assert list(pairs.columns) == [c.CONTEXT, "target"]
    only_combo = np.zeros(data.n_obs, dtype=bool)
    only_combo[[0, 6]] = True  # a control and an A+B cell: the combination's two genes
    assert sorted(map(tuple, seen_targets(data, only_combo).to_numpy().tolist())) == [
        ("k1", "A"),
        ("k1", "B"),
    ]


def test_test_cells_must_all_be_in_test_and_counted(data) -> None:
    roles = [T, T, T, T, X, X, U, U, T, T, T, T, U, U]
    good = _split(roles, [("k1", "B", "single_unseen", 2)])
    check_test_cells(data, good)
    check_split(data, good)
    with pytest.raises(ScenarioError, match="cell counts do not match"):
        check_test_cells(data, _split(roles, [("k1", "B", "single_unseen", 3)]))
    # one B cell unused, the count lowered to match: still an error, naming the cell
    half = [T, T, T, T, X, U, U, U, T, T, T, T, U, U]
    with pytest.raises(
        ScenarioError,
        match=r"^1 perturbed cells of test conditions are not in test \(e\.g\. \['c5'\]\)",
    ):
        check_test_cells(data, _split(half, [("k1", "B", "single_unseen", 1)]))
    # a test cell of no test condition is a miscount too
    extra = [T, T, T, T, X, X, X, U, T, T, T, T, U, U]
    with pytest.raises(ScenarioError, match="cell counts do not match"):
        check_test_cells(data, _split(extra, [("k1", "B", "single_unseen", 2)]))


def test_held_out_targets_are_checked_in_their_context_or_everywhere(data) -> None:
    # A tested in k1 (cells 2, 3), trained in k2 (cells 10, 11)
    roles = [T, T, X, X, T, T, U, U, T, T, T, T, U, U]
    split = _split(roles, [("k1", "A", "single_unseen_in_context", 2)])
    check_targets_unseen(data, split, ["A"], per_context=True, what="gene")
    with pytest.raises(
        ScenarioError,
        match=r"^Leakage: held-out gene 'A' occurs in a training/validation perturbation "
        r"\(context 'k2'\); 1 such case\(s\)\.$",
    ):
        check_targets_unseen(data, split, ["A"], per_context=False, what="gene")
    # validation counts as seen, and so does a combination holding the gene
    in_val = [T, T, X, X, T, T, U, U, T, T, V, V, U, U]
    with pytest.raises(ScenarioError, match="context 'k2'"):
        check_targets_unseen(data, _split(in_val, []), ["A"], per_context=False, what="gene")
    in_combo = [T, T, X, X, T, T, T, T, T, T, U, U, U, U]
    with pytest.raises(ScenarioError, match=r"held-out gene 'A' .*context 'k1'"):
        check_targets_unseen(
            data,
            _split(in_combo, [("k1", "A", "single_unseen", 2)]),
            ["A"],
            per_context=True,
            what="gene",
        )
    # two cases are counted
    both = [T, T, X, X, T, T, T, T, T, T, T, T, U, U]
    with pytest.raises(ScenarioError, match=r"2 such case\(s\)"):
        check_targets_unseen(data, _split(both, []), ["A"], per_context=False, what="gene")
    # a gene not held out is not checked
    check_targets_unseen(data, _split(both, []), ["C"], per_context=False, what="gene")


def test_check_split_runs_the_variants_rules(data) -> None:
    # single: A held out of k1 but trained in k1's combination A+B
    roles = [T, T, X, X, T, T, T, T, T, T, U, U, U, U]
    split = _split(roles, [("k1", "A", "single_unseen", 2)], variant="single")
    with pytest.raises(ScenarioError, match="held-out perturbation 'A'"):
        check_split(data, split)
    # strict: trained in another context is leakage too, in-context category or not
    other = [T, T, X, X, T, T, U, U, T, T, T, T, U, U]
    check_split(data, _split(other, [("k1", "A", "single_unseen_in_context", 2)], "single"))
    with pytest.raises(ScenarioError, match="held-out perturbation 'A'"):
        check_split(data, _split(other, [("k1", "A", "single_unseen_in_context", 2)], "strict"))
    # single_unseen is checked in every context even for the single variant
    with pytest.raises(ScenarioError, match="context 'k2'"):
        check_split(data, _split(other, [("k1", "A", "single_unseen", 2)], "single"))
    # combo: the combination rules run
    combo = [T, T, T, T, T, T, X, X, U, U, U, U, U, U]
    check_split(data, _split(combo, [("k1", "A+B", "combo_unseen0", 2)], "combo"))
    with pytest.raises(
        ScenarioError, match="'A\\+B' breaks the rule of its category 'combo_unseen1'"
    ):
        check_split(data, _split(combo, [("k1", "A+B", "combo_unseen1", 2)], "combo"))
    # a leak is found before any rule
    leaked = dataclasses.replace(split, assignment=split.assignment.where(split.assignment != X, T))
    with pytest.raises(ScenarioError, match="Leakage: 2 perturbed cells"):
        check_split(data, leaked)


def test_combo_categories_count_the_genes_not_trained_alone(data) -> None:
    # A alone trains, B does not: A+B has 1 unseen gene; with neither, 2; with both, 0
    one = [T, T, T, T, U, U, X, X, U, U, U, U, U, U]
    check_combo_rules(data, _split(one, [("k1", "A+B", "combo_unseen1", 2)], "combo"))
    for category in ("combo_unseen0", "combo_unseen2"):
        with pytest.raises(ScenarioError, match=f"category '{category}'"):
            check_combo_rules(data, _split(one, [("k1", "A+B", category, 2)], "combo"))
    none = [T, T, U, U, U, U, X, X, U, U, U, U, U, U]
    check_combo_rules(data, _split(none, [("k1", "A+B", "combo_unseen2", 2)], "combo"))
    # single_unseen: B trained nowhere passes; trained in a combination fails
    check_combo_rules(data, _split(one, [("k1", "B", "single_unseen", 2)], "combo"))
    in_combo = [T, T, T, T, X, X, T, T, U, U, U, U, U, U]
    with pytest.raises(ScenarioError, match="'B' breaks the rule of its category 'single_unseen'"):
        check_combo_rules(data, _split(in_combo, [("k1", "B", "single_unseen", 2)], "combo"))


def test_check_split_runs_the_context_rules(data) -> None:
    """A context split whose held-out context k2 has a perturbed cell in train is refused."""
    from vcbench.scenarios.contexts import CATEGORIES

    roles = [T, T, T, T, T, T, T, T, T, T, X, X, U, U]  # k2's A cells tested, A trained in k1
    tests = [("k2", "A", CATEGORIES[0], 2)]
    ok = dataclasses.replace(_split(roles, tests), scenario="context", variant="random")
    check_split(data, ok)
    leaked_roles = [T, T, T, T, T, T, T, T, T, T, X, X, T, T]  # k2's C cells in train
    leaked = dataclasses.replace(_split(leaked_roles, tests), scenario="context", variant="random")
    with pytest.raises(ScenarioError, match="perturbed cells of held-out contexts"):
        check_split(data, leaked)


def test_tested_combinations_are_split_into_their_genes(data) -> None:
    """A held-out gene tested only inside a combination (A+B in k1) is still checked in k1."""
    roles = [T, T, U, U, T, T, X, X, U, U, U, U, U, U]  # B trained alone in k1, A+B tested
    split = _split(roles, [("k1", "A+B", "combo_unseen1", 2)], "combo")
    with pytest.raises(ScenarioError, match=r"held-out gene 'B' .*context 'k1'"):
        check_targets_unseen(data, split, ["B"], per_context=True, what="gene")
    check_targets_unseen(data, split, ["A"], per_context=True, what="gene")  # A not trained


def test_finalise_measures_the_shift_on_the_splits_genes(data) -> None:
    from vcbench.scenarios.leakage import finalise
    from vcbench.scenarios.shift import measure_shift

    roles = [T, T, T, T, X, X, U, U, T, T, T, T, U, U]
    split = _split(roles, [("k1", "B", "single_unseen", 2)])
    tests = split.test_conditions.astype({"split_category": "category"})
    split = dataclasses.replace(split, test_conditions=tests, genes=("g0", "g1"))
    done = finalise(data, split)
    assert done.genes == ("g0", "g1")
    on_genes = measure_shift(data, split, genes=("g0", "g1"), seed=0)
    on_all = measure_shift(data, split, genes=None, seed=0)
    pd.testing.assert_frame_equal(done.shift, on_genes)
    assert not on_genes.equals(on_all)  # the gene list changes the shift here
    # the split's one number: the mean energy distance of the table's category rows
    rows = on_genes.loc[on_genes["measure"] == "category", "energy_distance"]
    assert len(rows) and done.info["shift"] == pytest.approx(rows.mean())
    assert done.info["shift_measure"] == "category"
    # measured on the data as the model sees it, when given
    doubled = data.copy()
    doubled.X = doubled.X * 2
    on_doubled = finalise(data, split, measured_on=doubled)
    pd.testing.assert_frame_equal(
        on_doubled.shift, measure_shift(doubled, split, genes=("g0", "g1"))
    )
    assert not on_doubled.shift.equals(done.shift)


# combo_split on a hand-made context: two singles, so exactly one is drawn unseen whatever the
# seed (max(1, round(0.25 · 2)) = 1); a pair of them, a triple with one more gene never seen
# alone, and a triple of three such genes. The categories follow without knowing which single
# was drawn: A+B has 1 unseen gene, A+B+E 2, E+F+G 3, counted as 2.
#                  0-2            3-4       5-6       7-8          9-10           11-12
COMBO_LABELS = ["control"] * 3 + ["A"] * 2 + ["B"] * 2 + ["A+B"] * 2 + ["A+B+E"] * 2 + ["E+F+G"] * 2
COMBO_LABELS += ["control"] * 2 + ["A"] * 2  # context k2, no combinations: all unused
COMBO_CONTEXTS = ["k1"] * 13 + ["k2"] * 4


@pytest.fixture(scope="module")
def combo_data() -> ad.AnnData:
    n = len(COMBO_LABELS)
    x = np.random.default_rng(1).poisson(5.0, size=(n, 3)).astype(np.float32) + 1
    obs = pd.DataFrame(
        {"condition": COMBO_LABELS, "cell_type": COMBO_CONTEXTS},
        index=[f"c{i}" for i in range(n)],
    )
    return load_dataset(
        ad.AnnData(sparse.csr_matrix(x), obs, pd.DataFrame(index=["g0", "g1", "g2"]))
    )


def test_combo_split_of_two_singles_holds_one_out_and_caps_the_count_at_two(combo_data) -> None:
    from vcbench.scenarios.combo import combo_split

    split = combo_split(combo_data)  # the one context with combinations
    tests = split.test_conditions
    category = dict(zip(tests[c.PERTURBATION], tests["split_category"].astype(str), strict=True))
    unseen = [label for label, cat in category.items() if cat == "single_unseen"]
    assert len(unseen) == 1 and unseen[0] in {"A", "B"}
    seen = ({"A", "B"} - set(unseen)).pop()
    assert category == {
        unseen[0]: "single_unseen",
        "A+B": "combo_unseen1",
        "A+B+E": "combo_unseen2",
        "E+F+G": "combo_unseen2",
    }
    assert dict(zip(tests[c.PERTURBATION], tests["n_cells"], strict=True)) == dict.fromkeys(
        category, 2
    )
    assert (tests[c.CONTEXT] == "k1").all()
    expected = ["train"] * 3 + [""] * 4 + ["test"] * 6 + ["unused"] * 4
    cells = {"A": [3, 4], "B": [5, 6]}
    for i in cells[seen]:
        expected[i] = "train"
    for i in cells[unseen[0]]:
        expected[i] = "test"
    assert split.assignment.astype(str).tolist() == expected
    assert (split.scenario, split.variant, split.seed) == ("perturbation", "combo", 0)
    assert split.params == {
        "context": "k1",
        "unseen_fraction": 0.25,
        "seen2_train_fraction": 0.25,
        "val_fraction": 0.0,
    }
    # the default seed is 0 (recorded above); the seed draws which single is unseen
    assert split.assignment.equals(combo_split(combo_data, "k1", seed=0).assignment)
    drawn = set()
    for seed in range(5):
        tests = combo_split(combo_data, "k1", seed=seed).test_conditions
        drawn |= set(tests.loc[tests["split_category"] == "single_unseen", c.PERTURBATION])
    assert drawn == {"A", "B"}


@pytest.mark.parametrize(
    "options",
    [
        {"unseen_fraction": 0.0},
        {"unseen_fraction": 1.0},
        {"seen2_train_fraction": 1.0},
        {"val_fraction": 1.0},
        {"val_fraction": -0.1},
        {"seen2_train_fraction": -0.1},
    ],
)
def test_combo_fractions_outside_their_ranges_are_refused(combo_data, options) -> None:
    from vcbench.scenarios.combo import combo_split

    with pytest.raises(ScenarioError, match=r"^unseen_fraction must be in \(0, 1\); seen2_"):
        combo_split(combo_data, "k1", **options)


def test_combo_fractions_at_their_closed_ends_are_accepted(combo_data) -> None:
    from vcbench.scenarios.combo import combo_split

    split = combo_split(combo_data, "k1", seen2_train_fraction=0.0, val_fraction=0.0)
    assert split.params["seen2_train_fraction"] == 0.0
    # a context with one single is refused, naming the count
    one_single = combo_data[~np.isin(COMBO_LABELS, ["B"])].copy()
    with pytest.raises(ScenarioError, match=r"^Context 'k1' has 1 single perturbations; the"):
        combo_split(one_single, "k1")


# single_split and perturbation_effects on a hand-made log-scale dataset (2 genes): k1 has the
# singles A, B, C and the combination A+B, k2 has A and D. Centroid deltas, worked by hand:
# k1 controls mean (1, 2): A (3, 2) -> (2, 0), B (1.5, 2.5) -> (0.5, 0.5), C (0.5, 1.5) -> (-0.5,
# -0.5); k2 controls mean (0.5, 0.5): A (1.5, 0.5) -> (1, 0), D (0.5, 2.5) -> (0, 2). A averages
# its two contexts: (1.5, 0).
SINGLE_CELLS = [
    ("k1", "control", (1.0, 1.0)),
    ("k1", "control", (1.0, 3.0)),
    ("k1", "A", (2.0, 2.0)),
    ("k1", "A", (4.0, 2.0)),
    ("k1", "B", (1.5, 2.5)),
    ("k1", "C", (0.5, 1.5)),
    ("k1", "A+B", (2.5, 2.5)),
    ("k2", "control", (0.5, 0.5)),
    ("k2", "A", (1.5, 0.5)),
    ("k2", "D", (0.5, 2.5)),
]


@pytest.fixture(scope="module")
def single_data() -> ad.AnnData:
    contexts, labels, rows = zip(*SINGLE_CELLS, strict=True)
    obs = pd.DataFrame(
        {"condition": labels, "cell_type": contexts}, index=[f"s{i}" for i in range(len(rows))]
    )
    x = np.array(rows, dtype=np.float32)
    return load_dataset(ad.AnnData(x, obs, pd.DataFrame(index=["g0", "g1"])), x_kind="log")


def test_perturbation_effects_are_centroid_deltas_averaged_over_contexts(single_data) -> None:
    from vcbench.scenarios.singles import perturbation_effects

    effects = perturbation_effects(single_data, ["D", "A", "C", "B"])  # rows in this order
    expected = [[0.0, 2.0], [1.5, 0.0], [-0.5, -0.5], [0.5, 0.5]]
    np.testing.assert_allclose(effects, expected, atol=1e-6)


def test_single_split_defaults_and_fold_arithmetic(single_data) -> None:
    from vcbench.scenarios.singles import single_split

    split = single_split(single_data)
    assert (split.variant, split.seed) == ("single", 0)
    assert split.params == {"val_fraction": 0.0, "n_folds": 5, "fold": 0}
    roles = split.assignment.astype(str).tolist()
    assert [roles[i] for i in (0, 1, 7)] == ["train"] * 3  # controls
    assert roles[6] == "unused"  # the combination
    # fold 0 of 5 takes position 0 of each context's shuffled singles: one label per context
    assert sorted(split.test_conditions[c.CONTEXT]) == ["k1", "k2"]
    # with 2 folds, fold 0 takes positions 0 and 2: 2 of k1's 3 singles, 1 of k2's 2
    held = {}
    for fold in (0, 1):
        tests = single_split(single_data, n_folds=2, fold=fold, seed=4).test_conditions
        held[fold] = {k: sorted(g[c.PERTURBATION]) for k, g in tests.groupby(c.CONTEXT)}
    assert [len(held[0]["k1"]), len(held[0]["k2"]), len(held[1]["k1"]), len(held[1]["k2"])] == [
        2,
        1,
        1,
        1,
    ]
    assert sorted(held[0]["k1"] + held[1]["k1"]) == ["A", "B", "C"]
    assert sorted(held[0]["k2"] + held[1]["k2"]) == ["A", "D"]
    with pytest.raises(
        ScenarioError,
        match=r"^Fold 3 of 4 holds out no perturbation: every context has at most 3 single ",
    ):
        single_split(single_data, n_folds=4, fold=3)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"variant": "nope"}, r"^Unknown single-perturbation variant 'nope'"),
        ({"val_fraction": 1.0}, r"^val_fraction must be in \[0, 1\), got 1\.0\.$"),
        ({"n_folds": 1, "fold": 0}, r"^n_folds must be at least 2 and fold in \[0, n_folds\); "),
        ({"n_folds": 2, "fold": 2}, r"got n_folds=2, fold=2\.$"),
        ({"n_folds": 2, "fold": -1}, r"got n_folds=2, fold=-1\.$"),
    ],
)
def test_single_split_options_outside_their_ranges_are_refused(single_data, options, match) -> None:
    from vcbench.scenarios.singles import single_split

    with pytest.raises(ScenarioError, match=match):
        single_split(single_data, **options)


def test_single_split_needs_two_single_perturbations(single_data) -> None:
    from vcbench.scenarios.singles import single_split

    k2 = single_data[(single_data.obs[c.CONTEXT] == "k2").to_numpy()].copy()  # A and D
    assert len(single_split(k2, n_folds=2).test_conditions) == 1
    only_a = k2[(k2.obs[c.PERTURBATION] != "D").to_numpy()].copy()
    with pytest.raises(
        ScenarioError, match=r"needs at least 2 single perturbations; the data has 1\."
    ):
        single_split(only_a)


def test_check_split_runs_the_cross_dataset_rules_for_cross_dataset_splits(
    data, monkeypatch
) -> None:
    """The dispatch alone (the rules themselves are pinned by test_scenarios_splits.py's slower
    cross-dataset tests, which benchmarks/mutation.sh leaves out)."""
    from vcbench.scenarios import cross_dataset

    calls = []
    monkeypatch.setattr(cross_dataset, "check_cross_dataset_rules", lambda a, s: calls.append(s))
    roles = [T, T, T, T, X, X, U, U, T, T, T, T, U, U]
    split = _split(roles, [("k1", "B", "single_unseen", 2)])
    check_split(data, dataclasses.replace(split, scenario="cross_dataset"))
    assert len(calls) == 1 and calls[0].scenario == "cross_dataset"
    check_split(data, split)  # a perturbation split does not run them
    assert len(calls) == 1


def test_single_split_validation_and_held_out_record(single_data) -> None:
    from vcbench.scenarios.singles import single_split

    # fold 0 of 5 tests one single a context; val_fraction 0.5 sends int(0.5 · 2) = 1 of k1's two
    # others to val, int(0.5 · 1) = 0 of k2's one
    split = single_split(single_data, val_fraction=0.5)
    obs = single_data.obs
    role = split.assignment.astype(str).to_numpy()
    singles = (obs[c.N_TARGETS] == 1).to_numpy()
    by_label = {}
    for context in ("k1", "k2"):
        here = singles & (obs[c.CONTEXT] == context).to_numpy()
        labels = obs.loc[here, c.PERTURBATION].astype(str).to_numpy()
        by_label[context] = {lab: set(role[here][labels == lab]) for lab in set(labels)}
    assert sorted(r for roles in by_label["k1"].values() for r in roles) == ["test", "train", "val"]
    assert sorted(r for roles in by_label["k2"].values() for r in roles) == ["test", "train"]
    tests = split.test_conditions
    assert split.info["held_out"] == {
        k: sorted(g[c.PERTURBATION].astype(str)) for k, g in tests.groupby(c.CONTEXT)
    }
    strict = single_split(single_data, "strict", test_fraction=0.25)
    assert strict.params == {"val_fraction": 0.0, "test_fraction": 0.25}
    held = strict.test_conditions[c.PERTURBATION].astype(str).unique().tolist()
    assert len(held) == 1 and strict.info["held_out"] == {"all": held}  # round(0.25 · 4) = 1
