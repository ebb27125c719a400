"""The linear model (Ahlmann-Eltze et al. 2025) and the embedding tables."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from vcbench.data import contract as c
from vcbench.data.simulate import simulate
from vcbench.errors import ModelError
from vcbench.models import Linear, PerturbedMean
from vcbench.models.embeddings import (
    PerturbationFeatures,
    embed_targets,
    load_embedding,
    pca_gene_embedding,
)
from vcbench.models.linear import ridge_both_sides
from vcbench.runner import run_model
from vcbench.scenarios.split import Split


def test_ridge_both_sides_recovers_an_exact_bilinear_map() -> None:
    rng = np.random.default_rng(0)
    g, p, w = rng.normal(size=(50, 4)), rng.normal(size=(30, 3)), rng.normal(size=(4, 3))
    np.testing.assert_allclose(ridge_both_sides(g @ w @ p.T, g, p, 1e-10), w, atol=1e-6)
    # a large penalty shrinks the solution towards zero
    assert np.abs(ridge_both_sides(g @ w @ p.T, g, p, 1e6)).max() < 1e-2


def single_gene_split(adata, fraction: float = 0.3, seed: int = 0) -> Split:
    """Hold out a random ``fraction`` of the single perturbations (one context)."""
    obs = adata.obs
    labels = sorted(obs.loc[~obs[c.IS_CONTROL].to_numpy(), c.PERTURBATION].astype(str).unique())
    held = sorted(np.random.default_rng(seed).permutation(labels)[: round(fraction * len(labels))])
    is_test = obs[c.PERTURBATION].astype(str).isin(held).to_numpy()
    role = pd.Series(np.where(is_test, "test", "train"), index=obs.index).astype("category")
    context = str(obs[c.CONTEXT].iloc[0])
    conditions = pd.DataFrame(
        {
            c.CONTEXT: context,
            c.PERTURBATION: held,
            "split_category": "single_unseen",
            "n_cells": [int((obs[c.PERTURBATION] == p).sum()) for p in held],
        }
    )
    return Split("single", {}, seed, "", role, conditions)


@pytest.fixture(scope="module")
def low_rank():
    sim = simulate(
        n_contexts=1,
        n_genes=120,
        n_singles=60,
        n_combinations=0,
        cells_per_condition=30,
        n_control_cells=200,
        effect_rank=3,
        systematic_shift=0.5,
        seed=5,
    )
    return sim, single_gene_split(sim.adata)


def oracle_embedding(sim) -> pd.DataFrame:
    """Each single's coordinates in the rank-3 basis of the true effects (a known-answer embedding
    table: the true effects are, up to the target gene's own knock-down, linear in it)."""
    effects = sim.true_log_effect.xs("ctx0", level="context")
    centred = effects - effects.mean(axis=0)
    u, s, _ = np.linalg.svd(centred.to_numpy(), full_matrices=False)
    return pd.DataFrame(u[:, :3] * s[:3], index=effects.index.astype(str))


def test_linear_beats_perturbed_mean_on_unseen_genes_with_low_rank_effects(
    low_rank, tmp_path
) -> None:
    sim, split = low_rank
    path = tmp_path / "embedding.csv"
    oracle_embedding(sim).to_csv(path)
    mean = {
        name: run_model(sim.adata, split, model, ["pdcorr", "pds"])
        .groupby("metric")["value"]
        .mean()
        for name, model in (
            ("linear", Linear(n_components=3, embedding=str(path))),
            ("perturbed_mean", PerturbedMean()),
        )
    }
    assert mean["linear"]["pdcorr"] > 0.9
    assert mean["linear"]["pdcorr"] > mean["perturbed_mean"]["pdcorr"] + 0.2
    assert mean["linear"]["pds"] > 0.9 > mean["perturbed_mean"]["pds"] + 0.3


def coregulated_data(n_genes: int = 100, n_perturbations: int = 40, seed: int = 0):
    """Log-expression where perturbing gene ``t`` shifts every gene ``g`` by ``L[g] · L[t]``: a
    rank-3 network in which a gene's response across perturbations predicts its own effect, the
    premise of the training PCA embedding. Returns (standardised AnnData, single-gene split)."""
    from vcbench.data import load_dataset

    rng = np.random.default_rng(seed)
    loadings = rng.normal(0, 0.5, size=(n_genes, 3))
    genes = [f"g{i:03d}" for i in range(n_genes)]
    targets = rng.choice(n_genes, n_perturbations, replace=False)
    effects = np.vstack([np.zeros(n_genes)] + [loadings @ loadings[t] for t in targets])
    labels = ["control"] + [genes[t] for t in targets]
    n_cells = 20
    x = (
        5.0
        + np.repeat(effects, n_cells, axis=0)
        + rng.normal(0, 0.3, (len(labels) * n_cells, n_genes))
    )
    obs = pd.DataFrame(
        {"condition": np.repeat(labels, n_cells)},
        index=[f"c{i}" for i in range(len(labels) * n_cells)],
    )
    raw = ad.AnnData(np.clip(x, 0, None).astype(np.float32), obs=obs, var=pd.DataFrame(index=genes))
    adata = load_dataset(raw, perturbation_key="condition", context_key=None, control="control")
    return adata, single_gene_split(adata, seed=seed)


