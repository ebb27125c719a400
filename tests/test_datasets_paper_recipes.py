"""Recipes that follow the papers, on small files copying each source's obs layout.

Every expected count below is worked out by hand from how the file is built (written next to it),
not read back from the code under test.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from conftest import shared_file
from scipy import sparse

from vcbench.data import contract as c
from vcbench.datasets import counts_of, prepare, prepare_adata
from vcbench.errors import DataContractError

KANG = "kang2018_pbmc_ifnb_scgen/kang2018_pbmc_ifnb_scgen_valid.h5ad"
N_GENES = 240  # droplet QC wants 200 detected genes per cell


def _counts(n_cells: int, n_genes: int, seed: int, mito: int = 0) -> sparse.csr_matrix:
    """Counts with every gene detected in every cell (1-4 each); the first ``mito`` genes get 1."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 5, size=(n_cells, n_genes)).astype(np.float32)
    x[:, :mito] = 1
    return sparse.csr_matrix(x)


def _droplet_file(obs: pd.DataFrame, seed: int = 0) -> ad.AnnData:
    obs = obs.reset_index(drop=True)
    obs.index = [f"cell{i}" for i in range(len(obs))]
    var = pd.DataFrame(index=[f"MT-{i}" for i in range(2)] + [f"G{i}" for i in range(N_GENES - 2)])
    return ad.AnnData(X=_counts(len(obs), N_GENES, seed, mito=2), obs=obs, var=var)


def _rows(n: int, **values: object) -> pd.DataFrame:
    return pd.DataFrame({k: [v] * n for k, v in values.items()})


# --- McFarland 2020 ------------------------------------------------------------------------------


def _mcfarland() -> ad.AnnData:
    """2 cell lines × 2 time points; per (line, time): 12 control, 12 trametinib, 12 idasanutlin
    normal cells, 4 doublets and 2 low-quality trametinib cells; guide cells (sgGPX4 12,
    sgLACZ 6, sgOR2J2 6) at line A, 24 h only."""
    parts = []
    for line in ("A549_LUNG", "NCIH226_LUNG"):
        for time in (6.0, 24.0):
            base = {"cell_line": line, "time": time, "dose_value": 1.0, "dose_unit": "uM"}
            for label in ("control", "trametinib", "idasanutlin"):
                parts.append(_rows(12, perturbation=label, cell_quality="normal", **base))
            parts.append(_rows(4, perturbation="trametinib", cell_quality="doublet", **base))
            parts.append(_rows(2, perturbation="trametinib", cell_quality="low_quality", **base))
    guides = {"cell_line": "A549_LUNG", "time": 24.0, "dose_value": 0.0, "dose_unit": "uM"}
    for label, n in (("sgGPX4", 12), ("sgLACZ", 6), ("sgOR2J2", 6)):
        parts.append(_rows(n, perturbation=label, cell_quality="normal", **guides))
    obs = pd.concat(parts)
    obs["perturbation"] = obs["perturbation"].astype("category")
    obs["cell_quality"] = obs["cell_quality"].astype("category")
    return _droplet_file(obs)


def _step(prepared: ad.AnnData, text: str) -> dict:
    steps = [s for s in prepared.uns[c.UNS_KEY]["recipe"].values() if text in s["step"]]
    assert len(steps) == 1, text
    return steps[0]


def test_mcfarland_drops_guides_and_poor_cells_and_splits_time_points() -> None:
    raw = _mcfarland()
    assert raw.n_obs == 4 * 42 + 24  # 192
    prepared = prepare_adata(raw, "mcfarland2020")
    # kept: 4 (line, time) groups × 36 normal compound/vehicle cells
    assert counts_of(prepared) == {"cells": 144, "perturbations": 2, "contexts": 4}
    assert _step(prepared, "cell_quality")["dropped"] == 4 * 6  # doublets + low quality
    assert _step(prepared, "matches '^sg'")["dropped"] == 24  # all guide cells
    assert not prepared.obs[c.PERTURBATION].astype(str).str.startswith("sg").any()
    assert set(prepared.obs[c.CONTEXT].astype(str)) == {
        "A549_LUNG_6h",
        "A549_LUNG_24h",
        "NCIH226_LUNG_6h",
        "NCIH226_LUNG_24h",
    }
    # every context has its own vehicle cells: time points are never pooled
    controls = prepared.obs[prepared.obs[c.IS_CONTROL]].groupby(c.CONTEXT, observed=True).size()
    assert controls.to_dict() == dict.fromkeys(controls.index, 12)


