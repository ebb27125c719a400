"""The numpy baselines on simulated data with a known answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vcbench.data import contract as c
from vcbench.data.simulate import simulate
from vcbench.metrics import evaluate
from vcbench.models import Additive, PerturbationMean, PerturbedMean, RandomPerturbation
from vcbench.models.base import predict_by_shift
from vcbench.models.effects import TrainingEffects
from vcbench.runner import queries_for, run_model, truth_for
from vcbench.scenarios import combo_split
from vcbench.scenarios.split import Split


def manual_split(adata, test: pd.DataFrame, train_mask: np.ndarray) -> Split:
    """A split with the given test conditions; cells in ``train_mask`` train, test cells test."""
    obs = adata.obs
    keys = pd.MultiIndex.from_arrays([obs[c.CONTEXT].astype(str), obs[c.PERTURBATION].astype(str)])
    is_test = keys.isin(pd.MultiIndex.from_frame(test)) & ~obs[c.IS_CONTROL].to_numpy()
    role = pd.Series("unused", index=obs.index, dtype=object)
    role[train_mask & ~is_test] = "train"
    role[is_test] = "test"
    conditions = test.copy()
    conditions["split_category"] = "test"
    conditions["n_cells"] = [
        int(((keys == k) & is_test).sum()) for k in zip(*test.T.values, strict=True)
    ]
    return Split("manual", {}, 0, "", role.astype("category"), conditions.reset_index(drop=True))


def true_log1p_effects(sim, conditions: pd.DataFrame) -> np.ndarray:
    """The ground truth's effect in the data's space: log1p of the normalised true mean minus the
    same of the context's controls (exact up to the log1p of the mean versus the mean of log1p)."""

    def log_normalised(mu: np.ndarray) -> np.ndarray:
        return np.log1p(c.TARGET_SUM * mu / mu.sum(axis=-1, keepdims=True))

    mean = sim.true_mean
    rows = list(zip(conditions[c.CONTEXT], conditions[c.PERTURBATION], strict=True))
    controls = [(k, c.CONTROL) for k, _ in rows]
    return log_normalised(mean.loc[rows].to_numpy()) - log_normalised(mean.loc[controls].to_numpy())


@pytest.fixture(scope="module")
def additive_sim():
    # exactly additive combinations (no interaction) and no shared shift
    return simulate(
        n_contexts=1,
        n_genes=100,
        n_singles=16,
        n_combinations=40,
        cells_per_condition=60,
        n_control_cells=200,
        interaction_scale=0.0,
        systematic_shift=0.0,
        seed=3,
    )


def test_additive_recovers_additive_combinations(additive_sim) -> None:
    adata = additive_sim.adata
    split = combo_split(adata, unseen_fraction=0.25, seed=0)
    scores = run_model(adata, split, Additive(), ["pdcorr"])
    seen2 = scores[scores["split_category"] == "combo_unseen0"]
    assert len(seen2) >= 10
    # the ground truth's own pdcorr (limited only by sampling noise), for the same conditions
    queries = queries_for(adata, split)
    oracle = predict_by_shift(
        queries, true_log1p_effects(additive_sim, queries.conditions), adata.var_names
    )
    truth = evaluate(oracle, truth_for(adata, split), metrics=["pdcorr"])
    truth = truth[truth["perturbation"].isin(seen2["perturbation"])]
    assert seen2["value"].mean() == pytest.approx(truth["value"].mean(), abs=0.05)
    assert seen2["value"].mean() > 0.9
    baseline = run_model(adata, split, PerturbedMean(), ["pdcorr"])
    assert baseline.query("split_category == 'combo_unseen0'")["value"].mean() < 0.7


def _clipped_shift(controls: np.ndarray, effect: np.ndarray) -> np.ndarray:
    """The mean effect of shifting every control cell by ``effect`` and clipping at 0."""
    return np.maximum(controls + effect, 0).mean(axis=0) - controls.mean(axis=0)


def test_additive_sums_the_training_single_effects(additive_sim) -> None:
    adata = additive_sim.adata
    split = combo_split(adata, unseen_fraction=0.25, seed=0)
    train = adata[split.mask(adata, "train")].copy()
    x = train.X.toarray()
    obs = train.obs
    control = x[obs[c.IS_CONTROL].to_numpy()].mean(axis=0)

    def effect(label: str) -> np.ndarray:
        return x[(obs[c.PERTURBATION] == label).to_numpy()].mean(axis=0) - control

    queries = queries_for(adata, split)
    prediction = Additive(max_cells=None).fit(train).predict(queries)
    query_control = queries.controls.X.toarray().mean(axis=0)
    fallback = x[~obs[c.IS_CONTROL].to_numpy()].mean(axis=0) - query_control
    seen = set(obs.loc[obs[c.N_TARGETS] == 1, c.PERTURBATION].astype(str))
    for label, category in split.test_conditions[[c.PERTURBATION, "split_category"]].values:
        parts = label.split("+")
        expected = sum(effect(p) if p in seen else fallback for p in parts)
        cells = prediction[(prediction.obs[c.PERTURBATION] == label).to_numpy()].X
        got = cells.mean(axis=0) - query_control
        expected = _clipped_shift(queries.controls.X.toarray(), expected)
        np.testing.assert_allclose(got, expected, atol=1e-4, err_msg=f"{label} ({category})")


