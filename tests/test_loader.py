"""The data contract's loader: standard form, normalisation detection and one test per error."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
from conftest import make_raw, shared_file
from scipy import sparse

from vcbench.data import contract as c
from vcbench.data import load_dataset
from vcbench.errors import DataContractError, DatasetFileError

# --- the standard form -------------------------------------------------------------------------


def test_standard_columns_and_original_columns_kept() -> None:
    raw = make_raw(labels=["control"] * 3 + ["B+A"] * 2 + ["A"] * 2)
    adata = load_dataset(raw, dataset_name="toy")
    assert c.is_standardised(adata)
    assert list(adata.obs["condition"]) == list(raw.obs["condition"])  # original kept
    assert list(adata.obs[c.PERTURBATION]) == ["control"] * 3 + ["A+B"] * 2 + ["A"] * 2
    assert list(adata.obs[c.N_TARGETS]) == [0, 0, 0, 2, 2, 1, 1]
    assert list(adata.obs[c.IS_CONTROL]) == [True] * 3 + [False] * 4
    assert c.perturbation_targets(adata).iloc[3] == ("A", "B")
    assert set(adata.obs[c.DATASET]) == {"toy"}
    assert set(adata.obs[c.CONTEXT]) == {"k1"}


def test_counts_are_normalised_and_kept() -> None:
    raw = make_raw()
    adata = load_dataset(raw)
    counts = raw.X.toarray()
    expected = np.log1p(counts / counts.sum(axis=1, keepdims=True) * 1e4)
    np.testing.assert_allclose(adata.X.toarray(), expected, rtol=1e-5)
    np.testing.assert_array_equal(adata.layers["counts"].toarray(), counts)
    assert adata.uns["vcbench"]["input_x"] == "counts"
    assert raw.X.max() == counts.max()  # the input is not modified


def test_log_data_used_as_is() -> None:
    raw = make_raw(counts=False)
    adata = load_dataset(raw)
    np.testing.assert_array_equal(adata.X.toarray(), raw.X.toarray())
    assert "counts" not in adata.layers
    assert adata.uns["vcbench"]["input_x"] == "log1p"


def test_gears_style_control_parts_and_multiple_control_labels() -> None:
    raw = make_raw(labels=["ctrl", "non-targeting", "A+ctrl", "ctrl+A", "A+B", "ctrl+ctrl"])
    adata = load_dataset(raw, control=["ctrl", "non-targeting"])
    assert list(adata.obs[c.PERTURBATION]) == ["control", "control", "A", "A", "A+B", "control"]


def test_no_context_key_gives_one_context_and_dose_is_kept() -> None:
    raw = make_raw()
    raw.obs["dose"] = [np.nan] * 4 + [1.0] * 9
    adata = load_dataset(raw, context_key=None, dose_key="dose")
    assert set(adata.obs[c.CONTEXT]) == {"all"}
    assert adata.obs[c.DOSE].iloc[0] == ""
    assert adata.obs[c.DOSE].iloc[5] == "1.0"


def test_delimiter_none_keeps_plus_in_names() -> None:
    raw = make_raw(labels=["control"] * 2 + ["(+)-JQ1"] * 2)
    adata = load_dataset(raw, combination_delimiter=None)
    assert list(adata.obs[c.N_TARGETS]) == [0, 0, 1, 1]


def test_file_round_trip(tmp_path) -> None:
    path = tmp_path / "toy.h5ad"
    make_raw().write_h5ad(path)
    adata = load_dataset(path)
    assert set(adata.obs[c.DATASET]) == {"toy"}
    back = tmp_path / "standard.h5ad"
    adata.write_h5ad(back)  # the standard form is writable
    assert c.is_standardised(ad.read_h5ad(back))


# --- one test per error ------------------------------------------------------------------------


def test_error_missing_file(tmp_path) -> None:
    with pytest.raises(DatasetFileError, match=r"Dataset file not found: .*nope\.h5ad"):
        load_dataset(tmp_path / "nope.h5ad")


def test_error_not_h5ad(tmp_path) -> None:
    path = tmp_path / "table.h5ad"
    path.write_text("gene,cell\n1,2\n")
    with pytest.raises(DatasetFileError, match=r"could not be read as an \.h5ad"):
        load_dataset(path)


def test_error_missing_obs_column_lists_columns() -> None:
    with pytest.raises(
        DataContractError, match=r"obs\['perturbation'\] does not exist.*'condition', 'cell_type'"
    ):
        load_dataset(make_raw(), perturbation_key="perturbation")


def test_error_missing_context_column() -> None:
    with pytest.raises(DataContractError, match=r"context column obs\['donor'\] does not exist"):
        load_dataset(make_raw(), context_key="donor")


def test_error_no_control_cells_suggests_labels() -> None:
    raw = make_raw(labels=["ctrl"] * 3 + ["A"] * 3)
    with pytest.raises(
        DataContractError, match=r"No control cells.*look like controls: \['ctrl'\].*control="
    ):
        load_dataset(raw)


def test_error_context_without_controls() -> None:
    raw = make_raw(
        labels=["control", "control", "A", "A", "B", "B"],
        contexts=["k1", "k1", "k1", "k2", "k2", "k2"],
    )
    with pytest.raises(
        DataContractError, match=r"1 context\(s\) have perturbed cells but no control cells: k2"
    ):
        load_dataset(raw)


def test_error_duplicate_gene_names() -> None:
    raw = make_raw()
    raw.var_names = ["g0", "g1", "g1", "g3", "g4", "g4"]
    with pytest.raises(
        DataContractError,
        match=r"2 gene names appear more than once.*g1, g4.*var_names_make_unique",
    ):
        load_dataset(raw)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_error_nan_or_infinite_values(bad: float) -> None:
    raw = make_raw()
    x = raw.X.toarray()
    x[2, 3] = bad
    raw.X = sparse.csr_matrix(x)
    with pytest.raises(DataContractError, match=r"NaN and .* infinite values"):
        load_dataset(raw)


def test_error_negative_values() -> None:
    raw = make_raw(counts=False)
    raw.X = raw.X.toarray() - raw.X.toarray().mean(axis=0)  # e.g. scaled/centred data
    with pytest.raises(DataContractError, match=r"negative values.*before scaling"):
        load_dataset(raw)


def test_error_empty_matrix() -> None:
    raw = make_raw()[:0].copy()
    with pytest.raises(DataContractError, match=r"expression matrix is empty \(0 cells"):
        load_dataset(raw)


def test_error_all_zero_matrix() -> None:
    raw = make_raw()
    raw.X = sparse.csr_matrix(raw.shape, dtype=np.float32)
    with pytest.raises(DataContractError, match=r"holds only zeros"):
        load_dataset(raw)


@pytest.mark.parametrize("empty", ["", "  ", None])
def test_error_empty_perturbation_label(empty: str | None) -> None:
    raw = make_raw()
    raw.obs["condition"] = raw.obs["condition"].astype(object)
    raw.obs.iloc[5, raw.obs.columns.get_loc("condition")] = empty
    with pytest.raises(
        DataContractError, match=r"1 cells have an empty or missing label in obs\['condition'\]"
    ):
        load_dataset(raw)


@pytest.mark.parametrize("combo", ["A_B", "A|B", "A;B", "B,A"])
def test_error_combination_with_other_delimiter(combo: str) -> None:
    raw = make_raw(labels=["control"] * 2 + ["A"] * 2 + ["B"] * 2 + [combo] * 2)
    with pytest.raises(
        DataContractError, match=r"looks like a combination joined with .*combination_delimiter="
    ):
        load_dataset(raw)


@pytest.mark.parametrize("combo", ["A+", "+A", "A++B"])
def test_error_combination_with_empty_part(combo: str) -> None:
    raw = make_raw(labels=["control"] * 2 + [combo] * 2)
    with pytest.raises(DataContractError, match=r"empty part between '\+' delimiters"):
        load_dataset(raw)


def test_error_normalised_but_not_logged() -> None:
    raw = make_raw()
    x = raw.X.toarray()
    raw.X = sparse.csr_matrix(x / x.sum(axis=1, keepdims=True) * 1e4)
    with pytest.raises(DataContractError, match=r"normalised but not log-transformed"):
        load_dataset(raw)


def test_error_cells_without_counts() -> None:
    raw = make_raw()
    x = raw.X.toarray()
    x[0] = 0
    raw.X = sparse.csr_matrix(x)
    with pytest.raises(DataContractError, match=r"1 cells have no counts.*filter_cells"):
        load_dataset(raw)


def test_error_forced_counts_on_log_data() -> None:
    with pytest.raises(
        DataContractError, match=r"x_kind='counts' was given but X holds non-integer"
    ):
        load_dataset(make_raw(counts=False), x_kind="counts")


def test_error_missing_layer() -> None:
    with pytest.raises(DataContractError, match=r"Layer 'raw' does not exist"):
        load_dataset(make_raw(), layer="raw")


# --- the real shared files ---------------------------------------------------------------------


def test_real_kang_log_data() -> None:
    adata = load_dataset(
        shared_file("kang2018_pbmc_ifnb_scgen/kang2018_pbmc_ifnb_scgen_valid.h5ad")
    )
    assert adata.uns["vcbench"]["input_x"] == "log1p"
    assert adata.obs[c.CONTEXT].nunique() == 7
    assert int(adata.obs[c.IS_CONTROL].sum()) == 936


def test_real_papalexi_counts() -> None:
    path = shared_file("papalexi2021_thp1_crispr_sceptre/papalexi2021_thp1_sceptre.h5ad")
    adata = load_dataset(path, perturbation_key="perturbation", context_key="bio_rep")
    assert adata.uns["vcbench"]["input_x"] == "counts"
    assert "counts" in adata.layers
    totals = np.expm1(adata.X[:50].toarray()).sum(axis=1)
    np.testing.assert_allclose(totals, 1e4, rtol=1e-3)
    assert adata.obs[c.PERTURBATION].nunique() == 26  # 25 targets + control