def test_mcfarland_one_time_point_by_obs_query() -> None:
    prepared = prepare_adata(_mcfarland(), "mcfarland2020", obs_query="time == 24")
    assert counts_of(prepared) == {"cells": 72, "perturbations": 2, "contexts": 2}
    record = prepared.uns[c.UNS_KEY]["row_filters"]["00"]
    # at 24 h: 2 lines × 42 cells + 24 guide cells
    assert (record["cells_before"], record["cells_kept"]) == (192, 108)
    assert record["cells_dropped"] == 84


# --- Norman 2019: scPerturb, GEARS and other layouts ---------------------------------------------


def _norman(labels: dict[str, int], column: str, context: str, counts: bool = True) -> ad.AnnData:
    obs = pd.concat([_rows(n, **{column: label, context: "K562"}) for label, n in labels.items()])
    adata = _droplet_file(obs)
    if not counts:
        adata.X = sparse.csr_matrix(np.log1p(adata.X.toarray()) + 0.01)
    return adata


def test_norman_scperturb_layout() -> None:
    raw = _norman(
        {"control": 15, "KLF1": 12, "BAK1": 11, "CEBPE_RUNX1T1": 10, "ZBTB1": 4},
        "perturbation",
        "cell_line",
    )
    prepared = prepare_adata(raw, "norman2019")
    assert prepared.uns[c.UNS_KEY]["registry"]["layout"] == "scperturb"
    # ZBTB1 has 4 < 10 cells: dropped
    assert counts_of(prepared) == {"cells": 48, "perturbations": 3, "contexts": 1}
    pair = prepared.obs.loc[prepared.obs[c.N_TARGETS] == 2, c.PERTURBATION].astype(str)
    assert set(pair) == {"CEBPE+RUNX1T1"}


def test_norman_gears_layout_is_detected_and_ctrl_parts_removed() -> None:
    labels = {"ctrl": 20, "KLF1+ctrl": 12, "ctrl+BAK1": 11, "CEBPE+RUNX1T1": 10, "A+ctrl": 3}
    prepared = prepare_adata(_norman(labels, "condition", "cell_type", counts=False), "norman2019")
    assert prepared.uns[c.UNS_KEY]["registry"]["layout"] == "gears"
    assert counts_of(prepared) == {"cells": 53, "perturbations": 3, "contexts": 1}
    obs = prepared.obs
    assert set(obs.loc[~obs[c.IS_CONTROL], c.PERTURBATION].astype(str)) == {
        "KLF1",
        "BAK1",
        "CEBPE+RUNX1T1",
    }
    assert int(obs[c.IS_CONTROL].sum()) == 20
    assert obs.groupby(c.PERTURBATION, observed=True)[c.N_TARGETS].first().to_dict() == {
        "BAK1": 1,
        "CEBPE+RUNX1T1": 2,
        "KLF1": 1,
        "control": 0,
    }


def test_norman_gears_labels_in_the_scperturb_column_are_an_error_with_a_sample() -> None:
    raw = _norman({"control": 15, "KLF1+ctrl": 12}, "perturbation", "cell_line")
    with pytest.raises(DataContractError, match=r"'KLF1\+ctrl'.*Labels in obs\['perturbation'\]"):
        prepare_adata(raw, "norman2019")


def test_norman_other_layout_needs_the_override() -> None:
    raw = _norman({"NT": 15, "KLF1|NT": 12, "CEBPE|RUNX1T1": 10}, "condition", "cell_type")
    with pytest.raises(DataContractError, match=r"--delimiter.*|'NT'"):
        prepare_adata(raw, "norman2019")
    prepared = prepare_adata(raw, "norman2019", control=["NT"], delimiter="|")
    obs = prepared.obs
    assert counts_of(prepared) == {"cells": 37, "perturbations": 2, "contexts": 1}
    assert set(obs.loc[obs[c.N_TARGETS] == 2, c.PERTURBATION].astype(str)) == {"CEBPE+RUNX1T1"}
    assert int(obs[c.IS_CONTROL].sum()) == 15


# --- sci-Plex 3 ----------------------------------------------------------------------------------

SCIPLEX_DOSES = (10.0, 100.0, 1000.0, 10000.0)


