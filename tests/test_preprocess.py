"""Tests of vcbench.data.preprocess: HVG selection, gene harmonisation and count scaling."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
from scipy import sparse

from vcbench.data.contract import (
    CONTEXT,
    CONTROL,
    COUNTS_LAYER,
    DATASET,
    IS_CONTROL,
    N_TARGETS,
    PERTURBATION,
    TARGETS,
    UNS_KEY,
)
from vcbench.data.preprocess import harmonize_genes, scale_counts, select_hvgs
from vcbench.errors import DataContractError

REAL_FILE = (
    Path(__file__).resolve().parents[1]
    / ".."
    / "shared"
    / "data"
    / "perturbench_devel_norman2019_mcfaline2023"
    / "perturbench_devel.h5ad"
)

# Conditions of the toy data: targets joined with "+", "" for controls. "NOTMEASURED" is a target
# that is not a gene of the matrix; it must never appear in a selection.
CONDITIONS = ["", "G3", "G7", "G3+G7", "G50+NOTMEASURED"]


def make_standard(
    n_cells: int = 240,
    n_genes: int = 120,
    *,
    seed: int = 0,
    depth: float = 1.0,
    is_sparse: bool = True,
    dataset: str = "toy",
    genes: list[str] | None = None,
    with_counts: bool = True,
) -> ad.AnnData:
    """A small AnnData in the standard form: gamma-Poisson counts, X = log1p(normalize_total)."""
    rng = np.random.default_rng(seed)
    genes = genes if genes is not None else [f"G{i}" for i in range(n_genes)]
    n_genes = len(genes)
    gene_mean = np.exp(rng.normal(0.0, 1.2, n_genes)) * depth
    cell_size = rng.lognormal(0.0, 0.3, n_cells)
    # gene-specific overdispersion so that genes differ in variability
    shape = np.exp(rng.normal(0.5, 1.0, n_genes))
    rate = rng.gamma(shape, 1.0 / shape, size=(n_cells, n_genes))
    counts = rng.poisson(cell_size[:, None] * gene_mean[None, :] * rate).astype(np.float32)
    conditions = [CONDITIONS[i % len(CONDITIONS)] for i in range(n_cells)]
    obs = pd.DataFrame(
        {
            PERTURBATION: pd.Categorical([c or CONTROL for c in conditions]),
            CONTEXT: pd.Categorical(["ctx_a" if i % 2 else "ctx_b" for i in range(n_cells)]),
            DATASET: pd.Categorical([dataset] * n_cells),
            IS_CONTROL: [c == "" for c in conditions],
            TARGETS: conditions,
            N_TARGETS: [len(c.split("+")) if c else 0 for c in conditions],
        },
        index=[f"{dataset}_cell{i}" for i in range(n_cells)],
    )
    matrix = sparse.csr_matrix(counts) if is_sparse else counts
    adata = ad.AnnData(X=matrix.copy(), obs=obs, var=pd.DataFrame(index=genes))
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    del adata.uns["log1p"]
    if with_counts:
        adata.layers[COUNTS_LAYER] = matrix
    adata.uns[UNS_KEY] = {"input_x": "counts"}
    return adata


def scanpy_hvgs(adata: ad.AnnData, n_top_genes: int, flavor: str = "seurat", layer=None) -> set:
    """Scanpy's own HVG selection on a copy (the independent reference)."""
    copy = adata.copy()
    sc.pp.highly_variable_genes(copy, n_top_genes=n_top_genes, flavor=flavor, layer=layer)
    return set(copy.var_names[copy.var["highly_variable"]])


def reference_log_normalise(counts) -> np.ndarray:
    """log1p(normalize_total(1e4)) computed with scanpy on a fresh object."""
    tmp = ad.AnnData(X=sparse.csr_matrix(counts, dtype=np.float64))
    sc.pp.normalize_total(tmp, target_sum=1e4)
    sc.pp.log1p(tmp)
    return tmp.X.toarray()


def dense(matrix) -> np.ndarray:
    return matrix.toarray() if sparse.issparse(matrix) else np.asarray(matrix)


