"""The calibration controls on the models' footing: the held-out half, the replicate's known noise
level on the simulator, and the collapse control."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from vcbench.data import contract as c
from vcbench.data.simulate import simulate
from vcbench.models.base import PerturbationModel, Queries
from vcbench.runner.halves import half_a_mask
from vcbench.runner.replicate import collapse_scores, replicate_scores
from vcbench.runner.task import run_model, truth_for
from vcbench.scenarios import combo_split


@pytest.fixture(scope="module")
def sim():
    return simulate(
        n_contexts=1,
        n_genes=40,
        n_singles=8,
        n_combinations=5,
        cells_per_condition=120,
        n_control_cells=300,
        effect_scale=0.6,
        seed=3,
    )


@pytest.fixture(scope="module")
def split(sim):
    return combo_split(sim.adata, unseen_fraction=0.4, seed=0)


def _dense(x) -> np.ndarray:
    return x.toarray() if sparse.issparse(x) else np.asarray(x)


def test_half_a_takes_half_of_every_test_condition_and_nothing_else(sim, split) -> None:
    adata = sim.adata
    mask = half_a_mask(adata, split, seed=0)
    test = split.mask(adata, "test") & ~adata.obs[c.IS_CONTROL].to_numpy()
    assert not (mask & ~test).any()
    labels = adata.obs[c.PERTURBATION].astype(str)
    for perturbation in split.test_conditions[c.PERTURBATION].astype(str):
        n = int((test & (labels == perturbation).to_numpy()).sum())
        assert int((mask & (labels == perturbation).to_numpy()).sum()) == n // 2
    assert not np.array_equal(mask, half_a_mask(adata, split, seed=1))
    held_out = truth_for(adata, split, held_out_seed=0)
    assert not held_out.obs_names.isin(adata.obs_names[mask]).any()
    assert held_out.obs[c.IS_CONTROL].sum() == adata.obs[c.IS_CONTROL].sum()  # every control


class _HalfA(PerturbationModel):
    """A 'model' that returns half A's real cells: the replicate, run as a model."""

    name = "half_a"

    def __init__(self, adata: ad.AnnData, mask: np.ndarray) -> None:
        self.cells = adata[mask].copy()

    def fit(self, train: ad.AnnData) -> _HalfA:
        return self

    def predict(self, queries: Queries) -> ad.AnnData:
        return self.cells


def test_replicate_is_scored_exactly_like_a_model_on_the_held_out_half(sim, split) -> None:
    metrics = ["rmse", "pdcorr", "de_overlap", "energy_distance"]
    seed = 2
    as_model = run_model(
        sim.adata, split, _HalfA(sim.adata, half_a_mask(sim.adata, split, seed)), metrics, seed
    )
    replicate = replicate_scores(sim.adata, split, metrics, seed=seed)
    keys = ["context", "perturbation", "metric"]
    merged = as_model.merge(replicate, on=keys, suffixes=("_model", "_replicate"))
    assert len(merged) == len(as_model) == len(replicate)
    np.testing.assert_allclose(merged["value_model"], merged["value_replicate"], rtol=1e-12)


def test_replicate_mse_matches_the_sampling_noise_of_two_independent_halves(sim, split) -> None:
    """E[mse] of two independent means of n_A and n_B iid cells = mean_g σ_g² (1/n_A + 1/n_B)."""
    adata = sim.adata
    seed = 0
    scores = replicate_scores(adata, split, ["mse"], seed=seed)
    half_a = half_a_mask(adata, split, seed)
    test = split.mask(adata, "test") & ~adata.obs[c.IS_CONTROL].to_numpy()
    labels = adata.obs[c.PERTURBATION].astype(str).to_numpy()
    expected = []
    for perturbation in scores["perturbation"]:
        rows = test & (labels == perturbation)
        x = _dense(adata.X[rows]).astype(np.float64)
        n_a = int((rows & half_a).sum())
        n_b = int(rows.sum()) - n_a
        expected.append(np.mean(x.var(axis=0, ddof=1)) * (1 / n_a + 1 / n_b))
    ratio = scores["value"].to_numpy() / np.array(expected)
    assert 0.85 < ratio.mean() < 1.15  # 40 genes × 5+ conditions: the mean ratio is near 1


def test_collapse_control_is_an_oracle_on_means_and_penalised_on_distributions(sim, split) -> None:
    metrics = ["mse", "pdcorr", "energy_distance"]
    collapse = collapse_scores(sim.adata, split, metrics, seed=0)
    replicate = replicate_scores(sim.adata, split, metrics, seed=0)
    by = {
        name: frame.pivot(index="perturbation", columns="metric", values="value")
        for name, frame in (("collapse", collapse), ("replicate", replicate))
    }
    assert np.allclose(by["collapse"]["mse"], 0.0, atol=1e-10)
    assert np.allclose(by["collapse"]["pdcorr"], 1.0)
    assert (by["collapse"]["energy_distance"] > by["replicate"]["energy_distance"]).all()


def test_perturbed_mean_falls_below_the_replicate_on_the_held_out_half(sim, split) -> None:
    from vcbench.models.baselines import PerturbedMean

    seed = 0
    model = run_model(sim.adata, split, PerturbedMean(), ["pdcorr", "rmse"], seed)
    replicate = replicate_scores(sim.adata, split, ["pdcorr", "rmse"], seed=seed)
    means = pd.concat([model.assign(m="pm"), replicate.assign(m="rep")]).groupby(["m", "metric"])
    means = means["value"].mean()
    assert means["rep", "pdcorr"] > means["pm", "pdcorr"]
    assert means["rep", "rmse"] < means["pm", "rmse"]


def test_controls_scored_with_the_splits_truth_cache_are_bit_identical(sim, split) -> None:
    from vcbench.metrics.truth_cache import TruthCache

    metrics = ["rmse", "pdcorr", "de_overlap", "energy_distance", "sinkhorn", "de_test_overlap"]
    cache = TruthCache()
    for score in (collapse_scores, replicate_scores):  # the collapse control fills the cache
        alone = score(sim.adata, split, metrics, 1)
        shared = score(sim.adata, split, metrics, 1, cache)
        pd.testing.assert_frame_equal(alone, shared, check_exact=True)
    assert cache.misses > 0 and cache.hits > 0  # the replicate reused the collapse's statistics
