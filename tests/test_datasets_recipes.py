"""Preparation recipes, end to end on the real subsets in ../shared/data, and on small made-up files."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from conftest import shared_file
from scipy import sparse

from vcbench.data import contract as c
from vcbench.data.fingerprint import fingerprint
from vcbench.data.loader import load_dataset, read_h5ad
from vcbench.datasets import REGISTRY, counts_of, prepare, prepare_adata, write_prepared
from vcbench.errors import DataContractError

KANG = "kang2018_pbmc_ifnb_scgen/kang2018_pbmc_ifnb_scgen_valid.h5ad"
PAPALEXI = "papalexi2021_thp1_crispr_sceptre/papalexi2021_thp1_sceptre.h5ad"
NORMAN = "perturbench_devel_norman2019_mcfaline2023/perturbench_devel.h5ad"
LOCAL = [
    ("kang2018", KANG, "scgen"),
    ("papalexi2021", PAPALEXI, "sceptre"),
    ("norman2019", NORMAN, "perturbench_devel"),
]


@pytest.mark.parametrize(("name", "relative", "layout"), LOCAL)
def test_a_real_subset_is_prepared_end_to_end(name, relative, layout, tmp_path) -> None:
    out = tmp_path / f"{name}.h5ad"
    prepare(name, shared_file(relative), out=out)
    prepared = read_h5ad(out)
    record = prepared.uns[c.UNS_KEY]
    assert c.is_standardised(prepared)
    assert record["registry"]["name"] == name
    assert record["registry"]["layout"] == layout  # detected from the columns
    assert record["fingerprint"] == fingerprint(prepared)
    expected = REGISTRY[name].source(layout).expected
    assert counts_of(prepared) == {
        "cells": expected.cells,
        "perturbations": expected.perturbations,
        "contexts": expected.contexts,
    }
    # the prepared file passes the contract again as it is
    again = load_dataset(
        prepared, perturbation_key=c.PERTURBATION, context_key=c.CONTEXT, dataset_key=c.DATASET
    )
    assert again.n_obs == expected.cells
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary file left


def test_kang_labels_the_stimulation_and_keeps_its_cell_types() -> None:
    prepared = prepare("kang2018", shared_file(KANG))
    assert set(prepared.obs[c.PERTURBATION].astype(str)) == {"control", "IFN-beta"}
    assert "CD4T" in set(prepared.obs[c.CONTEXT].astype(str))
    assert prepared.uns[c.UNS_KEY]["input_x"] == "log1p"


def test_papalexi_filters_ambiguous_guides_and_normalises_counts() -> None:
    raw = read_h5ad(shared_file(PAPALEXI))
    prepared = prepare_adata(raw, "papalexi2021")
    assert (prepared.obs["grna_max_frac"] >= 0.8).all()
    assert c.COUNTS_LAYER in prepared.layers
    assert prepared.uns[c.UNS_KEY]["input_x"] == "counts"
    assert set(prepared.obs[c.CONTEXT].astype(str)) == {"THP-1"}
    assert raw.n_obs == 20729  # the input is not modified


def test_papalexi_replicates_as_contexts_by_override() -> None:
    prepared = prepare("papalexi2021", shared_file(PAPALEXI), columns={"context": "bio_rep"})
    assert set(prepared.obs[c.CONTEXT].astype(str)) == {"rep_1", "rep_2", "rep_3"}


def test_norman_keeps_only_the_norman_cells_and_its_pairs() -> None:
    prepared = prepare("norman2019", shared_file(NORMAN))
    assert set(prepared.obs["dataset"].astype(str)) == {"norman19"}
    doubles = prepared.obs.loc[prepared.obs[c.N_TARGETS] == 2, c.PERTURBATION].astype(str)
    assert doubles.nunique() == 15 and "MAPK1+TGFBR2" in set(doubles)


def test_a_file_of_another_dataset_is_refused_and_nothing_is_written(tmp_path) -> None:
    out = tmp_path / "kang.h5ad"
    with pytest.raises(DataContractError, match=r"does not look like kang2018.*'bio_rep'") as info:
        prepare("kang2018", shared_file(PAPALEXI), out=out)
    assert "missing column(s) ['label', 'cell_type']" in str(info.value)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def _scperturb_like(n_per: int = 30, seed: int = 0) -> ad.AnnData:
    """A small file in scPerturb's layout: guide-level labels, cell_line, raw counts, MT genes."""
    rng = np.random.default_rng(seed)
    labels = ["control"] * n_per + ["STAT1g1"] * n_per + ["STAT1g2"] * n_per + ["JAK2g1"] * 5
    labels += ["nan"] * 4
    genes = [f"G{i}" for i in range(300)] + ["MT-CO1", "MT-ND1"]
    x = rng.poisson(3.0, size=(len(labels), len(genes))).astype(np.float32)
    x[:3, :] = 0
    x[:3, :50] = 1  # three cells with only 50 detected genes
    x[3, -2:] = 5000  # one cell that is mostly mitochondrial
    obs = pd.DataFrame(
        {"perturbation": labels, "cell_line": "THP-1"}, index=[f"c{i}" for i in range(len(labels))]
    )
    return ad.AnnData(sparse.csr_matrix(x), obs=obs, var=pd.DataFrame(index=genes))


