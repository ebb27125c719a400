"""Counterfactual validation of the deep models (vcbench.models.deep.selection): what is held out,
how a prediction of it is scored (against scipy), how the epoch is chosen, and that the chosen
model is refitted on every training cell."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy.stats import pearsonr

from vcbench.data import contract as c
from vcbench.data.simulate import simulate

torch = pytest.importorskip("torch")

from vcbench.models import get_model  # noqa: E402
from vcbench.models.deep.selection import (  # noqa: E402
    FORM_MARGIN,
    MIN_VALIDATION_CONDITIONS,
    SCORE_TIE,
    Selection,
    ValidationEffects,
    held_out_cells,
)
from vcbench.models.effects import TrainingEffects  # noqa: E402
from vcbench.models.embeddings import pca_gene_embedding  # noqa: E402
from vcbench.runner.task import run_model_timed  # noqa: E402
from vcbench.scenarios.singles import single_split  # noqa: E402


def _obs(contexts: list[str], labels: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            c.CONTEXT: contexts,
            c.PERTURBATION: labels,
            c.IS_CONTROL: [label == c.CONTROL for label in labels],
        }
    )


def test_perturbation_unit_holds_out_whole_labels_in_every_context_and_is_seeded() -> None:
    labels = [f"G{i}" for i in range(20)]
    obs = _obs(["a"] * 21 + ["b"] * 21, [*labels, c.CONTROL] * 2)
    unit, held, mask = held_out_cells(obs, "perturbation", 0.2, seed=3)
    assert unit == "perturbation" and len(held) == 4  # 8 conditions, the minimum
    # every cell of a held-out label, in both contexts, and no control
    expected = obs[c.PERTURBATION].isin(held).to_numpy()
    np.testing.assert_array_equal(mask, expected)
    assert held == held_out_cells(obs, "perturbation", 0.2, seed=3)[1]
    draws = {tuple(held_out_cells(obs, "perturbation", 0.2, seed=s)[1]) for s in range(8)}
    assert len(draws) > 1  # the seed decides


def test_context_unit_holds_out_perturbed_cells_of_contexts_and_keeps_their_controls() -> None:
    labels = [f"G{i}" for i in range(MIN_VALIDATION_CONDITIONS)]
    obs = _obs([k for k in "abcd" for _ in range(len(labels) + 1)], [*labels, c.CONTROL] * 4)
    unit, held, mask = held_out_cells(obs, "context", 0.25, seed=0)
    assert unit == "context" and len(held) == 1
    in_held = obs[c.CONTEXT].isin(held).to_numpy()
    np.testing.assert_array_equal(mask, in_held & ~obs[c.IS_CONTROL].to_numpy())


def test_too_few_contexts_or_validation_conditions() -> None:
    labels = [f"G{i}" for i in range(20)]
    obs = _obs(["a"] * 21 + ["b"] * 21, [*labels, c.CONTROL] * 2)
    assert held_out_cells(obs, "context", 0.2, seed=0)[0] == "perturbation"  # 2 contexts
    # 15 labels in one context: 3 validation conditions, too few to score
    few = _obs(["a"] * 16, [*labels[:15], c.CONTROL])
    assert held_out_cells(few, "perturbation", 0.2, seed=0) is None
    with pytest.raises(ValueError, match="unknown held-out unit"):
        held_out_cells(obs, "dataset", 0.2, seed=0)


def test_combination_unit_holds_out_training_combinations_and_keeps_their_parts() -> None:
    singles = [f"G{i}" for i in range(10)]
    combos = [f"G{i}+G{j}" for i in range(10) for j in range(i + 1, 10)][:40]
    obs = _obs(["a"] * 51, [*singles, *combos, c.CONTROL])
    obs[c.N_TARGETS] = [1] * 10 + [2] * 40 + [0]
    unit, held, mask = held_out_cells(obs, "combination", 0.2, seed=1)
    assert unit == "combination" and len(held) == 8 and all("+" in h for h in held)
    np.testing.assert_array_equal(mask, obs[c.PERTURBATION].isin(held).to_numpy())
    # too few training combinations to score (4 of 20): nothing held out, not the singles
    few = obs.iloc[[*range(30), 50]]
    assert held_out_cells(few, "combination", 0.2, seed=1) is None


def test_the_runner_names_the_unit_the_scenario_holds_out() -> None:
    from vcbench.runner.task import held_out_unit
    from vcbench.scenarios import combo_split, context_split

    adata = simulate(n_contexts=4, n_singles=12, n_combinations=8, cells_per_condition=5).adata
    assert held_out_unit(single_split(adata, seed=0)) == "perturbation"
    assert held_out_unit(context_split(adata, seed=0)) == "context"
    one = adata[adata.obs[c.CONTEXT] == adata.obs[c.CONTEXT].iloc[0]].copy()
    assert held_out_unit(combo_split(one, seed=0)) == "combination"


def _cells(x: np.ndarray, contexts: list[str], labels: list[str]) -> ad.AnnData:
    obs = _obs(contexts, labels)
    obs.index = obs.index.astype(str)
    return ad.AnnData(X=x.astype(np.float32), obs=obs)


def test_validation_score_is_the_mean_pearson_of_effects_against_training_controls() -> None:
    rng = np.random.default_rng(0)
    kept = _cells(rng.normal(size=(6, 5)), ["a", "a", "b", "b", "a", "b"], [c.CONTROL] * 6)
    held = _cells(
        rng.normal(size=(6, 5)), ["a", "a", "b", "b", "b", "a"], ["P", "P", "P", "P", "Q", "Q"]
    )
    target = ValidationEffects.from_cells(held, kept)
    control = {k: kept.X[kept.obs[c.CONTEXT] == k].mean(axis=0) for k in "ab"}
    truth = {
        (k, p): held.X[
            ((held.obs[c.CONTEXT] == k) & (held.obs[c.PERTURBATION] == p)).to_numpy()
        ].mean(0)
        - control[k]
        for k, p in [("a", "P"), ("b", "P"), ("a", "Q"), ("b", "Q")]
    }
    predicted = _cells(
        rng.normal(size=(8, 5)),
        ["a", "a", "b", "b", "a", "b", "b", "a"],
        ["P", "P", "P", "P", "Q", "Q", "Q", "Q"],
    )
    expected = np.mean(
        [
            pearsonr(
                predicted.X[
                    (
                        (predicted.obs[c.CONTEXT] == k) & (predicted.obs[c.PERTURBATION] == p)
                    ).to_numpy()
                ].mean(0)
                - control[k],
                truth[(k, p)],
            )[0]
            for k, p in truth
        ]
    )
    assert target.score(predicted) == pytest.approx(expected, rel=1e-5)  # float32 cells


def test_selection_takes_the_lowest_loss_among_scores_within_the_tie() -> None:
    record = Selection("perturbation", ["P"], pd.DataFrame())
    for score, loss in zip([0.1, 0.5, 0.5 - SCORE_TIE / 2, 0.3], [1.0, 3.0, 2.0, 0.5], strict=True):
        record.add({"effect": score}, loss, loss)
    assert record.select() == 2 and record.score == pytest.approx(0.50 - SCORE_TIE / 2)
    assert record.near_best() == {1, 2}
    record = Selection("perturbation", ["P"], pd.DataFrame())
    record.form_scores, record.losses = {"effect": [0.1, -np.inf]}, [np.nan, np.nan]
    assert record.select() == 0


def test_the_plain_form_is_chosen_only_when_it_validates_clearly_better() -> None:
    record = Selection("perturbation", ["P"], pd.DataFrame())
    record.add({"effect": 0.30, "plain": 0.30 + FORM_MARGIN / 2}, 1.0, 1.0)
    record.add({"effect": 0.20, "plain": 0.10}, 0.5, 0.5)
    assert record.select() == 0 and record.form == "effect"  # within the margin: effects
    record.add({"effect": 0.20, "plain": 0.30 + 2 * FORM_MARGIN}, 2.0, 2.0)
    assert record.select() == 2 and record.form == "plain"
    assert record.as_record()["selection_form"] == "plain"


@pytest.fixture(scope="module")
def singles():
    sim = simulate(
        n_contexts=1, n_genes=80, n_singles=60, n_combinations=0, cells_per_condition=12, seed=1
    )
    return sim.adata, single_split(sim.adata, seed=0)


def test_fit_selects_on_held_out_perturbations_then_refits_on_every_training_cell(singles) -> None:
    adata, split = singles
    model = get_model("cpa", n_epochs=4, patience=None)
    _, record = run_model_timed(adata, split, model, ["pdcorr"])
    selection = model.selection_
    train = adata[split.mask(adata, "train")]
    train_labels = set(train.obs.loc[~train.obs[c.IS_CONTROL], c.PERTURBATION].astype(str))
    assert selection.unit == "perturbation"
    assert set(selection.held_out) < train_labels  # training perturbations, never test ones
    assert len(selection.scores) == 4 and np.isfinite(selection.scores).all()
    assert set(selection.form_scores) == {"effect", "plain"}  # predict_effect="auto"
    assert model.effect_form_ == (selection.form == "effect")
    # the refit: as many epochs as selected, on every training cell (held-out labels included)
    assert len(model.history_) == selection.epoch + 1
    assert model.data_.x.shape[0] == train.n_obs
    assert set(selection.held_out) <= set(model.data_.labels)
    assert record["selection_held_out"] == ",".join(selection.held_out)
    assert record["selection_epoch"] == selection.epoch
    # seeded: the same seed holds out the same perturbations, another seed others
    again = get_model("cpa", n_epochs=4, patience=None)
    run_model_timed(adata, split, again, ["pdcorr"])
    assert again.selection_.held_out == selection.held_out
    assert again.selection_.scores == selection.scores


def test_held_out_perturbations_never_reach_the_selection_time_fit(singles) -> None:
    """No leakage: the networks, the featuriser (its vocabulary and training PCA embedding) and the
    training tensors of the selection-time fit come from the kept cells only; the held-out
    perturbations' cells reach the refit alone."""
    adata, split = singles
    model = get_model("cpa", n_epochs=2, patience=None)
    fits = []
    start = model._start

    def recording_start(train: ad.AnnData) -> None:
        start(train)
        fits.append((train, model.features_))

    model._start = recording_start
    run_model_timed(adata, split, model, ["pdcorr"])
    held_out = set(model.selection_.held_out)
    assert len(fits) == 2  # the selection-time fit, then the refit
    (kept, selection_features), (train, refit_features) = fits
    assert not held_out & set(kept.obs[c.PERTURBATION].astype(str))
    assert held_out <= set(train.obs[c.PERTURBATION].astype(str))
    assert not held_out & set(selection_features.vocabulary_)
    assert held_out <= set(refit_features.vocabulary_)
    pca = [table for name, table, _ in selection_features.blocks_ if name == "pca"]
    assert pca  # the simulated targets are measured genes: the training PCA embedding
    expected = pca_gene_embedding(
        TrainingEffects.from_train(kept).effects, kept.var_names, model.n_components
    )
    pd.testing.assert_frame_equal(pca[0], expected)


def test_loss_selection_keeps_the_old_behaviour(singles) -> None:
    adata, split = singles
    model = get_model("cpa", n_epochs=3, patience=None, selection="loss")
    run_model_timed(adata, split, model, ["pdcorr"])
    assert model.selection_ is None and len(model.history_) == 3
    with pytest.raises(Exception, match="selection must be"):
        run_model_timed(adata, split, get_model("cpa", selection="best"), ["pdcorr"])
