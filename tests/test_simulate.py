"""Tests of vcbench.data.simulate: the simulator's data agree with its stated ground truth."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from vcbench.data import contract as c
from vcbench.data.simulate import Simulation, simulate

SMALL = {
    "n_contexts": 2,
    "n_genes": 40,
    "n_singles": 6,
    "n_combinations": 5,
    "cells_per_condition": 8,
    "n_control_cells": 12,
}


def _dense(matrix) -> np.ndarray:
    return matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)


def _counts(sim: Simulation) -> np.ndarray:
    return _dense(sim.adata.layers[c.COUNTS_LAYER])


def _parts(label: str) -> tuple[str, str]:
    a, b = label.split(c.COMBINATION_DELIMITER)
    return a, b


@pytest.fixture(scope="module")
def large() -> Simulation:
    """One context, a few conditions with many cells each: empirical means are precise."""
    return simulate(
        n_contexts=1,
        n_genes=40,
        n_singles=3,
        n_combinations=1,
        cells_per_condition=4000,
        n_control_cells=4000,
        dispersion=10.0,
        library_size_sd=0.3,
        seed=1,
    )


def _nb_bound(mu: np.ndarray, n: int, theta: float, sf_sd: float) -> np.ndarray:
    """5 standard errors of the mean of n counts: NB(f * mu, theta) with f lognormal of mean 1."""
    v = math.exp(sf_sd**2) - 1.0  # var(f)
    var = mu + mu**2 * (1.0 + v) / theta + mu**2 * v
    return 5.0 * np.sqrt(var / n) + 1e-3


def _within_bound(emp: np.ndarray, truth: np.ndarray, n: int, sim: Simulation) -> bool:
    bound = _nb_bound(truth, n, sim.params["dispersion"], sim.params["library_size_sd"])
    return bool(np.all(np.abs(emp - truth) <= bound))


def test_empirical_means_match_true_mean(large: Simulation) -> None:
    counts = _counts(large)
    labels = large.adata.obs[c.PERTURBATION].astype(str).to_numpy()
    conditions = list(large.true_mean.loc["ctx0"].index)
    assert len(conditions) == 5
    for i, cond in enumerate(conditions):
        mask = labels == cond
        emp = counts[mask].mean(axis=0)
        truth = large.true_mean.loc[("ctx0", cond)].to_numpy()
        assert _within_bound(emp, truth, int(mask.sum()), large), cond
        # A wrong truth fails the same check: another condition's means, or a 10% bias.
        other = large.true_mean.loc[("ctx0", conditions[(i + 1) % len(conditions)])].to_numpy()
        assert not _within_bound(emp, other, int(mask.sum()), large), cond
        assert not _within_bound(emp, truth * 1.1, int(mask.sum()), large), cond


def test_size_factors_have_mean_one_and_requested_spread(large: Simulation) -> None:
    sf = large.adata.obs["size_factor"].to_numpy()
    assert abs(sf.mean() - 1.0) < 5 * sf.std() / math.sqrt(sf.size)
    assert np.log(sf).std() == pytest.approx(0.3, rel=0.05)


def test_count_variance_is_negative_binomial(large: Simulation) -> None:
    counts = _counts(large)
    mask = large.adata.obs[c.IS_CONTROL].to_numpy()
    mu = large.true_mean.loc[("ctx0", c.CONTROL)].to_numpy()
    v = math.exp(0.3**2) - 1.0
    nb_var = mu + mu**2 * (1.0 + v) / 10.0 + mu**2 * v
    emp_var = counts[mask].var(axis=0, ddof=1)
    keep = mu > 5
    assert keep.sum() >= 10
    ratio = emp_var[keep] / nb_var[keep]
    assert np.median(ratio) == pytest.approx(1.0, abs=0.1)
    assert np.median(emp_var[keep] / mu[keep]) > 2  # far from Poisson


def test_same_seed_same_data_other_seed_different() -> None:
    a, b = simulate(**SMALL, seed=3), simulate(**SMALL, seed=3)
    assert (a.adata.layers[c.COUNTS_LAYER] != b.adata.layers[c.COUNTS_LAYER]).nnz == 0
    pd.testing.assert_frame_equal(a.true_mean, b.true_mean, check_exact=True)
    pd.testing.assert_frame_equal(a.adata.obs, b.adata.obs)
    assert a.params == b.params
    other = simulate(**SMALL, seed=4)
    assert not np.allclose(a.true_mean.to_numpy(), other.true_mean.to_numpy())
    assert not np.array_equal(_counts(a), _counts(other))


def test_shapes_labels_and_standard_columns() -> None:
    sim = simulate(**SMALL, seed=5)
    adata, obs = sim.adata, sim.adata.obs
    n_cond = SMALL["n_singles"] + SMALL["n_combinations"]
    per_context = SMALL["n_control_cells"] + n_cond * SMALL["cells_per_condition"]
    assert adata.shape == (SMALL["n_contexts"] * per_context, SMALL["n_genes"])
    genes = [f"G{i:04d}" for i in range(SMALL["n_genes"])]
    assert list(adata.var_names) == genes
    assert c.is_standardised(adata)
    assert set(c.STANDARD_COLUMNS) <= set(obs.columns)
    assert set(obs[c.DATASET].astype(str)) == {"simulated"}
    assert set(obs[c.CONTEXT].cat.categories) == {"ctx0", "ctx1"}

    singles, combos = sim.params["singles"], sim.params["combinations"]
    assert len(singles) == len(set(singles)) == SMALL["n_singles"]
    assert set(singles) <= set(genes)
    assert len(combos) == len(set(combos)) == SMALL["n_combinations"]
    for combo in combos:
        a, b = _parts(combo)
        assert a < b and a in singles and b in singles
    assert set(obs[c.PERTURBATION].cat.categories) == {c.CONTROL, *singles, *combos}

    sizes = obs.groupby([c.CONTEXT, c.PERTURBATION], observed=True).size()
    for ctx in ("ctx0", "ctx1"):
        assert sizes[(ctx, c.CONTROL)] == SMALL["n_control_cells"]
        for label in [*singles, *combos]:
            assert sizes[(ctx, label)] == SMALL["cells_per_condition"]
    assert obs[c.IS_CONTROL].sum() == SMALL["n_contexts"] * SMALL["n_control_cells"]
    expected_n = (
        obs[c.PERTURBATION]
        .astype(str)
        .map(lambda s: 0 if s == c.CONTROL else len(s.split(c.COMBINATION_DELIMITER)))
    )
    assert (obs[c.N_TARGETS].to_numpy() == expected_n.to_numpy()).all()

    counts = _counts(sim)
    assert counts.min() >= 0 and np.array_equal(counts, np.round(counts))
    assert counts.sum() > 0

    rows = pd.MultiIndex.from_product([["ctx0", "ctx1"], [c.CONTROL, *singles, *combos]])
    assert list(sim.true_mean.index) == list(rows)
    assert list(sim.true_mean.columns) == genes
    assert list(sim.true_log_effect.index) == [r for r in rows if r[1] != c.CONTROL]
    assert list(sim.systematic_direction.index) == genes
    json.dumps(sim.params)
    assert sim.params["n_genes"] == SMALL["n_genes"] and sim.params["seed"] == 5


def test_log_effect_is_log_mean_ratio_to_controls() -> None:
    sim = simulate(**SMALL, systematic_shift=0.5, interaction_scale=0.5, seed=6)
    log_mean = np.log(sim.true_mean)
    for (ctx, label), effect in sim.true_log_effect.iterrows():
        expected = log_mean.loc[(ctx, label)] - log_mean.loc[(ctx, c.CONTROL)]
        np.testing.assert_allclose(effect.to_numpy(), expected.to_numpy(), atol=1e-9)


def test_combinations_are_additive_without_interaction() -> None:
    shift = 0.7
    sim = simulate(**SMALL, systematic_shift=shift, interaction_scale=0.0, seed=7)
    s = sim.systematic_direction.to_numpy()
    eff = sim.true_log_effect
    for ctx in ("ctx0", "ctx1"):
        for combo in sim.params["combinations"]:
            a, b = _parts(combo)
            expected = eff.loc[(ctx, a)] + eff.loc[(ctx, b)] - shift * s
            np.testing.assert_allclose(eff.loc[(ctx, combo)], expected, atol=1e-12)

    inter = simulate(**SMALL, systematic_shift=shift, interaction_scale=0.5, seed=7)
    eff = inter.true_log_effect
    for combo in inter.params["combinations"]:
        a, b = _parts(combo)
        residual = (
            eff.loc[("ctx0", combo)] - eff.loc[("ctx0", a)] - eff.loc[("ctx0", b)] + shift * s
        )
        assert np.abs(residual).max() > 0.1


def test_systematic_direction_is_the_shift_every_perturbation_shares() -> None:
    base = simulate(**SMALL, systematic_shift=0.0, seed=8)
    shifted = simulate(**SMALL, systematic_shift=1.5, seed=8)
    diff = shifted.true_log_effect - base.true_log_effect
    expected = np.tile(1.5 * shifted.systematic_direction.to_numpy(), (len(diff), 1))
    np.testing.assert_allclose(diff.to_numpy(), expected, atol=1e-12)
    assert np.abs(expected).max() > 0.5


def test_context_modulation() -> None:
    same = simulate(**SMALL, context_modulation=0.0, seed=9).true_log_effect
    np.testing.assert_allclose(same.loc["ctx0"].to_numpy(), same.loc["ctx1"].to_numpy(), atol=1e-12)
    varied = simulate(**SMALL, context_modulation=0.3, seed=9).true_log_effect
    assert np.abs(varied.loc["ctx0"].to_numpy() - varied.loc["ctx1"].to_numpy()).max() > 0.05


def _mean_pairwise_correlation(effects: pd.DataFrame) -> float:
    corr = np.corrcoef(effects.to_numpy())
    return float(corr[np.triu_indices_from(corr, k=1)].mean())


def test_systematic_shift_raises_correlation_between_perturbations() -> None:
    kwargs = {**SMALL, "n_genes": 200, "n_singles": 20, "n_combinations": 0, "seed": 10}
    without = simulate(**kwargs, systematic_shift=0.0).true_log_effect.loc["ctx0"]
    with_shift = simulate(**kwargs, systematic_shift=1.0).true_log_effect.loc["ctx0"]
    low, high = _mean_pairwise_correlation(without), _mean_pairwise_correlation(with_shift)
    assert abs(low) < 0.15
    assert high > low + 0.2


def test_target_effect_lowers_the_target_gene() -> None:
    none = simulate(**SMALL, target_effect=0.0, seed=11)
    knock = simulate(**SMALL, target_effect=-2.0, seed=11)
    diff = knock.true_log_effect - none.true_log_effect
    ratio = knock.true_mean / none.true_mean
    for (ctx, label), row in diff.iterrows():
        targets = list(label.split(c.COMBINATION_DELIMITER))
        np.testing.assert_allclose(row[targets].to_numpy(), -2.0, atol=1e-12)
        np.testing.assert_allclose(row.drop(targets).to_numpy(), 0.0, atol=1e-12)
        np.testing.assert_allclose(ratio.loc[(ctx, label), targets], math.exp(-2.0), rtol=1e-9)
        assert (
            knock.true_mean.loc[(ctx, label), targets] < none.true_mean.loc[(ctx, label), targets]
        ).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_singles": 4, "n_combinations": 7}, "n_combinations"),
        ({"n_genes": 10, "n_singles": 11, "n_combinations": 0}, "n_singles"),
        ({"n_genes": 0}, "n_genes"),
        ({"n_contexts": 0}, "n_contexts"),
        ({"cells_per_condition": 0}, "cells_per_condition"),
        ({"n_control_cells": -5}, "n_control_cells"),
        ({"effect_rank": 1.5}, "effect_rank"),
        ({"n_contexts": True}, "n_contexts"),
        ({"dispersion": 0.0}, "dispersion"),
        ({"mean_library_size": -1.0}, "mean_library_size"),
        ({"library_size_sd": -0.1}, "library_size_sd"),
        ({"effect_scale": float("nan")}, "effect_scale"),
        ({"target_effect": float("inf")}, "target_effect"),
        ({"seed": -1}, "seed"),
        ({"effect_scale": 100.0}, "overflow"),
    ],
)
def test_invalid_parameters_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        simulate(**{**SMALL, **kwargs})
