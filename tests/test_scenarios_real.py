"""Scenarios on the real datasets in ../shared/data (skipped when absent) and the ``vcbench split`` CLI."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_file
from typer.testing import CliRunner

from vcbench.cli import app
from vcbench.data import contract as c
from vcbench.data.loader import load_dataset, read_h5ad
from vcbench.datasets.demo import demo_path
from vcbench.errors import ScenarioError
from vcbench.scenarios import load_split, make_split

KANG = "kang2018_pbmc_ifnb_scgen/kang2018_pbmc_ifnb_scgen_valid.h5ad"
NORMAN = "perturbench_devel_norman2019_mcfaline2023/perturbench_devel.h5ad"
PAPALEXI = "papalexi2021_thp1_crispr_sceptre/papalexi2021_thp1_sceptre.h5ad"
GLIOMA = ["A172", "T98G", "U87MG"]
SHARED_GENES = {
    "MAP2K3",
    "MAP2K6",
    "MAP3K21",
    "MAP4K3",
    "MAP4K5",
    "MAPK1",
    "PLK4",
    "SGK1",
    "TGFBR2",
}
runner = CliRunner()


@pytest.fixture(scope="module")
def kang():
    return load_dataset(shared_file(KANG), perturbation_key="condition", context_key="cell_type")


@pytest.fixture(scope="module")
def norman():
    return load_dataset(shared_file(NORMAN), context_key="cell_type", dataset_key="dataset")


@pytest.fixture(scope="module")
def papalexi():
    raw = read_h5ad(shared_file(PAPALEXI))
    raw = raw[(raw.obs["grna_max_frac"] >= 0.8).to_numpy()].copy()
    return load_dataset(raw, perturbation_key="perturbation", context_key="bio_rep")


def _perturbed_roles(adata, split, context):
    obs = adata.obs
    here = (obs[c.CONTEXT] == context).to_numpy()
    return set(split.assignment[here & ~obs[c.IS_CONTROL].to_numpy()].astype(str))


def test_kang_unseen_cell_type_leave_one_out_covers_the_seven_types(kang) -> None:
    held = []
    for fold in range(7):
        split = make_split(kang, "context", "leave_one_out", fold=fold)
        (context,) = split.info["test_contexts"]
        held.append(context)
        assert split.test_conditions[c.PERTURBATION].tolist() == ["stimulated"]
        assert split.test_conditions["split_category"].tolist() == ["unseen_context"]
        assert _perturbed_roles(kang, split, context) == {"test"}
        assert split.info["n_folds"] == 7
    assert sorted(held) == sorted(kang.obs[c.CONTEXT].unique()) and len(set(held)) == 7


def test_kang_random_and_strict_splits(kang, tmp_path) -> None:
    a = make_split(kang, "context", "random", seed=0).save(tmp_path / "a.parquet")
    b = make_split(kang, "context", "random", seed=0).save(tmp_path / "b.parquet")
    assert a.read_bytes() == b.read_bytes()
    other = make_split(kang, "context", "random", seed=1)
    assert not load_split(a, kang).assignment.equals(other.assignment)
    strict = make_split(kang, "context", "strict", seed=0)
    assert len(strict.info["test_contexts"]) == 2  # round(0.25 · 7)
    nearest = strict.shift[strict.shift["measure"] == "nearest_context"]
    assert len(nearest) == 2 and nearest["energy_distance"].gt(0).all()
    by_pca = make_split(kang, "context", "strict", embedding="X_pca", seed=0)
    assert len(by_pca.info["test_contexts"]) == 2
    with pytest.raises(ScenarioError, match=r"has 1 perturbation\(s\)"):
        make_split(kang, "context", "few_shot")


def test_norman_combo_categories_all_present(norman) -> None:
    split = make_split(norman, "perturbation", "combo", context="k562", seed=0)
    assert set(split.test_conditions["split_category"]) == {
        "single_unseen",
        "combo_unseen2",
        "combo_unseen1",
        "combo_unseen0",
    }
    assert split.shift["energy_distance"].notna().all()


@pytest.mark.parametrize("variant", ["random", "strict", "leave_one_out", "few_shot"])
def test_mcfaline_unseen_cell_line(norman, variant) -> None:
    split = make_split(norman, "context", variant, contexts=GLIOMA, seed=0)
    (context,) = split.info["test_contexts"]
    assert context in GLIOMA
    assert set(split.assignment[(norman.obs[c.CONTEXT] == "k562").to_numpy()]) == {"unused"}
    expected = {"test", "train"} if variant == "few_shot" else {"test"}
    assert _perturbed_roles(norman, split, context) == expected
    assert set(split.test_conditions[c.PERTURBATION]) <= SHARED_GENES
    assert len(split.test_conditions) == (8 if variant == "few_shot" else 9)


def test_norman_mcfaline_cross_dataset(norman) -> None:
    splits = {
        v: make_split(norman, "cross_dataset", v, target="mcfaline23", n_top_genes=200, seed=1)
        for v in ("single", "merged", "transfer")
    }
    assert set(splits["single"].info["shared_perturbations"]) == SHARED_GENES
    tested = splits["single"].test_conditions
    assert set(tested[c.CONTEXT]) == set(GLIOMA)
    assert tested[c.PERTURBATION].nunique() == 2  # round(0.25 · 9)
    for split in splits.values():
        assert split.test_conditions.equals(tested)
    distance = {
        v: float(s.shift.loc[s.shift["measure"] == "category", "energy_distance"].iloc[0])
        for v, s in splits.items()
    }
    assert distance["transfer"] > distance["single"]  # K562 is far from the glioma lines
    assert splits["merged"].info["hvg_overlap"]["jaccard"] is not None
    with pytest.raises(ScenarioError, match="count_scaling needs raw counts"):
        make_split(norman, "cross_dataset", "merged", target="norman19", count_scaling="scale")


def test_papalexi_k_fold_singles(papalexi, tmp_path) -> None:
    folds = [make_split(papalexi, "perturbation", "single", n_folds=5, fold=k) for k in range(5)]
    tested = [
        set(map(tuple, f.test_conditions[[c.CONTEXT, c.PERTURBATION]].to_numpy())) for f in folds
    ]
    singles = papalexi.obs.loc[~papalexi.obs[c.IS_CONTROL], [c.CONTEXT, c.PERTURBATION]]
    expected = set(map(tuple, singles.astype(str).drop_duplicates().to_numpy()))
    assert set().union(*tested) == expected
    assert sum(len(t) for t in tested) == len(expected)  # the folds are disjoint
    assert all(set(f.test_conditions[c.CONTEXT]) == {"rep_1", "rep_2", "rep_3"} for f in folds)
    a = folds[0].save(tmp_path / "a.parquet").read_bytes()
    assert (
        make_split(papalexi, "perturbation", "single", n_folds=5)
        .save(tmp_path / "b.parquet")
        .read_bytes()
        == a
    )
    other = make_split(papalexi, "perturbation", "single", n_folds=5, seed=1)
    assert not other.assignment.equals(folds[0].assignment)


def test_cli_split_writes_reuses_and_explains(tmp_path) -> None:
    out = tmp_path / "split.parquet"
    args = ["split", str(demo_path()), "--dataset-key", "dataset", "--scenario", "perturbation"]
    args += ["--variant", "combo", "--context", "k562", "--seed", "1", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    for text in ("combo_unseen2", "combo_unseen0", "single_unseen", "energy distance", "Wrote"):
        assert text in result.output
    first = out.read_bytes()
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "Reused" in again.output and out.read_bytes() == first
    forced = runner.invoke(app, [*args, "--force"])
    assert "Wrote" in forced.output and out.read_bytes() == first
    changed = runner.invoke(app, [*args, "--unseen-fraction", "0.5"])
    assert "Wrote" in changed.output and out.read_bytes() != first
    context = runner.invoke(
        app,
        [
            "split",
            str(demo_path()),
            "--scenario",
            "context",
            "--variant",
            "leave_one_out",
            "--contexts",
            "A172,T98G,U87MG",
            "--fold",
            "1",
            "--out",
            str(tmp_path / "c.parquet"),
        ],
    )
    assert context.exit_code == 0, context.output
    assert "nearest training context" in context.output and "T98G" in context.output
    error = runner.invoke(
        app,
        [
            "split",
            str(demo_path()),
            "--dataset-key",
            "dataset",
            "--scenario",
            "cross_dataset",
            "--target",
            "norman19",
            "--count-scaling",
            "downsample",
            "--out",
            str(out),
        ],
    )
    assert error.exit_code == 2 and "--count-scaling needs raw counts" in error.output
    assert np.isin(["train", "test"], load_split(out).assignment.unique()).all()