def test_the_upstream_recipe_strips_guides_and_applies_qc() -> None:
    raw = _scperturb_like()
    prepared = prepare_adata(raw, "papalexi2021")
    assert prepared.uns[c.UNS_KEY]["registry"]["layout"] == "scperturb"
    # JAK2 (5 cells) is below 10 cells per condition; 'nan' cells are unassigned
    assert set(prepared.obs[c.PERTURBATION].astype(str)) == {"control", "STAT1"}
    assert prepared.n_obs == 3 * 30 - 4  # 3 low-gene cells and 1 mito-rich cell dropped
    steps = [s["step"] for s in prepared.uns[c.UNS_KEY]["recipe"].values()]
    assert "drop cells without a perturbation label" in steps
    assert any(s.startswith("genes per cell >= 200") for s in steps)


def test_count_qc_is_skipped_on_log_data_and_recorded() -> None:
    raw = _scperturb_like()
    raw.X = sparse.csr_matrix(np.log1p(raw.X.toarray() / 3.0))
    prepared = prepare_adata(raw, "papalexi2021")
    steps = [s["step"] for s in prepared.uns[c.UNS_KEY]["recipe"].values()]
    assert "count-based QC skipped: X is not raw counts" in steps


def test_overrides_name_the_columns_and_controls() -> None:
    raw = _scperturb_like()
    raw.obs = raw.obs.rename(columns={"perturbation": "guide"})
    raw.obs["guide"] = raw.obs["guide"].replace({"control": "NT"})
    prepared = prepare_adata(
        raw, "papalexi2021", source="scperturb", columns={"perturbation": "guide"}, control=["NT"]
    )
    assert int(prepared.obs[c.IS_CONTROL].sum()) > 0
    with pytest.raises(DataContractError, match="Unknown column role 'colour'"):
        prepare_adata(raw, "papalexi2021", columns={"colour": "x"})


def test_a_recipe_that_leaves_no_cells_says_so() -> None:
    raw = _scperturb_like()
    raw.obs["perturbation"] = "nan"
    with pytest.raises(DataContractError, match="No cells are left after the papalexi2021 recipe"):
        prepare_adata(raw, "papalexi2021")


def test_write_prepared_leaves_nothing_half_written(tmp_path, monkeypatch) -> None:
    adata = prepare_adata(_scperturb_like(), "papalexi2021")

    def broken_write(self, path, *args, **kwargs):
        path.write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(ad.AnnData, "write_h5ad", broken_write)
    with pytest.raises(OSError, match="disk full"):
        write_prepared(adata, tmp_path / "out.h5ad")
    assert list(tmp_path.iterdir()) == []


def test_adamson_guide_constructs_become_genes_controls_and_combinations() -> None:
    # scPerturb's Adamson files label guide constructs; '*' marks cells assigned to no guide
    constructs = ["62(mod)_pBA581", "Gal4-4(mod)_pBA582", "3x_neg_ctrl_pMJ144-1", "DDIT3_pDS263"]
    constructs += ["ATF6_PERK_IRE1_pMJ158", "*"]
    raw = _scperturb_like(n_per=60)[:180].copy()
    raw.obs["perturbation"] = np.repeat(constructs, 30)
    prepared = prepare_adata(raw, "adamson2016_pilot")
    labels = prepared.obs[c.PERTURBATION].astype(str)
    assert set(labels) == {"control", "DDIT3", "ATF6+IRE1+PERK"}
    assert int(prepared.obs[c.IS_CONTROL].sum()) == (labels == "control").sum() > 60
    assert "*" not in set(prepared.obs["perturbation"].astype(str))