def sciplex_file(cells_per_condition: int = 12, seed: int = 0) -> ad.AnnData:
    """3 cell lines × 2 compounds × 4 doses × ``cells_per_condition`` cells, 15 vehicle cells per
    line (dose 0), and 7 cells without a cell line. Features: 152 human genes (150 detected in
    every cell, 2 never; two named TBCE, one without a symbol, two mitochondrial), 20 mouse genes
    and 5 hash oligos."""
    parts = []
    for line in ("A549", "K562", "MCF7"):
        for compound in ("Dexamethasone", "BMS-536924"):
            for dose in SCIPLEX_DOSES:
                parts.append(
                    _rows(
                        cells_per_condition,
                        perturbation=compound,
                        cell_line=line,
                        dose_value=dose,
                        time=24.0,
                    )
                )
        parts.append(_rows(15, perturbation="control", cell_line=line, dose_value=0.0, time=24.0))
    parts.append(
        _rows(7, perturbation="Dexamethasone", cell_line=np.nan, dose_value=10000.0, time=24.0)
    )
    obs = pd.concat(parts).reset_index(drop=True)
    obs.index = [f"sciplex{i}" for i in range(len(obs))]
    human = [f"ENSG{i:011d}.{i % 3 + 1}" for i in range(152)]
    symbols = ["MT-CO1", "MT-ND1"] + [f"GENE{i}" for i in range(2, 152)]
    symbols[10], symbols[11], symbols[12] = "TBCE", "TBCE", ""
    mouse = [f"ENSMUSG{i:011d}.1" for i in range(20)]
    hashes = [f"hash_oligo_{i}" for i in range(5)]
    var = pd.DataFrame(
        {"gene_short_name": symbols + [f"Mm{i}" for i in range(20)] + hashes},
        index=human + mouse + hashes,
    )
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 5, size=(len(obs), len(var))).astype(np.float32)
    x[:, :2] = 1  # low mitochondrial fraction
    x[:, 150:152] = 0  # two human genes never detected
    return ad.AnnData(X=sparse.csr_matrix(x), obs=obs, var=var)


def test_sciplex_keeps_the_highest_dose_and_genes_by_symbol(tmp_path) -> None:
    raw = sciplex_file()
    assert raw.shape == (3 * 2 * 4 * 12 + 45 + 7, 177)
    path = tmp_path / "sciplex.h5ad"
    raw.write_h5ad(path)
    prepared = prepare("srivatsan2020_sciplex3", path, chunk_cells=50)  # backed, 8 chunks
    # 3 lines × 2 compounds × 12 cells at 10 µM + 45 vehicle cells
    assert counts_of(prepared) == {"cells": 72 + 45, "perturbations": 2, "contexts": 3}
    assert set(prepared.obs.loc[~prepared.obs[c.IS_CONTROL], c.DOSE]) == {"10000.0"}
    assert _step(prepared, "without obs['cell_line']")["dropped"] == 7
    assert _step(prepared, "one dose")["dropped"] == 3 * 2 * 3 * 12
    genes = _step(prepared, "keep gene features")
    assert (genes["genes_before"], genes["genes_after"]) == (177, 152)
    assert prepared.n_vars == 150  # the 2 undetected genes dropped by cells per gene >= 3
    names = set(prepared.var_names)
    assert {"TBCE", "TBCE-1", "MT-CO1", "ENSG00000000012"} <= names
    assert not any(n.startswith(("ENSMUSG", "Mm", "hash")) for n in names)
    assert prepared.var.loc["GENE5", "ensembl_id"] == "ENSG00000000005"
    assert prepared.uns[c.UNS_KEY]["registry"]["dose_selection"] == "max"


def test_sciplex_chunked_reading_gives_the_same_data(tmp_path) -> None:
    path = tmp_path / "sciplex.h5ad"
    sciplex_file().write_h5ad(path)
    small = prepare("srivatsan2020_sciplex3", path, chunk_cells=17)
    whole = prepare("srivatsan2020_sciplex3", path, chunk_cells=10_000)
    in_memory = prepare_adata(sciplex_file(), "srivatsan2020_sciplex3")
    fingerprints = {a.uns[c.UNS_KEY]["fingerprint"] for a in (small, whole, in_memory)}
    assert len(fingerprints) == 1