# --------------------------------------------------------------------------------------------------
# select_hvgs
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("flavor", ["seurat", "cell_ranger"])
@pytest.mark.parametrize("is_sparse", [True, False])
def test_select_hvgs_all_cells_matches_scanpy(flavor, is_sparse):
    adata = make_standard(is_sparse=is_sparse)
    assert np.all(dense(adata.X).std(axis=0) > 0), "toy data must have no constant gene"
    result = select_hvgs(adata, 30, flavor=flavor, keep_perturbed_genes=False)
    assert set(result) == scanpy_hvgs(adata, 30, flavor)
    assert list(result) == [g for g in adata.var_names if g in set(result)]  # var order
    assert 30 <= len(result) <= 32  # scanpy may include ties


@pytest.mark.parametrize("to_format", [sparse.csc_matrix, sparse.csr_array])
def test_select_hvgs_other_sparse_formats_give_the_same_genes(to_format):
    adata = make_standard()
    other = adata.copy()
    other.X = to_format(adata.X)
    mask = adata.obs[CONTEXT].to_numpy() == "ctx_a"
    assert select_hvgs(other, 20, cells=mask).equals(select_hvgs(adata, 20, cells=mask))


@pytest.mark.parametrize("flavor", ["seurat", "cell_ranger"])
def test_select_hvgs_on_subset_matches_scanpy_on_subset_copy(flavor):
    adata = make_standard()
    mask = adata.obs[CONTEXT].to_numpy() == "ctx_a"
    result = select_hvgs(adata, 25, cells=mask, flavor=flavor, keep_perturbed_genes=False)
    assert set(result) == scanpy_hvgs(adata[mask], 25, flavor)
    # the subset gives another answer than all cells, so the comparison above is informative
    assert set(result) != set(select_hvgs(adata, 25, flavor=flavor, keep_perturbed_genes=False))


def test_select_hvgs_cells_as_names_or_series_equals_mask():
    adata = make_standard()
    mask = adata.obs[CONTEXT].to_numpy() == "ctx_a"
    by_mask = select_hvgs(adata, 20, cells=mask)
    assert by_mask.equals(select_hvgs(adata, 20, cells=list(adata.obs_names[mask])))
    assert by_mask.equals(select_hvgs(adata, 20, cells=adata.obs_names[mask]))
    series = pd.Series(mask, index=adata.obs_names).iloc[::-1]  # aligned by name, not position
    assert by_mask.equals(select_hvgs(adata, 20, cells=series))


@pytest.mark.parametrize("keep", [True, False])
def test_select_hvgs_ignores_expression_of_unselected_cells(keep):
    adata = make_standard()
    train = adata.obs[CONTEXT].to_numpy() == "ctx_a"
    before = select_hvgs(adata, 20, cells=train, keep_perturbed_genes=keep)

    changed = adata.copy()
    x = dense(changed.X)
    rng = np.random.default_rng(1)
    # make the 40 lowest-ranked genes wildly variable in the held-out cells only
    x[np.ix_(~train, np.arange(40))] = rng.uniform(0, 9, size=((~train).sum(), 40))
    changed.X = sparse.csr_matrix(x)
    after = select_hvgs(changed, 20, cells=train, keep_perturbed_genes=keep)
    assert after.equals(before)
    # the change does matter when those cells are used, so the test could fail
    assert not select_hvgs(changed, 20, keep_perturbed_genes=keep).equals(
        select_hvgs(adata, 20, keep_perturbed_genes=keep)
    )


def test_select_hvgs_adds_measured_perturbed_genes_in_var_order():
    adata = make_standard()
    hvgs = select_hvgs(adata, 10, keep_perturbed_genes=False)
    with_targets = select_hvgs(adata, 10)
    assert set(with_targets) == set(hvgs) | {"G3", "G7", "G50"}
    assert "NOTMEASURED" not in with_targets
    assert list(with_targets) == [g for g in adata.var_names if g in set(with_targets)]


def test_select_hvgs_perturbed_genes_come_from_all_cells():
    adata = make_standard()
    # G50 is targeted only by cells of condition "G50+NOTMEASURED": leave them all out
    train = ~adata.obs[TARGETS].str.contains("G50").to_numpy()
    result = select_hvgs(adata, 10, cells=train)
    assert "G50" in result