def test_linear_with_the_training_pca_embedding_beats_perturbed_mean() -> None:
    adata, split = coregulated_data()
    model = Linear(n_components=3).fit(adata[split.mask(adata, "train")].copy())
    assert model.gene_embedding_.shape == (adata.n_vars, 3)
    assert model.weights_.shape == (3, 3)
    mean = {
        name: run_model(adata, split, m, ["pdcorr", "pds"]).groupby("metric")["value"].mean()
        for name, m in (("linear", Linear(n_components=3)), ("perturbed_mean", PerturbedMean()))
    }
    assert mean["linear"]["pdcorr"] > 0.9
    assert mean["linear"]["pdcorr"] > mean["perturbed_mean"]["pdcorr"] + 0.3
    assert mean["linear"]["pds"] > 0.9


def test_linear_errors(low_rank) -> None:
    sim, split = low_rank
    train = sim.adata[split.mask(sim.adata, "train")].copy()
    table = pd.DataFrame({"d0": [1.0]}, index=["NOT_A_TARGET"])
    with pytest.raises(ModelError, match="No training perturbation has a target in the embedding"):
        Linear(embedding=table).fit(train)
    with pytest.raises(ModelError, match="ridge must be non-negative"):
        Linear(ridge=-1).fit(train)


def test_load_embedding_reads_csv_and_parquet_and_checks(tmp_path) -> None:
    table = pd.DataFrame(
        {"a": [1.0, 2.0], "b": [3.0, 4.0]}, index=pd.Index(["G1", "G2"], name="gene")
    )
    table.to_csv(tmp_path / "t.csv")
    table.reset_index().to_parquet(tmp_path / "t.parquet")
    for name in ("t.csv", "t.parquet"):
        loaded = load_embedding(tmp_path / name)
        assert list(loaded.index) == ["G1", "G2"]
        np.testing.assert_array_equal(loaded.to_numpy(), table.to_numpy())
    with pytest.raises(ModelError, match="does not exist"):
        load_embedding(tmp_path / "missing.csv")


def test_load_embedding_rejects_bad_tables(tmp_path) -> None:
    (tmp_path / "t.txt").write_text("x")
    with pytest.raises(ModelError, match=r"must be \.csv or \.parquet"):
        load_embedding(tmp_path / "t.txt")
    with pytest.raises(ModelError, match="twice"):
        load_embedding(pd.DataFrame({"a": [1.0, 2.0]}, index=["G1", "G1"]))
    with pytest.raises(ModelError, match="non-numeric"):
        load_embedding(pd.DataFrame({"a": ["x", "y"]}, index=["G1", "G2"]))
    with pytest.raises(ModelError, match="NaN"):
        load_embedding(pd.DataFrame({"a": [np.nan, 1.0]}, index=["G1", "G2"]))


def test_embed_targets_sums_parts_and_skips_unknown_names() -> None:
    table = pd.DataFrame({"a": [1.0, 2.0], "b": [10.0, 20.0]}, index=["G1", "G2"])
    out = embed_targets([("G1",), ("G1", "G2"), ("G1", "X"), ()], table)
    np.testing.assert_array_equal(out, [[1, 10], [3, 30], [1, 10], [0, 0]])


def test_pca_gene_embedding_reproduces_the_centred_effects() -> None:
    rng = np.random.default_rng(1)
    effects = rng.normal(size=(8, 3)) @ rng.normal(size=(3, 20))  # rank 3, conditions × genes
    genes = pd.Index([f"g{i}" for i in range(20)])
    embedding = pca_gene_embedding(effects, genes, 3)
    assert embedding.shape == (20, 3) and list(embedding.index) == list(genes)
    centred = effects.T - effects.T.mean(axis=1, keepdims=True)
    # the gene rows span the same space as the centred effect matrix: projecting loses nothing
    q, _ = np.linalg.qr(embedding.to_numpy())
    np.testing.assert_allclose(q @ (q.T @ centred), centred, atol=1e-8)
    with pytest.raises(ModelError, match="n_components must be at least 1"):
        pca_gene_embedding(effects, genes, 0)


def test_perturbation_features_one_hot_and_embedding() -> None:
    table = pd.DataFrame({"a": [3.0, 4.0]}, index=["A", "C"])
    onehot = PerturbationFeatures("onehot").fit([("A",), ("B",), ("A", "B")], None, pd.Index([]))
    np.testing.assert_array_equal(onehot.transform([("A", "B"), ("C",)]), [[1, 1], [0, 0]])
    both = PerturbationFeatures("onehot+embedding", embedding=table).fit(
        [("A",)], None, pd.Index([])
    )
    assert both.n_features == 2
    scale = np.sqrt((3.0**2 + 4.0**2) / 2)
    np.testing.assert_allclose(both.transform([("A",), ("C",)]), [[1, 3 / scale], [0, 4 / scale]])
    with pytest.raises(ModelError, match="Unknown feature kind"):
        PerturbationFeatures("words")  # type: ignore[arg-type]


def test_linear_without_measured_targets_is_the_mean_effect_with_a_warning(low_rank) -> None:
    sim, split = low_rank
    targets = {t for t in sim.adata.obs[c.TARGETS] for t in t.split("+") if t}
    unmeasured = sim.adata[:, ~sim.adata.var_names.isin(targets)].copy()  # no target is measured
    with pytest.warns(UserWarning, match="no training perturbation targets a measured gene"):
        linear = run_model(unmeasured, split, Linear(), ["rmse"])
    mean = run_model(unmeasured, split, PerturbedMean(), ["rmse"])
    np.testing.assert_allclose(linear["value"], mean["value"], rtol=1e-6)
