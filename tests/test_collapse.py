"""The collapse diagnostic (vcbench.metrics.collapse): effect diversity and effect correlation,
on hand-built predictions with known answers and against an independent numpy computation."""

from __future__ import annotations

import itertools
import math

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from vcbench.data import contract as c
from vcbench.data import load_dataset
from vcbench.data.simulate import simulate
from vcbench.metrics.collapse import diversity_and_correlation, effect_collapse
from vcbench.models import Linear, NoChange, PerturbedMean
from vcbench.runner.task import run_model_timed
from vcbench.scenarios.singles import single_split

N_GENES = 30


def _cells(
    means: dict[tuple[str, str], np.ndarray], n: int, rng: np.random.Generator, noise: float
) -> ad.AnnData:
    """``n`` cells per (context, perturbation) around the given mean (controls: perturbation
    ``control``)."""
    keys = list(means)
    x = np.vstack([means[k] + noise * rng.normal(size=(n, N_GENES)) for k in keys])
    obs = pd.DataFrame(
        {
            c.CONTEXT: np.repeat([k[0] for k in keys], n),
            c.PERTURBATION: np.repeat([k[1] for k in keys], n),
            c.IS_CONTROL: np.repeat([k[1] == c.CONTROL for k in keys], n),
        },
        index=[f"cell{i}" for i in range(len(keys) * n)],
    )
    return ad.AnnData(
        x.astype(np.float64), obs=obs, var=pd.DataFrame(index=[f"g{j}" for j in range(N_GENES)])
    )


def _truth(contexts: list[str], n_perts: int, seed: int = 0) -> tuple[ad.AnnData, dict, dict]:
    rng = np.random.default_rng(seed)
    control = {ctx: 2.0 + rng.random(N_GENES) for ctx in contexts}
    effect = {(ctx, f"P{i}"): rng.normal(size=N_GENES) for ctx in contexts for i in range(n_perts)}
    means = {(ctx, c.CONTROL): control[ctx] for ctx in contexts}
    means |= {k: control[k[0]] + v for k, v in effect.items()}
    return _cells(means, 8, rng, 0.3), control, effect


def _conditions(effect: dict) -> pd.DataFrame:
    return pd.DataFrame(list(effect), columns=[c.CONTEXT, c.PERTURBATION])


def _observed(truth: ad.AnnData) -> tuple[dict, dict]:
    """Independent means: pandas groupby over the truth's cells."""
    frame = pd.DataFrame(truth.X, columns=truth.var_names)
    frame[["ctx", "pert"]] = truth.obs[[c.CONTEXT, c.PERTURBATION]].to_numpy()
    means = frame.groupby(["ctx", "pert"]).mean()
    controls = {ctx: means.loc[(ctx, c.CONTROL)].to_numpy() for ctx in means.index.levels[0]}
    perts = {k: means.loc[k].to_numpy() for k in means.index if k[1] != c.CONTROL}
    return perts, controls


def test_one_effect_for_all_gives_correlation_one_and_diversity_zero() -> None:
    truth, _, effect = _truth(["k1"], 6)
    _, controls = _observed(truth)
    rng = np.random.default_rng(1)
    shared = rng.normal(size=N_GENES)
    prediction = _cells({k: controls["k1"] + shared for k in effect}, 5, rng, 0.0)
    found = effect_collapse(prediction, truth, _conditions(effect))
    assert found.effect_correlation == pytest.approx(1.0)
    assert found.effect_diversity == pytest.approx(0.0, abs=1e-9)


def test_scaled_true_effects_give_the_scale_as_diversity() -> None:
    truth, _, effect = _truth(["k1", "k2"], 5)
    perts, controls = _observed(truth)
    rng = np.random.default_rng(2)
    for scale in (0.05, 0.5, 2.0):
        prediction = _cells(
            {k: controls[k[0]] + scale * (perts[k] - controls[k[0]]) for k in effect}, 3, rng, 0.0
        )
        found = effect_collapse(prediction, truth, _conditions(effect))
        assert found.effect_diversity == pytest.approx(scale, rel=1e-9)
        # scaling does not change a correlation: R is the observed deltas' mean pairwise one
        pairs = [
            np.corrcoef(perts[a] - controls[a[0]], perts[b] - controls[b[0]])[0, 1]
            for a, b in itertools.combinations(effect, 2)
            if a[0] == b[0]
        ]
        assert found.effect_correlation == pytest.approx(np.mean(pairs), rel=1e-9)