def test_select_hvgs_all_genes_when_n_top_genes_not_smaller():
    adata = make_standard(n_genes=40)
    assert select_hvgs(adata, 40).equals(adata.var_names)
    assert select_hvgs(adata, 500, keep_perturbed_genes=False).equals(adata.var_names)


@pytest.mark.parametrize("flavor", ["seurat", "cell_ranger"])
def test_select_hvgs_constant_genes_in_chosen_cells(flavor):
    adata = make_standard()
    train = adata.obs[CONTEXT].to_numpy() == "ctx_a"
    x = dense(adata.X)
    x[np.ix_(train, np.arange(0, 30))] = 0.0  # zero in the training cells
    x[np.ix_(train, np.arange(30, 40))] = 1.5  # constant non-zero in the training cells
    adata.X = sparse.csr_matrix(x)
    result = select_hvgs(adata, 20, cells=train, flavor=flavor, keep_perturbed_genes=False)
    assert len(result) >= 20
    assert not set(result) & {f"G{i}" for i in range(40)}
    # the same as scanpy on the training cells restricted to the genes that vary there
    varying = adata.var_names[40:]
    assert set(result) == scanpy_hvgs(adata[train][:, varying], 20, flavor)
    # more genes asked for than vary: every varying gene, no constant one
    many = select_hvgs(adata, 100, cells=train, flavor=flavor, keep_perturbed_genes=False)
    assert many.equals(varying)


def test_select_hvgs_single_cell_selects_only_perturbed_genes():
    adata = make_standard()
    one = np.zeros(adata.n_obs, dtype=bool)
    one[0] = True
    assert list(select_hvgs(adata, 10, cells=one)) == ["G3", "G7", "G50"]


def test_select_hvgs_seurat_v3_needs_counts():
    adata = make_standard(with_counts=False)
    with pytest.raises(DataContractError, match=r"seurat_v3.*no layers\['counts'\].*raw-count"):
        select_hvgs(adata, 10, flavor="seurat_v3")


@pytest.mark.skipif(importlib.util.find_spec("skmisc") is None, reason="scikit-misc not installed")
def test_select_hvgs_seurat_v3_matches_scanpy_on_counts():
    adata = make_standard()
    mask = adata.obs[CONTEXT].to_numpy() == "ctx_b"
    result = select_hvgs(adata, 25, cells=mask, flavor="seurat_v3", keep_perturbed_genes=False)
    assert set(result) == scanpy_hvgs(adata[mask], 25, "seurat_v3", layer=COUNTS_LAYER)


@pytest.mark.skipif(importlib.util.find_spec("skmisc") is not None, reason="scikit-misc installed")
def test_select_hvgs_seurat_v3_without_skmisc_says_what_to_install():
    with pytest.raises(ImportError, match=r"pip install scikit-misc.*flavor='seurat'"):
        select_hvgs(make_standard(), 10, flavor="seurat_v3")


@pytest.mark.parametrize(
    ("cells", "n_top_genes", "flavor", "match"),
    [
        (np.zeros(240, dtype=bool), 10, "seurat", r"No cells were selected.*non-empty selection"),
        ([], 10, "seurat", r"No cells were selected"),
        (None, 0, "seurat", r"n_top_genes must be at least 1.*Pass"),
        (None, 2.5, "seurat", r"n_top_genes must be a whole number.*Pass an int"),
        (None, 10, "pearson", r"Unknown HVG flavor 'pearson'.*Use one of"),
        (["toy_cell0", "nope"], 10, "seurat", r"not obs names.*'nope'.*Pass names"),
        (np.ones(5, dtype=bool), 10, "seurat", r"5 entries but the dataset has 240.*one entry"),
        (np.arange(5), 10, "seurat", r"int64 values; pass a boolean mask"),
    ],
)
def test_select_hvgs_errors(cells, n_top_genes, flavor, match):
    adata = make_standard()
    with pytest.raises(DataContractError, match=match):
        select_hvgs(adata, n_top_genes, cells=cells, flavor=flavor)


def test_select_hvgs_needs_targets_column_for_perturbed_genes():
    adata = make_standard()
    del adata.obs[TARGETS]
    with pytest.raises(
        DataContractError, match=r"vcb_targets.*missing.*keep_perturbed_genes=False"
    ):
        select_hvgs(adata, 10)
    assert len(select_hvgs(adata, 10, keep_perturbed_genes=False)) >= 10