@pytest.fixture(scope="module")
def shared_sim():
    # the same effects in every context (context_modulation = 0), no shared shift
    return simulate(
        n_contexts=3,
        n_genes=60,
        n_singles=10,
        n_combinations=0,
        cells_per_condition=40,
        n_control_cells=100,
        context_modulation=0.0,
        systematic_shift=0.0,
        seed=4,
    )


def unseen_context_split(adata, context: str = "ctx2") -> Split:
    """All perturbations of ``context`` are tested; its controls and all other cells train."""
    obs = adata.obs
    in_context = (obs[c.CONTEXT] == context).to_numpy()
    labels = sorted(
        obs.loc[in_context & ~obs[c.IS_CONTROL].to_numpy(), c.PERTURBATION].astype(str).unique()
    )
    test = pd.DataFrame({c.CONTEXT: context, c.PERTURBATION: labels})
    return manual_split(adata, test, np.ones(adata.n_obs, dtype=bool))


def test_perturbation_mean_beats_perturbed_mean_in_an_unseen_context(shared_sim) -> None:
    adata = shared_sim.adata
    split = unseen_context_split(adata)
    assert set(split.test_conditions[c.CONTEXT]) == {"ctx2"}
    mean = {
        model.name: run_model(adata, split, model, ["pdcorr", "pds"])
        .groupby("metric")["value"]
        .mean()
        for model in (PerturbationMean(), PerturbedMean())
    }
    assert mean["perturbation_mean"]["pdcorr"] > 0.8
    assert mean["perturbation_mean"]["pdcorr"] > mean["perturbed_mean"]["pdcorr"] + 0.3
    assert mean["perturbation_mean"]["pds"] > 0.9 > mean["perturbed_mean"]["pds"] + 0.3


def test_perturbation_mean_averages_contexts_and_falls_back(shared_sim) -> None:
    adata = shared_sim.adata
    split = unseen_context_split(adata)
    train = adata[split.mask(adata, "train")].copy()
    effects = TrainingEffects.from_train(train)
    label = split.test_conditions[c.PERTURBATION].iloc[0]
    rows = (effects.conditions[c.PERTURBATION] == label).to_numpy()
    assert set(effects.conditions.loc[rows, c.CONTEXT]) == {"ctx0", "ctx1"}
    # the oracle, by hand from the training cells: per context, the label's mean minus the
    # controls' mean, then averaged over the two contexts
    x, obs = train.X.toarray() if hasattr(train.X, "toarray") else train.X, train.obs

    def cells(ctx: str, label: str) -> np.ndarray:
        keep = (obs[c.CONTEXT] == ctx) & (obs[c.PERTURBATION].astype(str) == label)
        return x[keep.to_numpy()].astype(np.float64)

    control_label = str(obs.loc[obs[c.IS_CONTROL], c.PERTURBATION].iloc[0])
    expected = np.mean(
        [
            cells(ctx, label).mean(axis=0) - cells(ctx, control_label).mean(axis=0)
            for ctx in ("ctx0", "ctx1")
        ],
        axis=0,
    )
    queries = queries_for(adata, split)
    extra = pd.DataFrame({c.CONTEXT: ["ctx2", "ctx2"], c.PERTURBATION: [label, "NEVER_SEEN"]})
    queries = type(queries)(conditions=extra, controls=queries.controls)
    prediction = PerturbationMean(max_cells=None).fit(train).predict(queries)
    control = queries.controls.X.toarray().mean(axis=0)
    seen = prediction[(prediction.obs[c.PERTURBATION] == label).to_numpy()]
    expected = _clipped_shift(queries.controls.X.toarray(), expected)
    np.testing.assert_allclose(seen.X.mean(axis=0) - control, expected, atol=1e-4)
    unseen = prediction[(prediction.obs[c.PERTURBATION] == "NEVER_SEEN").to_numpy()]
    fallback = PerturbedMean(max_cells=None).fit(train).predict(queries)
    np.testing.assert_allclose(
        unseen.X, fallback[(fallback.obs[c.PERTURBATION] == "NEVER_SEEN").to_numpy()].X, atol=1e-5
    )


def test_random_perturbation_predicts_training_effects_chosen_by_seed(additive_sim) -> None:
    adata = additive_sim.adata
    split = combo_split(adata, unseen_fraction=0.25, seed=0)
    train = adata[split.mask(adata, "train")].copy()
    effects = TrainingEffects.from_train(train).effects
    queries = queries_for(adata, split)
    control = queries.controls.X.toarray().mean(axis=0)
    effects = np.array([_clipped_shift(queries.controls.X.toarray(), e) for e in effects])

    def chosen(seed: int) -> list[int]:
        prediction = RandomPerturbation(max_cells=None, seed=seed).fit(train).predict(queries)
        out = []
        for label in queries.conditions[c.PERTURBATION]:
            got = prediction[(prediction.obs[c.PERTURBATION] == label).to_numpy()].X.mean(axis=0)
            distance = np.abs(effects - (got - control)).max(axis=1)
            assert distance.min() < 1e-4  # exactly one training perturbation's effect
            out.append(int(distance.argmin()))
        return out

    first = chosen(0)
    assert chosen(0) == first
    assert chosen(1) != first
    assert len(set(first)) > 3
