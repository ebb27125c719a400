"""What gears_official and biolord_official hand to their packages (models/adapters/gears_format.py,
biolord_format.py), run in CI without cell-gears or biolord, against hand computations."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from vcbench.data import contract as c
from vcbench.errors import ModelError
from vcbench.models.adapters.biolord_format import (
    FEATURES_KEY,
    biolord_frame,
    safe_batch_size,
    training_rows,
)
from vcbench.models.adapters.conversion import CONTEXT_KEY
from vcbench.models.adapters.gears_format import (
    CELL_TYPE,
    coexpression_go_terms,
    custom_split,
    gears_condition,
    gears_frame,
    go_graph_edges,
    load_go_terms,
    training_conditions,
)

# ------------------------------------------------------------------------------------- GEARS


def test_gears_condition_strings() -> None:
    assert gears_condition(()) == "ctrl"
    assert gears_condition(("A",)) == "A+ctrl"
    assert gears_condition(("A", "B")) == "A+B"


LABELS = np.array(["control", "A", "A+B", "A+C", "A+B+D", "A", "control"])
IS_CONTROL = LABELS == "control"
GENE2GO = {"A": {"t1"}, "B": {"t2"}, "D": {"t3"}}  # C has no terms


def test_training_conditions_drop_targets_outside_the_graph_and_triples() -> None:
    kept = training_conditions(LABELS, IS_CONTROL, GENE2GO)
    assert kept.usable == ["A", "A+B"]
    assert kept.not_in_graph == ["A+C"]
    assert kept.too_many == ["A+B+D"]
    assert kept.missing == ["C"]
    assert kept.keep.tolist() == [True, True, True, False, False, True, True]
    assert kept.conditions.tolist() == ["ctrl", "A+ctrl", "A+B", "", "", "A+ctrl", "ctrl"]


def test_gears_frame_keeps_the_usable_cells_in_gears_format() -> None:
    x = sparse.csr_matrix(np.arange(14, dtype=np.float32).reshape(7, 2))
    kept = training_conditions(LABELS, IS_CONTROL, GENE2GO)
    frame = gears_frame(x, ["g0", "g1"], kept)
    assert sparse.issparse(frame.X)
    np.testing.assert_array_equal(frame.X.toarray(), np.arange(14).reshape(7, 2)[[0, 1, 2, 5, 6]])
    assert frame.obs["condition"].tolist() == ["ctrl", "A+ctrl", "A+B", "A+ctrl", "ctrl"]
    assert set(frame.obs["cell_type"]) == {CELL_TYPE}
    assert list(frame.obs_names) == [f"cell{i}" for i in range(5)]
    assert frame.var["gene_name"].tolist() == ["g0", "g1"] == list(frame.var_names)


def test_custom_split_trains_on_everything_or_holds_out_a_seeded_fraction() -> None:
    conditions = pd.Series(["ctrl", "B+ctrl", "A+ctrl", "A+B", "C+ctrl", "ctrl"])
    perts = ["A+B", "A+ctrl", "B+ctrl", "C+ctrl"]
    assert custom_split(conditions, 0.0, 0, "m") == {"train": ["ctrl", *perts], "val": perts}
    split = custom_split(conditions, 0.5, 3, "m")
    assert len(split["val"]) == 2 and split["val"] == sorted(split["val"])
    assert split["train"][0] == "ctrl"
    assert sorted(split["train"][1:] + split["val"]) == perts  # a partition of the perturbations
    assert custom_split(conditions, 0.5, 3, "m") == split
    seeds = {tuple(custom_split(conditions, 0.5, s, "m")["val"]) for s in range(8)}
    assert len(seeds) > 1  # the seed chooses
    assert len(custom_split(conditions, 0.1, 0, "m")["val"]) == 1  # at least one
    with pytest.raises(ModelError, match=r"m: val_fraction=0.9 leaves no training"):
        custom_split(conditions, 0.9, 0, "m")


def test_coexpression_terms_are_the_strongly_correlated_genes() -> None:
    a = np.array([1.0, 2.0, 3.0, 4.0])
    d = np.array([1.0, -1.0, -1.0, 1.0])  # centred a · d = 0: uncorrelated with a
    x = np.column_stack([a, 2 * a, -a, d, np.ones(4)])  # the last gene is constant
    genes = ["g0", "g1", "g2", "g3", "g4"]
    terms = coexpression_go_terms(x, genes, k=2, threshold=0.4)
    assert terms["g0"] == {"coexpr:g0", "coexpr:g1", "coexpr:g2"}  # |r| = 1, 1
    assert terms["g2"] == {"coexpr:g2", "coexpr:g0", "coexpr:g1"}  # r = -1 counts
    assert terms["g3"] == {"coexpr:g3"}  # r = 0 with the others
    assert terms["g4"] == {"coexpr:g4"}  # undefined r counts as 0
    # k limits the neighbours: the strongest (ties to the earlier gene) besides itself
    assert coexpression_go_terms(x, genes, k=1, threshold=0.4)["g2"] == {"coexpr:g2", "coexpr:g0"}
    # the threshold is strict
    half = np.column_stack([a, a + np.array([0.0, 0.0, 0.0, 10.0])])
    r = np.corrcoef(half.T)[0, 1]
    assert coexpression_go_terms(half, ["u", "v"], 1, r)["u"] == {"coexpr:u"}
    assert coexpression_go_terms(half, ["u", "v"], 1, r - 1e-9)["u"] == {"coexpr:u", "coexpr:v"}


def test_go_graph_edges_are_jaccard_indices_above_a_tenth(tmp_path) -> None:
    table = pd.DataFrame({"gene": ["g0", "g0", "g1", "g1", "g1", "g2"], "go_term": list("ababcc")})
    table.to_csv(tmp_path / "go.csv", index=False)
    gene2go = load_go_terms(tmp_path / "go.csv")
    assert gene2go == {"g0": {"a", "b"}, "g1": {"a", "b", "c"}, "g2": {"c"}}
    assert load_go_terms(table) == gene2go
    edges = go_graph_edges(gene2go, ["g0", "g1", "g2"], k=1)
    got = {(s, t): w for s, t, w in edges[["source", "target", "importance"]].itertuples(False)}
    # J(g0, g1) = 2/3, J(g1, g2) = 1/3, J(g0, g2) = 0; each target keeps its k + 1 = 2 largest
    expected = {
        ("g0", "g0"): 1.0,
        ("g1", "g0"): 2 / 3,
        ("g1", "g1"): 1.0,
        ("g0", "g1"): 2 / 3,  # beats g2 → g1 (1/3)
        ("g2", "g2"): 1.0,
        ("g1", "g2"): 1 / 3,
    }
    assert got.keys() == expected.keys()
    assert got == pytest.approx(expected)
    # k = 2: g2 → g1 (1/3) comes in; g0 → g2 (0) never does
    wider = go_graph_edges(gene2go, ["g0", "g1", "g2"], k=2)
    pairs = set(zip(wider["source"], wider["target"], strict=True))
    assert ("g2", "g1") in pairs and ("g0", "g2") not in pairs and ("g2", "g0") not in pairs


# ------------------------------------------------------------------------------------ biolord


@pytest.mark.parametrize(
    ("n_cells", "batch_size", "expected"),
    # 10 % 4 = 2 → 5 (10 % 5 = 0); 9 % 4 = 1 → 5 (9 % 5 = 4); 7 % 3 = 1 → 4 (7 % 4 = 3);
    # 13 % 4 = 1 → 5 (13 % 5 = 3); 6 % 5 = 1 → 6, one batch; 2 cells under 128: one batch
    [(12, 4, 4), (10, 4, 5), (9, 4, 5), (7, 3, 4), (13, 4, 5), (6, 5, 6), (2, 128, 128)],
)
def test_safe_batch_size_leaves_no_batch_of_one_or_two(n_cells, batch_size, expected) -> None:
    assert safe_batch_size(n_cells, batch_size) == expected


def _training() -> ad.AnnData:
    x = np.array([[0.0, 0.0], [10.0, 10.0], [5.0, 5.0], [1.0, 1.0]], dtype=np.float32)
    obs = pd.DataFrame(
        {
            c.CONTEXT: ["k1", "k1", "k2", "k1"],
            c.PERTURBATION: ["control", "control", "control", "A"],
        },
        index=["c0", "c1", "c2", "c3"],
    )
    return ad.AnnData(sparse.csr_matrix(x), obs, pd.DataFrame(index=["g0", "g1"]))


def test_biolord_frame_is_dense_with_context_control_flag_and_features() -> None:
    train = _training()
    is_control = np.array([True, True, True, False])
    features = np.array([[0, 0], [0, 0], [0, 0], [1, 2]])
    data = biolord_frame(train, is_control, features, train.var_names)
    assert data.X.dtype == np.float32 and not sparse.issparse(data.X)
    np.testing.assert_array_equal(data.X, train.X.toarray())
    assert isinstance(data.obs[CONTEXT_KEY].dtype, pd.CategoricalDtype)
    assert data.obs[CONTEXT_KEY].tolist() == ["k1", "k1", "k2", "k1"]
    assert data.obs[c.IS_CONTROL].tolist() == is_control.tolist()
    assert data.obsm[FEATURES_KEY].dtype == np.float32
    np.testing.assert_array_equal(data.obsm[FEATURES_KEY], features)
    assert list(data.obs_names) == ["c0", "c1", "c2", "c3"]


def test_training_rows_are_the_cell_itself_or_its_nearest_training_control() -> None:
    train = _training()
    data = biolord_frame(
        train, np.array([True, True, True, False]), np.zeros((4, 1)), train.var_names
    )
    queries = ad.AnnData(
        np.array([[0.0, 0.0], [0.1, 0.1], [6.0, 6.0], [1.0, 1.0]], dtype=np.float32),
        pd.DataFrame(index=["c0", "c1", "q", "r"]),
        pd.DataFrame(index=["g0", "g1"]),
    )
    # c0: itself; c1: same name, other cells → nearest k1 control c0; q [6, 6]: of k1's controls
    # c0 (distance² 72) and c1 (32), c1; r [1, 1]: c0, not the perturbed c3 at distance 0
    assert training_rows(data, queries, "k1").tolist() == [0, 0, 1, 0]
    # a context without training controls: the nearest of all controls (c2 for [6, 6])
    assert training_rows(data, queries[["q"]], "k9").tolist() == [2]
    # genes are matched by name, whatever the query's gene order
    swapped = queries[:, ["g1", "g0"]].copy()
    swapped.X = np.asarray(swapped.X)
    assert training_rows(data, swapped, "k1").tolist() == [0, 0, 1, 0]