# --------------------------------------------------------------------------------------------------
# harmonize_genes
# --------------------------------------------------------------------------------------------------


def test_harmonize_genes_shared_genes_in_first_order():
    a = make_standard(genes=["A", "B", "C", "D", "E"], dataset="a", n_cells=20)
    b = make_standard(genes=["E", "X", "C", "A"], dataset="b", n_cells=15, seed=1)
    c = make_standard(genes=["C", "A", "E", "B", "Y", "Z"], dataset="c", n_cells=10, seed=2)
    out = harmonize_genes([a, b, c])
    for result, original in zip(out, [a, b, c], strict=True):
        assert list(result.var_names) == ["A", "C", "E"]
        assert result.n_obs == original.n_obs
        # values follow their gene, not their position
        np.testing.assert_array_equal(dense(result.X), dense(original[:, ["A", "C", "E"]].X))
        np.testing.assert_array_equal(
            dense(result.layers[COUNTS_LAYER]),
            dense(original[:, ["A", "C", "E"]].layers[COUNTS_LAYER]),
        )
        assert sparse.issparse(result.X)
    record = out[1].uns[UNS_KEY]["harmonized_genes"]
    assert record["datasets"] == ["a", "b", "c"]
    assert record["n_genes_lost"] == [2, 1, 3]
    assert record["n_shared"] == 3
    assert record["dataset"] == "b"
    assert out[1].uns[UNS_KEY]["input_x"] == "counts"  # the earlier record is kept
    # inputs untouched
    assert list(a.var_names) == ["A", "B", "C", "D", "E"]
    assert "harmonized_genes" not in a.uns[UNS_KEY]


def test_harmonize_genes_names_override_and_identical_genes():
    a = make_standard(n_genes=10, n_cells=12)
    b = make_standard(n_genes=10, n_cells=8, seed=3)
    out = harmonize_genes([a, b], names=["first", "second"])
    assert out[0].uns[UNS_KEY]["harmonized_genes"]["datasets"] == ["first", "second"]
    assert out[0].uns[UNS_KEY]["harmonized_genes"]["n_genes_lost"] == [0, 0]
    assert out[0] is not a
    out[0].X[0, 0] = 123.0
    assert a.X[0, 0] != 123.0


def test_harmonize_genes_errors():
    a = make_standard(genes=["A", "B"], dataset="norman", n_cells=5)
    b = make_standard(genes=["ENSG1", "ENSG2"], dataset="replogle", n_cells=5)
    with pytest.raises(
        DataContractError, match=r"share no gene.*'norman'.*'replogle'.*identifiers"
    ):
        harmonize_genes([a, b])
    with pytest.raises(DataContractError, match=r"at least 2 datasets, got 1.*Pass a list"):
        harmonize_genes([a])
    with pytest.raises(DataContractError, match=r"at least 2 datasets, got 0"):
        harmonize_genes([])
    with pytest.raises(DataContractError, match=r"1 names were given for 2 datasets.*one name"):
        harmonize_genes([a, b], names=["x"])
    dup = make_standard(genes=["A", "A", "B"], dataset="dup", n_cells=5)
    with pytest.raises(DataContractError, match=r"'dup' has 1 repeated gene names.*unique"):
        harmonize_genes([a, dup])


# --------------------------------------------------------------------------------------------------
# scale_counts
# --------------------------------------------------------------------------------------------------


def three_datasets(is_sparse: bool = True) -> list[ad.AnnData]:
    return [
        make_standard(n_cells=400, n_genes=300, depth=d, seed=s, dataset=n, is_sparse=is_sparse)
        for d, s, n in [(1.0, 0, "shallow"), (3.0, 1, "mid"), (8.0, 2, "deep")]
    ]


def median_total(matrix) -> float:
    return float(np.median(np.asarray(matrix.sum(axis=1)).ravel()))