def test_one_direction_of_different_sizes_is_correlation_one_with_the_diversity_by_hand() -> None:
    truth, _, effect = _truth(["k1"], 4)
    perts, controls = _observed(truth)
    direction = np.linspace(-1.0, 1.0, N_GENES)
    sizes = np.array([0.5, 1.0, 2.0, 4.0])
    keys = sorted(effect)
    prediction = _cells(
        {k: controls["k1"] + s * direction for k, s in zip(keys, sizes, strict=True)},
        1,
        np.random.default_rng(0),
        0.0,
    )
    found = effect_collapse(prediction, truth, _conditions(effect))
    observed_sd = np.mean(np.std([perts[k] - controls["k1"] for k in keys], axis=0, ddof=1))
    expected = np.std(sizes, ddof=1) * np.mean(np.abs(direction)) / observed_sd
    assert found.effect_correlation == pytest.approx(1.0)
    assert found.effect_diversity == pytest.approx(expected, rel=1e-9)


def test_matches_an_independent_computation_on_cells_of_several_contexts() -> None:
    truth, _, effect = _truth(["k1", "k2", "k3"], 5, seed=3)
    rng = np.random.default_rng(4)
    guesses = {k: 2.5 + 0.4 * rng.normal(size=N_GENES) for k in effect}
    prediction = _cells(guesses, 7, rng, 0.5)
    prediction.X = sparse.csr_matrix(prediction.X)  # sparse input gives the same numbers
    prediction = prediction[:, prediction.var_names[::-1]].copy()  # another gene order
    found = effect_collapse(prediction, truth, _conditions(effect))

    predicted = pd.DataFrame(prediction.X.toarray(), columns=prediction.var_names)[truth.var_names]
    predicted[["ctx", "pert"]] = prediction.obs[[c.CONTEXT, c.PERTURBATION]].to_numpy()
    predicted = predicted.groupby(["ctx", "pert"]).mean()
    perts, controls = _observed(truth)
    sd_pred, sd_obs, correlations = [], [], []
    for ctx in ["k1", "k2", "k3"]:
        keys = [k for k in effect if k[0] == ctx]
        e = np.array([predicted.loc[k].to_numpy() - controls[ctx] for k in keys])
        d = np.array([perts[k] - controls[ctx] for k in keys])
        sd_pred += list(np.std(e, axis=0, ddof=1))
        sd_obs += list(np.std(d, axis=0, ddof=1))
        correlations += [np.corrcoef(a, b)[0, 1] for a, b in itertools.combinations(e, 2)]
    assert found.effect_diversity == pytest.approx(np.mean(sd_pred) / np.mean(sd_obs), rel=1e-9)
    assert found.effect_correlation == pytest.approx(np.mean(correlations), rel=1e-9)


def test_constant_deltas_have_no_correlation_and_single_conditions_no_diversity() -> None:
    x0 = np.ones(N_GENES)
    zero = [np.tile(x0, (3, 1))]  # every predicted delta is 0: constant
    observed = [x0 + np.random.default_rng(0).normal(size=(3, N_GENES))]
    found = diversity_and_correlation(zero, observed, [x0])
    assert math.isnan(found.effect_correlation)
    assert found.effect_diversity == 0.0
    one = diversity_and_correlation([zero[0][:1]], [observed[0][:1]], [x0])
    assert math.isnan(one.effect_diversity) and math.isnan(one.effect_correlation)


def test_the_runner_records_the_diagnostic_of_each_task() -> None:
    sim = simulate(
        n_contexts=1, n_genes=40, n_singles=16, n_combinations=0, cells_per_condition=20, seed=2
    )
    obs = sim.adata.obs[["perturbation", "cell_type"]].copy()
    raw = ad.AnnData(sim.adata.layers["counts"].copy(), obs=obs, var=sim.adata.var[[]])
    data = load_dataset(raw, "perturbation", "cell_type", "control")
    split = single_split(data, "single", seed=0)
    _, pooled = run_model_timed(data, split, PerturbedMean(), ["pdcorr"])
    assert pooled["effect_correlation"] == pytest.approx(1.0, abs=1e-6)  # one effect for all
    assert pooled["effect_diversity"] < 0.05
    _, unchanged = run_model_timed(data, split, NoChange(), ["pdcorr"])
    assert math.isnan(unchanged["effect_correlation"]) and unchanged["effect_diversity"] < 1e-3
    _, linear = run_model_timed(data, split, Linear(), ["pdcorr"])
    assert linear["effect_diversity"] > 0.1 and linear["effect_correlation"] < 0.98