def test_sciplex_other_dose_choices() -> None:
    every = prepare_adata(sciplex_file(), "srivatsan2020_sciplex3", dose="all")
    assert counts_of(every) == {"cells": 3 * 2 * 4 * 12 + 45, "perturbations": 2, "contexts": 3}
    one = prepare_adata(sciplex_file(), "srivatsan2020_sciplex3", dose="100")
    assert counts_of(one)["cells"] == 72 + 45
    assert set(one.obs.loc[~one.obs[c.IS_CONTROL], c.DOSE]) == {"100.0"}
    with pytest.raises(DataContractError, match=r"No perturbed cell has dose 5.*10000"):
        prepare_adata(sciplex_file(), "srivatsan2020_sciplex3", dose="5")
    with pytest.raises(DataContractError, match="not 'all', 'max' or a number"):
        prepare_adata(sciplex_file(), "srivatsan2020_sciplex3", dose="highest")


# --- Frangieh 2021 -------------------------------------------------------------------------------


def test_frangieh_conditions_are_the_contexts() -> None:
    parts = []
    for condition in ("Control", "IFNg", "Co-culture"):
        parts.append(_rows(14, perturbation="control", perturbation_2=condition, cell_line="mel"))
        parts.append(_rows(11, perturbation="JAK1", perturbation_2=condition, cell_line="mel"))
        parts.append(
            _rows(10, perturbation="JAK1_STAT1", perturbation_2=condition, cell_line="mel")
        )
    parts.append(_rows(6, perturbation="JAK1", perturbation_2=np.nan, cell_line="mel"))
    prepared = prepare_adata(_droplet_file(pd.concat(parts)), "frangieh2021")
    assert counts_of(prepared) == {"cells": 3 * 35, "perturbations": 2, "contexts": 3}
    assert set(prepared.obs[c.CONTEXT].astype(str)) == {"Control", "IFNg", "Co-culture"}
    assert _step(prepared, "without obs['perturbation_2']")["dropped"] == 6
    pair = prepared.obs.loc[prepared.obs[c.N_TARGETS] == 2, c.PERTURBATION].astype(str)
    assert set(pair) == {"JAK1+STAT1"}


# --- Kang 2018, CD4 T held out -------------------------------------------------------------------


def test_kang_cd4t_records_the_scgen_split_and_it_holds_out_cd4t() -> None:
    from vcbench.scenarios import make_split

    prepared = prepare("kang2018_cd4t", shared_file(KANG))
    assert counts_of(prepared) == {"cells": 1975, "perturbations": 1, "contexts": 7}
    setup = dict(prepared.uns[c.UNS_KEY]["registry"]["standard_split"])
    assert setup["test_context"] == "CD4T"
    options = {"fold": int(setup["fold"]), "test_controls": setup["test_controls"]}
    split = make_split(prepared, setup["scenario"], setup["variant"], seed=0, **options)
    test = prepared.obs[split.mask(prepared, "test")]
    assert set(test[c.CONTEXT].astype(str)) == {"CD4T"}
    assert set(test[c.PERTURBATION].astype(str)) == {"IFN-beta"}
    cd4t = prepared.obs[c.CONTEXT].astype(str) == "CD4T"
    stimulated = ~prepared.obs[c.IS_CONTROL].to_numpy()
    assert len(test) == int((cd4t.to_numpy() & stimulated).sum())


def test_kang_cd4t_pertpy_layout_holds_out_its_cd4_t_label() -> None:
    """pertpy's layout: obs 'label' ctrl/stim, 'cell_type' with 'CD4 T cells'."""
    parts = []
    for cell_type in ("B cells", "CD4 T cells", "NK cells"):
        parts.append(_rows(12, label="ctrl", cell_type=cell_type, replicate="patient1"))
        parts.append(_rows(11, label="stim", cell_type=cell_type, replicate="patient1"))
    prepared = prepare_adata(_droplet_file(pd.concat(parts)), "kang2018_cd4t")
    assert prepared.uns[c.UNS_KEY]["registry"]["layout"] == "pertpy"
    assert counts_of(prepared) == {"cells": 69, "perturbations": 1, "contexts": 3}
    setup = prepared.uns[c.UNS_KEY]["registry"]["standard_split"]
    # sorted contexts: B cells, CD4 T cells, NK cells
    assert (setup["test_context"], int(setup["fold"])) == ("CD4 T cells", 1)


def test_stacking_blocks_matches_scipy() -> None:
    from vcbench.datasets.matrix_pass import stack_rows

    blocks = [sparse.random(n, 9, density=0.3, format="csr", random_state=n) for n in (4, 0, 7)]
    expected = sparse.vstack(blocks, format="csr")
    stacked = stack_rows(list(blocks), 9)
    assert (stacked != expected).nnz == 0 and stacked.shape == (11, 9)