@pytest.mark.parametrize("is_sparse", [True, False])
def test_downsample_matches_smallest_median(is_sparse):
    datasets = three_datasets(is_sparse)
    before = [median_total(a.layers[COUNTS_LAYER]) for a in datasets]
    assert before[2] > 5 * before[0]  # the depths really differ
    out = scale_counts(datasets, seed=3)
    target = min(before)
    for result, original, median in zip(out, datasets, before, strict=True):
        new = result.layers[COUNTS_LAYER]
        old = original.layers[COUNTS_LAYER]
        assert sparse.issparse(new) == is_sparse
        assert sparse.issparse(result.X) == is_sparse
        assert median_total(new) == pytest.approx(target, rel=0.03)
        new_d, old_d = dense(new), dense(old)
        assert np.all(new_d <= old_d)  # thinning never adds counts
        assert np.all(new_d >= 0)
        np.testing.assert_array_equal(new_d, np.round(new_d))  # still integer counts
        assert new.dtype == old.dtype
        # X is log1p(normalize_total(1e4)) of the new counts
        np.testing.assert_allclose(dense(result.X), reference_log_normalise(new_d), atol=1e-5)
        record = result.uns[UNS_KEY]["count_scaling"]
        assert record["median_before"] == pytest.approx(median)
        assert record["median_after"] == pytest.approx(median_total(new))
        assert record["factor"] == pytest.approx(target / median)
    # the shallowest dataset is untouched; the deepest really changed, in X too
    np.testing.assert_array_equal(
        dense(out[0].layers[COUNTS_LAYER]), dense(datasets[0].layers[COUNTS_LAYER])
    )
    assert not np.allclose(dense(out[2].X), dense(datasets[2].X), atol=1e-3)
    assert out[2].uns[UNS_KEY]["count_scaling"]["datasets"] == ["shallow", "mid", "deep"]
    assert out[2].uns[UNS_KEY]["count_scaling"]["method"] == "downsample"
    assert out[2].uns[UNS_KEY]["input_x"] == "counts"


def test_downsample_thinning_has_binomial_mean_and_variance():
    # one dataset, explicit target: E[new] = f n, Var[new] = f (1 - f) n for every count n
    adata = make_standard(n_cells=400, n_genes=300, depth=8.0)
    m = median_total(adata.layers[COUNTS_LAYER])
    out = scale_counts([adata], target=m / 4, seed=0)[0]
    old = adata.layers[COUNTS_LAYER].data.astype(np.float64)
    new = dense(out.layers[COUNTS_LAYER])[dense(adata.layers[COUNTS_LAYER]) > 0]
    f = 0.25
    assert new.sum() == pytest.approx(f * old.sum(), rel=0.01)
    residual_var = np.sum((new - f * old) ** 2)
    assert residual_var == pytest.approx(f * (1 - f) * old.sum(), rel=0.05)


def test_downsample_is_deterministic_given_seed():
    datasets = three_datasets()
    a = scale_counts(datasets, seed=7)
    b = scale_counts(datasets, seed=7)
    c = scale_counts(datasets, seed=8)
    np.testing.assert_array_equal(
        dense(a[2].layers[COUNTS_LAYER]), dense(b[2].layers[COUNTS_LAYER])
    )
    assert not np.array_equal(dense(a[2].layers[COUNTS_LAYER]), dense(c[2].layers[COUNTS_LAYER]))
    # inputs untouched
    fresh = three_datasets()
    np.testing.assert_array_equal(
        dense(datasets[2].layers[COUNTS_LAYER]), dense(fresh[2].layers[COUNTS_LAYER])
    )
    np.testing.assert_array_equal(dense(datasets[2].X), dense(fresh[2].X))


def test_downsample_target_above_a_median_leaves_it_and_warns():
    datasets = three_datasets()
    medians = [median_total(a.layers[COUNTS_LAYER]) for a in datasets]
    target = (medians[0] + medians[1]) / 2
    with pytest.warns(UserWarning, match=r"\['shallow'\].*below the target.*left unchanged"):
        out = scale_counts(datasets, target=target)
    np.testing.assert_array_equal(
        dense(out[0].layers[COUNTS_LAYER]), dense(datasets[0].layers[COUNTS_LAYER])
    )
    assert out[0].uns[UNS_KEY]["count_scaling"]["factor"] == 1.0
    for result in out[1:]:
        assert median_total(result.layers[COUNTS_LAYER]) == pytest.approx(target, rel=0.03)


@pytest.mark.parametrize("is_sparse", [True, False])
def test_scale_leaves_x_unchanged(is_sparse):
    datasets = three_datasets(is_sparse)
    medians = [median_total(a.layers[COUNTS_LAYER]) for a in datasets]
    out = scale_counts(datasets, method="scale")
    target = float(np.median(medians))
    for result, original, median in zip(out, datasets, medians, strict=True):
        np.testing.assert_allclose(dense(result.X), dense(original.X), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(
            dense(result.layers[COUNTS_LAYER]),
            dense(original.layers[COUNTS_LAYER]) * (target / median),
            rtol=1e-6,
        )
        assert median_total(result.layers[COUNTS_LAYER]) == pytest.approx(target, rel=1e-5)
        assert sparse.issparse(result.X) == is_sparse
        assert result.uns[UNS_KEY]["count_scaling"]["method"] == "scale"
        assert result.uns[UNS_KEY]["count_scaling"]["target"] == pytest.approx(target)


def test_scale_explicit_target_and_integer_counts():
    adata = make_standard(n_cells=50)
    adata.layers[COUNTS_LAYER] = adata.layers[COUNTS_LAYER].astype(np.int64)
    out = scale_counts([adata], method="scale", target=1234.0)[0]
    assert np.issubdtype(out.layers[COUNTS_LAYER].dtype, np.floating)
    assert median_total(out.layers[COUNTS_LAYER]) == pytest.approx(1234.0)


def test_scale_counts_errors():
    good = make_standard(dataset="good", n_cells=20)
    no_counts = make_standard(dataset="norman_log", n_cells=20, with_counts=False)
    with pytest.raises(
        DataContractError,
        match=r"'norman_log' has no raw counts.*count scaling needs raw counts.*Load the raw-count file",
    ):
        scale_counts([good, no_counts])
    fractional = make_standard(dataset="frac", n_cells=20)
    fractional.layers[COUNTS_LAYER] = fractional.layers[COUNTS_LAYER] * 0.5
    with pytest.raises(DataContractError, match=r"'frac' holds non-integer values.*method='scale'"):
        scale_counts([good, fractional])
    assert len(scale_counts([good, fractional], method="scale")) == 2  # scale accepts them
    negative = make_standard(dataset="neg", n_cells=20)
    negative.layers[COUNTS_LAYER] = -negative.layers[COUNTS_LAYER]
    with pytest.raises(DataContractError, match=r"'neg' holds negative.*not raw counts"):
        scale_counts([good, negative], method="scale")
    with pytest.raises(
        DataContractError, match=r"Unknown count scaling method 'median'.*Use one of"
    ):
        scale_counts([good], method="median")
    with pytest.raises(DataContractError, match=r"got no datasets.*Pass a list"):
        scale_counts([])
    with pytest.raises(DataContractError, match=r"target must be a positive number.*Pass"):
        scale_counts([good], target=0)
    empty = make_standard(dataset="empty", n_cells=20)
    empty.layers[COUNTS_LAYER] = sparse.csr_matrix(empty.shape, dtype=np.float32)
    with pytest.raises(DataContractError, match=r"'empty' has a median of 0.*filter_cells"):
        scale_counts([good, empty])


# --------------------------------------------------------------------------------------------------
# Real data
# --------------------------------------------------------------------------------------------------


def test_real_data_hvgs_on_k562_only():
    if not REAL_FILE.exists():
        pytest.skip(f"real data file not found: {REAL_FILE}")
    adata = ad.read_h5ad(REAL_FILE)
    conditions = adata.obs["condition"].astype(str)
    adata.obs[TARGETS] = np.where(conditions == "control", "", conditions)
    adata.obs[DATASET] = adata.obs["dataset"]
    k562 = (adata.obs["cell_type"] == "k562").to_numpy()

    result = select_hvgs(adata, 100, cells=k562)
    reference = adata[k562].copy()
    sc.pp.highly_variable_genes(reference, n_top_genes=100, flavor="seurat")
    expected_hvgs = set(reference.var_names[reference.var["highly_variable"]])
    perturbed = {g for c in conditions.unique() if c != "control" for g in c.split("+")}
    assert set(result) == expected_hvgs | (perturbed & set(adata.var_names))
    # the glioma lines give a different selection
    glioma = select_hvgs(adata, 100, cells=~k562, keep_perturbed_genes=False)
    assert set(glioma) != expected_hvgs
